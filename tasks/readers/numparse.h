/* Decimal number parsing shared by the extract readers and the loader.
 *
 * Deliveries carry numbers as text (xlsx <v>, JSON numbers, CSV fields). The
 * bronze layer keeps the delivered type: a number written without a fraction
 * or exponent is an INTEGER, anything else is a REAL (bronze.sql). Parsing
 * runs once per cell, so the common shapes (an integer, or up to 15
 * significant digits with a short fraction like 1680.53) avoid strtod: a
 * mantissa below 2^53 and a power of ten up to 10^22 are both exact doubles,
 * and one IEEE division or multiplication of exact values is correctly
 * rounded, so the result is the same double strtod returns (Clinger's fast
 * path). Everything else falls back to strtod on a NUL-terminated copy.
 */
#ifndef DAGD_READERS_NUMPARSE_H
#define DAGD_READERS_NUMPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum dagd_num_kind {
    DAGD_NUM_NONE = 0, /* not a decimal number */
    DAGD_NUM_INT,      /* integral text that fits int64 */
    DAGD_NUM_REAL,     /* fraction, exponent, or an integer too large for int64 */
};

/* Parses s[0..len) as `[+-]digits[.digits][(e|E)[+-]digits]` (a leading
 * '+' is accepted; a bare "." or "inf"/"nan" are not numbers). Returns the
 * kind, and fills *ret_i or *ret_d accordingly. s need not be NUL-terminated. */
static inline enum dagd_num_kind dagd_num_parse(const char *s, size_t len, int64_t *ret_i,
                                                double *ret_d)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = false;
    uint64_t mant = 0;
    int mant_digits = 0; /* significant digits accumulated in mant */
    int int_digits = 0, frac_digits = 0, dropped = 0;
    bool has_frac = false, has_exp = false;
    long exp10 = 0;

    if (len == 0) {
        return DAGD_NUM_NONE;
    }
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i++;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        int_digits++;
        if (mant_digits < 19) {
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            if (mant != 0) {
                mant_digits++;
            }
        } else {
            dropped++;
        }
    }
    if (int_digits == 0) {
        return DAGD_NUM_NONE;
    }
    if (i < len && s[i] == '.') {
        has_frac = true;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac_digits++;
            if (mant_digits < 19) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                if (mant != 0) {
                    mant_digits++;
                }
                exp10--;
            }
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        long e = 0;
        int edigits = 0;
        has_exp = true;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            eneg = s[i] == '-';
            i++;
        }
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (e < 100000) {
                e = e * 10 + (s[i] - '0');
            }
            edigits++;
        }
        if (edigits == 0) {
            return DAGD_NUM_NONE;
        }
        exp10 += eneg ? -e : e;
    }
    if (i != len) {
        return DAGD_NUM_NONE;
    }
    exp10 += dropped;

    if (!has_frac && !has_exp && dropped == 0) {
        /* Integral text: INTEGER when it fits. mant has at most 19 digits. */
        if (!neg && mant <= (uint64_t)INT64_MAX) {
            *ret_i = (int64_t)mant;
            return DAGD_NUM_INT;
        }
        if (neg && mant <= (uint64_t)INT64_MAX + 1) {
            *ret_i = mant == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mant;
            return DAGD_NUM_INT;
        }
    }
    if (mant == 0) {
        *ret_d = neg ? -0.0 : 0.0;
        return DAGD_NUM_REAL;
    }
    if (mant < (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / pow10[-exp10] : d * pow10[exp10];
        *ret_d = neg ? -d : d;
        return DAGD_NUM_REAL;
    }
    /* Slow path: strtod on a NUL-terminated copy (validated above). */
    {
        char stackbuf[128];
        char *buf = len < sizeof(stackbuf) ? stackbuf : malloc(len + 1);
        if (!buf) {
            return DAGD_NUM_NONE;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        *ret_d = strtod(buf, NULL);
        if (buf != stackbuf) {
            free(buf);
        }
    }
    return DAGD_NUM_REAL;
}

#endif /* DAGD_READERS_NUMPARSE_H */
