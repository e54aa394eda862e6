-- PostgreSQL variant of stg_mart_dropoff_monthly.sql (same rows, from the
-- same daily mart): the sums cast back to BIGINT (PostgreSQL sums BIGINT
-- as NUMERIC) so the rounding divides integers, the rate a DOUBLE
-- PRECISION.
WITH m AS (
    SELECT substr(date, 1, length(date) - 3) AS month,
           CAST(sum(intake_cents) AS BIGINT) AS intake_cents,
           CAST(sum(revenue_cents) AS BIGINT) AS revenue_cents
    FROM stg_mart_intake_revenue_daily
    GROUP BY 1
)
SELECT month,
       intake_cents,
       revenue_cents,
       CASE WHEN intake_cents = 0 THEN NULL
            ELSE (((intake_cents - revenue_cents) * 20000 + intake_cents) / (2 * intake_cents))
                 / CAST(10000 AS DOUBLE PRECISION) END AS dropoff_rate
FROM m
ORDER BY month
