/* See relay.h: the leader's LISTEN connection on the loop. */
#include "relay.h"

#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

#define RELAY_RETRY_MS 1000

struct dagd_relay {
    struct dagd_relay_host host;
    uv_poll_t poll;
    uv_timer_t retry;
    bool polling; /* poll is initialized (closed with the listener) */
    /* The poll's own dup of libpq's socket (as store_io.c does): libpq
     * closes its descriptor when the connection drops, and the number may
     * be reused at once; the dup stays ours until the poll is closed. */
    int poll_fd;
    bool lost; /* the connection is down (logged once per outage) */
    bool freeing;
    bool rescan;   /* a read of the whole durable queue failed: try again */
    unsigned open; /* handles not closed yet */
    struct dagd_store_listener *listener;
};

static void on_retry(uv_timer_t *t);

/* Read the whole durable queue; when the history cannot be read (the
 * LISTEN connection may come back before the store's), again later. */
static void rescan(struct dagd_relay *r)
{
    bool failed = r->host.take(r->host.userdata, NULL) < 0;
    if (failed && !r->rescan) {
        dagd_log_warning("Cannot read the durable queue for the standbys' runs yet (the run "
                         "history is away); trying again every %u ms",
                         RELAY_RETRY_MS);
    }
    r->rescan = failed;
    if (failed) {
        (void)uv_timer_start(&r->retry, on_retry, RELAY_RETRY_MS, 0);
    }
}

static void on_notify(const char *payload, void *userdata)
{
    struct dagd_relay *r = userdata;
    size_t run_len = strlen(DAGD_RELAY_RUN), cancel_len = strlen(DAGD_RELAY_CANCEL),
           bf_len = strlen(DAGD_RELAY_BACKFILL_CANCEL);

    if (strncmp(payload, DAGD_RELAY_RUN, run_len) == 0 && strlen(payload + run_len) == 32) {
        if (r->host.take(r->host.userdata, payload + run_len) < 0) {
            /* The run is recorded: the next full read takes it up. */
            r->rescan = true;
            (void)uv_timer_start(&r->retry, on_retry, RELAY_RETRY_MS, 0);
        }
    } else if (strncmp(payload, DAGD_RELAY_CANCEL, cancel_len) == 0 &&
               strlen(payload + cancel_len) == 32) {
        const char *id = payload + cancel_len;
        int k = dagd_run_queue_cancel(r->host.queue, id);
        if (k >= 0) {
            dagd_log_info("Run %s: cancel requested through a standby", id);
        }
    } else if (streq(payload, DAGD_RELAY_QUEUE)) {
        rescan(r);
    } else if (strncmp(payload, DAGD_RELAY_BACKFILL_CANCEL, bf_len) == 0 &&
               strlen(payload + bf_len) == 32) {
        size_t n = dagd_run_queue_cancel_backfill(r->host.queue, payload + bf_len);
        dagd_log_info("Backfill %s: canceled through a standby (%zu queued runs)", payload + bf_len,
                      n);
    } else {
        dagd_log_debug("%s: ignoring '%.64s' on %s", __func__, payload, DAGD_STORE_CHANNEL);
    }
}

static void close_poll_fd(struct dagd_relay *r)
{
    if (r->poll_fd >= 0) {
        (void)close(r->poll_fd);
        r->poll_fd = -1;
    }
}

static void on_closed(uv_handle_t *h)
{
    struct dagd_relay *r = h->data;
    if (h == (uv_handle_t *)&r->poll) {
        close_poll_fd(r);
    }
    if (--r->open == 0 && r->freeing) {
        r->listener = dagd_store_listener_free(r->listener);
        free(r);
    }
}

static void on_poll_closed(uv_handle_t *h)
{
    struct dagd_relay *r = h->data;
    r->listener = dagd_store_listener_free(r->listener);
    on_closed(h);
}

static void drop(struct dagd_relay *r, const char *why)
{
    if (!r->lost) {
        dagd_log_warning("%s; taking the standbys' requests up again when it is back "
                         "(retrying every %u ms)",
                         why, RELAY_RETRY_MS);
    }
    r->lost = true;
    if (r->polling) {
        r->polling = false;
        uv_close((uv_handle_t *)&r->poll, on_poll_closed);
    } else {
        r->listener = dagd_store_listener_free(r->listener);
    }
    (void)uv_timer_start(&r->retry, on_retry, RELAY_RETRY_MS, 0);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    struct dagd_relay *r = p->data;
    _cleanup_free_ char *msg = NULL;

    if (status < 0 || dagd_store_listener_read(r->listener, on_notify, r, &msg) < 0) {
        drop(r, msg ? msg : "Lost the LISTEN connection");
    }
}

static void connect_listener(struct dagd_relay *r, bool again)
{
    _cleanup_free_ char *msg = NULL;

    if (r->polling || r->freeing) {
        return;
    }
    r->listener = dagd_store_listener_free(r->listener);
    if (dagd_store_listener_new(r->host.conninfo, &r->listener, &msg) < 0) {
        if (!r->lost) {
            dagd_log_warning("Cannot listen for the standbys' requests: %s; retrying every %u ms",
                             msg, RELAY_RETRY_MS);
        }
        r->lost = true;
        (void)uv_timer_start(&r->retry, on_retry, RELAY_RETRY_MS, 0);
        return;
    }
    r->poll_fd = fcntl(dagd_store_listener_fd(r->listener), F_DUPFD_CLOEXEC, 3);
    if (r->poll_fd < 0 || uv_poll_init(r->host.loop, &r->poll, r->poll_fd) < 0) {
        close_poll_fd(r);
        r->listener = dagd_store_listener_free(r->listener);
        r->lost = true;
        (void)uv_timer_start(&r->retry, on_retry, RELAY_RETRY_MS, 0);
        return;
    }
    r->poll.data = r;
    r->polling = true;
    r->open++;
    (void)uv_poll_start(&r->poll, UV_READABLE, on_readable);
    if (r->lost) {
        dagd_log_info("Listening for the standbys' requests again");
        r->lost = false;
    }
    if (again) {
        /* What a standby recorded while nobody listened. */
        rescan(r);
    }
}

static void on_retry(uv_timer_t *t)
{
    struct dagd_relay *r = t->data;
    if (r->polling) {
        rescan(r); /* listening: only the read failed */
    } else {
        connect_listener(r, true);
    }
}

struct dagd_relay *dagd_relay_new(const struct dagd_relay_host *host)
{
    struct dagd_relay *r = dagd_xcalloc(1, sizeof(*r));
    r->host = *host;
    (void)uv_timer_init(host->loop, &r->retry);
    r->retry.data = r;
    r->open = 1;
    r->poll_fd = -1;
    /* The daemon reads the durable queue after this: a run recorded from
     * now on is either read there or notified here. */
    connect_listener(r, false);
    return r;
}

struct dagd_relay *dagd_relay_free(struct dagd_relay *r)
{
    if (!r) {
        return NULL;
    }
    r->freeing = true;
    if (r->polling) {
        r->polling = false;
        uv_close((uv_handle_t *)&r->poll, on_closed);
    }
    uv_close((uv_handle_t *)&r->retry, on_closed);
    return NULL;
}
