/* Resolving a run: pipeline + run options -> what the run will use.
 *
 * One function checks a run's step selection (--from / --only), resolves its
 * params (built-ins, defaults, overrides) and every step's config, and
 * returns the result or every diagnostic. The daemon's run queue calls it
 * when a run is submitted (so a bad run is refused before it is queued), the
 * executor runs what it returns, and the planner reads the configs from it
 * instead of resolving them again right before each step launches.
 *
 * Owns: struct dagd_run_options (what a caller asks for) and struct
 * dagd_run_resolved. May call: the pipeline model and params. Does not log
 * and touches no state. */
#ifndef DAGD_RUN_RESOLVE_H
#define DAGD_RUN_RESOLVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "diag.h"
#include "params.h"
#include "pipeline.h"

struct dagd_run_options {
    const char *trigger;          /* "cli", "schedule", "sensor", "retry" */
    char *const *param_overrides; /* "key=value" */
    size_t n_param_overrides;
    bool force;                /* ignore memoization */
    const char *from_step;     /* run this step and everything downstream only */
    const char *only_step;     /* run this step only */
    const char *parent_run_id; /* retry: re-run failed and downstream steps of this run */
    unsigned max_jobs;         /* per-run limit; 0 = the global limit */
    /* Appended for the daemon's run queue (run_queue.c), which hands out a
     * run id before the run reaches the executor: use this id (32 hex chars)
     * instead of a new one; NULL = a new id. */
    const char *run_id;
    /* The partition key of a run of a partitioned pipeline (partitions.h):
     * checked, and the partition built-ins set from it. NULL: none (a run of
     * a partitioned pipeline needs one; plans and validation do without). */
    const char *partition;
    bool require_partition; /* a partitioned pipeline without --partition is an error */
    /* The run's row exists in state.db (status queued, with its pending
     * steps): the daemon's durable queue (a backfill's runs). */
    bool recorded;
    int priority;      /* the daemon's queue starts higher priorities first */
    bool priority_set; /* else the daemon uses the pipeline's `priority:` */
};

/* A resolved run. Arrays are indexed like pipeline->steps. */
struct dagd_run_resolved {
    size_t n_steps;
    struct dagd_params params; /* built-ins, defaults and overrides, expanded */
    char *params_json;         /* params as canonical JSON (runs.params) */
    bool *selected;            /* false: not selected by --from / --only */
    ssize_t forced;            /* the --from / --only step (always runs), or -1 */
    char **config_json;        /* canonical config; NULL only with keep_bad_configs */
    char **config_error;       /* with keep_bad_configs: why config_json is NULL */
};

/* Check the selection of `opts` against `p`: every unknown --from / --only
 * step is reported to reterr ("--from: no step 'X' in pipeline 'P'").
 * Returns 0, or -EINVAL. For callers that must refuse a run before they
 * have what dagd_run_resolve() needs (`dagd run` before it opens the state
 * directory); dagd_run_resolve() checks the same. */
int dagd_run_check_selection(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                             struct dagd_diags *reterr);

/* Check `opts->partition` against `p` (partitions.h): a partition of a
 * pipeline without partitions, an unknown key, or (with require_partition)
 * no partition for a partitioned pipeline are reported to reterr
 * ("--partition: ..."). Returns 0 or -EINVAL. dagd_run_check_selection()
 * calls it too. */
int dagd_run_check_partition(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                             struct dagd_diags *reterr);

/* Resolve a run of `p` with `opts` (NULL: defaults), `state_dir` (absolute;
 * the state_dir built-in) and `run_id` (the run_id built-in). On success
 * *ret is a new resolved run (free with dagd_run_resolved_free). On failure
 * returns -EINVAL with every problem in reterr: the selection, then the
 * params, then (when the params resolve) each step's config. With
 * `keep_bad_configs` (plans, which report a step whose config does not
 * resolve as a reason) a config that does not resolve is not a failure: its
 * config_json is NULL and config_error says why. */
int dagd_run_resolve(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                     const char *state_dir, const char *run_id, bool keep_bad_configs,
                     struct dagd_run_resolved **ret, struct dagd_diags *reterr);

/* Frees r (NULL is fine); returns NULL. */
struct dagd_run_resolved *dagd_run_resolved_free(struct dagd_run_resolved *r);

#endif
