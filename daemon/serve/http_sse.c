/* See http_sse.h. One stream per client; everything runs on the daemon's
 * loop: the run queue's watch callbacks mark a stream dirty and resume its
 * connection, and libmicrohttpd then calls sse_read() from MHD_run(), which
 * fills the stream's buffer from state.db and hands it out. */
#include "http_sse.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <uv.h>

#include "history_json.h"
#include "http_mhd.h"
#include "log.h"
#include "run_poll.h"

/* A batch read from state.db per refill; the buffer stops growing past
 * BUF_SOFT_MAX (the rest is read at the next refill), so a client that does
 * not read holds at most about this much. */
#define BATCH_EVENTS 200
#define BUF_SOFT_MAX (64u * 1024u)
/* libmicrohttpd's buffer per call of sse_read(). */
#define BLOCK_SIZE 8192

struct stream {
    struct stream *prev, *next;
    struct dagd_http_sse *s;
    struct MHD_Connection *conn;
    char run_id[33];
    char *step; /* NULL = every step */
    int64_t last_seq;
    int watch_id; /* 0 = not watching */
    /* On a standby the leader runs it: the history is looked at instead
     * (run_poll.h), and new events stand for a change of the run. */
    struct dagd_run_poll *poll;
    bool remote;
    bool suspended;
    bool pending;  /* events may be stored after last_seq */
    bool changed;  /* a step or the run changed since the last `run` event */
    bool finished; /* the run is over: send `end` once caught up */
    bool beat;     /* the heartbeat is due */
    bool closing;  /* end the stream when the buffer is out */
    char *buf;
    size_t len, off;
};

struct dagd_http_sse {
    struct dagd_daemon *d;
    unsigned max_streams, n_streams;
    struct stream *streams;
    uv_timer_t heartbeat;
    bool timer_open, freeing;
    void (*kick)(void *userdata);
    void *kick_data;
};

static void on_timer_closed(uv_handle_t *h)
{
    struct dagd_http_sse *s = h->data;
    s->timer_open = false;
    if (s->freeing && s->n_streams == 0) {
        free(s);
    }
}

/* Let libmicrohttpd call sse_read() again: resume, and have the listener
 * run MHD soon (in external-epoll mode MHD's resume does not wake its epoll
 * fd by itself). */
static void wake(struct stream *c)
{
    if (c->suspended) {
        c->suspended = false;
        MHD_resume_connection(c->conn);
        c->s->kick(c->s->kick_data);
    }
}

static void unwatch(struct stream *c)
{
    if (c->watch_id > 0) {
        dagd_run_queue_unwatch(c->s->d->queue, c->watch_id);
        c->watch_id = 0;
    }
    c->poll = dagd_run_poll_free(c->poll);
}

/* A web page is fine with a second's delay; each look is a read. */
#define REMOTE_POLL_MS 1000

static void on_remote_poll(bool ended, void *userdata)
{
    struct stream *c = userdata;
    c->pending = true;
    if (ended) {
        c->finished = true;
        c->changed = true;
        unwatch(c);
    }
    wake(c);
}

/* Whether the client hung up. A suspended connection does not notice, and
 * the first write after a hang-up still succeeds (the peer answers with a
 * reset), so without this a gone client would hold its slot for two
 * heartbeats. */
static bool client_gone(const struct stream *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info) {
        return false;
    }
    struct pollfd p = {.fd = info->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) {
        return false;
    }
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void on_heartbeat(uv_timer_t *t)
{
    struct dagd_http_sse *s = t->data;
    for (struct stream *c = s->streams; c; c = c->next) {
        if (client_gone(c)) {
            unwatch(c);
            c->closing = true;
        } else {
            c->beat = true;
        }
        wake(c);
    }
}

static void on_run_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct stream *c = userdata;
    switch (ev->kind) {
    case DAGD_EXEC_LOG:
        c->pending = true;
        break;
    default:
        if (ev->kind == DAGD_EXEC_RUN_FINISHED) {
            c->finished = true;
            unwatch(c);
        }
        /* Step changes are stored as events too (with seq > 0). */
        c->pending = c->pending || ev->seq > 0;
        c->changed = true;
        break;
    }
    wake(c);
}

