/* See lineage.h. The rules (moved from `dagd lineage`, DESIGN §11):
 *
 *   load, extract   each `path` (a glob)            -> `table`
 *   http            `url`                           -> `table`
 *   sql, transform  each model's inputs             -> the model's table; the
 *                   inputs are the tables the sql task itself orders by
 *                   (lib/sqlmodels: `-- depends:` and the other models
 *                   named in the SQL) plus every table another step writes
 *                   that the SQL names (dagd_sql_mentions)
 *   check           `table`, each check's `table` and `relationships.to` -> the step
 *   export          `table`, or the written tables its `query` names -> `path`
 */
#include "lineage.h"

#include <cjson/cJSON.h>

#include "models.h"

void dagd_lineage_done(struct dagd_lineage *l)
{
    for (size_t i = 0; i < l->n_nodes; i++) {
        free(l->node_ids[i]);
    }
    for (size_t i = 0; i < l->n_edges; i++) {
        free(l->edge_from[i]);
        free(l->edge_to[i]);
    }
    free(l->node_ids);
    free(l->edge_from);
    free(l->edge_to);
    free(l->edge_step);
    free(l->error);
    *l = (struct dagd_lineage){0};
}

static const char *add_node(struct dagd_lineage *l, const char *kind, const char *name)
{
    _cleanup_free_ char *id = dagd_xasprintf("%s:%s", kind, name);
    for (size_t i = 0; i < l->n_nodes; i++) {
        if (streq(l->node_ids[i], id)) {
            return l->node_ids[i];
        }
    }
    l->node_ids = dagd_xreallocarray(l->node_ids, l->n_nodes + 1, sizeof(char *));
    l->node_ids[l->n_nodes] = TAKE_PTR(id);
    return l->node_ids[l->n_nodes++];
}

static void add_edge(struct dagd_lineage *l, const char *from_kind, const char *from,
                     const char *to_kind, const char *to, const char *step)
{
    const char *f = add_node(l, from_kind, from);
    const char *t = add_node(l, to_kind, to);
    for (size_t i = 0; i < l->n_edges; i++) {
        if (streq(l->edge_from[i], f) && streq(l->edge_to[i], t) && streq(l->edge_step[i], step)) {
            return;
        }
    }
    l->edge_from = dagd_xreallocarray(l->edge_from, l->n_edges + 1, sizeof(char *));
    l->edge_to = dagd_xreallocarray(l->edge_to, l->n_edges + 1, sizeof(char *));
    l->edge_step = dagd_xreallocarray(l->edge_step, l->n_edges + 1, sizeof(char *));
    l->edge_from[l->n_edges] = dagd_xstrdup(f);
    l->edge_to[l->n_edges] = dagd_xstrdup(t);
    l->edge_step[l->n_edges++] = step;
}

/* A config string with ${...} expanded; as written when a name is unknown
 * (e.g. sensor.path, set only by a sensor's run). */
static char *expand(const struct dagd_lineage *l, const char *s)
{
    char *out = NULL;
    if (dagd_params_expand(l->params, s, &out, NULL) < 0) {
        return dagd_xstrdup(s);
    }
    return out;
}

static char *config_str(const struct dagd_lineage *l, const cJSON *config, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, key);
    return cJSON_IsString(v) ? expand(l, v->valuestring) : NULL;
}

static void mentioned_tables(struct dagd_lineage *l, const char *sql, const char *to_kind,
                             const char *to, const char *self, const char *step)
{
    /* Every table known so far (pass 1 added the written ones); snapshot the
     * count, adding nodes below must not feed the loop. */
    size_t n = l->n_nodes;
    for (size_t i = 0; i < n; i++) {
        const char *t = l->node_ids[i];
        if (strncmp(t, "table:", 6) != 0 || streq_ptr(t + 6, self)) {
            continue;
        }
        if (dagd_sql_mentions(sql, t + 6)) {
            add_edge(l, "table", t + 6, to_kind, to, step);
        }
    }
}

static void step_sources(struct dagd_lineage *l, const struct dagd_step *s)
{
    _cleanup_free_ char *table = config_str(l, s->config, "table");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(s->config, "path");

    if (!table) {
        return;
    }
    if (cJSON_IsString(path)) {
        _cleanup_free_ char *p = expand(l, path->valuestring);
        add_edge(l, "file", p, "table", table, s->name);
    } else if (cJSON_IsArray(path)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, path)
        {
            if (cJSON_IsString(it)) {
                _cleanup_free_ char *p = expand(l, it->valuestring);
                add_edge(l, "file", p, "table", table, s->name);
            }
        }
    }
    _cleanup_free_ char *url = config_str(l, s->config, "url");
    if (url) {
        add_edge(l, "url", url, "table", table, s->name);
    }
}

/* Pass 1 (link_others false): the models as tables with the inputs the sql
 * task orders them by; pass 2: the other known tables their SQL names. */
