/* The worker's allocation-failure witness for RLIMIT_AS limits (memlimit.h).
 *
 * Under RLIMIT_AS an allocation past the limit makes malloc return NULL.
 * What the step does next varies: it reports an error, aborts, or
 * dereferences NULL and dies of SIGSEGV. So that the executor can tell "out
 * of memory (limit 64M)" from a genuine crash, the worker interposes
 * malloc, calloc and realloc (a definition in the executable wins over
 * libc's for every caller, plugins and libraries included) and forwards
 * them to glibc's own __libc_* entry points, changing nothing about the
 * allocation. When one fails while the watch is armed, it writes
 * {"k":"oom"} on the events pipe, once, with write(2): no allocation, safe
 * at any point (the line is far below PIPE_BUF, so it never interleaves
 * with another line). Linked into dagd-worker only.
 *
 * Not built under AddressSanitizer (which has its own allocator and where
 * limits are off anyway), nor when the C library is not glibc. */
#include "memlimit.h"

#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define DAGD_NO_MALLOC_WITNESS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) ||                         \
    __has_feature(thread_sanitizer)
#define DAGD_NO_MALLOC_WITNESS 1
#endif
#endif
#if !defined(__GLIBC__)
#define DAGD_NO_MALLOC_WITNESS 1
#endif

static volatile sig_atomic_t watch_fd = -1;
static volatile sig_atomic_t reported;

#ifndef DAGD_NO_MALLOC_WITNESS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

static void witness(void)
{
    static const char line[] = "{\"k\":\"oom\"}\n";
    int fd = watch_fd;

    if (fd >= 0 && !reported) {
        reported = 1;
        (void)!write(fd, line, sizeof(line) - 1);
    }
}

/* Interposed allocator entry points; <stdlib.h> declares them. */
void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    if (!p && n > 0) {
        witness();
    }
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    if (!p && n > 0 && size > 0) {
        witness();
    }
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p = __libc_realloc(old, n);
    if (!p && n > 0) {
        witness();
    }
    return p;
}
#endif

bool dagd_memlimit_watch_allocations(int fd)
{
#ifdef DAGD_NO_MALLOC_WITNESS
    (void)fd;
    return false;
#else
    watch_fd = fd;
    return true;
#endif
}
