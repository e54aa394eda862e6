/* Unit tests for daemon/serve/schedules.c on a real loop, store, registry
 * (a temporary pipelines directory), run queue, executor and dagd-worker,
 * through its trigger host (trigger.h): arming and re-arming on sync (next
 * boundary in UTC and in a time zone, changed and removed schedules), ticks
 * recorded as runs start, `skipped` while the previous run is queued,
 * catch-up after downtime, and a refused submit recorded as `failed`. */
#include <cjson/cJSON.h>
#include <time.h>

#include "executor.h"
#include "registry.h"
#include "run_queue.h"
#include "schedules.h"
#include "serve_test.h"
#include "store.h"

#define TIMEOUT_MS 20000

struct fixture {
    char dir[64], pipelines[96];
    uv_loop_t loop;
    struct dagd_plugin_host *host;
    struct dagd_store *store;
    struct dagd_registry *reg;
    struct dagd_executor *e;
    struct dagd_run_queue *q;
    struct dagd_schedules *s;
    /* The host's submit: counts, and refuses with `refuse` when set. */
    unsigned n_submits;
    int refuse;
    char last_trigger[32];
    char last_overrides[256];
    /* The partitions of the submitted runs ("" for none), in order. */
    char partitions[8][32];
};

static int submit(void *userdata, struct dagd_pipeline *p, const struct dagd_run_options *opts,
                  char ret_run_id[static 33], struct dagd_diags *reterr)
{
    struct fixture *f = userdata;
    if (f->n_submits < 8) {
        snprintf(f->partitions[f->n_submits], sizeof(f->partitions[0]), "%s",
                 opts->partition ? opts->partition : "");
    }
    f->n_submits++;
    snprintf(f->last_trigger, sizeof(f->last_trigger), "%s", opts->trigger);
    f->last_overrides[0] = '\0';
    for (size_t i = 0; i < opts->n_param_overrides; i++) {
        size_t n = strlen(f->last_overrides);
        snprintf(f->last_overrides + n, sizeof(f->last_overrides) - n, "%s;",
                 opts->param_overrides[i]);
    }
    if (f->refuse == -EINVAL) {
        dagd_diags_add(reterr, "t.yaml", (struct dagd_mark){2, 3}, "no good");
    }
    if (f->refuse) {
        return f->refuse;
    }
    return dagd_run_queue_submit(f->q, p, opts, ret_run_id, reterr);
}

static int setup(void **state)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    st_mkdtemp(f->dir, "schedules");
    snprintf(f->pipelines, sizeof(f->pipelines), "%s/pipelines", f->dir);
    assert_int_equal(mkdir(f->pipelines, 0755), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->host = st_plugins();
    assert_int_equal(dagd_store_open(f->dir, &f->store), 0);
    f->reg = dagd_registry_new(f->pipelines, f->host);
    struct dagd_executor_config cfg = {
        .loop = &f->loop,
        .store = f->store,
        .plugins = f->host,
        .max_jobs = 4,
        .state_dir = f->dir,
        .work_dir = f->dir,
        .kill_grace_usec = 200000,
    };
    assert_int_equal(dagd_executor_new(&cfg, &f->e), 0);
    f->q = dagd_run_queue_new(f->e, f->store, f->dir, 1);
    struct dagd_trigger_host h = {
        .loop = &f->loop,
        .store = f->store,
        .registry = f->reg,
        .queue = f->q,
        .submit = submit,
        .userdata = f,
    };
    f->s = dagd_schedules_new(&h);
    assert_non_null(f->s);
    *state = f;
    return 0;
}

