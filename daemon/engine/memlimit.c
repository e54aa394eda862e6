/* Per-step memory limits; see memlimit.h. */
#include "memlimit.h"

#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#if defined(__SANITIZE_ADDRESS__)
#define DAGD_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DAGD_HAVE_ASAN 1
#endif
#endif

static const char *const mode_names[_DAGD_MEMLIMIT_MODE_MAX] = {
    [DAGD_MEMLIMIT_NONE] = "none",
    [DAGD_MEMLIMIT_RLIMIT_AS] = "rlimit",
    [DAGD_MEMLIMIT_CGROUP2] = "cgroup2",
};

const char *dagd_memlimit_mode_to_string(enum dagd_memlimit_mode m)
{
    return (unsigned)m < _DAGD_MEMLIMIT_MODE_MAX ? mode_names[m] : NULL;
}

int dagd_memlimit_mode_from_string(const char *s)
{
    for (int i = 0; i < _DAGD_MEMLIMIT_MODE_MAX; i++) {
        if (s && streq(s, mode_names[i])) {
            return i;
        }
    }
    return -EINVAL;
}

/* Read a small file (at most 64 KiB) into a new NUL-terminated string. */
static int read_small_file(const char *path, char **ret)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 4096;

    if (fd < 0) {
        return -errno;
    }
    buf = dagd_xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= 64 * 1024) {
                return -EFBIG;
            }
            cap *= 2;
            buf = dagd_xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    return 0;
}

static int write_file(const char *path, const char *s)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return -errno;
    }
    /* cgroupfs reports the error of the write itself (EBUSY, EINVAL...). */
    return dagd_write_all(fd, s, strlen(s));
}

char *dagd_memlimit_parse_proc_cgroup(const char *content)
{
    const char *p = content;

    while (p && *p) {
        const char *eol = strchrnul(p, '\n');
        if (eol - p >= 3 && strncmp(p, "0::", 3) == 0) {
            return dagd_xstrndup(p + 3, (size_t)(eol - p - 3));
        }
        p = *eol ? eol + 1 : eol;
    }
    return NULL;
}

static bool is_cgroup2(const char *mnt)
{
    struct statfs sfs;
    return statfs(mnt, &sfs) == 0 && (uint64_t)sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* True if the whitespace-separated list `list` contains `word`. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n) {
        bool start = p == list || p[-1] == ' ' || p[-1] == '\n';
        bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
        if (start && end) {
            return true;
        }
    }
    return false;
}

