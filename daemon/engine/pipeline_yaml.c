/* The pipeline parser: YAML file -> struct dagd_pipeline (pipeline.h). The
 * model itself (lifetime, lookups, resolving a step's config) is pipeline.c;
 * params and `${...}` are params.c.
 *
 * Uses the libyaml document API, so every node keeps its start mark and all
 * errors of a file can be collected (up to DAGD_DIAG_MAX) instead of stopping
 * at the first, as tmux' cmd-parse.y and fluent-bit's flb_cf_yaml.c do. libyaml
 * accepts duplicate mapping keys and expands aliases without limit: both are
 * checked here (duplicate keys are errors; alias expansion is bounded by a
 * node budget and a depth limit, so "billion laughs" documents and recursive
 * aliases fail cleanly).
 *
 * Order of checks: structure and types of every key, then ${...} references
 * (with the exact position of the reference inside the scalar), parameter
 * cycles, step names and needs, the DAG (cycles with their path), and last
 * each step's task and config: the plugin schema, then the plugin's own
 * validate callback. Errors are sorted by position before they are returned. */
#include <assert.h>
#include <dirent.h>
#include <inttypes.h>
#include <libgen.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "dag.h"
#include "log.h"
#include "pipeline.h"
#include "param_spec.h"
#include "partitions.h"
#include "pipeline_internal.h"
#include "cron.h"
#include "plugin_host.h"
#include "slurm_opts.h"
#include "task_config.h"

#define MAX_FILE_SIZE (16u << 20)
#define MAX_NODES 200000u /* node visits, aliases included */
/* Nodes as written (an alias counts once), checked by a streaming pre-scan
 * before the document is built: libyaml's document loader costs ~160 bytes
 * per node, so 8 M tiny nodes in a 16 MiB file would take 1.3 GB. 100 000
 * steps of `{name: a, task: b}` are 500 000 nodes, so that limit still fits. */
#define MAX_RAW_NODES 1000000u
#define MAX_DEPTH 64u
#define MAX_STEPS 100000u
#define MAX_RETRIES 1000u

struct loader {
    const char *file;
    const char *buf;
    size_t len;
    yaml_document_t doc;
    struct dagd_diags *diags;
    struct dagd_plugin_host *host;
    struct dagd_pipeline *p;
    size_t visits;
    bool failed;
    bool params_ok;                 /* references and cycles of params are fine */
    struct dagd_params load_params; /* defaults + placeholder built-ins, expanded */
    struct dagd_mark budget_mark;   /* where a node budget overflow is reported */
    size_t *by_name;                /* step indices sorted by name (index_step_names) */
    bool **dup_cache;               /* per mapping node: which pairs repeat a key */
    bool ascii;                     /* buf has no byte >= 0x80: char index == byte offset */
    size_t last_chars, last_byte;   /* byte_offset() memo */
    size_t n_dup_cache;
    size_t n_by_name;
};

static struct dagd_mark M(yaml_mark_t m) {
    return (struct dagd_mark){(unsigned)m.line + 1, (unsigned)m.column + 1};
}

#define error_at(L, mark, ...)                                                                     \
    do {                                                                                           \
        dagd_diags_add((L)->diags, (L)->file, (mark), __VA_ARGS__);                                \
        (L)->failed = true;                                                                        \
    } while (0)

/* ---- YAML helpers ------------------------------------------------------------ */

static yaml_node_t *
node(struct loader *L, int id)
{
    return yaml_document_get_node(&L->doc, id);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a map";
    default:
        return "nothing";
    }
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
           n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || !is_plain(n)) {
        return false;
    }
    const char *s = scalar(n);
    return !*s || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

/* A scalar with a NUL inside cannot be a C string: reject it. */
static bool scalar_has_nul(const yaml_node_t *n)
{
    return strlen(scalar(n)) != n->data.scalar.length;
}

/* Byte offset of a libyaml mark: libyaml counts `index` in characters, so
 * walk the UTF-8 buffer. (For ASCII files both agree.) */
static size_t byte_offset(struct loader *L, size_t char_index)
{
    size_t chars, i;

    if (L->ascii) {
        return char_index < L->len ? char_index : L->len;
    }
    /* Marks are mostly asked for in increasing order: walk on from the last
     * answer instead of from the start (linear overall, not quadratic). */
    if (char_index >= L->last_chars) {
        chars = L->last_chars;
        i = L->last_byte;
    } else {
        chars = 0;
        i = 0;
    }
    while (i < L->len && chars < char_index) {
        i++;
        while (i < L->len && ((unsigned char)L->buf[i] & 0xC0) == 0x80) {
            i++; /* continuation bytes of the character just passed */
        }
        chars++;
    }
    L->last_chars = chars;
    L->last_byte = i;
    return i;
}

static size_t count_dollar_brace(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == '$' && s[i + 1] == '{') {
            n++;
        }
    }
    return n;
}

/* The mark of offset `pos` of a scalar's value, for a ${ at pos: found as
 * the same-numbered "${" in the source text of the scalar (quotes, folding
 * and escapes shift offsets, "${" occurrences keep their order). Falls back
 * to the scalar's start. */
static struct dagd_mark scalar_pos_mark(struct loader *L, const yaml_node_t *n, size_t pos)
{
    const char *v = scalar(n);
    size_t k = count_dollar_brace(v, pos), total = count_dollar_brace(v, strlen(v));
    size_t b0 = byte_offset(L, n->start_mark.index), b1 = byte_offset(L, n->end_mark.index);
    size_t seen = 0;
    unsigned line = (unsigned)n->start_mark.line + 1, col = (unsigned)n->start_mark.column + 1;

    if (b1 > L->len || b0 > b1 || count_dollar_brace(L->buf + b0, b1 - b0) != total) {
        return M(n->start_mark);
    }
    for (size_t i = b0; i + 1 < b1; i++) {
        if (L->buf[i] == '$' && L->buf[i + 1] == '{') {
            if (seen++ == k) {
                return (struct dagd_mark){line, col};
            }
        }
        if (L->buf[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)L->buf[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    return M(n->start_mark);
}

/* Allowed reference names for a scalar. */
struct refscope {
    bool sensor; /* sensor.* names are allowed */
};

static bool ref_known(struct loader *L, const struct refscope *sc, const char *name, size_t len)
{
    if (dagd_params_name_in(dagd_params_builtin_names, name, len)) {
        return true;
    }
    if (L->p->partitions && dagd_params_name_in(dagd_params_partition_names, name, len)) {
        return true;
    }
    if (sc && sc->sensor && dagd_params_name_in(dagd_params_sensor_names, name, len)) {
        return true;
    }
    for (size_t i = 0; i < L->p->params.n; i++) {
        if (strlen(L->p->params.items[i].key) == len &&
            strncmp(L->p->params.items[i].key, name, len) == 0) {
            return true;
        }
    }
    return false;
}

static const char *closest_param(struct loader *L, const struct refscope *sc, const char *name,
                                 size_t len)
{
    size_t n = L->p->params.n + ELEMENTSOF(dagd_params_builtin_names) +
               ELEMENTSOF(dagd_params_sensor_names) + ELEMENTSOF(dagd_params_partition_names),
           k = 0;
    _cleanup_free_ const char **c = NULL;

    if (L->diags->n >= DAGD_DIAG_MAX || n > 10000) {
        return NULL;
    }
    c = dagd_xcalloc(n + 1, sizeof(char *));

    for (size_t i = 0; dagd_params_builtin_names[i]; i++) {
        c[k++] = dagd_params_builtin_names[i];
    }
    for (size_t i = 0; sc && sc->sensor && dagd_params_sensor_names[i]; i++) {
        c[k++] = dagd_params_sensor_names[i];
    }
    for (size_t i = 0; L->p->partitions && dagd_params_partition_names[i]; i++) {
        c[k++] = dagd_params_partition_names[i];
    }
    for (size_t i = 0; i < L->p->params.n; i++) {
        c[k++] = L->p->params.items[i].key;
    }
    return dagd_closest_word(name, len, c, k);
}

/* Check every ${...} of a scalar; returns the number of problems reported. */
static unsigned check_refs(struct loader *L, const yaml_node_t *n, const struct refscope *sc)
{
    const char *v = scalar(n);
    size_t pos = 0;
    struct dagd_param_ref r;
    unsigned bad = 0;

    while (dagd_params_next_ref(v, &pos, &r)) {
        struct dagd_mark m = scalar_pos_mark(L, n, r.pos);
        if (r.problem < 0) {
            if (!strchr(v + r.name_pos, '}')) {
                error_at(L, m, "unterminated '${' (write '$${' for a literal '${')");
            } else {
                error_at(L, m, "invalid parameter reference '${%.*s}'", (int)r.name_len,
                         v + r.name_pos);
            }
            bad++;
        } else if (!ref_known(L, sc, v + r.name_pos, r.name_len)) {
            const char *hint = closest_param(L, sc, v + r.name_pos, r.name_len);
            if (hint) {
                error_at(L, m, "unknown parameter '${%.*s}' (did you mean '${%s}'?)",
                         (int)r.name_len, v + r.name_pos, hint);
            } else {
                error_at(L, m, "unknown parameter '${%.*s}'%s", (int)r.name_len, v + r.name_pos,
                         sc && sc->sensor ? "" : " (declare it under params)");
            }
            bad++;
        }
    }
    return bad;
}

/* Check a mapping's keys: all scalars, no duplicates. Returns false (after
 * reporting) if the node is not a mapping. */
static int cmp_pair_key(const void *a, const void *b, void *ud)
{
    struct loader *L = ud;
    const yaml_node_pair_t *x = *(yaml_node_pair_t *const *)a;
    const yaml_node_pair_t *y = *(yaml_node_pair_t *const *)b;
    int c = strcmp(scalar(node(L, x->key)), scalar(node(L, y->key)));

    if (c != 0) {
        return c;
    }
    return x < y ? -1 : x > y ? 1 : 0;
}

static bool check_mapping(struct loader *L, yaml_node_t *n, const char *what)
{
    size_t np, k = 0;
    yaml_node_pair_t **v;

    if (n->type != YAML_MAPPING_NODE) {
        error_at(L, M(n->start_mark), "%s must be a map, got %s", what, node_kind(n));
        return false;
    }
    np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    v = dagd_xcalloc(np + 1, sizeof(*v));
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *key = node(L, pr->key);
        if (!key || key->type != YAML_SCALAR_NODE) {
            error_at(L, key ? M(key->start_mark) : M(n->start_mark),
                     "keys of %s must be strings, got %s", what, key ? node_kind(key) : "nothing");
            continue;
        }
        if (scalar_has_nul(key)) {
            error_at(L, M(key->start_mark), "key contains a NUL character");
            continue;
        }
        v[k++] = pr;
    }
    if (k > 1) {
        qsort_r(v, k, sizeof(*v), cmp_pair_key, L);
    }
    /* v is sorted by (key, position): the first of a run is the original.
     * Remember it per pair, then report in file order. */
    {
        yaml_node_pair_t **orig = dagd_xcalloc(np + 1, sizeof(*orig));
        for (size_t i = 1, first = 0; i < k; i++) {
            if (!streq(scalar(node(L, v[first]->key)), scalar(node(L, v[i]->key)))) {
                first = i;
                continue;
            }
            orig[v[i] - n->data.mapping.pairs.start] = v[first];
        }
        for (size_t i = 0; i < np; i++) {
            if (orig[i]) {
                yaml_node_t *b = node(L, n->data.mapping.pairs.start[i].key);
                yaml_node_t *o = node(L, orig[i]->key);
                error_at(L, M(b->start_mark),
                         "duplicate key '%s' (first defined at line %u, column %u)", scalar(b),
                         (unsigned)o->start_mark.line + 1, (unsigned)o->start_mark.column + 1);
            }
        }
        free(orig);
    }
    free(v);
    return true;
}

/* Iterate over a mapping's scalar-key pairs (checked by check_mapping). */
#define FOREACH_PAIR(L, n, pr, K_, V_)                                                             \
    for (yaml_node_pair_t *pr = (n)->data.mapping.pairs.start; pr < (n)->data.mapping.pairs.top;   \
         pr++)                                                                                     \
        for (yaml_node_t *K_ = node((L), pr->key), *V_ = node((L), pr->value), *pr##_once = K_;    \
             pr##_once && K_ && V_ && K_->type == YAML_SCALAR_NODE && !scalar_has_nul(K_);         \
             pr##_once = NULL)

/* Is `key` a duplicate of an earlier key of the same mapping? Later
 * duplicates are reported by check_mapping and otherwise ignored. The
 * answer for every pair of a mapping is computed once (sorting its keys)
 * and cached by node id, so wide mappings cost O(k log k), not O(k^2). */
static bool is_dup_key(struct loader *L, yaml_node_t *map, yaml_node_pair_t *at)
{
    size_t id = (size_t)(map - L->doc.nodes.start);
    size_t np = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);

    if (!L->dup_cache) {
        L->n_dup_cache = (size_t)(L->doc.nodes.top - L->doc.nodes.start);
        L->dup_cache = dagd_xcalloc(L->n_dup_cache + 1, sizeof(bool *));
    }
    if (id >= L->n_dup_cache) {
        return false;
    }
    if (!L->dup_cache[id]) {
        yaml_node_pair_t **v = dagd_xcalloc(np + 1, sizeof(*v));
        bool *dup = dagd_xcalloc(np + 1, sizeof(bool));
        size_t k = 0;

        for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *key = node(L, pr->key);
            if (key && key->type == YAML_SCALAR_NODE && !scalar_has_nul(key)) {
                v[k++] = pr;
            }
        }
        if (k > 1) {
            qsort_r(v, k, sizeof(*v), cmp_pair_key, L);
        }
        for (size_t i = 1; i < k; i++) {
            if (streq(scalar(node(L, v[i - 1]->key)), scalar(node(L, v[i]->key)))) {
                dup[v[i] - map->data.mapping.pairs.start] = true;
            }
        }
        free(v);
        L->dup_cache[id] = dup;
    }
    return L->dup_cache[id][at - map->data.mapping.pairs.start];
}

static bool get_string(struct loader *L, yaml_node_t *v, const char *what, bool allow_empty,
                       char **ret)
{
    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        if (v->type == YAML_SCALAR_NODE && allow_empty) {
            free(*ret);
            *ret = dagd_xstrdup("");
            return true;
        }
        error_at(L, M(v->start_mark), "%s must be a string, got %s", what,
                 v->type == YAML_SCALAR_NODE ? "nothing" : node_kind(v));
        return false;
    }
    if (scalar_has_nul(v)) {
        error_at(L, M(v->start_mark), "%s contains a NUL character", what);
        return false;
    }
    free(*ret);
    *ret = dagd_xstrdup(scalar(v));
    return true;
}

