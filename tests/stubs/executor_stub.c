/* A stand-in for daemon/executor.c until the real executor lands: it is
 * linked into dagd only when daemon/executor.c does not exist (see
 * daemon/meson.build). It runs no processes: steps run one after another in
 * topological order on timers; task `sleep` takes config ms, task `fail`
 * fails, anything else succeeds at once. Every state change is recorded in
 * the store and reported to observers like the real executor does, so the
 * daemon (server, queue, streams, shutdown) can be exercised end to end. */
#include "executor.h"

#include "log.h"

struct srun;

struct observer {
    int id;
    char *run_id;
    dagd_exec_observer_fn fn;
    void *userdata;
};

struct dagd_executor {
    struct dagd_executor_config cfg;
    struct srun *runs;
    struct observer *obs;
    size_t n_obs;
    int next_obs;
    bool freeing;
};

struct srun {
    struct srun *next;
    struct dagd_executor *e;
    struct dagd_pipeline *p;
    char run_id[33];
    uv_timer_t timer;
    size_t pos;        /* index into topo of the current step */
    bool *done_before; /* retry: succeeded in the parent run */
    bool canceled;
    bool finished;
    bool failed;
};

static int64_t now_ms(void)
{
    return dagd_usec_to_msec(dagd_now_wall_usec());
}

static void notify(struct dagd_executor *e, const struct dagd_exec_event *ev)
{
    for (size_t i = 0; i < e->n_obs; i++) {
        if (!e->obs[i].run_id || streq(e->obs[i].run_id, ev->run_id)) {
            e->obs[i].fn(ev, e->obs[i].userdata);
        }
    }
}

static size_t step_at(struct srun *r, size_t pos)
{
    return r->p->topo ? r->p->topo[pos] : pos;
}

static void step_set(struct srun *r, size_t idx, enum dagd_step_status st, const char *error)
{
    struct dagd_step_info info = {
        .run_id = r->run_id,
        .step = r->p->steps[idx].name,
        .task = r->p->steps[idx].task,
        .status = st,
        .attempts = st == DAGD_STEP_SKIPPED || st == DAGD_STEP_PENDING ? 0 : 1,
        .exit_code = -1,
        .error = (char *)error,
        .started_at = now_ms(),
    };
    (void)dagd_store_step_update(r->e->cfg.store, &info, now_ms());
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_STEP_CHANGED,
        .run_id = r->run_id,
        .pipeline = r->p->name,
        .step = &info,
    };
    notify(r->e, &ev);
}

static void on_closed(uv_handle_t *h)
{
    struct srun *r = h->data;
    dagd_pipeline_unref(r->p);
    free(r->done_before);
    free(r);
}

static void run_finish(struct srun *r, enum dagd_run_status st, const char *error)
{
    struct dagd_executor *e = r->e;
    r->finished = true;
    (void)dagd_store_run_set_status(e->cfg.store, r->run_id, st, error, now_ms());
    for (struct srun **pp = &e->runs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_RUN_FINISHED,
        .run_id = r->run_id,
        .pipeline = r->p->name,
        .run_status = st,
    };
    notify(e, &ev);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void on_step_timer(uv_timer_t *t);

static void start_step(struct srun *r)
{
    if (r->pos >= r->p->n_steps) {
        run_finish(r, r->failed ? DAGD_RUN_FAILED : DAGD_RUN_SUCCEEDED,
                   r->failed ? "a step failed" : NULL);
        return;
    }
    size_t idx = step_at(r, r->pos);
    const struct dagd_step *s = &r->p->steps[idx];
    if (r->failed || r->done_before[idx]) {
        step_set(r, idx, DAGD_STEP_SKIPPED, NULL);
        r->pos++;
        start_step(r);
        return;
    }
    step_set(r, idx, DAGD_STEP_RUNNING, NULL);
    int64_t seq = 0;
    (void)dagd_store_event_add(r->e->cfg.store, r->run_id, s->name, now_ms(), "info", "log",
                               "stub executor: step started", &seq);
    struct dagd_step_info info = {.run_id = r->run_id, .step = s->name, .task = s->task};
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_LOG,
        .run_id = r->run_id,
        .pipeline = r->p->name,
        .step = &info,
        .level = "info",
        .message = "stub executor: step started",
        .seq = seq,
    };
    notify(r->e, &ev);
    uint64_t ms = 0;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(s->config, "ms");
    if (streq(s->task, "sleep") && cJSON_IsNumber(j)) {
        ms = (uint64_t)j->valuedouble;
    } else if (streq(s->task, "sleep") && (cJSON_IsString(j) || cJSON_IsRaw(j))) {
        ms = strtoull(j->valuestring, NULL, 10);
    }
    (void)uv_timer_start(&r->timer, on_step_timer, ms, 0);
}

static void on_step_timer(uv_timer_t *t)
{
    struct srun *r = t->data;
    size_t idx = step_at(r, r->pos);
    bool fail = streq(r->p->steps[idx].task, "fail");
    step_set(r, idx, fail ? DAGD_STEP_FAILED : DAGD_STEP_SUCCEEDED, fail ? "failed" : NULL);
    r->failed = r->failed || fail;
    r->pos++;
    start_step(r);
}

