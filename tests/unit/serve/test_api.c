/* Unit tests for the command handlers (api_*.c, through dagd_api_dispatch)
 * on a real daemon object (daemon.c): a store, registry, executor, run
 * queue and dagd-worker in a temporary directory, the socket server on a
 * temporary socket. The daemon's loop runs in a thread; the test is the
 * client, one JSON line per request (DESIGN 7). Covers status, pipelines,
 * reload, run (with and without wait), runs, show, cancel (queued, running,
 * ended), refused requests (unknown method, bad or missing params, unknown
 * or broken pipeline, unknown run), SHUTTING_DOWN while stopping, and the
 * STATUS= line (read from a NOTIFY_SOCKET of the test's own) following the
 * queue as runs are queued, canceled and end. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api.h"
#include "daemon.h"
#include "serve_test.h"

#define QUICK "pipeline: quick\nparams: {tag: none}\nsteps:\n  - {name: one, task: noop}\n"
#define SLOW                                                                                       \
    "pipeline: slow\nconcurrency: 1\nsteps:\n  - {name: nap, task: sleep, config: {ms: 20000}}\n"
#define BROKEN "pipeline: broken\nsteps:\n  - {name: one, task: no-such-task}\n"
#define DEADLINE_MS 20000

struct fixture {
    char dir[64];
    char sock[96];
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    bool running;
    struct dagd_daemon *d;
    int fd;
    int notify_fd; /* NOTIFY_SOCKET: the daemon's sd_notify messages */
    int next_id;
    unsigned n_events;
    char first_event[32];
};

static void on_stop(uv_async_t *a)
{
    struct fixture *f = a->data;
    dagd_daemon_stop(f->d, "test");
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    (void)uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int client_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 20};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* A datagram socket at DIR/notify.sock, named by NOTIFY_SOCKET. */
static int notify_socket(const char *dir)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%.64s/notify.sock", dir);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 20};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    return fd;
}

static int start(void **state, bool notify)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    struct dagd_daemon_config c;
    const char *build = getenv("DAGD_BUILD_ROOT") ? getenv("DAGD_BUILD_ROOT") : "build";
    _cleanup_free_ char *plugins = dagd_xasprintf("%s/tests/plugins", build);

    st_mkdtemp(f->dir, "api");
    _cleanup_free_ char *pipes = dagd_xasprintf("%s/pipelines", f->dir);
    assert_int_equal(mkdir(pipes, 0755), 0);
    st_write(pipes, "quick.yaml", QUICK);
    st_write(pipes, "slow.yaml", SLOW);
    st_write(pipes, "broken.yaml", BROKEN);
    snprintf(f->sock, sizeof(f->sock), "%s/d.sock", f->dir);
    f->notify_fd = notify ? notify_socket(f->dir) : -1;

    dagd_daemon_config_init(&c);
    c.socket = dagd_xstrdup(f->sock);
    c.state_dir = dagd_xasprintf("%s/state", f->dir);
    c.pipelines_dir = dagd_xstrdup(pipes);
    c.work_dir = dagd_xstrdup(f->dir);
    dagd_daemon_config_add_plugin_dir(&c, plugins);
    c.watch_pipelines = false;
    c.max_concurrent_runs = 2;
    c.shutdown_grace_usec = 3000000;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    const struct dagd_daemon_parts parts = {.dispatch = dagd_api_dispatch};
    assert_int_equal(dagd_daemon_start(&f->loop, &c, &parts, &f->d), 0);
    assert_null(c.state_dir); /* moved into the daemon */
    dagd_daemon_config_done(&c);
    assert_int_equal(uv_async_init(&f->loop, &f->stop, on_stop), 0);
    f->stop.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
    f->running = true;
    f->fd = client_connect(f->sock);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start(state, false);
}

/* With a NOTIFY_SOCKET (not for every test: a datagram queue nobody reads
 * would fill up). */
static int setup_notify(void **state)
{
    return start(state, true);
}

