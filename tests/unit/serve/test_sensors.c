/* Unit tests for daemon/serve/sensors.c: ${sensor.*} substitution, which
 * must leave every other reference to the run's own expansion and keep file
 * names with '$' or "${" in them literal through it; and sensors on a real
 * loop, store, registry and directory (inotify), through their trigger host
 * (trigger.h) with a submit that records what it is asked: the scan when a
 * sensor is armed, a file moved in, a file that does not match, each
 * version of a file claimed once (also by a new sensor set, as after a
 * restart), ticks, and a refused submit recorded `failed`. */
#include "pipeline.h"
#include "registry.h"
#include "sensors.h"
#include "serve_test.h"
#include "store.h"

static void check_subst(const char *in, const char *want)
{
    _cleanup_free_ char *got = dagd_sensor_subst(in, "/in", "/in/a.json", "a.json");
    assert_string_equal(got, want);
}

static void test_subst(void **state)
{
    check_subst("", "");
    check_subst("plain", "plain");
    check_subst("${sensor.path}", "/in/a.json");
    check_subst("${sensor.dir}/x:${sensor.name}", "/in/x:a.json");
    check_subst("${data_dir}/${sensor.name}", "${data_dir}/a.json");
    check_subst("$${sensor.path}", "$${sensor.path}");
    check_subst("$${x} ${sensor.name} $5 $", "$${x} a.json $5 $");
    check_subst("${sensor_file}", "/in/a.json");
    check_subst("${sensor.nam}", "${sensor.nam}");
    check_subst("${sensor.path", "${sensor.path");
}

/* Names with '$' survive the run's expansion unchanged. */
static void test_escaped_values(void **state)
{
    static const char *const names[] = {"a${b}.json", "x$", "$${y}", "$", "plain"};
    struct dagd_params ps = {0};
    dagd_params_set(&ps, "data_dir", "D");

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        _cleanup_free_ char *path = dagd_xasprintf("/in/%s", names[i]);
        _cleanup_free_ char *s = dagd_sensor_subst("${sensor.name}{z}|${sensor.path}|${data_dir}",
                                                   "/in", path, names[i]);
        _cleanup_free_ char *out = NULL;
        _cleanup_free_ char *want = dagd_xasprintf("%s{z}|%s|D", names[i], path);
        assert_int_equal(dagd_params_expand(&ps, s, &out, NULL), 0);
        assert_string_equal(out, want);
    }
    dagd_params_done(&ps);
}

/* ---- sensors on a loop ---- */

struct fixture {
    char dir[64], pipelines[96], in[96];
    uv_loop_t loop;
    struct dagd_plugin_host *host;
    struct dagd_store *store;
    struct dagd_registry *reg;
    struct dagd_sensors *s;
    struct dagd_trigger_host th;
    unsigned n_submits;
    int refuse;
    char last[512]; /* "trigger|overrides;..." of the last submit */
};

static int record_submit(void *userdata, struct dagd_pipeline *p,
                         const struct dagd_run_options *opts, char ret_run_id[static 33],
                         struct dagd_diags *reterr)
{
    struct fixture *f = userdata;
    f->n_submits++;
    snprintf(f->last, sizeof(f->last), "%s|", opts->trigger);
    for (size_t i = 0; i < opts->n_param_overrides; i++) {
        size_t n = strlen(f->last);
        snprintf(f->last + n, sizeof(f->last) - n, "%s;", opts->param_overrides[i]);
    }
    if (f->refuse) {
        dagd_diags_add(reterr, "s.yaml", (struct dagd_mark){1, 2}, "refused");
        return f->refuse;
    }
    snprintf(ret_run_id, 33, "%s", opts->run_id);
    return 0;
}

#define SENSOR_YAML                                                                                \
    "pipeline: watcher\n"                                                                          \
    "params: {file: none}\n"                                                                       \
    "sensors:\n"                                                                                   \
    "  - name: drop\n"                                                                             \
    "    watch: ../in\n"                                                                           \
    "    pattern: \"*.csv\"\n"                                                                     \
    "    params: {file: \"${sensor.path}\"}\n"                                                     \
    "steps:\n"                                                                                     \
    "  - {name: one, task: noop}\n"

