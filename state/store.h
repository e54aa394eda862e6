/* The state store: the only code that touches state.db (DESIGN 5). Owns the
 * SQLite connection and its prepared statements. Writers are the daemon and
 * `dagd run`; several processes may write the same state.db (their
 * transactions queue on the busy timeout). WAL mode, so `sqlite3 state.db`
 * readers never block a writer. Every status change and its
 * event are written in one transaction. Times passed in are epoch
 * milliseconds. All functions return 0 or -errno, with a message from
 * dagd_store_errmsg(). SQLite errors map to: -EBUSY (locked past the busy
 * timeout), -EBADMSG (not an SQLite file, or corrupt), -ENOSPC, -EROFS /
 * -EACCES, -ENOENT (unknown run for a step or event), -EEXIST (duplicate
 * key), -EIO (anything else). The store never logs (STYLE 17).
 *
 * The schema lives in state/sql/NNNN_*.sql, applied in order by
 * dagd_store_open() and versioned by PRAGMA user_version; a database newer
 * than this code is refused (-EPROTONOSUPPORT). docs/state.md describes
 * every table for users reading it with sqlite3.
 *
 * Not thread-safe: one struct dagd_store per thread (other threads or
 * processes open their own; WAL lets readers run during writes). */
#ifndef DAGD_STORE_H
#define DAGD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd_store;

/* Text that steps produce (event messages, step and run errors, skip
 * reasons) is stored as valid UTF-8 (invalid bytes become U+FFFD) and cut to
 * this many bytes, ending in "..." when cut. */
#define DAGD_STORE_TEXT_MAX 65536

enum dagd_run_status {
    DAGD_RUN_QUEUED,
    DAGD_RUN_RUNNING,
    DAGD_RUN_SUCCEEDED,
    DAGD_RUN_FAILED,
    DAGD_RUN_CANCELED,
    _DAGD_RUN_STATUS_MAX,
};

enum dagd_step_status {
    DAGD_STEP_PENDING,
    DAGD_STEP_RUNNING,
    DAGD_STEP_SUCCEEDED,
    DAGD_STEP_FAILED,
    DAGD_STEP_SKIPPED,
    DAGD_STEP_CANCELED,
    _DAGD_STEP_STATUS_MAX,
};

/* The strings stored in runs.status / steps.status; NULL for values out of
 * range. from_string returns the value or -EINVAL. */
const char *dagd_run_status_to_string(enum dagd_run_status s);
int dagd_run_status_from_string(const char *s);
const char *dagd_step_status_to_string(enum dagd_step_status s);
int dagd_step_status_from_string(const char *s);

/* Open (creating and migrating) DIR/state.db. `dir` is created if missing
 * (mode 0750, parents too), state.db is created whole (schema included) mode
 * 0640. A zero-byte state.db or one that fails PRAGMA quick_check is
 * refused (-EBADMSG) and left untouched. Sets WAL, synchronous=NORMAL, a
 * busy timeout and foreign keys, then applies pending migrations, each in
 * its own transaction. Errors: -EBADMSG (not a dagd state database,
 * truncated or corrupt), -EPROTONOSUPPORT (schema newer than this
 * dagd), -errno of mkdir/open, -EIO. On failure the message is available
 * from dagd_store_errmsg(NULL) (per thread). */
int dagd_store_open(const char *dir, struct dagd_store **ret);
/* Open the run history where the daemon's configuration says: `state` a
 * PostgreSQL connection string (postgresql://..., or libpq keywords such as
 * "host=/run/postgresql dbname=dagd"; docs/postgresql.md), or NULL for
 * DIR/state.db as dagd_store_open(). On PostgreSQL the schema is created or
 * migrated (versioned like state.db: same numbers), and a dropped
 * connection is re-made and the open transaction replayed, so callers only
 * see a pause while the server restarts (up to DAGD_STATE_RECONNECT_TIMEOUT
 * seconds, default 120, then -EIO). A password in `state` is refused
 * (-EINVAL): libpq takes it from ~/.pgpass, PGPASSFILE or PGPASSWORD.
 * Errors as dagd_store_open(), plus -ECONNREFUSED (server down or
 * unreachable) and -EACCES (authentication failed); the message (never with
 * a password) is in dagd_store_errmsg(NULL). */
