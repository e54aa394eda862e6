/* Resolving a run once; see run_resolve.h. */
#include "run_resolve.h"

#include "param_spec.h"
#include "partitions.h"

#include "dag.h"
#include "task_config.h"
#include "util.h"
#include "warehouse_target.h"

/* "--from nope": the steps there are, and the closest name. */
static void unknown_step(const struct dagd_pipeline *p, const char *opt, const char *name,
                         struct dagd_diags *reterr)
{
    _cleanup_free_ const char **names = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    for (size_t i = 0; i < p->n_steps; i++) {
        names[i] = p->steps[i].name;
    }
    _cleanup_free_ char *list = dagd_strv_join(names, p->n_steps, ", ");
    const char *hint = dagd_closest_word(name, strlen(name), names, p->n_steps);
    dagd_diags_add(reterr, opt, (struct dagd_mark){0, 0},
                   "no step '%s' in pipeline '%s'%s%s%s (steps: %s)", name, p->name,
                   hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "", list);
}

int dagd_run_check_selection(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                             struct dagd_diags *reterr)
{
    int r = 0;

    if (!opts) {
        return 0;
    }
    if (opts->from_step && dagd_pipeline_step_index(p, opts->from_step) < 0) {
        unknown_step(p, "--from", opts->from_step, reterr);
        r = -EINVAL;
    }
    if (opts->only_step && dagd_pipeline_step_index(p, opts->only_step) < 0) {
        unknown_step(p, "--only", opts->only_step, reterr);
        r = -EINVAL;
    }
    r = dagd_run_check_partition(p, opts, reterr) < 0 ? -EINVAL : r;
    return r;
}

int dagd_run_check_partition(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                             struct dagd_diags *reterr)
{
    _cleanup_free_ char *why = NULL;

    if (!opts) {
        return 0;
    }
    if (opts->partition && !p->partitions) {
        dagd_diags_add(reterr, p->file, (struct dagd_mark){0, 0},
                       "--partition: pipeline '%s' has no partitions", p->name);
        return -EINVAL;
    }
    if (!opts->partition && p->partitions && opts->require_partition) {
        dagd_diags_add(reterr, p->file, (struct dagd_mark){0, 0},
                       "pipeline '%s' is partitioned (%s): give --partition KEY", p->name,
                       dagd_partitions_kind_name(p->partitions->kind));
        return -EINVAL;
    }
    if (opts->partition &&
        dagd_partitions_check(p->partitions, opts->partition, NULL, NULL, &why) < 0) {
        dagd_diags_add(reterr, p->file, (struct dagd_mark){0, 0}, "--partition: %s", why);
        return -EINVAL;
    }
    return 0;
}

/* The selection, once checked: every step, --only's step, or --from's step
 * and its downstream. */
static void select_steps(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                         struct dagd_run_resolved *rr)
{
    ssize_t from = opts->from_step ? dagd_pipeline_step_index(p, opts->from_step) : -1;
    ssize_t only = opts->only_step ? dagd_pipeline_step_index(p, opts->only_step) : -1;

    rr->forced = -1;
    if (from < 0 && only < 0) {
        for (size_t i = 0; i < p->n_steps; i++) {
            rr->selected[i] = true;
        }
        return;
    }
    if (only >= 0) {
        rr->selected[only] = true;
        rr->forced = only;
    } else {
        rr->selected[from] = true;
        dagd_dag_downstream_mask(p->steps, p->n_steps, rr->selected);
        rr->forced = from;
    }
}

static int resolve_params(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                          const char *state_dir, const char *run_id, struct dagd_run_resolved *rr,
                          struct dagd_diags *reterr)
{
    struct dagd_params builtins = {0};
    int r;

    dagd_pipeline_builtins(p, state_dir, run_id, opts->partition, &builtins);
    r = dagd_pipeline_resolve_params(p, opts->param_overrides, opts->n_param_overrides, &builtins,
                                     &rr->params, reterr);
    dagd_params_done(&builtins);
    if (r < 0) {
        return r;
    }
    /* Declared types, patterns and file roots hold for every value, above
     * all for what the trigger passed (issue 16). */
    r = dagd_param_specs_check(p->param_specs, p->n_param_specs, &rr->params, opts->param_overrides,
                               opts->n_param_overrides, p->file, true, reterr);
    if (r < 0) {
        return r;
    }
    /* A password in a PostgreSQL warehouse's connection string would go into
     * the run history with the params: refused before anything is stored. */
    _cleanup_free_ char *why = NULL;
    if (dagd_warehouse_check_conninfo(dagd_params_get(&rr->params, "warehouse"), &why) < 0) {
        dagd_diags_add(reterr, p->file, (struct dagd_mark){0, 0}, "param warehouse: %s", why);
        return -EINVAL;
    }
    rr->params_json = dagd_params_to_json(&rr->params);
    return 0;
}

/* Every step's config, also of steps not selected: the run records them all
 * and a retry of the run may select them. */
static int resolve_configs(const struct dagd_pipeline *p, bool keep_bad_configs,
                           struct dagd_run_resolved *rr, struct dagd_diags *reterr)
{
    int ret = 0;

    for (size_t i = 0; i < p->n_steps; i++) {
        struct dagd_diags d = {0};
        int r = dagd_pipeline_resolve_config(p, i, &rr->params, &rr->config_json[i],
                                             keep_bad_configs ? &d : reterr);
        if (r < 0 && keep_bad_configs) {
            rr->config_error[i] = dagd_xstrdup(d.n > 0 ? d.items[0].message : strerror(-r));
        } else if (r < 0) {
            ret = -EINVAL;
        }
        dagd_diags_done(&d);
    }
    return ret;
}

int dagd_run_resolve(const struct dagd_pipeline *p, const struct dagd_run_options *opts,
                     const char *state_dir, const char *run_id, bool keep_bad_configs,
                     struct dagd_run_resolved **ret, struct dagd_diags *reterr)
{
    static const struct dagd_run_options no_opts = {0};
    struct dagd_run_resolved *rr;
    int r;

    if (!opts) {
        opts = &no_opts;
    }
    rr = dagd_xcalloc(1, sizeof(*rr));
    rr->n_steps = p->n_steps;
    rr->selected = dagd_xcalloc(p->n_steps + 1, sizeof(bool));
    rr->config_json = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    rr->config_error = dagd_xcalloc(p->n_steps + 1, sizeof(char *));

    r = dagd_run_check_selection(p, opts, reterr);
    if (resolve_params(p, opts, state_dir, run_id, rr, reterr) < 0) {
        r = -EINVAL;
    } else if (resolve_configs(p, keep_bad_configs, rr, reterr) < 0) {
        r = -EINVAL;
    }
    if (r < 0) {
        dagd_run_resolved_free(rr);
        return r;
    }
    select_steps(p, opts, rr);
    *ret = rr;
    return 0;
}

struct dagd_run_resolved *dagd_run_resolved_free(struct dagd_run_resolved *r)
{
    if (!r) {
        return NULL;
    }
    for (size_t i = 0; i < r->n_steps; i++) {
        free(r->config_json[i]);
        free(r->config_error[i]);
    }
    free(r->config_json);
    free(r->config_error);
    free(r->selected);
    dagd_params_done(&r->params);
    free(r->params_json);
    free(r);
    return NULL;
}
