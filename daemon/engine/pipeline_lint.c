/* See pipeline_lint.h. */
#include "pipeline_lint.h"

#include "param_spec.h"

static bool is_shell(const char *argv0)
{
    static const char *const shells[] = {"sh", "bash", "dash", "zsh", "ksh", "ash", NULL};
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    for (size_t i = 0; shells[i]; i++) {
        if (streq(base, shells[i])) {
            return true;
        }
    }
    return false;
}

/* "-c", "-ec", "-euc", ...: options that end with the script coming next. */
static bool is_dash_c(const char *a)
{
    return a[0] == '-' && a[1] != '-' && strchr(a, 'c') != NULL;
}

/* Does the declaration of `name` keep shell syntax out of its values? */
static bool narrowed(const struct dagd_pipeline *p, const char *name)
{
    const struct dagd_param_spec *spec =
        dagd_param_spec_find(p->param_specs, p->n_param_specs, name);
    if (!spec) {
        return false;
    }
    return spec->pattern || spec->type == DAGD_PARAM_INT || spec->type == DAGD_PARAM_NUMBER ||
           spec->type == DAGD_PARAM_BOOL || spec->type == DAGD_PARAM_ENUM;
}

static void lint_script(const struct dagd_pipeline *p, const struct dagd_step *s,
                        const char *script, struct dagd_diags *ret)
{
    struct dagd_param_ref rf;
    size_t pos = 0;
    while (dagd_params_next_ref(script, &pos, &rf)) {
        if (rf.problem < 0) {
            continue;
        }
        _cleanup_free_ char *name = dagd_xstrndup(script + rf.name_pos, rf.name_len);
        /* Built-ins come from dagd, not from whoever triggers the run. */
        if (!dagd_params_get(&p->params, name) || narrowed(p, name)) {
            continue;
        }
        dagd_diags_add(ret, p->file, s->config_mark,
                       "step '%s': parameter '%s' is spliced into a shell script, where a value "
                       "such as '$(...)' given with --param runs as code; pass it in env: and "
                       "write \"$VAR\" in the script, or give the parameter a pattern",
                       s->name, name);
    }
}

void dagd_pipeline_lint(const struct dagd_pipeline *p, struct dagd_diags *ret)
{
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct dagd_step *s = &p->steps[i];
        const cJSON *argv = cJSON_GetObjectItemCaseSensitive(s->config, "argv");
        const cJSON *a0 = cJSON_GetArrayItem(argv, 0);
        if (!streq(s->task, "command") || !cJSON_IsArray(argv) || !cJSON_IsString(a0) ||
            !is_shell(a0->valuestring)) {
            continue;
        }
        bool script_next = false;
        const cJSON *a;
        cJSON_ArrayForEach(a, argv)
        {
            if (!cJSON_IsString(a)) {
                continue;
            }
            if (script_next) {
                lint_script(p, s, a->valuestring, ret);
                break;
            }
            script_next = a != a0 && is_dash_c(a->valuestring);
        }
    }
}
