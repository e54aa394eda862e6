/* Unit tests of state/store.c: every function of store.h, migrations (from an
 * empty file and from a v1 fixture), crash recovery, prune batching, readers
 * during writes, and refusal of foreign, corrupt and newer databases. Each
 * test gets its own temporary state directory.
 *
 * With DAGD_TEST_PG set (a conninfo of a private server: meson's
 * store-postgresql test runs this binary under `python3 -m dagdtest.pg`),
 * the backend-independent tests run again against PostgreSQL, each on an
 * empty schema, plus the PostgreSQL-only ones (a dropped connection, a
 * password in the conninfo, a foreign schema). */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <grp.h>
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "store-migrations.h"
#include "store-migrations-pg.h"
#include "store-sql.h"
#include "store.h"

struct fixture {
    char dir[64];
    struct dagd_store *store;
};

/* PostgreSQL mode: the server's conninfo (DAGD_TEST_PG) and the test
 * database's (that plus dbname). */
static const char *pg_base;
static char pg_conninfo[512];

static PGconn *pg_raw(void)
{
    PGconn *c = PQconnectdb(pg_conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s\n", PQerrorMessage(c));
    }
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(res));
        fail();
    }
    PQclear(res);
}

static int64_t pg_int(const char *sql)
{
    PGconn *c = pg_raw();
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(res));
        fail();
    }
    int64_t v = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
                    ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                    : -1;
    PQclear(res);
    PQfinish(c);
    return v;
}

/* An empty schema for each test: the store creates its tables again. */
static void pg_reset(void)
{
    snprintf(pg_conninfo, sizeof(pg_conninfo), "%s dbname=postgres", pg_base);
    PGconn *c = pg_raw();
    PQclear(PQexec(c, "CREATE DATABASE dagd_store_test")); /* fails once it exists */
    PQfinish(c);
    snprintf(pg_conninfo, sizeof(pg_conninfo), "%s dbname=dagd_store_test", pg_base);
    c = pg_raw();
    pg_exec(c, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; "
               "CREATE SCHEMA public");
    PQfinish(c);
}

/* The store under test: DIR/state.db, or the PostgreSQL test database. */
static int test_open(struct fixture *f, struct dagd_store **ret)
{
    return pg_base ? dagd_store_open_location(f->dir, pg_conninfo, ret)
                   : dagd_store_open(f->dir, ret);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/dagd-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (pg_base) {
        pg_reset();
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dagd_store_free(f->store);
    (void)nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static struct dagd_store *open_rw(struct fixture *f)
{
    int r = test_open(f, &f->store);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", dagd_store_errmsg(NULL));
    }
    assert_int_equal(r, 0);
    return f->store;
}

static char *db_path(struct fixture *f, char *buf, size_t size)
{
    snprintf(buf, size, "%s/state.db", f->dir);
    return buf;
}

/* A raw sqlite3 connection to the test's state.db. */
static sqlite3 *raw_open(struct fixture *f)
{
    char p[128];
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path(f, p, sizeof(p)), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    }
    assert_int_equal(rc, SQLITE_OK);
    rc = sqlite3_step(st);
    assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

static char *raw_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        v = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
}

static int64_t count_rows(struct fixture *f, const char *sql)
{
    if (pg_base) {
        return pg_int(sql);
    }
    sqlite3 *db = raw_open(f);
    int64_t v = raw_int(db, sql);
    sqlite3_close(db);
    return v;
}

static void create_run(struct dagd_store *s, const char *run_id, const char *pipeline,
                       int64_t created, size_t n_steps)
{
    char *steps[8], *tasks[8];
    assert_true(n_steps <= 8);
    for (size_t i = 0; i < n_steps; i++) {
        steps[i] = calloc(1, 32);
        tasks[i] = calloc(1, 16);
        snprintf(steps[i], 32, "s%zu", i);
        snprintf(tasks[i], 16, "noop");
    }
    struct dagd_run_info run = {
        .run_id = (char *)run_id,
        .pipeline = (char *)pipeline,
        .trigger = "cli",
        .params_json = "{\"k\":\"v\"}",
        .created_at = created,
    };
    int r = dagd_store_run_create(s, &run, steps, tasks, n_steps);
    if (r < 0) {
        fprintf(stderr, "run_create: %s\n", dagd_store_errmsg(s));
    }
    assert_int_equal(r, 0);
    for (size_t i = 0; i < n_steps; i++) {
        free(steps[i]);
        free(tasks[i]);
    }
}

static void free_runs(struct dagd_run_info *runs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dagd_run_info_done(&runs[i]);
    }
    free(runs);
}

static void free_steps(struct dagd_step_info *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dagd_step_info_done(&steps[i]);
    }
    free(steps);
}

static void free_events(struct dagd_event_info *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dagd_event_info_done(&ev[i]);
    }
    free(ev);
}

static void succeed_step(struct dagd_store *s, const char *run_id, const char *step, const char *fp,
                         int64_t ended);

/* ---- tests ---- */

static void test_status_strings(void **state)
{
    (void)state;
    for (int i = 0; i < _DAGD_RUN_STATUS_MAX; i++) {
        const char *s = dagd_run_status_to_string(i);
        assert_non_null(s);
        assert_int_equal(dagd_run_status_from_string(s), i);
    }
    for (int i = 0; i < _DAGD_STEP_STATUS_MAX; i++) {
        const char *s = dagd_step_status_to_string(i);
        assert_non_null(s);
        assert_int_equal(dagd_step_status_from_string(s), i);
    }
    assert_string_equal(dagd_run_status_to_string(DAGD_RUN_SUCCEEDED), "succeeded");
    assert_string_equal(dagd_step_status_to_string(DAGD_STEP_SKIPPED), "skipped");
    assert_null(dagd_run_status_to_string(_DAGD_RUN_STATUS_MAX));
    assert_null(dagd_step_status_to_string(_DAGD_STEP_STATUS_MAX));
    assert_int_equal(dagd_run_status_from_string("bogus"), -EINVAL);
    assert_int_equal(dagd_run_status_from_string(NULL), -EINVAL);
    assert_int_equal(dagd_step_status_from_string("RUNNING"), -EINVAL);
}

static void test_open_creates(void **state)
{
    struct fixture *f = *state;
    char dir[128], p[160];
    snprintf(dir, sizeof(dir), "%s/a/b/state", f->dir);
    struct dagd_store *s = NULL;
    assert_int_equal(dagd_store_open(dir, &s), 0);

    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 07777, 0750 & ~mask);
    snprintf(p, sizeof(p), "%s/state.db", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0007, 0);
    assert_string_equal(dagd_store_path(s), p);

    assert_int_equal(dagd_store_schema_version(s), dagd_store_schema_latest());
    assert_true(dagd_store_schema_latest() >= 2);
    s = dagd_store_free(s);
    assert_null(s);
    assert_null(dagd_store_free(NULL));

    /* WAL persists in the file; reopening is idempotent. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    char *mode = raw_text(db, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(raw_int(db, "PRAGMA user_version"), dagd_store_schema_latest());
    sqlite3_close(db);
    assert_int_equal(dagd_store_open(dir, &s), 0);
    assert_int_equal(dagd_store_schema_version(s), dagd_store_schema_latest());
    dagd_store_free(s);

    /* A trailing slash is fine; a file in the way is not. */
    snprintf(dir, sizeof(dir), "%s/a/b/state/", f->dir);
    assert_int_equal(dagd_store_open(dir, &s), 0);
    s = dagd_store_free(s);
    snprintf(dir, sizeof(dir), "%s/a/b/state/state.db/x", f->dir);
    assert_int_equal(dagd_store_open(dir, &s), -ENOTDIR);
    assert_null(s);
    assert_non_null(strstr(dagd_store_errmsg(NULL), "state directory"));
    assert_int_equal(dagd_store_open(NULL, &s), -EINVAL);
}

static void test_runs(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);

    create_run(s, "r1", "sales", 1000, 3);
    create_run(s, "r2", "other", 2000, 1);
    create_run(s, "r3", "sales", 3000, 0);

    struct dagd_run_info run = {0};
    assert_int_equal(dagd_store_run_get(s, "r1", &run), 0);
    assert_string_equal(run.run_id, "r1");
    assert_string_equal(run.pipeline, "sales");
    assert_int_equal(run.status, DAGD_RUN_QUEUED);
    assert_string_equal(run.trigger, "cli");
    assert_string_equal(run.params_json, "{\"k\":\"v\"}");
    assert_null(run.parent_run_id);
    assert_int_equal(run.created_at, 1000);
    assert_int_equal(run.started_at, 0);
    assert_int_equal(run.ended_at, 0);
    assert_null(run.error);
    dagd_run_info_done(&run);
    assert_null(run.run_id);

    assert_int_equal(dagd_store_run_get(s, "nope", &run), -ENOENT);
    assert_non_null(strstr(dagd_store_errmsg(s), "nope"));

    /* Duplicate run id: refused, nothing half-written. */
    struct dagd_run_info dup = {.run_id = "r1", .pipeline = "x"};
    char *st[] = {"zz"};
    assert_int_equal(dagd_store_run_create(s, &dup, st, NULL, 1), -EEXIST);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE step = 'zz'"), 0);
    /* Duplicate step names: refused, the run is not created. */
    struct dagd_run_info r4 = {
        .run_id = "r4", .pipeline = "x", .trigger = "retry", .parent_run_id = "r1"};
    char *twice[] = {"a", "a"};
    assert_int_equal(dagd_store_run_create(s, &r4, twice, NULL, 2), -EEXIST);
    assert_non_null(strstr(dagd_store_errmsg(s), "duplicate step 'a'"));
    assert_int_equal(dagd_store_run_get(s, "r4", &run), -ENOENT);
    /* Defaults: created_at now, tasks NULL. */
    char *one[] = {"a"};
    assert_int_equal(dagd_store_run_create(s, &r4, one, NULL, 1), 0);
    assert_int_equal(dagd_store_run_get(s, "r4", &run), 0);
    assert_string_equal(run.parent_run_id, "r1");
    assert_string_equal(run.trigger, "retry");
    assert_string_equal(run.params_json, "{}");
    assert_true(run.created_at > 1500000000000LL);
    dagd_run_info_done(&run);
    struct dagd_run_info bad = {.pipeline = "x"};
    assert_int_equal(dagd_store_run_create(s, &bad, NULL, NULL, 0), -EINVAL);

    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_runs_list(s, NULL, 0, &runs, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(runs[0].run_id, "r4"); /* newest first */
    assert_string_equal(runs[1].run_id, "r3");
    assert_string_equal(runs[3].run_id, "r1");
    free_runs(runs, n);
    assert_int_equal(dagd_store_runs_list(s, "sales", 0, &runs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].run_id, "r3");
    assert_string_equal(runs[1].run_id, "r1");
    free_runs(runs, n);
    assert_int_equal(dagd_store_runs_list(s, "sales", 1, &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].run_id, "r3");
    free_runs(runs, n);
    assert_int_equal(dagd_store_runs_list(s, "none", 10, &runs, &n), 0);
    assert_int_equal(n, 0);
    free_runs(runs, n);

    /* Status changes: started_at once, ended_at at the end, each with an event. */
    assert_int_equal(dagd_store_run_set_status(s, "r1", DAGD_RUN_RUNNING, NULL, 1100), 0);
    assert_int_equal(dagd_store_run_set_status(s, "r1", DAGD_RUN_RUNNING, NULL, 1150), 0);
    assert_int_equal(dagd_store_run_set_status(s, "r1", DAGD_RUN_FAILED, "step s1 failed", 1200),
                     0);
    assert_int_equal(dagd_store_run_get(s, "r1", &run), 0);
    assert_int_equal(run.status, DAGD_RUN_FAILED);
    assert_int_equal(run.started_at, 1100);
    assert_int_equal(run.ended_at, 1200);
    assert_string_equal(run.error, "step s1 failed");
    dagd_run_info_done(&run);
    assert_int_equal(dagd_store_run_set_status(s, "nope", DAGD_RUN_RUNNING, NULL, 1), -ENOENT);
    assert_int_equal(dagd_store_run_set_status(s, "r1", _DAGD_RUN_STATUS_MAX, NULL, 1), -EINVAL);

    struct dagd_event_info *ev = NULL;
    assert_int_equal(dagd_store_events_list(s, "r1", NULL, 0, 0, &ev, &n), 0);
    assert_int_equal(n, 4); /* created, running x2, failed */
    assert_string_equal(ev[0].kind, "run");
    assert_non_null(strstr(ev[0].message, "created"));
    assert_string_equal(ev[3].message, "run failed: step s1 failed");
    assert_string_equal(ev[3].level, "error");
    assert_int_equal(ev[3].ts, 1200);
    assert_null(ev[3].step);
    free_events(ev, n);
    /* No event was written for the unknown run. */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE run_id = 'nope'"), 0);
}

static void test_run_resolve(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "3f2a9c", "p", 1, 0);
    create_run(s, "3f2b00", "p", 2, 0);
    create_run(s, "3f", "p", 3, 0);
    create_run(s, "abc", "p", 4, 0);

    char *id = NULL;
    assert_int_equal(dagd_store_run_resolve(s, "3f2a", &id), 0);
    assert_string_equal(id, "3f2a9c");
    free(id);
    assert_int_equal(dagd_store_run_resolve(s, "3f2a9c", &id), 0);
    assert_string_equal(id, "3f2a9c");
    free(id);
    /* An exact id wins over longer ids it prefixes. */
    assert_int_equal(dagd_store_run_resolve(s, "3f", &id), 0);
    assert_string_equal(id, "3f");
    free(id);
    id = NULL;
    assert_int_equal(dagd_store_run_resolve(s, "3f2", &id), -ENOTUNIQ);
    assert_non_null(strstr(dagd_store_errmsg(s), "ambiguous"));
    assert_int_equal(dagd_store_run_resolve(s, "3f2c", &id), -ENOENT);
    assert_int_equal(dagd_store_run_resolve(s, "b", &id), -ENOENT);
    assert_int_equal(dagd_store_run_resolve(s, "", &id), -EINVAL);
    assert_null(id);
    assert_int_equal(dagd_store_run_resolve(s, "a", &id), 0);
    assert_string_equal(id, "abc");
    free(id);
}

