/* Partition keys and windows; see partitions.h.
 *
 * Time windows are numbered from the first one (index 0) and computed in
 * "local seconds" (cron.h), so stepping a calendar never needs a time zone;
 * only a window's instants ask cron.c's zone code, which resolves DST gaps
 * and repeats. */
#include "partitions.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "util.h"

#define HOUR 3600
#define DAY 86400
#define WEEK (7 * DAY)

static const char *const kind_names[] = {
    [DAGD_PARTITIONS_STATIC] = "static",   [DAGD_PARTITIONS_HOURLY] = "hourly",
    [DAGD_PARTITIONS_DAILY] = "daily",     [DAGD_PARTITIONS_WEEKLY] = "weekly",
    [DAGD_PARTITIONS_MONTHLY] = "monthly",
};

int dagd_partitions_kind_from_string(const char *s)
{
    for (size_t i = 0; i < ELEMENTSOF(kind_names); i++) {
        if (streq(s, kind_names[i])) {
            return (int)i;
        }
    }
    return -EINVAL;
}

const char *dagd_partitions_kind_name(enum dagd_partition_kind k)
{
    return (size_t)k < ELEMENTSOF(kind_names) ? kind_names[k] : "?";
}

static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

static bool valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) {
        return false;
    }
    return !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* Does s match `shape` exactly, 'd' standing for a digit and anything else
 * for itself? */
static bool shaped(const char *s, const char *shape)
{
    for (; *shape; s++, shape++) {
        if (*shape == 'd' ? !(*s >= '0' && *s <= '9') : *s != *shape) {
            return false;
        }
    }
    return *s == '\0';
}

static int digits_at(const char *s, size_t at, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[at + i] - '0');
    }
    return v;
}

int dagd_partitions_parse_time(const char *s, int64_t *ret_local)
{
    static const char *const shapes[] = {
        "dddd-dd",          "dddd-dd-dd",       "dddd-dd-ddTdd",       "dddd-dd-dd dd",
        "dddd-dd-ddTdd:dd", "dddd-dd-dd dd:dd", "dddd-dd-ddTdd:dd:dd", "dddd-dd-dd dd:dd:dd",
    };
    int y, mo, d = 1, h = 0, mi = 0, sec = 0;
    size_t len = strlen(s);
    bool ok = false;

    for (size_t i = 0; i < ELEMENTSOF(shapes) && !ok; i++) {
        ok = shaped(s, shapes[i]);
    }
    if (!ok) {
        return -EINVAL;
    }
    y = digits_at(s, 0, 4);
    mo = digits_at(s, 5, 2);
    if (len >= 10) {
        d = digits_at(s, 8, 2);
    }
    if (len >= 13) {
        h = digits_at(s, 11, 2);
    }
    if (len >= 16) {
        mi = digits_at(s, 14, 2);
    }
    if (len >= 19) {
        sec = digits_at(s, 17, 2);
    }
    if (!valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 59) {
        return -EINVAL;
    }
    *ret_local = dagd_cron_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * 60 + sec;
    return 0;
}

/* ---- windows by index ---- */

static int64_t month_index(int64_t L)
{
    int64_t y;
    int mo, d, h;

    dagd_cron_civil_from_local(L, &y, &mo, &d, &h);
    return y * 12 + (mo - 1);
}

static int64_t month_start(int64_t mi)
{
    return dagd_cron_days_from_civil(floordiv(mi, 12), (int)(mi - floordiv(mi, 12) * 12) + 1, 1) *
           DAY;
}

/* Local start of window 0. */
static int64_t first_start(const struct dagd_partitions *ps)
{
    switch (ps->kind) {
    case DAGD_PARTITIONS_HOURLY:
        return floordiv(ps->start, HOUR) * HOUR;
    case DAGD_PARTITIONS_MONTHLY:
        return month_start(month_index(ps->start));
    default:
        return floordiv(ps->start, DAY) * DAY;
    }
}

