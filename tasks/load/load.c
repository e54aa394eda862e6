/* The `load` task: files (CSV, JSON array, NDJSON, an xlsx sheet) into a
 * table, by declared columns (tasks/README.md "load").
 *
 * This file is the glue between the host ABI and the loader (load_file.h):
 * it reads and checks the config, expands the glob, loads the files in name
 * order (one transaction each), moves them to `archive` or `errors` when
 * asked, and reports logs, progress and metrics. Nothing here knows a
 * column: everything specific comes from the pipeline's YAML.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dagd/task.h>

#include "fileops.h"
#include "task_clock.h"
#include "task_errmsg.h"
#include "load_file.h"
#include "load_spec.h"
#include "wh.h"

static const struct dagd_host_api *host;

static const char *const format_choices[] = {"csv", "json", "ndjson", "xlsx", NULL};
static const char *const mode_choices[] = {"append", "replace", "upsert", NULL};
static const char *const on_error_choices[] = {"fail", "continue", NULL};

static const struct dagd_task_field schema[] = {
    {.name = "path",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .doc = "glob of the files to load, loaded in byte-wise name order"},
    {.name = "table", .type = DAGD_FIELD_STRING, .required = true, .doc = "the table loaded"},
    {.name = "columns",
     .type = DAGD_FIELD_ANY,
     .required = true,
     .doc = "list: NAME (text), {NAME: TYPE}, or {name, type, from, required, min, max}; "
            "types text, integer, real, money (cents), date, timestamp"},
    {.name = "format",
     .type = DAGD_FIELD_STRING,
     .choices = format_choices,
     .doc = "csv (default), json (array of objects), ndjson, xlsx"},
    {.name = "delimiter", .type = DAGD_FIELD_STRING, .doc = "csv: the field separator (default ,)"},
    {.name = "sheet", .type = DAGD_FIELD_STRING, .doc = "xlsx: the sheet (default: the first)"},
    {.name = "mode",
     .type = DAGD_FIELD_STRING,
     .choices = mode_choices,
     .doc = "append (default), replace (emptied by the first file loaded), upsert (by key)"},
    {.name = "key", .type = DAGD_FIELD_STRING_LIST, .doc = "upsert: the key columns"},
    {.name = "newest",
     .type = DAGD_FIELD_STRING,
     .doc = "upsert: a row replaces a kept one only if this column is not older"},
    {.name = "metadata",
     .type = DAGD_FIELD_STRING_LIST,
     .doc = "lineage columns to add: _file, _row, _loaded_at"},
    {.name = "rejects",
     .type = DAGD_FIELD_STRING,
     .doc = "table of rejected rows (file, row, column, value, reason); unset: a bad row fails"},
    {.name = "max_rejects",
     .type = DAGD_FIELD_INT,
     .min = 0,
     .max = INT32_MAX,
     .doc = "rejected rows allowed per file before the file fails (default 10000, 0: no limit)"},
    {.name = "allow_empty",
     .type = DAGD_FIELD_BOOL,
     .doc = "no file matching path is fine (default false: the step fails)"},
    {.name = "on_file_error",
     .type = DAGD_FIELD_STRING,
     .choices = on_error_choices,
     .doc = "fail (default): stop at a file that cannot be loaded; continue: load the others, "
            "then fail"},
    {.name = "archive",
     .type = DAGD_FIELD_STRING,
     .doc = "directory to move each file to once loaded (or already loaded before)"},
    {.name = "errors",
     .type = DAGD_FIELD_STRING,
     .doc = "directory to move a file to when it cannot be loaded"},
    {.name = NULL},
};

struct config {
    struct dagd_load_spec spec;
    struct dagd_load_column *cols;
    const char **key;
    char delim;
};

static void config_done(struct config *c)
{
    for (size_t i = 0; c->cols && i < c->spec.n_columns; i++) {
        dagd_load_column_done(&c->cols[i]);
    }
    free(c->cols);
    free(c->key);
    *c = (struct config){0};
}

/* Reads the config into c; failures go through host->fail with the key. */
static int config_read(struct dagd_task_ctx *ctx, struct config *c)
{
    const char *delim = host->config_string(ctx, "delimiter", ",");
    size_t n = host->config_list_len(ctx, "columns");
    char err[512];
    int v;

    *c = (struct config){0};
    v = dagd_load_format_from_string(host->config_string(ctx, "format", "csv"));
    c->spec.format = v < 0 ? DAGD_LOAD_CSV : (enum dagd_load_format)v;
    v = dagd_load_mode_from_string(host->config_string(ctx, "mode", "append"));
    c->spec.mode = v < 0 ? DAGD_LOAD_APPEND : (enum dagd_load_mode)v;
    if (strlen(delim) != 1) {
        return host->fail(ctx, "delimiter", "delimiter must be one byte, got '%s'", delim);
    }
    c->delim = delim[0];
    c->spec.delimiter = c->delim;
    c->spec.sheet = host->config_string(ctx, "sheet", NULL);
    c->spec.table = host->config_string(ctx, "table", "");
    c->spec.newest = host->config_string(ctx, "newest", NULL);
    c->spec.rejects = host->config_string(ctx, "rejects", NULL);
    c->spec.max_rejects = (uint64_t)host->config_int(ctx, "max_rejects", 10000);
    if (n == 0) {
        return host->fail(ctx, "columns", "columns must be a non-empty list");
    }
    c->cols = calloc(n, sizeof(*c->cols));
    if (!c->cols) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (dagd_load_column_parse(host->config_list_item(ctx, "columns", i), &c->cols[i], err,
                                   sizeof(err)) < 0) {
            return host->fail(ctx, "columns", "columns item %zu: %s", i + 1, err);
        }
        c->spec.n_columns = i + 1;
    }
    c->spec.columns = c->cols;
    c->spec.n_key = host->config_list_len(ctx, "key");
    c->key = calloc(c->spec.n_key ? c->spec.n_key : 1, sizeof(*c->key));
    if (!c->key) {
        return -ENOMEM;
    }
    for (size_t k = 0; k < c->spec.n_key; k++) {
        c->key[k] = host->config_list_item(ctx, "key", k);
    }
    c->spec.key = c->key;
    for (size_t i = 0; i < host->config_list_len(ctx, "metadata"); i++) {
        const char *m = host->config_list_item(ctx, "metadata", i);
        if (strcmp(m, "_file") == 0) {
            c->spec.meta_file = true;
        } else if (strcmp(m, "_row") == 0) {
            c->spec.meta_row = true;
        } else if (strcmp(m, "_loaded_at") == 0) {
            c->spec.meta_loaded_at = true;
        } else {
            return host->fail(ctx, "metadata",
                              "unknown metadata column '%s' (_file, _row, "
                              "_loaded_at)",
                              m);
        }
    }
    if (c->spec.format != DAGD_LOAD_CSV && host->config_string(ctx, "delimiter", NULL)) {
        return host->fail(ctx, "delimiter", "delimiter is for format csv");
    }
    if (c->spec.format != DAGD_LOAD_XLSX && c->spec.sheet) {
        return host->fail(ctx, "sheet", "sheet is for format xlsx");
    }
    if (c->spec.mode != DAGD_LOAD_UPSERT && (c->spec.n_key > 0 || c->spec.newest)) {
        return host->fail(ctx, c->spec.n_key ? "key" : "newest",
                          "key and newest are for mode upsert");
    }
    if (c->spec.mode == DAGD_LOAD_UPSERT && c->spec.n_key == 0) {
        return host->fail(ctx, "mode", "mode upsert needs key: [COLUMNS]");
    }
    for (size_t k = 0; k < c->spec.n_key + (c->spec.newest ? 1 : 0); k++) {
        const char *name = k < c->spec.n_key ? c->key[k] : c->spec.newest;
        bool found = false;
        for (size_t i = 0; i < c->spec.n_columns && !found; i++) {
            found = strcmp(c->cols[i].name, name) == 0;
        }
        if (!found) {
            return host->fail(ctx, k < c->spec.n_key ? "key" : "newest",
                              "'%s' is not one of the columns", name);
        }
    }
    return 0;
}

