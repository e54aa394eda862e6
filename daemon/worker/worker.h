/* Internals shared by dagd-worker's two modes: the template, a pre-forked
 * zygote of the local executor (worker_main.c), and the pilot, which runs
 * attempts on a Slurm allocation for a daemon it connected to
 * (pilot_main.c), and the job mode of a Slurm job (worker_job.c). All fork one child per attempt
 * with the same code; the child is the host side of the plugin ABI (worker_main.c). Not installed.
 */
#ifndef DAGD_WORKER_H
#define DAGD_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* Told of each attempt child reaped: the id it was spawned with, its wait4
 * status and rusage. */
typedef void (*dagd__worker_exit_fn)(uint64_t id, pid_t pid, int status, const struct rusage *ru,
                                     void *userdata);

/* Fork a child that runs `job` (the job object of worker_proto.h) with
 * fds[0..2] as its events, stdout and stderr; the child leads its own
 * process group. The caller keeps `job` and the fds (close them after).
 * Returns 0 with the pid and its start time (clock ticks since boot, 0 when
 * unknown), or -errno of fork(). */
int dagd__worker_spawn(cJSON *job, uint64_t id, const int fds[3], pid_t *ret_pid,
                       uint64_t *ret_start);
/* Reap the ended children (WNOHANG) and call fn for those spawned above. */
void dagd__worker_reap(dagd__worker_exit_fn fn, void *userdata);
/* SIGKILL every child's process group, then every descendant we are the
 * subreaper of, until none is left (at most 5 s). */
void dagd__worker_kill_descendants(void);
/* A file descriptor of this process that children close first thing. */
void dagd__worker_close_in_child(int fd);

/* `dagd-worker --job SPEC` (list = false) or `--job-list LIST` (the line
 * of $SLURM_ARRAY_TASK_ID, from 0, names SPEC): one attempt of a Slurm job
 * (worker_job.c, exec_slurm.h). Runs it in a child, writes events, stdout,
 * stderr and, last, exit.json (wait4 status, rusage) in SPEC's directory.
 * Returns 0 when the attempt succeeded, 1 when it failed, 2 for usage. */
int dagd__worker_job_main(const char *path, bool list);

/* `dagd-worker --pilot ...` (argv[0] is "--pilot"); returns the exit status. */
int dagd__pilot_main(int argc, char **argv);

#endif
