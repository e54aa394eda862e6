/* The data-quality rules of dq.h applied to SQLite values (a bronze column
 * keeps its delivered type: INTEGER, REAL, TEXT or NULL), and as SQL
 * functions for the validate task's statements:
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

#include <stdbool.h>

#include "dq.h"

struct sqlite3;
struct sqlite3_value;

/* ORDER_TIME as HHMMSS, or -EINVAL. */
int dagd_dq_value_time(struct sqlite3_value *v);
/* RPTG_AMT in cents: 0 and *ret_cents, or -EINVAL if not a number. */
int dagd_dq_value_cents(struct sqlite3_value *v, int64_t *ret_cents);
/* ORDER_QTY: the quantity (> 0) or -EINVAL. */
int64_t dagd_dq_value_qty(struct sqlite3_value *v);
/* CITY_DISTRICT_ID: 0 and the id if integer-valued, else -EINVAL. */
int dagd_dq_value_id(struct sqlite3_value *v, int64_t *ret_id);

/* Register the functions on db. `rate` is copied. 0 or -EIO. */
int dagd_dq_sqlite_register(struct sqlite3 *db, const struct dagd_dq_rate *rate);

#endif
