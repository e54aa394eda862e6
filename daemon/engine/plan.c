/* Plans and memoization; see plan.h. */
#include "plan.h"

#include <glob.h>

#include <assert.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "plugin_host.h"
#include "run_resolve.h"
#include "store.h"
#include "util.h"
#include "warehouse_target.h"

struct dagd_plan_ctx {
    struct dagd_pipeline *p;
    struct dagd_store *store;
    struct dagd_plugin_host *plugins;
    const struct dagd_params *params;
    struct dagd_plan_options opts;
    struct dagd_filehash_cache cache;
    struct dagd_plan_step *steps; /* indexed like p->steps */
    bool *in_progress;            /* evaluation in progress, for cycle safety */
    bool in_work_dir;             /* cwd is opts.work_dir during an evaluation */
    /* dagd_plan_ctx_prefetch: the last success of each step, asked for at
     * once (memo_ask until answered); memo_err: the lookup failed. A run's
     * own later successes come in through dagd_plan_ctx_note_success
     * (noted[i]: newer than the answer, kept over it). */
    struct dagd_store_memo *memo_ask;
    struct dagd_step_info *memo;
    bool *noted;
    bool memo_ready;
    int memo_err;
};

/* ---- The store-backed file-hash cache ----------------------------------- */

static int cache_get(void *userdata, const char *path, const struct dagd_file_id *id,
                     char **ret_hash)
{
    return dagd_store_filehash_get(userdata, path, id->dev, id->ino, id->size, id->mtime_ns,
                                   ret_hash);
}

static int cache_put(void *userdata, const char *path, const struct dagd_file_id *id,
                     const char *hash)
{
    return dagd_store_filehash_put(userdata, path, id->dev, id->ino, id->size, id->mtime_ns, hash);
}