static int load_validate(struct dagd_task_ctx *ctx)
{
    struct config c;
    int r = config_read(ctx, &c);

    config_done(&c);
    return r;
}

static int load_inputs(struct dagd_task_ctx *ctx)
{
    struct dagd_file_list fl = {0};
    char *msg = NULL;
    int r = dagd__glob_files(host->config_string(ctx, "path", ""), &fl, &msg);

    for (size_t i = 0; r >= 0 && i < fl.n; i++) {
        r = host->declare_input(ctx, fl.paths[i]);
    }
    free(msg);
    dagd__file_list_done(&fl);
    return r < 0 ? r : 0;
}

struct progress_state {
    struct dagd_task_ctx *ctx;
    uint64_t done_before;
};

static void on_progress(void *ud, uint64_t rows)
{
    struct progress_state *p = ud;

    host->progress(p->ctx, p->done_before + rows, 0);
}

static bool on_canceled(void *ud)
{
    struct progress_state *p = ud;

    return host->canceled(p->ctx);
}

/* The failure being returned blames the input (a malformed file, bad rows
 * past max_rejects, a missing column): the same bytes fail the same way, so
 * the host must not retry the step. */
static void no_retry(struct dagd_task_ctx *ctx, const char *reason)
{
    if (DAGD_HOST_HAS(host, no_retry)) {
        host->no_retry(ctx, reason);
    }
}

