/* See procsweep.h. */
#include "procsweep.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include "log.h"
#include "proc.h"
#include "util.h"

/* How long killed groups get to disappear before we go on anyway. */
#define SWEEP_WAIT_MSEC 5000

struct member {
    pid_t pgrp;
    uint64_t start_ticks;
};

/* Process group and start time of every process, for the groups whose
 * leader is gone. */
static struct member *scan_proc(size_t *ret_n)
{
    struct member *v = NULL;
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d) {
        *ret_n = 0;
        return NULL;
    }
    for (struct dirent *de; (de = readdir(d));) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        struct dagd_proc_stat st;
        if (*end || pid <= 0 || dagd_proc_stat_read((pid_t)pid, &st) < 0) {
            continue;
        }
        v = dagd_xreallocarray(v, n + 1, sizeof(*v));
        v[n++] = (struct member){st.pgrp, st.start_ticks};
    }
    (void)closedir(d);
    *ret_n = n;
    return v;
}

/* Whether the recorded group is (still) the step's: see procsweep.h. */
static bool group_is_ours(const struct dagd_orphan_process *o, uint64_t self_start,
                          const struct member *m, size_t n_m)
{
    struct dagd_proc_stat leader;
    if (dagd_proc_stat_read((pid_t)o->pgid, &leader) >= 0) {
        return leader.pgrp == o->pgid && leader.start_ticks == o->start_ticks;
    }
    for (size_t i = 0; i < n_m; i++) {
        if (m[i].pgrp == o->pgid && m[i].start_ticks >= o->start_ticks &&
            m[i].start_ticks <= self_start) {
            return true;
        }
    }
    return false;
}

static uint64_t now_msec(void)
{
    struct timespec t;
    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

int dagd_procsweep_orphans(struct dagd_store *store)
{
    struct dagd_orphan_process *o = NULL;
    size_t n = 0;
    int r = dagd_store_orphan_processes(store, &o, &n);
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to read the processes of orphaned runs: %s",
                              dagd_store_errmsg(store));
    }
    if (n == 0) {
        return 0;
    }
    char boot[37];
    struct dagd_proc_stat self;
    if (dagd_proc_boot_id(boot) < 0 || dagd_proc_stat_read(0, &self) < 0) {
        dagd_log_warning("Cannot read /proc: the processes of orphaned steps are not swept");
        dagd_orphan_processes_free(o, n);
        return 0;
    }
    size_t n_m = 0;
    _cleanup_free_ struct member *m = scan_proc(&n_m);
    _cleanup_free_ pid_t *killed = dagd_xcalloc(n, sizeof(pid_t));
    size_t n_killed = 0;
    for (size_t i = 0; i < n; i++) {
        /* Another boot: the group died with the machine. */
        if (o[i].pgid <= 1 || !streq_ptr(o[i].boot_id, boot) ||
            !group_is_ours(&o[i], self.start_ticks, m, n_m)) {
            continue;
        }
        if (kill((pid_t)-o[i].pgid, SIGKILL) < 0) {
            continue;
        }
        dagd_log_warning("Killed process group %" PRId64 " of step '%s' of run %s, left running "
                         "by a dead dagd",
                         o[i].pgid, o[i].step, o[i].run_id);
        killed[n_killed++] = (pid_t)o[i].pgid;
    }
    dagd_orphan_processes_free(o, n);

    /* SIGKILL is not instant (a process in the middle of a write finishes
     * it): the runs are failed only once the groups are gone. */
    uint64_t deadline = now_msec() + SWEEP_WAIT_MSEC;
    for (size_t i = 0; i < n_killed;) {
        if (kill(-killed[i], 0) < 0 && errno == ESRCH) {
            i++;
            continue;
        }
        if (now_msec() > deadline) {
            dagd_log_warning("Process group %d is still there %d ms after SIGKILL, going on",
                             (int)killed[i], SWEEP_WAIT_MSEC);
            i++;
            continue;
        }
        (void)poll(NULL, 0, 10);
    }
    return n_killed > INT_MAX ? INT_MAX : (int)n_killed;
}
