/* Plans and memoization: which steps of a run must run, and why.
 *
 * For each step the planner resolves its config, asks the plugin for its
 * input and output files (the plugin's `inputs` callback, run in-process
 * through the plugin host), hashes the inputs through the store's file-hash
 * cache, computes the step fingerprint (fingerprint.h) over them and the
 * upstream fingerprints, and compares it with the last successful run of the
 * same (pipeline, step) in the store. A step runs when:
 *
 *   - the run is forced (--force)                        "forced"
 *   - it never succeeded                                 "never succeeded"
 *   - its last success was not memoized (no_memo)        "last result not memoized"
 *   - its fingerprint changed                            "input data/x.json changed",
 *                                                        "config changed", "params changed",
 *                                                        "task version changed",
 *                                                        "task plugin changed"
 *   - an upstream step runs                              "upstream X will run"
 *   - a declared output file is missing                  "output PATH missing"
 *
 * and is otherwise skipped as "up to date" (steps.skip_reason "memoized").
 *
 * Two users:
 *   - `dagd plan FILE` and the daemon's `plan` method: dagd_plan_compute()
 *     evaluates every step up front and predicts ("will run").
 *   - the executor: one dagd_plan_ctx per run; dagd_plan_step_eval() right
 *     before a step would launch (after its upstream steps finished, so the
 *     input files they wrote are hashed as they are now). On success the
 *     executor stores the fingerprint in steps.fingerprint and the manifest
 *     in steps.manifest (dagd_step_info.manifest); the planner reads both
 *     back from dagd_store_step_last_success().
 *
 * Owns the plan results. Does not log (errors come back as reasons/diags).
 * Runs on the loop thread: file hashing is bounded by the size of the
 * declared inputs and cached by (path, dev, inode, size, mtime). */
#ifndef DAGD_PLAN_H
#define DAGD_PLAN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "fingerprint.h"
#include "pipeline.h"

struct dagd_store;
struct dagd_step_info;
struct dagd_plugin_host;

/* The verdict on one step. Strings are owned by the plan/ctx. */
struct dagd_plan_step {
    const char *name; /* borrowed from the pipeline */
    bool evaluated;
    bool run;                           /* true: runs; false: skipped as memoized */
    char *reason;                       /* human reason (see above) */
    char fingerprint[DAGD_FP_HEX_SIZE]; /* "" if it could not be computed */
    char *manifest;                     /* JSON, for steps.inputs; NULL if not computed */
    char *config_json;                  /* resolved canonical config, NULL on error */
    char **inputs;                      /* declared input files, as declared */
    size_t n_inputs;
    char **outputs; /* declared output files */
    size_t n_outputs;
    char *last_run_id; /* run of the last success, or NULL */
};

struct dagd_plan_options {
    bool force;           /* run everything */
    const char *work_dir; /* base of relative input/output paths (the steps'
                           * cwd); NULL = the current directory */
    /* The run's configs as dagd_run_resolve() resolved them, indexed like
     * the steps (NULL entries: did not resolve, see config_errors); borrowed,
     * must outlive the ctx. NULL: each step's config is resolved here from
     * the params. */
    const char *const *configs;
    const char *const *config_errors;
};

/* Per-run memoization state. */
struct dagd_plan_ctx;

/* A context for one run of `p` with the run's resolved `params` (including
 * the built-ins; run_id is ignored by fingerprints). `store` may be NULL
 * (nothing ever succeeded, no hash cache); `plugins` may be NULL (no inputs
 * callbacks). Keeps references to all of them: they must outlive the ctx.
 * Takes a pipeline reference. */
struct dagd_plan_ctx *dagd_plan_ctx_new(struct dagd_pipeline *p, struct dagd_store *store,
                                        struct dagd_plugin_host *plugins,
                                        const struct dagd_params *params,
                                        const struct dagd_plan_options *opts);
struct dagd_plan_ctx *dagd_plan_ctx_free(struct dagd_plan_ctx *ctx);

/* The executor's way not to wait for the store as each step starts: ask
 * for the last success of every step at once (dagd_store_memo_ask: on
 * PostgreSQL sent now, answered later). Until dagd_plan_ctx_ready() says
 * the answer is in, no step of the run should be evaluated (one that is
 * asks the store itself). Nothing to ask when forced. */
