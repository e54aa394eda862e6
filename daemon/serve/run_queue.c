/* See run_queue.h. */
#include "run_queue.h"

#include <cjson/cJSON.h>

#include "log.h"

struct lane;

struct qrun {
    struct qrun *next;
    struct lane *lane; /* while queued */
    char run_id[33];
    struct dagd_pipeline *p; /* a reference */
    const char *pipeline;    /* p->name (p is held until the entry is freed) */
    const char *trigger;     /* a known trigger's static string, or trigger_owned */
    char *trigger_owned;
    char **overrides;
    size_t n_overrides;
    bool force;
    char *from_step, *only_step, *parent_run_id, *partition;
    char *backfill_id;
    int priority;
    bool recorded; /* its row is in state.db (durable queue) */
    bool adopted;  /* found in state.db (a backfill's, or at start): not held to the bounds */
    uint64_t seq;  /* order of enqueue (dagd_run_queue_list: newest first) */
    unsigned max_jobs;
    int64_t created_ms;
    struct dagd_run_resolved *resolved; /* at submit; handed to the executor at start */
    size_t bytes;                       /* what it holds, counted against max_queued_bytes */
};

/* The queued runs of one pipeline that belong to one backfill, or to none
 * (manual, scheduled, sensor and retry runs): the unit of fairness. Runs of
 * a lane start by priority, then age; lanes take turns (see pick()). */
struct lane {
    struct lane *next;
    char *pipeline;
    char *backfill_id; /* NULL: the pipeline's runs outside backfills */
    struct qrun *head, *tail;
    size_t n;
    uint64_t served; /* the queue turn of its last start; 0 = never */
};

struct watcher {
    int id;
    char run_id[33];
    dagd_exec_observer_fn fn;
    void *userdata;
    bool removed;
};

struct dagd_run_queue {
    struct dagd_executor *executor;
    struct dagd_store *store;
    char *state_dir;
    unsigned max_runs;
    unsigned max_backfill_runs; /* 0 = max_runs */
    size_t n_running_backfill;
    int observer_id;

    struct lane *lanes;
    struct lane *last_lane; /* enqueue's cache: a backfill adopts its runs in a row */
    uint64_t turn;          /* starts so far (the lanes' served clock) */
    uint64_t n_enqueued;    /* the qruns' seq */
    struct qrun *running;
    size_t n_queued, n_running;
    size_t n_adopted; /* of n_queued: adopted from state.db, not held to the bounds */
    size_t queued_bytes;
    unsigned max_queued;     /* runs that may wait; more are refused */
    size_t max_queued_bytes; /* and the bytes they may hold together */

    struct watcher *watchers;
    size_t n_watchers;
    int next_watch_id;
    unsigned dispatching;

    void (*idle_fn)(void *userdata);
    void *idle_userdata;
    void (*change_fn)(void *userdata);
    void *change_userdata;
    bool pumping;
};

/* The counts changed: tell the one listener (the daemon's STATUS= line). */
static void changed(struct dagd_run_queue *q)
{
    if (q->change_fn) {
        q->change_fn(q->change_userdata);
    }
}

static void qrun_free(struct qrun *r)
{
    if (!r) {
        return;
    }
    dagd_pipeline_unref(r->p);
    free(r->trigger_owned);
    for (size_t i = 0; i < r->n_overrides; i++) {
        free(r->overrides[i]);
    }
    free(r->overrides);
    free(r->from_step);
    free(r->only_step);
    free(r->parent_run_id);
    free(r->partition);
    free(r->backfill_id);
    dagd_run_resolved_free(r->resolved);
    free(r);
}

/* Memory a queued run holds, roughly: the entry and its strings. */
static size_t qrun_bytes(const struct qrun *r)
{
    size_t n = sizeof(*r) + r->n_overrides * sizeof(char *) + strlen(r->trigger);
    for (size_t i = 0; i < r->n_overrides; i++) {
        n += strlen(r->overrides[i]) + 1;
    }
    n += r->from_step ? strlen(r->from_step) : 0;
    n += r->only_step ? strlen(r->only_step) : 0;
    n += r->partition ? strlen(r->partition) : 0;
    return n;
}

static size_t resolved_bytes(const struct dagd_run_resolved *rr)
{
    /* params_json twice: the JSON and the params it was made from */
    size_t n = sizeof(*rr) + 2 * strlen(rr->params_json ? rr->params_json : "") +
               rr->n_steps * (sizeof(bool) + 2 * sizeof(char *));
    for (size_t i = 0; rr->config_json && i < rr->n_steps; i++) {
        n += rr->config_json[i] ? strlen(rr->config_json[i]) : 0;
    }
    return n;
}

