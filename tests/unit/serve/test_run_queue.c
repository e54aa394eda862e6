/* Unit tests for daemon/serve/run_queue.c on a real loop, store, executor
 * and dagd-worker (the test plugins): admission (max_runs over all
 * pipelines, a pipeline's concurrency, FIFO with runs of other pipelines
 * passing a blocked one; priority, then age, within and across lanes),
 * cancel of a queued run (recorded, watchers told)
 * and of a running one, list and get of queued runs, options refused at
 * submit, the change and idle callbacks. Every test ends with the queue and
 * executor freed and uv_loop_close() == 0. */
#include "executor.h"
#include "pipeline.h"
#include "run_queue.h"
#include "serve_test.h"
#include "store.h"

#define TIMEOUT_MS 20000

struct fixture {
    char dir[64];
    uv_loop_t loop;
    struct dagd_plugin_host *host;
    struct dagd_store *store;
    struct dagd_executor *e;
    struct dagd_run_queue *q;
    unsigned n_changes;
    unsigned n_idle;
    /* What a watcher saw. */
    unsigned n_watched_finished;
    enum dagd_run_status watched_status;
};

static void on_change(void *userdata)
{
    struct fixture *f = userdata;
    f->n_changes++;
}

static struct fixture *fixture_new(unsigned max_runs)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    st_mkdtemp(f->dir, "run-queue");
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->host = st_plugins();
    assert_int_equal(dagd_store_open(f->dir, &f->store), 0);
    struct dagd_executor_config cfg = {
        .loop = &f->loop,
        .store = f->store,
        .plugins = f->host,
        .max_jobs = 8,
        .state_dir = f->dir,
        .work_dir = f->dir,
        .kill_grace_usec = 200000,
    };
    assert_int_equal(dagd_executor_new(&cfg, &f->e), 0);
    f->q = dagd_run_queue_new(f->e, f->store, f->dir, max_runs);
    dagd_run_queue_on_change(f->q, on_change, f);
    return f;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dagd_run_queue_free(f->q);
    dagd_executor_free(f->e);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    dagd_store_free(f->store);
    dagd_plugin_host_free(f->host);
    st_rmrf(f->dir);
    free(f);
    return 0;
}

static struct dagd_pipeline *load(struct fixture *f, const char *yaml)
{
    struct dagd_pipeline *p = NULL;
    struct dagd_diags d = {0};
    int r = dagd_pipeline_load_buffer("t.yaml", yaml, strlen(yaml), f->host, &p, &d);
    if (r < 0) {
        dagd_diags_print(&d, stderr);
    }
    assert_int_equal(r, 0);
    dagd_diags_done(&d);
    return p;
}

static struct dagd_pipeline *sleeper(struct fixture *f, const char *name, unsigned ms,
                                     unsigned concurrency)
{
    _cleanup_free_ char *yaml = dagd_xasprintf("pipeline: %s\n"
                                               "concurrency: %u\n"
                                               "params:\n"
                                               "  tag: none\n"
                                               "steps:\n"
                                               "  - {name: nap, task: sleep, config: {ms: %u}}\n",
                                               name, concurrency, ms);
    return load(f, yaml);
}

static void submit(struct fixture *f, struct dagd_pipeline *p, char id[static 33])
{
    struct dagd_diags d = {0};
    int r = dagd_run_queue_submit(f->q, p, &(struct dagd_run_options){.force = true}, id, &d);
    if (r < 0) {
        dagd_diags_print(&d, stderr);
    }
    assert_int_equal(r, 0);
    dagd_diags_done(&d);
}

static bool queue_empty(void *userdata)
{
    struct fixture *f = userdata;
    return dagd_run_queue_n_running(f->q) == 0 && dagd_run_queue_n_queued(f->q) == 0;
}

static struct dagd_run_info run_of(struct fixture *f, const char *id)
{
    struct dagd_run_info info = {0};
    assert_int_equal(dagd_store_run_get(f->store, id, &info), 0);
    return info;
}

/* max_runs 2: the third run waits, and starts when one of the two ends. */
static void test_max_runs(void **state)
{
    struct fixture *f = *state = fixture_new(2);
    struct dagd_pipeline *p = sleeper(f, "s", 300, 0);
    char a[33], b[33], c[33];

    assert_int_equal(dagd_run_queue_max_runs(f->q), 2);
    submit(f, p, a);
    submit(f, p, b);
    submit(f, p, c);
    assert_int_equal(dagd_run_queue_n_running(f->q), 2);
    assert_int_equal(dagd_run_queue_n_queued(f->q), 1);
    assert_false(dagd_run_queue_is_queued(f->q, a));
    assert_true(dagd_run_queue_is_active(f->q, a));
    assert_true(dagd_run_queue_is_queued(f->q, c));
    assert_true(f->n_changes >= 3); /* two started, one queued */
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);

    struct dagd_run_info ra = run_of(f, a), rb = run_of(f, b), rc = run_of(f, c);
    assert_int_equal(ra.status, DAGD_RUN_SUCCEEDED);
    assert_int_equal(rb.status, DAGD_RUN_SUCCEEDED);
    assert_int_equal(rc.status, DAGD_RUN_SUCCEEDED);
    int64_t first_end = ra.ended_at < rb.ended_at ? ra.ended_at : rb.ended_at;
    assert_true(rc.started_at >= first_end);
    dagd_run_info_done(&ra);
    dagd_run_info_done(&rb);
    dagd_run_info_done(&rc);
    dagd_pipeline_unref(p);
}