void dagd_plan_ctx_prefetch(struct dagd_plan_ctx *ctx);
/* Whether the prefetched answer is in (or nothing was asked): takes it
 * when it came. A failed lookup is ready too: its steps run, "state
 * unreadable". */
bool dagd_plan_ctx_ready(struct dagd_plan_ctx *ctx);
/* A step of another run (`from`, with `info` as stored: run_id, step,
 * fingerprint, manifest) succeeded after ctx's prefetch was asked: when
 * both memoize against the same runs (same pipeline, same partition), it
 * is ctx's last success of the step of that name from now on. */
void dagd_plan_ctx_note_success(struct dagd_plan_ctx *ctx, const struct dagd_plan_ctx *from,
                                const struct dagd_step_info *info);

/* Evaluate step `idx` now (upstream steps not yet evaluated are evaluated
 * first). Returns the verdict (owned by ctx, valid until ctx is freed).
 * Evaluating a step twice returns the first verdict. Never fails: a step
 * whose config or inputs cannot be determined runs, with the reason. */
const struct dagd_plan_step *dagd_plan_step_eval(struct dagd_plan_ctx *ctx, size_t idx);

/* Tell the ctx that step `idx` will run after all (e.g. an executor retry
 * of a step planned as skipped) so its downstream steps run too. */
void dagd_plan_step_mark_run(struct dagd_plan_ctx *ctx, size_t idx, const char *reason);

/* The file-hash cache counters (hits/misses) of the ctx so far. */
void dagd_plan_ctx_cache_stats(const struct dagd_plan_ctx *ctx, unsigned *ret_hits,
                               unsigned *ret_misses);

/* steps.inputs for the executor: the declared input files as a JSON array
 * string (new; free()). */
char *dagd_plan_step_inputs_json(const struct dagd_plan_step *s);

/* ---- Whole plans ---------------------------------------------------------- */

struct dagd_plan {
    char *pipeline;
    struct dagd_plan_step *steps; /* in pipeline (file) order */
    size_t n_steps;
    size_t n_run;
    unsigned cache_hits, cache_misses;
};

/* Evaluate every step of `p` (see dagd_plan_ctx_new for the arguments).
 * *ret is a new plan. Returns 0. */
int dagd_plan_compute(struct dagd_pipeline *p, struct dagd_store *store,
                      struct dagd_plugin_host *plugins, const struct dagd_params *params,
                      const struct dagd_plan_options *opts, struct dagd_plan **ret);
struct dagd_plan *dagd_plan_free(struct dagd_plan *plan);

/* The whole plan of a run that `dagd run FILE --state-dir STATE_DIR
 * --param OVERRIDES...` would start (or `dagctl run`): resolves the run
 * (dagd_run_resolve, keeping steps whose config does not resolve as a
 * reason) with the same built-ins a run gets (state_dir made absolute, as
 * dagd_plan_abs_path does) and computes the plan. -EINVAL with diagnostics
 * when the overrides do not resolve. For the daemon's `plan` method. */
int dagd_plan_for_run(struct dagd_pipeline *p, struct dagd_store *store,
                      struct dagd_plugin_host *plugins, const char *state_dir,
                      char *const *overrides, size_t n_overrides,
                      const struct dagd_plan_options *opts, struct dagd_plan **ret,
                      struct dagd_diags *reterr);

/* `path` made absolute against the current directory, symlinks resolved
 * when it exists. The state_dir built-in of runs must be computed with it,
 * so plans and runs see the same value. New string. */
char *dagd_plan_abs_path(const char *path);

/* The plan as JSON, for the daemon's `plan` method and `dagd plan --json`:
 *   {"pipeline":P,"run":N,"skip":N,
 *    "steps":[{"step":S,"action":"run"|"skip","reason":R,"fingerprint":F,
 *              "inputs":[...],"outputs":[...]}, ...]}
 * Returns a new object (cJSON_Delete). */
cJSON *dagd_plan_to_json(const struct dagd_plan *plan);

/* A table for people: one line per step, "STEP  run|skip  REASON". */
void dagd_plan_print(const struct dagd_plan *plan, FILE *f);

#endif
