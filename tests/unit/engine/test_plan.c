/* Unit tests for daemon/plan.c: verdicts and reasons over a real store and
 * the `copy` test plugin, with successes recorded the way the executor
 * records them (fingerprint + manifest on the succeeded step row). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "plan.h"
#include "plugin_host.h"
#include "store.h"
#include "util.h"

static const char yaml[] = "pipeline: memo\n"
                           "steps:\n"
                           "  - name: a\n"
                           "    task: copy\n"
                           "    config: {from: [in_a.txt], to: mid_a.txt}\n"
                           "  - name: b\n"
                           "    task: copy\n"
                           "    config: {from: [in_b.txt], to: mid_b.txt}\n"
                           "  - name: c\n"
                           "    task: copy\n"
                           "    needs: [a, b]\n"
                           "    config: {from: [mid_a.txt, mid_b.txt], to: out_c.txt}\n"
                           "  - name: d\n"
                           "    task: copy\n"
                           "    needs: [c]\n"
                           "    config: {from: [out_c.txt], to: out_d.txt}\n";

struct fixture {
    char dir[64];
    int old_cwd;
    struct dagd_plugin_host *host;
    struct dagd_pipeline *p;
    struct dagd_store *store;
    struct dagd_params params;
    unsigned n_runs;
};

static void write_file(const char *path, const char *content, time_t mtime)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_true(fputs(content, f) >= 0);
    assert_int_equal(fclose(f), 0);
    if (mtime) {
        struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
}

static int setup(void **state)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    struct dagd_diags diags = {0};
    struct dagd_params builtins = {0};
    _cleanup_free_ char *plugdir = NULL;
    char *dirs[2] = {NULL, NULL};
    time_t old = time(NULL) - 3600;

    memcpy(f->dir, "/tmp/dagd-test-plan-XXXXXX", sizeof("/tmp/dagd-test-plan-XXXXXX"));
    assert_non_null(mkdtemp(f->dir));
    f->old_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(chdir(f->dir), 0);
    write_file("in_a.txt", "alpha\n", old);
    write_file("in_b.txt", "beta\n", old);
    write_file("mid_a.txt", "alpha\n", old);
    write_file("mid_b.txt", "beta\n", old);
    write_file("out_c.txt", "alpha\nbeta\n", old);
    write_file("out_d.txt", "alpha\nbeta\n", old);

    plugdir = dagd_xasprintf("%s/tests/plugins",
                             getenv("DAGD_BUILD_ROOT") ? getenv("DAGD_BUILD_ROOT") : "build");
    dirs[0] = plugdir;
    f->host = dagd_plugin_host_new(dirs);
    if (dagd_pipeline_load_buffer("memo.yaml", yaml, sizeof(yaml) - 1, f->host, &f->p, &diags) <
        0) {
        dagd_diags_print(&diags, stderr);
        fail_msg("pipeline does not load");
    }
    dagd_pipeline_builtins(f->p, f->dir, "run1", NULL, &builtins);
    assert_int_equal(dagd_pipeline_resolve_params(f->p, NULL, 0, &builtins, &f->params, &diags), 0);
    dagd_params_done(&builtins);
    dagd_diags_done(&diags);
    assert_int_equal(dagd_store_open(f->dir, &f->store), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *cmd = dagd_xasprintf("rm -rf '%s'", f->dir);

    dagd_params_done(&f->params);
    (void)dagd_store_free(f->store);
    (void)dagd_pipeline_unref(f->p);
    (void)dagd_plugin_host_free(f->host);
    assert_int_equal(fchdir(f->old_cwd), 0);
    (void)close(f->old_cwd);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct dagd_plan *compute(struct fixture *f, bool force)
{
    struct dagd_plan *plan = NULL;
    struct dagd_plan_options o = {.force = force};
    assert_int_equal(dagd_plan_compute(f->p, f->store, f->host, &f->params, &o, &plan), 0);
    assert_int_equal(plan->n_steps, 4);
    return plan;
}

static const struct dagd_plan_step *by_name(const struct dagd_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->n_steps; i++) {
        if (streq(plan->steps[i].name, name)) {
            return &plan->steps[i];
        }
    }
    fail_msg("no step %s", name);
    return NULL;
}

static void expect(const struct dagd_plan *plan, const char *name, bool run, const char *reason)
{
    const struct dagd_plan_step *s = by_name(plan, name);
    if (s->run != run || !streq(s->reason, reason)) {
        fail_msg("step %s: %s '%s', wanted %s '%s'", name, s->run ? "run" : "skip", s->reason,
                 run ? "run" : "skip", reason);
    }
}

/* Record a run in which the steps the plan runs succeed with their
 * fingerprints, as the executor does. */
