/* The PostgreSQL connection of the state store (store-pg.h): connect
 * without secrets, run statements in libpq's pipeline mode, survive a
 * server restart by reconnecting and replaying the unsettled transactions,
 * migrate the schema.
 *
 * One connection, one pipeline, in order: a write whose answer nobody
 * needs is sent without waiting (dagd__pg_send), a statement whose answer
 * is needed goes behind the writes queued before it and waits for its own
 * answer (dagd__pg_exec), so a read always sees the daemon's own writes.
 * The store's API (store.h) still answers every call before it returns:
 * the callers that need an answer (a new event's seq, -EEXIST for a taken
 * run id) get it, the ones that do not (the executor's batch) do not wait.
 * The daemon's loop reads the answers when the socket is readable
 * (dagd__pg_process_io); without such a driver (tools, tests) every
 * statement waits, as a blocking client would. */
#include "store-pg.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
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

/* At most this many statements, or bytes of their parameters, wait in
 * memory for the server (a write queue during an outage): past either the
 * history is given up as past the reconnect timeout. DAGD_STATE_QUEUE_MAX
 * overrides the count (tests). */
#define PG_QUEUE_MAX_ENTRIES 200000
#define PG_QUEUE_MAX_BYTES (256ULL * 1024 * 1024)
/* A reconnect attempt is driven in slices this long from the daemon's
 * timer (the loop is never held longer), and given up after
 * PG_CONNECT_ATTEMPT_USEC (a server that accepts but never answers). */
#define PG_CONNECT_SLICE_MSEC 5
#define PG_CONNECT_TICK_USEC (10 * 1000ULL)
#define PG_CONNECT_ATTEMPT_USEC (10 * 1000 * 1000ULL)
#define PG_INLINE_ATTEMPT_MSEC 250
#define PG_READ_GRACE_USEC (500 * 1000ULL)
/* After a reconnect the history's lock may still be held by our old
 * session's backend for a moment (it has not seen the drop yet): it is
 * another daemon's only once it stays taken this long. */
#define PG_LOCK_GRACE_USEC (5 * 1000 * 1000ULL)

/* What an entry of the pipeline is: a statement, the BEGIN of a
 * transaction and the txid_current() sent right after it (so that a COMMIT
 * whose answer was lost can be asked about), its COMMIT or ROLLBACK, or a
 * Sync message (the point up to which the server flushes its answers and
 * after which an error stops skipping statements). */
enum entry_kind { E_STMT, E_BEGIN, E_XID, E_COMMIT, E_ROLLBACK, E_SYNC };

/* A statement in the pipeline: queued (not sent yet), sent (its answer not
 * read yet) or done. The statements of a transaction stay until the
 * answer of its COMMIT (or ROLLBACK) arrives, to send them again on a new
 * connection when the old one drops before (docs/postgresql.md "When the
 * server restarts"). */
struct pg_entry {
    const char *sql; /* the store's statements are static strings or live as long as pg */
    int n;
    Oid *types;
    char **vals;
    enum entry_kind kind;
    uint64_t seq; /* consecutive: entry i is seq q[head].seq + i - head */
    uint64_t txn; /* the transaction it belongs to, 0 = none */
    bool sent, got_result, done;
    bool waited;   /* a caller waits in dagd__pg_exec() for its result */
    PGresult *res; /* for the waiter */
    int64_t xid;   /* E_XID: the transaction's id once answered */
};

enum pg_state { PG_UP, PG_DOWN, PG_CONNECTING };

struct dagd__pg {
    PGconn *conn;
    char *display;
    enum pg_state state;
    bool pipeline;       /* the connection is in pipeline mode */
    bool async;          /* a driver (dagd__pg_set_io_fn) reads answers: writes need not wait */
    bool history_locked; /* dagd__pg_lock_history(): take it again after a reconnect */
    bool history_lost;   /* another session took it while we were away: write nothing */
    bool gave_up;        /* the server stayed away past the reconnect timeout */
    bool want_write;     /* libpq's output buffer is not empty */
    dagd__pg_wait_fn wait_fn;
    void *wait_userdata;
    dagd__pg_io_fn io_fn;
    void *io_userdata;
    unsigned io_gen;      /* changes whenever the socket does */
    unsigned io_gen_seen; /* what io_fn was last told */
    bool io_write_seen;   /* ditto */
    int64_t io_timeout_seen;
    /* The pipeline: q[head..recv) done (kept for a replay), q[recv..sent)
     * sent, q[sent..len) queued. */
    struct pg_entry *q;
    size_t head, recv, sent, len, cap;
    uint64_t next_seq;
    size_t queued_bytes;
    uint64_t cur_txn;     /* the transaction the caller has open (BEGIN sent, no end yet) */
    uint64_t last_txn;    /* the last transaction id given */
    uint64_t settled_txn; /* every transaction up to this one has its end's answer */
    int async_rc;         /* the first error of a statement nobody waited for */
    char async_msg[512];
    /* Outage: since when, and when the next connection attempt is due. */
    uint64_t down_since, next_attempt, backoff, attempt_start;
    int poll_want; /* PostgresPollingStatusType of the attempt in progress */
    char down_why[256];
    int64_t changes, last_id;
    uint64_t reconnect_timeout_usec;
    size_t queue_max;
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
    /* Our notices (e.g. "relation exists, skipping") are not the user's business. */
    (void)PQsetNoticeProcessor(pg->conn, NULL, NULL);
    pg->state = PG_UP;
    *ret = pg;
    return 0;
}

