-- depends: mart_city_hour_sales
-- Q1: for each hour with sales, the city with the largest sales, its margin
-- to the second city (the whole sales if it is the only city), the second
-- city and the hour's total over all cities.
WITH ranked AS (
    SELECT hour, city, sales_rmb_cents,
           row_number() OVER (PARTITION BY hour ORDER BY sales_rmb_cents DESC, city) AS pos,
           sum(sales_rmb_cents) OVER (PARTITION BY hour) AS hour_total,
           count(*) OVER (PARTITION BY hour) AS cities
    FROM mart_city_hour_sales
)
SELECT t.hour,
       t.city,
       t.sales_rmb_cents,
       CAST(t.sales_rmb_cents - coalesce(s.sales_rmb_cents, 0) AS INTEGER) AS margin_rmb_cents,
       s.city AS second_city,
       s.sales_rmb_cents AS second_sales_rmb_cents,
       CAST(t.hour_total AS INTEGER) AS hour_total_rmb_cents,
       CAST(t.cities AS INTEGER) AS cities_with_sales
FROM ranked t
LEFT JOIN ranked s ON s.hour = t.hour AND s.pos = 2
WHERE t.pos = 1
ORDER BY t.hour;
