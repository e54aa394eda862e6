-- Per restaurant the food with the most rows; ties: the name, ascending.
-- primary key: restaurant
WITH f AS (
    SELECT restaurant_names AS restaurant, food_names AS food, count(*) AS orders
    FROM raw_data
    WHERE restaurant_names IS NOT NULL AND food_names IS NOT NULL
    GROUP BY restaurant_names, food_names
),
ranked AS (
    SELECT restaurant, food, orders,
           row_number() OVER (PARTITION BY restaurant ORDER BY orders DESC, food) AS n
    FROM f
)
SELECT restaurant, food, orders FROM ranked WHERE n = 1 ORDER BY restaurant
