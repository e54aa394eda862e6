-- Rows without a restaurant are left out of every model; names compare in
-- byte order of their UTF-8 (SQLite's BINARY collation).
-- primary key: restaurant
SELECT restaurant_names AS restaurant,
       count(*) AS visits,
       count(DISTINCT first_name) AS unique_visitors
FROM raw_data
WHERE restaurant_names IS NOT NULL
GROUP BY restaurant_names
ORDER BY restaurant