/* concurrency 1: the second run of `solo` waits for the first, while a
 * run of another pipeline submitted behind it starts at once: a slot is
 * free, and the queued run waits for its pipeline, not for a slot. */
static void test_pipeline_concurrency(void **state)
{
    struct fixture *f = *state = fixture_new(4);
    struct dagd_pipeline *solo = sleeper(f, "solo", 1000, 1);
    struct dagd_pipeline *other = sleeper(f, "other", 10, 0);
    char s1[33], s2[33], x[33], o[33];

    submit(f, solo, s1);
    submit(f, other, x);
    submit(f, solo, s2);
    submit(f, other, o);
    assert_false(dagd_run_queue_is_queued(f->q, s1));
    assert_false(dagd_run_queue_is_queued(f->q, x));
    assert_true(dagd_run_queue_is_queued(f->q, s2));
    /* Behind a queued run, a new one that can start starts (it used to
     * queue until the next run's end). */
    assert_false(dagd_run_queue_is_queued(f->q, o));
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);

    struct dagd_run_info r1 = run_of(f, s1), r2 = run_of(f, s2), ro = run_of(f, o);
    assert_int_equal(r2.status, DAGD_RUN_SUCCEEDED);
    assert_int_equal(ro.status, DAGD_RUN_SUCCEEDED);
    assert_true(r2.started_at >= r1.ended_at);
    assert_true(ro.started_at < r1.ended_at); /* passed the blocked s2 */
    dagd_run_info_done(&r1);
    dagd_run_info_done(&r2);
    dagd_run_info_done(&ro);
    dagd_pipeline_unref(solo);
    dagd_pipeline_unref(other);
}

/* Lanes: 30 adopted runs of a backfill and a manual run submitted after
 * them take turns, so the manual run starts within two starts of the slot
 * freeing, not after the whole backfill. The manual run is a queued row
 * (with its options) before it starts; a shutdown keeps queued rows. */
static void test_lanes_fair(void **state)
{
    struct fixture *f = *state = fixture_new(1);
    struct dagd_pipeline *p = sleeper(f, "s", 30, 0);
    char blocker[33], manual[33], ids[30][33];
    char *steps[] = {(char *)"nap"}, *tasks[] = {(char *)"sleep"};
    char *overrides[] = {(char *)"tag=m"};

    submit(f, p, blocker);
    for (size_t i = 0; i < 30; i++) {
        dagd_run_id_new(ids[i]);
        struct dagd_run_info info = {
            .run_id = ids[i],
            .pipeline = "s",
            .trigger = "backfill",
            .backfill_id = "bf1",
        };
        assert_int_equal(dagd_store_run_create(f->store, &info, steps, tasks, 1), 0);
        assert_int_equal(dagd_run_queue_adopt(f->q, p, &info), 0);
    }
    struct dagd_diags d = {0};
    struct dagd_run_options opts = {.param_overrides = overrides, .n_param_overrides = 1};
    assert_int_equal(dagd_run_queue_submit(f->q, p, &opts, manual, &d), 0);
    struct dagd_run_info m = run_of(f, manual);
    assert_int_equal(m.status, DAGD_RUN_QUEUED);
    assert_string_equal(m.queue_options, "{\"params\":[\"tag=m\"]}");
    dagd_run_info_done(&m);
    dagd_run_queue_kick(f->q);
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);

    m = run_of(f, manual);
    assert_int_equal(m.status, DAGD_RUN_SUCCEEDED);
    /* 1: the blocker; 2: the backfill's oldest run (its lane is older);
     * 3: the manual run's lane, never served. */
    assert_int_equal(m.start_seq, 3);
    dagd_run_info_done(&m);
    struct dagd_run_info last = run_of(f, ids[29]);
    assert_int_equal(last.start_seq, 32);
    dagd_run_info_done(&last);

    /* A stop keeps what waits. */
    char again[33], waiting[33];
    submit(f, p, again);
    submit(f, p, waiting);
    dagd_run_queue_cancel_queued(f->q);
    struct dagd_run_info w = run_of(f, waiting);
    assert_int_equal(w.status, DAGD_RUN_QUEUED);
    dagd_run_info_done(&w);
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);
    dagd_pipeline_unref(p);
}

