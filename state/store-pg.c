/* The PostgreSQL connection of the state store (store-pg.h): connect
 * without secrets, run statements, survive a server restart by reconnecting
 * and replaying the open transaction, migrate the schema.
 *
 * Why synchronous libpq: the store's API (store.h) answers every call before
 * it returns (a new event's seq, -EEXIST for a taken run id, -ENOENT for an
 * unknown run), and its ~30 callers in daemon/ rely on that. Over the Unix
 * socket a statement costs ~0.1 ms, the same order as an SQLite write, so
 * the loop is not held longer than with SQLite; during a server restart it
 * pauses until the server is back (docs/postgresql.md). */
#include "store-pg.h"

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

/* 'dagd' as in the SQLite application_id: one advisory lock key for
 * migrations, whatever else uses advisory locks in that database. */
#define PG_MIGRATION_LOCK 0x64616764
/* The session lock of the daemon that serves the history ('dagh'). */
#define PG_HISTORY_LOCK DAGD__PG_HISTORY_LOCK
/* How long a statement waits for the server to come back before it fails;
 * DAGD_STATE_RECONNECT_TIMEOUT (seconds) overrides it. */
#define PG_RECONNECT_TIMEOUT_USEC (120 * 1000 * 1000ULL)
#define PG_BACKOFF_MIN_USEC (50 * 1000ULL)
#define PG_BACKOFF_MAX_USEC (2000 * 1000ULL)

/* A statement of the open transaction, kept to replay it after a reconnect. */
struct pg_logged {
    const char *sql; /* the store's statements are static strings or live as long as pg */
    int n;
    Oid *types;
    char **vals;
};

struct dagd__pg {
    PGconn *conn;
    char *display;
    bool in_txn;
    bool history_locked; /* dagd__pg_lock_history(): take it again after a reconnect */
    bool history_lost;   /* another session took it while we were away: write nothing */
    bool gave_up;        /* the server stayed away past the reconnect timeout */
    dagd__pg_wait_fn wait_fn;
    void *wait_userdata;
    struct pg_logged *log;
    size_t n_log, cap_log;
    int64_t changes, last_id;
    int64_t xid; /* the open transaction's id (txid_current() at BEGIN), 0 = unknown */
    uint64_t reconnect_timeout_usec;
    unsigned reconnects;
    char errmsg[512];
};

static void pg_msg(struct dagd__pg *pg, const char *fmt, ...) _printf_(2, 3);
static void pg_msg(struct dagd__pg *pg, const char *fmt, ...)
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

static void logged_done(struct pg_logged *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->vals[i]);
    }
    free(l->vals);
    free(l->types);
}

static void log_clear(struct dagd__pg *pg)
{
    for (size_t i = 0; i < pg->n_log; i++) {
        logged_done(&pg->log[i]);
    }
    pg->n_log = 0;
}

static void log_add(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                    const char *const *vals)
{
    if (pg->n_log == pg->cap_log) {
        pg->cap_log = pg->cap_log ? pg->cap_log * 2 : 16;
        pg->log = dagd_xreallocarray(pg->log, pg->cap_log, sizeof(*pg->log));
    }
    struct pg_logged *l = &pg->log[pg->n_log++];
    *l = (struct pg_logged){.sql = sql, .n = n};
    if (n > 0) {
        l->types = dagd_xcalloc((size_t)n, sizeof(Oid));
        l->vals = dagd_xcalloc((size_t)n, sizeof(char *));
        for (int i = 0; i < n; i++) {
            l->types[i] = types ? types[i] : 0;
            l->vals[i] = dagd_xstrdup(vals[i]);
        }
    }
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

static int sqlstate_to_rc(const char *state)
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
    /* Our notices (e.g. "relation exists, skipping") are not the user's business. */
    (void)PQsetNoticeProcessor(pg->conn, NULL, NULL);
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
    log_clear(pg);
    free(pg->log);
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
    return pg->in_txn;
}

unsigned dagd__pg_reconnects(struct dagd__pg *pg)
{
    return pg->reconnects;
}

enum stmt_kind { KIND_BEGIN, KIND_COMMIT, KIND_ROLLBACK, KIND_OTHER };

