/* Cron expressions: parser and next-fire calculator (see cron.h).
 *
 * The search works on "local seconds": a wall-clock time in the schedule's
 * zone counted like Unix time (days since 1970-01-01 * 86400 + time of day),
 * so calendar stepping needs no time zone at all. Only the mapping between
 * local seconds and real instants asks the C library (localtime_r with TZ
 * switched), which is where DST gaps and repeats are resolved. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "util.h"

#define SEARCH_YEARS 30
#define SPACES " \t\n\r\v\f"   /* isspace() in the C locale */
#define MAX_CANDIDATES 1000000 /* wall times tried by one next() (a repeated hour: 3600) */

struct field_spec {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min+i... see name_base */
    int name_base;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

/* Fields in 6-field order; a 5-field expression has seconds "0". dow allows
 * 7 (Sunday), folded to 0. */
static const struct field_spec fields[6] = {
    {"second", 0, 59, NULL, 0},       {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},         {"day of month", 1, 31, NULL, 0},
    {"month", 1, 12, month_names, 1}, {"day of week", 0, 7, dow_names, 0},
};

static const struct {
    const char *alias, *expr;
} aliases[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* A number or a name of the field; -1 if neither. */
static int parse_value(const struct field_spec *f, const char *s, size_t len)
{
    if (len == 0) {
        return -1;
    }
    if (isdigit((unsigned char)s[0])) {
        int v = 0;
        for (size_t i = 0; i < len; i++) {
            if (!isdigit((unsigned char)s[i]) || v > 1000) {
                return -1;
            }
            v = v * 10 + (s[i] - '0');
        }
        return v;
    }
    for (size_t i = 0; f->names && f->names[i]; i++) {
        if (len == 3 && strncasecmp(s, f->names[i], 3) == 0) {
            return (int)i + f->name_base;
        }
    }
    return -1;
}

static int parse_field(const struct field_spec *f, const char *s, size_t len, uint64_t *ret_bits,
                       bool *ret_star, char **reterr)
{
    uint64_t bits = 0;
    size_t i = 0;

    while (i <= len) {
        size_t end = i;
        while (end < len && s[end] != ',') {
            end++;
        }
        const char *item = s + i;
        size_t ilen = end - i;
        const char *slash = memchr(item, '/', ilen);
        size_t blen = slash ? (size_t)(slash - item) : ilen;
        int lo, hi, step = 1;

        if (ilen == 0) {
            return dagd_fail_msg(reterr, -EINVAL, "%s: empty list item in '%.*s'", f->name,
                                 (int)len, s);
        }
        if (slash) {
            step = parse_value(&(struct field_spec){0}, slash + 1, ilen - blen - 1);
            if (step <= 0 || step > f->max) {
                return dagd_fail_msg(reterr, -EINVAL, "%s: bad step '%.*s' (1-%d)", f->name,
                                     (int)(ilen - blen - 1), slash + 1, f->max);
            }
        }
        if (blen == 1 && (item[0] == '*' || (item[0] == '?' && f->min == 1 && f->max == 31) ||
                          (item[0] == '?' && f->max == 7))) {
            lo = f->min;
            hi = f->max == 7 ? 6 : f->max;
        } else {
            const char *dash = memchr(item, '-', blen);
            size_t l1 = dash ? (size_t)(dash - item) : blen;
            lo = parse_value(f, item, l1);
            if (lo < 0) {
                return dagd_fail_msg(reterr, -EINVAL, "%s: bad value '%.*s'", f->name, (int)l1,
                                     item);
            }
            if (dash) {
                hi = parse_value(f, dash + 1, blen - l1 - 1);
                if (hi < 0) {
                    return dagd_fail_msg(reterr, -EINVAL, "%s: bad value '%.*s'", f->name,
                                         (int)(blen - l1 - 1), dash + 1);
                }
            } else {
                hi = slash ? (f->max == 7 ? 6 : f->max) : lo;
            }
            if (lo < f->min || lo > f->max || hi < f->min || hi > f->max) {
                return dagd_fail_msg(reterr, -EINVAL, "%s: '%.*s' is out of range %d-%d", f->name,
                                     (int)blen, item, f->min, f->max);
            }
            if (hi < lo) {
                return dagd_fail_msg(reterr, -EINVAL, "%s: range '%.*s' goes backwards", f->name,
                                     (int)blen, item);
            }
        }
        for (int v = lo; v <= hi; v += step) {
            bits |= UINT64_C(1) << v;
        }
        i = end + 1;
    }
    *ret_bits = bits;
    *ret_star = len > 0 && (s[0] == '*' || s[0] == '?');
    return 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

int dagd_cron_parse(const char *expr, struct dagd_cron *ret, char **reterr_msg)
{
    const char *start[6];
    size_t len[6];
    unsigned n = 0;
    uint64_t bits[6];
    bool star[6];
    struct dagd_cron c = {0};

    if (!expr) {
        return dagd_fail_msg(reterr_msg, -EINVAL, "no expression");
    }
    while (isspace((unsigned char)*expr)) {
        expr++;
    }
    if (expr[0] == '@') {
        size_t l = strcspn(expr, SPACES);
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++) {
            if (strlen(aliases[i].alias) == l && strncasecmp(expr, aliases[i].alias, l) == 0 &&
                expr[l + strspn(expr + l, SPACES)] == '\0') {
                return dagd_cron_parse(aliases[i].expr, ret, reterr_msg);
            }
        }
        return dagd_fail_msg(reterr_msg, -EINVAL,
                             "unknown alias '%.*s' (@yearly, @annually, @monthly, @weekly, @daily, "
                             "@midnight, @hourly)",
                             (int)l, expr);
    }
    for (const char *p = expr; *p;) {
        size_t l = strcspn(p, SPACES);
        if (l > 0) {
            if (n == 6) {
                n++;
                break;
            }
            start[n] = p;
            len[n++] = l;
            p += l;
        }
        p += strspn(p, SPACES);
    }
    if (n != 5 && n != 6) {
        return dagd_fail_msg(
            reterr_msg, -EINVAL,
            "expected 5 fields (minute hour day month weekday) or 6 (seconds first), "
            "got %s%u",
            n > 6 ? "more than " : "", n > 6 ? 6 : n);
    }
    for (unsigned i = 0; i < 6; i++) {
        if (n == 5 && i == 0) {
            bits[0] = 1; /* second 0 */
            star[0] = false;
            continue;
        }
        unsigned k = n == 5 ? i - 1 : i;
        int r = parse_field(&fields[i], start[k], len[k], &bits[i], &star[i], reterr_msg);
        if (r < 0) {
            return r;
        }
    }
    c.sec = bits[0];
    c.min = bits[1];
    c.hour = (uint32_t)bits[2];
    c.dom = (uint32_t)bits[3];
    c.month = (uint16_t)bits[4];
    c.dow = (uint8_t)((bits[5] | (bits[5] >> 7)) & 0x7f); /* 7 is Sunday too */
    c.dom_star = star[3];
    c.dow_star = star[5];

    /* Days that exist in none of the months (e.g. "31 2") never fire when
     * the weekday cannot rescue them (it is '*': AND semantics). */
    if (!c.dom_star && c.dow_star) {
        bool any = false;
        for (int m = 1; m <= 12 && !any; m++) {
            if (!(c.month & (1u << m))) {
                continue;
            }
            for (int d = 1; d <= days_in_month(2000, m); d++) {
                if (c.dom & (1u << d)) {
                    any = true;
                    break;
                }
            }
        }
        if (!any) {
            return dagd_fail_msg(reterr_msg, -EINVAL,
                                 "never fires (no such day in the given months)");
        }
    }
    *ret = c;
    return 0;
}

/* ---- calendar arithmetic on local seconds (Howard Hinnant's algorithms) ---- */

struct civil {
    int64_t y;
    int mon, d, h, mi, s;
    int dow;
};

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

static struct civil civil_from_local(int64_t L)
{
    struct civil c;
    int64_t z = floordiv(L, 86400), sod = L - z * 86400;

    c.dow = (int)(((z % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    c.h = (int)(sod / 3600);
    c.mi = (int)(sod / 60 % 60);
    c.s = (int)(sod % 60);
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c.d = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    c.y = yoe + era * 400 + (c.mon <= 2);
    return c;
}

static bool day_matches(const struct dagd_cron *c, const struct civil *t)
{
    bool dom = c->dom & (1u << t->d);
    bool dow = c->dow & (1u << t->dow);
    /* Vixie cron: both restricted = either matches; otherwise both. */
    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The first matching wall time strictly after local second L. */
static int next_local(const struct dagd_cron *c, int64_t L, int64_t *ret)
{
    int64_t limit_year = civil_from_local(L).y + SEARCH_YEARS;

    L++;
    for (;;) {
        struct civil t = civil_from_local(L);
        if (t.y > limit_year) {
            return -ERANGE;
        }
        if (!(c->month & (1u << t.mon))) {
            int64_t y = t.y + (t.mon == 12), m = t.mon == 12 ? 1 : t.mon + 1;
            L = days_from_civil(y, (int)m, 1) * 86400;
        } else if (!day_matches(c, &t)) {
            L = (floordiv(L, 86400) + 1) * 86400;
        } else if (!(c->hour & (1u << t.h))) {
            L += 3600 - t.mi * 60 - t.s;
        } else if (!(c->min & (UINT64_C(1) << t.mi))) {
            L += 60 - t.s;
        } else if (!(c->sec & (UINT64_C(1) << t.s))) {
            L++;
        } else {
            *ret = L;
            return 0;
        }
    }
}

/* ---- local seconds <-> instants ---- */

struct zone {
    bool utc;
    bool switched;
    char *saved_tz; /* TZ before the switch; NULL if unset */
};

static void zone_enter(struct zone *z, const char *tz)
{
    *z = (struct zone){0};
    if (!tz || strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0) {
        z->utc = true;
        return;
    }
    _cleanup_free_ char *want = dagd_xasprintf(":%s", tz);
    const char *cur = getenv("TZ");
    if (cur && strcmp(cur, want) == 0) {
        return;
    }
    z->saved_tz = cur ? dagd_xstrdup(cur) : NULL;
    z->switched = true;
    (void)setenv("TZ", want, 1);
    tzset();
}

static void zone_leave(struct zone *z)
{
    if (z->switched) {
        if (z->saved_tz) {
            (void)setenv("TZ", z->saved_tz, 1);
        } else {
            (void)unsetenv("TZ");
        }
        tzset();
    }
    free(z->saved_tz);
    z->saved_tz = NULL;
}

/* UTC offset in seconds at instant u. */
static int64_t zone_offset(const struct zone *z, int64_t u)
{
    time_t t = (time_t)u;
    struct tm tm;

    if (z->utc || !localtime_r(&t, &tm)) {
        return 0;
    }
    return tm.tm_gmtoff;
}

/* The instant of wall time L: its first occurrence when it happens twice;
 * the end of the gap (the transition) when it does not exist. */
static int64_t local_to_instant(const struct zone *z, int64_t L)
{
    int64_t oa = zone_offset(z, L - 86400), ob = zone_offset(z, L + 86400);
    int64_t best = INT64_MAX;

    if (z->utc) {
        return L;
    }
    /* Transitions are never closer than two days, so the offsets a day
     * before and after are the only candidates. */
    if (zone_offset(z, L - oa) == oa) {
        best = L - oa;
    }
    if (zone_offset(z, L - ob) == ob && L - ob < best) {
        best = L - ob;
    }
    if (best != INT64_MAX) {
        return best;
    }
    /* A gap: find the first instant whose wall time is past L. */
    int64_t lo = L - (oa > ob ? oa : ob), hi = L - (oa < ob ? oa : ob);
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + zone_offset(z, mid) > L) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

static int next_in_zone(const struct dagd_cron *c, const struct zone *zp, int64_t after,
                        int64_t *ret)
{
    int64_t L = after + zone_offset(zp, after), u;
    int r = -ERANGE;

    for (unsigned i = 0; i < MAX_CANDIDATES; i++) {
        r = next_local(c, L, &L);
        if (r < 0) {
            break;
        }
        u = local_to_instant(zp, L);
        /* A wall time in a repeated hour's second pass maps to its first
         * occurrence, at or before `after`: it already fired. */
        if (u > after) {
            *ret = u;
            r = 0;
            break;
        }
        r = -ERANGE;
    }
    return r;
}

int dagd_cron_next(const struct dagd_cron *c, const char *tz, int64_t after, int64_t *ret)
{
    struct zone z;
    int r;

    zone_enter(&z, tz);
    r = next_in_zone(c, &z, after, ret);
    zone_leave(&z);
    return r;
}

size_t dagd_cron_between(const struct dagd_cron *c, const char *tz, int64_t after, int64_t until,
                         size_t max_scan, int64_t *keep, size_t n_keep, size_t *ret_n_kept)
{
    struct zone z;
    size_t n = 0;
    int64_t t = after;

    zone_enter(&z, tz);
    /* keep[] is a ring while scanning, rotated into order at the end. */
    while (n < max_scan && next_in_zone(c, &z, t, &t) == 0 && t <= until) {
        if (n_keep > 0) {
            keep[n % n_keep] = t;
        }
        n++;
    }
    zone_leave(&z);
    size_t kept = n < n_keep ? n : n_keep;
    if (n > n_keep && n_keep > 0) {
        size_t start = n % n_keep; /* the oldest kept */
        int64_t *tmp = dagd_xmalloc(n_keep * sizeof(*tmp));
        for (size_t i = 0; i < n_keep; i++) {
            tmp[i] = keep[(start + i) % n_keep];
        }
        memcpy(keep, tmp, n_keep * sizeof(*tmp));
        free(tmp);
    }
    *ret_n_kept = kept;
    return n;
}

/* ---- exports for partitions.c ---- */

int64_t dagd_cron_days_from_civil(int64_t y, int m, int d)
{
    return days_from_civil(y, m, d);
}

void dagd_cron_civil_from_local(int64_t L, int64_t *ret_y, int *ret_mon, int *ret_d, int *ret_h)
{
    struct civil c = civil_from_local(L);

    *ret_y = c.y;
    *ret_mon = c.mon;
    *ret_d = c.d;
    *ret_h = c.h;
}

void dagd_cron_local_to_instants(const char *tz, int64_t *L, size_t n)
{
    struct zone z;

    zone_enter(&z, tz);
    for (size_t i = 0; i < n; i++) {
        L[i] = local_to_instant(&z, L[i]);
    }
    zone_leave(&z);
}

int64_t dagd_cron_utc_offset(const char *tz, int64_t u)
{
    struct zone z;
    int64_t off;

    zone_enter(&z, tz);
    off = zone_offset(&z, u);
    zone_leave(&z);
    return off;
}
