/* See plugin_host.h. Modeled on collectd's plugin loader (one .so per task,
 * dlopen from configured directories only) with redis' versioned module ABI
 * check. Plugins are opened lazily: looking up task NAME only stats
 * DIR/dagd-task-NAME.so in each directory, so a daemon that runs three tasks
 * maps three plugins. */
#include "plugin_host.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include "config.h"
#include "host_api.h"
#include "log.h"
#include "params.h"
#include "plugin_load.h"
#include "task_config.h"

/* Under LeakSanitizer, plugins stay mapped when the host is freed: LSan's
 * exit-time scan walks every thread's TLS through the DTV, and a dlclose'd
 * library with TLS (libcurl's OpenSSL, via translate-scrape) leaves a stale
 * slot there that crashes its tracer ("Tracer caught signal 11"), turning a
 * clean run into exit 1. Keeping them mapped also lets LSan symbolize leak
 * reports in plugin code. */
#if defined(__SANITIZE_ADDRESS__)
#define DAGD_KEEP_PLUGINS_MAPPED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define DAGD_KEEP_PLUGINS_MAPPED 1
#endif
#endif

#define PLUGIN_PREFIX "dagd-task-"
#define PLUGIN_SUFFIX ".so"

struct dagd_plugin_host {
    char **base_dirs; /* before build-tree expansion; NULL-terminated pieces */
    size_t n_base;
    bool *base_expand; /* build-tree dir: also search its immediate subdirectories */
    char **dirs;       /* expanded, computed on first use */
    size_t n_dirs;
    bool expanded;

    struct dagd_plugin **plugins; /* loaded, in load order */
    size_t n_plugins;
};

/* ---- the load/plan-time mode of the host API (host_api.h) ----------------- */

/* The context of a validate or inputs callback run in the loading process. */
struct lt_ctx {
    struct dagd_task_ctx base; /* first: the API hands us &base */
    const struct dagd_params *params;
    const char *step;
    struct dagd_plugin_failure *failures;
    size_t n_failures;
    /* dagd_plugin_host_inputs() only (plan time): declared files. */
    bool collect;
    char **inputs, **outputs;
    size_t n_inputs, n_outputs;
};

static struct lt_ctx *LT(struct dagd_task_ctx *ctx)
{
    return (struct lt_ctx *)ctx;
}

static const char *lt_run_id(struct dagd_task_ctx *ctx)
{
    return "";
}

static const char *lt_step_name(struct dagd_task_ctx *ctx)
{
    return LT(ctx)->step;
}

static unsigned lt_attempt(struct dagd_task_ctx *ctx)
{
    return 0;
}

static const char *lt_param(struct dagd_task_ctx *ctx, const char *name)
{
    return LT(ctx)->params ? dagd_params_get(LT(ctx)->params, name) : NULL;
}

static const char *lt_state_dir(struct dagd_task_ctx *ctx)
{
    return LT(ctx)->params ? dagd_params_get(LT(ctx)->params, "state_dir") : NULL;
}

static struct sqlite3 *lt_warehouse(struct dagd_task_ctx *ctx)
{
    return NULL;
}

