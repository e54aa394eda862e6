/* Small helpers every module may use: aborting allocators, cleanup
 * attributes, time. Owns nothing. (tmux xmalloc.c, systemd cleanup-fundamental.h) */
#ifndef DAGD_UTIL_H
#define DAGD_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Take ownership out of a _cleanup_ local. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _p_ = (p);                                                                   \
        (p) = NULL;                                                                                \
        _p_;                                                                                       \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _fd_ = (fd);                                                                           \
        (fd) = -1;                                                                                 \
        _fd_;                                                                                      \
    })

/* Allocators that abort on OOM: state lives in SQLite and systemd restarts us. */
void *dagd_xmalloc(size_t n);
void *dagd_xcalloc(size_t n, size_t size);
void *dagd_xrealloc(void *p, size_t n);
void *dagd_xreallocarray(void *p, size_t n, size_t size);
char *dagd_xstrdup(const char *s); /* NULL for NULL */
char *dagd_xstrndup(const char *s, size_t n);
char *dagd_xasprintf(const char *fmt, ...) _printf_(1, 2);
/* The -errno-plus-message return of parsers and loaders: sets *reterr (when
 * reterr is not NULL) to a new formatted message and returns r. */
int dagd_fail_msg(char **reterr, int r, const char *fmt, ...) _printf_(3, 4);
int dagd_fail_msgv(char **reterr, int r, const char *fmt, va_list ap) _printf_(3, 0);
/* The n strings of v joined by sep, as a new string ("" for n = 0). */
char *dagd_strv_join(const char *const *v, size_t n, const char *sep);
/* s as one word for sh: in single quotes, each ' as '\\''. */
char *dagd_sh_quote(const char *s);

static inline void dagd_freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(dagd_freep)

static inline void dagd_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void)close(*fd);
        errno = saved;
    }
}
#define _cleanup_close_ _cleanup_(dagd_closep)

static inline void dagd_fclosep(FILE **f)
{
    if (*f) {
        (void)fclose(*f);
    }
}
#define _cleanup_fclose_ _cleanup_(dagd_fclosep)

static inline bool streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b)
{
    if (!a || !b) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

/* A reason to print after a status word, without repeating it: for status
 * "canceled", "canceled" gives NULL (nothing to add), "canceled: dagd is
 * stopping" gives "dagd is stopping", anything else itself. */
static inline const char *dagd_reason_after(const char *reason, const char *status)
{
    size_t n = strlen(status);
    if (!reason || streq(reason, status)) {
        return NULL;
    }
    if (strncmp(reason, status, n) == 0 && reason[n] == ':' && reason[n + 1] == ' ') {
        return reason + n + 2;
    }
    return reason;
}

/* Monotonic and wall clock in microseconds. */
uint64_t dagd_now_mono_usec(void);
uint64_t dagd_now_wall_usec(void);
static inline int64_t dagd_usec_to_msec(uint64_t usec)
{
    return (int64_t)(usec / 1000);
}
/* Wall clock in Unix epoch milliseconds, as state.db stores times. */
static inline int64_t dagd_now_wall_msec(void)
{
    return dagd_usec_to_msec(dagd_now_wall_usec());
}

/* Parse "250ms", "2s", "5m", "1h", "1h30m" or a plain number of seconds
 * into microseconds. Returns 0 or -EINVAL / -ERANGE. */
int dagd_parse_duration(const char *s, uint64_t *ret_usec);

/* Format microseconds as "1.2s", "350ms", "2m03s" into buf. Returns buf. */
char *dagd_format_duration(uint64_t usec, char *buf, size_t len);

/* A new random run id: 32 lowercase hex chars of time-ordered UUIDv7. */
void dagd_run_id_new(char ret[static 33]);

/* Write all of buf to fd, retrying on EINTR/partial writes. 0 or -errno. */
int dagd_write_all(int fd, const void *buf, size_t len);

/* Length of the valid UTF-8 sequence at p (at most n > 0 bytes), or 0 if the
 * bytes there are not one: overlong forms, surrogates and code points above
 * U+10FFFF are invalid (RFC 3629). */
size_t dagd_utf8_seq_len(const unsigned char *p, size_t n);
/* true if s[0..n) is valid UTF-8; *ret_bad_offset (if not NULL) gets the
 * offset of the first invalid byte otherwise. */
bool dagd_utf8_valid(const char *s, size_t n, size_t *ret_bad_offset);

#endif
