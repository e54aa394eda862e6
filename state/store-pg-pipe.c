/* The pipeline of the PostgreSQL connection (store-pg.h, store-pg-int.h):
 * statements queued, sent in libpq's pipeline mode and answered in order;
 * a driver's socket and timer (dagd__pg_process_io); the reconnect with a
 * backoff and the replay of the transactions not yet settled.
 *
 * One connection, one pipeline, in order: a write whose answer nobody
 * needs is sent without waiting (dagd__pg_send), a statement whose answer
 * is needed goes behind the writes queued before it and waits for its own
 * answer (dagd__pg_exec), so a read always sees the daemon's own writes.
 * Without a driver (tools, tests) every statement waits, as a blocking
 * client would. */
#include "store-pg-int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* ---- the pipeline ---- */

static void entry_done(struct pg_entry *e)
{
    free(e->own_sql);
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

/* The entry with sequence number `seq`, or NULL when it left the queue.
 * Sequence numbers grow along the queue but have gaps once a reconnect
 * dropped the entries it does not send again (resume): a binary search. */
static struct pg_entry *entry_of(struct dagd__pg *pg, uint64_t seq)
{
    size_t lo = pg->head, hi = pg->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pg->q[mid].seq < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < pg->len && pg->q[lo].seq == seq ? &pg->q[lo] : NULL;
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
void dagd__pg_queue_clear(struct dagd__pg *pg)
{
    for (size_t i = pg->head; i < pg->len; i++) {
        entry_done(&pg->q[i]);
    }
    pg->head = pg->recv = pg->sent = pg->len = 0;
    pg->queued_bytes = 0;
    pg->cur_txn = 0;
    pg->held = pg->joined = false;
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
        if (kind == E_COMMIT) {
            pg->last_commit_txn = pg->cur_txn;
        }
        pg->cur_txn = 0;
        pg->held = pg->joined = false;
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
        timeout == pg->io_timeout_seen && pg->answers == pg->io_answers_seen) {
        return;
    }
    pg->io_answers_seen = pg->answers;
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
    if (pg->resuming) {
        /* Dropped again while resuming: the same outage goes on (its
         * timeout and backoff too; outage_step schedules the next try). */
        return;
    }
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
            pg->answers++;
            continue;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            if (e->kind == E_SYNC) {
                e->done = true;
                pg->recv++;
                pg->answers++;
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
            note_async_error(pg, dagd__pg_sqlstate_rc(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
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
        dagd__pg_msg(pg, "Failed to enter pipeline mode: %s", PQerrorMessage(pg->conn));
        return SQLITE_IOERR;
    }
    pg->pipeline = true;
    return SQLITE_OK;
}

/* Wait (blocking) until every entry sent has its answer. */
static int wait_idle(struct dagd__pg *pg);

/* Leave pipeline mode for the calls that use the plain protocol
 * (migrations, COPY, the history lock): wait for the answers first. */
int dagd__pg_pipeline_leave(struct dagd__pg *pg)
{
    if (!pg->pipeline) {
        return SQLITE_OK;
    }
    int rc = wait_idle(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (!PQexitPipelineMode(pg->conn) || PQsetnonblocking(pg->conn, 0) != 0) {
        dagd__pg_msg(pg, "Failed to leave pipeline mode: %s", PQerrorMessage(pg->conn));
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

/* The connection is made again: take the history's lock back, settle the
 * transactions whose COMMIT went out unanswered (txid_status), and queue
 * what is left to be sent again, in order: the statements of every
 * unsettled transaction, then what was queued meanwhile. SQLITE_OK,
 * SQLITE_BUSY (another daemon has the history now), or SQLITE_IOERR (the
 * connection dropped again). */
static int resume(struct dagd__pg *pg)
{
    pg->reconnects++;
    dagd__pg_quiet_notices(pg->conn);
    /* The session lock went with the old session: take it again before
     * writing anything, or stop if another daemon took the history. */
    int rc = pg->history_locked ? dagd__pg_try_history_lock(pg) : SQLITE_OK;
    if (rc == SQLITE_BUSY && dagd_now_mono_usec() - pg->down_since < PG_LOCK_GRACE_USEC) {
        /* Most likely our own old session: its backend holds the lock
         * until it notices the connection is gone. Try again. */
        return SQLITE_IOERR;
    }
    if (rc == SQLITE_BUSY) {
        pg->history_lost = true;
        dagd__pg_queue_clear(pg);
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
    pg->resuming = true;
    pump(pg);
    pg->resuming = false;
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
        dagd__pg_queue_clear(pg);
        dagd__pg_msg(pg, "PostgreSQL (%s) unreachable for %" PRIu64 " s: %s", pg->display,
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
 * socket), and the caller fails with dagd__pg_unavailable(). */
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
int dagd__pg_unavailable(struct dagd__pg *pg)
{
    dagd__pg_msg(
        pg, "run history unavailable: PostgreSQL at %s is down, reconnecting (%zu writes queued)",
        pg->display, queue_writes(pg));
    return SQLITE_IOERR;
}

int dagd__pg_refuse_if_gone(struct dagd__pg *pg)
{
    if (pg->history_lost) {
        dagd__pg_msg(pg,
                     "Another daemon took the run history %s while the connection was down: "
                     "this daemon writes nothing more (stop it)",
                     pg->display);
        return SQLITE_BUSY;
    }
    if (pg->gave_up) {
        dagd__pg_msg(
            pg,
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
    dagd__pg_queue_clear(pg);
    dagd__pg_msg(
        pg,
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
        if (!e) {
            /* The history was given up meanwhile: the queue is gone. */
            int rc = dagd__pg_refuse_if_gone(pg);
            return rc != SQLITE_OK ? rc : SQLITE_IOERR;
        }
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
                return dagd__pg_unavailable(pg);
            }
            int rc = outage_wait(pg);
            if (rc != SQLITE_OK) {
                return rc;
            }
            continue;
        }
        pump(pg);
        drain(pg);
        e = entry_of(pg, seq);
        if (pg->state != PG_UP || !e || e->done) {
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

/* Send the COMMIT held back (group commit, dagd__pg_send). */
static void release_held(struct dagd__pg *pg)
{
    if (!pg->held) {
        return;
    }
    pg->held = false;
    (void)submit(pg, "COMMIT", 0, NULL, NULL, false);
    pump(pg);
}

static int wait_idle(struct dagd__pg *pg)
{
    release_held(pg);
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
    io_notify(pg);
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

/* The answer of a statement someone asked for: SQLITE_OK with the result
 * in *ret_res, or its error (the result cleared). */
static int result_take(struct dagd__pg *pg, enum entry_kind kind, PGresult *res, PGresult **ret_res)
{
    int rc;
    ExecStatusType st = PQresultStatus(res);
    if (kind == E_COMMIT && st == PGRES_COMMAND_OK && streq(PQcmdStatus(res), "ROLLBACK")) {
        /* PostgreSQL answers COMMIT of a transaction an earlier error
         * aborted with a rollback, not an error: say so, or the batch
         * would be lost without a word. */
        PQclear(res);
        dagd__pg_msg(pg, "the transaction was rolled back: a statement in it had failed");
        return SQLITE_ABORT;
    }
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        note_success(pg, res);
        *ret_res = res;
        return SQLITE_OK;
    }
    if (st == PGRES_PIPELINE_ABORTED) {
        rc = pg->async_rc != SQLITE_OK ? pg->async_rc : SQLITE_ABORT;
        dagd__pg_msg(pg, "an earlier statement of the transaction failed: %s",
                     pg->async_msg[0] ? pg->async_msg : "unknown error");
        PQclear(res);
        return rc;
    }
    return dagd__pg_result_fail(pg, res);
}

int dagd__pg_exec(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                  const char *const *vals, PGresult **ret_res)
{
    int rc = dagd__pg_refuse_if_gone(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (pg->state != PG_UP && pg->async) {
        attempt_inline(pg);
        if (pg->state != PG_UP) {
            return dagd__pg_unavailable(pg);
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
    return result_take(pg, kind, res, ret_res);
}

int dagd__pg_ask(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                 const char *const *vals, uint64_t *ret_seq)
{
    int rc = dagd__pg_refuse_if_gone(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (pg->async && pg->state != PG_UP) {
        return dagd__pg_unavailable(pg);
    }
    if (pg->state == PG_UP && pipeline_enter(pg) != SQLITE_OK) {
        return SQLITE_IOERR;
    }
    *ret_seq = submit(pg, sql, n, types, vals, true);
    /* The asker may drop its question (and its text) before the answer
     * comes, or a reconnect may send it again. */
    struct pg_entry *e = entry_of(pg, *ret_seq);
    e->own_sql = dagd_xstrdup(sql);
    e->sql = e->own_sql;
    rc = check_bound(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    pump(pg);
    io_notify(pg);
    return SQLITE_OK;
}

void dagd__pg_forget(struct dagd__pg *pg, uint64_t seq)
{
    struct pg_entry *e = entry_of(pg, seq);
    if (!e) {
        return;
    }
    /* Nobody waits for it any more: its answer is dropped as it comes, and
     * a reconnect does not send it again (resume keeps waited entries). */
    e->waited = false;
    if (e->res) {
        PQclear(e->res);
        e->res = NULL;
    }
    queue_pop(pg);
}

int dagd__pg_answer(struct dagd__pg *pg, uint64_t seq, PGresult **ret_res)
{
    *ret_res = NULL;
    struct pg_entry *e = entry_of(pg, seq);
    if (e && !e->done && pg->async) {
        if (pg->state == PG_UP) {
            return SQLITE_OK; /* not yet: the driver reads it */
        }
        /* The server went away: a reader does not wait for the reconnect. */
        dagd__pg_forget(pg, seq);
        return dagd__pg_unavailable(pg);
    }
    enum entry_kind kind = e ? e->kind : E_STMT;
    PGresult *res = NULL;
    int rc = wait_for(pg, seq, &res);
    io_notify(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    return result_take(pg, kind, res, ret_res);
}

int dagd__pg_fence(struct dagd__pg *pg, uint64_t *ret_seq)
{
    *ret_seq = 0;
    release_held(pg); /* what the caller wrote must be committed past the fence */
    if (!pg->async || pg->state != PG_UP || pg->recv == pg->len) {
        return SQLITE_OK; /* nothing sent is waiting for its answer */
    }
    /* A Sync: its answer comes after every one before it. */
    struct pg_entry *e = entry_add(pg, E_SYNC, NULL, 0, NULL, NULL);
    e->waited = true;
    *ret_seq = e->seq;
    pump(pg);
    io_notify(pg);
    return SQLITE_OK;
}

int dagd__pg_fence_passed(struct dagd__pg *pg, uint64_t seq)
{
    struct pg_entry *e = entry_of(pg, seq);
    if (!e || e->done) {
        dagd__pg_forget(pg, seq);
        return 1;
    }
    if (pg->state != PG_UP) {
        dagd__pg_forget(pg, seq);
        return -1;
    }
    return 0;
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
    int rc = dagd__pg_refuse_if_gone(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (pg->state == PG_UP && pipeline_enter(pg) != SQLITE_OK) {
        return SQLITE_IOERR;
    }
    switch (classify(sql)) {
    case E_BEGIN:
        if (pg->held) {
            /* Join the transaction whose COMMIT is held back. */
            pg->held = false;
            pg->joined = true;
            return SQLITE_OK;
        }
        break;
    case E_COMMIT:
        if (pg->cur_txn != 0 && pg->last_commit_txn > pg->settled_txn) {
            /* The COMMIT before is not answered yet: hold this one and let
             * the next batches join it, one COMMIT on its way at a time
             * (a server that is behind gets fewer, larger transactions). */
            pg->held = true;
            return SQLITE_OK;
        }
        break;
    case E_ROLLBACK:
        if (pg->joined) {
            /* The batches it joined go with it: say so at the next commit,
             * as for any batch lost (the executor rewrites its runs). */
            note_async_error(pg, SQLITE_ABORT,
                             "a batch of writes was rolled back with the one after it");
        }
        break;
    default:
        break;
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

bool dagd__pg_down(struct dagd__pg *pg)
{
    return pg->state != PG_UP;
}

bool dagd__pg_async(struct dagd__pg *pg)
{
    return pg->async;
}

int dagd__pg_take_async_error(struct dagd__pg *pg)
{
    int rc = pg->async_rc;
    if (rc != SQLITE_OK) {
        dagd__pg_msg(pg, "an earlier batch of writes was lost: %s", pg->async_msg);
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

uint64_t dagd__pg_answers(struct dagd__pg *pg)
{
    return pg->answers;
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
        /* Between the loop's callbacks: no store call is half done. */
        if (pg->held && pg->last_commit_txn <= pg->settled_txn) {
            release_held(pg);
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

int dagd__pg_plain_ready(struct dagd__pg *pg)
{
    int rc = dagd__pg_refuse_if_gone(pg);
    if (rc == SQLITE_OK && pg->state != PG_UP) {
        rc = dagd__pg_unavailable(pg);
    }
    return rc == SQLITE_OK ? dagd__pg_pipeline_leave(pg) : rc;
}

int dagd__pg_exec_simple(struct dagd__pg *pg, const char *sql)
{
    int rc = dagd__pg_plain_ready(pg);
    if (rc != SQLITE_OK) {
        return rc;
    }
    PGresult *res = PQexec(pg->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return SQLITE_OK;
    }
    return dagd__pg_result_fail(pg, res);
}
