/* Command group: runs (run, retry, runs, show, cancel). `run --wait` and
 * `retry --wait` stream the run's events to the client until it ends. */
#include "actions.h"
#include "api.h"
#include "daemon_json.h"
#include "read_pool.h"
#include "store_io.h"
#include "log.h"
#include "run_poll.h"

/* ---- waiting for a run ---- */

struct waiter {
    struct dagd_daemon *d;
    struct dagd_server_call *call;
    int watch_id;
    char run_id[33];
    uint64_t last_progress_usec;
    /* Events that come while the run is being submitted (the executor may
     * start, or even finish, a run inside submit) wait here until the
     * "accepted" event is out. */
    bool holding;
    bool finished_while_holding;
    cJSON *held;
    /* A standby waits for the leader's run through the history (run_poll.h),
     * and streams what changed there since the last look: the start, and
     * each step's (status, attempts), packed as status * 65536 + attempts. */
    struct dagd_run_poll *poll;
    bool started_sent;
    uint64_t *seen;
    size_t n_seen;
    /* The end as the executor told it: the answer when the history cannot
     * be read (PostgreSQL away: the end is queued, not yet stored). */
    int end_status; /* enum dagd_run_status, -1 before the end */
    char *end_error;
    struct dagd_store_settle *settle; /* the end on its way to PostgreSQL */
};

static void waiter_free(struct waiter *w)
{
    if (w->watch_id > 0) {
        dagd_run_queue_unwatch(w->d->queue, w->watch_id);
    }
    w->poll = dagd_run_poll_free(w->poll);
    w->settle = dagd_store_settle_cancel(w->settle);
    free(w->seen);
    cJSON_Delete(w->held);
    free(w->end_error);
    free(w);
}

static void on_waiter_abort(struct dagd_server_call *call, void *userdata)
{
    /* The client went away during --wait: the run goes on, we stop watching. */
    waiter_free(userdata);
}

/* The answer: the end as the executor told it, or (a standby's wait, or
 * no end told) as the history has it. */
static void waiter_reply(struct waiter *w)
{
    struct dagd_run_info info = {0};
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "run_id", w->run_id);
    if (w->end_status >= 0) {
        cJSON_AddStringToObject(o, "status", dagd_run_status_to_string(w->end_status));
        if (w->end_error) {
            cJSON_AddStringToObject(o, "error", w->end_error);
        }
    } else if (dagd_store_run_get(w->d->store, w->run_id, &info) >= 0) {
        cJSON_AddStringToObject(o, "status", dagd_run_status_to_string(info.status));
        if (info.error) {
            cJSON_AddStringToObject(o, "error", info.error);
        }
        dagd_run_info_done(&info);
    } else {
        cJSON_AddStringToObject(o, "status", "unknown");
    }
    dagd_server_call_set_abort(w->call, NULL, NULL);
    dagd_server_call_reply(w->call, o);
    waiter_free(w);
}

static void on_waiter_settled(void *userdata, int r)
{
    struct waiter *w = userdata;
    (void)r; /* the server went away: the end is queued, the answer is the executor's */
    w->settle = NULL;
    waiter_reply(w);
}

/* Whoever hears "finished" may read the history next, with psql too: answer
 * once PostgreSQL has the run's end (committed before the executor told
 * us), without holding the loop while it gets there. */
static void waiter_finish(struct waiter *w)
{
    w->settle = dagd_store_settle(w->d->loop, w->d->store, on_waiter_settled, w);
    if (!w->settle) {
        waiter_reply(w);
    }
}

static void waiter_send(struct waiter *w, cJSON *o)
{
    if (w->holding) {
        cJSON_AddItemToArray(w->held, o);
        return;
    }
    (void)dagd_server_call_event(w->call, o);
}

