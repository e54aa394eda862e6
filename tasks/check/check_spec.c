/* Parsing checks and building their SQL (see check_spec.h). */
#include "check_spec.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_errmsg.h"

static const char *const kind_names[_DAGD_CHECK_KIND_MAX] = {
    [DAGD_CHECK_NOT_NULL] = "not_null",
    [DAGD_CHECK_UNIQUE] = "unique",
    [DAGD_CHECK_ACCEPTED_VALUES] = "accepted_values",
    [DAGD_CHECK_RELATIONSHIPS] = "relationships",
    [DAGD_CHECK_ROW_COUNT] = "row_count",
    [DAGD_CHECK_EXPRESSION] = "expression",
    [DAGD_CHECK_SQL] = "sql",
};

/* Keys every check may have besides its kind's. */
static const char *const common_keys[] = {"name", "severity", "table", "where", "column", NULL};

const char *dagd_check_kind_to_string(enum dagd_check_kind k)
{
    return k < _DAGD_CHECK_KIND_MAX ? kind_names[k] : NULL;
}

void dagd_check_spec_done(struct dagd_check_spec *c)
{
    free(c->name);
    sqlite3_free(c->sql);
    sqlite3_free(c->sql_pg);
    free(c->detail);
    memset(c, 0, sizeof(*c));
}

void dagd_check_specs_free(struct dagd_check_spec *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dagd_check_spec_done(&v[i]);
    }
    free(v);
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* The columns of a check: a string or a list of strings (`not_null:
 * [a, b]`), else the `column` key. NULL-terminated array of borrowed
 * strings, or NULL when there is none or one is not a string. */
static const char **columns_of(const cJSON *v, const cJSON *item, size_t *ret_n)
{
    const char **cols;
    size_t n = 0;
    const cJSON *c;

    if (!v || cJSON_IsTrue(v)) {
        v = cJSON_GetObjectItemCaseSensitive(item, "column");
    }
    if (cJSON_IsString(v) && v->valuestring[0]) {
        cols = calloc(2, sizeof(*cols));
        if (!cols) {
            abort();
        }
        cols[0] = v->valuestring;
        *ret_n = 1;
        return cols;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        return NULL;
    }
    cols = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*cols));
    if (!cols) {
        abort();
    }
    cJSON_ArrayForEach(c, v)
    {
        if (!cJSON_IsString(c) || !c->valuestring[0]) {
            free(cols);
            return NULL;
        }
        cols[n++] = c->valuestring;
    }
    *ret_n = n;
    return cols;
}

/* "a", "b" joined by sep, each a quoted identifier (prefixed "x." when
 * prefix is set). */
static void append_cols(sqlite3_str *s, const char **cols, const char *sep)
{
    for (size_t i = 0; cols[i]; i++) {
        sqlite3_str_appendf(s, "%s\"%w\"", i ? sep : "", cols[i]);
    }
}

/* The rows a check reads: the table, or the table filtered by `where`. On
 * PostgreSQL a subquery in FROM needs a name (15 and older): `AS src`. */
static char *source_of(const char *table, const char *where, bool pg)
{
    char *s = where ? sqlite3_mprintf("(SELECT * FROM \"%w\" WHERE %s)%s", table, where,
                                      pg ? " AS src" : "")
                    : sqlite3_mprintf("\"%w\"", table);
    if (!s) {
        abort();
    }
    return s;
}

/* A JSON scalar as a SQL literal: numbers as numbers, strings quoted. */
static bool append_literal(sqlite3_str *s, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        sqlite3_str_appendf(s, "%Q", v->valuestring);
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        if (v->valuedouble == (double)(int64_t)v->valuedouble) {
            sqlite3_str_appendf(s, "%lld", (long long)v->valuedouble);
        } else {
            sqlite3_str_appendf(s, "%!.17g", v->valuedouble);
        }
    } else if (cJSON_IsBool(v)) {
        sqlite3_str_appendf(s, "%d", cJSON_IsTrue(v) ? 1 : 0);
    } else {
        return false;
    }
    return true;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        abort();
    }
    return d;
}

/* Build the SQL for `kind` from `arg` (the value of the kind's key), in
 * SQLite's dialect or (pg) PostgreSQL's: the two differ in the names of
 * subqueries and in how a truth value is tested (wh.h keeps the rest). */
