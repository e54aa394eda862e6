-- primary key: restaurant
SELECT restaurant_names AS restaurant,
       coalesce(sum(food_cost), 0) AS revenue_cents
FROM raw_data
WHERE restaurant_names IS NOT NULL
GROUP BY restaurant_names
ORDER BY restaurant