static bool get_uint(struct loader *L, yaml_node_t *v, const char *what, unsigned max,
                     unsigned *ret)
{
    int64_t i;

    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        error_at(L, M(v->start_mark), "%s must be an integer, got %s", what,
                 v->type == YAML_SCALAR_NODE ? "nothing" : node_kind(v));
        return false;
    }
    if (dagd_parse_int64(scalar(v), &i) < 0) {
        error_at(L, M(v->start_mark), "%s must be an integer, got '%s'", what, scalar(v));
        return false;
    }
    if (i < 0 || (uint64_t)i > max) {
        error_at(L, M(v->start_mark), "%s must be between 0 and %u, got %" PRId64, what, max, i);
        return false;
    }
    *ret = (unsigned)i;
    return true;
}

/* priority: an integer from -1000 to 1000 (the run queue's order). */
static bool get_priority(struct loader *L, yaml_node_t *v, int *ret)
{
    int64_t i;

    if (v->type != YAML_SCALAR_NODE || is_null(v) || dagd_parse_int64(scalar(v), &i) < 0) {
        error_at(L, M(v->start_mark), "priority must be an integer, got %s",
                 v->type == YAML_SCALAR_NODE ? scalar(v) : node_kind(v));
        return false;
    }
    if (i < -1000 || i > 1000) {
        error_at(L, M(v->start_mark), "priority must be between -1000 and 1000, got %" PRId64, i);
        return false;
    }
    *ret = (int)i;
    return true;
}

static bool get_duration(struct loader *L, yaml_node_t *v, const char *what, uint64_t *ret)
{
    uint64_t u;

    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        error_at(L, M(v->start_mark), "%s must be a duration, got %s", what,
                 v->type == YAML_SCALAR_NODE ? "nothing" : node_kind(v));
        return false;
    }
    if (dagd_parse_duration(scalar(v), &u) < 0) {
        error_at(L, M(v->start_mark), "%s: invalid duration '%s' (use e.g. 250ms, 2s, 5m, 1h30m)",
                 what, scalar(v));
        return false;
    }
    *ret = u;
    return true;
}

static bool get_size(struct loader *L, yaml_node_t *v, const char *what, uint64_t *ret)
{
    uint64_t u;

    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        error_at(L, M(v->start_mark), "%s must be a size, got %s", what,
                 v->type == YAML_SCALAR_NODE ? "nothing" : node_kind(v));
        return false;
    }
    if (dagd_parse_size(scalar(v), &u) < 0) {
        error_at(L, M(v->start_mark), "%s: invalid size '%s' (use e.g. 512M, 2G, 65536)", what,
                 scalar(v));
        return false;
    }
    *ret = u;
    return true;
}

static bool valid_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 128) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.')) {
            return false;
        }
    }
    return true;
}

static void unknown_key(struct loader *L, yaml_node_t *k, const char *where,
                        const char *const *known)
{
    char buf[512] = "";
    size_t n = 0;
    const char *hint;

    for (size_t i = 0; known[i]; i++) {
        if (i > 0) {
            strncat(buf, ", ", sizeof(buf) - strlen(buf) - 1);
        }
        strncat(buf, known[i], sizeof(buf) - strlen(buf) - 1);
        n++;
    }
    hint = dagd_closest_word(scalar(k), strlen(scalar(k)), known, n);
    if (hint) {
        error_at(L, M(k->start_mark), "unknown key '%s' in %s (did you mean '%s'?)", scalar(k),
                 where, hint);
    } else {
        error_at(L, M(k->start_mark), "unknown key '%s' in %s (expected one of: %s)", scalar(k),
                 where, buf);
    }
}

/* ---- YAML -> JSON for configs -------------------------------------------- */

static bool looks_like_json_number(const char *s)
{
    const char *p = s;

    if (*p == '-') {
        p++;
    }
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    } else {
        return false;
    }
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    return *p == 0 && p - s < 64;
}

static cJSON *must(cJSON *j)
{
    if (!j) {
        abort(); /* OOM */
    }
    return j;
}

/* Convert a YAML node to JSON. Plain scalars are typed like YAML 1.2's
 * core schema (null, true/false, numbers kept as their text in cJSON_Raw);
 * quoted ones are strings. ${...} references in string scalars are
 * checked. Returns NULL (after reporting) on budget exhaustion. */
/* Count `n` node visits against MAX_NODES; false (reported once) when the
 * budget is spent. Aliases make a small file expand to a huge tree; every
 * walk over user-sized data spends from this budget. */
static bool spend(struct loader *L, size_t n, struct dagd_mark m)
{
    bool was_over = L->visits > MAX_NODES;

    L->visits += n;
    if (L->visits <= MAX_NODES) {
        return true;
    }
    if (!was_over) {
        error_at(L, L->budget_mark.line ? L->budget_mark : m,
                 "document too large: more than %u nodes after expanding aliases", MAX_NODES);
    }
    return false;
}

static cJSON *to_json(struct loader *L, yaml_node_t *n, unsigned depth, const struct refscope *sc)
{
    if (!spend(L, 1, M(n->start_mark))) {
        return NULL;
    }
    if (depth > MAX_DEPTH) {
        error_at(L, M(n->start_mark), "nesting deeper than %u levels", MAX_DEPTH);
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = scalar(n);
        bool b;
        if (scalar_has_nul(n)) {
            error_at(L, M(n->start_mark), "value contains a NUL character");
            return must(cJSON_CreateNull());
        }
        if (is_plain(n)) {
            if (is_null(n)) {
                return must(cJSON_CreateNull());
            }
            if ((streq(s, "true") || streq(s, "false") || streq(s, "True") || streq(s, "False") ||
                 streq(s, "TRUE") || streq(s, "FALSE")) &&
                dagd_parse_bool(s, &b) >= 0) {
                return must(cJSON_CreateBool(b));
            }
            if (looks_like_json_number(s)) {
                return must(cJSON_CreateRaw(s));
            }
        }
        (void)check_refs(L, n, sc);
        return must(cJSON_CreateString(s));
    }
    case YAML_SEQUENCE_NODE: {
        cJSON *a = must(cJSON_CreateArray());
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            yaml_node_t *c = node(L, *it);
            cJSON *j = c ? to_json(L, c, depth + 1, sc) : NULL;
            if (!j) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, j);
        }
        return a;
    }
    case YAML_MAPPING_NODE: {
        cJSON *o = must(cJSON_CreateObject());
        (void)check_mapping(L, n, "a config map");
        FOREACH_PAIR(L, n, pr, k, v)
        {
            cJSON *j;
            if (is_dup_key(L, n, pr)) {
                continue;
            }
            j = to_json(L, v, depth + 1, sc);
            if (!j) {
                cJSON_Delete(o);
                return NULL;
            }
            cJSON_AddItemToObject(o, scalar(k), j);
        }
        return o;
    }
    default:
        return must(cJSON_CreateNull());
    }
}