/* true (with a diagnostic) if r may not wait: the queue is at its bounds. */
static bool queue_full(const struct dagd_run_queue *q, const struct dagd_pipeline *p,
                       const struct qrun *r, struct dagd_diags *reterr)
{
    if (q->n_queued - q->n_adopted < q->max_queued &&
        q->queued_bytes + r->bytes <= q->max_queued_bytes) {
        return false;
    }
    dagd_diags_add(reterr, p->file, (struct dagd_mark){0},
                   "the run queue is full (%zu runs, %zu bytes waiting; limits "
                   "max_queued_runs %u, max_queued_bytes %zu)",
                   q->n_queued, q->queued_bytes, q->max_queued, q->max_queued_bytes);
    return true;
}

static void lane_free(struct lane *l)
{
    free(l->pipeline);
    free(l->backfill_id);
    free(l);
}

/* Take r (queued) out of its lane; an empty lane goes. */
static void unqueue(struct dagd_run_queue *q, struct qrun *r)
{
    struct lane *l = r->lane;
    struct qrun *prev = NULL;
    for (struct qrun *i = l->head; i != r; i = i->next) {
        prev = i;
    }
    *(prev ? &prev->next : &l->head) = r->next;
    if (l->tail == r) {
        l->tail = prev;
    }
    r->next = NULL;
    r->lane = NULL;
    l->n--;
    q->n_queued--;
    q->n_adopted -= r->adopted;
    q->queued_bytes -= r->bytes;
    if (l->n == 0) {
        struct lane **pp = &q->lanes;
        while (*pp != l) {
            pp = &(*pp)->next;
        }
        *pp = l->next;
        if (q->last_lane == l) {
            q->last_lane = NULL;
        }
        lane_free(l);
    }
}

static struct qrun *find_queued(const struct dagd_run_queue *q, const char *run_id)
{
    for (const struct lane *l = q->lanes; l; l = l->next) {
        for (struct qrun *r = l->head; r; r = r->next) {
            if (streq(r->run_id, run_id)) {
                return r;
            }
        }
    }
    return NULL;
}

/* The usual triggers are shared strings: a queued run of a big backfill
 * should not carry a copy of "backfill". */
static void set_trigger(struct qrun *r, const char *t)
{
    static const char *const known[] = {"backfill", "cli", "schedule", "sensor", "retry"};
    for (size_t i = 0; i < ELEMENTSOF(known); i++) {
        if (streq(t, known[i])) {
            r->trigger = known[i];
            return;
        }
    }
    r->trigger = r->trigger_owned = dagd_xstrdup(t);
}

static char *strdup_or_null(const char *s)
{
    return s ? dagd_xstrdup(s) : NULL;
}

/* ---- watchers ---- */

static void dispatch(struct dagd_run_queue *q, const struct dagd_exec_event *ev)
{
    if (!ev->run_id) {
        return;
    }
    q->dispatching++;
    /* n_watchers may grow during the loop; only those present now are told. */
    size_t n = q->n_watchers;
    for (size_t i = 0; i < n; i++) {
        struct watcher *w = &q->watchers[i];
        if (!w->removed && streq(w->run_id, ev->run_id)) {
            w->fn(ev, w->userdata);
        }
    }
    if (--q->dispatching == 0) {
        size_t k = 0;
        for (size_t i = 0; i < q->n_watchers; i++) {
            if (!q->watchers[i].removed) {
                q->watchers[k++] = q->watchers[i];
            }
        }
        q->n_watchers = k;
    }
}

int dagd_run_queue_watch(struct dagd_run_queue *q, const char *run_id, dagd_exec_observer_fn fn,
                         void *userdata)
{
    q->watchers = dagd_xreallocarray(q->watchers, q->n_watchers + 1, sizeof(*q->watchers));
    struct watcher *w = &q->watchers[q->n_watchers++];
    *w = (struct watcher){.id = ++q->next_watch_id, .fn = fn, .userdata = userdata};
    snprintf(w->run_id, sizeof(w->run_id), "%s", run_id);
    return w->id;
}

void dagd_run_queue_unwatch(struct dagd_run_queue *q, int id)
{
    for (size_t i = 0; i < q->n_watchers; i++) {
        if (q->watchers[i].id == id) {
            q->watchers[i].removed = true;
            if (q->dispatching == 0) {
                q->watchers[i] = q->watchers[--q->n_watchers];
            }
            return;
        }
    }
}

/* ---- admission ---- */

static size_t running_of(const struct dagd_run_queue *q, const char *pipeline)
{
    size_t n = 0;
    for (const struct qrun *r = q->running; r; r = r->next) {
        n += streq(r->pipeline, pipeline);
    }
    return n;
}

