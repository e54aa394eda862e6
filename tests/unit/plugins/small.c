/* A plugin whose descriptor is too small to hold `run`: refused. */
#include <dagd/task.h>

static const struct dagd_task_plugin plugin = {
    .abi_major = DAGD_TASK_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = 16,
    .name = "small",
    .version = "1",
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    return &plugin;
}
