/* Fuzz target for the pipeline loader: the input is a YAML file. It is
 * loaded without a plugin host (tasks are not resolved, so runs are
 * deterministic and need no .so files); when it loads, everything a run does
 * with the model is exercised too: params resolved with built-ins and an
 * override, every step's config substituted and checked against a schema
 * with every field type, DOT output, the DAG closures. Errors must always
 * carry a position inside the input.
 *
 * Built as a libFuzzer target with -Dfuzzers=true (clang); linked with
 * replay_main.c as a plain program that replays a corpus (files or
 * directories given as arguments), which meson runs as a test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "pipeline.h"
#include "task_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const choices[] = {"a", "b", NULL};
static const struct dagd_task_field schema[] = {
    {.name = "path", .type = DAGD_FIELD_STRING},
    {.name = "format", .type = DAGD_FIELD_STRING, .choices = choices},
    {.name = "k", .type = DAGD_FIELD_INT_OR_STRING, .min = 1, .max = 10, .choices = choices},
    {.name = "n", .type = DAGD_FIELD_INT, .min = -5, .max = 5},
    {.name = "x", .type = DAGD_FIELD_NUMBER},
    {.name = "flag", .type = DAGD_FIELD_BOOL},
    {.name = "wait", .type = DAGD_FIELD_DURATION},
    {.name = "files", .type = DAGD_FIELD_STRING_LIST},
    {.name = "env", .type = DAGD_FIELD_STRING_MAP},
    {.name = "extra", .type = DAGD_FIELD_ANY},
    {0},
};

static void check_diags(const struct dagd_diags *d, size_t size)
{
    for (size_t i = 0; i < d->n; i++) {
        /* a position is 1-based and inside the input (one line past the
         * end for "expected ..." at EOF); I/O-free loads never give 0 */
        if (d->items[i].mark.line == 0 || d->items[i].mark.line > size + 2 ||
            d->items[i].mark.col == 0 || strchr(d->items[i].message, '\n')) {
            fprintf(stderr, "bad diagnostic %u:%u: %s\n", d->items[i].mark.line,
                    d->items[i].mark.col, d->items[i].message);
            abort();
        }
    }
}

static void exercise(struct dagd_pipeline *p)
{
    struct dagd_params builtins = {0}, ps = {0};
    struct dagd_diags d = {0};
    char *override[1];
    FILE *devnull = fopen("/dev/null", "we");

    dagd_pipeline_builtins(p, "/state", "0123456789abcdef0123456789abcdef", NULL, &builtins);
    override[0] = p->params.n > 0 ? dagd_xasprintf("%s=${state_dir}/o", p->params.items[0].key)
                                  : dagd_xstrdup("none=1");
    if (dagd_pipeline_resolve_params(p, override, 1, &builtins, &ps, &d) >= 0) {
        char *j = dagd_params_to_json(&ps);
        free(j);
        for (size_t i = 0; i < p->n_steps; i++) {
            char *json = NULL;
            if (dagd_pipeline_resolve_config(p, i, &ps, &json, &d) >= 0) {
                struct dagd_task_config *c = dagd_task_config_new_from_json(json);
                cJSON *obj;
                if (!c) {
                    abort(); /* canonical JSON must parse back */
                }
                obj = cJSON_Duplicate(dagd_task_config_object(c), true);
                (void)dagd_task_config_check(schema, obj, "fuzz", NULL, NULL, &d);
                cJSON_Delete(obj);
                (void)dagd_task_config_string(c, "path", NULL);
                (void)dagd_task_config_int(c, "n", 0);
                (void)dagd_task_config_duration(c, "wait", 0);
                for (size_t k = 0; k < dagd_task_config_list_len(c, "files"); k++) {
                    (void)dagd_task_config_list_item(c, "files", k);
                }
                for (size_t k = 0; k < dagd_task_config_map_len(c, "env"); k++) {
                    (void)dagd_task_config_map_key(c, "env", k);
                    (void)dagd_task_config_map_value(c, "env", k);
                }
                (void)dagd_task_config_json(c);
                dagd_task_config_free(c);
                free(json);
            }
        }
        dagd_params_done(&ps);
    }
    dagd_diags_done(&d);
    free(override[0]);
    dagd_params_done(&builtins);
    if (devnull) {
        dagd_pipeline_write_dot(p, devnull);
        fclose(devnull);
    }
    if (p->n_steps > 0) {
        free(dagd_dag_downstream(p, 0));
        free(dagd_dag_upstream(p, p->n_steps - 1));
    }
    /* the topological order respects every edge */
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct dagd_step *s = &p->steps[p->topo[i]];
        for (size_t j = 0; j < s->n_needs; j++) {
            bool before = false;
            for (size_t k = 0; k < i; k++) {
                before |= p->topo[k] == s->needs_idx[j];
            }
            if (!before) {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dagd_diags d = {0};
    struct dagd_pipeline *p = NULL;

    if (size > 65536) {
        return 0;
    }
    if (dagd_pipeline_load_buffer("fuzz.yaml", (const char *)data, size, NULL, &p, &d) >= 0) {
        if (d.n != 0) {
            abort(); /* success means no diagnostics */
        }
        exercise(p);
        dagd_pipeline_unref(p);
    } else if (d.n == 0) {
        abort(); /* failure means at least one diagnostic */
    }
    check_diags(&d, size);
    dagd_diags_done(&d);
    return 0;
}