static bool can_start(const struct dagd_run_queue *q, const struct qrun *r)
{
    if (q->n_running >= q->max_runs) {
        return false;
    }
    if (r->backfill_id && q->max_backfill_runs > 0 &&
        q->n_running_backfill >= q->max_backfill_runs) {
        return false;
    }
    return r->p->concurrency == 0 || running_of(q, r->pipeline) < r->p->concurrency;
}

/* Record a run that never reached the executor (canceled while queued, or
 * refused when it was finally submitted), so it shows up in the history. */
static void finish_recorded(struct dagd_run_queue *q, struct qrun *r, enum dagd_run_status status,
                            const char *error);

static void record_unstarted(struct dagd_run_queue *q, struct qrun *r, enum dagd_run_status status,
                             const char *error)
{
    if (r->recorded) {
        finish_recorded(q, r, status, error);
        return;
    }
    char **steps = dagd_xcalloc(r->p->n_steps + 1, sizeof(char *));
    char **tasks = dagd_xcalloc(r->p->n_steps + 1, sizeof(char *));
    for (size_t i = 0; i < r->p->n_steps; i++) {
        steps[i] = r->p->steps[i].name;
        tasks[i] = r->p->steps[i].task;
    }
    struct dagd_params empty = {0};
    _cleanup_free_ char *params = dagd_params_to_json(&empty);
    struct dagd_run_info info = {
        .run_id = r->run_id,
        .pipeline = (char *)r->pipeline,
        .trigger = (char *)r->trigger,
        .params_json = params,
        .parent_run_id = r->parent_run_id,
        .created_at = r->created_ms,
        .partition = r->partition,
    };
    int64_t now = dagd_usec_to_msec(dagd_now_wall_usec());
    int k = dagd_store_run_create(q->store, &info, steps, tasks, r->p->n_steps);
    if (k >= 0) {
        k = dagd_store_run_set_status(q->store, r->run_id, status, error, now);
    }
    if (k < 0) {
        dagd_log_warning("Failed to record run %s: %s, ignoring", r->run_id,
                         dagd_store_errmsg(q->store));
    }
    free(steps);
    free(tasks);

    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_RUN_FINISHED,
        .run_id = r->run_id,
        .pipeline = r->pipeline,
        .run_status = status,
    };
    dispatch(q, &ev);
}

/* A run of the durable queue ends without starting: its row (and pending
 * steps) say so. */
static void finish_recorded(struct dagd_run_queue *q, struct qrun *r, enum dagd_run_status status,
                            const char *error)
{
    int64_t now = dagd_now_wall_msec();
    int k = dagd_store_run_set_status(q->store, r->run_id, status, error, now);
    if (k < 0) {
        dagd_log_warning("Failed to record run %s: %s, ignoring", r->run_id,
                         dagd_store_errmsg(q->store));
    }
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_RUN_FINISHED,
        .run_id = r->run_id,
        .pipeline = r->pipeline,
        .run_status = status,
    };
    dispatch(q, &ev);
}

static void pump(struct dagd_run_queue *q);

/* Hand a run to the executor; it moves to the running list first, so a
 * RUN_FINISHED reported from inside submit finds it. */
static bool is_running(const struct dagd_run_queue *q, const struct qrun *r)
{
    for (const struct qrun *i = q->running; i; i = i->next) {
        if (i == r) {
            return true;
        }
    }
    return false;
}

static int start(struct dagd_run_queue *q, struct qrun *r, char ret_run_id[static 33],
                 struct dagd_diags *reterr)
{
    struct dagd_run_options opts = {
        .trigger = r->trigger,
        .param_overrides = r->overrides,
        .n_param_overrides = r->n_overrides,
        .force = r->force,
        .from_step = r->from_step,
        .only_step = r->only_step,
        .parent_run_id = r->parent_run_id,
        .max_jobs = r->max_jobs,
        .run_id = r->run_id,
        .partition = r->partition,
        .recorded = r->recorded,
    };
    char id[33];

    if (!r->resolved) {
        /* A run of the durable queue is resolved when it starts. */
        int k = dagd_run_resolve(r->p, &opts, q->state_dir, r->run_id, false, &r->resolved, reterr);
        if (k < 0) {
            return k;
        }
    }
    r->next = q->running;
    q->running = r;
    q->n_running++;
    q->n_running_backfill += r->backfill_id != NULL;
    int k =
        dagd_executor_submit_resolved(q->executor, r->p, &opts, TAKE_PTR(r->resolved), id, reterr);
    if (k < 0) {
        for (struct qrun **pp = &q->running; *pp; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        }
        q->n_running--;
        q->n_running_backfill -= r->backfill_id != NULL;
        return k;
    }
    memcpy(ret_run_id, id, 33);
    /* r is gone already if the run ended inside submit. */
    if (is_running(q, r) && !streq(id, r->run_id)) {
        /* An executor that does not honor opts.run_id: follow its id. */
        dagd_log_debug("%s: executor renamed run %s to %s", __func__, r->run_id, id);
        memcpy(r->run_id, id, sizeof(id));
    }
    return 0;
}

