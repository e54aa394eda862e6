/* The pilot pool: pilot mode of the Slurm executor (docs/slurm.md, "Pilot
 * mode"). Owns the allocations it asked Slurm for (each with its secret),
 * the TCP listener pilots connect back to, their connections, and the
 * queue of attempts waiting for a free slot. Asks Slurm for allocations
 * (`sbatch` of `dagd-worker --pilot`, spawned on the loop, never waited
 * for) while attempts wait and fewer than `max_pilots` exist; releases a
 * pilot idle for `idle_usec`; replaces a lost one (connection closed, or no
 * heartbeat for 3 intervals) on demand, and tells the owner of each attempt
 * it held that it was lost.
 *
 * It knows nothing of runs and steps: the executor hands it attempts as a
 * job object (worker_proto.h) with an id, and hears back through
 * dagd_pilot_job_ops. It may call: basic, libuv, the sbatch/scancel
 * programs. */
#ifndef DAGD_PILOT_POOL_H
#define DAGD_PILOT_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct dagd_pilot_pool;

/* The daemon config's `slurm: pilot:` section (docs/slurm.md); strings are
 * copied by dagd_pilot_pool_new. */
struct dagd_pilot_config {
    const char *listen;             /* "HOST:PORT" to listen on (port 0: any); required */
    const char *advertise;          /* "HOST:PORT" or "HOST" (+ the bound port) pilots connect
                                     * to; NULL: this host's name and the bound port */
    unsigned max_pilots;            /* allocations at most; 0 = 4 */
    unsigned cpus;                  /* per allocation, = its slots; 0 = 1 */
    const char *memory;             /* sbatch --mem, e.g. "2G"; NULL: Slurm's default */
    const char *time;               /* sbatch --time; NULL: the partition's default */
    const char *partition;          /* NULL: Slurm's default */
    const char *account, *qos;      /* NULL: none */
    const char *const *sbatch_args; /* more sbatch options, NULL-terminated; may be NULL */
    uint64_t idle_usec;             /* release a pilot idle this long; 0 = 60 s */
    uint64_t heartbeat_usec;        /* pilots' heartbeat; lost after 3 missed; 0 = 5 s */
    uint64_t start_timeout_usec;    /* a pilot that never connected is canceled after; 0 = 10 min */
    const char *sbatch;             /* program; NULL = "sbatch" */
    const char *scancel;            /* program; NULL = "scancel" */
    const char *worker_path;        /* dagd-worker (the same path on the nodes); required */
    const char *dir;                /* secrets and pilot logs, on the shared filesystem; required */
};

/* What the pool tells the owner of the attempts (`userdata` of
 * dagd_pilot_pool_new), about attempt `id`. Each attempt hears exactly one
 * of exited() or failed(), and nothing after it. Callbacks may call back
 * into the pool. */
struct dagd_pilot_job_ops {
    /* Forked on a node: `where` says which ("pilot a3-... on node1, pid 42"). */
    void (*started)(void *userdata, uint64_t id, const char *where);
    /* What the attempt wrote on fd `which` (0 events, 1 stdout, 2 stderr),
     * in pieces not aligned to lines. */
    void (*output)(void *userdata, uint64_t id, int which, const char *data, size_t n);
    /* Its process ended: raw wait4 status and rusage. */
    void (*exited)(void *userdata, uint64_t id, int status, int64_t cpu_usec, int64_t maxrss_kb);
    /* It did not run to an exit: the pilot could not start it, or was lost
     * with it (`lost`: retry it elsewhere), or it was canceled while queued. */
    void (*failed)(void *userdata, uint64_t id, const char *why, bool lost);
};

/* Listen on cfg->listen. Returns 0, or -errno (logged) when the address
 * does not parse or cannot be bound, or the directory cannot be made. */
int dagd_pilot_pool_new(uv_loop_t *loop, const struct dagd_pilot_config *cfg,
                        const struct dagd_pilot_job_ops *ops, void *userdata,
                        struct dagd_pilot_pool **ret);
/* Close every connection (its pilot then kills its attempts and exits),
 * `scancel` the allocations that never connected, and free the pool as its
 * handles close (run the loop afterwards). No callback is called. NULL is
 * fine; returns NULL. */
struct dagd_pilot_pool *dagd_pilot_pool_free(struct dagd_pilot_pool *pool);

/* Queue an attempt: `job_json` (a worker_proto.h job object, taken) is sent
 * to a pilot with `slots` free slots (clamped to the allocation's size) as
 * soon as there is one, in submission order. `id` must be unique for the
 * life of the pool. */
void dagd_pilot_pool_submit(struct dagd_pilot_pool *pool, uint64_t id, char *job_json,
                            unsigned slots);
/* Stop an attempt: SIGTERM to its process group on the node, SIGKILL after
 * `grace_usec` (the pilot keeps that clock; 0: SIGKILL at once). One still
 * queued is dropped and hears failed("canceled before it started"). Unknown
 * ids are ignored. */
void dagd_pilot_pool_cancel(struct dagd_pilot_pool *pool, uint64_t id, uint64_t grace_usec);
/* The allocations that a process of this host that died (a daemon killed
 * or crashed) asked for in `dir` (its DIR/ALLOC.job files): one `scancel`
 * (run on `loop`, not waited for) of their Slurm jobs, which may still be
 * queued, and their files removed. Those of live processes are left alone.
 * Also done by dagd_pilot_pool_new. */
void dagd_pilot_pool_sweep(uv_loop_t *loop, const char *dir, const char *scancel);
/* Slots of all the allocations the pool may hold at once. */
unsigned dagd_pilot_pool_capacity(const struct dagd_pilot_pool *pool);
/* The port the listener is bound to. */
int dagd_pilot_pool_port(const struct dagd_pilot_pool *pool);

#endif
