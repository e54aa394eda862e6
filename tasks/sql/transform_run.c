/* Materialising SQL models (see transform_run.h). */
#include "transform_run.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_errmsg.h"

static int progress_cb(void *userdata)
{
    const struct dagd_transform_opts *o = userdata;

    return o->canceled(o->userdata) ? 1 : 0;
}

static bool canceled(const struct dagd_transform_opts *o)
{
    return o->canceled && o->canceled(o->userdata);
}

/* Run `sql` (a sqlite3_mprintf result, freed here). */
static int exec_owned(sqlite3 *db, const struct dagd_transform_opts *o, const struct dagd_model *m,
                      char *sql, char **reterr_msg)
{
    char *e = NULL;
    int rc;

    if (!sql) {
        abort();
    }
    rc = sqlite3_exec(db, sql, NULL, NULL, &e);
    sqlite3_free(sql);
    if (rc == SQLITE_INTERRUPT && canceled(o)) {
        sqlite3_free(e);
        return -ECANCELED;
    }
    if (rc != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "model %s (%s): %s", m ? m->name : "-",
                           m && m->path ? m->path : "-", e ? e : sqlite3_errstr(rc));
        sqlite3_free(e);
        return -EIO;
    }
    return 0;
}

/* 't' for a table, 'v' for a view, 0 for neither. */
static char object_type(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    char type = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT type FROM sqlite_schema WHERE type IN ('table', 'view')"
                           " AND name = ?1 COLLATE NOCASE",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            type = (char)sqlite3_column_text(st, 0)[0];
        }
    }
    sqlite3_finalize(st);
    return type;
}

static bool table_exists(sqlite3 *db, const char *name)
{
    return object_type(db, name) != 0;
}

/* Drop table or view `name` if there is one (DROP TABLE refuses a view and
 * DROP VIEW a table, so a model may change its materialization). */
static int drop_object(sqlite3 *db, const struct dagd_transform_opts *o, const struct dagd_model *m,
                       const char *name, char **reterr_msg)
{
    char type = object_type(db, name);

    if (!type) {
        return 0;
    }
    return exec_owned(db, o, m,
                      sqlite3_mprintf(type == 'v' ? "DROP VIEW \"%w\"" : "DROP TABLE \"%w\"", name),
                      reterr_msg);
}

static int64_t count_rows(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st = NULL;
    char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", table);
    int64_t n = 0;

    if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_free(sql);
    return n;
}

/* A model must be exactly one statement. SQL that does not compile
 * (SQLITE_ERROR: a syntax error, an unknown table or column) is -EINVAL, a
 * fault of the model that a retry will not mend; busy or I/O stays -EIO. */
static int check_single(sqlite3 *db, const struct dagd_model *m, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(db, m->sql, -1, &st, &tail);

    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "model %s (%s): %s", m->name, m->path ? m->path : "-",
                           sqlite3_errmsg(db));
        return rc == SQLITE_ERROR ? -EINVAL : -EIO;
    }
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r')) {
        tail++;
    }
    if (tail && *tail) {
        dagd__task_set_err(reterr_msg, "model %s (%s): more than one SQL statement", m->name,
                           m->path ? m->path : "-");
        return -EINVAL;
    }
    return 0;
}

/* Append ", "-joined quoted identifiers to a sqlite3_str. */
static void append_idents(sqlite3_str *s, const struct dagd_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", sv->v[i]);
    }
}

/* The declared type for a column whose affinity SQLite reports as `type`
 * (CREATE TABLE AS names them INT, NUM, REAL, TEXT or nothing). */
static const char *declared_type(const char *type)
{
    if (!type) {
        return "";
    }
    if (strcmp(type, "INT") == 0) {
        return "INTEGER";
    }
    if (strcmp(type, "NUM") == 0) {
        return "NUMERIC";
    }
    return type;
}

/* CREATE "_dagd_new_NAME" with the model's columns (types as SQLite infers
 * them from the SELECT: CAST(x AS INTEGER) gives INTEGER) and its primary
 * key, then fill it. */
