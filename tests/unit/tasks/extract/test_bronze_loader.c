/* Unit tests of tasks/extract/bronze_loader.c on a scratch SQLite database: the
 * sample delivery (data/sales-tiny) loads the row counts of expected.json
 * with the delivered value types; a second load of the same files is
 * skipped; and every bad delivery fails with the file and the row / record
 * / offset in the message while the bronze tables stay exactly as before. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>
#include "../query_int.h"

#include "config.h"
#include "bronze_loader.h"

#define TINY DAGD_SOURCE_ROOT "/data/sales-tiny"

static char tmpdir[256];
static cJSON *expected;

static char *slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (ret_len) {
        *ret_len = (size_t)n;
    }
    return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static int setup(void **state)
{
    char *json = slurp(TINY "/expected.json", NULL);

    expected = cJSON_Parse(json);
    free(json);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_bronze_loader.XXXXXX");
    return expected && mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];

    cJSON_Delete(expected);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t q(sqlite3 *db, const char *sql)
{
    return test_query_int(db, sql, -1); /* -1: no row */
}

static int64_t expected_int(const char *a, const char *b, const char *c)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(expected, a);
    if (b) {
        j = cJSON_GetObjectItemCaseSensitive(j, b);
    }
    if (c) {
        j = cJSON_GetObjectItemCaseSensitive(j, c);
    }
    assert_true(cJSON_IsNumber(j));
    return (int64_t)j->valuedouble;
}

static sqlite3 *open_db(const char *name)
{
    char path[512];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    (void)unlink(path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static struct dagd_bronze_loader *loader(sqlite3 *db, const char *source)
{
    struct dagd_bronze_loader *l = NULL;
    char err[512];

    assert_int_equal(dagd_bronze_loader_new(db, source, NULL, &l, err, sizeof(err)), 0);
    return l;
}

static void test_sample_delivery(void **state)
{
    sqlite3 *db = open_db("tiny.db");
    struct dagd_bronze_loader *l1 = loader(db, "dataset1"), *l2 = loader(db, "dataset2");
    struct dagd_bronze_loader_file f;

    assert_int_equal(dagd_bronze_loader_load_file(l1, DAGD_FORMAT_XLSX, TINY "/dataset1.xlsx", &f),
                     0);
    assert_false(f.skipped);
    assert_int_equal(f.rows, expected_int("rows_loaded", "dataset1", NULL));
    assert_true(f.map_rows > 0);
    assert_int_equal(dagd_bronze_loader_load_file(l2, DAGD_FORMAT_JSON, TINY "/dataset2.json", &f),
                     0);
    assert_int_equal(f.rows, expected_int("rows_loaded", "dataset2", NULL));

    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE source = 'dataset1'"),
                     expected_int("rows_loaded", "dataset1", NULL));
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE source = 'dataset2'"),
                     expected_int("rows_loaded", "dataset2", NULL));
    assert_int_equal(q(db, "SELECT sum(rows) FROM load_files"),
                     expected_int("rows_loaded_total", NULL, NULL));
    assert_int_equal(q(db, "SELECT count(DISTINCT city_district_id) FROM city_district_map"),
                     q(db, "SELECT count(*) FROM city_district_map"));
    /* delivered types: the text 'time', blank quantities, integral times */
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE typeof(order_time) = 'text'"),
                     expected_int("dq_per_source", "dataset1", "bad_order_time"));
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE order_qty IS NULL"),
                     expected_int("dq_per_source", "dataset1", "qty_not_positive_integer"));
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE typeof(rptg_amt) NOT IN "
                           "('real', 'integer')"),
                     0);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE source = 'dataset1' AND "
                           "(typeof(city_district_id) != 'integer' OR city IS NOT NULL)"),
                     0);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE source = 'dataset2' AND "
                           "(city IS NULL OR district IS NULL OR city_district_id IS NOT NULL)"),
                     0);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE currency_cd = 'USD'"),
                     expected_int("dq_per_source", "dataset1", "currency_not_rmb") +
                         expected_int("dq_per_source", "dataset2", "currency_not_rmb"));
    assert_int_equal(q(db, "SELECT min(row_no) FROM raw_orders WHERE source = 'dataset1'"), 2);

    /* the same files again: skipped, nothing changes */
    assert_int_equal(dagd_bronze_loader_load_file(l1, DAGD_FORMAT_XLSX, TINY "/dataset1.xlsx", &f),
                     0);
    assert_true(f.skipped);
    assert_int_equal(f.rows, expected_int("rows_loaded", "dataset1", NULL));
    assert_int_equal(dagd_bronze_loader_load_file(l2, DAGD_FORMAT_JSON, TINY "/dataset2.json", &f),
                     0);
    assert_true(f.skipped);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders"),
                     expected_int("rows_loaded_total", NULL, NULL));
    assert_int_equal(q(db, "SELECT count(*) FROM load_files"), 2);

    dagd_bronze_loader_free(l1);
    dagd_bronze_loader_free(l2);
    sqlite3_close(db);
}

