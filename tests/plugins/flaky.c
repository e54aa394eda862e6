/* Test task `flaky {failures: N}`: attempts 1..N fail, attempt N+1 and later
 * succeed. The attempt number comes from the host (each attempt is a fresh
 * process, so the plugin cannot count by itself). */
#include <dagd/task.h>

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "failures",
     .type = DAGD_FIELD_INT,
     .required = true,
     .min = 0,
     .max = 1000,
     .doc = "how many attempts fail before one succeeds"},
    {0},
};

static int flaky_run(struct dagd_task_ctx *ctx)
{
    int64_t failures = host->config_int(ctx, "failures", 0);
    unsigned attempt = host->attempt(ctx);

    if ((int64_t)attempt <= failures) {
        return host->fail(ctx, NULL, "flaky failure %u of %lld", attempt, (long long)failures);
    }
    host->log(ctx, DAGD_TASK_LOG_INFO, "succeeded on attempt %u", attempt);
    return 0;
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "flaky",
    .version = "1",
    .description = "fails the first `failures` attempts, then succeeds (tests)",
    .schema = schema,
    .run = flaky_run,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
