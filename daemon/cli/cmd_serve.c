/* dagd serve: the daemon. Wires the store, plugin host, pipeline registry,
 * executor, run queue and socket server onto one libuv loop, and owns the
 * lifecycle: start (orphan recovery, READY=1), reload (SIGHUP, dagctl
 * reload, pipelines directory changes), retention, and shutdown (SIGTERM:
 * stop accepting, let running steps finish for the grace period, cancel the
 * rest, record state, exit 0). */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api.h"
#include "subcommands.h"
#include "daemon.h"
#include "log.h"
#include "plugin_host.h"
#include "retention.h"
#include "schedules.h"
#include "sensors.h"
#include "statelock.h"

#define RELOAD_DEBOUNCE_MS 150
#define PRUNE_INTERVAL_MS (3600u * 1000u)
#define PRUNE_BATCH 100
#define SHUTDOWN_EXTRA_MS 10000

struct serve {
    struct dagd_daemon d;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_fs_event_t watch;
    bool watching;
    uv_timer_t reload_timer;
    uv_timer_t prune_timer;
    uv_timer_t deadline;
    int lock_fd;
    bool stopped;
};

int dagd_cmd_serve(int argc, char **argv);

void dagd_daemon_update_status(struct dagd_daemon *d)
{
    if (d->shutting_down) {
        dagd_notify_status(d->notify, "Stopping: %zu runs still running",
                           dagd_run_queue_n_running(d->queue));
        return;
    }
    dagd_notify_status(d->notify, "%u pipelines (%u with errors), %zu runs running, %zu queued",
                       dagd_registry_n_active(d->registry), dagd_registry_n_errors(d->registry),
                       dagd_run_queue_n_running(d->queue), dagd_run_queue_n_queued(d->queue));
}

int dagd_daemon_reload(struct dagd_daemon *d, unsigned *ret_errors)
{
    unsigned errors = 0;
    int r = dagd_registry_reload(d->registry, &errors);
    if (r < 0) {
        dagd_log_error("Failed to read the pipelines directory '%s': %s", d->config.pipelines_dir,
                       strerror(-r));
    } else {
        dagd_log_info("Pipelines loaded from '%s': %u active, %u files with errors",
                      d->config.pipelines_dir, dagd_registry_n_active(d->registry), errors);
    }
    if (ret_errors) {
        *ret_errors = errors;
    }
    /* Schedules and sensors follow the pipelines (DESIGN 3b). */
    dagd_schedules_sync(d->schedules);
    dagd_sensors_sync(d->sensors);
    dagd_daemon_update_status(d);
    return r;
}

/* Keep systemd's STATUS= line current as runs end. */
static void on_run_event(const struct dagd_exec_event *ev, void *userdata)
{
    if (ev->kind == DAGD_EXEC_RUN_FINISHED || ev->kind == DAGD_EXEC_RUN_STARTED) {
        dagd_daemon_update_status(userdata);
    }
}

/* ---- shutdown ---- */

