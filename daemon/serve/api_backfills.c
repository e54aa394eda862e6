/* Command group: partitions and backfills (docs/daemon.md, "Partitions and
 * backfills"). `backfill` creates one queued run per partition, with the
 * backfill's row, in one transaction, then hands the runs to the run queue
 * (its durable part: a restart resumes them); `backfill_show` counts its
 * runs by status; `backfill_cancel` cancels the ones not yet ended;
 * `partitions` lists a pipeline's partitions with each one's newest run. */
#include "api.h"

#include "log.h"
#include "partitions.h"
#include "relay.h"

/* A backfill covers at most this many partitions. */
#define MAX_BACKFILL 100000u

static struct dagd_pipeline *partitioned(struct dagd_daemon *d, struct dagd_server_call *call,
                                         const char *name)
{
    struct dagd_pipeline *p = dagd_registry_get(d->registry, name);
    if (!p) {
        dagd_server_call_error(call, DAGD_ERR_NOT_FOUND, "no pipeline '%.128s'", name);
        return NULL;
    }
    if (!p->partitions) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "pipeline '%.128s' has no partitions",
                               name);
        return NULL;
    }
    return p;
}

/* The keys of a backfill: params.partitions (a list, each checked) or the
 * range from..to. */
static int backfill_keys(struct dagd_server_call *call, const struct dagd_pipeline *p,
                         const cJSON *params, const char *from, const char *to, char ***ret,
                         size_t *ret_n)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(params, "partitions");
    _cleanup_free_ char *why = NULL;

    if (list && cJSON_IsArray(list)) {
        size_t n = (size_t)cJSON_GetArraySize(list), k = 0;
        if (n == 0 || n > MAX_BACKFILL) {
            dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "partitions: give 1 to %u keys",
                                   MAX_BACKFILL);
            return -EINVAL;
        }
        char **keys = dagd_xcalloc(n + 1, sizeof(char *));
        const cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            if (!cJSON_IsString(it) ||
                dagd_partitions_check(p->partitions, it->valuestring, NULL, NULL, &why) < 0) {
                dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "%s",
                                       why ? why : "partitions: keys are strings");
                dagd_partitions_keys_free(keys);
                return -EINVAL;
            }
            keys[k++] = dagd_xstrdup(it->valuestring);
        }
        *ret = keys;
        *ret_n = k;
        return 0;
    }
    int r = dagd_partitions_keys(p->partitions, from, to, dagd_now_wall_msec() / 1000, MAX_BACKFILL,
                                 ret, ret_n, &why);
    if (r == -E2BIG) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "a backfill covers at most %u partitions", MAX_BACKFILL);
        return r;
    }
    if (r < 0) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "%s", why ? why : strerror(-r));
        return r;
    }
    if (*ret_n == 0) {
        dagd_partitions_keys_free(*ret);
        *ret = NULL; /* the caller frees what it gets */
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "no partition in that range");
        return -EINVAL;
    }
    return 0;
}

/* What every run of a backfill gets: --param overrides (their JSON object
 * for the rows' params, their queue_options) and a priority. */
struct backfill_opts {
    char **overrides;
    size_t n_overrides;
    int priority;
    char *params_json;   /* {"k": "v"}, NULL without overrides */
    char *queue_options; /* runs.queue_options */
};

static void backfill_opts_done(struct backfill_opts *o)
{
    free(o->params_json);
    free(o->queue_options);
}

/* The backfill and its runs, in one transaction. *ret_runs: the run ids. */
static int record_backfill(struct dagd_daemon *d, const struct dagd_pipeline *p,
                           const struct dagd_backfill_info *b, const struct backfill_opts *o,
                           char **keys, size_t n, char (*ids)[33])
{
    _cleanup_free_ char **steps = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    _cleanup_free_ char **tasks = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    bool own = !dagd_store_in_batch(d->store);
    int r;

    for (size_t i = 0; i < p->n_steps; i++) {
        steps[i] = p->steps[i].name;
        tasks[i] = p->steps[i].task;
    }
    if (own && (r = dagd_store_begin(d->store)) < 0) {
        return r;
    }
    r = dagd_store_backfill_create(d->store, b);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        dagd_run_id_new(ids[i]);
        struct dagd_run_info info = {
            .run_id = ids[i],
            .pipeline = p->name,
            .trigger = (char *)"backfill",
            .params_json = o->params_json ? o->params_json : (char *)"{}",
            .created_at = b->created_at,
            .partition = keys[i],
            .backfill_id = b->backfill_id,
            .priority = o->priority,
            .queue_options = o->queue_options,
        };
        r = dagd_store_run_create(d->store, &info, steps, tasks, p->n_steps);
    }
    if (own) {
        r = r < 0 ? (dagd_store_rollback(d->store), r) : dagd_store_commit(d->store);
    }
    return r;
}

