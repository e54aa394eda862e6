-- A customer is new in the month of their first order and returning in a
-- later month in which they order again; one row per month with orders.
WITH om AS (
    SELECT printf('%04d-%02d', order_date_key / 10000, order_date_key / 100 % 100) AS month,
           customer_id
    FROM stg_fact_orders
),
first AS (
    SELECT customer_id, min(month) AS first_month
    FROM om
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT om.month,
       count(DISTINCT CASE WHEN om.month = f.first_month THEN om.customer_id END)
           AS new_customers,
       count(DISTINCT CASE WHEN om.month > f.first_month THEN om.customer_id END)
           AS returning_customers
FROM om
LEFT JOIN first AS f ON f.customer_id = om.customer_id
GROUP BY om.month
ORDER BY om.month