/* Every example query of docs/state.md runs against a real database. */
static void test_docs_queries(void **state)
{
    struct fixture *f = *state;
    const char *root = getenv("DAGD_SOURCE_ROOT");
    if (!root) {
        skip();
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/state.md", root);
    FILE *fp = fopen(path, "re");
    assert_non_null(fp);
    static char doc[65536];
    size_t len = fread(doc, 1, sizeof(doc) - 1, fp);
    fclose(fp);
    doc[len] = '\0';

    struct dagd_store *s = open_rw(f);
    create_run(s, "RUN", "sales", 1000, 2);
    assert_int_equal(dagd_store_run_set_status(s, "RUN", DAGD_RUN_RUNNING, NULL, 1100), 0);
    succeed_step(s, "RUN", "s0", "fp", 1500);
    assert_int_equal(dagd_store_tick_add(s, "hourly", "schedule", 1000, "RUN", "started", NULL), 0);
    f->store = dagd_store_free(s);

    sqlite3 *db = raw_open(f);
    int blocks = 0, queries = 0;
    for (char *p = doc; (p = strstr(p, "```sql\n"));) {
        p += 7;
        char *end = strstr(p, "```");
        assert_non_null(end);
        *end = '\0';
        const char *sql = p;
        while (*sql) {
            sqlite3_stmt *st = NULL;
            const char *tail = NULL;
            int rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
            if (rc != SQLITE_OK) {
                fprintf(stderr, "docs/state.md: %s\n%s\n", sqlite3_errmsg(db), sql);
            }
            assert_int_equal(rc, SQLITE_OK);
            if (!st) {
                break; /* only comments/whitespace left */
            }
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            }
            assert_int_equal(rc, SQLITE_DONE);
            sqlite3_finalize(st);
            queries++;
            sql = tail;
        }
        blocks++;
        p = end + 3;
    }
    sqlite3_close(db);
    assert_true(blocks >= 1);
    assert_true(queries >= 5);
}

static void test_steps(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "sales", 1000, 3);

    struct dagd_step_info *steps = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_steps_list(s, "r1", &steps, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%zu", i);
        assert_string_equal(steps[i].step, name); /* run_create order */
        assert_int_equal(steps[i].status, DAGD_STEP_PENDING);
        assert_string_equal(steps[i].task, "noop");
        assert_int_equal(steps[i].exit_code, -1);
        assert_int_equal(steps[i].attempts, 0);
    }
    free_steps(steps, n);

    /* Many steps (one statement on PostgreSQL: text[] literals), listed in
     * the order given, not by name; names with quotes and backslashes, a
     * step without a task. */
    enum { MANY = 50 };
    char name_buf[MANY][32], task_buf[MANY][16], *names[MANY], *tasks[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(name_buf[i], sizeof(name_buf[i]), "z%02d \"q\" 'a' \\b\\", MANY - i);
        snprintf(task_buf[i], sizeof(task_buf[i]), "t%d{,}", i);
        names[i] = name_buf[i];
        tasks[i] = i == 7 ? NULL : task_buf[i];
    }
    struct dagd_run_info many = {.run_id = "many", .pipeline = "p \"x\\"};
    assert_int_equal(dagd_store_run_create(s, &many, names, tasks, MANY), 0);
    assert_int_equal(dagd_store_steps_list(s, "many", &steps, &n), 0);
    assert_int_equal(n, MANY);
    for (int i = 0; i < MANY; i++) {
        assert_string_equal(steps[i].step, names[i]);
        assert_string_equal(steps[i].task, tasks[i] ? tasks[i] : "");
        assert_int_equal(steps[i].status, DAGD_STEP_PENDING);
    }
    free_steps(steps, n);
    assert_int_equal(
        count_rows(f, "SELECT count(*) FROM steps WHERE run_id = 'many' AND pipeline = 'p \"x\\'"),
        MANY);

    struct dagd_step_info st = {
        .run_id = "r1",
        .step = "s1",
        .status = DAGD_STEP_RUNNING,
        .attempts = 2,
        .started_at = 1100,
        .exit_code = -1,
    };
    assert_int_equal(dagd_store_step_update(s, &st, 1100), 0);
    st.status = DAGD_STEP_SUCCEEDED;
    st.ended_at = 2350;
    st.exit_code = 0;
    st.rows_in = 10;
    st.rows_out = 7;
    st.fingerprint = "abc123";
    st.cpu_usec = 4242;
    st.max_rss_kb = 1024;
    st.inputs_json = "[\"data/a.csv\"]";
    st.manifest = "{\"v\":1}";
    assert_int_equal(dagd_store_step_update(s, &st, 2350), 0);

    assert_int_equal(dagd_store_steps_list(s, "r1", &steps, &n), 0);
    assert_int_equal(n, 3);
    struct dagd_step_info *g = &steps[1];
    assert_string_equal(g->run_id, "r1");
    assert_string_equal(g->step, "s1");
    assert_string_equal(g->task, "noop"); /* NULL task keeps it */
    assert_int_equal(g->status, DAGD_STEP_SUCCEEDED);
    assert_int_equal(g->attempts, 2);
    assert_int_equal(g->started_at, 1100);
    assert_int_equal(g->ended_at, 2350);
    assert_int_equal(g->exit_code, 0);
    assert_int_equal(g->rows_in, 10);
    assert_int_equal(g->rows_out, 7);
    assert_string_equal(g->fingerprint, "abc123");
    assert_null(g->error);
    assert_null(g->skip_reason);
    assert_int_equal(g->cpu_usec, 4242);
    assert_int_equal(g->max_rss_kb, 1024);
    assert_string_equal(g->inputs_json, "[\"data/a.csv\"]");
    assert_string_equal(g->manifest, "{\"v\":1}");
    free_steps(steps, n);

    /* Failed and skipped steps, and a step run_create did not list. */
    struct dagd_step_info fl = {.run_id = "r1",
                                .step = "s2",
                                .status = DAGD_STEP_FAILED,
                                .attempts = 1,
                                .exit_code = 3,
                                .error = "boom"};
    assert_int_equal(dagd_store_step_update(s, &fl, 2400), 0);
    struct dagd_step_info sk = {.run_id = "r1",
                                .step = "s0",
                                .status = DAGD_STEP_SKIPPED,
                                .exit_code = -1,
                                .skip_reason = "memoized"};
    assert_int_equal(dagd_store_step_update(s, &sk, 2500), 0);
    struct dagd_step_info extra = {.run_id = "r1",
                                   .step = "late",
                                   .task = "sleep",
                                   .status = DAGD_STEP_CANCELED,
                                   .exit_code = -1};
    assert_int_equal(dagd_store_step_update(s, &extra, 2600), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE step = 'late' AND "
                                   "pipeline = 'sales' AND task = 'sleep'"),
                     1);
    assert_int_equal(dagd_store_steps_list(s, "r1", &steps, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(steps[3].step, "late");
    assert_string_equal(steps[0].skip_reason, "memoized");
    assert_int_equal(steps[2].exit_code, 3);
    assert_string_equal(steps[2].error, "boom");
    free_steps(steps, n);

    struct dagd_event_info *ev = NULL;
    assert_int_equal(dagd_store_events_list(s, "r1", NULL, 0, 0, &ev, &n), 0);
    assert_int_equal(n, 6);
    assert_string_equal(ev[1].message, "step s1 running (attempt 2)");
    assert_string_equal(ev[1].step, "s1");
    assert_string_equal(ev[1].kind, "step");
    assert_int_equal(ev[1].ts, 1100);
    assert_string_equal(ev[2].message, "step s1 succeeded in 1.250 s (rows in 10, out 7)");
    assert_string_equal(ev[3].message, "step s2 failed (attempt 1): boom");
    assert_string_equal(ev[3].level, "error");
    assert_string_equal(ev[4].message, "step s0 skipped: memoized");
    assert_string_equal(ev[5].message, "step late canceled");
    free_events(ev, n);

    /* The other event texts: a retry wait, a failure without exit code (a
     * signal or timeout), a cancel with a reason, a skip without one. */
    struct dagd_step_info msgs[] = {
        {.run_id = "r1", .step = "s2", .status = DAGD_STEP_PENDING, .exit_code = -1},
        {.run_id = "r1", .step = "s2", .status = DAGD_STEP_PENDING, .attempts = 1, .exit_code = -1},
        {.run_id = "r1",
         .step = "s2",
         .status = DAGD_STEP_FAILED,
         .attempts = 2,
         .exit_code = -1,
         .error = "killed by SIGSEGV"},
        {.run_id = "r1", .step = "s2", .status = DAGD_STEP_FAILED, .attempts = 3, .exit_code = -1},
        {.run_id = "r1",
         .step = "s2",
         .status = DAGD_STEP_CANCELED,
         .exit_code = -1,
         .error = "timeout after 10m"},
        {.run_id = "r1", .step = "s2", .status = DAGD_STEP_SKIPPED, .exit_code = -1},
        {.run_id = "r1", .step = "s2", .status = DAGD_STEP_SUCCEEDED, .exit_code = 0},
    };
    static const char *const want[] = {
        "step s2 pending",
        "step s2 pending (retry after attempt 1)",
        "step s2 failed (attempt 2): killed by SIGSEGV",
        "step s2 failed (attempt 3): unknown error",
        "step s2 canceled: timeout after 10m",
        "step s2 skipped: no reason given",
        "step s2 succeeded in 0.000 s",
    };
    int64_t after = 0;
    assert_int_equal(dagd_store_event_add(s, "r1", NULL, 1, "debug", "mark", "mark", &after), 0);
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        assert_int_equal(dagd_store_step_update(s, &msgs[i], 3000), 0);
    }
    assert_int_equal(dagd_store_events_list(s, "r1", "s2", after, 0, &ev, &n), 0);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ev[i].message, want[i]);
    }
    free_events(ev, n);

    /* Unknown run: -ENOENT and nothing written; invalid input: -EINVAL. */
    struct dagd_step_info orphan = {.run_id = "nope", .step = "x", .status = DAGD_STEP_RUNNING};
    assert_int_equal(dagd_store_step_update(s, &orphan, 1), -ENOENT);
    assert_non_null(strstr(dagd_store_errmsg(s), "nope"));
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE run_id = 'nope'"), 0);
    struct dagd_step_info invalid = {.run_id = "r1", .step = "x", .status = _DAGD_STEP_STATUS_MAX};
    assert_int_equal(dagd_store_step_update(s, &invalid, 1), -EINVAL);
    assert_int_equal(dagd_store_step_update(s, NULL, 1), -EINVAL);

    assert_int_equal(dagd_store_steps_list(s, "nope", &steps, &n), 0);
    assert_int_equal(n, 0);
    free(steps);
}

static void succeed_step(struct dagd_store *s, const char *run_id, const char *step, const char *fp,
                         int64_t ended)
{
    struct dagd_step_info st = {.run_id = (char *)run_id,
                                .step = (char *)step,
                                .status = DAGD_STEP_SUCCEEDED,
                                .attempts = 1,
                                .started_at = ended - 1,
                                .ended_at = ended,
                                .exit_code = 0,
                                .fingerprint = (char *)fp};
    assert_int_equal(dagd_store_step_update(s, &st, ended), 0);
}

static void test_last_success(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "sales", 1000, 2);
    create_run(s, "r2", "sales", 2000, 2);
    create_run(s, "r3", "other", 3000, 2);
    create_run(s, "r4", "sales", 4000, 2);

    struct dagd_step_info got = {0};
    assert_int_equal(dagd_store_step_last_success(s, "sales", "s0", &got), -ENOENT);

    succeed_step(s, "r1", "s0", "fp1", 1500);
    succeed_step(s, "r2", "s0", "fp2", 2500);
    succeed_step(s, "r3", "s0", "fp3", 3500); /* other pipeline */
    struct dagd_step_info fl = {.run_id = "r4",
                                .step = "s0",
                                .status = DAGD_STEP_FAILED,
                                .ended_at = 4500,
                                .exit_code = 1,
                                .fingerprint = "fp4"};
    assert_int_equal(dagd_store_step_update(s, &fl, 4500), 0);

    assert_int_equal(dagd_store_step_last_success(s, "sales", "s0", &got), 0);
    assert_string_equal(got.run_id, "r2");
    assert_string_equal(got.fingerprint, "fp2");
    assert_int_equal(got.status, DAGD_STEP_SUCCEEDED);
    dagd_step_info_done(&got);
    assert_int_equal(dagd_store_step_last_success(s, "other", "s0", &got), 0);
    assert_string_equal(got.fingerprint, "fp3");
    dagd_step_info_done(&got);
    assert_int_equal(dagd_store_step_last_success(s, "sales", "s1", &got), -ENOENT);

    /* Planner statistics that favour sorting (one row per step) must not
     * matter: test_query_plans checks the statement after ANALYZE. */
    f->store = dagd_store_free(s);
    s = open_rw(f);
    assert_int_equal(dagd_store_step_last_success(s, "sales", "s0", &got), 0);
    assert_string_equal(got.fingerprint, "fp2");
    dagd_step_info_done(&got);
}

/* Keyset pages (the web UI's run list): runs created in the same ms are
 * ordered by run_id, so pages of 2 list all 7 runs once, newest first, with
 * the filters applied inside the range. */
static void test_runs_page(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    static const char *const ids[] = {"a1", "a2", "b1", "b2", "b3", "c1", "c2"};
    static const int64_t created[] = {100, 100, 200, 200, 200, 300, 300};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        create_run(s, ids[i], i % 2 ? "odd" : "even", created[i], 1);
    }
    assert_int_equal(dagd_store_run_set_status(s, "b2", DAGD_RUN_FAILED, "x", 250), 0);

    static const char *const want[] = {"c2", "c1", "b3", "b2", "b1", "a2", "a1"};
    struct dagd_runs_filter flt = {.limit = 2};
    char last_id[8] = "";
    size_t seen = 0;
    for (;;) {
        struct dagd_run_info *runs = NULL;
        size_t n = 0;
        assert_int_equal(dagd_store_runs_page(s, &flt, &runs, &n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_true(seen < sizeof(want) / sizeof(want[0]));
            assert_string_equal(runs[i].run_id, want[seen++]);
        }
        if (n > 0) {
            flt.before_created_at = runs[n - 1].created_at;
            snprintf(last_id, sizeof(last_id), "%s", runs[n - 1].run_id);
            flt.before_run_id = last_id;
        }
        for (size_t i = 0; i < n; i++) {
            dagd_run_info_done(&runs[i]);
        }
        free(runs);
        if (n < 2) {
            break;
        }
    }
    assert_int_equal(seen, sizeof(want) / sizeof(want[0]));

    /* Filters: pipeline, status, since. */
    struct dagd_runs_filter odd = {.pipeline = "odd", .since_ms = 200};
    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_runs_page(s, &odd, &runs, &n), 0);
    assert_int_equal(n, 2); /* odd: a2, b2, c1; since 200: c1, b2 */
    assert_string_equal(runs[0].run_id, "c1");
    assert_string_equal(runs[1].run_id, "b2");
    for (size_t i = 0; i < n; i++) {
        dagd_run_info_done(&runs[i]);
    }
    free(runs);
    struct dagd_runs_filter failed = {.status = "failed"};
    assert_int_equal(dagd_store_runs_page(s, &failed, &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].run_id, "b2");
    dagd_run_info_done(&runs[0]);
    free(runs);
    f->store = s;
}

static char *query_plan(sqlite3 *db, const char *sql)
{
    char q[4096];
    snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    }
    assert_int_equal(rc, SQLITE_OK);
    char *plan = calloc(1, 4096);
    while (sqlite3_step(st) == SQLITE_ROW) {
        strncat(plan, (const char *)sqlite3_column_text(st, 3), 4096 - strlen(plan) - 2);
        strcat(plan, ";");
    }
    sqlite3_finalize(st);
    return plan;
}

/* Every statement of the store uses an index: no full table scan, and no sort
 * except of one run's steps or one schedule's ticks; also after ANALYZE
 * (PRAGMA optimize at close) has statistics. */
