/* See read_pool.h. */
#include "read_pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"
#include "store_io.h"
#include "util.h"

struct reader {
    struct dagd_store *s; /* NULL until first used, or after it failed */
    bool busy;
};

struct read_req {
    struct read_req *next; /* the queue of settled reads waiting for a connection */
    struct dagd_read_pool *pool;
    uv_work_t work;
    struct dagd_store_settle *settle;
    struct reader *reader;
    dagd_read_work_fn fn;
    dagd_read_done_fn done;
    void *userdata;
    int r;
    bool unavailable;
    char errmsg[512];
};

struct dagd_read_pool {
    uv_loop_t *loop;
    struct dagd_store *main;
    char *conninfo;
    struct reader *readers;
    unsigned n_readers;
    struct read_req *head, **tail; /* settled, waiting for a free reader */
    struct read_req **settling;    /* waiting for their fence */
    size_t n_settling;
    unsigned n_running;
    bool closing;
};

static void release(struct dagd_read_pool *p)
{
    for (unsigned i = 0; i < p->n_readers; i++) {
        p->readers[i].s = dagd_store_free(p->readers[i].s);
    }
    free(p->readers);
    free(p->settling);
    free(p->conninfo);
    free(p);
}

/* In the worker thread. */
static void on_work(uv_work_t *w)
{
    struct read_req *q = w->data;
    struct reader *rd = q->reader;
    if (!rd->s) {
        q->r = dagd_store_open_location_readonly(q->pool->conninfo, &rd->s);
        if (q->r < 0) {
            (void)snprintf(q->errmsg, sizeof(q->errmsg), "%s", dagd_store_errmsg(NULL));
            q->unavailable = q->r == -ECONNREFUSED || q->r == -EIO;
            rd->s = NULL;
            return;
        }
    }
    q->r = q->fn(rd->s, q->userdata);
    if (q->r < 0) {
        (void)snprintf(q->errmsg, sizeof(q->errmsg), "%s", dagd_store_errmsg(rd->s));
        q->unavailable = dagd_store_unavailable(rd->s) || q->r == -EIO;
        /* A session in an unknown state is not kept: the next read opens
         * another. */
        rd->s = dagd_store_free(rd->s);
    }
}

static void kick(struct dagd_read_pool *p);

static void on_after_work(uv_work_t *w, int status)
{
    struct read_req *q = w->data;
    struct dagd_read_pool *p = q->pool;
    if (status == UV_ECANCELED) {
        q->r = -ECANCELED;
        (void)snprintf(q->errmsg, sizeof(q->errmsg), "the daemon is stopping");
    }
    q->reader->busy = false;
    p->n_running--;
    q->done(q->userdata, q->r, q->errmsg, q->unavailable);
    free(q);
    if (p->closing) {
        if (p->n_running == 0) {
            release(p);
        }
        return;
    }
    kick(p);
}

/* Start the queued reads there are free readers for, oldest first. */
static void kick(struct dagd_read_pool *p)
{
    while (p->head) {
        struct reader *rd = NULL;
        for (unsigned i = 0; i < p->n_readers && !rd; i++) {
            if (!p->readers[i].busy) {
                rd = &p->readers[i];
            }
        }
        if (!rd) {
            return;
        }
        struct read_req *q = p->head;
        p->head = q->next;
        if (!p->head) {
            p->tail = &p->head;
        }
        rd->busy = true;
        q->reader = rd;
        q->work.data = q;
        p->n_running++;
        if (uv_queue_work(p->loop, &q->work, on_work, on_after_work) < 0) {
            rd->busy = false;
            p->n_running--;
            q->done(q->userdata, -EIO, "cannot start a read", false);
            free(q);
        }
    }
}

static void settling_remove(struct dagd_read_pool *p, struct read_req *q)
{
    for (size_t i = 0; i < p->n_settling; i++) {
        if (p->settling[i] == q) {
            p->settling[i] = p->settling[--p->n_settling];
            return;
        }
    }
}

static void enqueue(struct dagd_read_pool *p, struct read_req *q)
{
    q->next = NULL;
    *p->tail = q;
    p->tail = &q->next;
    kick(p);
}

static void on_settled(void *userdata, int r)
{
    struct read_req *q = userdata;
    struct dagd_read_pool *p = q->pool;
    q->settle = NULL;
    settling_remove(p, q);
    if (r < 0) {
        /* The server went away before the daemon's writes got there. */
        q->done(q->userdata, -EIO, "run history unavailable: PostgreSQL is down, reconnecting",
                true);
        free(q);
        return;
    }
    enqueue(p, q);
}

struct dagd_read_pool *dagd_read_pool_new(uv_loop_t *loop, struct dagd_store *main,
                                          const char *conninfo, unsigned size)
{
    if (size == 0 || !conninfo) {
        return NULL;
    }
    struct dagd_read_pool *p = dagd_xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->main = main;
    p->conninfo = dagd_xstrdup(conninfo);
    p->readers = dagd_xcalloc(size, sizeof(*p->readers));
    p->n_readers = size;
    p->tail = &p->head;
    return p;
}

int dagd_read_pool_submit(struct dagd_read_pool *p, dagd_read_work_fn work, dagd_read_done_fn done,
                          void *userdata)
{
    if (p->closing || dagd_store_unavailable(p->main)) {
        return -EAGAIN;
    }
    struct read_req *q = dagd_xcalloc(1, sizeof(*q));
    q->pool = p;
    q->fn = work;
    q->done = done;
    q->userdata = userdata;
    q->settle = dagd_store_settle(p->loop, p->main, on_settled, q);
    if (!q->settle) {
        enqueue(p, q); /* nothing of the daemon's is on its way */
        return 0;
    }
    p->settling = dagd_xreallocarray(p->settling, p->n_settling + 1, sizeof(*p->settling));
    p->settling[p->n_settling++] = q;
    return 0;
}

struct dagd_read_pool *dagd_read_pool_free(struct dagd_read_pool *p)
{
    if (!p) {
        return NULL;
    }
    p->closing = true;
    while (p->n_settling > 0) {
        struct read_req *q = p->settling[--p->n_settling];
        q->settle = dagd_store_settle_cancel(q->settle);
        q->done(q->userdata, -ECANCELED, "the daemon is stopping", false);
        free(q);
    }
    while (p->head) {
        struct read_req *q = p->head;
        p->head = q->next;
        q->done(q->userdata, -ECANCELED, "the daemon is stopping", false);
        free(q);
    }
    p->tail = &p->head;
    if (p->n_running == 0) {
        release(p);
    }
    return NULL;
}
