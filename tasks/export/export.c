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
 *
 * On a PostgreSQL warehouse (tasks/common/wh.h) the query streams in
 * libpq's single-row mode (memory stays flat), in one REPEATABLE READ READ
 * ONLY transaction; numbers are written as SQLite writes the same values
 * (dagd_wh_pg_value).
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
#include "pq.h"
#include "task_errmsg.h"
#include "wh.h"

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
    struct dagd_wh *wh;
    PGresult *res;    /* PostgreSQL: the current row (single-row mode), or the last result */
    bool res_row;     /* res holds a row not yet handed out */
    char (*bufs)[64]; /* PostgreSQL: per column, for dagd_wh_pg_value */
    int ncol;
    int split; /* column index, -1 */
    bool keep_split;
    bool split_values_failed; /* a split_values file failed (after host->fail) */
    const char *pattern;
    char **done; /* values written */
    size_t n_done;
    struct out cur;
    int64_t files, rows;
};

/* Returns r (a failure already given to host->fail) after telling the host
 * not to retry: the query or the rows themselves are to blame (SQL that does
 * not compile, a split_by value that is NULL, out of order or no file
 * name), so the same warehouse fails the same way. */
static int input_failure(struct dagd_task_ctx *ctx, int r)
{
    if (DAGD_HOST_HAS(host, no_retry)) {
        host->no_retry(ctx, "the query or its rows cannot be exported as configured");
    }
    return r;
}