int dagd_store_open_location(const char *dir, const char *state, struct dagd_store **ret);
/* A PostgreSQL history for reading (dagd runs/show/logs --state): no
 * migration (-EPROTONOSUPPORT unless at the current version), and the
 * session is read-only. */
int dagd_store_open_location_readonly(const char *state, struct dagd_store **ret);
/* One daemon per history: on PostgreSQL, take the history's session
 * advisory lock (kept while the store lives, taken again after a
 * reconnect); -EBUSY, with the other session named in the message, when
 * another daemon holds it. On SQLite a no-op (the state directory's lock,
 * statelock.h, does that job). */
int dagd_store_lock_history(struct dagd_store *s);
/* A daemon's PostgreSQL session, as the server shows it: what a standby
 * (docs/postgresql.md) says of its leader, and a leader of its standbys. */
struct dagd_store_session {
    long backend_pid;     /* the server process of its session */
    char client[64];      /* its address, "local" over a Unix socket */
    char application[64]; /* its application_name ("dagd serve pid N on HOST") */
    int64_t since_ms;     /* its session's start, Unix ms */
};
/* 0 with *ret filled; -ENOENT when no other session holds the lock (it is
 * free, or ours), -EOPNOTSUPP on SQLite, or -errno of the query (message in
 * dagd_store_errmsg). Fields the server hides (another role, without
 * pg_read_all_stats) are empty. */
int dagd_store_history_leader(struct dagd_store *s, struct dagd_store_session *ret);
/* The other sessions on the history's database whose application_name
 * starts with `app_prefix` and that do not hold the lock (a leader's
 * standbys: "dagd serve pid "), oldest first, at most 16: 0 with an array
 * in *ret (free it) and its length, or errors as above. */
int dagd_store_history_standbys(struct dagd_store *s, const char *app_prefix,
                                struct dagd_store_session **ret, size_t *ret_n);

/* ---- Requests between daemons sharing a PostgreSQL history ----
 * A standby hands the leader what only the leader does (a run it recorded
 * as queued, a cancel: docs/postgresql.md "Two daemons, one history") with
 * pg_notify on one channel; the leader LISTENs on a connection of its own
 * (store-listen.c), whose socket its loop polls. A notification is not
 * durable: the leader reads the durable queue again whenever it makes that
 * connection, so a run recorded meanwhile is taken up all the same. */
#define DAGD_STORE_CHANNEL "dagd_requests"
/* pg_notify(DAGD_STORE_CHANNEL, payload) on the store's connection:
 * delivered when the open transaction commits, at once outside one. 0,
 * -EOPNOTSUPP on SQLite, or -errno (message in dagd_store_errmsg). */
int dagd_store_notify(struct dagd_store *s, const char *payload);
struct dagd_store_listener;
/* Connect to `conninfo` (the history's, as the store got it) and LISTEN.
 * Blocks for the connect. 0 with the listener, or -errno with the reason
 * (owned by the caller) in *reterr_msg: -ENOPKG (no libpq), -ECONNREFUSED,
 * -EIO. */
int dagd_store_listener_new(const char *conninfo, struct dagd_store_listener **ret,
                            char **reterr_msg);
/* The socket to poll for readability. */
int dagd_store_listener_fd(const struct dagd_store_listener *l);
typedef void (*dagd_store_notify_fn)(const char *payload, void *userdata);
/* Read what arrived, without blocking, and call fn with each payload. 0,
 * or -EIO (the reason in *reterr_msg, owned by the caller) when the
 * connection dropped: free the listener and make a new one. */
int dagd_store_listener_read(struct dagd_store_listener *l, dagd_store_notify_fn fn, void *userdata,
                             char **reterr_msg);
