/* See task_config.h. The schema check mirrors fluent-bit's config_map and
 * redis' createIntConfig bounds, but reports every problem with a YAML mark
 * supplied by the caller instead of stopping at the first. */
#include "task_config.h"

#include <inttypes.h>
#include <math.h>

/* ---- small parsers ---------------------------------------------------- */

int dagd_parse_int64(const char *s, int64_t *ret)
{
    char *end;
    long long v;

    if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (*end || end == s) {
        return -EINVAL;
    }
    *ret = (int64_t)v;
    return 0;
}

int dagd_parse_double(const char *s, double *ret)
{
    char *end;
    double v;

    if (!s || !*s || (*s != '-' && *s != '+' && *s != '.' && (*s < '0' || *s > '9'))) {
        return -EINVAL;
    }
    errno = 0;
    v = strtod(s, &end);
    if (*end || end == s || errno == ERANGE || !isfinite(v)) {
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

int dagd_parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};

    if (!s) {
        return -EINVAL;
    }
    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (streq(s, yes[i])) {
            *ret = true;
            return 0;
        }
        if (streq(s, no[i])) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

int dagd_parse_size(const char *s, uint64_t *ret_bytes)
{
    char *end;
    double v;
    uint64_t mult = 1;

    if (!s || *s < '0' || *s > '9') {
        return -EINVAL;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno == ERANGE || end == s || !isfinite(v)) {
        return -EINVAL;
    }
    switch (*end) {
    case 'K':
    case 'k':
        mult = 1ull << 10;
        end++;
        break;
    case 'M':
        mult = 1ull << 20;
        end++;
        break;
    case 'G':
        mult = 1ull << 30;
        end++;
        break;
    case 'T':
        mult = 1ull << 40;
        end++;
        break;
    default:
        break;
    }
    if (mult > 1 && streq(end, "iB")) {
        end += 2;
    } else if (*end == 'B') {
        end++;
    }
    if (*end) {
        return -EINVAL;
    }
    if (mult == 1 && v != floor(v)) {
        return -EINVAL; /* fractional bytes */
    }
    if (v * (double)mult >= 18446744073709551616.0) {
        return -ERANGE;
    }
    *ret_bytes = (uint64_t)(v * (double)mult);
    return 0;
}

const char *dagd_closest_word(const char *word, size_t len, const char *const *cands, size_t n)
{
    /* Optimal string alignment distance (Levenshtein plus transpositions),
     * so "dri" is one edit from "dir". One- and two-letter words get no
     * hint: everything is close to them. */
    size_t best_d = SIZE_MAX, limit = len <= 2 ? 0 : len <= 5 ? 1 : len / 3;
    const char *best = NULL;

    if (len == 0 || len > 128 || limit == 0) {
        return NULL;
    }
    for (size_t c = 0; c < n; c++) {
        const char *w = cands[c];
        size_t wl, *d;
        if (!w || (wl = strlen(w)) > 128 || (wl == len && strncmp(w, word, len) == 0)) {
            continue;
        }
        d = dagd_xcalloc((len + 1) * (wl + 1), sizeof(size_t));
#define D(i, j) d[(i) * (wl + 1) + (j)]
        for (size_t i = 0; i <= len; i++) {
            D(i, 0) = i;
        }
        for (size_t j = 0; j <= wl; j++) {
            D(0, j) = j;
        }
        for (size_t i = 1; i <= len; i++) {
            for (size_t j = 1; j <= wl; j++) {
                size_t cost = word[i - 1] == w[j - 1] ? 0 : 1;
                size_t v = D(i - 1, j - 1) + cost;
                if (D(i - 1, j) + 1 < v) {
                    v = D(i - 1, j) + 1;
                }
                if (D(i, j - 1) + 1 < v) {
                    v = D(i, j - 1) + 1;
                }
                if (i > 1 && j > 1 && word[i - 1] == w[j - 2] && word[i - 2] == w[j - 1] &&
                    D(i - 2, j - 2) + 1 < v) {
                    v = D(i - 2, j - 2) + 1;
                }
                D(i, j) = v;
            }
        }
        if (D(len, wl) <= limit && D(len, wl) < best_d) {
            best_d = D(len, wl);
            best = w;
        }
#undef D
        free(d);
    }
    return best;
}

/* ---- canonical JSON ---------------------------------------------------- */

/* Sort an object's children by key, in place (stable insertion into a new
 * list; configs are small), then recurse into every child. */
static void json_sort(cJSON *j)
{
    if (!j) {
        return;
    }
    if (cJSON_IsObject(j)) {
        cJSON *sorted = NULL;
        cJSON *c = j->child;
        while (c) {
            cJSON *next = c->next;
            c->prev = c->next = NULL;
            if (!sorted || strcmp(c->string, sorted->string) < 0) {
                c->next = sorted;
                sorted = c;
            } else {
                cJSON *at = sorted;
                while (at->next && strcmp(at->next->string, c->string) <= 0) {
                    at = at->next;
                }
                c->next = at->next;
                at->next = c;
            }
            c = next;
        }
        /* cJSON keeps child->prev pointing at the last element. */
        cJSON *last = NULL;
        for (cJSON *x = sorted; x; x = x->next) {
            x->prev = last;
            last = x;
        }
        if (sorted) {
            sorted->prev = last;
        }
        j->child = sorted;
    }
    for (cJSON *c = j->child; c; c = c->next) {
        json_sort(c);
    }
}

char *dagd_json_canonical(const cJSON *j)
{
    cJSON *dup;
    char *s;

    if (!j) {
        return dagd_xstrdup("{}");
    }
    dup = cJSON_Duplicate(j, true);
    if (!dup) {
        abort(); /* OOM: like dagd_xmalloc */
    }
    json_sort(dup);
    s = cJSON_PrintUnformatted(dup);
    cJSON_Delete(dup);
    if (!s) {
        abort();
    }
    /* Hand out malloc() memory: cJSON uses malloc unless hooks are set. */
    return s;
}

/* ---- schema check ------------------------------------------------------ */

const char *dagd_task_field_type_to_string(enum dagd_task_field_type t)
{
    switch (t) {
    case DAGD_FIELD_STRING:
        return "string";
    case DAGD_FIELD_INT:
        return "int";
    case DAGD_FIELD_NUMBER:
        return "number";
    case DAGD_FIELD_BOOL:
        return "bool";
    case DAGD_FIELD_DURATION:
        return "duration";
    case DAGD_FIELD_STRING_LIST:
        return "list of strings";
    case DAGD_FIELD_STRING_MAP:
        return "map of strings";
    case DAGD_FIELD_INT_OR_STRING:
        return "int or string";
    case DAGD_FIELD_ANY:
        return "any";
    }
    return "unknown";
}

struct check {
    const char *file;
    dagd_config_mark_fn mark_fn;
    void *userdata;
    struct dagd_diags *diags;
    int r;
};

static struct dagd_mark check_mark(struct check *c, const char *key, int item)
{
    if (!c->mark_fn) {
        return (struct dagd_mark){0, 0};
    }
    return c->mark_fn(c->userdata, key, item);
}

#define check_error(c, key, item, ...)                                                             \
    do {                                                                                           \
        dagd_diags_add((c)->diags, (c)->file, check_mark((c), (key), (item)), __VA_ARGS__);        \
        (c)->r = -EINVAL;                                                                          \
    } while (0)

static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return "a string";
    }
    if (cJSON_IsNumber(v) || cJSON_IsRaw(v)) {
        return "a number";
    }
    if (cJSON_IsBool(v)) {
        return "a bool";
    }
    if (cJSON_IsNull(v)) {
        return "null";
    }
    if (cJSON_IsArray(v)) {
        return "a list";
    }
    if (cJSON_IsObject(v)) {
        return "a map";
    }
    return "an invalid value";
}

