/* Test task `fail {exit_code: N, message: S}`: fails with `message`. With
 * exit_code 0 (the default) it returns an error through the ABI; with another
 * exit_code it exits the worker process with that code without a result,
 * which the executor reports as "exited with code N without a result". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <dagd/task.h>

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "exit_code",
     .type = DAGD_FIELD_INT,
     .min = 0,
     .max = 255,
     .doc = "exit the worker with this code (0: fail through the ABI)"},
    {.name = "message", .type = DAGD_FIELD_STRING, .doc = "the failure reason"},
    {0},
};

static int fail_run(struct dagd_task_ctx *ctx)
{
    int64_t code = host->config_int(ctx, "exit_code", 0);
    const char *msg = host->config_string(ctx, "message", "failed on purpose");

    if (code != 0) {
        fprintf(stderr, "%s\n", msg);
        exit((int)code);
    }
    return host->fail(ctx, NULL, "%s", msg);
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "fail",
    .version = "1",
    .description = "fails with `message` (or exits with `exit_code`) (tests)",
    .schema = schema,
    .run = fail_run,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