static int build_sql(struct dagd_check_spec *c, const cJSON *item, const cJSON *arg,
                     const char *table, const char *where, const char **cols, bool pg,
                     char **reterr_msg)
{
    sqlite3_str *s = sqlite3_str_new(NULL);
    char *src = table ? source_of(table, where, pg) : NULL;
    const cJSON *v;
    int r = 0;

    switch (c->kind) {
    case DAGD_CHECK_NOT_NULL:
        sqlite3_str_appendf(s, "SELECT * FROM %s WHERE ", src);
        append_cols(s, cols, " IS NULL OR ");
        sqlite3_str_appendall(s, " IS NULL");
        break;
    case DAGD_CHECK_UNIQUE:
        /* one row per duplicated key (NULL keys are not compared, as in SQL) */
        sqlite3_str_appendall(s, "SELECT ");
        append_cols(s, cols, ", ");
        sqlite3_str_appendf(s, ", count(*) AS duplicates FROM %s WHERE ", src);
        append_cols(s, cols, " IS NOT NULL AND ");
        sqlite3_str_appendall(s, " IS NOT NULL GROUP BY ");
        append_cols(s, cols, ", ");
        sqlite3_str_appendall(s, " HAVING count(*) > 1");
        break;
    case DAGD_CHECK_ACCEPTED_VALUES:
        if (!cJSON_IsArray(arg) || cJSON_GetArraySize(arg) == 0) {
            dagd__task_set_err(reterr_msg, "accepted_values wants a list of values");
            r = -EINVAL;
            break;
        }
        sqlite3_str_appendf(s, "SELECT * FROM %s WHERE \"%w\" IS NOT NULL AND \"%w\" NOT IN (", src,
                            cols[0], cols[0]);
        cJSON_ArrayForEach(v, arg)
        {
            if (v != arg->child) {
                sqlite3_str_appendall(s, ", ");
            }
            if (!append_literal(s, v)) {
                dagd__task_set_err(reterr_msg, "accepted_values: a value is not a scalar");
                r = -EINVAL;
                break;
            }
        }
        sqlite3_str_appendall(s, ")");
        break;
    case DAGD_CHECK_RELATIONSHIPS: {
        const char *to = str_of(arg, "to");
        const char *field = str_of(arg, "field");
        if (!to) {
            dagd__task_set_err(reterr_msg, "relationships wants {to: TABLE, field: COLUMN}");
            r = -EINVAL;
            break;
        }
        field = field ? field : cols[0];
        if (pg && where) {
            /* src already has its name */
            sqlite3_free(src);
            src = sqlite3_mprintf("(SELECT * FROM \"%w\" WHERE %s)", table, where);
        }
        sqlite3_str_appendf(s,
                            "SELECT * FROM %s AS child WHERE child.\"%w\" IS NOT NULL AND NOT "
                            "EXISTS (SELECT 1 FROM \"%w\" AS parent WHERE parent.\"%w\" = "
                            "child.\"%w\")",
                            src, cols[0], to, field, cols[0]);
        break;
    }
    case DAGD_CHECK_ROW_COUNT: {
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(arg, "min");
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(arg, "max");
        if ((mn && !cJSON_IsNumber(mn)) || (mx && !cJSON_IsNumber(mx)) || (!mn && !mx)) {
            dagd__task_set_err(reterr_msg, "row_count wants {min: N} and/or {max: N}");
            r = -EINVAL;
            break;
        }
        sqlite3_str_appendf(s, "SELECT n AS row_count FROM (SELECT count(*) AS n FROM %s)%s WHERE ",
                            src, pg ? " AS c" : "");
        sqlite3_str_appendf(s, "n < %lld OR n > %lld", mn ? (long long)mn->valuedouble : 0LL,
                            mx ? (long long)mx->valuedouble : (long long)INT64_MAX);
        break;
    }
    case DAGD_CHECK_EXPRESSION:
        if (!cJSON_IsString(arg) || !arg->valuestring[0]) {
            dagd__task_set_err(reterr_msg, "expression wants a SQL expression");
            r = -EINVAL;
            break;
        }
        /* a row whose expression is false or NULL violates it */
        sqlite3_str_appendf(s, "SELECT * FROM %s WHERE (%s) IS NOT %s", src, arg->valuestring,
                            pg ? "TRUE" : "1");
        break;
    case DAGD_CHECK_SQL:
        if (!cJSON_IsString(arg) || !arg->valuestring[0]) {
            dagd__task_set_err(reterr_msg, "sql wants a SELECT returning the violating rows");
            r = -EINVAL;
            break;
        }
        sqlite3_str_appendall(s, arg->valuestring);
        break;
    default:
        r = -EINVAL;
        break;
    }
    sqlite3_free(src);
    if (r < 0) {
        sqlite3_free(sqlite3_str_finish(s));
        return r;
    }
    *(pg ? &c->sql_pg : &c->sql) = sqlite3_str_finish(s);
    if (!(pg ? c->sql_pg : c->sql)) {
        abort();
    }
    (void)item;
    return 0;
}

/* "not_null_t_a_b": the default name, like dbt's test names. */
static char *default_name(enum dagd_check_kind k, const char *table, const char **cols,
                          unsigned index)
{
    char *name = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&name, &len);

    if (!f) {
        abort();
    }
    fputs(kind_names[k], f);
    if (table) {
        fprintf(f, "_%s", table);
    }
    for (size_t i = 0; cols && cols[i]; i++) {
        fprintf(f, "_%s", cols[i]);
    }
    if (!table) {
        fprintf(f, "_%u", index);
    }
    fclose(f);
    return name;
}

