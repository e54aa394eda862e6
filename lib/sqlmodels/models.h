/* SQL model files of the sql task (alias transform).
 *
 * A model is a file NAME.sql holding one SELECT (a WITH ... SELECT is fine);
 * the sql task materialises it as table (or view) NAME. Leading `--` comment
 * lines may carry directives:
 *
 *     -- depends: orders, mart_city_hour_sales   tables read (models or not)
 *     -- primary key: key                        the table's PRIMARY KEY
 *     -- index: city, hour                       one index per line
 *     -- materialized: table|view|incremental    how it is built (table)
 *     -- unique key: id                          incremental: rows upserted by it
 *
 * `${name}` in the SQL is a parameter (dagd_models_expand).
 * Dependencies between models are the declared ones plus the other models'
 * names found as identifiers in the SQL (outside strings and comments).
 * Pure code (no SQLite), tested by tests/unit/tasks/sql/test_sql.c.
 *
 * Layer: lib/sqlmodels is a leaf library (libc only, docs/architecture.md)
 * below the two that read model files: the sql task (to run them) and dagd's
 * CLI (`dagd lineage`, for the tables a model reads). Neither reaches into
 * the other; both link this. */
#ifndef DAGD_MODELS_H
#define DAGD_MODELS_H

#include <stdbool.h>
#include <stddef.h>

struct dagd_strv {
    char **v;
    size_t n;
};

enum dagd_model_materialized {
    DAGD_MODEL_TABLE,       /* rebuilt from scratch and swapped in */
    DAGD_MODEL_VIEW,        /* CREATE VIEW */
    DAGD_MODEL_INCREMENTAL, /* created once, then rows upserted by the unique key */
    _DAGD_MODEL_MATERIALIZED_MAX,
};

/* "table", "view", "incremental"; -EINVAL for another string. */
int dagd_model_materialized_from_string(const char *s);
const char *dagd_model_materialized_to_string(enum dagd_model_materialized m);

struct dagd_model {
    char *name;                   /* table name = file name without .sql */
    char *path;                   /* file path, or NULL for models parsed from memory */
    char *sql;                    /* the SELECT, trailing ';' and whitespace removed */
    struct dagd_strv depends;     /* declared with `-- depends:` */
    struct dagd_strv primary_key; /* `-- primary key:` columns */
    struct dagd_strv *indexes;    /* one column list per `-- index:` line */
    size_t n_indexes;
    struct dagd_strv uses; /* other models referenced (set by order) */
    enum dagd_model_materialized materialized;
    struct dagd_strv unique_key; /* `-- unique key:` (incremental; else the primary key) */
};

struct dagd_model_set {
    struct dagd_model *v;
    size_t n;
};

/* Parse one model from its text. Takes nothing; copies what it keeps.
 * 0, or -EINVAL (bad name, empty SQL, bad directive) with *reterr_msg set. */
int dagd_model_parse(const char *name, const char *text, struct dagd_model *ret, char **reterr_msg);

/* The warehouse engines a model file may be specific to (issue 13). */
#define DAGD_MODEL_ENGINES "sqlite", "postgresql"

/* Load every *.sql file of dir, sorted by name. A file NAME.ENGINE.sql
 * (ENGINE one of DAGD_MODEL_ENGINES, e.g. x.postgresql.sql) is no model:
 * it is model NAME's variant for that engine (dagd_models_load_engine).
 * 0, -ENOENT (no dir or no model), -EINVAL, -EIO; *reterr_msg set on failure. */
int dagd_models_load(const char *dir, struct dagd_model_set *ret, char **reterr_msg);

/* As dagd_models_load, then each model NAME with a file NAME.ENGINE.sql in
 * dir takes that file's SQL and directives instead (its path too). ENGINE
 * NULL: no variants. The variant must exist next to the portable model:
 * the models (and `dagd lineage`) are the same on every engine. */
int dagd_models_load_engine(const char *dir, const char *engine, struct dagd_model_set *ret,
                            char **reterr_msg);

/* Add a parsed model to a set (takes ownership of *m's contents). */
void dagd_models_add(struct dagd_model_set *set, struct dagd_model *m);

/* Compute `uses` and a run order (dependencies first; ties by name). Writes a
 * malloc'ed array of n indexes into set->v. -ELOOP for a cycle, with a
 * message naming it ("a -> b -> a"). */
int dagd_models_order(struct dagd_model_set *set, size_t **ret_order, char **reterr_msg);

/* True if `word` occurs in sql as an identifier token (case-insensitive,
 * bare or "quoted"), outside string literals and comments. */
bool dagd_sql_mentions(const char *sql, const char *word);

/* Looks up the value of parameter `name`: NULL when there is none. */
typedef const char *(*dagd_models_param_fn)(void *userdata, const char *name);

/* Replace every `${name}` in each model's SQL by the parameter's value from
 * `lookup`: inside a '...' string literal as the raw text (quotes doubled),
 * elsewhere as a SQL literal (an integer or decimal number as written, any
 * other text quoted), so a value can never inject SQL. `${` inside comments
 * is left alone. -ENOENT for an unknown name, -EINVAL for an unterminated
 * `${`, with *reterr_msg naming the model and the name. */
int dagd_models_expand(struct dagd_model_set *set, dagd_models_param_fn lookup, void *userdata,
                       char **reterr_msg);

void dagd_model_done(struct dagd_model *m);
void dagd_model_set_done(struct dagd_model_set *set);

#endif