/* ---------------------------------------------------------------------- */
/* Bad deliveries */

struct snapshot {
    int64_t files, rows, map, map_sum;
};

static struct snapshot snap(sqlite3 *db)
{
    return (struct snapshot){
        q(db, "SELECT count(*) FROM load_files"),
        q(db, "SELECT count(*) FROM raw_orders"),
        q(db, "SELECT count(*) FROM city_district_map"),
        q(db, "SELECT total(length(city) + length(district) + file_id) FROM city_district_map"),
    };
}

static void expect_fail(sqlite3 *db, struct dagd_bronze_loader *l,
                        enum dagd_bronze_loader_format fmt, const char *path, const char *needle1,
                        const char *needle2)
{
    struct snapshot before = snap(db), after;
    struct dagd_bronze_loader_file f;
    const char *err;

    assert_true(dagd_bronze_loader_load_file(l, fmt, path, &f) < 0);
    err = dagd_bronze_loader_error(l);
    print_message("expected failure: %s\n", err);
    if (strncmp(err, path, strlen(path)) != 0 || !strstr(err, needle1) ||
        (needle2 && !strstr(err, needle2))) {
        fail_msg("error \"%s\" lacks the path or \"%s\" / \"%s\"", err, needle1,
                 needle2 ? needle2 : "");
    }
    after = snap(db);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(sqlite3_get_autocommit(db), 1); /* no transaction left open */
}

static const char sheet_head[] =
    "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";

static void write_workbook(const char *path, const char *data_sheet, const char *map_sheet)
{
    static const char wb[] =
        "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
        "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
        "<sheet name=\"DATA\" sheetId=\"1\" r:id=\"rId1\"/><sheet name=\"CITY_DISTRICT_MAP\" "
        "sheetId=\"2\" r:id=\"rId2\"/></sheets></workbook>";
    static const char wb_one[] =
        "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
        "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
        "<sheet name=\"DATA\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
    static const char rels[] =
        "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
        "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
        "relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
        "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
        "relationships/worksheet\" Target=\"worksheets/sheet2.xml\"/></Relationships>";
    int ze;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    const char *names[] = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                           "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"};
    const char *datas[] = {map_sheet ? wb : wb_one, rels, data_sheet, map_sheet};

    assert_non_null(z);
    for (size_t i = 0; i < 4; i++) {
        zip_source_t *s;
        if (!datas[i]) {
            continue;
        }
        s = zip_source_buffer(z, datas[i], strlen(datas[i]), 0);
        assert_true(zip_file_add(z, names[i], s, ZIP_FL_OVERWRITE) >= 0);
    }
    assert_int_equal(zip_close(z), 0);
}

#define INLINE(ref, text) "<c r=\"" ref "\" t=\"inlineStr\"><is><t>" text "</t></is></c>"
#define NUM(ref, v) "<c r=\"" ref "\"><v>" v "</v></c>"

