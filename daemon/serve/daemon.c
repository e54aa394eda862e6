/* See daemon.h: the daemon object and its lifecycle. */
#include "daemon.h"

#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "plugin_host.h"
#include "procsweep.h"
#include "relay.h"
#include "resume.h"
#include "retention.h"
#include "schedules.h"
#include "sensors.h"
#include "standby.h"
#include "statelock.h"
#include "history_sessions.h"
#include "read_pool.h"
#include "store_io.h"
#include "trigger.h"

#define RELOAD_DEBOUNCE_MS 150
#define PRUNE_INTERVAL_MS (3600u * 1000u)
#define PRUNE_FIRST_MS (60u * 1000u)
#define PRUNE_BATCH 100
#define SHUTDOWN_EXTRA_MS 10000

/* The object and what only its lifecycle needs (d first: the handlers get
 * &daemon.d, the lifecycle casts back). */
struct daemon {
    struct dagd_daemon d;
    struct dagd_daemon_parts parts;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_fs_event_t watch;
    bool watching;
    uv_timer_t reload_timer;
    uv_timer_t prune_timer;
    uv_timer_t deadline;
    uv_timer_t history_lost;               /* the store gave up on PostgreSQL: stop from the loop */
    struct dagd_store_io_driver *store_io; /* PostgreSQL's socket on the loop (store_io.h) */
    int lock_fd;
    int serve_lock_fd;          /* DIR/serve.lock: one daemon per state directory */
    struct dagd_resume *resume; /* runs to resume with their Slurm jobs (resume.h) */
    struct dagd_relay *relay;   /* a PostgreSQL leader's standbys' requests (relay.h) */
    bool stopped;
    bool standing_by; /* start-up found the history's lock held and `standby: true` */
};

static struct daemon *daemon_of(struct dagd_daemon *d)
{
    return (struct daemon *)d;
}

/* ---- status, submit, reload ---- */

static void update_status(struct dagd_daemon *d)
{
    if (d->shutting_down) {
        dagd_notify_status(d->notify, "Stopping: %zu runs still running",
                           dagd_run_queue_n_running(d->queue));
        return;
    }
    if (d->standby) {
        dagd_notify_status(d->notify,
                           "Standby: serving reads of the run history, another daemon leads it; "
                           "%u pipelines (%u with errors)",
                           dagd_registry_n_active(d->registry),
                           dagd_registry_n_errors(d->registry));
        return;
    }
    dagd_notify_status(d->notify, "%u pipelines (%u with errors), %zu runs running, %zu queued",
                       dagd_registry_n_active(d->registry), dagd_registry_n_errors(d->registry),
                       dagd_run_queue_n_running(d->queue), dagd_run_queue_n_queued(d->queue));
}

/* The queue's counts changed (a run queued, started, finished, canceled). */
static void on_queue_change(void *userdata)
{
    update_status(userdata);
}

int dagd_daemon_submit(struct dagd_daemon *d, struct dagd_pipeline *p,
                       const struct dagd_run_options *opts, char ret_run_id[static 33],
                       struct dagd_diags *reterr)
{
    if (d->shutting_down) {
        return -ESHUTDOWN;
    }
    /* Runs of schedules, sensors and retries, and runs without --priority,
     * wait at their pipeline's priority. */
    struct dagd_run_options o = *opts;
    if (!o.priority_set) {
        o.priority = p->priority;
        o.priority_set = true;
    }
    if (!d->standby) {
        return dagd_run_queue_submit(d->queue, p, &o, ret_run_id, reterr);
    }
    /* The leader runs it: checked here as it would be there, recorded in
     * the durable queue, and the leader told (relay.h). Should the leader
     * miss the notification, it reads the queue when it listens again, or
     * whoever leads next does at its start. */
    int r = dagd_run_queue_record(d->queue, p, &o, ret_run_id, reterr);
    if (r >= 0) {
        _cleanup_free_ char *msg = dagd_xasprintf(DAGD_RELAY_RUN "%s", ret_run_id);
        if (dagd_store_notify(d->store, msg) < 0) {
            dagd_log_warning("Run %s: failed to notify the leader (%s); it takes the run up "
                             "when it reads the queue again, ignoring",
                             ret_run_id, dagd_store_errmsg(d->store));
        }
    }
    return r;
}