static void close_any(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Everything is recorded; end the loop. */
static void finish(void *userdata)
{
    struct serve *s = userdata;
    if (s->stopped) {
        return;
    }
    s->stopped = true;
    dagd_log_info("All runs ended, exiting");
    close_handle((uv_handle_t *)&s->sig_term);
    close_handle((uv_handle_t *)&s->sig_int);
    close_handle((uv_handle_t *)&s->sig_hup);
    if (s->watching) {
        close_handle((uv_handle_t *)&s->watch);
    }
    close_handle((uv_handle_t *)&s->reload_timer);
    close_handle((uv_handle_t *)&s->prune_timer);
    close_handle((uv_handle_t *)&s->deadline);
    dagd_server_free(s->d.server);
    s->d.server = NULL;
    s->d.schedules = dagd_schedules_free(s->d.schedules);
    s->d.sensors = dagd_sensors_free(s->d.sensors);
    uv_stop(s->d.loop);
}

static void on_deadline(uv_timer_t *t)
{
    dagd_log_warning("Runs did not end within the shutdown grace period, exiting anyway");
    finish(t->data);
}

static void begin_shutdown(struct serve *s, const char *why)
{
    struct dagd_daemon *d = &s->d;
    if (d->shutting_down) {
        return;
    }
    d->shutting_down = true;
    dagd_log_info("%s: stopping (grace %" PRIu64 " ms for %zu running runs)", why,
                  d->config.shutdown_grace_usec / 1000u, dagd_run_queue_n_running(d->queue));
    dagd_notify_stopping(d->notify);
    dagd_daemon_update_status(d);
    dagd_server_stop_accepting(d->server);
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
    struct serve *s = h->data;
    if (signum == SIGHUP) {
        dagd_log_info("SIGHUP: reloading pipelines");
        (void)dagd_daemon_reload(&s->d, NULL);
        return;
    }
    begin_shutdown(s, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- pipelines directory watch ---- */

static void on_reload_timer(uv_timer_t *t)
{
    struct serve *s = t->data;
    if (!s->d.shutting_down) {
        (void)dagd_daemon_reload(&s->d, NULL);
    }
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct serve *s = h->data;
    /* Editors write in bursts (temp file, rename, chmod): reload once. */
    (void)uv_timer_start(&s->reload_timer, on_reload_timer, RELOAD_DEBOUNCE_MS, 0);
}

/* ---- retention ---- */

static void on_prune(uv_timer_t *t)
{
    struct serve *s = t->data;
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

static char *first_dir(const char *env)
{
    const char *e = getenv(env);
    if (!e || !*e) {
        return NULL;
    }
    /* systemd passes one path per configured directory, colon-separated. */
    return dagd_xstrndup(e, strcspn(e, ":"));
}

static int usage(void)
{
    fprintf(stderr, "usage: dagd serve [--config FILE] [--socket PATH] [--state-dir DIR] "
                    "[--pipelines DIR] [--plugin-dir DIR]...\n");
    return 2;
}

static int parse_args(int argc, char **argv, struct dagd_daemon_config *c)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"state-dir", required_argument, NULL, 'S'},
        {"pipelines", required_argument, NULL, 'p'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *sock = NULL, *state = NULL, *pipes = NULL;
    char **plugin_dirs = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n_plugin_dirs = 0;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "c:s:", opts, NULL)) >= 0) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sock = optarg;
            break;
        case 'S':
            state = optarg;
            break;
        case 'p':
            pipes = optarg;
            break;
        case 'P':
            plugin_dirs[n_plugin_dirs++] = optarg;
            break;
        case 'h':
            free(plugin_dirs);
            (void)usage();
            return 1;
        default:
            free(plugin_dirs);
            return usage();
        }
    }
    if (optind != argc) {
        free(plugin_dirs);
        return usage();
    }
    if (config) {
        struct dagd_diags diags = {0};
        if (dagd_daemon_config_load(c, config, &diags) < 0) {
            dagd_diags_print(&diags, stderr);
            dagd_diags_done(&diags);
            free(plugin_dirs);
            return 2;
        }
    }
    /* The command line wins over the file; --plugin-dir dirs come first. */
    if (n_plugin_dirs > 0) {
        char **old = c->plugin_dirs;
        size_t n_old = c->n_plugin_dirs;
        c->plugin_dirs = dagd_xcalloc(1, sizeof(char *));
        c->n_plugin_dirs = 0;
        for (size_t i = 0; i < n_plugin_dirs; i++) {
            dagd_daemon_config_add_plugin_dir(c, plugin_dirs[i]);
        }
        for (size_t i = 0; i < n_old; i++) {
            dagd_daemon_config_add_plugin_dir(c, old[i]);
            free(old[i]);
        }
        free(old);
    }
    free(plugin_dirs);
    if (sock) {
        free(c->socket);
        c->socket = dagd_xstrdup(sock);
    }
    if (state) {
        free(c->state_dir);
        c->state_dir = dagd_xstrdup(state);
    }
    if (pipes) {
        free(c->pipelines_dir);
        c->pipelines_dir = dagd_xstrdup(pipes);
    }
    /* Defaults from systemd's directories (DESIGN 7, 5). */
    if (!c->state_dir) {
        c->state_dir = first_dir("STATE_DIRECTORY");
    }
    if (!c->state_dir) {
        c->state_dir = dagd_xstrdup("/var/lib/dagd");
    }
    if (!c->pipelines_dir) {
        _cleanup_free_ char *conf = first_dir("CONFIGURATION_DIRECTORY");
        c->pipelines_dir = dagd_xasprintf("%s/pipelines", conf ? conf : "/etc/dagd");
    }
    return 0;
}