/* A list of strings (a sequence of scalars), or one string. */
static bool get_string_list(struct loader *L, yaml_node_t *v, const char *what, char ***ret,
                            size_t *ret_n)
{
    if (v->type == YAML_SCALAR_NODE) {
        char *one = NULL;
        if (!get_string(L, v, what, false, &one)) {
            return false;
        }
        *ret = dagd_xcalloc(1, sizeof(char *));
        (*ret)[0] = one;
        *ret_n = 1;
        return true;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        error_at(L, M(v->start_mark), "%s must be a list of strings, got %s", what, node_kind(v));
        return false;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    char **list = dagd_xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *c = node(L, v->data.sequence.items.start[i]);
        if (c && get_string(L, c, what, false, &list[k])) {
            k++;
        }
    }
    *ret = list;
    *ret_n = k;
    return k == n;
}

static const char *const param_spec_keys[] = {"default", "type",      "pattern",     "values",
                                              "under",   "overwrite", "description", NULL};

/* A param declared as a map: its default into *ret_default, and the spec
 * (type, pattern, values, under, overwrite) appended to the pipeline's. */
static bool parse_param_spec(struct loader *L, yaml_node_t *n, const char *name,
                             struct dagd_mark mark, char **ret_default)
{
    struct dagd_param_spec spec = {.key = dagd_xstrdup(name), .mark = mark};
    bool ok = true, overwrite_set = false;
    _cleanup_free_ char *what = dagd_xasprintf("parameter '%s'", name);

    FOREACH_PAIR(L, n, pr, k, v)
    {
        const char *key = scalar(k);
        if (is_dup_key(L, n, pr)) {
            continue;
        }
        if (streq(key, "default")) {
            if (v->type != YAML_SCALAR_NODE) {
                error_at(L, M(v->start_mark),
                         "the default of parameter '%s' must be a string, got %s", name,
                         node_kind(v));
                ok = false;
            } else if (scalar_has_nul(v)) {
                error_at(L, M(v->start_mark), "parameter '%s' contains a NUL character", name);
                ok = false;
            } else {
                free(*ret_default);
                *ret_default = dagd_xstrdup(is_null(v) ? "" : scalar(v));
            }
        } else if (streq(key, "type")) {
            _cleanup_free_ char *t = NULL;
            if (get_string(L, v, "type", false, &t)) {
                int ty = dagd_param_type_from_string(t);
                if (ty < 0) {
                    error_at(L, M(v->start_mark),
                             "unknown type '%s' of parameter '%s' (expected one of: string, int, "
                             "number, bool, enum, path, output)",
                             t, name);
                    ok = false;
                } else {
                    spec.type = (enum dagd_param_type)ty;
                }
            } else {
                ok = false;
            }
        } else if (streq(key, "pattern")) {
            ok = get_string(L, v, "pattern", false, &spec.pattern) && ok;
            _cleanup_free_ char *msg = NULL;
            if (spec.pattern && dagd_param_spec_compile(&spec, &msg) < 0) {
                error_at(L, M(v->start_mark), "pattern of parameter '%s': %s", name, msg);
                ok = false;
            }
        } else if (streq(key, "values")) {
            ok = get_string_list(L, v, "values", &spec.values, &spec.n_values) && ok;
        } else if (streq(key, "under")) {
            ok = get_string_list(L, v, "under", &spec.under, &spec.n_under) && ok;
        } else if (streq(key, "overwrite")) {
            overwrite_set = true;
            if (v->type != YAML_SCALAR_NODE ||
                (!streq(scalar(v), "true") && !streq(scalar(v), "false"))) {
                error_at(L, M(v->start_mark), "overwrite must be true or false");
                ok = false;
            } else {
                spec.overwrite = streq(scalar(v), "true");
            }
        } else if (streq(key, "description")) {
            _cleanup_free_ char *d = NULL;
            ok = get_string(L, v, "description", true, &d) && ok;
        } else {
            unknown_key(L, k, what, param_spec_keys);
            ok = false;
        }
    }
    if (ok && spec.type == DAGD_PARAM_ENUM && spec.n_values == 0) {
        error_at(L, mark, "parameter '%s' is an enum: list its values (values: [a, b])", name);
        ok = false;
    }
    if (ok && spec.n_values > 0 && spec.type != DAGD_PARAM_ENUM) {
        error_at(L, mark, "values: is for type enum (parameter '%s' is %s)", name,
                 dagd_param_type_to_string(spec.type));
        ok = false;
    }
    if (ok && spec.n_under > 0 && spec.type != DAGD_PARAM_PATH && spec.type != DAGD_PARAM_OUTPUT) {
        error_at(L, mark, "under: is for types path and output (parameter '%s' is %s)", name,
                 dagd_param_type_to_string(spec.type));
        ok = false;
    }
    if (ok && overwrite_set && spec.type != DAGD_PARAM_OUTPUT) {
        error_at(L, mark, "overwrite: is for type output (parameter '%s' is %s)", name,
                 dagd_param_type_to_string(spec.type));
        ok = false;
    }
    if (!ok) {
        struct dagd_param_spec *bad = dagd_xmalloc(sizeof(*bad));
        *bad = spec;
        (void)dagd_param_specs_free(bad, 1);
        return false;
    }
    struct dagd_pipeline *p = L->p;
    p->param_specs = dagd_xreallocarray(p->param_specs, p->n_param_specs + 1, sizeof(spec));
    p->param_specs[p->n_param_specs++] = spec;
    return true;
}

/* ---- pipeline keys -------------------------------------------------------- */

static void parse_params_map(struct loader *L, yaml_node_t *n, struct dagd_params *ret,
                             const char *what, bool declare, const struct refscope *sc)
{
    if (!check_mapping(L, n, what)) {
        return;
    }
    FOREACH_PAIR(L, n, pr, k, v)
    {
        const char *name = scalar(k);
        if (is_dup_key(L, n, pr)) {
            continue;
        }
        if (declare) {
            if (dagd_params_name_in(dagd_params_builtin_names, name, strlen(name)) ||
                (L->p->partitions &&
                 dagd_params_name_in(dagd_params_partition_names, name, strlen(name)))) {
                error_at(L, M(k->start_mark), "parameter '%s' is built in and cannot be declared",
                         name);
                continue;
            }
            if (!dagd_params_valid_name(name, strlen(name)) || strchr(name, '.')) {
                error_at(L, M(k->start_mark),
                         "invalid parameter name '%s' (use letters, digits, "
                         "'_' and '-', starting with a letter or '_')",
                         name);
                continue;
            }
        } else if (!dagd_params_get(&L->p->params, name)) {
            error_at(L, M(k->start_mark), "unknown parameter '%s' (not declared in params)", name);
            continue;
        }
        if (declare && v->type == YAML_MAPPING_NODE) {
            /* {default: ..., type: ..., pattern: ...} */
            _cleanup_free_ char *def = dagd_xstrdup("");
            if (check_mapping(L, v, "a parameter declaration") &&
                parse_param_spec(L, v, name, M(k->start_mark), &def)) {
                dagd_params_set_at(ret, name, def, M(k->start_mark));
            }
            continue;
        }
        if (v->type != YAML_SCALAR_NODE) {
            error_at(L, M(v->start_mark), "parameter '%s' must be a string%s, got %s", name,
                     declare ? " or a map {default, type, pattern, ...}" : "", node_kind(v));
            continue;
        }
        if (scalar_has_nul(v)) {
            error_at(L, M(v->start_mark), "parameter '%s' contains a NUL character", name);
            continue;
        }
        if (!declare && check_refs(L, v, sc) > 0) {
            continue;
        }
        dagd_params_set_at(ret, name, is_null(v) ? "" : scalar(v), M(k->start_mark));
    }
}

static const char *const step_keys[] = {
    "name",    "task",   "needs",        "config", "inputs", "outputs",  "retries", "retry_delay",
    "timeout", "memory", "trigger_rule", "pool",   "slots",  "executor", "slurm",   NULL};
static const char *const default_keys[] = {"retries", "retry_delay", "timeout", "memory", "pool",
                                           "slots",   "executor",    "slurm",   NULL};
static const char *const slurm_keys[] = {"mode",    "partition", "cpus",    "memory", "time",
                                         "account", "qos",       "options", NULL};

/* A step takes at most this many slots of its pool. */
#define MAX_SLOTS 10000u

struct defaults {
    bool has_retries, has_retry_delay, has_timeout, has_memory, has_pool, has_slots;
    bool has_executor, has_slurm;
    unsigned retries, slots;
    uint64_t retry_delay_usec, timeout_usec, memory_bytes;
    char *pool;
    struct dagd_mark pool_mark, slots_mark;
    enum dagd_step_executor executor;
    struct dagd_slurm_opts slurm;
    struct dagd_mark slurm_mark;
};

/* `slurm:` of a step or of defaults (DESIGN 11): a map of sbatch settings. */
static void parse_slurm(struct loader *L, yaml_node_t *n, struct dagd_slurm_opts *o)
{
    if (!check_mapping(L, n, "slurm")) {
        return;
    }
    FOREACH_PAIR(L, n, pr, k, v)
    {
        const char *key = scalar(k);
        if (is_dup_key(L, n, pr)) {
            continue;
        }
        if (streq(key, "mode")) {
            _cleanup_free_ char *m = NULL;
            if (get_string(L, v, "slurm mode", false, &m)) {
                int r = dagd_slurm_mode_from_string(m);
                if (r < 0) {
                    error_at(L, M(v->start_mark), "unknown slurm mode '%s' (jobs or pilot)", m);
                } else {
                    o->mode = (enum dagd_slurm_mode)r;
                    o->has_mode = true;
                }
            }
        } else if (streq(key, "partition") || streq(key, "account") || streq(key, "qos")) {
            char **dst = streq(key, "partition") ? &o->partition
                         : streq(key, "account") ? &o->account
                                                 : &o->qos;
            if (get_string(L, v, key, false, dst) && (*dst)[0] == '-') {
                error_at(L, M(v->start_mark), "slurm %s must not start with '-'", key);
            }
        } else if (streq(key, "cpus")) {
            if (get_uint(L, v, "slurm cpus", 4096, &o->cpus) && o->cpus == 0) {
                error_at(L, M(v->start_mark), "slurm cpus must be at least 1");
            }
        } else if (streq(key, "memory")) {
            (void)get_size(L, v, "slurm memory", &o->memory_bytes);
        } else if (streq(key, "time")) {
            (void)get_duration(L, v, "slurm time", &o->time_usec);
        } else if (streq(key, "options")) {
            if (get_string_list(L, v, "slurm options", &o->options, &o->n_options)) {
                for (size_t i = 0; i < o->n_options; i++) {
                    if (o->options[i][0] != '-') {
                        error_at(L, M(v->start_mark),
                                 "slurm options are sbatch options, each starting with '-', "
                                 "got '%s'",
                                 o->options[i]);
                    }
                }
            }
        } else {
            unknown_key(L, k, "slurm", slurm_keys);
        }
    }
}