static void on_waiter_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct waiter *w = userdata;
    cJSON *o = NULL;

    switch (ev->kind) {
    case DAGD_EXEC_RUN_STARTED:
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "started");
        break;
    case DAGD_EXEC_STEP_CHANGED:
        if (!ev->step) {
            return;
        }
        o = dagd_history_step_json(ev->step);
        cJSON_AddStringToObject(o, "kind", "step");
        break;
    case DAGD_EXEC_STEP_PROGRESS: {
        /* At most ten progress events a second per client, plus the last. */
        uint64_t now = dagd_now_mono_usec();
        if (ev->done < ev->total && now - w->last_progress_usec < 100000u) {
            return;
        }
        w->last_progress_usec = now;
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "progress");
        if (ev->step && ev->step->step) {
            cJSON_AddStringToObject(o, "step", ev->step->step);
        }
        cJSON_AddNumberToObject(o, "done", (double)ev->done);
        cJSON_AddNumberToObject(o, "total", (double)ev->total);
        break;
    }
    case DAGD_EXEC_LOG:
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "log");
        if (ev->step && ev->step->step) {
            cJSON_AddStringToObject(o, "step", ev->step->step);
        }
        cJSON_AddStringToObject(o, "level", ev->level ? ev->level : "info");
        cJSON_AddStringToObject(o, "message", ev->message ? ev->message : "");
        break;
    case DAGD_EXEC_RUN_FINISHED:
        w->end_status = (int)ev->run_status;
        free(w->end_error);
        w->end_error = ev->message ? dagd_xstrdup(ev->message) : NULL;
        if (w->holding) {
            w->finished_while_holding = true;
            return;
        }
        waiter_finish(w);
        return;
    }
    if (o) {
        waiter_send(w, o);
    }
}

/* The events of --wait from the history, for a run the leader runs: the
 * shapes the executor's give (on_waiter_event), without progress and logs
 * (`dagctl logs --follow` has those). */
static void waiter_poll_history(struct waiter *w)
{
    struct dagd_step_info *steps = NULL;
    size_t n = 0;

    if (dagd_store_steps_list(w->d->store, w->run_id, &steps, &n) < 0) {
        return;
    }
    if (n > w->n_seen) {
        w->seen = dagd_xreallocarray(w->seen, n, sizeof(*w->seen));
        memset(w->seen + w->n_seen, 0, (n - w->n_seen) * sizeof(*w->seen));
        w->n_seen = n;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)steps[i].status << 16 | (steps[i].attempts & 0xffffu);
        bool moved = steps[i].status != DAGD_STEP_PENDING;
        if (moved && !w->started_sent) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "kind", "started");
            (void)dagd_server_call_event(w->call, o);
            w->started_sent = true;
        }
        if (moved && key != w->seen[i]) {
            cJSON *o = dagd_history_step_json(&steps[i]);
            cJSON_AddStringToObject(o, "kind", "step");
            (void)dagd_server_call_event(w->call, o);
            w->seen[i] = key;
        }
        dagd_step_info_done(&steps[i]);
    }
    free(steps);
}

static void on_waiter_poll(bool ended, void *userdata)
{
    waiter_poll_history(userdata);
    if (ended) {
        waiter_finish(userdata);
    }
}

static cJSON *accepted_event(struct dagd_pipeline *p, const char *run_id, bool queued)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "kind", "accepted");
    cJSON_AddStringToObject(ev, "run_id", run_id);
    cJSON_AddStringToObject(ev, "pipeline", p->name);
    cJSON_AddStringToObject(ev, "status", queued ? "queued" : "running");
    cJSON *steps = cJSON_AddArrayToObject(ev, "steps");
    for (size_t i = 0; i < p->n_steps; i++) {
        cJSON_AddItemToArray(steps, cJSON_CreateString(p->steps[p->topo ? p->topo[i] : i].name));
    }
    return ev;
}

/* Submit a run and answer: at once, or (wait) after streaming it. With
 * wait, the watcher is in place before submit, so no event is missed even
 * when the executor starts or finishes the run inside submit. */