int dagd_daemon_cancel(struct dagd_daemon *d, const char *run_id)
{
    if (!d->standby) {
        return dagd_run_queue_cancel(d->queue, run_id);
    }
    struct dagd_run_info info = {0};
    if (dagd_store_run_get(d->store, run_id, &info) < 0) {
        return -ENOENT;
    }
    bool active = info.status == DAGD_RUN_QUEUED || info.status == DAGD_RUN_RUNNING;
    dagd_run_info_done(&info);
    if (!active) {
        return -ENOENT;
    }
    _cleanup_free_ char *msg = dagd_xasprintf(DAGD_RELAY_CANCEL "%s", run_id);
    return dagd_store_notify(d->store, msg) < 0 ? -EIO : 0;
}

/* The trigger host's submit (trigger.h). */
static int trigger_submit(void *userdata, struct dagd_pipeline *p,
                          const struct dagd_run_options *opts, char ret_run_id[static 33],
                          struct dagd_diags *reterr)
{
    return dagd_daemon_submit(userdata, p, opts, ret_run_id, reterr);
}

int dagd_daemon_reload(struct dagd_daemon *d, unsigned *ret_errors)
{
    unsigned errors = 0;
    int r = dagd_registry_reload(d->registry, &errors);
    if (r < 0) {
        dagd_log_error("Failed to read the pipelines directory '%s': %s", d->config.pipelines_dir,
                       strerror(-r));
    } else {
        dagd_log_info("Pipelines loaded from '%s': %u active, %u file%s with errors",
                      d->config.pipelines_dir, dagd_registry_n_active(d->registry), errors,
                      errors == 1 ? "" : "s");
    }
    if (ret_errors) {
        *ret_errors = errors;
    }
    /* Schedules and sensors follow the pipelines (DESIGN 3b). */
    dagd_schedules_sync(d->schedules);
    dagd_sensors_sync(d->sensors);
    update_status(d);
    return r;
}

/* ---- shutdown ---- */

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Everything is recorded; end the loop. */
static void finish(void *userdata)
{
    struct daemon *s = userdata;
    if (s->stopped) {
        return;
    }
    s->stopped = true;
    /* Only a shutdown waits for runs; a failed start has none to wait for. */
    if (s->d.shutting_down) {
        dagd_log_info("All runs ended, exiting");
    }
    close_handle((uv_handle_t *)&s->sig_term);
    close_handle((uv_handle_t *)&s->sig_int);
    close_handle((uv_handle_t *)&s->sig_hup);
    if (s->watching) {
        close_handle((uv_handle_t *)&s->watch);
    }
    close_handle((uv_handle_t *)&s->reload_timer);
    close_handle((uv_handle_t *)&s->prune_timer);
    close_handle((uv_handle_t *)&s->deadline);
    close_handle((uv_handle_t *)&s->history_lost);
    s->d.standby = dagd_standby_free(s->d.standby);
    s->relay = dagd_relay_free(s->relay);
    dagd_server_free(s->d.server);
    s->d.server = NULL;
    if (s->d.http && s->parts.http_stop) {
        s->d.http = s->parts.http_stop(s->d.http);
    }
    s->d.schedules = dagd_schedules_free(s->d.schedules);
    s->d.sensors = dagd_sensors_free(s->d.sensors);
    uv_stop(s->d.loop);
}

static void on_deadline(uv_timer_t *t)
{
    dagd_log_warning("Runs did not end within the shutdown grace period, exiting anyway");
    finish(t->data);
}