/* `executor:` and `slurm:` of a step or of defaults; returns true if the key
 * was one of them. */
static bool parse_executor_key(struct loader *L, const char *key, yaml_node_t *v,
                               struct defaults *d)
{
    if (streq(key, "executor")) {
        _cleanup_free_ char *x = NULL;
        if (get_string(L, v, "executor", false, &x)) {
            int r = dagd_step_executor_from_string(x);
            if (r < 0) {
                error_at(L, M(v->start_mark), "unknown executor '%s' (local or slurm)", x);
            } else {
                d->executor = (enum dagd_step_executor)r;
                d->has_executor = true;
            }
        }
    } else if (streq(key, "slurm")) {
        d->has_slurm = true;
        d->slurm_mark = M(v->start_mark);
        if (!is_null(v)) {
            parse_slurm(L, v, &d->slurm);
        }
    } else {
        return false;
    }
    return true;
}

/* Shared by steps and `defaults`; returns true if the key was a limit key. */
static bool parse_limit_key(struct loader *L, const char *key, yaml_node_t *v, struct defaults *d)
{
    if (streq(key, "retries")) {
        d->has_retries = get_uint(L, v, "retries", MAX_RETRIES, &d->retries);
    } else if (streq(key, "retry_delay")) {
        d->has_retry_delay = get_duration(L, v, "retry_delay", &d->retry_delay_usec);
    } else if (streq(key, "timeout")) {
        d->has_timeout = get_duration(L, v, "timeout", &d->timeout_usec);
    } else if (streq(key, "memory")) {
        d->has_memory = get_size(L, v, "memory", &d->memory_bytes);
    } else if (streq(key, "pool")) {
        free(d->pool);
        d->pool = NULL;
        d->has_pool = get_string(L, v, "pool", false, &d->pool);
        d->pool_mark = M(v->start_mark);
        if (d->has_pool && !valid_name(d->pool)) {
            error_at(L, M(v->start_mark),
                     "invalid pool name '%s' (use letters, digits, '_', '-' and '.')", d->pool);
        }
    } else if (streq(key, "slots")) {
        d->has_slots = get_uint(L, v, "slots", MAX_SLOTS, &d->slots);
        d->slots_mark = M(v->start_mark);
        if (d->has_slots && d->slots == 0) {
            error_at(L, M(v->start_mark), "slots must be between 1 and %u, got 0", MAX_SLOTS);
        }
    } else {
        return false;
    }
    return true;
}

static void parse_defaults(struct loader *L, yaml_node_t *n, struct defaults *d)
{
    if (!check_mapping(L, n, "defaults")) {
        return;
    }
    FOREACH_PAIR(L, n, pr, k, v)
    {
        if (is_dup_key(L, n, pr)) {
            continue;
        }
        if (!parse_limit_key(L, scalar(k), v, d) && !parse_executor_key(L, scalar(k), v, d)) {
            if (dagd_params_name_in(step_keys, scalar(k), strlen(scalar(k)))) {
                error_at(L, M(k->start_mark),
                         "key '%s' cannot have a default (defaults take: "
                         "retries, retry_delay, timeout, memory, pool, slots, executor, slurm)",
                         scalar(k));
            } else {
                unknown_key(L, k, "defaults", default_keys);
            }
        }
    }
}

static void config_marks_record(struct loader *L, struct dagd_step *s, yaml_node_t *cfg)
{
    struct dagd_config_marks *m = s->config_marks;

    m->map_mark = M(cfg->start_mark);
    if (cfg->type != YAML_MAPPING_NODE) {
        return;
    }
    FOREACH_PAIR(L, cfg, pr, k, v)
    {
        struct dagd_config_mark_entry *e;
        if (is_dup_key(L, cfg, pr)) {
            continue;
        }
        m->e = dagd_xreallocarray(m->e, m->n + 1, sizeof(*m->e));
        e = &m->e[m->n++];
        *e = (struct dagd_config_mark_entry){
            .key = dagd_xstrdup(scalar(k)),
            .key_mark = M(k->start_mark),
            .value_mark = M(v->start_mark),
        };
        if (v->type == YAML_SEQUENCE_NODE) {
            size_t ni = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            e->items = dagd_xcalloc(ni + 1, sizeof(*e->items));
            for (size_t i = 0; i < ni; i++) {
                yaml_node_t *c = node(L, v->data.sequence.items.start[i]);
                e->items[i] = c ? M(c->start_mark) : e->value_mark;
            }
            e->n_items = ni;
        } else if (v->type == YAML_MAPPING_NODE) {
            /* Map values in file order, duplicates skipped like to_json. */
            size_t np = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
            e->items = dagd_xcalloc(np + 1, sizeof(*e->items));
            FOREACH_PAIR(L, v, p2, k2, v2)
            {
                if (!is_dup_key(L, v, p2)) {
                    e->items[e->n_items++] = M(v2->start_mark);
                }
            }
        }
    }
}

/* `needs:`: a list of step names, resolved to indices later. */
static void parse_needs(struct loader *L, yaml_node_t *v, struct dagd_step *s)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        error_at(L, M(v->start_mark), "needs must be a list of step names, got %s%s", node_kind(v),
                 v->type == YAML_SCALAR_NODE ? " (write [name])" : "");
        return;
    }
    size_t ni = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    L->budget_mark = M(v->start_mark);
    if (!spend(L, ni, M(v->start_mark))) {
        return;
    }
    s->needs = dagd_xcalloc(ni + 1, sizeof(char *));
    s->needs_idx = dagd_xcalloc(ni + 1, sizeof(size_t));
    /* Until resolve_needs(), needs_idx holds the YAML node id of each
     * entry so errors can point at it. */
    for (size_t i = 0; i < ni; i++) {
        yaml_node_t *c = node(L, v->data.sequence.items.start[i]);
        char *nm = NULL;
        if (!c || !get_string(L, c, "an entry of needs", false, &nm)) {
            continue;
        }
        s->needs[s->n_needs] = nm;
        s->needs_idx[s->n_needs] = (size_t)v->data.sequence.items.start[i];
        s->n_needs++;
    }
}

/* `inputs:` or `outputs:`: files or globs, `${...}` checked now and
 * substituted per run (plan.c). */
static void parse_files(struct loader *L, const char *key, yaml_node_t *v, struct dagd_step *s)
{
    bool in = streq(key, "inputs");
    char ***list = in ? &s->inputs : &s->outputs;
    size_t *n_list = in ? &s->n_inputs : &s->n_outputs;
    if (!get_string_list(L, v, key, list, n_list)) {
        return;
    }
    if (v->type == YAML_SCALAR_NODE) {
        (void)check_refs(L, v, NULL);
    }
    for (yaml_node_item_t *it = v->type == YAML_SEQUENCE_NODE ? v->data.sequence.items.start : NULL;
         it && it < v->data.sequence.items.top; it++) {
        (void)check_refs(L, node(L, *it), NULL);
    }
}

/* parse_step, the end: where the step runs, with the defaults' executor
 * and slurm keys under its own (takes d's slurm options). */
static void step_executor(struct loader *L, struct dagd_step *s, struct defaults *d,
                          const struct defaults *dflt)
{
    s->executor = d->has_executor      ? d->executor
                  : dflt->has_executor ? dflt->executor
                                       : DAGD_STEP_EXECUTOR_LOCAL;
    if (d->has_slurm && s->executor != DAGD_STEP_EXECUTOR_SLURM) {
        error_at(L, d->slurm_mark,
                 "step%s%s%s has slurm: options but runs local (add executor: slurm)",
                 s->name ? " '" : "", s->name ? s->name : "", s->name ? "'" : "");
    }
    s->slurm = d->slurm;
    d->slurm = (struct dagd_slurm_opts){0};
    if (s->executor == DAGD_STEP_EXECUTOR_SLURM) {
        dagd_slurm_opts_fill(&s->slurm, &dflt->slurm);
    } else {
        dagd_slurm_opts_done(&s->slurm);
    }
}

