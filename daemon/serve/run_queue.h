/* The daemon's run queue: admission of runs into the executor. `run`
 * returns a run id at once; the run starts when both limits allow it: at
 * most `max_runs` runs at a time over all pipelines, and at most the
 * pipeline's `concurrency` runs of one pipeline (0 = no per-pipeline limit).
 * A queued run starts the moment a slot frees: the queue observes the
 * executor's RUN_FINISHED events (no polling). The global step parallelism
 * is the executor's max_jobs, shared by all runs.
 *
 * Fairness: queued runs wait in lanes, one per pipeline for its runs
 * outside backfills (manual, scheduled, sensor, retry) and one per backfill.
 * A lane's runs start by priority, then age; the lanes take turns: the next
 * run comes from the lane with the highest head priority that the limits
 * let start, and among equals from the lane served least recently, so a run
 * waits for at most one start of each other lane of its priority, however
 * many runs those lanes hold (a 10,000-run backfill does not starve a
 * schedule).
 *
 * Durability: a run that has to wait is a `queued` row of state.db (with
 * runs.queue_options, what it needs to start) before its id is handed out,
 * and stays one across a stop or a crash; the next daemon adopts the rows
 * and starts each once. A run that can start at once is recorded by the
 * executor. The queue also fans out the executor's events to watchers of one run (the
 * `run --wait` and `logs --follow` streams), adding a RUN_FINISHED for a run
 * canceled while still queued. Owns its entries and one reference on each
 * queued pipeline. */
#ifndef DAGD_RUN_QUEUE_H
#define DAGD_RUN_QUEUE_H

#include "executor.h"

struct dagd_run_queue;

/* Default bounds of the runs waiting for a slot (daemon config limits
 * max_queued_runs and max_queued_bytes). */
#define DAGD_RUN_QUEUE_MAX_QUEUED 1000u
#define DAGD_RUN_QUEUE_MAX_QUEUED_BYTES (16u * 1024u * 1024u)

struct dagd_run_queue *dagd_run_queue_new(struct dagd_executor *e, struct dagd_store *store,
                                          const char *state_dir, unsigned max_runs);
/* Drop the queued runs (recording them canceled) and the executor observer. */
struct dagd_run_queue *dagd_run_queue_free(struct dagd_run_queue *q);

/* At most `max_queued` runs holding at most `max_queued_bytes` (params and
 * options) may wait; 0 runs = none may wait. */
void dagd_run_queue_set_limits(struct dagd_run_queue *q, unsigned max_queued,
                               size_t max_queued_bytes);

/* At most `n` runs of backfills at a time (0: only max_runs bounds them):
 * the rest of max_runs stays free for the other runs. */
void dagd_run_queue_set_max_backfill_runs(struct dagd_run_queue *q, unsigned n);
/* The lanes of queued runs, for status: calls fn for each with its
 * pipeline, backfill id (NULL outside backfills), queued runs and head
 * priority. */
void dagd_run_queue_lanes(const struct dagd_run_queue *q,
                          void (*fn)(const char *pipeline, const char *backfill_id, size_t n,
                                     int priority, void *userdata),
                          void *userdata);
/* Running runs of backfills. */
size_t dagd_run_queue_n_running_backfill(const struct dagd_run_queue *q);

/* Check the options against the pipeline (params, --from/--only steps, pools),
 * then start the run or queue it. 0 with the run id, -EINVAL with
 * diagnostics, or -ENOBUFS (with one diagnostic) when the run would have to
 * wait and the queue is at its bounds; nothing is recorded on failure.
 * `opts` is copied. */
int dagd_run_queue_submit(struct dagd_run_queue *q, struct dagd_pipeline *p,
                          const struct dagd_run_options *opts, char ret_run_id[static 33],
                          struct dagd_diags *reterr);
/* As submit, but the run only becomes a row of the durable queue (status
 * queued, with its options) and is not queued here: a standby's run, that
 * its leader takes up (relay.h). Errors as submit. */
int dagd_run_queue_record(struct dagd_run_queue *q, struct dagd_pipeline *p,
                          const struct dagd_run_options *opts, char ret_run_id[static 33],
                          struct dagd_diags *reterr);
/* Queue a run whose row is already in state.db as queued (a backfill's
 * run, created in one transaction with its backfill, or one found queued at
 * start), with the options in run->queue_options: it is resolved when it
 * starts (a failure is recorded then), waits in its lane (pipeline and
 * backfill) by its priority, then age, and is not held to the queue's
 * bounds (its row is the queue). Call dagd_run_queue_kick() after adopting
 * a batch. */
int dagd_run_queue_adopt(struct dagd_run_queue *q, struct dagd_pipeline *p,
                         const struct dagd_run_info *run);
/* The runs.queue_options of a run with these `key=value` overrides and no
 * other option (a backfill's runs); a new string. */
char *dagd_run_queue_options_json(char *const *overrides, size_t n);
/* Start whatever can start now. */
void dagd_run_queue_kick(struct dagd_run_queue *q);
/* Cancel a backfill's queued runs (recorded canceled) and its running ones;
 * returns how many were queued. */
size_t dagd_run_queue_cancel_backfill(struct dagd_run_queue *q, const char *backfill_id);

/* Cancel a queued run (recorded `canceled` at once) or a running one (the
 * executor stops it). 1 if it was queued, 0 if running, -ENOENT if neither. */
int dagd_run_queue_cancel(struct dagd_run_queue *q, const char *run_id);
/* Cancel every queued run (shutdown). */
void dagd_run_queue_cancel_queued(struct dagd_run_queue *q);

/* A queued run: 0 and its pipeline name, params (JSON), trigger, parent and
 * creation time in *ret (strings owned by the caller, free with
 * dagd_run_info_done), or -ENOENT. */
int dagd_run_queue_get(struct dagd_run_queue *q, const char *run_id, struct dagd_run_info *ret,
                       char ***ret_steps, size_t *ret_n_steps);
/* Ids of the queued runs matching `prefix` (NULL = all), newest first; the
 * caller frees the array and its strings. */
size_t dagd_run_queue_list(struct dagd_run_queue *q, const char *prefix, char ***ret);
bool dagd_run_queue_is_queued(struct dagd_run_queue *q, const char *run_id);
bool dagd_run_queue_is_active(struct dagd_run_queue *q, const char *run_id);

size_t dagd_run_queue_n_queued(const struct dagd_run_queue *q);
size_t dagd_run_queue_n_running(const struct dagd_run_queue *q);
unsigned dagd_run_queue_max_runs(const struct dagd_run_queue *q);

/* Watch the events of one run. Returns an id (> 0) for unwatch. */
int dagd_run_queue_watch(struct dagd_run_queue *q, const char *run_id, dagd_exec_observer_fn fn,
                         void *userdata);
void dagd_run_queue_unwatch(struct dagd_run_queue *q, int id);
/* Called after the number of queued or running runs changed: a run was
 * queued, started, finished or canceled while queued (one listener: the
 * daemon's STATUS= line). NULL stops it. */
void dagd_run_queue_on_change(struct dagd_run_queue *q, void (*fn)(void *userdata), void *userdata);
/* Called (once) when no run is running any more: used by shutdown. */
void dagd_run_queue_on_idle(struct dagd_run_queue *q, void (*fn)(void *userdata), void *userdata);

#endif
