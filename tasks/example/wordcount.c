/* dagd-task-wordcount: the example of a task plugin built outside the dagd
 * tree (see README.md next to this file). It counts the lines, words and
 * bytes of its input files and writes one result file:
 *
 *     - name: count
 *       task: wordcount
 *       config:
 *         files: ["${pipeline_dir}/data/a.txt", "${pipeline_dir}/data/b.txt"]
 *         output: "${state_dir}/wordcount.tsv"
 *         min_words: 10          # optional: fail if there are fewer words
 *         format: tsv            # optional: tsv (default) or json
 *
 * It shows every part of the ABI a typical task uses: a schema (a required
 * key, an int with bounds, a string with choices), a `validate` callback for
 * a cross-field check, an `inputs` callback declaring its files for the
 * fingerprint, and a `run` that reports progress and metrics, logs, checks
 * cancellation, and fails with a reason. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <dagd/task.h>

#define WC_BLOCK 65536

static const struct dagd_host_api *host;

static const char *const formats[] = {"tsv", "json", NULL};

/* The config keys. The loader checks types, bounds and choices against the
 * YAML, with the YAML position in the error, before validate() is called. */
static const struct dagd_task_field schema[] = {
    {.name = "files",
     .type = DAGD_FIELD_STRING_LIST,
     .required = true,
     .doc = "text files to count (declared as inputs)"},
    {.name = "output",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .doc = "result file to write (declared as output)"},
    {.name = "min_words",
     .type = DAGD_FIELD_INT,
     .min = 0,
     .max = 1000000000,
     .doc = "fail the step if all files hold fewer words (default 0)"},
    {.name = "format",
     .type = DAGD_FIELD_STRING,
     .choices = formats,
     .doc = "result format: tsv (default) or json"},
    {0},
};

struct wc_counts {
    int64_t lines, words, bytes;
};

/* Load time (dagd validate, dagd run, dagd serve): checks the schema cannot
 * express. Only config accessors, param() and fail() may be used here. */
static int wc_validate(struct dagd_task_ctx *ctx)
{
    const char *output = host->config_string(ctx, "output", "");
    size_t n = host->config_list_len(ctx, "files");

    if (n == 0) {
        return host->fail(ctx, "files", "list at least one file to count");
    }
    if (!*output) {
        return host->fail(ctx, "output", "the output path is empty");
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(host->config_list_item(ctx, "files", i), output) == 0) {
            return host->fail(ctx, "output", "output '%s' is also one of the input files", output);
        }
    }
    return 0;
}

/* Plan time: the files whose content is part of the step's fingerprint, and
 * the file whose absence forces a re-run. Cheap and side-effect free. */
static int wc_inputs(struct dagd_task_ctx *ctx)
{
    size_t n = host->config_list_len(ctx, "files");
    int r;

    for (size_t i = 0; i < n; i++) {
        r = host->declare_input(ctx, host->config_list_item(ctx, "files", i));
        if (r < 0) {
            return r;
        }
    }
    return host->declare_output(ctx, host->config_string(ctx, "output", ""));
}

