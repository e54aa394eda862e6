/* The state of `dagd serve`, shared by cmd_serve.c (lifecycle) and the
 * command handlers (api_*.c). Owned by cmd_serve.c. */
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
    uint64_t started_usec;            /* monotonic */
    bool shutting_down;
    char *socket_path;
};

/* Re-read the pipelines directory (SIGHUP, `dagctl reload`, a change in the
 * directory) and update the STATUS= line. Returns what the registry does. */
int dagd_daemon_reload(struct dagd_daemon *d, unsigned *ret_errors);
/* Update systemd's STATUS= line from the current counters. */
void dagd_daemon_update_status(struct dagd_daemon *d);

#endif
