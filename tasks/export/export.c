/* The `export` task: a table or a query to CSV files, each written to a
 * temporary name in its directory, fsynced and renamed over the target, so a
 * reader sees the old file or the new one, never a part (tasks/README.md
 * "export").
 *
 * With `split_by`, the rows go to one file per value of that column (the
 * `{value}` in `path` names a file or a folder); the query must deliver each
 * value's rows together (ORDER BY it), so only one file is open at a time
 * and memory does not grow with the rows. `split_values` names values that
 * get a file even without rows (header only).
 *
 * CSV: UTF-8, RFC 4180 quoting (a field with the delimiter, a quote, CR or
 * LF is quoted, quotes doubled), a header of the column names, NULL as an
 * empty field, integers as written by SQLite (no decimals).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dagd/task.h>

#include "fileops.h"
#include "task_errmsg.h"

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "table", .type = DAGD_FIELD_STRING, .doc = "the table to export (or query)"},
    {.name = "query", .type = DAGD_FIELD_STRING, .doc = "a SELECT to export (or table)"},
    {.name = "path",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .doc = "the CSV file; with split_by, {value} in it is the column's value"},
    {.name = "split_by",
     .type = DAGD_FIELD_STRING,
     .doc = "a column: one file per value (rows must come grouped by it); not written as a column"},
    {.name = "split_values",
     .type = DAGD_FIELD_STRING,
     .doc = "split_by: a SELECT of values that get a file even without rows (header only)"},
    {.name = "keep_split_column",
     .type = DAGD_FIELD_BOOL,
     .doc = "split_by: also write the column itself (default false)"},
    {.name = NULL},
};

struct out {
    FILE *f;
    char tmp[PATH_MAX];
    char path[PATH_MAX];
    int64_t rows;
};

struct exporter {
    struct dagd_task_ctx *ctx;
    sqlite3_stmt *st;
    int ncol;
    int split; /* column index, -1 */
    bool keep_split;
    const char *pattern;
    char **done; /* values written */
    size_t n_done;
    struct out cur;
    int64_t files, rows;
};

static int expand_path(struct exporter *e, const char *value, char *buf, size_t len)
{
    const char *at = strstr(e->pattern, "{value}");

    if (!at) {
        return snprintf(buf, len, "%s", e->pattern) < (int)len ? 0 : -ENAMETOOLONG;
    }
    if (!value || !value[0] || strchr(value, '/') || strcmp(value, ".") == 0 ||
        strcmp(value, "..") == 0) {
        return host->fail(e->ctx, "split_by", "split_by value '%s' cannot be a file name",
                          value ? value : "(NULL)");
    }
    if (snprintf(buf, len, "%.*s%s%s", (int)(at - e->pattern), e->pattern, value,
                 at + strlen("{value}")) >= (int)len) {
        return host->fail(e->ctx, "path", "path too long");
    }
    return 0;
}

static void put_field(FILE *f, const char *s, int n)
{
    bool quote = false;

    for (int i = 0; i < n && !quote; i++) {
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    }
    if (!quote) {
        (void)fwrite(s, 1, (size_t)n, f);
        return;
    }
    (void)fputc('"', f);
    for (int i = 0; i < n; i++) {
        if (s[i] == '"') {
            (void)fputc('"', f);
        }
        (void)fputc(s[i], f);
    }
    (void)fputc('"', f);
}

static void put_row(struct exporter *e, bool header)
{
    bool first = true;

    for (int i = 0; i < e->ncol; i++) {
        const char *s;
        int n;
        if (i == e->split && !e->keep_split) {
            continue;
        }
        if (!first) {
            (void)fputc(',', e->cur.f);
        }
        first = false;
        if (header) {
            s = sqlite3_column_name(e->st, i);
            n = (int)strlen(s);
        } else {
            s = (const char *)sqlite3_column_text(e->st, i);
            n = sqlite3_column_bytes(e->st, i);
        }
        if (s) {
            put_field(e->cur.f, s, n);
        }
    }
    (void)fputc('\n', e->cur.f);
}