static void on_start(uv_timer_t *t)
{
    struct srun *r = t->data;
    (void)dagd_store_run_set_status(r->e->cfg.store, r->run_id, DAGD_RUN_RUNNING, NULL, now_ms());
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_RUN_STARTED,
        .run_id = r->run_id,
        .pipeline = r->p->name,
    };
    notify(r->e, &ev);
    start_step(r);
}

int dagd_executor_new(const struct dagd_executor_config *cfg, struct dagd_executor **ret)
{
    struct dagd_executor *e = dagd_xcalloc(1, sizeof(*e));
    e->cfg = *cfg;
    *ret = e;
    return 0;
}

void dagd_executor_free(struct dagd_executor *e)
{
    if (!e) {
        return;
    }
    while (e->runs) {
        run_finish(e->runs, DAGD_RUN_CANCELED, "daemon stopped");
    }
    for (size_t i = 0; i < e->n_obs; i++) {
        free(e->obs[i].run_id);
    }
    free(e->obs);
    free(e);
}

int dagd_executor_submit(struct dagd_executor *e, struct dagd_pipeline *p,
                         const struct dagd_run_options *opts, char ret_run_id[static 33],
                         struct dagd_diags *reterr)
{
    struct dagd_params builtins = {0}, params = {0};
    char id[33];

    if (opts->run_id) {
        snprintf(id, sizeof(id), "%s", opts->run_id);
    } else {
        dagd_run_id_new(id);
    }
    dagd_pipeline_builtins(p, e->cfg.state_dir, id, &builtins);
    int k = dagd_pipeline_resolve_params(p, opts->param_overrides, opts->n_param_overrides,
                                         &builtins, &params, reterr);
    dagd_params_done(&builtins);
    if (k < 0) {
        return k;
    }
    _cleanup_free_ char *pj = dagd_params_to_json(&params);
    dagd_params_done(&params);
    char **steps = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    char **tasks = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    for (size_t i = 0; i < p->n_steps; i++) {
        steps[i] = p->steps[i].name;
        tasks[i] = p->steps[i].task;
    }
    struct dagd_run_info info = {
        .run_id = id,
        .pipeline = p->name,
        .trigger = (char *)opts->trigger,
        .params_json = pj,
        .parent_run_id = (char *)opts->parent_run_id,
    };
    k = dagd_store_run_create(e->cfg.store, &info, steps, tasks, p->n_steps);
    free(steps);
    free(tasks);
    if (k < 0) {
        return k;
    }
    struct srun *r = dagd_xcalloc(1, sizeof(*r));
    r->e = e;
    r->p = dagd_pipeline_ref(p);
    memcpy(r->run_id, id, 33);
    r->done_before = dagd_xcalloc(p->n_steps + 1, sizeof(bool));
    struct dagd_step_info *ps = NULL;
    size_t nps = 0;
    if (opts->parent_run_id &&
        dagd_store_steps_list(e->cfg.store, opts->parent_run_id, &ps, &nps) >= 0) {
        for (size_t i = 0; i < nps; i++) {
            ssize_t idx = dagd_pipeline_step_index(p, ps[i].step);
            if (idx >= 0 && ps[i].status == DAGD_STEP_SUCCEEDED) {
                r->done_before[idx] = true;
            }
            dagd_step_info_done(&ps[i]);
        }
        free(ps);
    }
    uv_timer_init(e->cfg.loop, &r->timer);
    r->timer.data = r;
    (void)uv_timer_start(&r->timer, on_start, 0, 0);
    r->next = e->runs;
    e->runs = r;
    memcpy(ret_run_id, id, 33);
    return 0;
}

int dagd_executor_cancel(struct dagd_executor *e, const char *run_id)
{
    for (struct srun *r = e->runs; r; r = r->next) {
        if (streq(r->run_id, run_id)) {
            (void)uv_timer_stop(&r->timer);
            for (size_t pos = r->pos; pos < r->p->n_steps; pos++) {
                step_set(r, step_at(r, pos), DAGD_STEP_CANCELED, NULL);
            }
            run_finish(r, DAGD_RUN_CANCELED, "canceled");
            return 0;
        }
    }
    return -ENOENT;
}

void dagd_executor_shutdown(struct dagd_executor *e, uint64_t grace_usec)
{
    /* The stub's steps are timers: let them be, the daemon's deadline
     * covers a long sleep. */
}

size_t dagd_executor_active(const struct dagd_executor *e)
{
    size_t n = 0;
    for (struct srun *r = e->runs; r; r = r->next) {
        n++;
    }
    return n;
}

int dagd_executor_observe(struct dagd_executor *e, const char *run_id, dagd_exec_observer_fn fn,
                          void *userdata)
{
    e->obs = dagd_xreallocarray(e->obs, e->n_obs + 1, sizeof(*e->obs));
    e->obs[e->n_obs] = (struct observer){
        .id = ++e->next_obs,
        .run_id = run_id ? dagd_xstrdup(run_id) : NULL,
        .fn = fn,
        .userdata = userdata,
    };
    e->n_obs++;
    return e->next_obs;
}

void dagd_executor_unobserve(struct dagd_executor *e, int id)
{
    for (size_t i = 0; i < e->n_obs; i++) {
        if (e->obs[i].id == id) {
            free(e->obs[i].run_id);
            e->obs[i] = e->obs[--e->n_obs];
            return;
        }
    }
}
