-- depends: orders
-- One pass over orders: the final rows grouped by everything the marts and
-- the summary need, so that no other model reads the big orders table again.
-- A located row's city is a function of its city_district_id (dataset1: the
-- map row of the id; dataset2: the map row of the (city, district) pair), so
-- grouping by the integer id alone is enough and sorts faster than by name.
-- city is NULL for the groups of rows without a known location.
SELECT city_district_id,
       hour,
       status,
       location_known,
       CASE WHEN location_known = 1 THEN min(city) END AS city,
       count(*) AS orders,
       sum(amount_rmb_cents) AS sales_rmb_cents
FROM orders
GROUP BY city_district_id, hour, status, location_known;
