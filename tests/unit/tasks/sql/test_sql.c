/* Unit tests of SQL model files (lib/sqlmodels/models.c) and of their
 * materialisation (tasks/sql/transform_run.c), on real SQLite databases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include "../query_int.h"

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
    return test_query_int(db, sql, -12345); /* -12345: no row */
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
    add(&set, "zbad", "SELECT nonsense FROM sums"); /* does not compile: -EINVAL */
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), -EINVAL);
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

static const char *params(void *userdata, const char *name)
{
    static const char *const kv[][2] = {
        {"day", "2021-01-01"},
        {"n", "30"},
        {"neg", "-1.5"},
        {"evil", "x'); DROP TABLE t; --"},
    };
    (void)userdata;
    for (size_t i = 0; i < sizeof(kv) / sizeof(*kv); i++) {
        if (strcmp(kv[i][0], name) == 0) {
            return kv[i][1];
        }
    }
    return NULL;
}

static void test_expand(void **state)
{
    struct dagd_model_set set = {0};
    char *err = NULL;

    add(&set, "a",
        "SELECT ${day} AS d, '${day}' AS s, ${n} + 1 AS n, ${neg} AS g, ${evil} AS e,"
        " 'it''s ${n}' AS q -- ${nothing}\n FROM t /* ${nothing} */");
    assert_int_equal(dagd_models_expand(&set, params, NULL, &err), 0);
    assert_string_equal(set.v[0].sql,
                        "SELECT '2021-01-01' AS d, '2021-01-01' AS s, 30 + 1 AS n, -1.5 AS g,"
                        " 'x''); DROP TABLE t; --' AS e, 'it''s 30' AS q -- ${nothing}\n"
                        " FROM t /* ${nothing} */");
    dagd_model_set_done(&set);

    add(&set, "b", "SELECT ${missing}");
    assert_int_equal(dagd_models_expand(&set, params, NULL, &err), -ENOENT);
    assert_non_null(strstr(err, "'${missing}'"));
    dagd_model_set_done(&set);
    add(&set, "c", "SELECT ${day");
    assert_int_equal(dagd_models_expand(&set, params, NULL, &err), -EINVAL);
    dagd_model_set_done(&set);
    free(err);
}

static void test_directives(void **state)
{
    struct dagd_model m;
    char *err = NULL;

    assert_int_equal(dagd_model_parse("i",
                                      "-- materialized: incremental\n-- unique key: a, b\nSELECT 1",
                                      &m, &err),
                     0);
    assert_int_equal(m.materialized, DAGD_MODEL_INCREMENTAL);
    assert_int_equal(m.unique_key.n, 2);
    dagd_model_done(&m);
    /* the primary key serves as the unique key */
    assert_int_equal(dagd_model_parse("i",
                                      "-- materialized: incremental\n-- primary key: a\nSELECT 1",
                                      &m, &err),
                     0);
    assert_string_equal(m.unique_key.v[0], "a");
    dagd_model_done(&m);
    assert_int_equal(dagd_model_parse("v", "-- materialized: VIEW\nSELECT 1", &m, &err), 0);
    assert_int_equal(m.materialized, DAGD_MODEL_VIEW);
    dagd_model_done(&m);

    assert_int_equal(dagd_model_parse("i", "-- materialized: incremental\nSELECT 1", &m, &err),
                     -EINVAL);
    assert_non_null(strstr(err, "unique key"));
    assert_int_equal(dagd_model_parse("i", "-- materialized: ephemeral\nSELECT 1", &m, &err),
                     -EINVAL);
    assert_int_equal(dagd_model_parse("i", "-- unique key: a\nSELECT 1", &m, &err), -EINVAL);
    assert_int_equal(
        dagd_model_parse("v", "-- materialized: view\n-- index: a\nSELECT 1 AS a", &m, &err),
        -EINVAL);
    free(err);
}

static void test_view_and_incremental(void **state)
{
    struct dagd_transform_opts o = {0};
    struct dagd_model_set set = {0};
    int64_t rows = 0;
    char *err = NULL;
    char path[] = "/tmp/test_sql_XXXXXX";
    char *db_path;
    sqlite3 *db;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    db_path = path;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE src (id INTEGER, v TEXT);"
                                  "INSERT INTO src VALUES (1, 'a'), (2, 'b'), (2, 'c');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    /* kept: incremental over a view over src; a table model over the
     * incremental one (dependency order across materializations) */
    add(&set, "kept", "-- materialized: incremental\n-- unique key: id\nSELECT id, v FROM src_v");
    add(&set, "src_v", "-- materialized: view\nSELECT id, v FROM src");
    add(&set, "total", "SELECT count(*) AS n FROM kept");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'view'"
                               " AND name = 'src_v'"),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM kept"), 2);
    assert_int_equal(q_int(db, "SELECT n FROM total"), 2);
    assert_int_equal(q_int(db, "SELECT v = 'c' FROM kept WHERE id = 2"), 1);

    /* later rows upsert: id 2 changes, id 3 arrives, id 1 stays though gone */
    assert_int_equal(sqlite3_exec(db, "DELETE FROM src; INSERT INTO src VALUES (2, 'z'), (3, 'x');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM kept"), 3);
    assert_int_equal(q_int(db, "SELECT v = 'z' FROM kept WHERE id = 2"), 1);
    assert_int_equal(q_int(db, "SELECT n FROM total"), 3);
    dagd_model_set_done(&set);

    /* a failing model later in the run rolls back the upsert too */
    add(&set, "kept", "-- materialized: incremental\n-- unique key: id\nSELECT 9 AS id, 'q' AS v");
    add(&set, "zbad", "SELECT nonsense FROM kept");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), -EINVAL);
    assert_int_equal(q_int(db, "SELECT count(*) FROM kept"), 3);
    dagd_model_set_done(&set);

    /* a model may change its materialization: view -> table -> view */
    add(&set, "src_v", "SELECT id FROM src");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
                               " AND name = 'src_v'"),
                     1);
    dagd_model_set_done(&set);
    add(&set, "src_v", "-- materialized: view\nSELECT id FROM src");
    assert_int_equal(dagd_transform_models(db, &set, &o, &rows, &err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM src_v"), 2);
    dagd_model_set_done(&set);
    free(err);
    sqlite3_close(db);
    unlink(db_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_mentions),
        cmocka_unit_test(test_order_and_cycle),
        cmocka_unit_test(test_materialise),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_directives),
        cmocka_unit_test(test_view_and_incremental),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