static void queue_clear(struct dagd__pg *pg);

struct dagd__pg *dagd__pg_free(struct dagd__pg *pg)
{
    if (!pg) {
        return NULL;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
    }
    queue_clear(pg);
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
    return pg->cur_txn != 0;
}

unsigned dagd__pg_reconnects(struct dagd__pg *pg)
{
    return pg->reconnects;
}

/* ---- the pipeline ---- */

static void entry_done(struct pg_entry *e)
{
    for (int i = 0; i < e->n; i++) {
        free(e->vals[i]);
    }
    free(e->vals);
    free(e->types);
    if (e->res) {
        PQclear(e->res);
    }
    *e = (struct pg_entry){0};
}

static size_t entry_bytes(const struct pg_entry *e)
{
    size_t b = sizeof(*e);
    for (int i = 0; i < e->n; i++) {
        b += e->vals[i] ? strlen(e->vals[i]) + 1 : 0;
    }
    return b;
}

/* The entry with sequence number `seq`, or NULL when it left the queue. */
static struct pg_entry *entry_of(struct dagd__pg *pg, uint64_t seq)
{
    if (pg->head == pg->len || seq < pg->q[pg->head].seq) {
        return NULL;
    }
    size_t i = pg->head + (size_t)(seq - pg->q[pg->head].seq);
    return i < pg->len ? &pg->q[i] : NULL;
}

/* Forget the done entries at the front that nobody needs any more: no
 * waiter, and their transaction (if any) settled. */
static void queue_pop(struct dagd__pg *pg)
{
    while (pg->head < pg->recv) {
        struct pg_entry *e = &pg->q[pg->head];
        if (!e->done || e->waited || (e->txn != 0 && e->txn > pg->settled_txn)) {
            break;
        }
        pg->queued_bytes -= entry_bytes(e);
        entry_done(e);
        pg->head++;
    }
    if (pg->head == pg->len) {
        pg->head = pg->recv = pg->sent = pg->len = 0;
    } else if (pg->head > 64 && pg->head > pg->len / 2) {
        size_t n = pg->len - pg->head;
        memmove(pg->q, pg->q + pg->head, n * sizeof(*pg->q));
        pg->recv -= pg->head;
        pg->sent -= pg->head;
        pg->len = n;
        pg->head = 0;
    }
}

/* Drop the whole queue (the history is given up). */
static void queue_clear(struct dagd__pg *pg)
{
    for (size_t i = pg->head; i < pg->len; i++) {
        entry_done(&pg->q[i]);
    }
    pg->head = pg->recv = pg->sent = pg->len = 0;
    pg->queued_bytes = 0;
    pg->cur_txn = 0;
    pg->settled_txn = pg->last_txn;
}

static struct pg_entry *entry_add(struct dagd__pg *pg, enum entry_kind kind, const char *sql, int n,
                                  const Oid *types, const char *const *vals)
{
    if (pg->len == pg->cap) {
        pg->cap = pg->cap ? pg->cap * 2 : 64;
        pg->q = dagd_xreallocarray(pg->q, pg->cap, sizeof(*pg->q));
    }
    struct pg_entry *e = &pg->q[pg->len++];
    *e = (struct pg_entry){.sql = sql, .n = n, .kind = kind, .seq = pg->next_seq++};
    if (n > 0) {
        e->types = dagd_xcalloc((size_t)n, sizeof(Oid));
        e->vals = dagd_xcalloc((size_t)n, sizeof(char *));
        for (int i = 0; i < n; i++) {
            e->types[i] = types ? types[i] : 0;
            e->vals[i] = dagd_xstrdup(vals[i]);
        }
    }
    switch (kind) {
    case E_BEGIN:
        pg->cur_txn = ++pg->last_txn;
        e->txn = pg->cur_txn;
        break;
    case E_COMMIT:
    case E_ROLLBACK:
        e->txn = pg->cur_txn;
        pg->cur_txn = 0;
        break;
    default:
        /* A Sync inside a transaction belongs to it too: the scans for its
         * E_XID (xid_known, resume) walk the transaction's entries. */
        e->txn = pg->cur_txn;
    }
    pg->queued_bytes += entry_bytes(e);
    return e;
}

/* Remove the entries from `seq` on (a waiter that fails at once: nothing
 * was queued behind it, the caller was blocked). */
static void queue_truncate(struct dagd__pg *pg, uint64_t seq)
{
    while (pg->len > pg->head && pg->q[pg->len - 1].seq >= seq) {
        struct pg_entry *e = &pg->q[--pg->len];
        pg->queued_bytes -= entry_bytes(e);
        entry_done(e);
    }
    if (pg->sent > pg->len) {
        pg->sent = pg->len;
    }
    if (pg->recv > pg->len) {
        pg->recv = pg->len;
    }
}