static void parse_step(struct loader *L, yaml_node_t *n, struct dagd_step *s,
                       const struct defaults *dflt)
{
    struct defaults d = {0};
    bool has_name = false, has_task = false;

    s->mark = M(n->start_mark);
    s->config_marks = dagd_xcalloc(1, sizeof(*s->config_marks));
    s->config_marks->map_mark = s->mark;
    L->budget_mark = s->mark;
    if (!spend(L, 1, s->mark) || !check_mapping(L, n, "a step")) {
        return;
    }
    FOREACH_PAIR(L, n, pr, k, v)
    {
        const char *key = scalar(k);
        if (is_dup_key(L, n, pr)) {
            continue;
        }
        if (streq(key, "name")) {
            if (get_string(L, v, "step name", false, &s->name)) {
                has_name = true;
                s->mark = M(v->start_mark);
                if (!valid_name(s->name)) {
                    error_at(L, M(v->start_mark),
                             "invalid step name '%s' (use letters, digits, "
                             "'_', '-' and '.', at most 128)",
                             s->name);
                }
            }
        } else if (streq(key, "task")) {
            if (get_string(L, v, "task", false, &s->task)) {
                has_task = true;
                s->task_mark = M(v->start_mark);
            }
        } else if (streq(key, "needs")) {
            parse_needs(L, v, s);
        } else if (streq(key, "config")) {
            cJSON *j;
            if (is_null(v)) {
                continue;
            }
            if (v->type != YAML_MAPPING_NODE) {
                error_at(L, M(v->start_mark), "config must be a map, got %s", node_kind(v));
                s->config_marks->bad = true;
                continue;
            }
            size_t before = L->diags->n + L->diags->dropped;
            L->budget_mark = M(v->start_mark);
            j = to_json(L, v, 1, NULL);
            if (L->diags->n + L->diags->dropped != before) {
                s->config_marks->bad = true;
            }
            if (j) {
                cJSON_Delete(s->config);
                s->config = j;
                s->config_mark = M(v->start_mark);
                config_marks_record(L, s, v);
            }
        } else if (streq(key, "trigger_rule")) {
            _cleanup_free_ char *rule = NULL;
            if (get_string(L, v, "trigger_rule", false, &rule)) {
                int r = dagd_trigger_rule_from_string(rule);
                if (r < 0) {
                    error_at(L, M(v->start_mark),
                             "unknown trigger_rule '%s' (all_succeeded, any_failed or all_done)",
                             rule);
                } else {
                    s->trigger_rule = (enum dagd_trigger_rule)r;
                }
            }
        } else if (streq(key, "inputs") || streq(key, "outputs")) {
            parse_files(L, key, v, s);
        } else if (!parse_limit_key(L, key, v, &d) && !parse_executor_key(L, key, v, &d)) {
            unknown_key(L, k, "step", step_keys);
        }
    }
    if (!s->config) {
        s->config_marks->map_mark = s->mark; /* "missing key" errors point at the step */
    }
    if (!has_name) {
        error_at(L, M(n->start_mark), "step has no name");
    }
    if (s->trigger_rule != DAGD_TRIGGER_ALL_SUCCEEDED && s->n_needs == 0) {
        /* Nothing upstream can end: the rule would never mean anything. */
        error_at(L, M(n->start_mark), "trigger_rule %s needs a step in needs",
                 dagd_trigger_rule_to_string(s->trigger_rule));
    }
    if (!has_task) {
        error_at(L, M(n->start_mark), "step%s%s%s has no task", s->name ? " '" : "",
                 s->name ? s->name : "", s->name ? "'" : "");
    }
    s->retries = d.has_retries ? d.retries : dflt->has_retries ? dflt->retries : 0;
    s->retry_delay_usec = d.has_retry_delay       ? d.retry_delay_usec
                          : dflt->has_retry_delay ? dflt->retry_delay_usec
                                                  : 1000000u;
    s->timeout_usec = d.has_timeout ? d.timeout_usec : dflt->has_timeout ? dflt->timeout_usec : 0;
    s->memory_bytes = d.has_memory ? d.memory_bytes : dflt->has_memory ? dflt->memory_bytes : 0;
    if (d.has_pool) {
        s->pool = TAKE_PTR(d.pool);
        s->pool_mark = d.pool_mark;
    } else if (dflt->has_pool) {
        s->pool = dagd_xstrdup(dflt->pool);
        s->pool_mark = dflt->pool_mark;
    }
    free(d.pool);
    s->slots = d.has_slots ? d.slots : dflt->has_slots ? dflt->slots : 1;
    if (d.has_slots && !s->pool) {
        error_at(L, d.slots_mark, "slots: the step has no pool (give pool: NAME)");
    }
    step_executor(L, s, &d, dflt);
}

static bool valid_timezone(const char *tz)
{
    _cleanup_free_ char *path = NULL;
    struct stat st;

    if (streq(tz, "UTC") || streq(tz, "Etc/UTC")) {
        return true;
    }
    if (!*tz || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 128) {
        return false;
    }
    if (stat("/usr/share/zoneinfo", &st) < 0) {
        return true; /* no tz database here: cannot check */
    }
    path = dagd_xasprintf("/usr/share/zoneinfo/%s", tz);
    return stat(path, &st) >= 0 && S_ISREG(st.st_mode);
}

/* partitions: {daily: {start, timezone, end}} (also hourly, weekly,
 * monthly), {static: [keys]} or {file: PATH} (DESIGN 11, partitions.h). */
static const char *const partitions_kinds[] = {"static",  "hourly", "daily", "weekly",
                                               "monthly", "file",   NULL};
/* A partitions file holds at most this many keys (a backfill's limit). */
#define MAX_PARTITION_KEYS 100000u
static const char *const window_keys[] = {"start", "end", "timezone", NULL};

static void parse_partition_window(struct loader *L, yaml_node_t *v, struct dagd_partitions *ps)
{
    const char *kind = dagd_partitions_kind_name(ps->kind);
    bool has_start = false;

    if (!check_mapping(L, v, "a time partitions declaration")) {
        return;
    }
    FOREACH_PAIR(L, v, pr, k, x)
    {
        const char *key = scalar(k);
        _cleanup_free_ char *str = NULL;
        if (is_dup_key(L, v, pr)) {
            continue;
        }
        if (streq(key, "timezone")) {
            if (get_string(L, x, "timezone", false, &ps->timezone) &&
                !valid_timezone(ps->timezone)) {
                error_at(L, M(x->start_mark), "unknown timezone '%s'", ps->timezone);
            }
        } else if (streq(key, "start") || streq(key, "end")) {
            int64_t t;
            has_start = has_start || streq(key, "start"); /* a bad one is reported as bad */
            if (!get_string(L, x, key, false, &str)) {
                continue;
            }
            if (dagd_partitions_parse_time(str, &t) < 0) {
                error_at(L, M(x->start_mark),
                         "%s partitions: %s '%s' is not a date (YYYY-MM-DD, YYYY-MM-DDTHH or "
                         "YYYY-MM)",
                         kind, key, str);
                continue;
            }
            if (streq(key, "start")) {
                ps->start = t;
            } else {
                ps->end = t;
            }
        } else {
            unknown_key(L, k, "partitions", window_keys);
        }
    }
    if (!has_start) {
        error_at(L, M(v->start_mark), "%s partitions have no start", kind);
    } else if (ps->end != INT64_MAX && ps->start != 0 && ps->end <= ps->start) {
        error_at(L, M(v->start_mark), "%s partitions end before they start", kind);
    }
}

static void parse_partition_list(struct loader *L, yaml_node_t *v, struct dagd_partitions *ps)
{
    size_t ni;

    if (v->type != YAML_SEQUENCE_NODE) {
        error_at(L, M(v->start_mark), "static partitions must be a list, got %s", node_kind(v));
        return;
    }
    ni = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    ps->keys = dagd_xcalloc(ni + 1, sizeof(char *));
    for (size_t i = 0; i < ni; i++) {
        yaml_node_t *x = node(L, v->data.sequence.items.start[i]);
        char *key = NULL;
        if (!x || !get_string(L, x, "a partition key", false, &key)) {
            continue;
        }
        if (!valid_name(key)) {
            error_at(L, M(x->start_mark),
                     "invalid partition key '%s' (use letters, digits, '_', '-' and '.')", key);
            free(key);
            continue;
        }
        for (size_t j = 0; j < ps->n_keys; j++) {
            if (streq(ps->keys[j], key)) {
                error_at(L, M(x->start_mark), "duplicate partition key '%s'", key);
                break;
            }
        }
        ps->keys[ps->n_keys++] = key;
    }
    if (ps->n_keys == 0) {
        error_at(L, M(v->start_mark), "static partitions: the list is empty");
    }
}

static int cmp_key_idx(const void *a, const void *b, void *keys)
{
    char **k = keys;
    return strcmp(k[*(const size_t *)a], k[*(const size_t *)b]);
}

/* The first duplicate key of ps (sorted copy of the indices: a file may
 * hold 100,000 keys); -1 if none. */
static ssize_t first_duplicate(const struct dagd_partitions *ps)
{
    _cleanup_free_ size_t *idx = dagd_xcalloc(ps->n_keys + 1, sizeof(size_t));
    ssize_t dup = -1;
    for (size_t i = 0; i < ps->n_keys; i++) {
        idx[i] = i;
    }
    qsort_r(idx, ps->n_keys, sizeof(size_t), cmp_key_idx, ps->keys);
    for (size_t i = 1; i < ps->n_keys; i++) {
        size_t later = idx[i] > idx[i - 1] ? idx[i] : idx[i - 1];
        if (streq(ps->keys[idx[i]], ps->keys[idx[i - 1]]) && (dup < 0 || later < (size_t)dup)) {
            dup = (ssize_t)later;
        }
    }
    return dup;
}

/* partitions: {file: keys.txt}: static keys, one per line of the file
 * (relative to the pipeline's directory; blank lines and lines starting
 * with '#' are skipped), read now: a reload re-reads it. Errors point at
 * the YAML value and name the file's line. */
static void parse_partition_file(struct loader *L, yaml_node_t *v, struct dagd_partitions *ps)
{
    _cleanup_free_ char *path = NULL, *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;

    if (!get_string(L, v, "partitions file", false, &path)) {
        return;
    }
    ps->file = path[0] == '/' ? dagd_xstrdup(path) : dagd_xasprintf("%s/%s", L->p->dir, path);
    _cleanup_fclose_ FILE *f = fopen(ps->file, "re");
    if (!f) {
        error_at(L, M(v->start_mark), "partitions: cannot read '%s': %s", ps->file,
                 strerror(errno));
        return;
    }
    ps->keys = dagd_xcalloc(1, sizeof(char *));
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t')) {
            line[--len] = 0;
        }
        if (len == 0 || line[0] == '#') {
            continue;
        }
        if (!valid_name(line)) {
            error_at(L, M(v->start_mark),
                     "partitions: %s:%zu: invalid partition key '%.64s' (use letters, digits, "
                     "'_', '-' and '.')",
                     ps->file, lineno, line);
            return;
        }
        if (ps->n_keys >= MAX_PARTITION_KEYS) {
            error_at(L, M(v->start_mark), "partitions: %s has more than %u keys", ps->file,
                     MAX_PARTITION_KEYS);
            return;
        }
        ps->keys = dagd_xreallocarray(ps->keys, ps->n_keys + 2, sizeof(char *));
        ps->keys[ps->n_keys++] = dagd_xstrdup(line);
        ps->keys[ps->n_keys] = NULL;
    }
    ssize_t dup = first_duplicate(ps);
    if (dup >= 0) {
        error_at(L, M(v->start_mark), "partitions: %s: duplicate partition key '%s'", ps->file,
                 ps->keys[dup]);
    } else if (ps->n_keys == 0) {
        error_at(L, M(v->start_mark), "partitions: %s has no keys", ps->file);
    }
}

