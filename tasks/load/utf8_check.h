/* Streaming UTF-8 validation (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF), for inputs pushed in chunks split anywhere. */
#ifndef DAGD_LOAD_UTF8_CHECK_H
#define DAGD_LOAD_UTF8_CHECK_H

#include <stddef.h>
#include <stdint.h>

struct dagd_utf8_check {
    unsigned need;        /* continuation bytes still expected */
    unsigned char lo, hi; /* range of the next continuation byte */
    uint64_t offset;      /* bytes checked so far */
    uint64_t seq_start;   /* offset of the sequence being read */
    uint64_t error_offset;
};

/* Checks the next n bytes; n == 0 marks the end of the input (a sequence
 * cut by it is an error). Returns 0 or -EILSEQ with error_offset set to the
 * offset of the first byte of the bad sequence. */
int dagd_utf8_check_feed(struct dagd_utf8_check *u, const void *buf, size_t n);

#endif /* DAGD_LOAD_UTF8_CHECK_H */
