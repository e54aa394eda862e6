/* Sorting the bronze rows of the in-memory pass of validate by ORDER_ID
 * (validate_run.c). A radix sort on fixed-size keys: the first 16 bytes of
 * each ORDER_ID after the prefix that all of them share ("G0000" in the
 * deliveries), big-endian in two integers, so the sort never follows a
 * pointer to a row or to its text. Keys whose 16 bytes are equal (the rows of
 * one ORDER_ID, or longer ORDER_IDs that differ further on) are then put in
 * order by the caller's full comparison. */
#ifndef DAGD_OIDSORT_H
#define DAGD_OIDSORT_H

#include <stddef.h>
#include <stdint.h>

struct dagd_oidsort_key {
    uint64_t hi, lo; /* bytes [skip, skip + 16) of the string, zero padded */
    uint32_t idx;    /* the caller's row */
    uint32_t unused;
};

/* Full order of rows a and b (<0, 0, >0), used on keys with equal hi and lo.
 * It must agree with memcmp-then-length order of the strings. */
typedef int (*dagd_oidsort_cmp_fn)(uint32_t a, uint32_t b, void *userdata);

/* The length of the common prefix of s[0..len) and of the first `lcp` bytes
 * of `first`: fold it over every string to get the `skip` of
 * dagd_oidsort_key_set (start with lcp = the first string's length). */
size_t dagd_oidsort_lcp(const char *first, size_t lcp, const char *s, size_t len);

/* Fill *k for the string s[0..len) (NULL: sorts first, like SQLite's NULL),
 * every string sharing its first `skip` bytes. */
void dagd_oidsort_key_set(struct dagd_oidsort_key *k, const char *s, size_t len, size_t skip,
                          uint32_t idx);

/* Sort keys[0..n) by (hi, lo), then each run of equal (hi, lo) by cmp. tmp
 * is scratch space for n keys. Keys that cmp finds equal end up in no
 * particular order (validate's cmp never says equal: it ends with the load
 * position). */
void dagd_oidsort_sort(struct dagd_oidsort_key *keys, struct dagd_oidsort_key *tmp, size_t n,
                       dagd_oidsort_cmp_fn cmp, void *userdata);

#endif
