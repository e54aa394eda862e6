-- PostgreSQL variant of account_details.sql (same rows): days as a date
-- difference instead of julianday().
-- index: account_id, invoice_id
SELECT a.account_id,
       a.company_name,
       a.company_address,
       a.contact_person,
       a.contact_phone,
       k.invoice_id,
       k.date_issued,
       CAST(CAST(p.as_of AS date) - CAST(k.date_issued AS date) AS BIGINT) AS days_since_invoice
FROM accounts AS a
LEFT JOIN kept_invoices AS k ON k.account_id = a.account_id
CROSS JOIN invoice_params AS p
ORDER BY a.account_id, k.invoice_id
