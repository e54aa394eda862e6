/* The executor: runs pipeline runs on a libuv loop. Owns the runs it was
 * given, their worker processes, timers and pipes. Schedules ready steps in
 * dependency order under a global step limit (`max_jobs`), retries with
 * exponential backoff and full jitter, enforces per-step timeouts (SIGTERM
 * to the step's process group, grace, SIGKILL), propagates skips downstream of
 * a failure, records every state change in the store, and reports changes to
 * observers (dagd run's progress printer, the daemon's `run --wait` and `logs
 * --follow` streams). Used identically by `dagd run` (one run) and `dagd
 * serve` (many). Does not parse YAML and does not talk to sockets. */
#ifndef DAGD_EXECUTOR_H
#define DAGD_EXECUTOR_H

#include <uv.h>

#include <sys/types.h>

#include "pipeline.h"
#include "run_resolve.h"
#include "store.h"

struct dagd_executor;
struct dagd_plugin_host;
struct dagd_slurm_config;

/* A named pool of slots (the daemon config's `pools:`): each attempt of a
 * step with `pool: NAME` holds the step's `slots:` of it while it runs.
 * Ready steps that do not fit wait (others of the same run go ahead); the
 * runs that want a pool take turns for its slots, one slot a turn, in the
 * order of their age. */
struct dagd_pool {
    const char *name;
    unsigned slots;
};

struct dagd_executor_config {
    uv_loop_t *loop;
    struct dagd_store *store;
    struct dagd_plugin_host *plugins;
    unsigned max_jobs;        /* global step parallelism; 0 = number of CPUs */
    const char *state_dir;    /* absolute */
    const char *worker_path;  /* the dagd-worker binary; NULL = next to /proc/self/exe */
    const char *work_dir;     /* cwd of steps and base of relative params; NULL = cwd */
    uint64_t kill_grace_usec; /* SIGTERM -> SIGKILL grace; 0 = 5 s */
    /* Copied. NULL: pools are not enforced (`dagd run`: one run, max_jobs
     * bounds it), steps' pool: keys are ignored. */
    const struct dagd_pool *pools;
    size_t n_pools;
    /* Steps with `executor: slurm` (docs/slurm.md): the cluster defaults and
     * tunables (exec_slurm.h); NULL = Slurm's own defaults. Must outlive the
     * executor. */
    const struct dagd_slurm_config *slurm;
};

/* What observers are told. Pointers are valid during the callback only. */
enum dagd_exec_event_kind {
    DAGD_EXEC_RUN_STARTED,
    DAGD_EXEC_STEP_CHANGED,  /* status, attempts, error changed */
    DAGD_EXEC_STEP_PROGRESS, /* done/total */
    DAGD_EXEC_LOG,           /* a log/stdout/stderr line of a step */
    DAGD_EXEC_RUN_FINISHED,
};

struct dagd_exec_event {
    enum dagd_exec_event_kind kind;
    const char *run_id;
    const char *pipeline;
    const struct dagd_step_info *step; /* STEP_*; LOG: may be NULL */
    uint64_t done, total;              /* STEP_PROGRESS */
    const char *level, *message;       /* LOG; RUN_FINISHED: message = the run's error or NULL */
    const char *stream;                /* LOG: "log" (the task's), "stdout" or "stderr" */
    enum dagd_run_status run_status;   /* RUN_FINISHED */
    int64_t seq;                       /* events.seq of the stored event, or 0 (unknown) */
};

typedef void (*dagd_exec_observer_fn)(const struct dagd_exec_event *ev, void *userdata);

int dagd_executor_new(const struct dagd_executor_config *cfg, struct dagd_executor **ret);
/* Cancel everything and free once all handles are closed; safe from any callback. */
void dagd_executor_free(struct dagd_executor *e);

/* Start a run. Returns 0 with the new run id (32 hex chars) in ret_run_id;
 * -EINVAL with diagnostics when the selection, params or configs do not
 * resolve (dagd_run_resolve; nothing is recorded then). The run is queued
 * and started as soon as a slot frees. */