static enum stmt_kind classify(const char *sql)
{
    if (strncmp(sql, "BEGIN", 5) == 0) {
        return KIND_BEGIN;
    }
    if (strncmp(sql, "COMMIT", 6) == 0) {
        return KIND_COMMIT;
    }
    if (streq(sql, "ROLLBACK")) {
        return KIND_ROLLBACK;
    }
    return KIND_OTHER;
}

/* Re-make the connection: PQreset with a backoff (50 ms doubling to 2 s, so
 * a restart of a second or two is caught quickly and a long outage costs
 * the server one attempt every 2 s) until the deadline. */
static int try_history_lock(struct dagd__pg *pg);

static int reconnect(struct dagd__pg *pg)
{
    uint64_t start = dagd_now_mono_usec(), backoff = PG_BACKOFF_MIN_USEC;
    for (;;) {
        PQreset(pg->conn);
        if (PQstatus(pg->conn) == CONNECTION_OK) {
            pg->reconnects++;
            (void)PQsetNoticeProcessor(pg->conn, NULL, NULL);
            /* The session lock went with the old session: take it again
             * before writing anything, or stop if another daemon took the
             * history meanwhile. */
            int rc = pg->history_locked ? try_history_lock(pg) : SQLITE_OK;
            if (rc == SQLITE_BUSY) {
                /* A standby took over (docs/postgresql.md): this daemon
                 * must stop, not write beside it. */
                pg->history_lost = true;
                if (pg->wait_fn) {
                    pg->wait_fn((unsigned)((dagd_now_mono_usec() - start) / 1000), true, pg->errmsg,
                                pg->wait_userdata);
                }
            }
            if (rc == SQLITE_OK || rc == SQLITE_BUSY) {
                return rc;
            }
        }
        uint64_t now = dagd_now_mono_usec();
        bool timeout = now - start >= pg->reconnect_timeout_usec;
        if (timeout) {
            /* Set before the hook runs: the daemon stops from there, and
             * what it writes while stopping must fail at once, not wait
             * out another timeout per statement. */
            pg->gave_up = true;
            pg_msg(pg, "PostgreSQL (%s) unreachable for %" PRIu64 " s: %s", pg->display,
                   (now - start) / 1000000, PQerrorMessage(pg->conn));
        }
        if (pg->wait_fn) {
            pg->wait_fn((unsigned)((now - start) / 1000), timeout,
                        timeout ? pg->errmsg : PQerrorMessage(pg->conn), pg->wait_userdata);
        }
        if (timeout) {
            return SQLITE_IOERR;
        }
        /* The last pause ends at the deadline, not a backoff past it. */
        uint64_t left = pg->reconnect_timeout_usec - (now - start);
        (void)usleep((useconds_t)(backoff < left ? backoff : left));
        backoff = backoff * 2 > PG_BACKOFF_MAX_USEC ? PG_BACKOFF_MAX_USEC : backoff * 2;
    }
}

/* BEGIN and, in the same round trip (the simple protocol takes several
 * statements), the transaction's id: txid_current() assigns one. After a
 * connection lost during COMMIT, txid_status() of it says whether the
 * server committed. */
static PGresult *exec_begin(struct dagd__pg *pg, const char *sql)
{
    _cleanup_free_ char *q = dagd_xasprintf("%s; SELECT txid_current()", sql);
    PGresult *res = PQexec(pg->conn, q);
    pg->xid = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        pg->xid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    return res;
}

/* On a new connection, after the old one died during COMMIT: 1 when the
 * server committed that transaction (its answer was lost, not the
 * commit), 0 when it did not or we cannot tell, -1 when the connection
 * dropped again. */
static int committed(struct dagd__pg *pg)
{
    if (pg->xid <= 0) {
        return 0;
    }
    char sql[64];
    (void)snprintf(sql, sizeof(sql), "SELECT txid_status(%" PRId64 ")", pg->xid);
    PGresult *res = PQexec(pg->conn, sql);
    int r = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        r = streq(PQgetvalue(res, 0, 0), "committed");
    } else if (PQstatus(pg->conn) == CONNECTION_BAD) {
        r = -1;
    }
    PQclear(res);
    return r;
}

