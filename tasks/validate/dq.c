/* Pure data-quality rules; see dq.h and the `rules` section of
 * data/sales/expected.json, which is the specification for every function. */
#include "dq.h"

#include <errno.h>
#include <math.h>

/* Length of the trimmed-whitespace character at s[0..len), or 0. */
static size_t space_at(const unsigned char *s, size_t len)
{
    if (len >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r'))) {
        return 1; /* space, TAB, LF, VT, FF, CR */
    }
    if (len >= 2 && s[0] == 0xC2 && s[1] == 0xA0) {
        return 2; /* U+00A0 NO-BREAK SPACE */
    }
    if (len >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) {
        return 3; /* U+3000 IDEOGRAPHIC SPACE */
    }
    return 0;
}

/* Length of the trimmed-whitespace character ending at s[len-1], or 0. */
static size_t space_before(const unsigned char *s, size_t len)
{
    if (len >= 1 && (s[len - 1] == ' ' || (s[len - 1] >= '\t' && s[len - 1] <= '\r'))) {
        return 1;
    }
    if (len >= 2 && s[len - 2] == 0xC2 && s[len - 1] == 0xA0) {
        return 2;
    }
    if (len >= 3 && s[len - 3] == 0xE3 && s[len - 2] == 0x80 && s[len - 1] == 0x80) {
        return 3;
    }
    return 0;
}

void dagd_dq_trim(const char *s, size_t len, size_t *ret_off, size_t *ret_len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t off = 0, n;

    while ((n = space_at(u + off, len - off)) > 0) {
        off += n;
    }
    while ((n = space_before(u + off, len - off)) > 0) {
        len -= n;
    }
    *ret_off = off;
    *ret_len = len - off;
}

bool dagd_dq_has_outer_space(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    return space_at(u, len) > 0 || space_before(u, len) > 0;
}

int dagd_dq_time_from_int(int64_t v)
{
    if (v < 0 || v > 235959) {
        return -EINVAL;
    }
    if (v / 10000 > 23 || v / 100 % 100 > 59 || v % 100 > 59) {
        return -EINVAL;
    }
    return (int)v;
}

int dagd_dq_time_from_double(double v)
{
    /* Only integer-valued doubles are times; the range check keeps the cast
     * defined. */
    if (!isfinite(v) || v != floor(v) || v < 0 || v > 235959) {
        return -EINVAL;
    }
    return dagd_dq_time_from_int((int64_t)v);
}

/* Value of a non-empty all-ASCII-digit string of at most 18 digits, or -1. */
static int64_t digits_value(const char *s, size_t len)
{
    int64_t v = 0;

    if (len == 0 || len > 18) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int dagd_dq_time_from_text(const char *s, size_t len)
{
    int64_t v = digits_value(s, len);

    return v < 0 ? -EINVAL : dagd_dq_time_from_int(v);
}

bool dagd_dq_time_in_window(int hhmmss)
{
    return hhmmss >= 50000 && hhmmss < 120000;
}

int dagd_dq_cents_from_double(double v, int64_t *ret_cents)
{
    double c;

    if (!isfinite(v)) {
        return -EINVAL;
    }
    /* 1680.53 * 100 is 168052.99999999997 or 168053.00000000003: rounding to
     * the nearest integer gives the exact cents of any 2-decimal amount. */
    c = round(v * 100.0);
    if (fabs(c) >= 1e15) {
        return -EINVAL;
    }
    *ret_cents = (int64_t)c;
    return 0;
}

int dagd_dq_rate_parse(const char *s, struct dagd_dq_rate *ret)
{
    int64_t num = 0;
    unsigned int_digits = 0, scale = 0;
    bool dot = false;

    if (!s || !*s) {
        return -EINVAL;
    }
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (dot || int_digits == 0) {
                return -EINVAL;
            }
            dot = true;
            continue;
        }
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        if (dot) {
            if (++scale > 9) {
                return -EINVAL;
            }
        } else if (++int_digits > 9) {
            return -EINVAL;
        }
        num = num * 10 + (*p - '0');
    }
    if ((dot && scale == 0) || num == 0) {
        return -EINVAL; /* "7." or a zero rate */
    }
    ret->num = num;
    ret->scale = scale;
    return 0;
}

int64_t dagd_dq_usd_to_rmb_cents(int64_t usd_cents, const struct dagd_dq_rate *rate)
{
    __int128 den = 1, x, q;

    for (unsigned i = 0; i < rate->scale; i++) {
        den *= 10;
    }
    x = (__int128)usd_cents * rate->num + den / 2;
    /* Floor division, so that negative amounts (rejected, but still shown)
     * round the same way as positive ones. */
    q = x / den;
    if (x % den != 0 && x < 0) {
        q -= 1;
    }
    return (int64_t)q;
}

int64_t dagd_dq_qty_from_int(int64_t v)
{
    return v > 0 ? v : -EINVAL;
}

int64_t dagd_dq_qty_from_double(double v)
{
    if (!isfinite(v) || v != floor(v) || v <= 0 || v >= 9e18) {
        return -EINVAL;
    }
    return (int64_t)v;
}

int64_t dagd_dq_qty_from_text(const char *s, size_t len)
{
    int64_t v = digits_value(s, len);

    return v > 0 ? v : -EINVAL;
}