/* Count one file; *done advances by the bytes read, for progress(). */
static int wc_count_file(struct dagd_task_ctx *ctx, const char *path, struct wc_counts *c,
                         uint64_t *done, uint64_t total)
{
    static char buf[WC_BLOCK];
    bool in_word = false;
    FILE *f = fopen(path, "re");
    size_t k;

    if (!f) {
        return host->fail(ctx, NULL, "cannot open '%s': %s", path, strerror(errno));
    }
    while ((k = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (size_t i = 0; i < k; i++) {
            unsigned char ch = (unsigned char)buf[i];
            if (ch == '\n') {
                c->lines++;
            }
            if (isspace(ch)) {
                in_word = false;
            } else if (!in_word) {
                in_word = true;
                c->words++;
            }
        }
        c->bytes += (int64_t)k;
        *done += k;
        host->progress(ctx, *done, total); /* cheap: the host rate-limits it */
        if (host->canceled(ctx)) {
            fclose(f);
            return -ECANCELED;
        }
    }
    if (ferror(f)) {
        fclose(f);
        return host->fail(ctx, NULL, "cannot read '%s'", path);
    }
    fclose(f);
    return 0;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void wc_json_string(FILE *out, const char *str)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(out, "\\u%04x", *p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void wc_write_row(FILE *out, bool json, bool first, const char *name,
                         const struct wc_counts *c)
{
    if (!json) {
        fprintf(out, "%s\t%lld\t%lld\t%lld\n", name, (long long)c->lines, (long long)c->words,
                (long long)c->bytes);
        return;
    }
    fprintf(out, "%s\n  {\"file\": ", first ? "" : ",");
    wc_json_string(out, name);
    fprintf(out, ", \"lines\": %lld, \"words\": %lld, \"bytes\": %lld}", (long long)c->lines,
            (long long)c->words, (long long)c->bytes);
}

/* One attempt, in its own worker process. */
static int wc_run(struct dagd_task_ctx *ctx)
{
    const char *output = host->config_string(ctx, "output", "");
    bool json = strcmp(host->config_string(ctx, "format", "tsv"), "json") == 0;
    int64_t min_words = host->config_int(ctx, "min_words", 0);
    size_t n = host->config_list_len(ctx, "files");
    struct wc_counts total = {0};
    uint64_t done = 0, size = 0;
    char tmp[4096];
    FILE *out;
    int r;

    /* The total for progress: the sum of the sizes (0 = unknown). */
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(host->config_list_item(ctx, "files", i), &st) == 0) {
            size += (uint64_t)st.st_size;
        }
    }

    /* Write a temporary file and rename it, so a failed, canceled or killed
     * attempt never leaves a half-written result behind. */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", output) >= (int)sizeof(tmp)) {
        return host->fail(ctx, NULL, "output path too long");
    }
    out = fopen(tmp, "we");
    if (!out) {
        return host->fail(ctx, NULL, "cannot create '%s': %s", tmp, strerror(errno));
    }
    if (json) {
        fputs("[", out);
    } else {
        fputs("file\tlines\twords\tbytes\n", out);
    }
    for (size_t i = 0; i < n; i++) {
        const char *path = host->config_list_item(ctx, "files", i);
        struct wc_counts c = {0};

        r = wc_count_file(ctx, path, &c, &done, size);
        if (r < 0) {
            fclose(out);
            (void)remove(tmp);
            return r;
        }
        host->log(ctx, DAGD_TASK_LOG_INFO, "%s: %lld lines, %lld words", path, (long long)c.lines,
                  (long long)c.words);
        wc_write_row(out, json, i == 0, path, &c);
        total.lines += c.lines;
        total.words += c.words;
        total.bytes += c.bytes;
    }
    wc_write_row(out, json, n == 0, "total", &total);
    if (json) {
        fputs("\n]\n", out);
    }
    if (fclose(out) != 0) {
        (void)remove(tmp);
        return host->fail(ctx, NULL, "cannot write '%s': %s", tmp, strerror(errno));
    }
    if (total.words < min_words) {
        (void)remove(tmp);
        return host->fail(ctx, NULL, "%lld words in %zu files, fewer than min_words %lld",
                          (long long)total.words, n, (long long)min_words);
    }
    if (rename(tmp, output) < 0) {
        (void)remove(tmp);
        return host->fail(ctx, NULL, "cannot rename '%s' to '%s': %s", tmp, output,
                          strerror(errno));
    }
    /* rows in: lines read; rows out: result rows written (files + total). */
    host->metrics(ctx, total.lines, (int64_t)n + 1);
    return 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "wordcount",
    /* Part of every step's fingerprint: bump it when the output for the same
     * input and config changes, so memoized steps run again. */
    .version = "1",
    .description = "counts lines, words and bytes of text files (out-of-tree example)",
    .schema = schema,
    .validate = wc_validate,
    .inputs = wc_inputs,
    .run = wc_run,
};

/* The only exported symbol (the Makefile builds with -fvisibility=hidden). */
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    /* Refuse a host too old to have every function this plugin calls (fail
     * is the last one of ABI 1.0 it needs; a plugin that uses a later
     * function such as no_memo (1.1) checks DAGD_HOST_HAS before calling). */
    if (api->abi_major != DAGD_TASK_ABI_MAJOR || !DAGD_HOST_HAS(api, fail)) {
        return NULL;
    }
    host = api;
    return &plugin;
}
