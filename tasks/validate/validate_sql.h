/* SQL of the validate task. Every statement runs inside one transaction on
 * the warehouse (validate_run.c). The dq_* functions come from dq_sqlite.c.
 * The tables are documented for analysts in docs/warehouse.md. */
#ifndef DAGD_VALIDATE_SQL_H
#define DAGD_VALIDATE_SQL_H

/* Output tables (DESIGN 6, plus provenance columns). */
static const char dagd_validate_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS orders (\n"
    "    order_id         TEXT PRIMARY KEY,\n"
    "    source           TEXT NOT NULL,\n"
    "    order_time       INTEGER,\n"          /* HHMMSS, NULL if bad */
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
    ");\n"
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
    "CREATE TABLE IF NOT EXISTS warehouse_meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT\n"
    ");\n";

/* Bronze must exist (extract writes it). */
static const char dagd_validate_check_sql[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
    " AND name IN ('raw_orders', 'city_district_map', 'load_files')";

/* Working tables, in memory, rebuilt on every run from the whole bronze. */
static const char dagd_validate_stage_sql[] =
    "DROP TABLE IF EXISTS temp.dq_rule;\n"
    "DROP TABLE IF EXISTS temp.dq_map;\n"
    "DROP TABLE IF EXISTS temp.dq_map_city;\n"
    "DROP TABLE IF EXISTS temp.dq_map_district;\n"
    "DROP TABLE IF EXISTS temp.dq_rows;\n"
    "DROP TABLE IF EXISTS temp.dq_last;\n"
    "DROP TABLE IF EXISTS temp.dq_eval;\n"
    /* The rules, their bit in dq_eval.flags and which sources they apply to:
     * 'any', 'id' (sources located by CITY_DISTRICT_ID), 'name' (by city and
     * district names), 'source' (per-source counts only: superseded rows are
     * never final). */
    "CREATE TEMP TABLE dq_rule (bit INTEGER PRIMARY KEY, rule TEXT NOT NULL, scope TEXT NOT NULL);\n"
    "INSERT INTO dq_rule VALUES\n"
    "  (1, 'order_id_missing', 'any'),\n"
    "  (2, 'amount_not_positive', 'any'),\n"
    "  (4, 'currency_unknown', 'any'),\n"
    "  (8, 'currency_not_rmb', 'any'),\n"
    "  (16, 'qty_not_positive_integer', 'any'),\n"
    "  (32, 'bad_order_time', 'any'),\n"
    "  (64, 'order_time_outside_window', 'any'),\n"
    "  (128, 'unknown_city_district_id', 'id'),\n"
    "  (256, 'unknown_city', 'name'),\n"
    "  (512, 'unknown_district', 'name'),\n"
    "  (1024, 'unknown_city_district_pair', 'name'),\n"
    "  (2048, 'location_whitespace_trimmed', 'name'),\n"
    "  (4096, 'json_missing_key', 'name'),\n"
    "  (8192, 'json_extra_key', 'name'),\n"
    "  (16384, 'duplicate_order_id_superseded', 'source');\n"
    /* The map with trimmed names, and its sets of city and district names. */
    "CREATE TEMP TABLE dq_map (id INTEGER PRIMARY KEY, city TEXT, district TEXT);\n"
    "INSERT INTO dq_map SELECT city_district_id, dq_trim(city), dq_trim(district)\n"
    "  FROM main.city_district_map;\n"
    "CREATE INDEX temp.dq_map_pair ON dq_map (city, district, id);\n"
    "CREATE TEMP TABLE dq_map_city (city TEXT PRIMARY KEY) WITHOUT ROWID;\n"
    "INSERT OR IGNORE INTO dq_map_city SELECT city FROM dq_map;\n"
    "CREATE TEMP TABLE dq_map_district (district TEXT PRIMARY KEY) WITHOUT ROWID;\n"
    "INSERT OR IGNORE INTO dq_map_district SELECT district FROM dq_map;\n"
    /* Every bronze row, trimmed and parsed; pos is the global load order. */
    "CREATE TEMP TABLE dq_rows AS\n"
    "SELECT s.*,\n"
    "       CASE WHEN s.by_id THEN (SELECT m.id FROM dq_map m WHERE m.id = s.cdid)\n"
    "            ELSE (SELECT p.id FROM dq_map p WHERE p.city = s.city_t AND p.district = s.district_t\n"
    "                  ORDER BY p.id LIMIT 1) END AS loc_id\n"
    "FROM (SELECT r.file_id * 4294967296 + r.row_no AS pos, r.file_id, r.row_no, r.source,\n"
    "             r.source = 'dataset1' AS by_id,\n"
    "             dq_trim(r.order_id) AS oid,\n"
    "             dq_time(r.order_time) AS t,\n"
    "             dq_cents(r.rptg_amt) AS amt,\n"
    "             dq_trim(r.currency_cd) AS cur,\n"
    "             dq_qty(r.order_qty) AS qty,\n"
    "             r.city_district_id AS cdid,\n"
    "             dq_trim(r.city) AS city_t,\n"
    "             dq_trim(r.district) AS district_t,\n"
    "             dq_has_space(r.city) OR dq_has_space(r.district) AS ws,\n"
    "             r.missing_keys IS NOT NULL AS missing,\n"
    "             r.extra_keys IS NOT NULL AS extra\n"
    "      FROM main.raw_orders r) s;\n"
    /* Dedup: the last occurrence of each trimmed ORDER_ID in load order. */
    "CREATE TEMP TABLE dq_last (oid TEXT PRIMARY KEY, pos INTEGER NOT NULL) WITHOUT ROWID;\n"
    "INSERT INTO dq_last SELECT oid, max(pos) FROM dq_rows WHERE oid <> '' GROUP BY oid;\n"
    /* Rule hits of every row as a bit set (dq_rule.bit). */
    "CREATE TEMP TABLE dq_eval AS\n"
    "SELECT d.*, l.pos AS winner, (l.pos IS NULL OR l.pos = d.pos) AS final,\n"
    "  (l.pos IS NULL) * 1\n"
    "  | (d.amt IS NULL OR d.amt <= 0) * 2\n"
    "  | (d.cur IS NULL OR d.cur NOT IN ('RMB', 'USD')) * 4\n"
    "  | (d.cur IS 'USD') * 8\n"
    "  | (d.qty IS NULL) * 16\n"
    "  | (d.t IS NULL) * 32\n"
    "  | (d.t IS NOT NULL AND (d.t < 50000 OR d.t >= 120000)) * 64\n"
    "  | (d.by_id AND d.loc_id IS NULL) * 128\n"
    "  | (NOT d.by_id AND NOT EXISTS (SELECT 1 FROM dq_map_city c WHERE c.city = d.city_t)) * 256\n"
    "  | (NOT d.by_id AND NOT EXISTS (SELECT 1 FROM dq_map_district x\n"
    "                                 WHERE x.district = d.district_t)) * 512\n"
    "  | (NOT d.by_id AND d.loc_id IS NULL) * 1024\n"
    "  | (NOT d.by_id AND d.ws) * 2048\n"
    "  | (NOT d.by_id AND d.missing) * 4096\n"
    "  | (NOT d.by_id AND d.extra) * 8192\n"
    "  | (l.pos IS NOT NULL AND l.pos <> d.pos) * 16384 AS flags\n"
    "FROM dq_rows d LEFT JOIN dq_last l ON l.oid = d.oid;\n";

/* One exception row per (row, rule) hit, superseded rows included. */
static const char dagd_validate_exceptions_sql[] =
    "DELETE FROM main.dq_exceptions;\n"
    "INSERT INTO main.dq_exceptions (order_id, source, rule, detail, file_id, row_no, final)\n"
    "SELECT e.oid, e.source, k.rule,\n"
    "  CASE k.bit\n"
    "    WHEN 1 THEN 'ORDER_ID=' || quote(r.order_id)\n"
    "    WHEN 2 THEN 'RPTG_AMT=' || quote(r.rptg_amt)\n"
    "    WHEN 4 THEN 'CURRENCY_CD=' || quote(r.currency_cd)\n"
    "    WHEN 8 THEN 'RPTG_AMT=' || quote(r.rptg_amt) || ' USD = '\n"
    "                || quote(dq_rmb(e.amt, 'USD')) || ' RMB cents'\n"
    "    WHEN 16 THEN 'ORDER_QTY=' || quote(r.order_qty)\n"
    "    WHEN 32 THEN 'ORDER_TIME=' || quote(r.order_time)\n"
    "    WHEN 64 THEN 'ORDER_TIME=' || quote(r.order_time)\n"
    "    WHEN 128 THEN 'CITY_DISTRICT_ID=' || quote(r.city_district_id)\n"
    "    WHEN 256 THEN 'SHIP_TO_CITY_CD=' || quote(r.city)\n"
    "    WHEN 512 THEN 'SHIP_TO_DISTRICT_NAME=' || quote(r.district)\n"
    "    WHEN 1024 THEN '(' || quote(e.city_t) || ', ' || quote(e.district_t) || ')'\n"
    "    WHEN 2048 THEN 'SHIP_TO_CITY_CD=' || quote(r.city)\n"
    "                   || ', SHIP_TO_DISTRICT_NAME=' || quote(r.district)\n"
    "    WHEN 4096 THEN 'missing: ' || r.missing_keys\n"
    "    WHEN 8192 THEN 'extra: ' || r.extra_keys\n"
    "    WHEN 16384 THEN 'superseded by file_id ' || (e.winner >> 32)\n"
    "                    || ' row_no ' || (e.winner & 4294967295) || ' ('\n"
    "                    || (SELECT f.source FROM main.load_files f WHERE f.file_id = e.winner >> 32)\n"
    "                    || ')'\n"
    "  END,\n"
    "  e.file_id, e.row_no, e.final\n"
    "FROM dq_eval e\n"
    "JOIN dq_rule k ON e.flags & k.bit\n"
    "JOIN main.raw_orders r ON r.file_id = e.file_id AND r.row_no = e.row_no\n"
    "WHERE e.flags <> 0\n"
    "ORDER BY e.pos, k.bit;\n"
    /* Counts per source (every loaded row) and for the final rows (after
     * dedup, rows without ORDER_ID included), with zeros for the rules that
     * apply to a source. */
    "DELETE FROM main.dq_summary;\n"
    "INSERT INTO main.dq_summary (source, rule, \"rows\")\n"
    "SELECT s.source, k.rule,\n"
    "       (SELECT count(*) FROM main.dq_exceptions x WHERE x.rule = k.rule AND x.source = s.source)\n"
    "FROM (SELECT source, max(by_id) AS by_id, min(by_id) AS by_id_min FROM dq_rows GROUP BY source) s\n"
    "JOIN dq_rule k ON k.scope IN ('any', 'source')\n"
    "               OR (k.scope = 'id' AND s.by_id) OR (k.scope = 'name' AND NOT s.by_id_min)\n"
    "UNION ALL\n"
    "SELECT 'final', k.rule,\n"
    "       (SELECT count(*) FROM main.dq_exceptions x WHERE x.rule = k.rule AND x.final)\n"
    "FROM dq_rule k WHERE k.scope <> 'source'\n"
    "ORDER BY 1, 2;\n";

/* The contract table: upsert the final row of every ORDER_ID, touching only
 * rows whose values change, and drop ids no longer in bronze. */
static const char dagd_validate_orders_sql[] =
    "INSERT INTO main.orders (order_id, source, order_time, city_district_id, city, district,\n"
    "                         amount_rmb_cents, currency, qty, status, location_known, hour,\n"
    "                         amount_cents, file_id, row_no)\n"
    "SELECT e.oid, e.source, e.t,\n"
    "       CASE WHEN e.by_id THEN e.cdid ELSE e.loc_id END,\n"
    "       CASE WHEN e.by_id THEN m.city ELSE e.city_t END,\n"
    "       CASE WHEN e.by_id THEN m.district ELSE e.district_t END,\n"
    "       dq_rmb(e.amt, e.cur), e.cur, e.qty,\n"
    "       CASE WHEN e.flags & 6 THEN 'rejected' ELSE 'included' END,\n"
    "       e.loc_id IS NOT NULL,\n"
    "       CASE WHEN e.t >= 50000 AND e.t < 120000 THEN e.t / 10000 END,\n"
    "       e.amt, e.file_id, e.row_no\n"
    "FROM dq_eval e LEFT JOIN dq_map m ON m.id = e.loc_id\n"
    "WHERE e.final AND e.oid <> ''\n"
    "ON CONFLICT (order_id) DO UPDATE SET\n"
    "  source = excluded.source, order_time = excluded.order_time,\n"
    "  city_district_id = excluded.city_district_id, city = excluded.city,\n"
    "  district = excluded.district, amount_rmb_cents = excluded.amount_rmb_cents,\n"
    "  currency = excluded.currency, qty = excluded.qty, status = excluded.status,\n"
    "  location_known = excluded.location_known, hour = excluded.hour,\n"
    "  amount_cents = excluded.amount_cents, file_id = excluded.file_id, row_no = excluded.row_no\n"
    "WHERE (source, order_time, city_district_id, city, district, amount_rmb_cents, currency, qty,\n"
    "       status, location_known, hour, amount_cents, file_id, row_no)\n"
    "  IS NOT (excluded.source, excluded.order_time, excluded.city_district_id, excluded.city,\n"
    "          excluded.district, excluded.amount_rmb_cents, excluded.currency, excluded.qty,\n"
    "          excluded.status, excluded.location_known, excluded.hour, excluded.amount_cents,\n"
    "          excluded.file_id, excluded.row_no);\n"
    "DELETE FROM main.orders WHERE order_id NOT IN (SELECT oid FROM dq_last);\n";

/* Parameters the marts need (summary.sql reads usd_rate). ?1 = the rate. */
static const char dagd_validate_meta_sql[] =
    "INSERT INTO main.warehouse_meta (key, value) VALUES ('usd_rate', ?1)\n"
    "  ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value";

static const char dagd_validate_cleanup_sql[] =
    "DROP TABLE IF EXISTS temp.dq_eval;\n"
    "DROP TABLE IF EXISTS temp.dq_last;\n"
    "DROP TABLE IF EXISTS temp.dq_rows;\n"
    "DROP TABLE IF EXISTS temp.dq_map_district;\n"
    "DROP TABLE IF EXISTS temp.dq_map_city;\n"
    "DROP TABLE IF EXISTS temp.dq_map;\n"
    "DROP TABLE IF EXISTS temp.dq_rule;\n";

#endif
