/* The state store: the only code that touches state.db (DESIGN 5). Owns the
 * SQLite connection and its prepared statements. One writer: the process
 * that opened it read-write (the daemon or `dagd run`). WAL mode, so
 * `sqlite3 state.db` readers never block it. Every status change and its
 * event are written in one transaction. Times passed in are epoch
 * milliseconds. All functions return 0 or -errno (-EIO for SQLite errors,
 * with the SQLite message available from dagd_store_errmsg()). */
#ifndef DAGD_STORE_H
#define DAGD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd_store;

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

const char *dagd_run_status_to_string(enum dagd_run_status s);
int dagd_run_status_from_string(const char *s); /* value or -EINVAL */
const char *dagd_step_status_to_string(enum dagd_step_status s);
int dagd_step_status_from_string(const char *s);

/* Open (creating and migrating) DIR/state.db. `dir` is created if missing. */
int dagd_store_open(const char *dir, struct dagd_store **ret);
/* Open read-only (for dagctl-free inspection tools and tests). */
int dagd_store_open_readonly(const char *dir, struct dagd_store **ret);
struct dagd_store *dagd_store_free(struct dagd_store *s);
const char *dagd_store_errmsg(struct dagd_store *s);
/* The schema version after migrations (PRAGMA user_version). */
int dagd_store_schema_version(struct dagd_store *s);

struct dagd_run_info {
    char *run_id;
    char *pipeline;
    enum dagd_run_status status;
    char *trigger;       /* cli, schedule, sensor, retry */
    char *params_json;
    char *parent_run_id; /* NULL unless a retry */
    int64_t created_at, started_at, ended_at; /* 0 = not yet */
    char *error;
};
void dagd_run_info_done(struct dagd_run_info *r);

struct dagd_step_info {
    char *run_id;
    char *step;
    char *task;
    enum dagd_step_status status;
    unsigned attempts;
    int64_t started_at, ended_at;
    int exit_code;       /* -1 = none */
    int64_t rows_in, rows_out;
    char *fingerprint;
    char *error;
    char *skip_reason;   /* "memoized", "upstream failed: X", ... */
    int64_t cpu_usec;
    int64_t max_rss_kb;
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

/* Runs. create inserts the run (status queued) and a 'pending' row for each
 * step name, with an event, in one transaction. */
int dagd_store_run_create(struct dagd_store *s, const struct dagd_run_info *run,
                          char *const *steps, char *const *tasks, size_t n_steps);
int dagd_store_run_set_status(struct dagd_store *s, const char *run_id,
                              enum dagd_run_status status, const char *error, int64_t now_ms);
int dagd_store_run_get(struct dagd_store *s, const char *run_id, struct dagd_run_info *ret);
/* Newest first; pipeline NULL = all. *ret is an array of n runs (free each
 * with dagd_run_info_done, then the array). */
int dagd_store_runs_list(struct dagd_store *s, const char *pipeline, size_t limit,
                         struct dagd_run_info **ret, size_t *ret_n);

/* Steps: one call per state change, with its event in the same transaction. */
int dagd_store_step_update(struct dagd_store *s, const struct dagd_step_info *step,
                           int64_t now_ms);
int dagd_store_steps_list(struct dagd_store *s, const char *run_id,
                          struct dagd_step_info **ret, size_t *ret_n);
/* The last succeeded row of (pipeline, step) with its fingerprint, for
 * memoization; -ENOENT if none. */
int dagd_store_step_last_success(struct dagd_store *s, const char *pipeline, const char *step,
                                 struct dagd_step_info *ret);

/* Events. run_id required; step may be NULL. Returns the new seq in *ret_seq
 * (may be NULL). */
int dagd_store_event_add(struct dagd_store *s, const char *run_id, const char *step,
                         int64_t ts, const char *level, const char *kind, const char *message,
                         int64_t *ret_seq);
/* Events of a run (step NULL = all) with seq > after_seq, oldest first, at
 * most `limit`. */
int dagd_store_events_list(struct dagd_store *s, const char *run_id, const char *step,
                           int64_t after_seq, size_t limit, struct dagd_event_info **ret,
                           size_t *ret_n);

/* Batch many writes (e.g. a burst of log events) in one transaction. */
int dagd_store_begin(struct dagd_store *s);
int dagd_store_commit(struct dagd_store *s);
int dagd_store_rollback(struct dagd_store *s);

/* Crash recovery: mark every run still queued/running (and their running or
 * pending steps) failed with `reason`; returns the number of runs fixed. */
int dagd_store_fail_orphans(struct dagd_store *s, const char *reason, int64_t now_ms);

/* Retention: delete up to `batch` runs (with their steps and events) that
 * ended before `before_ms`. Returns how many runs were deleted (0 = done), so
 * the daemon can call it again from an idle handle without blocking. */
int dagd_store_prune(struct dagd_store *s, int64_t before_ms, size_t batch);

/* File-hash cache for fingerprints, keyed by (path, dev, ino, size, mtime). */
int dagd_store_filehash_get(struct dagd_store *s, const char *path, uint64_t dev, uint64_t ino,
                            int64_t size, int64_t mtime_ns, char **ret_hash);
int dagd_store_filehash_put(struct dagd_store *s, const char *path, uint64_t dev, uint64_t ino,
                            int64_t size, int64_t mtime_ns, const char *hash);

/* Ticks of schedules and sensors (DESIGN 3b). run_id may be NULL. */
int dagd_store_tick_add(struct dagd_store *s, const char *name, const char *kind, int64_t ts,
                        const char *run_id, const char *status, const char *reason);

#endif