static void submit_prio(struct fixture *f, struct dagd_pipeline *p, int priority,
                        char id[static 33])
{
    struct dagd_diags d = {0};
    struct dagd_run_options opts = {.force = true, .priority = priority, .priority_set = true};
    assert_int_equal(dagd_run_queue_submit(f->q, p, &opts, id, &d), 0);
    dagd_diags_done(&d);
}

static int64_t start_seq_of(struct fixture *f, const char *id)
{
    struct dagd_run_info info = run_of(f, id);
    int64_t seq = info.start_seq;
    assert_int_equal(info.status, DAGD_RUN_SUCCEEDED);
    dagd_run_info_done(&info);
    return seq;
}

/* Priority, then age: within a lane a newer run of higher priority starts
 * before older ones of lower priority, and equal priorities keep their age;
 * across lanes the head with the highest priority goes first (a backfill
 * of priority -1, queued first, waits for a manual run of priority 0). */
static void test_priority_then_age(void **state)
{
    struct fixture *f = *state = fixture_new(1);
    struct dagd_pipeline *p = sleeper(f, "s", 20, 0);
    char blocker[33], low1[33], low2[33], high[33], manual[33], bf[3][33];
    char *steps[] = {(char *)"nap"}, *tasks[] = {(char *)"sleep"};

    submit(f, p, blocker);
    for (size_t i = 0; i < 3; i++) {
        dagd_run_id_new(bf[i]);
        struct dagd_run_info info = {
            .run_id = bf[i],
            .pipeline = "s",
            .trigger = "backfill",
            .backfill_id = "bf-low",
            .priority = -1,
        };
        assert_int_equal(dagd_store_run_create(f->store, &info, steps, tasks, 1), 0);
        assert_int_equal(dagd_run_queue_adopt(f->q, p, &info), 0);
    }
    submit_prio(f, p, 0, low1);
    submit_prio(f, p, 0, low2);
    submit_prio(f, p, 7, high);
    submit_prio(f, p, 0, manual);
    dagd_run_queue_kick(f->q);
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);

    assert_int_equal(start_seq_of(f, blocker), 1);
    assert_int_equal(start_seq_of(f, high), 2);
    assert_int_equal(start_seq_of(f, low1), 3);
    assert_int_equal(start_seq_of(f, low2), 4);
    assert_int_equal(start_seq_of(f, manual), 5);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(start_seq_of(f, bf[i]), 6 + (int64_t)i);
    }
    dagd_pipeline_unref(p);
}

static void on_watch(const struct dagd_exec_event *ev, void *userdata)
{
    struct fixture *f = userdata;
    if (ev->kind == DAGD_EXEC_RUN_FINISHED) {
        f->n_watched_finished++;
        f->watched_status = ev->run_status;
    }
}

/* A queued run is canceled at once (recorded, watchers told); a running one
 * through the executor. */
static void test_cancel(void **state)
{
    struct fixture *f = *state = fixture_new(1);
    struct dagd_pipeline *p = sleeper(f, "s", 20000, 0);
    char running[33], queued[33];

    submit(f, p, running);
    submit(f, p, queued);
    unsigned changes = f->n_changes;
    int w = dagd_run_queue_watch(f->q, queued, on_watch, f);
    assert_true(w > 0);
    assert_int_equal(dagd_run_queue_cancel(f->q, queued), 1);
    assert_int_equal(f->n_watched_finished, 1);
    assert_int_equal(f->watched_status, DAGD_RUN_CANCELED);
    assert_true(f->n_changes > changes);
    assert_int_equal(dagd_run_queue_n_queued(f->q), 0);
    struct dagd_run_info info = run_of(f, queued);
    assert_int_equal(info.status, DAGD_RUN_CANCELED);
    assert_string_equal(info.error, "canceled while queued");
    dagd_run_info_done(&info);
    dagd_run_queue_unwatch(f->q, w);

    assert_int_equal(dagd_run_queue_cancel(f->q, queued), -ENOENT);
    assert_int_equal(dagd_run_queue_cancel(f->q, "0123456789abcdef0123456789abcdef"), -ENOENT);
    assert_int_equal(dagd_run_queue_cancel(f->q, running), 0);
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);
    info = run_of(f, running);
    assert_int_equal(info.status, DAGD_RUN_CANCELED);
    dagd_run_info_done(&info);
    dagd_pipeline_unref(p);
}

static void on_idle(void *userdata)
{
    struct fixture *f = userdata;
    f->n_idle++;
}

