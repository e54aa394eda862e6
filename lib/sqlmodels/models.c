/* Loading, parsing and ordering SQL model files (see models.h). */
#include "models.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MODEL_MAX_BYTES (4 * 1024 * 1024)

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q) {
        abort(); /* like dagd_xmalloc: OOM is fatal, the step is retried */
    }
    return q;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xrealloc(NULL, n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* *reterr_msg = a new message (NULL when out of memory). Our own copy of
 * tasks/common's dagd__task_set_err: this library sits below both the sql
 * task and dagd's CLI and may call libc only. */
static void set_err(char **reterr_msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **reterr_msg, const char *fmt, ...)
{
    va_list ap;
    char *m = NULL;

    if (!reterr_msg) {
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&m, fmt, ap) < 0) {
        m = NULL;
    }
    va_end(ap);
    free(*reterr_msg);
    *reterr_msg = m;
}

static void strv_push(struct dagd_strv *sv, char *s)
{
    sv->v = xrealloc(sv->v, (sv->n + 1) * sizeof(*sv->v));
    sv->v[sv->n++] = s;
}

static void strv_done(struct dagd_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free(sv->v[i]);
    }
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

static bool strv_has(const struct dagd_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++) {
        if (strcasecmp(sv->v[i], s) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_ident_start(int c)
{
    return isalpha(c) || c == '_';
}

static bool is_ident_char(int c)
{
    return isalnum(c) || c == '_';
}

static bool is_identifier(const char *s)
{
    if (!is_ident_start((unsigned char)*s)) {
        return false;
    }
    for (s++; *s; s++) {
        if (!is_ident_char((unsigned char)*s)) {
            return false;
        }
    }
    return true;
}

/* Split "a, b ,c" into identifiers; -EINVAL if one is not an identifier. */
static int split_idents(const char *s, size_t len, struct dagd_strv *ret)
{
    size_t i = 0;

    while (i < len) {
        size_t a, b;
        char *w;

        while (i < len && (isspace((unsigned char)s[i]) || s[i] == ',')) {
            i++;
        }
        a = i;
        while (i < len && s[i] != ',' && !isspace((unsigned char)s[i])) {
            i++;
        }
        b = i;
        if (a == b) {
            continue;
        }
        w = xstrndup(s + a, b - a);
        if (!is_identifier(w)) {
            free(w);
            return -EINVAL;
        }
        strv_push(ret, w);
    }
    return ret->n > 0 ? 0 : -EINVAL;
}

void dagd_model_done(struct dagd_model *m)
{
    free(m->name);
    free(m->path);
    free(m->sql);
    strv_done(&m->depends);
    strv_done(&m->primary_key);
    for (size_t i = 0; i < m->n_indexes; i++) {
        strv_done(&m->indexes[i]);
    }
    free(m->indexes);
    strv_done(&m->uses);
    strv_done(&m->unique_key);
    memset(m, 0, sizeof(*m));
}

void dagd_model_set_done(struct dagd_model_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        dagd_model_done(&set->v[i]);
    }
    free(set->v);
    set->v = NULL;
    set->n = 0;
}

void dagd_models_add(struct dagd_model_set *set, struct dagd_model *m)
{
    set->v = xrealloc(set->v, (set->n + 1) * sizeof(*set->v));
    set->v[set->n++] = *m;
    memset(m, 0, sizeof(*m));
}

static const char *const materialized_names[_DAGD_MODEL_MATERIALIZED_MAX] = {
    [DAGD_MODEL_TABLE] = "table",
    [DAGD_MODEL_VIEW] = "view",
    [DAGD_MODEL_INCREMENTAL] = "incremental",
};

int dagd_model_materialized_from_string(const char *s)
{
    for (int i = 0; i < _DAGD_MODEL_MATERIALIZED_MAX; i++) {
        if (s && strcasecmp(s, materialized_names[i]) == 0) {
            return i;
        }
    }
    return -EINVAL;
}

const char *dagd_model_materialized_to_string(enum dagd_model_materialized m)
{
    return m < _DAGD_MODEL_MATERIALIZED_MAX ? materialized_names[m] : NULL;
}

/* One `-- key: value` directive line (text after "--"). Returns 1 if it was
 * a directive, 0 for a plain comment, -EINVAL for a bad value. */
static int parse_directive(struct dagd_model *m, const char *s, size_t len, char **reterr_msg)
{
    static const char *const keys[] = {"depends", "primary key", "index", "materialized",
                                       "unique key"};
    size_t i = 0;

    while (i < len && isspace((unsigned char)s[i])) {
        i++;
    }
    for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
        size_t kl = strlen(keys[k]);
        struct dagd_strv sv = {0};
        int mat;

        if (len - i <= kl || strncasecmp(s + i, keys[k], kl) != 0 || s[i + kl] != ':') {
            continue;
        }
        if (split_idents(s + i + kl + 1, len - i - kl - 1, &sv) < 0) {
            strv_done(&sv);
            set_err(reterr_msg, "model %s: '-- %s:' wants a comma-separated list of names", m->name,
                    keys[k]);
            return -EINVAL;
        }
        switch (k) {
        case 0:
            for (size_t j = 0; j < sv.n; j++) {
                strv_push(&m->depends, sv.v[j]);
            }
            free(sv.v);
            break;
        case 1:
            strv_done(&m->primary_key);
            m->primary_key = sv;
            break;
        case 2:
            m->indexes = xrealloc(m->indexes, (m->n_indexes + 1) * sizeof(*m->indexes));
            m->indexes[m->n_indexes++] = sv;
            break;
        case 3:
            mat = sv.n == 1 ? dagd_model_materialized_from_string(sv.v[0]) : -EINVAL;
            strv_done(&sv);
            if (mat < 0) {
                set_err(reterr_msg, "model %s: '-- materialized:' is table, view or incremental",
                        m->name);
                return -EINVAL;
            }
            m->materialized = (enum dagd_model_materialized)mat;
            break;
        default:
            strv_done(&m->unique_key);
            m->unique_key = sv;
            break;
        }
        return 1;
    }
    return 0;
}