static void test_bad_deliveries(void **state)
{
    sqlite3 *db = open_db("bad.db");
    struct dagd_bronze_loader *l1 = loader(db, "dataset1"), *l2 = loader(db, "dataset2");
    struct dagd_bronze_loader_file f;
    char path[512], data[4096], map[1024];
    size_t len;
    char *buf;

    /* start from a loaded sample so "unchanged" means something */
    assert_int_equal(dagd_bronze_loader_load_file(l1, DAGD_FORMAT_XLSX, TINY "/dataset1.xlsx", &f),
                     0);
    assert_int_equal(dagd_bronze_loader_load_file(l2, DAGD_FORMAT_JSON, TINY "/dataset2.json", &f),
                     0);

    /* truncated workbook */
    buf = slurp(TINY "/dataset1.xlsx", &len);
    snprintf(path, sizeof(path), "%s/truncated.xlsx", tmpdir);
    spit(path, buf, len - 1000);
    expect_fail(db, l1, DAGD_FORMAT_XLSX, path, "truncated", NULL);
    free(buf);

    /* a zip that is not a workbook */
    {
        int ze;
        zip_t *z;
        snprintf(path, sizeof(path), "%s/notbook.xlsx", tmpdir);
        z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
        assert_true(zip_file_add(z, "a.txt", zip_source_buffer(z, "x", 1, 0), 0) >= 0);
        assert_int_equal(zip_close(z), 0);
        expect_fail(db, l1, DAGD_FORMAT_XLSX, path, "not an xlsx workbook", NULL);
    }

    /* missing sheet CITY_DISTRICT_MAP */
    snprintf(data, sizeof(data), "%s<row r=\"1\">%s%s%s%s%s%s</row></sheetData></worksheet>",
             sheet_head, INLINE("A1", "ORDER_ID"), INLINE("B1", "ORDER_TIME  (PST)"),
             INLINE("C1", "CITY_DISTRICT_ID"), INLINE("D1", "RPTG_AMT"),
             INLINE("E1", "CURRENCY_CD"), INLINE("F1", "ORDER_QTY"));
    snprintf(path, sizeof(path), "%s/nomap.xlsx", tmpdir);
    write_workbook(path, data, NULL);
    expect_fail(db, l1, DAGD_FORMAT_XLSX, path, "no sheet 'CITY_DISTRICT_MAP'", "'DATA'");

    /* missing column ORDER_QTY: named, with the columns found */
    snprintf(data, sizeof(data),
             "%s<row r=\"1\">%s%s%s%s%s</row><row r=\"2\">%s%s</row></sheetData></worksheet>",
             sheet_head, INLINE("A1", "ORDER_ID"), INLINE("B1", "ORDER_TIME  (PST)"),
             INLINE("C1", "CITY_DISTRICT_ID"), INLINE("D1", "RPTG_AMT"),
             INLINE("E1", "CURRENCY_CD"), INLINE("A2", "G1"), NUM("B2", "50127"));
    snprintf(map, sizeof(map),
             "%s<row r=\"1\">%s%s%s</row><row r=\"2\">%s%s%s</row></sheetData>"
             "</worksheet>",
             sheet_head, INLINE("A1", "CITY_DISTRICT_ID"), INLINE("B1", "SHIP_TO_CITY_CD"),
             INLINE("C1", "SHIP_TO_DISTRICT_NAME"), NUM("A2", "1"), INLINE("B2", "x"),
             INLINE("C2", "y"));
    snprintf(path, sizeof(path), "%s/nocol.xlsx", tmpdir);
    write_workbook(path, data, map);
    expect_fail(db, l1, DAGD_FORMAT_XLSX, path, "missing column 'ORDER_QTY'", "sheet DATA");

    /* a bad cell in the middle of DATA: rows before it are rolled back */
    snprintf(data, sizeof(data),
             "%s<row r=\"1\">%s%s%s%s%s%s</row><row r=\"2\">%s</row><row r=\"3\">"
             "<c r=\"A3\" t=\"s\"><v>99</v></c></row></sheetData></worksheet>",
             sheet_head, INLINE("A1", "ORDER_ID"), INLINE("B1", "ORDER_TIME  (PST)"),
             INLINE("C1", "CITY_DISTRICT_ID"), INLINE("D1", "RPTG_AMT"),
             INLINE("E1", "CURRENCY_CD"), INLINE("F1", "ORDER_QTY"), INLINE("A2", "G1"));
    snprintf(path, sizeof(path), "%s/badcell.xlsx", tmpdir);
    write_workbook(path, data, map);
    expect_fail(db, l1, DAGD_FORMAT_XLSX, path, "cell A3", "shared string");

    /* a bad map id */
    snprintf(data, sizeof(data), "%s<row r=\"1\">%s%s%s%s%s%s</row></sheetData></worksheet>",
             sheet_head, INLINE("A1", "ORDER_ID"), INLINE("B1", "ORDER_TIME  (PST)"),
             INLINE("C1", "CITY_DISTRICT_ID"), INLINE("D1", "RPTG_AMT"),
             INLINE("E1", "CURRENCY_CD"), INLINE("F1", "ORDER_QTY"));
    snprintf(map, sizeof(map),
             "%s<row r=\"1\">%s%s%s</row><row r=\"7\">%s%s%s</row></sheetData>"
             "</worksheet>",
             sheet_head, INLINE("A1", "CITY_DISTRICT_ID"), INLINE("B1", "SHIP_TO_CITY_CD"),
             INLINE("C1", "SHIP_TO_DISTRICT_NAME"), INLINE("A7", "seven"), INLINE("B7", "x"),
             INLINE("C7", "y"));
    snprintf(path, sizeof(path), "%s/badmap.xlsx", tmpdir);
    write_workbook(path, data, map);
    expect_fail(db, l1, DAGD_FORMAT_XLSX, path, "CITY_DISTRICT_MAP row 7", "not an integer");

    /* JSON: syntax error at record 3, top level not an array, record not an object */
    snprintf(path, sizeof(path), "%s/bad.json", tmpdir);
    spit(path, "[\n{\"ORDER_ID\": \"a\"},\n{\"ORDER_ID\": \"b\"},\n{\"ORDER_ID\": \"c\",}\n]\n",
         61);
    expect_fail(db, l2, DAGD_FORMAT_JSON, path, "record 3", "byte offset");
    spit(path, "{\"ORDER_ID\": \"a\"}", 17);
    expect_fail(db, l2, DAGD_FORMAT_JSON, path, "not an array", NULL);
    spit(path, "[{\"ORDER_ID\": \"a\"}, \"b\"]", 24);
    expect_fail(db, l2, DAGD_FORMAT_JSON, path, "record 2", "not an object");
    buf = slurp(TINY "/dataset2.json", &len);
    spit(path, buf, len / 2);
    free(buf);
    expect_fail(db, l2, DAGD_FORMAT_JSON, path, "truncated JSON", "record");

    /* CSV: missing column, unterminated quote */
    snprintf(path, sizeof(path), "%s/bad.csv", tmpdir);
    spit(path, "ORDER_ID,RPTG_AMT\nG1,1\n", 23);
    expect_fail(db, l1, DAGD_FORMAT_CSV, path, "missing column 'ORDER_TIME  (PST)'", NULL);

    dagd_bronze_loader_free(l1);
    dagd_bronze_loader_free(l2);
    sqlite3_close(db);
}

