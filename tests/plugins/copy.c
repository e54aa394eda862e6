/* Test task `copy {from: [FILE...], to: FILE, tag: S}`: concatenates the
 * `from` files into `to`. Declares them as inputs and `to` as an output from
 * its `inputs` callback, so memoization tests can change, touch and delete
 * files and watch which steps run. `tag` is free text: changing it changes
 * the config only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <dagd/task.h>

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "from", .type = DAGD_FIELD_STRING_LIST, .required = true, .doc = "files to read"},
    {.name = "to", .type = DAGD_FIELD_STRING, .required = true, .doc = "file to write"},
    {.name = "tag", .type = DAGD_FIELD_STRING, .doc = "free text (config changes in tests)"},
    {0},
};

static int copy_inputs(struct dagd_task_ctx *ctx)
{
    size_t n = host->config_list_len(ctx, "from");
    for (size_t i = 0; i < n; i++) {
        int r = host->declare_input(ctx, host->config_list_item(ctx, "from", i));
        if (r < 0) {
            return r;
        }
    }
    return host->declare_output(ctx, host->config_string(ctx, "to", ""));
}

static int copy_run(struct dagd_task_ctx *ctx)
{
    const char *to = host->config_string(ctx, "to", "");
    size_t n = host->config_list_len(ctx, "from");
    char tmp[4096], buf[65536];
    int64_t bytes = 0;
    FILE *out;

    /* Write a temporary file and rename it: a step killed mid-way leaves the
     * old output. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", to);
    out = fopen(tmp, "we");
    if (!out) {
        return host->fail(ctx, NULL, "cannot create '%s': %s", tmp, strerror(errno));
    }
    for (size_t i = 0; i < n; i++) {
        const char *from = host->config_list_item(ctx, "from", i);
        FILE *in = fopen(from, "re");
        size_t k;
        if (!in) {
            fclose(out);
            return host->fail(ctx, NULL, "cannot open '%s': %s", from, strerror(errno));
        }
        while ((k = fread(buf, 1, sizeof(buf), in)) > 0) {
            fwrite(buf, 1, k, out);
            bytes += (int64_t)k;
        }
        fclose(in);
    }
    if (fclose(out) != 0 || rename(tmp, to) < 0) {
        return host->fail(ctx, NULL, "cannot write '%s': %s", to, strerror(errno));
    }
    host->metrics(ctx, bytes, bytes);
    return 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER, .name = "copy",
    .version = "1",          .description = "concatenates `from` files into `to` (tests)",
    .schema = schema,        .inputs = copy_inputs,
    .run = copy_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