struct dagd_plan_ctx *dagd_plan_ctx_new(struct dagd_pipeline *p, struct dagd_store *store,
                                        struct dagd_plugin_host *plugins,
                                        const struct dagd_params *params,
                                        const struct dagd_plan_options *opts)
{
    struct dagd_plan_ctx *ctx = dagd_xcalloc(1, sizeof(*ctx));

    ctx->p = dagd_pipeline_ref(p);
    ctx->store = store;
    ctx->plugins = plugins;
    ctx->params = params;
    if (opts) {
        ctx->opts = *opts;
    }
    if (store) {
        ctx->cache =
            (struct dagd_filehash_cache){.get = cache_get, .put = cache_put, .userdata = store};
    }
    ctx->steps = dagd_xcalloc(p->n_steps, sizeof(*ctx->steps));
    ctx->in_progress = dagd_xcalloc(p->n_steps, sizeof(bool));
    for (size_t i = 0; i < p->n_steps; i++) {
        ctx->steps[i].name = p->steps[i].name;
    }
    return ctx;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static void plan_step_done(struct dagd_plan_step *s)
{
    free(s->reason);
    free(s->manifest);
    free(s->config_json);
    strv_free(s->inputs, s->n_inputs);
    strv_free(s->outputs, s->n_outputs);
    free(s->last_run_id);
}

struct dagd_plan_ctx *dagd_plan_ctx_free(struct dagd_plan_ctx *ctx)
{
    if (!ctx) {
        return NULL;
    }
    for (size_t i = 0; ctx->steps && i < ctx->p->n_steps; i++) {
        plan_step_done(&ctx->steps[i]);
    }
    free(ctx->steps);
    free(ctx->in_progress);
    dagd_store_memo_free(ctx->memo_ask);
    for (size_t i = 0; ctx->memo && i < ctx->p->n_steps; i++) {
        dagd_step_info_done(&ctx->memo[i]);
    }
    free(ctx->memo);
    free(ctx->noted);
    dagd_pipeline_unref(ctx->p);
    free(ctx);
    return NULL;
}

void dagd_plan_ctx_cache_stats(const struct dagd_plan_ctx *ctx, unsigned *ret_hits,
                               unsigned *ret_misses)
{
    *ret_hits = ctx->cache.hits;
    *ret_misses = ctx->cache.misses;
}

static void set_reason(struct dagd_plan_step *s, bool run, char *reason)
{
    s->run = run;
    free(s->reason);
    s->reason = reason;
}

void dagd_plan_step_mark_run(struct dagd_plan_ctx *ctx, size_t idx, const char *reason)
{
    assert(idx < ctx->p->n_steps);
    set_reason(&ctx->steps[idx], true, dagd_xstrdup(reason ? reason : "forced"));
    ctx->steps[idx].evaluated = true;
}

static char *step_path(const struct dagd_plan_ctx *ctx, const char *path);

/* Append the step's own `inputs:` or `outputs:` (`${...}` substituted; an
 * input glob expanded to its files, sorted; an output glob that matches
 * nothing stays as written, so it counts as missing). */
static int add_declared(struct dagd_plan_ctx *ctx, char *const *raw, size_t n_raw, bool input,
                        char ***list, size_t *n_list, char **reterr)
{
    for (size_t i = 0; i < n_raw; i++) {
        _cleanup_free_ char *v = NULL, *bad = NULL;
        int r = dagd_params_expand(ctx->params, raw[i], &v, &bad);
        if (r < 0) {
            *reterr = dagd_xasprintf("%s '%s': %s", input ? "inputs" : "outputs", raw[i],
                                     bad ? "unknown parameter" : "cannot substitute");
            return r;
        }
        glob_t g = {0};
        _cleanup_free_ char *pattern = step_path(ctx, v);
        bool matched = strpbrk(v, "*?[") && glob(pattern, 0, NULL, &g) == 0;
        if (matched && input) {
            for (size_t k = 0; k < g.gl_pathc; k++) {
                *list = dagd_xreallocarray(*list, *n_list + 1, sizeof(char *));
                (*list)[(*n_list)++] = dagd_xstrdup(g.gl_pathv[k]);
            }
        } else {
            *list = dagd_xreallocarray(*list, *n_list + 1, sizeof(char *));
            (*list)[(*n_list)++] = dagd_xstrdup(v);
        }
        globfree(&g);
    }
    return 0;
}

/* Ask the plugin which files the step reads and writes, and add what the
 * step itself declares (`inputs:`, `outputs:`). */
static int declare_files(struct dagd_plan_ctx *ctx, size_t idx, struct dagd_plan_step *s,
                         char **reterr)
{
    const struct dagd_step *step = &ctx->p->steps[idx];
    int r = 0;

    if (ctx->plugins && step->plugin) {
        r = dagd_plugin_host_inputs(ctx->plugins, step->plugin, s->config_json, ctx->params,
                                    step->name, &s->inputs, &s->n_inputs, &s->outputs,
                                    &s->n_outputs, reterr);
    }
    if (r >= 0 && ctx->params) {
        r = add_declared(ctx, step->inputs, step->n_inputs, true, &s->inputs, &s->n_inputs, reterr);
    }
    if (r >= 0 && ctx->params) {
        r = add_declared(ctx, step->outputs, step->n_outputs, false, &s->outputs, &s->n_outputs,
                         reterr);
    }
    return r;
}

/* A declared path as the step's process sees it. Evaluation runs inside
 * work_dir (see in_work_dir), so only a failed chdir needs the prefix. */
static char *step_path(const struct dagd_plan_ctx *ctx, const char *path)
{
    if (path[0] == '/' || !ctx->opts.work_dir || ctx->in_work_dir) {
        return dagd_xstrdup(path);
    }
    return dagd_xasprintf("%s/%s", ctx->opts.work_dir, path);
}

/* Compute the fingerprint and manifest of a step whose config resolved. */
static void fingerprint_step(struct dagd_plan_ctx *ctx, size_t idx, struct dagd_plan_step *s)
{
    const struct dagd_step *step = &ctx->p->steps[idx];
    const struct dagd_params *ps = ctx->params;
    _cleanup_free_ struct dagd_fp_input *in = NULL;
    _cleanup_free_ char(*hashes)[DAGD_FP_HEX_SIZE] = NULL;
    _cleanup_free_ struct dagd_fp_upstream *up = NULL;
    _cleanup_free_ const char **keys = NULL, **values = NULL;
    const struct dagd_task_plugin *desc = step->plugin ? step->plugin->desc : NULL;

    in = dagd_xreallocarray(NULL, s->n_inputs, sizeof(*in));
    hashes = dagd_xreallocarray(NULL, s->n_inputs, sizeof(*hashes));
    for (size_t i = 0; i < s->n_inputs; i++) {
        _cleanup_free_ char *path = step_path(ctx, s->inputs[i]);
        in[i].path = s->inputs[i];
        in[i].hash =
            dagd_fingerprint_hash_file(path, ctx->store ? &ctx->cache : NULL, hashes[i]) >= 0
                ? hashes[i]
                : NULL;
    }
    up = dagd_xreallocarray(NULL, step->n_needs, sizeof(*up));
    for (size_t i = 0; i < step->n_needs; i++) {
        const struct dagd_plan_step *u = &ctx->steps[step->needs_idx[i]];
        up[i] = (struct dagd_fp_upstream){.step = u->name, .fingerprint = u->fingerprint};
    }
    size_t n_params = ps ? ps->n : 0;
    keys = dagd_xreallocarray(NULL, n_params, sizeof(*keys));
    values = dagd_xreallocarray(NULL, n_params, sizeof(*values));
    for (size_t i = 0; i < n_params; i++) {
        keys[i] = ps->items[i].key;
        values[i] = ps->items[i].value;
    }

    struct dagd_fp_parts parts = {
        .task = step->task,
        .task_version = desc && desc->version ? desc->version : "",
        .plugin_path = step->plugin ? step->plugin->path : NULL,
        .plugin_size = step->plugin ? (int64_t)step->plugin->size : 0,
        .plugin_mtime_ns = step->plugin ? step->plugin->mtime_ns : 0,
        .config_json = s->config_json,
        .param_keys = keys,
        .param_values = values,
        .n_params = n_params,
        .inputs = in,
        .n_inputs = s->n_inputs,
        .upstream = up,
        .n_upstream = step->n_needs,
    };
    if (dagd_fingerprint_compute(&parts, s->fingerprint, &s->manifest) < 0) {
        s->fingerprint[0] = '\0';
    }
}

/* The first upstream step that runs, or NULL. */
static const char *upstream_running(struct dagd_plan_ctx *ctx, size_t idx)
{
    const struct dagd_step *step = &ctx->p->steps[idx];
    for (size_t i = 0; i < step->n_needs; i++) {
        if (ctx->steps[step->needs_idx[i]].run) {
            return ctx->steps[step->needs_idx[i]].name;
        }
    }
    return NULL;
}

/* Whether step idx reads a file that a running upstream step writes: then
 * a changed or missing input is the upstream's doing. */
static bool reads_upstream_output(struct dagd_plan_ctx *ctx, size_t idx)
{
    const struct dagd_step *step = &ctx->p->steps[idx];
    const struct dagd_plan_step *s = &ctx->steps[idx];

    for (size_t i = 0; i < step->n_needs; i++) {
        const struct dagd_plan_step *u = &ctx->steps[step->needs_idx[i]];
        if (!u->run) {
            continue;
        }
        for (size_t o = 0; o < u->n_outputs; o++) {
            for (size_t k = 0; k < s->n_inputs; k++) {
                if (streq(u->outputs[o], s->inputs[k])) {
                    return true;
                }
            }
        }
    }
    return false;
}

static const char *output_missing(const struct dagd_plan_ctx *ctx, const struct dagd_plan_step *s)
{
    const char *wh;

    for (size_t i = 0; i < s->n_outputs; i++) {
        _cleanup_free_ char *path = step_path(ctx, s->outputs[i]);
        if (access(path, F_OK) < 0) {
            return s->outputs[i];
        }
    }
    /* The warehouse is the host's: every step may write it through
     * warehouse(), none declares it. A pipeline that names it in its params
     * gets it as an implicit output of every step, so a deleted warehouse
     * is rebuilt instead of every step being skipped against nothing. A
     * PostgreSQL warehouse (a connection string) is no file to look for. */
    wh = ctx->params ? dagd_params_get(ctx->params, "warehouse") : NULL;
    if (wh && *wh && !dagd_warehouse_is_conninfo(wh)) {
        _cleanup_free_ char *path = step_path(ctx, wh);
        if (access(path, F_OK) < 0) {
            return wh;
        }
    }
    return NULL;
}

/* Memoization is per partition: the runs of this partition, or all. */
static const char *memo_partition(const struct dagd_plan_ctx *ctx)
{
    const char *part = ctx->p->partitions ? dagd_params_get(ctx->params, "partition") : NULL;
    return part && *part ? part : NULL;
}

void dagd_plan_ctx_prefetch(struct dagd_plan_ctx *ctx)
{
    if (!ctx->store || ctx->opts.force || ctx->memo || ctx->p->n_steps == 0) {
        return;
    }
    size_t n = ctx->p->n_steps;
    _cleanup_free_ const char **names = dagd_xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        names[i] = ctx->p->steps[i].name;
    }
    ctx->memo = dagd_xcalloc(n, sizeof(*ctx->memo));
    ctx->noted = dagd_xcalloc(n, sizeof(bool));
    int r = dagd_store_memo_ask(ctx->store, ctx->p->name, memo_partition(ctx), names, n,
                                &ctx->memo_ask);
    if (r < 0) {
        ctx->memo_err = r;
        ctx->memo_ready = true;
    }
}

