-- covid_weekly: per week (week_start = its Monday) the sums of the days' new
-- counts, over all of covid_daily. A day's new count is its cumulative count
-- minus the previous available day's (the first day: its own count), so a
-- downward correction gives a negative new count.
-- depends: covid_daily
-- primary key: week_start
WITH days AS (
    SELECT date,
           confirmed - coalesce(lag(confirmed) OVER (ORDER BY date), 0) AS new_confirmed,
           deaths - coalesce(lag(deaths) OVER (ORDER BY date), 0) AS new_deaths
    FROM covid_daily
)
SELECT date(date, '-' || ((CAST(strftime('%w', date) AS INTEGER) + 6) % 7) || ' days') AS week_start,
       sum(new_confirmed) AS new_confirmed,
       sum(new_deaths) AS new_deaths
FROM days
GROUP BY 1
ORDER BY 1