static void stop_daemon(struct fixture *f)
{
    if (f->running) {
        uv_async_send(&f->stop);
        assert_int_equal(pthread_join(f->thread, NULL), 0);
        f->running = false;
    }
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->fd);
    stop_daemon(f);
    if (f->notify_fd >= 0) {
        close(f->notify_fd);
        unsetenv("NOTIFY_SOCKET");
    }
    f->d = dagd_daemon_free(f->d);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    st_rmrf(f->dir);
    free(f);
    return 0;
}

/* ---- the client ---- */

static char *read_line(int fd)
{
    size_t n = 0, cap = 256;
    char *buf = dagd_xmalloc(cap);
    for (;;) {
        char c;
        if (read(fd, &c, 1) != 1) {
            fail_msg("the daemon closed the connection or did not answer");
        }
        if (c == '\n') {
            buf[n] = '\0';
            return buf;
        }
        if (n + 2 > cap) {
            cap *= 2;
            buf = dagd_xrealloc(buf, cap);
        }
        buf[n++] = c;
    }
}

/* Send METHOD with PARAMS (a JSON object as text, NULL = none) and return
 * the reply ({"result":...} or {"error":...}); stream events before it are
 * counted. */
static cJSON *call(struct fixture *f, const char *method, const char *params)
{
    int id = ++f->next_id;
    _cleanup_free_ char *req =
        dagd_xasprintf("{\"v\":1,\"id\":%d,\"method\":\"%s\"%s%s}\n", id, method,
                       params ? ",\"params\":" : "", params ? params : "");
    assert_int_equal(write(f->fd, req, strlen(req)), (ssize_t)strlen(req));
    f->n_events = 0;
    f->first_event[0] = '\0';
    for (;;) {
        _cleanup_free_ char *line = read_line(f->fd);
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_int_equal(cJSON_GetObjectItem(o, "id")->valueint, id);
        const cJSON *ev = cJSON_GetObjectItem(o, "event");
        if (!ev) {
            return o;
        }
        if (f->n_events++ == 0) {
            snprintf(f->first_event, sizeof(f->first_event), "%s",
                     cJSON_GetObjectItem(ev, "kind")->valuestring);
        }
        cJSON_Delete(o);
    }
}

/* The result of a call that must succeed (the reply is kept in *reply). */
static const cJSON *ok(struct fixture *f, cJSON **reply, const char *method, const char *params)
{
    *reply = call(f, method, params);
    const cJSON *r = cJSON_GetObjectItem(*reply, "result");
    if (!r) {
        _cleanup_free_ char *s = cJSON_PrintUnformatted(*reply);
        fail_msg("%s %s: %s", method, params ? params : "", s);
    }
    return r;
}

/* The error code of a call that must fail; its message goes to msg. */
static void refused(struct fixture *f, const char *method, const char *params, const char *code,
                    const char *msg_part)
{
    cJSON *reply = call(f, method, params);
    const cJSON *e = cJSON_GetObjectItem(reply, "error");
    _cleanup_free_ char *s = cJSON_PrintUnformatted(reply);
    if (!e || !streq(cJSON_GetObjectItem(e, "code")->valuestring, code) ||
        (msg_part && !strstr(cJSON_GetObjectItem(e, "message")->valuestring, msg_part))) {
        fail_msg("%s %s: want %s (%s), got %s", method, params ? params : "", code,
                 msg_part ? msg_part : "", s);
    }
    cJSON_Delete(reply);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsString(v)) {
        fail_msg("no string '%s'", key);
    }
    return v->valuestring;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsNumber(v)) {
        fail_msg("no number '%s'", key);
    }
    return v->valuedouble;
}

/* Submit a run of PIPELINE (no wait) and return its id in id. */
static void run(struct fixture *f, const char *pipeline, char id[static 33], const char *status)
{
    cJSON *reply;
    _cleanup_free_ char *params = dagd_xasprintf("{\"pipeline\":\"%s\"}", pipeline);
    const cJSON *r = ok(f, &reply, "run", params);
    snprintf(id, 33, "%s", str(r, "run_id"));
    assert_string_equal(str(r, "pipeline"), pipeline);
    assert_string_equal(str(r, "status"), status);
    cJSON_Delete(reply);
}

