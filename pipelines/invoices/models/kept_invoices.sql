-- The invoices the marts count: issued after ${earliest_entry_date}.
-- materialized: view
SELECT invoice_id, account_id, date_issued
FROM invoices
WHERE date_issued > ${earliest_entry_date}
