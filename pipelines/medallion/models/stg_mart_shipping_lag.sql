-- Shops with at least one shipped order: the average of the (already
-- rounded) lags, rounded half away from zero to 2 decimals, in integers.
WITH s AS (
    SELECT shop_id,
           count(*) AS n,
           sum(CAST(round(ship_lag_hours * 100) AS INTEGER)) AS total
    FROM stg_fact_orders
    WHERE ship_lag_hours IS NOT NULL
    GROUP BY shop_id
)
SELECT shop_id,
       n AS orders_shipped,
       CASE WHEN total >= 0 THEN ((2 * total + n) / (2 * n)) / 100.0
            ELSE -((2 * (-total) + n) / (2 * n)) / 100.0 END AS avg_lag_hours
FROM s
ORDER BY shop_id