/* Directives that contradict each other. */
static int check_directives(struct dagd_model *m, char **reterr_msg)
{
    if (m->materialized == DAGD_MODEL_INCREMENTAL && m->unique_key.n == 0) {
        if (m->primary_key.n == 0) {
            set_err(reterr_msg,
                    "model %s: an incremental model needs '-- unique key:' (the "
                    "columns its rows are upserted by)",
                    m->name);
            return -EINVAL;
        }
        for (size_t i = 0; i < m->primary_key.n; i++) {
            strv_push(&m->unique_key, xstrndup(m->primary_key.v[i], strlen(m->primary_key.v[i])));
        }
    }
    if (m->materialized == DAGD_MODEL_INCREMENTAL && m->primary_key.n > 0 &&
        m->primary_key.n != m->unique_key.n) {
        set_err(reterr_msg, "model %s: the primary key and the unique key differ", m->name);
        return -EINVAL;
    }
    if (m->materialized != DAGD_MODEL_INCREMENTAL && m->unique_key.n > 0) {
        set_err(reterr_msg, "model %s: '-- unique key:' is for '-- materialized: incremental'",
                m->name);
        return -EINVAL;
    }
    if (m->materialized == DAGD_MODEL_VIEW && (m->primary_key.n > 0 || m->n_indexes > 0)) {
        set_err(reterr_msg, "model %s: a view has no primary key or index", m->name);
        return -EINVAL;
    }
    return 0;
}

