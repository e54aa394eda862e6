/* The pipeline model (pipeline.h): the lifetime of a loaded pipeline, step
 * lookups, a run's params and each step's config resolved from the model,
 * and the DOT graph. The YAML parser (pipeline_yaml.c) builds the model; this
 * file never sees YAML, so the plugin host, the planner and the executor use
 * it without the parser. */
#include "pipeline.h"
#include "param_spec.h"
#include "partitions.h"

#include <assert.h>

#include "pipeline_internal.h"
#include "plugin_host.h"
#include "slurm_opts.h"
#include "task_config.h"

static cJSON *must(cJSON *j)
{
    if (!j) {
        abort(); /* OOM */
    }
    return j;
}

void dagd_pipeline_builtins(const struct dagd_pipeline *p, const char *state_dir,
                            const char *run_id, const char *partition, struct dagd_params *ret)
{
    struct dagd_params ps = {0};

    dagd_params_set(&ps, "state_dir", state_dir ? state_dir : "");
    dagd_params_set(&ps, "run_id", run_id ? run_id : "");
    dagd_params_set(&ps, "pipeline", p->name ? p->name : "");
    dagd_params_set(&ps, "pipeline_dir", p->dir ? p->dir : ".");
    if (p->partitions && partition) {
        dagd_partitions_builtins(p->partitions, partition, &ps);
    } else if (p->partitions) {
        for (size_t i = 0; dagd_params_partition_names[i]; i++) {
            dagd_params_set(&ps, dagd_params_partition_names[i], "");
        }
    }
    *ret = ps;
}

void dagd__config_marks_free(struct dagd_config_marks *m)
{
    if (!m) {
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].items);
    }
    free(m->e);
    free(m);
}

static void pipeline_free(struct dagd_pipeline *p)
{
    free(p->file);
    free(p->dir);
    free(p->name);
    free(p->description);
    dagd_params_done(&p->params);
    p->param_specs = dagd_param_specs_free(p->param_specs, p->n_param_specs);
    for (size_t i = 0; i < p->n_steps; i++) {
        struct dagd_step *s = &p->steps[i];
        free(s->name);
        free(s->pool);
        free(s->task);
        for (size_t j = 0; j < s->n_needs; j++) {
            free(s->needs[j]);
        }
        free(s->needs);
        free(s->needs_idx);
        for (size_t j = 0; j < s->n_inputs; j++) {
            free(s->inputs[j]);
        }
        free(s->inputs);
        for (size_t j = 0; j < s->n_outputs; j++) {
            free(s->outputs[j]);
        }
        free(s->outputs);
        cJSON_Delete(s->config);
        dagd__config_marks_free(s->config_marks);
        dagd_slurm_opts_done(&s->slurm);
    }
    free(p->steps);
    free(p->topo);
    for (size_t i = 0; i < p->n_schedules; i++) {
        free(p->schedules[i].name);
        free(p->schedules[i].cron);
        free(p->schedules[i].timezone);
        dagd_params_done(&p->schedules[i].params);
    }
    free(p->schedules);
    for (size_t i = 0; i < p->n_sensors; i++) {
        free(p->sensors[i].name);
        free(p->sensors[i].watch);
        free(p->sensors[i].pattern);
        dagd_params_done(&p->sensors[i].params);
    }
    free(p->sensors);
    dagd_partitions_free(p->partitions);
    free(p);
}

struct dagd_pipeline *dagd_pipeline_ref(struct dagd_pipeline *p)
{
    if (p) {
        p->n_ref++;
    }
    return p;
}

struct dagd_pipeline *dagd_pipeline_unref(struct dagd_pipeline *p)
{
    if (!p) {
        return NULL;
    }
    assert(p->n_ref > 0);
    if (--p->n_ref == 0) {
        pipeline_free(p);
    }
    return NULL;
}

ssize_t dagd_pipeline_step_index(const struct dagd_pipeline *p, const char *name)
{
    for (size_t i = 0; name && i < p->n_steps; i++) {
        /* steps of an invalid file may lack a name */
        if (streq_ptr(p->steps[i].name, name)) {
            return (ssize_t)i;
        }
    }
    return -ENOENT;
}

struct dagd_mark dagd__config_mark(void *userdata, const char *key, int item)
{
    const struct dagd_config_mark_ud *u = userdata;
    const struct dagd_config_marks *m = u->m;

    if (!m) {
        return u->fallback;
    }
    if (!key) {
        return m->map_mark.line ? m->map_mark : u->fallback;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (!streq(m->e[i].key, key)) {
            continue;
        }
        if (item == -2) {
            return m->e[i].key_mark;
        }
        if (item >= 0 && (size_t)item < m->e[i].n_items) {
            return m->e[i].items[item];
        }
        return m->e[i].value_mark;
    }
    return m->map_mark.line ? m->map_mark : u->fallback;
}

