/* Unit tests for daemon/executor.c on a real loop, store and worker: the
 * order of observer events, failure handling, cancel through the API, free
 * while steps run, and re-entrant observers. Every test ends with the
 * executor freed, every handle closed and uv_loop_close() == 0 (STYLE 27). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "executor.h"
#include "pipeline.h"
#include "plugin_host.h"
#include "store.h"
#include "util.h"

struct fixture {
    char dir[64];
    uv_loop_t loop;
    struct dagd_plugin_host *host;
    struct dagd_store *store;
    struct dagd_executor *e;
    /* What the observer saw. */
    char log[8192];
    size_t len;
    unsigned n_finished;
    enum dagd_run_status last_status;
    char last_run[33];
    /* Re-entrancy test: submit this pipeline again from RUN_FINISHED. */
    struct dagd_pipeline *again;
    unsigned n_again;
};

static void on_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct fixture *f = userdata;
    char line[256] = "";

    switch (ev->kind) {
    case DAGD_EXEC_RUN_STARTED:
        snprintf(line, sizeof(line), "run started\n");
        break;
    case DAGD_EXEC_STEP_CHANGED:
        snprintf(line, sizeof(line), "%s %s %u\n", ev->step->step,
                 dagd_step_status_to_string(ev->step->status), ev->step->attempts);
        break;
    case DAGD_EXEC_RUN_FINISHED:
        snprintf(line, sizeof(line), "run %s\n", dagd_run_status_to_string(ev->run_status));
        f->n_finished++;
        f->last_status = ev->run_status;
        memcpy(f->last_run, ev->run_id, 33);
        if (f->again && f->n_again > 0) {
            char id[33];
            struct dagd_diags d = {0};
            f->n_again--;
            assert_int_equal(dagd_executor_submit(
                                 f->e, f->again, &(struct dagd_run_options){.force = true}, id, &d),
                             0);
        }
        break;
    default:
        return;
    }
    size_t n = strlen(line);
    if (f->len + n < sizeof(f->log)) {
        memcpy(f->log + f->len, line, n + 1);
        f->len += n;
    }
}

static int setup(void **state)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    const char *build = getenv("DAGD_BUILD_ROOT") ? getenv("DAGD_BUILD_ROOT") : "build";
    _cleanup_free_ char *plugdir = dagd_xasprintf("%s/tests/plugins", build);
    char *dirs[] = {plugdir, NULL};

    strcpy(f->dir, "/tmp/dagd-test-executor-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->host = dagd_plugin_host_new(dirs);
    assert_int_equal(dagd_store_open(f->dir, &f->store), 0);
    struct dagd_executor_config cfg = {
        .loop = &f->loop,
        .store = f->store,
        .plugins = f->host,
        .max_jobs = 2,
        .state_dir = f->dir,
        .work_dir = f->dir,
        .kill_grace_usec = 200000,
    };
    assert_int_equal(dagd_executor_new(&cfg, &f->e), 0);
    assert_true(dagd_executor_observe(f->e, NULL, on_event, f) > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->e) {
        dagd_executor_free(f->e);
    }
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    dagd_pipeline_unref(f->again);
    dagd_store_free(f->store);
    dagd_plugin_host_free(f->host);
    _cleanup_free_ char *cmd = dagd_xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
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

static void submit(struct fixture *f, struct dagd_pipeline *p, char id[static 33])
{
    struct dagd_diags d = {0};
    int r = dagd_executor_submit(f->e, p, &(struct dagd_run_options){.force = true}, id, &d);
    if (r < 0) {
        dagd_diags_print(&d, stderr);
    }
    assert_int_equal(r, 0);
    dagd_diags_done(&d);
}

static void test_chain_events(void **state)
{
    struct fixture *f = *state;
    struct dagd_pipeline *p =
        load(f, "pipeline: c\n"
                "steps:\n"
                "  - {name: a, task: noop}\n"
                "  - {name: b, task: fail, needs: [a], config: {message: x}}\n"
                "  - {name: c, task: noop, needs: [b]}\n");
    char id[33];

    submit(f, p, id);
    assert_int_equal(dagd_executor_active(f->e), 1);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->n_finished, 1);
    assert_int_equal(dagd_executor_active(f->e), 0);
    assert_string_equal(f->log, "run started\n"
                                "a running 1\n"
                                "a succeeded 1\n"
                                "b running 1\n"
                                "b failed 1\n"
                                "c skipped 0\n"
                                "run failed\n");
    struct dagd_run_info run = {0};
    assert_int_equal(dagd_store_run_get(f->store, id, &run), 0);
    assert_int_equal(run.status, DAGD_RUN_FAILED);
    dagd_run_info_done(&run);
    dagd_pipeline_unref(p);
}