static void test_query_plans(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    for (int i = 0; i < 30; i++) {
        char id[32];
        snprintf(id, sizeof(id), "r%02d", i);
        create_run(s, id, "p", i, 3);
        succeed_step(s, id, "s0", "fp", 100 + i);
    }
    f->store = dagd_store_free(s);

    static const struct {
        const char *name, *sql;
    } stmts[] = {
#define X(name, sql) {#name, sql},
        STORE_STATEMENTS(X)
#undef X
    };
    sqlite3 *db = raw_open(f);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            assert_int_equal(sqlite3_exec(db, "ANALYZE", NULL, NULL, NULL), SQLITE_OK);
        }
        for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
            if (strncmp(stmts[i].sql, "BEGIN", 5) == 0 || strstr(stmts[i].sql, "SAVEPOINT") ||
                strncmp(stmts[i].sql, "COMMIT", 6) == 0 ||
                strncmp(stmts[i].sql, "ROLLBACK", 8) == 0 ||
                strncmp(stmts[i].sql, "RELEASE", 7) == 0) {
                continue;
            }
            /* The metrics' seed reads the whole history on purpose, once per daemon
             * (daemon/serve/http_metrics.c); every later count comes from events. */
            if (strcmp(stmts[i].name, "RUNS_COUNT_FINISHED") == 0 ||
                strcmp(stmts[i].name, "STEPS_OF_FINISHED") == 0) {
                continue;
            }
            char *plan = query_plan(db, stmts[i].sql);
            bool sort_ok = strcmp(stmts[i].name, "STEPS_LIST") == 0 ||
                           strcmp(stmts[i].name, "ORPHAN_STEP_EVENTS") == 0 ||
                           strcmp(stmts[i].name, "TICKS_LIST_NAME") == 0 ||
                           /* once per daemon start: the queued runs of backfills */
                           strcmp(stmts[i].name, "RUNS_QUEUED_DURABLE") == 0;
            bool bad = strstr(plan, "TEMP B-TREE") && !sort_ok;
            /* "SCAN t" alone is a full scan; "SCAN t USING INDEX" walks an index in order. */
            for (const char *p = plan; (p = strstr(p, "SCAN ")); p++) {
                const char *end = strchr(p, ';');
                if (!memmem(p, end - p, "USING", 5)) {
                    bad = true;
                }
            }
            if (bad) {
                fprintf(stderr, "pass %d: %s: %s\n", pass, stmts[i].name, plan);
            }
            assert_false(bad);
            free(plan);
        }
    }
    char *plan = query_plan(db, stmts[0].sql);
    free(plan);
    sqlite3_close(db);
}

static void test_events(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "sales", 1000, 1);
    create_run(s, "r2", "sales", 1000, 1);

    int64_t first = 0, seq = 0, prev = 0;
    for (int i = 0; i < 10; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "line %d", i);
        assert_int_equal(dagd_store_event_add(s, i % 2 ? "r1" : "r2", i < 5 ? "s0" : NULL, 2000 + i,
                                              "info", "stdout", msg, &seq),
                         0);
        assert_true(seq > prev);
        prev = seq;
        if (i == 0) {
            first = seq;
        }
    }
    assert_int_equal(dagd_store_event_add(s, "r1", NULL, 1, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(dagd_store_event_add(s, "nope", NULL, 1, "info", "log", "x", &seq), -ENOENT);
    assert_int_equal(dagd_store_event_add(s, NULL, NULL, 1, "info", "log", "x", &seq), -EINVAL);

    struct dagd_event_info *ev = NULL;
    size_t n = 0;
    /* The tail: r2's newest 2 events (lines 6 and 8), oldest first. */
    assert_int_equal(dagd_store_events_tail(s, "r2", 2, &ev, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "line 6");
    assert_string_equal(ev[1].message, "line 8");
    for (size_t i = 0; i < n; i++) {
        dagd_event_info_done(&ev[i]);
    }
    free(ev);
    /* after_seq and limit page through the run's events, oldest first. */
    assert_int_equal(dagd_store_events_list(s, "r1", NULL, first, 2, &ev, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "line 1");
    assert_string_equal(ev[1].message, "line 3");
    assert_string_equal(ev[0].kind, "stdout");
    assert_int_equal(ev[0].ts, 2001);
    int64_t last = ev[1].seq;
    free_events(ev, n);
    assert_int_equal(dagd_store_events_list(s, "r1", NULL, last, 0, &ev, &n), 0);
    assert_int_equal(n, 4); /* lines 5, 7, 9 and the defaulted one */
    assert_string_equal(ev[0].message, "line 5");
    assert_null(ev[0].step);
    assert_string_equal(ev[3].level, "info");
    assert_string_equal(ev[3].kind, "log");
    assert_string_equal(ev[3].message, "");
    last = ev[3].seq;
    free_events(ev, n);
    assert_int_equal(dagd_store_events_list(s, "r1", NULL, last, 0, &ev, &n), 0);
    assert_int_equal(n, 0);
    free(ev);
    /* Step filter. */
    assert_int_equal(dagd_store_events_list(s, "r2", "s0", 0, 0, &ev, &n), 0);
    assert_int_equal(n, 3); /* lines 0, 2, 4 */
    assert_string_equal(ev[2].message, "line 4");
    free_events(ev, n);
}

static const char *add_and_read(struct dagd_store *s, const char *msg, char *buf, size_t size)
{
    int64_t seq = 0;
    assert_int_equal(dagd_store_event_add(s, "r1", NULL, 1, "info", "stdout", msg, &seq), 0);
    struct dagd_event_info *ev = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_events_list(s, "r1", NULL, seq - 1, 1, &ev, &n), 0);
    assert_int_equal(n, 1);
    assert_true(strlen(ev[0].message) < size);
    strcpy(buf, ev[0].message);
    free_events(ev, n);
    return buf;
}

/* Text from steps is stored as valid UTF-8 and bounded. */
static void test_text_sanitized(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "sales", 1, 0);
    static char buf[DAGD_STORE_TEXT_MAX + 16];

    /* Valid text, Chinese included, is kept byte for byte. */
    assert_string_equal(add_and_read(s, "北京市 朝阳区 café ✓ 😀", buf, sizeof(buf)),
                        "北京市 朝阳区 café ✓ 😀");
    /* Invalid bytes, overlong forms, surrogates, a cut sequence: U+FFFD each. */
    assert_string_equal(add_and_read(s, "bad \xff\xfe end", buf, sizeof(buf)),
                        "bad \xef\xbf\xbd\xef\xbf\xbd end");
    assert_string_equal(add_and_read(s, "\xc0\xaf", buf, sizeof(buf)), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(add_and_read(s, "\xed\xa0\x80!", buf, sizeof(buf)),
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
    assert_string_equal(add_and_read(s, "abc\xe5\x8c", buf, sizeof(buf)),
                        "abc\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(add_and_read(s, "\xf4\x90\x80\x80", buf, sizeof(buf)),
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");

    /* Exactly the limit: kept. One byte more: cut with a marker. */
    char *big = malloc(4 * DAGD_STORE_TEXT_MAX);
    memset(big, 'a', DAGD_STORE_TEXT_MAX);
    big[DAGD_STORE_TEXT_MAX] = '\0';
    assert_int_equal(strlen(add_and_read(s, big, buf, sizeof(buf))), DAGD_STORE_TEXT_MAX);
    memset(big, 'a', DAGD_STORE_TEXT_MAX + 1);
    big[DAGD_STORE_TEXT_MAX + 1] = '\0';
    add_and_read(s, big, buf, sizeof(buf));
    assert_int_equal(strlen(buf), DAGD_STORE_TEXT_MAX);
    assert_string_equal(buf + DAGD_STORE_TEXT_MAX - 3, "...");
    /* Multi-byte text is cut at a character boundary. */
    big[0] = '\0';
    for (int i = 0; i < DAGD_STORE_TEXT_MAX / 2; i++) {
        strcat(big + i * 3, "北");
    }
    add_and_read(s, big, buf, sizeof(buf));
    size_t len = strlen(buf);
    assert_true(len <= DAGD_STORE_TEXT_MAX);
    assert_true(len >= DAGD_STORE_TEXT_MAX - 6);
    assert_string_equal(buf + len - 3, "...");
    assert_int_equal((len - 3) % 3, 0);
    assert_int_equal(memcmp(buf, "北北", 6), 0);
    free(big);

    /* Step errors and skip reasons too. */
    create_run(s, "r2", "sales", 1, 1);
    struct dagd_step_info st = {.run_id = "r2",
                                .step = "s0",
                                .status = DAGD_STEP_FAILED,
                                .attempts = 1,
                                .exit_code = 1,
                                .error = "bin\x80"
                                         "ary"};
    assert_int_equal(dagd_store_step_update(s, &st, 1), 0);
    struct dagd_step_info *steps = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_steps_list(s, "r2", &steps, &n), 0);
    assert_string_equal(steps[0].error, "bin\xef\xbf\xbd"
                                        "ary");
    free_steps(steps, n);
    assert_int_equal(dagd_store_run_set_status(s, "r2", DAGD_RUN_FAILED, "x\xff", 2), 0);
    struct dagd_run_info run = {0};
    assert_int_equal(dagd_store_run_get(s, "r2", &run), 0);
    assert_string_equal(run.error, "x\xef\xbf\xbd");
    dagd_run_info_done(&run);
}

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "sales", 1000, 1);

    assert_int_equal(dagd_store_commit(s), -ENOTCONN);
    assert_int_equal(dagd_store_rollback(s), -ENOTCONN);

    /* Rolled back batch leaves nothing. */
    assert_false(dagd_store_in_batch(s));
    assert_int_equal(dagd_store_begin(s), 0);
    assert_true(dagd_store_in_batch(s));
    assert_int_equal(dagd_store_begin(s), -EBUSY);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(dagd_store_event_add(s, "r1", NULL, 1, "info", "log", "x", NULL), 0);
    }
    assert_int_equal(dagd_store_rollback(s), 0);
    assert_false(dagd_store_in_batch(s));
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'x'"), 0);

    /* A committed batch; a failing call inside it only undoes itself. */
    assert_int_equal(dagd_store_begin(s), 0);
    assert_int_equal(dagd_store_event_add(s, "r1", NULL, 1, "info", "log", "y", NULL), 0);
    struct dagd_step_info st = {
        .run_id = "r1", .step = "s0", .status = DAGD_STEP_RUNNING, .attempts = 1, .exit_code = -1};
    assert_int_equal(dagd_store_step_update(s, &st, 5), 0);
    struct dagd_run_info dup = {.run_id = "r1", .pipeline = "sales"};
    assert_int_equal(dagd_store_run_create(s, &dup, NULL, NULL, 0), -EEXIST);
    struct dagd_step_info bad = {.run_id = "nope", .step = "s0", .status = DAGD_STEP_RUNNING};
    assert_int_equal(dagd_store_step_update(s, &bad, 5), -ENOENT);
    /* Not visible to another connection before the commit. */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'y'"), 0);
    assert_int_equal(dagd_store_commit(s), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'y'"), 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE status = 'running'"), 1);
    assert_int_equal(
        count_rows(f, "SELECT count(*) FROM events WHERE message LIKE 'step s0 running%'"), 1);

    /* Free with an open batch rolls it back. */
    assert_int_equal(dagd_store_begin(s), 0);
    assert_int_equal(dagd_store_event_add(s, "r1", NULL, 1, "info", "log", "z", NULL), 0);
    f->store = dagd_store_free(s);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'z'"), 0);
}

/* The durable queue (schema 8): a queued run with queue_options, or of a
 * backfill, survives crash recovery and is listed by priority, then age; a
 * plain queued row (a `dagd run` that died before starting) is failed.
 * start_seq numbers the starts in order, once per run. */
static void test_durable_queue(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    const char *names[] = {"old", "new", "urgent"};
    const int prio[] = {0, 0, 5};
    for (size_t i = 0; i < 3; i++) {
        char *steps[] = {"a"};
        struct dagd_run_info run = {
            .run_id = (char *)names[i],
            .pipeline = "p",
            .trigger = "schedule",
            .created_at = 100 + (int64_t)i,
            .priority = prio[i],
            .queue_options = "{\"params\":[\"k=v\"]}",
        };
        assert_int_equal(dagd_store_run_create(s, &run, steps, NULL, 1), 0);
    }
    create_run(s, "plain", "p", 50, 1);
    assert_int_equal(dagd_store_fail_orphans(s, "dagd died", 500), 1);

    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_runs_queued_durable(s, &runs, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(runs[0].run_id, "urgent");
    assert_string_equal(runs[1].run_id, "old");
    assert_string_equal(runs[2].run_id, "new");
    assert_string_equal(runs[1].queue_options, "{\"params\":[\"k=v\"]}");
    assert_int_equal(runs[1].start_seq, 0);
    for (size_t i = 0; i < n; i++) {
        dagd_run_info_done(&runs[i]);
    }
    free(runs);

    /* Starts are numbered in the order they happen; a second `running`
     * keeps the first number. */
    assert_int_equal(dagd_store_run_set_status(s, "urgent", DAGD_RUN_RUNNING, NULL, 600), 0);
    assert_int_equal(dagd_store_run_set_status(s, "new", DAGD_RUN_RUNNING, NULL, 600), 0);
    assert_int_equal(dagd_store_run_set_status(s, "urgent", DAGD_RUN_RUNNING, NULL, 601), 0);
    assert_int_equal(dagd_store_run_set_status(s, "old", DAGD_RUN_RUNNING, NULL, 602), 0);
    struct dagd_run_info r = {0};
    const int64_t want[] = {3, 2, 1};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(dagd_store_run_get(s, names[i], &r), 0);
        assert_int_equal(r.start_seq, want[i]);
        dagd_run_info_done(&r);
    }
    /* Backfills newest first (schema 9), all or one pipeline's. */
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "bf%d", i);
        struct dagd_backfill_info b = {.backfill_id = id,
                                       .pipeline = i == 1 ? "q" : "p",
                                       .n_partitions = 1,
                                       .created_at = 1000 + i,
                                       .params_json = "{\"k\":\"v\"}",
                                       .priority = -i};
        assert_int_equal(dagd_store_backfill_create(s, &b), 0);
    }
    struct dagd_backfill_info *bfs = NULL;
    size_t n_bfs = 0;
    assert_int_equal(dagd_store_backfills_list(s, NULL, 0, &bfs, &n_bfs), 0);
    assert_int_equal(n_bfs, 3);
    assert_string_equal(bfs[0].backfill_id, "bf2");
    assert_int_equal(bfs[0].priority, -2);
    assert_string_equal(bfs[0].params_json, "{\"k\":\"v\"}");
    for (size_t i = 0; i < n_bfs; i++) {
        dagd_backfill_info_done(&bfs[i]);
    }
    free(bfs);
    assert_int_equal(dagd_store_backfills_list(s, "p", 1, &bfs, &n_bfs), 0);
    assert_int_equal(n_bfs, 1);
    assert_string_equal(bfs[0].backfill_id, "bf2");
    dagd_backfill_info_done(&bfs[0]);
    free(bfs);

    assert_int_equal(dagd_store_run_get(s, "plain", &r), 0);
    assert_int_equal(r.start_seq, 0);
    assert_int_equal(r.status, DAGD_RUN_FAILED);
    dagd_run_info_done(&r);
}