static void test_json_keys(void **state)
{
    sqlite3 *db = open_db("keys.db");
    struct dagd_bronze_loader *l2 = loader(db, "dataset2");
    struct dagd_bronze_loader_file f;
    char path[512];
    static const char json[] =
        "[{\"ORDER_ID\": \" G1 \", \"ORDER_TIME_PST\": \"051502\", \"SHIP_TO_DISTRICT_NAME\": "
        "\"\\u6842\", \"SHIP_TO_CITY_CD\": \"c\", \"RPTG_AMT\": 10, \"CURRENCY_CD\": \"RMB\", "
        "\"ORDER_QTY\": 2.0, \"PROMO_CD\": \"S\"},\n"
        " {\"ORDER_ID\": \"G2\", \"RPTG_AMT\": 1.5, \"ORDER_QTY\": \"2\"}]";

    snprintf(path, sizeof(path), "%s/keys.json", tmpdir);
    spit(path, json, sizeof(json) - 1);
    assert_int_equal(dagd_bronze_loader_load_file(l2, DAGD_FORMAT_JSON, path, &f), 0);
    assert_int_equal(f.rows, 2);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE row_no = 1 AND order_id = ' G1 ' "
                           "AND order_time = '051502' AND typeof(rptg_amt) = 'integer' AND "
                           "typeof(order_qty) = 'real' AND district = char(26690) AND "
                           "extra_keys = 'PROMO_CD' AND missing_keys IS NULL"),
                     1);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE row_no = 2 AND "
                           "missing_keys = 'ORDER_TIME_PST,SHIP_TO_DISTRICT_NAME,SHIP_TO_CITY_CD,"
                           "CURRENCY_CD' AND typeof(order_qty) = 'text' AND extra_keys IS NULL"),
                     1);
    dagd_bronze_loader_free(l2);
    sqlite3_close(db);
}

/* Many records: the loader writes them MULTI_ROWS at a time and the rest of
 * each queue batch one by one. Every record must land once, with its own
 * values: a key absent from a record is NULL even where the record written
 * in the same slot before had it, and text survives until it is written
 * (long values make the queue's batches end at varied rows). */
