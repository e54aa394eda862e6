/* An eponymous-only virtual table over one batch of typed rows (see
 * load_rows_vtab.h). Read only, one full scan in row order: the order the
 * rows were delivered, which upserts depend on (the later row wins). */
#include "load_rows_vtab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "load_internal.h"

struct rows_vtab {
    sqlite3_vtab base;
    struct dagd__load_rows *rows;
};

struct rows_cursor {
    sqlite3_vtab_cursor base;
    const struct dagd__load_rows *rows;
    size_t row;
};

static int rows_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **ret, char **reterr)
{
    struct dagd__load_rows *rows = aux;
    struct rows_vtab *vt;
    sqlite3_str *s = sqlite3_str_new(db);
    char *sql;
    int rc;

    (void)argc;
    (void)argv;
    (void)reterr;
    /* untyped columns: values reach the target table as the reader typed
     * them, and its column affinities apply as they did to bound values */
    sqlite3_str_appendall(s, "CREATE TABLE x(");
    for (size_t i = 0; i < rows->n_out; i++) {
        sqlite3_str_appendf(s, "%sc%llu", i ? ", " : "", (unsigned long long)i); /* no %zu */
    }
    sqlite3_str_appendall(s, ")");
    sql = sqlite3_str_finish(s);
    if (!sql) {
        return SQLITE_NOMEM;
    }
    rc = sqlite3_declare_vtab(db, sql);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        return rc;
    }
    vt = sqlite3_malloc(sizeof(*vt));
    if (!vt) {
        return SQLITE_NOMEM;
    }
    memset(vt, 0, sizeof(*vt));
    vt->rows = rows;
    *ret = &vt->base;
    return SQLITE_OK;
}

static int rows_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int rows_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    info->estimatedCost = QUEUE_ROWS;
    info->estimatedRows = QUEUE_ROWS;
    return SQLITE_OK;
}

static int rows_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **ret)
{
    struct rows_cursor *c = sqlite3_malloc(sizeof(*c));

    if (!c) {
        return SQLITE_NOMEM;
    }
    memset(c, 0, sizeof(*c));
    c->rows = ((struct rows_vtab *)vt)->rows;
    *ret = &c->base;
    return SQLITE_OK;
}

static int rows_close(sqlite3_vtab_cursor *cur)
{
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc,
                       sqlite3_value **argv)
{
    (void)idx;
    (void)idx_str;
    (void)argc;
    (void)argv;
    ((struct rows_cursor *)cur)->row = 0;
    return SQLITE_OK;
}

static int rows_next(sqlite3_vtab_cursor *cur)
{
    ((struct rows_cursor *)cur)->row++;
    return SQLITE_OK;
}

static int rows_eof(sqlite3_vtab_cursor *cur)
{
    const struct rows_cursor *c = (const struct rows_cursor *)cur;

    return !c->rows->batch || c->row >= c->rows->batch->rows;
}

static int rows_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
    const struct rows_cursor *c = (const struct rows_cursor *)cur;
    const struct batch *b = c->rows->batch;
    const struct cell *x = &b->cells[c->row * c->rows->n_out + (size_t)i];

    switch (x->kind) {
    case CELL_INT:
        sqlite3_result_int64(ctx, x->i);
        break;
    case CELL_REAL:
        sqlite3_result_double(ctx, x->d);
        break;
    case CELL_TEXT:
        /* the arena does not move until the statement is done with the batch */
        sqlite3_result_text(ctx, b->arena + x->off, (int)x->len, SQLITE_STATIC);
        break;
    default:
        sqlite3_result_null(ctx);
        break;
    }
    return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *ret)
{
    *ret = (sqlite3_int64)((struct rows_cursor *)cur)->row;
    return SQLITE_OK;
}

static const sqlite3_module rows_module = {
    .iVersion = 1,
    .xCreate = NULL, /* eponymous-only: no CREATE VIRTUAL TABLE */
    .xConnect = rows_connect,
    .xBestIndex = rows_best_index,
    .xDisconnect = rows_disconnect,
    .xOpen = rows_open,
    .xClose = rows_close,
    .xFilter = rows_filter,
    .xNext = rows_next,
    .xEof = rows_eof,
    .xColumn = rows_column,
    .xRowid = rows_rowid,
};

int dagd__load_rows_register(struct sqlite3 *db, struct dagd__load_rows *rows)
{
    (void)snprintf(rows->name, sizeof(rows->name), "_dagd_load_rows_%p", (void *)rows);
    if (sqlite3_create_module_v2(db, rows->name, &rows_module, rows, NULL) != SQLITE_OK) {
        return -EIO;
    }
    rows->db = db;
    return 0;
}

void dagd__load_rows_unregister(struct dagd__load_rows *rows)
{
    if (rows->db) {
        (void)sqlite3_create_module_v2(rows->db, rows->name, NULL, NULL, NULL);
        rows->db = NULL;
    }
}