static void window_local(const struct dagd_partitions *ps, int64_t idx, int64_t *ret_s,
                         int64_t *ret_e)
{
    int64_t s0 = first_start(ps);

    switch (ps->kind) {
    case DAGD_PARTITIONS_HOURLY:
        *ret_s = s0 + idx * HOUR;
        *ret_e = *ret_s + HOUR;
        break;
    case DAGD_PARTITIONS_WEEKLY:
        *ret_s = s0 + idx * WEEK;
        *ret_e = *ret_s + WEEK;
        break;
    case DAGD_PARTITIONS_MONTHLY:
        *ret_s = month_start(month_index(s0) + idx);
        *ret_e = month_start(month_index(s0) + idx + 1);
        break;
    default:
        *ret_s = s0 + idx * DAY;
        *ret_e = *ret_s + DAY;
        break;
    }
}

static char *format_key(enum dagd_partition_kind kind, int64_t L)
{
    int64_t y;
    int mo, d, h;

    dagd_cron_civil_from_local(L, &y, &mo, &d, &h);
    switch (kind) {
    case DAGD_PARTITIONS_HOURLY:
        return dagd_xasprintf("%04lld-%02d-%02dT%02d", (long long)y, mo, d, h);
    case DAGD_PARTITIONS_MONTHLY:
        return dagd_xasprintf("%04lld-%02d", (long long)y, mo);
    default:
        return dagd_xasprintf("%04lld-%02d-%02d", (long long)y, mo, d);
    }
}

static const char *key_shape(enum dagd_partition_kind kind)
{
    switch (kind) {
    case DAGD_PARTITIONS_HOURLY:
        return "YYYY-MM-DDTHH";
    case DAGD_PARTITIONS_MONTHLY:
        return "YYYY-MM";
    default:
        return "YYYY-MM-DD";
    }
}

/* The window index of a time key, checked for shape and alignment (not for
 * the range). */
static int key_index(const struct dagd_partitions *ps, const char *key, int64_t *ret_idx,
                     char **reterr)
{
    size_t want = ps->kind == DAGD_PARTITIONS_HOURLY    ? 13
                  : ps->kind == DAGD_PARTITIONS_MONTHLY ? 7
                                                        : 10;
    int64_t L, s0 = first_start(ps);

    if (strlen(key) != want || (want == 13 && key[10] != 'T') ||
        dagd_partitions_parse_time(key, &L) < 0) {
        return dagd_fail_msg(reterr, -EINVAL, "partition '%s' is not a %s key (%s)", key,
                             dagd_partitions_kind_name(ps->kind), key_shape(ps->kind));
    }
    switch (ps->kind) {
    case DAGD_PARTITIONS_HOURLY:
        *ret_idx = floordiv(L - s0, HOUR);
        break;
    case DAGD_PARTITIONS_MONTHLY:
        *ret_idx = month_index(L) - month_index(s0);
        break;
    case DAGD_PARTITIONS_WEEKLY:
        if ((L - s0) % WEEK != 0) {
            _cleanup_free_ char *first = format_key(ps->kind, s0);
            return dagd_fail_msg(
                reterr, -EINVAL,
                "partition '%s' does not start a week: weekly partitions start every 7 "
                "days from %s",
                key, first);
        }
        *ret_idx = floordiv(L - s0, WEEK);
        break;
    default:
        *ret_idx = floordiv(L - s0, DAY);
        break;
    }
    return 0;
}