/* The overrides checked against the pipeline as a run of the first
 * partition would resolve them (a typo is refused before anything is
 * recorded), then turned into what the rows store. */
static int backfill_opts_make(struct dagd_daemon *d, struct dagd_server_call *call,
                              struct dagd_pipeline *p, const char *first_key,
                              struct backfill_opts *o)
{
    struct dagd_diags diags = {0};
    struct dagd_run_resolved *res = NULL;
    struct dagd_run_options opts = {
        .param_overrides = o->overrides,
        .n_param_overrides = o->n_overrides,
        .partition = first_key,
    };
    char id[33];

    dagd_run_id_new(id);
    int r = dagd_run_resolve(p, &opts, d->config.state_dir, id, false, &res, &diags);
    dagd_run_resolved_free(res);
    if (r < 0) {
        _cleanup_free_ char *msg = dagd_diags_summary(&diags);
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "%s", msg);
        dagd_diags_done(&diags);
        return r;
    }
    dagd_diags_done(&diags);
    /* Without overrides a run's row says all (the backfill_id keeps it in
     * the durable queue): nothing to write or parse per run. */
    if (o->n_overrides > 0) {
        o->queue_options = dagd_run_queue_options_json(o->overrides, o->n_overrides);
        struct dagd_params ps = {0};
        for (size_t i = 0; i < o->n_overrides; i++) {
            const char *eq = strchr(o->overrides[i], '=');
            _cleanup_free_ char *k = dagd_xstrndup(o->overrides[i], (size_t)(eq - o->overrides[i]));
            dagd_params_set(&ps, k, eq + 1);
        }
        o->params_json = dagd_params_to_json(&ps);
        dagd_params_done(&ps);
    }
    return 0;
}

/* Tell the leader (relay.h); a lost notification only delays it (it reads
 * the durable queue when it listens again). */
static void relay(struct dagd_daemon *d, const char *payload)
{
    if (dagd_store_notify(d->store, payload) < 0) {
        dagd_log_warning("Failed to notify the leader ('%s'): %s, ignoring", payload,
                         dagd_store_errmsg(d->store));
    }
}

static void backfill_reply(struct dagd_server_call *call, const char *id, const char *pipeline,
                           size_t n)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "backfill_id", id);
    cJSON_AddStringToObject(j, "pipeline", pipeline);
    cJSON_AddNumberToObject(j, "partitions", (double)n);
    dagd_server_call_reply(call, j);
}

/* Record a backfill of `keys` and queue its runs (a standby: the leader
 * does); replies with its id. */
static void create_backfill(struct dagd_daemon *d, struct dagd_server_call *call,
                            struct dagd_pipeline *p, char **keys, size_t n, bool is_list,
                            struct backfill_opts *o)
{
    char id[33];

    if (backfill_opts_make(d, call, p, keys[0], o) < 0) {
        return;
    }
    dagd_run_id_new(id);
    struct dagd_backfill_info b = {
        .backfill_id = id,
        .pipeline = p->name,
        .range_from = is_list ? NULL : keys[0],
        .range_to = is_list ? NULL : keys[n - 1],
        .n_partitions = (int64_t)n,
        .created_at = dagd_now_wall_msec(),
        .params_json = o->params_json,
        .priority = o->priority,
    };
    char(*ids)[33] = dagd_xcalloc(n, sizeof(*ids));
    int r = record_backfill(d, p, &b, o, keys, n, ids);
    if (r < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot record the backfill: %s",
                               dagd_store_errmsg(d->store));
    } else if (d->standby) {
        /* Its runs are rows of the durable queue: the leader reads them. */
        relay(d, DAGD_RELAY_QUEUE);
        dagd_log_info("Backfill %s of '%s': %zu partitions queued for the leader", id, p->name, n);
        backfill_reply(call, id, p->name, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            struct dagd_run_info info = {
                .run_id = ids[i],
                .trigger = (char *)"backfill",
                .partition = keys[i],
                .backfill_id = id,
                .created_at = b.created_at,
                .priority = o->priority,
                .queue_options = o->queue_options,
            };
            (void)dagd_run_queue_adopt(d->queue, p, &info);
        }
        dagd_log_info("Backfill %s of '%s': %zu partitions queued", id, p->name, n);
        backfill_reply(call, id, p->name, n);
        dagd_run_queue_kick(d->queue);
    }
    free(ids);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct failed_keys {
    char **keys;
    size_t n;
};

