/* Schedules of `dagd serve` (DESIGN 3b): one libuv timer per schedule of
 * every active pipeline, armed for the schedule's next cron boundary (no
 * polling loop). A tick submits a run to the run queue with trigger
 * `schedule` and the schedule's params, and is recorded in the store's
 * `ticks` table (status `started`, `failed` with the reason, or `skipped`
 * while the schedule's previous run is still queued). On the
 * first sync after start, ticks missed while the daemon was down (since the
 * schedule's newest recorded tick) are run, up to `catchup` of them, the
 * newest ones; older missed ticks are recorded once as `skipped`.
 *
 * Owns its timers and entries; reads the registry, submits through the
 * host's submit and writes ticks to the host's store (trigger.h).
 * Single-threaded (the loop). */
#ifndef DAGD_SCHEDULES_H
#define DAGD_SCHEDULES_H

#include <stdint.h>

#include "trigger.h"

struct dagd_schedules;

/* Schedules on `host` (copied; its pointers are borrowed). Nothing is armed
 * until the first sync. */
struct dagd_schedules *dagd_schedules_new(const struct dagd_trigger_host *host);
/* Stop every timer and free (handles are freed in their close callbacks, so
 * run the loop once more afterwards). Accepts NULL; returns NULL. */
struct dagd_schedules *dagd_schedules_free(struct dagd_schedules *s);

/* Bring the timers in line with the registry's active pipelines: new
 * schedules are armed, changed ones (cron, timezone, params, catchup)
 * re-armed, removed ones stopped. Call after every reload. The first call
 * also runs the catch-up of missed ticks. */
void dagd_schedules_sync(struct dagd_schedules *s);

/* Number of armed schedules. */
size_t dagd_schedules_count(const struct dagd_schedules *s);

/* The armed schedules as a new JSON array of {kind: "schedule", pipeline,
 * name, cron, timezone, next} (next: epoch ms of the armed boundary, null
 * when it never fires again). */
struct cJSON *dagd_schedules_to_json(const struct dagd_schedules *s);

#endif
