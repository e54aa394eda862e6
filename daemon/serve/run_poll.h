/* Following a run another daemon runs (a standby's `logs --follow` and
 * `run --wait`, docs/postgresql.md "Two daemons, one history"): its events
 * and status are only in the shared history, so a timer looks there (20 ms
 * after the start, then every 100 ms for dagctl, every second for the web
 * UI) and calls back until the run ended. Single-threaded (the loop). */
#ifndef DAGD_RUN_POLL_H
#define DAGD_RUN_POLL_H

#include <stdbool.h>
#include <uv.h>

#include "store.h"

/* Called at each look with whether the run ended (succeeded, failed,
 * canceled, or gone); the poll stops by itself after `ended`, and the
 * callback may free it from there. */
typedef void (*dagd_run_poll_fn)(bool ended, void *userdata);

struct dagd_run_poll;

/* Start looking at run `run_id` of `store` (borrowed: it outlives the
 * poll) every `interval_ms` (0: DAGD_RUN_POLL_MS). Never fails (allocation
 * aborts on OOM). */
#define DAGD_RUN_POLL_MS 100
struct dagd_run_poll *dagd_run_poll_new(uv_loop_t *loop, struct dagd_store *store,
                                        const char *run_id, unsigned interval_ms,
                                        dagd_run_poll_fn fn, void *userdata);
/* Stop; freed in its timer's close callback. NULL is fine; returns NULL. */
struct dagd_run_poll *dagd_run_poll_free(struct dagd_run_poll *p);

/* Whether the history says run `run_id` is queued or running (false when
 * it is not there or cannot be read). */
bool dagd_run_poll_active(struct dagd_store *store, const char *run_id);

#endif
