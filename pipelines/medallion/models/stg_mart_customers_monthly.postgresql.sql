-- PostgreSQL variant of stg_mart_customers_monthly.sql (same rows): the
-- month text by lpad() instead of SQLite's printf().
WITH om AS (
    SELECT DISTINCT order_date_key / 100 AS ym, customer_id
    FROM stg_fact_orders
),
firsts AS (
    SELECT customer_id, min(ym) AS first_ym
    FROM om
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT lpad(CAST(om.ym / 100 AS text), 4, '0') || '-' || lpad(CAST(om.ym % 100 AS text), 2, '0')
           AS month,
       count(CASE WHEN om.ym = f.first_ym THEN 1 END) AS new_customers,
       count(CASE WHEN om.ym > f.first_ym THEN 1 END) AS returning_customers
FROM om
LEFT JOIN firsts AS f ON f.customer_id = om.customer_id
GROUP BY om.ym
ORDER BY om.ym