int dagd_model_parse(const char *name, const char *text, struct dagd_model *ret, char **reterr_msg)
{
    struct dagd_model m = {0};
    const char *p = text;
    size_t len;
    int r;

    if (!is_identifier(name) || strncasecmp(name, "sqlite_", 7) == 0) {
        set_err(reterr_msg, "model name '%s' is not a valid table name", name);
        return -EINVAL;
    }
    m.name = strdup(name);
    if (!m.name) {
        abort();
    }
    /* Directives: leading comment lines (blank lines allowed between). */
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            p++;
        }
        if (p[0] != '-' || p[1] != '-') {
            break;
        }
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        r = parse_directive(&m, p + 2, n - 2, reterr_msg);
        if (r < 0) {
            dagd_model_done(&m);
            return r;
        }
        p += n;
    }
    r = check_directives(&m, reterr_msg);
    if (r < 0) {
        dagd_model_done(&m);
        return r;
    }
    len = strlen(p);
    while (len > 0 && (isspace((unsigned char)p[len - 1]) || p[len - 1] == ';')) {
        len--;
    }
    if (len == 0) {
        set_err(reterr_msg, "model %s has no SQL", name);
        dagd_model_done(&m);
        return -EINVAL;
    }
    m.sql = xstrndup(p, len);
    *ret = m;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, char **reterr_msg)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t n = 0;

    if (!f) {
        set_err(reterr_msg, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    buf = xrealloc(NULL, MODEL_MAX_BYTES + 1);
    n = fread(buf, 1, MODEL_MAX_BYTES + 1, f);
    if (ferror(f) || n > MODEL_MAX_BYTES) {
        set_err(reterr_msg, "cannot read '%s' (or larger than %d bytes)", path, MODEL_MAX_BYTES);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (strlen(buf) != n) {
        set_err(reterr_msg, "'%s' contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* NAME.ENGINE.sql (ENGINE one of DAGD_MODEL_ENGINES): an engine's variant
 * of model NAME, not a model of its own. */
static const char *const engines[] = {DAGD_MODEL_ENGINES, NULL};

static bool is_variant(const char *file)
{
    size_t l = strlen(file);

    for (size_t i = 0; engines[i]; i++) {
        size_t e = strlen(engines[i]);
        if (l > e + 5 && file[l - e - 5] == '.' && strncmp(file + l - e - 4, engines[i], e) == 0) {
            return true;
        }
    }
    return false;
}

/* Replaces each model that has a DIR/NAME.ENGINE.sql by that file's. */
static int use_variants(const char *dir, const char *engine, struct dagd_model_set *set,
                        char **reterr_msg)
{
    for (size_t i = 0; i < set->n; i++) {
        struct dagd_model m = {0};
        char *path = NULL, *text;
        int r;

        if (asprintf(&path, "%s/%s.%s.sql", dir, set->v[i].name, engine) < 0) {
            abort();
        }
        if (access(path, F_OK) < 0) {
            free(path);
            continue;
        }
        text = read_file(path, reterr_msg);
        r = text ? dagd_model_parse(set->v[i].name, text, &m, reterr_msg) : -EIO;
        free(text);
        if (r < 0) {
            free(path);
            return r;
        }
        m.path = path;
        dagd_model_done(&set->v[i]);
        set->v[i] = m;
    }
    return 0;
}

int dagd_models_load_engine(const char *dir, const char *engine, struct dagd_model_set *ret,
                            char **reterr_msg)
{
    struct dagd_model_set set = {0};
    int r = dagd_models_load(dir, &set, reterr_msg);

    if (r >= 0 && engine) {
        r = use_variants(dir, engine, &set, reterr_msg);
    }
    if (r < 0) {
        dagd_model_set_done(&set);
        return r;
    }
    *ret = set;
    return 0;
}

int dagd_models_load(const char *dir, struct dagd_model_set *ret, char **reterr_msg)
{
    struct dagd_model_set set = {0};
    struct dagd_strv files = {0};
    struct dirent *de;
    DIR *d = opendir(dir);
    int r = 0;

    if (!d) {
        set_err(reterr_msg, "cannot open models directory '%s': %s", dir, strerror(errno));
        return -ENOENT;
    }
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".sql") == 0 && de->d_name[0] != '.' &&
            !is_variant(de->d_name)) {
            strv_push(&files, strdup(de->d_name));
        }
    }
    closedir(d);
    if (files.n == 0) {
        set_err(reterr_msg, "no *.sql model in '%s'", dir);
        return -ENOENT;
    }
    qsort(files.v, files.n, sizeof(*files.v), cmp_str);
    for (size_t i = 0; i < files.n && r >= 0; i++) {
        struct dagd_model m = {0};
        char *path = NULL, *text, *name;

        if (asprintf(&path, "%s/%s", dir, files.v[i]) < 0) {
            abort();
        }
        text = read_file(path, reterr_msg);
        if (!text) {
            free(path);
            r = -EIO;
            break;
        }
        name = xstrndup(files.v[i], strlen(files.v[i]) - 4);
        r = dagd_model_parse(name, text, &m, reterr_msg);
        free(name);
        free(text);
        if (r < 0) {
            free(path);
            break;
        }
        m.path = path;
        dagd_models_add(&set, &m);
    }
    strv_done(&files);
    if (r < 0) {
        dagd_model_set_done(&set);
        return r;
    }
    *ret = set;
    return 0;
}

bool dagd_sql_mentions(const char *sql, const char *word)
{
    size_t wl = strlen(word);
    const char *p = sql;

    while (*p) {
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n') {
                p++;
            }
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else if (*p == '\'') {
            /* '' inside a literal is an escaped quote: two literals in a row */
            p = strchr(p + 1, '\'');
            p = p ? p + 1 : sql + strlen(sql);
        } else if (*p == '"' || *p == '`' || *p == '[') {
            char close = *p == '[' ? ']' : *p;
            const char *e = strchr(p + 1, close);
            if (!e) {
                return false;
            }
            if ((size_t)(e - p - 1) == wl && strncasecmp(p + 1, word, wl) == 0) {
                return true;
            }
            p = e + 1;
        } else if (is_ident_start((unsigned char)*p)) {
            const char *s = p;
            while (is_ident_char((unsigned char)*p)) {
                p++;
            }
            if ((size_t)(p - s) == wl && strncasecmp(s, word, wl) == 0) {
                return true;
            }
        } else {
            p++;
        }
    }
    return false;
}

/* A parameter value that may stand in SQL as it is: an optional '-', digits,
 * optionally '.' and digits. Anything else is quoted. */
static bool is_number(const char *v)
{
    const char *p = v + (*v == '-');
    bool digits = false;

    while (isdigit((unsigned char)*p)) {
        p++;
        digits = true;
    }
    if (*p == '.' && digits) {
        p++;
        digits = false;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits = true;
        }
    }
    return digits && *p == '\0';
}

