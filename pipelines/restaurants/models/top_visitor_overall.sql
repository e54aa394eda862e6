-- One row: the first_name in the most distinct restaurants, then with the
-- most visits, then by name.
SELECT first_name,
       count(DISTINCT restaurant_names) AS restaurants,
       count(*) AS visits
FROM raw_data
WHERE restaurant_names IS NOT NULL AND first_name IS NOT NULL
GROUP BY first_name
ORDER BY restaurants DESC, visits DESC, first_name
LIMIT 1