static void on_last_failed(const char *partition, const char *status, int64_t created_at,
                           int64_t ended_at, const char *run_id, void *userdata)
{
    struct failed_keys *f = userdata;
    if (partition && streq_ptr(status, "failed")) {
        f->keys = dagd_xreallocarray(f->keys, f->n + 2, sizeof(char *));
        f->keys[f->n++] = dagd_xstrdup(partition);
        f->keys[f->n] = NULL;
    }
}

/* --failed: of `keys` (the range or list asked for, or every partition),
 * those whose newest run failed, in the same order. */
static int keep_failed(struct dagd_daemon *d, struct dagd_server_call *call,
                       const struct dagd_pipeline *p, char ***keys, size_t *n)
{
    struct failed_keys f = {0};
    if (dagd_store_partitions_last(d->store, p->name, on_last_failed, &f) < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "%s", dagd_store_errmsg(d->store));
        dagd_partitions_keys_free(f.keys);
        return -EIO;
    }
    size_t k = 0;
    if (f.n > 0) {
        qsort(f.keys, f.n, sizeof(char *), cmp_strp);
    }
    for (size_t i = 0; i < *n; i++) {
        if (f.n > 0 && bsearch(&(*keys)[i], f.keys, f.n, sizeof(char *), cmp_strp)) {
            (*keys)[k++] = (*keys)[i];
        } else {
            free((*keys)[i]);
        }
    }
    (*keys)[k] = NULL;
    *n = k;
    dagd_partitions_keys_free(f.keys);
    if (k == 0) {
        dagd_server_call_error(call, DAGD_ERR_CONFLICT,
                               "no partition of '%.128s' in that range has a failed last run",
                               p->name);
        return -ENOENT;
    }
    return 0;
}

static int api_backfill(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *name = NULL, *from = NULL, *to = NULL;
    char **keys = NULL;
    size_t n = 0;
    bool failed = false, priority_set = false;
    struct backfill_opts o = {0};

    if (dagd__api_get_string(call, params, "pipeline", true, &name) < 0 ||
        dagd__api_get_string(call, params, "from", false, &from) < 0 ||
        dagd__api_get_string(call, params, "to", false, &to) < 0 ||
        dagd__api_get_bool(call, params, "failed", &failed) < 0 ||
        dagd__api_get_priority(call, params, &o.priority, &priority_set) < 0 ||
        dagd__api_get_overrides(call, params, &o.overrides, &o.n_overrides) < 0) {
        free(o.overrides);
        return 0;
    }
    struct dagd_pipeline *p = partitioned(d, call, name);
    bool is_list = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(params, "partitions"));
    if (p && !priority_set) {
        o.priority = p->priority;
    }
    if (p && !failed && !is_list && (!from || !to)) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "give from and to, partitions, or failed");
    } else if (p && backfill_keys(call, p, params, from, to, &keys, &n) >= 0 &&
               (!failed || keep_failed(d, call, p, &keys, &n) >= 0)) {
        create_backfill(d, call, p, keys, n, is_list || failed, &o);
    }
    dagd_partitions_keys_free(keys);
    free(o.overrides);
    backfill_opts_done(&o);
    return 0;
}

static int get_backfill(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params,
                        struct dagd_backfill_info *ret)
{
    const char *id = NULL;
    if (dagd__api_get_string(call, params, "backfill", true, &id) < 0) {
        return -EINVAL;
    }
    int r = dagd_store_backfill_get(d->store, id, ret);
    if (r == -ENOENT) {
        dagd_server_call_error(call, DAGD_ERR_NOT_FOUND, "no backfill '%.64s'", id);
    } else if (r < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "%s", dagd_store_errmsg(d->store));
    }
    return r;
}