/* The text of a scalar as a new string, or NULL for lists, maps and null. */
static char *scalar_text(const cJSON *v)
{
    if (cJSON_IsString(v) || cJSON_IsRaw(v)) {
        return dagd_xstrdup(v->valuestring);
    }
    if (cJSON_IsBool(v)) {
        return dagd_xstrdup(cJSON_IsTrue(v) ? "true" : "false");
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) {
            return dagd_xasprintf("%" PRId64, (int64_t)d);
        }
        return dagd_xasprintf("%.17g", d);
    }
    return NULL;
}

void dagd_json_replace(cJSON *parent, cJSON *old, cJSON *new_item)
{
    if (!new_item) {
        abort();
    }
    /* cJSON_ReplaceItemViaPointer() does not carry the object key over. */
    if (old->string) {
        new_item->string = dagd_xstrdup(old->string);
        new_item->type &= ~cJSON_StringIsConst;
    }
    if (!parent) {
        /* The root itself: swap contents is not possible; callers never
         * replace a root. */
        abort();
    }
    (void)cJSON_ReplaceItemViaPointer(parent, old, new_item);
}

static void replace_value(cJSON *parent, cJSON *old, cJSON *new_item)
{
    dagd_json_replace(parent, old, new_item);
}

static bool in_choices(const char *const *choices, const char *s)
{
    for (size_t i = 0; choices[i]; i++) {
        if (streq(choices[i], s)) {
            return true;
        }
    }
    return false;
}

