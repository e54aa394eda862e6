/* The PostgreSQL connection of the state store (store-pg.h): connect
 * without secrets, migrate the schema, bulk COPY, the history's session
 * lock, and the SQL dialect. Statements go through the pipeline
 * (store-pg-pipe.c: sent in libpq's pipeline mode, answered in order,
 * replayed after a reconnect). */
#include "store-pg-int.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store-migrations-pg.h"
#include "util.h"

void dagd__pg_msg(struct dagd__pg *pg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(pg->errmsg, sizeof(pg->errmsg), fmt, ap);
    va_end(ap);
    /* libpq messages end in a newline and may span lines: keep ours on one. */
    size_t n = strlen(pg->errmsg);
    while (n > 0 && (pg->errmsg[n - 1] == '\n' || pg->errmsg[n - 1] == ' ')) {
        pg->errmsg[--n] = '\0';
    }
    for (char *c = pg->errmsg; *c; c++) {
        if (*c == '\n' || *c == '\t') {
            *c = ' ';
        }
    }
}

bool dagd__pg_is_conninfo(const char *location)
{
    if (!location) {
        return false;
    }
    if (strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0) {
        return true;
    }
    /* libpq keywords: "host=... dbname=...". A path is a directory. */
    return strchr(location, '=') && location[0] != '/' && location[0] != '.';
}

/* The keywords worth showing; everything else (password, sslpassword, ...)
 * is left out, so the display string can never carry a secret. */
static char *conninfo_display(PQconninfoOption *opts)
{
    static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user", NULL};
    char *out = dagd_xstrdup("");
    for (const char *const *k = shown; *k; k++) {
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            if (streq(o->keyword, *k) && o->val && *o->val) {
                char *n = dagd_xasprintf("%s%s%s=%s", out, *out ? " " : "", o->keyword, o->val);
                free(out);
                out = n;
            }
        }
    }
    return out;
}

int dagd__pg_result_fail(struct dagd__pg *pg, PGresult *res)
{
    int rc = dagd__pg_sqlstate_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    dagd__pg_msg(pg, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return rc == SQLITE_OK ? SQLITE_IOERR : rc;
}

int dagd__pg_sqlstate_rc(const char *state)
{
    if (!state) {
        return SQLITE_IOERR;
    }
    if (streq(state, "23505")) {
        return SQLITE_CONSTRAINT_PRIMARYKEY;
    }
    if (streq(state, "23503")) {
        return SQLITE_CONSTRAINT_FOREIGNKEY;
    }
    if (strncmp(state, "23", 2) == 0) {
        return SQLITE_CONSTRAINT;
    }
    if (streq(state, "53100")) {
        return SQLITE_FULL;
    }
    if (streq(state, "40001") || streq(state, "40P01") || streq(state, "55P03") ||
        streq(state, "57014")) {
        return SQLITE_BUSY;
    }
    if (strncmp(state, "28", 2) == 0 || streq(state, "42501")) {
        return SQLITE_PERM;
    }
    if (streq(state, "25006")) {
        return SQLITE_READONLY;
    }
    return SQLITE_IOERR;
}

static void ignore_notice(void *arg, const char *message)
{
}

void dagd__pg_quiet_notices(PGconn *conn)
{
    (void)PQsetNoticeProcessor(conn, ignore_notice, NULL);
}

int dagd__pg_connect(const char *conninfo, struct dagd__pg **ret, char *errbuf, size_t errsize)
{
    /* libpq is opened here, when a PostgreSQL history is first used: a
     * daemon on state.db never maps it (lib/pq/pq.h). */
    _cleanup_free_ char *load_msg = NULL;
    int r = dagd_pq_load(&load_msg);
    if (r < 0) {
        (void)snprintf(errbuf, errsize, "%s", load_msg ? load_msg : "out of memory");
        return r;
    }
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        /* libpq's parse errors quote no values, only keywords. */
        (void)snprintf(errbuf, errsize, "Invalid PostgreSQL connection string: %s",
                       perr ? perr : "out of memory");
        PQfreemem(perr);
        size_t n = strlen(errbuf);
        if (n > 0 && errbuf[n - 1] == '\n') {
            errbuf[n - 1] = '\0';
        }
        return -EINVAL;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (streq(o->keyword, "password") && o->val && *o->val) {
            PQconninfoFree(opts);
            (void)snprintf(errbuf, errsize,
                           "The PostgreSQL connection string carries a password: refusing it "
                           "(it would show in configs, process lists and logs); put it in "
                           "~/.pgpass or PGPASSFILE, or in PGPASSWORD");
            return -EINVAL;
        }
    }
    struct dagd__pg *pg = dagd_xcalloc(1, sizeof(*pg));
    pg->display = conninfo_display(opts);
    PQconninfoFree(opts);

    pg->reconnect_timeout_usec = PG_RECONNECT_TIMEOUT_USEC;
    pg->queue_max = PG_QUEUE_MAX_ENTRIES;
    const char *qm = getenv("DAGD_STATE_QUEUE_MAX");
    if (qm && *qm) {
        char *end;
        unsigned long long v = strtoull(qm, &end, 10);
        if (*end == '\0' && v > 0) {
            pg->queue_max = (size_t)v;
        }
    }
    const char *t = getenv("DAGD_STATE_RECONNECT_TIMEOUT");
    if (t && *t) {
        char *end;
        double sec = strtod(t, &end);
        if (*end == '\0' && sec >= 0) {
            pg->reconnect_timeout_usec = (uint64_t)(sec * 1e6);
        }
    }

    /* dbname carries the whole conninfo (expand_dbname): URI or keywords. */
    const char *keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
    const char *vals[] = {conninfo, "dagd", "UTF8", NULL};
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        const char *m = pg->conn ? PQerrorMessage(pg->conn) : "out of memory";
        bool auth = strstr(m, "password") || strstr(m, "authentication");
        (void)snprintf(errbuf, errsize, "Failed to connect to PostgreSQL (%s): %s", pg->display, m);
        for (char *c = errbuf; *c; c++) {
            if (*c == '\n' || *c == '\t') {
                *c = ' ';
            }
        }
        size_t n = strlen(errbuf);
        while (n > 0 && errbuf[n - 1] == ' ') {
            errbuf[--n] = '\0';
        }
        (void)dagd__pg_free(pg);
        return auth ? -EACCES : -ECONNREFUSED;
    }
    dagd__pg_quiet_notices(pg->conn);
    pg->state = PG_UP;
    *ret = pg;
    return 0;
}