static void lt_log(struct dagd_task_ctx *ctx, enum dagd_task_log_level level, const char *fmt,
                   va_list ap)
{
    _cleanup_free_ char *msg = NULL;

    if ((int)level > dagd_log_max_level) {
        return;
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
#pragma GCC diagnostic pop
    dagd_log((int)level, "step '%s' (validate): %s", LT(ctx)->step ? LT(ctx)->step : "?",
             msg ? msg : "(out of memory)");
}

static void lt_progress(struct dagd_task_ctx *ctx, uint64_t done, uint64_t total)
{
}

static void lt_metrics(struct dagd_task_ctx *ctx, int64_t rows_in, int64_t rows_out)
{
}

static bool lt_canceled(struct dagd_task_ctx *ctx)
{
    return false;
}

static int lt_declare(char ***v, size_t *n, const char *path)
{
    if (!path || !*path) {
        return -EINVAL;
    }
    for (size_t i = 0; i < *n; i++) {
        if (streq((*v)[i], path)) {
            return 0; /* declared twice: once is enough */
        }
    }
    *v = dagd_xreallocarray(*v, *n + 1, sizeof(char *));
    (*v)[(*n)++] = dagd_xstrdup(path);
    return 0;
}

static int lt_declare_input(struct dagd_task_ctx *ctx, const char *path)
{
    struct lt_ctx *c = LT(ctx);
    return c->collect ? lt_declare(&c->inputs, &c->n_inputs, path) : -EOPNOTSUPP;
}

static int lt_declare_output(struct dagd_task_ctx *ctx, const char *path)
{
    struct lt_ctx *c = LT(ctx);
    return c->collect ? lt_declare(&c->outputs, &c->n_outputs, path) : -EOPNOTSUPP;
}

/* Plan/validate time: nothing ran, so there is no result to keep from memoization. */
static void lt_no_memo(struct dagd_task_ctx *ctx, const char *reason)
{
}

/* Plan/validate time: nothing runs, so nothing is retried. */
static void lt_no_retry(struct dagd_task_ctx *ctx, const char *reason)
{
}

/* Plan/validate time: no check runs then. */
static int lt_check_result(struct dagd_task_ctx *ctx, const struct dagd_check_result *result)
{
    return -EOPNOTSUPP;
}

static void add_failure(struct lt_ctx *c, const char *key, char *msg)
{
    c->failures = dagd_xreallocarray(c->failures, c->n_failures + 1, sizeof(*c->failures));
    c->failures[c->n_failures++] = (struct dagd_plugin_failure){
        .key = key ? dagd_xstrdup(key) : NULL,
        .message = msg ? msg : dagd_xstrdup("(out of memory)"),
    };
}

static int lt_fail(struct dagd_task_ctx *ctx, const char *key, const char *fmt, va_list ap)
{
    char *msg = NULL;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
#pragma GCC diagnostic pop
    add_failure(LT(ctx), key, msg);
    return -EINVAL;
}

static const struct dagd_host_mode loader_mode = {
    .run_id = lt_run_id,
    .step_name = lt_step_name,
    .attempt = lt_attempt,
    .param = lt_param,
    .state_dir = lt_state_dir,
    .warehouse = lt_warehouse,
    .log = lt_log,
    .progress = lt_progress,
    .metrics = lt_metrics,
    .canceled = lt_canceled,
    .declare_input = lt_declare_input,
    .declare_output = lt_declare_output,
    .fail = lt_fail,
    .no_memo = lt_no_memo,
    .check_result = lt_check_result,
    .no_retry = lt_no_retry,
};

void dagd_plugin_failures_free(struct dagd_plugin_failure *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].key);
        free(f[i].message);
    }
    free(f);
}

int dagd_plugin_host_validate(struct dagd_plugin_host *h, const struct dagd_plugin *pl,
                              const cJSON *config, const struct dagd_params *params,
                              const char *step, struct dagd_plugin_failure **ret, size_t *ret_n)
{
    struct lt_ctx ctx = {.base.mode = &loader_mode, .params = params, .step = step};
    cJSON *dup = NULL;
    int r;

    if (!DAGD_PLUGIN_HAS(pl->desc, validate) || !pl->desc->validate) {
        return 0;
    }
    if (config) {
        dup = cJSON_Duplicate(config, true);
        if (!dup) {
            abort();
        }
    }
    ctx.base.config = dagd_task_config_new_from_cjson(dup);
    if (!ctx.base.config) {
        return -EINVAL;
    }
    r = pl->desc->validate(&ctx.base);
    dagd_task_config_free(ctx.base.config);
    if (r >= 0 && ctx.n_failures == 0) {
        return 0;
    }
    if (ctx.n_failures == 0) {
        add_failure(&ctx, NULL, dagd_xasprintf("the task rejected its config (error %d)", r));
    }
    *ret = ctx.failures;
    *ret_n = ctx.n_failures;
    return -EINVAL;
}

/* ---- plan time: declared inputs and outputs (reliability, plan.c) ------- */