static void record(struct fixture *f, const struct dagd_plan *plan)
{
    char run_id[33];
    char *names[4], *tasks[4];
    int64_t now = dagd_usec_to_msec(dagd_now_wall_usec());

    snprintf(run_id, sizeof(run_id), "%032u", ++f->n_runs);
    for (size_t i = 0; i < 4; i++) {
        names[i] = (char *)plan->steps[i].name;
        tasks[i] = f->p->steps[i].task;
    }
    struct dagd_run_info run = {.run_id = run_id, .pipeline = "memo"};
    assert_int_equal(dagd_store_run_create(f->store, &run, names, tasks, 4), 0);
    for (size_t i = 0; i < 4; i++) {
        const struct dagd_plan_step *s = &plan->steps[i];
        struct dagd_step_info st = {
            .run_id = run_id,
            .step = (char *)s->name,
            .status = s->run ? DAGD_STEP_SUCCEEDED : DAGD_STEP_SKIPPED,
            .skip_reason = s->run ? NULL : "memoized",
            .attempts = s->run,
            .started_at = now,
            .ended_at = now,
            .exit_code = -1,
            .fingerprint = (char *)s->fingerprint,
            .manifest = s->run ? s->manifest : NULL,
        };
        assert_int_equal(dagd_store_step_update(f->store, &st, now), 0);
    }
    assert_int_equal(dagd_store_run_set_status(f->store, run_id, DAGD_RUN_SUCCEEDED, NULL, now), 0);
}

static void test_plan(void **state)
{
    struct fixture *f = *state;
    struct dagd_plan *plan;
    time_t old = time(NULL) - 3600;

    plan = compute(f, false);
    expect(plan, "a", true, "never succeeded");
    expect(plan, "d", true, "never succeeded");
    assert_int_equal(plan->n_run, 4);
    assert_int_equal(by_name(plan, "a")->n_inputs, 1);
    assert_string_equal(by_name(plan, "c")->outputs[0], "out_c.txt");
    record(f, plan);
    plan = dagd_plan_free(plan);

    /* Nothing changed: all up to date, every input hash from the cache. */
    plan = compute(f, false);
    for (const char *const *s = (const char *const[]){"a", "b", "c", "d", NULL}; *s; s++) {
        expect(plan, *s, false, "up to date");
    }
    assert_int_equal(plan->n_run, 0);
    assert_int_equal(plan->cache_misses, 0);
    assert_int_equal(plan->cache_hits, 5);
    plan = dagd_plan_free(plan);

    /* --force. */
    plan = compute(f, true);
    expect(plan, "b", true, "forced");
    assert_int_equal(plan->n_run, 4);
    plan = dagd_plan_free(plan);

    /* Touch: a cache miss, the same hash, nothing runs. */
    struct timespec ts[2] = {{old + 5, 0}, {old + 5, 0}};
    assert_int_equal(utimensat(AT_FDCWD, "in_b.txt", ts, 0), 0);
    plan = compute(f, false);
    assert_int_equal(plan->n_run, 0);
    assert_int_equal(plan->cache_misses, 1);
    plan = dagd_plan_free(plan);

    /* One input changes. */
    write_file("in_b.txt", "beta 2\n", old + 10);
    plan = compute(f, false);
    expect(plan, "a", false, "up to date");
    expect(plan, "b", true, "input in_b.txt changed");
    expect(plan, "c", true, "upstream b will run");
    expect(plan, "d", true, "upstream c will run");
    record(f, plan);
    plan = dagd_plan_free(plan);

    /* A missing output. */
    assert_int_equal(unlink("out_c.txt"), 0);
    plan = compute(f, false);
    expect(plan, "b", false, "up to date");
    expect(plan, "c", true, "output out_c.txt missing");
    expect(plan, "d", true, "upstream c will run");
    plan = dagd_plan_free(plan);

    /* A missing input. */
    assert_int_equal(rename("in_a.txt", "in_a.old"), 0);
    plan = compute(f, false);
    expect(plan, "a", true, "input in_a.txt missing");
    plan = dagd_plan_free(plan);
    assert_int_equal(rename("in_a.old", "in_a.txt"), 0);

    /* JSON for the daemon. */
    plan = compute(f, false);
    cJSON *j = dagd_plan_to_json(plan);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "steps")), 4);
    assert_int_equal(cJSON_GetObjectItem(j, "run")->valueint, 2);
    cJSON_Delete(j);
    plan = dagd_plan_free(plan);
}