/* Substitute every string of a JSON value; on failure report at `mark`. */
static int subst_json(cJSON *j, const struct dagd_params *ps, const char *file,
                      struct dagd_mark mark, struct dagd_diags *diags)
{
    int r = 0;

    if (cJSON_IsString(j)) {
        char *out = NULL;
        _cleanup_free_ char *name = NULL;
        int k = dagd_params_expand(ps, j->valuestring, &out, &name);
        if (k < 0) {
            if (k == -ENOENT) {
                dagd_diags_add(diags, file, mark, "unknown parameter '${%s}'", name);
            } else if (k == -E2BIG) {
                dagd_diags_add(diags, file, mark, "value expands to more than %u bytes",
                               DAGD_PARAMS_MAX_EXPANDED);
            } else {
                dagd_diags_add(diags, file, mark, "malformed parameter reference in '%s'",
                               j->valuestring);
            }
            return -EINVAL;
        }
        free(j->valuestring);
        j->valuestring = out;
        return 0;
    }
    for (cJSON *c = j->child; c; c = c->next) {
        if (subst_json(c, ps, file, mark, diags) < 0) {
            r = -EINVAL;
        }
    }
    return r;
}

static void unraw_all(cJSON *parent, cJSON *v)
{
    if (cJSON_IsRaw(v)) {
        double d;
        dagd_json_replace(parent, v,
                          must(dagd_parse_double(v->valuestring, &d) >= 0
                                   ? cJSON_CreateNumber(d)
                                   : cJSON_CreateString(v->valuestring)));
        return;
    }
    for (cJSON *c = v->child; c;) {
        cJSON *next = c->next;
        unraw_all(v, c);
        c = next;
    }
}

int dagd__step_config(const struct dagd_pipeline *p, const struct dagd_step *s,
                      const struct dagd_params *ps, const char *file, cJSON **ret,
                      struct dagd_diags *diags)
{
    struct dagd_config_mark_ud u = {.m = s->config_marks, .fallback = s->mark};
    cJSON *c = s->config ? must(cJSON_Duplicate(s->config, true)) : NULL;
    int r = 0;

    for (cJSON *e = c ? c->child : NULL; e; e = e->next) {
        if (subst_json(e, ps, file, dagd__config_mark(&u, e->string, -1), diags) < 0) {
            r = -EINVAL;
        }
    }
    if (r < 0) {
        cJSON_Delete(c);
        return r;
    }
    if (s->plugin) {
        r = dagd_task_config_check(s->plugin->desc->schema, c, file, dagd__config_mark, &u, diags);
    } else if (c) {
        unraw_all(NULL, c);
    }
    if (r < 0) {
        cJSON_Delete(c);
        return r;
    }
    *ret = c;
    return 0;
}

int dagd_pipeline_resolve_config(const struct dagd_pipeline *p, size_t step,
                                 const struct dagd_params *params, char **ret_json,
                                 struct dagd_diags *reterr)
{
    cJSON *c = NULL;
    int r;

    if (step >= p->n_steps) {
        return -EINVAL;
    }
    r = dagd__step_config(p, &p->steps[step], params, p->file, &c, reterr);
    if (r < 0) {
        return r;
    }
    *ret_json = c ? dagd_json_canonical(c) : dagd_xstrdup("{}");
    cJSON_Delete(c);
    return 0;
}

static void dot_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *q = s ? s : ""; *q; q++) {
        if (*q == '"' || *q == '\\') {
            fputc('\\', f);
        }
        if (*q == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*q, f);
    }
    fputc('"', f);
}

void dagd_pipeline_write_dot(const struct dagd_pipeline *p, FILE *f)
{
    fputs("digraph ", f);
    dot_quoted(f, p->name);
    fputs(" {\n    rankdir=LR;\n    node [shape=box, fontname=\"Helvetica\"];\n", f);
    for (size_t i = 0; i < p->n_steps; i++) {
        _cleanup_free_ char *label = dagd_xasprintf("%s\n(%s)", p->steps[i].name, p->steps[i].task);
        fputs("    ", f);
        dot_quoted(f, p->steps[i].name);
        fputs(" [label=", f);
        dot_quoted(f, label);
        fputs("];\n", f);
    }
    for (size_t i = 0; i < p->n_steps; i++) {
        for (size_t j = 0; j < p->steps[i].n_needs; j++) {
            fputs("    ", f);
            dot_quoted(f, p->steps[i].needs[j]);
            fputs(" -> ", f);
            dot_quoted(f, p->steps[i].name);
            fputs(";\n", f);
        }
    }
    fputs("}\n", f);
}

int dagd_pipeline_resolve_params(const struct dagd_pipeline *p, char *const *overrides,
                                 size_t n_overrides, const struct dagd_params *builtins,
                                 struct dagd_params *ret, struct dagd_diags *reterr)
{
    return dagd_params_resolve(&p->params, p->file, overrides, n_overrides, builtins, ret, reterr);
}