static void strv_free_n(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

int dagd_plugin_host_inputs(struct dagd_plugin_host *h, const struct dagd_plugin *pl,
                            const char *config_json, const struct dagd_params *params,
                            const char *step, char ***ret_inputs, size_t *ret_n_inputs,
                            char ***ret_outputs, size_t *ret_n_outputs, char **reterr_msg)
{
    struct lt_ctx ctx = {
        .base.mode = &loader_mode, .params = params, .step = step, .collect = true};
    int r;

    *ret_inputs = *ret_outputs = NULL;
    *ret_n_inputs = *ret_n_outputs = 0;
    if (!DAGD_PLUGIN_HAS(pl->desc, inputs) || !pl->desc->inputs) {
        return 0;
    }
    ctx.base.config = dagd_task_config_new_from_json(config_json);
    if (!ctx.base.config) {
        return -EINVAL;
    }
    r = pl->desc->inputs(&ctx.base);
    dagd_task_config_free(ctx.base.config);
    if (r < 0 || ctx.n_failures > 0) {
        if (reterr_msg) {
            *reterr_msg =
                ctx.n_failures > 0
                    ? dagd_xstrdup(ctx.failures[0].message)
                    : dagd_xasprintf("the task could not declare its inputs (error %d)", r);
        }
        dagd_plugin_failures_free(ctx.failures, ctx.n_failures);
        strv_free_n(ctx.inputs, ctx.n_inputs);
        strv_free_n(ctx.outputs, ctx.n_outputs);
        return r < 0 ? r : -EINVAL;
    }
    *ret_inputs = ctx.inputs;
    *ret_n_inputs = ctx.n_inputs;
    *ret_outputs = ctx.outputs;
    *ret_n_outputs = ctx.n_outputs;
    return 0;
}

/* ---- search path -------------------------------------------------------- */

static void add_base(struct dagd_plugin_host *h, const char *dir, size_t len, bool expand)
{
    if (len == 0) {
        return;
    }
    h->base_dirs = dagd_xreallocarray(h->base_dirs, h->n_base + 1, sizeof(char *));
    h->base_expand = dagd_xreallocarray(h->base_expand, h->n_base + 1, sizeof(bool));
    h->base_dirs[h->n_base] = dagd_xstrndup(dir, len);
    h->base_expand[h->n_base] = expand;
    h->n_base++;
}

static void add_path_list(struct dagd_plugin_host *h, const char *list, bool expand)
{
    const char *p = list;

    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        add_base(h, p, len, expand);
        p = colon ? colon + 1 : NULL;
    }
}

/* Is the running binary inside the build tree? Then it should find the
 * tree's own plugins with no setup (DESIGN 3a). */
static bool running_from_build_tree(void)
{
    /* Not PATH_MAX: daemon/limits.h shadows <limits.h> on our include path. */
    char exe[4096];
    _cleanup_free_ char *root = NULL;
    ssize_t n;
    size_t l;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return false;
    }
    exe[n] = 0;
    root = realpath(DAGD_BUILD_ROOT, NULL);
    if (!root) {
        return false;
    }
    l = strlen(root);
    return strncmp(exe, root, l) == 0 && exe[l] == '/';
}

struct dagd_plugin_host *dagd_plugin_host_new(char *const *dirs)
{
    struct dagd_plugin_host *h = dagd_xcalloc(1, sizeof(*h));

    for (size_t i = 0; dirs && dirs[i]; i++) {
        add_base(h, dirs[i], strlen(dirs[i]), false);
    }
    add_path_list(h, getenv("DAGD_PLUGIN_PATH"), false);
    if (running_from_build_tree()) {
        add_path_list(h, DAGD_BUILD_PLUGIN_PATH, true);
    }
    add_base(h, DAGD_PLUGINDIR, strlen(DAGD_PLUGINDIR), false);
    return h;
}