static void parse_partitions(struct loader *L, yaml_node_t *n)
{
    struct dagd_partitions *ps = dagd_xcalloc(1, sizeof(*ps));
    size_t found = 0;

    ps->mark = M(n->start_mark);
    ps->end = INT64_MAX;
    L->p->partitions = ps;
    if (!check_mapping(L, n, "partitions")) {
        return;
    }
    FOREACH_PAIR(L, n, pr, k, v)
    {
        const char *key = scalar(k);
        int kind = dagd_partitions_kind_from_string(key);
        if (is_dup_key(L, n, pr)) {
            continue;
        }
        if (kind < 0 && !streq(key, "file")) {
            unknown_key(L, k, "partitions", partitions_kinds);
            continue;
        }
        if (++found > 1) {
            error_at(L, M(k->start_mark),
                     "partitions: give one of static, file, hourly, daily, weekly or monthly");
            continue;
        }
        if (kind < 0) {
            ps->kind = DAGD_PARTITIONS_STATIC;
            parse_partition_file(L, v, ps);
            continue;
        }
        ps->kind = (enum dagd_partition_kind)kind;
        if (ps->kind == DAGD_PARTITIONS_STATIC) {
            parse_partition_list(L, v, ps);
        } else {
            parse_partition_window(L, v, ps);
        }
    }
    if (found == 0) {
        error_at(L, M(n->start_mark),
                 "partitions: give one of static, file, hourly, daily, weekly or monthly");
    }
    if (!ps->timezone) {
        ps->timezone = dagd_xstrdup("UTC");
    }
}

static const char *const schedule_keys[] = {"name", "cron", "timezone", "params", "catchup", NULL};
static const char *const sensor_keys[] = {"name", "watch", "pattern", "params", NULL};

static void parse_schedules(struct loader *L, yaml_node_t *n)
{
    size_t ni;

    if (n->type != YAML_SEQUENCE_NODE) {
        error_at(L, M(n->start_mark), "schedules must be a list, got %s", node_kind(n));
        return;
    }
    ni = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    L->p->schedules = dagd_xcalloc(ni + 1, sizeof(*L->p->schedules));
    for (size_t i = 0; i < ni; i++) {
        yaml_node_t *m = node(L, n->data.sequence.items.start[i]);
        struct dagd_schedule *s = &L->p->schedules[L->p->n_schedules++];
        bool has_cron = false;

        s->mark = m ? M(m->start_mark) : M(n->start_mark);
        if (!m || !check_mapping(L, m, "a schedule")) {
            continue;
        }
        FOREACH_PAIR(L, m, pr, k, v)
        {
            const char *key = scalar(k);
            if (is_dup_key(L, m, pr)) {
                continue;
            }
            if (streq(key, "name")) {
                if (get_string(L, v, "schedule name", false, &s->name)) {
                    s->mark = M(v->start_mark);
                    if (!valid_name(s->name)) {
                        error_at(L, M(v->start_mark), "invalid schedule name '%s'", s->name);
                    }
                    for (size_t j = 0; j + 1 < L->p->n_schedules; j++) {
                        if (streq_ptr(L->p->schedules[j].name, s->name)) {
                            error_at(L, M(v->start_mark),
                                     "duplicate schedule name '%s' (first "
                                     "defined at line %u, column %u)",
                                     s->name, L->p->schedules[j].mark.line,
                                     L->p->schedules[j].mark.col);
                            break;
                        }
                    }
                }
            } else if (streq(key, "cron")) {
                if (get_string(L, v, "cron", false, &s->cron)) {
                    struct dagd_cron cron;
                    _cleanup_free_ char *why = NULL;
                    has_cron = true;
                    if (dagd_cron_parse(s->cron, &cron, &why) < 0) {
                        error_at(L, M(v->start_mark), "invalid cron expression '%s': %s", s->cron,
                                 why);
                    }
                }
            } else if (streq(key, "timezone")) {
                if (get_string(L, v, "timezone", false, &s->timezone) &&
                    !valid_timezone(s->timezone)) {
                    error_at(L, M(v->start_mark), "unknown timezone '%s'", s->timezone);
                }
            } else if (streq(key, "params")) {
                parse_params_map(L, v, &s->params, "schedule params", false, NULL);
            } else if (streq(key, "catchup")) {
                (void)get_uint(L, v, "catchup", 100000, &s->catchup);
            } else {
                unknown_key(L, k, "schedule", schedule_keys);
            }
        }
        if (!s->name) {
            error_at(L, M(m->start_mark), "schedule has no name");
        }
        if (!has_cron) {
            error_at(L, M(m->start_mark), "schedule has no cron");
        }
        if (!s->timezone) {
            s->timezone = dagd_xstrdup("UTC");
        }
    }
}

static void parse_sensors(struct loader *L, yaml_node_t *n)
{
    static const struct refscope sc = {.sensor = true};
    size_t ni;

    if (n->type != YAML_SEQUENCE_NODE) {
        error_at(L, M(n->start_mark), "sensors must be a list, got %s", node_kind(n));
        return;
    }
    ni = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    L->p->sensors = dagd_xcalloc(ni + 1, sizeof(*L->p->sensors));
    for (size_t i = 0; i < ni; i++) {
        yaml_node_t *m = node(L, n->data.sequence.items.start[i]);
        struct dagd_sensor *s = &L->p->sensors[L->p->n_sensors++];

        s->mark = m ? M(m->start_mark) : M(n->start_mark);
        if (!m || !check_mapping(L, m, "a sensor")) {
            continue;
        }
        FOREACH_PAIR(L, m, pr, k, v)
        {
            const char *key = scalar(k);
            if (is_dup_key(L, m, pr)) {
                continue;
            }
            if (streq(key, "name")) {
                if (get_string(L, v, "sensor name", false, &s->name)) {
                    s->mark = M(v->start_mark);
                    if (!valid_name(s->name)) {
                        error_at(L, M(v->start_mark), "invalid sensor name '%s'", s->name);
                    }
                    for (size_t j = 0; j + 1 < L->p->n_sensors; j++) {
                        if (streq_ptr(L->p->sensors[j].name, s->name)) {
                            error_at(L, M(v->start_mark),
                                     "duplicate sensor name '%s' (first "
                                     "defined at line %u, column %u)",
                                     s->name, L->p->sensors[j].mark.line,
                                     L->p->sensors[j].mark.col);
                            break;
                        }
                    }
                }
            } else if (streq(key, "watch")) {
                if (get_string(L, v, "watch", false, &s->watch)) {
                    (void)check_refs(L, v, NULL); /* expanded by the daemon */
                }
            } else if (streq(key, "pattern")) {
                (void)get_string(L, v, "pattern", false, &s->pattern);
            } else if (streq(key, "params")) {
                parse_params_map(L, v, &s->params, "sensor params", false, &sc);
            } else {
                unknown_key(L, k, "sensor", sensor_keys);
            }
        }
        if (!s->name) {
            error_at(L, M(m->start_mark), "sensor has no name");
        }
        if (!s->watch) {
            error_at(L, M(m->start_mark), "sensor has no watch directory");
        }
        if (!s->pattern) {
            s->pattern = dagd_xstrdup("*");
        }
    }
}

/* ---- checks after parsing ----------------------------------------------- */

static void check_param_refs(struct loader *L, yaml_node_t *params_node)
{
    if (!params_node || params_node->type != YAML_MAPPING_NODE) {
        return;
    }
    FOREACH_PAIR(L, params_node, pr, k, v)
    {
        if (is_dup_key(L, params_node, pr)) {
            continue;
        }
        if (v->type == YAML_SCALAR_NODE && check_refs(L, v, NULL) > 0) {
            L->params_ok = false;
        }
        if (v->type != YAML_MAPPING_NODE) {
            continue;
        }
        /* A declaration map: its default and its under: roots. */
        FOREACH_PAIR(L, v, pr2, k2, v2)
        {
            if (streq(scalar(k2), "default") && v2->type == YAML_SCALAR_NODE &&
                check_refs(L, v2, NULL) > 0) {
                L->params_ok = false;
            }
            if (streq(scalar(k2), "under") && v2->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = v2->data.sequence.items.start;
                     it < v2->data.sequence.items.top; it++) {
                    yaml_node_t *c = node(L, *it);
                    if (c && c->type == YAML_SCALAR_NODE && check_refs(L, c, NULL) > 0) {
                        L->params_ok = false;
                    }
                }
            } else if (streq(scalar(k2), "under") && v2->type == YAML_SCALAR_NODE &&
                       check_refs(L, v2, NULL) > 0) {
                L->params_ok = false;
            }
        }
    }
}

static void report_cycle(const size_t *path, size_t len, void *userdata)
{
    struct loader *L = userdata;
    struct dagd_pipeline *p = L->p;
    size_t cap = 1;
    char *s;

    for (size_t i = 0; i < len; i++) {
        cap += strlen(p->steps[path[i]].name) + 4;
    }
    s = dagd_xmalloc(cap);
    s[0] = 0;
    for (size_t i = 0; i < len; i++) {
        if (i > 0) {
            strcat(s, " -> ");
        }
        strcat(s, p->steps[path[i]].name);
    }
    error_at(L, p->steps[path[0]].mark, "dependency cycle: %s (each step needs the next)", s);
    free(s);
}

/* Step names sorted (by name, then file order) for O(log n) lookups while
 * loading; also reports duplicate names. */
static int cmp_step_name(const void *a, const void *b, void *ud)
{
    const struct dagd_pipeline *p = ud;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(p->steps[x].name, p->steps[y].name);

    return c != 0 ? c : x < y ? -1 : x > y ? 1 : 0;
}

static void index_step_names(struct loader *L)
{
    struct dagd_pipeline *p = L->p;
    size_t k = 0;

    L->by_name = dagd_xcalloc(p->n_steps + 1, sizeof(size_t));
    for (size_t i = 0; i < p->n_steps; i++) {
        if (p->steps[i].name) {
            L->by_name[k++] = i;
        }
    }
    L->n_by_name = k;
    if (k > 1) {
        qsort_r(L->by_name, k, sizeof(size_t), cmp_step_name, p);
    }
    {
        /* report in file order, so the first DAGD_DIAG_MAX kept are the first */
        size_t *orig = dagd_xcalloc(p->n_steps + 1, sizeof(size_t)); /* index + 1 */
        for (size_t i = 1, first = 0; i < k; i++) {
            if (!streq(p->steps[L->by_name[first]].name, p->steps[L->by_name[i]].name)) {
                first = i;
                continue;
            }
            orig[L->by_name[i]] = L->by_name[first] + 1;
        }
        for (size_t i = 0; i < p->n_steps; i++) {
            if (orig[i]) {
                const struct dagd_step *a = &p->steps[orig[i] - 1], *b = &p->steps[i];
                error_at(L, b->mark,
                         "duplicate step name '%s' (first defined at line %u, column %u)", b->name,
                         a->mark.line, a->mark.col);
            }
        }
        free(orig);
    }
}

