/* File helpers of the data tasks (fileops.h). */
#include "fileops.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "task_errmsg.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dagd__glob_files(const char *pattern, struct dagd_file_list *fl, char **reterr_msg)
{
    glob_t g = {0};
    size_t first = fl->n;
    int gr = glob(pattern, GLOB_NOSORT, NULL, &g);

    if (gr == GLOB_NOMATCH) {
        globfree(&g);
        return 0;
    }
    if (gr != 0) {
        globfree(&g);
        dagd__task_set_err(reterr_msg, "cannot expand '%s': %s", pattern,
                           gr == GLOB_NOSPACE ? "out of memory" : "read error");
        return -EIO;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        char **np;
        if (stat(g.gl_pathv[i], &st) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        np = realloc(fl->paths, (fl->n + 1) * sizeof(*np));
        if (!np || !(np[fl->n] = strdup(g.gl_pathv[i]))) {
            if (np) {
                fl->paths = np;
            }
            globfree(&g);
            dagd__task_set_err(reterr_msg, "out of memory");
            return -ENOMEM;
        }
        fl->paths = np;
        fl->n++;
    }
    globfree(&g);
    qsort(fl->paths + first, fl->n - first, sizeof(*fl->paths), cmp_str);
    return 0;
}

void dagd__file_list_done(struct dagd_file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++) {
        free(fl->paths[i]);
    }
    free(fl->paths);
    fl->paths = NULL;
    fl->n = 0;
}

const char *dagd__base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

int dagd__mkdir_p(const char *dir, char **reterr_msg)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(buf)) {
        dagd__task_set_err(reterr_msg, "bad directory name '%s'", dir);
        return -EINVAL;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                dagd__task_set_err(reterr_msg, "cannot create directory '%s': %s", buf,
                                   strerror(e));
                return -e;
            }
            buf[i] = c;
        }
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = 0;

    if (fd < 0) {
        return -errno;
    }
    if (fsync(fd) < 0) {
        r = -errno;
    }
    close(fd);
    return r;
}

/* 1 when both files hold the same bytes, 2 when they are one file, 0 when
 * not, -errno. */
static int same_content(const char *a, const char *b)
{
    char ba[65536], bb[65536];
    struct stat sa, sb;
    int fa = -1, fb = -1, r = 1;

    if (stat(a, &sa) < 0 || stat(b, &sb) < 0) {
        return -errno;
    }
    if (sa.st_size != sb.st_size) {
        return 0;
    }
    if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino) {
        return 2; /* the same file */
    }
    fa = open(a, O_RDONLY | O_CLOEXEC);
    fb = open(b, O_RDONLY | O_CLOEXEC);
    if (fa < 0 || fb < 0) {
        r = -errno;
        goto out;
    }
    for (;;) {
        ssize_t na = read(fa, ba, sizeof(ba));
        ssize_t nb = na > 0 ? read(fb, bb, (size_t)na) : 0;
        if (na < 0 || nb < 0) {
            r = -EIO;
            break;
        }
        if (na == 0) {
            break;
        }
        if (nb != na || memcmp(ba, bb, (size_t)na) != 0) {
            r = 0;
            break;
        }
    }
out:
    if (fa >= 0) {
        close(fa);
    }
    if (fb >= 0) {
        close(fb);
    }
    return r;
}

/* Copies src to a new temporary file in dstdir, fsynced; returns its path. */
static int copy_to_temp(const char *src, const char *dstdir, const char *base, char *tmp,
                        size_t tmplen, char **reterr_msg)
{
    char buf[1 << 16];
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out, r = 0;

    if (in < 0) {
        int e = errno;
        dagd__task_set_err(reterr_msg, "cannot open '%s': %s", src, strerror(e));
        return -e;
    }
    (void)snprintf(tmp, tmplen, "%s/.%s.XXXXXX", dstdir, base);
    out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        int e = errno;
        close(in);
        dagd__task_set_err(reterr_msg, "cannot create a file in '%s': %s", dstdir, strerror(e));
        return -e;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0) {
                r = -errno;
                break;
            }
            off += w;
        }
        if (r < 0) {
            break;
        }
    }
    if (r == 0 && fsync(out) < 0) {
        r = -errno;
    }
    close(in);
    if (close(out) < 0 && r == 0) {
        r = -errno;
    }
    if (r < 0) {
        (void)unlink(tmp);
        dagd__task_set_err(reterr_msg, "cannot copy '%s' to '%s': %s", src, dstdir, strerror(-r));
    }
    return r;
}