struct dagd__pg *dagd__pg_free(struct dagd__pg *pg)
{
    if (!pg) {
        return NULL;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
    }
    dagd__pg_queue_clear(pg);
    free(pg->q);
    free(pg->display);
    free(pg);
    return NULL;
}

const char *dagd__pg_display(struct dagd__pg *pg)
{
    return pg->display;
}

const char *dagd__pg_errmsg(struct dagd__pg *pg)
{
    return pg->errmsg;
}

int64_t dagd__pg_changes(struct dagd__pg *pg)
{
    return pg->changes;
}

int64_t dagd__pg_last_id(struct dagd__pg *pg)
{
    return pg->last_id;
}

bool dagd__pg_in_txn(struct dagd__pg *pg)
{
    return pg->cur_txn != 0 && !pg->held; /* a held one is committed as far as callers know */
}

unsigned dagd__pg_reconnects(struct dagd__pg *pg)
{
    return pg->reconnects;
}

/* One integer from a query without parameters; *ret untouched when NULL. */
static int query_int(struct dagd__pg *pg, const char *sql, int64_t *ret, bool *ret_null)
{
    /* The plain protocol: migrations run before the pipeline is used. */
    int rc = dagd__pg_plain_ready(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return dagd__pg_result_fail(pg, res);
    }
    bool null = PQntuples(res) == 0 || PQgetisnull(res, 0, 0);
    if (!null) {
        *ret = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    if (ret_null) {
        *ret_null = null;
    }
    PQclear(res);
    return SQLITE_OK;
}

/* 0 with *ret_version, or -EBADMSG for tables without a dagd schema.
 * Inside the migration transaction (or alone: one snapshot per query is
 * enough to read a version). */
static int read_version(struct dagd__pg *pg, int64_t *ret_version, int *ret_rc)
{
    bool null = true;
    int64_t dummy = 0;
    *ret_rc = query_int(pg,
                        "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'dagd_schema' "
                        "AND schemaname = current_schema()",
                        &dummy, &null);
    if (*ret_rc != SQLITE_OK) {
        return -EIO;
    }
    if (null) {
        /* No dagd schema: refuse a database that already has our table
         * names (another program's "runs"), start from 0 otherwise. */
        *ret_rc = query_int(pg,
                            "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename IN ('runs', "
                            "'steps', 'events') AND schemaname = current_schema() LIMIT 1",
                            &dummy, &null);
        if (*ret_rc != SQLITE_OK) {
            return -EIO;
        }
        if (!null) {
            dagd__pg_msg(pg,
                         "PostgreSQL database (%s) has tables named like dagd's but no dagd schema "
                         "version: not a dagd state database",
                         pg->display);
            return -EBADMSG;
        }
        *ret_version = 0;
        return 0;
    }
    *ret_version = 0;
    *ret_rc = query_int(pg, "SELECT max(version) FROM dagd_schema", ret_version, NULL);
    return *ret_rc == SQLITE_OK ? 0 : -EIO;
}

int dagd__pg_schema_version(struct dagd__pg *pg, int *ret_version)
{
    int64_t v;
    int rc;
    int r = read_version(pg, &v, &rc);
    if (r < 0) {
        return r;
    }
    *ret_version = (int)v;
    return 0;
}

static int rollback_keep_msg(struct dagd__pg *pg, int r)
{
    char saved[sizeof(pg->errmsg)];
    memcpy(saved, pg->errmsg, sizeof(saved));
    (void)dagd__pg_exec_simple(pg, "ROLLBACK");
    memcpy(pg->errmsg, saved, sizeof(saved));
    return r;
}

int dagd__pg_migrate(struct dagd__pg *pg, int latest, int *ret_version)
{
    /* Migrations run outside the replay log: a server restart during one
     * fails the open (the next start applies it again, it was rolled back). */
    if (dagd__pg_exec_simple(pg, "BEGIN") != SQLITE_OK) {
        return -EIO;
    }
    char lock[96];
    (void)snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d)", PG_MIGRATION_LOCK);
    if (dagd__pg_exec_simple(pg, lock) != SQLITE_OK) {
        return rollback_keep_msg(pg, -EIO);
    }
    int64_t v;
    int rc;
    int r = read_version(pg, &v, &rc);
    if (r < 0) {
        return rollback_keep_msg(pg, r);
    }
    if (v > latest) {
        dagd__pg_msg(pg,
                     "PostgreSQL database (%s) has schema version %" PRId64
                     ", newer than this dagd supports (%d): use a newer dagd or another database",
                     pg->display, v, latest);
        return rollback_keep_msg(pg, -EPROTONOSUPPORT);
    }
    for (size_t i = 0; i < ELEMENTSOF(dagd_store_pg_migrations); i++) {
        const struct dagd_store_pg_migration *m = &dagd_store_pg_migrations[i];
        /* The baseline applies to an empty database only; each later
         * migration to the version just before it. */
        bool baseline = i == 0;
        if ((baseline && v != 0) || (!baseline && m->version != v + 1)) {
            continue;
        }
        if (dagd__pg_exec_simple(pg, m->sql) != SQLITE_OK) {
            char saved[sizeof(pg->errmsg)];
            memcpy(saved, pg->errmsg, sizeof(saved));
            dagd__pg_msg(pg, "Failed to apply migration %s: %s", m->name, saved);
            return rollback_keep_msg(pg, -EIO);
        }
        char upd[96];
        (void)snprintf(upd, sizeof(upd), "UPDATE dagd_schema SET version = %d", m->version);
        if (dagd__pg_exec_simple(pg, upd) != SQLITE_OK) {
            return rollback_keep_msg(pg, -EIO);
        }
        v = m->version;
    }
    if (v != latest) {
        dagd__pg_msg(pg,
                     "PostgreSQL database (%s) is at schema version %" PRId64
                     ", and no migration leads from there to %d",
                     pg->display, v, latest);
        return rollback_keep_msg(pg, -EPROTONOSUPPORT);
    }
    if (dagd__pg_exec_simple(pg, "COMMIT") != SQLITE_OK) {
        return rollback_keep_msg(pg, -EIO);
    }
    *ret_version = (int)v;
    return 0;
}

