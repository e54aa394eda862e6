/* The daemon configuration (`dagd serve --config FILE`, YAML). Every key is
 * optional; command line options override the file. Errors read
 * FILE:LINE:COL: error: MESSAGE (unknown and duplicate keys, wrong types,
 * bad durations and numbers), all of them collected. Owns its strings.
 *
 *   socket: /run/dagd/dagd.sock
 *   state_dir: /var/lib/dagd
 *   state: postgresql:///dagd?host=/run/postgresql  # run history in PostgreSQL
 *   standby: true                # with state: wait to take over from the daemon
 *                                # that holds that history (docs/postgresql.md)
 *                                    # (docs/postgresql.md); default: state_dir/state.db
 *   pipelines_dir: /etc/dagd/pipelines
 *   plugin_dirs: [/usr/local/lib/dagd/tasks]
 *   work_dir: /var/lib/dagd          # cwd of steps
 *   watch_pipelines: true            # reload when the directory changes
 *   limits:
 *     max_concurrent_runs: 4
 *     max_jobs: 0                    # global step parallelism, 0 = CPUs
 *     max_queued_runs: 1000           # runs waiting for a slot; more get QUEUE_FULL
 *     max_queued_bytes: 16777216      # their params and options together
 *     max_clients: 64                 # the last 4 are root's (with 16 or more)
 *     max_clients_per_uid: 32         # connections of one uid other than root
 *     max_line_bytes: 1048576
 *     idle_timeout: 60s
 *     max_http_streams: 16            # live pages (Server-Sent Events) at a time, 0..48;
 *                                    # beyond them (or 0) a page polls
 *     max_backfill_runs: 0           # runs of backfills at a time, 0 = max_concurrent_runs
 *   pools:                           # named pools of slots (step keys pool:, slots:)
 *     warehouse: 2
 *   shutdown_grace: 30s
 *   retention: 30d                   # 0 = keep every run
 *   http: 127.0.0.1:8080             # web UI, /metrics, /api (off without it);
 *                                    # ADDR:PORT, [IPv6]:PORT or a Unix socket path
 *   http_token_file: /etc/dagd/http-token  # enables run/cancel/retry over HTTP for
 *                                    # requests with `Authorization: Bearer TOKEN`
 *   slurm:                           # steps with executor: slurm (docs/slurm.md)
 *     partition: batch               # cluster defaults under each step's slurm:
 *     account: lab                   # (also mode, qos, cpus, memory, time, options)
 *     poll_interval: 1s              # one squeue for all jobs this often
 *     max_jobs: 1000                 # Slurm attempts out at once
 *     arrays: true                   # a fan-out of one task goes out as a job array
 *     sbatch: sbatch                 # the commands (squeue, scancel likewise)
 *     pilot:                         # mode: pilot (docs/slurm.md "Pilot mode")
 *       listen: 0.0.0.0:7077         # where pilots connect (default: any, a free port)
 *       max: 4                       # allocations at once (also advertise, cpus,
 *       idle: 60s                    # memory, time, heartbeat, start_timeout)
 */
#ifndef DAGD_DAEMON_CONFIG_H
#define DAGD_DAEMON_CONFIG_H

#include "diag.h"
#include "exec_slurm.h"
#include "util.h"

struct dagd_daemon_config {
    char *socket;
    char *state_dir;
    char *state;  /* PostgreSQL conninfo of the run history; NULL = state_dir/state.db */
    bool standby; /* PostgreSQL: wait for the history's lock instead of refusing to start */
    /* PostgreSQL: read-only connections that answer `runs` and `show` off
     * the loop (read_pool.h); 0 = those reads wait on the loop. */
    unsigned state_readers; /* default 2 */
    char *pipelines_dir;
    char **plugin_dirs; /* NULL-terminated */
    size_t n_plugin_dirs;
    char *work_dir;
    bool watch_pipelines;
    unsigned max_concurrent_runs;
    unsigned max_jobs;
    unsigned max_queued_runs;
    size_t max_queued_bytes;
    unsigned max_clients;
    unsigned max_clients_per_uid;
    unsigned max_http_streams;
    size_t max_line_bytes;
    uint64_t idle_timeout_usec;
    uint64_t shutdown_grace_usec;
    uint64_t retention_usec;
    unsigned max_backfill_runs; /* 0 = no limit of its own */
    char **pool_names;          /* `pools:`, in file order */
    unsigned *pool_slots;
    size_t n_pools;
    char *http;                     /* NULL = no HTTP listener (http.h) */
    char *http_token_file;          /* NULL = the HTTP listener is read-only */
    struct dagd_slurm_config slurm; /* `slurm:` (exec_slurm.h) */
};

/* Defaults (no file). */
void dagd_daemon_config_init(struct dagd_daemon_config *c);
/* Parse FILE on top of the current values. 0, -EINVAL with every error in
 * reterr, or -errno if the file cannot be read (also in reterr). */
int dagd_daemon_config_load(struct dagd_daemon_config *c, const char *path,
                            struct dagd_diags *reterr);
/* The same from a buffer (tests). */
int dagd_daemon_config_load_buffer(struct dagd_daemon_config *c, const char *name, const char *buf,
                                   size_t len, struct dagd_diags *reterr);
/* Defaults from systemd's directories (DESIGN 7, 5) for what the file and
 * the command line left unset: state_dir = $STATE_DIRECTORY (its first
 * path) or /var/lib/dagd; pipelines_dir = $CONFIGURATION_DIRECTORY/pipelines
 * or /etc/dagd/pipelines. */
void dagd_daemon_config_fill_defaults(struct dagd_daemon_config *c);
/* The socket to bind when none is configured and systemd passed none:
 * $RUNTIME_DIRECTORY/dagd.sock or /run/dagd/dagd.sock (a new string). */
char *dagd_daemon_config_default_socket(void);
void dagd_daemon_config_add_plugin_dir(struct dagd_daemon_config *c, const char *dir);
void dagd_daemon_config_done(struct dagd_daemon_config *c);

#endif
