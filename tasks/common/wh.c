/* See wh.h. libpq: PostgreSQL 15 docs, chapter 34 (PQconnectdb,
 * PQexecParams, PQcmdTuples); SQLite: sqlite3_prepare_v2/step. */
#include "wh.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dagd/task.h>

#include "pq.h"
#include "task_errmsg.h"

/* PostgreSQL type oids (pg_type.dat) of the results the tasks read. */
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700
#define OID_BOOL 16

static const char *const engine_names[_DAGD_WH_ENGINE_MAX] = {"sqlite", "postgresql"};

static const char *const type_names[_DAGD_WH_ENGINE_MAX][_DAGD_WH_TYPE_MAX] = {
    {"INTEGER", "REAL", "TEXT"},
    {"BIGINT", "DOUBLE PRECISION", "TEXT"},
};

const char *dagd_wh_engine_to_string(enum dagd_wh_engine e)
{
    return e < _DAGD_WH_ENGINE_MAX ? engine_names[e] : NULL;
}

const char *dagd_wh_type_name(const struct dagd_wh *wh, enum dagd_wh_type t)
{
    return type_names[wh->engine][t];
}

static void set_err(struct dagd_wh *wh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct dagd_wh *wh, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(wh->err, sizeof(wh->err), fmt, ap);
    va_end(ap);
    /* one line: libpq's messages end in a newline and may hold a DETAIL line */
    for (char *p = wh->err; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            *p = (p[1] == '\0') ? '\0' : ' ';
        }
    }
}

/* "PostgreSQL host=/run/x port=5432 dbname=wh user=u": what messages call
 * the server. Only these four keywords: never a password, whatever the
 * string holds. */
static char *label_of(const char *conninfo)
{
    static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user"};
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    char *s = strdup("PostgreSQL");

    if (!s) {
        abort();
    }
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
            if (o->val && *o->val && strcmp(o->keyword, shown[i]) == 0) {
                s = dagd_wh_append(s, " %s=%s", o->keyword, o->val);
            }
        }
    }
    PQconninfoFree(opts);
    return s;
}

int dagd_wh_connect(const char *conninfo, struct dagd_wh **ret, char **reterr_msg)
{
    struct dagd_wh *wh;
    PGresult *res;
    char *load_msg = NULL;

    /* libpq is opened here, by the first step that uses PostgreSQL. */
    if (dagd_pq_load(&load_msg) < 0) {
        dagd__task_set_err(reterr_msg, "cannot connect to the warehouse: %s",
                           load_msg ? load_msg : "out of memory");
        free(load_msg);
        return -EIO;
    }
    wh = calloc(1, sizeof(*wh));
    if (!wh) {
        abort();
    }
    wh->engine = DAGD_WH_POSTGRESQL;
    wh->label = label_of(conninfo);
    /* no password prompt ever (libpq has none in a library anyway) */
    wh->pg = (struct pg_conn *)PQconnectdb(conninfo);
    if (!wh->pg || PQstatus((PGconn *)wh->pg) != CONNECTION_OK) {
        set_err(wh, "%s", wh->pg ? PQerrorMessage((PGconn *)wh->pg) : "out of memory");
        dagd__task_set_err(reterr_msg, "cannot connect to the warehouse (%s): %s", wh->label,
                           wh->err);
        (void)dagd_wh_free(wh);
        return -EIO;
    }
    /* The readers hand over UTF-8; integer-valued output as text. */
    if (PQsetClientEncoding((PGconn *)wh->pg, "UTF8") != 0) {
        dagd__task_set_err(reterr_msg, "warehouse (%s): cannot set the client encoding UTF8",
                           wh->label);
        (void)dagd_wh_free(wh);
        return -EIO;
    }
    /* Quiet NOTICEs (CREATE TABLE IF NOT EXISTS ... skipping) are not ours to print. */
    res = PQexec((PGconn *)wh->pg, "SET client_min_messages = warning");
    PQclear(res);
    *ret = wh;
    return 0;
}

struct dagd_wh *dagd_wh_wrap_sqlite(struct sqlite3 *db)
{
    struct dagd_wh *wh = calloc(1, sizeof(*wh));

    if (!wh || !(wh->label = strdup("SQLite"))) {
        abort();
    }
    wh->engine = DAGD_WH_SQLITE;
    wh->db = db;
    return wh;
}

int dagd_wh_open(const struct dagd_host_api *host, struct dagd_task_ctx *ctx, struct dagd_wh **ret,
                 char **reterr_msg)
{
    const char *conninfo =
        DAGD_HOST_HAS(host, warehouse_conninfo) ? host->warehouse_conninfo(ctx) : NULL;

    if (conninfo) {
        return dagd_wh_connect(conninfo, ret, reterr_msg);
    }
    sqlite3 *db = host->warehouse(ctx);
    if (!db) {
        dagd__task_set_err(reterr_msg, "cannot open the warehouse");
        return -ENOENT;
    }
    *ret = dagd_wh_wrap_sqlite(db);
    return 0;
}