char *dagd__pg_translate(const char *sql, int *ret_n)
{
    size_t len = strlen(sql);
    /* Each ?N grows by at most "nullif($N, -1)" - "?N". */
    char *out = dagd_xmalloc(len * 2 + 64);
    size_t o = 0;
    int max = 0;
    bool quoted = false;
    for (size_t i = 0; i < len;) {
        char c = sql[i];
        if (c == '\'') {
            quoted = !quoted;
        }
        if (!quoted && c == '?' && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            char *end;
            long k = strtol(sql + i + 1, &end, 10);
            if (k > max) {
                max = (int)k;
            }
            bool limit = o >= 6 && strncmp(out + o - 6, "LIMIT ", 6) == 0;
            o += (size_t)sprintf(out + o, limit ? "nullif($%ld, -1)" : "$%ld", k);
            i = (size_t)(end - sql);
            continue;
        }
        out[o++] = c;
        i++;
    }
    out[o] = '\0';
    *ret_n = max;
    return out;
}

int dagd__pg_copy_begin(struct dagd__pg *pg, const char *table, const char *columns)
{
    int rc = dagd__pg_pipeline_leave(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    _cleanup_free_ char *sql = dagd_xasprintf("COPY %s (%s) FROM STDIN", table, columns);
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        return dagd__pg_result_fail(pg, res);
    }
    PQclear(res);
    return SQLITE_OK;
}

