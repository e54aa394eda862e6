/* See trigger.h: the submit path shared by schedules.c and sensors.c. */
#include "trigger.h"

#include "partitions.h"

int dagd_trigger_submit(const struct dagd_trigger_host *h, const char *pipeline,
                        const char *trigger, char *const *overrides, size_t n_overrides, int64_t at,
                        const char *run_id, char ret_run_id[static 33], char **reterr_reason)
{
    struct dagd_pipeline *p = dagd_registry_get(h->registry, pipeline);
    struct dagd_diags diags = {0};
    struct dagd_run_options opts = {
        .trigger = trigger,
        .param_overrides = overrides,
        .n_param_overrides = n_overrides,
        .run_id = run_id,
    };
    int r;

    if (!p) {
        *reterr_reason = dagd_xasprintf("pipeline '%s' is not loaded", pipeline);
        return -ENOENT;
    }
    /* A pipeline partitioned by time runs the partition that just closed. */
    _cleanup_free_ char *partition = NULL;
    if (p->partitions && dagd_partitions_last_closed(p->partitions, at, &partition) == 0) {
        opts.partition = partition;
    }
    r = h->submit(h->userdata, p, &opts, ret_run_id, &diags);
    if (r == -ESHUTDOWN) {
        *reterr_reason = dagd_xstrdup("the daemon is shutting down");
    } else if (r == -ENOBUFS && diags.n > 0) {
        *reterr_reason = dagd_xstrdup(diags.items[0].message); /* the queue is full */
    } else if (r < 0) {
        *reterr_reason = diags.n > 0 ? dagd_diags_summary(&diags)
                                     : dagd_xasprintf("cannot start a run: %s", strerror(-r));
    }
    dagd_diags_done(&diags);
    return r;
}
