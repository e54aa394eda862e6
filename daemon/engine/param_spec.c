/* See param_spec.h. */
#include "param_spec.h"

#include <limits.h>
#include <math.h>
#include <sys/stat.h>

#include "util.h"

static const char *const type_names[_DAGD_PARAM_TYPE_MAX] = {
    [DAGD_PARAM_STRING] = "string", [DAGD_PARAM_INT] = "int",   [DAGD_PARAM_NUMBER] = "number",
    [DAGD_PARAM_BOOL] = "bool",     [DAGD_PARAM_ENUM] = "enum", [DAGD_PARAM_PATH] = "path",
    [DAGD_PARAM_OUTPUT] = "output",
};

const char *dagd_param_type_to_string(enum dagd_param_type t)
{
    return t < _DAGD_PARAM_TYPE_MAX ? type_names[t] : NULL;
}

int dagd_param_type_from_string(const char *s)
{
    for (int i = 0; i < _DAGD_PARAM_TYPE_MAX; i++) {
        if (streq(s, type_names[i])) {
            return i;
        }
    }
    return -EINVAL;
}

int dagd_param_spec_compile(struct dagd_param_spec *spec, char **ret_msg)
{
    if (!spec->pattern) {
        return 0;
    }
    /* Not wrapped in ^(...)$ (an author's ')|(' would escape it): the
     * whole-value rule is checked on the match's span (full_match). */
    int rc = regcomp(&spec->re, spec->pattern, REG_EXTENDED);
    if (rc != 0) {
        char buf[256];
        (void)regerror(rc, &spec->re, buf, sizeof(buf));
        *ret_msg = dagd_xstrdup(buf);
        free(spec->pattern);
        spec->pattern = NULL;
        return -EINVAL;
    }
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

struct dagd_param_spec *dagd_param_specs_free(struct dagd_param_spec *specs, size_t n)
{
    for (size_t i = 0; specs && i < n; i++) {
        free(specs[i].key);
        if (specs[i].pattern) {
            regfree(&specs[i].re);
            free(specs[i].pattern);
        }
        strv_free(specs[i].values, specs[i].n_values);
        strv_free(specs[i].under, specs[i].n_under);
    }
    free(specs);
    return NULL;
}

const struct dagd_param_spec *dagd_param_spec_find(const struct dagd_param_spec *specs, size_t n,
                                                   const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (streq(specs[i].key, key)) {
            return &specs[i];
        }
    }
    return NULL;
}

/* ---- the form of a value ---- */

static bool is_int(const char *v)
{
    char *end;
    errno = 0;
    (void)strtoll(v, &end, 10);
    return *v && !*end && errno == 0;
}

static bool is_number(const char *v)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    return *v && !*end && errno == 0 && isfinite(d);
}

static bool is_bool(const char *v)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "1", "0", NULL};
    for (size_t i = 0; words[i]; i++) {
        if (streq(v, words[i])) {
            return true;
        }
    }
    return false;
}

/* POSIX EREs match leftmost-longest: if the whole value can match, the
 * match found at 0 is the whole value. */
static bool full_match(const regex_t *re, const char *v)
{
    regmatch_t m[1];
    return regexec(re, v, 1, m, 0) == 0 && m[0].rm_so == 0 && (size_t)m[0].rm_eo == strlen(v);
}

/* Why `v` does not fit the form of spec, or NULL. */
static char *form_problem(const struct dagd_param_spec *spec, const char *v)
{
    switch (spec->type) {
    case DAGD_PARAM_INT:
        if (!is_int(v)) {
            return dagd_xstrdup("is not an integer");
        }
        break;
    case DAGD_PARAM_NUMBER:
        if (!is_number(v)) {
            return dagd_xstrdup("is not a number");
        }
        break;
    case DAGD_PARAM_BOOL:
        if (!is_bool(v)) {
            return dagd_xstrdup("is not a bool (true, false, yes, no, on, off, 1, 0)");
        }
        break;
    case DAGD_PARAM_ENUM: {
        for (size_t i = 0; i < spec->n_values; i++) {
            if (streq(v, spec->values[i])) {
                return NULL;
            }
        }
        _cleanup_free_ char *list =
            dagd_strv_join((const char *const *)spec->values, spec->n_values, ", ");
        return dagd_xasprintf("is not one of: %s", list);
    }
    case DAGD_PARAM_PATH:
    case DAGD_PARAM_OUTPUT:
        if (!*v) {
            return dagd_xstrdup("is empty (a path is needed)");
        }
        break;
    default:
        break;
    }
    if (spec->pattern && !full_match(&spec->re, v)) {
        return dagd_xasprintf("does not match the pattern '%s'", spec->pattern);
    }
    return NULL;
}