/* The per-run ctx the executor uses: verdicts as steps come up, and a step
 * marked to run forces its downstream. */
static void test_ctx(void **state)
{
    struct fixture *f = *state;
    struct dagd_plan *plan = compute(f, false);
    record(f, plan);
    plan = dagd_plan_free(plan);

    struct dagd_plan_ctx *ctx = dagd_plan_ctx_new(f->p, f->store, f->host, &f->params, NULL);
    const struct dagd_plan_step *a = dagd_plan_step_eval(ctx, 0);
    assert_false(a->run);
    assert_string_equal(a->reason, "up to date");
    assert_true(dagd_plan_step_eval(ctx, 0) == a);
    dagd_plan_step_mark_run(ctx, 1, "retry");
    const struct dagd_plan_step *c = dagd_plan_step_eval(ctx, 2);
    assert_true(c->run);
    assert_string_equal(c->reason, "upstream b will run");
    ctx = dagd_plan_ctx_free(ctx);
    assert_null(ctx);
}

/* The executor's prefetch: every step's last success asked at run start,
 * and a success of another run after that noted over it. Without the
 * note, b's step a below would compare with the success before that run
 * and be skipped, while out of date (another run rewrote its output). */
static void test_ctx_prefetch_noted(void **state)
{
    struct fixture *f = *state;
    time_t old = time(NULL) - 3600;
    struct dagd_plan *plan = compute(f, false);
    record(f, plan); /* a succeeded with in_a.txt as it is (v1) */
    plan = dagd_plan_free(plan);

    struct dagd_plan_ctx *b = dagd_plan_ctx_new(f->p, f->store, f->host, &f->params, NULL);
    dagd_plan_ctx_prefetch(b);
    assert_true(dagd_plan_ctx_ready(b));

    /* Another run: in_a.txt changed (v2), its a runs and succeeds. */
    write_file("in_a.txt", "alpha 2\n", old + 20);
    struct dagd_plan_ctx *other = dagd_plan_ctx_new(f->p, f->store, f->host, &f->params, NULL);
    dagd_plan_ctx_prefetch(other);
    const struct dagd_plan_step *oa = dagd_plan_step_eval(other, 0);
    assert_true(oa->run);
    struct dagd_step_info done = {.run_id = "00000000000000000000000000000077",
                                  .step = "a",
                                  .fingerprint = (char *)oa->fingerprint,
                                  .manifest = oa->manifest};
    dagd_plan_ctx_note_success(b, other, &done);
    dagd_plan_ctx_note_success(other, other, &done); /* its own: ignored */

    /* in_a.txt back as it was: b's fingerprint is the first success's. */
    write_file("in_a.txt", "alpha\n", old + 30);
    const struct dagd_plan_step *ba = dagd_plan_step_eval(b, 0);
    assert_true(ba->run);
    assert_string_equal(ba->reason, "input in_a.txt changed");
    assert_string_equal(ba->last_run_id, done.run_id);
    /* A step nobody noted keeps the prefetched answer. */
    const struct dagd_plan_step *bb = dagd_plan_step_eval(b, 1);
    assert_false(bb->run);
    assert_string_equal(bb->last_run_id, "00000000000000000000000000000001");
    other = dagd_plan_ctx_free(other);
    b = dagd_plan_ctx_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_prefetch_noted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