static int submit(struct dagd_daemon *d, struct dagd_server_call *call, struct dagd_pipeline *p,
                  const struct dagd_run_options *in_opts, bool wait)
{
    struct dagd_diags diags = {0};
    struct dagd_run_options opts = *in_opts;
    char id[33], run_id[33];
    struct waiter *w = NULL;

    dagd_run_id_new(id);
    opts.run_id = id;
    if (wait) {
        w = dagd_xcalloc(1, sizeof(*w));
        w->d = d;
        w->call = call;
        w->holding = true;
        w->end_status = -1;
        w->held = cJSON_CreateArray();
        memcpy(w->run_id, id, 33);
        w->watch_id = dagd_run_queue_watch(d->queue, id, on_waiter_event, w);
    }
    int r = dagd_daemon_submit(d, p, &opts, run_id, &diags);
    if (r < 0) {
        if (w) {
            waiter_free(w);
        }
        _cleanup_free_ char *msg = r == -ENOBUFS && diags.n > 0
                                       ? dagd_xstrdup(diags.items[0].message)
                                       : dagd_diags_summary(&diags);
        dagd_diags_done(&diags);
        if (r == -EINVAL) {
            dagd_server_call_error(call, DAGD_ERR_INVALID_PIPELINE, "%s", msg);
        } else if (r == -ESHUTDOWN) {
            dagd_server_call_error(call, DAGD_ERR_SHUTTING_DOWN, "the daemon is shutting down");
        } else if (r == -ENOBUFS) {
            dagd_server_call_error(call, DAGD_ERR_QUEUE_FULL, "cannot queue a run of '%s': %s",
                                   p->name, msg);
        } else {
            dagd_server_call_error(call, dagd__api_store_code(d), "cannot start a run of '%s': %s",
                                   p->name, strerror(-r));
        }
        return 0;
    }
    dagd_diags_done(&diags);
    dagd_log_info("Run %s of '%s' submitted (trigger %s)", run_id, p->name, opts.trigger);
    /* A standby's run waits in the durable queue for the leader. */
    bool queued = d->standby || dagd_run_queue_is_queued(d->queue, run_id);
    if (!wait) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "run_id", run_id);
        cJSON_AddStringToObject(o, "pipeline", p->name);
        cJSON_AddStringToObject(o, "status", queued ? "queued" : "running");
        dagd_server_call_reply(call, o);
        return 0;
    }
    if (!streq(run_id, id)) {
        /* The run got another id after all: watch that one (nothing of it
         * was seen yet, so nothing is lost but what submit itself did). */
        dagd_run_queue_unwatch(d->queue, w->watch_id);
        memcpy(w->run_id, run_id, 33);
        w->watch_id = dagd_run_queue_watch(d->queue, run_id, on_waiter_event, w);
    }
    dagd_server_call_set_abort(call, on_waiter_abort, w);
    (void)dagd_server_call_event(call, accepted_event(p, run_id, queued));
    w->holding = false;
    cJSON *o;
    while ((o = cJSON_DetachItemFromArray(w->held, 0))) {
        (void)dagd_server_call_event(call, o);
    }
    if (d->standby) {
        /* The leader runs it: its step events are not seen here, its end
         * is (docs/postgresql.md). */
        dagd_run_queue_unwatch(d->queue, w->watch_id);
        w->watch_id = 0;
        w->poll = dagd_run_poll_new(d->loop, d->store, run_id, 0, on_waiter_poll, w);
    } else if (w->finished_while_holding || !dagd_run_queue_is_active(d->queue, run_id)) {
        waiter_finish(w);
    }
    return 0;
}

