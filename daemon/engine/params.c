/* Params: the key=value lists of a pipeline (declared params with their
 * defaults, schedule and sensor overrides, a run's resolved values), the
 * `${name}` reference syntax, and resolving a run's values: built-ins, then
 * the declared defaults, then "key=value" overrides, each value expanded
 * depth first with cycles reported as a path.
 *
 * Knows nothing of YAML or the pipeline model: the parser (pipeline_yaml.c),
 * the model (pipeline.c), the plugin host and the executor all use it. */
#include "params.h"

#include "task_config.h"
#include "util.h"

const char *const dagd_params_builtin_names[5] = {"state_dir", "run_id", "pipeline", "pipeline_dir",
                                                  NULL};
const char *const dagd_params_partition_names[4] = {"partition", "partition_start", "partition_end",
                                                    NULL};
const char *const dagd_params_sensor_names[5] = {"sensor.dir", "sensor.path", "sensor.name",
                                                 "sensor_file", NULL};

const char *dagd_params_get(const struct dagd_params *ps, const char *key)
{
    if (!ps || !key) {
        return NULL;
    }
    for (size_t i = 0; i < ps->n; i++) {
        if (streq(ps->items[i].key, key)) {
            return ps->items[i].value;
        }
    }
    return NULL;
}

static struct dagd_param *params_find(struct dagd_params *ps, const char *key)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (streq(ps->items[i].key, key)) {
            return &ps->items[i];
        }
    }
    return NULL;
}

void dagd_params_set_at(struct dagd_params *ps, const char *key, const char *value,
                        struct dagd_mark mark)
{
    struct dagd_param *q = params_find(ps, key);

    if (q) {
        free(q->value);
        q->value = dagd_xstrdup(value);
        return;
    }
    ps->items = dagd_xreallocarray(ps->items, ps->n + 1, sizeof(*ps->items));
    ps->items[ps->n++] = (struct dagd_param){
        .key = dagd_xstrdup(key),
        .value = dagd_xstrdup(value),
        .mark = mark,
    };
}

void dagd_params_set(struct dagd_params *ps, const char *key, const char *value)
{
    dagd_params_set_at(ps, key, value, (struct dagd_mark){0, 0});
}

void dagd_params_done(struct dagd_params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->items[i].key);
        free(ps->items[i].value);
    }
    free(ps->items);
    *ps = (struct dagd_params){0};
}

char *dagd_params_to_json(const struct dagd_params *ps)
{
    cJSON *o = cJSON_CreateObject();
    char *s;

    if (!o) {
        abort();
    }
    for (size_t i = 0; ps && i < ps->n; i++) {
        if (!cJSON_AddStringToObject(o, ps->items[i].key, ps->items[i].value)) {
            abort();
        }
    }
    s = dagd_json_canonical(o);
    cJSON_Delete(o);
    return s;
}

char **dagd_params_overrides_from_json(const struct dagd_params *declared, const char *json,
                                       size_t *ret_n)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    char **v = dagd_xcalloc(declared->n + 1, sizeof(char *));
    size_t n = 0;

    for (size_t i = 0; i < declared->n; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, declared->items[i].key);
        if (cJSON_IsString(x)) {
            v[n++] = dagd_xasprintf("%s=%s", declared->items[i].key, x->valuestring);
        }
    }
    cJSON_Delete(o);
    *ret_n = n;
    return v;
}

