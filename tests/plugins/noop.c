/* Test task `noop {}`: succeeds at once. The per-step overhead benchmark runs
 * thousands of these, so it does nothing at all. */
#include <dagd/task.h>

static int noop_run(struct dagd_task_ctx *ctx)
{
    (void)ctx;
    return 0;
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "noop",
    .version = "1",
    .description = "does nothing and succeeds (tests, benchmarks)",
    .run = noop_run,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    (void)api;
    return &plugin;
}
