/* See actions.h. */
#include "actions.h"

#include "log.h"
#include "run_poll.h"

static int submit(struct dagd_daemon *d, struct dagd_pipeline *p,
                  const struct dagd_run_options *opts, const char *who, char ret_run_id[static 33],
                  char **reterr_msg)
{
    struct dagd_diags diags = {0};
    int r = dagd_daemon_submit(d, p, opts, ret_run_id, &diags);
    if (r < 0) {
        *reterr_msg = r == -ESHUTDOWN ? dagd_xstrdup("the daemon is shutting down")
                      : diags.n > 0   ? dagd_diags_summary(&diags)
                                      : dagd_xstrdup(strerror(-r));
        dagd_diags_done(&diags);
        return r;
    }
    dagd_diags_done(&diags);
    dagd_log_info("Run %s of '%s' submitted (trigger %s) by %s", ret_run_id, p->name, opts->trigger,
                  who);
    return 0;
}

int dagd_action_run(struct dagd_daemon *d, const char *pipeline, const char *who,
                    char ret_run_id[static 33], char **reterr_msg)
{
    struct dagd_pipeline *p = dagd_registry_get(d->registry, pipeline);
    if (!p) {
        *reterr_msg = dagd_xasprintf("no loaded pipeline '%.128s'", pipeline);
        return -ENOENT;
    }
    struct dagd_run_options opts = {.trigger = "cli"};
    return submit(d, p, &opts, who, ret_run_id, reterr_msg);
}

int dagd_action_cancel(struct dagd_daemon *d, const char *run_id, const char *who)
{
    int r = dagd_daemon_cancel(d, run_id);
    if (r >= 0) {
        dagd_log_info("Run %s: cancel requested by %s", run_id, who);
    }
    return r;
}

int dagd_action_retry(struct dagd_daemon *d, const char *run_id, const char *who,
                      char ret_run_id[static 33], char **reterr_msg)
{
    struct dagd_run_info parent = {0};
    if (dagd_run_queue_is_active(d->queue, run_id) ||
        (d->standby && dagd_run_poll_active(d->store, run_id))) {
        *reterr_msg = dagd_xasprintf("run %s has not ended yet: cancel it or wait", run_id);
        return -EBUSY;
    }
    int r = dagd_store_run_get(d->store, run_id, &parent);
    if (r < 0) {
        *reterr_msg = dagd_xasprintf("no run '%s'", run_id);
        return r == -ENOENT ? -ENOENT : -EIO;
    }
    struct dagd_pipeline *p = dagd_registry_get(d->registry, parent.pipeline);
    if (!p) {
        *reterr_msg = dagd_xasprintf("no loaded pipeline '%.128s'", parent.pipeline);
        dagd_run_info_done(&parent);
        return -ENOENT;
    }
    size_t n = 0;
    char **overrides = dagd_params_overrides_from_json(&p->params, parent.params_json, &n);
    struct dagd_run_options opts = {
        .trigger = "retry",
        .param_overrides = overrides,
        .n_param_overrides = n,
        .parent_run_id = run_id,
    };
    r = submit(d, p, &opts, who, ret_run_id, reterr_msg);
    for (size_t i = 0; i < n; i++) {
        free(overrides[i]);
    }
    free(overrides);
    dagd_run_info_done(&parent);
    return r;
}