/* Close; accepts NULL, returns NULL. */
struct dagd_store_listener *dagd_store_listener_free(struct dagd_store_listener *l);
/* While PostgreSQL is away, `fn` is called at each reconnect attempt
 * (every 50 ms to 2 s, from dagd_store_process_io() on the daemon's loop,
 * or from inside a waiting store call when no driver is set) with the time
 * waited so far (0 when the drop is noticed) and libpq's reason: this is
 * where a daemon feeds systemd's watchdog and says what it waits for. Once
 * the reconnect timeout passed or the write queue's bound (or, after a
 * reconnect, another daemon holds the history's lock) it is called a last
 * time with gave_up and the reason: every later call on this store fails
 * (-EIO) at once; the caller stops (docs/postgresql.md "When the server
 * stays away"). A no-op on SQLite. */
typedef void (*dagd_store_wait_fn)(unsigned waited_ms, bool gave_up, const char *why,
                                   void *userdata);
void dagd_store_set_wait_fn(struct dagd_store *s, dagd_store_wait_fn fn, void *userdata);
/* PostgreSQL on an event loop (docs/postgresql.md "Writes without
 * waiting"). Once a driver is set, the writes of a batch (dagd_store_begin
 * .. dagd_store_commit) whose answer the caller does not need go into
 * libpq's pipeline without waiting: step updates, run status changes,
 * events (unless the caller asks for the seq), check results, ticks, a
 * step's process, file hashes, backfill status changes; BEGIN, COMMIT and
 * savepoints always. What needs an answer still waits, behind the writes
 * before it on the one connection (so a read sees the daemon's own
 * writes): reads, run_create's run row (-EEXIST), sensor key claims, an
 * event whose seq is asked for, fail_orphans, prune. An error the server
 * reports for a write sent without waiting rolls its batch back and comes
 * back from a later dagd_store_commit().
 *
 * During an outage writes queue in memory (bounded) and are replayed in
 * order once the connection is made again; a call that needs an answer
 * fails at once (-EIO, "run history unavailable: ...") instead of waiting.
 *
 * The driver polls `fd` (readable, and writable when want_write) and calls
 * dagd_store_process_io() when it is ready and when timeout_ms passed
 * (>= 0: a reconnect attempt is due; -1: no timer). `gen` changes whenever
 * the socket does: the driver stops polling the old one (libpq closed it).
 * `fn` is called (also from inside other store calls) whenever any of it
 * changed. fd is -1 while the server is away. A no-op on SQLite (fd -1). */
typedef void (*dagd_store_io_fn)(void *userdata);
struct dagd_store_io {
    int fd;
    unsigned gen;
    bool want_write;
    int64_t timeout_ms;
    /* Grows with every answer read, also by calls that waited for theirs
     * (they read what else had come): the driver makes the loop turn once
     * more then, so that watchers of answers (fences, the executor's
     * memo lookups) see them even though the socket will not say so. */
    uint64_t answers;
};
void dagd_store_set_io_fn(struct dagd_store *s, dagd_store_io_fn fn, void *userdata);
void dagd_store_io_state(struct dagd_store *s, struct dagd_store_io *ret);
/* Read answers, send what is queued, or drive a reconnect attempt (a few
 * ms at most). 0, or -EIO once the history is given up (the wait fn was
 * told). */
int dagd_store_process_io(struct dagd_store *s);
/* Writes sent or queued whose transaction is not committed yet (0 on
 * SQLite). */
size_t dagd_store_pending_writes(struct dagd_store *s);
/* Whether the store is on PostgreSQL. */
bool dagd_store_is_postgresql(struct dagd_store *s);
/* Whether the history cannot be reached now (PostgreSQL down, the store
 * reconnecting): a failed read is then worth retrying, not a bug. */
