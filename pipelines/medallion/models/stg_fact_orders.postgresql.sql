-- PostgreSQL variant of stg_fact_orders.sql (same rows): the seconds from
-- ordered_at to shipped_at by timestamp arithmetic instead of julianday();
-- sums cast back to BIGINT (PostgreSQL sums BIGINT as NUMERIC) and the lag
-- a DOUBLE PRECISION, as SQLite's REAL.
-- primary key: order_id
WITH o AS (
    SELECT order_id, customer_id, shop_id, ordered_at,
           CAST(extract(epoch FROM CAST(shipped_at AS timestamp)
                                   - CAST(ordered_at AS timestamp)) AS BIGINT) AS secs
    FROM sta_orders
),
p AS (
    SELECT order_id, CAST(sum(quantity) AS BIGINT) AS items,
           CAST(sum(intake_cents) AS BIGINT) AS intake_cents,
           CAST(sum(revenue_cents) AS BIGINT) AS revenue_cents
    FROM stg_fact_order_positions
    GROUP BY order_id
)
SELECT o.order_id,
       o.customer_id,
       o.shop_id,
       CAST(replace(substr(o.ordered_at, 1, 10), '-', '') AS BIGINT) AS order_date_key,
       coalesce(p.items, 0) AS items,
       coalesce(p.intake_cents, 0) AS intake_cents,
       coalesce(p.revenue_cents, 0) AS revenue_cents,
       CASE WHEN o.secs IS NULL THEN NULL
            WHEN o.secs >= 0 THEN ((o.secs * 100 + 1800) / 3600) / CAST(100 AS DOUBLE PRECISION)
            ELSE -(((-o.secs) * 100 + 1800) / 3600) / CAST(100 AS DOUBLE PRECISION) END
           AS ship_lag_hours
FROM o
LEFT JOIN p ON p.order_id = o.order_id
