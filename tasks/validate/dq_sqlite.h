/* SQL functions for the validate task's statements (validate_sql.h), backed
 * by the pure rules of dq.h:
 *
 *   dq_trim(x)          NULL -> NULL; else the text of x with the rule's
 *                       whitespace trimmed from both ends
 *   dq_has_space(x)     1 if x is text starting/ending with that whitespace
 *   dq_time(x)          ORDER_TIME as HHMMSS, or NULL if not a valid time
 *   dq_cents(x)         RPTG_AMT as integer cents; NULL if x is not a number
 *                       (NULL, text, blob)
 *   dq_rmb(cents, cur)  cents converted at the registered rate if cur is 'USD'
 *   dq_qty(x)           ORDER_QTY as a positive integer, or NULL
 */
#ifndef DAGD_DQ_SQLITE_H
#define DAGD_DQ_SQLITE_H

#include "dq.h"

struct sqlite3;

/* Register the functions on db. `rate` is copied. 0 or -EIO. */
int dagd_dq_sqlite_register(struct sqlite3 *db, const struct dagd_dq_rate *rate);

#endif
