/* Test task `crash {}`: dies of SIGSEGV, to prove a crashing plugin only
 * fails its own step. */
#include <signal.h>

#include <dagd/task.h>

static int crash_run(struct dagd_task_ctx *ctx)
{
    (void)ctx;
    /* raise() rather than a NULL write: deterministic and UB-free, so the
     * sanitizer build sees the same signal. */
    (void)raise(SIGSEGV);
    return 0;
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "crash",
    .version = "1",
    .description = "dies of SIGSEGV (tests)",
    .run = crash_run,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    (void)api;
    return &plugin;
}
