/* The `extract` task: loads delivered files (xlsx workbooks, JSON arrays,
 * CSV) into the bronze tables of the warehouse.
 *
 * Config (checked by the host against `schema`):
 *   format   xlsx | json | csv
 *   path     glob of the files to load, e.g. ${data_dir}/dataset1*.xlsx;
 *            files are loaded in byte-wise name order (dataset1.xlsx before
 *            dataset1_002.xlsx); no match is an error naming the pattern
 *   source   dataset1 | dataset2: the `source` of every row
 *   map_path csv only: glob of CITY_DISTRICT_MAP csv files (loaded first)
 *
 * Each file is one transaction (see bronze_loader.h); a file already loaded with
 * the same content is skipped, so a re-run after a crash resumes with the
 * first file not loaded. This file is only glue between the host ABI and the
 * loader: it expands globs, logs, and reports progress and metrics.
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <dagd/task.h>
#include <sqlite3.h>

#include "bronze_loader.h"
#include "task_clock.h"
#include "task_errmsg.h"
#include "xlsx_reader.h"

static const struct dagd_host_api *host;

static const char *const format_choices[] = {"xlsx", "json", "csv", NULL};
static const char *const source_choices[] = {"dataset1", "dataset2", NULL};

static const struct dagd_task_field schema[] = {
    {.name = "format",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .choices = format_choices,
     .doc = "file format: xlsx (sheets DATA and CITY_DISTRICT_MAP), json (array of records), csv"},
    {.name = "path",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .doc = "glob of the files to load, in name order (e.g. ${data_dir}/dataset1*.xlsx)"},
    {.name = "source",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .choices = source_choices,
     .doc = "which delivery the rows belong to (raw_orders.source)"},
    {.name = "max_shared_strings_mb",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 4095,
     .doc = "xlsx: largest shared string table a workbook may hold, in MiB (default 64)"},
    {.name = "map_path",
     .type = DAGD_FIELD_STRING,
     .doc = "csv only: glob of CITY_DISTRICT_MAP csv files, loaded before the data"},
    {.name = NULL},
};

struct file_list {
    char **paths;
    size_t n;
};

static void file_list_done(struct file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++) {
        free(fl->paths[i]);
    }
    free(fl->paths);
    fl->paths = NULL;
    fl->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the files matching `pattern`, sorted by bytes (not by locale). */
static int expand(struct dagd_task_ctx *ctx, const char *key, const char *pattern,
                  struct file_list *fl)
{
    glob_t g = {0};
    size_t first = fl->n;
    int gr = glob(pattern, GLOB_NOSORT, NULL, &g);

    if (gr == GLOB_NOMATCH || (gr == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        char cwd[PATH_MAX];
        if (pattern[0] != '/' && getcwd(cwd, sizeof(cwd))) {
            /* Say where a relative pattern was looked for: the step's
             * working directory is not always the user's shell's. */
            (void)host->fail(ctx, key, "no file matches '%s' (relative to '%s')", pattern, cwd);
        } else {
            (void)host->fail(ctx, key, "no file matches '%s'", pattern);
        }
        return -ENOENT;
    }
    if (gr != 0) {
        globfree(&g);
        (void)host->fail(ctx, key, "cannot expand '%s': %s", pattern,
                         gr == GLOB_NOSPACE ? "out of memory" : "read error");
        return -EIO;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        char **np;
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            continue;
        }
        np = realloc(fl->paths, (fl->n + 1) * sizeof(*np));
        if (!np) {
            globfree(&g);
            return -ENOMEM;
        }
        fl->paths = np;
        fl->paths[fl->n] = strdup(g.gl_pathv[i]);
        if (!fl->paths[fl->n]) {
            globfree(&g);
            return -ENOMEM;
        }
        fl->n++;
    }
    globfree(&g);
    if (fl->n == first) {
        (void)host->fail(ctx, key, "no file matches '%s' (only directories)", pattern);
        return -ENOENT;
    }
    qsort(fl->paths + first, fl->n - first, sizeof(*fl->paths), cmp_str);
    return 0;
}

/* map_path files first (csv), then path files. */
static int collect(struct dagd_task_ctx *ctx, struct file_list *fl)
{
    const char *map = host->config_string(ctx, "map_path", NULL);
    int r;

    if (map && map[0]) {
        r = expand(ctx, "map_path", map, fl);
        if (r < 0) {
            return r;
        }
    }
    return expand(ctx, "path", host->config_string(ctx, "path", ""), fl);
}

static int extract_validate(struct dagd_task_ctx *ctx)
{
    const char *format = host->config_string(ctx, "format", "");
    const char *map = host->config_string(ctx, "map_path", NULL);

    if (map && strcmp(format, "csv") != 0) {
        return host->fail(ctx, "map_path",
                          "map_path is only for format: csv (a workbook carries "
                          "its own CITY_DISTRICT_MAP sheet)");
    }
    return 0;
}

static int extract_inputs(struct dagd_task_ctx *ctx)
{
    struct file_list fl = {0};
    int r = collect(ctx, &fl);

    for (size_t i = 0; r >= 0 && i < fl.n; i++) {
        r = host->declare_input(ctx, fl.paths[i]);
    }
    file_list_done(&fl);
    return r < 0 ? r : 0;
}