static bool queue_empty(void *userdata)
{
    struct fixture *f = userdata;
    return dagd_run_queue_n_running(f->q) == 0 && dagd_run_queue_n_queued(f->q) == 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dagd_schedules_free(f->s);
    dagd_run_queue_cancel_queued(f->q);
    /* Cancel what runs (the store knows it as running). */
    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_runs_list(f->store, NULL, 0, &runs, &n), 0);
    for (size_t i = 0; i < n; i++) {
        (void)dagd_run_queue_cancel(f->q, runs[i].run_id);
        dagd_run_info_done(&runs[i]);
    }
    free(runs);
    st_run_until(&f->loop, queue_empty, f, TIMEOUT_MS);
    dagd_run_queue_free(f->q);
    dagd_executor_free(f->e);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    dagd_registry_free(f->reg);
    dagd_store_free(f->store);
    dagd_plugin_host_free(f->host);
    st_rmrf(f->dir);
    free(f);
    return 0;
}

static void load(struct fixture *f, const char *file, const char *yaml)
{
    unsigned errors = 0;
    if (yaml) {
        st_write(f->pipelines, file, yaml);
    } else {
        _cleanup_free_ char *path = dagd_xasprintf("%s/%s", f->pipelines, file);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(dagd_registry_reload(f->reg, &errors), 0);
    assert_int_equal(errors, 0);
    dagd_schedules_sync(f->s);
}

static char *pipeline(const char *name, const char *sched, const char *cron, const char *extra,
                      unsigned ms)
{
    return dagd_xasprintf("pipeline: %s\n"
                          "params: {tag: none}\n"
                          "schedules:\n"
                          "  - name: %s\n"
                          "    cron: \"%s\"\n"
                          "%s"
                          "steps:\n"
                          "  - {name: nap, task: sleep, config: {ms: %u}}\n",
                          name, sched, cron, extra, ms);
}

/* The `next` of schedule `name` in dagd_schedules_to_json (ms), -1 = null
 * (never fires again), -2 = no such schedule. */
static double next_of(struct fixture *f, const char *name)
{
    cJSON *a = dagd_schedules_to_json(f->s), *o;
    double next = -2;
    cJSON_ArrayForEach(o, a)
    {
        if (streq(cJSON_GetObjectItem(o, "name")->valuestring, name)) {
            assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "schedule");
            const cJSON *n = cJSON_GetObjectItem(o, "next");
            next = cJSON_IsNull(n) ? -1 : n->valuedouble;
        }
    }
    cJSON_Delete(a);
    return next;
}

/* Unix ms of the next 1 January 00:00 UTC. */
static double next_new_year_ms(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    struct tm ny = {.tm_year = tm.tm_year + 1, .tm_mday = 1};
    return (double)timegm(&ny) * 1000.0;
}

static void test_arming(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *yearly = pipeline("a", "yearly", "0 0 1 1 *", "", 10);
    _cleanup_free_ char *monthly = pipeline("a", "yearly", "0 0 1 * *", "", 10);
    _cleanup_free_ char *paris =
        pipeline("b", "noon", "0 12 * * *", "    timezone: Europe/Paris\n", 10);

    assert_int_equal(dagd_schedules_count(f->s), 0);
    load(f, "a.yaml", yearly);
    assert_int_equal(dagd_schedules_count(f->s), 1);
    assert_true(next_of(f, "yearly") == next_new_year_ms());

    load(f, "b.yaml", paris);
    assert_int_equal(dagd_schedules_count(f->s), 2);
    /* Noon in Paris is 10:00 or 11:00 UTC, within a day. */
    double noon = next_of(f, "noon"), now = (double)dagd_now_wall_msec();
    assert_true(noon > now && noon <= now + 86400e3);
    int64_t utc_s = (int64_t)(noon / 1000) % 86400;
    assert_true(utc_s == 10 * 3600 || utc_s == 11 * 3600);
    cJSON *a = dagd_schedules_to_json(f->s), *o;
    cJSON_ArrayForEach(o, a)
    {
        if (streq(cJSON_GetObjectItem(o, "name")->valuestring, "noon")) {
            assert_string_equal(cJSON_GetObjectItem(o, "pipeline")->valuestring, "b");
            assert_string_equal(cJSON_GetObjectItem(o, "cron")->valuestring, "0 12 * * *");
            assert_string_equal(cJSON_GetObjectItem(o, "timezone")->valuestring, "Europe/Paris");
        }
    }
    cJSON_Delete(a);

    /* A changed cron re-arms; a removed file's schedule goes. */
    load(f, "a.yaml", monthly);
    assert_int_equal(dagd_schedules_count(f->s), 2);
    double monthly_next = next_of(f, "yearly");
    assert_true(monthly_next > 0 && monthly_next <= next_new_year_ms());
    load(f, "b.yaml", NULL);
    assert_int_equal(dagd_schedules_count(f->s), 1);
    assert_true(next_of(f, "noon") == -2);
    assert_int_equal(f->n_submits, 0);
}