void dagd_daemon_stop(struct dagd_daemon *d, const char *why)
{
    struct daemon *s = daemon_of(d);
    if (d->shutting_down) {
        return;
    }
    d->shutting_down = true;
    dagd_log_info("%s: stopping (grace %" PRIu64 " ms for %zu running runs)", why,
                  d->config.shutdown_grace_usec / 1000u, dagd_run_queue_n_running(d->queue));
    dagd_notify_stopping(d->notify);
    update_status(d);
    dagd_server_stop_accepting(d->server);
    /* A standby that stops does not take over on the way out, a leader
     * takes no more runs from standbys. */
    d->standby = dagd_standby_free(d->standby);
    s->relay = dagd_relay_free(s->relay);
    /* No new runs from schedules or sensors. */
    d->schedules = dagd_schedules_free(d->schedules);
    d->sensors = dagd_sensors_free(d->sensors);
    dagd_run_queue_cancel_queued(d->queue);
    dagd_executor_shutdown(d->executor, d->config.shutdown_grace_usec);
    (void)uv_timer_start(&s->deadline, on_deadline,
                         d->config.shutdown_grace_usec / 1000u + SHUTDOWN_EXTRA_MS, 0);
    dagd_run_queue_on_idle(d->queue, finish, s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *s = h->data;
    if (signum == SIGHUP) {
        dagd_log_info("SIGHUP: reloading pipelines");
        (void)dagd_daemon_reload(&s->d, NULL);
        return;
    }
    dagd_daemon_stop(&s->d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- pipelines directory watch ---- */

static void on_reload_timer(uv_timer_t *t)
{
    struct daemon *s = t->data;
    if (!s->d.shutting_down) {
        (void)dagd_daemon_reload(&s->d, NULL);
    }
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct daemon *s = h->data;
    /* Editors write in bursts (temp file, rename, chmod): reload once. */
    (void)uv_timer_start(&s->reload_timer, on_reload_timer, RELOAD_DEBOUNCE_MS, 0);
}

/* ---- retention ---- */

static void on_prune(uv_timer_t *t)
{
    struct daemon *s = t->data;
    struct dagd_daemon *d = &s->d;
    uint64_t next = PRUNE_INTERVAL_MS;

    if (d->config.retention_usec == 0) {
        return;
    }
    /* One batch per turn keeps the loop responsive; the next comes at once. */
    int r = dagd_retention_prune_batch(d->store, d->config.retention_usec, dagd_now_wall_usec(),
                                       PRUNE_BATCH);
    if (r < 0) {
        dagd_log_warning("Failed to prune old runs: %s, ignoring", dagd_store_errmsg(d->store));
    } else if (r > 0) {
        next = 0;
    }
    (void)uv_timer_start(t, on_prune, next, 0);
}

/* ---- start ---- */

/* No other dagd uses this state: every run still marked running belonged to
 * a dead process (DESIGN 5: fixed within 1 s of start). What its steps left
 * running is killed first: never both failed and still running. */
static int recover_orphans(struct dagd_daemon *d)
{
    (void)dagd_procsweep_orphans(d->store);
    int r = dagd_store_fail_orphans(d->store, "orphaned: the daemon that ran it died",
                                    dagd_usec_to_msec(dagd_now_wall_usec()));
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to recover orphaned runs: %s",
                              dagd_store_errmsg(d->store));
    }
    if (r > 0) {
        dagd_log_warning("Marked %d runs left running by a dead daemon as failed", r);
    }
    return 0;
}

static void on_history_lost(uv_timer_t *t)
{
    struct daemon *s = t->data;
    dagd_daemon_stop(&s->d, "Run history unreachable");
}

/* The store lost PostgreSQL and reconnects (docs/postgresql.md): called at
 * each attempt, from the loop (store_io.c's timer; steps go on, writes
 * queue), or from inside a store call that waits (without a driver, at
 * stop), so keep systemd's watchdog fed (the wait is bounded by
 * DAGD_STATE_RECONNECT_TIMEOUT, not by WatchdogSec) and say what we wait
 * for, once per outage in the log, in STATUS= throughout.
 * Past the timeout the store gives up and the daemon stops cleanly, exit
 * status 1: its steps are stopped, and the next start (systemd's
 * Restart=on-failure, once the server is back) fails the runs they
 * belonged to as orphans. Going on would fail every run that writes while
 * each statement waited out the timeout again. */
static void on_store_wait(unsigned waited_ms, bool gave_up, const char *why, void *userdata)
{
    struct dagd_daemon *d = userdata;
    /* libpq's reason spans lines: keep the log line one line. */
    char reason[512];
    (void)snprintf(reason, sizeof(reason), "%s", why ? why : "");
    for (char *c = reason; *c; c++) {
        if (*c == '\n' || *c == '\t') {
            *c = ' ';
        }
    }
    if (gave_up) {
        struct daemon *s = daemon_of(d);
        dagd_log_error("Gave up the run history: %s; stopping (exit status 1), the runs in "
                       "progress are failed at the next start (or by the daemon that took over)",
                       reason);
        d->exit_status = 1;
        /* Not from here: we are inside a store call. */
        (void)uv_timer_start(&s->history_lost, on_history_lost, 0, 0);
        return;
    }
    size_t queued = dagd_store_pending_writes(d->store);
    if (waited_ms == 0) {
        dagd_log_warning("Lost the connection to the run history (%s): %s; reconnecting, "
                         "steps go on and their writes are queued meanwhile",
                         dagd_store_path(d->store), reason);
    }
    dagd_notify_watchdog(d->notify);
    dagd_notify_status(d->notify, "Waiting for PostgreSQL (%u s, %zu writes queued)",
                       waited_ms / 1000, queued);
}

/* The PostgreSQL session's application_name names this daemon ("dagd
 * serve pid N on HOST"), so a standby can say who leads. libpq reads it
 * from PGAPPNAME when the conninfo has none; it is set for the store's
 * connect only (PQreset keeps it), so steps' warehouse connections do not
 * inherit it. A PGAPPNAME or application_name the user gave wins. */
static int open_store_named(struct dagd_daemon *d)
{
    if (!d->config.state || getenv("PGAPPNAME")) {
        return dagd_store_open_location(d->config.state_dir, d->config.state, &d->store);
    }
    char app[64];
    dagd_standby_application_name(app, sizeof(app));
    (void)setenv("PGAPPNAME", app, 1);
    int r = dagd_store_open_location(d->config.state_dir, d->config.state, &d->store);
    (void)unsetenv("PGAPPNAME");
    return r;
}

/* Take the history's lock. Without it a second daemon would fail the first
 * one's runs as orphans and fire every schedule twice: it is refused, or,
 * with `standby: true`, stands by (s->standing_by) and serves reads. */
static int lock_history(struct daemon *s)
{
    struct dagd_daemon *d = &s->d;
    int r = dagd_store_lock_history(d->store);

    /* A daemon that just exited (a restart) holds it until its server
     * backend is gone, a moment after its connection closed; a standby
     * needs no such grace: it polls anyway. */
    for (int i = 0; r == -EBUSY && !d->config.standby && i < 40; i++) {
        (void)usleep(50 * 1000);
        r = dagd_store_lock_history(d->store);
    }
    if (r == -EBUSY && d->config.standby) {
        dagd_log_info("Standby: %s; serving reads of it, taking over when it stops",
                      dagd_store_errmsg(d->store));
        s->standing_by = true;
        r = 0;
    }
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "%s", dagd_store_errmsg(d->store));
    }
    return 0;
}

