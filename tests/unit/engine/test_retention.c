/* Unit tests for daemon/engine/retention.c on a real store in a temporary
 * directory: the cutoff (now - older_than), batches of the asked size (0 =
 * DAGD_RETENTION_BATCH), runs still going are kept, a cutoff before the
 * epoch deletes nothing, and dagd_retention_prune runs the batches to the
 * end with the total. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "retention.h"
#include "store.h"
#include "util.h"

#define SEC 1000000ull /* usec */

struct fixture {
    char dir[64];
    struct dagd_store *s;
};

static int setup(void **state)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/dagd-test-retention-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(dagd_store_open(f->dir, &f->s), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dagd_store_free(f->s);
    _cleanup_free_ char *cmd = dagd_xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A run of one step that started at ended_s - 1 and, unless `running`,
 * ended at ended_s (seconds). */
static void add_run(struct fixture *f, unsigned n, int64_t ended_s, bool running)
{
    char id[33];
    char *steps[] = {(char *)"a", NULL};
    snprintf(id, sizeof(id), "%032x", n);
    struct dagd_run_info run = {.run_id = id, .pipeline = (char *)"p", .created_at = 1};
    assert_int_equal(dagd_store_run_create(f->s, &run, steps, NULL, 1), 0);
    assert_int_equal(
        dagd_store_run_set_status(f->s, id, DAGD_RUN_RUNNING, NULL, (ended_s - 1) * 1000), 0);
    if (!running) {
        assert_int_equal(
            dagd_store_run_set_status(f->s, id, DAGD_RUN_SUCCEEDED, NULL, ended_s * 1000), 0);
    }
}

static size_t n_runs(struct fixture *f)
{
    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_runs_list(f->s, NULL, 0, &runs, &n), 0);
    for (size_t i = 0; i < n; i++) {
        dagd_run_info_done(&runs[i]);
    }
    free(runs);
    return n;
}

static bool has_run(struct fixture *f, unsigned n)
{
    char id[33];
    struct dagd_run_info info = {0};
    snprintf(id, sizeof(id), "%032x", n);
    int r = dagd_store_run_get(f->s, id, &info);
    dagd_run_info_done(&info);
    return r >= 0;
}

/* now 3500 s, older than 1000 s: what ended before 2500 s goes. */
static void test_cutoff(void **state)
{
    struct fixture *f = *state;
    unsigned calls = 0;
    int r;

    add_run(f, 1, 1000, false);
    add_run(f, 2, 2000, false);
    add_run(f, 3, 3000, false);
    add_run(f, 4, 10, true); /* started long ago, still running */
    while ((r = dagd_retention_prune_batch(f->s, 1000 * SEC, 3500 * SEC, 1)) > 0) {
        calls++;
        assert_true(calls < 100);
    }
    assert_int_equal(r, 0);
    assert_true(calls >= 2); /* two runs, one per batch */
    assert_false(has_run(f, 1));
    assert_false(has_run(f, 2));
    assert_true(has_run(f, 3));
    assert_true(has_run(f, 4));
}

/* One batch deletes at most `batch` runs; 0 means DAGD_RETENTION_BATCH. */
static void test_batch_size(void **state)
{
    struct fixture *f = *state;
    const unsigned n = DAGD_RETENTION_BATCH + 30;

    assert_int_equal(dagd_store_begin(f->s), 0);
    for (unsigned i = 0; i < n; i++) {
        add_run(f, i + 1, 100, false);
    }
    assert_int_equal(dagd_store_commit(f->s), 0);
    assert_true(dagd_retention_prune_batch(f->s, 10 * SEC, 1000 * SEC, 7) > 0);
    assert_int_equal(n_runs(f), n - 7);
    assert_true(dagd_retention_prune_batch(f->s, 10 * SEC, 1000 * SEC, 0) > 0);
    assert_int_equal(n_runs(f), n - 7 - DAGD_RETENTION_BATCH);
    while (dagd_retention_prune_batch(f->s, 10 * SEC, 1000 * SEC, 0) > 0) {
    }
    assert_int_equal(n_runs(f), 0);
}

/* A retention longer than the time since the epoch deletes nothing. */
static void test_cutoff_before_epoch(void **state)
{
    struct fixture *f = *state;

    add_run(f, 1, 5, false);
    assert_int_equal(dagd_retention_prune_batch(f->s, 100 * SEC, 50 * SEC, 10), 0);
    assert_int_equal(dagd_retention_prune_batch(f->s, 40 * SEC, 50 * SEC, 10) > 0, 1);
    assert_false(has_run(f, 1));
}

/* All batches, with the total of deleted rows; old ticks go too (the
 * newest of each schedule is kept). */
static void test_prune_all(void **state)
{
    struct fixture *f = *state;
    uint64_t total = 0, again = 1;

    for (unsigned i = 0; i < 10; i++) {
        add_run(f, i + 1, 100 + i, false);
    }
    add_run(f, 50, 5000, false);
    for (int64_t t = 1; t <= 5; t++) {
        assert_int_equal(
            dagd_store_tick_add(f->s, "nightly", "schedule", t * 1000, NULL, "skipped", NULL), 0);
    }
    assert_int_equal(dagd_retention_prune(f->s, 1000 * SEC, 3000 * SEC, 3, &total), 0);
    /* 10 runs with a step each and their events, and 4 of 5 ticks. */
    assert_true(total >= 10 + 10 + 4);
    assert_int_equal(n_runs(f), 1);
    assert_true(has_run(f, 50));
    struct dagd_tick_info *ticks = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_ticks_list(f->s, "nightly", 0, &ticks, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ticks[0].ts, 5000);
    dagd_tick_info_done(&ticks[0]);
    free(ticks);
    assert_int_equal(dagd_retention_prune(f->s, 1000 * SEC, 3000 * SEC, 3, &again), 0);
    assert_int_equal(again, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cutoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cutoff_before_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_all, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
