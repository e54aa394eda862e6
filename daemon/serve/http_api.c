/* GET /api/...: the JSON the web UI reads, for scripts too. Where a route
 * matches a dagctl command its body is that command's `--json` result
 * (built by the same functions: api_*.c, engine/history_json.c), with
 * fields added, never changed:
 *
 *   /api/runs?pipeline=&status=&trigger=&since=&before=&limit=
 *       {runs: [...], next}: newest first, paged by keyset; `next` is the
 *       `before` of the following page (null on the last one)
 *   /api/runs/ID            `show` + graph: {needs: {step: [steps]}}
 *   /api/runs/ID/events?after=SEQ&step=S&limit=N
 *       {events: [...], last_seq}: the stored events (as `logs` streams
 *       them) after SEQ; a page polls it to follow a live run; or
 *       ?tail=N: the newest N (a big run's first view)
 *   /api/pipelines          `pipelines` + last_run per pipeline
 *   /api/ticks?name=&limit= `ticks`
 *   /api/pipelines/NAME/tables
 *       {pipeline, warehouse, lineage: `dagd lineage --json`, tables: [{name,
 *       rows, written_by, last_written: {run_id, ended_at, rows_out}}]}
 *   /api/runs/ID/report     the HTML the run's report step wrote
 *   /api/runs/ID/stream     Server-Sent Events (http.c, http_sse.h)
 *   /api/actions            {enabled}: whether the POSTs below exist
 *
 * With http_token_file: (and `Authorization: Bearer TOKEN`, checked in
 * http.c):
 *   POST /api/pipelines/NAME/run   {run_id, pipeline, status}
 *   POST /api/runs/ID/cancel       {run_id, status: canceled|canceling}
 *   POST /api/runs/ID/retry        {run_id, parent_run_id, status}
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>

#include "actions.h"
#include "api.h"
#include "daemon_json.h"
#include "history_json.h"
#include "http_internal.h"
#include "read_pool.h"

#define RUNS_PAGE_DEFAULT 50
#define RUNS_PAGE_MAX 1000
#define EVENTS_PAGE_DEFAULT 1000
#define EVENTS_PAGE_MAX 10000

void dagd__http_set_json(struct dagd_http_response *res, unsigned status, cJSON *o)
{
    res->status = status;
    res->content_type = "application/json";
    res->body = cJSON_PrintUnformatted(o);
    if (!res->body) {
        abort(); /* out of memory */
    }
    res->len = strlen(res->body);
    cJSON_Delete(o);
}

int dagd__http_set_error(struct dagd_http_response *res, unsigned status, const char *code,
                         const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    dagd__http_set_json(res, status, o);
    return 0;
}

/* An optional unsigned argument in [0, max]; -EINVAL when malformed. */
static int arg_u64(const struct dagd_http_request *req, const char *name, uint64_t max,
                   uint64_t *ret)
{
    const char *s = dagd__http_arg(req, name);
    char *end;
    if (!s || !*s) {
        return 0;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || s[0] == '-' || v > max) {
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

static const char *arg_str(const struct dagd_http_request *req, const char *name)
{
    const char *s = dagd__http_arg(req, name);
    return s && *s ? s : NULL;
}

/* A run id: 32 lower-case hex digits (anything else is not one of ours). */
static bool valid_run_id(const char *s, size_t n)
{
    if (n != 32) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* `before` is "CREATED_AT.RUN_ID", as `next` returned it. */
static int parse_cursor(const char *s, struct dagd_runs_filter *f)
{
    char *end;
    errno = 0;
    long long c = strtoll(s, &end, 10);
    if (errno || end == s || *end != '.' || c < 0 || strlen(end + 1) > 32) {
        return -EINVAL;
    }
    f->before_created_at = c;
    f->before_run_id = end + 1;
    return 0;
}

/* A store failure: 503 while a PostgreSQL history is being reconnected
 * (UNAVAILABLE, retry), 500 else. */
static int store_status(struct dagd_daemon *d)
{
    return dagd_store_unavailable(d->store) ? 503 : 500;
}

/* The body of a runs page (takes runs). */
static cJSON *runs_json(struct dagd_run_info *runs, size_t n, size_t limit)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "runs");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, dagd_history_run_json(&runs[i]));
    }
    if (n > 0 && n == limit) {
        char *next = dagd_xasprintf("%" PRId64 ".%s", runs[n - 1].created_at, runs[n - 1].run_id);
        cJSON_AddStringToObject(o, "next", next);
        free(next);
    } else {
        cJSON_AddNullToObject(o, "next");
    }
    for (size_t i = 0; i < n; i++) {
        dagd_run_info_done(&runs[i]);
    }
    free(runs);
    return o;
}

