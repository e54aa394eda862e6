/* The PostgreSQL connection's insides, shared by state/store-pg.c
 * (connect, migrate, COPY, the history lock) and state/store-pg-pipe.c (the
 * pipeline: queue, send, answers, reconnect and replay). Private to those
 * two files. */
#ifndef DAGD_STORE_PG_INT_H
#define DAGD_STORE_PG_INT_H

#include "store-pg.h"

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
    char *own_sql;   /* dagd__pg_ask's copy (its caller's text may go first): sql points here */
    int n;
    Oid *types;
    char **vals;
    enum entry_kind kind;
    uint64_t seq; /* grows along the queue (with gaps after a reconnect) */
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
    bool resuming;       /* resume() is sending the replay: a drop is the same outage */
    dagd__pg_wait_fn wait_fn;
    void *wait_userdata;
    dagd__pg_io_fn io_fn;
    void *io_userdata;
    unsigned io_gen;      /* changes whenever the socket does */
    unsigned io_gen_seen; /* what io_fn was last told */
    bool io_write_seen;   /* ditto */
    int64_t io_timeout_seen;
    uint64_t answers;         /* entries done so far */
    uint64_t io_answers_seen; /* what io_fn was last told */
    /* The pipeline: q[head..recv) done (kept for a replay), q[recv..sent)
     * sent, q[sent..len) queued. */
    struct pg_entry *q;
    size_t head, recv, sent, len, cap;
    uint64_t next_seq;
    size_t queued_bytes;
    uint64_t cur_txn; /* the transaction the caller has open (BEGIN sent, no end yet) */
    /* Group commit: a COMMIT asked for while the one before is still on its
     * way is held back (cur_txn stays open, `held`); the next BEGIN joins
     * that transaction (`joined`), and the COMMIT goes once the one before
     * is answered (dagd__pg_process_io) or someone waits (fence, flush). */
    bool held, joined;
    uint64_t last_commit_txn; /* the transaction of the last COMMIT sent */
    uint64_t last_txn;        /* the last transaction id given */
    uint64_t settled_txn;     /* every transaction up to this one has its end's answer */
    int async_rc;             /* the first error of a statement nobody waited for */
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

/* Format the connection's message (one line: libpq's newlines become
 * spaces). */
void dagd__pg_msg(struct dagd__pg *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An SQLSTATE as the SQLite code store.c maps to -errno (store-pg.h). */
int dagd__pg_sqlstate_rc(const char *state);
/* pg_try_advisory_lock of the history on this session (plain protocol):
 * SQLITE_OK, SQLITE_BUSY naming the holder, or an error. */
int dagd__pg_try_history_lock(struct dagd__pg *pg);
/* Forget every queued statement (the history is given up). */
void dagd__pg_queue_clear(struct dagd__pg *pg);
/* Wait for every answer and leave pipeline mode, for the plain protocol. */
int dagd__pg_pipeline_leave(struct dagd__pg *pg);
/* SQLITE_OK, or the error of a history given up or taken by another daemon. */
int dagd__pg_refuse_if_gone(struct dagd__pg *pg);
/* SQLITE_IOERR with "run history unavailable: ..." in the message. */
int dagd__pg_unavailable(struct dagd__pg *pg);
/* Ready for a statement on the plain protocol (PQexec): not given up, the
 * connection up, pipeline mode left. SQLITE_OK or the reason. */
int dagd__pg_plain_ready(struct dagd__pg *pg);
/* A failed result: its SQLite code (never SQLITE_OK), the server's message
 * as pg's; the result is cleared. */
int dagd__pg_result_fail(struct dagd__pg *pg, PGresult *res);

#endif
