/* Unit tests of tasks/load: typed values, column specs, and whole files
 * loaded into real SQLite files (bad rows, missing columns, type errors,
 * broken files, modes, checkpoints, JSON and NDJSON). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "load_file.h"
#include "load_spec.h"
#include "task_hash.h"
#include "utf8_check.h"
#include "values.h"

static char dir[] = "/tmp/test_load.XXXXXX";

static void write_file(const char *name, const char *content)
{
    char path[512];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    fclose(f);
}

static const char *path_of(const char *name)
{
    static char path[512];

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

static sqlite3 *open_db(void)
{
    sqlite3 *db;
    char path[512];

    (void)snprintf(path, sizeof(path), "%s/w%d.db", dir, rand());
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

/* The table's rows as "a|b|c\n" lines, ordered by rowid. */
static char *dump(sqlite3 *db, const char *sql)
{
    static char buf[8192];
    sqlite3_stmt *st;
    size_t len = 0;

    buf[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "|" : "",
                                    v ? v : "NULL");
        }
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n");
    }
    sqlite3_finalize(st);
    return buf;
}

static int64_t count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_values(void **state)
{
    int64_t v;
    size_t n = 6;
    const char *t = dagd_load_trim(" \t12 \t", &n);

    assert_int_equal(n, 2);
    assert_memory_equal(t, "12", 2);
    assert_int_equal(dagd_load_parse_integer("-42", 3, &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(dagd_load_parse_integer("1.5", 3, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_integer("+1", 2, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_integer("-", 1, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_integer("two", 3, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_integer("1234567890123456789", 19, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_money("12.5", 4, &v), 0);
    assert_int_equal(v, 1250);
    assert_int_equal(dagd_load_parse_money("12", 2, &v), 0);
    assert_int_equal(v, 1200);
    assert_int_equal(dagd_load_parse_money("-3", 2, &v), 0);
    assert_int_equal(v, -300);
    assert_int_equal(dagd_load_parse_money("0.07", 4, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(dagd_load_parse_money("12.345", 6, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_money("12.", 3, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_money(".5", 2, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_money("abc", 3, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_money("1e3", 3, &v), -EINVAL);
    assert_int_equal(dagd_load_parse_date("2024-02-29", 10), 0);
    assert_int_equal(dagd_load_parse_date("2023-02-29", 10), -EINVAL);
    assert_int_equal(dagd_load_parse_date("1900-02-29", 10), -EINVAL);
    assert_int_equal(dagd_load_parse_date("2000-02-29", 10), 0);
    assert_int_equal(dagd_load_parse_date("2023-13-01", 10), -EINVAL);
    assert_int_equal(dagd_load_parse_date("2023-04-31", 10), -EINVAL);
    assert_int_equal(dagd_load_parse_date("2023-1-05", 9), -EINVAL);
    assert_int_equal(dagd_load_parse_timestamp("2023-02-28 23:59:59", 19), 0);
    assert_int_equal(dagd_load_parse_timestamp("2023-02-30 10:15:00", 19), -EINVAL);
    assert_int_equal(dagd_load_parse_timestamp("2023-02-28 24:00:00", 19), -EINVAL);
    assert_int_equal(dagd_load_parse_timestamp("2023-02-28T10:00:00", 19), -EINVAL);
    assert_int_equal(dagd_load_parse_timestamp("31.01.2023 08:00", 16), -EINVAL);
}

static void test_utf8(void **state)
{
    static const char ok[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
    struct dagd_utf8_check u = {0};

    /* valid at every split */
    for (size_t cut = 0; cut <= strlen(ok); cut++) {
        u = (struct dagd_utf8_check){0};
        assert_int_equal(dagd_utf8_check_feed(&u, ok, cut), 0);
        assert_int_equal(dagd_utf8_check_feed(&u, ok + cut, strlen(ok) - cut), 0);
        assert_int_equal(dagd_utf8_check_feed(&u, "", 0), 0);
    }
    u = (struct dagd_utf8_check){0};
    assert_int_equal(dagd_utf8_check_feed(&u, "abc\xE9t", 5), -EILSEQ); /* Latin-1 */
    assert_int_equal(u.error_offset, 3);
    u = (struct dagd_utf8_check){0};
    assert_int_equal(dagd_utf8_check_feed(&u, "\xC0\xAF", 2), -EILSEQ); /* overlong */
    u = (struct dagd_utf8_check){0};
    assert_int_equal(dagd_utf8_check_feed(&u, "\xED\xA0\x80", 3), -EILSEQ); /* surrogate */
    u = (struct dagd_utf8_check){0};
    assert_int_equal(dagd_utf8_check_feed(&u, "ab\xE2\x82", 4), 0);
    assert_int_equal(dagd_utf8_check_feed(&u, "", 0), -EILSEQ); /* cut at the end */
    assert_int_equal(u.error_offset, 2);
}

static void test_column_spec(void **state)
{
    struct dagd_load_column c;
    char err[256];

    assert_int_equal(dagd_load_column_parse("city", &c, err, sizeof(err)), 0);
    assert_string_equal(c.name, "city");
    assert_string_equal(c.from, "city");
    assert_int_equal(c.type, DAGD_LOAD_TEXT);
    dagd_load_column_done(&c);
    assert_int_equal(dagd_load_column_parse("{\"quantity\":\"integer\"}", &c, err, sizeof(err)), 0);
    assert_string_equal(c.name, "quantity");
    assert_int_equal(c.type, DAGD_LOAD_INTEGER);
    assert_false(c.required);
    dagd_load_column_done(&c);
    assert_int_equal(
        dagd_load_column_parse("{\"from\":\"price\",\"min\":0.5,\"name\":\"price_cents\","
                               "\"required\":true,\"type\":\"money\"}",
                               &c, err, sizeof(err)),
        0);
    assert_string_equal(c.from, "price");
    assert_true(c.required);
    assert_true(c.has_min);
    assert_int_equal(c.min, 50);
    dagd_load_column_done(&c);
    assert_int_equal(
        dagd_load_column_parse("{\"name\":\"x\",\"type\":\"float\"}", &c, err, sizeof(err)),
        -EINVAL);
    assert_non_null(strstr(err, "unknown type 'float'"));
    assert_int_equal(dagd_load_column_parse("{\"name\":\"x\",\"typo\":1}", &c, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "unknown key 'typo'"));
    assert_int_equal(dagd_load_column_parse("{\"name\":\"x\",\"min\":1}", &c, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "for integer and money"));
}

static const struct dagd_load_column typed_cols[] = {
    {.name = "id", .from = "id", .type = DAGD_LOAD_INTEGER},
    {.name = "name", .from = "name", .type = DAGD_LOAD_TEXT},
    {.name = "qty",
     .from = "qty",
     .type = DAGD_LOAD_INTEGER,
     .required = true,
     .has_min = true,
     .min = 1},
    {.name = "price_cents", .from = "price", .type = DAGD_LOAD_MONEY},
    {.name = "at", .from = "at", .type = DAGD_LOAD_TIMESTAMP},
};

static struct dagd_load *new_loader(sqlite3 *db, const struct dagd_load_spec *spec)
{
    struct dagd_load *l = NULL;
    char err[512];

    if (dagd_load_new(db, spec, NULL, &l, err, sizeof(err)) < 0) {
        fail_msg("dagd_load_new: %s", err);
    }
    return l;
}

static const char typed_csv[] = "\xEF\xBB\xBF"
                                "at,qty,extra,name,price,id\r\n"
                                "2023-01-02 10:00:00, 2 ,x,\"Anna, B\",12.5, 1\r\n"
                                "2023-02-30 10:00:00,1,,\"say \"\"hi\"\"\nthere\",abc,2\r\n"
                                "\r\n"
                                ",two,,c,1,3\r\n"
                                ",0,,d,1,4\r\n"
                                ",,,e,1,5\r\n"
                                ",3,,f,12.345,x6\r\n";

/* Bad values of optional columns are NULL; a bad or missing required value
 * rejects the row with a reason; _row counts data records (not lines). */
static void test_rejects(void **state)
{
    sqlite3 *db = open_db();
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = typed_cols,
        .n_columns = 5,
        .meta_file = true,
        .meta_row = true,
        .meta_loaded_at = true,
        .rejects = "rej",
    };
    struct dagd_load *l = new_loader(db, &spec);
    struct dagd_load_result res;

    write_file("typed.csv", typed_csv);
    assert_int_equal(dagd_load_file(l, path_of("typed.csv"), "typed.csv", 1000, &res), 0);
    assert_false(res.skipped);
    assert_int_equal(res.rows, 6);
    assert_int_equal(res.written, 3);
    assert_int_equal(res.rejected, 3);
    assert_string_equal(dump(db, "SELECT * FROM t ORDER BY rowid"),
                        "1|Anna, B|2|1250|2023-01-02 10:00:00|typed.csv|1|1000\n"
                        "2|say \"hi\"\nthere|1|NULL|NULL|typed.csv|2|1000\n"
                        "NULL|f|3|NULL|NULL|typed.csv|6|1000\n");
    assert_string_equal(dump(db, "SELECT table_name, _file, _row, column_name, value, reason "
                                 "FROM rej ORDER BY rowid"),
                        "t|typed.csv|3|qty|two|not an integer\n"
                        "t|typed.csv|4|qty|0|below the minimum\n"
                        "t|typed.csv|5|qty|NULL|missing value\n");
    assert_string_equal(dump(db, "SELECT typeof(id), typeof(price_cents) FROM t LIMIT 1"),
                        "integer|integer\n");
    dagd_load_free(l);
    sqlite3_close(db);
}

static void expect_fail(const struct dagd_load_spec *spec, const char *name, const char *csv,
                        const char *what)
{
    sqlite3 *db = open_db();
    struct dagd_load *l = new_loader(db, spec);
    struct dagd_load_result res;

    write_file(name, csv);
    assert_int_equal(dagd_load_file(l, path_of(name), name, 1, &res), -EINVAL);
    if (!strstr(dagd_load_error(l), what) || !strstr(dagd_load_error(l), name)) {
        fail_msg("error '%s' does not say '%s' and the file", dagd_load_error(l), what);
    }
    /* nothing of the file: no rows, no checkpoint */
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM _dagd_load_files"), 0);
    dagd_load_free(l);
    sqlite3_close(db);
}

/* Without a rejects table a bad row fails the file, naming file, row, line
 * and column; broken files fail with nothing written. */
static void test_file_errors(void **state)
{
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = typed_cols,
        .n_columns = 5,
    };

    expect_fail(&spec, "bad.csv", typed_csv,
                "bad.csv: row 3 (line 6), column 'qty': not an integer ('two')");
    expect_fail(&spec, "missing.csv", "id,name,qty,at\n1,a,2,\n",
                "missing column 'price' in the header (found 'id', 'name', 'qty', 'at')");
    expect_fail(&spec, "fields.csv", "id,name,qty,price,at\n1,a,2,3,\n1,a,2,3\n",
                "row 2 (line 3) has 4 fields, the header has 5");
    expect_fail(&spec, "cut.csv", "id,name,qty,price,at\n1,\"a,2,3,\n",
                "truncated CSV: quoted field opened at line 2");
    expect_fail(&spec, "latin1.csv", "id,name,qty,price,at\n1,Z\xF6\x65,2,3,\n",
                "not valid UTF-8 (byte offset 24)");
    expect_fail(&spec, "empty.csv", "", "no header row");
    spec.rejects = "rej";
    spec.max_rejects = 2;
    expect_fail(&spec, "many.csv", typed_csv, "more than 2 rejected rows");
}

static void load_ok(struct dagd_load *l, const char *name, const char *content, bool skipped)
{
    struct dagd_load_result res;

    write_file(name, content);
    if (dagd_load_file(l, path_of(name), name, 7, &res) < 0) {
        fail_msg("load %s: %s", name, dagd_load_error(l));
    }
    assert_int_equal(res.skipped, skipped);
}

static const struct dagd_load_column kv_cols[] = {
    {.name = "k", .from = "k", .type = DAGD_LOAD_INTEGER},
    {.name = "v", .from = "v", .type = DAGD_LOAD_TEXT},
    {.name = "at", .from = "at", .type = DAGD_LOAD_DATE},
};

/* Checkpoints by content: the same bytes under another name load once; a
 * new loader (the next run) sees the earlier checkpoints. */
static void test_append_checkpoint(void **state)
{
    sqlite3 *db = open_db();
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = kv_cols,
        .n_columns = 3,
    };
    struct dagd_load *l = new_loader(db, &spec);

    load_ok(l, "a.csv", "k,v,at\n1,a,2023-01-01\n", false);
    load_ok(l, "a_again.csv", "k,v,at\n1,a,2023-01-01\n", true);
    load_ok(l, "b.csv", "k,v,at\n1,b,2023-01-02\n", false);
    dagd_load_free(l);
    l = new_loader(db, &spec);
    load_ok(l, "a.csv", "k,v,at\n1,a,2023-01-01\n", true);
    assert_string_equal(dump(db, "SELECT * FROM t ORDER BY rowid"),
                        "1|a|2023-01-01\n1|b|2023-01-02\n");
    assert_string_equal(dump(db, "SELECT table_name, file, rows FROM _dagd_load_files ORDER BY "
                                 "rowid"),
                        "t|a.csv|1\nt|b.csv|1\n");
    dagd_load_free(l);
    sqlite3_close(db);
}

/* A new file is hashed while it is read (no checkpoint of its size): the
 * checkpoint holds the same hash and size as a separate pass over the file,
 * also across the reader's 1 MiB chunks, so the same bytes are skipped
 * later; other bytes of the same size still load. */
static void test_checkpoint_hash(void **state)
{
    sqlite3 *db = open_db();
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = kv_cols,
        .n_columns = 3,
    };
    struct dagd_load *l = new_loader(db, &spec);
    size_t cap = 100000 * 32 + 16;
    char *csv = malloc(cap);
    size_t len = (size_t)sprintf(csv, "k,v,at\n");
    char want[33], got[80];
    uint64_t size;

    for (int i = 1; i <= 100000; i++) {
        len += (size_t)sprintf(csv + len, "%d,value %06d,2023-01-01\n", i, i);
    }
    assert_true(len > 2 * 1024 * 1024);
    load_ok(l, "big.csv", csv, false);
    assert_int_equal(dagd__task_hash_file(path_of("big.csv"), want, &size), 0);
    assert_int_equal(size, len);
    (void)snprintf(got, sizeof(got), "%s|%zu\n", want, len);
    assert_string_equal(dump(db, "SELECT content_hash, size FROM _dagd_load_files"), got);
    load_ok(l, "big_again.csv", csv, true);
    csv[len - 2] = '2'; /* the last date: 2023-01-02, the same size */
    load_ok(l, "big_changed.csv", csv, false);
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 200000);
    assert_int_equal(count(db, "SELECT count(DISTINCT content_hash) FROM _dagd_load_files"), 2);
    free(csv);
    dagd_load_free(l);
    sqlite3_close(db);
}

/* Replace empties the table in the first file's transaction only. */
static void test_replace(void **state)
{
    sqlite3 *db = open_db();
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = kv_cols,
        .n_columns = 3,
        .mode = DAGD_LOAD_REPLACE,
    };
    struct dagd_load *l = new_loader(db, &spec);

    load_ok(l, "r1.csv", "k,v,at\n1,a,\n", false);
    dagd_load_free(l);
    l = new_loader(db, &spec);
    load_ok(l, "r2.csv", "k,v,at\n2,b,\n", false);
    load_ok(l, "r3.csv", "k,v,at\n3,c,\n", false);
    assert_string_equal(dump(db, "SELECT k, v FROM t ORDER BY rowid"), "2|b\n3|c\n");
    dagd_load_free(l);
    sqlite3_close(db);
}

/* Upsert by key, newest by column: an older row never replaces a newer one;
 * equal: the later row wins, also within one file and one batch. */
static void test_upsert_newest(void **state)
{
    sqlite3 *db = open_db();
    static const char *const key[] = {"k"};
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = kv_cols,
        .n_columns = 3,
        .mode = DAGD_LOAD_UPSERT,
        .key = key,
        .n_key = 1,
        .newest = "at",
        .rejects = "rej",
    };
    struct dagd_load *l = new_loader(db, &spec);

    load_ok(l, "u1.csv",
            "k,v,at\n1,new,2023-01-05\n1,old,2023-01-01\n2,x,2023-01-01\n2,y,2023-01-01\n"
            ",nokey,2023-01-09\n",
            false);
    load_ok(l, "u2.csv", "k,v,at\n1,older,2023-01-04\n2,z,2023-01-02\n3,w,\n", false);
    assert_string_equal(dump(db, "SELECT k, v, at FROM t ORDER BY k"),
                        "1|new|2023-01-05\n2|z|2023-01-02\n3|w|NULL\n");
    /* the key column is required: a missing key is rejected */
    assert_string_equal(dump(db, "SELECT _row, column_name, reason FROM rej"),
                        "5|k|missing value\n");
    dagd_load_free(l);
    sqlite3_close(db);
}

/* Many batches between the reader thread and the SQLite thread: every row
 * arrives, in order, with rejects from any batch. */
static void test_many_rows(void **state)
{
    sqlite3 *db = open_db();
    static const struct dagd_load_column cols[] = {
        {.name = "k", .from = "k", .type = DAGD_LOAD_INTEGER, .required = true},
        {.name = "v", .from = "v", .type = DAGD_LOAD_TEXT},
        {.name = "at", .from = "at", .type = DAGD_LOAD_DATE},
    };
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = cols,
        .n_columns = 3,
        .meta_row = true,
        .rejects = "rej",
    };
    struct dagd_load *l = new_loader(db, &spec);
    char *csv = malloc(20000 * 32 + 16);
    size_t len = (size_t)sprintf(csv, "k,v,at\n");

    for (int i = 1; i <= 20000; i++) {
        if (i % 997 == 0) {
            len += (size_t)sprintf(csv + len, "x%d,bad,2023-01-01\n", i);
        } else {
            len += (size_t)sprintf(csv + len, "%d,v%d,2023-01-01\n", i, i);
        }
    }
    load_ok(l, "many.csv", csv, false);
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 20000 - 20);
    assert_int_equal(count(db, "SELECT count(*) FROM t WHERE k = _row AND v = 'v' || k"),
                     20000 - 20);
    assert_int_equal(count(db, "SELECT count(*) FROM t WHERE rowid > 1 AND k < (SELECT k FROM t AS "
                               "p WHERE p.rowid = t.rowid - 1)"),
                     0);
    assert_int_equal(count(db, "SELECT count(*) FROM rej WHERE _row % 997 = 0"), 20);
    free(csv);
    dagd_load_free(l);
    sqlite3_close(db);
}

/* A bad row far into the file (the reader thread fails after batches were
 * written) and a write that SQLite refuses mid-file (the SQLite thread
 * fails, the reader stops): nothing of the file stays, the message names
 * the file. */
static void test_late_failures(void **state)
{
    sqlite3 *db = open_db();
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = kv_cols,
        .n_columns = 3,
    };
    struct dagd_load *l;
    struct dagd_load_result res;
    char *csv = malloc(10000 * 32 + 16);
    size_t len = (size_t)sprintf(csv, "k,v,at\n");

    for (int i = 1; i <= 10000; i++) {
        len += (size_t)sprintf(csv + len, "%d,v,%s\n", i, i == 9000 ? "2023-02-30" : "2023-01-01");
    }
    /* the bad date is in an optional column: NULL; a CHECK refuses k = 9500 */
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE t (k INTEGER CHECK (k <> 9500), v TEXT, at TEXT)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    l = new_loader(db, &spec);
    write_file("late.csv", csv);
    assert_int_equal(dagd_load_file(l, path_of("late.csv"), "late.csv", 1, &res), -EIO);
    assert_non_null(strstr(dagd_load_error(l), "late.csv: writing to 't'"));
    assert_non_null(strstr(dagd_load_error(l), "CHECK constraint failed"));
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 0);
    dagd_load_free(l);

    memcpy(strstr(csv, "\n9000,v,"), "\n9x00,v,", 9); /* an integer key that is not */
    spec.columns = (const struct dagd_load_column[]){
        {.name = "k", .from = "k", .type = DAGD_LOAD_INTEGER, .required = true},
        {.name = "v", .from = "v", .type = DAGD_LOAD_TEXT},
        {.name = "at", .from = "at", .type = DAGD_LOAD_TEXT},
    };
    assert_int_equal(sqlite3_exec(db, "DROP TABLE t", NULL, NULL, NULL), SQLITE_OK);
    l = new_loader(db, &spec);
    write_file("late2.csv", csv);
    assert_int_equal(dagd_load_file(l, path_of("late2.csv"), "late2.csv", 1, &res), -EINVAL);
    assert_non_null(strstr(dagd_load_error(l), "late2.csv: row 9000 (line 9001), column 'k'"));
    assert_int_equal(count(db, "SELECT count(*) FROM t"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM _dagd_load_files"), 0);
    free(csv);
    dagd_load_free(l);
    sqlite3_close(db);
}

static void test_json_ndjson(void **state)
{
    sqlite3 *db = open_db();
    static const struct dagd_load_column cols[] = {
        {.name = "k", .from = "key", .type = DAGD_LOAD_INTEGER, .required = true},
        {.name = "v", .from = "v", .type = DAGD_LOAD_TEXT},
        {.name = "m", .from = "m", .type = DAGD_LOAD_MONEY},
    };
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_JSON,
        .table = "t",
        .columns = cols,
        .n_columns = 3,
        .meta_row = true,
        .rejects = "rej",
    };
    struct dagd_load *l = new_loader(db, &spec);

    load_ok(l, "a.json",
            "[{\"key\": 1, \"v\": \"x\", \"m\": 12.5}, {\"key\": \"2\", \"v\": 3, \"m\": \"7\"},"
            " {\"v\": \"nokey\"}, {\"key\": 4, \"v\": [1, 2], \"m\": null}]",
            false);
    dagd_load_free(l);
    spec.format = DAGD_LOAD_NDJSON;
    l = new_loader(db, &spec);
    load_ok(l, "b.ndjson", "{\"key\": 5, \"v\": \"n\"}\n{\"key\": 6}\n", false);
    assert_string_equal(dump(db, "SELECT k, v, m, _row FROM t ORDER BY rowid"),
                        "1|x|1250|1\n2|3|700|2\n4|[1,2]|NULL|4\n5|n|NULL|1\n6|NULL|NULL|2\n");
    assert_int_equal(count(db, "SELECT count(*) FROM rej"), 1);
    dagd_load_free(l);
    sqlite3_close(db);
}

/* An xlsx sheet (the extract task's sample workbook), by header names; _row
 * counts data rows; a missing sheet fails naming it. */
static void test_xlsx(void **state)
{
    sqlite3 *db = open_db();
    static const struct dagd_load_column cols[] = {
        {.name = "order_id", .from = "ORDER_ID", .type = DAGD_LOAD_TEXT, .required = true},
        {.name = "qty", .from = "ORDER_QTY", .type = DAGD_LOAD_INTEGER},
        {.name = "t", .from = "ORDER_TIME  (PST)", .type = DAGD_LOAD_TEXT},
    };
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_XLSX,
        .sheet = "DATA",
        .table = "t",
        .columns = cols,
        .n_columns = 3,
        .meta_row = true,
        .rejects = "rej",
    };
    struct dagd_load *l = new_loader(db, &spec);
    struct dagd_load_result res;
    const char *path = SOURCE_ROOT "/data/sales-tiny/dataset1.xlsx";

    if (dagd_load_file(l, path, "dataset1.xlsx", 1, &res) < 0) {
        fail_msg("%s", dagd_load_error(l));
    }
    assert_int_equal(res.rows, 2000);
    assert_int_equal(count(db, "SELECT count(*) FROM t") + count(db, "SELECT count(*) FROM rej"),
                     2000);
    assert_int_equal(count(db, "SELECT min(_row) FROM t"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM t WHERE qty IS NOT NULL"),
                     count(db, "SELECT count(*) FROM t WHERE typeof(qty) = 'integer'"));
    dagd_load_free(l);
    spec.sheet = "NOPE";
    spec.table = "t2"; /* t has this file's checkpoint: it would be skipped */
    l = new_loader(db, &spec);
    assert_int_equal(dagd_load_file(l, path, "dataset1.xlsx", 1, &res), -EINVAL);
    assert_non_null(strstr(dagd_load_error(l), "dataset1.xlsx: workbook has no sheet 'NOPE'"));
    dagd_load_free(l);
    sqlite3_close(db);
}

static void test_bad_spec(void **state)
{
    sqlite3 *db = open_db();
    static const char *const key[] = {"nope"};
    struct dagd_load_spec spec = {
        .format = DAGD_LOAD_CSV,
        .table = "t",
        .columns = kv_cols,
        .n_columns = 3,
        .mode = DAGD_LOAD_UPSERT,
        .key = key,
        .n_key = 1,
    };
    struct dagd_load *l = NULL;
    char err[256];

    assert_int_equal(dagd_load_new(db, &spec, NULL, &l, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "key column 'nope' is not a declared column"));
    spec.n_key = 0;
    assert_int_equal(dagd_load_new(db, &spec, NULL, &l, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "needs a key"));
    sqlite3_close(db);
}

static int setup(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[600];

    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),          cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_column_spec),     cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_file_errors),     cmocka_unit_test(test_append_checkpoint),
        cmocka_unit_test(test_checkpoint_hash), cmocka_unit_test(test_replace),
        cmocka_unit_test(test_upsert_newest),   cmocka_unit_test(test_many_rows),
        cmocka_unit_test(test_json_ndjson),     cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_late_failures),   cmocka_unit_test(test_xlsx),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