/* The first step named `name` in file order, or -ENOENT. */
static ssize_t find_step(struct loader *L, const char *name)
{
    size_t lo = 0, hi = L->n_by_name;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(L->p->steps[L->by_name[mid]].name, name) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < L->n_by_name && streq(L->p->steps[L->by_name[lo]].name, name)) {
        return (ssize_t)L->by_name[lo];
    }
    return -ENOENT;
}

static const char *closest_step(struct loader *L, const struct dagd_pipeline *p, const char *name)
{
    _cleanup_free_ const char **c = NULL;

    if (L->diags->n >= DAGD_DIAG_MAX || p->n_steps > 10000) {
        return NULL; /* the hint would not be shown, or would cost too much */
    }
    c = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    for (size_t i = 0; i < p->n_steps; i++) {
        c[i] = p->steps[i].name;
    }
    return dagd_closest_word(name, strlen(name), c, p->n_steps);
}

/* Resolve needs names to indices; report unknown, self and repeated needs. */
static void resolve_needs(struct loader *L)
{
    struct dagd_pipeline *p = L->p;
    /* seen[k] == i + 1: step i already listed step k (linear, not k^2) */
    size_t *seen = dagd_xcalloc(p->n_steps + 1, sizeof(size_t));

    for (size_t i = 0; i < p->n_steps; i++) {
        struct dagd_step *s = &p->steps[i];
        for (size_t j = 0; j < s->n_needs; j++) {
            yaml_node_t *item = node(L, (int)s->needs_idx[j]);
            struct dagd_mark m = item ? M(item->start_mark) : s->mark;
            ssize_t idx = find_step(L, s->needs[j]);
            bool dup = idx >= 0 && seen[idx] == i + 1;

            if (idx >= 0) {
                seen[idx] = i + 1;
            }
            s->needs_idx[j] = SIZE_MAX;
            if (dup) {
                error_at(L, m, "step '%s' lists '%s' twice in needs", s->name ? s->name : "?",
                         s->needs[j]);
            } else if (idx < 0) {
                const char *hint = closest_step(L, p, s->needs[j]);
                error_at(L, m, "step '%s' needs unknown step '%s'%s%s%s", s->name ? s->name : "?",
                         s->needs[j], hint ? " (did you mean '" : "", hint ? hint : "",
                         hint ? "'?)" : "");
            } else if ((size_t)idx == i) {
                error_at(L, m, "step '%s' needs itself", s->name ? s->name : "?");
            } else {
                s->needs_idx[j] = (size_t)idx;
            }
        }
    }
    free(seen);
}

/* The task names of the plugin path, from the file names alone (loading
 * every plugin to name a typo would be slow and noisy). */
static size_t task_names(struct loader *L, char ***ret)
{
    char *const *dirs = NULL;
    size_t n_dirs = 0, n = 0;
    char **names = NULL;
    if (dagd_plugin_host_dirs(L->host, &dirs, &n_dirs) < 0) {
        *ret = NULL;
        return 0;
    }
    for (size_t i = 0; i < n_dirs; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len > 13 && strncmp(de->d_name, "dagd-task-", 10) == 0 &&
                streq(de->d_name + len - 3, ".so")) {
                names = dagd_xreallocarray(names, n + 1, sizeof(char *));
                names[n++] = dagd_xstrndup(de->d_name + 10, len - 13);
            }
        }
        if (d) {
            closedir(d);
        }
    }
    *ret = names;
    return n;
}

/* "task: comand": the closest task name there is (case aside first), and
 * where to see them all. */
