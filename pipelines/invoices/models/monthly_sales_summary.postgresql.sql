-- PostgreSQL variant of monthly_sales_summary.sql (same rows): year and
-- month cut from the YYYY-MM-DD text instead of strftime(); sums as BIGINT.
-- primary key: year, month
SELECT CAST(substr(date_issued, 1, 4) AS BIGINT) AS year,
       CAST(substr(date_issued, 6, 2) AS BIGINT) AS month,
       CAST(sum(total_sale_value_cents) AS BIGINT) AS total_sales_cents,
       CAST(sum(total_cost_value_cents) AS BIGINT) AS total_costs_cents,
       CAST(sum(gross_profit_cents) AS BIGINT) AS total_gross_profit_cents,
       count(DISTINCT account_id) AS unique_customers,
       CAST(sum(quantity) AS BIGINT) AS total_items_sold
FROM fact_sales
GROUP BY 1, 2
ORDER BY 1, 2