static int step_models(struct dagd_lineage *l, const struct dagd_step *s, bool link_others)
{
    _cleanup_free_ char *dir = config_str(l, s->config, "models");
    _cleanup_free_ char *msg = NULL;
    _cleanup_free_ size_t *order = NULL;
    struct dagd_model_set set = {0};
    int r;

    if (!dir) {
        return 0;
    }
    r = dagd_models_load(dir, &set, &msg);
    if (r >= 0) {
        free(msg);
        msg = NULL;
        r = dagd_models_order(&set, &order, &msg);
    }
    if (r < 0) {
        if (!l->error) {
            l->error = dagd_xasprintf("step '%s': %s", s->name, msg ? msg : strerror(-r));
        }
        dagd_model_set_done(&set);
        return r;
    }
    for (size_t i = 0; i < set.n; i++) {
        const struct dagd_model *m = &set.v[i];
        add_node(l, "table", m->name);
        if (!link_others) {
            for (size_t k = 0; k < m->depends.n; k++) {
                add_edge(l, "table", m->depends.v[k], "table", m->name, s->name);
            }
            for (size_t k = 0; k < m->uses.n; k++) {
                add_edge(l, "table", m->uses.v[k], "table", m->name, s->name);
            }
        } else {
            mentioned_tables(l, m->sql, "table", m->name, m->name, s->name);
        }
    }
    dagd_model_set_done(&set);
    return 0;
}

static void check_table(struct dagd_lineage *l, const char *table, const struct dagd_step *s)
{
    _cleanup_free_ char *t = expand(l, table);
    add_edge(l, "table", t, "check", s->name, s->name);
}

static void step_checks(struct dagd_lineage *l, const struct dagd_step *s)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s->config, "table");
    const cJSON *it;

    if (cJSON_IsString(t)) {
        check_table(l, t->valuestring, s);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(s->config, "checks"))
    {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(it, "table");
        const cJSON *rel = cJSON_GetObjectItemCaseSensitive(it, "relationships");
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(rel, "to");
        const cJSON *sql = cJSON_GetObjectItemCaseSensitive(it, "sql");
        if (cJSON_IsString(ct)) {
            check_table(l, ct->valuestring, s);
        }
        if (cJSON_IsString(to)) {
            check_table(l, to->valuestring, s);
        }
        if (cJSON_IsString(sql)) {
            _cleanup_free_ char *q = expand(l, sql->valuestring);
            mentioned_tables(l, q, "check", s->name, NULL, s->name);
        }
    }
}

static void step_export(struct dagd_lineage *l, const struct dagd_step *s)
{
    _cleanup_free_ char *path = config_str(l, s->config, "path");
    _cleanup_free_ char *table = config_str(l, s->config, "table");
    _cleanup_free_ char *query = config_str(l, s->config, "query");

    if (!path) {
        return;
    }
    if (table) {
        add_edge(l, "table", table, "file", path, s->name);
    }
    if (query) {
        mentioned_tables(l, query, "file", path, NULL, s->name);
    }
}

static bool task_is(const struct dagd_step *s, const char *a, const char *b)
{
    return streq(s->task, a) || streq_ptr(s->task, b);
}

int dagd_lineage_build(struct dagd_lineage *l, const struct dagd_pipeline *p,
                       const struct dagd_params *params)
{
    l->params = params;
    int ret = 0;
    /* Pass 1: what each step writes; pass 2: what SQL and checks read. */
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct dagd_step *s = &p->steps[i];
        if (task_is(s, "load", "extract") || task_is(s, "http", NULL)) {
            step_sources(l, s);
        } else if (task_is(s, "sql", "transform") && step_models(l, s, false) < 0) {
            ret = -EINVAL;
        }
    }
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct dagd_step *s = &p->steps[i];
        if (task_is(s, "sql", "transform")) {
            (void)step_models(l, s, true);
        } else if (task_is(s, "check", NULL)) {
            step_checks(l, s);
        } else if (task_is(s, "export", NULL)) {
            step_export(l, s);
        }
    }
    return ret;
}

cJSON *dagd_lineage_to_json(const struct dagd_lineage *l, const char *pipeline)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
    cJSON *edges = cJSON_AddArrayToObject(root, "edges");

    cJSON_AddStringToObject(root, "pipeline", pipeline);
    for (size_t i = 0; i < l->n_nodes; i++) {
        const char *id = l->node_ids[i];
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "id", id);
        _cleanup_free_ char *kind = dagd_xstrndup(id, strcspn(id, ":"));
        cJSON_AddStringToObject(n, "kind", kind);
        cJSON_AddItemToArray(nodes, n);
    }
    for (size_t i = 0; i < l->n_edges; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "from", l->edge_from[i]);
        cJSON_AddStringToObject(e, "to", l->edge_to[i]);
        cJSON_AddStringToObject(e, "step", l->edge_step[i]);
        cJSON_AddItemToArray(edges, e);
    }
    return root;
}
