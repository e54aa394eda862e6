/* Unit tests of SQL model files (tasks/transform/models.c) and of their
 * materialisation (tasks/transform/transform_run.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "models.h"
#include "transform_run.h"

static void add(struct dagd_model_set *set, const char *name, const char *text)
{
    struct dagd_model m;
    char *err = NULL;

    assert_int_equal(dagd_model_parse(name, text, &m, &err), 0);
    dagd_models_add(set, &m);
}

static void test_parse(void **state)
{
    struct dagd_model m;
    char *err = NULL;

    assert_int_equal(dagd_model_parse("summary",
                                      "-- Summary of things\n"
                                      "-- depends: orders, dq_summary\n"
                                      "\n"
                                      "--primary key: key\n"
                                      "-- index: a, b\n"
                                      "SELECT 1 AS key;  \n\n",
                                      &m, &err),
                     0);
    assert_string_equal(m.name, "summary");
    assert_string_equal(m.sql, "SELECT 1 AS key");
    assert_int_equal(m.depends.n, 2);
    assert_string_equal(m.depends.v[1], "dq_summary");
    assert_int_equal(m.primary_key.n, 1);
    assert_int_equal(m.n_indexes, 1);
    assert_int_equal(m.indexes[0].n, 2);
    dagd_model_done(&m);

    assert_int_equal(dagd_model_parse("bad-name", "SELECT 1", &m, &err), -EINVAL);
    assert_int_equal(dagd_model_parse("sqlite_x", "SELECT 1", &m, &err), -EINVAL);
    assert_int_equal(dagd_model_parse("empty", "-- only a comment\n ;\n", &m, &err), -EINVAL);
    assert_int_equal(dagd_model_parse("x", "-- depends: a b-c\nSELECT 1", &m, &err), -EINVAL);
    assert_non_null(err);
    free(err);
}

static void test_mentions(void **state)
{
    assert_true(dagd_sql_mentions("SELECT * FROM orders o", "orders"));
    assert_true(dagd_sql_mentions("SELECT * FROM \"Orders\"", "orders"));
    assert_true(dagd_sql_mentions("SELECT * FROM main.orders", "orders"));
    assert_false(dagd_sql_mentions("SELECT * FROM orders_x", "orders"));
    assert_false(dagd_sql_mentions("SELECT 'orders' FROM t", "orders"));
    assert_false(dagd_sql_mentions("SELECT 1 -- orders\nFROM t", "orders"));
    assert_false(dagd_sql_mentions("SELECT 1 /* orders */ FROM t", "orders"));
    assert_true(dagd_sql_mentions("SELECT 'it''s' FROM orders", "orders"));
}

static void test_order_and_cycle(void **state)
{
    struct dagd_model_set set = {0};
    size_t *order = NULL;
    char *err = NULL;

    add(&set, "a_top", "SELECT * FROM c_base JOIN b_mid USING (x)");
    add(&set, "b_mid", "-- depends: c_base\nSELECT 1 AS x");
    add(&set, "c_base", "SELECT x FROM orders");
    assert_int_equal(dagd_models_order(&set, &order, &err), 0);
    assert_string_equal(set.v[order[0]].name, "c_base");
    assert_string_equal(set.v[order[1]].name, "b_mid");
    assert_string_equal(set.v[order[2]].name, "a_top");
    free(order);
    dagd_model_set_done(&set);

    add(&set, "x", "SELECT * FROM y");
    add(&set, "y", "-- depends: z\nSELECT 1");
    add(&set, "z", "SELECT * FROM x");
    assert_int_equal(dagd_models_order(&set, &order, &err), -ELOOP);
    assert_string_equal(err, "models depend on each other: x -> y -> z -> x");
    free(err);
    dagd_model_set_done(&set);
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -12345;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static void test_materialise(void **state)
{
    struct dagd_transform_opts o = {0};
    struct dagd_model_set set = {0};
    int64_t rows = 0;
    char *err = NULL;
    sqlite3 *db;

    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE t (k TEXT, v INTEGER);"
                                  "INSERT INTO t VALUES ('a', 1), ('a', 2), ('b', 5);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    add(&set, "sums", "-- depends: t\n-- primary key: k\nSELECT k, sum(v) AS s FROM t GROUP BY k");
    add(&set, "top", "-- index: k\nSELECT k FROM sums ORDER BY s DESC LIMIT 1");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), 0);
    assert_int_equal(rows, 3);
    assert_int_equal(q_int(db, "SELECT s FROM sums WHERE k = 'b'"), 5);
    assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_index_list('sums')"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_index_list('top')"), 1);
    /* re-run replaces the tables */
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sums"), 2);
    dagd_model_set_done(&set);

    /* a failing model rolls back every model of the run */
    add(&set, "sums", "SELECT k, 100 AS s FROM t GROUP BY k");
    add(&set, "zbad", "SELECT nonsense FROM sums");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), -EIO);
    assert_non_null(strstr(err, "zbad"));
    assert_int_equal(q_int(db, "SELECT s FROM sums WHERE k = 'b'"), 5);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '_dagd_new%'"),
                     0);
    dagd_model_set_done(&set);

    add(&set, "m", "-- depends: nowhere\nSELECT 1");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), -ENOENT);
    dagd_model_set_done(&set);
    add(&set, "m", "SELECT 1; SELECT 2");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), -EINVAL);
    dagd_model_set_done(&set);
    free(err);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_mentions),
        cmocka_unit_test(test_order_and_cycle),
        cmocka_unit_test(test_materialise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