/* Writes waiting for the server: the statements of transactions not
 * settled yet. */
static size_t queue_writes(struct dagd__pg *pg)
{
    size_t n = 0;
    for (size_t i = pg->head; i < pg->len; i++) {
        const struct pg_entry *e = &pg->q[i];
        n += e->kind == E_STMT && e->txn != 0 && e->txn > pg->settled_txn;
    }
    return n;
}

static void note_async_error(struct dagd__pg *pg, int rc, const char *msg)
{
    if (pg->async_rc != SQLITE_OK) {
        return;
    }
    pg->async_rc = rc;
    (void)snprintf(pg->async_msg, sizeof(pg->async_msg), "%s", msg);
    for (char *c = pg->async_msg; *c; c++) {
        if (*c == '\n' || *c == '\t') {
            *c = ' ';
        }
    }
}

/* Tell the driver when what it polls for changed (dagd__pg_io_state). */
static void io_notify(struct dagd__pg *pg)
{
    if (!pg->io_fn) {
        return;
    }
    int fd;
    unsigned gen;
    bool want_write;
    int64_t timeout;
    dagd__pg_io_state(pg, &fd, &gen, &want_write, &timeout);
    if (gen == pg->io_gen_seen && want_write == pg->io_write_seen &&
        timeout == pg->io_timeout_seen) {
        return;
    }
    pg->io_gen_seen = gen;
    pg->io_write_seen = want_write;
    pg->io_timeout_seen = timeout;
    pg->io_fn(pg->io_userdata);
}

/* The connection dropped (restart, failover, network): from now on writes
 * queue in memory and a connection is made again, by the driver's timer
 * (dagd__pg_process_io) or, without a driver, by the waiting call. */
static void conn_lost(struct dagd__pg *pg)
{
    if (pg->state != PG_UP) {
        return;
    }
    pg->state = PG_DOWN;
    pg->pipeline = false;
    pg->want_write = false;
    pg->io_gen++;
    uint64_t now = dagd_now_mono_usec();
    pg->down_since = now;
    pg->next_attempt = now;
    pg->backoff = PG_BACKOFF_MIN_USEC;
    (void)snprintf(pg->down_why, sizeof(pg->down_why), "%s", PQerrorMessage(pg->conn));
    size_t n = strlen(pg->down_why);
    while (n > 0 && (pg->down_why[n - 1] == '\n' || pg->down_why[n - 1] == ' ')) {
        pg->down_why[--n] = '\0';
    }
    if (pg->wait_fn) {
        pg->wait_fn(0, false, pg->down_why, pg->wait_userdata);
    }
}

/* Whether the transaction of the COMMIT at q[i] has its id: a COMMIT is
 * sent only then, so that the id can be asked about if its answer is lost
 * (committed(), after a reconnect). */
static bool xid_known(struct dagd__pg *pg, size_t i)
{
    uint64_t txn = pg->q[i].txn;
    for (size_t k = i; k-- > pg->head;) {
        const struct pg_entry *e = &pg->q[k];
        if (e->txn != txn) {
            break;
        }
        if (e->kind == E_XID) {
            return e->done;
        }
    }
    return true; /* no BEGIN of ours (a transaction opened otherwise) */
}

/* Send the queued entries in order, as far as a COMMIT waiting for its
 * transaction id allows, and flush. */
static void pump(struct dagd__pg *pg)
{
    if (pg->state != PG_UP || !pg->pipeline) {
        return;
    }
    while (pg->sent < pg->len) {
        struct pg_entry *e = &pg->q[pg->sent];
        if (e->kind == E_COMMIT && !xid_known(pg, pg->sent)) {
            break;
        }
        int ok;
        if (e->kind == E_SYNC) {
            ok = PQpipelineSync(pg->conn);
        } else {
            ok = PQsendQueryParams(pg->conn, e->sql, e->n, e->types, (const char *const *)e->vals,
                                   NULL, NULL, 0);
            /* The server holds its answers until a Sync or a flush
             * request: the id must come back before the COMMIT goes. */
            if (ok && e->kind == E_XID) {
                ok = PQsendFlushRequest(pg->conn);
            }
        }
        if (!ok) {
            conn_lost(pg);
            return;
        }
        e->sent = true;
        pg->sent++;
    }
    int f = PQflush(pg->conn);
    if (f < 0) {
        conn_lost(pg);
        return;
    }
    pg->want_write = f == 1;
}

/* Whether an error ends the session rather than the statement: the
 * connection broke, or the server said FATAL (pg_terminate_backend, a
 * shutdown: "terminating connection due to administrator command") just
 * before closing it, which libpq reports as the statement's error. */
static bool session_ended(struct dagd__pg *pg, const PGresult *res)
{
    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        return true;
    }
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    return sev && (streq(sev, "FATAL") || streq(sev, "PANIC"));
}

