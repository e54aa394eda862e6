/* Task `validate`: applies the data-quality rules of the sales pipeline to
 * the bronze tables and writes orders, dq_exceptions and dq_summary (see
 * validate_run.c and docs/warehouse.md).
 *
 * Config: usd_rate (decimal text, default the `usd_rate` param, else
 * "7.10"). */
#include <dagd/task.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dq.h"
#include "validate_run.h"

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "usd_rate",
     .type = DAGD_FIELD_STRING,
     .doc = "RMB per USD as a decimal, e.g. \"7.10\" (default: the usd_rate param, else 7.10)"},
    {.name = NULL},
};

static const char *rate_of(struct dagd_task_ctx *ctx)
{
    const char *p = host->param(ctx, "usd_rate");

    return host->config_string(ctx, "usd_rate", p && *p ? p : "7.10");
}

static int validate_config(struct dagd_task_ctx *ctx)
{
    struct dagd_dq_rate rate;
    const char *s = rate_of(ctx);

    /* "${usd_rate}" may only be known at run time; check literal values. */
    if (s && !strchr(s, '$') && dagd_dq_rate_parse(s, &rate) < 0) {
        return host->fail(ctx, "usd_rate", "usd_rate '%s' is not a positive decimal such as 7.10",
                          s);
    }
    return 0;
}

static bool is_canceled(void *userdata)
{
    return host->canceled(userdata);
}

static void on_progress(void *userdata, uint64_t done, uint64_t total)
{
    host->progress(userdata, done, total);
}

static int validate_run(struct dagd_task_ctx *ctx)
{
    struct dagd_validate_opts o = {
        .usd_rate = rate_of(ctx),
        .canceled = is_canceled,
        .progress = on_progress,
        .userdata = ctx,
    };
    struct dagd_validate_stats st;
    struct sqlite3 *db = host->warehouse(ctx);
    char *err = NULL;
    int r;

    if (!db) {
        return host->fail(ctx, NULL, "cannot open the warehouse");
    }
    r = dagd_validate_warehouse(db, &o, &st, &err);
    if (r < 0) {
        if (r != -ECANCELED) {
            (void)host->fail(ctx, NULL, "%s", err ? err : "validation failed");
        }
        free(err);
        return r;
    }
    host->metrics(ctx, st.rows_in, st.orders);
    host->log(ctx, DAGD_TASK_LOG_INFO, "%lld bronze rows -> %lld orders, %lld exceptions",
              (long long)st.rows_in, (long long)st.orders, (long long)st.exceptions);
    return 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "validate",
    .version = "2", /* 2: order_groups */
    .description = "Data-quality rules on bronze orders: orders, dq_exceptions, dq_summary",
    .schema = schema,
    .validate = validate_config,
    .run = validate_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