static int setup(void **state)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    st_mkdtemp(f->dir, "sensors");
    snprintf(f->pipelines, sizeof(f->pipelines), "%s/pipelines", f->dir);
    snprintf(f->in, sizeof(f->in), "%s/in", f->dir);
    assert_int_equal(mkdir(f->pipelines, 0755), 0);
    assert_int_equal(mkdir(f->in, 0755), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->host = st_plugins();
    assert_int_equal(dagd_store_open(f->dir, &f->store), 0);
    f->reg = dagd_registry_new(f->pipelines, f->host);
    st_write(f->pipelines, "w.yaml", SENSOR_YAML);
    unsigned errors = 0;
    assert_int_equal(dagd_registry_reload(f->reg, &errors), 0);
    assert_int_equal(errors, 0);
    f->th = (struct dagd_trigger_host){
        .loop = &f->loop,
        .store = f->store,
        .registry = f->reg,
        .submit = record_submit,
        .userdata = f,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dagd_sensors_free(f->s);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    dagd_registry_free(f->reg);
    dagd_store_free(f->store);
    dagd_plugin_host_free(f->host);
    st_rmrf(f->dir);
    free(f);
    return 0;
}

static void arm(struct fixture *f)
{
    f->s = dagd_sensors_new(&f->th);
    assert_non_null(f->s);
    dagd_sensors_sync(f->s);
    assert_int_equal(dagd_sensors_count(f->s), 1);
}

struct want {
    struct fixture *f;
    unsigned n;
};

static bool submitted(void *userdata)
{
    struct want *w = userdata;
    return w->f->n_submits >= w->n;
}

/* The watch is relative to the pipeline file (kept as written, not
 * normalized). */
static char *expect_last(struct fixture *f, const char *name)
{
    return dagd_xasprintf("sensor|file=%s/../in/%s;", f->pipelines, name);
}

static void test_scan_and_events(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *want_old = expect_last(f, "old.csv");
    _cleanup_free_ char *want_a = expect_last(f, "a.csv");

    st_write(f->in, "old.csv", "1\n");
    arm(f);
    /* The scan when the sensor is armed: at once, inside sync. */
    assert_int_equal(f->n_submits, 1);
    assert_string_equal(f->last, want_old);

    st_write(f->in, "b.txt", "not for us\n");
    st_write(f->in, "a.csv", "2\n"); /* renamed into place: IN_MOVED_TO */
    struct want w = {f, 2};
    st_run_until(&f->loop, submitted, &w, 10000);
    assert_int_equal(f->n_submits, 2); /* b.txt came first and did not match */
    assert_string_equal(f->last, want_a);

    struct dagd_tick_info last = {0};
    assert_int_equal(dagd_store_tick_last(f->store, "drop", "sensor", &last), 0);
    assert_string_equal(last.status, "started");
    assert_non_null(last.run_id);
    assert_non_null(strstr(last.reason, "/in/a.csv"));
    dagd_tick_info_done(&last);
}

/* Each version of a file runs once, also for a new sensor set (a restart);
 * a changed file is a new version. */
static size_t n_ticks(struct fixture *f)
{
    struct dagd_tick_info *t = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_ticks_list(f->store, "drop", 0, &t, &n), 0);
    for (size_t i = 0; i < n; i++) {
        dagd_tick_info_done(&t[i]);
    }
    free(t);
    return n;
}

static void test_claimed_once(void **state)
{
    struct fixture *f = *state;

    st_write(f->in, "a.csv", "1\n");
    arm(f);
    assert_int_equal(f->n_submits, 1);
    assert_int_equal(n_ticks(f), 1);
    f->s = dagd_sensors_free(f->s);
    (void)uv_run(&f->loop, UV_RUN_NOWAIT);
    arm(f);
    /* The scan passes over what was claimed before, silently. */
    assert_int_equal(f->n_submits, 1);
    assert_int_equal(n_ticks(f), 1);

    st_write(f->in, "a.csv", "1\n2\n");
    struct want w = {f, 2};
    st_run_until(&f->loop, submitted, &w, 10000);
    assert_int_equal(f->n_submits, 2);
}

/* A submit the daemon refuses is a `failed` tick with its reason. */
static void test_refused(void **state)
{
    struct fixture *f = *state;

    f->refuse = -EINVAL;
    st_write(f->in, "a.csv", "1\n");
    arm(f);
    assert_int_equal(f->n_submits, 1);
    struct dagd_tick_info last = {0};
    assert_int_equal(dagd_store_tick_last(f->store, "drop", "sensor", &last), 0);
    assert_string_equal(last.status, "failed");
    assert_null(last.run_id);
    assert_non_null(strstr(last.reason, "s.yaml:1:2: error: refused"));
    dagd_tick_info_done(&last);
}

/* `watch` expands params (${state_dir} is the daemon's) and `${sensor_file}`
 * is the file's path (issue 9). */
static void test_watch_params(void **state)
{
    struct fixture *f = *state;
    unsigned errors = 0;
    _cleanup_free_ char *want = dagd_xasprintf("sensor|file=%s/in/new.csv;", f->dir);

    st_write(f->pipelines, "w.yaml",
             "pipeline: watcher\n"
             "params: {file: none, landing: \"${state_dir}/in\"}\n"
             "sensors:\n"
             "  - {name: drop, watch: \"${landing}\", pattern: \"*.csv\",\n"
             "     params: {file: \"${sensor_file}\"}}\n"
             "steps:\n"
             "  - {name: one, task: noop}\n");
    assert_int_equal(dagd_registry_reload(f->reg, &errors), 0);
    assert_int_equal(errors, 0);
    f->th.state_dir = f->dir;
    st_write(f->in, "new.csv", "1\n");
    arm(f);
    assert_int_equal(f->n_submits, 1);
    assert_string_equal(f->last, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subst),
        cmocka_unit_test(test_escaped_values),
        cmocka_unit_test_setup_teardown(test_scan_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claimed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_params, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