static void test_json_many_records(void **state)
{
    sqlite3 *db = open_db("many.json.db");
    struct dagd_bronze_loader *l2 = loader(db, "dataset2");
    struct dagd_bronze_loader_file f;
    char path[512];
    const int n = 5037;
    size_t cap = (size_t)n * 400, len = 0;
    char *json = malloc(cap);

    assert_non_null(json);
    len += (size_t)snprintf(json + len, cap - len, "[");
    for (int i = 1; i <= n; i++) {
        len += (size_t)snprintf(json + len, cap - len,
                                "%s{\"ORDER_ID\": \"O%d\", \"RPTG_AMT\": %d.5, "
                                "\"CURRENCY_CD\": \"%s\", \"SHIP_TO_CITY_CD\": \"c%d\"",
                                i > 1 ? ",\n" : "", i, i, i % 11 == 0 ? "USD" : "RMB", i % 97);
        if (i % 7 != 0) {
            len += (size_t)snprintf(json + len, cap - len, ", \"ORDER_QTY\": %d", i % 5);
        }
        if (i % 13 == 0) {
            len += (size_t)snprintf(json + len, cap - len, ", \"SHIP_TO_DISTRICT_NAME\": \"%0*d\"",
                                    100 + i % 200, i);
        }
        len += (size_t)snprintf(json + len, cap - len, "}");
    }
    len += (size_t)snprintf(json + len, cap - len, "]");
    assert_true(len < cap);
    snprintf(path, sizeof(path), "%s/many.json", tmpdir);
    spit(path, json, len);
    free(json);

    assert_int_equal(dagd_bronze_loader_load_file(l2, DAGD_FORMAT_JSON, path, &f), 0);
    assert_int_equal(f.rows, n);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders"), n);
    assert_int_equal(q(db, "SELECT count(DISTINCT row_no) FROM raw_orders WHERE row_no BETWEEN 1 "
                           "AND 5037"),
                     n);
    /* each row holds its own record's values */
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE order_id = 'O' || row_no "
                           "AND rptg_amt = row_no + 0.5 AND city = 'c' || (row_no % 97) "
                           "AND currency_cd = CASE WHEN row_no % 11 = 0 THEN 'USD' ELSE 'RMB' END"),
                     n);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE (row_no % 7 = 0) = "
                           "(order_qty IS NULL) AND (order_qty IS NULL OR order_qty = row_no % 5)"),
                     n);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE (row_no % 13 = 0) = "
                           "(district IS NOT NULL) AND (district IS NULL OR "
                           "(CAST(district AS INTEGER) = row_no AND length(district) = "
                           "100 + row_no % 200))"),
                     n);
    dagd_bronze_loader_free(l2);
    sqlite3_close(db);
}

static void test_csv_delivery(void **state)
{
    sqlite3 *db = open_db("csv.db");
    struct dagd_bronze_loader *l1 = loader(db, "dataset1");
    struct dagd_bronze_loader_file f;
    char path[512];
    static const char map[] =
        "CITY_DISTRICT_ID,SHIP_TO_CITY_CD,SHIP_TO_DISTRICT_NAME\n1,a,b\n2,c,d\n";
    static const char data[] = "ORDER_ID,ORDER_TIME  (PST),CITY_DISTRICT_ID,RPTG_AMT,CURRENCY_CD,"
                               "ORDER_QTY\nG1,50127,1,1680.53,RMB,1\nG2,time,2,17520.35,USD,\n";

    snprintf(path, sizeof(path), "%s/city_district_map.csv", tmpdir);
    spit(path, map, sizeof(map) - 1);
    assert_int_equal(dagd_bronze_loader_load_file(l1, DAGD_FORMAT_CSV, path, &f), 0);
    assert_int_equal(f.rows, 0);
    assert_int_equal(f.map_rows, 2);
    snprintf(path, sizeof(path), "%s/dataset1.csv", tmpdir);
    spit(path, data, sizeof(data) - 1);
    assert_int_equal(dagd_bronze_loader_load_file(l1, DAGD_FORMAT_CSV, path, &f), 0);
    assert_int_equal(f.rows, 2);
    assert_int_equal(q(db, "SELECT count(*) FROM raw_orders WHERE row_no = 3 AND order_time = "
                           "'time' AND order_qty IS NULL AND typeof(rptg_amt) = 'real'"),
                     1);
    assert_int_equal(q(db, "SELECT count(*) FROM city_district_map"), 2);
    dagd_bronze_loader_free(l1);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_delivery), cmocka_unit_test(test_bad_deliveries),
        cmocka_unit_test(test_json_keys),       cmocka_unit_test(test_json_many_records),
        cmocka_unit_test(test_csv_delivery),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