bool dagd_store_unavailable(struct dagd_store *s);
/* How many times the PostgreSQL connection was re-made (0 on SQLite). */
unsigned dagd_store_reconnects(struct dagd_store *s);
/* Copy the whole history of `src` into `dst` (`dagd state import` /
 * `export`: state.db to PostgreSQL and back): every table of docs/state.md,
 * rows in insertion order, ids (event seq, ...) kept. `dst` must be empty
 * (no runs, no events; -EEXIST otherwise) and both at the same schema
 * version (which opening them ensures). One transaction on dst: on failure
 * it stays empty. *ret_rows (may be NULL) is the number of rows copied. */
int dagd_store_copy(struct dagd_store *dst, struct dagd_store *src, int64_t *ret_rows);
/* Open an existing DIR/state.db read-only (inspection tools and tests); it
 * must be at the current schema version. -ENOENT if there is none. */
int dagd_store_open_readonly(const char *dir, struct dagd_store **ret);
/* Rolls back a transaction left open by dagd_store_begin(). Returns NULL. */
struct dagd_store *dagd_store_free(struct dagd_store *s);
/* The message of the last failed call on `s`, or with s == NULL of the last
 * failed dagd_store_open*() of this thread. Never NULL; valid until the next
 * call. */
const char *dagd_store_errmsg(struct dagd_store *s);
/* The schema version after migrations (PRAGMA user_version). */
int dagd_store_schema_version(struct dagd_store *s);
/* The schema version this code migrates to (the number of migrations). */
int dagd_store_schema_latest(void);
/* The path of state.db, or on PostgreSQL the connection string without
 * secrets ("host=... port=... dbname=... user=..."); owned by the store. */
const char *dagd_store_path(struct dagd_store *s);

struct dagd_run_info {
    char *run_id;
    char *pipeline;
    enum dagd_run_status status;
    char *trigger; /* cli, schedule, sensor, retry, backfill */
    char *params_json;
    char *parent_run_id;                      /* NULL unless a retry */
    int64_t created_at, started_at, ended_at; /* 0 = not yet */
    char *error;
    char *partition;   /* the partition key; NULL = the pipeline is not partitioned */
    char *backfill_id; /* NULL unless the run belongs to a backfill */
    int priority;      /* queued runs start by priority (higher first), then age */
    /* A run waiting in the daemon's durable queue: JSON of its submit options
     * (params overrides, force, from, only, max_jobs; the run queue owns the
     * format); NULL for other runs. Kept after the start. */
    char *queue_options;
    int64_t start_seq; /* read only: the order of its start among all runs (1, 2, ...); 0 = never */
};
void dagd_run_info_done(struct dagd_run_info *r);

struct dagd_step_info {
    char *run_id;
    char *step;
    char *task;
    enum dagd_step_status status;
    unsigned attempts;
    int64_t started_at, ended_at;
    int exit_code; /* -1 = none */
    int64_t rows_in, rows_out;
    char *fingerprint;
    char *error;
    char *skip_reason; /* "memoized", "upstream failed: X", ... */
    int64_t cpu_usec;
    int64_t max_rss_kb;
    char *inputs_json; /* JSON array of declared input files; NULL = keep */
    char *manifest;    /* fingerprint manifest JSON (daemon/fingerprint.h); NULL = keep */
};
void dagd_step_info_done(struct dagd_step_info *s);

struct dagd_event_info {
    int64_t seq;
    char *run_id;
    char *step; /* NULL for run-level events */
    int64_t ts;
    char *level; /* "error", "warning", "info", "debug" */
    char *kind;  /* "run", "step", "log", "stdout", "stderr", "progress", ... */
    char *message;
};
void dagd_event_info_done(struct dagd_event_info *e);

/* One data-quality check result (the checks table, docs/state.md). */
struct dagd_check_info {
    int64_t id; /* set by the store */
    char *run_id;
    char *step;
    unsigned attempt;
    char *name;
    char *severity;     /* "error" or "warn" */
    char *status;       /* "passed", "failed", "warned" or "error" */
    int64_t violations; /* violating rows */
    char *sample;       /* JSON array of a few violating rows, or NULL */
    char *detail;       /* or NULL */
    int64_t ts;         /* epoch ms */
};
void dagd_check_info_done(struct dagd_check_info *c);

