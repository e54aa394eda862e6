/* Radix sort of ORDER_ID keys (see oidsort.h).
 *
 * Why not qsort on row pointers: at 200k rows it took ~50 ms of validate's
 * ~290, nearly all in cache misses (each comparison follows two pointers to
 * rows and two to their text) and in the indirect calls. Here the keys are
 * 24 bytes in one array: a least-significant-digit radix sort does one
 * counting pass and one sequential scatter pass per byte that varies (the
 * common prefix is cut off beforehand and the zero padding never varies, so
 * the delivered 11-character ORDER_IDs take 6 passes), ~4 ms. */
#include "oidsort.h"

#include <assert.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 16

size_t dagd_oidsort_lcp(const char *first, size_t lcp, const char *s, size_t len)
{
    size_t i = 0, n = lcp < len ? lcp : len;

    while (i < n && first[i] == s[i]) {
        i++;
    }
    return i;
}

void dagd_oidsort_key_set(struct dagd_oidsort_key *k, const char *s, size_t len, size_t skip,
                          uint32_t idx)
{
    unsigned char b[KEY_BYTES] = {0};
    uint64_t hi, lo;

    /* NULL and an empty tail both give (0, 0): the smallest key, and the
     * caller's cmp orders that run (NULL first). */
    if (s && len > skip) {
        memcpy(b, s + skip, len - skip < KEY_BYTES ? len - skip : KEY_BYTES);
    }
    memcpy(&hi, b, 8);
    memcpy(&lo, b + 8, 8);
    *k = (struct dagd_oidsort_key){.hi = be64toh(hi), .lo = be64toh(lo), .idx = idx};
}

/* Byte d of the key, 0 the most significant. */
static inline unsigned digit(const struct dagd_oidsort_key *k, int d)
{
    return d < 8 ? (unsigned)(k->hi >> (56 - 8 * d)) & 0xff
                 : (unsigned)(k->lo >> (56 - 8 * (d - 8))) & 0xff;
}

struct run_ctx {
    dagd_oidsort_cmp_fn cmp;
    void *userdata;
};

static int cmp_keys(const void *a, const void *b, void *userdata)
{
    const struct run_ctx *rc = userdata;

    return rc->cmp(((const struct dagd_oidsort_key *)a)->idx,
                   ((const struct dagd_oidsort_key *)b)->idx, rc->userdata);
}

/* Order one run of keys with equal (hi, lo). Runs are short (the rows of
 * one ORDER_ID, in load order already) except on odd data, e.g. long
 * ORDER_IDs that differ only after 16 bytes: qsort keeps that O(n log n). */
static void sort_run(struct dagd_oidsort_key *k, size_t n, struct run_ctx *rc)
{
    if (n > 16) {
        qsort_r(k, n, sizeof(*k), cmp_keys, rc);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct dagd_oidsort_key x = k[i];
        size_t j = i;
        while (j > 0 && rc->cmp(k[j - 1].idx, x.idx, rc->userdata) > 0) {
            k[j] = k[j - 1];
            j--;
        }
        k[j] = x;
    }
}

void dagd_oidsort_sort(struct dagd_oidsort_key *keys, struct dagd_oidsort_key *tmp, size_t n,
                       dagd_oidsort_cmp_fn cmp, void *userdata)
{
    static_assert(sizeof(struct dagd_oidsort_key) == 24, "keys stay small");
    struct run_ctx rc = {.cmp = cmp, .userdata = userdata};
    struct dagd_oidsort_key *src = keys, *dst = tmp;
    uint64_t hi_or = 0, hi_and = UINT64_MAX, lo_or = 0, lo_and = UINT64_MAX;
    struct dagd_oidsort_key varies = {0};
    int digits[KEY_BYTES], n_digits = 0;
    uint32_t(*count)[256];

    if (n < 2) {
        return;
    }
    /* the bytes that differ somewhere: only those get a pass */
    for (size_t i = 0; i < n; i++) {
        hi_or |= keys[i].hi;
        hi_and &= keys[i].hi;
        lo_or |= keys[i].lo;
        lo_and &= keys[i].lo;
    }
    varies.hi = hi_or ^ hi_and;
    varies.lo = lo_or ^ lo_and;
    for (int d = 0; d < KEY_BYTES; d++) {
        if (digit(&varies, d)) {
            digits[n_digits++] = d;
        }
    }
    /* one counting pass for all of them */
    count = calloc(KEY_BYTES, sizeof(*count));
    if (!count) {
        abort(); /* like dagd_xmalloc: the step is retried */
    }
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < n_digits; j++) {
            count[digits[j]][digit(&keys[i], digits[j])]++;
        }
    }
    for (int j = n_digits - 1; j >= 0; j--) {
        int d = digits[j];
        size_t off = 0;
        uint32_t pos[256];

        for (int v = 0; v < 256; v++) {
            pos[v] = (uint32_t)off;
            off += count[d][v];
        }
        for (size_t i = 0; i < n; i++) {
            dst[pos[digit(&src[i], d)]++] = src[i];
        }
        struct dagd_oidsort_key *t = src;
        src = dst;
        dst = t;
    }
    free(count);
    if (src != keys) {
        memcpy(keys, src, n * sizeof(*keys));
    }
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && keys[j].hi == keys[i].hi && keys[j].lo == keys[i].lo; j++) {
        }
        if (j - i > 1) {
            sort_run(keys + i, j - i, &rc);
        }
    }
}
