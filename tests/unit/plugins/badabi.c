/* A plugin built for a future ABI major: the host must refuse it. */
#include <dagd/task.h>

static int badabi_run(struct dagd_task_ctx *ctx)
{
    return 0;
}

static const struct dagd_task_plugin plugin = {
    .abi_major = 99,
    .abi_minor = 3,
    .struct_size = sizeof(struct dagd_task_plugin),
    .name = "badabi",
    .version = "1",
    .run = badabi_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    return &plugin;
}
