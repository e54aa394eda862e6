/* Materialising SQL models on PostgreSQL (transform_run.h, issue 13): the
 * same contract as on SQLite, all models in ONE transaction (PostgreSQL's
 * DDL is transactional: a failure or a kill leaves the warehouse as it
 * was), each table built as "_dagd_new_NAME" and swapped in.
 *
 * What differs from transform_run.c, and why:
 * - column types come from CREATE TABLE AS (PostgreSQL infers them from
 *   the SELECT; sums of BIGINT are NUMERIC, as wide as needed);
 * - the primary key and the indexes are added after the rename, so their
 *   names follow the table's (NAME_pkey), not "_dagd_new_NAME"'s, which
 *   the next run needs free;
 * - a model must be one statement: PQprepare refuses more;
 * - a view that another step defined on a model table makes its DROP fail
 *   (SQLite's views are bound late; PostgreSQL's are not): the error says
 *   so, nothing is dropped with CASCADE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"
#include "task_errmsg.h"
#include "transform_run.h"
#include "wh.h"

#define PG(wh) ((PGconn *)(wh)->pg)

static bool canceled(const struct dagd_transform_opts *o)
{
    return o->canceled && o->canceled(o->userdata);
}

/* Run `sql` (owned, freed here); on failure the message names the model. */
static int run(struct dagd_wh *wh, const struct dagd_model *m, char *sql, char **reterr_msg)
{
    int r = dagd_wh_exec(wh, sql);

    free(sql);
    if (r < 0) {
        dagd__task_set_err(reterr_msg, "model %s (%s) on %s: %s", m ? m->name : "-",
                           m && m->path ? m->path : "-", wh->label, wh->err);
    }
    return r;
}

static char *idents(char *s, const struct dagd_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        s = dagd_wh_append_ident(dagd_wh_append(s, i ? ", " : ""), sv->v[i]);
    }
    return s;
}

static int kind_row(void *userdata, size_t n, const char *const *names, const char *const *values,
                    const char *kinds)
{
    *(char *)userdata = values[0] ? values[0][0] : 0;
    return 0;
}

/* 'r' table, 'v' view (also 'm', 'p', 'f'), 0 neither: the relation the
 * unqualified name finds. */
static char object_kind(struct dagd_wh *wh, const char *name)
{
    const char *params[] = {name};
    char kind = 0;

    (void)dagd_wh_query(wh,
                        "SELECT c.relkind::text FROM pg_catalog.pg_class c WHERE c.oid = "
                        "to_regclass(quote_ident($1))",
                        1, params, kind_row, &kind);
    return kind;
}

static int drop_object(struct dagd_wh *wh, const struct dagd_model *m, const char *name,
                       char **reterr_msg)
{
    char kind = object_kind(wh, name);

    if (!kind) {
        return 0;
    }
    char *sql = dagd_wh_append(NULL, kind == 'v' ? "DROP VIEW " : "DROP TABLE ");
    return run(wh, m, dagd_wh_append_ident(sql, name), reterr_msg);
}

/* One statement, and it parses: PQprepare refuses several commands. The
 * column names come back for an incremental model's upsert. */
