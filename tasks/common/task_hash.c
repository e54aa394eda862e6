/* Content hashes of delivered files (see task_hash.h). */
#include "task_hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#define HASH_CHUNK (1024u * 1024u)

int dagd__task_hash_file(const char *path, char ret_hex[static 33], uint64_t *ret_size)
{
    XXH3_state_t *st;
    XXH128_canonical_t canon;
    uint64_t size = 0;
    char *buf;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    buf = malloc(HASH_CHUNK);
    st = XXH3_createState();
    if (!buf || !st) {
        r = -ENOMEM;
        goto out;
    }
    (void)XXH3_128bits_reset(st);
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
        (void)XXH3_128bits_update(st, buf, (size_t)n);
        size += (uint64_t)n;
    }
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(st));
    for (size_t i = 0; i < sizeof(canon.digest); i++) {
        (void)snprintf(ret_hex + 2 * i, 3, "%02x", canon.digest[i]);
    }
    *ret_size = size;
out:
    XXH3_freeState(st);
    free(buf);
    (void)close(fd);
    return r;
}