/* The status of run ID as `show` reports it. */
static char *show_status(struct fixture *f, const char *id)
{
    cJSON *reply;
    _cleanup_free_ char *params = dagd_xasprintf("{\"run\":\"%s\"}", id);
    const cJSON *r = ok(f, &reply, "show", params);
    char *s = dagd_xstrdup(str(cJSON_GetObjectItem(r, "run"), "status"));
    cJSON_Delete(reply);
    return s;
}

static void wait_status(struct fixture *f, const char *id, const char *want)
{
    for (unsigned waited = 0;; waited += 20) {
        _cleanup_free_ char *s = show_status(f, id);
        if (streq(s, want)) {
            return;
        }
        if (waited > DEADLINE_MS) {
            fail_msg("run %s is %s, not %s", id, s, want);
        }
        usleep(20000);
    }
}

/* ---- tests ---- */

static void test_status_pipelines_reload(void **state)
{
    struct fixture *f = *state;
    cJSON *reply;

    const cJSON *st = ok(f, &reply, "status", NULL);
    assert_int_equal(num(st, "pipelines"), 2);
    assert_int_equal(num(st, "pipeline_errors"), 1);
    assert_int_equal(num(st, "running"), 0);
    assert_int_equal(num(st, "queued"), 0);
    assert_int_equal(num(st, "max_concurrent_runs"), 2);
    assert_int_equal(num(st, "clients"), 1);
    assert_string_equal(str(st, "socket"), f->sock);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(st, "shutting_down")));
    cJSON_Delete(reply);

    const cJSON *pl = cJSON_GetObjectItem(ok(f, &reply, "pipelines", NULL), "pipelines");
    assert_int_equal(cJSON_GetArraySize(pl), 3);
    const cJSON *p;
    unsigned loaded = 0, broken = 0;
    cJSON_ArrayForEach(p, pl)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItem(p, "loaded"))) {
            loaded++;
            continue;
        }
        broken++;
        assert_non_null(strstr(str(p, "file"), "/broken.yaml"));
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "errors"), 0);
        assert_int_equal(num(e, "line"), 3);
        assert_non_null(strstr(str(e, "message"), "no-such-task"));
    }
    assert_int_equal(loaded, 2);
    assert_int_equal(broken, 1);
    cJSON_Delete(reply);

    /* A fixed file and a reload: three pipelines, no errors. */
    _cleanup_free_ char *pipes = dagd_xasprintf("%s/pipelines", f->dir);
    st_write(pipes, "broken.yaml", "pipeline: broken\nsteps:\n  - {name: one, task: noop}\n");
    const cJSON *rl = ok(f, &reply, "reload", NULL);
    assert_int_equal(num(rl, "pipelines"), 3);
    assert_int_equal(num(rl, "pipeline_errors"), 0);
    cJSON_Delete(reply);
    st = ok(f, &reply, "status", NULL);
    assert_int_equal(num(st, "pipelines"), 3);
    cJSON_Delete(reply);
}

