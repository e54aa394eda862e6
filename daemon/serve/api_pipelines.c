/* Command group: pipelines and reload. */
#include "api.h"

static cJSON *pipelines_json(struct dagd_daemon *d)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < dagd_registry_size(d->registry); i++) {
        const struct dagd_registry_entry *e = dagd_registry_at(d->registry, i);
        cJSON *o = cJSON_CreateObject();
        if (e->pipeline) {
            cJSON_AddStringToObject(o, "name", e->pipeline->name);
            cJSON_AddNumberToObject(o, "steps", (double)e->pipeline->n_steps);
            cJSON_AddNumberToObject(o, "concurrency", e->pipeline->concurrency);
            if (e->pipeline->description) {
                cJSON_AddStringToObject(o, "description", e->pipeline->description);
            }
            cJSON_AddNumberToObject(o, "loaded_at", (double)(e->loaded_usec / 1000u));
            /* Names of its schedules and sensors (DESIGN 3b; `ticks` says
             * what they did). */
            cJSON *sch = cJSON_AddArrayToObject(o, "schedules");
            for (size_t k = 0; k < e->pipeline->n_schedules; k++) {
                cJSON_AddItemToArray(sch, cJSON_CreateString(e->pipeline->schedules[k].name));
            }
            cJSON *sen = cJSON_AddArrayToObject(o, "sensors");
            for (size_t k = 0; k < e->pipeline->n_sensors; k++) {
                cJSON_AddItemToArray(sen, cJSON_CreateString(e->pipeline->sensors[k].name));
            }
        } else {
            cJSON_AddNullToObject(o, "name");
            cJSON_AddNumberToObject(o, "steps", 0);
        }
        cJSON_AddStringToObject(o, "file", e->file);
        cJSON_AddBoolToObject(o, "loaded", e->pipeline != NULL);
        cJSON_AddItemToObject(o, "errors", dagd__api_diags_json(&e->errors));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static int api_pipelines(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "pipelines", pipelines_json(d));
    dagd_server_call_reply(call, o);
    return 0;
}

static int api_reload(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    unsigned errors = 0;
    int r = dagd_daemon_reload(d, &errors);
    if (r < 0) {
        dagd_server_call_error(call, DAGD_ERR_INTERNAL, "cannot read %s: %s",
                               d->config.pipelines_dir, strerror(-r));
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pipelines", dagd_registry_n_active(d->registry));
    cJSON_AddNumberToObject(o, "pipeline_errors", errors);
    cJSON *errs = cJSON_AddArrayToObject(o, "errors");
    for (size_t i = 0; i < dagd_registry_size(d->registry); i++) {
        const struct dagd_registry_entry *e = dagd_registry_at(d->registry, i);
        if (e->errors.n > 0) {
            cJSON_AddItemToArray(errs, dagd__api_diags_json(&e->errors));
        }
    }
    dagd_server_call_reply(call, o);
    return 0;
}

const struct dagd_api_command dagd_api_pipelines_commands[] = {
    {"pipelines", DAGD_API_READONLY, api_pipelines},
    {"reload", DAGD_API_MUTATING, api_reload},
    {NULL, 0, NULL},
};
