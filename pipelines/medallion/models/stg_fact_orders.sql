-- One row per silver order with its positions' sums. ship_lag_hours: hours
-- from ordered_at to shipped_at, rounded half away from zero to 2 decimals.
-- secs is the whole seconds between them (silver timestamps are whole
-- seconds: unixepoch() is exact). The lag is round(secs / 36.0) / 100.0:
-- secs / 36.0 is the lag in hundredths of an hour, a correctly rounded
-- double that is exactly k + 0.5 at a tie and otherwise at least 1/72 from
-- one, so SQLite's round() (half away from zero) gives the same integer as
-- the integer form ((secs * 100 + 1800) / 3600, mirrored for negative secs)
-- that the PostgreSQL variant keeps. That form named secs three times and
-- SQLite substitutes the expression at each name (the subquery is
-- flattened): both timestamps were parsed up to three times per order, a
-- fifth of this model's time.
-- The positions are summed per order first (one pass, then a join on the
-- grouped rows) rather than joined row by row. The grouped rows drive the
-- join, each finding its order by the key, and the orders without positions
-- follow (RIGHT JOIN): a LEFT JOIN from the orders would first copy the sums
-- into an automatic index (about a tenth of this model's time).
-- revenue_cents is the sum of the positions' revenue_cents, which
-- stg_fact_order_positions sets to their intake when their order (this
-- row's) is delivered and to 0 otherwise: so it is the order's intake when
-- delivered, else 0, taken from the order rather than summed again (one
-- aggregate less per position: 7% of this model's instructions).
-- primary key: order_id
WITH p AS (
    SELECT order_id, sum(quantity) AS items, sum(intake_cents) AS intake_cents
    FROM stg_fact_order_positions
    GROUP BY order_id
),
j AS (
    SELECT o.order_id, o.customer_id, o.shop_id, o.ordered_at,
           p.items, p.intake_cents,
           CASE WHEN o.delivered_at IS NOT NULL THEN p.intake_cents END AS revenue_cents,
           unixepoch(o.shipped_at) - unixepoch(o.ordered_at) AS secs
    FROM p
    RIGHT JOIN sta_orders AS o ON o.order_id = p.order_id
)
SELECT order_id,
       customer_id,
       shop_id,
       CAST(replace(substr(ordered_at, 1, 10), '-', '') AS INTEGER) AS order_date_key,
       coalesce(items, 0) AS items,
       coalesce(intake_cents, 0) AS intake_cents,
       coalesce(revenue_cents, 0) AS revenue_cents,
       round(secs / 36.0) / 100.0 AS ship_lag_hours
FROM j