bool dagd_plan_ctx_ready(struct dagd_plan_ctx *ctx)
{
    if (!ctx->memo || ctx->memo_ready) {
        return true;
    }
    size_t n = ctx->p->n_steps;
    _cleanup_free_ struct dagd_step_info *got = dagd_xcalloc(n, sizeof(*got));
    int r = dagd_store_memo_take(ctx->memo_ask, got);
    if (r == 0) {
        return false;
    }
    ctx->memo_ask = dagd_store_memo_free(ctx->memo_ask);
    ctx->memo_ready = true;
    if (r < 0) {
        ctx->memo_err = r;
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (ctx->noted[i]) {
            dagd_step_info_done(&got[i]); /* a success noted since is newer */
        } else {
            ctx->memo[i] = got[i];
        }
    }
    return true;
}

void dagd_plan_ctx_note_success(struct dagd_plan_ctx *ctx, const struct dagd_plan_ctx *from,
                                const struct dagd_step_info *info)
{
    if (!ctx->memo || ctx == from || !streq(ctx->p->name, from->p->name)) {
        return;
    }
    const char *a = memo_partition(ctx), *b = memo_partition(from);
    if ((a || b) && !(a && b && streq(a, b))) {
        return;
    }
    for (size_t i = 0; i < ctx->p->n_steps; i++) {
        if (streq(ctx->p->steps[i].name, info->step)) {
            struct dagd_step_info *m = &ctx->memo[i];
            dagd_step_info_done(m);
            *m = (struct dagd_step_info){
                .run_id = dagd_xstrdup(info->run_id),
                .step = dagd_xstrdup(info->step),
                .status = DAGD_STEP_SUCCEEDED,
                .fingerprint = info->fingerprint ? dagd_xstrdup(info->fingerprint) : NULL,
                .manifest = info->manifest ? dagd_xstrdup(info->manifest) : NULL,
            };
            ctx->noted[i] = true;
            return;
        }
    }
}

