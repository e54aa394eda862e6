/* Per-step memory limits (the `memory` step key, step->memory_bytes).
 *
 * Two mechanisms, chosen at run time (detect, do not assume):
 *
 *   - cgroup v2: when the process sits in a cgroup v2 hierarchy whose
 *     directory it can write (systemd Delegate=yes) and whose
 *     cgroup.controllers offers "memory", each limited step gets a child
 *     cgroup with memory.max = limit and memory.swap.max = 0. The kernel
 *     OOM-kills the step inside it and memory.events counts it, so the
 *     verdict is exact. The daemon first moves itself into a leaf
 *     "dagd-main" child (cgroup v2 forbids processes in a cgroup whose
 *     children have controllers).
 *   - RLIMIT_AS: otherwise (hybrid/v1 layouts, no delegation). The worker
 *     sets its address-space limit to its current size plus the limit just
 *     before it calls the plugin's run, so the budget means "memory the step
 *     may add", independent of how many libraries the worker maps. An
 *     allocation beyond it fails with ENOMEM; the step dies or fails, and the
 *     parent infers the cause (dagd_memlimit_failure_is_oom).
 *
 * Under AddressSanitizer RLIMIT_AS cannot work (ASan reserves terabytes of
 * shadow memory up front): dagd_memlimit_detect reports NONE there and limits
 * are not enforced (a warning says so).
 *
 * Owns nothing global except the detected mode. Does not log. */
#ifndef DAGD_MEMLIMIT_H
#define DAGD_MEMLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum dagd_memlimit_mode {
    DAGD_MEMLIMIT_NONE,      /* limits cannot be enforced */
    DAGD_MEMLIMIT_RLIMIT_AS, /* worker-side setrlimit(RLIMIT_AS) */
    DAGD_MEMLIMIT_CGROUP2,   /* delegated cgroup v2 with the memory controller */
    _DAGD_MEMLIMIT_MODE_MAX,
};

const char *dagd_memlimit_mode_to_string(enum dagd_memlimit_mode m);
int dagd_memlimit_mode_from_string(const char *s);

struct dagd_memlimit {
    enum dagd_memlimit_mode mode;
    char *cgroup_dir;     /* CGROUP2: our cgroup's directory (steps go below it) */
    bool cgroup_prepared; /* CGROUP2: we moved ourselves into the leaf */
};

/* Detect the best mechanism. $DAGD_MEMLIMIT=none|rlimit|cgroup2 forces one
 * (for tests; "cgroup2" still fails over to rlimit when unusable). Fills
 * *ret (free with dagd_memlimit_done). Never fails: worst case is NONE. */
void dagd_memlimit_detect(struct dagd_memlimit *ret);
void dagd_memlimit_done(struct dagd_memlimit *l);

/* Parse the cgroup v2 path ("0::/a/b") out of /proc/PID/cgroup content.
 * Returns a new string or NULL. Exposed for unit tests. */
char *dagd_memlimit_parse_proc_cgroup(const char *content);

/* ---- cgroup v2 (parent side) ------------------------------------------ */

/* Create DIR/dagd-step-NAME with memory.max = bytes and memory.swap.max =
 * 0. `name` must be unique among live steps (e.g. "<run_id>-<attempt>-<n>").
 * Returns 0 and a new path (free()) in *ret_path, or -errno. */
int dagd_memlimit_cgroup_create(struct dagd_memlimit *l, const char *name, uint64_t bytes,
                                char **ret_path);
/* Move `pid` (0 = the caller) into the cgroup at `path`. 0 or -errno. */
int dagd_memlimit_cgroup_enter(const char *path, pid_t pid);
/* Whether the kernel OOM-killed anything in the cgroup (memory.events
 * oom_kill > 0). 1 yes, 0 no, -errno. */
int dagd_memlimit_cgroup_oom_killed(const char *path);
/* Peak memory of the cgroup in bytes (memory.peak, kernels >= 5.19), or
 * -errno. */
int64_t dagd_memlimit_cgroup_peak(const char *path);
/* Remove the cgroup (rmdir, after its processes are gone). 0 or -errno. */
int dagd_memlimit_cgroup_remove(const char *path);

/* ---- RLIMIT_AS (worker side) ------------------------------------------- */

/* In the worker, right before the plugin's run: limit the address space to
 * the current size plus `bytes`, and keep malloc to one arena (per-thread
 * arenas reserve 64 MiB of address space each). Returns 0 or -errno. */
int dagd_memlimit_apply_rlimit(uint64_t bytes);

/* In the worker (dagd-worker links daemon/memlimit_worker.c): from now on,
 * the first malloc/calloc/realloc that fails writes {"k":"oom"} on `fd`
 * (the events pipe), so the parent knows the step hit its limit whatever
 * the step did next. Returns false where the witness is not built
 * (sanitizers, non-glibc). */
bool dagd_memlimit_watch_allocations(int fd);

/* Current virtual size of the calling process in bytes, or -errno. */
int64_t dagd_memlimit_self_vsize(void);

/* ---- Verdicts ---------------------------------------------------------- */

/* How a limited step attempt ended, as the parent saw it. */
struct dagd_memlimit_outcome {
    uint64_t limit_bytes; /* 0: no limit (never OOM by this rule) */
    enum dagd_memlimit_mode mode;
    int term_signal;     /* 0 if it exited */
    int exit_code;       /* if it exited */
    int error;           /* the step's negative errno result, or 0 */
    const char *message; /* the step's failure message, or NULL */
    int cgroup_oom;      /* CGROUP2: dagd_memlimit_cgroup_oom_killed(), else -1 */
    /* RLIMIT_AS: the worker's allocation witness was armed (alloc_watch) and
     * saw an allocation fail (alloc_failed, the "oom" event). With the
     * witness armed, only a failed allocation or ENOMEM counts as OOM; a
     * crash without one is a crash. Without it, the heuristics below. */
    bool alloc_watch;
    bool alloc_failed;
};

/* Decide whether a failed attempt ran out of its memory limit. With a
 * cgroup the kernel's count decides. With RLIMIT_AS the worker's allocation
 * witness decides when it was armed (or the step returned -ENOMEM);
 * otherwise the failure is inferred from ENOMEM, a message about
 * allocation/memory, or a death by SIGSEGV, SIGBUS or SIGABRT (a plugin
 * dereferencing a NULL malloc result or aborting in an OOM handler). */
bool dagd_memlimit_failure_is_oom(const struct dagd_memlimit_outcome *o);

/* "out of memory (limit 64M)" into buf; returns buf. */
char *dagd_memlimit_oom_message(uint64_t limit_bytes, char *buf, size_t len);

/* Format a byte count the way users write it: "64M", "1G", "1536K", "100". */
char *dagd_memlimit_format_size(uint64_t bytes, char *buf, size_t len);

#endif
