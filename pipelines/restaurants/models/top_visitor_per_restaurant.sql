-- Per restaurant the first_name with the most rows; ties: the name.
-- primary key: restaurant
WITH v AS (
    SELECT restaurant_names AS restaurant, first_name, count(*) AS visits
    FROM raw_data
    WHERE restaurant_names IS NOT NULL AND first_name IS NOT NULL
    GROUP BY restaurant_names, first_name
),
ranked AS (
    SELECT restaurant, first_name, visits,
           row_number() OVER (PARTITION BY restaurant ORDER BY visits DESC, first_name) AS n
    FROM v
)
SELECT restaurant, first_name, visits FROM ranked WHERE n = 1 ORDER BY restaurant
