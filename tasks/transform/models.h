/* SQL model files of the transform task.
 *
 * A model is a file NAME.sql holding one SELECT (a WITH ... SELECT is fine);
 * the transform task materialises it as table NAME. Leading `--` comment
 * lines may carry directives:
 *
 *     -- depends: orders, mart_city_hour_sales   tables read (models or not)
 *     -- primary key: key                        the table's PRIMARY KEY
 *     -- index: city, hour                       one index per line
 *
 * Dependencies between models are the declared ones plus the other models'
 * names found as identifiers in the SQL (outside strings and comments).
 * Pure code (no SQLite), tested by tests/unit/test_transform.c. */
#ifndef DAGD_MODELS_H
#define DAGD_MODELS_H

#include <stdbool.h>
#include <stddef.h>

struct dagd_strv {
    char **v;
    size_t n;
};

struct dagd_model {
    char *name;                   /* table name = file name without .sql */
    char *path;                   /* file path, or NULL for models parsed from memory */
    char *sql;                    /* the SELECT, trailing ';' and whitespace removed */
    struct dagd_strv depends;     /* declared with `-- depends:` */
    struct dagd_strv primary_key; /* `-- primary key:` columns */
    struct dagd_strv *indexes;    /* one column list per `-- index:` line */
    size_t n_indexes;
    struct dagd_strv uses; /* other models referenced (set by order) */
};

struct dagd_model_set {
    struct dagd_model *v;
    size_t n;
};

/* Parse one model from its text. Takes nothing; copies what it keeps.
 * 0, or -EINVAL (bad name, empty SQL, bad directive) with *reterr_msg set. */
int dagd_model_parse(const char *name, const char *text, struct dagd_model *ret, char **reterr_msg);

/* Load every *.sql file of dir, sorted by name. 0, -ENOENT (no dir or no
 * model), -EINVAL, -EIO; *reterr_msg set on failure. */
int dagd_models_load(const char *dir, struct dagd_model_set *ret, char **reterr_msg);

/* Add a parsed model to a set (takes ownership of *m's contents). */
void dagd_models_add(struct dagd_model_set *set, struct dagd_model *m);

/* Compute `uses` and a run order (dependencies first; ties by name). Writes a
 * malloc'ed array of n indexes into set->v. -ELOOP for a cycle, with a
 * message naming it ("a -> b -> a"). */
int dagd_models_order(struct dagd_model_set *set, size_t **ret_order, char **reterr_msg);

/* True if `word` occurs in sql as an identifier token (case-insensitive,
 * bare or "quoted"), outside string literals and comments. */
bool dagd_sql_mentions(const char *sql, const char *word);

void dagd_model_done(struct dagd_model *m);
void dagd_model_set_done(struct dagd_model_set *set);

#endif