static int open_store(struct daemon *s)
{
    struct dagd_daemon *d = &s->d;
    int r;

    r = open_store_named(d);
    if (r < 0) {
        if (d->config.state) {
            /* The message names the server without secrets (store.h). */
            return dagd_log_errno(LOG_ERR, r, "Failed to open the run history: %s",
                                  dagd_store_errmsg(NULL));
        }
        return dagd_log_errno(LOG_ERR, r, "Failed to open the state database in '%s': %s",
                              d->config.state_dir, dagd_store_errmsg(NULL));
    }
    if (dagd_store_is_postgresql(d->store)) {
        r = lock_history(s);
        if (r < 0) {
            return r;
        }
        /* A standby's reads wait for the server the same way, and it
         * stops like a leader past the timeout. */
        dagd_store_set_wait_fn(d->store, on_store_wait, d);
        s->store_io = dagd_store_io_driver_new(d->loop, d->store);
        d->read_pool =
            dagd_read_pool_new(d->loop, d->store, d->config.state, d->config.state_readers);
        d->sessions = dagd_history_sessions_new(d->store);
        dagd_log_info("Run history in PostgreSQL (%s)", dagd_store_path(d->store));
    }
    /* The executor wants an absolute state dir (steps run elsewhere). */
    char abs[PATH_MAX];
    if (realpath(d->config.state_dir, abs)) {
        free(d->config.state_dir);
        d->config.state_dir = dagd_xstrdup(abs);
    }
    pid_t holder = 0;
    s->serve_lock_fd = dagd_statelock_serve(d->config.state_dir, &holder);
    if (s->serve_lock_fd == -EBUSY) {
        dagd_log_error("Another daemon (dagd serve, PID %ld) uses the state directory '%s': one "
                       "daemon per state directory; stop it or give another --state-dir",
                       (long)holder, d->config.state_dir);
        return -EBUSY;
    }
    if (s->serve_lock_fd < 0) {
        return dagd_log_errno(LOG_ERR, s->serve_lock_fd, "Failed to lock '%s': %m",
                              d->config.state_dir);
    }
    return 0;
}

