-- A customer is new in the month of their first order and returning in a
-- later month in which they order again; one row per month with orders.
-- Every customer ordering in a month is new or returning there, so
-- returning = the month's distinct customers - its new ones: two grouped
-- passes over the orders instead of materialising each (month, customer)
-- and joining it back to the first months. Months are YYYYMM integers until
-- the end.
WITH firsts AS (
    SELECT customer_id, min(order_date_key) / 100 AS first_ym
    FROM stg_fact_orders
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
),
new AS (
    SELECT first_ym AS ym, count(*) AS new_customers
    FROM firsts
    GROUP BY first_ym
),
months AS (
    SELECT order_date_key / 100 AS ym, count(DISTINCT customer_id) AS customers
    FROM stg_fact_orders
    GROUP BY 1
)
SELECT printf('%04d-%02d', m.ym / 100, m.ym % 100) AS month,
       coalesce(n.new_customers, 0) AS new_customers,
       m.customers - coalesce(n.new_customers, 0) AS returning_customers
FROM months AS m
LEFT JOIN new AS n ON n.ym = m.ym
ORDER BY m.ym
