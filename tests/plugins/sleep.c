/* Test task `sleep {ms: N}`: sleeps N milliseconds, waking every 10 ms to
 * check the cancellation flag and to report progress. It has a `cancel`
 * callback (which logs "cancel requested"), so tests exercise the worker's
 * cancel thread too. */
#include <errno.h>
#include <time.h>

#include <dagd/task.h>

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "ms",
     .type = DAGD_FIELD_INT,
     .required = true,
     .min = 0,
     .max = 86400000,
     .doc = "milliseconds to sleep"},
    {0},
};

static int sleep_run(struct dagd_task_ctx *ctx)
{
    int64_t ms = host->config_int(ctx, "ms", 0);
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t elapsed =
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= ms) {
            break;
        }
        if (host->canceled(ctx)) {
            return host->fail(ctx, NULL, "canceled after %lld ms", (long long)elapsed);
        }
        host->progress(ctx, (uint64_t)elapsed, (uint64_t)ms);
        int64_t left = ms - elapsed;
        struct timespec ts = {0, (left < 10 ? left : 10) * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
    host->progress(ctx, (uint64_t)ms, (uint64_t)ms);
    return 0;
}

static void sleep_cancel(struct dagd_task_ctx *ctx)
{
    /* Called from the worker's control thread, not a signal handler. */
    host->log(ctx, DAGD_TASK_LOG_NOTICE, "cancel requested");
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "sleep",
    .version = "1",
    .description = "sleeps `ms` milliseconds (tests)",
    .schema = schema,
    .run = sleep_run,
    .cancel = sleep_cancel,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