static int build_explicit(sqlite3 *db, const struct dagd_transform_opts *o,
                          const struct dagd_model *m, const char *tmp, char **reterr_msg)
{
    /* an incremental table is keyed by its unique key, so upserts find rows */
    const struct dagd_strv *key =
        m->materialized == DAGD_MODEL_INCREMENTAL ? &m->unique_key : &m->primary_key;
    sqlite3_stmt *st = NULL;
    sqlite3_str *s;
    int r, rc, ncol = 0;

    r = exec_owned(
        db, o, m,
        sqlite3_mprintf("CREATE TEMP TABLE \"_dagd_shape\" AS SELECT * FROM (%s) LIMIT 0", m->sql),
        reterr_msg);
    if (r < 0) {
        return r;
    }
    s = sqlite3_str_new(db);
    sqlite3_str_appendf(s, "CREATE TABLE \"%w\" (", tmp);
    rc = sqlite3_prepare_v2(db, "SELECT name, type FROM pragma_table_info('_dagd_shape', 'temp')",
                            -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *type = declared_type((const char *)sqlite3_column_text(st, 1));
        sqlite3_str_appendf(s, "%s\"%w\"%s%s", ncol++ ? ", " : "",
                            (const char *)sqlite3_column_text(st, 0), *type ? " " : "", type);
    }
    sqlite3_finalize(st);
    if (key->n > 0) {
        sqlite3_str_appendall(s, ", PRIMARY KEY (");
        append_idents(s, key);
        sqlite3_str_appendall(s, ")");
    }
    sqlite3_str_appendall(s, ")");
    r = exec_owned(db, o, m, sqlite3_str_finish(s), reterr_msg);
    if (r < 0) {
        return r;
    }
    r = exec_owned(db, o, m, sqlite3_mprintf("DROP TABLE temp.\"_dagd_shape\""), reterr_msg);
    if (r < 0) {
        return r;
    }
    /* incremental: a later row of the SELECT replaces an earlier one with its key */
    return exec_owned(
        db, o, m,
        sqlite3_mprintf("INSERT %sINTO \"%w\" %s",
                        m->materialized == DAGD_MODEL_INCREMENTAL ? "OR REPLACE " : "", tmp,
                        m->sql),
        reterr_msg);
}

static int create_indexes(sqlite3 *db, const struct dagd_transform_opts *o,
                          const struct dagd_model *m, char **reterr_msg)
{
    int r = 0;

    for (size_t i = 0; r >= 0 && i < m->n_indexes; i++) {
        sqlite3_str *s = sqlite3_str_new(db);
        sqlite3_str_appendf(s, "CREATE INDEX IF NOT EXISTS \"%w_i%d\" ON \"%w\" (", m->name, (int)i,
                            m->name);
        append_idents(s, &m->indexes[i]);
        sqlite3_str_appendall(s, ")");
        r = exec_owned(db, o, m, sqlite3_str_finish(s), reterr_msg);
    }
    return r;
}

/* Table: built as "_dagd_new_NAME", then swapped in for NAME. */
static int build_table(sqlite3 *db, const struct dagd_transform_opts *o, const struct dagd_model *m,
                       int64_t *ret_rows, char **reterr_msg)
{
    char *tmp = sqlite3_mprintf("_dagd_new_%s", m->name);
    int r;

    if (!tmp) {
        abort();
    }
    r = exec_owned(db, o, m, sqlite3_mprintf("DROP TABLE IF EXISTS \"%w\"", tmp), reterr_msg);
    if (r >= 0) {
        r = build_explicit(db, o, m, tmp, reterr_msg);
    }
    if (r >= 0) {
        *ret_rows = count_rows(db, tmp);
        r = drop_object(db, o, m, m->name, reterr_msg);
    }
    if (r >= 0) {
        r = exec_owned(db, o, m,
                       sqlite3_mprintf("ALTER TABLE \"%w\" RENAME TO \"%w\"", tmp, m->name),
                       reterr_msg);
    }
    if (r >= 0) {
        r = create_indexes(db, o, m, reterr_msg);
    }
    sqlite3_free(tmp);
    return r;
}

static int build_view(sqlite3 *db, const struct dagd_transform_opts *o, const struct dagd_model *m,
                      int64_t *ret_rows, char **reterr_msg)
{
    int r = drop_object(db, o, m, m->name, reterr_msg);

    if (r >= 0) {
        r = exec_owned(db, o, m, sqlite3_mprintf("CREATE VIEW \"%w\" AS %s", m->name, m->sql),
                       reterr_msg);
    }
    *ret_rows = 0; /* a view holds no rows: counting would run it */
    return r;
}

/* Incremental: the first run (or a view of that name) builds the table keyed
 * by the unique key; later runs upsert the SELECT's rows into it, a later row
 * of one SELECT replacing an earlier one with the same key. */