static void buf_printf(struct stream *c, const char *fmt, ...) _printf_(2, 3);
static void buf_printf(struct stream *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort(); /* out of memory, as dagd_xmalloc would */
    }
    c->buf = dagd_xrealloc(c->buf, c->len + (size_t)n);
    memcpy(c->buf + c->len, text, (size_t)n);
    c->len += (size_t)n;
    free(text);
}

/* The next batch of stored events; false when the store has no more (or
 * cannot be read: the stream ends then, the client reconnects or polls). */
static bool refill_events(struct stream *c)
{
    struct dagd_event_info *evs = NULL;
    size_t n = 0;
    if (dagd_store_events_list(c->s->d->store, c->run_id, c->step, c->last_seq, BATCH_EVENTS, &evs,
                               &n) < 0) {
        dagd_log_warning("HTTP stream of run %s: cannot read events: %s, closing it", c->run_id,
                         dagd_store_errmsg(c->s->d->store));
        c->closing = true;
        return false;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "events");
    size_t used = 0, bytes = 0;
    for (; used < n && bytes < BUF_SOFT_MAX; used++) {
        bytes += strlen(evs[used].message ? evs[used].message : "") + 128;
        cJSON_AddItemToArray(a, dagd_history_event_json(&evs[used]));
        c->last_seq = evs[used].seq;
    }
    bool more = used < n || n == BATCH_EVENTS;
    for (size_t i = 0; i < n; i++) {
        dagd_event_info_done(&evs[i]);
    }
    free(evs);
    if (used > 0) {
        cJSON_AddNumberToObject(o, "last_seq", (double)c->last_seq);
        _cleanup_free_ char *json = cJSON_PrintUnformatted(o);
        if (!json) {
            abort();
        }
        /* cJSON escapes newlines, so the data is one line, as SSE needs. */
        buf_printf(c, "id: %" PRId64 "\nevent: events\ndata: %s\n\n", c->last_seq, json);
    }
    cJSON_Delete(o);
    return more;
}

/* Fill the empty buffer with what is due, in order: stored events, a `run`
 * hint, the end, a heartbeat. */
static void refill(struct stream *c)
{
    c->len = c->off = 0;
    if (c->pending) {
        c->pending = refill_events(c);
        /* Step and run changes are stored as events too. */
        c->changed = c->changed || (c->remote && c->len > 0);
        if (c->len > 0 || c->closing) {
            return;
        }
    }
    if (c->changed) {
        c->changed = false;
        buf_printf(c, "event: run\ndata: {}\n\n");
        return;
    }
    if (c->finished) {
        struct dagd_run_info r = {0};
        const char *status = "unknown";
        if (dagd_store_run_get(c->s->d->store, c->run_id, &r) >= 0) {
            status = dagd_run_status_to_string(r.status);
        }
        buf_printf(c, "event: end\ndata: {\"status\":\"%s\"}\n\n", status);
        dagd_run_info_done(&r);
        c->closing = true;
        return;
    }
    if (c->beat) {
        c->beat = false;
        buf_printf(c, ": keep-alive\n\n");
    }
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *c = cls;

    if (c->off == c->len && !(c->closing && c->len == 0)) {
        refill(c);
    }
    if (c->off < c->len) {
        size_t n = c->len - c->off < max ? c->len - c->off : max;
        memcpy(out, c->buf + c->off, n);
        c->off += n;
        if (c->off == c->len) {
            /* Give the memory back between events. */
            free(c->buf);
            c->buf = NULL;
            c->len = c->off = 0;
        }
        return (ssize_t)n;
    }
    if (c->closing) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* Nothing due: wait for a watch callback or the heartbeat (returning 0
     * without suspending would make MHD call again at once). */
    c->suspended = true;
    MHD_suspend_connection(c->conn);
    return 0;
}

/* The response is destroyed: the connection is closed (client gone, end of
 * stream, or the listener stopping). */