int dagd_check_spec_parse(const cJSON *item, unsigned index, const char *def_table, bool def_warn,
                          struct dagd_check_spec *ret, char **reterr_msg)
{
    struct dagd_check_spec c = {.warn = def_warn};
    const cJSON *arg = NULL, *k;
    const char *table, *where, *severity;
    const char **cols = NULL;
    size_t n_cols = 0;
    char *err = NULL;
    int kind = -1, r;

    if (!cJSON_IsObject(item)) {
        dagd__task_set_err(reterr_msg, "check %u: expected a mapping", index);
        return -EINVAL;
    }
    /* exactly one kind key; nothing unknown */
    cJSON_ArrayForEach(k, item)
    {
        bool known = false;
        for (int i = 0; i < _DAGD_CHECK_KIND_MAX; i++) {
            if (strcmp(k->string, kind_names[i]) == 0) {
                if (kind >= 0) {
                    dagd__task_set_err(reterr_msg, "check %u: both '%s' and '%s'", index,
                                       kind_names[kind], kind_names[i]);
                    return -EINVAL;
                }
                kind = i;
                arg = k;
                known = true;
            }
        }
        for (size_t i = 0; common_keys[i]; i++) {
            known = known || strcmp(k->string, common_keys[i]) == 0;
        }
        if (!known) {
            dagd__task_set_err(reterr_msg, "check %u: unknown key '%s'", index, k->string);
            return -EINVAL;
        }
    }
    if (kind < 0) {
        dagd__task_set_err(reterr_msg,
                           "check %u: says nothing to check (one of not_null, unique, "
                           "accepted_values, relationships, row_count, expression, sql)",
                           index);
        return -EINVAL;
    }
    c.kind = (enum dagd_check_kind)kind;
    severity = str_of(item, "severity");
    if (severity && strcmp(severity, "warn") != 0 && strcmp(severity, "error") != 0) {
        dagd__task_set_err(reterr_msg, "check %u: severity is error or warn, not '%s'", index,
                           severity);
        return -EINVAL;
    }
    c.warn = severity ? strcmp(severity, "warn") == 0 : def_warn;
    table = str_of(item, "table");
    table = table ? table : def_table;
    where = str_of(item, "where");
    if (c.kind != DAGD_CHECK_SQL && !table) {
        dagd__task_set_err(reterr_msg, "check %u (%s): no table (set 'table')", index,
                           kind_names[kind]);
        return -EINVAL;
    }
    if (c.kind <= DAGD_CHECK_RELATIONSHIPS) {
        cols = columns_of(c.kind <= DAGD_CHECK_UNIQUE ? arg : NULL, item, &n_cols);
        if (!cols) {
            dagd__task_set_err(reterr_msg, "check %u (%s): no column (set 'column' or a list)",
                               index, kind_names[kind]);
            return -EINVAL;
        }
    }
    if (c.kind == DAGD_CHECK_SQL) {
        table = NULL; /* the SQL names its tables; a default table says nothing here */
    }
    c.name = str_of(item, "name") ? xstrdup(str_of(item, "name"))
                                  : default_name(c.kind, table, cols, index);
    r = build_sql(&c, item, arg, table, where, cols, false, &err);
    if (r >= 0) {
        r = build_sql(&c, item, arg, table, where, cols, true, &err);
    }
    if (r < 0) {
        dagd__task_set_err(reterr_msg, "check %u (%s): %s", index, c.name, err ? err : "invalid");
        free(err);
        free(cols);
        dagd_check_spec_done(&c);
        return r;
    }
    if (asprintf(&c.detail, "%s%s%s%s", kind_names[kind], table ? " on " : "", table ? table : "",
                 where ? " (filtered)" : "") < 0) {
        abort();
    }
    free(cols);
    *ret = c;
    return 0;
}

int dagd_check_specs_parse(const char *config_json, struct dagd_check_spec **ret, size_t *ret_n,
                           char **reterr_msg)
{
    cJSON *cfg = cJSON_Parse(config_json ? config_json : "{}");
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(cfg, "checks");
    const char *severity = str_of(cfg, "severity");
    struct dagd_check_spec *v = NULL;
    const cJSON *item;
    size_t n = 0;
    int r = 0;

    if (!cJSON_IsArray(checks) || cJSON_GetArraySize(checks) == 0) {
        dagd__task_set_err(reterr_msg, "'checks' wants a non-empty list of checks");
        cJSON_Delete(cfg);
        return -EINVAL;
    }
    v = calloc((size_t)cJSON_GetArraySize(checks), sizeof(*v));
    if (!v) {
        abort();
    }
    cJSON_ArrayForEach(item, checks)
    {
        r = dagd_check_spec_parse(item, (unsigned)n + 1, str_of(cfg, "table"),
                                  severity && strcmp(severity, "warn") == 0, &v[n], reterr_msg);
        if (r < 0) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(v[i].name, v[n].name) == 0) {
                dagd__task_set_err(reterr_msg,
                                   "checks %zu and %zu are both named '%s' (set 'name')", i + 1,
                                   n + 1, v[n].name);
                r = -EINVAL;
            }
        }
        n++;
        if (r < 0) {
            break;
        }
    }
    cJSON_Delete(cfg);
    if (r < 0) {
        dagd_check_specs_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