static char *choices_list(const char *const *choices)
{
    size_t len = 1;
    char *s;

    for (size_t i = 0; choices[i]; i++) {
        len += strlen(choices[i]) + 2;
    }
    s = dagd_xmalloc(len);
    s[0] = 0;
    for (size_t i = 0; choices[i]; i++) {
        if (i > 0) {
            strcat(s, ", ");
        }
        strcat(s, choices[i]);
    }
    return s;
}

static bool bounded(const struct dagd_task_field *f)
{
    return f->min != 0 || f->max != 0;
}

/* Check one integer against the bounds; report with the key's mark. */
static void check_int_bounds(struct check *c, const struct dagd_task_field *f, int64_t v)
{
    if (bounded(f) && (v < f->min || v > f->max)) {
        check_error(c, f->name, -1,
                    "config key '%s': %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
                    f->name, v, f->min, f->max);
    }
}

/* Replace a scalar item by a string item holding its text. */
static bool stringify(cJSON *parent, cJSON *v)
{
    _cleanup_free_ char *t = NULL;

    if (cJSON_IsString(v)) {
        return true;
    }
    t = scalar_text(v);
    if (!t) {
        return false;
    }
    replace_value(parent, v, cJSON_CreateString(t));
    return true;
}

/* One check per field type: v is the value of field f in obj, `text` its
 * scalar text (NULL for lists, maps and null). Values are normalized to the
 * schema type in place. */
static void check_string(struct check *c, const struct dagd_task_field *f, cJSON *obj, cJSON *v,
                         const char *text)
{
    const char *k = f->name;

    if (!text) {
        check_error(c, k, -1, "config key '%s': expected a string, got %s", k, json_kind(v));
        return;
    }
    if (f->choices && !in_choices(f->choices, text)) {
        _cleanup_free_ char *l = choices_list(f->choices);
        check_error(c, k, -1, "config key '%s': '%s' is not one of: %s", k, text, l);
        return;
    }
    (void)stringify(obj, v);
}

static void check_int(struct check *c, const struct dagd_task_field *f, cJSON *obj, cJSON *v,
                      const char *text)
{
    const char *k = f->name;
    int64_t i;

    if (text && !cJSON_IsBool(v) && dagd_parse_int64(text, &i) >= 0) {
        check_int_bounds(c, f, i);
        if (!cJSON_IsNumber(v)) {
            replace_value(obj, v, cJSON_CreateNumber((double)i));
        }
        return;
    }
    if (f->type == DAGD_FIELD_INT_OR_STRING && cJSON_IsString(v)) {
        if (f->choices && !in_choices(f->choices, text)) {
            _cleanup_free_ char *l = choices_list(f->choices);
            check_error(c, k, -1, "config key '%s': expected an integer or one of: %s, got '%s'", k,
                        l, text);
        }
        return;
    }
    if (text && !cJSON_IsBool(v)) {
        check_error(c, k, -1, "config key '%s': expected an integer, got '%s'", k, text);
    } else {
        check_error(c, k, -1, "config key '%s': expected an integer, got %s", k, json_kind(v));
    }
}

static void check_number(struct check *c, const struct dagd_task_field *f, cJSON *obj, cJSON *v,
                         const char *text)
{
    const char *k = f->name;
    double d;

    if (text && !cJSON_IsBool(v) && dagd_parse_double(text, &d) >= 0) {
        if (bounded(f) && (d < (double)f->min || d > (double)f->max)) {
            check_error(c, k, -1, "config key '%s': %s is out of range [%" PRId64 ", %" PRId64 "]",
                        k, text, f->min, f->max);
        }
        if (!cJSON_IsNumber(v)) {
            replace_value(obj, v, cJSON_CreateNumber(d));
        }
        return;
    }
    if (text && !cJSON_IsBool(v)) {
        check_error(c, k, -1, "config key '%s': expected a number, got '%s'", k, text);
    } else {
        check_error(c, k, -1, "config key '%s': expected a number, got %s", k, json_kind(v));
    }
}