static void append_quoted(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\'') {
            fputc('\'', f);
        }
        fputc(*v, f);
    }
}

/* `${` at p: write the value to f, return the length consumed, or <0. */
static ssize_t expand_one(const struct dagd_model *m, const char *p, bool in_string, FILE *f,
                          dagd_models_param_fn lookup, void *userdata, char **reterr_msg)
{
    const char *end = strchr(p + 2, '}');
    const char *v;
    char *name;

    if (!end || end == p + 2) {
        set_err(reterr_msg, "model %s: '${' without a name and a closing '}'", m->name);
        return -EINVAL;
    }
    name = xstrndup(p + 2, (size_t)(end - p - 2));
    v = lookup(userdata, name);
    if (!v) {
        set_err(reterr_msg, "model %s (%s): unknown parameter '${%s}'", m->name,
                m->path ? m->path : "-", name);
        free(name);
        return -ENOENT;
    }
    free(name);
    if (in_string) {
        append_quoted(f, v);
    } else if (is_number(v)) {
        fputs(v, f);
    } else {
        fputc('\'', f);
        append_quoted(f, v);
        fputc('\'', f);
    }
    return end + 1 - p;
}

static int expand_model(struct dagd_model *m, dagd_models_param_fn lookup, void *userdata,
                        char **reterr_msg)
{
    const char *p = m->sql;
    bool in_string = false;
    char *out = NULL;
    size_t out_len = 0;
    FILE *f;

    if (!strstr(p, "${")) {
        return 0;
    }
    f = open_memstream(&out, &out_len);
    if (!f) {
        abort();
    }
    while (*p) {
        if (!in_string && p[0] == '-' && p[1] == '-') {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            fwrite(p, 1, n, f);
            p += n;
        } else if (!in_string && p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            size_t n = e ? (size_t)(e + 2 - p) : strlen(p);
            fwrite(p, 1, n, f);
            p += n;
        } else if (p[0] == '$' && p[1] == '{') {
            ssize_t n = expand_one(m, p, in_string, f, lookup, userdata, reterr_msg);
            if (n < 0) {
                fclose(f);
                free(out);
                return (int)n;
            }
            p += n;
        } else {
            /* '' inside a literal closes and reopens it: same state after */
            if (*p == '\'') {
                in_string = !in_string;
            }
            fputc(*p++, f);
        }
    }
    fclose(f);
    free(m->sql);
    m->sql = out;
    return 0;
}

