-- depends: order_groups, dq_summary, load_files, warehouse_meta
-- primary key: key
-- Key figures of the warehouse as (key, value) text pairs; see
-- docs/warehouse.md for the meaning of every key.
WITH
loaded AS (SELECT source, sum("rows") AS n FROM load_files GROUP BY source),
no_id AS (SELECT coalesce(sum("rows"), 0) AS n FROM dq_summary
          WHERE source = 'final' AND rule = 'order_id_missing'),
o AS (SELECT coalesce(sum(orders), 0) AS final_ids,
             coalesce(sum(CASE WHEN status = 'rejected' THEN orders END), 0) AS rejected,
             coalesce(sum(CASE WHEN status = 'included' THEN orders END), 0) AS included,
             coalesce(sum(CASE WHEN status = 'included' AND location_known = 1 THEN orders END), 0)
                 AS city_rows,
             coalesce(sum(CASE WHEN status = 'included' AND location_known = 1 AND hour IS NOT NULL
                               THEN orders END), 0) AS hourly_rows,
             coalesce(sum(CASE WHEN status = 'included' THEN sales_rmb_cents END), 0) AS total,
             coalesce(sum(CASE WHEN status = 'included' AND location_known = 1
                               THEN sales_rmb_cents END), 0) AS total_known
      FROM order_groups),
top_pair AS (SELECT city, hour, sales_rmb_cents FROM mart_city_hour_sales WHERE rank = 1),
second_pair AS (SELECT sales_rmb_cents FROM mart_city_hour_sales WHERE rank = 2),
q2 AS (SELECT city, avg_district_sales_rmb_cents, districts_with_sales, city_total_rmb_cents
       FROM mart_city_district_avg WHERE rank = 1),
q2b AS (SELECT city_total_rmb_cents, districts_with_sales FROM mart_city_district_avg WHERE rank = 2)
SELECT CAST('rows_loaded' AS TEXT) AS key, CAST((SELECT coalesce(sum(n), 0) FROM loaded) AS TEXT) AS value
UNION ALL SELECT 'rows_loaded_' || source, CAST(n AS TEXT) FROM loaded
UNION ALL SELECT 'distinct_order_ids', CAST(final_ids AS TEXT) FROM o
UNION ALL SELECT 'rows_without_order_id', CAST(n AS TEXT) FROM no_id
UNION ALL SELECT 'final_rows', CAST(o.final_ids + no_id.n AS TEXT) FROM o, no_id
UNION ALL SELECT 'rows_rejected', CAST(o.rejected + no_id.n AS TEXT) FROM o, no_id
UNION ALL SELECT 'rows_included', CAST(included AS TEXT) FROM o
UNION ALL SELECT 'rows_city_figures', CAST(city_rows AS TEXT) FROM o
UNION ALL SELECT 'rows_hourly_figures', CAST(hourly_rows AS TEXT) FROM o
UNION ALL SELECT 'total_sales_rmb_cents', CAST(total AS TEXT) FROM o
UNION ALL SELECT 'total_sales_known_location_rmb_cents', CAST(total_known AS TEXT) FROM o
UNION ALL SELECT 'usd_rate', coalesce((SELECT value FROM warehouse_meta WHERE key = 'usd_rate'), '7.10')
UNION ALL SELECT 'cities_with_sales', CAST(count(*) AS TEXT) FROM mart_city_district_avg
UNION ALL SELECT 'district_count_with_sales', CAST(coalesce(sum(districts_with_sales), 0) AS TEXT)
          FROM mart_city_district_avg
UNION ALL SELECT 'q1_overall_top_city', city FROM top_pair
UNION ALL SELECT 'q1_overall_top_hour', CAST(hour AS TEXT) FROM top_pair
UNION ALL SELECT 'q1_overall_top_sales_rmb_cents', CAST(sales_rmb_cents AS TEXT) FROM top_pair
UNION ALL SELECT 'q1_overall_top_margin_rmb_cents',
                 CAST(t.sales_rmb_cents - coalesce((SELECT sales_rmb_cents FROM second_pair), 0) AS TEXT)
          FROM top_pair t
UNION ALL SELECT 'q2_top_city', city FROM q2
UNION ALL SELECT 'q2_top_avg_district_sales_rmb_cents', CAST(avg_district_sales_rmb_cents AS TEXT)
          FROM q2
UNION ALL SELECT 'q2_top_districts_with_sales', CAST(districts_with_sales AS TEXT) FROM q2
UNION ALL SELECT 'q2_margin_top_to_second_rmb_cents',
                 CAST(round(CAST(a.city_total_rmb_cents AS REAL) / a.districts_with_sales
                            - CAST(b.city_total_rmb_cents AS REAL) / b.districts_with_sales)
                      AS INTEGER)
          FROM q2 a, q2b b
ORDER BY key;
