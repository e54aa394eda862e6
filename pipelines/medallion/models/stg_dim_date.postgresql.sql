-- PostgreSQL variant of stg_dim_date.sql (same rows): generate_series
-- instead of SQLite's recursive date(date, '+1 day'); weekday is ISO's
-- 1 = Monday .. 7 = Sunday.
-- primary key: date_key
WITH bounds AS (
    SELECT CAST(min(substr(ordered_at, 1, 10)) AS date) AS lo,
           CAST(max(substr(ordered_at, 1, 10)) AS date) AS hi
    FROM sta_orders
),
days AS (
    SELECT CAST(g.ts AS date) AS d
    FROM bounds CROSS JOIN LATERAL generate_series(bounds.lo, bounds.hi, interval '1 day') AS g(ts)
)
SELECT CAST(to_char(d, 'YYYYMMDD') AS BIGINT) AS date_key,
       to_char(d, 'YYYY-MM-DD') AS date,
       CAST(extract(year FROM d) AS BIGINT) AS year,
       CAST(extract(month FROM d) AS BIGINT) AS month,
       CAST(extract(day FROM d) AS BIGINT) AS day,
       CAST(extract(isodow FROM d) AS BIGINT) AS weekday
FROM days
