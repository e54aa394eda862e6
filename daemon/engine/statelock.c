/* The state directory lock; see statelock.h. */
#include "statelock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int dagd_statelock_acquire(const char *dir, bool *ret_alone)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/lock", dir);
    _cleanup_close_ int fd = -1;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        *ret_alone = true;
        return TAKE_FD(fd);
    }
    if (errno != EWOULDBLOCK) {
        return -errno;
    }
    /* Someone else is there. A peer that is itself starting holds it
     * exclusively for as long as its orphan check takes: wait for that. */
    while (flock(fd, LOCK_SH) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    *ret_alone = false;
    return TAKE_FD(fd);
}

int dagd_statelock_share(int fd)
{
    /* flock conversion is not atomic, but nobody can create runs while we
     * convert: a peer blocked on LOCK_SH only proceeds after it. */
    while (flock(fd, LOCK_SH) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

int dagd_statelock_serve(const char *dir, pid_t *ret_holder)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/serve.lock", dir);
    _cleanup_close_ int fd = -1;
    char buf[32];
    ssize_t n;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK) {
            return -errno;
        }
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        *ret_holder = (pid_t)strtol(buf, NULL, 10);
        return -EBUSY;
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        return -errno;
    }
    return TAKE_FD(fd);
}