/* Runs. create inserts the run (status queued) and a 'pending' row for each
 * step name, with an event, in one transaction. run->status, started_at,
 * ended_at and error are ignored; created_at 0 = now; trigger NULL = "cli",
 * params_json NULL = "{}". `tasks` may be NULL. -EEXIST if the run_id is
 * taken. */
int dagd_store_run_create(struct dagd_store *s, const struct dagd_run_info *run, char *const *steps,
                          char *const *tasks, size_t n_steps);
/* Sets status and error (NULL clears it) and writes an event. `running`
 * sets started_at and start_seq (once; start_seq = the highest so far + 1);
 * succeeded/failed/canceled set ended_at. -ENOENT
 * for an unknown run. */
int dagd_store_run_set_status(struct dagd_store *s, const char *run_id, enum dagd_run_status status,
                              const char *error, int64_t now_ms);
/* -ENOENT if there is no such run. */
int dagd_store_run_get(struct dagd_store *s, const char *run_id, struct dagd_run_info *ret);
/* The full run id of an exact id or a unique prefix of one (for `dagctl show
 * 3f2a`). *ret_run_id is owned by the caller. -ENOENT if nothing matches,
 * -ENOTUNIQ if the prefix matches several runs, -EINVAL for "". */
int dagd_store_run_resolve(struct dagd_store *s, const char *prefix, char **ret_run_id);
/* Newest first; pipeline NULL = all; limit 0 = no limit. *ret is an array
 * of n runs (free each with dagd_run_info_done, then the array; NULL when
 * n = 0). */
int dagd_store_runs_list(struct dagd_store *s, const char *pipeline, size_t limit,
                         struct dagd_run_info **ret, size_t *ret_n);

/* A page of runs for the web UI: newest first, strictly before the keyset
 * (before_created_at, before_run_id) (before_created_at 0 = from the newest),
 * created at or after since_ms, with the optional pipeline, status and trigger
 * (NULL = any), at most `limit` (0 = no limit). The next page starts before
 * the last run returned. Free like runs_list. */
struct dagd_runs_filter {
    const char *pipeline, *status, *trigger;
    int64_t since_ms;
    int64_t before_created_at;
    const char *before_run_id; /* NULL = "" */
    size_t limit;
};
int dagd_store_runs_page(struct dagd_store *s, const struct dagd_runs_filter *f,
                         struct dagd_run_info **ret, size_t *ret_n);

/* Metrics: every finished run (status not queued/running) counted by
 * (pipeline, status), and every step of a finished run passed to `fn` with
 * its pipeline, status and duration in ms (-1 when it never started or
 * ended). One scan each: a daemon seeds its counters once, then counts runs
 * as they finish. Strings are valid during the callback only. */
typedef void (*dagd_store_count_fn)(const char *pipeline, const char *status, int64_t n,
                                    void *userdata);
typedef void (*dagd_store_step_fn)(const char *pipeline, const char *status, int64_t duration_ms,
                                   void *userdata);
int dagd_store_runs_count_finished(struct dagd_store *s, dagd_store_count_fn fn, void *userdata);
int dagd_store_steps_of_finished(struct dagd_store *s, dagd_store_step_fn fn, void *userdata);

/* Steps: one call per state change, with its event in the same transaction
 * ("step X running (attempt 2)", "step X failed (attempt 1): ...", ...).
 * Every column is written from *step (the struct is the step's whole
 * state: 0 times = NULL, exit_code -1 = NULL), except task, inputs_json and
 * manifest, which NULL leaves unchanged. A step that run_create did not list is
 * inserted. -ENOENT if the run does not exist. */
int dagd_store_step_update(struct dagd_store *s, const struct dagd_step_info *step, int64_t now_ms);
/* The steps of a run in run_create order (then insertion order). Free like
 * runs_list. A run without steps or an unknown run gives n = 0. */