/* The leader's part of the start (at start, or when a standby takes
 * over): the state directory's lock, and, when no other dagd uses that
 * directory, the runs a dead daemon left running are failed as orphans. */
static int recover_state(struct daemon *s)
{
    struct dagd_daemon *d = &s->d;
    bool alone = false;
    int r;

    s->lock_fd = dagd_statelock_acquire(d->config.state_dir, &alone);
    if (s->lock_fd < 0) {
        return dagd_log_errno(LOG_ERR, s->lock_fd, "Failed to lock '%s': %m", d->config.state_dir);
    }
    if (!alone) {
        dagd_log_warning("Another dagd uses '%s': leaving its running runs alone",
                         d->config.state_dir);
        return 0;
    }
    /* Before the recovery marks them failed: runs whose Slurm jobs may
     * still run are resumed once the executor is up. */
    s->resume = dagd_resume_collect(d->store, d->config.state_dir);
    r = recover_orphans(d);
    if (r < 0) {
        return r;
    }
    (void)dagd_statelock_share(s->lock_fd);
    return 0;
}

/* Queue a queued row of the history here: 1, or 0 when it already is (or
 * runs), or -ENOENT when its pipeline is not loaded (the run is failed). */
static int adopt(struct dagd_daemon *d, const struct dagd_run_info *run)
{
    if (dagd_run_queue_is_queued(d->queue, run->run_id) ||
        dagd_run_queue_is_active(d->queue, run->run_id)) {
        return 0;
    }
    struct dagd_pipeline *p = dagd_registry_get(d->registry, run->pipeline);
    if (!p) {
        (void)dagd_store_run_set_status(d->store, run->run_id, DAGD_RUN_FAILED,
                                        "its pipeline is not loaded any more",
                                        dagd_now_wall_msec());
        return -ENOENT;
    }
    (void)dagd_run_queue_adopt(d->queue, p, run);
    return 1;
}

/* The durable queue (the queued runs of backfills, and runs standbys
 * recorded, docs/daemon.md): a restart resumes them in their order
 * (priority, then age). A run whose pipeline is not loaded any more fails. */
static int resume_queue(struct dagd_daemon *d, bool log_failure)
{
    struct dagd_run_info *runs = NULL;
    size_t n = 0, resumed = 0, failed = 0;

    int r = dagd_store_runs_queued_durable(d->store, &runs, &n);
    if (r < 0 && log_failure) {
        dagd_log_error("Failed to read the queued runs: %s", dagd_store_errmsg(d->store));
    }
    for (size_t i = 0; i < n; i++) {
        int k = adopt(d, &runs[i]);
        resumed += k > 0;
        failed += k < 0;
        dagd_run_info_done(&runs[i]);
    }
    free(runs);
    if (resumed + failed > 0) {
        dagd_log_info("Resumed %zu queued runs (%zu could not resume)", resumed, failed);
        dagd_run_queue_kick(d->queue);
    }
    return r < 0 ? r : 0;
}

/* A standby's request (relay.h): the run it recorded, or (NULL) every
 * queued row, after the LISTEN connection was down. */
static int take_queued(void *userdata, const char *run_id)
{
    struct dagd_daemon *d = userdata;
    struct dagd_run_info run = {0};

    if (!run_id) {
        /* The relay says so once and tries again. */
        return resume_queue(d, false);
    }
    int r = dagd_store_run_get(d->store, run_id, &run);
    if (r == -ENOENT) {
        dagd_log_warning("Run %s from a standby: not in the history, ignoring", run_id);
        return 0;
    }
    if (r < 0) {
        dagd_log_warning("Run %s from a standby: %s; reading the queue again later", run_id,
                         dagd_store_errmsg(d->store));
        return r;
    }
    if (run.status == DAGD_RUN_QUEUED && adopt(d, &run) > 0) {
        dagd_log_info("Run %s of '%s' submitted through a standby (trigger %s)", run_id,
                      run.pipeline, run.trigger ? run.trigger : "cli");
        dagd_run_queue_kick(d->queue);
    }
    dagd_run_info_done(&run);
    return 0;
}

