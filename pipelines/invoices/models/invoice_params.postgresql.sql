-- PostgreSQL variant of invoice_params.sql: today (UTC) without SQLite's
-- date('now').
-- materialized: view
SELECT coalesce(nullif(CAST(${as_of} AS text), ''),
                to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')) AS as_of,
       CAST(${overdue_days} AS BIGINT) AS overdue_days