struct ticks {
    struct fixture *f;
    const char *name;
    const char *status;
    size_t want;
};

static size_t count_ticks(struct fixture *f, const char *name, const char *status)
{
    struct dagd_tick_info *t = NULL;
    size_t n = 0, k = 0;
    assert_int_equal(dagd_store_ticks_list(f->store, name, 0, &t, &n), 0);
    for (size_t i = 0; i < n; i++) {
        k += streq(t[i].status, status);
        dagd_tick_info_done(&t[i]);
    }
    free(t);
    return k;
}

static bool enough_ticks(void *userdata)
{
    struct ticks *w = userdata;
    return count_ticks(w->f, w->name, w->status) >= w->want;
}

/* Every second: each tick starts a run (trigger "schedule", the
 * schedule's params) and is recorded `started` with its run. */
static void test_ticks_start_runs(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *yaml =
        pipeline("p", "each_second", "* * * * * *", "    params: {tag: \"t-${pipeline}\"}\n", 10);
    struct ticks w = {f, "each_second", "started", 2};

    load(f, "p.yaml", yaml);
    st_run_until(&f->loop, enough_ticks, &w, TIMEOUT_MS);
    assert_true(f->n_submits >= 2);
    assert_string_equal(f->last_trigger, "schedule");
    assert_string_equal(f->last_overrides, "tag=t-${pipeline};");
    struct dagd_tick_info last = {0};
    assert_int_equal(dagd_store_tick_last(f->store, "each_second", "schedule", &last), 0);
    assert_non_null(last.run_id);
    assert_int_equal(last.ts % 1000, 0); /* the boundary, a whole second */
    struct dagd_run_info run = {0};
    assert_int_equal(dagd_store_run_get(f->store, last.run_id, &run), 0);
    assert_string_equal(run.trigger, "schedule");
    assert_non_null(strstr(run.params_json, "t-p"));
    dagd_run_info_done(&run);
    dagd_tick_info_done(&last);
}

/* A run slower than its schedule: with max_runs 1 the second tick's run
 * queues, and the third tick is skipped while that one is still queued. */
static void test_skipped_while_queued(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *yaml = pipeline("slow", "backlog", "* * * * * *", "", 8000);
    struct ticks w = {f, "backlog", "skipped", 1};

    load(f, "slow.yaml", yaml);
    st_run_until(&f->loop, enough_ticks, &w, TIMEOUT_MS);
    assert_int_equal(dagd_run_queue_n_queued(f->q), 1);
    assert_int_equal(count_ticks(f, "backlog", "started"), 2);
    struct dagd_tick_info last = {0};
    assert_int_equal(dagd_store_tick_last(f->store, "backlog", "schedule", &last), 0);
    assert_string_equal(last.status, "skipped");
    assert_null(last.run_id);
    assert_non_null(strstr(last.reason, "is still queued"));
    dagd_tick_info_done(&last);
}

/* Ticks missed since the newest recorded one: the newest `catchup` run at
 * the first sync, the older ones are recorded once as skipped. */