static void test_fail_orphans(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "queued", "p", 1000, 2);
    create_run(s, "running", "p", 1000, 3);
    create_run(s, "done", "p", 1000, 1);
    assert_int_equal(dagd_store_run_set_status(s, "running", DAGD_RUN_RUNNING, NULL, 1100), 0);
    assert_int_equal(dagd_store_run_set_status(s, "done", DAGD_RUN_SUCCEEDED, NULL, 1100), 0);
    succeed_step(s, "running", "s0", "fp", 1200);
    struct dagd_step_info st = {.run_id = "running",
                                .step = "s1",
                                .status = DAGD_STEP_RUNNING,
                                .attempts = 1,
                                .started_at = 1300,
                                .exit_code = -1};
    assert_int_equal(dagd_store_step_update(s, &st, 1300), 0);

    /* The running step's process group is what the start-up sweep finds;
     * a step of a finished run, or one no longer running, is not. */
    assert_int_equal(dagd_store_step_set_process(s, "running", "s1", 4242, 777, "boot-a"), 0);
    assert_int_equal(dagd_store_step_set_process(s, "running", "nope", 1, 1, NULL), -ENOENT);
    assert_int_equal(dagd_store_step_set_process(s, "done", "s0", 4343, 1, "boot-a"), 0);
    struct dagd_orphan_process *op = NULL;
    size_t n_op = 0;
    assert_int_equal(dagd_store_orphan_processes(s, &op, &n_op), 0);
    assert_int_equal(n_op, 1);
    assert_int_equal(op[0].pgid, 4242);
    assert_int_equal(op[0].start_ticks, 777);
    assert_string_equal(op[0].boot_id, "boot-a");
    assert_string_equal(op[0].run_id, "running");
    assert_string_equal(op[0].step, "s1");
    dagd_orphan_processes_free(op, n_op);
    /* Recording the end of a step forgets its group. */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE pgid = 4343"), 1);
    succeed_step(s, "done", "s0", "fp", 1250);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE pgid = 4343"), 0);
    /* Recording the step again as running keeps it. */
    assert_int_equal(dagd_store_step_update(s, &st, 1350), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE pgid = 4242"), 1);

    assert_int_equal(dagd_store_fail_orphans(s, "dagd restarted", 5000), 2);
    /* Failed orphans forget their process groups. */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE pgid = 4242"), 0);
    assert_int_equal(dagd_store_orphan_processes(s, &op, &n_op), 0);
    assert_int_equal(n_op, 0);
    dagd_orphan_processes_free(op, n_op);

    struct dagd_run_info run = {0};
    assert_int_equal(dagd_store_run_get(s, "running", &run), 0);
    assert_int_equal(run.status, DAGD_RUN_FAILED);
    assert_string_equal(run.error, "dagd restarted");
    assert_int_equal(run.ended_at, 5000);
    assert_int_equal(run.started_at, 1100);
    dagd_run_info_done(&run);
    assert_int_equal(dagd_store_run_get(s, "queued", &run), 0);
    assert_int_equal(run.status, DAGD_RUN_FAILED);
    dagd_run_info_done(&run);
    assert_int_equal(dagd_store_run_get(s, "done", &run), 0);
    assert_int_equal(run.status, DAGD_RUN_SUCCEEDED);
    assert_null(run.error);
    dagd_run_info_done(&run);

    struct dagd_step_info *steps = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_steps_list(s, "running", &steps, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(steps[0].status, DAGD_STEP_SUCCEEDED); /* untouched */
    assert_int_equal(steps[0].ended_at, 1200);
    assert_int_equal(steps[1].status, DAGD_STEP_FAILED);
    assert_string_equal(steps[1].error, "dagd restarted");
    assert_int_equal(steps[1].ended_at, 5000);
    assert_int_equal(steps[2].status, DAGD_STEP_CANCELED);
    assert_null(steps[2].error);
    free_steps(steps, n);

    struct dagd_event_info *ev = NULL;
    assert_int_equal(dagd_store_events_list(s, "running", NULL, 0, 0, &ev, &n), 0);
    assert_true(n >= 2);
    assert_string_equal(ev[n - 2].message, "step s1 failed: dagd restarted");
    assert_string_equal(ev[n - 1].message, "run failed: dagd restarted");
    assert_string_equal(ev[n - 1].level, "error");
    free_events(ev, n);

    /* Nothing left to fix. */
    assert_int_equal(dagd_store_fail_orphans(s, "again", 6000), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs WHERE status IN "
                                   "('queued', 'running')"),
                     0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE status IN "
                                   "('pending', 'running') AND run_id != 'done'"),
                     0);
}

static void test_checks(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    struct dagd_check_info *list = NULL;
    size_t n = 0;

    create_run(s, "r1", "p", 1000, 2);
    struct dagd_check_info c = {
        .run_id = "r1",
        .step = "s0",
        .attempt = 2,
        .name = "not_null_t_a",
        .severity = "error",
        .status = "failed",
        .violations = 3,
        .sample = "[{\"a\":null}]",
        .detail = "not_null on t",
        .ts = 1234,
    };
    assert_int_equal(dagd_store_check_add(s, &c), 0);
    c.name = "w";
    c.severity = "warn";
    c.status = "passed";
    c.sample = NULL;
    c.violations = 0;
    assert_int_equal(dagd_store_check_add(s, &c), 0);
    assert_int_equal(dagd_store_checks_list(s, "r1", &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "not_null_t_a");
    assert_int_equal(list[0].attempt, 2);
    assert_int_equal(list[0].violations, 3);
    assert_string_equal(list[0].sample, "[{\"a\":null}]");
    assert_string_equal(list[0].detail, "not_null on t");
    assert_int_equal(list[0].ts, 1234);
    assert_null(list[1].sample);
    assert_string_equal(list[1].severity, "warn");
    for (size_t i = 0; i < n; i++) {
        dagd_check_info_done(&list[i]);
    }
    free(list);

    /* refused: unknown words, no run */
    c.status = "ok";
    assert_int_equal(dagd_store_check_add(s, &c), -EINVAL);
    c.status = "passed";
    c.severity = "fatal";
    assert_int_equal(dagd_store_check_add(s, &c), -EINVAL);
    c.severity = "warn";
    c.run_id = "nope";
    assert_int_equal(dagd_store_check_add(s, &c), -ENOENT);

    /* pruned with their run */
    assert_int_equal(dagd_store_run_set_status(s, "r1", DAGD_RUN_SUCCEEDED, NULL, 2000), 0);
    while (dagd_store_prune(s, 5000, 10) > 0) {
    }
    assert_int_equal(count_rows(f, "SELECT count(*) FROM checks"), 0);
}

static void test_prune(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    char id[32];
    /* 25 old finished runs, 1 old unfinished, 1 recent. */
    assert_int_equal(dagd_store_begin(s), 0);
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "old%02d", i);
        create_run(s, id, "p", 1000 + i, 2);
        assert_int_equal(dagd_store_run_set_status(
                             s, id, i % 2 ? DAGD_RUN_FAILED : DAGD_RUN_SUCCEEDED, NULL, 2000 + i),
                         0);
    }
    create_run(s, "active", "p", 1000, 1);
    assert_int_equal(dagd_store_run_set_status(s, "active", DAGD_RUN_RUNNING, NULL, 1000), 0);
    create_run(s, "new", "p", 9000, 1);
    assert_int_equal(dagd_store_run_set_status(s, "new", DAGD_RUN_SUCCEEDED, NULL, 9500), 0);
    assert_int_equal(dagd_store_commit(s), 0);

    int calls = 0, r;
    int64_t total = 0;
    while ((r = dagd_store_prune(s, 5000, 10)) > 0) {
        calls++;
        total += r;
        assert_true(calls < 10);
        /* Each call deletes at most 10 runs. */
        int64_t left = count_rows(f, "SELECT count(*) FROM runs WHERE run_id LIKE 'old%'");
        assert_true(left >= 25 - 10 * calls);
    }
    assert_int_equal(r, 0);
    assert_int_equal(calls, 3);
    /* 25 runs + 50 steps + 25 * 2 events (created, end) */
    assert_int_equal(total, 25 + 50 + 50);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs"), 2);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE run_id LIKE 'old%'"), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE run_id LIKE 'old%'"), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps"), 2);
    assert_int_equal(dagd_store_prune(s, 5000, 0), 0);

    /* A run with a huge log is trimmed over several bounded calls. */
    create_run(s, "big", "p", 100, 0);
    assert_int_equal(dagd_store_begin(s), 0);
    int n_ev = DAGD_STORE_PRUNE_EVENTS_PER_RUN * 2 + 10;
    for (int i = 0; i < n_ev; i++) {
        assert_int_equal(dagd_store_event_add(s, "big", NULL, 100, "info", "log", "l", NULL), 0);
    }
    assert_int_equal(dagd_store_commit(s), 0);
    assert_int_equal(dagd_store_run_set_status(s, "big", DAGD_RUN_SUCCEEDED, NULL, 200), 0);
    calls = 0;
    while ((r = dagd_store_prune(s, 5000, 1)) > 0) {
        assert_true(r <= DAGD_STORE_PRUNE_EVENTS_PER_RUN + 2);
        calls++;
        assert_true(calls < 10);
    }
    assert_int_equal(r, 0);
    assert_int_equal(calls, 3);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs WHERE run_id = 'big'"), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE run_id = 'big'"), 0);

    /* Whatever the batch, one call deletes at most DAGD_STORE_PRUNE_EVENTS_MAX events. */
    create_run(s, "huge", "p", 100, 0);
    assert_int_equal(dagd_store_begin(s), 0);
    for (int i = 0; i < DAGD_STORE_PRUNE_EVENTS_MAX + 5; i++) {
        assert_int_equal(dagd_store_event_add(s, "huge", NULL, 100, "info", "log", "l", NULL), 0);
    }
    assert_int_equal(dagd_store_commit(s), 0);
    assert_int_equal(dagd_store_run_set_status(s, "huge", DAGD_RUN_SUCCEEDED, NULL, 200), 0);
    assert_int_equal(dagd_store_prune(s, 5000, 1000), DAGD_STORE_PRUNE_EVENTS_MAX);
    assert_int_equal(dagd_store_prune(s, 5000, 1000), 7 + 1); /* 5 + created + succeeded, run */
    assert_int_equal(dagd_store_prune(s, 5000, 1000), 0);

    /* Ticks: old ones go, the newest of each schedule stays. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(
            dagd_store_tick_add(s, "hourly", "schedule", 1000 + i, NULL, "started", NULL), 0);
    }
    assert_int_equal(dagd_store_tick_add(s, "drop", "sensor", 1000, NULL, "skipped", "no match"),
                     0);
    assert_int_equal(dagd_store_prune(s, 5000, 100), 4);
    assert_int_equal(dagd_store_prune(s, 5000, 100), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ticks"), 2);
    assert_int_equal(count_rows(f, "SELECT ts FROM ticks WHERE name = 'hourly'"), 1004);
}

static void test_filehash(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    char *h = NULL;
    assert_int_equal(dagd_store_filehash_get(s, "/a", 1, 2, 3, 4, &h), -ENOENT);
    assert_int_equal(dagd_store_filehash_put(s, "/a", UINT64_MAX, 2, 3, 4, "h1"), 0);
    assert_int_equal(dagd_store_filehash_get(s, "/a", UINT64_MAX, 2, 3, 4, &h), 0);
    assert_string_equal(h, "h1");
    free(h);
    h = NULL;
    /* Any change of the key misses. */
    assert_int_equal(dagd_store_filehash_get(s, "/a", UINT64_MAX, 2, 3, 5, &h), -ENOENT);
    assert_int_equal(dagd_store_filehash_get(s, "/a", UINT64_MAX, 2, 4, 4, &h), -ENOENT);
    assert_int_equal(dagd_store_filehash_get(s, "/a", UINT64_MAX, 9, 3, 4, &h), -ENOENT);
    assert_int_equal(dagd_store_filehash_get(s, "/a", 7, 2, 3, 4, &h), -ENOENT);
    assert_int_equal(dagd_store_filehash_get(s, "/b", UINT64_MAX, 2, 3, 4, &h), -ENOENT);
    assert_null(h);
    /* put replaces. */
    assert_int_equal(dagd_store_filehash_put(s, "/a", 1, 2, 3, 5, "h2"), 0);
    assert_int_equal(dagd_store_filehash_get(s, "/a", 1, 2, 3, 5, &h), 0);
    assert_string_equal(h, "h2");
    free(h);
    assert_int_equal(dagd_store_filehash_get(s, "/a", UINT64_MAX, 2, 3, 4, &h), -ENOENT);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM file_hashes"), 1);
    assert_int_equal(dagd_store_filehash_put(s, NULL, 1, 2, 3, 5, "h2"), -EINVAL);
}

