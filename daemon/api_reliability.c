/* The `plan` command group: which steps `run` would run, and why (plan.h),
 * for `dagctl plan PIPELINE [--param k=v]... [--force]`. Read-only: it
 * resolves the params exactly as `run` would and answers with
 * dagd_plan_to_json(); nothing is recorded except file-hash cache entries. */
#include "api.h"
#include "plan.h"
#include "store.h"

static void plan_freep(struct dagd_plan **p)
{
    (void)dagd_plan_free(*p);
}

static int api_plan(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    _cleanup_(plan_freep) struct dagd_plan *plan = NULL;
    struct dagd_diags diags = {0};
    const char *name = NULL;
    bool force = false;
    const cJSON *it;
    size_t i = 0;

    if (dagd__api_get_string(call, params, "pipeline", true, &name) < 0 ||
        dagd__api_get_bool(call, params, "force", &force) < 0) {
        return 0;
    }
    const cJSON *plist = cJSON_GetObjectItemCaseSensitive(params, "params");
    if (plist && !cJSON_IsArray(plist) && !cJSON_IsNull(plist)) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "'params' must be a list of \"key=value\" strings");
        return 0;
    }
    size_t n = (size_t)cJSON_GetArraySize(plist);
    _cleanup_free_ char **overrides = dagd_xcalloc(n + 1, sizeof(char *));
    cJSON_ArrayForEach(it, plist)
    {
        if (!cJSON_IsString(it) || !strchr(it->valuestring, '=') || it->valuestring[0] == '=') {
            dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                                   "'params' must be a list of \"key=value\" strings");
            return 0;
        }
        overrides[i++] = it->valuestring;
    }
    struct dagd_pipeline *p = dagd_registry_get(d->registry, name);
    if (!p) {
        dagd_server_call_error(call, DAGD_ERR_NOT_FOUND, "no pipeline '%.128s' in %s", name,
                               d->config.pipelines_dir);
        return 0;
    }
    /* The same options the executor's plan gets for a run of this daemon. */
    struct dagd_plan_options opts = {.force = force, .work_dir = d->config.work_dir};
    int r = dagd_plan_for_run(p, d->store, d->plugins, d->config.state_dir, overrides, n, &opts,
                              &plan, &diags);
    if (r < 0) {
        _cleanup_free_ char *msg = dagd__api_diags_message(&diags);
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "%s", msg);
        dagd_diags_done(&diags);
        return 0;
    }
    dagd_diags_done(&diags);
    dagd_server_call_reply(call, dagd_plan_to_json(plan));
    return 0;
}

const struct dagd_api_command dagd_api_plan_commands[] = {
    {"plan", DAGD_API_READONLY, api_plan},
    {NULL, 0, NULL},
};
