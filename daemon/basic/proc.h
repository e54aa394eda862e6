/* What /proc says about a process: the fields of /proc/PID/stat the
 * executor and the start-up sweep need (parent, process group, start time)
 * and the boot id that makes a start time comparable across restarts.
 * Owns nothing; does not log. Linux only (proc(5)). */
#ifndef DAGD_PROC_H
#define DAGD_PROC_H

#include <stdint.h>
#include <sys/types.h>

struct dagd_proc_stat {
    pid_t ppid;
    pid_t pgrp;
    /* Clock ticks since boot when the process started (field 22): with the
     * pid and the boot id it names one process for the life of the system. */
    uint64_t start_ticks;
};

/* Read /proc/PID/stat (PID 0: ourselves). Returns 0 and fills ret_stat, or
 * -ENOENT (no such process), -EINVAL (unparsable) or another -errno. */
int dagd_proc_stat_read(pid_t pid, struct dagd_proc_stat *ret_stat);

/* The kernel's boot id (/proc/sys/kernel/random/boot_id, 36 chars): start
 * times of two processes are comparable only under the same one. Returns 0
 * or -errno. */
int dagd_proc_boot_id(char ret_id[static 37]);

#endif
