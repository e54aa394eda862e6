/* Command group: pipelines and reload. */
#include "api.h"
#include "daemon_json.h"

static int api_pipelines(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "pipelines", dagd_daemon_json_pipelines(d));
    dagd_server_call_reply(call, o);
    return 0;
}

static int api_reload(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    unsigned errors = 0;
    int r = dagd_daemon_reload(d, &errors);
    if (r < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot read %s: %s",
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
            cJSON_AddItemToArray(errs, dagd_daemon_json_diags(&e->errors));
        }
    }
    dagd_server_call_reply(call, o);
    return 0;
}

const struct dagd_api_command dagd_api_pipelines_commands[] = {
    {"pipelines", DAGD_API_READONLY, api_pipelines},
    {"reload", DAGD_API_MUTATING | DAGD_API_ANY_ROLE, api_reload},
    {NULL, 0, NULL},
};