int dagd__file_transfer(enum dagd_fileop op, const char *src, const char *dstdir,
                        bool *ret_done_before, char **reterr_msg)
{
    const char *base = dagd__base_name(src);
    char dst[PATH_MAX], tmp[PATH_MAX];
    int r;

    if (snprintf(dst, sizeof(dst), "%s/%s", dstdir, base) >= (int)sizeof(dst)) {
        dagd__task_set_err(reterr_msg, "path too long: '%s/%s'", dstdir, base);
        return -ENAMETOOLONG;
    }
    if ((r = dagd__mkdir_p(dstdir, reterr_msg)) < 0) {
        return r;
    }
    if (ret_done_before) {
        *ret_done_before = false;
    }
    if (op == DAGD_FILEOP_MOVE) {
        /* rename that refuses to replace (renameat2 RENAME_NOREPLACE) */
        if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0) {
            (void)fsync_dir(dstdir);
            return 0;
        }
        if (errno != EXDEV && errno != EEXIST && errno != EINVAL) {
            int e = errno;
            dagd__task_set_err(reterr_msg, "cannot move '%s' to '%s': %s", src, dstdir,
                               strerror(e));
            return -e;
        }
    }
    r = access(dst, F_OK) == 0 ? same_content(src, dst) : -ENOENT;
    if (r == 2) {
        return 0; /* src is dst: nothing to do */
    }
    if (r == 1) {
        /* done before: the same bytes are already there */
        if (ret_done_before) {
            *ret_done_before = true;
        }
        if (op == DAGD_FILEOP_MOVE && unlink(src) < 0) {
            int e = errno;
            dagd__task_set_err(reterr_msg, "cannot remove '%s': %s", src, strerror(e));
            return -e;
        }
        return 0;
    }
    if (r == 0) {
        dagd__task_set_err(reterr_msg,
                           "'%s' already exists with other content: not overwriting it with '%s'",
                           dst, src);
        return -EEXIST;
    }
    if ((r = copy_to_temp(src, dstdir, base, tmp, sizeof(tmp), reterr_msg)) < 0) {
        return r;
    }
    /* link(2) fails if dst appeared meanwhile: never replaces it */
    if (link(tmp, dst) < 0) {
        int e = errno;
        (void)unlink(tmp);
        dagd__task_set_err(reterr_msg, "cannot create '%s': %s", dst, strerror(e));
        return -e;
    }
    (void)unlink(tmp);
    (void)fsync_dir(dstdir);
    if (op == DAGD_FILEOP_MOVE && unlink(src) < 0) {
        int e = errno;
        dagd__task_set_err(reterr_msg, "copied '%s' to '%s' but cannot remove it: %s", src, dstdir,
                           strerror(e));
        return -e;
    }
    return 0;
}

int dagd__commit_file(const char *tmp, const char *dst, char **reterr_msg)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(dst, '/');
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        dagd__task_set_err(reterr_msg, "cannot sync '%s': %s", tmp, strerror(e));
        return -e;
    }
    close(fd);
    if (rename(tmp, dst) < 0) {
        int e = errno;
        dagd__task_set_err(reterr_msg, "cannot rename '%s' to '%s': %s", tmp, dst, strerror(e));
        return -e;
    }
    if (slash) {
        (void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - dst), dst);
        (void)fsync_dir(slash == dst ? "/" : dir);
    } else {
        (void)fsync_dir(".");
    }
    return 0;
}