/* COPY's text format: tab between columns, \N for NULL, and backslash,
 * tab, newline and carriage return escaped. */
int dagd__pg_copy_row(struct dagd__pg *pg, const char *const *vals, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++) {
        len += (vals[i] ? strlen(vals[i]) * 2 : 2) + 1;
    }
    _cleanup_free_ char *line = dagd_xmalloc(len);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            line[o++] = '\t';
        }
        if (!vals[i]) {
            line[o++] = '\\';
            line[o++] = 'N';
            continue;
        }
        for (const char *c = vals[i]; *c; c++) {
            switch (*c) {
            case '\\':
                line[o++] = '\\';
                line[o++] = '\\';
                break;
            case '\t':
                line[o++] = '\\';
                line[o++] = 't';
                break;
            case '\n':
                line[o++] = '\\';
                line[o++] = 'n';
                break;
            case '\r':
                line[o++] = '\\';
                line[o++] = 'r';
                break;
            default:
                line[o++] = *c;
            }
        }
    }
    line[o++] = '\n';
    if (PQputCopyData(pg->conn, line, (int)o) != 1) {
        dagd__pg_msg(pg, "COPY failed: %s", PQerrorMessage(pg->conn));
        return SQLITE_IOERR;
    }
    return SQLITE_OK;
}

int dagd__pg_copy_end(struct dagd__pg *pg)
{
    if (PQputCopyEnd(pg->conn, NULL) != 1) {
        dagd__pg_msg(pg, "COPY failed: %s", PQerrorMessage(pg->conn));
        return SQLITE_IOERR;
    }
    int rc = SQLITE_OK;
    PGresult *res;
    while ((res = PQgetResult(pg->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == SQLITE_OK) {
            rc = dagd__pg_sqlstate_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
            dagd__pg_msg(pg, "%s", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    return rc;
}

/* pg_try_advisory_lock on this session; SQLITE_BUSY with the holder in the
 * message when another session has it. */
int dagd__pg_try_history_lock(struct dagd__pg *pg)
{
    char sql[512];
    (void)snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d)", PG_HISTORY_LOCK);
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return dagd__pg_result_fail(pg, res);
    }
    bool got = streq(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    if (got) {
        return SQLITE_OK;
    }
    /* Who has it: pg_locks names advisory locks by (classid, objid). */
    (void)snprintf(sql, sizeof(sql),
                   "SELECT a.pid, coalesce(host(a.client_addr), 'local'), a.application_name "
                   "FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE "
                   "l.locktype = 'advisory' AND l.objid = %d AND l.granted LIMIT 1",
                   PG_HISTORY_LOCK);
    res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        dagd__pg_msg(
            pg,
            "Another daemon uses the run history %s (its PostgreSQL session: backend PID %s, "
            "client %s, application '%s'): one daemon per history",
            pg->display, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    } else {
        dagd__pg_msg(pg, "Another daemon uses the run history %s: one daemon per history",
                     pg->display);
    }
    PQclear(res);
    return SQLITE_BUSY;
}

int dagd__pg_lock_history(struct dagd__pg *pg)
{
    if (pg->state != PG_UP || PQstatus(pg->conn) == CONNECTION_BAD) {
        /* A standby's idle connection the server dropped (a restart): one
         * attempt to make it again; the standby polls anyway. */
        pg->pipeline = false;
        PQreset(pg->conn);
        if (PQstatus(pg->conn) != CONNECTION_OK) {
            pg->state = PG_DOWN;
            dagd__pg_msg(pg, "PostgreSQL (%s) unreachable: %s", pg->display,
                         PQerrorMessage(pg->conn));
            return SQLITE_IOERR;
        }
        pg->state = PG_UP;
        pg->io_gen++;
        pg->reconnects++;
        dagd__pg_quiet_notices(pg->conn);
    }
    int rc = dagd__pg_pipeline_leave(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = dagd__pg_try_history_lock(pg);
    if (rc == SQLITE_OK) {
        pg->history_locked = true;
    }
    return rc;
}

void dagd__pg_set_wait_fn(struct dagd__pg *pg, dagd__pg_wait_fn fn, void *userdata)
{
    pg->wait_fn = fn;
    pg->wait_userdata = userdata;
}
