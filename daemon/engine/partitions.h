/* Partitions (DESIGN 11, docs/daemon.md "Partitions and backfills"): the
 * keys of a pipeline's `partitions:` declaration and the window of each.
 *
 * A pipeline is partitioned by a static list of keys (in the YAML, or one
 * per line of a file read when the pipeline loads) or by time windows in
 * an IANA time zone: hourly (keys YYYY-MM-DDTHH), daily (YYYY-MM-DD), weekly
 * (YYYY-MM-DD of the window's first day; windows are 7 days from `start`)
 * or monthly (YYYY-MM). Windows are wall-clock calendar units: a day across
 * a DST change lasts 23 or 25 hours; an hour skipped by spring-forward is
 * not a partition; a repeated hour (fall back) is one partition of two hours.
 * The first window is the one holding `start`; with `end`, the last window
 * is the last one that ends at or before `end`.
 *
 * Owns: struct dagd_partitions. May call: cron.c's calendar and time-zone
 * code, basic. Pure: no I/O, no logging. */
#ifndef DAGD_PARTITIONS_H
#define DAGD_PARTITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "params.h"

enum dagd_partition_kind {
    DAGD_PARTITIONS_STATIC,
    DAGD_PARTITIONS_HOURLY,
    DAGD_PARTITIONS_DAILY,
    DAGD_PARTITIONS_WEEKLY,
    DAGD_PARTITIONS_MONTHLY,
};

struct dagd_partitions {
    enum dagd_partition_kind kind;
    struct dagd_mark mark;
    char **keys; /* static: the keys in file order */
    size_t n_keys;
    char *file;     /* static keys read from this file (`file:`, absolute) at load; else NULL */
    char *timezone; /* time windows: an IANA name ("UTC" when not given) */
    int64_t start;  /* time windows: local seconds of the first window's start */
    int64_t end;    /* local seconds; INT64_MAX = no end */
};

/* "hourly" etc. <-> the kind; -EINVAL for an unknown name. */
int dagd_partitions_kind_from_string(const char *s);
const char *dagd_partitions_kind_name(enum dagd_partition_kind k);

/* Parse a `start` or `end` for time windows of `kind` into local seconds: a
 * date YYYY-MM-DD, or YYYY-MM-DDTHH (also with :MM or :MM:SS), or YYYY-MM
 * (the month's first day). -EINVAL for anything else. */
int dagd_partitions_parse_time(const char *s, int64_t *ret_local);

/* Whether `key` is a partition of ps; when it is not, -EINVAL and a new
 * message in *reterr_msg (may be NULL) saying why. For time windows also
 * the window's instants (Unix seconds, end exclusive; NULL to skip). */
int dagd_partitions_check(const struct dagd_partitions *ps, const char *key, int64_t *ret_start,
                          int64_t *ret_end, char **reterr_msg);

/* The keys from `from` to `to` (both included; NULL = the first / the last
 * one), in order. Time windows stop at the last window that has ended by
 * `now` (Unix seconds) as well as at `end`; at most `max` keys (-E2BIG
 * beyond). *ret is a NULL-terminated array (free with dagd_strv_free... or
 * dagd_partitions_keys_free). -EINVAL with *reterr_msg for a bad from/to. */
int dagd_partitions_keys(const struct dagd_partitions *ps, const char *from, const char *to,
                         int64_t now, size_t max, char ***ret, size_t *ret_n, char **reterr_msg);
void dagd_partitions_keys_free(char **keys);

/* The newest time-window partition that has ended by `now` (Unix seconds):
 * what a schedule's run targets ("the partition that just closed"). 0 and
 * a new key in *ret; -ENOENT for static partitions or when none has ended. */
int dagd_partitions_last_closed(const struct dagd_partitions *ps, int64_t now, char **ret);

/* The built-in params of a run of partition `key` (which must pass
 * dagd_partitions_check): partition, partition_start and partition_end (ISO
 * 8601 with the zone's offset, e.g. 2024-03-10T00:00:00-05:00; "" for static
 * partitions), added to *builtins. */
void dagd_partitions_builtins(const struct dagd_partitions *ps, const char *key,
                              struct dagd_params *builtins);

struct dagd_partitions *dagd_partitions_free(struct dagd_partitions *ps);

#endif