/* The lane whose head starts next, or NULL: among the lanes whose head the
 * limits let start, the highest priority; at equal priority the lane served
 * least recently (round robin), so a lane of 10,000 backfill runs and a lane
 * with one manual run alternate instead of the manual run waiting for all
 * of them. A lane's runs are all of one pipeline: one check covers them. */
static struct lane *pick(const struct dagd_run_queue *q)
{
    struct lane *best = NULL;
    for (struct lane *l = q->lanes; l; l = l->next) {
        if (!can_start(q, l->head)) {
            continue;
        }
        /* Ties (lanes never served) go to the older head. */
        const struct qrun *h = l->head, *b = best ? best->head : NULL;
        if (!b || h->priority > b->priority ||
            (h->priority == b->priority &&
             (l->served < best->served || (l->served == best->served && h->seq < b->seq)))) {
            best = l;
        }
    }
    return best;
}

static void pump(struct dagd_run_queue *q)
{
    if (q->pumping) {
        return; /* re-entered from a RUN_FINISHED inside submit: the outer loop goes on */
    }
    q->pumping = true;
    struct lane *l;
    while (q->n_running < q->max_runs && (l = pick(q))) {
        struct qrun *r = l->head;
        l->served = ++q->turn;
        unqueue(q, r);
        struct dagd_diags diags = {0};
        char id[33];
        if (start(q, r, id, &diags) < 0) {
            _cleanup_free_ char *msg =
                diags.n > 0
                    ? dagd_xasprintf("%s:%u:%u: %s", diags.items[0].file, diags.items[0].mark.line,
                                     diags.items[0].mark.col, diags.items[0].message)
                    : dagd_xstrdup("the executor refused the run");
            dagd_log_warning("Queued run %s of '%s' could not start: %s", r->run_id, r->pipeline,
                             msg);
            record_unstarted(q, r, DAGD_RUN_FAILED, msg);
            qrun_free(r);
        }
        dagd_diags_done(&diags);
    }
    q->pumping = false;
}

/* Whether the queue still holds a run of the backfill (queued or running). */
static bool backfill_active(const struct dagd_run_queue *q, const char *backfill_id)
{
    for (const struct lane *l = q->lanes; l; l = l->next) {
        if (streq_ptr(l->backfill_id, backfill_id)) {
            return true;
        }
    }
    for (const struct qrun *r = q->running; r; r = r->next) {
        if (streq_ptr(r->backfill_id, backfill_id)) {
            return true;
        }
    }
    return false;
}

/* A backfill whose runs have all ended is done. The store counts its runs
 * only once the queue holds none of them: a count per finished run made a
 * 100,000-run backfill quadratic (25 ms a count, 4 s and growing per 100
 * runs). */
static void backfill_check_done(struct dagd_run_queue *q, const char *backfill_id)
{
    int64_t counts[5];
    if (backfill_active(q, backfill_id)) {
        return;
    }
    if (dagd_store_backfill_counts(q->store, backfill_id, counts) == 0 &&
        counts[DAGD_RUN_QUEUED] == 0 && counts[DAGD_RUN_RUNNING] == 0) {
        (void)dagd_store_backfill_set_status(q->store, backfill_id, "done", dagd_now_wall_msec());
    }
}

static void on_exec_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct dagd_run_queue *q = userdata;

    dispatch(q, ev);
    if (ev->kind == DAGD_EXEC_RUN_STARTED) {
        changed(q);
        return;
    }
    if (ev->kind != DAGD_EXEC_RUN_FINISHED || !ev->run_id) {
        return;
    }
    _cleanup_free_ char *backfill = NULL;
    for (struct qrun **pp = &q->running; *pp; pp = &(*pp)->next) {
        struct qrun *r = *pp;
        if (streq(r->run_id, ev->run_id)) {
            *pp = r->next;
            q->n_running--;
            q->n_running_backfill -= r->backfill_id != NULL;
            backfill = TAKE_PTR(r->backfill_id);
            qrun_free(r);
            break;
        }
    }
    /* A slot is free: the next queued run starts now. */
    pump(q);
    if (backfill) {
        backfill_check_done(q, backfill);
    }
    changed(q);
    if (q->n_running == 0 && q->idle_fn) {
        void (*fn)(void *) = q->idle_fn;
        q->idle_fn = NULL;
        fn(q->idle_userdata);
    }
}