/* A backfill's JSON: its row and its runs counted by status. */
static cJSON *backfill_json(struct dagd_daemon *d, const struct dagd_backfill_info *b)
{
    int64_t counts[5];
    if (dagd_store_backfill_counts(d->store, b->backfill_id, counts) < 0) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backfill_id", b->backfill_id);
    cJSON_AddStringToObject(o, "pipeline", b->pipeline);
    cJSON_AddStringToObject(o, "status", b->status);
    if (b->range_from) {
        cJSON_AddStringToObject(o, "from", b->range_from);
        cJSON_AddStringToObject(o, "to", b->range_to);
    }
    cJSON_AddNumberToObject(o, "partitions", (double)b->n_partitions);
    cJSON_AddNumberToObject(o, "priority", b->priority);
    cJSON *params_j = b->params_json ? cJSON_Parse(b->params_json) : NULL;
    cJSON_AddItemToObject(o, "params", params_j ? params_j : cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "created_at", (double)b->created_at);
    if (b->ended_at) {
        cJSON_AddNumberToObject(o, "ended_at", (double)b->ended_at);
    }
    cJSON *c = cJSON_AddObjectToObject(o, "counts");
    for (int i = 0; i < 5; i++) {
        cJSON_AddNumberToObject(c, dagd_run_status_to_string((enum dagd_run_status)i),
                                (double)counts[i]);
    }
    return o;
}

static int api_backfill_show(struct dagd_daemon *d, struct dagd_server_call *call,
                             const cJSON *params)
{
    struct dagd_backfill_info b = {0};

    if (get_backfill(d, call, params, &b) < 0) {
        return 0;
    }
    cJSON *o = backfill_json(d, &b);
    if (!o) {
        dagd_server_call_error(call, dagd__api_store_code(d), "%s", dagd_store_errmsg(d->store));
    } else {
        dagd_server_call_reply(call, o);
    }
    dagd_backfill_info_done(&b);
    return 0;
}

/* `dagctl backfills [--pipeline P] [--limit N]`: newest first, with counts. */
static int api_backfills(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *pipeline = NULL;
    unsigned limit = 20;
    struct dagd_backfill_info *v = NULL;
    size_t n = 0;

    if (dagd__api_get_string(call, params, "pipeline", false, &pipeline) < 0 ||
        dagd__api_get_uint(call, params, "limit", 1000, &limit) < 0) {
        return 0;
    }
    if (dagd_store_backfills_list(d->store, pipeline, limit, &v, &n) < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "%s", dagd_store_errmsg(d->store));
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "backfills");
    for (size_t i = 0; i < n; i++) {
        cJSON *b = backfill_json(d, &v[i]);
        if (b) {
            cJSON_AddItemToArray(a, b);
        }
        dagd_backfill_info_done(&v[i]);
    }
    free(v);
    dagd_server_call_reply(call, o);
    return 0;
}

static int api_backfill_cancel(struct dagd_daemon *d, struct dagd_server_call *call,
                               const cJSON *params)
{
    struct dagd_backfill_info b = {0};

    if (get_backfill(d, call, params, &b) < 0) {
        return 0;
    }
    if (dagd_store_backfill_set_status(d->store, b.backfill_id, "canceled", dagd_now_wall_msec()) <
        0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "%s", dagd_store_errmsg(d->store));
        dagd_backfill_info_done(&b);
        return 0;
    }
    size_t n = 0;
    if (d->standby) {
        /* The leader cancels them; what is queued now is what it will. */
        int64_t counts[5] = {0};
        (void)dagd_store_backfill_counts(d->store, b.backfill_id, counts);
        n = (size_t)counts[DAGD_RUN_QUEUED];
        _cleanup_free_ char *msg = dagd_xasprintf(DAGD_RELAY_BACKFILL_CANCEL "%s", b.backfill_id);
        relay(d, msg);
    } else {
        n = dagd_run_queue_cancel_backfill(d->queue, b.backfill_id);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backfill_id", b.backfill_id);
    cJSON_AddNumberToObject(o, "canceled", (double)n);
    dagd_server_call_reply(call, o);
    dagd_backfill_info_done(&b);
    return 0;
}

/* A new backfill of the partitions whose runs in backfill ID failed or were
 * canceled. */
