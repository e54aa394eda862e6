-- One row per customer of silver (no personal data: sta_customers has none).
-- primary key: customer_id
SELECT customer_id, city, country, created_at FROM sta_customers
