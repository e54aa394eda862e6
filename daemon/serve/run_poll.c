/* See run_poll.h. */
#include "run_poll.h"

#include "util.h"

/* A look is one indexed read of the run's row (~0.1 ms on a local
 * server): cheap enough at DAGD_RUN_POLL_MS to keep `run --wait` on a
 * standby within ~0.1 s of the leader's. */

#define RUN_POLL_FIRST_MS 20

struct dagd_run_poll {
    uv_timer_t timer;
    struct dagd_store *store;
    char run_id[33];
    dagd_run_poll_fn fn;
    void *userdata;
};

bool dagd_run_poll_active(struct dagd_store *store, const char *run_id)
{
    struct dagd_run_info info = {0};
    if (dagd_store_run_get(store, run_id, &info) < 0) {
        return false;
    }
    bool active = info.status == DAGD_RUN_QUEUED || info.status == DAGD_RUN_RUNNING;
    dagd_run_info_done(&info);
    return active;
}

static void on_timer(uv_timer_t *t)
{
    struct dagd_run_poll *p = t->data;
    bool ended = !dagd_run_poll_active(p->store, p->run_id);
    if (ended) {
        (void)uv_timer_stop(t);
    }
    p->fn(ended, p->userdata);
}

struct dagd_run_poll *dagd_run_poll_new(uv_loop_t *loop, struct dagd_store *store,
                                        const char *run_id, unsigned interval_ms,
                                        dagd_run_poll_fn fn, void *userdata)
{
    unsigned ms = interval_ms ? interval_ms : DAGD_RUN_POLL_MS;
    struct dagd_run_poll *p = dagd_xcalloc(1, sizeof(*p));
    p->store = store;
    (void)snprintf(p->run_id, sizeof(p->run_id), "%s", run_id);
    p->fn = fn;
    p->userdata = userdata;
    (void)uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    /* The first look soon: a short run (a noop step takes ~5 ms on the
     * leader) is over before a whole interval passed. */
    (void)uv_timer_start(&p->timer, on_timer, RUN_POLL_FIRST_MS < ms ? RUN_POLL_FIRST_MS : ms, ms);
    return p;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

struct dagd_run_poll *dagd_run_poll_free(struct dagd_run_poll *p)
{
    if (p) {
        uv_close((uv_handle_t *)&p->timer, on_closed);
    }
    return NULL;
}
