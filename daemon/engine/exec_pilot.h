/* The `slurm` executor backend, pilot mode (exec_backend.h, docs/slurm.md
 * "Pilot mode"): each attempt is dispatched into a pilot allocation by the
 * pilot pool (pilot_pool.h), which asks Slurm for allocations as attempts
 * wait and releases them when idle. Owns its pool. */
#ifndef DAGD_EXEC_PILOT_H
#define DAGD_EXEC_PILOT_H

#include <uv.h>

#include "exec_backend.h"
#include "exec_slurm.h"

/* A new pilot backend on `loop`: the pool listens at once (cfg->pilot.listen,
 * default any address and a free port). `cfg` may be NULL (defaults);
 * partition, account, qos and options of cfg->defaults shape the
 * allocations, with cfg->pilot's cpus, memory and time. `worker` is the
 * dagd-worker the allocations run (the same path on the nodes); secrets and
 * pilot logs go to STATE_DIR/pilots. A cancel gets `kill_grace_usec` between
 * SIGTERM and SIGKILL. Returns 0, or -errno (logged) when the pool cannot
 * listen. */
int dagd_exec_pilot_new(uv_loop_t *loop, const struct dagd_slurm_config *cfg, const char *state_dir,
                        const char *worker, uint64_t kill_grace_usec,
                        const struct dagd_exec_host *host, struct dagd_exec_backend **ret);

#endif