/* Plugin host, registry, executor and run queue, and the first load of
 * the pipelines: what a standby needs to answer too. */
static int open_components(struct dagd_daemon *d)
{
    d->plugins = dagd_plugin_host_new(d->config.plugin_dirs);
    d->registry = dagd_registry_new(d->config.pipelines_dir, d->plugins);
    /* Pools are enforced under the daemon even when none is configured: a
     * step naming a pool then fails to submit with the reason. */
    _cleanup_free_ struct dagd_pool *pools =
        dagd_xcalloc(d->config.n_pools + 1, sizeof(struct dagd_pool));
    for (size_t i = 0; i < d->config.n_pools; i++) {
        pools[i] = (struct dagd_pool){d->config.pool_names[i], d->config.pool_slots[i]};
    }
    struct dagd_executor_config ec = {
        .loop = d->loop,
        .store = d->store,
        .plugins = d->plugins,
        .max_jobs = d->config.max_jobs,
        .state_dir = d->config.state_dir,
        .work_dir = d->config.work_dir,
        .pools = pools,
        .n_pools = d->config.n_pools,
        .slurm = &d->config.slurm,
    };
    int r = dagd_executor_new(&ec, &d->executor);
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to start the executor: %m");
    }
    d->queue = dagd_run_queue_new(d->executor, d->store, d->config.state_dir,
                                  d->config.max_concurrent_runs);
    dagd_run_queue_set_limits(d->queue, d->config.max_queued_runs, d->config.max_queued_bytes);
    dagd_run_queue_set_max_backfill_runs(d->queue, d->config.max_backfill_runs);
    dagd_run_queue_on_change(d->queue, on_queue_change, d);
    (void)dagd_daemon_reload(d, NULL);
    return 0;
}

/* What only the leader does: schedules and sensors fire (they follow the
 * pipelines loaded above), runs whose Slurm jobs outlived their daemon are
 * resumed, the durable queue is taken up. */
static void lead(struct daemon *s)
{
    struct dagd_daemon *d = &s->d;
    struct dagd_trigger_host host = {
        .loop = d->loop,
        .store = d->store,
        .registry = d->registry,
        .queue = d->queue,
        .submit = trigger_submit,
        .userdata = d,
        .state_dir = d->config.state_dir,
    };
    d->schedules = dagd_schedules_new(&host);
    d->sensors = dagd_sensors_new(&host);
    dagd_schedules_sync(d->schedules);
    dagd_sensors_sync(d->sensors);
    dagd_resume_start(TAKE_PTR(s->resume), d->registry, d->executor);
    if (dagd_store_is_postgresql(d->store)) {
        /* Listening before the queue is read: no standby's run falls
         * between the two. */
        const struct dagd_relay_host rh = {
            .loop = d->loop,
            .queue = d->queue,
            .conninfo = d->config.state,
            .take = take_queued,
            .userdata = d,
        };
        s->relay = dagd_relay_new(&rh);
    }
    (void)resume_queue(d, true);
}

/* The standby's poll got the history's lock: the old leader's session
 * ended (it stopped, crashed, or lost the server). Lead in place, on the
 * socket and listener that served reads: its runs in progress are failed
 * as orphans, each schedule goes on from its newest recorded tick (so no
 * tick fires twice, and `catchup:` runs the gap's), the durable queue is
 * taken up. */
static void on_leader(void *userdata)
{
    struct daemon *s = userdata;
    struct dagd_daemon *d = &s->d;
    double waited = (double)(dagd_now_mono_usec() - dagd_standby_since_usec(d->standby)) / 1e6;

    d->standby = dagd_standby_free(d->standby);
    /* `status` lists the others now, and no leader. */
    dagd_history_sessions_forget(d->sessions);
    dagd_log_info("Took over the run history (%s) after %.1f s of standby",
                  dagd_store_path(d->store), waited);
    if (recover_state(s) < 0) {
        /* Leading without the recovery would leave the old leader's runs
         * `running` for good: stop, systemd restarts us as a leader. */
        d->exit_status = 1;
        dagd_daemon_stop(d, "Failed to take over the run history");
        return;
    }
    lead(s);
    (void)uv_timer_start(&s->prune_timer, on_prune, PRUNE_FIRST_MS, 0);
    update_status(d);
}

