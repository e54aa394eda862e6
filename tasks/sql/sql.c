/* Task `sql` (also built as `transform`, the name the sales pipeline uses):
 * runs the SQL model files of a directory against the warehouse (models.h,
 * transform_run.h; the sales models are in pipelines/sales/models/,
 * documented in docs/warehouse.md).
 *
 * Config: models (directory, relative to the working directory of the run),
 * vars (values for `${name}` besides the run's params).
 *
 * On a PostgreSQL warehouse (wh.h) a model NAME.sql is replaced by its
 * variant NAME.postgresql.sql where there is one (models.h). */
#include <dagd/task.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "models.h"
#include "sql_functions.h"
#include "task_errmsg.h"
#include "transform_run.h"
#include "wh.h"

/* tasks/transform builds this file again as the alias `transform` */
#ifndef DAGD_SQL_TASK_NAME
#define DAGD_SQL_TASK_NAME "sql"
#endif

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "models",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .doc = "directory of NAME.sql model files (one SELECT each), relative to the work dir"},
    {.name = "vars",
     .type = DAGD_FIELD_STRING_MAP,
     .doc = "values for ${name} in the models, before the run's params"},
    {.name = NULL},
};

/* "postgresql" when the warehouse is a PostgreSQL server, else NULL. */
static const char *engine(struct dagd_task_ctx *ctx)
{
    bool pg = DAGD_HOST_HAS(host, warehouse_conninfo) && host->warehouse_conninfo(ctx);

    return pg ? dagd_wh_engine_to_string(DAGD_WH_POSTGRESQL) : NULL;
}

static int transform_inputs(struct dagd_task_ctx *ctx)
{
    struct dagd_model_set set = {0};
    const char *dir = host->config_string(ctx, "models", NULL);

    /* The model files are part of the fingerprint (the engine's variants
     * where they are used); a missing directory is reported by run. */
    if (dir && dagd_models_load_engine(dir, engine(ctx), &set, NULL) >= 0) {
        for (size_t i = 0; i < set.n; i++) {
            (void)host->declare_input(ctx, set.v[i].path);
        }
    }
    dagd_model_set_done(&set);
    return 0;
}

static bool is_canceled(void *userdata)
{
    return host->canceled(userdata);
}

static void on_progress(void *userdata, const char *model, int64_t rows, uint64_t done,
                        uint64_t total)
{
    host->log(userdata, DAGD_TASK_LOG_INFO, "model %s: %lld rows", model, (long long)rows);
    host->progress(userdata, done, total);
}

/* `${name}` in a model: the config's vars first, then the run's params. */
static const char *lookup_param(void *userdata, const char *name)
{
    struct dagd_task_ctx *ctx = userdata;
    size_t n = host->config_map_len(ctx, "vars");

    for (size_t i = 0; i < n; i++) {
        if (strcmp(host->config_map_key(ctx, "vars", i), name) == 0) {
            return host->config_map_value(ctx, "vars", i);
        }
    }
    return host->param(ctx, name);
}

static int transform_run(struct dagd_task_ctx *ctx)
{
    struct dagd_transform_opts o = {
        .canceled = is_canceled,
        .progress = on_progress,
        .userdata = ctx,
    };
    struct dagd_model_set set = {0};
    const char *dir = host->config_string(ctx, "models", NULL);
    struct dagd_wh *wh = NULL;
    char *err = NULL;
    int64_t rows = 0;
    int r;

    if (!dir) {
        return host->fail(ctx, "models", "no models directory configured");
    }
    if ((r = dagd_wh_open(host, ctx, &wh, &err)) < 0) {
        (void)host->fail(ctx, NULL, "%s", err);
        free(err);
        return r;
    }
    if (wh->engine == DAGD_WH_SQLITE && dagd_sql_functions_register(wh->db) < 0) {
        (void)host->fail(ctx, NULL, "cannot add SQL functions: %s", sqlite3_errmsg(wh->db));
        dagd_wh_free(wh);
        return -EIO;
    }
    r = dagd_models_load_engine(dir, engine(ctx), &set, &err);
    if (r >= 0) {
        r = dagd_models_expand(&set, lookup_param, ctx, &err);
    }
    if (r >= 0) {
        r = dagd_transform_models_wh(wh, &set, &o, &rows, &err);
    }
    dagd_wh_free(wh);
    if (r < 0 && r != -ECANCELED) {
        (void)host->fail(ctx, NULL, "%s", err ? err : "transform failed");
        /* a model that does not parse or compile, or a cycle: the same
         * files fail the same way */
        if (dagd__task_input_error(r) && DAGD_HOST_HAS(host, no_retry)) {
            host->no_retry(ctx, "a model is invalid");
        }
    }
    if (r >= 0) {
        host->metrics(ctx, (int64_t)set.n, rows);
    }
    free(err);
    dagd_model_set_done(&set);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = DAGD_SQL_TASK_NAME,
    .version =
        "4", /* 2: declared column types; 3: ${params}, views, incremental models; 4: sha256() */
    .description = "Materialise SQL model files (one SELECT each) as warehouse tables or views",
    .schema = schema,
    .inputs = transform_inputs,
    .run = transform_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