/* After a reconnect, send the open transaction's statements again, in
 * order. Returns SQLITE_OK, SQLITE_IOERR when the connection dropped again
 * (the caller reconnects once more), or the error of a statement that now
 * fails (the transaction is then lost: the caller rolls back). */
static int replay(struct dagd__pg *pg, bool *ret_dropped)
{
    *ret_dropped = false;
    for (size_t i = 0; i < pg->n_log; i++) {
        struct pg_logged *l = &pg->log[i];
        PGresult *res = i == 0 && l->n == 0 && classify(l->sql) == KIND_BEGIN
                            ? exec_begin(pg, l->sql)
                            : PQexecParams(pg->conn, l->sql, l->n, l->types,
                                           (const char *const *)l->vals, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            PQclear(res);
            continue;
        }
        if (PQstatus(pg->conn) == CONNECTION_BAD) {
            PQclear(res);
            *ret_dropped = true;
            return SQLITE_IOERR;
        }
        int rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
        pg_msg(pg, "Failed to replay a transaction after reconnecting to PostgreSQL: %s",
               PQresultErrorMessage(res));
        PQclear(res);
        return rc;
    }
    return SQLITE_OK;
}

static void note_success(struct dagd__pg *pg, enum stmt_kind kind, const char *sql, int n,
                         const Oid *types, const char *const *vals, PGresult *res)
{
    const char *ct = PQcmdTuples(res);
    pg->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) >= 1 &&
        strncmp(PQcmdStatus(res), "INSERT", 6) == 0) {
        pg->last_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    switch (kind) {
    case KIND_BEGIN:
        log_clear(pg);
        pg->in_txn = true;
        log_add(pg, sql, n, types, vals);
        break;
    case KIND_COMMIT:
    case KIND_ROLLBACK:
        log_clear(pg);
        pg->in_txn = false;
        break;
    case KIND_OTHER:
        if (pg->in_txn) {
            log_add(pg, sql, n, types, vals);
        }
        break;
    }
}

int dagd__pg_exec(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                  const char *const *vals, PGresult **ret_res)
{
    enum stmt_kind kind = classify(sql);
    if (pg->history_lost) {
        pg_msg(pg,
               "Another daemon took the run history %s while the connection was down: "
               "this daemon writes nothing more (stop it)",
               pg->display);
        return SQLITE_BUSY;
    }
    if (pg->gave_up) {
        pg_msg(pg,
               "PostgreSQL (%s) stayed unreachable past the reconnect timeout: the run history "
               "is given up (the daemon stops)",
               pg->display);
        return SQLITE_IOERR;
    }
    for (;;) {
        PGresult *res = kind == KIND_BEGIN && n == 0
                            ? exec_begin(pg, sql)
                            : PQexecParams(pg->conn, sql, n, types, vals, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);
        if (kind == KIND_COMMIT && st == PGRES_COMMAND_OK && streq(PQcmdStatus(res), "ROLLBACK")) {
            /* PostgreSQL answers COMMIT of a transaction an earlier error
             * aborted with a rollback, not an error: say so, or the batch
             * would be lost without a word. */
            note_success(pg, kind, sql, n, types, vals, res);
            PQclear(res);
            pg_msg(pg, "the transaction was rolled back: a statement in it had failed");
            return SQLITE_ABORT;
        }
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            note_success(pg, kind, sql, n, types, vals, res);
            *ret_res = res;
            return SQLITE_OK;
        }
        if (PQstatus(pg->conn) != CONNECTION_BAD) {
            /* An error of the statement itself: the connection is fine. */
            int rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
            pg_msg(pg, "%s", PQresultErrorMessage(res));
            PQclear(res);
            return rc;
        }
        PQclear(res);
        /* The server went away (restart, failover, network). */
        if (kind == KIND_ROLLBACK) {
            /* The server rolled back when the session died: nothing to do. */
            log_clear(pg);
            pg->in_txn = false;
            int rc = reconnect(pg);
            if (rc != SQLITE_OK) {
                return rc;
            }
            *ret_res = PQmakeEmptyPGresult(pg->conn, PGRES_COMMAND_OK);
            return SQLITE_OK;
        }
        for (;;) {
            int rc = reconnect(pg);
            if (rc != SQLITE_OK) {
                /* Given up: whatever was open is gone on the server. */
                log_clear(pg);
                pg->in_txn = false;
                return rc;
            }
            if (kind == KIND_COMMIT) {
                /* The server may have committed and died (or the network
                 * lost its answer): replaying would write it twice. */
                int c = committed(pg);
                if (c < 0) {
                    continue;
                }
                if (c > 0) {
                    log_clear(pg);
                    pg->in_txn = false;
                    pg->changes = 0;
                    *ret_res = PQmakeEmptyPGresult(pg->conn, PGRES_COMMAND_OK);
                    return SQLITE_OK;
                }
            }
            bool dropped;
            rc = replay(pg, &dropped);
            if (rc == SQLITE_OK) {
                break;
            }
            if (!dropped) {
                /* The replay's BEGIN is open and aborted on the server:
                 * end it, or every later statement fails ("current
                 * transaction is aborted"). */
                PQclear(PQexec(pg->conn, "ROLLBACK"));
                log_clear(pg);
                pg->in_txn = false;
                return rc;
            }
        }
        /* Send the statement again on the new connection. A COMMIT whose
         * transaction did not commit is re-sent after its replay. */
    }
}