static void test_ticks_and_sensor_keys(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    struct dagd_tick_info t = {0};
    assert_int_equal(dagd_store_tick_last(s, "hourly", "schedule", &t), -ENOENT);
    assert_int_equal(dagd_store_tick_add(s, "hourly", "schedule", 1000, "r1", "started", NULL), 0);
    assert_int_equal(dagd_store_tick_add(s, "hourly", "schedule", 2000, NULL, "skipped",
                                         "previous run still active"),
                     0);
    assert_int_equal(dagd_store_tick_add(s, "watch", "sensor", 3000, NULL, "skipped", "no file"),
                     0);
    assert_int_equal(dagd_store_tick_add(s, NULL, "sensor", 3000, NULL, "x", NULL), -EINVAL);

    assert_int_equal(dagd_store_tick_last(s, "hourly", "schedule", &t), 0);
    assert_int_equal(t.ts, 2000);
    assert_string_equal(t.status, "skipped");
    assert_string_equal(t.reason, "previous run still active");
    assert_null(t.run_id);
    assert_string_equal(t.kind, "schedule");
    dagd_tick_info_done(&t);
    assert_int_equal(dagd_store_tick_last(s, "hourly", "sensor", &t), -ENOENT);

    struct dagd_tick_info *ticks = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_ticks_list(s, NULL, 0, &ticks, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(ticks[0].name, "watch");
    for (size_t i = 0; i < n; i++) {
        dagd_tick_info_done(&ticks[i]);
    }
    free(ticks);
    assert_int_equal(dagd_store_ticks_list(s, "hourly", 1, &ticks, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ticks[0].ts, 2000);
    dagd_tick_info_done(&ticks[0]);
    free(ticks);

    assert_int_equal(dagd_store_sensor_key_claim(s, "watch", "/in/a:10:99", "r5", 1), 0);
    assert_int_equal(dagd_store_sensor_key_claim(s, "watch", "/in/a:10:99", "r6", 2), -EEXIST);
    assert_int_equal(dagd_store_sensor_key_claim(s, "watch", "/in/a:11:99", NULL, 3), 0);
    assert_int_equal(dagd_store_sensor_key_claim(s, "other", "/in/a:10:99", NULL, 3), 0);
    assert_int_equal(dagd_store_sensor_key_claim(s, NULL, "k", NULL, 3), -EINVAL);
    /* Across a restart. */
    f->store = dagd_store_free(s);
    s = open_rw(f);
    assert_int_equal(dagd_store_sensor_key_claim(s, "watch", "/in/a:10:99", "r7", 4), -EEXIST);
}

/* The v1 schema exactly as sql/0001_init.sql shipped it, with data: keeps the
 * v1 -> latest path covered whatever later migrations add. */
static const char v1_fixture[] =
    "CREATE TABLE runs (run_id TEXT PRIMARY KEY NOT NULL, pipeline TEXT NOT NULL, status TEXT "
    "NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')), "
    "trigger TEXT NOT NULL DEFAULT 'cli', params TEXT NOT NULL DEFAULT '{}', parent_run_id TEXT, "
    "created_at INTEGER NOT NULL, started_at INTEGER, ended_at INTEGER, error TEXT);"
    "CREATE INDEX runs_by_pipeline ON runs (pipeline, created_at);"
    "CREATE INDEX runs_by_created ON runs (created_at);"
    "CREATE TABLE steps (run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, "
    "step TEXT NOT NULL, task TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('pending', "
    "'running', 'succeeded', 'failed', 'skipped', 'canceled')), attempts INTEGER NOT NULL "
    "DEFAULT 0, started_at INTEGER, ended_at INTEGER, exit_code INTEGER, rows_in INTEGER, "
    "rows_out INTEGER, fingerprint TEXT, error TEXT, PRIMARY KEY (run_id, step));"
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL "
    "REFERENCES runs (run_id) ON DELETE CASCADE, step TEXT, ts INTEGER NOT NULL, level TEXT NOT "
    "NULL, kind TEXT NOT NULL, message TEXT NOT NULL);"
    "CREATE INDEX events_by_run ON events (run_id, seq);"
    "INSERT INTO runs VALUES ('old1', 'sales', 'succeeded', 'cli', '{}', NULL, 100, 110, 190, "
    "NULL);"
    "INSERT INTO runs VALUES ('old2', 'sales', 'running', 'schedule', '{}', NULL, 200, 210, "
    "NULL, NULL);"
    "INSERT INTO steps VALUES ('old1', 'load', 'extract', 'succeeded', 1, 120, 180, 0, 5, 5, "
    "'fpold', NULL);"
    "INSERT INTO steps VALUES ('old2', 'load', 'extract', 'running', 1, 220, NULL, NULL, NULL, "
    "NULL, NULL, NULL);"
    "INSERT INTO events (run_id, step, ts, level, kind, message) VALUES ('old1', NULL, 100, "
    "'info', 'run', 'run created');"
    "PRAGMA application_id = 1684105060;"
    "PRAGMA user_version = 1;";

static void write_fixture(struct fixture *f, const char *sql)
{
    sqlite3 *db = raw_open(f);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "fixture: %s\n", err);
    }
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

static void test_migrate_from_v1(void **state)
{
    struct fixture *f = *state;
    write_fixture(f, v1_fixture);
    struct dagd_store *s = open_rw(f);
    assert_int_equal(dagd_store_schema_version(s), dagd_store_schema_latest());

    /* Old rows survive and work with the new queries. */
    struct dagd_run_info run = {0};
    assert_int_equal(dagd_store_run_get(s, "old1", &run), 0);
    assert_int_equal(run.status, DAGD_RUN_SUCCEEDED);
    assert_int_equal(run.ended_at, 190);
    dagd_run_info_done(&run);
    struct dagd_step_info st = {0};
    assert_int_equal(dagd_store_step_last_success(s, "sales", "load", &st), 0);
    assert_string_equal(st.fingerprint, "fpold");
    assert_string_equal(st.run_id, "old1");
    assert_int_equal(st.cpu_usec, 0);
    assert_null(st.skip_reason);
    dagd_step_info_done(&st);
    assert_int_equal(dagd_store_fail_orphans(s, "upgraded", 300), 1);
    int64_t seq = 0;
    assert_int_equal(dagd_store_event_add(s, "old1", NULL, 400, "info", "log", "new", &seq), 0);
    assert_true(seq > 1);
    assert_int_equal(dagd_store_tick_add(s, "t", "schedule", 1, NULL, "started", NULL), 0);
    f->store = dagd_store_free(s);

    /* Same schema as a fresh database (columns and indexes). */
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('steps') WHERE name IN "
                                 "('pipeline', 'skip_reason', 'cpu_usec', 'max_rss_kb', "
                                 "'inputs')"),
                     5);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                 "'steps_last_success'"),
                     1);
    assert_int_equal(raw_int(db, "PRAGMA foreign_key_check"), -1); /* no violations */
    sqlite3_close(db);
}

/* From every older version k (the real migrations 1..k applied, with rows)
 * to the latest: covers the N-1 step of each migration as it is added. */
static void test_migrate_from_each_version(void **state)
{
    struct fixture *f = *state;
    int latest = dagd_store_schema_latest();
    assert_int_equal(latest,
                     (int)(sizeof(dagd_store_migrations) / sizeof(dagd_store_migrations[0])));
    for (int k = 1; k < latest; k++) {
        char p[128];
        (void)unlink(db_path(f, p, sizeof(p)));
        sqlite3 *db = raw_open(f);
        for (int i = 0; i < k; i++) {
            assert_int_equal(sqlite3_exec(db, dagd_store_migrations[i].sql, NULL, NULL, NULL),
                             SQLITE_OK);
        }
        char sql[256];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d", k,
                 0x64616764);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "INSERT INTO runs (run_id, pipeline, status, created_at, "
                                      "ended_at) VALUES ('r', 'p', 'succeeded', 1, 5);"
                                      "INSERT INTO steps (run_id, step, task, status, ended_at, "
                                      "fingerprint) VALUES ('r', 's', 't', 'succeeded', 4, 'fp')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        if (k >= 2) {
            /* From v2 on, the writer fills steps.pipeline. */
            assert_int_equal(sqlite3_exec(db, "UPDATE steps SET pipeline = 'p'", NULL, NULL, NULL),
                             SQLITE_OK);
        }
        sqlite3_close(db);

        struct dagd_store *s = open_rw(f);
        assert_int_equal(dagd_store_schema_version(s), latest);
        struct dagd_step_info st = {0};
        assert_int_equal(dagd_store_step_last_success(s, "p", "s", &st), 0);
        assert_string_equal(st.fingerprint, "fp");
        dagd_step_info_done(&st);
        create_run(s, "new", "p", 10, 2);
        succeed_step(s, "new", "s1", "fp2", 20);
        f->store = dagd_store_free(s);
    }
}

/* Two dagd processes start on the same old database at once: both read
 * version 1, both wait for the write lock; the second must see that the first
 * migrated and not apply the migrations again. */
static void test_concurrent_migration(void **state)
{
    struct fixture *f = *state;
    write_fixture(f, v1_fixture);
    write_fixture(f, "PRAGMA journal_mode = WAL");

    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) != 1) {
                _exit(9);
            }
            struct dagd_store *w = NULL;
            if (test_open(f, &w) < 0) {
                fprintf(stderr, "child %d: %s\n", i, dagd_store_errmsg(NULL));
                _exit(10);
            }
            int v = dagd_store_schema_version(w);
            dagd_store_free(w);
            _exit(v == dagd_store_schema_latest() ? 0 : 11);
        }
    }
    close(go[0]);
    /* Hold the write lock while both children open, so they queue up. */
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(write(go[1], "xx", 2), 2);
    close(go[1]);
    usleep(300 * 1000);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    for (int i = 0; i < 2; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(count_rows(f, "PRAGMA user_version"), dagd_store_schema_latest());
}

/* Several dagd processes start on a new state directory at once: all of them
 * open it (the WAL switch and the first migration race). */
static void test_concurrent_create(void **state)
{
    struct fixture *f = *state;
    for (int trial = 0; trial < 25; trial++) {
        char dir[128];
        snprintf(dir, sizeof(dir), "%s/t%d/state", f->dir, trial);
        pid_t pids[4];
        for (int i = 0; i < 4; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                struct dagd_store *w = NULL;
                if (dagd_store_open(dir, &w) < 0) {
                    fprintf(stderr, "trial %d: %s\n", trial, dagd_store_errmsg(NULL));
                    _exit(10);
                }
                dagd_store_free(w);
                _exit(0);
            }
        }
        for (int i = 0; i < 4; i++) {
            int status = 0;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
    }
}

/* A zero-byte state.db is a truncated history (a new one is created whole,
 * see create_fresh): refused, and left as it is (issue 16 item 14). */
static void test_empty_file_refused(void **state)
{
    struct fixture *f = *state;
    char p[128];
    int fd = open(db_path(f, p, sizeof(p)), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct dagd_store *s = NULL;
    assert_int_equal(test_open(f, &s), -EBADMSG);
    assert_null(s);
    fprintf(stderr, "%s\n", dagd_store_errmsg(NULL));
    assert_non_null(strstr(dagd_store_errmsg(NULL), "empty (0 bytes)"));
    assert_non_null(strstr(dagd_store_errmsg(NULL), p));
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 0);
}

/* A new state directory gets the whole schema, and no temporary file stays. */
static void test_create_fresh(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    char p[128];
    struct stat st;
    assert_int_equal(stat(db_path(f, p, sizeof(p)), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    DIR *dir = opendir(f->dir);
    assert_non_null(dir);
    for (struct dirent *de; (de = readdir(dir));) {
        assert_null(strstr(de->d_name, ".state.db.new"));
    }
    closedir(dir);
    assert_int_equal(dagd_store_schema_version(s), dagd_store_schema_latest());
    f->store = dagd_store_free(s);

    sqlite3 *db = raw_open(f);
    static const char *const tables[] = {"runs",  "steps",       "events",
                                         "ticks", "file_hashes", "sensor_keys"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
                 tables[i]);
        assert_int_equal(raw_int(db, sql), 1);
    }
    assert_int_equal(raw_int(db, "PRAGMA application_id"), 0x64616764);
    /* Contract columns (DESIGN 5). */
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN "
                                 "('run_id', 'pipeline', 'status', 'trigger', 'params', "
                                 "'created_at', 'started_at', 'ended_at', 'error', "
                                 "'parent_run_id')"),
                     10);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('steps') WHERE name IN "
                                 "('run_id', 'step', 'task', 'status', 'attempts', "
                                 "'started_at', 'ended_at', 'exit_code', 'rows_in', 'rows_out', "
                                 "'fingerprint', 'error')"),
                     12);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('events') WHERE name IN "
                                 "('seq', 'run_id', 'step', 'ts', 'level', 'kind', 'message')"),
                     7);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('ticks') WHERE name IN "
                                 "('name', 'kind', 'ts', 'run_id', 'status', 'reason')"),
                     6);
    sqlite3_close(db);
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    f->store = s = dagd_store_free(s);
    sqlite3 *db = raw_open(f);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", dagd_store_schema_latest() + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(test_open(f, &s), -EPROTONOSUPPORT);
    assert_null(s);
    const char *msg = dagd_store_errmsg(NULL);
    fprintf(stderr, "%s\n", msg);
    assert_non_null(strstr(msg, "newer than this dagd supports"));
    assert_int_equal(dagd_store_open_readonly(f->dir, &s), -EPROTONOSUPPORT);
    /* Untouched. */
    assert_int_equal(count_rows(f, "PRAGMA user_version"), dagd_store_schema_latest() + 1);
}

static void test_not_a_database(void **state)
{
    struct fixture *f = *state;
    char p[128];
    FILE *fp = fopen(db_path(f, p, sizeof(p)), "we");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++) {
        fputs("this is not an SQLite database, just some text\n", fp);
    }
    fclose(fp);

    struct dagd_store *s = NULL;
    assert_int_equal(test_open(f, &s), -EBADMSG);
    assert_null(s);
    const char *msg = dagd_store_errmsg(NULL);
    fprintf(stderr, "%s\n", msg);
    assert_non_null(strstr(msg, "not a dagd state database"));
    assert_non_null(strstr(msg, p));
    assert_int_equal(dagd_store_open_readonly(f->dir, &s), -EBADMSG);

    /* An SQLite file of another program. */
    assert_int_equal(unlink(p), 0);
    write_fixture(f, "CREATE TABLE orders (id INTEGER)");
    assert_int_equal(test_open(f, &s), -EBADMSG);
    assert_non_null(strstr(dagd_store_errmsg(NULL), "not a dagd state database"));
    assert_int_equal(unlink(p), 0);
    write_fixture(f, "PRAGMA application_id = 42; CREATE TABLE x (id INTEGER)");
    assert_int_equal(test_open(f, &s), -EBADMSG);
    assert_non_null(strstr(dagd_store_errmsg(NULL), "another application"));
}

static void test_corrupt_database(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "p", 1, 2);
    f->store = dagd_store_free(s);

    /* Smash the first page (header and schema) after a clean close. */
    char p[128];
    int fd = open(db_path(f, p, sizeof(p)), O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, 100, 0), 100);
    close(fd);
    assert_int_equal(test_open(f, &s), -EBADMSG);
    fprintf(stderr, "%s\n", dagd_store_errmsg(NULL));
    assert_non_null(strstr(dagd_store_errmsg(NULL), "corrupt"));
}

static void test_readonly(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *ro = NULL;
    assert_int_equal(dagd_store_open_readonly(f->dir, &ro), -ENOENT);
    assert_non_null(strstr(dagd_store_errmsg(NULL), "No state database"));

    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "p", 1, 1);
    assert_int_equal(dagd_store_open_readonly(f->dir, &ro), 0);

    /* The writer has a batch open: the reader sees the last commit, without
     * blocking, and sees the rest after the commit. */
    assert_int_equal(dagd_store_begin(s), 0);
    create_run(s, "r2", "p", 2, 1);
    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_runs_list(ro, NULL, 0, &runs, &n), 0);
    assert_int_equal(n, 1);
    free_runs(runs, n);
    assert_int_equal(dagd_store_commit(s), 0);
    assert_int_equal(dagd_store_runs_list(ro, NULL, 0, &runs, &n), 0);
    assert_int_equal(n, 2);
    free_runs(runs, n);

    /* Writes through a read-only store fail cleanly. */
    assert_int_equal(dagd_store_event_add(ro, "r1", NULL, 1, "info", "log", "x", NULL), -EROFS);
    assert_int_equal(dagd_store_run_set_status(ro, "r1", DAGD_RUN_RUNNING, NULL, 1), -EROFS);
    assert_non_null(dagd_store_errmsg(ro));
    assert_int_equal(dagd_store_schema_version(ro), dagd_store_schema_latest());
    dagd_store_free(ro);

    /* With no writer left, a reader still works. */
    f->store = dagd_store_free(s);
    assert_int_equal(dagd_store_open_readonly(f->dir, &ro), 0);
    assert_int_equal(dagd_store_runs_list(ro, NULL, 0, &runs, &n), 0);
    assert_int_equal(n, 2);
    free_runs(runs, n);
    dagd_store_free(ro);

    /* An old schema cannot be read until a writer migrates it. */
    char p[128];
    assert_int_equal(unlink(db_path(f, p, sizeof(p))), 0);
    write_fixture(f, v1_fixture);
    assert_int_equal(dagd_store_open_readonly(f->dir, &ro), -EPROTONOSUPPORT);
    assert_non_null(strstr(dagd_store_errmsg(NULL), "migrate"));
}