/* Moves a file to dir (archive or errors); a failure fails the step. */
static int move_to(struct dagd_task_ctx *ctx, const char *path, const char *dir)
{
    char *msg = NULL;
    bool before = false;
    int r = dagd__file_transfer(DAGD_FILEOP_MOVE, path, dir, &before, &msg);

    if (r < 0) {
        (void)host->fail(ctx, NULL, "%s", msg ? msg : strerror(-r));
    } else {
        host->log(ctx, DAGD_TASK_LOG_INFO, "moved '%s' to '%s'%s", path, dir,
                  before ? " (it was there already)" : "");
    }
    free(msg);
    return r;
}

/* The files `path` matches, in name order: 1 with *fl filled, 0 when none
 * matches and allow_empty says that is fine, or -errno (after fail()). */
static int match_files(struct dagd_task_ctx *ctx, const char *path, struct dagd_file_list *fl)
{
    char *msg = NULL;
    int r = dagd__glob_files(path, fl, &msg);

    if (r < 0) {
        r = host->fail(ctx, "path", "%s", msg);
        free(msg);
        return r;
    }
    free(msg);
    if (fl->n > 0) {
        return 1;
    }
    if (host->config_bool(ctx, "allow_empty", false)) {
        host->log(ctx, DAGD_TASK_LOG_INFO, "no file matches '%s': nothing to load", path);
        return 0;
    }
    return host->fail(ctx, "path", "no file matches '%s'", path);
}

