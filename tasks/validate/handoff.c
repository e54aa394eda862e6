/* Double-buffered batches between two threads (see handoff.h). The
 * buffers are used in turn, 0, 1, 0, ...: the consumer takes them in the
 * order the producer published them. */
#include "handoff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dagd_handoff_init(struct dagd_handoff *h, size_t elem_size, size_t cap)
{
    memset(h, 0, sizeof(*h));
    (void)pthread_mutex_init(&h->mu, NULL);
    (void)pthread_cond_init(&h->cv, NULL);
    h->elem_size = elem_size;
    h->cap = cap;
    for (int i = 0; i < 2; i++) {
        h->buf[i] = malloc(elem_size * cap);
        if (!h->buf[i]) {
            abort();
        }
    }
}

void dagd_handoff_done(struct dagd_handoff *h)
{
    free(h->buf[0]);
    free(h->buf[1]);
    (void)pthread_cond_destroy(&h->cv);
    (void)pthread_mutex_destroy(&h->mu);
}

void *dagd_handoff_slot(struct dagd_handoff *h)
{
    /* the producer owns buf[fill] while it is not full: no lock */
    return h->buf[h->fill] + h->n[h->fill] * h->elem_size;
}

int dagd_handoff_commit(struct dagd_handoff *h)
{
    int r = 0;

    if (++h->n[h->fill] < h->cap) {
        return 0;
    }
    (void)pthread_mutex_lock(&h->mu);
    if (h->stop) {
        r = -ECANCELED;
    } else {
        h->full[h->fill] = true;
        h->fill ^= 1;
        (void)pthread_cond_broadcast(&h->cv);
        while (h->full[h->fill] && !h->stop) {
            (void)pthread_cond_wait(&h->cv, &h->mu);
        }
        r = h->stop ? -ECANCELED : 0;
    }
    (void)pthread_mutex_unlock(&h->mu);
    return r;
}

void dagd_handoff_finish(struct dagd_handoff *h, int r)
{
    (void)pthread_mutex_lock(&h->mu);
    if (r >= 0 && !h->stop && h->n[h->fill] > 0) {
        h->full[h->fill] = true;
    }
    h->done = true;
    h->r = r;
    (void)pthread_cond_broadcast(&h->cv);
    (void)pthread_mutex_unlock(&h->mu);
}

size_t dagd_handoff_take(struct dagd_handoff *h, void **ret_buf)
{
    size_t n = 0;

    (void)pthread_mutex_lock(&h->mu);
    while (!h->full[h->drain] && !h->done) {
        (void)pthread_cond_wait(&h->cv, &h->mu);
    }
    if (h->full[h->drain]) {
        n = h->n[h->drain];
        *ret_buf = h->buf[h->drain];
    }
    (void)pthread_mutex_unlock(&h->mu);
    return n;
}

void dagd_handoff_release(struct dagd_handoff *h)
{
    (void)pthread_mutex_lock(&h->mu);
    h->full[h->drain] = false;
    h->n[h->drain] = 0;
    h->drain ^= 1;
    (void)pthread_cond_broadcast(&h->cv);
    (void)pthread_mutex_unlock(&h->mu);
}

void dagd_handoff_stop(struct dagd_handoff *h)
{
    (void)pthread_mutex_lock(&h->mu);
    h->stop = true;
    (void)pthread_cond_broadcast(&h->cv);
    (void)pthread_mutex_unlock(&h->mu);
}
