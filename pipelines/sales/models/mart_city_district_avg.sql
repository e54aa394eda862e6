-- depends: order_groups
-- Q2 for every city with city figures (included orders with a known
-- location): city total, number of districts (CITY_DISTRICT_IDs) with at
-- least one such order, and the average per district, rounded half up to
-- cents. Ranked by the exact average (larger first), then city (BINARY).
-- orders = city-figure rows of the city; city_total_rmb_cents is the
-- per-city total the tiers are computed from.
WITH district AS (
    SELECT city, city_district_id, sum(sales_rmb_cents) AS sales, sum(orders) AS n
    FROM order_groups
    WHERE status = 'included' AND location_known = 1
    GROUP BY city, city_district_id
), city AS (
    SELECT city, count(*) AS districts, sum(sales) AS total, sum(n) AS n
    FROM district
    GROUP BY city
)
SELECT CAST(row_number() OVER (ORDER BY CAST(total AS REAL) / districts DESC, city) AS INTEGER)
           AS rank,
       city,
       CAST(districts AS INTEGER) AS districts_with_sales,
       CAST(total AS INTEGER) AS city_total_rmb_cents,
       CAST((2 * total + districts) / (2 * districts) AS INTEGER) AS avg_district_sales_rmb_cents,
       CAST(n AS INTEGER) AS orders
FROM city
ORDER BY rank;