/* The body of an events page (takes evs). */
static cJSON *events_json(struct dagd_event_info *evs, size_t n, int64_t after)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "events");
    int64_t last = after;
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, dagd_history_event_json(&evs[i]));
        last = evs[i].seq;
        dagd_event_info_done(&evs[i]);
    }
    free(evs);
    cJSON_AddNumberToObject(o, "last_seq", (double)last);
    return o;
}

/* A runs page read on the loop. */
static int runs_on_loop(struct dagd_daemon *d, const struct dagd_runs_filter *f,
                        struct dagd_http_response *res)
{
    /* Queued runs are rows of state.db too (the durable queue). */
    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    if (dagd_store_runs_page(d->store, f, &runs, &n) < 0) {
        return dagd__http_set_error(res, store_status(d), dagd__api_store_code(d),
                                    "cannot list runs: %s", dagd_store_errmsg(d->store));
    }
    dagd__http_set_json(res, 200, runs_json(runs, n, f->limit));
    return 0;
}

/* An events page read on the loop: the newest `tail`, or those after
 * `after`. */
static int events_on_loop(struct dagd_daemon *d, const char *run_id, const char *step,
                          int64_t after, size_t limit, size_t tail, struct dagd_http_response *res)
{
    struct dagd_event_info *evs = NULL;
    size_t n = 0;
    int r = tail > 0 ? dagd_store_events_tail(d->store, run_id, tail, &evs, &n)
                     : dagd_store_events_list(d->store, run_id, step, after, limit, &evs, &n);
    if (r < 0) {
        return dagd__http_set_error(res, store_status(d), dagd__api_store_code(d),
                                    "cannot read events: %s", dagd_store_errmsg(d->store));
    }
    dagd__http_set_json(res, 200, events_json(evs, n, after));
    return 0;
}

/* ---- pages read off the loop (PostgreSQL: read_pool.h) ---- */

/* One runs or events page read by a pool connection: its arguments copied
 * (the worker thread sees nothing else), its answer built there too. */
struct page_read {
    struct dagd_http_deferred *t; /* NULL once the request is gone */
    bool events;
    char *pipeline, *status, *trigger, *before_run_id; /* runs: f's strings */
    struct dagd_runs_filter f;
    char run_id[33]; /* events */
    char *step;
    int64_t after;
    size_t limit, tail;
    struct dagd_http_response res; /* the 200 the worker built */
};

static void page_read_free(struct page_read *q)
{
    free(q->pipeline);
    free(q->status);
    free(q->trigger);
    free(q->before_run_id);
    free(q->step);
    free(q->res.body);
    free(q);
}

static void on_page_abort(void *userdata)
{
    struct page_read *q = userdata;
    q->t = NULL; /* the read goes on; its answer is dropped */
}

/* In a worker thread. */
static int read_page(struct dagd_store *s, void *userdata)
{
    struct page_read *q = userdata;
    cJSON *o;
    if (q->events) {
        struct dagd_event_info *evs = NULL;
        size_t n = 0;
        int r = q->tail > 0
                    ? dagd_store_events_tail(s, q->run_id, q->tail, &evs, &n)
                    : dagd_store_events_list(s, q->run_id, q->step, q->after, q->limit, &evs, &n);
        if (r < 0) {
            return r;
        }
        o = events_json(evs, n, q->after);
    } else {
        struct dagd_run_info *runs = NULL;
        size_t n = 0;
        int r = dagd_store_runs_page(s, &q->f, &runs, &n);
        if (r < 0) {
            return r;
        }
        o = runs_json(runs, n, q->f.limit);
    }
    dagd__http_set_json(&q->res, 200, o);
    return 0;
}

