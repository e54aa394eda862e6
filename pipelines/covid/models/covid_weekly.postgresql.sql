-- PostgreSQL variant of covid_weekly.sql (same rows): the Monday by date
-- arithmetic (ISO day of week) instead of SQLite's date() and strftime();
-- sums cast back to BIGINT.
-- depends: covid_daily
-- primary key: week_start
WITH days AS (
    SELECT date,
           confirmed - coalesce(lag(confirmed) OVER (ORDER BY date), 0) AS new_confirmed,
           deaths - coalesce(lag(deaths) OVER (ORDER BY date), 0) AS new_deaths
    FROM covid_daily
)
SELECT to_char(CAST(date AS date) - CAST(extract(isodow FROM CAST(date AS date)) AS integer) + 1,
               'YYYY-MM-DD') AS week_start,
       CAST(sum(new_confirmed) AS BIGINT) AS new_confirmed,
       CAST(sum(new_deaths) AS BIGINT) AS new_deaths
FROM days
GROUP BY 1
ORDER BY 1
