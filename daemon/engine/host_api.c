/* See host_api.h. */
#include "host_api.h"

#include "warehouse_target.h"

static const char *run_id(struct dagd_task_ctx *ctx)
{
    return ctx->mode->run_id(ctx);
}

static const char *step_name(struct dagd_task_ctx *ctx)
{
    return ctx->mode->step_name(ctx);
}

static unsigned attempt(struct dagd_task_ctx *ctx)
{
    return ctx->mode->attempt(ctx);
}

static const char *config_string(struct dagd_task_ctx *ctx, const char *key, const char *def)
{
    return dagd_task_config_string(ctx->config, key, def);
}

static int64_t config_int(struct dagd_task_ctx *ctx, const char *key, int64_t def)
{
    return dagd_task_config_int(ctx->config, key, def);
}

static double config_number(struct dagd_task_ctx *ctx, const char *key, double def)
{
    return dagd_task_config_number(ctx->config, key, def);
}

static bool config_bool(struct dagd_task_ctx *ctx, const char *key, bool def)
{
    return dagd_task_config_bool(ctx->config, key, def);
}

static uint64_t config_duration(struct dagd_task_ctx *ctx, const char *key, uint64_t def)
{
    return dagd_task_config_duration(ctx->config, key, def);
}

static size_t config_list_len(struct dagd_task_ctx *ctx, const char *key)
{
    return dagd_task_config_list_len(ctx->config, key);
}

static const char *config_list_item(struct dagd_task_ctx *ctx, const char *key, size_t i)
{
    return dagd_task_config_list_item(ctx->config, key, i);
}

static size_t config_map_len(struct dagd_task_ctx *ctx, const char *key)
{
    return dagd_task_config_map_len(ctx->config, key);
}

static const char *config_map_key(struct dagd_task_ctx *ctx, const char *key, size_t i)
{
    return dagd_task_config_map_key(ctx->config, key, i);
}

static const char *config_map_value(struct dagd_task_ctx *ctx, const char *key, size_t i)
{
    return dagd_task_config_map_value(ctx->config, key, i);
}

static const char *config_json(struct dagd_task_ctx *ctx)
{
    return dagd_task_config_json(ctx->config);
}

static const char *param(struct dagd_task_ctx *ctx, const char *name)
{
    return ctx->mode->param(ctx, name);
}

static const char *state_dir(struct dagd_task_ctx *ctx)
{
    return ctx->mode->state_dir(ctx);
}

static struct sqlite3 *warehouse(struct dagd_task_ctx *ctx)
{
    return ctx->mode->warehouse(ctx);
}

/* ABI 1.4: the `warehouse` param when it names a PostgreSQL server. Passwords
 * were refused when the run was resolved (run_resolve.c), so what a plugin
 * gets here may be shown as it is. */
static const char *warehouse_conninfo(struct dagd_task_ctx *ctx)
{
    const char *w = ctx->mode->param(ctx, "warehouse");

    return w && dagd_warehouse_is_conninfo(w) ? w : NULL;
}

static void log_(struct dagd_task_ctx *ctx, enum dagd_task_log_level level, const char *fmt, ...)
    DAGD_TASK_PRINTF(3, 4);
static void log_(struct dagd_task_ctx *ctx, enum dagd_task_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ctx->mode->log(ctx, level, fmt, ap);
    va_end(ap);
}

static void progress(struct dagd_task_ctx *ctx, uint64_t done, uint64_t total)
{
    ctx->mode->progress(ctx, done, total);
}

static void metrics(struct dagd_task_ctx *ctx, int64_t rows_in, int64_t rows_out)
{
    ctx->mode->metrics(ctx, rows_in, rows_out);
}

static bool canceled(struct dagd_task_ctx *ctx)
{
    return ctx->mode->canceled(ctx);
}

static int declare_input(struct dagd_task_ctx *ctx, const char *path)
{
    return ctx->mode->declare_input(ctx, path);
}

static int declare_output(struct dagd_task_ctx *ctx, const char *path)
{
    return ctx->mode->declare_output(ctx, path);
}

static int fail(struct dagd_task_ctx *ctx, const char *key, const char *fmt, ...)
    DAGD_TASK_PRINTF(3, 4);
static int fail(struct dagd_task_ctx *ctx, const char *key, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = ctx->mode->fail(ctx, key, fmt, ap);
    va_end(ap);
    return r;
}

static void no_memo(struct dagd_task_ctx *ctx, const char *reason)
{
    ctx->mode->no_memo(ctx, reason);
}

static void no_retry(struct dagd_task_ctx *ctx, const char *reason)
{
    ctx->mode->no_retry(ctx, reason);
}

static int check_result(struct dagd_task_ctx *ctx, const struct dagd_check_result *result)
{
    return ctx->mode->check_result(ctx, result);
}

const struct dagd_host_api dagd_host_api = {
    .abi_major = DAGD_TASK_ABI_MAJOR,
    .abi_minor = DAGD_TASK_ABI_MINOR,
    .struct_size = sizeof(struct dagd_host_api),
    .run_id = run_id,
    .step_name = step_name,
    .attempt = attempt,
    .config_string = config_string,
    .config_int = config_int,
    .config_number = config_number,
    .config_bool = config_bool,
    .config_duration = config_duration,
    .config_list_len = config_list_len,
    .config_list_item = config_list_item,
    .config_map_len = config_map_len,
    .config_map_key = config_map_key,
    .config_map_value = config_map_value,
    .config_json = config_json,
    .param = param,
    .state_dir = state_dir,
    .warehouse = warehouse,
    .log = log_,
    .progress = progress,
    .metrics = metrics,
    .canceled = canceled,
    .declare_input = declare_input,
    .declare_output = declare_output,
    .fail = fail,
    .no_memo = no_memo,
    .check_result = check_result,
    .no_retry = no_retry,
    .warehouse_conninfo = warehouse_conninfo,
};