/* Socket activation: listen on the socket systemd passed (dagd.socket). */
static int listen_passed(struct dagd_daemon *d, int fd)
{
    d->socket_path = d->config.socket ? dagd_xstrdup(d->config.socket) : NULL;
    int r = dagd_server_listen(d->server, d->socket_path, fd);
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to listen on the socket from systemd: %s",
                              uv_strerror(r));
    }
    dagd_log_info("Listening on the socket passed by systemd (fd %d)", fd);
    return 0;
}

static int listen_path(struct dagd_daemon *d)
{
    d->socket_path =
        d->config.socket ? dagd_xstrdup(d->config.socket) : dagd_daemon_config_default_socket();
    /* The parent directory (e.g. /run/dagd without systemd) is created 0755. */
    _cleanup_free_ char *parent = dagd_xstrdup(d->socket_path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        (void)mkdir(parent, 0755);
    }
    int r = dagd_server_listen(d->server, d->socket_path, -1);
    if (r == -ENAMETOOLONG) {
        return dagd_log_errno(LOG_ERR, r, "Socket path '%s' is too long (max %zu bytes)",
                              d->socket_path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    }
    if (r == -EADDRINUSE) {
        return dagd_log_errno(LOG_ERR, r, "Another daemon is listening on '%s'", d->socket_path);
    }
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to listen on '%s': %s", d->socket_path,
                              strerror(-r));
    }
    dagd_log_info("Listening on '%s'", d->socket_path);
    return 0;
}

static int start_server(struct daemon *s)
{
    struct dagd_daemon *d = &s->d;
    struct dagd_server_limits limits = {
        .max_line = d->config.max_line_bytes,
        .max_clients = d->config.max_clients,
        .max_clients_per_uid = d->config.max_clients_per_uid,
        .idle_timeout_usec = d->config.idle_timeout_usec,
    };
    int r;

    r = dagd_server_new(d->loop, &limits, s->parts.dispatch, d, &d->server);
    if (r < 0) {
        return r;
    }
    int fd = dagd_notify_listen_fd();
    if (fd == -EINVAL) {
        return dagd_log_errno(LOG_ERR, fd,
                              "systemd passed an unusable socket (need exactly one "
                              "listening Unix stream socket)");
    }
    return fd >= 0 ? listen_passed(d, fd) : listen_path(d);
}

/* Signals, the reload debounce and directory watch, the prune timer. */
static void start_handles(struct daemon *s)
{
    struct dagd_daemon *d = &s->d;
    uv_loop_t *loop = d->loop;

    uv_signal_init(loop, &s->sig_term);
    uv_signal_init(loop, &s->sig_int);
    uv_signal_init(loop, &s->sig_hup);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
    uv_signal_start(&s->sig_term, on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_signal, SIGINT);
    uv_signal_start(&s->sig_hup, on_signal, SIGHUP);
    uv_timer_init(loop, &s->reload_timer);
    uv_timer_init(loop, &s->prune_timer);
    uv_timer_init(loop, &s->deadline);
    s->reload_timer.data = s->prune_timer.data = s->deadline.data = s;
    if (d->config.watch_pipelines) {
        uv_fs_event_init(loop, &s->watch);
        s->watch.data = s;
        s->watching = true;
        int r = uv_fs_event_start(&s->watch, on_fs_event, d->config.pipelines_dir, 0);
        if (r < 0) {
            dagd_log_warning("Cannot watch '%s': %s, reload with SIGHUP or dagctl reload",
                             d->config.pipelines_dir, uv_strerror(r));
        }
    }
    /* Retention is the leader's (a standby starts it when it takes over). */
    if (!s->standing_by) {
        (void)uv_timer_start(&s->prune_timer, on_prune, PRUNE_FIRST_MS, 0);
    }
}

