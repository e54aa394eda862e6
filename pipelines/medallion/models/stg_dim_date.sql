-- Every date from the first to the last order date (the date part of
-- ordered_at); weekday 1 = Monday .. 7 = Sunday.
-- Both bounds come from one pass over the orders, cut to the date after the
-- min() and max(): a prefix of the least string is the least prefix, so
-- this is min(substr(...)) without a substr() per order.
-- primary key: date_key
WITH RECURSIVE bounds(lo, hi) AS (
    SELECT substr(min(ordered_at), 1, 10), substr(max(ordered_at), 1, 10) FROM sta_orders
),
days(date) AS (
    SELECT lo FROM bounds
    UNION ALL
    SELECT date(date, '+1 day') FROM days
    WHERE date < (SELECT hi FROM bounds)
)
SELECT CAST(replace(date, '-', '') AS INTEGER) AS date_key,
       date,
       CAST(substr(date, 1, 4) AS INTEGER) AS year,
       CAST(substr(date, 6, 2) AS INTEGER) AS month,
       CAST(substr(date, 9, 2) AS INTEGER) AS day,
       CASE strftime('%w', date) WHEN '0' THEN 7 ELSE CAST(strftime('%w', date) AS INTEGER) END
           AS weekday
FROM days
WHERE date IS NOT NULL