struct dagd_run_queue *dagd_run_queue_new(struct dagd_executor *e, struct dagd_store *store,
                                          const char *state_dir, unsigned max_runs)
{
    struct dagd_run_queue *q = dagd_xcalloc(1, sizeof(*q));
    q->executor = e;
    q->store = store;
    q->state_dir = dagd_xstrdup(state_dir);
    q->max_runs = max_runs ? max_runs : 1;
    q->max_queued = DAGD_RUN_QUEUE_MAX_QUEUED;
    q->max_queued_bytes = DAGD_RUN_QUEUE_MAX_QUEUED_BYTES;
    q->observer_id = dagd_executor_observe(e, NULL, on_exec_event, q);
    return q;
}

void dagd_run_queue_cancel_queued(struct dagd_run_queue *q)
{
    if (!q->lanes) {
        return;
    }
    /* Every queued run is a row of the durable queue: it stays queued in
     * state.db for the next start (only its memory goes). */
    while (q->lanes) {
        struct qrun *r = q->lanes->head;
        unqueue(q, r);
        if (!r->recorded) {
            record_unstarted(q, r, DAGD_RUN_CANCELED, "canceled while queued");
        }
        qrun_free(r);
    }
    changed(q);
}

struct dagd_run_queue *dagd_run_queue_free(struct dagd_run_queue *q)
{
    if (!q) {
        return NULL;
    }
    dagd_run_queue_cancel_queued(q);
    if (q->observer_id > 0) {
        dagd_executor_unobserve(q->executor, q->observer_id);
    }
    while (q->running) {
        struct qrun *r = q->running;
        q->running = r->next;
        qrun_free(r);
    }
    free(q->watchers);
    free(q->state_dir);
    free(q);
    return NULL;
}

static struct lane *lane_get(struct dagd_run_queue *q, const char *pipeline,
                             const char *backfill_id)
{
    struct lane *l = q->last_lane;
    if (l && streq(l->pipeline, pipeline) && streq_ptr(l->backfill_id, backfill_id)) {
        return l;
    }
    for (l = q->lanes; l; l = l->next) {
        if (streq(l->pipeline, pipeline) && streq_ptr(l->backfill_id, backfill_id)) {
            return q->last_lane = l;
        }
    }
    l = dagd_xcalloc(1, sizeof(*l));
    l->pipeline = dagd_xstrdup(pipeline);
    l->backfill_id = strdup_or_null(backfill_id);
    /* Never served: its first run goes next at its priority, then it takes
     * turns with the others. */
    l->next = q->lanes;
    q->lanes = l;
    return q->last_lane = l;
}

/* Insert r in its lane by priority (higher first), after the runs of equal
 * priority: O(1) for the usual case of runs arriving in order. */
static void enqueue(struct dagd_run_queue *q, struct qrun *r)
{
    struct lane *l = lane_get(q, r->pipeline, r->backfill_id);
    struct qrun **pp = &l->head;
    if (l->tail && l->tail->priority >= r->priority) {
        pp = &l->tail->next;
    } else {
        while (*pp && (*pp)->priority >= r->priority) {
            pp = &(*pp)->next;
        }
    }
    r->next = *pp;
    *pp = r;
    if (!r->next) {
        l->tail = r;
    }
    r->lane = l;
    r->seq = ++q->n_enqueued;
    l->n++;
    q->n_queued++;
    q->n_adopted += r->adopted;
    q->queued_bytes += r->bytes;
}

/* queue_options (runs.queue_options): what a run needs to start after a
 * restart besides its row's columns. */
static char *queue_options_json(const struct qrun *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "params");
    for (size_t i = 0; i < r->n_overrides; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateString(r->overrides[i]));
    }
    if (r->force) {
        cJSON_AddTrueToObject(o, "force");
    }
    if (r->from_step) {
        cJSON_AddStringToObject(o, "from", r->from_step);
    }
    if (r->only_step) {
        cJSON_AddStringToObject(o, "only", r->only_step);
    }
    if (r->max_jobs) {
        cJSON_AddNumberToObject(o, "max_jobs", r->max_jobs);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static char *json_strdup(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? dagd_xstrdup(v->valuestring) : NULL;
}

/* The inverse; what does not parse is left out (the row was ours). */
static void queue_options_parse(struct qrun *r, const char *json)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "params"), *it;
    size_t n = cJSON_IsArray(a) ? (size_t)cJSON_GetArraySize(a) : 0;

    /* No array for no overrides: 100,000 queued backfill runs have none. */
    r->overrides = n > 0 ? dagd_xcalloc(n + 1, sizeof(char *)) : NULL;
    cJSON_ArrayForEach(it, a)
    {
        if (cJSON_IsString(it)) {
            r->overrides[r->n_overrides++] = dagd_xstrdup(it->valuestring);
        }
    }
    r->force = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "force"));
    r->from_step = json_strdup(o, "from");
    r->only_step = json_strdup(o, "only");
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(o, "max_jobs");
    r->max_jobs = cJSON_IsNumber(mj) && mj->valuedouble > 0 ? (unsigned)mj->valuedouble : 0;
    cJSON_Delete(o);
}