static int load_run(struct dagd_task_ctx *ctx)
{
    struct config c;
    struct dagd_file_list fl = {0};
    struct progress_state ps = {.ctx = ctx};
    struct dagd_load_hooks hooks = {on_progress, on_canceled, &ps};
    struct dagd_load *l = NULL;
    const char *path = host->config_string(ctx, "path", "");
    const char *archive = host->config_string(ctx, "archive", NULL);
    const char *errors = host->config_string(ctx, "errors", NULL);
    bool keep_going = strcmp(host->config_string(ctx, "on_file_error", "fail"), "continue") == 0;
    uint64_t rows = 0, written = 0, rejected = 0, loaded = 0, skipped = 0, failed = 0;
    bool input_errors_only = true; /* every failed file is to blame itself */
    char *first_error = NULL;
    char err[1024];
    struct dagd_wh *wh = NULL;
    char *whmsg = NULL;
    int r = config_read(ctx, &c);

    if (r < 0) {
        goto out;
    }
    if ((archive || errors) && DAGD_HOST_HAS(host, no_memo)) {
        /* Moving the files is part of the work: a file landed again with
         * the same name and bytes gives the same fingerprint, and a skipped
         * step would leave it in place. */
        host->no_memo(ctx, "files are moved to archive/errors: always run");
    }
    if ((r = match_files(ctx, path, &fl)) <= 0) {
        goto out;
    }
    if ((r = dagd_wh_open(host, ctx, &wh, &whmsg)) < 0) {
        r = host->fail(ctx, NULL, "%s", whmsg);
        free(whmsg);
        goto out;
    }
    if ((r = dagd_load_new_wh(wh, &c.spec, &hooks, &l, err, sizeof(err))) < 0) {
        if (dagd__task_input_error(r)) {
            no_retry(ctx, "the load spec is invalid");
        }
        r = host->fail(ctx, NULL, "table '%s': %s", c.spec.table, err);
        goto out;
    }
    for (size_t i = 0; i < fl.n; i++) {
        struct dagd_load_result res;
        const char *name = dagd__base_name(fl.paths[i]);
        uint64_t t0 = dagd__task_mono_usec();
        double dt;

        if (host->canceled(ctx)) {
            r = -ECANCELED;
            goto out;
        }
        r = dagd_load_file(l, fl.paths[i], name, dagd__task_wall_ms(), &res);
        if (r == -ECANCELED) {
            goto out;
        }
        if (r < 0) {
            /* rolled back: nothing of this file is in the tables */
            failed++;
            input_errors_only = input_errors_only && dagd__task_input_error(r);
            host->log(ctx, DAGD_TASK_LOG_ERR, "'%s' not loaded: %s", fl.paths[i],
                      dagd_load_error(l));
            if (!first_error) {
                first_error = strdup(dagd_load_error(l));
            }
            if (errors && (r = move_to(ctx, fl.paths[i], errors)) < 0) {
                goto out;
            }
            if (!keep_going) {
                break;
            }
            continue;
        }
        if (res.skipped) {
            skipped++;
            host->log(ctx, DAGD_TASK_LOG_NOTICE,
                      "'%s' already loaded into %s (as '%s', xxh3 %s), skipping", fl.paths[i],
                      c.spec.table, res.prev_file ? res.prev_file : "?", res.hash);
        } else {
            dt = (double)(dagd__task_mono_usec() - t0) / 1e6;
            loaded++;
            rows += res.rows;
            written += res.written;
            rejected += res.rejected;
            ps.done_before += res.rows;
            host->log(ctx, DAGD_TASK_LOG_INFO,
                      "loaded '%s' into %s: %" PRIu64 " rows, %" PRIu64 " written, %" PRIu64
                      " rejected in %.3f s (%.0f rows/s)",
                      fl.paths[i], c.spec.table, res.rows, res.written, res.rejected, dt,
                      dt > 0 ? (double)res.rows / dt : 0.0);
            host->metrics(ctx, (int64_t)rows, (int64_t)written);
        }
        if (archive && (r = move_to(ctx, fl.paths[i], archive)) < 0) {
            goto out;
        }
    }
    host->metrics(ctx, (int64_t)rows, (int64_t)written);
    host->log(ctx, DAGD_TASK_LOG_INFO,
              "%s: %" PRIu64 " file(s) loaded, %" PRIu64 " already loaded, %" PRIu64
              " failed; %" PRIu64 " rows, %" PRIu64 " rejected",
              c.spec.table, loaded, skipped, failed, rows, rejected);
    if (failed > 0) {
        r = host->fail(ctx, NULL, "%s%s", first_error ? first_error : "a file failed",
                       failed > 1 ? " (and more files, see the log)" : "");
        if (input_errors_only) {
            no_retry(ctx, "the input file is malformed");
        }
        goto out;
    }
    r = 0;
out:
    free(first_error);
    dagd_load_free(l);
    dagd_wh_free(wh);
    dagd__file_list_done(&fl);
    config_done(&c);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "load",
    .version = "1",
    .description = "load CSV, JSON, NDJSON or xlsx files into a table by declared columns, "
                   "one transaction and one checkpoint per file",
    .schema = schema,
    .validate = load_validate,
    .inputs = load_inputs,
    .run = load_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