int dagd_store_steps_list(struct dagd_store *s, const char *run_id, struct dagd_step_info **ret,
                          size_t *ret_n);
/* The last succeeded row of (pipeline, step) with its fingerprint, for
 * memoization; -ENOENT if none. */
int dagd_store_step_last_success(struct dagd_store *s, const char *pipeline, const char *step,
                                 struct dagd_step_info *ret);
/* The same among the runs of one partition (runs.partition; NULL: all runs,
 * as above): memoization is per partition. */
int dagd_store_step_last_success_partition(struct dagd_store *s, const char *pipeline,
                                           const char *step, const char *partition,
                                           struct dagd_step_info *ret);

/* The last successes of many steps of one pipeline at once, for the
 * executor, which must not wait for each as a step starts: on PostgreSQL
 * with a driver (dagd_store_set_io_fn) one statement goes into the pipeline
 * now, behind the writes queued before it, and its answer is read later;
 * on SQLite (or PostgreSQL without a driver) the lookups are made when the
 * answer is taken. `partition` as for ..._partition. The step names are
 * copied. */
struct dagd_store_memo;
int dagd_store_memo_ask(struct dagd_store *s, const char *pipeline, const char *partition,
                        const char *const *steps, size_t n, struct dagd_store_memo **ret);
/* 0 while the answer has not come; 1 once it has: infos[i] (n of them,
 * zeroed by the caller) is the last success of steps[i] as
 * dagd_store_step_last_success_partition gives it, or all zero (run_id
 * NULL) when it never succeeded. -errno when the lookup failed (PostgreSQL
 * away: dagd_store_unavailable()), with dagd_store_errmsg(). Answers once. */
int dagd_store_memo_take(struct dagd_store_memo *m, struct dagd_step_info *infos);
/* Free (an answer still to come is dropped). NULL is fine. */
struct dagd_store_memo *dagd_store_memo_free(struct dagd_store_memo *m);

/* A fence in the stream of statements (PostgreSQL with a driver): passed
 * once the server answered everything queued before it, COMMITs included,
 * so that what the daemon wrote is there for anyone who reads the history
 * (psql too) - without waiting on the loop. *ret is 0 when that is true
 * already (SQLite; PostgreSQL with nothing unanswered). */
int dagd_store_fence(struct dagd_store *s, uint64_t *ret);
/* 1 passed, 0 not yet, -EIO the server went away first (the writes wait for
 * the reconnect). After 1 or -EIO the fence is gone. */
int dagd_store_fence_passed(struct dagd_store *s, uint64_t fence);
/* Forget a fence not passed yet. */
void dagd_store_fence_drop(struct dagd_store *s, uint64_t fence);

/* Events. run_id required; step may be NULL. Returns the new seq in *ret_seq
 * (may be NULL). */
int dagd_store_event_add(struct dagd_store *s, const char *run_id, const char *step, int64_t ts,
                         const char *level, const char *kind, const char *message,
                         int64_t *ret_seq);
/* Events of a run (step NULL = all) with seq > after_seq, oldest first, at
 * most `limit`. */
int dagd_store_events_list(struct dagd_store *s, const char *run_id, const char *step,
                           int64_t after_seq, size_t limit, struct dagd_event_info **ret,
                           size_t *ret_n);

/* The newest `limit` events of a run (limit > 0), oldest first. Free like
 * events_list. */
int dagd_store_events_tail(struct dagd_store *s, const char *run_id, size_t limit,
                           struct dagd_event_info **ret, size_t *ret_n);

/* Batch many writes (e.g. a burst of log events) in one transaction: the
 * store's own functions then join it (each still atomic on its own, through a
 * savepoint). Not nested: begin while one is open gives -EBUSY; commit or
 * rollback without one gives -ENOTCONN. */
