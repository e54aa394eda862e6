/* A test task for the loader's unit tests: one config field of every type,
 * and a validate callback with cross-field rules. Never run. */
#include <dagd/task.h>
#include <string.h>

static const struct dagd_host_api *host;

static const char *const formats[] = {"xlsx", "json", NULL};
static const char *const k_words[] = {"auto", NULL};

static const struct dagd_task_field schema[] = {
    {.name = "path", .type = DAGD_FIELD_STRING, .required = true, .doc = "input glob"},
    {.name = "format", .type = DAGD_FIELD_STRING, .choices = formats, .doc = "file format"},
    {.name = "k",
     .type = DAGD_FIELD_INT_OR_STRING,
     .min = 1,
     .max = 10,
     .choices = k_words,
     .doc = "clusters"},
    {.name = "limit", .type = DAGD_FIELD_INT, .min = 0, .max = 100, .doc = "row limit"},
    {.name = "rate", .type = DAGD_FIELD_NUMBER, .doc = "a rate"},
    {.name = "flag", .type = DAGD_FIELD_BOOL, .doc = "a flag"},
    {.name = "wait", .type = DAGD_FIELD_DURATION, .doc = "a duration"},
    {.name = "files", .type = DAGD_FIELD_STRING_LIST, .doc = "a list"},
    {.name = "env", .type = DAGD_FIELD_STRING_MAP, .doc = "a map"},
    {.name = "extra", .type = DAGD_FIELD_ANY, .doc = "anything"},
    {0},
};

static int utest_validate(struct dagd_task_ctx *ctx)
{
    const char *path = host->config_string(ctx, "path", "");
    const char *format = host->config_string(ctx, "format", "xlsx");

    if (strcmp(format, "json") == 0 && host->config_int(ctx, "limit", 0) > 50) {
        return host->fail(ctx, "limit", "must be at most 50 with format json");
    }
    if (strcmp(path, "forbidden") == 0) {
        return host->fail(ctx, "path", "path '%s' is forbidden", path);
    }
    if (strcmp(path, "reject-step") == 0) {
        return host->fail(ctx, NULL, "rejected by the task");
    }
    if (strcmp(path, "silent") == 0) {
        return -22; /* no fail() */
    }
    return 0;
}

static int utest_run(struct dagd_task_ctx *ctx)
{
    return 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER, .name = "utest",
    .version = "1.2",        .description = "unit test task with every field type",
    .schema = schema,        .validate = utest_validate,
    .run = utest_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