struct dagd_wh *dagd_wh_free(struct dagd_wh *wh)
{
    if (!wh) {
        return NULL;
    }
    if (wh->pg) {
        /* an open transaction is rolled back by the server when we leave */
        PQfinish((PGconn *)wh->pg);
    }
    free(wh->label);
    free(wh);
    return NULL;
}

const char *dagd_wh_pg_error(struct dagd_wh *wh, const char *msg)
{
    set_err(wh, "%s", msg);
    return wh->err;
}

static int pg_ok(struct dagd_wh *wh, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        return 0;
    }
    if (PQstatus((PGconn *)wh->pg) == CONNECTION_BAD) {
        set_err(wh, "connection to %s lost: %s", wh->label, PQerrorMessage((PGconn *)wh->pg));
        return -EIO;
    }
    set_err(wh, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage((PGconn *)wh->pg));
    /* SQLSTATE class 42 (a syntax error, no such table or column): the SQL
     * is wrong and fails again, -EINVAL (task_errmsg.h); else -EIO */
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && strncmp(state, "42", 2) == 0 ? -EINVAL : -EIO;
}

int dagd_wh_exec(struct dagd_wh *wh, const char *sql)
{
    if (wh->engine == DAGD_WH_POSTGRESQL) {
        PGresult *res = PQexec((PGconn *)wh->pg, sql);
        int r = pg_ok(wh, res);
        const char *n = res ? PQcmdTuples(res) : "";
        wh->changes = *n ? strtoll(n, NULL, 10) : 0;
        PQclear(res);
        return r;
    }
    char *msg = NULL;
    if (sqlite3_exec(wh->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(wh, "%s", msg ? msg : sqlite3_errmsg(wh->db));
        sqlite3_free(msg);
        return -EIO;
    }
    wh->changes = sqlite3_changes64(wh->db);
    return 0;
}

int64_t dagd_wh_changes(struct dagd_wh *wh)
{
    return wh->changes;
}

/* PostgreSQL's text of a number, as SQLite prints the same value: a real
 * keeps one fraction digit at least (12.0), numeric's trailing zeros go
 * (CREATE TABLE AS types x / 100.0 as numeric: 12.3400000 -> 12.34). */
static const char *pg_number(char *buf, size_t cap, const char *v, Oid type, char *ret_kind)
{
    size_t n = strlen(v);

    if (type == OID_FLOAT8 || type == OID_FLOAT4) {
        *ret_kind = 'r';
        if (strpbrk(v, ".eEnN") || n + 3 > cap) {
            return v;
        }
        (void)snprintf(buf, cap, "%s.0", v);
        return buf;
    }
    if (!strchr(v, '.') || n + 1 > cap) {
        *ret_kind = strchr(v, '.') ? 'r' : 'i';
        return v;
    }
    *ret_kind = 'r';
    memcpy(buf, v, n + 1);
    while (n > 2 && buf[n - 1] == '0' && buf[n - 2] != '.') {
        buf[--n] = '\0';
    }
    return buf;
}

const char *dagd_wh_pg_value(const struct pg_result *result, int row, int col, char buf[64],
                             char *ret_kind)
{
    const PGresult *res = (const PGresult *)result;
    Oid t = PQftype(res, col);

    if (PQgetisnull(res, row, col)) {
        *ret_kind = 'n';
        return NULL;
    }
    if (t == OID_INT8 || t == OID_INT4 || t == OID_INT2) {
        *ret_kind = 'i';
        return PQgetvalue(res, row, col);
    }
    if (t == OID_FLOAT8 || t == OID_FLOAT4 || t == OID_NUMERIC) {
        return pg_number(buf, 64, PQgetvalue(res, row, col), t, ret_kind);
    }
    if (t == OID_BOOL) {
        /* SQLite has no booleans: 1 and 0, as there */
        *ret_kind = 'i';
        return PQgetvalue(res, row, col)[0] == 't' ? "1" : "0";
    }
    *ret_kind = 't';
    return PQgetvalue(res, row, col);
}

static int pg_query(struct dagd_wh *wh, const char *sql, size_t n_params, const char *const *params,
                    dagd_wh_row_fn fn, void *userdata)
{
    PGresult *res = PQexecParams((PGconn *)wh->pg, sql, (int)n_params, NULL, params, NULL, NULL, 0);
    int r = pg_ok(wh, res);
    int ncol = res ? PQnfields(res) : 0;
    const char **names = calloc((size_t)ncol + 1, sizeof(*names));
    const char **vals = calloc((size_t)ncol + 1, sizeof(*vals));
    char *kinds = calloc((size_t)ncol + 1, 1);
    char(*bufs)[64] = calloc((size_t)ncol + 1, 64);

    if (!names || !vals || !kinds || !bufs) {
        abort();
    }
    for (int i = 0; i < ncol; i++) {
        names[i] = PQfname(res, i);
    }
    for (int row = 0; r == 0 && fn && row < PQntuples(res); row++) {
        for (int i = 0; i < ncol; i++) {
            vals[i] = dagd_wh_pg_value((struct pg_result *)res, row, i, bufs[i], &kinds[i]);
        }
        r = fn(userdata, (size_t)ncol, names, vals, kinds);
    }
    PQclear(res);
    free(names);
    free(vals);
    free(kinds);
    free(bufs);
    return r;
}

static int sqlite_query(struct dagd_wh *wh, const char *sql, size_t n_params,
                        const char *const *params, dagd_wh_row_fn fn, void *userdata)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0, ncol;

    rc = sqlite3_prepare_v2(wh->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        set_err(wh, "%s", sqlite3_errmsg(wh->db));
        return rc == SQLITE_ERROR ? -EINVAL : -EIO; /* does not compile, or busy/I/O */
    }
    for (size_t i = 0; i < n_params; i++) {
        char name[32];
        (void)snprintf(name, sizeof(name), "$%zu", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (idx > 0) {
            (void)sqlite3_bind_text(st, idx, params[i], -1, SQLITE_STATIC);
        }
    }
    ncol = sqlite3_column_count(st);
    const char **names = calloc((size_t)ncol + 1, sizeof(*names));
    const char **vals = calloc((size_t)ncol + 1, sizeof(*vals));
    char *kinds = calloc((size_t)ncol + 1, 1);
    if (!names || !vals || !kinds) {
        abort();
    }
    for (int i = 0; i < ncol; i++) {
        names[i] = sqlite3_column_name(st, i);
    }
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; fn && i < ncol; i++) {
            int t = sqlite3_column_type(st, i);
            vals[i] = (const char *)sqlite3_column_text(st, i);
            kinds[i] = t == SQLITE_INTEGER ? 'i'
                       : t == SQLITE_FLOAT ? 'r'
                       : t == SQLITE_NULL  ? 'n'
                                           : 't';
        }
        r = fn ? fn(userdata, (size_t)ncol, names, vals, kinds) : 0;
    }
    if (r == 0 && rc != SQLITE_DONE) {
        set_err(wh, "%s", sqlite3_errmsg(wh->db));
        r = -EIO;
    }
    sqlite3_finalize(st);
    free(names);
    free(vals);
    free(kinds);
    return r;
}

