-- PostgreSQL variant of fact_sales.sql (same rows): days as a date
-- difference instead of julianday().
-- primary key: invoice_id, item_id
SELECT d.invoice_id,
       d.account_id,
       d.date_issued,
       d.item_id,
       d.quantity,
       d.item_name,
       d.item_cost_price_cents,
       d.item_retail_price_cents,
       d.total_sale_value_cents,
       d.total_cost_value_cents,
       d.total_sale_value_cents - d.total_cost_value_cents AS gross_profit_cents,
       CASE WHEN CAST(p.as_of AS date) - CAST(d.date_issued AS date) > p.overdue_days
            THEN 'Overdue' ELSE 'Due' END AS overdue_status
FROM invoice_details AS d
CROSS JOIN invoice_params AS p
ORDER BY d.invoice_id, d.item_id