char *dagd_run_queue_options_json(char *const *overrides, size_t n)
{
    struct qrun r = {.overrides = (char **)overrides, .n_overrides = n};
    return queue_options_json(&r);
}

int dagd_run_queue_adopt(struct dagd_run_queue *q, struct dagd_pipeline *p,
                         const struct dagd_run_info *run)
{
    struct qrun *r = dagd_xcalloc(1, sizeof(*r));

    snprintf(r->run_id, sizeof(r->run_id), "%s", run->run_id);
    r->p = dagd_pipeline_ref(p);
    r->pipeline = r->p->name;
    set_trigger(r, run->trigger ? run->trigger : "backfill");
    queue_options_parse(r, run->queue_options);
    r->parent_run_id = strdup_or_null(run->parent_run_id);
    r->partition = strdup_or_null(run->partition);
    r->backfill_id = strdup_or_null(run->backfill_id);
    r->priority = run->priority;
    r->recorded = true;
    r->adopted = true;
    r->created_ms = run->created_at;
    r->bytes = qrun_bytes(r);
    enqueue(q, r);
    return 0;
}

void dagd_run_queue_kick(struct dagd_run_queue *q)
{
    pump(q);
    changed(q);
}

size_t dagd_run_queue_cancel_backfill(struct dagd_run_queue *q, const char *backfill_id)
{
    size_t n = 0;
    for (struct lane *l = q->lanes, *next; l; l = next) {
        next = l->next;
        if (!streq_ptr(l->backfill_id, backfill_id)) {
            continue;
        }
        /* The lane goes with its last run. */
        for (size_t k = l->n; k > 0; k--) {
            struct qrun *r = l->head;
            unqueue(q, r);
            record_unstarted(q, r, DAGD_RUN_CANCELED, "backfill canceled");
            qrun_free(r);
            n++;
        }
    }
    /* Ids first: a cancel may end a run (and free its entry) at once. */
    char(*ids)[33] = dagd_xcalloc(q->n_running + 1, sizeof(*ids));
    size_t n_ids = 0;
    for (struct qrun *r = q->running; r; r = r->next) {
        if (streq_ptr(r->backfill_id, backfill_id)) {
            memcpy(ids[n_ids++], r->run_id, 33);
        }
    }
    for (size_t i = 0; i < n_ids; i++) {
        (void)dagd_executor_cancel(q->executor, ids[i]);
    }
    free(ids);
    if (n > 0) {
        changed(q);
    }
    return n;
}

/* A run that has to wait becomes a row of the durable queue (status queued,
 * its pending steps, queue_options) before its id is handed out: a crash
 * after that loses nothing, and the next daemon starts it (once: a run that
 * was running when the daemon died is failed as an orphan, not restarted). */
static int record_queued(struct dagd_run_queue *q, struct qrun *r, struct dagd_diags *reterr)
{
    _cleanup_free_ char **steps = dagd_xcalloc(r->p->n_steps + 1, sizeof(char *));
    _cleanup_free_ char **tasks = dagd_xcalloc(r->p->n_steps + 1, sizeof(char *));
    _cleanup_free_ char *options = queue_options_json(r);
    for (size_t i = 0; i < r->p->n_steps; i++) {
        steps[i] = r->p->steps[i].name;
        tasks[i] = r->p->steps[i].task;
    }
    struct dagd_run_info info = {
        .run_id = r->run_id,
        .pipeline = (char *)r->pipeline,
        .trigger = (char *)r->trigger,
        .params_json = r->resolved ? r->resolved->params_json : NULL,
        .parent_run_id = r->parent_run_id,
        .created_at = r->created_ms,
        .partition = r->partition,
        .priority = r->priority,
        .queue_options = options,
    };
    int k = dagd_store_run_create(q->store, &info, steps, tasks, r->p->n_steps);
    if (k < 0) {
        dagd_diags_add(reterr, r->p->file, (struct dagd_mark){0}, "cannot queue the run: %s",
                       dagd_store_errmsg(q->store));
        return k;
    }
    r->recorded = true;
    return 0;
}

/* The checks the executor would do, done now for a run that has to wait, so
 * a bad --param is reported to the caller and not at start time: the entry
 * of a run, resolved, in *ret (`waits`: whether it cannot start now). */