/* ---- files ---- */

/* `path` made absolute (against the working directory) with every symbolic
 * link and '..' resolved as the kernel would on the part that exists; the
 * part that does not exist yet is appended and may hold no '..' (a writer
 * creating its directories would climb out through it). 0 or -errno. */
static int resolve_path(const char *path, char **ret)
{
    _cleanup_free_ char *abs = NULL;
    if (path[0] == '/') {
        abs = dagd_xstrdup(path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            return -errno;
        }
        abs = dagd_xasprintf("%s/%s", cwd, path);
    }
    size_t cut = strlen(abs);
    for (;;) {
        char saved = abs[cut];
        abs[cut] = '\0';
        char *real = realpath(cut ? abs : "/", NULL);
        int e = errno;
        abs[cut] = saved;
        if (real) {
            const char *rest = abs + cut;
            /* No '..' among the components that do not exist yet. */
            for (const char *c = rest; *c;) {
                while (*c == '/') {
                    c++;
                }
                size_t n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.') {
                    free(real);
                    return -EINVAL;
                }
                c += n;
            }
            *ret =
                streq(real, "/") && *rest ? dagd_xstrdup(rest) : dagd_xasprintf("%s%s", real, rest);
            free(real);
            return 0;
        }
        if (e != ENOENT && e != ENOTDIR) {
            return -e;
        }
        while (cut > 0 && abs[cut - 1] != '/') {
            cut--;
        }
        /* Drop the separator too, so "/a/b" tries "/a". */
        while (cut > 1 && abs[cut - 1] == '/') {
            cut--;
        }
        if (cut <= 1) {
            cut = 0;
        }
    }
}

static bool inside(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (streq(root, "/")) {
        return true;
    }
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Files dagd itself keeps in the state directory: never an output. */
static bool is_state_file(const char *path, const char *state_dir)
{
    if (!inside(path, state_dir) || streq(path, state_dir)) {
        return false;
    }
    const char *name = path + strlen(state_dir) + (streq(state_dir, "/") ? 0 : 1);
    return strchr(name, '/') == NULL && (strncmp(name, "state.db", 8) == 0 || streq(name, "lock"));
}

struct file_check {
    const struct dagd_params *values;
    const char *state_dir; /* resolved */
    char **outputs;        /* resolved outputs seen so far, for "same file" */
    const char **output_keys;
    size_t n_outputs;
};

/* Why the file `v` of spec is not allowed, or NULL. */
static char *file_problem(const struct dagd_param_spec *spec, const char *v, struct file_check *fc)
{
    _cleanup_free_ char *path = NULL;
    int r = resolve_path(v, &path);
    if (r == -EINVAL) {
        return dagd_xstrdup("climbs with '..' out of a directory that does not exist yet");
    }
    if (r < 0) {
        return dagd_xasprintf("cannot be resolved: %s", strerror(-r));
    }
    /* Name the resolved file when it differs from what was written. */
    _cleanup_free_ char *is =
        streq(path, v) ? dagd_xstrdup("") : dagd_xasprintf(" (that is '%s')", path);
    bool confined = spec->n_under > 0 || spec->type == DAGD_PARAM_OUTPUT;
    bool ok = !confined;
    for (size_t i = 0; i < spec->n_under && !ok; i++) {
        _cleanup_free_ char *root = NULL, *real_root = NULL;
        if (dagd_params_expand(fc->values, spec->under[i], &root, NULL) < 0 ||
            resolve_path(root, &real_root) < 0) {
            continue;
        }
        ok = inside(path, real_root);
    }
    if (!ok && spec->n_under == 0) {
        ok = inside(path, fc->state_dir); /* an output's default root */
    }
    if (!ok) {
        if (spec->n_under == 0) {
            return dagd_xasprintf("%s is outside the state directory '%s' (add the directory "
                                  "to the parameter's under: list to allow it)",
                                  is, fc->state_dir);
        }
        return dagd_xasprintf("%s is outside the directories the pipeline allows (under:)", is);
    }
    if (spec->type != DAGD_PARAM_OUTPUT) {
        return NULL;
    }
    if (is_state_file(path, fc->state_dir)) {
        return dagd_xasprintf("%s is dagd's own state: an output never replaces it", is);
    }
    for (size_t i = 0; i < fc->n_outputs; i++) {
        if (streq(fc->outputs[i], path)) {
            return dagd_xasprintf("%s is the file of output parameter '%s' too", is,
                                  fc->output_keys[i]);
        }
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            return dagd_xasprintf("%s is a directory, not a file", is);
        }
        if (!S_ISREG(st.st_mode)) {
            return dagd_xasprintf("%s exists and is not a regular file", is);
        }
        if (!spec->overwrite && !inside(path, fc->state_dir)) {
            return dagd_xasprintf("%s exists outside the state directory; a run replaces it "
                                  "only when the parameter says overwrite: true",
                                  is);
        }
    }
    fc->outputs = dagd_xreallocarray(fc->outputs, fc->n_outputs + 1, sizeof(char *));
    fc->output_keys = dagd_xreallocarray(fc->output_keys, fc->n_outputs + 1, sizeof(char *));
    fc->output_keys[fc->n_outputs] = spec->key;
    fc->outputs[fc->n_outputs++] = TAKE_PTR(path);
    return NULL;
}

