-- primary key: product_id
SELECT product_id, product_name, category, unit_price_cents FROM sta_products