static int api_backfill_retry(struct dagd_daemon *d, struct dagd_server_call *call,
                              const cJSON *params)
{
    struct dagd_backfill_info b = {0};
    char **keys = NULL;
    size_t n = 0;
    struct backfill_opts o = {0};

    if (get_backfill(d, call, params, &b) < 0) {
        return 0;
    }
    struct dagd_pipeline *p = partitioned(d, call, b.pipeline);
    if (p && dagd_store_backfill_unsuccessful(d->store, b.backfill_id, &keys, &n) < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "%s", dagd_store_errmsg(d->store));
    } else if (p && n == 0) {
        dagd_server_call_error(call, DAGD_ERR_CONFLICT,
                               "backfill %s has no failed or canceled run to retry", b.backfill_id);
    } else if (p) {
        /* The retry runs with the params and priority of the backfill it retries. */
        cJSON *j = b.params_json ? cJSON_Parse(b.params_json) : NULL;
        const cJSON *it;
        o.priority = b.priority;
        o.overrides = dagd_xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof(char *));
        cJSON_ArrayForEach(it, j)
        {
            if (cJSON_IsString(it)) {
                o.overrides[o.n_overrides++] = dagd_xasprintf("%s=%s", it->string, it->valuestring);
            }
        }
        cJSON_Delete(j);
        create_backfill(d, call, p, keys, n, true, &o);
        for (size_t i = 0; i < o.n_overrides; i++) {
            free(o.overrides[i]);
        }
        free(o.overrides);
        backfill_opts_done(&o);
    }
    dagd_partitions_keys_free(keys);
    dagd_backfill_info_done(&b);
    return 0;
}

struct last_runs {
    cJSON *by_key; /* partition -> {status, created_at, ended_at, run_id} */
};

static void on_last(const char *partition, const char *status, int64_t created_at, int64_t ended_at,
                    const char *run_id, void *userdata)
{
    struct last_runs *l = userdata;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status ? status : "");
    cJSON_AddStringToObject(o, "run_id", run_id ? run_id : "");
    cJSON_AddNumberToObject(o, "created_at", (double)created_at);
    if (ended_at) {
        cJSON_AddNumberToObject(o, "ended_at", (double)ended_at);
    }
    cJSON_AddItemToObject(l->by_key, partition ? partition : "", o);
}

static int api_partitions(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *name = NULL;
    char **keys = NULL;
    size_t n = 0;
    _cleanup_free_ char *why = NULL;
    struct last_runs l = {.by_key = cJSON_CreateObject()};

    if (dagd__api_get_string(call, params, "pipeline", true, &name) < 0) {
        cJSON_Delete(l.by_key);
        return 0;
    }
    struct dagd_pipeline *p = partitioned(d, call, name);
    if (!p ||
        dagd_partitions_keys(p->partitions, NULL, NULL, dagd_now_wall_msec() / 1000, MAX_BACKFILL,
                             &keys, &n, &why) < 0 ||
        dagd_store_partitions_last(d->store, p->name, on_last, &l) < 0) {
        if (p) {
            dagd_server_call_error(call, dagd__api_store_code(d), "cannot list the partitions: %s",
                                   why ? why : dagd_store_errmsg(d->store));
        }
        dagd_partitions_keys_free(keys);
        cJSON_Delete(l.by_key);
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pipeline", p->name);
    cJSON_AddStringToObject(o, "kind", dagd_partitions_kind_name(p->partitions->kind));
    cJSON *arr = cJSON_AddArrayToObject(o, "partitions");
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "partition", keys[i]);
        cJSON *last = cJSON_DetachItemFromObjectCaseSensitive(l.by_key, keys[i]);
        if (last) {
            cJSON_AddItemToObject(e, "last_run", last);
        } else {
            missing++;
            cJSON_AddNullToObject(e, "last_run");
        }
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(o, "missing", (double)missing);
    dagd_server_call_reply(call, o);
    dagd_partitions_keys_free(keys);
    cJSON_Delete(l.by_key);
    return 0;
}

const struct dagd_api_command dagd_api_backfills_commands[] = {
    {"backfill", DAGD_API_MUTATING | DAGD_API_RELAYED, api_backfill},
    {"backfill_show", DAGD_API_READONLY, api_backfill_show},
    {"backfills", DAGD_API_READONLY, api_backfills},
    {"backfill_cancel", DAGD_API_MUTATING | DAGD_API_RELAYED, api_backfill_cancel},
    {"backfill_retry", DAGD_API_MUTATING | DAGD_API_RELAYED, api_backfill_retry},
    {"partitions", DAGD_API_READONLY, api_partitions},
    {NULL, 0, NULL},
};
