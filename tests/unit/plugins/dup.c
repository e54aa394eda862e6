/* The same task name built twice (order_a, order_b) with different versions:
 * the plugin host's search order decides which one a lookup finds. */
#include <dagd/task.h>

static int dup_run(struct dagd_task_ctx *ctx)
{
    return 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "dup",
    .version = DUP_VERSION,
    .run = dup_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    return &plugin;
}