static int open_store(struct serve *s)
{
    struct dagd_daemon *d = &s->d;
    bool alone = false;
    int r;

    r = dagd_store_open(d->config.state_dir, &d->store);
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to open the state database in '%s': %s",
                              d->config.state_dir, dagd_store_errmsg(NULL));
    }
    /* The executor wants an absolute state dir (steps run elsewhere). */
    char abs[PATH_MAX];
    if (realpath(d->config.state_dir, abs)) {
        free(d->config.state_dir);
        d->config.state_dir = dagd_xstrdup(abs);
    }
    s->lock_fd = dagd_statelock_acquire(d->config.state_dir, &alone);
    if (s->lock_fd < 0) {
        return dagd_log_errno(LOG_ERR, s->lock_fd, "Failed to lock '%s': %m", d->config.state_dir);
    }
    if (alone) {
        /* No other dagd uses this state: every run still marked running
         * belonged to a dead process (DESIGN 5: fixed within 1 s of start). */
        r = dagd_store_fail_orphans(d->store, "orphaned: the daemon that ran it died",
                                    dagd_usec_to_msec(dagd_now_wall_usec()));
        if (r < 0) {
            return dagd_log_errno(LOG_ERR, r, "Failed to recover orphaned runs: %s",
                                  dagd_store_errmsg(d->store));
        }
        if (r > 0) {
            dagd_log_warning("Marked %d runs left running by a dead daemon as failed", r);
        }
        (void)dagd_statelock_share(s->lock_fd);
    } else {
        dagd_log_warning("Another dagd uses '%s': leaving its running runs alone",
                         d->config.state_dir);
    }
    return 0;
}

static char *default_socket(void)
{
    _cleanup_free_ char *rt = first_dir("RUNTIME_DIRECTORY");
    return rt ? dagd_xasprintf("%s/dagd.sock", rt) : dagd_xstrdup("/run/dagd/dagd.sock");
}