static void test_run_runs_show(void **state)
{
    struct fixture *f = *state;
    char id[33];
    cJSON *reply;

    run(f, "quick", id, "running");
    wait_status(f, id, "succeeded");

    /* show by a unique prefix: the run and its steps */
    char prefix[31];
    snprintf(prefix, sizeof(prefix), "%.30s", id);
    _cleanup_free_ char *params = dagd_xasprintf("{\"run\":\"%s\"}", prefix);
    const cJSON *sh = ok(f, &reply, "show", params);
    const cJSON *r = cJSON_GetObjectItem(sh, "run");
    assert_string_equal(str(r, "run_id"), id);
    assert_string_equal(str(r, "pipeline"), "quick");
    assert_string_equal(str(r, "trigger"), "cli");
    const cJSON *steps = cJSON_GetObjectItem(sh, "steps");
    assert_int_equal(cJSON_GetArraySize(steps), 1);
    assert_string_equal(str(cJSON_GetArrayItem(steps, 0), "step"), "one");
    assert_string_equal(str(cJSON_GetArrayItem(steps, 0), "status"), "succeeded");
    cJSON_Delete(reply);

    /* wait: the stream starts with "accepted"; the reply has the end state. */
    const cJSON *w =
        ok(f, &reply, "run", "{\"pipeline\":\"quick\",\"wait\":true,\"params\":[\"tag=red\"]}");
    assert_string_equal(str(w, "status"), "succeeded");
    assert_true(f->n_events >= 2);
    assert_string_equal(f->first_event, "accepted");
    char id2[33];
    snprintf(id2, sizeof(id2), "%s", str(w, "run_id"));
    cJSON_Delete(reply);

    /* runs: newest first, filtered by pipeline and limited. */
    const cJSON *runs = cJSON_GetObjectItem(ok(f, &reply, "runs", NULL), "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 2);
    assert_string_equal(str(cJSON_GetArrayItem(runs, 0), "run_id"), id2);
    assert_non_null(strstr(str(cJSON_GetArrayItem(runs, 0), "params"), "red"));
    assert_string_equal(str(cJSON_GetArrayItem(runs, 1), "run_id"), id);
    cJSON_Delete(reply);
    runs = cJSON_GetObjectItem(ok(f, &reply, "runs", "{\"limit\":1}"), "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 1);
    cJSON_Delete(reply);
    runs = cJSON_GetObjectItem(ok(f, &reply, "runs", "{\"pipeline\":\"slow\"}"), "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 0);
    cJSON_Delete(reply);
}

/* concurrency 1: the second `slow` run queues. Cancel it (at once), then
 * the running one (through the executor), then once more (ended). */
static void test_cancel(void **state)
{
    struct fixture *f = *state;
    char running[33], queued[33];
    cJSON *reply;

    run(f, "slow", running, "running");
    run(f, "slow", queued, "queued");
    const cJSON *st = ok(f, &reply, "status", NULL);
    assert_int_equal(num(st, "running"), 1);
    assert_int_equal(num(st, "queued"), 1);
    cJSON_Delete(reply);
    _cleanup_free_ char *q = show_status(f, queued);
    assert_string_equal(q, "queued");
    /* A queued run is listed with the others. */
    const cJSON *runs = cJSON_GetObjectItem(ok(f, &reply, "runs", NULL), "runs");
    assert_string_equal(str(cJSON_GetArrayItem(runs, 0), "run_id"), queued);
    cJSON_Delete(reply);

    _cleanup_free_ char *pq = dagd_xasprintf("{\"run\":\"%s\"}", queued);
    const cJSON *c = ok(f, &reply, "cancel", pq);
    assert_string_equal(str(c, "status"), "canceled");
    cJSON_Delete(reply);
    _cleanup_free_ char *qs = show_status(f, queued);
    assert_string_equal(qs, "canceled");

    _cleanup_free_ char *pr = dagd_xasprintf("{\"run\":\"%s\"}", running);
    c = ok(f, &reply, "cancel", pr);
    assert_string_equal(str(c, "status"), "canceling");
    cJSON_Delete(reply);
    wait_status(f, running, "canceled");
    refused(f, "cancel", pr, DAGD_ERR_CONFLICT, "is not active (canceled)");
    st = ok(f, &reply, "status", NULL);
    assert_int_equal(num(st, "running"), 0);
    assert_int_equal(num(st, "queued"), 0);
    cJSON_Delete(reply);
}

static void test_bad_requests(void **state)
{
    struct fixture *f = *state;

    refused(f, "nosuch", NULL, DAGD_ERR_UNKNOWN_METHOD, "nosuch");
    refused(f, "run", NULL, DAGD_ERR_INVALID_PARAMS, "missing parameter 'pipeline'");
    refused(f, "run", "{\"pipeline\":5}", DAGD_ERR_INVALID_PARAMS, "non-empty string");
    refused(f, "run", "{\"pipeline\":\"quick\",\"wait\":\"yes\"}", DAGD_ERR_INVALID_PARAMS,
            "boolean");
    refused(f, "run", "{\"pipeline\":\"nope\"}", DAGD_ERR_NOT_FOUND, "no pipeline 'nope'");
    /* A file that never loaded: its first error, FILE:LINE:COL. */
    refused(f, "run", "{\"pipeline\":\"broken\"}", DAGD_ERR_INVALID_PIPELINE, "broken.yaml:3:");
    refused(f, "run", "{\"pipeline\":\"quick\",\"from\":\"nope\"}", DAGD_ERR_INVALID_PIPELINE,
            "nope");
    refused(f, "run", "{\"pipeline\":\"quick\",\"params\":[\"nosuch=1\"]}",
            DAGD_ERR_INVALID_PIPELINE, "nosuch");
    refused(f, "show", "{\"run\":\"ffffffff\"}", DAGD_ERR_NOT_FOUND, NULL);
    refused(f, "show", "{\"run\":\"\"}", DAGD_ERR_INVALID_PARAMS, NULL);
    refused(f, "cancel", "{}", DAGD_ERR_INVALID_PARAMS, "missing parameter 'run'");
    refused(f, "runs", "{\"limit\":-1}", DAGD_ERR_INVALID_PARAMS, "limit");
    /* Nothing of that was recorded. */
    cJSON *reply;
    const cJSON *runs = cJSON_GetObjectItem(ok(f, &reply, "runs", NULL), "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 0);
    cJSON_Delete(reply);
}

/* While a run holds the shutdown (grace period), the daemon answers reads
 * and refuses what would change it. */
static void test_shutting_down(void **state)
{
    struct fixture *f = *state;
    char id[33];
    cJSON *reply;

    run(f, "slow", id, "running");
    uv_async_send(&f->stop);
    for (unsigned waited = 0;; waited += 10) {
        const cJSON *st = ok(f, &reply, "status", NULL);
        bool stopping = cJSON_IsTrue(cJSON_GetObjectItem(st, "shutting_down"));
        cJSON_Delete(reply);
        if (stopping) {
            break;
        }
        assert_true(waited < DEADLINE_MS);
        usleep(10000);
    }
    refused(f, "run", "{\"pipeline\":\"quick\"}", DAGD_ERR_SHUTTING_DOWN, NULL);
    refused(f, "reload", NULL, DAGD_ERR_SHUTTING_DOWN, NULL);
    /* The loop ends once the run is canceled after the grace period. */
    assert_int_equal(pthread_join(f->thread, NULL), 0);
    f->running = false;
}

/* Read sd_notify messages until one has a line "STATUS=<want>". */
static void expect_status(struct fixture *f, const char *want)
{
    _cleanup_free_ char *line = dagd_xasprintf("STATUS=%s", want);
    char buf[4096];
    for (;;) {
        ssize_t n = recv(f->notify_fd, buf, sizeof(buf) - 1, 0);
        if (n < 0) {
            fail_msg("no %s", line);
        }
        buf[n] = '\0';
        for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
            if (streq(l, line)) {
                return;
            }
        }
    }
}

/* STATUS= follows the run queue: a run started, one queued, the queued one
 * canceled, the running one ended. No handler writes it (the queue's change
 * callback does). */
static void test_status_line(void **state)
{
    struct fixture *f = *state;
    char running[33], queued[33];
    cJSON *reply;

    expect_status(f, "2 pipelines (1 with errors), 0 runs running, 0 queued");
    run(f, "slow", running, "running");
    expect_status(f, "2 pipelines (1 with errors), 1 runs running, 0 queued");
    run(f, "slow", queued, "queued");
    expect_status(f, "2 pipelines (1 with errors), 1 runs running, 1 queued");
    _cleanup_free_ char *pq = dagd_xasprintf("{\"run\":\"%s\"}", queued);
    ok(f, &reply, "cancel", pq);
    cJSON_Delete(reply);
    expect_status(f, "2 pipelines (1 with errors), 1 runs running, 0 queued");
    _cleanup_free_ char *pr = dagd_xasprintf("{\"run\":\"%s\"}", running);
    ok(f, &reply, "cancel", pr);
    cJSON_Delete(reply);
    expect_status(f, "2 pipelines (1 with errors), 0 runs running, 0 queued");
    uv_async_send(&f->stop);
    expect_status(f, "Stopping: 0 runs still running");
    assert_int_equal(pthread_join(f->thread, NULL), 0);
    f->running = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_pipelines_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_runs_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutting_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_line, setup_notify, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