static void unknown_task(struct loader *L, const struct dagd_step *s)
{
    char **names = NULL;
    size_t n = task_names(L, &names);
    const char *hint = NULL;
    for (size_t i = 0; i < n && !hint; i++) {
        if (strcasecmp(names[i], s->task) == 0) {
            hint = names[i];
        }
    }
    if (!hint) {
        hint = dagd_closest_word(s->task, strlen(s->task), (const char *const *)names, n);
    }
    if (hint) {
        error_at(L, s->task_mark,
                 "unknown task '%s' (did you mean '%s'? `dagd tasks` lists the tasks)", s->task,
                 hint);
    } else {
        error_at(L, s->task_mark,
                 "unknown task '%s' (no dagd-task-%s.so in the plugin path; `dagd tasks` lists "
                 "the tasks)",
                 s->task, s->task);
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

static void check_tasks(struct loader *L)
{
    struct dagd_pipeline *p = L->p;

    for (size_t i = 0; i < p->n_steps; i++) {
        struct dagd_step *s = &p->steps[i];
        const struct dagd_plugin *pl = NULL;
        _cleanup_free_ char *msg = NULL;
        cJSON *checked = NULL;
        struct dagd_plugin_failure *f = NULL;
        size_t nf = 0;
        int r;

        if (!s->task) {
            continue;
        }
        r = dagd_plugin_host_find(L->host, s->task, &pl, &msg);
        if (r == -ENOENT) {
            unknown_task(L, s);
            continue;
        }
        if (r < 0) {
            error_at(L, s->task_mark, "task '%s': %s", s->task, msg ? msg : "cannot be loaded");
            continue;
        }
        s->plugin = pl;
        if (!L->params_ok || s->config_marks->bad) {
            continue; /* values cannot be substituted; errors were reported */
        }
        {
            size_t before = L->diags->n + L->diags->dropped;
            r = dagd__step_config(p, s, &L->load_params, L->file, &checked, L->diags);
            if (r < 0 || L->diags->n + L->diags->dropped != before) {
                L->failed = true;
                cJSON_Delete(checked);
                continue;
            }
        }
        r = dagd_plugin_host_validate(L->host, pl, checked, &L->load_params, s->name, &f, &nf);
        if (r == -EINVAL) {
            struct dagd_config_mark_ud u = {.m = s->config_marks, .fallback = s->mark};
            for (size_t j = 0; j < nf; j++) {
                if (f[j].key) {
                    error_at(L, dagd__config_mark(&u, f[j].key, -1), "config key '%s': %s",
                             f[j].key, f[j].message);
                } else {
                    error_at(L, s->mark, "step '%s': %s", s->name ? s->name : "?", f[j].message);
                }
            }
            dagd_plugin_failures_free(f, nf);
        }
        cJSON_Delete(checked);
    }
}

/* ---- entry points ------------------------------------------------------------ */

static const char *const pipeline_keys[] = {"pipeline", "description", "params",   "defaults",
                                            "steps",    "concurrency", "priority", "schedules",
                                            "sensors",  "partitions",  NULL};

/* The top-level keys' nodes, found by parse_top_keys() and parsed in the
 * order their references need (params before everything that refers to
 * them). */
struct top_nodes {
    yaml_node_t *params, *defaults, *steps, *schedules, *sensors;
};

/* Phase 1: the top-level mapping. Scalars (name, description, concurrency)
 * are parsed here, the sections only found. */
static bool parse_top_keys(struct loader *L, yaml_node_t *root, struct top_nodes *t)
{
    struct dagd_pipeline *p = L->p;
    bool has_name = false;

    if (!check_mapping(L, root, "a pipeline file")) {
        return false;
    }
    FOREACH_PAIR(L, root, pr, k, v)
    {
        const char *key = scalar(k);
        if (is_dup_key(L, root, pr)) {
            continue;
        }
        if (streq(key, "pipeline")) {
            if (get_string(L, v, "pipeline", false, &p->name)) {
                has_name = true;
                if (!valid_name(p->name)) {
                    error_at(L, M(v->start_mark),
                             "invalid pipeline name '%s' (use letters, "
                             "digits, '_', '-' and '.')",
                             p->name);
                }
            }
        } else if (streq(key, "description")) {
            (void)get_string(L, v, "description", true, &p->description);
        } else if (streq(key, "params")) {
            t->params = v;
        } else if (streq(key, "defaults")) {
            t->defaults = v;
        } else if (streq(key, "steps")) {
            t->steps = v;
        } else if (streq(key, "concurrency")) {
            (void)get_uint(L, v, "concurrency", 100000, &p->concurrency);
        } else if (streq(key, "priority")) {
            (void)get_priority(L, v, &p->priority);
        } else if (streq(key, "schedules")) {
            t->schedules = v;
        } else if (streq(key, "sensors")) {
            t->sensors = v;
        } else if (streq(key, "partitions")) {
            parse_partitions(L, v);
        } else {
            unknown_key(L, k, "pipeline", pipeline_keys);
        }
    }
    if (!has_name) {
        error_at(L, M(root->start_mark), "missing key 'pipeline' (the pipeline's name)");
    }
    return true;
}

/* Phase 2: the declared params, their references and cycles. Configs and
 * schedules refer to them, so later phases check L->params_ok. */
static void parse_declared_params(struct loader *L, yaml_node_t *params)
{
    struct dagd_pipeline *p = L->p;
    size_t before = L->diags->n + L->diags->dropped;

    L->params_ok = true;
    if (!params || is_null(params)) {
        return;
    }
    parse_params_map(L, params, &p->params, "params", true, NULL);
    if (L->diags->n + L->diags->dropped != before) {
        L->params_ok = false;
    }
    check_param_refs(L, params);
    if (dagd_params_check_cycles(&p->params, L->file, L->diags) < 0) {
        L->failed = true;
        L->params_ok = false;
    }
}

/* Phase 3: the steps list, each step with the defaults applied. */
static void parse_steps(struct loader *L, yaml_node_t *root, yaml_node_t *steps,
                        const struct defaults *dflt)
{
    struct dagd_pipeline *p = L->p;
    size_t ni;

    if (!steps) {
        error_at(L, M(root->start_mark), "missing key 'steps'");
        return;
    }
    if (steps->type != YAML_SEQUENCE_NODE) {
        error_at(L, M(steps->start_mark), "steps must be a list, got %s", node_kind(steps));
        return;
    }
    ni = (size_t)(steps->data.sequence.items.top - steps->data.sequence.items.start);
    if (ni == 0) {
        error_at(L, M(steps->start_mark), "steps is empty");
    }
    if (ni > MAX_STEPS) {
        error_at(L, M(steps->start_mark), "more than %u steps", MAX_STEPS);
        ni = 0;
    }
    p->steps = dagd_xcalloc(ni + 1, sizeof(*p->steps));
    for (size_t i = 0; i < ni; i++) {
        yaml_node_t *sn = node(L, steps->data.sequence.items.start[i]);
        struct dagd_step *s = &p->steps[p->n_steps++];
        if (!sn) {
            continue;
        }
        parse_step(L, sn, s, dflt);
    }
}

/* Phase 4: the params' load-time values (defaults and placeholder
 * built-ins, expanded), which configs are checked with. */
static void resolve_load_params(struct loader *L)
{
    struct dagd_params builtins = {0};
    _cleanup_free_ char *sd = dagd_xstrdup(".dagd");

    if (!L->params_ok) {
        return;
    }
    dagd_pipeline_builtins(L->p, sd, "00000000000000000000000000000000", NULL, &builtins);
    if (dagd_pipeline_resolve_params(L->p, NULL, 0, &builtins, &L->load_params, L->diags) < 0) {
        L->failed = true;
        L->params_ok = false;
    } else if (dagd_param_specs_check(L->p->param_specs, L->p->n_param_specs, &L->load_params, NULL,
                                      0, L->file, false, L->diags) < 0) {
        /* A default that does not fit its own declaration. (Files are
         * checked per run: the state directory is a placeholder here.) */
        L->failed = true;
    }
    dagd_params_done(&builtins);
}

/* Phase 5: the DAG: a topological order, or every cycle with its path. */
static void order_steps(struct loader *L)
{
    struct dagd_pipeline *p = L->p;

    if (p->n_steps == 0) {
        return;
    }
    p->topo = dagd_xcalloc(p->n_steps + 1, sizeof(size_t));
    for (size_t i = 0; i < p->n_steps; i++) {
        if (!p->steps[i].name) {
            return; /* reported; the order needs every name */
        }
    }
    if (dagd_dag_order(p->steps, p->n_steps, p->topo) < p->n_steps) {
        (void)dagd_dag_cycles(p->steps, p->n_steps, report_cycle, L);
    }
}

static void load_document(struct loader *L, yaml_node_t *root)
{
    struct top_nodes t = {0};
    struct defaults dflt = {0};

    if (!parse_top_keys(L, root, &t)) {
        return;
    }
    parse_declared_params(L, t.params);
    if (t.defaults && !is_null(t.defaults)) {
        parse_defaults(L, t.defaults, &dflt);
    }
    parse_steps(L, root, t.steps, &dflt);
    free(dflt.pool);
    index_step_names(L);
    if (t.schedules && !is_null(t.schedules)) {
        parse_schedules(L, t.schedules);
    }
    if (t.sensors && !is_null(t.sensors)) {
        parse_sensors(L, t.sensors);
    }
    resolve_load_params(L);
    resolve_needs(L);
    order_steps(L);
    if (L->host) {
        check_tasks(L);
    }
    dagd_slurm_opts_done(&dflt.slurm);
}

static int cmp_diag(const void *a, const void *b)
{
    const struct dagd_diag *x = a, *y = b;

    if (x->mark.line != y->mark.line) {
        return x->mark.line < y->mark.line ? -1 : 1;
    }
    if (x->mark.col != y->mark.col) {
        return x->mark.col < y->mark.col ? -1 : 1;
    }
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Sort the diagnostics added since `first` by position (stable). */
static void sort_diags(struct dagd_diags *d, size_t first)
{
    size_t n = d->n - first;
    struct dagd_diag *tmp;

    if (n < 2) {
        return;
    }
    /* qsort is not stable: sort (mark, original index) pairs. */
    tmp = dagd_xcalloc(n, sizeof(*tmp));
    memcpy(tmp, d->items + first, n * sizeof(*tmp));
    {
        size_t *idx = dagd_xcalloc(n, sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
            idx[i] = i;
        }
        /* insertion sort: diagnostics are at most DAGD_DIAG_MAX */
        for (size_t i = 1; i < n; i++) {
            size_t v = idx[i], j = i;
            while (j > 0) {
                const struct dagd_diag *x = &tmp[idx[j - 1]], *y = &tmp[v];
                if (x->mark.line < y->mark.line ||
                    (x->mark.line == y->mark.line && x->mark.col <= y->mark.col)) {
                    break;
                }
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
        for (size_t i = 0; i < n; i++) {
            d->items[first + i] = tmp[idx[i]];
        }
        free(idx);
    }
    free(tmp);
    (void)cmp_diag;
}

static char *dir_of(const char *path)
{
    _cleanup_free_ char *copy = dagd_xstrdup(path);
    const char *d = dirname(copy);
    char *abs = realpath(d, NULL);

    if (abs) {
        return abs;
    }
    return dagd_xstrdup(d);
}

/* libyaml's words for the two mistakes people make most, with the fix:
 * a tab where YAML wants spaces, and an unquoted value starting with `${`
 * inside a flow map or list (where `{` opens a map). "" when neither. */
static const char *syntax_hint(const struct loader *L, const yaml_parser_t *parser)
{
    size_t at = parser->problem_mark.index;
    /* The line of the problem, up to it. */
    size_t start = at < L->len ? at : L->len;
    while (start > 0 && L->buf[start - 1] != '\n') {
        start--;
    }
    if (at < L->len && L->buf[at] == '\t') {
        return "; hint: YAML does not allow tabs for indentation, use spaces";
    }
    for (size_t i = start; i + 1 < L->len && i <= at + 1 && L->buf[i] != '\n'; i++) {
        if (L->buf[i] == '$' && L->buf[i + 1] == '{') {
            size_t j = i;
            while (j > start && L->buf[j - 1] == ' ') {
                j--;
            }
            if (j > start && (L->buf[j - 1] == ':' || L->buf[j - 1] == ',' ||
                              L->buf[j - 1] == '[' || L->buf[j - 1] == '{')) {
                return "; hint: quote a value that starts with ${ inside {...} or [...], "
                       "e.g. \"${name}\"";
            }
        }
    }
    return "";
}

/* Count the nodes of buf with the event API, which holds one event at a time,
 * and stop at MAX_RAW_NODES. False (after reporting) when over the limit;
 * syntax errors are left to the document loader, which reports them. */
static bool prescan_nodes(struct loader *L)
{
    yaml_parser_t parser;
    size_t nodes = 0;
    bool ok = true;

    if (!yaml_parser_initialize(&parser)) {
        abort();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)L->buf, L->len);
    for (;;) {
        yaml_event_t ev;
        yaml_event_type_t type;

        if (!yaml_parser_parse(&parser, &ev)) {
            break;
        }
        type = ev.type;
        if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT ||
            type == YAML_MAPPING_START_EVENT || type == YAML_ALIAS_EVENT) {
            if (++nodes > MAX_RAW_NODES) {
                error_at(L, M(ev.start_mark), "document too large: more than %u YAML nodes",
                         MAX_RAW_NODES);
                ok = false;
            }
        }
        yaml_event_delete(&ev);
        if (!ok || type == YAML_STREAM_END_EVENT) {
            break;
        }
    }
    yaml_parser_delete(&parser);
    return ok;
}

int dagd_pipeline_load_buffer(const char *name, const char *buf, size_t len,
                              struct dagd_plugin_host *host, struct dagd_pipeline **ret,
                              struct dagd_diags *reterr)
{
    struct loader L = {
        .file = name ? name : "<input>", .buf = buf, .len = len, .diags = reterr, .host = host};
    yaml_parser_t parser;
    yaml_node_t *root;
    size_t first = reterr->n;
    int r = 0;

    L.p = dagd_xcalloc(1, sizeof(*L.p));
    L.p->n_ref = 1;
    L.p->file = dagd_xstrdup(L.file);
    L.p->dir = dir_of(L.file);

    if (len > MAX_FILE_SIZE) {
        error_at(&L, ((struct dagd_mark){1, 1}), "file larger than %u bytes", MAX_FILE_SIZE);
        goto finish;
    }
    L.ascii = true;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)buf[i] >= 0x80) {
            L.ascii = false;
            break;
        }
    }
    if (!prescan_nodes(&L)) {
        goto finish;
    }
    if (!yaml_parser_initialize(&parser)) {
        abort();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &L.doc)) {
        const char *problem = parser.problem ? parser.problem : "invalid YAML";
        struct dagd_mark m = M(parser.problem_mark);
        if (parser.error == YAML_MEMORY_ERROR) {
            m = (struct dagd_mark){1, 1};
            problem = "out of memory";
        }
        const char *hint = syntax_hint(&L, &parser);
        if (parser.context) {
            error_at(&L, m, "syntax error: %s (%s at line %u, column %u)%s", problem,
                     parser.context, (unsigned)parser.context_mark.line + 1,
                     (unsigned)parser.context_mark.column + 1, hint);
        } else {
            error_at(&L, m, "syntax error: %s%s", problem, hint);
        }
        yaml_parser_delete(&parser);
        goto finish;
    }
    root = yaml_document_get_root_node(&L.doc);
    if (!root) {
        error_at(&L, ((struct dagd_mark){1, 1}), "empty file: expected a pipeline map");
    } else {
        yaml_document_t next;
        load_document(&L, root);
        /* Only one document per file. */
        if (yaml_parser_load(&parser, &next)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2) {
                error_at(&L, M(next.start_mark), "only one YAML document per file is allowed");
            }
            yaml_document_delete(&next);
        } else {
            error_at(&L, M(parser.problem_mark), "syntax error: %s",
                     parser.problem ? parser.problem : "invalid YAML");
        }
    }
    for (size_t i = 0; i < L.n_dup_cache; i++) {
        free(L.dup_cache[i]);
    }
    free(L.dup_cache);
    yaml_document_delete(&L.doc);
    yaml_parser_delete(&parser);

finish:
    dagd_params_done(&L.load_params);
    free(L.by_name);
    sort_diags(reterr, first);
    if (L.failed || reterr->n > first) {
        dagd_pipeline_unref(L.p);
        return -EINVAL;
    }
    *ret = L.p;
    return r;
}

int dagd_pipeline_load(const char *path, struct dagd_plugin_host *host, struct dagd_pipeline **ret,
                       struct dagd_diags *reterr)
{
    _cleanup_fclose_ FILE *f = NULL;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t n;

    f = fopen(path, "re");
    if (!f) {
        int e = errno;
        dagd_diags_add(reterr, path, (struct dagd_mark){1, 1}, "cannot open: %s", strerror(e));
        return -e;
    }
    if (fstat(fileno(f), &st) < 0) {
        int e = errno;
        dagd_diags_add(reterr, path, (struct dagd_mark){1, 1}, "cannot stat: %s", strerror(e));
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        dagd_diags_add(reterr, path, (struct dagd_mark){1, 1}, "not a regular file");
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > MAX_FILE_SIZE) {
        dagd_diags_add(reterr, path, (struct dagd_mark){1, 1}, "file larger than %u bytes",
                       MAX_FILE_SIZE);
        return -EFBIG;
    }
    buf = dagd_xmalloc((size_t)st.st_size + 1);
    n = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        dagd_diags_add(reterr, path, (struct dagd_mark){1, 1}, "read error");
        return -EIO;
    }
    buf[n] = 0;
    return dagd_pipeline_load_buffer(path, buf, n, host, ret, reterr);
}
