/* Runs a dead daemon left running with attempts on a cluster (issue 14,
 * docs/slurm.md "Restarts"): found in state.db at start, before the orphan
 * recovery marks them failed, and resumed once the executor and the
 * pipelines are loaded (dagd_executor_resume adopts the Slurm jobs). Owns
 * the snapshot in between. Logs (an edge of the daemon's start). */
#ifndef DAGD_RESUME_H
#define DAGD_RESUME_H

#include "executor.h"
#include "registry.h"
#include "store.h"

struct dagd_resume;

/* The running runs of `st` with a running step (whether it ran on Slurm,
 * its attempt directory under state_dir naming its job or in a pilot, is
 * told by the pipeline at dagd_resume_start); NULL when there is none. */
struct dagd_resume *dagd_resume_collect(struct dagd_store *st, const char *state_dir);
/* Resume each run whose pipeline is loaded and that had a step running on
 * Slurm (the others stay as the orphan recovery left them: failed; pilot
 * attempts run again, dagd_executor_resume). Frees rs (NULL is fine). */
void dagd_resume_start(struct dagd_resume *rs, struct dagd_registry *reg, struct dagd_executor *e);

#endif
