/* Data-quality primitives of the sales pipeline: the pure functions behind
 * the `rules` of data/sales/expected.json (trim set, ORDER_TIME parsing,
 * amounts in integer cents, USD conversion, ORDER_QTY rules).
 *
 * No SQLite and no allocation here, so tests/unit/test_validate.c can check
 * every rule directly; dq_sqlite.c exposes them to SQL. */
#ifndef DAGD_DQ_H
#define DAGD_DQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The decimal rate "7.10" as num / 10^scale (710 / 10^2). */
struct dagd_dq_rate {
    int64_t num;
    unsigned scale; /* decimals, 0..9 */
};

/* Trim the rule's whitespace (space, TAB, LF, CR, VT, FF, U+00A0, U+3000) from
 * both ends of s[0..len). Writes the offset and length of what is left. */
void dagd_dq_trim(const char *s, size_t len, size_t *ret_off, size_t *ret_len);

/* True if s[0..len) starts or ends with trimmed whitespace. */
bool dagd_dq_has_outer_space(const char *s, size_t len);

/* ORDER_TIME as HHMMSS (HH <= 23, MM <= 59, SS <= 59): from an integer, an
 * integer-valued double, or a digit string ("051502"). Returns HHMMSS (>= 0)
 * or -EINVAL for anything else ("time", 106175, 240000, -1, 1.5, ""). */
int dagd_dq_time_from_int(int64_t v);
int dagd_dq_time_from_double(double v);
int dagd_dq_time_from_text(const char *s, size_t len);

/* True if HHMMSS is in the hourly window [05:00:00, 12:00:00). */
bool dagd_dq_time_in_window(int hhmmss);

/* RPTG_AMT (a number with at most 2 decimals) in integer cents, rounded half
 * away from zero. -EINVAL for NaN, infinities and |v| >= 1e15 cents. */
int dagd_dq_cents_from_double(double v, int64_t *ret_cents);

/* Parse a positive decimal rate "7.10", "7", "7.1234" (no sign, no exponent,
 * at most 9 decimals, at most 9 integer digits). 0 or -EINVAL. */
int dagd_dq_rate_parse(const char *s, struct dagd_dq_rate *ret);

/* round_half_up(usd_cents * rate) in integer arithmetic:
 * floor((usd_cents * num + 10^scale / 2) / 10^scale); for 7.10 this is
 * (usd_cents * 710 + 50) div 100. */
int64_t dagd_dq_usd_to_rmb_cents(int64_t usd_cents, const struct dagd_dq_rate *rate);

/* ORDER_QTY: a positive integer given as an integer, an integer-valued
 * double (2.0) or a digit string ("2"). Returns the quantity (> 0) or -EINVAL
 * (blank, 1.5, 0, -1, "2.0", "x"). */
int64_t dagd_dq_qty_from_int(int64_t v);
int64_t dagd_dq_qty_from_double(double v);
int64_t dagd_dq_qty_from_text(const char *s, size_t len);

#endif