static int open_out(struct exporter *e, const char *value)
{
    char dir[PATH_MAX];
    char *msg = NULL;
    const char *slash;
    int fd, r;

    if ((r = expand_path(e, value, e->cur.path, sizeof(e->cur.path))) < 0) {
        return r;
    }
    slash = strrchr(e->cur.path, '/');
    (void)snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - e->cur.path) : 1,
                   slash ? e->cur.path : ".");
    if (dir[0] && (r = dagd__mkdir_p(dir, &msg)) < 0) {
        r = host->fail(e->ctx, "path", "%s", msg);
        free(msg);
        return r;
    }
    if (snprintf(e->cur.tmp, sizeof(e->cur.tmp), "%s/.%s.XXXXXX", dir,
                 dagd__base_name(e->cur.path)) >= (int)sizeof(e->cur.tmp)) {
        return host->fail(e->ctx, "path", "path too long");
    }
    fd = mkostemp(e->cur.tmp, O_CLOEXEC);
    if (fd < 0 || !(e->cur.f = fdopen(fd, "w"))) {
        if (fd >= 0) {
            close(fd);
        }
        return host->fail(e->ctx, NULL, "cannot create a file in '%s': %s", dir, strerror(errno));
    }
    (void)fchmod(fd, 0644);
    e->cur.rows = 0;
    put_row(e, true);
    return 0;
}

static int close_out(struct exporter *e)
{
    char *msg = NULL;
    int r;

    if (!e->cur.f) {
        return 0;
    }
    r = fflush(e->cur.f) == 0 && !ferror(e->cur.f) ? 0 : -EIO;
    if (fclose(e->cur.f) != 0 && r == 0) {
        r = -EIO;
    }
    e->cur.f = NULL;
    if (r < 0) {
        (void)unlink(e->cur.tmp);
        return host->fail(e->ctx, NULL, "cannot write '%s': %s", e->cur.tmp, strerror(errno));
    }
    if ((r = dagd__commit_file(e->cur.tmp, e->cur.path, &msg)) < 0) {
        (void)unlink(e->cur.tmp);
        r = host->fail(e->ctx, NULL, "%s", msg);
        free(msg);
        return r;
    }
    (void)host->declare_output(e->ctx, e->cur.path);
    host->log(e->ctx, DAGD_TASK_LOG_INFO, "wrote '%s' (%lld rows)", e->cur.path,
              (long long)e->cur.rows);
    e->files++;
    return 0;
}

static void abort_out(struct exporter *e)
{
    if (e->cur.f) {
        fclose(e->cur.f);
        e->cur.f = NULL;
        (void)unlink(e->cur.tmp);
    }
}

static bool was_done(struct exporter *e, const char *v)
{
    for (size_t i = 0; i < e->n_done; i++) {
        if (strcmp(e->done[i], v) == 0) {
            return true;
        }
    }
    return false;
}

static int mark_done(struct exporter *e, const char *v)
{
    char **nd = realloc(e->done, (e->n_done + 1) * sizeof(*nd));

    if (!nd || !(nd[e->n_done] = strdup(v))) {
        if (nd) {
            e->done = nd;
        }
        return -ENOMEM;
    }
    e->done = nd;
    e->n_done++;
    return 0;
}

