/* Test task `hog {mb: N, unchecked: BOOL, spin_ms: T}`: allocates and
 * touches N MiB, to exercise max RSS accounting and memory limits; with
 * spin_ms it then keeps the memory and burns CPU that long (a running
 * worker's RSS and CPU in /metrics, tests/integration/test_http.py). `unchecked` uses the
 * allocation without checking it, like careless code: under a memory limit
 * it then dies of SIGSEGV, which the engine must still report as "out of
 * memory" (tests/integration/test_limits.py). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dagd/task.h>

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "mb",
     .type = DAGD_FIELD_INT,
     .required = true,
     .min = 0,
     .max = 65536,
     .doc = "MiB to allocate and touch"},
    {.name = "unchecked",
     .type = DAGD_FIELD_BOOL,
     .doc = "touch the allocation without checking it (SIGSEGV if it failed)"},
    {.name = "spin_ms",
     .type = DAGD_FIELD_INT,
     .min = 0,
     .max = 600000,
     .doc = "then keep the memory and burn CPU this long"},
    {0},
};

static int hog_run(struct dagd_task_ctx *ctx)
{
    int64_t mb = host->config_int(ctx, "mb", 0);
    size_t len = (size_t)mb << 20;
    char *p = malloc(len ? len : 1);

    if (!p && !host->config_bool(ctx, "unchecked", false)) {
        return host->fail(ctx, NULL, "cannot allocate %lld MiB", (long long)mb);
    }
    /* Touch every page so it counts in the RSS; volatile so the compiler
     * cannot drop the stores of a buffer that is freed unread. */
    volatile char *v = p;
    for (size_t i = 0; i < len; i += 4096) {
        v[i] = (char)i;
    }
    struct timespec t0, t;
    int64_t spin_ms = host->config_int(ctx, "spin_ms", 0);
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (size_t i = 0; i < len; i += 4096) {
            v[i]++;
        }
        (void)clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < spin_ms);
    host->metrics(ctx, 0, mb);
    host->log(ctx, DAGD_TASK_LOG_INFO, "touched %lld MiB", (long long)mb);
    free(p);
    return 0;
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "hog",
    .version = "1",
    .description = "allocates and touches `mb` MiB (tests)",
    .schema = schema,
    .run = hog_run,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
