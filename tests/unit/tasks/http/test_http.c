/* Unit tests of the http task's core (tasks/http/http_core.c): JSON paths,
 * next links, page counters, Retry-After, backoff, and the all-or-nothing
 * table write on a real SQLite file. The fetching itself is tested against
 * fakeapi.py by tests/integration/test_pipeline_covid.py. */
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

#include "curl_dl.h"
#include "http_core.h"

static void test_json_path(void **state)
{
    cJSON *j = cJSON_Parse("{\"data\":[1],\"a\":{\"b\":{\"c\":3}},\"d\":1,\"d\":2}");

    assert_true(cJSON_IsArray(dagd_http_json_path(j, "data")));
    assert_int_equal(dagd_http_json_path(j, "a.b.c")->valueint, 3);
    assert_ptr_equal(dagd_http_json_path(j, "."), j);
    assert_ptr_equal(dagd_http_json_path(j, ""), j);
    assert_null(dagd_http_json_path(j, "a.x"));
    assert_null(dagd_http_json_path(j, "data.x"));
    assert_int_equal(dagd_http_json_path(j, "d")->valueint, 2);
    cJSON_Delete(j);
}

static void test_urls(void **state)
{
    char *u = NULL;

    assert_int_equal(dagd_http_resolve("http://127.0.0.1:8080/v1/cases?country=sg&page=1",
                                       "/v1/cases?country=sg&page=2", &u),
                     0);
    assert_string_equal(u, "http://127.0.0.1:8080/v1/cases?country=sg&page=2");
    free(u);
    assert_int_equal(dagd_http_resolve("http://h/a/b?x=1", "c?y=2", &u), 0);
    assert_string_equal(u, "http://h/a/c?y=2");
    free(u);
    assert_int_equal(dagd_http_resolve("http://h/a", "https://other/z", &u), 0);
    assert_string_equal(u, "https://other/z");
    free(u);

    assert_int_equal(dagd_http_set_page("http://h/p?page=1&q=a&pager=3", "page", 2, &u), 0);
    assert_string_equal(u, "http://h/p?q=a&pager=3&page=2");
    free(u);
    assert_int_equal(dagd_http_set_page("http://h/p", "page", 1, &u), 0);
    assert_string_equal(u, "http://h/p?page=1");
    free(u);
    assert_int_equal(dagd_http_set_page("http://h/p?page&x=1#top", "page", 7, &u), 0);
    assert_string_equal(u, "http://h/p?x=1&page=7#top");
    free(u);
}

static void test_retry_after_and_backoff(void **state)
{
    assert_int_equal(dagd_http_retry_after_usec("1", 0), 1000000);
    assert_int_equal(dagd_http_retry_after_usec(" 120 ", 0), 120000000);
    assert_int_equal(dagd_http_retry_after_usec("soon", 0), -1);
    assert_int_equal(dagd_http_retry_after_usec(NULL, 0), -1);
    assert_int_equal(dagd_http_retry_after_usec("-1", 0), -1);
    /* an HTTP-date 10 s after "now" */
    assert_int_equal(dagd_http_retry_after_usec("Thu, 01 Jan 1970 00:00:20 GMT", 10), 10000000);
    assert_int_equal(dagd_http_retry_after_usec("Thu, 01 Jan 1970 00:00:20 GMT", 30), 0);

    /* 0.5 s doubling to the 10 s cap */
    assert_int_equal(dagd_http_backoff_usec(1, 500000, 10000000, -1, 30000000), 500000);
    assert_int_equal(dagd_http_backoff_usec(3, 500000, 10000000, -1, 30000000), 2000000);
    assert_int_equal(dagd_http_backoff_usec(60, 500000, 10000000, -1, 30000000), 10000000);
    /* never sooner than Retry-After, which is bounded */
    assert_int_equal(dagd_http_backoff_usec(1, 500000, 10000000, 3000000, 30000000), 3000000);
    assert_int_equal(dagd_http_backoff_usec(1, 500000, 10000000, 3600000000, 30000000), 30000000);
    assert_int_equal(dagd_http_backoff_usec(5, 500000, 10000000, 1000000, 30000000), 8000000);
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

static void test_store(void **state)
{
    static const char *const cols[] = {"date", "n", "x.y", "flag", "obj"};
    static const char *const types[] = {"TEXT", "INTEGER", "REAL", "INTEGER", "TEXT"};
    static const char *const key[] = {"date"};
    struct dagd_http_table t = {
        .name = "daily",
        .columns = cols,
        .types = types,
        .n_columns = 5,
        .key = key,
        .n_key = 1,
        .mode = DAGD_HTTP_UPSERT,
    };
    char path[] = "/tmp/test_http_XXXXXX";
    int fd = mkstemp(path);
    cJSON *p1 = cJSON_Parse("[{\"date\":\"d1\",\"n\":1,\"x\":{\"y\":1.5},\"flag\":true,"
                            "\"obj\":[1,2]},{\"date\":\"d2\",\"n\":2}]");
    cJSON *p2 = cJSON_Parse("[{\"date\":\"d2\",\"n\":20},{\"date\":\"d3\",\"n\":null}]");
    cJSON *bad = cJSON_Parse("[{\"date\":\"d9\",\"n\":9},{\"n\":1}]");
    const cJSON *pages[] = {p1, p2};
    const cJSON *bad_pages[] = {p1, bad};
    char *err = NULL;
    int64_t rows = 0;
    sqlite3 *db;

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(dagd_http_store(db, &t, pages, 2, &rows, &err), 0);
    assert_int_equal(rows, 4);
    /* the later record of a key wins, also across pages */
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily"), 3);
    assert_int_equal(q_int(db, "SELECT n FROM daily WHERE date = 'd2'"), 20);
    assert_int_equal(q_int(db, "SELECT n IS NULL FROM daily WHERE date = 'd3'"), 1);
    assert_int_equal(q_int(db, "SELECT \"x.y\" * 2 FROM daily WHERE date = 'd1'"), 3);
    assert_int_equal(q_int(db, "SELECT flag FROM daily WHERE date = 'd1'"), 1);
    assert_int_equal(q_int(db, "SELECT obj = '[1,2]' FROM daily WHERE date = 'd1'"), 1);

    /* a record without its key: nothing of the fetch is written */
    assert_int_equal(dagd_http_store(db, &t, bad_pages, 2, &rows, &err), -EINVAL);
    assert_non_null(strstr(err, "page 2, record 2"));
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily WHERE date = 'd9'"), 0);
    assert_int_equal(q_int(db, "SELECT n FROM daily WHERE date = 'd1'"), 1);

    /* replace: the table holds exactly this fetch */
    t.mode = DAGD_HTTP_REPLACE;
    assert_int_equal(dagd_http_store(db, &t, pages + 1, 1, &rows, &err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM daily"), 2);
    free(err);
    sqlite3_close(db);
    unlink(path);
    cJSON_Delete(p1);
    cJSON_Delete(p2);
    cJSON_Delete(bad);
}

/* dagd_http_resolve and dagd_http_retry_after_usec call libcurl, which the
 * plugin opens in its run path. */
static int load_curl(void **state)
{
    (void)state;
    char *why = NULL;
    if (dagd_curl_load(&why) < 0) {
        fprintf(stderr, "%s\n", why ? why : "cannot load libcurl");
        free(why);
        return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_path),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_retry_after_and_backoff),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, load_curl, NULL);
}