static int export_rows(struct exporter *e)
{
    char *cur = NULL;
    int rc, r = 0;

    if (e->split < 0 && (r = open_out(e, NULL)) < 0) {
        return r;
    }
    while ((rc = sqlite3_step(e->st)) == SQLITE_ROW) {
        if (e->split >= 0) {
            const char *v = (const char *)sqlite3_column_text(e->st, e->split);
            if (!v) {
                r = host->fail(e->ctx, "split_by", "a row's split_by value is NULL");
                goto out;
            }
            if (!cur || strcmp(cur, v) != 0) {
                if ((r = close_out(e)) < 0) {
                    goto out;
                }
                if (was_done(e, v)) {
                    r = host->fail(e->ctx, "split_by",
                                   "rows of '%s' come after other values: ORDER BY the split_by "
                                   "column",
                                   v);
                    goto out;
                }
                if ((r = mark_done(e, v)) < 0 || (r = open_out(e, v)) < 0) {
                    goto out;
                }
                free(cur);
                cur = strdup(v);
                if (!cur) {
                    r = -ENOMEM;
                    goto out;
                }
            }
        }
        put_row(e, false);
        e->cur.rows++;
        e->rows++;
        if ((e->rows & 8191) == 0) {
            host->progress(e->ctx, (uint64_t)e->rows, 0);
            if (host->canceled(e->ctx)) {
                r = -ECANCELED;
                goto out;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        r = host->fail(e->ctx, NULL, "query failed: %s", sqlite3_errmsg(sqlite3_db_handle(e->st)));
        goto out;
    }
    r = close_out(e);
out:
    free(cur);
    if (r < 0) {
        abort_out(e);
    }
    return r;
}

/* Header-only files for split_values without rows. */
static int export_empty(struct exporter *e, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *vs = NULL;
    int rc, r = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &vs, NULL) != SQLITE_OK) {
        return host->fail(e->ctx, "split_values", "%s", sqlite3_errmsg(db));
    }
    while ((rc = sqlite3_step(vs)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(vs, 0);
        if (!v || was_done(e, v)) {
            continue;
        }
        if ((r = mark_done(e, v)) < 0 || (r = open_out(e, v)) < 0 || (r = close_out(e)) < 0) {
            abort_out(e);
            break;
        }
    }
    if (r == 0 && rc != SQLITE_DONE) {
        r = host->fail(e->ctx, "split_values", "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(vs);
    return r;
}

static int export_validate(struct dagd_task_ctx *ctx)
{
    const char *table = host->config_string(ctx, "table", NULL);
    const char *query = host->config_string(ctx, "query", NULL);
    const char *split = host->config_string(ctx, "split_by", NULL);
    const char *path = host->config_string(ctx, "path", "");

    if (!table == !query) {
        return host->fail(ctx, table ? "query" : NULL, "give exactly one of table and query");
    }
    if (split && !strstr(path, "{value}")) {
        return host->fail(ctx, "path", "with split_by, path needs {value}");
    }
    if (!split && strstr(path, "{value}")) {
        return host->fail(ctx, "path", "{value} in path needs split_by");
    }
    if (!split && (host->config_string(ctx, "split_values", NULL) ||
                   host->config_bool(ctx, "keep_split_column", false))) {
        return host->fail(ctx, "split_by", "split_values and keep_split_column need split_by");
    }
    return 0;
}

static int export_run(struct dagd_task_ctx *ctx)
{
    const char *table = host->config_string(ctx, "table", NULL);
    const char *query = host->config_string(ctx, "query", NULL);
    const char *split = host->config_string(ctx, "split_by", NULL);
    const char *values = host->config_string(ctx, "split_values", NULL);
    struct exporter e = {.ctx = ctx, .split = -1};
    sqlite3 *db = host->warehouse(ctx);
    char *sql = NULL;
    int r;

    e.pattern = host->config_string(ctx, "path", "");
    e.keep_split = host->config_bool(ctx, "keep_split_column", false);
    if (!db) {
        return host->fail(ctx, NULL, "cannot open the warehouse");
    }
    if (table) {
        char *q = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
        sql = q ? strdup(q) : NULL;
        sqlite3_free(q);
    } else {
        sql = strdup(query);
    }
    if (!sql) {
        return -ENOMEM;
    }
    /* one read transaction: the rows and split_values see one snapshot */
    (void)sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, sql, -1, &e.st, NULL) != SQLITE_OK) {
        r = host->fail(ctx, table ? "table" : "query", "%s", sqlite3_errmsg(db));
        goto out;
    }
    e.ncol = sqlite3_column_count(e.st);
    if (e.ncol == 0) {
        r = host->fail(ctx, "query", "the query returns no columns");
        goto out;
    }
    if (split) {
        for (int i = 0; i < e.ncol; i++) {
            if (strcmp(sqlite3_column_name(e.st, i), split) == 0) {
                e.split = i;
            }
        }
        if (e.split < 0) {
            r = host->fail(ctx, "split_by", "no column '%s' in the result", split);
            goto out;
        }
    }
    r = export_rows(&e);
    if (r == 0 && values) {
        r = export_empty(&e, db, values);
    }
    if (r == 0) {
        host->metrics(ctx, e.rows, e.rows);
        host->log(ctx, DAGD_TASK_LOG_INFO, "exported %lld rows to %lld file(s)", (long long)e.rows,
                  (long long)e.files);
    }
out:
    sqlite3_finalize(e.st);
    (void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    for (size_t i = 0; i < e.n_done; i++) {
        free(e.done[i]);
    }
    free(e.done);
    free(sql);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "export",
    .version = "1",
    .description = "a table or query to CSV files (atomic: temp name, fsync, rename), optionally "
                   "one file per value of a column",
    .schema = schema,
    .validate = export_validate,
    .run = export_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
