/* Unit tests of the check task's checks (tasks/check/check_spec.c,
 * check_run.c) on a real SQLite file. */
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

#include "check_run.h"
#include "check_spec.h"

static char db_path[] = "/tmp/test_check_XXXXXX";

static int setup(void **state)
{
    sqlite3 *db;
    int fd = mkstemp(db_path);

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT);"
                     "INSERT INTO accounts VALUES (1, 'a'), (2, 'b');"
                     "CREATE TABLE sales (id INTEGER, account_id INTEGER, status TEXT,"
                     " sale INTEGER, cost INTEGER, profit INTEGER);"
                     "INSERT INTO sales VALUES (1, 1, 'Due', 10, 4, 6), (2, 2, 'Overdue', 5, 5, 0),"
                     " (2, 3, 'due', 7, 1, 6), (3, NULL, NULL, 1, 1, NULL),"
                     " (4, 1, 'Due', 3, 1, 1);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    sqlite3_close(*state);
    unlink(db_path);
    return 0;
}

/* Parse `json` as the step config, run its only check: violations, or -1
 * when it could not run. The sample goes to *ret_sample (may be NULL). */
static int64_t run1(sqlite3 *db, const char *json, char **ret_sample)
{
    struct dagd_check_spec *v = NULL;
    struct dagd_check_outcome o = {0};
    char *err = NULL;
    size_t n = 0;
    int64_t res;

    assert_int_equal(dagd_check_specs_parse(json, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    res = dagd_check_run(db, &v[0], 2, &o, &err) < 0 ? -1 : o.violations;
    if (ret_sample) {
        *ret_sample = o.sample ? strdup(o.sample) : NULL;
    }
    dagd_check_outcome_done(&o);
    dagd_check_specs_free(v, n);
    free(err);
    return res;
}

static void test_kinds(void **state)
{
    sqlite3 *db = *state;
    char *sample = NULL;

    assert_int_equal(run1(db, "{\"checks\":[{\"table\":\"sales\",\"not_null\":\"id\"}]}", NULL), 0);
    assert_int_equal(
        run1(db, "{\"table\":\"sales\",\"checks\":[{\"not_null\":[\"account_id\",\"status\"]}]}",
             NULL),
        1);
    /* one row per duplicated key, with its count */
    assert_int_equal(run1(db, "{\"checks\":[{\"table\":\"sales\",\"unique\":\"id\"}]}", &sample),
                     1);
    assert_string_equal(sample, "[{\"id\":2,\"duplicates\":2}]");
    free(sample);
    assert_int_equal(
        run1(db, "{\"checks\":[{\"table\":\"sales\",\"unique\":[\"id\",\"account_id\"]}]}", NULL),
        0);
    /* case-sensitive; NULL is not a value to check */
    assert_int_equal(run1(db,
                          "{\"checks\":[{\"table\":\"sales\",\"column\":\"status\","
                          "\"accepted_values\":[\"Due\",\"Overdue\"]}]}",
                          NULL),
                     1);
    assert_int_equal(run1(db,
                          "{\"checks\":[{\"table\":\"sales\",\"column\":\"account_id\","
                          "\"accepted_values\":[1, 2, 3]}]}",
                          NULL),
                     0);
    assert_int_equal(run1(db,
                          "{\"checks\":[{\"table\":\"sales\",\"column\":\"account_id\","
                          "\"relationships\":{\"to\":\"accounts\",\"field\":\"id\"}}]}",
                          &sample),
                     1);
    assert_non_null(strstr(sample, "\"account_id\":3"));
    free(sample);
    assert_int_equal(
        run1(db, "{\"checks\":[{\"table\":\"sales\",\"row_count\":{\"min\":1,\"max\":5}}]}", NULL),
        0);
    assert_int_equal(
        run1(db, "{\"checks\":[{\"table\":\"sales\",\"row_count\":{\"min\":6}}]}", &sample), 1);
    assert_string_equal(sample, "[{\"row_count\":5}]");
    free(sample);
    /* false and NULL both violate an expression */
    assert_int_equal(run1(db,
                          "{\"checks\":[{\"table\":\"sales\","
                          "\"expression\":\"profit = sale - cost\"}]}",
                          NULL),
                     2);
    assert_int_equal(run1(db,
                          "{\"checks\":[{\"table\":\"sales\",\"where\":\"profit IS NOT NULL\","
                          "\"expression\":\"profit = sale - cost\"}]}",
                          NULL),
                     1);
    assert_int_equal(
        run1(db, "{\"checks\":[{\"sql\":\"SELECT * FROM sales WHERE sale < cost\"}]}", NULL), 0);
    /* the sample keeps at most 2 rows here, the count is all of them */
    assert_int_equal(run1(db, "{\"checks\":[{\"sql\":\"SELECT id FROM sales\"}]}", &sample), 5);
    assert_string_equal(sample, "[{\"id\":1},{\"id\":2}]");
    free(sample);
}

static void test_refused(void **state)
{
    sqlite3 *db = *state;

    /* checks cannot write, and broken SQL is an error, not a pass */
    assert_int_equal(run1(db, "{\"checks\":[{\"sql\":\"DELETE FROM sales\"}]}", NULL), -1);
    assert_int_equal(run1(db, "{\"checks\":[{\"sql\":\"SELECT 1; DELETE FROM sales\"}]}", NULL),
                     -1);
    assert_int_equal(run1(db, "{\"checks\":[{\"table\":\"nope\",\"not_null\":\"id\"}]}", NULL), -1);
    assert_int_equal(run1(db, "{\"checks\":[{\"sql\":\"SELECT * FROM sales\"}]}", NULL), 5);
}

static void test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"checks\":[]}",
        "{\"checks\":[{\"table\":\"t\"}]}",
        "{\"checks\":[{\"table\":\"t\",\"not_null\":\"a\",\"unique\":\"a\"}]}",
        "{\"checks\":[{\"not_null\":\"a\"}]}",
        "{\"checks\":[{\"table\":\"t\",\"not_null\":\"a\",\"colour\":\"red\"}]}",
        "{\"checks\":[{\"table\":\"t\",\"not_null\":\"a\",\"severity\":\"fatal\"}]}",
        "{\"checks\":[{\"table\":\"t\",\"accepted_values\":[1]}]}",
        "{\"checks\":[{\"table\":\"t\",\"column\":\"c\",\"accepted_values\":[[1]]}]}",
        "{\"checks\":[{\"table\":\"t\",\"column\":\"c\",\"relationships\":{}}]}",
        "{\"checks\":[{\"table\":\"t\",\"row_count\":{}}]}",
        "{\"checks\":[{\"table\":\"t\",\"not_null\":\"a\"},{\"table\":\"t\",\"not_null\":\"a\"}]}",
    };
    struct dagd_check_spec *v = NULL;
    char *err = NULL;
    size_t n = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(dagd_check_specs_parse(bad[i], &v, &n, &err), -EINVAL);
        assert_non_null(err);
    }
    free(err);
    err = NULL;
    /* names, severities */
    assert_int_equal(dagd_check_specs_parse("{\"severity\":\"warn\",\"table\":\"t\",\"checks\":["
                                            "{\"not_null\":[\"a\",\"b\"]},"
                                            "{\"name\":\"x\",\"unique\":\"a\",\"severity\":"
                                            "\"error\"}]}",
                                            &v, &n, &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "not_null_t_a_b");
    assert_true(v[0].warn);
    assert_string_equal(v[1].name, "x");
    assert_false(v[1].warn);
    dagd_check_specs_free(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
