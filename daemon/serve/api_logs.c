/* Command group: logs. The run's stored events (state changes, log lines,
 * stdout/stderr of steps) are streamed as events, oldest first, then the
 * reply; with follow, new events are streamed as the run produces them,
 * until it ends. The store is the source of truth: on each executor event
 * the follower reads what was stored after the last seq it sent, so the
 * history and the live part neither overlap nor leave a gap. */
#include "api.h"
#include "run_poll.h"

#define LOGS_BATCH 500
/* A reader that does not keep up is dropped by the server past its unsent
 * limit; this bounds what one call queues in one go. */
#define LOGS_MAX_PER_FLUSH 20000

struct follower {
    struct dagd_daemon *d;
    struct dagd_server_call *call;
    int watch_id;
    char run_id[33];
    char *step;
    int64_t last_seq;
    bool follow;
    bool truncated; /* the last flush stopped at LOGS_MAX_PER_FLUSH */
    /* A standby follows the leader's run through the history (run_poll.h). */
    struct dagd_run_poll *poll;
};

static void follower_free(struct follower *f)
{
    if (f->watch_id > 0) {
        dagd_run_queue_unwatch(f->d->queue, f->watch_id);
    }
    f->poll = dagd_run_poll_free(f->poll);
    free(f->step);
    free(f);
}

/* Send the stored events after last_seq, at most LOGS_MAX_PER_FLUSH of
 * them (f->truncated then says more are stored; the client asks again with
 * `after`). -EPIPE if the client is gone. */
static int flush(struct follower *f)
{
    size_t sent = 0;

    f->truncated = false;
    for (;;) {
        struct dagd_event_info *evs = NULL;
        size_t n = 0;
        int r = dagd_store_events_list(f->d->store, f->run_id, f->step, f->last_seq, LOGS_BATCH,
                                       &evs, &n);
        if (r < 0) {
            return r;
        }
        int k = 0;
        for (size_t i = 0; i < n; i++) {
            if (k >= 0) {
                cJSON *o = dagd_history_event_json(&evs[i]);
                k = dagd_server_call_event(f->call, o);
                f->last_seq = evs[i].seq;
            }
            dagd_event_info_done(&evs[i]);
        }
        free(evs);
        if (k < 0) {
            return k;
        }
        sent += n;
        if (n < LOGS_BATCH) {
            return 0;
        }
        if (sent >= LOGS_MAX_PER_FLUSH) {
            f->truncated = true;
            return 0;
        }
    }
}

static void follower_finish(struct follower *f)
{
    struct dagd_run_info info = {0};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", f->run_id);
    if (dagd_store_run_get(f->d->store, f->run_id, &info) >= 0) {
        cJSON_AddStringToObject(o, "status", dagd_run_status_to_string(info.status));
        dagd_run_info_done(&info);
    }
    cJSON_AddNumberToObject(o, "last_seq", (double)f->last_seq);
    cJSON_AddBoolToObject(o, "truncated", f->truncated);
    dagd_server_call_reply(f->call, o);
    follower_free(f);
}

static void on_follow_abort(struct dagd_server_call *call, void *userdata)
{
    follower_free(userdata);
}

static void on_follow_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct follower *f = userdata;

    if (ev->kind == DAGD_EXEC_STEP_PROGRESS) {
        return; /* progress is not stored as events */
    }
    if (flush(f) < 0) {
        return; /* the client is going away; the abort callback frees f */
    }
    if (ev->kind == DAGD_EXEC_RUN_FINISHED) {
        follower_finish(f);
    }
}

static void on_follow_poll(bool ended, void *userdata)
{
    struct follower *f = userdata;

    if (flush(f) < 0) {
        return; /* the client is going away; the abort callback frees f */
    }
    if (ended) {
        follower_finish(f);
    }
}

static int api_logs(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *prefix = NULL, *step = NULL;
    bool follow = false;
    char run_id[33];
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(params, "after");

    if (after && (!cJSON_IsNumber(after) || after->valuedouble < 0)) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "parameter 'after' must be an event seq (a number >= 0)");
        return 0;
    }
    if (dagd__api_get_string(call, params, "run", true, &prefix) < 0 ||
        dagd__api_get_string(call, params, "step", false, &step) < 0 ||
        dagd__api_get_bool(call, params, "follow", &follow) < 0 ||
        dagd__api_resolve_run(d, call, prefix, run_id) < 0) {
        return 0;
    }
    struct follower *f = dagd_xcalloc(1, sizeof(*f));
    f->d = d;
    f->call = call;
    memcpy(f->run_id, run_id, 33);
    f->step = step ? dagd_xstrdup(step) : NULL;
    f->follow = follow;
    f->last_seq = after ? (int64_t)after->valuedouble : 0;

    /* Watch before reading the history: nothing can slip in between, since
     * both happen in this loop iteration. */
    bool active = dagd_run_queue_is_active(d->queue, run_id);
    if (follow && active) {
        f->watch_id = dagd_run_queue_watch(d->queue, run_id, on_follow_event, f);
        dagd_server_call_set_abort(call, on_follow_abort, f);
    } else if (follow && d->standby && dagd_run_poll_active(d->store, run_id)) {
        /* The leader runs it: follow what it stores. */
        active = true;
        f->poll = dagd_run_poll_new(d->loop, d->store, run_id, 0, on_follow_poll, f);
        dagd_server_call_set_abort(call, on_follow_abort, f);
    }
    int r = flush(f);
    if (r < 0 && r != -EPIPE && r != -ENOBUFS) {
        dagd_server_call_set_abort(call, NULL, NULL);
        follower_free(f);
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot read the events of %s: %s",
                               run_id, dagd_store_errmsg(d->store));
        return 0;
    }
    if (r < 0) {
        /* The client is being dropped; its abort callback (if set) frees f. */
        if (!(follow && active)) {
            follower_free(f);
        }
        return 0;
    }
    if (!(follow && active)) {
        follower_finish(f);
    }
    return 0;
}

const struct dagd_api_command dagd_api_logs_commands[] = {
    {"logs", DAGD_API_READONLY, api_logs},
    {NULL, 0, NULL},
};
