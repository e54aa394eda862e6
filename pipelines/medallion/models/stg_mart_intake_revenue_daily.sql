-- Per order date and shop.
SELECT printf('%04d-%02d-%02d', order_date_key / 10000, order_date_key / 100 % 100,
              order_date_key % 100) AS date,
       shop_id,
       count(*) AS orders,
       sum(intake_cents) AS intake_cents,
       sum(revenue_cents) AS revenue_cents
FROM stg_fact_orders
GROUP BY order_date_key, shop_id
ORDER BY order_date_key, shop_id
