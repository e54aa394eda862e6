/* Batches handed from a producer thread to a consumer thread, double
 * buffered: the producer fills one buffer while the consumer works on the
 * other. validate_run.c uses it so that preparing the next batch of orders
 * rows (dedup, counts, groups) overlaps SQLite writing the previous one; only
 * the consumer calls SQLite. One producer and one consumer; allocation
 * failures abort, like dagd_arena. */
#ifndef DAGD_HANDOFF_H
#define DAGD_HANDOFF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct dagd_handoff {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf[2];
    size_t n[2];
    bool full[2]; /* published, not yet released by the consumer */
    size_t elem_size, cap;
    int fill, drain; /* the producer's buffer, the consumer's next one */
    bool done, stop;
    int r; /* the producer's status, once done */
};

/* Two buffers of cap elements of elem_size bytes. */
void dagd_handoff_init(struct dagd_handoff *h, size_t elem_size, size_t cap);
void dagd_handoff_done(struct dagd_handoff *h);

/* Producer: the next element to fill, then dagd_handoff_commit. A full buffer
 * is published and the producer waits for the other one to be free. Returns
 * -ECANCELED (nothing published) once the consumer called dagd_handoff_stop. */
void *dagd_handoff_slot(struct dagd_handoff *h);
int dagd_handoff_commit(struct dagd_handoff *h);
/* Producer: publish what is left and end with status r (>= 0 or -errno). */
void dagd_handoff_finish(struct dagd_handoff *h, int r);

/* Consumer: wait for the next published buffer; its element count, or 0
 * when the producer finished and everything was taken. The buffer stays
 * valid until dagd_handoff_release. */
size_t dagd_handoff_take(struct dagd_handoff *h, void **ret_buf);
void dagd_handoff_release(struct dagd_handoff *h);
/* Consumer: give up; the producer's next commit returns -ECANCELED. */
void dagd_handoff_stop(struct dagd_handoff *h);

#endif
