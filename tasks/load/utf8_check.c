/* Streaming UTF-8 validation (utf8_check.h). ASCII runs, the common case in
 * delivered CSV, are skipped eight bytes at a time. */
#include "utf8_check.h"

#include <errno.h>
#include <string.h>

static int bad(struct dagd_utf8_check *u, uint64_t at)
{
    u->error_offset = at;
    return -EILSEQ;
}

int dagd_utf8_check_feed(struct dagd_utf8_check *u, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    size_t i = 0;

    if (n == 0) {
        return u->need ? bad(u, u->seq_start) : 0;
    }
    while (i < n) {
        unsigned char c = p[i];
        if (u->need) {
            if (c < u->lo || c > u->hi) {
                return bad(u, u->seq_start);
            }
            u->lo = 0x80;
            u->hi = 0xBF;
            u->need--;
            i++;
            continue;
        }
        if (c < 0x80) {
            /* fast path: eight ASCII bytes at once */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & UINT64_C(0x8080808080808080)) {
                    break;
                }
                i += 8;
            }
            while (i < n && p[i] < 0x80) {
                i++;
            }
            continue;
        }
        u->seq_start = u->offset + i;
        u->lo = 0x80;
        u->hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            u->need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            u->need = 2;
            if (c == 0xE0) {
                u->lo = 0xA0; /* no overlong */
            } else if (c == 0xED) {
                u->hi = 0x9F; /* no surrogates */
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            u->need = 3;
            if (c == 0xF0) {
                u->lo = 0x90;
            } else if (c == 0xF4) {
                u->hi = 0x8F; /* <= U+10FFFF */
            }
        } else {
            return bad(u, u->seq_start);
        }
        i++;
    }
    u->offset += n;
    return 0;
}
