/* Test task `copy {from: [PATTERN...], to: FILE, tag: S}`: concatenates the
 * files matching the `from` glob patterns (relative to the cwd, like the
 * extract task) into `to`. Declares them as inputs and `to` as an output
 * from its `inputs` callback, so memoization tests can change, touch and
 * delete files and watch which steps run. `tag` is free text: changing it
 * changes the config only. */
#include <errno.h>
#include <glob.h>
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

/* The files of `from`, in order: each pattern's matches sorted; a pattern
 * without matches stands for itself (so a missing file is an input that is
 * missing). */
static int expand(struct dagd_task_ctx *ctx, glob_t *g)
{
    size_t n = host->config_list_len(ctx, "from");
    for (size_t i = 0; i < n; i++) {
        int r = glob(host->config_list_item(ctx, "from", i), GLOB_NOCHECK | (i ? GLOB_APPEND : 0),
                     NULL, g);
        if (r != 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int copy_inputs(struct dagd_task_ctx *ctx)
{
    glob_t g = {0};
    int r = expand(ctx, &g);
    for (size_t i = 0; r >= 0 && i < g.gl_pathc; i++) {
        r = host->declare_input(ctx, g.gl_pathv[i]);
    }
    globfree(&g);
    return r < 0 ? r : host->declare_output(ctx, host->config_string(ctx, "to", ""));
}

static int copy_run(struct dagd_task_ctx *ctx)
{
    const char *to = host->config_string(ctx, "to", "");
    char tmp[4096], buf[65536];
    int64_t bytes = 0;
    glob_t g = {0};
    FILE *out;
    int r;

    if (expand(ctx, &g) < 0) {
        return host->fail(ctx, NULL, "cannot expand 'from'");
    }

    /* Write a temporary file and rename it: a step killed mid-way leaves the
     * old output. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", to);
    out = fopen(tmp, "we");
    if (!out) {
        r = host->fail(ctx, NULL, "cannot create '%s': %s", tmp, strerror(errno));
        globfree(&g);
        return r;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *from = g.gl_pathv[i];
        FILE *in = fopen(from, "re");
        size_t k;
        if (!in) {
            int e = errno;
            fclose(out);
            r = host->fail(ctx, NULL, "cannot open '%s': %s", from, strerror(e));
            globfree(&g);
            return r;
        }
        while ((k = fread(buf, 1, sizeof(buf), in)) > 0) {
            fwrite(buf, 1, k, out);
            bytes += (int64_t)k;
        }
        fclose(in);
    }
    globfree(&g);
    if (fclose(out) != 0 || rename(tmp, to) < 0) {
        return host->fail(ctx, NULL, "cannot write '%s': %s", to, strerror(errno));
    }
    host->metrics(ctx, bytes, bytes);
    return 0;
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "copy",
    .version = "1",
    .description = "concatenates `from` files into `to` (tests)",
    .schema = schema,
    .inputs = copy_inputs,
    .run = copy_run,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