static int check_single(struct dagd_wh *wh, const struct dagd_model *m, PGresult **ret_desc,
                        char **reterr_msg)
{
    PGresult *res = PQprepare(PG(wh), "", m->sql, 0, NULL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    /* SQLSTATE class 42 (syntax error, no such table or column): the model
     * is wrong, -EINVAL (not retried); else the server, -EIO */
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int err = state && strncmp(state, "42", 2) == 0 ? -EINVAL : -EIO;

    if (!ok) {
        dagd__task_set_err(reterr_msg, "model %s (%s) on %s: %s", m->name, m->path ? m->path : "-",
                           wh->label, res ? PQresultErrorMessage(res) : PQerrorMessage(PG(wh)));
    }
    PQclear(res);
    if (!ok) {
        /* the message may end in a newline: one line */
        for (char *p = reterr_msg ? *reterr_msg : NULL; p && *p; p++) {
            *p = *p == '\n' ? ' ' : *p;
        }
        return err;
    }
    if (ret_desc) {
        *ret_desc = PQdescribePrepared(PG(wh), "");
    }
    return 0;
}

static int add_keys(struct dagd_wh *wh, const struct dagd_model *m, const struct dagd_strv *key,
                    char **reterr_msg)
{
    int r = 0;

    if (key->n > 0) {
        char *sql = dagd_wh_append_ident(dagd_wh_append(NULL, "ALTER TABLE "), m->name);
        sql = idents(dagd_wh_append(sql, " ADD PRIMARY KEY ("), key);
        r = run(wh, m, dagd_wh_append(sql, ")"), reterr_msg);
    }
    for (size_t i = 0; r >= 0 && i < m->n_indexes; i++) {
        char name[512];
        (void)snprintf(name, sizeof(name), "%s_i%zu", m->name, i);
        char *sql = dagd_wh_append_ident(dagd_wh_append(NULL, "CREATE INDEX IF NOT EXISTS "), name);
        sql = dagd_wh_append_ident(dagd_wh_append(sql, " ON "), m->name);
        sql = idents(dagd_wh_append(sql, " ("), &m->indexes[i]);
        r = run(wh, m, dagd_wh_append(sql, ")"), reterr_msg);
    }
    return r;
}

static int build_table(struct dagd_wh *wh, const struct dagd_model *m, int64_t *ret_rows,
                       char **reterr_msg)
{
    const struct dagd_strv *key =
        m->materialized == DAGD_MODEL_INCREMENTAL ? &m->unique_key : &m->primary_key;
    char tmp[512];
    int r;

    (void)snprintf(tmp, sizeof(tmp), "_dagd_new_%s", m->name);
    r = run(wh, m, dagd_wh_append_ident(dagd_wh_append(NULL, "DROP TABLE IF EXISTS "), tmp),
            reterr_msg);
    if (r >= 0) {
        char *sql = dagd_wh_append_ident(dagd_wh_append(NULL, "CREATE TABLE "), tmp);
        r = run(wh, m, dagd_wh_append(sql, " AS %s", m->sql), reterr_msg);
        *ret_rows = dagd_wh_changes(wh);
    }
    if (r >= 0) {
        r = drop_object(wh, m, m->name, reterr_msg);
    }
    if (r >= 0) {
        char *sql = dagd_wh_append_ident(dagd_wh_append(NULL, "ALTER TABLE "), tmp);
        r = run(wh, m, dagd_wh_append_ident(dagd_wh_append(sql, " RENAME TO "), m->name),
                reterr_msg);
    }
    return r < 0 ? r : add_keys(wh, m, key, reterr_msg);
}

static int build_view(struct dagd_wh *wh, const struct dagd_model *m, int64_t *ret_rows,
                      char **reterr_msg)
{
    int r = drop_object(wh, m, m->name, reterr_msg);

    if (r >= 0) {
        char *sql = dagd_wh_append_ident(dagd_wh_append(NULL, "CREATE VIEW "), m->name);
        r = run(wh, m, dagd_wh_append(sql, " AS %s", m->sql), reterr_msg);
    }
    *ret_rows = 0;
    return r;
}

/* Incremental: the first run builds the table keyed by the unique key;
 * later runs upsert the SELECT's rows by it. */
static int build_incremental(struct dagd_wh *wh, const struct dagd_model *m, PGresult *desc,
                             int64_t *ret_rows, char **reterr_msg)
{
    int ncol = desc ? PQnfields(desc) : 0;

    if (object_kind(wh, m->name) != 'r') {
        return build_table(wh, m, ret_rows, reterr_msg);
    }
    char *sql = dagd_wh_append_ident(dagd_wh_append(NULL, "INSERT INTO "), m->name);
    sql = dagd_wh_append(sql, " SELECT * FROM (%s) AS s ON CONFLICT (", m->sql);
    sql = idents(sql, &m->unique_key);
    sql = dagd_wh_append(sql, ") DO UPDATE SET ");
    for (int i = 0; i < ncol; i++) {
        sql = dagd_wh_append_ident(dagd_wh_append(sql, i ? ", " : ""), PQfname(desc, i));
        sql = dagd_wh_append_ident(dagd_wh_append(sql, " = excluded."), PQfname(desc, i));
    }
    int r = run(wh, m, sql, reterr_msg);
    *ret_rows = dagd_wh_changes(wh);
    return r < 0 ? r : add_keys(wh, m, &(struct dagd_strv){0}, reterr_msg);
}

static int build_model(struct dagd_wh *wh, const struct dagd_model *m, int64_t *ret_rows,
                       char **reterr_msg)
{
    PGresult *desc = NULL;
    int r;

    for (size_t i = 0; i < m->depends.n; i++) {
        if (dagd_wh_table_exists(wh, m->depends.v[i]) <= 0) {
            dagd__task_set_err(reterr_msg,
                               "model %s (%s) depends on '%s', which is neither a model nor a "
                               "table of the warehouse",
                               m->name, m->path ? m->path : "-", m->depends.v[i]);
            return -ENOENT;
        }
    }
    r = check_single(wh, m, m->materialized == DAGD_MODEL_INCREMENTAL ? &desc : NULL, reterr_msg);
    if (r < 0) {
        return r;
    }
    switch (m->materialized) {
    case DAGD_MODEL_VIEW:
        r = build_view(wh, m, ret_rows, reterr_msg);
        break;
    case DAGD_MODEL_INCREMENTAL:
        r = build_incremental(wh, m, desc, ret_rows, reterr_msg);
        break;
    default:
        r = build_table(wh, m, ret_rows, reterr_msg);
        break;
    }
    PQclear(desc);
    return r;
}

int dagd_transform_models_wh(struct dagd_wh *wh, struct dagd_model_set *set,
                             const struct dagd_transform_opts *o, int64_t *ret_rows,
                             char **reterr_msg)
{
    size_t *order = NULL;
    int64_t total = 0;
    int r;

    if (wh->engine == DAGD_WH_SQLITE) {
        return dagd_transform_models(wh->db, set, o, ret_rows, reterr_msg);
    }
    r = dagd_models_order(set, &order, reterr_msg);
    if (r < 0) {
        return r;
    }
    r = run(wh, NULL, dagd_wh_append(NULL, "BEGIN"), reterr_msg);
    for (size_t k = 0; r >= 0 && k < set->n; k++) {
        const struct dagd_model *m = &set->v[order[k]];
        int64_t rows = 0;

        if (canceled(o)) {
            r = -ECANCELED;
            break;
        }
        r = build_model(wh, m, &rows, reterr_msg);
        if (r >= 0) {
            total += rows;
            if (o->progress) {
                o->progress(o->userdata, m->name, rows, k + 1, set->n);
            }
        }
    }
    if (r >= 0) {
        r = run(wh, NULL, dagd_wh_append(NULL, "COMMIT"), reterr_msg);
    } else {
        PQclear(PQexec(PG(wh), "ROLLBACK"));
    }
    free(order);
    if (r >= 0 && ret_rows) {
        *ret_rows = total;
    }
    return r;
}
