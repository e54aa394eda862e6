/* See store_io.h. */
#include "store_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

struct dagd_store_io_driver {
    uv_loop_t *loop;
    struct dagd_store *store;
    uv_poll_t *poll; /* on a dup of libpq's socket, NULL while there is none */
    unsigned gen;    /* the store's socket generation `poll` watches */
    int events;
    uv_timer_t timer;
    uv_idle_t wake;        /* one more turn of the loop (struct dagd_store_io.answers) */
    uint64_t answers_seen; /* io.answers when last looked */
    unsigned open;         /* handles not closed yet */
};

/* A poll handle owns its fd: a dup of libpq's socket. libpq closes its own
 * descriptor when the connection drops, and the number may come back at
 * once for anything else the daemon opens (a worker's pipe); the dup keeps
 * epoll's registration on the old socket until we close it, here. */
static void on_poll_closed(uv_handle_t *h)
{
    int fd = (int)(intptr_t)h->data;
    if (fd >= 0) {
        (void)close(fd);
    }
    free(h);
}

static void on_poll(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *t);

static void on_wake(uv_idle_t *h)
{
    (void)uv_idle_stop(h);
}

static void poll_drop(struct dagd_store_io_driver *d)
{
    if (!d->poll) {
        return;
    }
    int fd = -1;
    (void)uv_fileno((uv_handle_t *)d->poll, &fd);
    (void)uv_poll_stop(d->poll);
    /* uv_fileno answers no more once closing: keep the fd in data. */
    d->poll->data = (void *)(intptr_t)fd;
    uv_close((uv_handle_t *)d->poll, on_poll_closed);
    d->poll = NULL;
    d->events = 0;
}

/* Make the handles match what the store wants now. */
static void sync_io(struct dagd_store_io_driver *d)
{
    struct dagd_store_io io;
    dagd_store_io_state(d->store, &io);
    if (d->poll && (io.fd < 0 || io.gen != d->gen)) {
        poll_drop(d);
    }
    if (!d->poll && io.fd >= 0) {
        int fd = fcntl(io.fd, F_DUPFD_CLOEXEC, 3);
        if (fd >= 0) {
            uv_poll_t *p = dagd_xcalloc(1, sizeof(*p));
            if (uv_poll_init(d->loop, p, fd) == 0) {
                p->data = d;
                d->poll = p;
                d->gen = io.gen;
            } else {
                free(p);
                (void)close(fd);
            }
        }
    }
    int events = UV_READABLE | (io.want_write ? UV_WRITABLE : 0);
    if (d->poll && events != d->events) {
        (void)uv_poll_start(d->poll, events, on_poll);
        d->events = events;
    }
    if (io.timeout_ms >= 0) {
        (void)uv_timer_start(&d->timer, on_timer, (uint64_t)io.timeout_ms, 0);
    } else {
        (void)uv_timer_stop(&d->timer);
    }
    if (io.answers != d->answers_seen) {
        /* Answers read here or by a call that waited for its own: the loop
         * turns once more without blocking, so that check handles that
         * watch answers (store_io settles, the executor) look again; the
         * socket will not wake it for what libpq has read already. */
        d->answers_seen = io.answers;
        (void)uv_idle_start(&d->wake, on_wake);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct dagd_store_io_driver *d = h->data;
    (void)status;
    (void)events;
    (void)dagd_store_process_io(d->store);
    sync_io(d);
}

static void on_timer(uv_timer_t *t)
{
    struct dagd_store_io_driver *d = t->data;
    (void)dagd_store_process_io(d->store);
    sync_io(d);
}

static void on_store_io(void *userdata)
{
    sync_io(userdata);
}

struct dagd_store_io_driver *dagd_store_io_driver_new(uv_loop_t *loop, struct dagd_store *store)
{
    if (!dagd_store_is_postgresql(store)) {
        return NULL;
    }
    struct dagd_store_io_driver *d = dagd_xcalloc(1, sizeof(*d));
    d->loop = loop;
    d->store = store;
    (void)uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    (void)uv_idle_init(loop, &d->wake);
    d->wake.data = d;
    d->open = 2;
    dagd_store_set_io_fn(store, on_store_io, d);
    return d;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct dagd_store_io_driver *d = h->data;
    if (--d->open == 0) {
        free(d);
    }
}

struct dagd_store_io_driver *dagd_store_io_driver_free(struct dagd_store_io_driver *d)
{
    if (!d) {
        return NULL;
    }
    dagd_store_set_io_fn(d->store, NULL, NULL);
    poll_drop(d);
    (void)uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, on_handle_closed);
    uv_close((uv_handle_t *)&d->wake, on_handle_closed);
    return NULL;
}

/* ---- settling: a fence, looked at after each of the loop's poll phases ---- */

struct dagd_store_settle {
    uv_check_t check; /* first: the handle's close callback frees the struct */
    struct dagd_store *store;
    uint64_t fence;
    dagd_store_settle_fn fn;
    void *userdata;
};

static void on_settle_closed(uv_handle_t *h)
{
    free(h);
}

static void settle_close(struct dagd_store_settle *w)
{
    (void)uv_check_stop(&w->check);
    uv_close((uv_handle_t *)&w->check, on_settle_closed);
}

/* The answers arrive in a poll phase (the driver's on_poll): the check
 * handle sees them right after. A read that waits for its own answer reads
 * every answer before it too, in whatever callback it runs (a timer's: the
 * relay's read of the durable queue), and leaves nothing on the socket to
 * wake the poll; the driver then turns the loop once more (sync_io's idle
 * handle), so this check sees those too instead of the loop blocking until
 * its next timer (the first prune, 60 s after start). */
static void on_settle_check(uv_check_t *h)
{
    struct dagd_store_settle *w = (struct dagd_store_settle *)h;
    int r = dagd_store_fence_passed(w->store, w->fence);
    if (r == 0) {
        return;
    }
    dagd_store_settle_fn fn = w->fn;
    void *userdata = w->userdata;
    settle_close(w);
    fn(userdata, r < 0 ? -EIO : 0);
}

struct dagd_store_settle *dagd_store_settle(uv_loop_t *loop, struct dagd_store *store,
                                            dagd_store_settle_fn fn, void *userdata)
{
    uint64_t fence = 0;
    if (dagd_store_fence(store, &fence) < 0 || fence == 0) {
        return NULL;
    }
    struct dagd_store_settle *w = dagd_xcalloc(1, sizeof(*w));
    w->store = store;
    w->fence = fence;
    w->fn = fn;
    w->userdata = userdata;
    (void)uv_check_init(loop, &w->check);
    (void)uv_check_start(&w->check, on_settle_check);
    return w;
}

struct dagd_store_settle *dagd_store_settle_cancel(struct dagd_store_settle *w)
{
    if (w) {
        dagd_store_fence_drop(w->store, w->fence);
        settle_close(w);
    }
    return NULL;
}
