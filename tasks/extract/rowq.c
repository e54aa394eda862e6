/* Row queue: n batch buffers cycle between a free ring (producer takes
 * them) and a full ring (consumer takes them). Rows never span batches: a
 * batch is sent after the row that fills it past batch_bytes. Encoding:
 *   row:   u32 kind, u32 n, u64 row_no, then n values
 *   value: u8 param, u8 type, then i64 | f64 | (u32 len, bytes)
 * (unaligned, read back with memcpy). */
#include "rowq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct batch {
    char *buf;
    size_t len, cap;
    uint64_t total;
};

struct ring {
    unsigned *slot;
    unsigned head, count, cap;
};

struct dagd_rowq {
    pthread_mutex_t mu;
    pthread_cond_t cv_full, cv_free;
    struct batch *b;
    unsigned n;
    struct ring full, freeq;
    bool done, stopped, inited;
    int result;
    size_t batch_bytes;

    /* producer only */
    int cur;
    size_t row_start;
    uint32_t row_n;
    uint64_t total;
    bool row_open;

    /* consumer only */
    int ccur;
    size_t cpos;
};

static void ring_push(struct ring *r, unsigned v)
{
    r->slot[(r->head + r->count) % r->cap] = v;
    r->count++;
}

static unsigned ring_pop(struct ring *r)
{
    unsigned v = r->slot[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return v;
}

struct dagd_rowq *dagd_rowq_new(size_t batch_bytes, unsigned n_batches)
{
    struct dagd_rowq *q = calloc(1, sizeof(*q));

    if (!q) {
        return NULL;
    }
    if (n_batches < 2) {
        n_batches = 2;
    }
    q->n = n_batches;
    q->batch_bytes = batch_bytes;
    q->cur = q->ccur = -1;
    q->b = calloc(n_batches, sizeof(*q->b));
    q->full.slot = calloc(n_batches, sizeof(unsigned));
    q->freeq.slot = calloc(n_batches, sizeof(unsigned));
    q->full.cap = q->freeq.cap = n_batches;
    if (!q->b || !q->full.slot || !q->freeq.slot) {
        return dagd_rowq_free(q);
    }
    for (unsigned i = 0; i < n_batches; i++) {
        q->b[i].cap = batch_bytes + 4096;
        q->b[i].buf = malloc(q->b[i].cap);
        if (!q->b[i].buf) {
            return dagd_rowq_free(q);
        }
        ring_push(&q->freeq, i);
    }
    (void)pthread_mutex_init(&q->mu, NULL);
    (void)pthread_cond_init(&q->cv_full, NULL);
    (void)pthread_cond_init(&q->cv_free, NULL);
    q->inited = true;
    return q;
}

struct dagd_rowq *dagd_rowq_free(struct dagd_rowq *q)
{
    if (!q) {
        return NULL;
    }
    if (q->b) {
        for (unsigned i = 0; i < q->n; i++) {
            free(q->b[i].buf);
        }
    }
    if (q->inited) {
        (void)pthread_mutex_destroy(&q->mu);
        (void)pthread_cond_destroy(&q->cv_full);
        (void)pthread_cond_destroy(&q->cv_free);
    }
    free(q->b);
    free(q->full.slot);
    free(q->freeq.slot);
    free(q);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Producer */

/* Grows the producer's batch for one more value; only a row larger than
 * the remaining room makes a batch exceed batch_bytes. */
static int ensure(struct dagd_rowq *q, size_t need)
{
    struct batch *b = &q->b[q->cur];

    if (b->len + need > b->cap) {
        size_t ncap = b->cap * 2;
        char *nb;
        while (ncap < b->len + need) {
            ncap *= 2;
        }
        nb = realloc(b->buf, ncap);
        if (!nb) {
            return -ENOMEM;
        }
        b->buf = nb;
        b->cap = ncap;
    }
    return 0;
}

static void put(struct dagd_rowq *q, const void *p, size_t n)
{
    struct batch *b = &q->b[q->cur];

    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

/* Takes a free batch if the producer has none; blocks while the consumer
 * holds them all (this is the back-pressure that bounds memory). */
int dagd_rowq_begin(struct dagd_rowq *q, uint32_t kind, uint64_t row_no)
{
    uint32_t zero = 0;

    if (__atomic_load_n(&q->stopped, __ATOMIC_RELAXED)) {
        return -ECANCELED;
    }
    if (q->cur < 0) {
        (void)pthread_mutex_lock(&q->mu);
        while (q->freeq.count == 0 && !q->stopped) {
            (void)pthread_cond_wait(&q->cv_free, &q->mu);
        }
        if (q->stopped) {
            (void)pthread_mutex_unlock(&q->mu);
            return -ECANCELED;
        }
        q->cur = (int)ring_pop(&q->freeq);
        (void)pthread_mutex_unlock(&q->mu);
        q->b[q->cur].len = 0;
    }
    if (ensure(q, 16) < 0) {
        return -ENOMEM;
    }
    q->row_start = q->b[q->cur].len;
    q->row_n = 0;
    q->row_open = true;
    put(q, &kind, 4);
    put(q, &zero, 4);
    put(q, &row_no, 8);
    return 0;
}

/* Writes a value's parameter and type; 0 (nothing written) outside a row
 * or past DAGD_ROWQ_MAX_VALUES. */
static int value_head(struct dagd_rowq *q, uint8_t param, uint8_t type, size_t payload)
{
    if (!q->row_open || q->row_n >= DAGD_ROWQ_MAX_VALUES) {
        return 0;
    }
    if (ensure(q, 2 + payload) < 0) {
        return -ENOMEM;
    }
    put(q, &param, 1);
    put(q, &type, 1);
    q->row_n++;
    return 1;
}

int dagd_rowq_int(struct dagd_rowq *q, uint8_t param, int64_t v)
{
    int r = value_head(q, param, DAGD_ROWQ_INT, 8);

    if (r > 0) {
        put(q, &v, 8);
    }
    return r < 0 ? r : 0;
}

int dagd_rowq_real(struct dagd_rowq *q, uint8_t param, double v)
{
    int r = value_head(q, param, DAGD_ROWQ_REAL, 8);

    if (r > 0) {
        put(q, &v, 8);
    }
    return r < 0 ? r : 0;
}

int dagd_rowq_text(struct dagd_rowq *q, uint8_t param, const char *s, size_t len)
{
    uint32_t l32 = (uint32_t)len;
    int r;

    if (len > UINT32_MAX) {
        return -E2BIG;
    }
    r = value_head(q, param, DAGD_ROWQ_TEXT, 4 + len);
    if (r > 0) {
        put(q, &l32, 4);
        put(q, s, len);
    }
    return r < 0 ? r : 0;
}

/* Hands the producer's batch to the consumer with the current total. */
static void send_current(struct dagd_rowq *q)
{
    q->b[q->cur].total = q->total;
    (void)pthread_mutex_lock(&q->mu);
    ring_push(&q->full, (unsigned)q->cur);
    (void)pthread_cond_signal(&q->cv_full);
    (void)pthread_mutex_unlock(&q->mu);
    q->cur = -1;
}

/* Patches the row's value count; sends the batch once it is full enough. */
int dagd_rowq_end(struct dagd_rowq *q)
{
    if (!q->row_open) {
        return 0;
    }
    q->row_open = false;
    memcpy(q->b[q->cur].buf + q->row_start + 4, &q->row_n, 4);
    if (q->b[q->cur].len >= q->batch_bytes) {
        send_current(q);
    }
    return 0;
}

void dagd_rowq_set_total(struct dagd_rowq *q, uint64_t total)
{
    q->total = total;
}

/* An unfinished row (the reader failed inside it) is dropped, so the
 * consumer only ever sees whole rows. */
void dagd_rowq_close(struct dagd_rowq *q, int result)
{
    if (q->cur >= 0) {
        if (q->row_open) {
            q->b[q->cur].len = q->row_start; /* drop an unfinished row */
            q->row_open = false;
        }
        if (q->b[q->cur].len > 0) {
            send_current(q);
        } else {
            (void)pthread_mutex_lock(&q->mu);
            ring_push(&q->freeq, (unsigned)q->cur);
            (void)pthread_mutex_unlock(&q->mu);
            q->cur = -1;
        }
    }
    (void)pthread_mutex_lock(&q->mu);
    q->done = true;
    q->result = result;
    (void)pthread_cond_broadcast(&q->cv_full);
    (void)pthread_mutex_unlock(&q->mu);
}

/* ---------------------------------------------------------------------- */
/* Consumer */

/* Returns the previous batch to the free ring only when moving past it,
 * so text pointers of the last row stay valid until the next call. */
bool dagd_rowq_batch_ends(const struct dagd_rowq *q)
{
    return q->ccur < 0 || q->cpos >= q->b[q->ccur].len;
}

int dagd_rowq_next(struct dagd_rowq *q, struct dagd_rowq_row *row)
{
    const char *p;
    uint32_t n;

    if (q->ccur >= 0 && q->cpos >= q->b[q->ccur].len) {
        (void)pthread_mutex_lock(&q->mu);
        ring_push(&q->freeq, (unsigned)q->ccur);
        (void)pthread_cond_signal(&q->cv_free);
        (void)pthread_mutex_unlock(&q->mu);
        q->ccur = -1;
    }
    if (q->ccur < 0) {
        (void)pthread_mutex_lock(&q->mu);
        while (q->full.count == 0 && !q->done) {
            (void)pthread_cond_wait(&q->cv_full, &q->mu);
        }
        if (q->full.count == 0) {
            (void)pthread_mutex_unlock(&q->mu);
            return 0;
        }
        q->ccur = (int)ring_pop(&q->full);
        (void)pthread_mutex_unlock(&q->mu);
        q->cpos = 0;
    }
    p = q->b[q->ccur].buf + q->cpos;
    memcpy(&row->kind, p, 4);
    memcpy(&n, p + 4, 4);
    memcpy(&row->row_no, p + 8, 8);
    p += 16;
    row->total = q->b[q->ccur].total;
    row->n = n;
    for (uint32_t i = 0; i < n; i++) {
        struct dagd_rowq_value *v = &row->v[i];
        v->param = (uint8_t)p[0];
        v->type = (uint8_t)p[1];
        p += 2;
        switch (v->type) {
        case DAGD_ROWQ_INT:
            memcpy(&v->i, p, 8);
            p += 8;
            break;
        case DAGD_ROWQ_REAL:
            memcpy(&v->d, p, 8);
            p += 8;
            break;
        case DAGD_ROWQ_TEXT: {
            uint32_t l32;
            memcpy(&l32, p, 4);
            v->s = p + 4;
            v->len = l32;
            p += 4 + l32;
            break;
        }
        default:
            break;
        }
    }
    q->cpos = (size_t)(p - q->b[q->ccur].buf);
    return 1;
}

int dagd_rowq_result(struct dagd_rowq *q)
{
    int r;

    (void)pthread_mutex_lock(&q->mu);
    r = q->result;
    (void)pthread_mutex_unlock(&q->mu);
    return r;
}

/* Wakes a producer blocked in begin(); it sees `stopped` and gives up. */
void dagd_rowq_stop(struct dagd_rowq *q)
{
    (void)pthread_mutex_lock(&q->mu);
    __atomic_store_n(&q->stopped, true, __ATOMIC_RELAXED);
    (void)pthread_cond_broadcast(&q->cv_free);
    (void)pthread_cond_broadcast(&q->cv_full);
    (void)pthread_mutex_unlock(&q->mu);
}
