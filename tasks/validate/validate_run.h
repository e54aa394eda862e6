/* The validate step without the plugin glue: reads the bronze tables of a
 * warehouse (pipelines/sales/bronze.sql) and rebuilds orders, dq_exceptions,
 * dq_summary and warehouse_meta in ONE transaction, so a failure or a kill
 * leaves the warehouse as it was. Deterministic: the same bronze gives the
 * same rows, and orders is upserted so unchanged rows are not even written.
 * Used by validate.c and by tests. */
#ifndef DAGD_VALIDATE_RUN_H
#define DAGD_VALIDATE_RUN_H

#include <stdbool.h>
#include <stdint.h>

struct sqlite3;

typedef bool (*dagd_validate_canceled_fn)(void *userdata);
typedef void (*dagd_validate_progress_fn)(void *userdata, uint64_t done, uint64_t total);

struct dagd_validate_opts {
    const char *usd_rate;               /* decimal text, e.g. "7.10" */
    dagd_validate_canceled_fn canceled; /* may be NULL; only called on the calling thread */
    dagd_validate_progress_fn progress; /* may be NULL; stages done / total */
    void *userdata;
    /* Bronze of up to memory_rows rows (0: DAGD_VALIDATE_MEMORY_ROWS) is
     * evaluated in memory (read in two halves at once from a WAL file: a
     * second connection and thread), sorted by a radix sort and deduplicated
     * on a second thread while this one writes; bigger bronze is sorted by
     * SQLite as it is read, so memory does not grow with the rows. `stream`
     * takes the second way whatever the size (tests). */
    int64_t memory_rows;
    bool stream;
};

#define DAGD_VALIDATE_MEMORY_ROWS 250000 /* ~75 MB, what streaming takes */

struct dagd_validate_stats {
    int64_t rows_in;    /* bronze rows read */
    int64_t orders;     /* rows in orders afterwards */
    int64_t exceptions; /* rows in dq_exceptions */
};

/* Run validation on db. Returns 0 and fills *ret_stats (may be NULL);
 * -EINVAL for a bad rate, -ENOENT if bronze tables are missing, -ECANCELED,
 * -EIO for an SQLite error. On failure *reterr_msg (may be NULL) gets a
 * malloc'ed message. */
int dagd_validate_warehouse(struct sqlite3 *db, const struct dagd_validate_opts *opts,
                            struct dagd_validate_stats *ret_stats, char **reterr_msg);

#endif
