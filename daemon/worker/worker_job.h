/* dagd-worker --job: one step attempt outside the template, for backends
 * whose attempts run elsewhere (a Slurm job: exec_slurm.h). Internal to
 * dagd-worker: worker_main.c forks the attempt (worker.h), worker_job.c
 * drives it. */
#ifndef DAGD_WORKER_JOB_H
#define DAGD_WORKER_JOB_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/* worker_job.c: `dagd-worker --job SPEC` (list = false) or `--job-list
 * LIST` (the line of $SLURM_ARRAY_TASK_ID, from 0, names SPEC). Runs the
 * attempt in a child, writes events, stdout, stderr and, last, exit.json
 * (the wait4 status and rusage) in SPEC's directory. Returns the exit code
 * for main: 0 when the attempt succeeded, 1 when it failed, 2 for usage. */
int dagd__worker_job_main(const char *path, bool list);

#endif
