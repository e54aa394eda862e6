-- PostgreSQL variant of stg_mart_dropoff_monthly.sql (same rows): lpad()
-- for printf(), the sums as BIGINT so the rounding divides integers, the
-- rate a DOUBLE PRECISION.
WITH m AS (
    SELECT lpad(CAST(order_date_key / 10000 AS text), 4, '0') || '-'
               || lpad(CAST(order_date_key / 100 % 100 AS text), 2, '0') AS month,
           CAST(sum(intake_cents) AS BIGINT) AS intake_cents,
           CAST(sum(revenue_cents) AS BIGINT) AS revenue_cents
    FROM stg_fact_orders
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
