/* Running one check against the warehouse (check_spec.h gives its SQL):
 * how many rows violate it and a JSON sample of the first few. Read only:
 * a statement that would write is refused. */
#ifndef DAGD_CHECK_RUN_H
#define DAGD_CHECK_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "check_spec.h"

struct sqlite3;

struct dagd_check_outcome {
    int64_t violations; /* rows the check's SELECT returned */
    char *sample;       /* JSON array of up to `sample_rows` rows as objects, or NULL (malloc'ed) */
};

/* Run check `c` on db. Text values in the sample are cut at 200 bytes (on a
 * character boundary). 0 with *ret set; -EINVAL when the SQL cannot be
 * prepared, is not one read-only statement, or fails, with *reterr_msg set
 * to SQLite's message; -ECANCELED when interrupted. */
int dagd_check_run(struct sqlite3 *db, const struct dagd_check_spec *c, size_t sample_rows,
                   struct dagd_check_outcome *ret, char **reterr_msg);
void dagd_check_outcome_done(struct dagd_check_outcome *o);

/* The same on either engine (tasks/common/wh.h); on PostgreSQL the caller
 * runs the checks in a READ ONLY transaction, which refuses writes. */
struct dagd_wh;
int dagd_check_run_wh(struct dagd_wh *wh, const struct dagd_check_spec *c, size_t sample_rows,
                      struct dagd_check_outcome *ret, char **reterr_msg);

#endif