/* The last success of step idx: from the prefetched answer (and what was
 * noted since) when there is one, else asked now. -ENOENT: none. */
static int last_success(struct dagd_plan_ctx *ctx, size_t idx, struct dagd_step_info *ret)
{
    if (!ctx->store) {
        return -ENOENT;
    }
    if (!ctx->memo || !dagd_plan_ctx_ready(ctx)) {
        return dagd_store_step_last_success_partition(
            ctx->store, ctx->p->name, ctx->steps[idx].name, memo_partition(ctx), ret);
    }
    if (ctx->memo_err < 0) {
        return ctx->memo_err;
    }
    const struct dagd_step_info *m = &ctx->memo[idx];
    if (!m->run_id) {
        return -ENOENT;
    }
    *ret = (struct dagd_step_info){
        .run_id = dagd_xstrdup(m->run_id),
        .fingerprint = m->fingerprint ? dagd_xstrdup(m->fingerprint) : NULL,
        .manifest = m->manifest ? dagd_xstrdup(m->manifest) : NULL,
    };
    return 0;
}

static void decide(struct dagd_plan_ctx *ctx, size_t idx, struct dagd_plan_step *s)
{
    struct dagd_step_info last = {0};
    const char *up = upstream_running(ctx, idx), *missing;
    int r;

    if (ctx->opts.force) {
        set_reason(s, true, dagd_xstrdup("forced"));
        return;
    }
    r = last_success(ctx, idx, &last);
    if (r < 0) {
        set_reason(s, true,
                   r == -ENOENT ? dagd_xstrdup("never succeeded")
                                : dagd_xasprintf("state unreadable: %s", strerror(-r)));
        return;
    }
    s->last_run_id = last.run_id ? dagd_xstrdup(last.run_id) : NULL;
    if (!last.fingerprint) {
        /* The plugin asked not to memoize its last result (no_memo: e.g. a
         * dictionary fallback instead of the API's answer). */
        set_reason(s, true, dagd_xstrdup("last result not memoized"));
    } else if (!streq(last.fingerprint, s->fingerprint)) {
        char *why = dagd_fingerprint_explain(last.manifest, s->manifest);
        /* An upstream change, or a change of a file an upstream step
         * writes, is better told as "upstream X will run" when that
         * upstream runs in this run. */
        if (up && (!why || strncmp(why, "upstream ", 9) == 0 ||
                   (strncmp(why, "input ", 6) == 0 && reads_upstream_output(ctx, idx)))) {
            free(why);
            why = dagd_xasprintf("upstream %s will run", up);
        }
        set_reason(s, true, why ? why : dagd_xstrdup("fingerprint changed"));
    } else if (up) {
        set_reason(s, true, dagd_xasprintf("upstream %s will run", up));
    } else if ((missing = output_missing(ctx, s))) {
        set_reason(s, true, dagd_xasprintf("output %s missing", missing));
    } else {
        set_reason(s, false, dagd_xstrdup("up to date"));
    }
    dagd_step_info_done(&last);
}