struct progress_state {
    struct dagd_task_ctx *ctx;
    uint64_t done_before;
};

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
    struct progress_state *p = ud;

    host->progress(p->ctx, p->done_before + done, total ? p->done_before + total : 0);
}

static bool on_canceled(void *ud)
{
    struct progress_state *p = ud;

    return host->canceled(p->ctx);
}

/* A workbook that re-maps district ids already in the map moves earlier
 * orders to other cities: say so, with the count and the first ids (the
 * bronze trigger recorded each change in city_district_remaps). */
static void warn_remaps(struct dagd_task_ctx *ctx, sqlite3 *db, const char *path, long long file_id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), (SELECT group_concat(city_district_id, ', ') FROM "
                           "(SELECT city_district_id FROM city_district_remaps WHERE new_file_id "
                           "= ?1 ORDER BY city_district_id LIMIT 10)) FROM city_district_remaps "
                           "WHERE new_file_id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_bind_int64(st, 1, file_id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
        long long n = sqlite3_column_int64(st, 0);
        const char *ids = (const char *)sqlite3_column_text(st, 1);
        host->log(ctx, DAGD_TASK_LOG_WARNING,
                  "'%s' maps %lld district id%s already in the map to another city or district "
                  "(ids %s%s): earlier orders of those ids move with them; each change is in "
                  "city_district_remaps",
                  path, n, n == 1 ? "" : "s", ids ? ids : "", n > 10 ? ", ..." : "");
    }
    sqlite3_finalize(st);
}

static int extract_run(struct dagd_task_ctx *ctx)
{
    struct file_list fl = {0};
    struct progress_state ps = {.ctx = ctx};
    struct dagd_bronze_loader_hooks hooks = {on_progress, on_canceled, &ps};
    struct dagd_bronze_loader *l = NULL;
    const char *source = host->config_string(ctx, "source", "");
    int format = dagd_bronze_loader_format_from_string(host->config_string(ctx, "format", ""));
    struct sqlite3 *db;
    uint64_t rows = 0, loaded = 0, skipped = 0;
    char err[512];
    int r;

    if (format < 0) {
        return host->fail(ctx, "format", "unknown format");
    }
    dagd_xlsx_set_shared_limit(
        (size_t)host->config_int(ctx, "max_shared_strings_mb", DAGD_XLSX_SHARED_LIMIT_DEFAULT >> 20)
        << 20);
    r = collect(ctx, &fl);
    if (r < 0) {
        goto out;
    }
    db = host->warehouse(ctx);
    if (!db) {
        r = host->fail(ctx, NULL, "cannot open the warehouse");
        goto out;
    }
    r = dagd_bronze_loader_new(db, source, &hooks, &l, err, sizeof(err));
    if (r < 0) {
        host->fail(ctx, NULL, "%s", err);
        goto out;
    }
    for (size_t i = 0; i < fl.n; i++) {
        struct dagd_bronze_loader_file f;
        double t0 = (double)dagd__task_mono_usec() / 1e6, dt;

        host->log(ctx, DAGD_TASK_LOG_INFO, "loading '%s' (%s, file %zu of %zu)", fl.paths[i],
                  source, i + 1, fl.n);
        r = dagd_bronze_loader_load_file(l, (enum dagd_bronze_loader_format)format, fl.paths[i],
                                         &f);
        if (r < 0) {
            /* the loader rolled back: nothing of this file is in the warehouse */
            host->fail(ctx, NULL, "%s", dagd_bronze_loader_error(l));
            if (dagd__task_input_error(r) && DAGD_HOST_HAS(host, no_retry)) {
                /* the same bytes fail the same way: do not retry */
                host->no_retry(ctx, "the input file is malformed");
            }
            goto out;
        }
        if (f.skipped) {
            host->log(ctx, DAGD_TASK_LOG_NOTICE,
                      "'%s' already loaded (file_id %lld, %llu rows, xxh3 %s), skipping",
                      fl.paths[i], (long long)f.file_id, (unsigned long long)f.rows, f.hash);
            skipped++;
            continue;
        }
        dt = (double)dagd__task_mono_usec() / 1e6 - t0;
        host->log(ctx, DAGD_TASK_LOG_INFO,
                  "loaded '%s' as file_id %lld: %llu rows, %llu map rows in %.3f s (%.0f rows/s)",
                  fl.paths[i], (long long)f.file_id, (unsigned long long)f.rows,
                  (unsigned long long)f.map_rows, dt, dt > 0 ? (double)f.rows / dt : 0.0);
        warn_remaps(ctx, db, fl.paths[i], f.file_id);
        rows += f.rows;
        ps.done_before += f.rows;
        loaded++;
        host->metrics(ctx, (int64_t)rows, (int64_t)rows);
    }
    host->metrics(ctx, (int64_t)rows, (int64_t)rows);
    host->log(ctx, DAGD_TASK_LOG_INFO, "%llu file(s) loaded, %llu already loaded; %llu rows",
              (unsigned long long)loaded, (unsigned long long)skipped, (unsigned long long)rows);
    r = 0;
out:
    dagd_bronze_loader_free(l);
    file_list_done(&fl);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "extract",
    .version = "1",
    .description = "load delivered xlsx / JSON / CSV files into the bronze tables of the warehouse",
    .schema = schema,
    .validate = extract_validate,
    .inputs = extract_inputs,
    .run = extract_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