int dagd_partitions_check(const struct dagd_partitions *ps, const char *key, int64_t *ret_start,
                          int64_t *ret_end, char **reterr)
{
    int64_t idx, ls, le, t[2];
    int r;

    if (!key || !*key) {
        return dagd_fail_msg(reterr, -EINVAL, "empty partition key");
    }
    if (ps->kind == DAGD_PARTITIONS_STATIC) {
        for (size_t i = 0; i < ps->n_keys; i++) {
            if (streq(ps->keys[i], key)) {
                if (ret_start) {
                    *ret_start = 0;
                }
                if (ret_end) {
                    *ret_end = 0;
                }
                return 0;
            }
        }
        return dagd_fail_msg(reterr, -EINVAL,
                             "no partition '%s' (the static partitions are %zu keys)", key,
                             ps->n_keys);
    }
    r = key_index(ps, key, &idx, reterr);
    if (r < 0) {
        return r;
    }
    window_local(ps, idx, &ls, &le);
    if (idx < 0) {
        _cleanup_free_ char *first = format_key(ps->kind, first_start(ps));
        return dagd_fail_msg(reterr, -EINVAL, "partition '%s' is before the first partition %s",
                             key, first);
    }
    if (le > ps->end) {
        return dagd_fail_msg(reterr, -EINVAL, "partition '%s' ends after the partitions' end", key);
    }
    t[0] = ls;
    t[1] = le;
    dagd_cron_local_to_instants(ps->timezone, t, 2);
    if (t[0] == t[1]) {
        return dagd_fail_msg(reterr, -EINVAL,
                             "partition '%s' does not exist in %s (a wall-clock hour skipped by "
                             "a daylight saving change)",
                             key, ps->timezone);
    }
    if (ret_start) {
        *ret_start = t[0];
    }
    if (ret_end) {
        *ret_end = t[1];
    }
    return 0;
}

void dagd_partitions_keys_free(char **keys)
{
    for (size_t i = 0; keys && keys[i]; i++) {
        free(keys[i]);
    }
    free(keys);
}

static int static_keys(const struct dagd_partitions *ps, const char *from, const char *to,
                       size_t max, char ***ret, size_t *ret_n, char **reterr)
{
    size_t a = 0, b = ps->n_keys;
    char **keys;

    if (from || to) {
        bool fa = !from, fb = !to;
        for (size_t i = 0; i < ps->n_keys; i++) {
            if (from && !fa && streq(ps->keys[i], from)) {
                a = i;
                fa = true;
            }
            if (to && !fb && streq(ps->keys[i], to)) {
                b = i + 1;
                fb = true;
            }
        }
        if (!fa) {
            return dagd_fail_msg(reterr, -EINVAL, "no partition '%s'", from);
        }
        if (!fb) {
            return dagd_fail_msg(reterr, -EINVAL, "no partition '%s'", to);
        }
    }
    if (b < a) {
        b = a;
    }
    if (b - a > max) {
        return -E2BIG;
    }
    keys = dagd_xcalloc(b - a + 1, sizeof(*keys));
    for (size_t i = a; i < b; i++) {
        keys[i - a] = dagd_xstrdup(ps->keys[i]);
    }
    *ret = keys;
    *ret_n = b - a;
    return 0;
}

int dagd_partitions_keys(const struct dagd_partitions *ps, const char *from, const char *to,
                         int64_t now, size_t max, char ***ret, size_t *ret_n, char **reterr)
{
    int64_t ia = 0, ib = INT64_MAX, ls, le, now_local;
    _cleanup_free_ int64_t *t = NULL;
    size_t n = 0, cap = 0, kept = 0;
    char **keys;
    int r;

    if (ps->kind == DAGD_PARTITIONS_STATIC) {
        return static_keys(ps, from, to, max, ret, ret_n, reterr);
    }
    if (from) {
        r = key_index(ps, from, &ia, reterr);
        if (r < 0) {
            return r;
        }
        if (ia < 0) {
            ia = 0;
        }
    }
    if (to) {
        r = key_index(ps, to, &ib, reterr);
        if (r < 0) {
            return r;
        }
    }
    /* Candidates in local seconds, pairs (start, end); the ones that have
     * not ended by `now` are dropped once converted (two days of margin
     * covers any UTC offset). */
    now_local = now + dagd_cron_utc_offset(ps->timezone, now);
    for (int64_t i = ia; i <= ib; i++) {
        window_local(ps, i, &ls, &le);
        if (le > ps->end || le > now_local + 2 * DAY) {
            break;
        }
        if (n / 2 > max + 48) { /* skipped hours: a few per year */
            return -E2BIG;
        }
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 64;
            t = dagd_xreallocarray(t, cap, sizeof(*t));
        }
        t[n++] = ls;
        t[n++] = le;
    }
    dagd_cron_local_to_instants(ps->timezone, t, n);
    keys = dagd_xcalloc(n / 2 + 1, sizeof(*keys));
    for (size_t i = 0; i < n; i += 2) {
        if (t[i + 1] > now) {
            break;
        }
        if (t[i] == t[i + 1]) {
            continue; /* an hour skipped by DST */
        }
        if (kept == max) {
            dagd_partitions_keys_free(keys);
            return -E2BIG;
        }
        window_local(ps, ia + (int64_t)(i / 2), &ls, &le);
        keys[kept++] = format_key(ps->kind, ls);
    }
    *ret = keys;
    *ret_n = kept;
    return 0;
}

