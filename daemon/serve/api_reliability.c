/* The reliability command group (docs/reliability.md):
 *
 *   plan   which steps `run` would run, and why (plan.h), for `dagctl plan
 *          PIPELINE [--param k=v]... [--force]`. Read-only: it resolves the
 *          params exactly as `run` would and answers with dagd_plan_to_json();
 *          nothing is recorded except file-hash cache entries.
 *   prune  `dagctl prune --older-than DURATION`: delete finished runs older
 *          than DURATION (retention.h). One request deletes at most
 *          PRUNE_BATCHES batches, so the loop never stalls for long; the
 *          reply says whether more is left and dagctl asks again. */
#include "api.h"
#include "plan.h"
#include "retention.h"
#include "store.h"

#define PRUNE_BATCHES 20

static void plan_freep(struct dagd_plan **p)
{
    (void)dagd_plan_free(*p);
}

static int api_plan(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    _cleanup_(plan_freep) struct dagd_plan *plan = NULL;
    struct dagd_diags diags = {0};
    const char *name = NULL;
    _cleanup_free_ char **overrides = NULL;
    size_t n = 0;
    bool force = false;

    if (dagd__api_get_string(call, params, "pipeline", true, &name) < 0 ||
        dagd__api_get_bool(call, params, "force", &force) < 0 ||
        dagd__api_get_overrides(call, params, &overrides, &n) < 0) {
        return 0;
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
        _cleanup_free_ char *msg = dagd_diags_summary(&diags);
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "%s", msg);
        dagd_diags_done(&diags);
        return 0;
    }
    dagd_diags_done(&diags);
    dagd_server_call_reply(call, dagd_plan_to_json(plan));
    return 0;
}

static int api_prune(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *older = NULL;
    uint64_t older_usec, now = dagd_now_wall_usec(), deleted = 0;
    unsigned batch = DAGD_RETENTION_BATCH;
    bool done = false;

    if (dagd__api_get_string(call, params, "older_than", true, &older) < 0 ||
        dagd__api_get_uint(call, params, "batch", 100000, &batch) < 0) {
        return 0;
    }
    if (dagd_parse_duration(older, &older_usec) < 0) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "invalid duration '%.64s' (e.g. 30d, 12h, 90m)", older);
        return 0;
    }
    for (unsigned i = 0; i < PRUNE_BATCHES && !done; i++) {
        int r = dagd_retention_prune_batch(d->store, older_usec, now, batch ? batch : 1);
        if (r < 0) {
            dagd_server_call_error(call, dagd__api_store_code(d), "cannot prune: %s",
                                   dagd_store_errmsg(d->store));
            return 0;
        }
        deleted += (uint64_t)r;
        done = r == 0;
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "deleted", (double)deleted);
    cJSON_AddBoolToObject(res, "done", done);
    dagd_server_call_reply(call, res);
    return 0;
}

const struct dagd_api_command dagd_api_reliability_commands[] = {
    {"plan", DAGD_API_READONLY, api_plan},
    {"prune", DAGD_API_MUTATING | DAGD_API_ANY_ROLE, api_prune},
    {NULL, 0, NULL},
};
