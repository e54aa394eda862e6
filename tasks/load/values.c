/* Typed value parsers of the load task (values.h). */
#include "values.h"

#include <errno.h>

#include "numparse.h"

const char *dagd_load_trim(const char *s, size_t *len)
{
    size_t n = *len;

    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    *len = n;
    return s;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int dagd_load_parse_integer(const char *s, size_t len, int64_t *ret)
{
    size_t i = 0;
    bool neg = false;
    int64_t v = 0;

    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    /* 18 digits always fit int64, so the loop needs no overflow check. */
    if (i == len || len - i > 18) {
        return -EINVAL;
    }
    for (; i < len; i++) {
        if (!is_digit(s[i])) {
            return -EINVAL;
        }
        v = v * 10 + (s[i] - '0');
    }
    *ret = neg ? -v : v;
    return 0;
}

int dagd_load_parse_money(const char *s, size_t len, int64_t *ret_cents)
{
    size_t i = 0, digits = 0, frac = 0;
    bool neg = false;
    int64_t v = 0;

    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    for (; i < len && is_digit(s[i]); i++) {
        v = v * 10 + (s[i] - '0');
        if (++digits > 16) {
            return -EINVAL;
        }
    }
    if (digits == 0) {
        return -EINVAL;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++) {
            if (++frac > 2) {
                return -EINVAL;
            }
            v = v * 10 + (s[i] - '0');
        }
        if (frac == 0) {
            return -EINVAL;
        }
    }
    if (i != len) {
        return -EINVAL;
    }
    for (; frac < 2; frac++) {
        v *= 10;
    }
    *ret_cents = neg ? -v : v;
    return 0;
}

int dagd_load_parse_real(const char *s, size_t len, double *ret)
{
    int64_t i;
    double d;

    switch (dagd_num_parse(s, len, &i, &d)) {
    case DAGD_NUM_INT:
        *ret = (double)i;
        return 0;
    case DAGD_NUM_REAL:
        *ret = d;
        return 0;
    default:
        return -EINVAL;
    }
}

static int digits(const char *s, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool valid_ymd(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    if (y < 1 || m < 1 || m > 12 || d < 1) {
        return false;
    }
    return d <= mdays[m - 1] + (m == 2 && leap ? 1 : 0);
}

int dagd_load_parse_date(const char *s, size_t len)
{
    if (len != 10 || s[4] != '-' || s[7] != '-') {
        return -EINVAL;
    }
    return valid_ymd(digits(s, 4), digits(s + 5, 2), digits(s + 8, 2)) ? 0 : -EINVAL;
}

int dagd_load_parse_timestamp(const char *s, size_t len)
{
    int h, mi, se;

    if (len != 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':' ||
        dagd_load_parse_date(s, 10) < 0) {
        return -EINVAL;
    }
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    se = digits(s + 17, 2);
    return h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && se >= 0 && se <= 59 ? 0 : -EINVAL;
}