/* A member of the state directory's group (not the owner, no write access)
 * can read state.db with sqlite3 while dagd runs and after it stopped: the
 * WAL files are kept at close, so the reader need not create them. Needs
 * root to switch users; skipped otherwise. */
static void test_group_reader(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        skip();
    }
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "p", 1, 1);
    f->store = s = dagd_store_free(s);

    const gid_t gid = 65534; /* nogroup */
    const uid_t uid = 65534; /* nobody */
    assert_int_equal(chmod(f->dir, 0750), 0);
    const char *const names[] = {"", "/state.db", "/state.db-wal", "/state.db-shm"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", f->dir, names[i]);
        assert_int_equal(chown(p, 0, gid), 0);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0022, 0); /* group and others cannot write */
    }

    for (int writer_open = 0; writer_open < 2; writer_open++) {
        /* Fork first: the child must not inherit the writer's connection. */
        int go[2];
        assert_int_equal(pipe(go), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) != 1) {
                _exit(9);
            }
            if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
                _exit(10);
            }
            struct dagd_store *ro = NULL;
            if (dagd_store_open_readonly(f->dir, &ro) < 0) {
                fprintf(stderr, "reader: %s\n", dagd_store_errmsg(NULL));
                _exit(11);
            }
            struct dagd_run_info *runs = NULL;
            size_t n = 0;
            int r = dagd_store_runs_list(ro, NULL, 0, &runs, &n);
            if (r < 0) {
                fprintf(stderr, "reader: %s\n", dagd_store_errmsg(ro));
                _exit(12);
            }
            free_runs(runs, n);
            dagd_store_free(ro);
            _exit(n == 1 ? 0 : 13);
        }
        close(go[0]);
        if (writer_open) {
            s = open_rw(f);
            assert_int_equal(dagd_store_begin(s), 0);
            create_run(s, "r2", "p", 2, 1); /* uncommitted while the reader reads */
        }
        assert_int_equal(write(go[1], "x", 1), 1);
        close(go[1]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(dagd_store_commit(s), 0);
}

/* A reader process polls while this process writes: it never sees an error,
 * a torn transaction (a step update without its event) or a count going
 * backwards. */
static void test_concurrent_reader(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "p", 1, 1);
    /* Fork with no connection open: a child never inherits one. */
    f->store = s = dagd_store_free(s);

    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        struct dagd_store *ro = NULL;
        if (dagd_store_open_readonly(f->dir, &ro) < 0) {
            _exit(10);
        }
        (void)!write(ready[1], "x", 1);
        close(ready[1]);
        int64_t last_seq = 0;
        unsigned last_attempts = 0;
        for (int loops = 0; loops < 100000; loops++) {
            struct dagd_event_info *ev = NULL;
            size_t n = 0;
            if (dagd_store_events_list(ro, "r1", NULL, last_seq, 0, &ev, &n) < 0) {
                _exit(11);
            }
            for (size_t i = 0; i < n; i++) {
                if (ev[i].seq <= last_seq) {
                    _exit(12);
                }
                last_seq = ev[i].seq;
            }
            free_events(ev, n);
            struct dagd_step_info *steps = NULL;
            if (dagd_store_steps_list(ro, "r1", &steps, &n) < 0 || n != 1) {
                _exit(13);
            }
            unsigned attempts = steps[0].attempts;
            free_steps(steps, n);
            if (attempts < last_attempts) {
                _exit(14);
            }
            last_attempts = attempts;
            /* Each update writes its step row and its event together:
             * events after 'created' = attempts, never fewer. */
            struct dagd_event_info *all = NULL;
            if (dagd_store_events_list(ro, "r1", NULL, 0, 0, &all, &n) < 0) {
                _exit(15);
            }
            free_events(all, n);
            if (n < 1 + (size_t)attempts) {
                _exit(16);
            }
            if (attempts == 300) {
                break;
            }
        }
        dagd_store_free(ro);
        _exit(last_attempts == 300 ? 0 : 17);
    }
    close(ready[1]);
    s = open_rw(f);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    for (unsigned i = 1; i <= 300; i++) {
        struct dagd_step_info st = {.run_id = "r1",
                                    .step = "s0",
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = i,
                                    .exit_code = -1};
        assert_int_equal(dagd_store_step_update(s, &st, i), 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* `dagd run` and `dagd serve` may share a state directory: two writer
 * processes interleave transactions without -EBUSY (BEGIN IMMEDIATE waits on
 * the busy timeout instead of failing on a lock upgrade). */
static void test_two_writers(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "a", "p", 1, 1);
    create_run(s, "b", "p", 1, 1);
    /* Fork with no connection open: each process opens its own. */
    f->store = s = dagd_store_free(s);

    pid_t pid = fork();
    assert_true(pid >= 0);
    const char *mine = pid == 0 ? "b" : "a";
    struct dagd_store *w = NULL;
    if (test_open(f, &w) < 0) {
        if (pid == 0) {
            _exit(10);
        }
        fail_msg("open: %s", dagd_store_errmsg(NULL));
    }
    if (pid != 0) {
        f->store = w;
    }
    for (unsigned i = 1; i <= 200; i++) {
        struct dagd_step_info st = {.run_id = (char *)mine,
                                    .step = "s0",
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = i,
                                    .exit_code = -1};
        if (dagd_store_step_update(w, &st, i) < 0) {
            if (pid == 0) {
                _exit(11);
            }
            fail_msg("step_update: %s", dagd_store_errmsg(w));
        }
        /* A single-statement write (its own implicit transaction). */
        if (dagd_store_event_add(w, mine, "s0", i, "info", "stdout", "line", NULL) < 0) {
            if (pid == 0) {
                _exit(13);
            }
            fail_msg("event_add: %s", dagd_store_errmsg(w));
        }
        if (i % 50 == 0) {
            /* A batch too. */
            if (dagd_store_begin(w) < 0 ||
                dagd_store_event_add(w, mine, NULL, i, "info", "log", "batch", NULL) < 0 ||
                dagd_store_commit(w) < 0) {
                if (pid == 0) {
                    _exit(12);
                }
                fail_msg("batch: %s", dagd_store_errmsg(w));
            }
        }
    }
    if (pid == 0) {
        dagd_store_free(w);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_rows(f, "SELECT sum(attempts) FROM steps"), 400);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'batch'"), 8);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'line'"), 400);
}

/* A writer killed with SIGKILL in the middle of a batch: its committed rows
 * stay, the open batch vanishes, the file opens cleanly and the next start
 * fails the run it left running. */
static void test_writer_killed(void **state)
{
    struct fixture *f = *state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        struct dagd_store *w = NULL;
        if (test_open(f, &w) < 0) {
            _exit(10);
        }
        struct dagd_run_info run = {.run_id = "r1", .pipeline = "p", .created_at = 1};
        char *steps[] = {"a", "b"};
        struct dagd_step_info st = {.run_id = "r1",
                                    .step = "a",
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = 1,
                                    .started_at = 3,
                                    .exit_code = -1};
        if (dagd_store_run_create(w, &run, steps, NULL, 2) < 0 ||
            dagd_store_run_set_status(w, "r1", DAGD_RUN_RUNNING, NULL, 2) < 0 ||
            dagd_store_step_update(w, &st, 3) < 0 || dagd_store_begin(w) < 0) {
            _exit(11);
        }
        for (int i = 0; i < 2000; i++) {
            if (dagd_store_event_add(w, "r1", "a", 4, "info", "stdout", "uncommitted", NULL) < 0) {
                _exit(12);
            }
        }
        /* Tell the parent, then wait for its SIGKILL with the batch open. */
        (void)!write(ready[1], "x", 1);
        for (;;) {
            pause();
        }
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    struct dagd_store *s = open_rw(f);
    sqlite3 *db = raw_open(f);
    char *check = raw_text(db, "PRAGMA integrity_check");
    assert_string_equal(check, "ok");
    free(check);
    sqlite3_close(db);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'uncommitted'"), 0);
    assert_int_equal(dagd_store_fail_orphans(s, "dagd was killed", 10), 1);
    struct dagd_step_info *steps = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_steps_list(s, "r1", &steps, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(steps[0].status, DAGD_STEP_FAILED);
    assert_int_equal(steps[1].status, DAGD_STEP_CANCELED);
    free_steps(steps, n);
}

/* Damage in a data page (not the header) is reported as corruption when it is
 * read, with the file named, and never crashes. */
static void test_corrupt_page(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    assert_int_equal(dagd_store_begin(s), 0);
    for (int i = 0; i < 300; i++) {
        char id[32];
        snprintf(id, sizeof(id), "run-%04d", i);
        create_run(s, id, "p", i + 1, 3);
    }
    assert_int_equal(dagd_store_commit(s), 0);
    f->store = s = dagd_store_free(s);

    /* Overwrite every page but the first (schema) with garbage. */
    char p[128];
    struct stat st;
    assert_int_equal(stat(db_path(f, p, sizeof(p)), &st), 0);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0x5A, sizeof(junk));
    for (off_t off = 4096; off < st.st_size; off += 4096) {
        assert_int_equal(pwrite(fd, junk, sizeof(junk), off), (ssize_t)sizeof(junk));
    }
    close(fd);

    /* Refused at open (quick_check), not at the first query that reads a
     * bad page. */
    assert_int_equal(test_open(f, &s), -EBADMSG);
    fprintf(stderr, "%s\n", dagd_store_errmsg(NULL));
    assert_non_null(strstr(dagd_store_errmsg(NULL), "corrupt"));
    assert_non_null(strstr(dagd_store_errmsg(NULL), p));
    /* A read-only open (inspection) still lets one look at it. */
    assert_int_equal(dagd_store_open_readonly(f->dir, &s), 0);
    f->store = s;
}

/* One page of a table's leaves garbled: no query at open reads it, only the
 * page check finds it (issue 16 item 14). */
static void test_one_bad_page(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    assert_int_equal(dagd_store_begin(s), 0);
    for (int i = 0; i < 300; i++) {
        char id[32];
        snprintf(id, sizeof(id), "run-%04d", i);
        create_run(s, id, "p", i + 1, 3);
    }
    assert_int_equal(dagd_store_commit(s), 0);
    f->store = s = dagd_store_free(s);

    char p[128];
    struct stat st;
    assert_int_equal(stat(db_path(f, p, sizeof(p)), &st), 0);
    assert_true(st.st_size >= 8 * 4096);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char junk[512];
    memset(junk, 0x5A, sizeof(junk));
    off_t mid = (st.st_size / 4096 / 2) * 4096;
    assert_int_equal(pwrite(fd, junk, sizeof(junk), mid), (ssize_t)sizeof(junk));
    close(fd);

    assert_int_equal(test_open(f, &s), -EBADMSG);
    fprintf(stderr, "%s\n", dagd_store_errmsg(NULL));
    assert_non_null(strstr(dagd_store_errmsg(NULL), "corrupt"));
}

/* Every column of every table is copied by dagd state import/export
 * (STORE_COPY_TABLES): a migration that adds a column without listing it
 * there fails here, on either backend (PostgreSQL's own rowid aside). */
static void test_copy_tables_complete(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    static const struct {
        const char *table, *columns;
    } tables[] = {
#define X(t, c, o) {t, c},
        STORE_COPY_TABLES(X)
#undef X
    };
    char sql[512];
    int64_t total = 0;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int64_t listed = 1;
        for (const char *c = tables[i].columns; *c; c++) {
            listed += *c == ',';
        }
        if (pg_base) {
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM information_schema.columns WHERE table_name = '%s' "
                     "AND table_schema = current_schema() AND column_name <> 'rowid'",
                     tables[i].table);
        } else {
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM pragma_table_info('%s')",
                     tables[i].table);
        }
        int64_t actual = count_rows(f, sql);
        if (actual != listed) {
            fprintf(stderr, "%s: %" PRId64 " columns, %" PRId64 " copied\n", tables[i].table,
                    actual, listed);
        }
        assert_int_equal(actual, listed);
        total += actual;
    }
    /* And no table is left out (dagd_schema is PostgreSQL's user_version). */
    if (pg_base) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                 "current_schema() AND column_name <> 'rowid' AND table_name <> 'dagd_schema'");
    } else {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_schema s, pragma_table_info(s.name) WHERE "
                 "s.type = 'table' AND s.name NOT LIKE 'sqlite_%%'");
    }
    assert_int_equal(count_rows(f, sql), total);
}

/* ---- backfills, partitions, metrics, copy: the rest of store.h ---- */

struct seen {
    int n;
    int64_t sum;
    char last_status[32];
};

static void on_partition(const char *partition, const char *status, int64_t created_at,
                         int64_t ended_at, const char *run_id, void *userdata)
{
    struct seen *v = userdata;
    (void)created_at;
    (void)ended_at;
    (void)run_id;
    v->n++;
    if (strcmp(partition, "2024-01-02") == 0) {
        snprintf(v->last_status, sizeof(v->last_status), "%s", status);
    }
}

static void on_count(const char *pipeline, const char *status, int64_t n, void *userdata)
{
    struct seen *v = userdata;
    (void)pipeline;
    (void)status;
    v->n++;
    v->sum += n;
}

static void on_step(const char *pipeline, const char *status, int64_t ms, void *userdata)
{
    struct seen *v = userdata;
    (void)pipeline;
    (void)status;
    v->n++;
    v->sum += ms;
}

static void partition_run(struct dagd_store *s, const char *id, const char *partition,
                          const char *backfill, int64_t created)
{
    char *steps[] = {"s0"}, *tasks[] = {"noop"};
    struct dagd_run_info run = {.run_id = (char *)id,
                                .pipeline = "daily",
                                .partition = (char *)partition,
                                .backfill_id = (char *)backfill,
                                .created_at = created};
    assert_int_equal(dagd_store_run_create(s, &run, steps, tasks, 1), 0);
}