/* The pipeline named `name`, or an answer saying why there is none. */
static struct dagd_pipeline *find_pipeline(struct dagd_daemon *d, struct dagd_server_call *call,
                                           const char *name)
{
    struct dagd_pipeline *p = dagd_registry_get(d->registry, name);
    if (p) {
        return p;
    }
    /* A file that never loaded: say so with its first error. */
    for (size_t i = 0; i < dagd_registry_size(d->registry); i++) {
        const struct dagd_registry_entry *e = dagd_registry_at(d->registry, i);
        const char *base = strrchr(e->file, '/');
        base = base ? base + 1 : e->file;
        size_t n = strlen(name);
        if (!e->pipeline && strncmp(base, name, n) == 0 &&
            (streq(base + n, ".yaml") || streq(base + n, ".yml"))) {
            _cleanup_free_ char *msg = dagd_diags_summary(&e->errors);
            dagd_server_call_error(call, DAGD_ERR_INVALID_PIPELINE, "%s", msg);
            return NULL;
        }
    }
    dagd_server_call_error(call, DAGD_ERR_NOT_FOUND, "no pipeline '%.128s' in %s", name,
                           d->config.pipelines_dir);
    return NULL;
}

static int api_run(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *name = NULL, *from = NULL, *only = NULL, *partition = NULL;
    _cleanup_free_ char **overrides = NULL;
    size_t n = 0;
    bool force = false, wait = false, priority_set = false;
    int priority = 0;

    if (dagd__api_get_string(call, params, "pipeline", true, &name) < 0 ||
        dagd__api_get_priority(call, params, &priority, &priority_set) < 0 ||
        dagd__api_get_string(call, params, "from", false, &from) < 0 ||
        dagd__api_get_string(call, params, "only", false, &only) < 0 ||
        dagd__api_get_string(call, params, "partition", false, &partition) < 0 ||
        dagd__api_get_bool(call, params, "force", &force) < 0 ||
        dagd__api_get_bool(call, params, "wait", &wait) < 0 ||
        dagd__api_get_overrides(call, params, &overrides, &n) < 0) {
        return 0;
    }
    struct dagd_pipeline *p = find_pipeline(d, call, name);
    if (!p) {
        return 0;
    }
    struct dagd_run_options opts = {
        .trigger = "cli",
        .param_overrides = overrides,
        .n_param_overrides = n,
        .force = force,
        .from_step = from,
        .only_step = only,
        .partition = partition,
        .require_partition = true,
        .priority = priority,
        .priority_set = priority_set,
    };
    return submit(d, call, p, &opts, wait);
}

static int api_retry(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *prefix = NULL;
    bool wait = false;
    char run_id[33];

    if (dagd__api_get_string(call, params, "run", true, &prefix) < 0 ||
        dagd__api_get_bool(call, params, "wait", &wait) < 0 ||
        dagd__api_resolve_run(d, call, prefix, run_id) < 0) {
        return 0;
    }
    struct dagd_run_info parent = {0};
    if (dagd_run_queue_is_active(d->queue, run_id) ||
        (d->standby && dagd_run_poll_active(d->store, run_id)) ||
        dagd_store_run_get(d->store, run_id, &parent) < 0) {
        dagd_server_call_error(call, DAGD_ERR_CONFLICT,
                               "run %s has not ended yet: cancel it or wait", run_id);
        return 0;
    }
    struct dagd_pipeline *p = find_pipeline(d, call, parent.pipeline);
    if (!p) {
        dagd_run_info_done(&parent);
        return 0;
    }
    /* The parent's declared params carry over (not the built-ins). */
    size_t n = 0;
    char **overrides = dagd_params_overrides_from_json(&p->params, parent.params_json, &n);
    struct dagd_run_options opts = {
        .trigger = "retry",
        .param_overrides = overrides,
        .n_param_overrides = n,
        .parent_run_id = run_id,
        .partition = parent.partition, /* a retry runs its run's partition */
    };
    int r = submit(d, call, p, &opts, wait);
    for (size_t i = 0; i < n; i++) {
        free(overrides[i]);
    }
    free(overrides);
    dagd_run_info_done(&parent);
    return r;
}