int dagd__pg_exec_simple(struct dagd__pg *pg, const char *sql)
{
    PGresult *res = PQexec(pg->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return SQLITE_OK;
    }
    int rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    pg_msg(pg, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* One integer from a query without parameters; *ret untouched when NULL. */
static int query_int(struct dagd__pg *pg, const char *sql, int64_t *ret, bool *ret_null)
{
    PGresult *res = NULL;
    int rc = dagd__pg_exec(pg, sql, 0, NULL, NULL, &res);
    if (rc != SQLITE_OK) {
        return rc;
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
            pg_msg(pg,
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
    pg->in_txn = false;
    log_clear(pg);
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
        pg_msg(pg,
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
            pg_msg(pg, "Failed to apply migration %s: %s", m->name, saved);
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
        pg_msg(pg,
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
    _cleanup_free_ char *sql = dagd_xasprintf("COPY %s (%s) FROM STDIN", table, columns);
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        int rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
        pg_msg(pg, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return rc;
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
        pg_msg(pg, "COPY failed: %s", PQerrorMessage(pg->conn));
        return SQLITE_IOERR;
    }
    return SQLITE_OK;
}

int dagd__pg_copy_end(struct dagd__pg *pg)
{
    if (PQputCopyEnd(pg->conn, NULL) != 1) {
        pg_msg(pg, "COPY failed: %s", PQerrorMessage(pg->conn));
        return SQLITE_IOERR;
    }
    int rc = SQLITE_OK;
    PGresult *res;
    while ((res = PQgetResult(pg->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == SQLITE_OK) {
            rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
            pg_msg(pg, "%s", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    return rc;
}

/* pg_try_advisory_lock on this session; SQLITE_BUSY with the holder in the
 * message when another session has it. */
static int try_history_lock(struct dagd__pg *pg)
{
    char sql[512];
    (void)snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d)", PG_HISTORY_LOCK);
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
        pg_msg(pg, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return rc == SQLITE_OK ? SQLITE_IOERR : rc;
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
        pg_msg(pg,
               "Another daemon uses the run history %s (its PostgreSQL session: backend PID %s, "
               "client %s, application '%s'): one daemon per history",
               pg->display, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    } else {
        pg_msg(pg, "Another daemon uses the run history %s: one daemon per history", pg->display);
    }
    PQclear(res);
    return SQLITE_BUSY;
}

int dagd__pg_lock_history(struct dagd__pg *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        /* A standby's idle connection the server dropped (a restart): one
         * attempt to make it again; the standby polls anyway. */
        PQreset(pg->conn);
        if (PQstatus(pg->conn) != CONNECTION_OK) {
            pg_msg(pg, "PostgreSQL (%s) unreachable: %s", pg->display, PQerrorMessage(pg->conn));
            return SQLITE_IOERR;
        }
        pg->reconnects++;
        (void)PQsetNoticeProcessor(pg->conn, NULL, NULL);
    }
    int rc = try_history_lock(pg);
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