/* Every store function the other tests leave out, on both backends. */
static void test_backfills_partitions_metrics(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    struct dagd_store *s = f->store;

    struct dagd_backfill_info b = {.backfill_id = "bf1",
                                   .pipeline = "daily",
                                   .range_from = "2024-01-01",
                                   .range_to = "2024-01-03",
                                   .n_partitions = 3,
                                   .created_at = 1000,
                                   .params_json = "{\"x\":\"1\"}",
                                   .priority = 5};
    assert_int_equal(dagd_store_begin(s), 0);
    assert_int_equal(dagd_store_backfill_create(s, &b), 0);
    partition_run(s, "p1", "2024-01-01", "bf1", 1001);
    partition_run(s, "p2", "2024-01-02", "bf1", 1002);
    partition_run(s, "p3", "2024-01-03", "bf1", 1003);
    assert_int_equal(dagd_store_commit(s), 0);
    assert_int_equal(dagd_store_run_set_status(s, "p1", DAGD_RUN_RUNNING, NULL, 1100), 0);
    succeed_step(s, "p1", "s0", "fp1", 1150);
    assert_int_equal(dagd_store_run_set_status(s, "p1", DAGD_RUN_SUCCEEDED, NULL, 1200), 0);
    assert_int_equal(dagd_store_run_set_status(s, "p2", DAGD_RUN_FAILED, "boom", 1300), 0);

    int64_t counts[5];
    assert_int_equal(dagd_store_backfill_counts(s, "bf1", counts), 0);
    assert_int_equal(counts[DAGD_RUN_QUEUED], 1);
    assert_int_equal(counts[DAGD_RUN_SUCCEEDED], 1);
    assert_int_equal(counts[DAGD_RUN_FAILED], 1);
    char **parts = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_backfill_unsuccessful(s, "bf1", &parts, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(parts[0], "2024-01-02");
    assert_null(parts[1]);
    free(parts[0]);
    free(parts);

    struct dagd_run_info *runs = NULL;
    assert_int_equal(dagd_store_runs_queued_durable(s, &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].run_id, "p3");
    assert_string_equal(runs[0].partition, "2024-01-03");
    dagd_run_info_done(&runs[0]);
    free(runs);

    struct dagd_backfill_info got;
    assert_int_equal(dagd_store_backfill_set_status(s, "bf1", "done", 1400), 0);
    assert_int_equal(dagd_store_backfill_get(s, "bf1", &got), 0);
    assert_string_equal(got.status, "done");
    assert_int_equal(got.ended_at, 1400);
    assert_int_equal(got.n_partitions, 3);
    assert_int_equal(got.priority, 5);
    assert_string_equal(got.params_json, "{\"x\":\"1\"}");
    dagd_backfill_info_done(&got);
    assert_int_equal(dagd_store_backfill_get(s, "nope", &got), -ENOENT);
    struct dagd_backfill_info *bfs = NULL;
    assert_int_equal(dagd_store_backfills_list(s, NULL, 0, &bfs, &n), 0);
    assert_int_equal(n, 1);
    dagd_backfill_info_done(&bfs[0]);
    free(bfs);

    /* The newest run of each partition: a later run of 2024-01-02 wins. */
    partition_run(s, "p2b", "2024-01-02", NULL, 2000);
    struct seen v = {0};
    assert_int_equal(dagd_store_partitions_last(s, "daily", on_partition, &v), 0);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.last_status, "queued");

    struct dagd_step_info st;
    assert_int_equal(dagd_store_step_last_success_partition(s, "daily", "s0", "2024-01-01", &st),
                     0);
    assert_string_equal(st.run_id, "p1");
    assert_string_equal(st.fingerprint, "fp1");
    dagd_step_info_done(&st);
    assert_int_equal(dagd_store_step_last_success_partition(s, "daily", "s0", "2024-01-02", &st),
                     -ENOENT);

    /* Metrics: finished runs by (pipeline, status), steps of finished runs. */
    v = (struct seen){0};
    assert_int_equal(dagd_store_runs_count_finished(s, on_count, &v), 0);
    assert_int_equal(v.n, 2); /* daily/succeeded, daily/failed */
    assert_int_equal(v.sum, 2);
    v = (struct seen){0};
    assert_int_equal(dagd_store_steps_of_finished(s, on_step, &v), 0);
    assert_int_equal(v.n, 2);

    struct dagd_event_info *evs = NULL;
    assert_int_equal(dagd_store_events_tail(s, "p1", 2, &evs, &n), 0);
    assert_int_equal(n, 2);
    assert_true(evs[0].seq < evs[1].seq);
    assert_string_equal(evs[1].message, "run succeeded");
    for (size_t i = 0; i < n; i++) {
        dagd_event_info_done(&evs[i]);
    }
    free(evs);
    assert_int_equal(dagd_store_checkpoint(s), 0);

    /* The whole history into a new state.db (dagd state export), ids kept. */
    char dir2[128];
    snprintf(dir2, sizeof(dir2), "%s/copy", f->dir);
    struct dagd_store *dst = NULL;
    assert_int_equal(dagd_store_open(dir2, &dst), 0);
    int64_t rows = 0;
    assert_int_equal(dagd_store_copy(dst, s, &rows), 0);
    assert_true(rows > 10);
    assert_int_equal(dagd_store_copy(dst, s, NULL), -EEXIST);
    assert_int_equal(dagd_store_backfill_counts(dst, "bf1", counts), 0);
    assert_int_equal(counts[DAGD_RUN_FAILED], 1);
    assert_int_equal(dagd_store_events_tail(dst, "p1", 1, &evs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(evs[0].message, "run succeeded");
    dagd_event_info_done(&evs[0]);
    free(evs);
    dagd_store_free(dst);
}

/* The ```sql blocks of docs/postgresql.md run on the schema (the docs'
 * PostgreSQL versions of docs/state.md's queries). */
static void test_pg_docs_queries(void **state)
{
    struct fixture *f = *state;
    const char *root = getenv("DAGD_SOURCE_ROOT");
    if (!root) {
        skip();
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/postgresql.md", root);
    FILE *fp = fopen(path, "re");
    assert_non_null(fp);
    static char doc[65536];
    size_t len = fread(doc, 1, sizeof(doc) - 1, fp);
    fclose(fp);
    doc[len] = '\0';

    assert_int_equal(test_open(f, &f->store), 0);
    create_run(f->store, "RUN", "sales", 1000, 2);
    assert_int_equal(dagd_store_run_set_status(f->store, "RUN", DAGD_RUN_RUNNING, NULL, 1100), 0);
    succeed_step(f->store, "RUN", "s0", "fp", 1500);

    /* Only the run history's section: the warehouse's SQL runs elsewhere. */
    char *section = strstr(doc, "## Run history on PostgreSQL");
    assert_non_null(section);
    char *next = strstr(section + 3, "\n## ");
    if (next) {
        *next = '\0';
    }
    PGconn *c = pg_raw();
    int blocks = 0;
    for (char *p = section; (p = strstr(p, "```sql\n"));) {
        p += 7;
        char *end = strstr(p, "```");
        assert_non_null(end);
        *end = '\0';
        PGresult *res = PQexec(c, p);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "docs/postgresql.md: %s\n%s\n", PQresultErrorMessage(res), p);
        }
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        PQclear(res);
        blocks++;
        p = end + 3;
    }
    PQfinish(c);
    assert_true(blocks >= 1);
}

/* Every SQLite migration has its PostgreSQL twin (state/sql-pg/): the last
 * one brings PostgreSQL to the same version. Checked without a server, so a
 * build without PostgreSQL catches a forgotten twin too. */
static void test_pg_migrations_complete(void **state)
{
    (void)state;
    size_t n = sizeof(dagd_store_pg_migrations) / sizeof(dagd_store_pg_migrations[0]);
    assert_true(n >= 1);
    assert_int_equal(dagd_store_pg_migrations[n - 1].version, dagd_store_schema_latest());
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(dagd_store_pg_migrations[i].version,
                         dagd_store_pg_migrations[i - 1].version + 1);
    }
}

/* ---- PostgreSQL only ---- */

/* Cut the store's session from the server side, as a server restart or a
 * network drop does. */
static void pg_terminate_store(void)
{
    assert_int_equal(pg_int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = 'dagd'"),
                     1);
    usleep(100 * 1000); /* the backend acts on the signal */
}

/* Cut one store's session (the other stores of the test keep theirs). */
static void pg_terminate_store_pid(struct dagd_store *s)
{
    (void)s;
    /* The oldest dagd session is the first store opened. */
    assert_int_equal(pg_int("SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM "
                            "pg_stat_activity WHERE application_name = 'dagd' ORDER BY "
                            "backend_start LIMIT 1) a"),
                     1);
    usleep(100 * 1000);
}

/* A dropped connection loses nothing: a call outside a transaction runs
 * again on a new connection; inside a batch, the batch is replayed first,
 * so its commit writes every row once. */
static void test_pg_dropped_connection(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    struct dagd_store *s = f->store;
    assert_true(dagd_store_is_postgresql(s));
    create_run(s, "r1", "p", 100, 2);

    pg_terminate_store();
    int64_t seq1 = 0, seq2 = 0, seq3 = 0;
    assert_int_equal(dagd_store_event_add(s, "r1", NULL, 101, "info", "log", "after drop", &seq1),
                     0);
    assert_int_equal(dagd_store_reconnects(s), 1);

    assert_int_equal(dagd_store_begin(s), 0);
    create_run(s, "r2", "p", 200, 1);
    assert_int_equal(dagd_store_event_add(s, "r2", NULL, 201, "info", "log", "in batch 1", &seq2),
                     0);
    pg_terminate_store();
    assert_int_equal(dagd_store_event_add(s, "r2", NULL, 202, "info", "log", "in batch 2", &seq3),
                     0);
    pg_terminate_store();
    assert_int_equal(dagd_store_commit(s), 0);
    assert_int_equal(dagd_store_reconnects(s), 3);
    assert_true(seq1 > 0 && seq2 > seq1 && seq3 > seq2);

    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs"), 2);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE run_id = 'r2'"), 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message LIKE 'in batch%'"),
                     2);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message = 'after drop'"), 1);
    /* A rolled-back batch stays rolled back, also across a drop. */
    assert_int_equal(dagd_store_begin(s), 0);
    create_run(s, "r3", "p", 300, 1);
    pg_terminate_store();
    assert_int_equal(dagd_store_rollback(s), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs WHERE run_id = 'r3'"), 0);
    struct dagd_run_info run;
    assert_int_equal(dagd_store_run_get(s, "r1", &run), 0);
    dagd_run_info_done(&run);
}

/* A driver, as daemon/serve/store_io.c is on the loop: poll the store's
 * socket and its timer until no write is pending (or 10 s passed). */
static unsigned io_calls;
static void on_io(void *userdata)
{
    (void)userdata;
    io_calls++;
}

static void drive_until_settled(struct dagd_store *s)
{
    for (int i = 0; i < 1000 && dagd_store_pending_writes(s) > 0; i++) {
        struct dagd_store_io io;
        dagd_store_io_state(s, &io);
        if (io.fd >= 0) {
            struct pollfd p = {.fd = io.fd, .events = POLLIN | (io.want_write ? POLLOUT : 0)};
            (void)poll(&p, 1, 10);
        } else {
            usleep((useconds_t)(io.timeout_ms > 0 ? io.timeout_ms * 1000 : 1000));
        }
        assert_int_equal(dagd_store_process_io(s), 0);
    }
    assert_int_equal(dagd_store_pending_writes(s), 0);
}

/* One turn of a driver: wait up to 10 ms for the socket, then let the
 * store read and send. */
static void drive_once(struct dagd_store *s)
{
    struct dagd_store_io io;
    dagd_store_io_state(s, &io);
    assert_true(io.fd >= 0);
    struct pollfd p = {.fd = io.fd, .events = POLLIN | (io.want_write ? POLLOUT : 0)};
    (void)poll(&p, 1, 10);
    assert_int_equal(dagd_store_process_io(s), 0);
}

/* Drive until `fence` passed (or 10 s). */
static void drive_until_passed(struct dagd_store *s, uint64_t fence)
{
    int r = 0;
    for (int i = 0; i < 1000 && (r = dagd_store_fence_passed(s, fence)) == 0; i++) {
        drive_once(s);
    }
    assert_int_equal(r, 1);
}

/* dagd_store_memo_take until it answers, driving the connection (as the
 * daemon's loop does) when a driver is set. */
static int memo_take_driven(struct dagd_store *s, struct dagd_store_memo *m,
                            struct dagd_step_info *infos)
{
    for (int i = 0; i < 1000; i++) {
        int r = dagd_store_memo_take(m, infos);
        if (r != 0) {
            return r;
        }
        drive_once(s);
    }
    fail_msg("the memo lookup was never answered");
    return -1;
}

/* The memo lookups of many steps at once give what one lookup per step
 * gives: the newest success (of the partition), none for a step that never
 * succeeded or a name with quotes; on PostgreSQL also with a driver, where
 * the question goes without waiting and is answered later, behind the
 * writes queued before it. */
static void memo_check(struct dagd_store *s, bool driven)
{
    const char *names[] = {"s0", "s1", "we\"ird\\", "s0"};
    struct dagd_step_info got[4] = {0};
    struct dagd_store_memo *m = NULL;
    assert_int_equal(dagd_store_memo_ask(s, "sales", NULL, names, 4, &m), 0);
    if (driven) {
        /* Asked first, answered later: a success written after the
         * question is not in its answer. */
        succeed_step(s, "r2", "s1", "late", 2600);
    }
    assert_int_equal(memo_take_driven(s, m, got), 1);
    assert_int_equal(dagd_store_memo_take(m, got), -EALREADY);
    m = dagd_store_memo_free(m);
    assert_string_equal(got[0].run_id, "r2");
    assert_string_equal(got[0].fingerprint, "fp2");
    assert_int_equal(got[0].status, DAGD_STEP_SUCCEEDED);
    assert_string_equal(got[3].fingerprint, "fp2");
    assert_null(got[1].run_id);
    assert_null(got[2].run_id);
    for (int i = 0; i < 4; i++) {
        dagd_step_info_done(&got[i]);
    }

    /* Per partition. */
    assert_int_equal(dagd_store_memo_ask(s, "daily", "2024-01-01", names, 2, &m), 0);
    assert_int_equal(memo_take_driven(s, m, got), 1);
    m = dagd_store_memo_free(m);
    assert_string_equal(got[0].run_id, "p1");
    assert_null(got[1].run_id);
    dagd_step_info_done(&got[0]);
    assert_int_equal(dagd_store_memo_ask(s, "daily", "2024-01-02", names, 1, &m), 0);
    assert_int_equal(memo_take_driven(s, m, got), 1);
    m = dagd_store_memo_free(m);
    assert_null(got[0].run_id);

    /* Dropped unanswered: the connection goes on. */
    assert_int_equal(dagd_store_memo_ask(s, "sales", NULL, names, 1, &m), 0);
    m = dagd_store_memo_free(m);
    assert_int_equal(dagd_store_step_last_success(s, "sales", "s0", &got[0]), 0);
    assert_string_equal(got[0].fingerprint, "fp2");
    dagd_step_info_done(&got[0]);
}

static void test_memo_ask(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    create_run(s, "r1", "sales", 1000, 2);
    create_run(s, "r2", "sales", 2000, 2);
    succeed_step(s, "r1", "s0", "fp1", 1500);
    succeed_step(s, "r2", "s0", "fp2", 2500);
    partition_run(s, "p1", "2024-01-01", NULL, 3000);
    succeed_step(s, "p1", "s0", "fpp", 3500);
    memo_check(s, false);
    if (dagd_store_is_postgresql(s)) {
        /* Again with a driver: the one-statement lookup. */
        dagd_store_set_io_fn(s, on_io, NULL);
        memo_check(s, true);
        drive_until_settled(s);
        dagd_store_set_io_fn(s, NULL, NULL);
    }
}

/* A fence passes once everything before it is answered; on SQLite there is
 * nothing to wait for. */
