/* Unit tests for daemon/warehouse_db.c: a new warehouse gets big pages and
 * WAL, an existing one keeps its page size, SQLite's own checkpoints only
 * start past a cap in bytes, and a writer blocked by another connection gets the lock once that
 * one commits (and gives up after the timeout while it does not); the
 * process init leaves SQLite without memory statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "warehouse_db.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/dagd-test-wh-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    static const char *const names[] = {"a.db",   "a.db-wal",   "a.db-shm",
                                        "old.db", "old.db-wal", "old.db-shm"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        _cleanup_free_ char *p = dagd_xasprintf("%s/%s", dir, names[i]);
        (void)unlink(p);
    }
    return rmdir(dir);
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static const char *query_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

static void test_new_warehouse(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/a.db", dir);
    sqlite3 *db = NULL;
    char *err = NULL, buf[32];

    assert_int_equal(dagd_warehouse_open(path, 1000, &db, &err), 0);
    assert_int_equal(query_int(db, "PRAGMA page_size"), DAGD_WAREHOUSE_PAGE_SIZE);
    assert_string_equal(query_text(db, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
    assert_int_equal(query_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_null(sqlite3_db_mutex(db)); /* multi-thread mode: no per-call mutex */
    /* checkpoints are the executor's (checkpointer.c): SQLite's only past a cap */
    assert_int_equal(query_int(db, "PRAGMA wal_autocheckpoint"),
                     256 * 1024 * 1024 / DAGD_WAREHOUSE_PAGE_SIZE);
    assert_int_equal(query_int(db, "PRAGMA journal_size_limit"), 64 * 1024 * 1024);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* reopened: same settings, the table is there */
    assert_int_equal(dagd_warehouse_open(path, 1000, &db, &err), 0);
    assert_int_equal(query_int(db, "PRAGMA page_size"), DAGD_WAREHOUSE_PAGE_SIZE);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 0);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* main() called dagd_warehouse_process_init() first, as dagd-worker does:
 * SQLite keeps no memory statistics (whose global mutex every malloc and
 * free would take), so it reports none used with a connection open. */
static void test_process_init_no_memstatus(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/a.db", dir);
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(dagd_warehouse_open(path, 1000, &db, &err), 0);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS m (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_memory_used(), 0);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_existing_keeps_page_size(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/old.db", dir);
    sqlite3 *db = NULL;
    char *err = NULL;

    /* a warehouse made before (or by another tool) with 4 KiB pages */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA page_size = 4096; CREATE TABLE t (x);"
                                  "INSERT INTO t VALUES (42)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    assert_int_equal(dagd_warehouse_open(path, 1000, &db, &err), 0);
    assert_int_equal(query_int(db, "PRAGMA page_size"), 4096);
    assert_int_equal(query_int(db, "PRAGMA wal_autocheckpoint"), 256 * 1024 * 1024 / 4096);
    assert_int_equal(query_int(db, "SELECT x FROM t"), 42);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_open_error(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/no/such/dir/a.db", dir);
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_true(dagd_warehouse_open(path, 1000, &db, &err) < 0);
    assert_null(db);
    assert_non_null(err);
    assert_non_null(strstr(err, "unable to open"));
    free(err);
}

/* A writer waits for another connection's write transaction: it gets the
 * lock when the other commits, and fails with SQLITE_BUSY after the timeout
 * if it never does. The holder is a child process, as a parallel step is. */
/* Steps of a fresh pipeline open a new warehouse at the same moment: every
 * open succeeds (SQLite answers the race for the switch to WAL with
 * SQLITE_BUSY without calling the busy handler; the open retries it).
 * Six processes released together, twenty times over. */
static void test_concurrent_first_open(void **state)
{
    for (int round = 0; round < 20; round++) {
        _cleanup_free_ char *path = dagd_xasprintf("%s/race.db", dir);
        int go[2];
        pid_t pids[6];
        assert_int_equal(pipe(go), 0);
        for (size_t i = 0; i < 6; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                char c;
                sqlite3 *db = NULL;
                char *err = NULL;
                close(go[1]);
                (void)!read(go[0], &c, 1); /* EOF: everyone starts now */
                int ok = dagd_warehouse_open(path, 5000, &db, &err) == 0 &&
                         sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t (x)", NULL, NULL, NULL) ==
                             SQLITE_OK;
                if (!ok) {
                    fprintf(stderr, "round %d: %s\n", round, err ? err : sqlite3_errmsg(db));
                }
                _exit(ok ? 0 : 1);
            }
        }
        close(go[0]);
        close(go[1]);
        for (size_t i = 0; i < 6; i++) {
            int st = 0;
            assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        for (const char *sfx = ""; sfx; sfx = streq(sfx, "")       ? "-wal"
                                              : streq(sfx, "-wal") ? "-shm"
                                                                   : NULL) {
            _cleanup_free_ char *f = dagd_xasprintf("%s%s", path, sfx);
            (void)unlink(f);
        }
    }
}

static void test_busy_wait(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/a.db", dir);
    sqlite3 *db = NULL, *other = NULL;
    char *err = NULL;
    int ready[2], release[2];
    char c = 0;

    assert_int_equal(dagd_warehouse_open(path, 200, &db, &err), 0);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t (x); DELETE FROM t", NULL, NULL, NULL),
        SQLITE_OK);
    /* no connection may cross a fork (SQLite's per-process lock state) */
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = dagd_warehouse_open(path, 1000, &other, &err) == 0 &&
                 sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1)", NULL, NULL,
                              NULL) == SQLITE_OK;
        (void)!write(ready[1], "r", 1);
        (void)!read(release[0], &c, 1);
        ok = ok && sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(dagd_warehouse_open(path, 200, &db, &err), 0);

    /* held for longer than the timeout: gives up */
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_BUSY);

    /* released while this one waits (timeout 30 s): gets it */
    sqlite3_close(db);
    assert_int_equal(dagd_warehouse_open(path, 30000, &db, &err), 0);
    pid_t waker = fork();
    assert_true(waker >= 0);
    if (waker == 0) {
        usleep(50000);
        (void)!write(release[1], "go", 1);
        _exit(0);
    }
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 1); /* the other commit */
    assert_int_equal(sqlite3_exec(db, "INSERT INTO t VALUES (2); COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);

    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(waitpid(waker, &status, 0), waker);
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), 2);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    close(ready[0]);
    close(ready[1]);
    close(release[0]);
    close(release[1]);
}

int main(void)
{
    dagd_warehouse_process_init(); /* before any SQLite call, as in dagd-worker */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_warehouse),
        cmocka_unit_test(test_process_init_no_memstatus),
        cmocka_unit_test(test_existing_keeps_page_size),
        cmocka_unit_test(test_open_error),
        cmocka_unit_test(test_busy_wait),
        cmocka_unit_test(test_concurrent_first_open),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
