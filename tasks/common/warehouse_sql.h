/* What the sales warehouse's task plugins share about its tables: nothing
 * but the conventions below. Each table has one owner, the task that writes
 * it and alone creates it (docs/warehouse.md, "Who writes what"):
 *   load_files, raw_orders, city_district_map  extract (pipelines/sales/bronze.sql)
 *   orders, dq_exceptions, dq_summary,
 *   order_groups, warehouse_meta                validate (validate_sql.h)
 *   the marts (one per model file)              transform, i.e. sql (pipelines/sales/models)
 *   translations                                translate-scrape (translations_sql.h)
 *   city_tiers                                  cluster (cluster.c)
 * Every other task only reads them, and copes with a table that is not
 * there yet (report: "no data"; cluster: no English names). */
#pragma once

/* Whitespace the data-quality rules trim from the map's names (space, TAB,
 * LF, CR, VT, FF, U+00A0, U+3000; dq.c trims the same set in C), as an
 * SQLite trim() character set: translate-scrape and cluster read the names
 * of city_district_map through it, so they meet validate's names. */
#define DAGD_SQL_TRIM_CHARS "' '||char(9,10,13,11,12,160,12288)"