static void test_fence(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *s = open_rw(f);
    uint64_t fence = 1;
    assert_int_equal(dagd_store_fence(s, &fence), 0);
    assert_int_equal(fence, 0);
    if (!dagd_store_is_postgresql(s)) {
        return;
    }
    dagd_store_set_io_fn(s, on_io, NULL);
    assert_int_equal(dagd_store_begin(s), 0);
    create_run(s, "f1", "p", 100, 2);
    assert_int_equal(dagd_store_commit(s), 0);
    assert_int_equal(dagd_store_fence(s, &fence), 0);
    assert_true(fence > 0);
    drive_until_passed(s, fence);
    /* Committed: another session sees it. */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs WHERE run_id = 'f1'"), 1);
    dagd_store_set_io_fn(s, NULL, NULL);
}

/* With a driver the batch's writes go without waiting: commit returns
 * with them still on their way, a read right after sees them (one
 * pipeline, in order), and a connection cut with batches in flight
 * loses none and writes none twice (the unsettled ones are replayed). */
/* The server's notices never reach stderr (the daemon's log): a trigger
 * raises one on every tick the store writes. */
static void test_pg_notices_quiet(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    PGconn *c = pg_raw();
    pg_exec(c, "CREATE FUNCTION notice_tick() RETURNS trigger LANGUAGE plpgsql AS "
               "$$BEGIN RAISE NOTICE 'dagd-notice-test'; RAISE WARNING 'dagd-warning-test'; "
               "RETURN NEW; END$$");
    pg_exec(c, "CREATE TRIGGER notice_tick BEFORE INSERT ON ticks FOR EACH ROW "
               "EXECUTE FUNCTION notice_tick()");

    char path[] = "/tmp/dagd-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    int r = dagd_store_tick_add(f->store, "hourly", "schedule", 1000, NULL, "started", NULL);
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    assert_int_equal(r, 0);

    char buf[4096] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n >= 0);
    buf[n] = '\0';
    if (strstr(buf, "dagd-notice-test") || strstr(buf, "dagd-warning-test")) {
        fprintf(stderr, "the server's notices reached stderr:\n%s\n", buf);
        fail();
    }
    pg_exec(c, "DROP TRIGGER notice_tick ON ticks; DROP FUNCTION notice_tick()");
    PQfinish(c);
}

static void test_pg_pipeline(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    struct dagd_store *s = f->store;
    dagd_store_set_io_fn(s, on_io, NULL);
    assert_true(io_calls > 0);

    assert_int_equal(dagd_store_begin(s), 0);
    create_run(s, "p1", "p", 100, 2);
    for (int i = 0; i < 100; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "line %d", i);
        assert_int_equal(dagd_store_event_add(s, "p1", "s0", 101 + i, "info", "log", msg, NULL), 0);
    }
    struct dagd_step_info st = {.run_id = "p1",
                                .step = "s0",
                                .task = "noop",
                                .status = DAGD_STEP_SUCCEEDED,
                                .attempts = 1,
                                .exit_code = 0};
    assert_int_equal(dagd_store_step_update(s, &st, 300), 0);
    /* A step the run did not list: the upsert inserts it. */
    st.step = "extra";
    assert_int_equal(dagd_store_step_update(s, &st, 301), 0);
    assert_int_equal(dagd_store_run_set_status(s, "p1", DAGD_RUN_SUCCEEDED, NULL, 302), 0);
    assert_int_equal(dagd_store_commit(s), 0);
    assert_true(dagd_store_pending_writes(s) > 0);

    /* Read your writes. */
    struct dagd_event_info *evs = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_events_list(s, "p1", "s0", 0, 0, &evs, &n), 0);
    assert_int_equal(n, 101); /* the 100 lines and the step's event */
    for (size_t i = 0; i < n; i++) {
        dagd_event_info_done(&evs[i]);
    }
    free(evs);
    struct dagd_run_info run;
    assert_int_equal(dagd_store_run_get(s, "p1", &run), 0);
    assert_int_equal(run.status, DAGD_RUN_SUCCEEDED);
    dagd_run_info_done(&run);
    drive_until_settled(s);

    /* Batches in flight when the session is cut: all of them arrive, once. */
    for (int b = 0; b < 3; b++) {
        assert_int_equal(dagd_store_begin(s), 0);
        for (int i = 0; i < 50; i++) {
            char msg[32];
            snprintf(msg, sizeof(msg), "cut %d %d", b, i);
            assert_int_equal(dagd_store_event_add(s, "p1", NULL, 400 + i, "info", "log", msg, NULL),
                             0);
        }
        assert_int_equal(dagd_store_commit(s), 0);
        if (b == 1) {
            pg_terminate_store();
        }
    }
    drive_until_settled(s);
    assert_true(dagd_store_reconnects(s) >= 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message LIKE 'cut %'"), 150);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM (SELECT message FROM events GROUP BY "
                                   "message HAVING count(*) > 1) d"),
                     0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM steps WHERE run_id = 'p1'"), 3);

    /* A run's pending steps are one statement, not one per step (each is a
     * round trip of the server); cut before its answer, it is sent again
     * from the store's cached text. */
    enum { WIDE = 60 };
    char name_buf[WIDE][16], *names[WIDE];
    for (int i = 0; i < WIDE; i++) {
        snprintf(name_buf[i], sizeof(name_buf[i]), "w%02d", WIDE - i);
        names[i] = name_buf[i];
    }
    struct dagd_run_info wide = {.run_id = "wide", .pipeline = "p"};
    assert_int_equal(dagd_store_begin(s), 0);
    assert_int_equal(dagd_store_run_create(s, &wide, names, NULL, WIDE), 0);
    assert_int_equal(dagd_store_commit(s), 0);
    /* the run, its steps, its event (and the savepoint's two) */
    assert_true(dagd_store_pending_writes(s) <= 5);
    pg_terminate_store();
    drive_until_settled(s);
    struct dagd_step_info *steps = NULL;
    assert_int_equal(dagd_store_steps_list(s, "wide", &steps, &n), 0);
    assert_int_equal(n, WIDE);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(steps[i].step, names[i]);
        dagd_step_info_done(&steps[i]);
    }
    free(steps);
    dagd_store_set_io_fn(s, NULL, NULL);
}

/* Group commit: a batch committed while the COMMIT before it is still on
 * its way is held back and the next batch joins it; a fence (or the
 * previous COMMIT's answer) sends it. A rollback of a batch that joined
 * takes the held one with it, and the next commit says so. */
static void batch_event(struct dagd_store *s, const char *msg)
{
    assert_int_equal(dagd_store_begin(s), 0);
    assert_int_equal(dagd_store_event_add(s, "g1", NULL, 500, "info", "log", msg, NULL), 0);
}

static void test_pg_group_commit(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    struct dagd_store *s = f->store;
    create_run(s, "g1", "p", 100, 1);
    dagd_store_set_io_fn(s, on_io, NULL);

    batch_event(s, "gc one");
    assert_int_equal(dagd_store_commit(s), 0); /* sent; its answer not read yet */
    batch_event(s, "gc two");
    assert_int_equal(dagd_store_commit(s), 0); /* held back */
    assert_false(dagd_store_in_batch(s));
    batch_event(s, "gc three"); /* joins "two" */
    assert_int_equal(dagd_store_commit(s), 0);
    uint64_t fence = 0;
    assert_int_equal(dagd_store_fence(s, &fence), 0);
    assert_true(fence > 0);
    drive_until_passed(s, fence);
    /* Another session sees all three: committed, in two transactions. */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message LIKE 'gc %'"), 3);

    /* Held, joined, rolled back: both batches are gone, and said to be. */
    batch_event(s, "gc four");
    assert_int_equal(dagd_store_commit(s), 0);
    batch_event(s, "gc five");
    assert_int_equal(dagd_store_commit(s), 0); /* held */
    batch_event(s, "gc six");                  /* joins "five" */
    assert_int_equal(dagd_store_rollback(s), 0);
    batch_event(s, "gc seven");
    assert_true(dagd_store_commit(s) < 0);
    assert_non_null(strstr(dagd_store_errmsg(s), "rolled back with the one after it"));
    drive_until_settled(s);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message IN "
                                   "('gc four', 'gc seven')"),
                     2);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message IN "
                                   "('gc five', 'gc six')"),
                     0);
    dagd_store_set_io_fn(s, NULL, NULL);
}

/* Closing the store with batches queued: the COMMITs after the first are
 * held back (group commit), so those batches are still in memory, pointing
 * at the texts of the store's cached statements, when dagd_store_free()
 * sends them (ASan: the texts outlive that). */
static void test_pg_close_sends_queued(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    struct dagd_store *s = f->store;
    create_run(s, "c1", "p", 100, 1);
    dagd_store_set_io_fn(s, on_io, NULL);
    for (int b = 0; b < 3; b++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "queued %d", b);
        assert_int_equal(dagd_store_begin(s), 0);
        assert_int_equal(dagd_store_event_add(s, "c1", NULL, 101 + b, "info", "log", msg, NULL), 0);
        assert_int_equal(dagd_store_commit(s), 0);
    }
    f->store = dagd_store_free(s);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE message LIKE 'queued %'"), 3);
}

/* PostgreSQL aborts a transaction at its first error: a batch in which a
 * write failed cannot commit, and commit says so instead of rolling back
 * in silence (SQLite would keep the batch's other writes). */
static void test_pg_failed_write_in_batch(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(test_open(f, &f->store), 0);
    struct dagd_store *s = f->store;
    assert_int_equal(dagd_store_begin(s), 0);
    create_run(s, "b1", "p", 100, 1);
    assert_int_equal(dagd_store_event_add(s, "nope", NULL, 101, "info", "log", "x", NULL), -ENOENT);
    assert_int_equal(dagd_store_commit(s), -EIO);
    fprintf(stderr, "%s\n", dagd_store_errmsg(s));
    assert_non_null(strstr(dagd_store_errmsg(s), "rolled back"));
    assert_false(dagd_store_in_batch(s));
    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs"), 0);
    /* The store goes on. */
    create_run(s, "b2", "p", 200, 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM runs"), 1);
}

/* One daemon per history: the second store's lock is refused, naming the
 * first's session, until the first goes; the lock survives a reconnect. */
static void test_pg_history_lock(void **state)
{
    struct fixture *f = *state;
    struct dagd_store *other = NULL;
    assert_int_equal(test_open(f, &f->store), 0);
    assert_int_equal(test_open(f, &other), 0);
    assert_int_equal(dagd_store_lock_history(f->store), 0);
    assert_int_equal(dagd_store_lock_history(other), -EBUSY);
    fprintf(stderr, "%s\n", dagd_store_errmsg(other));
    assert_non_null(strstr(dagd_store_errmsg(other), "Another daemon uses the run history"));
    /* The holder reconnects and holds it again. */
    pg_terminate_store_pid(f->store);
    create_run(f->store, "l1", "p", 100, 1);
    assert_int_equal(dagd_store_reconnects(f->store), 1);
    assert_int_equal(dagd_store_lock_history(other), -EBUSY);
    f->store = dagd_store_free(f->store);
    /* The server releases the lock when the closed session's backend has
     * gone, a moment after the client closed it. */
    int r = -EBUSY;
    for (int i = 0; i < 200 && r == -EBUSY; i++) {
        r = dagd_store_lock_history(other);
        if (r == -EBUSY) {
            usleep(10 * 1000);
        }
    }
    assert_int_equal(r, 0);
    dagd_store_free(other);
}

/* A password in the conninfo is refused before anything connects, and the
 * message does not repeat it. */
static void test_pg_password_refused(void **state)
{
    struct fixture *f = *state;
    char ci[700];
    snprintf(ci, sizeof(ci), "%s password=s3cr3t-pw", pg_conninfo);
    assert_int_equal(dagd_store_open_location(f->dir, ci, &f->store), -EINVAL);
    fprintf(stderr, "%s\n", dagd_store_errmsg(NULL));
    assert_null(strstr(dagd_store_errmsg(NULL), "s3cr3t-pw"));
    assert_non_null(strstr(dagd_store_errmsg(NULL), "pgpass"));
    assert_int_equal(
        dagd_store_open_location(f->dir, "postgresql://dagd:s3cr3t-pw@localhost/dagd", &f->store),
        -EINVAL);
    assert_null(strstr(dagd_store_errmsg(NULL), "s3cr3t-pw"));
    /* Not a conninfo at all. */
    assert_int_equal(dagd_store_open_location(f->dir, "/var/lib/dagd", &f->store), -EINVAL);
    /* The store's path is the conninfo without secrets. */
    assert_int_equal(test_open(f, &f->store), 0);
    assert_non_null(strstr(dagd_store_path(f->store), "dbname=dagd_store_test"));
    assert_int_equal(dagd_store_schema_version(f->store), dagd_store_schema_latest());
}

/* Tables named like ours without a dagd schema, and a newer schema, are
 * refused as state.db files are. */
static void test_pg_foreign_and_newer(void **state)
{
    struct fixture *f = *state;
    PGconn *c = pg_raw();
    pg_exec(c, "CREATE TABLE runs (x integer)");
    assert_int_equal(test_open(f, &f->store), -EBADMSG);
    fprintf(stderr, "%s\n", dagd_store_errmsg(NULL));
    assert_non_null(strstr(dagd_store_errmsg(NULL), "not a dagd state database"));
    pg_exec(c, "DROP TABLE runs");
    assert_int_equal(test_open(f, &f->store), 0);
    f->store = dagd_store_free(f->store);
    pg_exec(c, "UPDATE dagd_schema SET version = 99");
    assert_int_equal(test_open(f, &f->store), -EPROTONOSUPPORT);
    assert_non_null(strstr(dagd_store_errmsg(NULL), "newer than this dagd"));
    PQfinish(c);
}

/* No server: a clear error at once (the daemon does not start). */
static void test_pg_server_down(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        dagd_store_open_location(f->dir, "host=/nonexistent port=1 dbname=x", &f->store),
        -ECONNREFUSED);
    fprintf(stderr, "%s\n", dagd_store_errmsg(NULL));
    assert_non_null(strstr(dagd_store_errmsg(NULL), "Failed to connect to PostgreSQL"));
}

int main(void)
{
    /* Backend-independent: the same suite on SQLite and on PostgreSQL. */
    const struct CMUnitTest both[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_pg_migrations_complete),
        cmocka_unit_test_setup_teardown(test_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memo_ask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_sanitized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filehash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ticks_and_sensor_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_tables_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backfills_partitions_metrics, setup, teardown),
    };
    const struct CMUnitTest pg_only[] = {
        cmocka_unit_test_setup_teardown(test_pg_dropped_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_close_sends_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_notices_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_failed_write_in_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_history_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_docs_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_password_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_foreign_and_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_server_down, setup, teardown),
    };
    /* SQLite only: the file, its modes, WAL, corruption, migrations from v1. */
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docs_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_each_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_bad_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_killed, setup, teardown),
    };
    pg_base = getenv("DAGD_TEST_PG");
    if (pg_base && *pg_base) {
        int r = cmocka_run_group_tests_name("store on PostgreSQL", both, NULL, NULL);
        return r + cmocka_run_group_tests_name("PostgreSQL only", pg_only, NULL, NULL);
    }
    pg_base = NULL;
    int r = cmocka_run_group_tests_name("store on SQLite", both, NULL, NULL);
    return r + cmocka_run_group_tests_name("SQLite only", sqlite_only, NULL, NULL);
}
