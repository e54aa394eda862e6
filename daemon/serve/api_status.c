/* Command group: daemon status. */
#include <unistd.h>

#include "api.h"
#include "config.h"

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
    dagd_server_call_reply(call, o);
    return 0;
}

const struct dagd_api_command dagd_api_status_commands[] = {
    {"status", DAGD_API_READONLY, api_status},
    {NULL, 0, NULL},
};
