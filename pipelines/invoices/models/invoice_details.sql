-- One row per line item of a kept invoice whose item is a known sku (line
-- items of unknown skus or invoices are left out); account_id is the
-- invoice's, known or not; totals are quantity x the price, in cents.
-- primary key: invoice_id, item_id
SELECT k.invoice_id,
       k.account_id,
       k.date_issued,
       li.item_id,
       li.quantity,
       s.item_name,
       s.item_cost_price_cents,
       s.item_retail_price_cents,
       li.quantity * s.item_retail_price_cents AS total_sale_value_cents,
       li.quantity * s.item_cost_price_cents AS total_cost_value_cents
FROM invoice_line_items AS li
JOIN kept_invoices AS k ON k.invoice_id = li.invoice_id
JOIN skus AS s ON s.item_id = li.item_id
ORDER BY k.invoice_id, li.item_id