int dagd_executor_submit(struct dagd_executor *e, struct dagd_pipeline *p,
                         const struct dagd_run_options *opts, char ret_run_id[static 33],
                         struct dagd_diags *reterr);
/* The same with the run already resolved by dagd_run_resolve() (without
 * keep_bad_configs) for `p`, opts->run_id and the executor's state_dir:
 * takes ownership of `resolved`, also on failure. */
int dagd_executor_submit_resolved(struct dagd_executor *e, struct dagd_pipeline *p,
                                  const struct dagd_run_options *opts,
                                  struct dagd_run_resolved *resolved, char ret_run_id[static 33],
                                  struct dagd_diags *reterr);
/* Resume a run a previous daemon ran, found `running` in state.db at start
 * (`run`, and `steps` as recorded then, before the orphan recovery marked
 * it failed): steps that ended keep their outcome (a failed one skips its
 * downstream steps again), attempts on a backend that left a handle in
 * their directory (exec_slurm.c) are adopted and their results recorded
 * when they end, and the other steps run again. 0 when resumed; -ENOENT when
 * it had nothing to adopt (not resumed: it stays failed); -EINVAL with
 * diagnostics when its params no longer resolve. */
int dagd_executor_resume(struct dagd_executor *e, struct dagd_pipeline *p,
                         const struct dagd_run_info *run, const struct dagd_step_info *steps,
                         size_t n, struct dagd_diags *reterr);
/* Cancel a queued or running run: its running steps get SIGTERM (process
 * group), then SIGKILL after the grace; the run ends `canceled`. -ENOENT if
 * not active. */
int dagd_executor_cancel(struct dagd_executor *e, const char *run_id);
/* Cancel all runs (shutdown). `grace_usec` lets running steps finish first. */
void dagd_executor_shutdown(struct dagd_executor *e, uint64_t grace_usec);
/* With pools configured: 0 if every step of `p` names a pool that exists
 * and takes at most its size, else -EINVAL with a diagnostic at the step's
 * pool: per bad step. Submit checks this too. */
int dagd_executor_check_pools(const struct dagd_executor *e, const struct dagd_pipeline *p,
                              struct dagd_diags *reterr);
/* The pools: their number, and pool i's name, size, slots held by running
 * attempts and ready steps that waited for it at the last scheduling pass.
 * -ENOENT past the end. */
size_t dagd_executor_n_pools(const struct dagd_executor *e);
int dagd_executor_pool(const struct dagd_executor *e, size_t i, const char **ret_name,
                       unsigned *ret_slots, unsigned *ret_used, unsigned *ret_waiting);
/* Number of active (queued or running) runs. */
size_t dagd_executor_active(const struct dagd_executor *e);
/* Number of ended runs whose end is not in the store yet: a write failed
 * (disk full, I/O error). Such a run ended `failed` ("disk full: ..."); the
 * executor writes its end again every second until it is stored, then
 * checkpoints state.db's WAL (TRUNCATE) and retries failed warehouse
 * checkpoints. dagd_executor_free() tries once more and gives up (the next
 * start's orphan recovery marks the run failed). */
size_t dagd_executor_unsaved(const struct dagd_executor *e);

/* A step attempt whose worker process runs now. Pointers are valid during
 * the callback only. */
struct dagd_exec_attempt_info {
    const char *run_id, *pipeline, *step;
    unsigned attempt;
    pid_t pid; /* the worker (dagd-worker), a child of the worker template */
};
typedef void (*dagd_exec_attempt_fn)(const struct dagd_exec_attempt_info *a, void *userdata);
/* Call fn for every attempt whose worker has started and not exited (the
 * metrics read their RSS and CPU). fn must not start or stop anything. */
void dagd_executor_foreach_attempt(const struct dagd_executor *e, dagd_exec_attempt_fn fn,
                                   void *userdata);

/* Observers: every event of every run (run_id NULL) or of one run. Returns
 * an id for remove. */
int dagd_executor_observe(struct dagd_executor *e, const char *run_id, dagd_exec_observer_fn fn,
                          void *userdata);
void dagd_executor_unobserve(struct dagd_executor *e, int id);

#endif
