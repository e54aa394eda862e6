/* Typed values of the load task: the text of a delivered field turned into
 * what a declared column stores (SEEDS.md "Common rules").
 *
 * Pure functions on (pointer, length): no allocation, no locale, no floating
 * point on the way to money. Spaces and tabs around a typed value are
 * ignored; the caller treats an empty (or all-blank) field as NULL before
 * calling these.
 */
#ifndef DAGD_LOAD_VALUES_H
#define DAGD_LOAD_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strips spaces and tabs at both ends of s[0..*len): returns the new start
 * and updates *len. */
const char *dagd_load_trim(const char *s, size_t *len);

/* An optional '-' and 1..18 digits (so no overflow check is needed past
 * the 19th: a longer value is bad). Returns 0, or -EINVAL. */
int dagd_load_parse_integer(const char *s, size_t len, int64_t *ret);

/* Money as integer cents: an optional '-', digits, optionally '.' and one
 * or two digits ("12.5" -> 1250, "-3" -> -300). More than two fraction
 * digits, no digits before the point, or over 16 integer digits: -EINVAL. */
int dagd_load_parse_money(const char *s, size_t len, int64_t *ret_cents);

/* A decimal number (numparse.h rules, no inf/nan). 0 or -EINVAL. */
int dagd_load_parse_real(const char *s, size_t len, double *ret);

/* YYYY-MM-DD, a real calendar date (Gregorian, years 0001-9999). */
int dagd_load_parse_date(const char *s, size_t len);
/* YYYY-MM-DD HH:MM:SS, a real date and 00:00:00..23:59:59. */
int dagd_load_parse_timestamp(const char *s, size_t len);

#endif /* DAGD_LOAD_VALUES_H */