/* ---- reads off the loop (PostgreSQL: read_pool.h) ---- */

/* One `runs` or `show` answered by a pool connection. */
struct pooled_read {
    struct dagd_server_call *call; /* NULL once the client went away */
    char *pipeline;                /* runs */
    unsigned limit;
    char prefix[33]; /* show: the run id or prefix asked for */
    char run_id[33];
    int resolved; /* show: 0, -ENOENT or -ENOTUNIQ */
    cJSON *result;
};

static void pooled_read_free(struct pooled_read *q)
{
    free(q->pipeline);
    cJSON_Delete(q->result);
    free(q);
}

static void on_pooled_abort(struct dagd_server_call *call, void *userdata)
{
    struct pooled_read *q = userdata;
    (void)call;
    q->call = NULL; /* the read goes on; its answer is dropped */
}

/* In a worker thread. */
static int read_runs(struct dagd_store *s, void *userdata)
{
    struct pooled_read *q = userdata;
    q->result = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(q->result, "runs");
    return dagd_history_add_runs(s, q->pipeline, q->limit, a);
}

/* In a worker thread: the prefix as the store knows it (dagd__api_resolve_run
 * found none in the queue), then the run. */
static int read_show(struct dagd_store *s, void *userdata)
{
    struct pooled_read *q = userdata;
    char *full = NULL;
    int r = dagd_store_run_resolve(s, q->prefix, &full);
    if (r == -ENOENT || r == -ENOTUNIQ) {
        q->resolved = r;
        return 0;
    }
    if (r < 0) {
        return r;
    }
    (void)snprintf(q->run_id, sizeof(q->run_id), "%s", full);
    free(full);
    r = dagd_history_show(s, q->run_id, &q->result);
    if (r == -ENOENT) {
        q->resolved = r; /* pruned meanwhile */
        return 0;
    }
    return r;
}

static void on_pooled_done(void *userdata, int r, const char *errmsg, bool unavailable)
{
    struct pooled_read *q = userdata;
    struct dagd_server_call *call = q->call;
    if (!call) {
        pooled_read_free(q);
        return;
    }
    dagd_server_call_set_abort(call, NULL, NULL);
    const char *what = q->pipeline || q->prefix[0] == '\0' ? "cannot list runs" : "cannot read run";
    if (r < 0) {
        dagd_server_call_error(call, unavailable ? DAGD_ERR_UNAVAILABLE : DAGD_ERR_INTERNAL,
                               "%s: %s", what, errmsg);
    } else if (q->resolved == -ENOENT) {
        dagd_server_call_error(call, DAGD_ERR_NOT_FOUND, "no run '%s'", q->prefix);
    } else if (q->resolved == -ENOTUNIQ) {
        dagd_server_call_error(call, DAGD_ERR_AMBIGUOUS,
                               "run id prefix '%s' matches several runs, give more digits",
                               q->prefix);
    } else {
        dagd_server_call_reply(call, TAKE_PTR(q->result));
    }
    pooled_read_free(q);
}

/* Hand q to the pool; false (q freed) when there is none or it refused:
 * the caller reads on the loop. */
static bool pooled(struct dagd_daemon *d, struct dagd_server_call *call, struct pooled_read *q,
                   dagd_read_work_fn fn)
{
    q->call = call;
    dagd_server_call_set_abort(call, on_pooled_abort, q);
    if (d->read_pool && dagd_read_pool_submit(d->read_pool, fn, on_pooled_done, q) >= 0) {
        return true;
    }
    dagd_server_call_set_abort(call, NULL, NULL);
    pooled_read_free(q);
    return false;
}