static void check_bool(struct check *c, const struct dagd_task_field *f, cJSON *obj, cJSON *v,
                       const char *text)
{
    bool b;

    if (cJSON_IsBool(v)) {
        return;
    }
    if (cJSON_IsString(v) && dagd_parse_bool(text, &b) >= 0) {
        replace_value(obj, v, cJSON_CreateBool(b));
        return;
    }
    check_error(c, f->name, -1, "config key '%s': expected true or false, got %s%s%s", f->name,
                text ? "'" : "", text ? text : json_kind(v), text ? "'" : "");
}

static void check_duration(struct check *c, const struct dagd_task_field *f, cJSON *obj, cJSON *v,
                           const char *text)
{
    uint64_t u;

    if (!text || cJSON_IsBool(v) || dagd_parse_duration(text, &u) < 0) {
        check_error(c, f->name, -1,
                    "config key '%s': expected a duration (e.g. 250ms, 2s, 5m), "
                    "got %s%s%s",
                    f->name, text ? "'" : "", text ? text : json_kind(v), text ? "'" : "");
        return;
    }
    (void)stringify(obj, v);
}

/* A list (map: false) or a map (map: true) of strings. */
static void check_strings(struct check *c, const struct dagd_task_field *f, cJSON *v, bool map)
{
    const char *k = f->name;
    int i = 0;

    if (map ? !cJSON_IsObject(v) : !cJSON_IsArray(v)) {
        check_error(c, k, -1, "config key '%s': expected a %s of strings, got %s", k,
                    map ? "map" : "list", json_kind(v));
        return;
    }
    for (cJSON *it = v->child; it; i++) {
        cJSON *next = it->next;
        if (cJSON_IsNull(it) || !stringify(v, it)) {
            if (map) {
                check_error(c, k, i, "config key '%s': value of '%s': expected a string, got %s", k,
                            it->string, json_kind(it));
            } else {
                check_error(c, k, i, "config key '%s': item %d: expected a string, got %s", k,
                            i + 1, json_kind(it));
            }
        }
        it = next;
    }
}

static void check_field(struct check *c, const struct dagd_task_field *f, cJSON *obj, cJSON *v)
{
    _cleanup_free_ char *text = scalar_text(v);

    switch (f->type) {
    case DAGD_FIELD_STRING:
        check_string(c, f, obj, v, text);
        return;
    case DAGD_FIELD_INT:
    case DAGD_FIELD_INT_OR_STRING:
        check_int(c, f, obj, v, text);
        return;
    case DAGD_FIELD_NUMBER:
        check_number(c, f, obj, v, text);
        return;
    case DAGD_FIELD_BOOL:
        check_bool(c, f, obj, v, text);
        return;
    case DAGD_FIELD_DURATION:
        check_duration(c, f, obj, v, text);
        return;
    case DAGD_FIELD_STRING_LIST:
        check_strings(c, f, v, false);
        return;
    case DAGD_FIELD_STRING_MAP:
        check_strings(c, f, v, true);
        return;
    case DAGD_FIELD_ANY:
        return;
    }
    check_error(c, f->name, -1, "config key '%s': the task declares an unknown type %d", f->name,
                (int)f->type);
}

/* Turn the loader's raw numbers into real ones (ANY fields keep JSON types). */
static void unraw(cJSON *parent, cJSON *v)
{
    if (cJSON_IsRaw(v)) {
        double d;
        if (dagd_parse_double(v->valuestring, &d) >= 0) {
            replace_value(parent, v, cJSON_CreateNumber(d));
        } else {
            replace_value(parent, v, cJSON_CreateString(v->valuestring));
        }
        return;
    }
    for (cJSON *c = v->child; c;) {
        cJSON *next = c->next;
        unraw(v, c);
        c = next;
    }
}

