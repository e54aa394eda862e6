/* Content hashes of delivered files (see task_hash.h). */
#include "task_hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#define HASH_CHUNK (1024u * 1024u)

/* A wrapper, so that users of task_hash.h need not include xxhash.h. */
struct dagd__task_hash {
    XXH3_state_t *st;
};

struct dagd__task_hash *dagd__task_hash_new(void)
{
    struct dagd__task_hash *h = malloc(sizeof(*h));

    if (!h) {
        return NULL;
    }
    h->st = XXH3_createState();
    if (!h->st) {
        free(h);
        return NULL;
    }
    (void)XXH3_128bits_reset(h->st);
    return h;
}

void dagd__task_hash_feed(struct dagd__task_hash *h, const void *data, size_t n)
{
    (void)XXH3_128bits_update(h->st, data, n);
}

void dagd__task_hash_hex(const struct dagd__task_hash *h, char ret_hex[static 33])
{
    XXH128_canonical_t canon;

    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(h->st));
    for (size_t i = 0; i < sizeof(canon.digest); i++) {
        (void)snprintf(ret_hex + 2 * i, 3, "%02x", canon.digest[i]);
    }
}

struct dagd__task_hash *dagd__task_hash_free(struct dagd__task_hash *h)
{
    if (h) {
        XXH3_freeState(h->st);
        free(h);
    }
    return NULL;
}

int dagd__task_hash_file(const char *path, char ret_hex[static 33], uint64_t *ret_size)
{
    struct dagd__task_hash *h = NULL;
    uint64_t size = 0;
    char *buf;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    buf = malloc(HASH_CHUNK);
    h = dagd__task_hash_new();
    if (!buf || !h) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, HASH_CHUNK);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            r = -errno;
            goto out;
        }
        if (n == 0) {
            break;
        }
        dagd__task_hash_feed(h, buf, (size_t)n);
        size += (uint64_t)n;
    }
    dagd__task_hash_hex(h, ret_hex);
    *ret_size = size;
out:
    dagd__task_hash_free(h);
    free(buf);
    (void)close(fd);
    return r;
}