static void sse_free(void *cls)
{
    struct stream *c = cls;
    struct dagd_http_sse *s = c->s;

    unwatch(c);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->streams = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    s->n_streams--;
    free(c->step);
    free(c->buf);
    free(c);
    if (s->n_streams == 0 && s->timer_open && !s->freeing) {
        (void)uv_timer_stop(&s->heartbeat);
    }
    if (s->freeing && s->n_streams == 0 && !s->timer_open) {
        free(s);
    }
}

int dagd_http_sse_open(struct dagd_http_sse *s, struct MHD_Connection *conn, const char *run_id,
                       const char *step, int64_t after, struct MHD_Response **ret)
{
    struct dagd_daemon *d = s->d;
    bool queued = dagd_run_queue_is_queued(d->queue, run_id);
    struct dagd_run_info r = {0};
    bool active = queued;

    if (s->freeing || s->n_streams >= s->max_streams) {
        return -EBUSY;
    }
    if (!queued) {
        int k = dagd_store_run_get(d->store, run_id, &r);
        if (k == -ENOENT) {
            return -ENOENT;
        }
        if (k < 0) {
            return -EIO;
        }
        active = r.status == DAGD_RUN_QUEUED || r.status == DAGD_RUN_RUNNING;
        dagd_run_info_done(&r);
    }
    struct stream *c = dagd_xcalloc(1, sizeof(*c));
    c->s = s;
    c->conn = conn;
    memcpy(c->run_id, run_id, 32);
    c->step = step ? dagd_xstrdup(step) : NULL;
    c->last_seq = after;
    c->pending = true;
    /* Checked and watched in one turn of the loop: the run cannot end in
     * between unseen. A finished run's stream sends what is stored after
     * `after`, then `end`. */
    c->finished = !active;
    c->changed = active;
    if (active && d->standby) {
        c->remote = true;
        c->poll = dagd_run_poll_new(d->loop, d->store, run_id, REMOTE_POLL_MS, on_remote_poll, c);
    } else if (active) {
        c->watch_id = dagd_run_queue_watch(d->queue, run_id, on_run_event, c);
    }
    struct MHD_Response *res =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE, sse_read, c, sse_free);
    if (!res) {
        unwatch(c);
        free(c->step);
        free(c);
        return -ENOMEM;
    }
    c->next = s->streams;
    if (s->streams) {
        s->streams->prev = c;
    }
    s->streams = c;
    if (s->n_streams++ == 0) {
        (void)uv_timer_start(&s->heartbeat, on_heartbeat, DAGD_HTTP_SSE_HEARTBEAT_MS,
                             DAGD_HTTP_SSE_HEARTBEAT_MS);
    }
    *ret = res;
    return 0;
}

struct dagd_http_sse *dagd_http_sse_new(struct dagd_daemon *d, unsigned max_streams,
                                        void (*kick)(void *userdata), void *userdata)
{
    struct dagd_http_sse *s = dagd_xcalloc(1, sizeof(*s));
    s->d = d;
    s->kick = kick;
    s->kick_data = userdata;
    s->max_streams = max_streams;
    (void)uv_timer_init(d->loop, &s->heartbeat);
    s->heartbeat.data = s;
    s->timer_open = true;
    return s;
}

void dagd_http_sse_close_all(struct dagd_http_sse *s)
{
    if (!s) {
        return;
    }
    for (struct stream *c = s->streams; c; c = c->next) {
        unwatch(c);
        c->closing = true;
        wake(c);
    }
}

struct dagd_http_sse *dagd_http_sse_free(struct dagd_http_sse *s)
{
    if (!s) {
        return NULL;
    }
    /* Streams still here (the listener did not stop MHD) no longer reach
     * the set; it goes when the timer is closed. */
    for (struct stream *c = s->streams; c; c = c->next) {
        unwatch(c);
    }
    s->freeing = true;
    (void)uv_timer_stop(&s->heartbeat);
    uv_close((uv_handle_t *)&s->heartbeat, on_timer_closed);
    return NULL;
}

unsigned dagd_http_sse_count(const struct dagd_http_sse *s)
{
    return s ? s->n_streams : 0;
}
