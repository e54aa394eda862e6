-- The run's params as a one-row view the marts join: as_of (the date "days
-- since" counts to; empty = today, UTC) and overdue_days. Rebuilt every run.
-- materialized: view
SELECT coalesce(nullif(${as_of}, ''), date('now')) AS as_of,
       CAST(${overdue_days} AS INTEGER) AS overdue_days
