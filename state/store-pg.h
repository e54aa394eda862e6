/* The PostgreSQL connection behind the state store (docs/postgresql.md, "Run
 * history on PostgreSQL"): store.c's second backend. Private to state/: the
 * store's callers never see it, they call store.h whatever the backend.
 *
 * Owns one libpq connection and what it takes to survive a server restart:
 * every statement of the open transaction is kept (SQL and a copy of its
 * parameters) and, when the connection drops, the connection is re-made with
 * a backoff (50 ms doubling to 2 s, for up to the reconnect timeout) and the
 * transaction replayed before the failed statement is sent again. So no
 * write is lost and the store's callers see nothing but a pause.
 *
 * Results are mapped onto the SQLite result codes store.c already turns into
 * -errno (one mapping for both backends): unique violation ->
 * SQLITE_CONSTRAINT_PRIMARYKEY (-EEXIST), foreign key ->
 * SQLITE_CONSTRAINT_FOREIGNKEY (-ENOENT), check/not null -> SQLITE_CONSTRAINT
 * (-EINVAL), disk full -> SQLITE_FULL, lock/serialization -> SQLITE_BUSY,
 * privileges -> SQLITE_PERM, anything else (also a server gone past the
 * timeout) -> SQLITE_IOERR (-EIO). */
#ifndef DAGD_STORE_PG_H
#define DAGD_STORE_PG_H

#include "pq.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd__pg;

/* Whether `location` names a PostgreSQL database rather than a state
 * directory: a postgresql:// or postgres:// URI, or libpq keywords
 * ("host=/run/pg dbname=dagd"). */
bool dagd__pg_is_conninfo(const char *location);

/* Connect to `conninfo`. A password in it is refused (-EINVAL): it would end
 * up in process listings, configs and logs; libpq reads it from the passfile
 * (~/.pgpass, PGPASSFILE) or PGPASSWORD instead. Errors: -EINVAL (bad or
 * password-carrying conninfo), -ECONNREFUSED (server down or unreachable),
 * -EACCES (authentication failed). The message goes to errbuf and never
 * contains a password. */
int dagd__pg_connect(const char *conninfo, struct dagd__pg **ret, char *errbuf, size_t errsize);
struct dagd__pg *dagd__pg_free(struct dagd__pg *pg);

/* The conninfo without secrets ("host=... port=... dbname=... user=..."),
 * for messages. Owned by pg. */
const char *dagd__pg_display(struct dagd__pg *pg);

/* Run one statement with text parameters (vals[i] NULL = SQL NULL; types[i]
 * an OID or 0 to let the server infer it). Reconnects and replays the open
 * transaction when the connection drops (see above). Returns SQLITE_OK with
 * the result in *ret_res (PQclear it), or an SQLite error code with the
 * message in dagd__pg_errmsg(). */
int dagd__pg_exec(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                  const char *const *vals, PGresult **ret_res);
/* Send one statement whose answer nobody needs, without waiting: it goes
 * into the pipeline behind the ones before it, and its answer is read
 * later by dagd__pg_process_io(). While the server is away it waits in
 * memory (bounded: past PG_QUEUE_MAX_ENTRIES statements or
 * PG_QUEUE_MAX_BYTES the history is given up) and is sent with its
 * transaction once the connection is made again. An error the server
 * reports for it is kept for dagd__pg_take_async_error(). Without a driver
 * (no dagd__pg_set_io_fn) it is dagd__pg_exec() with the result dropped.
 * SQLITE_OK, or the error of a history given up. */
int dagd__pg_send(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                  const char *const *vals);
/* A statement whose answer is wanted later, without waiting now: it goes
 * into the pipeline behind the ones before it (so it sees them) and
 * *ret_seq names it for dagd__pg_answer(). With the server away and a
 * driver set it is refused at once (dagd__pg_unavailable). */
int dagd__pg_ask(struct dagd__pg *pg, const char *sql, int n, const Oid *types,
                 const char *const *vals, uint64_t *ret_seq);
/* The answer of ask `seq`: SQLITE_OK with the result in *ret_res (PQclear
 * it), SQLITE_OK with *ret_res NULL while it has not come (with a driver;
 * without one this waits), or its error. The server going away ends the
 * wait with dagd__pg_unavailable's error. */
int dagd__pg_answer(struct dagd__pg *pg, uint64_t seq, PGresult **ret_res);
/* Drop ask `seq` unanswered (its answer is discarded when it comes). */
void dagd__pg_forget(struct dagd__pg *pg, uint64_t seq);
/* A point behind everything queued so far: *ret_seq for
 * dagd__pg_fence_passed(), 0 when nothing sent waits for its answer (or
 * without a driver, where nothing ever does). */
int dagd__pg_fence(struct dagd__pg *pg, uint64_t *ret_seq);
/* 1 once everything before fence `seq` has its answer, 0 not yet, -1 the
 * connection went down first (the fence is dropped after 1 or -1). */
int dagd__pg_fence_passed(struct dagd__pg *pg, uint64_t seq);
/* Whether writes go without waiting (a driver is set). */
bool dagd__pg_async(struct dagd__pg *pg);
/* Whether the connection is down (a reconnect is under way). */
bool dagd__pg_down(struct dagd__pg *pg);
/* The first error the server reported for a statement sent by
 * dagd__pg_send() since the last call (SQLITE_OK: none), its message in
 * dagd__pg_errmsg(); cleared. The writes of its transaction are lost. */
