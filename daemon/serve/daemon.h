/* The daemon object of `dagd serve`: wires the store (with the state lock
 * and orphan recovery), plugin host, pipeline registry, executor, run queue,
 * schedules, sensors and socket server onto one libuv loop, and owns the
 * lifecycle: start (READY=1), reload (SIGHUP, `dagctl reload`, a change in
 * the pipelines directory), retention (one prune batch per turn), and
 * shutdown (SIGTERM: stop accepting, let running steps finish for the grace
 * period, cancel the rest, record state, then finish). With `standby: true`
 * and a PostgreSQL history another daemon leads, it starts as a standby
 * (standby.h): everything but schedules, sensors, the durable queue,
 * orphan recovery and retention, which start in place when it takes over. systemd's STATUS=
 * line follows the run queue's changes and the daemon's own (reload,
 * shutdown).
 *
 * The command handlers (api_*.c) read the fields below and call submit and
 * reload; the daemon is given the dispatcher that runs them at start, so it
 * does not depend on them (cli -> api -> daemon). Schedules and sensors see
 * only their trigger host (trigger.h). Single-threaded (the loop). */
#ifndef DAGD_DAEMON_H
#define DAGD_DAEMON_H

#include <uv.h>

#include "daemon_config.h"
#include "executor.h"
#include "notify.h"
#include "registry.h"
#include "run_queue.h"
#include "server.h"

struct dagd_schedules;
struct dagd_sensors;
struct dagd_http;
struct dagd_read_pool;
struct dagd_standby;

struct dagd_daemon {
    uv_loop_t *loop;
    struct dagd_daemon_config config;
    struct dagd_store *store;
    struct dagd_plugin_host *plugins;
    struct dagd_registry *registry;
    struct dagd_executor *executor;
    struct dagd_run_queue *queue;
    struct dagd_server *server;
    struct dagd_notify *notify;
    struct dagd_schedules *schedules; /* cron timers (schedules.h) */
    struct dagd_sensors *sensors;     /* directory watches (sensors.h); NULL without inotify */
    struct dagd_http *http;           /* web UI and /metrics (http.h); NULL unless `http:` */
    struct dagd_read_pool *read_pool; /* PostgreSQL's reads off the loop (read_pool.h); or NULL */
    /* PostgreSQL: the standbys and the leader as `status` lists them, kept
     * for a second (history_sessions.h); NULL on SQLite. */
    struct dagd_history_sessions *sessions;
    /* Non-NULL while a standby (standby.h): reads only, no schedules,
     * sensors, queue, recovery or retention until it takes over. */
    struct dagd_standby *standby;
    uint64_t started_usec; /* monotonic */
    bool shutting_down;
    int exit_status; /* of dagd serve after the shutdown: 1 when the run history was lost */
    char *socket_path;
};

/* The parts that read the daemon object and so sit above it: the socket's
 * command handlers (dispatch, with the daemon as userdata:
 * dagd_api_dispatch) and the HTTP listener (dagd_http_start/stop, used when
 * config `http:` is set; NULL = none). The caller (cli/cmd_serve.c) hands
 * them in, so the daemon object includes neither and no loop forms. */
struct dagd_daemon_parts {
    dagd_server_dispatch_fn dispatch;
    int (*http_start)(struct dagd_daemon *d, const char *addr, struct dagd_http **ret);
    struct dagd_http *(*http_stop)(struct dagd_http *h);
};

/* `dagd serve` from start to exit on a loop of its own: start, run until
 * the shutdown finished, free. `config` is moved into the daemon (the
 * caller's copy is left empty). Returns the exit status: 0 after a
 * shutdown, 1 when the daemon could not start or stopped because its
 * PostgreSQL history stayed unreachable (logged). */
int dagd_daemon_serve(struct dagd_daemon_config *config, const struct dagd_daemon_parts *parts);

/* Start a daemon on `loop`: open and lock the state, recover orphans, load
 * the pipelines, listen (on the socket systemd passed, or config.socket),
 * install the signal handlers, the directory watch and the retention
 * timer, and say READY=1. `config` is moved as above. 0 with the daemon in
 * *ret, or -errno (logged; nothing is left on the loop). */
int dagd_daemon_start(uv_loop_t *loop, struct dagd_daemon_config *config,
                      const struct dagd_daemon_parts *parts, struct dagd_daemon **ret);
/* Begin the shutdown that SIGTERM begins (`why` is logged). The loop stops
 * (uv_stop) once every run ended or the grace period is over. */
void dagd_daemon_stop(struct dagd_daemon *d, const char *why);
/* Finish (if the shutdown did not), free every component and run the loop
 * until the daemon's handles are closed. Accepts NULL; returns NULL. */
struct dagd_daemon *dagd_daemon_free(struct dagd_daemon *d);

/* Submit a run of `p` (an active pipeline of the registry) to the run
 * queue: the one way in for the API, schedules and sensors. 0 with the
 * run's id in ret_run_id; -ESHUTDOWN once the daemon is stopping; -EINVAL
 * with diagnostics in reterr when the options do not fit the pipeline. */
/* On a standby the run is checked the same way, recorded in the durable
 * queue and the leader notified (relay.h): it starts there. */
int dagd_daemon_submit(struct dagd_daemon *d, struct dagd_pipeline *p,
                       const struct dagd_run_options *opts, char ret_run_id[static 33],
                       struct dagd_diags *reterr);
/* Cancel a queued or running run: 1 when it was queued (now canceled), 0
 * when it is running (canceling) or, on a standby, when the cancel was
 * relayed to the leader (relay.h), -ENOENT when it is not active, -EIO
 * when the standby could not reach the history. */
int dagd_daemon_cancel(struct dagd_daemon *d, const char *run_id);
/* Re-read the pipelines directory (SIGHUP, `dagctl reload`, a change in the
 * directory), bring schedules and sensors in line and update the STATUS=
 * line. Returns what the registry does. */
int dagd_daemon_reload(struct dagd_daemon *d, unsigned *ret_errors);

#endif