static void on_page_done(void *userdata, int r, const char *errmsg, bool unavailable)
{
    struct page_read *q = userdata;
    if (q->t) {
        struct dagd_http_response res = q->res;
        q->res.body = NULL;
        const char *what = q->events ? "cannot read events" : "cannot list runs";
        if (r == -ECANCELED) {
            (void)dagd__http_set_error(&res, 503, DAGD_ERR_SHUTTING_DOWN, "%s", errmsg);
        } else if (r < 0) {
            (void)dagd__http_set_error(&res, unavailable ? 503 : 500,
                                       unavailable ? DAGD_ERR_UNAVAILABLE : DAGD_ERR_INTERNAL,
                                       "%s: %s", what, errmsg);
        }
        dagd__http_deferred_answer(q->t, &res);
    }
    page_read_free(q);
}

/* Hand q to the pool, the request's answer deferred: 0 with res->deferred
 * set, or -EAGAIN (q freed) when there is no pool or it refused: the
 * caller reads on the loop. */
static int pooled(const struct dagd_http_request *req, struct page_read *q,
                  struct dagd_http_response *res)
{
    struct dagd_daemon *d = req->d;
    if (!req->http || !d->read_pool || dagd_store_unavailable(d->store)) {
        page_read_free(q);
        return -EAGAIN;
    }
    q->t = dagd__http_defer(req, on_page_abort, q);
    res->deferred = true;
    if (dagd_read_pool_submit(d->read_pool, read_page, on_page_done, q) < 0) {
        /* Refused (the pool is closing): read on the loop after all. */
        struct dagd_http_response now = {0};
        if (q->events) {
            (void)events_on_loop(d, q->run_id, q->step, q->after, q->limit, q->tail, &now);
        } else {
            (void)runs_on_loop(d, &q->f, &now);
        }
        dagd__http_deferred_answer(q->t, &now);
        page_read_free(q);
    }
    return 0;
}

static int api_runs(const struct dagd_http_request *req, struct dagd_http_response *res)
{
    struct dagd_daemon *d = req->d;
    struct dagd_runs_filter f = {
        .pipeline = arg_str(req, "pipeline"),
        .status = arg_str(req, "status"),
        .trigger = arg_str(req, "trigger"),
    };
    uint64_t limit = RUNS_PAGE_DEFAULT, since = 0;
    const char *before = arg_str(req, "before");

    if (arg_u64(req, "limit", RUNS_PAGE_MAX, &limit) < 0 || limit == 0 ||
        arg_u64(req, "since", INT64_MAX, &since) < 0 || (before && parse_cursor(before, &f) < 0)) {
        return dagd__http_set_error(res, 400, "INVALID_PARAMS",
                                    "limit is 1..%d, since epoch ms, before a `next` value",
                                    RUNS_PAGE_MAX);
    }
    if (f.status && dagd_run_status_from_string(f.status) < 0) {
        return dagd__http_set_error(res, 400, "INVALID_PARAMS", "unknown status");
    }
    f.since_ms = (int64_t)since;
    f.limit = limit;
    if (d->read_pool) {
        struct page_read *q = dagd_xcalloc(1, sizeof(*q));
        q->f = f;
        q->f.pipeline = q->pipeline = f.pipeline ? dagd_xstrdup(f.pipeline) : NULL;
        q->f.status = q->status = f.status ? dagd_xstrdup(f.status) : NULL;
        q->f.trigger = q->trigger = f.trigger ? dagd_xstrdup(f.trigger) : NULL;
        q->f.before_run_id = q->before_run_id =
            f.before_run_id ? dagd_xstrdup(f.before_run_id) : NULL;
        if (pooled(req, q, res) == 0) {
            return 0;
        }
    }
    return runs_on_loop(d, &f, res);
}

/* The DAG of the run's pipeline as loaded now (the run may predate an
 * edit; steps it does not know are drawn unconnected). */
static void add_graph(struct dagd_daemon *d, cJSON *o)
{
    const cJSON *run = cJSON_GetObjectItem(o, "run");
    const char *pipeline = cJSON_GetStringValue(cJSON_GetObjectItem(run, "pipeline"));
    struct dagd_pipeline *p = pipeline ? dagd_registry_get(d->registry, pipeline) : NULL;
    cJSON *needs = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "graph"), "needs");
    if (!p) {
        return;
    }
    for (size_t i = 0; i < p->n_steps; i++) {
        cJSON *a = cJSON_AddArrayToObject(needs, p->steps[i].name);
        for (size_t k = 0; k < p->steps[i].n_needs; k++) {
            cJSON_AddItemToArray(a, cJSON_CreateString(p->steps[i].needs[k]));
        }
    }
}