int dagd_wh_query(struct dagd_wh *wh, const char *sql, size_t n_params, const char *const *params,
                  dagd_wh_row_fn fn, void *userdata)
{
    return wh->engine == DAGD_WH_POSTGRESQL ? pg_query(wh, sql, n_params, params, fn, userdata)
                                            : sqlite_query(wh, sql, n_params, params, fn, userdata);
}

static int found_row(void *userdata, size_t n, const char *const *names, const char *const *values,
                     const char *kinds)
{
    (void)n;
    (void)names;
    (void)values;
    (void)kinds;
    *(bool *)userdata = true;
    return 0;
}

int dagd_wh_table_exists(struct dagd_wh *wh, const char *name)
{
    /* PostgreSQL: the unquoted name's table or view on the search path, as
     * the models' SQL would find it; SQLite: names are case-insensitive. */
    const char *sql = wh->engine == DAGD_WH_POSTGRESQL
                          ? "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON "
                            "n.oid = c.relnamespace WHERE c.relname = $1 AND c.relkind IN ('r', "
                            "'v', 'm', 'p', 'f') AND n.nspname = ANY (current_schemas(false))"
                          : "SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND "
                            "name = $1 COLLATE NOCASE";
    bool found = false;
    const char *params[1] = {name};
    int r = dagd_wh_query(wh, sql, 1, params, found_row, &found);

    return r < 0 ? r : found;
}

char *dagd_wh_append(char *s, const char *fmt, ...)
{
    va_list ap;
    char *add = NULL, *out;
    size_t n = s ? strlen(s) : 0;

    va_start(ap, fmt);
    if (vasprintf(&add, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    out = realloc(s, n + strlen(add) + 1);
    if (!out) {
        abort();
    }
    strcpy(out + n, add);
    free(add);
    return out;
}

char *dagd_wh_append_ident(char *s, const char *ident)
{
    size_t n = s ? strlen(s) : 0, q = 0;
    char *out;

    for (const char *p = ident; *p; p++) {
        q += *p == '"';
    }
    out = realloc(s, n + strlen(ident) + q + 3);
    if (!out) {
        abort();
    }
    out[n++] = '"';
    for (const char *p = ident; *p; p++) {
        out[n++] = *p;
        if (*p == '"') {
            out[n++] = '"';
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}
