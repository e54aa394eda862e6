-- Per year and month of date_issued over fact_sales.
-- primary key: year, month
SELECT CAST(strftime('%Y', date_issued) AS INTEGER) AS year,
       CAST(strftime('%m', date_issued) AS INTEGER) AS month,
       sum(total_sale_value_cents) AS total_sales_cents,
       sum(total_cost_value_cents) AS total_costs_cents,
       sum(gross_profit_cents) AS total_gross_profit_cents,
       count(DISTINCT account_id) AS unique_customers,
       sum(quantity) AS total_items_sold
FROM fact_sales
GROUP BY 1, 2
ORDER BY 1, 2