/* Checks. add inserts one result (c->id is ignored); -EINVAL for a missing
 * field or a severity/status outside the lists above, -ENOENT for an
 * unknown run. list returns a run's results in the order they were added. */
int dagd_store_check_add(struct dagd_store *s, const struct dagd_check_info *c);
int dagd_store_checks_list(struct dagd_store *s, const char *run_id, struct dagd_check_info **ret,
                           size_t *ret_n);

int dagd_store_begin(struct dagd_store *s);
int dagd_store_commit(struct dagd_store *s);
int dagd_store_rollback(struct dagd_store *s);
/* Whether a dagd_store_begin() batch is open. */
bool dagd_store_in_batch(struct dagd_store *s);
/* Copy the WAL into state.db and truncate it to zero bytes (PRAGMA
 * wal_checkpoint(TRUNCATE)): after a disk-full error, so the space the WAL
 * took is given back. Not inside a batch (-EBUSY). Returns 0, -EBUSY when a
 * reader kept it from finishing, or another -errno. */
int dagd_store_checkpoint(struct dagd_store *s);

/* Backfills (schema 7; docs/state.md). */
struct dagd_backfill_info {
    char *backfill_id;
    char *pipeline;
    char *status; /* running, done, canceled */
    char *range_from, *range_to;
    int64_t n_partitions;
    int64_t created_at, ended_at;
    char *params_json; /* --param overrides of every run, a JSON object; NULL = none (schema 8) */
    int priority;      /* of its runs (schema 8) */
};
void dagd_backfill_info_done(struct dagd_backfill_info *b);
/* Insert a backfill (status running); its runs are created with
 * dagd_store_run_create() in the same batch. -EEXIST if the id is taken. */
int dagd_store_backfill_create(struct dagd_store *s, const struct dagd_backfill_info *b);
/* Set a running backfill's status (done, canceled) and ended_at; 0 also when
 * it had ended already; -ENOENT for an unknown one. */
int dagd_store_backfill_set_status(struct dagd_store *s, const char *backfill_id,
                                   const char *status, int64_t now_ms);
int dagd_store_backfill_get(struct dagd_store *s, const char *backfill_id,
                            struct dagd_backfill_info *ret);
/* Backfills newest first; pipeline NULL = all; limit 0 = no limit (schema
 * 9). *ret is an array of n (free each with dagd_backfill_info_done, then
 * the array; NULL when n = 0). */
int dagd_store_backfills_list(struct dagd_store *s, const char *pipeline, size_t limit,
                              struct dagd_backfill_info **ret, size_t *ret_n);
/* Its runs counted by status, into counts[] indexed by enum dagd_run_status. */
int dagd_store_backfill_counts(struct dagd_store *s, const char *backfill_id,
                               int64_t counts[static 5]);
/* The partitions of a backfill whose runs failed or were canceled, sorted
 * (time keys: oldest first) (`dagctl backfill retry`): a NULL-terminated
 * array in *ret. */
int dagd_store_backfill_unsuccessful(struct dagd_store *s, const char *backfill_id, char ***ret,
                                     size_t *ret_n);
/* The runs of the durable queue (queued, with a backfill or queue_options),
 * by priority then age. */
int dagd_store_runs_queued_durable(struct dagd_store *s, struct dagd_run_info **ret, size_t *ret_n);
/* The newest run of each partition of a pipeline: calls fn for each. */
int dagd_store_partitions_last(struct dagd_store *s, const char *pipeline,
                               void (*fn)(const char *partition, const char *status,
                                          int64_t created_at, int64_t ended_at, const char *run_id,
                                          void *userdata),
                               void *userdata);

/* Crash recovery: mark every run still queued/running (and their running or
 * pending steps) failed with `reason`; returns the number of runs fixed.
 * Queued runs of a backfill or with queue_options are kept: they are the
 * daemon's durable queue. */
int dagd_store_fail_orphans(struct dagd_store *s, const char *reason, int64_t now_ms);