static int api_run(const struct dagd_http_request *req, const char *run_id,
                   struct dagd_http_response *res)
{
    cJSON *o = NULL;
    int r = dagd_daemon_json_show(req->d, run_id, &o);
    if (r == -ENOENT) {
        return dagd__http_set_error(res, 404, "NOT_FOUND", "no such run");
    }
    if (r < 0) {
        return dagd__http_set_error(res, store_status(req->d), dagd__api_store_code(req->d),
                                    "cannot read the run: %s", dagd_store_errmsg(req->d->store));
    }
    add_graph(req->d, o);
    dagd__http_set_json(res, 200, o);
    return 0;
}

static int api_events(const struct dagd_http_request *req, const char *run_id,
                      struct dagd_http_response *res)
{
    uint64_t after = 0, limit = EVENTS_PAGE_DEFAULT;

    uint64_t tail = 0;
    if (arg_u64(req, "after", INT64_MAX, &after) < 0 ||
        arg_u64(req, "limit", EVENTS_PAGE_MAX, &limit) < 0 || limit == 0 ||
        arg_u64(req, "tail", EVENTS_PAGE_MAX, &tail) < 0) {
        return dagd__http_set_error(res, 400, "INVALID_PARAMS",
                                    "after is a seq, limit and tail 1..%d", EVENTS_PAGE_MAX);
    }
    const char *step = arg_str(req, "step");
    if (req->d->read_pool) {
        struct page_read *q = dagd_xcalloc(1, sizeof(*q));
        q->events = true;
        memcpy(q->run_id, run_id, sizeof(q->run_id));
        q->step = step ? dagd_xstrdup(step) : NULL;
        q->after = (int64_t)after;
        q->limit = limit;
        q->tail = tail;
        if (pooled(req, q, res) == 0) {
            return 0;
        }
    }
    return events_on_loop(req->d, run_id, step, (int64_t)after, limit, tail, res);
}

static int api_pipelines(const struct dagd_http_request *req, struct dagd_http_response *res)
{
    struct dagd_daemon *d = req->d;
    cJSON *list = dagd_daemon_json_pipelines(d);
    cJSON *it;

    /* The newest run of each: one indexed lookup per pipeline. */
    cJSON_ArrayForEach(it, list)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
        struct dagd_run_info *runs = NULL;
        size_t n = 0;
        if (name && dagd_store_runs_list(d->store, name, 1, &runs, &n) >= 0 && n == 1) {
            cJSON_AddItemToObject(it, "last_run", dagd_history_run_json(&runs[0]));
        } else {
            cJSON_AddNullToObject(it, "last_run");
        }
        for (size_t i = 0; i < n; i++) {
            dagd_run_info_done(&runs[i]);
        }
        free(runs);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "pipelines", list);
    dagd__http_set_json(res, 200, o);
    return 0;
}

static int api_ticks(const struct dagd_http_request *req, struct dagd_http_response *res)
{
    uint64_t limit = 50;
    cJSON *o = NULL;
    if (arg_u64(req, "limit", 100000, &limit) < 0) {
        return dagd__http_set_error(res, 400, "INVALID_PARAMS", "limit is 0..100000");
    }
    if (dagd_daemon_json_ticks(req->d, arg_str(req, "name"), (unsigned)limit, &o) < 0) {
        return dagd__http_set_error(res, store_status(req->d), dagd__api_store_code(req->d),
                                    "cannot list ticks: %s", dagd_store_errmsg(req->d->store));
    }
    dagd__http_set_json(res, 200, o);
    return 0;
}