static int prepare(struct dagd_run_queue *q, struct dagd_pipeline *p,
                   const struct dagd_run_options *opts, bool *waits, struct qrun **ret,
                   struct dagd_diags *reterr)
{
    struct qrun *r = dagd_xcalloc(1, sizeof(*r));
    int k;

    if (opts->run_id) {
        snprintf(r->run_id, sizeof(r->run_id), "%s", opts->run_id);
    } else {
        dagd_run_id_new(r->run_id);
    }
    r->p = dagd_pipeline_ref(p);
    r->pipeline = r->p->name;
    set_trigger(r, opts->trigger ? opts->trigger : "cli");
    r->overrides = dagd_xcalloc(opts->n_param_overrides + 1, sizeof(char *));
    for (size_t i = 0; i < opts->n_param_overrides; i++) {
        r->overrides[i] = dagd_xstrdup(opts->param_overrides[i]);
    }
    r->n_overrides = opts->n_param_overrides;
    r->force = opts->force;
    r->from_step = strdup_or_null(opts->from_step);
    r->only_step = strdup_or_null(opts->only_step);
    r->parent_run_id = strdup_or_null(opts->parent_run_id);
    r->partition = strdup_or_null(opts->partition);
    r->max_jobs = opts->max_jobs;
    r->created_ms = dagd_usec_to_msec(dagd_now_wall_usec());
    r->bytes = qrun_bytes(r);

    /* A run that would wait must fit in the queue's bounds (issue 16: 10,000
     * queued runs with 200 KB params each took 2 GB). Checked before and
     * after resolving: a flood costs no resolution, and what resolution
     * adds (expanded params and configs) counts too. */
    *waits = *waits || !can_start(q, r);
    if (*waits && queue_full(q, p, r, reterr)) {
        qrun_free(r);
        return -ENOBUFS;
    }
    /* A step naming a pool the daemon lacks would fail at start: refused now. */
    k = dagd_executor_check_pools(q->executor, p, reterr);
    if (k < 0) {
        qrun_free(r);
        return k;
    }
    /* Resolved once, here: a run that cannot run is refused before it is
     * queued, and the executor runs what was resolved. */
    k = dagd_run_resolve(p, opts, q->state_dir, r->run_id, false, &r->resolved, reterr);
    if (k >= 0) {
        r->bytes += resolved_bytes(r->resolved);
        if (*waits && queue_full(q, p, r, reterr)) {
            k = -ENOBUFS;
        }
    }
    if (k < 0) {
        qrun_free(r);
        return k;
    }
    r->priority = opts->priority;
    *ret = r;
    return 0;
}

int dagd_run_queue_submit(struct dagd_run_queue *q, struct dagd_pipeline *p,
                          const struct dagd_run_options *opts, char ret_run_id[static 33],
                          struct dagd_diags *reterr)
{
    struct qrun *r = NULL;
    bool waits = false;
    int k = prepare(q, p, opts, &waits, &r, reterr);
    if (k < 0) {
        return k;
    }
    /* Runs still queued wait for their pipeline's concurrency (pump()
     * starts whatever can start the moment a slot frees), so a run that can
     * start now does not queue behind them. */
    if (can_start(q, r)) {
        k = start(q, r, ret_run_id, reterr);
        if (k < 0) {
            qrun_free(r);
        }
        return k;
    }
    k = record_queued(q, r, reterr);
    if (k < 0) {
        qrun_free(r);
        return k;
    }
    enqueue(q, r);
    memcpy(ret_run_id, r->run_id, 33);
    changed(q);
    return 0;
}

int dagd_run_queue_record(struct dagd_run_queue *q, struct dagd_pipeline *p,
                          const struct dagd_run_options *opts, char ret_run_id[static 33],
                          struct dagd_diags *reterr)
{
    struct qrun *r = NULL;
    bool waits = true;
    int k = prepare(q, p, opts, &waits, &r, reterr);
    if (k >= 0) {
        k = record_queued(q, r, reterr);
    }
    if (k >= 0) {
        memcpy(ret_run_id, r->run_id, 33);
    }
    qrun_free(r);
    return k;
}

int dagd_run_queue_cancel(struct dagd_run_queue *q, const char *run_id)
{
    struct qrun *r = find_queued(q, run_id);
    if (r) {
        unqueue(q, r);
        record_unstarted(q, r, DAGD_RUN_CANCELED, "canceled while queued");
        qrun_free(r);
        changed(q);
        return 1;
    }
    for (r = q->running; r; r = r->next) {
        if (streq(r->run_id, run_id)) {
            int k = dagd_executor_cancel(q->executor, run_id);
            return k < 0 ? k : 0;
        }
    }
    /* A run the executor resumed after a restart (resume.h) is not ours. */
    return dagd_executor_cancel(q->executor, run_id) < 0 ? -ENOENT : 0;
}