struct dagd_plugin_host *dagd_plugin_host_free(struct dagd_plugin_host *h)
{
    if (!h) {
        return NULL;
    }
    for (size_t i = 0; i < h->n_plugins; i++) {
        struct dagd_plugin *p = h->plugins[i];
#ifndef DAGD_KEEP_PLUGINS_MAPPED
        if (p->handle) {
            (void)dlclose(p->handle);
        }
#endif
        free(p->path);
        free(p);
    }
    free(h->plugins);
    for (size_t i = 0; i < h->n_base; i++) {
        free(h->base_dirs[i]);
    }
    free(h->base_dirs);
    free(h->base_expand);
    for (size_t i = 0; i < h->n_dirs; i++) {
        free(h->dirs[i]);
    }
    free(h->dirs);
    free(h);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_dir(struct dagd_plugin_host *h, char *dir)
{
    h->dirs = dagd_xreallocarray(h->dirs, h->n_dirs + 1, sizeof(char *));
    h->dirs[h->n_dirs++] = dir;
}

/* Expand the build-tree directories into themselves plus their immediate
 * subdirectories (build/tasks/extract etc.), sorted by name. */
static void expand_dirs(struct dagd_plugin_host *h)
{
    if (h->expanded) {
        return;
    }
    h->expanded = true;
    for (size_t i = 0; i < h->n_base; i++) {
        DIR *d;
        struct dirent *de;
        char **subs = NULL;
        size_t n_subs = 0;

        add_dir(h, dagd_xstrdup(h->base_dirs[i]));
        if (!h->base_expand[i]) {
            continue;
        }
        d = opendir(h->base_dirs[i]);
        if (!d) {
            continue;
        }
        while ((de = readdir(d))) {
            struct stat st;
            char *sub;
            if (de->d_name[0] == '.') {
                continue;
            }
            sub = dagd_xasprintf("%s/%s", h->base_dirs[i], de->d_name);
            if (stat(sub, &st) < 0 || !S_ISDIR(st.st_mode)) {
                free(sub);
                continue;
            }
            subs = dagd_xreallocarray(subs, n_subs + 1, sizeof(char *));
            subs[n_subs++] = sub;
        }
        (void)closedir(d);
        if (n_subs > 0) {
            qsort(subs, n_subs, sizeof(char *), cmp_str);
        }
        for (size_t j = 0; j < n_subs; j++) {
            add_dir(h, subs[j]);
        }
        free(subs);
    }
}

int dagd_plugin_host_dirs(struct dagd_plugin_host *h, char *const **ret, size_t *ret_n)
{
    expand_dirs(h);
    *ret = h->dirs;
    *ret_n = h->n_dirs;
    return 0;
}

/* ---- loading ------------------------------------------------------------- */

static const struct dagd_plugin *loaded_by_path(struct dagd_plugin_host *h, const char *path)
{
    for (size_t i = 0; i < h->n_plugins; i++) {
        if (streq(h->plugins[i]->path, path)) {
            return h->plugins[i];
        }
    }
    return NULL;
}

static const struct dagd_plugin *loaded_by_name(struct dagd_plugin_host *h, const char *name)
{
    for (size_t i = 0; i < h->n_plugins; i++) {
        if (streq(h->plugins[i]->desc->name, name)) {
            return h->plugins[i];
        }
    }
    return NULL;
}

int dagd_plugin_host_load_file(struct dagd_plugin_host *h, const char *path,
                               const struct dagd_plugin **ret, char **reterr_msg)
{
    _cleanup_free_ char *abs = NULL;
    struct stat st;
    const struct dagd_plugin *old;
    const struct dagd_task_plugin *desc;
    void *handle;
    struct dagd_plugin *p;
    int r;

    abs = realpath(path, NULL);
    if (!abs) {
        return dagd_fail_msg(reterr_msg, -errno, "cannot resolve plugin '%s': %s", path,
                             strerror(errno));
    }
    old = loaded_by_path(h, abs);
    if (old) {
        *ret = old;
        return 0;
    }
    if (stat(abs, &st) < 0) {
        return dagd_fail_msg(reterr_msg, -errno, "cannot stat plugin '%s': %s", abs,
                             strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return dagd_fail_msg(reterr_msg, -EINVAL, "plugin '%s' is not a regular file", abs);
    }
    r = dagd_plugin_open(abs, abs, &dagd_host_api, &handle, &desc, reterr_msg);
    if (r < 0) {
        return r;
    }
    old = loaded_by_name(h, desc->name);
    if (old) {
        /* Same task name from another file: the first loaded wins. */
        dagd_log_debug("%s: task '%s' from '%s' already loaded from '%s', ignoring", __func__,
                       desc->name, abs, old->path);
        (void)dlclose(handle);
        *ret = old;
        return 0;
    }
    p = dagd_xcalloc(1, sizeof(*p));
    p->path = dagd_xstrdup(abs);
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    p->size = st.st_size;
    p->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    p->desc = desc;
    p->handle = handle;
    h->plugins = dagd_xreallocarray(h->plugins, h->n_plugins + 1, sizeof(*h->plugins));
    h->plugins[h->n_plugins++] = p;
    *ret = p;
    return 0;
}

int dagd_plugin_host_find(struct dagd_plugin_host *h, const char *name,
                          const struct dagd_plugin **ret, char **reterr_msg)
{
    const struct dagd_plugin *p;

    if (!dagd_plugin_valid_task_name(name)) {
        return dagd_fail_msg(reterr_msg, -ENOENT, "invalid task name '%s'", name ? name : "");
    }
    p = loaded_by_name(h, name);
    if (p) {
        *ret = p;
        return 0;
    }
    expand_dirs(h);
    for (size_t i = 0; i < h->n_dirs; i++) {
        _cleanup_free_ char *path =
            dagd_xasprintf("%s/" PLUGIN_PREFIX "%s" PLUGIN_SUFFIX, h->dirs[i], name);
        struct stat st;
        int r;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        r = dagd_plugin_host_load_file(h, path, &p, reterr_msg);
        if (r < 0) {
            return r;
        }
        if (!streq(p->desc->name, name)) {
            return dagd_fail_msg(reterr_msg, -ELIBBAD, "plugin '%s' declares task '%s', not '%s'",
                                 p->path, p->desc->name, name);
        }
        *ret = p;
        return 0;
    }
    return dagd_fail_msg(reterr_msg, -ENOENT, "no plugin provides task '%s'", name);
}

static int cmp_plugin(const void *a, const void *b)
{
    const struct dagd_plugin *x = *(const struct dagd_plugin *const *)a;
    const struct dagd_plugin *y = *(const struct dagd_plugin *const *)b;

    return strcmp(x->desc->name, y->desc->name);
}

int dagd_plugin_host_list(struct dagd_plugin_host *h, const struct dagd_plugin ***ret,
                          size_t *ret_n)
{
    const struct dagd_plugin **list;
    size_t n = 0;

    expand_dirs(h);
    for (size_t i = 0; i < h->n_dirs; i++) {
        DIR *d = opendir(h->dirs[i]);
        struct dirent *de;
        char **names = NULL;
        size_t n_names = 0;

        if (!d) {
            continue;
        }
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l <= strlen(PLUGIN_PREFIX) + strlen(PLUGIN_SUFFIX) ||
                strncmp(de->d_name, PLUGIN_PREFIX, strlen(PLUGIN_PREFIX)) != 0 ||
                !streq(de->d_name + l - strlen(PLUGIN_SUFFIX), PLUGIN_SUFFIX)) {
                continue;
            }
            names = dagd_xreallocarray(names, n_names + 1, sizeof(char *));
            names[n_names++] = dagd_xstrndup(de->d_name + strlen(PLUGIN_PREFIX),
                                             l - strlen(PLUGIN_PREFIX) - strlen(PLUGIN_SUFFIX));
        }
        (void)closedir(d);
        if (n_names > 0) {
            qsort(names, n_names, sizeof(char *), cmp_str);
        }
        for (size_t j = 0; j < n_names; j++) {
            const struct dagd_plugin *p;
            _cleanup_free_ char *err = NULL;
            if (!loaded_by_name(h, names[j])) {
                int r = dagd_plugin_host_find(h, names[j], &p, &err);
                if (r < 0) {
                    dagd_log_warning("%s, ignoring", err ? err : "cannot load plugin");
                }
            }
            free(names[j]);
        }
        free(names);
    }
    list = dagd_xcalloc(h->n_plugins + 1, sizeof(*list));
    for (size_t i = 0; i < h->n_plugins; i++) {
        list[n++] = h->plugins[i];
    }
    if (n > 0) {
        qsort(list, n, sizeof(*list), cmp_plugin);
    }
    *ret = list;
    *ret_n = n;
    return 0;
}