static const struct dagd_plan_step *step_eval(struct dagd_plan_ctx *ctx, size_t idx);

/* Evaluate inside work_dir, where the step will run: a plugin's `inputs`
 * callback expands globs and relative paths against the cwd, and a daemon's
 * cwd need not be its steps' (systemd starts it in /). The loop thread is
 * the only one using relative paths, and the previous cwd is restored
 * before returning. */
const struct dagd_plan_step *dagd_plan_step_eval(struct dagd_plan_ctx *ctx, size_t idx)
{
    const struct dagd_plan_step *s;
    _cleanup_close_ int old = -1;

    if (!ctx->opts.work_dir || ctx->in_work_dir) {
        return step_eval(ctx, idx);
    }
    old = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (old >= 0 && chdir(ctx->opts.work_dir) == 0) {
        ctx->in_work_dir = true;
    }
    s = step_eval(ctx, idx);
    if (ctx->in_work_dir) {
        /* If the old cwd cannot be restored, relative paths would go wrong
         * for the whole process: fail loudly rather than quietly. */
        if (fchdir(old) < 0) {
            abort();
        }
        ctx->in_work_dir = false;
    }
    return s;
}

/* The step's config: from the resolved run when there is one (the
 * executor's case: resolved once at submit), else resolved here. */