/* list: queued runs only, newest first, by prefix; get: a queued run's
 * record and steps. cancel_queued and on_idle as at shutdown. */
static void test_list_get(void **state)
{
    struct fixture *f = *state = fixture_new(1);
    struct dagd_pipeline *p = sleeper(f, "s", 20000, 0);
    char running[33], q1[33], q2[33];
    char *overrides[] = {(char *)"tag=blue", NULL};
    struct dagd_diags d = {0};

    submit(f, p, running);
    submit(f, p, q1);
    struct dagd_run_options opts = {
        .trigger = "schedule",
        .param_overrides = overrides,
        .n_param_overrides = 1,
        .parent_run_id = running,
    };
    assert_int_equal(dagd_run_queue_submit(f->q, p, &opts, q2, &d), 0);

    char **ids = NULL;
    size_t n = dagd_run_queue_list(f->q, NULL, &ids);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], q2);
    assert_string_equal(ids[1], q1);
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
    }
    free(ids);
    char prefix[31]; /* ids start with the time: q1 and q2 share a short prefix */
    snprintf(prefix, sizeof(prefix), "%.30s", q1);
    n = dagd_run_queue_list(f->q, prefix, &ids);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], q1);
    free(ids[0]);
    free(ids);

    struct dagd_run_info info = {0};
    char **steps = NULL;
    size_t n_steps = 0;
    assert_int_equal(dagd_run_queue_get(f->q, q2, &info, &steps, &n_steps), 0);
    assert_int_equal(info.status, DAGD_RUN_QUEUED);
    assert_string_equal(info.pipeline, "s");
    assert_string_equal(info.trigger, "schedule");
    assert_string_equal(info.parent_run_id, running);
    assert_non_null(strstr(info.params_json, "\"blue\""));
    assert_int_equal(n_steps, 1);
    assert_string_equal(steps[0], "nap");
    free(steps[0]);
    free(steps);
    dagd_run_info_done(&info);
    assert_int_equal(dagd_run_queue_get(f->q, running, &info, NULL, NULL), -ENOENT);

    dagd_run_queue_on_idle(f->q, on_idle, f);
    assert_int_equal(f->n_idle, 0);
    dagd_run_queue_cancel_queued(f->q);
    assert_int_equal(dagd_run_queue_n_queued(f->q), 0);
    assert_int_equal(dagd_run_queue_cancel(f->q, running), 0);
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);
    assert_int_equal(f->n_idle, 1);
    dagd_run_queue_on_idle(f->q, on_idle, f); /* idle already: at once */
    assert_int_equal(f->n_idle, 2);
    dagd_pipeline_unref(p);
}

/* Options that do not fit the pipeline are refused at submit, queued or
 * not: -EINVAL with the reason, nothing recorded, nothing changed. */
static void test_bad_options(void **state)
{
    struct fixture *f = *state = fixture_new(1);
    struct dagd_pipeline *p = sleeper(f, "s", 20000, 0);
    char running[33], id[33];
    struct dagd_diags d = {0};
    char *bad_param[] = {(char *)"nosuch=1", NULL};

    for (int i = 0; i < 2; i++) { /* i = 1: with a run ahead, so it would queue */
        assert_int_equal(
            dagd_run_queue_submit(f->q, p, &(struct dagd_run_options){.from_step = "nope"}, id, &d),
            -EINVAL);
        assert_true(d.n > 0);
        assert_non_null(strstr(d.items[0].message, "nope"));
        dagd_diags_done(&d);
        assert_int_equal(dagd_run_queue_submit(f->q, p,
                                               &(struct dagd_run_options){
                                                   .param_overrides = bad_param,
                                                   .n_param_overrides = 1,
                                               },
                                               id, &d),
                         -EINVAL);
        assert_true(d.n > 0);
        dagd_diags_done(&d);
        if (i == 0) {
            assert_int_equal(f->n_changes, 0);
            struct dagd_run_info *runs = NULL;
            size_t n = 9;
            assert_int_equal(dagd_store_runs_list(f->store, NULL, 0, &runs, &n), 0);
            assert_int_equal(n, 0);
            submit(f, p, running);
        }
    }
    assert_int_equal(dagd_run_queue_n_queued(f->q), 0);
    assert_int_equal(dagd_run_queue_cancel(f->q, running), 0);
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);
    dagd_pipeline_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_max_runs, teardown),
        cmocka_unit_test_teardown(test_pipeline_concurrency, teardown),
        cmocka_unit_test_teardown(test_lanes_fair, teardown),
        cmocka_unit_test_teardown(test_priority_then_age, teardown),
        cmocka_unit_test_teardown(test_cancel, teardown),
        cmocka_unit_test_teardown(test_list_get, teardown),
        cmocka_unit_test_teardown(test_bad_options, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