static int expand_path(struct exporter *e, const char *value, char *buf, size_t len)
{
    const char *at = strstr(e->pattern, "{value}");

    if (!at) {
        return snprintf(buf, len, "%s", e->pattern) < (int)len ? 0 : -ENAMETOOLONG;
    }
    if (!value || !value[0] || strchr(value, '/') || strcmp(value, ".") == 0 ||
        strcmp(value, "..") == 0) {
        return input_failure(e->ctx, host->fail(e->ctx, "split_by",
                                                "split_by value '%s' cannot be a file name",
                                                value ? value : "(NULL)"));
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

/* ---- the rows: a SQLite statement or a PostgreSQL query ---------------- */

static const char *col_name(struct exporter *e, int i)
{
    return e->res ? PQfname(e->res, i) : sqlite3_column_name(e->st, i);
}

static const char *col_text(struct exporter *e, int i, int *ret_len)
{
    const char *s;
    char kind;

    if (e->res) {
        s = dagd_wh_pg_value((struct pg_result *)e->res, 0, i, e->bufs[i], &kind);
        *ret_len = s ? (int)strlen(s) : 0;
        return s;
    }
    s = (const char *)sqlite3_column_text(e->st, i);
    *ret_len = sqlite3_column_bytes(e->st, i);
    return s;
}

/* PostgreSQL: the next result of the running query; 1 a row, 0 the end,
 * -EIO (message in e->wh->err). The last result stays for the column names. */
static int pg_next(struct exporter *e)
{
    PGresult *res = PQgetResult((PGconn *)e->wh->pg);

    if (!res) {
        return 0;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
        PQclear(e->res);
        e->res = res;
        return st == PGRES_SINGLE_TUPLE ? 1 : 0;
    }
    (void)dagd_wh_pg_error(e->wh, PQresultErrorMessage(res)[0]
                                      ? PQresultErrorMessage(res)
                                      : PQerrorMessage((PGconn *)e->wh->pg));
    /* SQLSTATE class 42 (syntax error, undefined table or column): the
     * query is wrong, -EINVAL; a lost connection or the like, -EIO */
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int r = state && strncmp(state, "42", 2) == 0 ? -EINVAL : -EIO;
    PQclear(res);
    return r;
}

/* 1 a row, 0 the end, < 0 an error (message in errmsg()). */
static int next_row(struct exporter *e)
{
    if (!e->wh->pg) {
        int rc = sqlite3_step(e->st);
        return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
    }
    if (e->res_row) {
        e->res_row = false;
        return 1;
    }
    return pg_next(e);
}

static const char *errmsg(struct exporter *e)
{
    if (e->wh->pg) {
        return e->wh->err;
    }
    return sqlite3_errmsg(e->wh->db);
}

/* Starts the query: the column count in e->ncol. */
static int start_query(struct exporter *e, const char *sql)
{
    if (!e->wh->pg) {
        int rc = sqlite3_prepare_v2(e->wh->db, sql, -1, &e->st, NULL);
        if (rc != SQLITE_OK) {
            return rc == SQLITE_ERROR ? -EINVAL : -EIO; /* does not compile, or busy/I/O */
        }
        e->ncol = sqlite3_column_count(e->st);
        return 0;
    }
    PGconn *c = (PGconn *)e->wh->pg;
    if (!PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0) || !PQsetSingleRowMode(c)) {
        (void)dagd_wh_pg_error(e->wh, PQerrorMessage(c));
        return -EIO;
    }
    /* the first result names the columns (a row, or the end of none) */
    int r = pg_next(e);
    if (r < 0) {
        while ((e->res_row = false, pg_next(e) > 0)) {
        }
        return r;
    }
    e->res_row = r == 1;
    e->ncol = PQnfields(e->res);
    e->bufs = calloc((size_t)e->ncol + 1, sizeof(*e->bufs));
    if (!e->bufs) {
        abort();
    }
    return 0;
}

static void end_query(struct exporter *e)
{
    sqlite3_finalize(e->st);
    e->st = NULL;
    if (e->wh && e->wh->pg) {
        /* drain what an early stop left */
        PGresult *res;
        while ((res = PQgetResult((PGconn *)e->wh->pg))) {
            PQclear(res);
        }
    }
    if (e->res) {
        /* not PQclear(NULL): on SQLite libpq is never opened (pq.h) */
        PQclear(e->res);
    }
    e->res = NULL;
    free(e->bufs);
    e->bufs = NULL;
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
            s = col_name(e, i);
            n = (int)strlen(s);
        } else {
            s = col_text(e, i, &n);
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
    while ((rc = next_row(e)) == 1) {
        if (e->split >= 0) {
            int vlen;
            const char *v = col_text(e, e->split, &vlen);
            if (!v) {
                r = input_failure(e->ctx,
                                  host->fail(e->ctx, "split_by", "a row's split_by value is NULL"));
                goto out;
            }
            if (!cur || strcmp(cur, v) != 0) {
                if ((r = close_out(e)) < 0) {
                    goto out;
                }
                if (was_done(e, v)) {
                    r = input_failure(e->ctx, host->fail(e->ctx, "split_by",
                                                         "rows of '%s' come after other values: "
                                                         "ORDER BY the split_by column",
                                                         v));
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
    if (rc < 0) {
        r = host->fail(e->ctx, NULL, "query failed: %s", errmsg(e));
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

static int empty_value(void *userdata, size_t n, const char *const *names,
                       const char *const *values, const char *kinds)
{
    struct exporter *e = userdata;
    const char *v = values[0];
    int r;

    if (!v || was_done(e, v)) {
        return 0;
    }
    if ((r = mark_done(e, v)) < 0 || (r = open_out(e, v)) < 0 || (r = close_out(e)) < 0) {
        abort_out(e);
        e->split_values_failed = true; /* told the host already */
        return r < 0 ? r : -EIO;
    }
    return 0;
}

/* Header-only files for split_values without rows (the header's names
 * are the main query's: its last result or statement is still there). */
static int export_empty(struct exporter *e, const char *sql)
{
    PGresult *res;
    int r;

    /* PostgreSQL: the main query must be over before the next one */
    while (e->wh->pg && (res = PQgetResult((PGconn *)e->wh->pg))) {
        PQclear(res);
    }
    r = dagd_wh_query(e->wh, sql, 0, NULL, empty_value, e);

    if (r < 0 && !e->split_values_failed) {
        /* the query failed: -EINVAL when it does not compile (no retry) */
        int q = r;
        r = host->fail(e->ctx, "split_values", "%s", e->wh->err);
        return q == -EINVAL ? input_failure(e->ctx, r) : r;
    }
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
    char *sql = NULL, *err = NULL;
    int r, qr;

    e.pattern = host->config_string(ctx, "path", "");
    e.keep_split = host->config_bool(ctx, "keep_split_column", false);
    if ((r = dagd_wh_open(host, ctx, &e.wh, &err)) < 0) {
        (void)host->fail(ctx, NULL, "%s", err);
        free(err);
        return r;
    }
    if (table) {
        char *q = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
        sql = q ? strdup(q) : NULL;
        sqlite3_free(q);
    } else {
        sql = strdup(query);
    }
    if (!sql) {
        dagd_wh_free(e.wh);
        return -ENOMEM;
    }
    /* one read transaction: the rows and split_values see one snapshot */
    (void)dagd_wh_exec(e.wh,
                       e.wh->pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
    if ((qr = start_query(&e, sql)) < 0) {
        r = host->fail(ctx, table ? "table" : "query", "%s", errmsg(&e));
        if (qr == -EINVAL) {
            /* a syntax error or no such table/column, not busy or I/O */
            r = input_failure(ctx, r);
        }
        goto out;
    }
    if (e.ncol == 0) {
        r = input_failure(ctx, host->fail(ctx, "query", "the query returns no columns"));
        goto out;
    }
    if (split) {
        for (int i = 0; i < e.ncol; i++) {
            if (strcmp(col_name(&e, i), split) == 0) {
                e.split = i;
            }
        }
        if (e.split < 0) {
            r = input_failure(ctx,
                              host->fail(ctx, "split_by", "no column '%s' in the result", split));
            goto out;
        }
    }
    r = export_rows(&e);
    if (r == 0 && values) {
        r = export_empty(&e, values);
    }
    if (r == 0) {
        host->metrics(ctx, e.rows, e.rows);
        host->log(ctx, DAGD_TASK_LOG_INFO, "exported %lld rows to %lld file(s)", (long long)e.rows,
                  (long long)e.files);
    }
out:
    end_query(&e);
    (void)dagd_wh_exec(e.wh, "COMMIT");
    dagd_wh_free(e.wh);
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