static int api_runs(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *pipeline = NULL;
    unsigned limit = 20;

    if (dagd__api_get_string(call, params, "pipeline", false, &pipeline) < 0 ||
        dagd__api_get_uint(call, params, "limit", 100000, &limit) < 0) {
        return 0;
    }
    if (d->read_pool) {
        struct pooled_read *q = dagd_xcalloc(1, sizeof(*q));
        q->pipeline = pipeline ? dagd_xstrdup(pipeline) : NULL;
        q->limit = limit;
        if (pooled(d, call, q, read_runs)) {
            return 0;
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "runs");

    /* Queued runs are rows of state.db too (the durable queue). */
    if (dagd_history_add_runs(d->store, pipeline, limit, a) < 0) {
        cJSON_Delete(o);
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot list runs: %s",
                               dagd_store_errmsg(d->store));
        return 0;
    }
    dagd_server_call_reply(call, o);
    return 0;
}

static size_t queued_matches(struct dagd_daemon *d, const char *prefix)
{
    char **ids = NULL;
    size_t n = dagd_run_queue_list(d->queue, prefix, &ids);
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
    }
    free(ids);
    return n;
}

static int api_show(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *prefix = NULL;
    char run_id[33];
    cJSON *o = NULL;

    if (dagd__api_get_string(call, params, "run", true, &prefix) < 0) {
        return 0;
    }
    /* A run the queue holds is answered here, from memory; any other is
     * looked up by a pool connection. */
    size_t len = strlen(prefix);
    if (d->read_pool && len > 0 && len <= 32 && strspn(prefix, "0123456789abcdef") == len &&
        queued_matches(d, prefix) == 0) {
        struct pooled_read *q = dagd_xcalloc(1, sizeof(*q));
        memcpy(q->prefix, prefix, len + 1);
        if (pooled(d, call, q, read_show)) {
            return 0;
        }
    }
    if (dagd__api_resolve_run(d, call, prefix, run_id) < 0) {
        return 0;
    }
    int r = dagd_daemon_json_show(d, run_id, &o);
    if (r == -ENOENT) {
        dagd_server_call_error(call, DAGD_ERR_NOT_FOUND, "no run '%s'", run_id);
        return 0;
    }
    if (r < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot read run %s: %s", run_id,
                               dagd_store_errmsg(d->store));
        return 0;
    }
    dagd_server_call_reply(call, o);
    return 0;
}

static int api_cancel(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *prefix = NULL;
    char run_id[33];

    if (dagd__api_get_string(call, params, "run", true, &prefix) < 0 ||
        dagd__api_resolve_run(d, call, prefix, run_id) < 0) {
        return 0;
    }
    int r = dagd_daemon_cancel(d, run_id);
    if (r == -EIO) {
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot relay the cancel of %s: %s",
                               run_id, dagd_store_errmsg(d->store));
        return 0;
    }
    if (r < 0) {
        struct dagd_run_info info = {0};
        const char *st = "ended";
        if (dagd_store_run_get(d->store, run_id, &info) >= 0) {
            st = dagd_run_status_to_string(info.status);
        }
        dagd_server_call_error(call, DAGD_ERR_CONFLICT, "run %s is not active (%s)", run_id, st);
        dagd_run_info_done(&info);
        return 0;
    }
    dagd_log_info("Run %s: cancel requested by uid %u", run_id,
                  (unsigned)dagd_server_call_uid(call));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", run_id);
    cJSON_AddStringToObject(o, "status", r == 1 ? "canceled" : "canceling");
    dagd_server_call_reply(call, o);
    return 0;
}

const struct dagd_api_command dagd_api_runs_commands[] = {
    {"run", DAGD_API_MUTATING | DAGD_API_RELAYED, api_run},
    {"retry", DAGD_API_MUTATING | DAGD_API_RELAYED, api_retry},
    {"runs", DAGD_API_READONLY, api_runs},
    {"show", DAGD_API_READONLY, api_show},
    {"cancel", DAGD_API_MUTATING | DAGD_API_RELAYED, api_cancel},
    {NULL, 0, NULL},
};
