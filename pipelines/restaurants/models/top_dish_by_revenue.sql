-- Per restaurant the food with the greatest sum of food_cost (NULL adds
-- nothing); ties: the name, ascending.
-- primary key: restaurant
WITH f AS (
    SELECT restaurant_names AS restaurant, food_names AS food,
           coalesce(sum(food_cost), 0) AS revenue_cents
    FROM raw_data
    WHERE restaurant_names IS NOT NULL AND food_names IS NOT NULL
    GROUP BY restaurant_names, food_names
),
ranked AS (
    SELECT restaurant, food, revenue_cents,
           row_number() OVER (PARTITION BY restaurant ORDER BY revenue_cents DESC, food) AS n
    FROM f
)
SELECT restaurant, food, revenue_cents FROM ranked WHERE n = 1 ORDER BY restaurant