/* The answer of a refused run or retry, by its -errno. */
static int action_error(struct dagd_http_response *res, struct dagd_daemon *d, int r,
                        const char *msg)
{
    switch (r) {
    case -ENOENT:
        return dagd__http_set_error(res, 404, "NOT_FOUND", "%s", msg);
    case -EINVAL:
        return dagd__http_set_error(res, 400, "INVALID_PIPELINE", "%s", msg);
    case -EBUSY:
        return dagd__http_set_error(res, 409, "CONFLICT", "%s", msg);
    case -ENOBUFS:
        return dagd__http_set_error(res, 503, "QUEUE_FULL", "%s", msg);
    case -ESHUTDOWN:
        return dagd__http_set_error(res, 503, "SHUTTING_DOWN", "%s", msg);
    default:
        return dagd__http_set_error(res, store_status(d), dagd__api_store_code(d), "%s", msg);
    }
}

static int started(struct dagd_http_response *res, struct dagd_daemon *d, const char *run_id,
                   const char *key, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", run_id);
    cJSON_AddStringToObject(o, key, value);
    cJSON_AddStringToObject(o, "status",
                            d->standby || dagd_run_queue_is_queued(d->queue, run_id) ? "queued"
                                                                                     : "running");
    dagd__http_set_json(res, 200, o);
    return 0;
}

int dagd__http_action(const struct dagd_http_request *req, struct dagd_http_response *res)
{
    static const char who[] = "the HTTP API";
    struct dagd_daemon *d = req->d;
    const char *p = req->path;
    char run_id[33];
    _cleanup_free_ char *msg = NULL;

    if (strncmp(p, "/api/pipelines/", 15) == 0) {
        const char *name = p + 15;
        size_t n = strlen(name);
        if (n < 5 || !streq(name + n - 4, "/run") || n - 4 > 128) {
            return -ENOENT;
        }
        _cleanup_free_ char *pipeline = dagd_xstrndup(name, n - 4);
        int r = dagd_action_run(d, pipeline, who, run_id, &msg);
        return r < 0 ? action_error(res, d, r, msg) : started(res, d, run_id, "pipeline", pipeline);
    }
    if (strncmp(p, "/api/runs/", 10) != 0 || !valid_run_id(p + 10, strcspn(p + 10, "/"))) {
        return -ENOENT;
    }
    char id[33];
    memcpy(id, p + 10, 32);
    id[32] = '\0';
    if (streq(p + 42, "/cancel")) {
        int r = dagd_action_cancel(d, id, who);
        if (r < 0) {
            return dagd__http_set_error(res, 409, "CONFLICT", "run %s is not active", id);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "run_id", id);
        cJSON_AddStringToObject(o, "status", r == 1 ? "canceled" : "canceling");
        dagd__http_set_json(res, 200, o);
        return 0;
    }
    if (streq(p + 42, "/retry")) {
        int r = dagd_action_retry(d, id, who, run_id, &msg);
        return r < 0 ? action_error(res, d, r, msg) : started(res, d, run_id, "parent_run_id", id);
    }
    return -ENOENT;
}

int dagd__http_api(const struct dagd_http_request *req, struct dagd_http_response *res)
{
    const char *p = req->path + strlen("/api/");

    if (streq(p, "actions")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "enabled", req->actions);
        dagd__http_set_json(res, 200, o);
        return 0;
    }

    if (streq(p, "runs")) {
        return api_runs(req, res);
    }
    if (streq(p, "pipelines")) {
        return api_pipelines(req, res);
    }
    if (streq(p, "ticks")) {
        return api_ticks(req, res);
    }
    if (strncmp(p, "pipelines/", 10) == 0) {
        const char *name = p + 10;
        size_t n = strlen(name);
        if (n > 7 && n - 7 <= 128 && streq(name + n - 7, "/tables")) {
            _cleanup_free_ char *pipeline = dagd_xstrndup(name, n - 7);
            return dagd__http_tables(req, pipeline, res);
        }
        return -ENOENT;
    }
    if (strncmp(p, "runs/", 5) == 0) {
        const char *id = p + 5;
        size_t n = strcspn(id, "/");
        if (!valid_run_id(id, n)) {
            return dagd__http_set_error(res, 404, "NOT_FOUND", "no such run");
        }
        char run_id[33];
        memcpy(run_id, id, 32);
        run_id[32] = '\0';
        if (id[n] == '\0') {
            return api_run(req, run_id, res);
        }
        if (streq(id + n, "/events")) {
            return api_events(req, run_id, res);
        }
        if (streq(id + n, "/report")) {
            return dagd__http_report(req, run_id, res);
        }
    }
    return -ENOENT;
}