static char *detect_cgroup2_dir(void)
{
    _cleanup_free_ char *content = NULL, *rel = NULL, *ctl = NULL, *controllers = NULL,
                        *subtree = NULL;
    const char *mnt;

    if (read_small_file("/proc/self/cgroup", &content) < 0) {
        return NULL;
    }
    rel = dagd_memlimit_parse_proc_cgroup(content);
    if (!rel) {
        return NULL;
    }
    /* Unified layout mounts v2 on /sys/fs/cgroup; the hybrid layout has it
     * on /sys/fs/cgroup/unified, usually with no controllers at all. */
    if (is_cgroup2("/sys/fs/cgroup")) {
        mnt = "/sys/fs/cgroup";
    } else if (is_cgroup2("/sys/fs/cgroup/unified")) {
        mnt = "/sys/fs/cgroup/unified";
    } else {
        return NULL;
    }
    char *dir = dagd_xasprintf("%s%s", mnt, streq(rel, "/") ? "" : rel);
    ctl = dagd_xasprintf("%s/cgroup.controllers", dir);
    subtree = dagd_xasprintf("%s/cgroup.subtree_control", dir);
    if (read_small_file(ctl, &controllers) < 0 || !has_word(controllers, "memory") ||
        access(dir, W_OK) < 0 || access(subtree, W_OK) < 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

void dagd_memlimit_detect(struct dagd_memlimit *ret)
{
    const char *force = getenv("DAGD_MEMLIMIT");
    int forced = force ? dagd_memlimit_mode_from_string(force) : -1;

    *ret = (struct dagd_memlimit){.mode = DAGD_MEMLIMIT_NONE};
    if (forced == DAGD_MEMLIMIT_NONE) {
        return;
    }
    if (forced < 0 || forced == DAGD_MEMLIMIT_CGROUP2) {
        ret->cgroup_dir = detect_cgroup2_dir();
        if (ret->cgroup_dir) {
            ret->mode = DAGD_MEMLIMIT_CGROUP2;
            return;
        }
    }
#ifdef DAGD_HAVE_ASAN
    /* ASan's shadow and allocator regions make RLIMIT_AS meaningless. */
    ret->mode = DAGD_MEMLIMIT_NONE;
#else
    ret->mode = DAGD_MEMLIMIT_RLIMIT_AS;
#endif
}

void dagd_memlimit_done(struct dagd_memlimit *l)
{
    free(l->cgroup_dir);
    l->cgroup_dir = NULL;
}

/* ---- cgroup v2 ------------------------------------------------------------ */

/* cgroup v2's "no internal processes" rule: before enabling the memory
 * controller for children, every process of our cgroup moves into a leaf
 * child. The root cgroup is exempt. */
static int cgroup_prepare(struct dagd_memlimit *l)
{
    _cleanup_free_ char *leaf = NULL, *procs = NULL, *leaf_procs = NULL, *subtree = NULL,
                        *pids = NULL;
    int r;

    if (l->cgroup_prepared) {
        return 0;
    }
    if (!streq(l->cgroup_dir, "/sys/fs/cgroup") &&
        !streq(l->cgroup_dir, "/sys/fs/cgroup/unified")) {
        leaf = dagd_xasprintf("%s/dagd-main", l->cgroup_dir);
        if (mkdir(leaf, 0755) < 0 && errno != EEXIST) {
            return -errno;
        }
        procs = dagd_xasprintf("%s/cgroup.procs", l->cgroup_dir);
        leaf_procs = dagd_xasprintf("%s/cgroup.procs", leaf);
        r = read_small_file(procs, &pids);
        if (r < 0) {
            return r;
        }
        for (char *p = pids, *save = NULL, *tok; (tok = strtok_r(p, "\n", &save)); p = NULL) {
            r = write_file(leaf_procs, tok);
            if (r < 0 && r != -ESRCH) {
                return r;
            }
        }
    }
    subtree = dagd_xasprintf("%s/cgroup.subtree_control", l->cgroup_dir);
    r = write_file(subtree, "+memory");
    if (r < 0) {
        return r;
    }
    l->cgroup_prepared = true;
    return 0;
}

int dagd_memlimit_cgroup_create(struct dagd_memlimit *l, const char *name, uint64_t bytes,
                                char **ret_path)
{
    _cleanup_free_ char *path = NULL, *f = NULL;
    char v[32];
    int r;

    if (l->mode != DAGD_MEMLIMIT_CGROUP2 || !l->cgroup_dir || strchr(name, '/')) {
        return -EINVAL;
    }
    r = cgroup_prepare(l);
    if (r < 0) {
        return r;
    }
    path = dagd_xasprintf("%s/dagd-step-%s", l->cgroup_dir, name);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        return -errno;
    }
    (void)snprintf(v, sizeof(v), "%" PRIu64, bytes);
    f = dagd_xasprintf("%s/memory.max", path);
    r = write_file(f, v);
    if (r < 0) {
        (void)rmdir(path);
        return r;
    }
    free(f);
    f = dagd_xasprintf("%s/memory.swap.max", path);
    (void)write_file(f, "0"); /* absent without swap accounting: fine */
    *ret_path = TAKE_PTR(path);
    return 0;
}

int dagd_memlimit_cgroup_enter(const char *path, pid_t pid)
{
    _cleanup_free_ char *f = dagd_xasprintf("%s/cgroup.procs", path);
    char v[32];

    (void)snprintf(v, sizeof(v), "%d", (int)(pid ? pid : 0));
    return write_file(f, v);
}

static int64_t read_key(const char *file, const char *key)
{
    _cleanup_free_ char *content = NULL;
    size_t n = strlen(key);
    int r = read_small_file(file, &content);

    if (r < 0) {
        return r;
    }
    for (char *p = content; p && *p;) {
        if (strncmp(p, key, n) == 0 && p[n] == ' ') {
            return strtoll(p + n + 1, NULL, 10);
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -ENOENT;
}

int dagd_memlimit_cgroup_oom_killed(const char *path)
{
    _cleanup_free_ char *f = dagd_xasprintf("%s/memory.events", path);
    int64_t v = read_key(f, "oom_kill");
    if (v < 0) {
        return (int)v;
    }
    return v > 0;
}

int64_t dagd_memlimit_cgroup_peak(const char *path)
{
    _cleanup_free_ char *f = dagd_xasprintf("%s/memory.peak", path), *c = NULL;
    int r = read_small_file(f, &c);
    if (r < 0) {
        return r;
    }
    return strtoll(c, NULL, 10);
}

int dagd_memlimit_cgroup_remove(const char *path)
{
    return rmdir(path) < 0 ? -errno : 0;
}

/* ---- RLIMIT_AS ------------------------------------------------------------ */

int64_t dagd_memlimit_self_vsize(void)
{
    _cleanup_free_ char *c = NULL;
    int r = read_small_file("/proc/self/statm", &c);
    if (r < 0) {
        return r;
    }
    /* First field: total program size in pages. */
    return strtoll(c, NULL, 10) * sysconf(_SC_PAGESIZE);
}

int dagd_memlimit_apply_rlimit(uint64_t bytes)
{
    struct rlimit rl;
    int64_t vsize;

    if (bytes == 0) {
        return 0;
    }
    /* One malloc arena: each extra thread arena reserves 64 MiB of address
     * space, which would eat a small budget before the step allocates. */
    (void)mallopt(M_ARENA_MAX, 1);
    vsize = dagd_memlimit_self_vsize();
    if (vsize < 0) {
        return (int)vsize;
    }
    if (getrlimit(RLIMIT_AS, &rl) < 0) {
        return -errno;
    }
    rlim_t want = (rlim_t)vsize + (rlim_t)bytes;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) {
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_AS, &rl) < 0) {
        return -errno;
    }
    return 0;
}

/* ---- Verdicts ------------------------------------------------------------- */

static bool mentions_memory(const char *m)
{
    static const char *const words[] = {"alloc", "out of memory", "memory exhausted", "ENOMEM",
                                        "Cannot allocate memory"};
    if (!m) {
        return false;
    }
    for (size_t i = 0; i < ELEMENTSOF(words); i++) {
        if (strcasestr(m, words[i])) {
            return true;
        }
    }
    return false;
}

bool dagd_memlimit_failure_is_oom(const struct dagd_memlimit_outcome *o)
{
    if (o->limit_bytes == 0) {
        return false;
    }
    if (o->mode == DAGD_MEMLIMIT_CGROUP2 && o->cgroup_oom >= 0) {
        return o->cgroup_oom > 0;
    }
    if (o->mode != DAGD_MEMLIMIT_RLIMIT_AS) {
        return false;
    }
    if (o->alloc_failed || o->error == -ENOMEM) {
        return true;
    }
    if (o->alloc_watch) {
        return false; /* armed and silent: no allocation failed */
    }
    if (o->term_signal == SIGSEGV || o->term_signal == SIGBUS || o->term_signal == SIGABRT) {
        return true;
    }
    return o->error == -ENOMEM || mentions_memory(o->message);
}

char *dagd_memlimit_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int u = -1;
    uint64_t v = bytes;

    while (v > 0 && v % 1024 == 0 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u < 0) {
        (void)snprintf(buf, len, "%" PRIu64, bytes);
    } else {
        (void)snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
    }
    return buf;
}

char *dagd_memlimit_oom_message(uint64_t limit_bytes, char *buf, size_t len)
{
    char sz[32];
    (void)snprintf(buf, len, "out of memory (limit %s)",
                   dagd_memlimit_format_size(limit_bytes, sz, sizeof(sz)));
    return buf;
}