int dagd_daemon_start(uv_loop_t *loop, struct dagd_daemon_config *config,
                      const struct dagd_daemon_parts *parts, struct dagd_daemon **ret)
{
    struct daemon *s = dagd_xcalloc(1, sizeof(*s));
    struct dagd_daemon *d = &s->d;
    int r;

    s->lock_fd = -1;
    s->serve_lock_fd = -1;
    s->parts = *parts;
    d->config = *config;
    *config = (struct dagd_daemon_config){0};
    d->loop = loop;
    d->started_usec = dagd_now_mono_usec();
    (void)dagd_notify_new(loop, &d->notify);
    dagd_notify_status(d->notify, "Starting");
    /* Before the store opens: it may give up on PostgreSQL at any call. */
    uv_timer_init(loop, &s->history_lost);
    s->history_lost.data = s;

    r = open_store(s);
    if (r >= 0 && !s->standing_by) {
        r = recover_state(s);
    }
    if (r >= 0) {
        r = open_components(d);
    }
    if (r >= 0 && !s->standing_by) {
        lead(s);
    }
    if (r >= 0) {
        r = start_server(s);
    }
    if (r >= 0 && d->config.http && s->parts.http_start) {
        r = s->parts.http_start(d, d->config.http, &d->http);
    }
    if (r < 0) {
        dagd_daemon_free(d);
        return r;
    }
    start_handles(s);
    if (s->standing_by) {
        d->standby = dagd_standby_new(loop, d->store, on_leader, s);
    }
    /* Start-up read state.db (its page check, orphan recovery) and loaded
     * every pipeline: give the freed heap back, or an idle daemon keeps it
     * (2.1 MB with 100,000 runs in state.db, tests/bench/webui). */
    (void)malloc_trim(0);
    dagd_notify_ready(d->notify);
    update_status(d);
    dagd_log_info("dagd serve ready: state '%s', pipelines '%s'", d->config.state_dir,
                  d->config.pipelines_dir);
    *ret = d;
    return 0;
}

/* ---- free ---- */

struct dagd_daemon *dagd_daemon_free(struct dagd_daemon *d)
{
    if (!d) {
        return NULL;
    }
    struct daemon *s = daemon_of(d);
    /* Let closing clients run their abort callbacks while the queue exists. */
    finish(s);
    for (int i = 0; i < 3; i++) {
        (void)uv_run(d->loop, UV_RUN_NOWAIT);
    }
    if (d->queue) {
        dagd_run_queue_on_change(d->queue, NULL, NULL);
    }
    d->queue = dagd_run_queue_free(d->queue);
    if (d->executor) {
        dagd_executor_free(d->executor);
        d->executor = NULL;
    }
    dagd_notify_free(d->notify);
    d->notify = NULL;
    /* Reads in a worker thread finish during the uv_run below. */
    d->read_pool = dagd_read_pool_free(d->read_pool);
    d->sessions = dagd_history_sessions_free(d->sessions);
    /* The store waits for its answers again: its last writes are flushed
     * when it is freed below. */
    s->store_io = dagd_store_io_driver_free(s->store_io);
    /* The executor closes its handles (its steps are gone by now). */
    (void)uv_run(d->loop, UV_RUN_DEFAULT);
    d->registry = dagd_registry_free(d->registry);
    d->plugins = dagd_plugin_host_free(d->plugins);
    d->store = dagd_store_free(d->store);
    if (s->lock_fd >= 0) {
        close(s->lock_fd);
    }
    if (s->serve_lock_fd >= 0) {
        close(s->serve_lock_fd);
    }
    free(d->socket_path);
    dagd_daemon_config_done(&d->config);
    free(s);
    return NULL;
}

static void close_any(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

int dagd_daemon_serve(struct dagd_daemon_config *config, const struct dagd_daemon_parts *parts)
{
    struct dagd_daemon *d = NULL;
    uv_loop_t loop;
    int ret = 1;

    (void)signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&loop) < 0) {
        return 1;
    }
    if (dagd_daemon_start(&loop, config, parts, &d) >= 0) {
        (void)uv_run(&loop, UV_RUN_DEFAULT);
        ret = d->exit_status;
    }
    d = dagd_daemon_free(d);
    uv_walk(&loop, close_any, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) < 0) {
        dagd_log_warning("Handles left open at exit, ignoring");
    }
    return ret;
}
