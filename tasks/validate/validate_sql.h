/* SQL of the validate task. Every statement runs inside one transaction on
 * the warehouse (validate_run.c). The dq_* functions come from dq_sqlite.c.
 * The tables are documented for analysts in docs/warehouse.md. */
#ifndef DAGD_VALIDATE_SQL_H
#define DAGD_VALIDATE_SQL_H

/* Output tables (DESIGN 6, plus provenance columns). orders is WITHOUT
 * ROWID: one b-tree keyed by order_id, half the writes of a rowid table. */
static const char dagd_validate_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS orders (\n"
    "    order_id         TEXT PRIMARY KEY,\n"
    "    source           TEXT NOT NULL,\n"
    "    order_time       INTEGER,\n" /* HHMMSS, NULL if bad */
    "    city_district_id INTEGER,\n"
    "    city             TEXT,\n"
    "    district         TEXT,\n"
    "    amount_rmb_cents INTEGER,\n"
    "    currency         TEXT,\n"
    "    qty              INTEGER,\n"          /* NULL unless a positive integer */
    "    status           TEXT NOT NULL,\n"    /* included | rejected */
    "    location_known   INTEGER NOT NULL,\n" /* 1: row counts in city figures */
    "    hour             INTEGER,\n"          /* HH if the time is in 05..11, else NULL */
    "    amount_cents     INTEGER,\n"          /* RPTG_AMT in its own currency */
    "    file_id          INTEGER NOT NULL,\n" /* the winning bronze row */
    "    row_no           INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS dq_exceptions (\n"
    "    order_id TEXT,\n"
    "    source   TEXT NOT NULL,\n"
    "    rule     TEXT NOT NULL,\n"
    "    detail   TEXT,\n"
    "    file_id  INTEGER NOT NULL,\n"
    "    row_no   INTEGER NOT NULL,\n"
    "    final    INTEGER NOT NULL,\n" /* 0: the row was superseded by a later one */
    "    PRIMARY KEY (file_id, row_no, rule)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS dq_exceptions_rule ON dq_exceptions (rule, source);\n"
    "CREATE TABLE IF NOT EXISTS dq_summary (\n"
    "    source TEXT NOT NULL,\n" /* dataset1 | dataset2 | final */
    "    rule   TEXT NOT NULL,\n"
    "    \"rows\" INTEGER NOT NULL,\n"
    "    PRIMARY KEY (source, rule)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS order_groups (\n"
    "    city_district_id INTEGER,\n"
    "    hour             INTEGER,\n"
    "    status           TEXT NOT NULL,\n"
    "    location_known   INTEGER NOT NULL,\n"
    "    city             TEXT,\n" /* located groups only */
    "    orders           INTEGER NOT NULL,\n"
    "    sales_rmb_cents  INTEGER\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS warehouse_meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT\n"
    ");\n";

/* Bronze must exist (extract writes it). */
static const char dagd_validate_check_sql[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
    " AND name IN ('raw_orders', 'city_district_map', 'load_files')";

/* The map: ids and names (trimmed in C). */
static const char dagd_validate_map_sql[] =
    "SELECT city_district_id, city, district FROM main.city_district_map";

/* Every bronze row; the C pass (validate_run.c) evaluates the rules. */
#define DQ_SCAN_ROW_CALL                                                                           \
    "dq_scan_row(file_id, row_no, source, order_id, order_time, city_district_id, city,\n"         \
    "            district, rptg_amt, currency_cd, order_qty, missing_keys IS NOT NULL,\n"          \
    "            extra_keys IS NOT NULL)"

/* In storage order (the pass sorts the rows in memory). */
static const char dagd_validate_scan_sql[] =
    "SELECT count(" DQ_SCAN_ROW_CALL ") FROM main.raw_orders";

/* By trimmed ORDER_ID then load order. The function is called on the rows of
 * the sorted subquery as they come out (not an aggregate, no LIMIT: that way
 * SQLite keeps the subquery's ORDER BY and uses its sorter, which spills to
 * temp files, instead of a temp b-tree). The pass checks the order. */
static const char dagd_validate_scan_sorted_sql[] =
    "SELECT " DQ_SCAN_ROW_CALL "\n"
    "FROM (SELECT * FROM main.raw_orders ORDER BY dq_oid(order_id), file_id, row_no)";

static const char dagd_validate_count_sql[] = "SELECT count(*) FROM main.raw_orders";

/* The in-memory way reads bronze in two halves at once, on two connections
 * (validate_run.c, scan_halves): the key of the first row of the second
 * half (?1 = the rows before it), then each half by key range. */
static const char dagd_validate_split_sql[] =
    "SELECT file_id, row_no FROM main.raw_orders LIMIT 1 OFFSET ?1";
static const char dagd_validate_scan_lower_sql[] =
    "SELECT count(" DQ_SCAN_ROW_CALL ") FROM main.raw_orders\n"
    "WHERE (file_id, row_no) < (?1, ?2)";
static const char dagd_validate_scan_upper_sql[] =
    "SELECT count(" DQ_SCAN_ROW_CALL ") FROM main.raw_orders\n"
    "WHERE (file_id, row_no) >= (?1, ?2)";

/* The rows the extract steps loaded: raw_orders' count unless bronze was
 * edited by hand. Cheap, outside the transaction: only a hint (whether to
 * map the file, validate_run.c). */
static const char dagd_validate_rows_loaded_sql[] =
    "SELECT coalesce(sum(rows), 0) FROM main.load_files";

static const char dagd_validate_clear_sql[] = "DELETE FROM main.dq_exceptions;\n"
                                              "DELETE FROM main.dq_summary;\n";

/* One (row, rule) hit. The detail quotes the delivered value from bronze.
 * ?1 order_id, ?2 source, ?3 rule, ?4 rule bit, ?5 file_id, ?6 row_no,
 * ?7 final, ?8 trimmed city, ?9 trimmed district, ?10 amount cents,
 * ?11/?12 file_id/row_no of the row that superseded this one.
 * A one-row VALUES, not INSERT ... SELECT: SQLite gives a statement that
 * may write several rows a statement journal, which copies every page the
 * statement changes (three 64 KiB pages per exception: ~70 MB of temp file
 * writes for the 362 exceptions of data/sales). */
static const char dagd_validate_exception_sql[] =
    "INSERT INTO main.dq_exceptions (order_id, source, rule, detail, file_id, row_no, final)\n"
    "VALUES (?1, ?2, ?3, (SELECT\n"
    "  CASE ?4\n"
    "    WHEN 1 THEN 'ORDER_ID=' || quote(r.order_id)\n"
    "    WHEN 2 THEN 'RPTG_AMT=' || quote(r.rptg_amt)\n"
    "    WHEN 4 THEN 'CURRENCY_CD=' || quote(r.currency_cd)\n"
    "    WHEN 8 THEN 'RPTG_AMT=' || quote(r.rptg_amt) || ' USD = '\n"
    "                || quote(dq_rmb(?10, 'USD')) || ' RMB cents'\n"
    "    WHEN 16 THEN 'ORDER_QTY=' || quote(r.order_qty)\n"
    "    WHEN 32 THEN 'ORDER_TIME=' || quote(r.order_time)\n"
    "    WHEN 64 THEN 'ORDER_TIME=' || quote(r.order_time)\n"
    "    WHEN 128 THEN 'CITY_DISTRICT_ID=' || quote(r.city_district_id)\n"
    "    WHEN 256 THEN 'SHIP_TO_CITY_CD=' || quote(r.city)\n"
    "    WHEN 512 THEN 'SHIP_TO_DISTRICT_NAME=' || quote(r.district)\n"
    "    WHEN 1024 THEN '(' || quote(?8) || ', ' || quote(?9) || ')'\n"
    "    WHEN 2048 THEN 'SHIP_TO_CITY_CD=' || quote(r.city)\n"
    "                   || ', SHIP_TO_DISTRICT_NAME=' || quote(r.district)\n"
    "    WHEN 4096 THEN 'missing: ' || r.missing_keys\n"
    "    WHEN 8192 THEN 'extra: ' || r.extra_keys\n"
    "    WHEN 16384 THEN 'superseded by file_id ' || ?11 || ' row_no ' || ?12 || ' ('\n"
    "                    || (SELECT f.source FROM main.load_files f WHERE f.file_id = ?11) || ')'\n"
    "  END\n"
    "  FROM main.raw_orders r WHERE r.file_id = ?5 AND r.row_no = ?6),\n"
    "  ?5, ?6, ?7)";

static const char dagd_validate_summary_sql[] =
    "INSERT INTO main.dq_summary (source, rule, \"rows\") VALUES (?1, ?2, ?3)";

/* The final rows, as the eponymous virtual table dq_final_orders of
 * validate_run.c shows them (same columns as orders). */
static const char dagd_validate_final_vtab_sql[] =
    "CREATE TABLE x (order_id, source, order_time, city_district_id, city, district,\n"
    "                amount_rmb_cents, currency, qty, status, location_known, hour,\n"
    "                amount_cents, file_id, row_no)";

#define DQ_ORDERS_COLS                                                                             \
    "order_id, source, order_time, city_district_id, city, district, amount_rmb_cents,\n"          \
    "currency, qty, status, location_known, hour, amount_cents, file_id, row_no"

#define DQ_ORDERS_UPSERT_TAIL                                                                      \
    "ON CONFLICT (order_id) DO UPDATE SET\n"                                                       \
    "  source = excluded.source, order_time = excluded.order_time,\n"                              \
    "  city_district_id = excluded.city_district_id, city = excluded.city,\n"                      \
    "  district = excluded.district, amount_rmb_cents = excluded.amount_rmb_cents,\n"              \
    "  currency = excluded.currency, qty = excluded.qty, status = excluded.status,\n"              \
    "  location_known = excluded.location_known, hour = excluded.hour,\n"                          \
    "  amount_cents = excluded.amount_cents, file_id = excluded.file_id, row_no = "                \
    "excluded.row_no\n"                                                                            \
    "WHERE (source, order_time, city_district_id, city, district, amount_rmb_cents, currency, "    \
    "qty,\n"                                                                                       \
    "       status, location_known, hour, amount_cents, file_id, row_no)\n"                        \
    "  IS NOT (excluded.source, excluded.order_time, excluded.city_district_id, excluded.city,\n"  \
    "          excluded.district, excluded.amount_rmb_cents, excluded.currency, excluded.qty,\n"   \
    "          excluded.status, excluded.location_known, excluded.hour, excluded.amount_cents,\n"  \
    "          excluded.file_id, excluded.row_no)"

/* The contract table: upsert the final row of every ORDER_ID; an unchanged
 * row is not written at all. */
static const char dagd_validate_upsert_sql[] =
    "INSERT INTO main.orders (" DQ_ORDERS_COLS ")\n"
    "SELECT " DQ_ORDERS_COLS " FROM dq_final_orders WHERE true\n" DQ_ORDERS_UPSERT_TAIL;

/* Orders whose ORDER_ID is no longer in bronze (only if bronze was cut). */
static const char dagd_validate_keep_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS dq_keep (order_id TEXT PRIMARY KEY) WITHOUT ROWID;\n"
    "DELETE FROM temp.dq_keep;\n"
    "INSERT OR IGNORE INTO temp.dq_keep\n"
    "  SELECT dq_oid(order_id) FROM main.raw_orders WHERE dq_oid(order_id) IS NOT NULL;\n";
static const char dagd_validate_prune_sql[] =
    "DELETE FROM main.orders WHERE order_id NOT IN (SELECT order_id FROM temp.dq_keep);\n"
    "DROP TABLE temp.dq_keep;\n";

/* The groups, as the eponymous virtual table dq_order_groups of
 * validate_run.c shows them (one INSERT ... SELECT: a bound INSERT per
 * group took ~7 ms for the 14k groups of data/sales). */
static const char dagd_validate_groups_vtab_sql[] =
    "CREATE TABLE x (city_district_id, hour, status, location_known, city, orders,\n"
    "                sales_rmb_cents)";

static const char dagd_validate_groups_sql[] =
    "INSERT INTO main.order_groups (city_district_id, hour, status, location_known, city, orders,\n"
    "                               sales_rmb_cents)\n"
    "SELECT city_district_id, hour, status, location_known, city, orders, sales_rmb_cents\n"
    "FROM dq_order_groups";

/* Parameters the marts need (summary.sql reads usd_rate). ?1 = the rate. */
static const char dagd_validate_meta_sql[] =
    "INSERT INTO main.warehouse_meta (key, value) VALUES ('usd_rate', ?1)\n"
    "  ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value";

#endif
