/* Command group: daemon status. */
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "history_sessions.h"
#include "standby.h"

static void on_lane(const char *pipeline, const char *backfill_id, size_t n, int priority,
                    void *userdata)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pipeline", pipeline);
    if (backfill_id) {
        cJSON_AddStringToObject(e, "backfill_id", backfill_id);
    } else {
        cJSON_AddNullToObject(e, "backfill_id");
    }
    cJSON_AddNumberToObject(e, "queued", (double)n);
    cJSON_AddNumberToObject(e, "priority", priority);
    cJSON_AddItemToArray(userdata, e);
}

/* The queue's lanes (who waits, run_queue.h) and the pools (who holds
 * slots, executor.h). */
static void add_queue(struct dagd_daemon *d, cJSON *o)
{
    cJSON_AddNumberToObject(o, "running_backfill",
                            (double)dagd_run_queue_n_running_backfill(d->queue));
    cJSON_AddNumberToObject(o, "max_backfill_runs", d->config.max_backfill_runs);
    dagd_run_queue_lanes(d->queue, on_lane, cJSON_AddArrayToObject(o, "lanes"));
    cJSON *pools = cJSON_AddArrayToObject(o, "pools");
    for (size_t i = 0; i < dagd_executor_n_pools(d->executor); i++) {
        const char *name;
        unsigned slots, used, waiting;
        if (dagd_executor_pool(d->executor, i, &name, &slots, &used, &waiting) < 0) {
            continue;
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddNumberToObject(e, "slots", slots);
        cJSON_AddNumberToObject(e, "used", used);
        cJSON_AddNumberToObject(e, "waiting", waiting);
        cJSON_AddItemToArray(pools, e);
    }
}

static cJSON *session_json(const struct dagd_store_session *l)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "application", l->application);
    cJSON_AddStringToObject(e, "client", l->client);
    cJSON_AddNumberToObject(e, "backend_pid", (double)l->backend_pid);
    cJSON_AddNumberToObject(e, "since_ms", (double)l->since_ms);
    return e;
}

/* Who serves the history: "leader" (also every daemon on state.db) or
 * "standby", with the leader's session on a standby (standby.h), and on
 * PostgreSQL the (other) standbys' sessions: as listed at most a second
 * ago (history_sessions.h), so the request does not wait for the server. */
static void add_role(struct dagd_daemon *d, cJSON *o)
{
    cJSON_AddStringToObject(o, "role", d->standby ? "standby" : "leader");
    if (!dagd_store_is_postgresql(d->store)) {
        return;
    }
    cJSON_AddStringToObject(o, "history", dagd_store_path(d->store));
    const struct dagd_history_listing *l =
        dagd_history_sessions_get(d->sessions, d->standby != NULL, dagd_now_mono_usec());
    if (l->standbys_r >= 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "standbys");
        for (size_t i = 0; i < l->n_standbys; i++) {
            cJSON_AddItemToArray(a, session_json(&l->standbys[i]));
        }
    }
    if (!d->standby) {
        return;
    }
    cJSON_AddNumberToObject(
        o, "standby_ms",
        (double)((dagd_now_mono_usec() - dagd_standby_since_usec(d->standby)) / 1000u));
    if (l->leader_r < 0) {
        cJSON_AddNullToObject(o, "leader");
        return;
    }
    cJSON_AddItemToObject(o, "leader", session_json(&l->leader));
}

static int api_status(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", DAGD_VERSION);
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    cJSON_AddNumberToObject(o, "uptime_ms",
                            (double)((dagd_now_mono_usec() - d->started_usec) / 1000u));
    cJSON_AddNumberToObject(o, "pipelines", dagd_registry_n_active(d->registry));
    cJSON_AddNumberToObject(o, "pipeline_errors", dagd_registry_n_errors(d->registry));
    cJSON_AddNumberToObject(o, "running", (double)dagd_run_queue_n_running(d->queue));
    cJSON_AddNumberToObject(o, "queued", (double)dagd_run_queue_n_queued(d->queue));
    cJSON_AddNumberToObject(o, "max_concurrent_runs", dagd_run_queue_max_runs(d->queue));
    cJSON_AddNumberToObject(o, "max_jobs", d->config.max_jobs);
    cJSON_AddNumberToObject(o, "clients", dagd_server_n_clients(d->server));
    cJSON_AddStringToObject(o, "state_dir", d->config.state_dir);
    cJSON_AddStringToObject(o, "pipelines_dir", d->config.pipelines_dir);
    cJSON_AddStringToObject(o, "socket", d->socket_path ? d->socket_path : "");
    cJSON_AddBoolToObject(o, "shutting_down", d->shutting_down);
    add_role(d, o);
    add_queue(d, o);
    dagd_server_call_reply(call, o);
    return 0;
}

const struct dagd_api_command dagd_api_status_commands[] = {
    {"status", DAGD_API_READONLY, api_status},
    {NULL, 0, NULL},
};
