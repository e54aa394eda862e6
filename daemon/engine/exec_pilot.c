/* See exec_pilot.h. A thin adapter: the executor's backend calls become
 * pool calls, the pool's reports become the executor's host calls. A lost
 * pilot's attempts end with `lost` set (dagd_exec_end), so the executor
 * retries them elsewhere. */
#include "exec_pilot.h"

#include <inttypes.h>

#include "pilot_pool.h"
#include "util.h"

struct pilot_backend {
    struct dagd_exec_host host;
    struct dagd_pilot_pool *pool;
    uint64_t grace_usec;
};

static void on_started(void *userdata, uint64_t id, const char *where)
{
    struct pilot_backend *b = userdata;
    b->host.started(b->host.host, id, where);
}

static void on_output(void *userdata, uint64_t id, int which, const char *data, size_t n)
{
    struct pilot_backend *b = userdata;
    b->host.output(b->host.host, id, (enum dagd_exec_stream)which, data, n);
}

static void on_exited(void *userdata, uint64_t id, int status, int64_t cpu_usec, int64_t maxrss_kb)
{
    struct pilot_backend *b = userdata;
    struct dagd_exec_end end = {.status = status, .cpu_usec = cpu_usec, .maxrss_kb = maxrss_kb};
    b->host.finished(b->host.host, id, &end);
}

static void on_failed(void *userdata, uint64_t id, const char *why, bool lost)
{
    struct pilot_backend *b = userdata;
    struct dagd_exec_end end = {.status = -1, .error = why, .lost = lost};
    b->host.finished(b->host.host, id, &end);
}

static const struct dagd_pilot_job_ops pool_ops = {
    .started = on_started,
    .output = on_output,
    .exited = on_exited,
    .failed = on_failed,
};

static int b_launch(void *impl, const struct dagd_exec_job *job)
{
    struct pilot_backend *b = impl;
    /* The step's cpus are the slots it takes in an allocation. */
    unsigned slots = job->def && job->def->slurm.cpus ? job->def->slurm.cpus : 1;
    dagd_pilot_pool_submit(b->pool, job->id, dagd_xstrdup(job->job_json), slots);
    return 0;
}

static void b_cancel(void *impl, uint64_t id)
{
    struct pilot_backend *b = impl;
    dagd_pilot_pool_cancel(b->pool, id, b->grace_usec);
}

static int b_adopt(void *impl, const struct dagd_exec_job *job)
{
    /* A pilot ends with the daemon it served: nothing is left to adopt. */
    return -EOPNOTSUPP;
}

static void b_free(void *impl)
{
    struct pilot_backend *b = impl;
    dagd_pilot_pool_free(b->pool);
    free(b);
}

static const struct dagd_exec_backend_ops pilot_ops = {
    .name = "slurm pilots",
    .launch = b_launch,
    .cancel = b_cancel,
    .adopt = b_adopt,
    .free = b_free,
};

int dagd_exec_pilot_new(uv_loop_t *loop, const struct dagd_slurm_config *cfg, const char *state_dir,
                        const char *worker, uint64_t kill_grace_usec,
                        const struct dagd_exec_host *host, struct dagd_exec_backend **ret)
{
    static const struct dagd_slurm_config none = {0};
    const struct dagd_slurm_pilot_config *pc;
    char mem[32] = "", tim[32] = "";

    if (!cfg) {
        cfg = &none;
    }
    pc = &cfg->pilot;
    if (pc->memory_bytes) {
        snprintf(mem, sizeof(mem), "%" PRIu64 "K", (pc->memory_bytes + 1023) / 1024);
    }
    if (pc->time_usec) {
        uint64_t s = (pc->time_usec + 999999) / 1000000;
        snprintf(tim, sizeof(tim), "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, s / 60 % 60,
                 s % 60);
    }
    _cleanup_free_ char *dir = dagd_xasprintf("%s/pilots", state_dir);
    struct dagd_pilot_config pcfg = {
        .listen = pc->listen ? pc->listen : "0.0.0.0:0",
        .advertise = pc->advertise,
        .max_pilots = pc->max_pilots,
        .cpus = pc->cpus ? pc->cpus : cfg->defaults.cpus,
        .memory = mem[0] ? mem : NULL,
        .time = tim[0] ? tim : NULL,
        .partition = cfg->defaults.partition,
        .account = cfg->defaults.account,
        .qos = cfg->defaults.qos,
        .sbatch_args = (const char *const *)cfg->defaults.options,
        .idle_usec = pc->idle_usec,
        .heartbeat_usec = pc->heartbeat_usec,
        .start_timeout_usec = pc->start_timeout_usec,
        .sbatch = cfg->sbatch,
        .scancel = cfg->scancel,
        .worker_path = worker,
        .dir = dir,
    };
    struct pilot_backend *b = dagd_xcalloc(1, sizeof(*b));
    b->host = *host;
    b->grace_usec = kill_grace_usec ? kill_grace_usec : 5000000u;
    int k = dagd_pilot_pool_new(loop, &pcfg, &pool_ops, b, &b->pool);
    if (k < 0) {
        free(b);
        return k;
    }
    struct dagd_exec_backend *be = dagd_xcalloc(1, sizeof(*be));
    be->ops = &pilot_ops;
    be->impl = b;
    *ret = be;
    return 0;
}
