-- PostgreSQL variant of stg_mart_intake_revenue_daily.sql (same rows):
-- lpad() for printf(), the sums as BIGINT.
SELECT lpad(CAST(order_date_key / 10000 AS text), 4, '0') || '-'
           || lpad(CAST(order_date_key / 100 % 100 AS text), 2, '0') || '-'
           || lpad(CAST(order_date_key % 100 AS text), 2, '0') AS date,
       shop_id,
       count(*) AS orders,
       CAST(sum(intake_cents) AS BIGINT) AS intake_cents,
       CAST(sum(revenue_cents) AS BIGINT) AS revenue_cents
FROM stg_fact_orders
GROUP BY order_date_key, shop_id
ORDER BY order_date_key, shop_id
