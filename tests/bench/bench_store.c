/* Benchmark of the state store's write path (not a pass/fail test): the
 * one-shot runner writes a few rows per step, so a 1000-step chain must not
 * be bound by fsyncs. Prints the time of 1000 dagd_store_step_update() calls
 * (each its own transaction, then batched in one), a 1000-step run as the
 * executor writes it (running, 3 log events, succeeded per step), and the
 * memoization lookup, with the same-run floor of an empty SQLite
 * transaction as the peer.
 *
 * Usage: bench_store [DIR] (default: a temporary directory, removed after). */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define N 1000

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void check(struct dagd_store *s, int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, strerror(-r), dagd_store_errmsg(s));
        exit(1);
    }
}

static void make_run(struct dagd_store *s, const char *run_id, char **names, char **tasks)
{
    struct dagd_run_info run = {.run_id = (char *)run_id, .pipeline = "chain", .trigger = "cli"};
    check(s, dagd_store_run_create(s, &run, names, tasks, N), "run_create");
}

static void report(const char *what, int64_t usec, int64_t floor_usec)
{
    printf("%-52s %8.2f ms  %6.2f us/call", what, usec / 1000.0, (double)usec / N);
    if (floor_usec > 0) {
        printf("  (%.2f x empty-txn floor)", (double)usec / (double)floor_usec);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/dagd-bench-store-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmp);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    struct dagd_store *s = NULL;
    int r = dagd_store_open(dir, &s);
    if (r < 0) {
        fprintf(stderr, "open: %s\n", dagd_store_errmsg(NULL));
        return 1;
    }

    char *names[N], *tasks[N];
    for (int i = 0; i < N; i++) {
        names[i] = malloc(16);
        snprintf(names[i], 16, "step%04d", i);
        tasks[i] = "noop";
    }

    /* Floor: 1000 empty write transactions on a raw connection with the same
     * settings (WAL, synchronous=NORMAL). */
    char path[512];
    snprintf(path, sizeof(path), "%s/floor.db", dir);
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t (x)", NULL,
                 NULL, NULL);
    sqlite3_stmt *ins = NULL;
    sqlite3_prepare_v2(db, "INSERT INTO t VALUES (1)", -1, &ins, NULL);
    int64_t t0 = now_usec();
    for (int i = 0; i < N; i++) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    int64_t floor_usec = now_usec() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    report("floor: 1000 one-row transactions (raw SQLite)", floor_usec, 0);

    /* 1000 step_update calls, each its own transaction (row + event). */
    make_run(s, "r1", names, tasks);
    t0 = now_usec();
    for (int i = 0; i < N; i++) {
        struct dagd_step_info st = {.run_id = "r1",
                                    .step = names[i],
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = 1,
                                    .started_at = 1,
                                    .exit_code = -1};
        check(s, dagd_store_step_update(s, &st, 1), "step_update");
    }
    report("1000 step_update, one transaction each", now_usec() - t0, floor_usec);

    /* The same, batched in one transaction. */
    make_run(s, "r2", names, tasks);
    t0 = now_usec();
    check(s, dagd_store_begin(s), "begin");
    for (int i = 0; i < N; i++) {
        struct dagd_step_info st = {.run_id = "r2",
                                    .step = names[i],
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = 1,
                                    .started_at = 1,
                                    .exit_code = -1};
        check(s, dagd_store_step_update(s, &st, 1), "step_update");
    }
    check(s, dagd_store_commit(s), "commit");
    report("1000 step_update, batched in one transaction", now_usec() - t0, floor_usec);

    /* A 1000-step chain as the runner writes it: per step a memo lookup,
     * running, 3 log lines, succeeded (about 10 rows), one commit per change. */
    t0 = now_usec();
    make_run(s, "r3", names, tasks);
    check(s, dagd_store_run_set_status(s, "r3", DAGD_RUN_RUNNING, NULL, 1), "run_set_status");
    for (int i = 0; i < N; i++) {
        struct dagd_step_info memo = {0};
        r = dagd_store_step_last_success(s, "chain", names[i], &memo);
        if (r != -ENOENT) {
            check(s, r, "last_success");
            dagd_step_info_done(&memo);
        }
        struct dagd_step_info st = {.run_id = "r3",
                                    .step = names[i],
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = 1,
                                    .started_at = 10,
                                    .exit_code = -1};
        check(s, dagd_store_step_update(s, &st, 10), "step_update");
        for (int k = 0; k < 3; k++) {
            check(s, dagd_store_event_add(s, "r3", names[i], 11, "info", "log", "a log line", NULL),
                  "event_add");
        }
        st.status = DAGD_STEP_SUCCEEDED;
        st.ended_at = 12;
        st.exit_code = 0;
        st.fingerprint = "0123456789abcdef0123456789abcdef";
        check(s, dagd_store_step_update(s, &st, 12), "step_update");
    }
    check(s, dagd_store_run_set_status(s, "r3", DAGD_RUN_SUCCEEDED, NULL, 13), "run_set_status");
    report("1000-step chain (memo lookup, running, 3 logs, done)", now_usec() - t0, floor_usec);

    /* The same chain with one transaction per step (what batching per
     * event-loop iteration gives when a no-op step starts and ends in one). */
    t0 = now_usec();
    make_run(s, "r4", names, tasks);
    for (int i = 0; i < N; i++) {
        check(s, dagd_store_begin(s), "begin");
        struct dagd_step_info st = {.run_id = "r4",
                                    .step = names[i],
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = 1,
                                    .started_at = 10,
                                    .exit_code = -1};
        check(s, dagd_store_step_update(s, &st, 10), "step_update");
        for (int k = 0; k < 3; k++) {
            check(s, dagd_store_event_add(s, "r4", names[i], 11, "info", "log", "a log line", NULL),
                  "event_add");
        }
        st.status = DAGD_STEP_SUCCEEDED;
        st.ended_at = 12;
        st.exit_code = 0;
        check(s, dagd_store_step_update(s, &st, 12), "step_update");
        check(s, dagd_store_commit(s), "commit");
    }
    report("1000-step chain, one batch per step", now_usec() - t0, floor_usec);

    /* Memoization lookups once history exists. */
    t0 = now_usec();
    for (int i = 0; i < N; i++) {
        struct dagd_step_info memo = {0};
        check(s, dagd_store_step_last_success(s, "chain", names[i], &memo), "last_success");
        dagd_step_info_done(&memo);
    }
    report("1000 step_last_success (hits)", now_usec() - t0, 0);

    /* Crash recovery: 1000 orphaned runs of 10 steps (DESIGN 5: within 1 s). */
    check(s, dagd_store_begin(s), "begin");
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "orphan%04d", i);
        struct dagd_run_info run = {.run_id = id, .pipeline = "chain", .trigger = "cli"};
        check(s, dagd_store_run_create(s, &run, names, tasks, 10), "run_create");
        check(s, dagd_store_run_set_status(s, id, DAGD_RUN_RUNNING, NULL, 1), "run_set_status");
        struct dagd_step_info st = {.run_id = id,
                                    .step = names[0],
                                    .status = DAGD_STEP_RUNNING,
                                    .attempts = 1,
                                    .started_at = 1,
                                    .exit_code = -1};
        check(s, dagd_store_step_update(s, &st, 1), "step_update");
    }
    check(s, dagd_store_commit(s), "commit");
    t0 = now_usec();
    r = dagd_store_fail_orphans(s, "dagd restarted", 2);
    check(s, r, "fail_orphans");
    report("fail_orphans: 1000 runs x 10 steps", now_usec() - t0, 0);

    /* Retention: everything so far (about 1000 runs, 16000 steps, 20000
     * events) in batches of 100 runs, as the daemon's idle handle does. */
    int calls = 0;
    int64_t worst = 0;
    t0 = now_usec();
    for (;;) {
        int64_t c0 = now_usec();
        r = dagd_store_prune(s, INT64_MAX, 100);
        check(s, r, "prune");
        if (now_usec() - c0 > worst) {
            worst = now_usec() - c0;
        }
        if (r == 0) {
            break;
        }
        calls++;
    }
    printf("%-52s %8.2f ms  %d calls, worst call %.2f ms\n", "prune all, 100 runs per call",
           (now_usec() - t0) / 1000.0, calls, worst / 1000.0);

    dagd_store_free(s);
    for (int i = 0; i < N; i++) {
        free(names[i]);
    }
    if (argc <= 1) {
        (void)nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}
