-- One row per silver order with its positions' sums. ship_lag_hours: hours
-- from ordered_at to shipped_at, rounded half away from zero to 2 decimals,
-- computed on whole seconds in integers (the timestamps are whole seconds:
-- the julianday difference rounds back to them exactly; no floating point
-- in the rounding itself).
-- The positions are summed per order first (one pass, then a join on the
-- grouped rows) rather than joined row by row.
-- primary key: order_id
WITH o AS (
    SELECT order_id, customer_id, shop_id, ordered_at,
           CAST(round((julianday(shipped_at) - julianday(ordered_at)) * 86400) AS INTEGER)
               AS secs
    FROM sta_orders
),
p AS (
    SELECT order_id, sum(quantity) AS items, sum(intake_cents) AS intake_cents,
           sum(revenue_cents) AS revenue_cents
    FROM stg_fact_order_positions
    GROUP BY order_id
)
SELECT o.order_id,
       o.customer_id,
       o.shop_id,
       CAST(replace(substr(o.ordered_at, 1, 10), '-', '') AS INTEGER) AS order_date_key,
       coalesce(p.items, 0) AS items,
       coalesce(p.intake_cents, 0) AS intake_cents,
       coalesce(p.revenue_cents, 0) AS revenue_cents,
       CASE WHEN o.secs IS NULL THEN NULL
            WHEN o.secs >= 0 THEN ((o.secs * 100 + 1800) / 3600) / 100.0
            ELSE -(((-o.secs) * 100 + 1800) / 3600) / 100.0 END AS ship_lag_hours
FROM o
LEFT JOIN p ON p.order_id = o.order_id
