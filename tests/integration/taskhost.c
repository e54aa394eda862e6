/* taskhost: run one attempt of one task plugin outside the engine.
 *
 *   taskhost PLUGIN.so [--config JSON] [--param k=v]... [--state-dir DIR]
 *            [--run-id ID] [--step NAME] [--validate-only]
 *
 * A minimal implementation of the host API of tasks/include/dagd/task.h for
 * integration tests of the analytics tasks (translate-scrape, cluster,
 * report), so they can be tested against a warehouse built by a fixture
 * script, independently of the engine. Config comes as JSON (already
 * resolved, no ${params}); the warehouse is the `warehouse` param, default
 * STATE_DIR/warehouse.db. Logs go to stderr as "<N>step: message"; declared
 * files as "declare_input PATH" / "declare_output PATH"; metrics as
 * "metrics rows_in=N rows_out=M". Exit status 0 on success, 1 on failure,
 * 2 on usage errors. */
#include <dagd/task.h>

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PARAMS 64

struct dagd_task_ctx {
    cJSON *config;
    const char *run_id, *step, *state_dir;
    const char *pkeys[MAX_PARAMS], *pvals[MAX_PARAMS];
    size_t nparams;
    sqlite3 *db;
    char *config_json;
    char error[1024];
};

static volatile sig_atomic_t canceled_flag;

static void on_term(int sig)
{
    (void)sig;
    canceled_flag = 1;
}

static cJSON *cfg(struct dagd_task_ctx *ctx, const char *key)
{
    return ctx->config ? cJSON_GetObjectItemCaseSensitive(ctx->config, key) : NULL;
}

static const char *h_run_id(struct dagd_task_ctx *ctx)
{
    return ctx->run_id;
}

static const char *h_step_name(struct dagd_task_ctx *ctx)
{
    return ctx->step;
}

static unsigned h_attempt(struct dagd_task_ctx *ctx)
{
    return 1;
}

