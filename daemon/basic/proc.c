/* See proc.h. */
#include "proc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>

#include "util.h"

/* Read a small /proc file whole. Returns the length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return -errno;
    }
    size_t n = 0;
    while (n < len - 1) {
        ssize_t k = read(fd, buf + n, len - 1 - n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            return -errno;
        }
        if (k == 0) {
            break;
        }
        n += (size_t)k;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

int dagd_proc_stat_read(pid_t pid, struct dagd_proc_stat *ret_stat)
{
    char path[64], buf[1024];
    if (pid == 0) {
        snprintf(path, sizeof(path), "/proc/self/stat");
    } else {
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    }
    ssize_t n = read_small(path, buf, sizeof(buf));
    if (n < 0) {
        return (int)n;
    }
    /* "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice num_threads
     * itrealvalue starttime ...": comm may hold spaces and ')', so the
     * fields start after the last ')'. */
    const char *p = strrchr(buf, ')');
    if (!p) {
        return -EINVAL;
    }
    char state;
    int ppid, pgrp;
    uint64_t start;
    if (sscanf(p + 1,
               " %c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d "
               "%" SCNu64,
               &state, &ppid, &pgrp, &start) != 4) {
        return -EINVAL;
    }
    *ret_stat = (struct dagd_proc_stat){.ppid = ppid, .pgrp = pgrp, .start_ticks = start};
    return 0;
}

int dagd_proc_boot_id(char ret_id[static 37])
{
    char buf[64];
    ssize_t n = read_small("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
    if (n < 0) {
        return (int)n;
    }
    if (n < 36) {
        return -EINVAL;
    }
    memcpy(ret_id, buf, 36);
    ret_id[36] = '\0';
    return 0;
}