/* The override of `key` ("key=value"), or NULL. */
static const char *override_of(char *const *overrides, size_t n, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = n; i-- > 0;) {
        if (strncmp(overrides[i], key, len) == 0 && overrides[i][len] == '=') {
            return overrides[i];
        }
    }
    return NULL;
}

int dagd_param_specs_check(const struct dagd_param_spec *specs, size_t n,
                           const struct dagd_params *values, char *const *overrides,
                           size_t n_overrides, const char *file, bool files,
                           struct dagd_diags *reterr)
{
    struct file_check fc = {.values = values};
    _cleanup_free_ char *state_dir = NULL;
    bool bad = false;

    if (files) {
        const char *sd = dagd_params_get(values, "state_dir");
        if (!sd || resolve_path(sd, &state_dir) < 0) {
            state_dir = dagd_xstrdup(sd ? sd : "/nonexistent");
        }
        fc.state_dir = state_dir;
    }
    /* Defaults first, then what the trigger passed: when two outputs name
     * one file, the trigger's value is the one reported. */
    for (size_t k = 0; k < 2 * n; k++) {
        const struct dagd_param_spec *spec = &specs[k % n];
        const char *ov = override_of(overrides, n_overrides, spec->key);
        const char *v = dagd_params_get(values, spec->key);
        if (!v || (k < n) == (ov != NULL)) {
            continue;
        }
        _cleanup_free_ char *why = form_problem(spec, v);
        if (!why && files && (spec->type == DAGD_PARAM_PATH || spec->type == DAGD_PARAM_OUTPUT)) {
            why = file_problem(spec, v, &fc);
        }
        if (!why) {
            continue;
        }
        bad = true;
        if (ov) {
            dagd_diags_add(reterr, "--param", (struct dagd_mark){0, 0},
                           "'%s': %s parameter '%s' = '%s'%s%s", ov,
                           dagd_param_type_to_string(spec->type), spec->key, v,
                           why[0] == ' ' ? "" : " ", why);
        } else {
            dagd_diags_add(reterr, file, spec->mark, "%s parameter '%s' = '%s'%s%s",
                           dagd_param_type_to_string(spec->type), spec->key, v,
                           why[0] == ' ' ? "" : " ", why);
        }
    }
    for (size_t i = 0; i < fc.n_outputs; i++) {
        free(fc.outputs[i]);
    }
    free(fc.outputs);
    free(fc.output_keys);
    return bad ? -EINVAL : 0;
}