/* The process group of a step's running attempt (its worker leads it), the
 * leader's start time in clock ticks since boot and the boot id: what a dagd
 * starting after a crash needs to kill what the steps left running
 * (procsweep.h). pgid 0 forgets them; so does recording the step in any
 * status but running. Returns 0, -ENOENT if there is no such step, or
 * another -errno. */
int dagd_store_step_set_process(struct dagd_store *s, const char *run_id, const char *step,
                                int64_t pgid, uint64_t start_ticks, const char *boot_id);

struct dagd_orphan_process {
    int64_t pgid;
    uint64_t start_ticks;
    char *boot_id; /* may be NULL */
    char *run_id, *step;
};

/* The process groups recorded for running steps of queued or running runs:
 * at start, before dagd_store_fail_orphans(), the groups a dead dagd left.
 * *ret is an array of *ret_n (free with dagd_orphan_processes_free). */
int dagd_store_orphan_processes(struct dagd_store *s, struct dagd_orphan_process **ret,
                                size_t *ret_n);
void dagd_orphan_processes_free(struct dagd_orphan_process *p, size_t n);

/* Retention: delete up to `batch` finished runs (with their steps and
 * events) that ended before `before_ms`, and up to `batch` ticks older than
 * before_ms (the newest tick of each schedule/sensor is kept). One call
 * deletes at most batch * DAGD_STORE_PRUNE_EVENTS_PER_RUN events and never
 * more than DAGD_STORE_PRUNE_EVENTS_MAX (a few ms of work): a run with more
 * is trimmed over several calls. Returns the number of rows deleted (of
 * runs, steps, events and ticks); 0 means nothing is left to prune, so the
 * daemon calls it again from an idle handle until it returns 0. */
#define DAGD_STORE_PRUNE_EVENTS_PER_RUN 1000
#define DAGD_STORE_PRUNE_EVENTS_MAX 10000
int dagd_store_prune(struct dagd_store *s, int64_t before_ms, size_t batch);

/* File-hash cache for fingerprints, keyed by (path, dev, ino, size, mtime).
 * get: -ENOENT unless a row for path matches all of dev, ino, size, mtime;
 * *ret_hash is owned by the caller. put replaces the row of path. */
int dagd_store_filehash_get(struct dagd_store *s, const char *path, uint64_t dev, uint64_t ino,
                            int64_t size, int64_t mtime_ns, char **ret_hash);
int dagd_store_filehash_put(struct dagd_store *s, const char *path, uint64_t dev, uint64_t ino,
                            int64_t size, int64_t mtime_ns, const char *hash);

/* Ticks of schedules and sensors (DESIGN 3b). run_id may be NULL. kind is
 * "schedule" or "sensor"; status e.g. "started", "skipped", "failed". */
int dagd_store_tick_add(struct dagd_store *s, const char *name, const char *kind, int64_t ts,
                        const char *run_id, const char *status, const char *reason);

struct dagd_tick_info {
    int64_t id;
    char *name;
    char *kind;
    int64_t ts;
    char *run_id; /* may be NULL */
    char *status;
    char *reason; /* may be NULL */
};
void dagd_tick_info_done(struct dagd_tick_info *t);
/* The newest tick of (name, kind), for schedule catch-up after downtime;
 * -ENOENT if none. */
int dagd_store_tick_last(struct dagd_store *s, const char *name, const char *kind,
                         struct dagd_tick_info *ret);
/* Ticks newest first; name NULL = all; limit 0 = no limit. Free like runs_list. */
int dagd_store_ticks_list(struct dagd_store *s, const char *name, size_t limit,
                          struct dagd_tick_info **ret, size_t *ret_n);

/* Sensor run keys: records that `key` (e.g. "path:size:mtime") of `sensor`
 * triggered run_id (may be NULL). Returns 0 the first time, -EEXIST if the
 * key was seen before (also across restarts), so each file triggers once. */
int dagd_store_sensor_key_claim(struct dagd_store *s, const char *sensor, const char *key,
                                const char *run_id, int64_t ts);

#endif