static const char *h_config_string(struct dagd_task_ctx *ctx, const char *key, const char *def)
{
    cJSON *v = cfg(ctx, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int64_t h_config_int(struct dagd_task_ctx *ctx, const char *key, int64_t def)
{
    cJSON *v = cfg(ctx, key);
    if (cJSON_IsNumber(v)) {
        return (int64_t)v->valuedouble;
    }
    if (cJSON_IsString(v)) {
        char *end;
        long long x = strtoll(v->valuestring, &end, 10);
        return *end ? def : x;
    }
    return def;
}

static double h_config_number(struct dagd_task_ctx *ctx, const char *key, double def)
{
    cJSON *v = cfg(ctx, key);
    if (cJSON_IsNumber(v)) {
        return v->valuedouble;
    }
    if (cJSON_IsString(v)) {
        return strtod(v->valuestring, NULL);
    }
    return def;
}

static bool h_config_bool(struct dagd_task_ctx *ctx, const char *key, bool def)
{
    cJSON *v = cfg(ctx, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static uint64_t h_config_duration(struct dagd_task_ctx *ctx, const char *key, uint64_t def)
{
    cJSON *v = cfg(ctx, key);
    if (cJSON_IsNumber(v)) {
        return (uint64_t)v->valuedouble;
    }
    if (!cJSON_IsString(v)) {
        return def;
    }
    char *end;
    double x = strtod(v->valuestring, &end);
    if (strcmp(end, "ms") == 0) {
        return (uint64_t)(x * 1e3);
    } else if (strcmp(end, "s") == 0) {
        return (uint64_t)(x * 1e6);
    } else if (strcmp(end, "m") == 0) {
        return (uint64_t)(x * 6e7);
    } else if (strcmp(end, "h") == 0) {
        return (uint64_t)(x * 3.6e9);
    }
    return def;
}

static size_t h_config_list_len(struct dagd_task_ctx *ctx, const char *key)
{
    cJSON *v = cfg(ctx, key);
    return cJSON_IsArray(v) || cJSON_IsObject(v) ? (size_t)cJSON_GetArraySize(v) : 0;
}

static const char *h_config_list_item(struct dagd_task_ctx *ctx, const char *key, size_t i)
{
    cJSON *v = cJSON_GetArrayItem(cfg(ctx, key), (int)i);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *h_config_map_key(struct dagd_task_ctx *ctx, const char *key, size_t i)
{
    cJSON *v = cJSON_GetArrayItem(cfg(ctx, key), (int)i);
    return v ? v->string : NULL;
}

static const char *h_config_json(struct dagd_task_ctx *ctx)
{
    if (!ctx->config_json) {
        ctx->config_json = ctx->config ? cJSON_PrintUnformatted(ctx->config) : strdup("{}");
    }
    return ctx->config_json;
}

static const char *h_param(struct dagd_task_ctx *ctx, const char *name)
{
    for (size_t i = ctx->nparams; i-- > 0;) {
        if (strcmp(ctx->pkeys[i], name) == 0) {
            return ctx->pvals[i];
        }
    }
    return NULL;
}

static const char *h_state_dir(struct dagd_task_ctx *ctx)
{
    return ctx->state_dir;
}

static struct sqlite3 *h_warehouse(struct dagd_task_ctx *ctx)
{
    if (ctx->db) {
        return ctx->db;
    }
    char def[4096];
    const char *path = h_param(ctx, "warehouse");
    if (!path) {
        snprintf(def, sizeof(def), "%s/warehouse.db", ctx->state_dir);
        path = def;
    }
    if (sqlite3_open(path, &ctx->db) != SQLITE_OK) {
        fprintf(stderr, "<3>%s: cannot open warehouse '%s': %s\n", ctx->step, path,
                sqlite3_errmsg(ctx->db));
        sqlite3_close(ctx->db);
        ctx->db = NULL;
        return NULL;
    }
    sqlite3_busy_timeout(ctx->db, 5000);
    (void)sqlite3_exec(ctx->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    return ctx->db;
}

static void h_log(struct dagd_task_ctx *ctx, enum dagd_task_log_level level, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "<%d>%s: ", (int)level, ctx->step);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void h_progress(struct dagd_task_ctx *ctx, uint64_t done, uint64_t total)
{
}

static void h_metrics(struct dagd_task_ctx *ctx, int64_t rows_in, int64_t rows_out)
{
    fprintf(stderr, "metrics rows_in=%" PRId64 " rows_out=%" PRId64 "\n", rows_in, rows_out);
}

static bool h_canceled(struct dagd_task_ctx *ctx)
{
    return canceled_flag;
}

static int h_declare_input(struct dagd_task_ctx *ctx, const char *path)
{
    fprintf(stderr, "declare_input %s\n", path);
    return 0;
}

static int h_declare_output(struct dagd_task_ctx *ctx, const char *path)
{
    fprintf(stderr, "declare_output %s\n", path);
    return 0;
}

static int h_fail(struct dagd_task_ctx *ctx, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
    fprintf(stderr, "error: %s%s%s\n", key ? key : "", key ? ": " : "", ctx->error);
    return -EINVAL;
}

static const struct dagd_host_api api = {
    .abi_major = DAGD_TASK_ABI_MAJOR,
    .abi_minor = DAGD_TASK_ABI_MINOR,
    .struct_size = sizeof(struct dagd_host_api),
    .run_id = h_run_id,
    .step_name = h_step_name,
    .attempt = h_attempt,
    .config_string = h_config_string,
    .config_int = h_config_int,
    .config_number = h_config_number,
    .config_bool = h_config_bool,
    .config_duration = h_config_duration,
    .config_list_len = h_config_list_len,
    .config_list_item = h_config_list_item,
    .config_map_len = h_config_list_len,
    .config_map_key = h_config_map_key,
    .config_map_value = h_config_list_item,
    .config_json = h_config_json,
    .param = h_param,
    .state_dir = h_state_dir,
    .warehouse = h_warehouse,
    .log = h_log,
    .progress = h_progress,
    .metrics = h_metrics,
    .canceled = h_canceled,
    .declare_input = h_declare_input,
    .declare_output = h_declare_output,
    .fail = h_fail,
};

static int usage(void)
{
    fprintf(stderr, "usage: taskhost PLUGIN.so [--config JSON] [--param k=v]... "
                    "[--state-dir DIR] [--run-id ID] [--step NAME] [--validate-only]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct dagd_task_ctx ctx = {.run_id = "taskhost-run", .step = "step", .state_dir = "."};
    const char *config = "{}";
    bool validate_only = false;
    int status = 1;

    if (argc < 2) {
        return usage();
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--param") == 0 && i + 1 < argc) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || ctx.nparams == MAX_PARAMS) {
                return usage();
            }
            *eq = '\0';
            ctx.pkeys[ctx.nparams] = argv[i];
            ctx.pvals[ctx.nparams++] = eq + 1;
        } else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
            ctx.state_dir = argv[++i];
        } else if (strcmp(argv[i], "--run-id") == 0 && i + 1 < argc) {
            ctx.run_id = argv[++i];
        } else if (strcmp(argv[i], "--step") == 0 && i + 1 < argc) {
            ctx.step = argv[++i];
        } else if (strcmp(argv[i], "--validate-only") == 0) {
            validate_only = true;
        } else {
            return usage();
        }
    }
    ctx.config = cJSON_Parse(config);
    if (!cJSON_IsObject(ctx.config)) {
        fprintf(stderr, "taskhost: --config is not a JSON object\n");
        cJSON_Delete(ctx.config);
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);

    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "taskhost: %s\n", dlerror());
        cJSON_Delete(ctx.config);
        return 2;
    }
    dagd_task_entry_fn entry = (dagd_task_entry_fn)dlsym(so, DAGD_TASK_ENTRY_SYMBOL);
    const struct dagd_task_plugin *p = entry ? entry(&api) : NULL;
    if (!p || p->abi_major != DAGD_TASK_ABI_MAJOR || !p->run) {
        fprintf(stderr, "taskhost: '%s' is not a dagd task plugin of ABI %d\n", argv[1],
                DAGD_TASK_ABI_MAJOR);
        status = 2;
        goto out;
    }
    if (p->validate && p->validate(&ctx) < 0) {
        fprintf(stderr, "taskhost: invalid config: %s\n", ctx.error);
        status = 2;
        goto out;
    }
    if (validate_only) {
        status = 0;
        goto out;
    }
    if (p->inputs && p->inputs(&ctx) < 0) {
        fprintf(stderr, "taskhost: inputs failed: %s\n", ctx.error);
        goto out;
    }
    int r = p->run(&ctx);
    if (r < 0) {
        fprintf(stderr, "taskhost: %s failed: %s\n", p->name,
                ctx.error[0] ? ctx.error : strerror(-r));
    } else {
        status = 0;
    }
out:
    if (ctx.db) {
        sqlite3_close(ctx.db);
    }
    free(ctx.config_json);
    cJSON_Delete(ctx.config);
    dlclose(so);
    return status;
}
