/* Slurm options of a step (`slurm:` in a pipeline, DESIGN 11) and of the
 * daemon (`slurm:` in its config): merging the layers and turning them into
 * sbatch arguments. Owns the strings of a struct dagd_slurm_opts; no I/O. */
#ifndef DAGD_SLURM_OPTS_H
#define DAGD_SLURM_OPTS_H

#include "pipeline_types.h"
#include <stddef.h>
#include <stdint.h>

/* "local" / "slurm"; NULL for an out-of-range value. */
const char *dagd_step_executor_to_string(enum dagd_step_executor x);
/* -EINVAL for another string. */
int dagd_step_executor_from_string(const char *s);
/* "jobs" / "pilot". */
const char *dagd_slurm_mode_to_string(enum dagd_slurm_mode m);
int dagd_slurm_mode_from_string(const char *s);

/* Free the strings of `o` and zero it. */
void dagd_slurm_opts_done(struct dagd_slurm_opts *o);
/* Fill what `dst` leaves unset from `src` (copies); options are appended
 * after dst's own only when dst has none. */
void dagd_slurm_opts_fill(struct dagd_slurm_opts *dst, const struct dagd_slurm_opts *src);

/* The sbatch options for one attempt of a step with these options:
 * --partition, --account, --qos, --cpus-per-task, --mem (opts' memory, else
 * `step_memory`, else none: the cluster's DefMemPerCPU), --time, then the
 * extra options. Appended to *argv. */
void dagd_slurm_opts_sbatch_args(const struct dagd_slurm_opts *o, uint64_t step_memory,
                                 char ***argv, size_t *n);

#endif