int dagd__pg_take_async_error(struct dagd__pg *pg);
/* Writes queued or sent whose transaction's COMMIT is not answered yet. */
size_t dagd__pg_pending(struct dagd__pg *pg);
/* Wait until every statement sent has its answer (the store closing). */
int dagd__pg_flush(struct dagd__pg *pg);

/* The driver of the connection: the daemon polls the socket on its loop and
 * calls dagd__pg_process_io() when it is readable (or writable when
 * want_write) and when timeout_ms passed (>= 0: a reconnect attempt is
 * due). `fn` is called whenever that changes; `gen` changes whenever the
 * socket does (the driver must stop polling the old one: libpq has closed
 * it). fd is -1 while the server is away. Setting a driver makes writes
 * go without waiting (dagd__pg_send), and a statement that needs an answer
 * fails at once during an outage instead of waiting for the server. */
typedef void (*dagd__pg_io_fn)(void *userdata);
void dagd__pg_set_io_fn(struct dagd__pg *pg, dagd__pg_io_fn fn, void *userdata);
void dagd__pg_io_state(struct dagd__pg *pg, int *ret_fd, unsigned *ret_gen, bool *ret_want_write,
                       int64_t *ret_timeout_ms);
/* How many answers were read so far (fn is called when it grows). */
uint64_t dagd__pg_answers(struct dagd__pg *pg);
/* Read the answers that arrived, send what is queued, or drive a
 * reconnect attempt (in slices of a few ms). SQLITE_OK, or SQLITE_IOERR
 * once the history is given up. */
int dagd__pg_process_io(struct dagd__pg *pg);

/* Run SQL without parameters (migrations: several statements allowed). */
int dagd__pg_exec_simple(struct dagd__pg *pg, const char *sql);

/* Bulk copy into PostgreSQL (dagd state import): COPY ... FROM STDIN in
 * text format, one line per row (copy_row escapes the values; NULL entries
 * are SQL NULL). Outside the replay log: the caller runs it in a
 * transaction begun with dagd__pg_exec_simple("BEGIN"), and a dropped
 * connection fails the copy (it is rolled back; run it again). */
int dagd__pg_copy_begin(struct dagd__pg *pg, const char *table, const char *columns);
int dagd__pg_copy_row(struct dagd__pg *pg, const char *const *vals, int n);
int dagd__pg_copy_end(struct dagd__pg *pg);

/* The key of the history's session advisory lock ('dagh'): the lock of the
 * daemon that serves it (dagd__pg_lock_history), and what a standby asks
 * pg_locks about to name that daemon (store.c). */
#define DAGD__PG_HISTORY_LOCK 0x64616768

/* Take the history's session advisory lock (one daemon per PostgreSQL
 * history), kept for the connection's life and taken again after every
 * reconnect. SQLITE_OK, SQLITE_BUSY when another session holds it (the
 * message names it), or an error. */
int dagd__pg_lock_history(struct dagd__pg *pg);

/* Called before each sleep of a reconnect's backoff, with the time waited
 * so far (0 at the first) and libpq's reason: the daemon keeps systemd's
 * watchdog fed and says what it waits for. Called once more with gave_up
 * (and the reason) when the reconnect timeout passed or another session
 * took the history's lock meanwhile: from then on every statement fails at
 * once (no more waiting), and the daemon stops. */
typedef void (*dagd__pg_wait_fn)(unsigned waited_ms, bool gave_up, const char *why, void *userdata);
void dagd__pg_set_wait_fn(struct dagd__pg *pg, dagd__pg_wait_fn fn, void *userdata);

/* Keep the server's notices and warnings ("relation ... exists, skipping",
 * "there is no transaction in progress") off stderr: they are not the
 * user's business, and an error reaches the caller as the statement's. (A
 * NULL processor would not do: libpq then keeps the one that prints.) */
void dagd__pg_quiet_notices(PGconn *conn);

const char *dagd__pg_errmsg(struct dagd__pg *pg);
/* Rows changed by the last INSERT/UPDATE/DELETE. */
int64_t dagd__pg_changes(struct dagd__pg *pg);
/* Column 0 of the last INSERT ... RETURNING (the new id). */
int64_t dagd__pg_last_id(struct dagd__pg *pg);
/* Whether the caller has a transaction open (BEGIN sent or queued, no
 * COMMIT/ROLLBACK yet). */
bool dagd__pg_in_txn(struct dagd__pg *pg);
/* How many times the connection was re-made (tests, logs). */
unsigned dagd__pg_reconnects(struct dagd__pg *pg);

/* Bring the schema to `latest` with the embedded PostgreSQL migrations, under
 * an advisory lock (two daemons starting together apply each once). Refuses
 * a database with tables but no dagd schema (-EBADMSG) and one newer than
 * `latest` (-EPROTONOSUPPORT). *ret_version is the version after. */
int dagd__pg_migrate(struct dagd__pg *pg, int latest, int *ret_version);
/* The schema version recorded in dagd_schema (0 without one). */
int dagd__pg_schema_version(struct dagd__pg *pg, int *ret_version);

/* The store's SQLite statement in PostgreSQL's dialect: ?N -> $N, and
 * "LIMIT ?N" -> "LIMIT nullif($N, -1)" (SQLite's "no limit" is -1,
 * PostgreSQL's is NULL). *ret_n is the highest parameter number. */
char *dagd__pg_translate(const char *sql, int *ret_n);

#endif
