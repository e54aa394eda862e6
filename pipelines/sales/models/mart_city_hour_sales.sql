-- depends: order_groups
-- Hourly figures (rules.hourly_figures): included orders with a known
-- location and a valid time in 05:00:00-11:59:59, per (city, hour).
-- rank orders all (city, hour) pairs: larger sales first, then city in
-- BINARY collation, then hour (rules.ranking_ties); rank 1 is Q1's overall top.
-- index: city, hour
SELECT city,
       hour,
       CAST(sales_rmb_cents AS INTEGER) AS sales_rmb_cents,
       CAST(orders AS INTEGER) AS orders,
       CAST(row_number() OVER (ORDER BY sales_rmb_cents DESC, city, hour) AS INTEGER) AS rank
FROM (SELECT city,
             hour,
             sum(sales_rmb_cents) AS sales_rmb_cents,
             sum(orders) AS orders
      FROM order_groups
      WHERE status = 'included' AND location_known = 1 AND hour IS NOT NULL
      GROUP BY city, hour)
ORDER BY hour, sales_rmb_cents DESC, city;