int dagd_run_queue_get(struct dagd_run_queue *q, const char *run_id, struct dagd_run_info *ret,
                       char ***ret_steps, size_t *ret_n_steps)
{
    struct qrun *r = find_queued(q, run_id);
    if (r) {
        struct dagd_params ps = {0};
        for (size_t i = 0; i < r->n_overrides; i++) {
            const char *eq = strchr(r->overrides[i], '=');
            if (eq) {
                _cleanup_free_ char *k =
                    dagd_xstrndup(r->overrides[i], (size_t)(eq - r->overrides[i]));
                dagd_params_set(&ps, k, eq + 1);
            }
        }
        *ret = (struct dagd_run_info){
            .run_id = dagd_xstrdup(r->run_id),
            .pipeline = dagd_xstrdup(r->pipeline),
            .status = DAGD_RUN_QUEUED,
            .trigger = dagd_xstrdup(r->trigger),
            .params_json = dagd_params_to_json(&ps),
            .parent_run_id = strdup_or_null(r->parent_run_id),
            .created_at = r->created_ms,
            .partition = strdup_or_null(r->partition),
            .backfill_id = strdup_or_null(r->backfill_id),
            .priority = r->priority,
        };
        dagd_params_done(&ps);
        if (ret_steps) {
            char **steps = dagd_xcalloc(r->p->n_steps + 1, sizeof(char *));
            for (size_t i = 0; i < r->p->n_steps; i++) {
                steps[i] = dagd_xstrdup(r->p->steps[i].name);
            }
            *ret_steps = steps;
            *ret_n_steps = r->p->n_steps;
        }
        return 0;
    }
    return -ENOENT;
}

static int cmp_newest(const void *a, const void *b)
{
    uint64_t x = (*(struct qrun *const *)a)->seq, y = (*(struct qrun *const *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

size_t dagd_run_queue_list(struct dagd_run_queue *q, const char *prefix, char ***ret)
{
    struct qrun **v = dagd_xcalloc(q->n_queued + 1, sizeof(*v));
    size_t n = 0;
    for (struct lane *l = q->lanes; l; l = l->next) {
        for (struct qrun *r = l->head; r; r = r->next) {
            if (!prefix || strncmp(r->run_id, prefix, strlen(prefix)) == 0) {
                v[n++] = r;
            }
        }
    }
    qsort(v, n, sizeof(*v), cmp_newest);
    char **ids = dagd_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        ids[i] = dagd_xstrdup(v[i]->run_id);
    }
    free(v);
    *ret = ids;
    return n;
}

bool dagd_run_queue_is_queued(struct dagd_run_queue *q, const char *run_id)
{
    return find_queued(q, run_id) != NULL;
}

bool dagd_run_queue_is_active(struct dagd_run_queue *q, const char *run_id)
{
    if (find_queued(q, run_id)) {
        return true;
    }
    for (struct qrun *r = q->running; r; r = r->next) {
        if (streq(r->run_id, run_id)) {
            return true;
        }
    }
    return false;
}

void dagd_run_queue_set_max_backfill_runs(struct dagd_run_queue *q, unsigned n)
{
    q->max_backfill_runs = n;
}

void dagd_run_queue_lanes(const struct dagd_run_queue *q,
                          void (*fn)(const char *pipeline, const char *backfill_id, size_t n,
                                     int priority, void *userdata),
                          void *userdata)
{
    for (const struct lane *l = q->lanes; l; l = l->next) {
        fn(l->pipeline, l->backfill_id, l->n, l->head->priority, userdata);
    }
}

size_t dagd_run_queue_n_running_backfill(const struct dagd_run_queue *q)
{
    return q->n_running_backfill;
}

void dagd_run_queue_set_limits(struct dagd_run_queue *q, unsigned max_queued,
                               size_t max_queued_bytes)
{
    q->max_queued = max_queued;
    q->max_queued_bytes = max_queued_bytes;
}

size_t dagd_run_queue_n_queued(const struct dagd_run_queue *q)
{
    return q->n_queued;
}

size_t dagd_run_queue_n_running(const struct dagd_run_queue *q)
{
    return q->n_running;
}

unsigned dagd_run_queue_max_runs(const struct dagd_run_queue *q)
{
    return q->max_runs;
}

void dagd_run_queue_on_idle(struct dagd_run_queue *q, void (*fn)(void *userdata), void *userdata)
{
    if (q->n_running == 0) {
        fn(userdata);
        return;
    }
    q->idle_fn = fn;
    q->idle_userdata = userdata;
}

void dagd_run_queue_on_change(struct dagd_run_queue *q, void (*fn)(void *userdata), void *userdata)
{
    q->change_fn = fn;
    q->change_userdata = userdata;
}