static int start_server(struct serve *s)
{
    struct dagd_daemon *d = &s->d;
    struct dagd_server_limits limits = {
        .max_line = d->config.max_line_bytes,
        .max_clients = d->config.max_clients,
        .idle_timeout_usec = d->config.idle_timeout_usec,
    };
    int r;

    r = dagd_server_new(d->loop, &limits, dagd_api_dispatch, d, &d->server);
    if (r < 0) {
        return r;
    }
    int fd = dagd_notify_listen_fd();
    if (fd == -EINVAL) {
        return dagd_log_errno(LOG_ERR, fd,
                              "systemd passed an unusable socket (need exactly one "
                              "listening Unix stream socket)");
    }
    if (fd >= 0) {
        d->socket_path = d->config.socket ? dagd_xstrdup(d->config.socket) : NULL;
        r = dagd_server_listen(d->server, d->socket_path, fd);
        if (r < 0) {
            return dagd_log_errno(LOG_ERR, r, "Failed to listen on the socket from systemd: %s",
                                  uv_strerror(r));
        }
        dagd_log_info("Listening on the socket passed by systemd (fd %d)", fd);
        return 0;
    }
    d->socket_path = d->config.socket ? dagd_xstrdup(d->config.socket) : default_socket();
    /* The parent directory (e.g. /run/dagd without systemd) is created 0755. */
    _cleanup_free_ char *parent = dagd_xstrdup(d->socket_path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        (void)mkdir(parent, 0755);
    }
    r = dagd_server_listen(d->server, d->socket_path, -1);
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

int dagd_cmd_serve(int argc, char **argv)
{
    struct serve s = {.lock_fd = -1};
    struct dagd_daemon *d = &s.d;
    uv_loop_t loop;
    int status_observer = 0;
    int ret = 1;
    int r;

    dagd_daemon_config_init(&d->config);
    r = parse_args(argc, argv, &d->config);
    if (r != 0) {
        dagd_daemon_config_done(&d->config);
        return r == 1 ? 0 : r;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&loop) < 0) {
        dagd_daemon_config_done(&d->config);
        return 1;
    }
    d->loop = &loop;
    d->started_usec = dagd_now_mono_usec();
    (void)dagd_notify_new(&loop, &d->notify);
    dagd_notify_status(d->notify, "Starting");

    if (open_store(&s) < 0) {
        goto out;
    }
    d->plugins = dagd_plugin_host_new(d->config.plugin_dirs);
    d->registry = dagd_registry_new(d->config.pipelines_dir, d->plugins);
    struct dagd_executor_config ec = {
        .loop = &loop,
        .store = d->store,
        .plugins = d->plugins,
        .max_jobs = d->config.max_jobs,
        .state_dir = d->config.state_dir,
        .work_dir = d->config.work_dir,
    };
    r = dagd_executor_new(&ec, &d->executor);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to start the executor: %m");
        goto out;
    }
    d->queue = dagd_run_queue_new(d->executor, d->store, d->config.state_dir,
                                  d->config.max_concurrent_runs);
    /* After the queue's own observer, so the counts are current. */
    status_observer = dagd_executor_observe(d->executor, NULL, on_run_event, d);
    d->schedules = dagd_schedules_new(d);
    d->sensors = dagd_sensors_new(d);
    (void)dagd_daemon_reload(d, NULL);

    if (start_server(&s) < 0) {
        goto out;
    }
    uv_signal_init(&loop, &s.sig_term);
    uv_signal_init(&loop, &s.sig_int);
    uv_signal_init(&loop, &s.sig_hup);
    s.sig_term.data = s.sig_int.data = s.sig_hup.data = &s;
    uv_signal_start(&s.sig_term, on_signal, SIGTERM);
    uv_signal_start(&s.sig_int, on_signal, SIGINT);
    uv_signal_start(&s.sig_hup, on_signal, SIGHUP);
    uv_timer_init(&loop, &s.reload_timer);
    uv_timer_init(&loop, &s.prune_timer);
    uv_timer_init(&loop, &s.deadline);
    s.reload_timer.data = s.prune_timer.data = s.deadline.data = &s;
    if (d->config.watch_pipelines) {
        uv_fs_event_init(&loop, &s.watch);
        s.watch.data = &s;
        s.watching = true;
        r = uv_fs_event_start(&s.watch, on_fs_event, d->config.pipelines_dir, 0);
        if (r < 0) {
            dagd_log_warning("Cannot watch '%s': %s, reload with SIGHUP or dagctl reload",
                             d->config.pipelines_dir, uv_strerror(r));
        }
    }
    (void)uv_timer_start(&s.prune_timer, on_prune, 60u * 1000u, 0);

    dagd_notify_ready(d->notify);
    dagd_daemon_update_status(d);
    dagd_log_info("dagd serve ready: state '%s', pipelines '%s'", d->config.state_dir,
                  d->config.pipelines_dir);

    (void)uv_run(&loop, UV_RUN_DEFAULT);
    ret = 0;

out:
    /* Let closing clients run their abort callbacks while the queue exists. */
    if (!s.stopped) {
        finish(&s);
    }
    for (int i = 0; i < 3; i++) {
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    }
    d->queue = dagd_run_queue_free(d->queue);
    if (d->executor && status_observer > 0) {
        dagd_executor_unobserve(d->executor, status_observer);
    }
    if (d->executor) {
        dagd_executor_free(d->executor);
        d->executor = NULL;
    }
    dagd_notify_free(d->notify);
    /* The executor closes its handles (its steps are gone by now). */
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    uv_walk(&loop, close_any, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) < 0) {
        dagd_log_warning("Handles left open at exit, ignoring");
    }
    d->registry = dagd_registry_free(d->registry);
    d->plugins = dagd_plugin_host_free(d->plugins);
    d->store = dagd_store_free(d->store);
    if (s.lock_fd >= 0) {
        close(s.lock_fd);
    }
    free(d->socket_path);
    dagd_daemon_config_done(&d->config);
    return ret;
}
