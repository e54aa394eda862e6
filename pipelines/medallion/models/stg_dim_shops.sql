-- primary key: shop_id
SELECT shop_id, shop_name, city, country FROM sta_shops
