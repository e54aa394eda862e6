/* The `slurm` executor backend, jobs mode (exec_backend.h, docs/slurm.md):
 * each attempt is a Slurm job running `dagd-worker --job FILE`, with the job
 * spec, the worker's JSON-lines events, stdout, stderr and its exit record
 * in an attempt directory under STATE_DIR/slurm (a filesystem the nodes
 * share). Submission is `sbatch --parsable` run with uv_spawn, never
 * blocking the loop; attempts of the same task and options that are ready
 * in the same loop iteration go out as one job array. State comes from one
 * `squeue` call for all jobs per poll interval; cancel is `scancel`. Owns
 * its attempts' bookkeeping, its timers and the commands it runs. */
#ifndef DAGD_EXEC_SLURM_H
#define DAGD_EXEC_SLURM_H

#include <uv.h>

#include "exec_backend.h"
#include "pipeline_types.h"

/* `slurm: pilot:` of the daemon config: where pilots connect and the shape
 * of their allocations (exec_pilot.h, pilot_pool.h); 0/NULL = defaults. */
struct dagd_slurm_pilot_config {
    char *listen;    /* HOST:PORT; NULL = any address, a free port */
    char *advertise; /* HOST or HOST:PORT the nodes reach; NULL = this host's name */
    unsigned max_pilots, cpus;
    uint64_t memory_bytes, time_usec;
    uint64_t idle_usec, heartbeat_usec, start_timeout_usec;
};

/* The daemon config's `slurm:` section (daemon_config.h); every field may
 * be left 0/NULL. */
struct dagd_slurm_config {
    struct dagd_slurm_opts defaults; /* cluster defaults under each step's slurm: */
    char *sbatch, *squeue, *scancel; /* commands; NULL = "sbatch", ... in PATH */
    uint64_t poll_usec;              /* squeue interval; 0 = 1 s */
    unsigned max_jobs;               /* Slurm attempts in flight; 0 = 1000 */
    bool no_arrays;                  /* one sbatch per attempt even for fan-outs */
    struct dagd_slurm_pilot_config pilot;
};

void dagd_slurm_config_done(struct dagd_slurm_config *c);

/* The attempt directory of (run, step, attempt) under state_dir: new string. */
char *dagd_exec_slurm_attempt_dir(const char *state_dir, const char *run_id, const char *step,
                                  unsigned attempt);
/* The handle a restarted daemon adopts the attempt by ("slurm:JOB", written
 * to its directory once sbatch answered): new string, or NULL if there is
 * none. */
char *dagd_exec_slurm_attempt_handle(const char *state_dir, const char *run_id, const char *step,
                                     unsigned attempt);

/* A new slurm backend on `loop`. `cfg` may be NULL (defaults) and is copied
 * as far as needed; `worker` is the dagd-worker binary the jobs run (nodes
 * must see it at the same path). Never fails (-errno reserved). */
int dagd_exec_slurm_new(uv_loop_t *loop, const struct dagd_slurm_config *cfg, const char *state_dir,
                        const char *worker, const struct dagd_exec_host *host,
                        struct dagd_exec_backend **ret);

#endif