static void on_cancel_timer(uv_timer_t *t)
{
    struct fixture *f = t->data;
    assert_int_equal(dagd_executor_cancel(f->e, f->last_run), 0);
    assert_int_equal(dagd_executor_cancel(f->e, "nope"), -ENOENT);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
    struct fixture *f = *state;
    struct dagd_pipeline *p = load(f, "pipeline: s\n"
                                      "steps:\n"
                                      "  - {name: long, task: sleep, config: {ms: 20000}}\n"
                                      "  - {name: next, task: noop, needs: [long]}\n");
    uv_timer_t t;

    submit(f, p, f->last_run);
    uv_timer_init(&f->loop, &t);
    t.data = f;
    uv_timer_start(&t, on_cancel_timer, 100, 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->last_status, DAGD_RUN_CANCELED);
    assert_non_null(strstr(f->log, "next canceled 0\n"));
    assert_non_null(strstr(f->log, "long canceled 1\n"));
    dagd_pipeline_unref(p);
}

static void on_free_timer(uv_timer_t *t)
{
    struct fixture *f = t->data;
    dagd_executor_free(f->e);
    f->e = NULL;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_free_while_running(void **state)
{
    struct fixture *f = *state;
    struct dagd_pipeline *p = load(f, "pipeline: s\n"
                                      "steps:\n"
                                      "  - {name: one, task: sleep, config: {ms: 20000}}\n"
                                      "  - {name: two, task: sleep, config: {ms: 20000}}\n"
                                      "  - {name: three, task: noop, needs: [one]}\n");
    char id[33];
    uv_timer_t t;

    submit(f, p, id);
    uv_timer_init(&f->loop, &t);
    t.data = f;
    uv_timer_start(&t, on_free_timer, 100, 0);
    /* Returns once the executor's handles are closed, long before 20 s. */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->last_status, DAGD_RUN_CANCELED);
    struct dagd_step_info *steps = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_steps_list(f->store, id, &steps, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(steps[i].status, DAGD_STEP_CANCELED);
        dagd_step_info_done(&steps[i]);
    }
    free(steps);
    dagd_pipeline_unref(p);
}

static void on_shutdown_timer(uv_timer_t *t)
{
    struct fixture *f = t->data;
    dagd_executor_shutdown(f->e, 200000);
    uv_close((uv_handle_t *)t, NULL);
}

/* Shutdown with a grace: the pending step is canceled at once, the running
 * one when the grace is over (before, a run with a pending step counted as
 * canceling already, and its running step was never stopped). */
static void test_shutdown_grace(void **state)
{
    struct fixture *f = *state;
    struct dagd_pipeline *p = load(f, "pipeline: s\n"
                                      "steps:\n"
                                      "  - {name: long, task: sleep, config: {ms: 8000}}\n"
                                      "  - {name: next, task: noop, needs: [long]}\n");
    uv_timer_t t;
    uint64_t t0 = dagd_now_mono_usec();

    submit(f, p, f->last_run);
    uv_timer_init(&f->loop, &t);
    t.data = f;
    uv_timer_start(&t, on_shutdown_timer, 100, 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->last_status, DAGD_RUN_CANCELED);
    assert_non_null(strstr(f->log, "next canceled 0\n"));
    assert_non_null(strstr(f->log, "long canceled 1\n"));
    assert_true(dagd_now_mono_usec() - t0 < 4000000);
    dagd_pipeline_unref(p);
}

static void test_reentrant_submit(void **state)
{
    struct fixture *f = *state;
    struct dagd_pipeline *p = load(f, "pipeline: r\n"
                                      "steps:\n"
                                      "  - {name: a, task: noop}\n");
    char id[33];

    f->again = dagd_pipeline_ref(p);
    f->n_again = 3;
    submit(f, p, id);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->n_finished, 4);
    assert_int_equal(f->last_status, DAGD_RUN_SUCCEEDED);
    dagd_pipeline_unref(p);
}

static void test_parallel_limit(void **state)
{
    struct fixture *f = *state;
    /* max_jobs 2: the third independent step waits for a slot. */
    struct dagd_pipeline *p = load(f, "pipeline: par\n"
                                      "steps:\n"
                                      "  - {name: a, task: sleep, config: {ms: 100}}\n"
                                      "  - {name: b, task: sleep, config: {ms: 100}}\n"
                                      "  - {name: c, task: noop}\n");
    char id[33];

    submit(f, p, id);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->last_status, DAGD_RUN_SUCCEEDED);
    const char *a = strstr(f->log, "a running"), *b = strstr(f->log, "b running");
    const char *c = strstr(f->log, "c running");
    const char *first_done = strstr(f->log, "succeeded");
    assert_true(a && b && c && first_done);
    assert_true(a < b && b < first_done && first_done < c);
    dagd_pipeline_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentrant_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