static void test_catchup(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *yaml = pipeline("c", "cu", "* * * * * *", "    catchup: 3\n", 10);
    int64_t now_s = dagd_now_wall_msec() / 1000;

    assert_int_equal(dagd_store_tick_add(f->store, "cu", "schedule", (now_s - 20) * 1000,
                                         "00000000000000000000000000000000", "started", NULL),
                     0);
    load(f, "c.yaml", yaml);
    /* Synchronously in the first sync, before the loop runs. */
    assert_int_equal(f->n_submits, 3);
    struct dagd_tick_info *t = NULL;
    size_t n = 0;
    assert_int_equal(dagd_store_ticks_list(f->store, "cu", 0, &t, &n), 0);
    assert_int_equal(n, 5); /* the old one, one skipped, three caught up */
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(t[i].status, "started");
        assert_string_equal(t[i].reason, "catchup");
        assert_true(t[i].ts > t[i + 1].ts);
    }
    /* The newest caught-up tick is no later than the sync; the sync may fall
     * seconds after now_s (valgrind, a loaded machine): read the clock again. */
    assert_true(t[0].ts <= dagd_now_wall_msec());
    assert_string_equal(t[3].status, "skipped");
    assert_non_null(strstr(t[3].reason, "ticks missed while the daemon was down (catchup: 3)"));
    for (size_t i = 0; i < n; i++) {
        dagd_tick_info_done(&t[i]);
    }
    free(t);
    /* Only the first sync catches up. */
    dagd_schedules_sync(f->s);
    assert_int_equal(f->n_submits, 3);
}

/* A pipeline partitioned by the hour, scheduled hourly: each caught-up
 * tick runs the partition that had just closed at its own boundary (the
 * three hours before the newest three boundaries), not the newest one
 * three times. */
static void test_catchup_partitions(void **state)
{
    struct fixture *f = *state;
    int64_t now_s = dagd_now_wall_msec() / 1000;
    int64_t newest = now_s - now_s % 3600; /* the newest boundary passed */
    const char *yaml = "pipeline: hp\n"
                       "partitions:\n"
                       "  hourly: {start: \"2000-01-01\", timezone: UTC}\n"
                       "schedules:\n"
                       "  - {name: hourly, cron: \"0 * * * *\", catchup: 3}\n"
                       "steps:\n"
                       "  - {name: nap, task: sleep, config: {ms: 10}}\n";

    assert_int_equal(dagd_store_tick_add(f->store, "hourly", "schedule", (newest - 5 * 3600) * 1000,
                                         "00000000000000000000000000000000", "started", NULL),
                     0);
    load(f, "hp.yaml", yaml);
    assert_int_equal(f->n_submits, 3);
    for (unsigned i = 0; i < 3; i++) {
        /* Boundary newest - (2 - i) hours closed the hour before it. */
        time_t hour = (time_t)(newest - (3 - i) * 3600);
        struct tm tm;
        char want[32];
        gmtime_r(&hour, &tm);
        strftime(want, sizeof(want), "%Y-%m-%dT%H", &tm);
        assert_string_equal(f->partitions[i], want);
    }
}

/* A submit the daemon refuses is recorded `failed` with the reason. */
static void test_refused(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *yaml = pipeline("r", "refused", "* * * * * *", "", 10);
    struct ticks w = {f, "refused", "failed", 1};

    f->refuse = -EINVAL;
    load(f, "r.yaml", yaml);
    st_run_until(&f->loop, enough_ticks, &w, TIMEOUT_MS);
    struct dagd_tick_info last = {0};
    assert_int_equal(dagd_store_tick_last(f->store, "refused", "schedule", &last), 0);
    assert_string_equal(last.status, "failed");
    assert_string_equal(last.reason, "t.yaml:2:3: error: no good");
    dagd_tick_info_done(&last);

    f->refuse = -ESHUTDOWN;
    w.want = 2;
    st_run_until(&f->loop, enough_ticks, &w, TIMEOUT_MS);
    assert_int_equal(dagd_store_tick_last(f->store, "refused", "schedule", &last), 0);
    assert_string_equal(last.reason, "the daemon is shutting down");
    dagd_tick_info_done(&last);
    assert_int_equal(count_ticks(f, "refused", "started"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ticks_start_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skipped_while_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catchup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catchup_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