static int step_config(struct dagd_plan_ctx *ctx, size_t idx, struct dagd_plan_step *s,
                       struct dagd_diags *reterr)
{
    if (!ctx->opts.configs) {
        return dagd_pipeline_resolve_config(ctx->p, idx, ctx->params, &s->config_json, reterr);
    }
    if (!ctx->opts.configs[idx]) {
        dagd_diags_add(reterr, ctx->p->file, (struct dagd_mark){0, 0}, "%s",
                       ctx->opts.config_errors && ctx->opts.config_errors[idx]
                           ? ctx->opts.config_errors[idx]
                           : "does not resolve");
        return -EINVAL;
    }
    s->config_json = dagd_xstrdup(ctx->opts.configs[idx]);
    return 0;
}

static const struct dagd_plan_step *step_eval(struct dagd_plan_ctx *ctx, size_t idx)
{
    struct dagd_plan_step *s;
    const struct dagd_step *step;
    struct dagd_diags diags = {0};
    _cleanup_free_ char *err = NULL;
    int r;

    assert(idx < ctx->p->n_steps);
    s = &ctx->steps[idx];
    if (s->evaluated || ctx->in_progress[idx]) {
        return s;
    }
    ctx->in_progress[idx] = true;
    step = &ctx->p->steps[idx];
    /* The loader guarantees a DAG, so this recursion is bounded by the
     * longest path; in topological order it never recurses at all. */
    for (size_t i = 0; i < step->n_needs; i++) {
        (void)step_eval(ctx, step->needs_idx[i]);
    }

    r = step_config(ctx, idx, s, &diags);
    if (r < 0) {
        set_reason(s, true,
                   dagd_xasprintf("config does not resolve: %s",
                                  diags.n > 0 ? diags.items[0].message : strerror(-r)));
        dagd_diags_done(&diags);
        goto done;
    }
    dagd_diags_done(&diags);

    r = declare_files(ctx, idx, s, &err);
    fingerprint_step(ctx, idx, s);
    if (r < 0) {
        /* Without its inputs the fingerprint proves nothing: run. */
        set_reason(s, true, dagd_xasprintf("inputs unknown: %s", err ? err : strerror(-r)));
        goto done;
    }
    decide(ctx, idx, s);
done:
    s->evaluated = true;
    ctx->in_progress[idx] = false;
    return s;
}

/* ---- Whole plans ----------------------------------------------------------- */

int dagd_plan_compute(struct dagd_pipeline *p, struct dagd_store *store,
                      struct dagd_plugin_host *plugins, const struct dagd_params *params,
                      const struct dagd_plan_options *opts, struct dagd_plan **ret)
{
    struct dagd_plan_ctx *ctx = dagd_plan_ctx_new(p, store, plugins, params, opts);
    struct dagd_plan *plan = dagd_xcalloc(1, sizeof(*plan));

    for (size_t i = 0; i < p->n_steps; i++) {
        (void)dagd_plan_step_eval(ctx, p->topo ? p->topo[i] : i);
    }
    plan->pipeline = dagd_xstrdup(p->name);
    plan->n_steps = p->n_steps;
    plan->steps = TAKE_PTR(ctx->steps);
    for (size_t i = 0; i < plan->n_steps; i++) {
        plan->n_run += plan->steps[i].run;
    }
    dagd_plan_ctx_cache_stats(ctx, &plan->cache_hits, &plan->cache_misses);
    /* The step names point into the pipeline: keep it alive with the plan. */
    for (size_t i = 0; i < plan->n_steps; i++) {
        plan->steps[i].name = dagd_xstrdup(plan->steps[i].name);
    }
    (void)dagd_plan_ctx_free(ctx);
    *ret = plan;
    return 0;
}

struct dagd_plan *dagd_plan_free(struct dagd_plan *plan)
{
    if (!plan) {
        return NULL;
    }
    for (size_t i = 0; i < plan->n_steps; i++) {
        plan_step_done(&plan->steps[i]);
        free((char *)plan->steps[i].name);
    }
    free(plan->steps);
    free(plan->pipeline);
    free(plan);
    return NULL;
}

