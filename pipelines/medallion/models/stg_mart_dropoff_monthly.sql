-- Per order month: dropoff_rate = 1 - revenue / intake, rounded half away
-- from zero to 4 decimals in integers (revenue <= intake, both >= 0).
WITH m AS (
    SELECT printf('%04d-%02d', order_date_key / 10000, order_date_key / 100 % 100) AS month,
           sum(intake_cents) AS intake_cents,
           sum(revenue_cents) AS revenue_cents
    FROM stg_fact_orders
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