/* Read the answers that arrived (without waiting) and hand them to their
 * entries, in order. */
static void drain(struct dagd__pg *pg)
{
    while (pg->state == PG_UP && pg->recv < pg->sent && !PQisBusy(pg->conn)) {
        struct pg_entry *e = &pg->q[pg->recv];
        PGresult *res = PQgetResult(pg->conn);
        if (!res) {
            if (!e->got_result) {
                break; /* nothing more yet */
            }
            /* The end of this statement's answer. */
            e->done = true;
            pg->recv++;
            continue;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            if (e->kind == E_SYNC) {
                e->done = true;
                pg->recv++;
            }
            continue;
        }
        if (st == PGRES_FATAL_ERROR && session_ended(pg, res)) {
            PQclear(res);
            conn_lost(pg);
            break; /* not the statement's error: the connection's */
        }
        if (e->got_result) {
            PQclear(res); /* a second result of one statement: not ours */
            continue;
        }
        e->got_result = true;
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (e->kind == E_XID && st == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            e->xid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        }
        if (e->kind == E_COMMIT || e->kind == E_ROLLBACK) {
            pg->settled_txn = e->txn;
            if (e->kind == E_COMMIT && ok && streq(PQcmdStatus(res), "ROLLBACK") && !e->waited) {
                /* PostgreSQL answers COMMIT of a transaction an earlier
                 * error aborted with a rollback, not an error. */
                note_async_error(pg, SQLITE_ABORT,
                                 "the transaction was rolled back: a statement in it had failed");
            }
        }
        if (e->waited) {
            e->res = res;
            continue;
        }
        if (st == PGRES_FATAL_ERROR) {
            note_async_error(pg, sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
                             PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    if (pg->state == PG_UP && PQstatus(pg->conn) == CONNECTION_BAD) {
        conn_lost(pg);
    }
    queue_pop(pg);
}

/* Read what the socket has, then hand it out; false when the connection
 * dropped. */
static bool consume(struct dagd__pg *pg)
{
    if (pg->state != PG_UP) {
        return false;
    }
    if (!PQconsumeInput(pg->conn)) {
        conn_lost(pg);
        return false;
    }
    drain(pg);
    return pg->state == PG_UP;
}

/* Put the (new) connection into pipeline mode, non-blocking. */
static int pipeline_enter(struct dagd__pg *pg)
{
    if (pg->pipeline) {
        return SQLITE_OK;
    }
    if (PQsetnonblocking(pg->conn, 1) != 0 || !PQenterPipelineMode(pg->conn)) {
        pg_msg(pg, "Failed to enter pipeline mode: %s", PQerrorMessage(pg->conn));
        return SQLITE_IOERR;
    }
    pg->pipeline = true;
    return SQLITE_OK;
}

/* Wait (blocking) until every entry sent has its answer. */
static int wait_idle(struct dagd__pg *pg);

/* Leave pipeline mode for the calls that use the plain protocol
 * (migrations, COPY, the history lock): wait for the answers first. */
static int pipeline_leave(struct dagd__pg *pg)
{
    if (!pg->pipeline) {
        return SQLITE_OK;
    }
    int rc = wait_idle(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (!PQexitPipelineMode(pg->conn) || PQsetnonblocking(pg->conn, 0) != 0) {
        pg_msg(pg, "Failed to leave pipeline mode: %s", PQerrorMessage(pg->conn));
        return SQLITE_IOERR;
    }
    pg->pipeline = false;
    return SQLITE_OK;
}

/* On a new connection, after the old one died with a COMMIT sent but not
 * answered: 1 when the server committed that transaction (its answer was
 * lost, not the commit), 0 when it did not, -1 when the connection
 * dropped again. */
static int committed(struct dagd__pg *pg, int64_t xid)
{
    char sql[64];
    (void)snprintf(sql, sizeof(sql), "SELECT txid_status(%" PRId64 ")", xid);
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

static int try_history_lock(struct dagd__pg *pg);

/* The connection is made again: take the history's lock back, settle the
 * transactions whose COMMIT went out unanswered (txid_status), and queue
 * what is left to be sent again, in order: the statements of every
 * unsettled transaction, then what was queued meanwhile. SQLITE_OK,
 * SQLITE_BUSY (another daemon has the history now), or SQLITE_IOERR (the
 * connection dropped again). */
static int resume(struct dagd__pg *pg)
{
    pg->reconnects++;
    (void)PQsetNoticeProcessor(pg->conn, NULL, NULL);
    /* The session lock went with the old session: take it again before
     * writing anything, or stop if another daemon took the history. */
    int rc = pg->history_locked ? try_history_lock(pg) : SQLITE_OK;
    if (rc == SQLITE_BUSY && dagd_now_mono_usec() - pg->down_since < PG_LOCK_GRACE_USEC) {
        /* Most likely our own old session: its backend holds the lock
         * until it notices the connection is gone. Try again. */
        return SQLITE_IOERR;
    }
    if (rc == SQLITE_BUSY) {
        pg->history_lost = true;
        queue_clear(pg);
        if (pg->wait_fn) {
            pg->wait_fn((unsigned)((dagd_now_mono_usec() - pg->down_since) / 1000), true,
                        pg->errmsg, pg->wait_userdata);
        }
        return rc;
    }
    if (rc != SQLITE_OK) {
        return SQLITE_IOERR;
    }
    /* Ask about each transaction whose COMMIT was sent: the server may
     * have committed and died (or the network lost its answer), and
     * sending it again would write it twice. */
    for (size_t i = pg->head; i < pg->len; i++) {
        struct pg_entry *e = &pg->q[i];
        if (e->kind != E_COMMIT || !e->sent || e->txn <= pg->settled_txn) {
            continue;
        }
        int64_t xid = 0;
        for (size_t k = i; k-- > pg->head && pg->q[k].txn == e->txn;) {
            if (pg->q[k].kind == E_XID) {
                xid = pg->q[k].xid;
                break;
            }
        }
        int c = xid > 0 ? committed(pg, xid) : 0;
        if (c < 0) {
            return SQLITE_IOERR;
        }
        if (c > 0) {
            pg->settled_txn = e->txn;
        }
    }
    /* Keep what must go again; the answers of the old connection are
     * gone with it. */
    size_t o = pg->head;
    for (size_t i = pg->head; i < pg->len; i++) {
        struct pg_entry *e = &pg->q[i];
        bool keep = e->waited || e->kind == E_SYNC || (e->txn != 0 && e->txn > pg->settled_txn);
        if (!keep) {
            pg->queued_bytes -= entry_bytes(e);
            entry_done(e);
            continue;
        }
        if (e->res) {
            PQclear(e->res);
            e->res = NULL;
        }
        e->sent = e->got_result = e->done = false;
        e->xid = 0;
        pg->q[o++] = *e;
    }
    pg->len = o;
    pg->recv = pg->sent = pg->head;
    rc = pipeline_enter(pg);
    if (rc != SQLITE_OK) {
        return SQLITE_IOERR;
    }
    pg->state = PG_UP;
    pg->io_gen++;
    pump(pg);
    return pg->state == PG_UP ? SQLITE_OK : SQLITE_IOERR;
}

/* Drive a connection attempt for up to slice_ms (-1: to its end): 1
 * connected, 0 still in progress, -1 failed (the reason in PQerrorMessage). */
static int connect_step(struct dagd__pg *pg, int slice_ms)
{
    if (pg->state != PG_CONNECTING) {
        if (!PQresetStart(pg->conn)) {
            return -1;
        }
        pg->state = PG_CONNECTING;
        pg->attempt_start = dagd_now_mono_usec();
        pg->poll_want = PGRES_POLLING_WRITING;
    }
    uint64_t deadline =
        slice_ms < 0 ? UINT64_MAX : dagd_now_mono_usec() + (uint64_t)slice_ms * 1000;
    for (;;) {
        if (pg->poll_want == PGRES_POLLING_OK) {
            pg->state = PG_DOWN;
            return 1;
        }
        if (pg->poll_want == PGRES_POLLING_FAILED ||
            dagd_now_mono_usec() - pg->attempt_start > PG_CONNECT_ATTEMPT_USEC) {
            pg->state = PG_DOWN;
            return -1;
        }
        uint64_t now = dagd_now_mono_usec();
        int wait_ms = 0;
        if (now < deadline) {
            uint64_t left = (deadline - now + 999) / 1000;
            wait_ms = slice_ms < 0 ? 100 : (int)(left > 1000 ? 1000 : left);
        }
        struct pollfd p = {
            .fd = PQsocket(pg->conn),
            .events = pg->poll_want == PGRES_POLLING_READING ? POLLIN : POLLOUT,
        };
        if (p.fd < 0) {
            /* No socket (yet): libpq decides what next without one. */
            pg->poll_want = PQresetPoll(pg->conn);
            continue;
        }
        int k = poll(&p, 1, wait_ms);
        if (k < 0 && errno != EINTR) {
            pg->state = PG_DOWN;
            return -1;
        }
        if (k <= 0) {
            if (now >= deadline) {
                return 0;
            }
            continue;
        }
        pg->poll_want = PQresetPoll(pg->conn);
    }
}

/* One step of an outage: an attempt when one is due. Returns SQLITE_OK once
 * connected again, SQLITE_BUSY while still down (pg->next_attempt says
 * when to call again), or an error once given up. */
static int outage_step(struct dagd__pg *pg, int slice_ms)
{
    uint64_t now = dagd_now_mono_usec();
    if (pg->state == PG_DOWN && now < pg->next_attempt) {
        return SQLITE_BUSY;
    }
    int c = connect_step(pg, slice_ms);
    if (c == 0) {
        pg->next_attempt = dagd_now_mono_usec() + PG_CONNECT_TICK_USEC;
        return SQLITE_BUSY;
    }
    if (c > 0) {
        int rc = resume(pg);
        if (rc == SQLITE_OK || rc == SQLITE_BUSY) {
            return rc == SQLITE_OK ? SQLITE_OK : SQLITE_IOERR;
        }
        /* Dropped again during the resume: a new attempt after the backoff. */
        pg->state = PG_DOWN;
        pg->pipeline = false;
    }
    now = dagd_now_mono_usec();
    const char *why = PQerrorMessage(pg->conn);
    if (why && *why) {
        (void)snprintf(pg->down_why, sizeof(pg->down_why), "%s", why);
        size_t n = strlen(pg->down_why);
        while (n > 0 && (pg->down_why[n - 1] == '\n' || pg->down_why[n - 1] == ' ')) {
            pg->down_why[--n] = '\0';
        }
    }
    if (now - pg->down_since >= pg->reconnect_timeout_usec) {
        /* Set before the hook runs: the daemon stops from there, and what
         * it writes while stopping must fail at once. */
        pg->gave_up = true;
        queue_clear(pg);
        pg_msg(pg, "PostgreSQL (%s) unreachable for %" PRIu64 " s: %s", pg->display,
               (now - pg->down_since) / 1000000, pg->down_why);
        if (pg->wait_fn) {
            pg->wait_fn((unsigned)((now - pg->down_since) / 1000), true, pg->errmsg,
                        pg->wait_userdata);
        }
        return SQLITE_IOERR;
    }
    if (pg->wait_fn) {
        pg->wait_fn((unsigned)((now - pg->down_since) / 1000), false, pg->down_why,
                    pg->wait_userdata);
    }
    /* The last pause ends at the deadline, not a backoff past it. */
    uint64_t left = pg->reconnect_timeout_usec - (now - pg->down_since);
    pg->next_attempt = now + (pg->backoff < left ? pg->backoff : left);
    pg->backoff = pg->backoff * 2 > PG_BACKOFF_MAX_USEC ? PG_BACKOFF_MAX_USEC : pg->backoff * 2;
    return SQLITE_BUSY;
}

/* Without a driver: wait out the outage here (the caller is blocked), as
 * long as the reconnect timeout allows. */
static int outage_wait(struct dagd__pg *pg)
{
    for (;;) {
        int rc = outage_step(pg, -1);
        if (rc != SQLITE_BUSY) {
            return rc;
        }
        uint64_t now = dagd_now_mono_usec();
        if (pg->next_attempt > now) {
            (void)usleep((useconds_t)(pg->next_attempt - now));
        }
    }
}

/* A call that needs an answer found the connection down. In the first
 * PG_READ_GRACE_USEC of an outage it makes the attempts due meanwhile
 * itself (each up to PG_INLINE_ATTEMPT_MSEC): a dropped connection to a
 * server that is up (a network blip, pg_terminate_backend, our old
 * session still holding the history's lock for a moment) is then
 * invisible to the caller. Later, one attempt when one is due; a server
 * that is down refuses at once (well under a millisecond on a Unix
 * socket), and the caller fails with unavailable(). */
static void attempt_inline(struct dagd__pg *pg)
{
    for (;;) {
        if (pg->state == PG_UP || pg->gave_up || pg->history_lost) {
            return;
        }
        uint64_t now = dagd_now_mono_usec();
        bool fresh = now - pg->down_since < PG_READ_GRACE_USEC;
        if (now >= pg->next_attempt) {
            (void)outage_step(pg, PG_INLINE_ATTEMPT_MSEC);
            if (!fresh) {
                return;
            }
            continue;
        }
        if (!fresh || pg->next_attempt - pg->down_since > PG_READ_GRACE_USEC) {
            return;
        }
        (void)usleep((useconds_t)(pg->next_attempt - now));
    }
}

/* The message of a call that needs the server during an outage. */
static int unavailable(struct dagd__pg *pg)
{
    pg_msg(pg,
           "run history unavailable: PostgreSQL at %s is down, reconnecting (%zu writes queued)",
           pg->display, queue_writes(pg));
    return SQLITE_IOERR;
}

static int refuse_if_gone(struct dagd__pg *pg)
{
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
    return SQLITE_OK;
}

/* Past the queue's bound the history is given up, as past the timeout:
 * the daemon stops rather than grow without limit. */
static int check_bound(struct dagd__pg *pg)
{
    size_t n = pg->len - pg->head;
    if (n < pg->queue_max && pg->queued_bytes < PG_QUEUE_MAX_BYTES) {
        return SQLITE_OK;
    }
    pg->gave_up = true;
    queue_clear(pg);
    pg_msg(pg,
           "PostgreSQL (%s) unreachable with more than %zu statements or %llu MB queued: the run "
           "history is given up",
           pg->display, n, (unsigned long long)(PG_QUEUE_MAX_BYTES >> 20));
    if (pg->wait_fn) {
        pg->wait_fn((unsigned)((dagd_now_mono_usec() - pg->down_since) / 1000), true, pg->errmsg,
                    pg->wait_userdata);
    }
    return SQLITE_IOERR;
}

static enum entry_kind classify(const char *sql)
{
    if (strncmp(sql, "BEGIN", 5) == 0) {
        return E_BEGIN;
    }
    if (strncmp(sql, "COMMIT", 6) == 0) {
        return E_COMMIT;
    }
    if (streq(sql, "ROLLBACK")) {
        return E_ROLLBACK;
    }
    return E_STMT;
}

/* Queue one statement (with the entries that go with it); returns the
 * entry whose answer is the statement's. */
static uint64_t submit(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                       const char *const *vals, bool waited)
{
    enum entry_kind kind = classify(sql);
    struct pg_entry *e = entry_add(pg, kind, sql, n, types, vals);
    if (kind == E_BEGIN) {
        e = entry_add(pg, E_XID, "SELECT txid_current()", 0, NULL, NULL);
    }
    uint64_t seq = e->seq;
    e->waited = waited;
    /* After COMMIT and ROLLBACK, and after a statement someone waits for
     * (so that its error, if any, stops skipping the next ones). */
    if (waited || kind == E_COMMIT || kind == E_ROLLBACK) {
        (void)entry_add(pg, E_SYNC, NULL, 0, NULL, NULL);
    }
    return seq;
}

/* Wait for the answer of entry `seq`. */
static int wait_for(struct dagd__pg *pg, uint64_t seq, PGresult **ret_res)
{
    for (;;) {
        struct pg_entry *e = entry_of(pg, seq);
        assert(e);
        if (e->done) {
            PGresult *res = TAKE_PTR(e->res);
            e->waited = false;
            queue_pop(pg);
            *ret_res = res;
            return SQLITE_OK;
        }
        if (pg->state != PG_UP && pg->async) {
            attempt_inline(pg);
        }
        if (pg->state != PG_UP) {
            if (pg->async) {
                /* The driver reconnects; a caller that needs an answer
                 * does not wait for that. */
                queue_truncate(pg, seq);
                return unavailable(pg);
            }
            int rc = outage_wait(pg);
            if (rc != SQLITE_OK) {
                return rc;
            }
            continue;
        }
        pump(pg);
        drain(pg);
        if (pg->state != PG_UP || entry_of(pg, seq)->done) {
            continue;
        }
        struct pollfd p = {.fd = PQsocket(pg->conn), .events = POLLIN};
        if (pg->want_write) {
            p.events |= POLLOUT;
        }
        int k = poll(&p, 1, 1000);
        if (k < 0 && errno != EINTR) {
            conn_lost(pg);
            continue;
        }
        if (k > 0) {
            (void)consume(pg);
        }
    }
}

static int wait_idle(struct dagd__pg *pg)
{
    if (pg->head == pg->len) {
        return SQLITE_OK;
    }
    /* A Sync at the end: its answer comes after every other one. */
    struct pg_entry *e = entry_add(pg, E_SYNC, NULL, 0, NULL, NULL);
    e->waited = true;
    uint64_t seq = e->seq;
    PGresult *res = NULL;
    int rc = wait_for(pg, seq, &res);
    if (res) {
        PQclear(res);
    }
    return rc;
}

static void note_success(struct dagd__pg *pg, PGresult *res)
{
    const char *ct = PQcmdTuples(res);
    pg->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) >= 1 &&
        strncmp(PQcmdStatus(res), "INSERT", 6) == 0) {
        pg->last_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
}

int dagd__pg_exec(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                  const char *const *vals, PGresult **ret_res)
{
    int rc = refuse_if_gone(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (pg->state != PG_UP && pg->async) {
        attempt_inline(pg);
        if (pg->state != PG_UP) {
            return unavailable(pg);
        }
    }
    if (pg->state == PG_UP && pipeline_enter(pg) != SQLITE_OK) {
        return SQLITE_IOERR;
    }
    enum entry_kind kind = classify(sql);
    uint64_t seq = submit(pg, sql, n, types, vals, true);
    rc = check_bound(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    PGresult *res = NULL;
    rc = wait_for(pg, seq, &res);
    io_notify(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    ExecStatusType st = PQresultStatus(res);
    if (kind == E_COMMIT && st == PGRES_COMMAND_OK && streq(PQcmdStatus(res), "ROLLBACK")) {
        /* PostgreSQL answers COMMIT of a transaction an earlier error
         * aborted with a rollback, not an error: say so, or the batch
         * would be lost without a word. */
        PQclear(res);
        pg_msg(pg, "the transaction was rolled back: a statement in it had failed");
        return SQLITE_ABORT;
    }
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        note_success(pg, res);
        *ret_res = res;
        return SQLITE_OK;
    }
    if (st == PGRES_PIPELINE_ABORTED) {
        rc = pg->async_rc != SQLITE_OK ? pg->async_rc : SQLITE_ABORT;
        pg_msg(pg, "an earlier statement of the transaction failed: %s",
               pg->async_msg[0] ? pg->async_msg : "unknown error");
        PQclear(res);
        return rc;
    }
    rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    pg_msg(pg, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

int dagd__pg_send(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                  const char *const *vals)
{
    if (!pg->async) {
        PGresult *res = NULL;
        int rc = dagd__pg_exec(pg, sql, n, types, vals, &res);
        if (res) {
            PQclear(res);
        }
        return rc;
    }
    int rc = refuse_if_gone(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (pg->state == PG_UP && pipeline_enter(pg) != SQLITE_OK) {
        return SQLITE_IOERR;
    }
    (void)submit(pg, sql, n, types, vals, false);
    rc = check_bound(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    pump(pg);
    io_notify(pg);
    return SQLITE_OK;
}

bool dagd__pg_async(struct dagd__pg *pg)
{
    return pg->async;
}

int dagd__pg_take_async_error(struct dagd__pg *pg)
{
    int rc = pg->async_rc;
    if (rc != SQLITE_OK) {
        pg_msg(pg, "an earlier batch of writes was lost: %s", pg->async_msg);
        pg->async_rc = SQLITE_OK;
        pg->async_msg[0] = '\0';
    }
    return rc;
}

void dagd__pg_set_io_fn(struct dagd__pg *pg, dagd__pg_io_fn fn, void *userdata)
{
    pg->io_fn = fn;
    pg->io_userdata = userdata;
    pg->async = fn != NULL;
    pg->io_gen_seen = pg->io_gen - 1; /* tell it the first time */
    io_notify(pg);
}

void dagd__pg_io_state(struct dagd__pg *pg, int *ret_fd, unsigned *ret_gen, bool *ret_want_write,
                       int64_t *ret_timeout_ms)
{
    bool up = pg->state == PG_UP && !pg->gave_up && !pg->history_lost;
    *ret_fd = up ? PQsocket(pg->conn) : -1;
    *ret_gen = pg->io_gen;
    *ret_want_write = up && pg->want_write;
    *ret_timeout_ms = -1;
    if (!up && !pg->gave_up && !pg->history_lost) {
        uint64_t now = dagd_now_mono_usec();
        *ret_timeout_ms =
            pg->next_attempt > now ? (int64_t)((pg->next_attempt - now + 999) / 1000) : 0;
    }
}

int dagd__pg_process_io(struct dagd__pg *pg)
{
    if (pg->gave_up || pg->history_lost) {
        return SQLITE_IOERR;
    }
    if (pg->state == PG_UP) {
        if (consume(pg)) {
            pump(pg);
        }
    } else {
        (void)outage_step(pg, PG_CONNECT_SLICE_MSEC);
    }
    io_notify(pg);
    return pg->gave_up || pg->history_lost ? SQLITE_IOERR : SQLITE_OK;
}

size_t dagd__pg_pending(struct dagd__pg *pg)
{
    return queue_writes(pg);
}

int dagd__pg_flush(struct dagd__pg *pg)
{
    if (pg->gave_up || pg->history_lost || pg->state != PG_UP) {
        return SQLITE_IOERR;
    }
    return wait_idle(pg);
}

int dagd__pg_exec_simple(struct dagd__pg *pg, const char *sql)
{
    int rc = refuse_if_gone(pg);
    if (rc == SQLITE_OK && pg->state != PG_UP) {
        rc = unavailable(pg);
    }
    if (rc == SQLITE_OK) {
        rc = pipeline_leave(pg);
    }
    if (rc != SQLITE_OK) {
        return rc;
    }
    PGresult *res = PQexec(pg->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return SQLITE_OK;
    }
    rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    pg_msg(pg, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* One integer from a query without parameters; *ret untouched when NULL. */
static int query_int(struct dagd__pg *pg, const char *sql, int64_t *ret, bool *ret_null)
{
    /* The plain protocol: migrations run before the pipeline is used. */
    int rc = refuse_if_gone(pg);
    if (rc == SQLITE_OK && pg->state != PG_UP) {
        rc = unavailable(pg);
    }
    if (rc == SQLITE_OK) {
        rc = pipeline_leave(pg);
    }
    if (rc != SQLITE_OK) {
        return rc;
    }
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
        pg_msg(pg, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return rc == SQLITE_OK ? SQLITE_IOERR : rc;
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
    int rc = pipeline_leave(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    _cleanup_free_ char *sql = dagd_xasprintf("COPY %s (%s) FROM STDIN", table, columns);
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = sqlstate_to_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE));
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
    if (pg->state != PG_UP || PQstatus(pg->conn) == CONNECTION_BAD) {
        /* A standby's idle connection the server dropped (a restart): one
         * attempt to make it again; the standby polls anyway. */
        pg->pipeline = false;
        PQreset(pg->conn);
        if (PQstatus(pg->conn) != CONNECTION_OK) {
            pg->state = PG_DOWN;
            pg_msg(pg, "PostgreSQL (%s) unreachable: %s", pg->display, PQerrorMessage(pg->conn));
            return SQLITE_IOERR;
        }
        pg->state = PG_UP;
        pg->io_gen++;
        pg->reconnects++;
        (void)PQsetNoticeProcessor(pg->conn, NULL, NULL);
    }
    int rc = pipeline_leave(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = try_history_lock(pg);
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