static cJSON *strv_to_json(char *const *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    }
    return a;
}

char *dagd_plan_step_inputs_json(const struct dagd_plan_step *s)
{
    cJSON *a = strv_to_json(s->inputs, s->n_inputs);
    char *r = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    if (!r) {
        abort();
    }
    return r;
}

char *dagd_plan_abs_path(const char *path)
{
    char cwd[4096]; /* not PATH_MAX: see memlimit.h's history */
    char *r = realpath(path, NULL);

    if (r) {
        return r;
    }
    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd))) {
        return dagd_xstrdup(path);
    }
    return dagd_xasprintf("%s/%s", cwd, path);
}

int dagd_plan_for_run(struct dagd_pipeline *p, struct dagd_store *store,
                      struct dagd_plugin_host *plugins, const char *state_dir,
                      char *const *overrides, size_t n_overrides,
                      const struct dagd_plan_options *opts, struct dagd_plan **ret,
                      struct dagd_diags *reterr)
{
    _cleanup_free_ char *abs = dagd_plan_abs_path(state_dir);
    struct dagd_run_options ro = {.param_overrides = overrides, .n_param_overrides = n_overrides};
    struct dagd_plan_options po = opts ? *opts : (struct dagd_plan_options){0};
    struct dagd_run_resolved *res = NULL;
    int r;

    /* run_id never reaches a fingerprint; any value will do. */
    r = dagd_run_resolve(p, &ro, abs, "plan", true, &res, reterr);
    if (r < 0) {
        return r;
    }
    po.configs = (const char *const *)res->config_json;
    po.config_errors = (const char *const *)res->config_error;
    r = dagd_plan_compute(p, store, plugins, &res->params, &po, ret);
    dagd_run_resolved_free(res);
    return r;
}

cJSON *dagd_plan_to_json(const struct dagd_plan *plan)
{
    cJSON *o = cJSON_CreateObject(), *steps = cJSON_CreateArray();

    if (!o || !steps) {
        abort();
    }
    cJSON_AddStringToObject(o, "pipeline", plan->pipeline);
    cJSON_AddNumberToObject(o, "run", (double)plan->n_run);
    cJSON_AddNumberToObject(o, "skip", (double)(plan->n_steps - plan->n_run));
    for (size_t i = 0; i < plan->n_steps; i++) {
        const struct dagd_plan_step *s = &plan->steps[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "step", s->name);
        cJSON_AddStringToObject(j, "action", s->run ? "run" : "skip");
        cJSON_AddStringToObject(j, "reason", s->reason ? s->reason : "");
        cJSON_AddStringToObject(j, "fingerprint", s->fingerprint);
        if (s->last_run_id) {
            cJSON_AddStringToObject(j, "last_success_run", s->last_run_id);
        }
        cJSON_AddItemToObject(j, "inputs", strv_to_json(s->inputs, s->n_inputs));
        cJSON_AddItemToObject(j, "outputs", strv_to_json(s->outputs, s->n_outputs));
        cJSON_AddItemToArray(steps, j);
    }
    cJSON_AddItemToObject(o, "steps", steps);
    return o;
}

void dagd_plan_print(const struct dagd_plan *plan, FILE *f)
{
    int w = 4;

    for (size_t i = 0; i < plan->n_steps; i++) {
        int n = (int)strlen(plan->steps[i].name);
        w = n > w ? n : w;
    }
    fprintf(f, "%-*s  %-6s  %s\n", w, "STEP", "ACTION", "REASON");
    for (size_t i = 0; i < plan->n_steps; i++) {
        const struct dagd_plan_step *s = &plan->steps[i];
        fprintf(f, "%-*s  %-6s  %s\n", w, s->name, s->run ? "run" : "skip",
                s->reason ? s->reason : "");
    }
    fprintf(f, "%zu to run, %zu up to date\n", plan->n_run, plan->n_steps - plan->n_run);
}
