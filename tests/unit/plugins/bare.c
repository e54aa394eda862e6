/* A test task that takes no config. */
#include <dagd/task.h>

static int bare_run(struct dagd_task_ctx *ctx)
{
    return 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,          .name = "bare",  .version = "1",
    .description = "takes no config", .run = bare_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    return &plugin;
}
