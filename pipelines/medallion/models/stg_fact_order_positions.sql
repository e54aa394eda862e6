-- Positions whose order and product are known in silver; revenue only for
-- delivered orders. Money in integer cents throughout.
-- primary key: position_id
SELECT p.position_id,
       p.order_id,
       p.product_id,
       p.quantity,
       p.price_cents,
       p.quantity * p.price_cents AS intake_cents,
       CASE WHEN o.delivered_at IS NOT NULL THEN p.quantity * p.price_cents ELSE 0 END
           AS revenue_cents
FROM sta_order_positions AS p
JOIN sta_orders AS o ON o.order_id = p.order_id
JOIN sta_products AS pr ON pr.product_id = p.product_id
