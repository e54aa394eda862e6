/* A bounded queue of encoded rows between a reader thread (producer) and
 * the SQLite thread (consumer), so that parsing (inflate + XML/JSON) and
 * inserting run on two cores at once.
 *
 * Owns: a fixed set of batch buffers (n_batches x ~batch_bytes; a buffer
 * grows only for a single row larger than that), so memory does not depend
 * on the file size. A row is a kind, a row number and up to
 * DAGD_ROWQ_MAX_VALUES (parameter index, typed value) pairs; text is copied
 * into the batch, so the producer's buffers may be reused at once.
 *
 * Threading: exactly one producer thread calls begin/int/real/text/end/close;
 * exactly one consumer thread calls next/stop. Never logs.
 */
#ifndef DAGD_EXTRACT_ROWQ_H
#define DAGD_EXTRACT_ROWQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAGD_ROWQ_MAX_VALUES 16

enum dagd_rowq_type {
    DAGD_ROWQ_NULL = 0,
    DAGD_ROWQ_INT,
    DAGD_ROWQ_REAL,
    DAGD_ROWQ_TEXT,
};

struct dagd_rowq_value {
    uint8_t param; /* caller-defined, e.g. the SQL parameter index */
    uint8_t type;  /* enum dagd_rowq_type */
    int64_t i;
    double d;
    const char *s; /* TEXT: not NUL-terminated; valid until the next dagd_rowq_next */
    size_t len;
};

struct dagd_rowq_row {
    uint32_t kind; /* caller-defined */
    uint64_t row_no;
    uint64_t total; /* the producer's last dagd_rowq_set_total() when the batch was sent */
    size_t n;
    struct dagd_rowq_value v[DAGD_ROWQ_MAX_VALUES];
};

struct dagd_rowq;

/* NULL on OOM. */
struct dagd_rowq *dagd_rowq_new(size_t batch_bytes, unsigned n_batches);
struct dagd_rowq *dagd_rowq_free(struct dagd_rowq *q);

/* Producer. begin() returns 0, or -ECANCELED once the consumer stopped (the
 * producer should then return that from its reader callback), or -ENOMEM.
 * Values beyond DAGD_ROWQ_MAX_VALUES are dropped (callers stay below). */
int dagd_rowq_begin(struct dagd_rowq *q, uint32_t kind, uint64_t row_no);
int dagd_rowq_int(struct dagd_rowq *q, uint8_t param, int64_t v);
int dagd_rowq_real(struct dagd_rowq *q, uint8_t param, double v);
int dagd_rowq_text(struct dagd_rowq *q, uint8_t param, const char *s, size_t len);
int dagd_rowq_end(struct dagd_rowq *q);
void dagd_rowq_set_total(struct dagd_rowq *q, uint64_t total);
/* Sends what is left and ends the stream with the producer's result. */
void dagd_rowq_close(struct dagd_rowq *q, int result);

/* Consumer. Returns 1 with *row filled, 0 at the end of the stream (then
 * dagd_rowq_result() is the producer's result), or blocks until either. */
int dagd_rowq_next(struct dagd_rowq *q, struct dagd_rowq_row *row);
int dagd_rowq_result(struct dagd_rowq *q);
/* True when the row dagd_rowq_next() returned last is the last one of its
 * batch: the text of the rows returned so far stays valid exactly until
 * the next dagd_rowq_next() then; otherwise it stays valid longer, until
 * the batch ends. (Lets the consumer insert several rows at once.) */
bool dagd_rowq_batch_ends(const struct dagd_rowq *q);
/* Tells the producer to stop (its next begin() fails with -ECANCELED) and
 * discards queued rows. */
void dagd_rowq_stop(struct dagd_rowq *q);

#endif /* DAGD_EXTRACT_ROWQ_H */
