-- A customer is new in the month of their first order and returning in a
-- later month in which they order again; one row per month with orders.
-- om holds each (month, customer) once, so counting its rows counts
-- distinct customers; months are YYYYMM integers until the end.
WITH om AS (
    SELECT DISTINCT order_date_key / 100 AS ym, customer_id
    FROM stg_fact_orders
),
first AS (
    SELECT customer_id, min(ym) AS first_ym
    FROM om
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT printf('%04d-%02d', om.ym / 100, om.ym % 100) AS month,
       count(CASE WHEN om.ym = f.first_ym THEN 1 END) AS new_customers,
       count(CASE WHEN om.ym > f.first_ym THEN 1 END) AS returning_customers
FROM om
LEFT JOIN first AS f ON f.customer_id = om.customer_id
GROUP BY om.ym
ORDER BY om.ym