int dagd_task_config_check(const struct dagd_task_field *schema, cJSON *config, const char *file,
                           dagd_config_mark_fn mark_fn, void *userdata, struct dagd_diags *diags)
{
    struct check c = {
        .file = file,
        .mark_fn = mark_fn,
        .userdata = userdata,
        .diags = diags,
        .r = 0,
    };

    if (config && !cJSON_IsObject(config)) {
        check_error(&c, NULL, -1, "config must be a map, got %s", json_kind(config));
        return c.r;
    }
    /* Unknown keys first, in file order. */
    for (cJSON *v = config ? config->child : NULL; v; v = v->next) {
        const struct dagd_task_field *f = NULL;
        for (size_t i = 0; schema && schema[i].name; i++) {
            if (streq(schema[i].name, v->string)) {
                f = &schema[i];
                break;
            }
        }
        if (f) {
            continue;
        }
        if (!schema || !schema[0].name) {
            check_error(&c, v->string, -2, "unknown config key '%s' (the task takes no config)",
                        v->string);
        } else {
            size_t len = 1, n = 0;
            const char *hint;
            for (size_t i = 0; schema[i].name; i++) {
                len += strlen(schema[i].name) + 2;
                n++;
            }
            {
                const char **names = dagd_xcalloc(n + 1, sizeof(char *));
                for (size_t i = 0; i < n; i++) {
                    names[i] = schema[i].name;
                }
                hint = dagd_closest_word(v->string, strlen(v->string), names, n);
                free(names);
            }
            if (hint) {
                check_error(&c, v->string, -2, "unknown config key '%s' (did you mean '%s'?)",
                            v->string, hint);
                continue;
            }
            _cleanup_free_ char *known = dagd_xmalloc(len);
            known[0] = 0;
            for (size_t i = 0; schema[i].name; i++) {
                if (i > 0) {
                    strcat(known, ", ");
                }
                strcat(known, schema[i].name);
            }
            check_error(&c, v->string, -2, "unknown config key '%s' (known keys: %s)", v->string,
                        known);
        }
    }
    for (size_t i = 0; schema && schema[i].name; i++) {
        const struct dagd_task_field *f = &schema[i];
        cJSON *v = config ? cJSON_GetObjectItemCaseSensitive(config, f->name) : NULL;
        if (!v) {
            if (f->required) {
                check_error(&c, NULL, -1, "missing required config key '%s' (%s)", f->name,
                            dagd_task_field_type_to_string(f->type));
            }
            continue;
        }
        check_field(&c, f, config, v);
    }
    if (config) {
        unraw(NULL, config);
    }
    return c.r;
}

/* ---- accessors --------------------------------------------------------- */

struct dagd_task_config {
    cJSON *obj;
    char *json;     /* canonical JSON, computed on first use */
    char **strings; /* converted values handed out */
    size_t n_strings;
};

struct dagd_task_config *dagd_task_config_new_from_cjson(cJSON *obj)
{
    struct dagd_task_config *c;

    if (!obj) {
        obj = cJSON_CreateObject();
        if (!obj) {
            abort();
        }
    }
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return NULL;
    }
    json_sort(obj);
    c = dagd_xcalloc(1, sizeof(*c));
    c->obj = obj;
    return c;
}

struct dagd_task_config *dagd_task_config_new_from_json(const char *json)
{
    cJSON *obj = NULL;

    if (json && *json) {
        obj = cJSON_Parse(json);
        if (!obj) {
            return NULL;
        }
    }
    return dagd_task_config_new_from_cjson(obj);
}

struct dagd_task_config *dagd_task_config_free(struct dagd_task_config *c)
{
    if (!c) {
        return NULL;
    }
    cJSON_Delete(c->obj);
    free(c->json);
    for (size_t i = 0; i < c->n_strings; i++) {
        free(c->strings[i]);
    }
    free(c->strings);
    free(c);
    return NULL;
}

const cJSON *dagd_task_config_object(const struct dagd_task_config *c)
{
    return c->obj;
}

static const char *keep(struct dagd_task_config *c, char *s)
{
    c->strings = dagd_xreallocarray(c->strings, c->n_strings + 1, sizeof(char *));
    c->strings[c->n_strings++] = s;
    return s;
}

