-- One row per account and kept invoice of it; an account without kept
-- invoices has one row with NULL invoice_id, date_issued and
-- days_since_invoice. Invoices of unknown accounts are not in it.
-- index: account_id, invoice_id
SELECT a.account_id,
       a.company_name,
       a.company_address,
       a.contact_person,
       a.contact_phone,
       k.invoice_id,
       k.date_issued,
       CAST(julianday(p.as_of) - julianday(k.date_issued) AS INTEGER) AS days_since_invoice
FROM accounts AS a
LEFT JOIN kept_invoices AS k ON k.account_id = a.account_id
CROSS JOIN invoice_params AS p
ORDER BY a.account_id, k.invoice_id
