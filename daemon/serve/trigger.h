/* What schedules and sensors (DESIGN 3b) need from the daemon, and nothing
 * more: the loop their handles run on, the store their ticks and run keys
 * go to, the registry they follow, the queue they ask whether a run is still
 * queued, and one submit callback (the daemon's dagd_daemon_submit). So
 * neither knows the daemon object, and tests can run them on a loop and a
 * store of their own. Borrowed pointers: the daemon owns them all. */
#ifndef DAGD_TRIGGER_H
#define DAGD_TRIGGER_H

#include <uv.h>

#include "executor.h"
#include "registry.h"
#include "run_queue.h"

/* Submit a run of `p` (see dagd_daemon_submit): 0 with the run's id in
 * ret_run_id, or -errno with diagnostics in reterr when it has any. */
typedef int (*dagd_trigger_submit_fn)(void *userdata, struct dagd_pipeline *p,
                                      const struct dagd_run_options *opts,
                                      char ret_run_id[static 33], struct dagd_diags *reterr);

struct dagd_trigger_host {
    uv_loop_t *loop;
    struct dagd_store *store;
    const struct dagd_registry *registry;
    struct dagd_run_queue *queue; /* read: is a run still queued */
    dagd_trigger_submit_fn submit;
    void *userdata;        /* of submit */
    const char *state_dir; /* ${state_dir} in a sensor's watch; borrowed */
};

/* Submit a run of the active pipeline called `pipeline` with trigger
 * `trigger` ("schedule", "sensor") and "key=value" overrides; `run_id` is
 * the id to ask for (32 hex chars). A pipeline partitioned by time gets the
 * partition that had just closed at `at` (Unix seconds: a schedule's
 * boundary, so a catch-up tick runs its own partition, not the newest).
 * 0 with the id the run got in ret_run_id; -errno with a new one-line
 * reason in *reterr_reason otherwise (-ENOENT when no such pipeline is
 * loaded). */
int dagd_trigger_submit(const struct dagd_trigger_host *h, const char *pipeline,
                        const char *trigger, char *const *overrides, size_t n_overrides, int64_t at,
                        const char *run_id, char ret_run_id[static 33], char **reterr_reason);

#endif
