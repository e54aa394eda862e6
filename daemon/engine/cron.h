/* Cron expressions (DESIGN 3b): a pure parser and next-fire calculator.
 * Owns nothing and calls nothing but the C library's time zone functions.
 *
 * Syntax: 5 fields (minute hour day-of-month month day-of-week) or 6 fields
 * (seconds first). Each field is `*`, a number, a range `a-b`, a step `*\/n`,
 * `a-b/n` or `a/n` (a to the field's end), or a comma list of those. Months
 * accept jan..dec, weekdays sun..sat (0 and 7 are Sunday), case-insensitive;
 * `?` means `*` in the day fields. Day-of-month and day-of-week combine like
 * Vixie cron: when both are restricted (neither starts with `*`), a day
 * matching either fires; otherwise both must match. Aliases: @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
 *
 * Times are evaluated in an IANA time zone (the system tz database). Around
 * DST changes: a wall-clock time skipped by spring-forward fires once, at the
 * first instant after the gap; a wall-clock time that happens twice (fall
 * back) fires once, at its first occurrence. */
#ifndef DAGD_CRON_H
#define DAGD_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd_cron {
    uint64_t sec;   /* bit n: second n (0..59) */
    uint64_t min;   /* bit n: minute n (0..59) */
    uint32_t hour;  /* bit n: hour n (0..23) */
    uint32_t dom;   /* bit n: day n (1..31) */
    uint16_t month; /* bit n: month n (1..12) */
    uint8_t dow;    /* bit n: weekday n (0 = Sunday .. 6) */
    bool dom_star;  /* the field started with '*' or '?' */
    bool dow_star;
};

/* Parse `expr`. 0 and *ret on success; -EINVAL and a new message (no
 * trailing period, e.g. "hour: 25 is out of range 0-23") in *reterr_msg
 * (owned by the caller; may be NULL) on failure. An expression that can
 * never fire (e.g. "0 0 31 2 *") is an error too. */
int dagd_cron_parse(const char *expr, struct dagd_cron *ret, char **reterr_msg);

/* The first fire time strictly after `after` (Unix seconds), in time zone
 * `tz` (an IANA name; NULL, "UTC" and "Etc/UTC" take a fast path). 0 and
 * *ret, or -ERANGE when nothing fires in the next 30 years. Not thread-safe
 * for zones other than UTC (switches TZ and calls tzset(), then restores
 * them); the daemon calls it from its one loop thread. */
int dagd_cron_next(const struct dagd_cron *c, const char *tz, int64_t after, int64_t *ret);

/* The fire times in (after, until], for catch-up: returns how many there
 * are, looking at no more than `max_scan` of them, and writes the newest
 * min(count, n_keep) to keep[] in ascending order (their number in
 * *ret_n_kept). Switches the time zone once for the whole scan (a zone
 * switch costs ~13 us per dagd_cron_next call). */
size_t dagd_cron_between(const struct dagd_cron *c, const char *tz, int64_t after, int64_t until,
                         size_t max_scan, int64_t *keep, size_t n_keep, size_t *ret_n_kept);

/* ---- Wall-clock calendar helpers, for the partitions module (partitions.c) ----
 * "Local seconds" count a wall-clock time in a zone like Unix time: days
 * since 1970-01-01 * 86400 + seconds of the day. */

/* Days since 1970-01-01 of the civil date y-m-d (proleptic Gregorian). */
int64_t dagd_cron_days_from_civil(int64_t y, int m, int d);
/* The civil date and hour of local seconds L. */
void dagd_cron_civil_from_local(int64_t L, int64_t *ret_y, int *ret_mon, int *ret_d, int *ret_h);
/* Local seconds L[i] -> instants (Unix seconds) in zone `tz`, in place, with
 * one zone switch: a wall time skipped by spring-forward maps to the end of
 * the gap, a repeated one to its first occurrence. Same thread rule as
 * dagd_cron_next(). */
void dagd_cron_local_to_instants(const char *tz, int64_t *L, size_t n);
/* The UTC offset (seconds east) of zone `tz` at instant `u`. */
int64_t dagd_cron_utc_offset(const char *tz, int64_t u);

#endif
