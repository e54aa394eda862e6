-- Per order month: dropoff_rate = 1 - revenue / intake, rounded half away
-- from zero to 4 decimals in integers (revenue <= intake, both >= 0).
-- Summed from the daily mart (a few thousand rows per delivery) rather than
-- from every order again: the sums of its integer sums are the same, and its
-- date is 'YYYY-MM-DD' (order_date_key's parts, each %02d after the year),
-- so the month is that text without its last 3 characters.
WITH m AS (
    SELECT substr(date, 1, length(date) - 3) AS month,
           sum(intake_cents) AS intake_cents,
           sum(revenue_cents) AS revenue_cents
    FROM stg_mart_intake_revenue_daily
    GROUP BY 1
)
SELECT month,
       intake_cents,
       revenue_cents,
       CASE WHEN intake_cents = 0 THEN NULL
            ELSE (((intake_cents - revenue_cents) * 20000 + intake_cents) / (2 * intake_cents))
                 / 10000.0 END AS dropoff_rate
FROM m
ORDER BY month