int dagd_models_expand(struct dagd_model_set *set, dagd_models_param_fn lookup, void *userdata,
                       char **reterr_msg)
{
    for (size_t i = 0; i < set->n; i++) {
        int r = expand_model(&set->v[i], lookup, userdata, reterr_msg);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static ssize_t find_model(const struct dagd_model_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcasecmp(set->v[i].name, name) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* Depth-first search; state 0 new, 1 on the stack, 2 done. */
static int visit(struct dagd_model_set *set, size_t i, int *state, size_t *stack, size_t depth,
                 size_t *order, size_t *n_order, char **reterr_msg)
{
    struct dagd_model *m = &set->v[i];

    if (state[i] == 2) {
        return 0;
    }
    if (state[i] == 1) {
        /* The cycle is the stack from the first occurrence of i. */
        char *msg = NULL;
        size_t from = 0;
        size_t cap = 64;

        while (stack[from] != i) {
            from++;
        }
        for (size_t k = from; k < depth; k++) {
            cap += strlen(set->v[stack[k]].name) + 4;
        }
        msg = xrealloc(NULL, cap + strlen(m->name));
        strcpy(msg, "models depend on each other: ");
        for (size_t k = from; k < depth; k++) {
            strcat(msg, set->v[stack[k]].name);
            strcat(msg, " -> ");
        }
        strcat(msg, m->name);
        set_err(reterr_msg, "%s", msg);
        free(msg);
        return -ELOOP;
    }
    state[i] = 1;
    stack[depth] = i;
    for (size_t k = 0; k < m->uses.n; k++) {
        ssize_t j = find_model(set, m->uses.v[k]);
        int r = visit(set, (size_t)j, state, stack, depth + 1, order, n_order, reterr_msg);
        if (r < 0) {
            return r;
        }
    }
    state[i] = 2;
    order[(*n_order)++] = i;
    return 0;
}

int dagd_models_order(struct dagd_model_set *set, size_t **ret_order, char **reterr_msg)
{
    size_t *order, *stack, n_order = 0;
    int *state;
    int r = 0;

    /* uses = declared model dependencies + mentioned model names, sorted. */
    for (size_t i = 0; i < set->n; i++) {
        struct dagd_model *m = &set->v[i];
        strv_done(&m->uses);
        for (size_t j = 0; j < set->n; j++) {
            const char *other = set->v[j].name;
            if (j == i) {
                continue;
            }
            if (strv_has(&m->depends, other) || dagd_sql_mentions(m->sql, other)) {
                strv_push(&m->uses, strdup(other));
            }
        }
        if (strv_has(&m->depends, m->name)) {
            set_err(reterr_msg, "model %s depends on itself", m->name);
            return -ELOOP;
        }
    }
    order = xrealloc(NULL, set->n * sizeof(*order));
    stack = xrealloc(NULL, set->n * sizeof(*stack));
    state = calloc(set->n ? set->n : 1, sizeof(*state));
    if (!state) {
        abort();
    }
    /* Models are sorted by name (dagd_models_load), so the order is stable. */
    for (size_t i = 0; i < set->n && r >= 0; i++) {
        r = visit(set, i, state, stack, 0, order, &n_order, reterr_msg);
    }
    free(stack);
    free(state);
    if (r < 0) {
        free(order);
        return r;
    }
    *ret_order = order;
    return 0;
}
