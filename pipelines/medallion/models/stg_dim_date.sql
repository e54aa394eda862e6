-- Every date from the first to the last order date (the date part of
-- ordered_at); weekday 1 = Monday .. 7 = Sunday.
-- primary key: date_key
WITH RECURSIVE days(date) AS (
    SELECT min(substr(ordered_at, 1, 10)) FROM sta_orders
    UNION ALL
    SELECT date(date, '+1 day') FROM days
    WHERE date < (SELECT max(substr(ordered_at, 1, 10)) FROM sta_orders)
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
