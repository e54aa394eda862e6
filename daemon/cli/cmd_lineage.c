/* `dagd lineage FILE [--json]`: the table-level graph of a pipeline (DESIGN
 * §11), derived from its steps' configs without running anything (the
 * rules are daemon/engine/lineage.c's; the web UI shows the same graph).
 * Node ids are "KIND:NAME" (file, url, table, check); each edge names the
 * step that makes it. `${...}` in configs are expanded with the params'
 * defaults and --param overrides; state_dir stays "${state_dir}" unless
 * --state-dir is given, so the output does not depend on where it runs.
 * Exit 0, or 2 for a usage error or an invalid pipeline. */
#include <cjson/cJSON.h>

#include "log.h"
#include "lineage.h"
#include "params.h"
#include "pipeline.h"

int dagd_cmd_lineage(int argc, char **argv);

static void print_json(const struct dagd_lineage *l, const struct dagd_pipeline *p)
{
    cJSON *root = dagd_lineage_to_json(l, p->name);
    _cleanup_free_ char *s = cJSON_Print(root);
    puts(s);
    cJSON_Delete(root);
}

static void print_text(const struct dagd_lineage *l, const struct dagd_pipeline *p)
{
    printf("pipeline %s: %zu node%s, %zu edge%s\n", p->name, l->n_nodes, l->n_nodes == 1 ? "" : "s",
           l->n_edges, l->n_edges == 1 ? "" : "s");
    for (size_t i = 0; i < l->n_edges; i++) {
        printf("%s -> %s  (%s)\n", l->edge_from[i], l->edge_to[i], l->edge_step[i]);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: dagd lineage [--param k=v]... [--state-dir DIR] [--json] FILE.yaml\n");
}

int dagd_cmd_lineage(int argc, char **argv)
{
    _cleanup_free_ char **overrides = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n_overrides = 0;
    const char *file = NULL, *state_dir = "${state_dir}";
    bool json = false;
    struct dagd_diags d = {0};
    struct dagd_pipeline *p = NULL;
    struct dagd_params builtins = {0}, params = {0};
    struct dagd_lineage l = {0};
    int r;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (streq(a, "--json")) {
            json = true;
        } else if ((streq(a, "--param") || streq(a, "--state-dir")) && i + 1 < argc) {
            if (streq(a, "--param")) {
                overrides[n_overrides++] = argv[++i];
            } else {
                state_dir = argv[++i];
            }
        } else if (a[0] == '-' || file) {
            usage();
            return 2;
        } else {
            file = a;
        }
    }
    if (!file) {
        usage();
        return 2;
    }
    r = dagd_pipeline_load(file, NULL, &p, &d);
    if (r >= 0) {
        dagd_pipeline_builtins(p, state_dir, "lineage", NULL, &builtins);
        r = dagd_pipeline_resolve_params(p, overrides, n_overrides, &builtins, &params, &d);
    }
    if (r < 0) {
        dagd_diags_print(&d, stderr);
        dagd_diags_done(&d);
        dagd_params_done(&builtins);
        dagd_pipeline_unref(p);
        return 2;
    }
    r = dagd_lineage_build(&l, p, &params);
    if (l.error) {
        fprintf(stderr, "%s\n", l.error);
    }
    if (json) {
        print_json(&l, p);
    } else {
        print_text(&l, p);
    }
    dagd_lineage_done(&l);
    dagd_params_done(&params);
    dagd_params_done(&builtins);
    dagd_diags_done(&d);
    dagd_pipeline_unref(p);
    if (fflush(stdout) != 0) {
        return 1;
    }
    return r < 0 ? 2 : 0;
}
