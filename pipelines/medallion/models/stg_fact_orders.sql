-- One row per silver order with its positions' sums. ship_lag_hours: hours
-- from ordered_at to shipped_at, rounded half away from zero to 2 decimals,
-- computed on whole seconds in integers (no floating point until the end).
-- primary key: order_id
WITH lag AS (
    SELECT order_id,
           CAST(strftime('%s', shipped_at) AS INTEGER)
               - CAST(strftime('%s', ordered_at) AS INTEGER) AS secs
    FROM sta_orders
    WHERE shipped_at IS NOT NULL
)
SELECT o.order_id,
       o.customer_id,
       o.shop_id,
       CAST(replace(substr(o.ordered_at, 1, 10), '-', '') AS INTEGER) AS order_date_key,
       coalesce(sum(f.quantity), 0) AS items,
       coalesce(sum(f.intake_cents), 0) AS intake_cents,
       coalesce(sum(f.revenue_cents), 0) AS revenue_cents,
       CASE WHEN l.secs IS NULL THEN NULL
            WHEN l.secs >= 0 THEN ((l.secs * 100 + 1800) / 3600) / 100.0
            ELSE -(((-l.secs) * 100 + 1800) / 3600) / 100.0 END AS ship_lag_hours
FROM sta_orders AS o
LEFT JOIN stg_fact_order_positions AS f ON f.order_id = o.order_id
LEFT JOIN lag AS l ON l.order_id = o.order_id
GROUP BY o.order_id
