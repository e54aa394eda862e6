/* Helpers shared by every module; see util.h. */
#include "util.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/random.h>
#include <time.h>

static void oom(void)
{
    /* write(2), not stdio: stdio may itself need memory. */
    static const char msg[] = "<2>dagd: out of memory\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    abort();
}

void *dagd_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        oom();
    }
    return p;
}

void *dagd_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        oom();
    }
    return p;
}

void *dagd_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        oom();
    }
    return q;
}

void *dagd_xreallocarray(void *p, size_t n, size_t size)
{
    void *q = reallocarray(p, n ? n : 1, size ? size : 1);
    if (!q) {
        oom();
    }
    return q;
}

char *dagd_xstrdup(const char *s)
{
    if (!s) {
        return NULL;
    }
    char *p = strdup(s);
    if (!p) {
        oom();
    }
    return p;
}

char *dagd_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p) {
        oom();
    }
    return p;
}

char *dagd_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0) {
        oom();
    }
    return p;
}

int dagd_fail_msgv(char **reterr, int r, const char *fmt, va_list ap)
{
    if (reterr) {
        if (vasprintf(reterr, fmt, ap) < 0) {
            oom();
        }
    }
    return r;
}

int dagd_fail_msg(char **reterr, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    r = dagd_fail_msgv(reterr, r, fmt, ap);
    va_end(ap);
    return r;
}

char *dagd_sh_quote(const char *s)
{
    size_t n = 3; /* the quotes and the NUL */
    for (const char *p = s; *p; p++) {
        n += *p == '\'' ? 4 : 1;
    }
    char *out = dagd_xmalloc(n), *o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

static uint64_t now_usec(clockid_t clk)
{
    struct timespec ts;
    (void)clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t dagd_now_mono_usec(void)
{
    return now_usec(CLOCK_MONOTONIC);
}

uint64_t dagd_now_wall_usec(void)
{
    return now_usec(CLOCK_REALTIME);
}

int dagd_parse_duration(const char *s, uint64_t *ret_usec)
{
    static const struct {
        const char *suffix;
        uint64_t usec;
    } units[] = {
        {"ms", 1000u},    {"us", 1u},         {"s", 1000000u},
        {"m", 60000000u}, {"h", 3600000000u}, {"d", 86400000000u},
    };
    uint64_t total = 0;
    const char *p = s;

    if (!s || !*s) {
        return -EINVAL;
    }
    while (*p) {
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        uint64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > UINT64_MAX / 10) {
                return -ERANGE;
            }
            n = n * 10 + (uint64_t)(*p - '0');
            p++;
        }
        uint64_t unit = 1000000u; /* a bare number means seconds */
        if (*p) {
            size_t i;
            for (i = 0; i < ELEMENTSOF(units); i++) {
                size_t l = strlen(units[i].suffix);
                if (strncmp(p, units[i].suffix, l) == 0 && !(p[l] >= 'a' && p[l] <= 'z')) {
                    unit = units[i].usec;
                    p += l;
                    break;
                }
            }
            if (i == ELEMENTSOF(units)) {
                return -EINVAL;
            }
        } else if (p != s && total != 0) {
            return -EINVAL; /* "1m30" is ambiguous */
        }
        if (n > (UINT64_MAX - total) / unit) {
            return -ERANGE;
        }
        total += n * unit;
    }
    *ret_usec = total;
    return 0;
}

char *dagd_format_duration(uint64_t usec, char *buf, size_t len)
{
    if (usec < 1000u) {
        snprintf(buf, len, "%" PRIu64 "us", usec);
    } else if (usec < 1000000u) {
        snprintf(buf, len, "%" PRIu64 "ms", usec / 1000u);
    } else if (usec < 60000000u) {
        snprintf(buf, len, "%.1fs", (double)usec / 1e6);
    } else {
        uint64_t s = usec / 1000000u;
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    }
    return buf;
}

void dagd_run_id_new(char ret[static 33])
{
    uint8_t b[16];
    uint64_t ms = dagd_now_wall_usec() / 1000u;

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* getrandom() on Linux >= 3.17 does not fail for 16 bytes once seeded;
         * fall back to time and pid so an id is still unique enough. */
        uint64_t x = dagd_now_mono_usec() ^ ((uint64_t)getpid() << 32);
        memcpy(b, &x, sizeof(x));
        memcpy(b + 8, &x, sizeof(x));
    }
    /* UUIDv7 layout: 48-bit ms timestamp first, so ids sort by creation time. */
    for (int i = 0; i < 6; i++) {
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    }
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    for (int i = 0; i < 16; i++) {
        snprintf(ret + 2 * i, 3, "%02x", b[i]);
    }
}

int dagd_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t dagd_utf8_seq_len(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t min, cp;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2, min = 0x80, cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3, min = 0x800, cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

bool dagd_utf8_valid(const char *s, size_t n, size_t *ret_bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++; /* ASCII fast path */
            continue;
        }
        size_t k = dagd_utf8_seq_len(p + i, n - i);
        if (k == 0) {
            if (ret_bad_offset) {
                *ret_bad_offset = i;
            }
            return false;
        }
        i += k;
    }
    return true;
}

char *dagd_strv_join(const char *const *v, size_t n, const char *sep)
{
    size_t len = 1, ls = strlen(sep);
    for (size_t i = 0; i < n; i++) {
        len += strlen(v[i]) + ls;
    }
    char *out = dagd_xmalloc(len), *q = out;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            q = stpcpy(q, sep);
        }
        q = stpcpy(q, v[i]);
    }
    *q = '\0';
    return out;
}