bool dagd_params_valid_name(const char *s, size_t len)
{
    if (len == 0 || len > 128 ||
        !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

bool dagd_params_next_ref(const char *s, size_t *i, struct dagd_param_ref *ret)
{
    for (size_t k = *i; s[k]; k++) {
        if (s[k] != '$') {
            continue;
        }
        if (s[k + 1] == '$' && s[k + 2] == '{') {
            k += 2; /* escape: "$${" is a literal "${" */
            continue;
        }
        if (s[k + 1] != '{') {
            continue;
        }
        const char *close = strchr(s + k + 2, '}');
        *ret = (struct dagd_param_ref){.pos = k, .name_pos = k + 2};
        if (!close) {
            ret->name_len = strlen(s + k + 2);
            ret->end = k + 2 + ret->name_len;
            ret->problem = -EINVAL;
        } else {
            ret->name_len = (size_t)(close - (s + k + 2));
            ret->end = (size_t)(close - s) + 1;
            if (!dagd_params_valid_name(s + k + 2, ret->name_len)) {
                ret->problem = -EINVAL;
            }
        }
        *i = ret->end;
        return true;
    }
    return false;
}

int dagd_params_expand(const struct dagd_params *ps, const char *in, char **ret, char **reterr_name)
{
    size_t cap = strlen(in) + 1, n = 0, i = 0;
    char *out = dagd_xmalloc(cap);

#define APPEND(src, l)                                                                             \
    do {                                                                                           \
        size_t _l = (l);                                                                           \
        if (n + _l + 1 > DAGD_PARAMS_MAX_EXPANDED) {                                               \
            free(out);                                                                             \
            return -E2BIG;                                                                         \
        }                                                                                          \
        if (n + _l + 1 > cap) {                                                                    \
            cap = (n + _l + 1) * 2;                                                                \
            out = dagd_xrealloc(out, cap);                                                         \
        }                                                                                          \
        memcpy(out + n, (src), _l);                                                                \
        n += _l;                                                                                   \
    } while (0)

    while (in[i]) {
        if (in[i] == '$' && in[i + 1] == '$' && in[i + 2] == '{') {
            APPEND("${", 2);
            i += 3;
            continue;
        }
        if (in[i] == '$' && in[i + 1] == '{') {
            struct dagd_param_ref r;
            size_t j = i;
            _cleanup_free_ char *name = NULL;
            const char *v;
            (void)dagd_params_next_ref(in, &j, &r);
            if (r.problem < 0) {
                free(out);
                return -EINVAL;
            }
            name = dagd_xstrndup(in + r.name_pos, r.name_len);
            v = dagd_params_get(ps, name);
            if (!v) {
                free(out);
                if (reterr_name) {
                    *reterr_name = TAKE_PTR(name);
                }
                return -ENOENT;
            }
            APPEND(v, strlen(v));
            i = r.end;
            continue;
        }
        APPEND(in + i, 1);
        i++;
    }
#undef APPEND
    out[n] = 0;
    *ret = out;
    return 0;
}

bool dagd_params_name_in(const char *const *list, const char *s, size_t len)
{
    for (size_t i = 0; list[i]; i++) {
        if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Expand param `i` of `ps` (declared params at [first, ps->n)) in place,
 * depth first; state: 0 new, 1 in progress, 2 done. On a cycle, `path`
 * gets the chain. */
static int expand_param(struct dagd_params *ps, size_t i, bool expand, unsigned char *state,
                        size_t *stack, size_t depth, size_t *ret_cycle_from, size_t *ret_depth)
{
    struct dagd_param_ref r;
    size_t pos = 0;
    char *v;
    int k;

    state[i] = 1;
    stack[depth] = i;
    while (dagd_params_next_ref(ps->items[i].value, &pos, &r)) {
        if (r.problem < 0) {
            continue;
        }
        for (size_t j = 0; j < ps->n; j++) {
            if (strlen(ps->items[j].key) != r.name_len ||
                strncmp(ps->items[j].key, ps->items[i].value + r.name_pos, r.name_len) != 0) {
                continue;
            }
            if (state[j] == 1) {
                *ret_cycle_from = j;
                *ret_depth = depth;
                return -ELOOP;
            }
            if (state[j] == 0) {
                k = expand_param(ps, j, expand, state, stack, depth + 1, ret_cycle_from, ret_depth);
                if (k < 0) {
                    return k;
                }
            }
            break;
        }
    }
    state[i] = 2;
    if (!expand) {
        return 0;
    }
    k = dagd_params_expand(ps, ps->items[i].value, &v, NULL);
    if (k < 0) {
        return k;
    }
    free(ps->items[i].value);
    ps->items[i].value = v;
    return 0;
}

/* Expand every value of ps (or with !expand only look for cycles, which
 * are all reported); on error report with `file`. */
static int expand_all(struct dagd_params *ps, size_t first, bool expand, const char *file,
                      struct dagd_diags *diags)
{
    unsigned char *state = dagd_xcalloc(ps->n + 1, 1);
    size_t *stack = dagd_xcalloc(ps->n + 1, sizeof(size_t));
    int r = 0;

    /* Entries before `first` (the built-ins) are literal values. */
    for (size_t i = 0; i < first && i < ps->n; i++) {
        state[i] = 2;
    }

    int ret = 0;

    for (size_t i = 0; i < ps->n && (r >= 0 || !expand); i++) {
        size_t from = 0, depth = 0;
        if (state[i] != 0) {
            continue;
        }
        r = expand_param(ps, i, expand, state, stack, 0, &from, &depth);
        if (r < 0) {
            ret = r;
            /* Steps of a reported cycle are not searched again. */
            for (size_t j = 0; j < ps->n; j++) {
                if (state[j] == 1) {
                    state[j] = 2;
                }
            }
        }
        if (r == -ELOOP) {
            /* The cycle is stack[k..depth] where stack[k] == from. */
            size_t k = 0;
            char *path = NULL;
            while (k <= depth && stack[k] != from) {
                k++;
            }
            path = dagd_xstrdup(ps->items[from].key);
            for (size_t j = k + 1; j <= depth; j++) {
                char *t = dagd_xasprintf("%s -> %s", path, ps->items[stack[j]].key);
                free(path);
                path = t;
            }
            char *t = dagd_xasprintf("%s -> %s", path, ps->items[from].key);
            free(path);
            path = t;
            dagd_diags_add(diags, file, ps->items[from].mark, "parameter cycle: %s", path);
            free(path);
        } else if (r == -E2BIG) {
            dagd_diags_add(diags, file, ps->items[i].mark,
                           "parameter '%s' expands to more than %u bytes", ps->items[i].key,
                           DAGD_PARAMS_MAX_EXPANDED);
        } else if (r < 0) {
            dagd_diags_add(diags, file, ps->items[i].mark, "parameter '%s' cannot be expanded",
                           ps->items[i].key);
        }
    }
    free(state);
    free(stack);
    return ret < 0 ? -EINVAL : 0;
}

/* "--param nope=1": say which params there are, and the closest. */
static void unknown_override(const struct dagd_params *declared, const char *file, const char *key,
                             struct dagd_diags *reterr)
{
    _cleanup_free_ const char **names = dagd_xcalloc(declared->n + 1, sizeof(char *));
    for (size_t i = 0; i < declared->n; i++) {
        names[i] = declared->items[i].key;
    }
    _cleanup_free_ char *list = dagd_strv_join(names, declared->n, ", ");
    const char *hint = dagd_closest_word(key, strlen(key), names, declared->n);
    if (declared->n == 0) {
        dagd_diags_add(reterr, "--param", (struct dagd_mark){0, 0},
                       "unknown parameter '%s': %s declares no params", key, file);
    } else if (hint) {
        dagd_diags_add(reterr, "--param", (struct dagd_mark){0, 0},
                       "unknown parameter '%s' (did you mean '%s'? %s declares: %s)", key, hint,
                       file, list);
    } else {
        dagd_diags_add(reterr, "--param", (struct dagd_mark){0, 0},
                       "unknown parameter '%s' (%s declares: %s)", key, file, list);
    }
}

int dagd_params_resolve(const struct dagd_params *declared, const char *file,
                        char *const *overrides, size_t n_overrides,
                        const struct dagd_params *builtins, struct dagd_params *ret,
                        struct dagd_diags *reterr)
{
    struct dagd_params ps = {0};
    bool bad = false;
    size_t first;
    int r;

    for (size_t i = 0; builtins && i < builtins->n; i++) {
        dagd_params_set(&ps, builtins->items[i].key, builtins->items[i].value);
    }
    first = ps.n; /* built-ins are literal: never scanned for ${...} */
    for (size_t i = 0; i < declared->n; i++) {
        dagd_params_set_at(&ps, declared->items[i].key, declared->items[i].value,
                           declared->items[i].mark);
    }
    for (size_t i = 0; i < n_overrides; i++) {
        const char *eq = strchr(overrides[i], '=');
        _cleanup_free_ char *key = NULL;
        struct dagd_param *q;

        if (!eq) {
            dagd_diags_add(reterr, "--param", (struct dagd_mark){0, 0},
                           "'%s' is not of the form key=value", overrides[i]);
            bad = true;
            continue;
        }
        key = dagd_xstrndup(overrides[i], (size_t)(eq - overrides[i]));
        if (dagd_params_name_in(dagd_params_builtin_names, key, strlen(key))) {
            dagd_diags_add(reterr, "--param", (struct dagd_mark){0, 0},
                           "'%s' is a built-in parameter and cannot be overridden", key);
            bad = true;
            continue;
        }
        if (!dagd_params_get(declared, key)) {
            unknown_override(declared, file, key, reterr);
            bad = true;
            continue;
        }
        q = params_find(&ps, key);
        free(q->value);
        q->value = dagd_xstrdup(eq + 1);
    }
    if (bad) {
        dagd_params_done(&ps);
        return -EINVAL;
    }
    /* References to unknown names are caught at load; an override may still
     * name one. */
    for (size_t i = first; i < ps.n; i++) {
        struct dagd_param_ref rf;
        size_t pos = 0;
        while (dagd_params_next_ref(ps.items[i].value, &pos, &rf)) {
            if (rf.problem < 0) {
                dagd_diags_add(reterr, file, ps.items[i].mark,
                               "parameter '%s': malformed reference in '%s'", ps.items[i].key,
                               ps.items[i].value);
                bad = true;
            } else {
                _cleanup_free_ char *name =
                    dagd_xstrndup(ps.items[i].value + rf.name_pos, rf.name_len);
                if (!dagd_params_get(&ps, name)) {
                    dagd_diags_add(reterr, file, ps.items[i].mark,
                                   "parameter '%s': unknown parameter '${%s}'", ps.items[i].key,
                                   name);
                    bad = true;
                }
            }
        }
    }
    if (bad) {
        dagd_params_done(&ps);
        return -EINVAL;
    }
    r = expand_all(&ps, first, true, file, reterr);
    if (r < 0) {
        dagd_params_done(&ps);
        return r;
    }
    *ret = ps;
    return 0;
}

int dagd_params_check_cycles(struct dagd_params *ps, const char *file, struct dagd_diags *reterr)
{
    return expand_all(ps, 0, false, file, reterr);
}
