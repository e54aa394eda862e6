/* Task `swapped`, built twice: dagd-task-swapped.so is a valid plugin, and
 * dagd-task-swapped-short.so (SHORT_DESCRIPTOR) the same task with a
 * descriptor whose struct_size is too small to hold `run` although `run` is
 * set. test_run_worker.py renames the short one over the valid one after
 * dagd loaded it, so only dagd-worker sees it: its loader must refuse it as
 * dagd's does. */
#include <dagd/task.h>

static int swapped_run(struct dagd_task_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static const struct dagd_task_plugin plugin = {
    .abi_major = DAGD_TASK_ABI_MAJOR,
    .abi_minor = DAGD_TASK_ABI_MINOR,
#ifdef SHORT_DESCRIPTOR
    .struct_size = 16,
#else
    .struct_size = sizeof(struct dagd_task_plugin),
#endif
    .name = "swapped",
    .version = "1",
    .run = swapped_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    (void)api;
    return &plugin;
}
