/* The run history as JSON: the shapes `dagctl --json` prints and `dagd
 * runs/show/logs --json` print the same, built straight from the store's
 * records. Used by the daemon's API handlers (which add the queued runs
 * they hold in memory) and by the `dagd` history commands. Owns nothing;
 * every function returns a new cJSON tree owned by the caller. */
#ifndef DAGD_HISTORY_JSON_H
#define DAGD_HISTORY_JSON_H

#include <cjson/cJSON.h>

#include "store.h"

/* {run_id, pipeline, status, trigger, params, parent_run_id, created_at,
 * started_at, ended_at, error, partition, backfill_id, priority} */
cJSON *dagd_history_run_json(const struct dagd_run_info *r);
/* {step, task, status, attempts, started_at, ended_at, exit_code, rows_in,
 * rows_out, fingerprint, error, skip_reason, cpu_usec, max_rss_kb} */
cJSON *dagd_history_step_json(const struct dagd_step_info *s);
/* {kind: "log", seq, ts, step, level, type, message}: one stored event as
 * `logs` streams it. */
cJSON *dagd_history_event_json(const struct dagd_event_info *e);

/* {step, attempt, check, severity, status, violations, sample (array or
 * null), detail, ts}: one data-quality check result. */
cJSON *dagd_history_check_json(const struct dagd_check_info *c);

/* Append the stored runs (newest first, pipeline NULL = all, at most
 * `limit`) to the array `runs`. 0 or the store's -errno. */
int dagd_history_add_runs(struct dagd_store *s, const char *pipeline, size_t limit, cJSON *runs);
/* The reply of `show` for a stored run: {run, steps: [...], checks: [...]}. 0 with
 * *ret set, -ENOENT for an unknown run, or the store's -errno. */
int dagd_history_show(struct dagd_store *s, const char *run_id, cJSON **ret);

#endif