static const char *item_string(struct dagd_task_config *c, const cJSON *v)
{
    char *t;

    if (!v) {
        return NULL;
    }
    if (cJSON_IsString(v)) {
        return v->valuestring;
    }
    t = scalar_text(v);
    if (!t) {
        /* Lists and maps inside a list: hand out their JSON. */
        t = dagd_json_canonical(v);
    }
    return keep(c, t);
}

static cJSON *get(struct dagd_task_config *c, const char *key)
{
    if (!c || !key) {
        return NULL;
    }
    return cJSON_GetObjectItemCaseSensitive(c->obj, key);
}

const char *dagd_task_config_string(struct dagd_task_config *c, const char *key, const char *def)
{
    cJSON *v = get(c, key);

    if (!v || cJSON_IsNull(v) || cJSON_IsArray(v) || cJSON_IsObject(v)) {
        return def;
    }
    return item_string(c, v);
}

int64_t dagd_task_config_int(struct dagd_task_config *c, const char *key, int64_t def)
{
    cJSON *v = get(c, key);
    int64_t i;

    if (cJSON_IsNumber(v)) {
        return (int64_t)v->valuedouble;
    }
    if ((cJSON_IsString(v) || cJSON_IsRaw(v)) && dagd_parse_int64(v->valuestring, &i) >= 0) {
        return i;
    }
    return def;
}

double dagd_task_config_number(struct dagd_task_config *c, const char *key, double def)
{
    cJSON *v = get(c, key);
    double d;

    if (cJSON_IsNumber(v)) {
        return v->valuedouble;
    }
    if ((cJSON_IsString(v) || cJSON_IsRaw(v)) && dagd_parse_double(v->valuestring, &d) >= 0) {
        return d;
    }
    return def;
}

bool dagd_task_config_bool(struct dagd_task_config *c, const char *key, bool def)
{
    cJSON *v = get(c, key);
    bool b;

    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v);
    }
    if (cJSON_IsString(v) && dagd_parse_bool(v->valuestring, &b) >= 0) {
        return b;
    }
    return def;
}

uint64_t dagd_task_config_duration(struct dagd_task_config *c, const char *key, uint64_t def)
{
    cJSON *v = get(c, key);
    uint64_t u;

    if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
        return (uint64_t)(v->valuedouble * 1e6); /* a bare number is seconds */
    }
    if ((cJSON_IsString(v) || cJSON_IsRaw(v)) && dagd_parse_duration(v->valuestring, &u) >= 0) {
        return u;
    }
    return def;
}

size_t dagd_task_config_list_len(struct dagd_task_config *c, const char *key)
{
    cJSON *v = get(c, key);

    if (!v || cJSON_IsNull(v) || cJSON_IsObject(v)) {
        return 0;
    }
    if (cJSON_IsArray(v)) {
        return (size_t)cJSON_GetArraySize(v);
    }
    return 1;
}

const char *dagd_task_config_list_item(struct dagd_task_config *c, const char *key, size_t i)
{
    cJSON *v = get(c, key);

    if (!v || cJSON_IsNull(v) || cJSON_IsObject(v)) {
        return NULL;
    }
    if (!cJSON_IsArray(v)) {
        return i == 0 ? item_string(c, v) : NULL;
    }
    if (i >= (size_t)cJSON_GetArraySize(v)) {
        return NULL;
    }
    return item_string(c, cJSON_GetArrayItem(v, (int)i));
}

size_t dagd_task_config_map_len(struct dagd_task_config *c, const char *key)
{
    cJSON *v = get(c, key);

    return cJSON_IsObject(v) ? (size_t)cJSON_GetArraySize(v) : 0;
}

static cJSON *map_item(struct dagd_task_config *c, const char *key, size_t i)
{
    cJSON *v = get(c, key);

    if (!cJSON_IsObject(v) || i >= (size_t)cJSON_GetArraySize(v)) {
        return NULL;
    }
    return cJSON_GetArrayItem(v, (int)i);
}

const char *dagd_task_config_map_key(struct dagd_task_config *c, const char *key, size_t i)
{
    cJSON *it = map_item(c, key, i);

    return it ? it->string : NULL;
}

const char *dagd_task_config_map_value(struct dagd_task_config *c, const char *key, size_t i)
{
    return item_string(c, map_item(c, key, i));
}

const char *dagd_task_config_json(struct dagd_task_config *c)
{
    if (!c->json) {
        c->json = dagd_json_canonical(c->obj);
    }
    return c->json;
}
