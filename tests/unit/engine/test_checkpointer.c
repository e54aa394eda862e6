/* Unit tests for daemon/checkpointer.c on a real loop and real files: a
 * WAL left by a step (opened as warehouse_db.c opens it) is copied into the
 * database and removed; requests for one file coalesce; a missing file is
 * not created; a database in rollback-journal mode is left alone; a
 * checkpoint that failed is tried again by itself; freeing with work queued
 * drops it and the loop still closes cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "checkpointer.h"
#include "util.h"
#include "warehouse_db.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/dagd-test-ckpt-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    _cleanup_free_ char *cmd = dagd_xasprintf("rm -rf '%s'", dir);
    return system(cmd);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A "step": writes rows through a warehouse_db.c connection and closes it,
 * which leaves them in the WAL. */
static void step_writes(const char *path, int rows)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(dagd_warehouse_open(path, 1000, &db, &err), 0);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE IF NOT EXISTS t (x TEXT);"
                                  "BEGIN;"
                                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 1000) INSERT INTO t SELECT printf('%0200d', i) FROM n;"
                                  "COMMIT",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    for (int k = 1000; k < rows; k += 1000) {
        assert_int_equal(
            sqlite3_exec(db, "INSERT INTO t SELECT x FROM t LIMIT 1000", NULL, NULL, NULL),
            SQLITE_OK);
    }
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static long long count_rows(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_wal_is_checkpointed(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/w.db", dir);
    _cleanup_free_ char *wal = dagd_xasprintf("%s/w.db-wal", dir);
    uv_loop_t loop;

    step_writes(path, 5000);
    assert_true(file_size(wal) > 1000000); /* the step left its rows in the WAL */
    off_t before = file_size(path);

    assert_int_equal(uv_loop_init(&loop), 0);
    struct dagd_checkpointer *c = dagd_checkpointer_new(&loop);
    dagd_checkpointer_request(c, path);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* runs until the work is done */
    assert_int_equal(dagd_checkpointer_completed(c), 1);
    assert_null(dagd_checkpointer_free(c));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* its timer's close */
    assert_int_equal(uv_loop_close(&loop), 0);

    assert_int_equal(file_size(wal), -1); /* last connection: WAL removed */
    assert_true(file_size(path) > before + 1000000);
    assert_int_equal(count_rows(path), 5000);
}

static void test_requests_coalesce(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/c.db", dir);
    uv_loop_t loop;

    step_writes(path, 2000);
    assert_int_equal(uv_loop_init(&loop), 0);
    struct dagd_checkpointer *c = dagd_checkpointer_new(&loop);
    for (int i = 0; i < 50; i++) {
        dagd_checkpointer_request(c, path);
    }
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    /* one in flight, one queued behind it: never 50 */
    assert_true(dagd_checkpointer_completed(c) >= 1 && dagd_checkpointer_completed(c) <= 2);
    assert_null(dagd_checkpointer_free(c));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* its timer's close */
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(count_rows(path), 2000);
}

static void test_missing_and_rollback_mode(void **state)
{
    _cleanup_free_ char *missing = dagd_xasprintf("%s/none.db", dir);
    _cleanup_free_ char *plain = dagd_xasprintf("%s/plain.db", dir);
    _cleanup_free_ char *plain_wal = dagd_xasprintf("%s/plain.db-wal", dir);
    sqlite3 *db = NULL;
    uv_loop_t loop;

    assert_int_equal(sqlite3_open(plain, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES ('a')", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    assert_int_equal(uv_loop_init(&loop), 0);
    struct dagd_checkpointer *c = dagd_checkpointer_new(&loop);
    dagd_checkpointer_request(c, missing);
    dagd_checkpointer_request(c, plain);
    dagd_checkpointer_request(c, "");
    dagd_checkpointer_request(c, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(dagd_checkpointer_completed(c), 2);
    assert_null(dagd_checkpointer_free(c));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* its timer's close */
    assert_int_equal(uv_loop_close(&loop), 0);

    assert_int_equal(file_size(missing), -1);   /* not created */
    assert_int_equal(file_size(plain_wal), -1); /* not switched to WAL */
    assert_int_equal(count_rows(plain), 1);
}

struct watch {
    struct dagd_checkpointer *c;
    int ticks;
};

static void on_watch(uv_timer_t *t)
{
    struct watch *w = t->data;
    if ((dagd_checkpointer_completed(w->c) >= 2 && dagd_checkpointer_settled(w->c)) ||
        ++w->ticks > 200) {
        uv_timer_stop(t);
    }
}

/* The first checkpoint cannot open the file (a directory stands where the
 * database will be: as a full disk, it fails); once the database is there,
 * the retry timer checkpoints it without anyone asking again. */
static void test_failed_is_retried(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/r.db", dir);
    _cleanup_free_ char *wal = dagd_xasprintf("%s/r.db-wal", dir);
    uv_loop_t loop;

    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    struct dagd_checkpointer *c = dagd_checkpointer_new(&loop);
    dagd_checkpointer_request(c, path);
    /* The retry timer does not keep the loop alive: this returns after the
     * failed job. */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(dagd_checkpointer_completed(c), 1);
    assert_false(dagd_checkpointer_settled(c));

    assert_int_equal(rmdir(path), 0);
    step_writes(path, 2000);
    assert_true(file_size(wal) > 0);
    /* A watch of our own keeps the loop running (at most 5 s) until the
     * retry has checkpointed the file. */
    struct watch w = {.c = c};
    uv_timer_t t;
    assert_int_equal(uv_timer_init(&loop, &t), 0);
    t.data = &w;
    assert_int_equal(uv_timer_start(&t, on_watch, 25, 25), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    uv_close((uv_handle_t *)&t, NULL);
    assert_int_equal(dagd_checkpointer_completed(c), 2);
    assert_int_equal(file_size(wal), -1);
    assert_null(dagd_checkpointer_free(c));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(count_rows(path), 2000);
}

static void test_free_with_work_queued(void **state)
{
    uv_loop_t loop;
    char name[128];

    assert_int_equal(uv_loop_init(&loop), 0);
    struct dagd_checkpointer *c = dagd_checkpointer_new(&loop);
    /* more files than the thread pool has threads: some cannot have started */
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "%s/q%d.db", dir, i);
        dagd_checkpointer_request(c, name);
    }
    assert_null(dagd_checkpointer_free(c));
    dagd_checkpointer_request(NULL, "x");               /* harmless */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* frees itself when done */
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_is_checkpointed),       cmocka_unit_test(test_requests_coalesce),
        cmocka_unit_test(test_missing_and_rollback_mode), cmocka_unit_test(test_failed_is_retried),
        cmocka_unit_test(test_free_with_work_queued),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