static int build_incremental(sqlite3 *db, const struct dagd_transform_opts *o,
                             const struct dagd_model *m, int64_t *ret_rows, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    sqlite3_str *s, *set;
    int r, rc, ncol = 0;

    if (object_type(db, m->name) != 't') {
        return build_table(db, o, m, ret_rows, reterr_msg);
    }
    r = exec_owned(
        db, o, m,
        sqlite3_mprintf("CREATE TEMP TABLE \"_dagd_shape\" AS SELECT * FROM (%s) LIMIT 0", m->sql),
        reterr_msg);
    if (r < 0) {
        return r;
    }
    s = sqlite3_str_new(db);
    set = sqlite3_str_new(db);
    sqlite3_str_appendf(s, "INSERT INTO \"%w\" (", m->name);
    rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('_dagd_shape', 'temp')", -1,
                            &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 0);
        sqlite3_str_appendf(s, "%s\"%w\"", ncol ? ", " : "", col);
        sqlite3_str_appendf(set, "%s\"%w\" = excluded.\"%w\"", ncol ? ", " : "", col, col);
        ncol++;
    }
    sqlite3_finalize(st);
    /* WHERE true: without it SQLite would read ON CONFLICT as a join's ON */
    sqlite3_str_appendf(s, ") SELECT * FROM (%s) WHERE true ON CONFLICT (", m->sql);
    append_idents(s, &m->unique_key);
    sqlite3_str_appendf(s, ") DO UPDATE SET %s",
                        sqlite3_str_value(set) ? sqlite3_str_value(set) : "");
    sqlite3_free(sqlite3_str_finish(set));
    r = exec_owned(db, o, m, sqlite3_mprintf("DROP TABLE temp.\"_dagd_shape\""), reterr_msg);
    if (r < 0) {
        sqlite3_free(sqlite3_str_finish(s));
        return r;
    }
    r = exec_owned(db, o, m, sqlite3_str_finish(s), reterr_msg);
    if (r < 0) {
        return r;
    }
    *ret_rows = sqlite3_changes64(db);
    return create_indexes(db, o, m, reterr_msg);
}

static int build_model(sqlite3 *db, const struct dagd_transform_opts *o, const struct dagd_model *m,
                       int64_t *ret_rows, char **reterr_msg)
{
    int r;

    for (size_t i = 0; i < m->depends.n; i++) {
        if (!table_exists(db, m->depends.v[i])) {
            dagd__task_set_err(reterr_msg,
                               "model %s (%s) depends on '%s', which is neither a model nor a "
                               "table of the warehouse",
                               m->name, m->path ? m->path : "-", m->depends.v[i]);
            return -ENOENT;
        }
    }
    r = check_single(db, m, reterr_msg);
    if (r < 0) {
        return r;
    }
    switch (m->materialized) {
    case DAGD_MODEL_VIEW:
        return build_view(db, o, m, ret_rows, reterr_msg);
    case DAGD_MODEL_INCREMENTAL:
        return build_incremental(db, o, m, ret_rows, reterr_msg);
    default:
        return build_table(db, o, m, ret_rows, reterr_msg);
    }
}

int dagd_transform_models(sqlite3 *db, struct dagd_model_set *set,
                          const struct dagd_transform_opts *o, int64_t *ret_rows, char **reterr_msg)
{
    size_t *order = NULL;
    int64_t total = 0;
    int r;

    r = dagd_models_order(set, &order, reterr_msg);
    if (r < 0) {
        return r;
    }
    /* Rename only the table itself: views other steps may define on a model
     * must not make the swap fail. */
    (void)sqlite3_exec(db, "PRAGMA legacy_alter_table = ON", NULL, NULL, NULL);
    if (o->canceled) {
        sqlite3_progress_handler(db, 20000, progress_cb, (void *)o);
    }
    r = exec_owned(db, o, NULL, sqlite3_mprintf("BEGIN IMMEDIATE"), reterr_msg);
    if (r < 0) {
        goto out;
    }
    for (size_t k = 0; k < set->n; k++) {
        const struct dagd_model *m = &set->v[order[k]];
        int64_t rows = 0;

        if (canceled(o)) {
            r = -ECANCELED;
            break;
        }
        r = build_model(db, o, m, &rows, reterr_msg);
        if (r < 0) {
            break;
        }
        total += rows;
        if (o->progress) {
            o->progress(o->userdata, m->name, rows, k + 1, set->n);
        }
    }
    if (r >= 0) {
        r = exec_owned(db, o, NULL, sqlite3_mprintf("COMMIT"), reterr_msg);
    }
    if (r < 0) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
out:
    sqlite3_progress_handler(db, 0, NULL, NULL);
    (void)sqlite3_exec(db, "PRAGMA legacy_alter_table = OFF", NULL, NULL, NULL);
    free(order);
    if (r >= 0 && ret_rows) {
        *ret_rows = total;
    }
    return r;
}