int dagd_partitions_last_closed(const struct dagd_partitions *ps, int64_t now, char **ret)
{
    int64_t now_local, idx, ls, le, t[2];
    int64_t s0;

    if (ps->kind == DAGD_PARTITIONS_STATIC) {
        return -ENOENT;
    }
    s0 = first_start(ps);
    now_local = now + dagd_cron_utc_offset(ps->timezone, now);
    if (now_local > ps->end) {
        now_local = ps->end;
    }
    /* The window holding now_local, found from an estimate, then walked
     * back to the newest one that has ended (a few steps at most: DST,
     * skipped hours). */
    switch (ps->kind) {
    case DAGD_PARTITIONS_HOURLY:
        idx = floordiv(now_local - s0, HOUR);
        break;
    case DAGD_PARTITIONS_WEEKLY:
        idx = floordiv(now_local - s0, WEEK);
        break;
    case DAGD_PARTITIONS_MONTHLY:
        idx = month_index(now_local) - month_index(s0);
        break;
    default:
        idx = floordiv(now_local - s0, DAY);
        break;
    }
    for (int i = 0; i < 8 && idx >= 0; i++, idx--) {
        window_local(ps, idx, &ls, &le);
        if (le > ps->end) {
            continue;
        }
        t[0] = ls;
        t[1] = le;
        dagd_cron_local_to_instants(ps->timezone, t, 2);
        if (t[1] <= now && t[0] != t[1]) {
            *ret = format_key(ps->kind, ls);
            return 0;
        }
    }
    return -ENOENT;
}

static char *iso_time(const char *tz, int64_t u)
{
    int64_t off = dagd_cron_utc_offset(tz, u), L = u + off, y, aoff = off < 0 ? -off : off;
    int mo, d, h;

    dagd_cron_civil_from_local(L, &y, &mo, &d, &h);
    return dagd_xasprintf("%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (long long)y, mo, d, h,
                          (int)(floordiv(L, 60) % 60 + 60) % 60, (int)((L % 60) + 60) % 60,
                          off < 0 ? '-' : '+', (int)(aoff / 3600), (int)(aoff / 60 % 60));
}

void dagd_partitions_builtins(const struct dagd_partitions *ps, const char *key,
                              struct dagd_params *builtins)
{
    int64_t s = 0, e = 0;

    dagd_params_set(builtins, "partition", key);
    if (ps->kind == DAGD_PARTITIONS_STATIC || dagd_partitions_check(ps, key, &s, &e, NULL) < 0) {
        dagd_params_set(builtins, "partition_start", "");
        dagd_params_set(builtins, "partition_end", "");
        return;
    }
    _cleanup_free_ char *a = iso_time(ps->timezone, s);
    _cleanup_free_ char *b = iso_time(ps->timezone, e);
    dagd_params_set(builtins, "partition_start", a);
    dagd_params_set(builtins, "partition_end", b);
}

struct dagd_partitions *dagd_partitions_free(struct dagd_partitions *ps)
{
    if (!ps) {
        return NULL;
    }
    for (size_t i = 0; i < ps->n_keys; i++) {
        free(ps->keys[i]);
    }
    free(ps->keys);
    free(ps->timezone);
    free(ps->file);
    free(ps);
    return NULL;
}
