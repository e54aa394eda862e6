/* The load task's PostgreSQL writer (load_file.h, issue 13): the same
 * files, typing and semantics as on SQLite, written with COPY.
 *
 * One file = one transaction: BEGIN, (replace: DELETE), COPY of the rows
 * (PostgreSQL 15 docs "COPY", "Binary Format": each row a field count,
 * each field a length and its bytes, integers and reals big-endian; the
 * server parses nothing, which makes the load as fast as psql's \copy of
 * the CSV, tests/bench/pg_load. The reader thread types each row straight
 * into that format in its batch (load_file.c), so a batch goes out in one
 * PQputCopyData as it is, without another pass or copy here. A table made before with other column
 * types than the load's (bigint, double precision, text) gets the text format: tab-separated, \N
 * for NULL, backslash escapes), then the rejected rows by a second COPY (text), then the checkpoint
 * row of `_dagd_load_files`, COMMIT. A failure anywhere ends the COPY with an error and rolls back:
 * nothing of the file is written and its checkpoint does not advance (a dropped connection rolls
 * back on the server by itself).
 *
 * Upsert: COPY cannot resolve conflicts, so the rows go to a temporary
 * staging table (dropped at COMMIT) that numbers them in file order, and
 * one INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT DO UPDATE merges
 * them. DISTINCT ON keeps the row SQLite's row-by-row upsert ends with:
 * without `newest`, the last row of a key; with it, the greatest newest
 * value (ties: the later row; only NULLs: the first, which nothing
 * replaces), and the ON CONFLICT's WHERE is the same as on SQLite. Text
 * values of `newest` compare bytewise (COLLATE "C"), as in SQLite. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load_internal.h"
#include "pq.h"
#include "wh.h"

#define PG(l) ((PGconn *)(l)->wh->pg)

/* ---- COPY text ---------------------------------------------------------- */

static void buf_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) {
        return;
    }
    size_t ncap = *cap ? *cap : 64 * 1024;
    while (ncap < need) {
        ncap *= 2;
    }
    char *nb = realloc(*buf, ncap);
    if (!nb) {
        abort(); /* tasks/common's rule: out of memory ends the attempt */
    }
    *buf = nb;
    *cap = ncap;
}

/* Appends text escaped for COPY's text format: backslash, tab, newline and
 * carriage return get a backslash. Worst case doubles the length. */
static size_t put_text(char *dst, const char *s, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            dst[k++] = '\\';
            dst[k++] = '\\';
            break;
        case '\t':
            dst[k++] = '\\';
            dst[k++] = 't';
            break;
        case '\n':
            dst[k++] = '\\';
            dst[k++] = 'n';
            break;
        case '\r':
            dst[k++] = '\\';
            dst[k++] = 'r';
            break;
        default:
            dst[k++] = c;
        }
    }
    return k;
}

/* One row of cells as a COPY text line at *len. */
static void put_row(struct dagd_load *l, const struct batch *b, const struct cell *c, char **buf,
                    size_t *len, size_t *cap)
{
    for (size_t i = 0; i < l->n_out; i++) {
        size_t need = c[i].kind == CELL_TEXT ? c[i].len * 2 + 2 : 40;
        buf_reserve(buf, cap, *len + need);
        char *p = *buf + *len;
        switch (c[i].kind) {
        case CELL_NULL:
            memcpy(p, "\\N", 2);
            *len += 2;
            break;
        case CELL_INT:
            *len += (size_t)snprintf(p, 40, "%" PRId64, c[i].i);
            break;
        case CELL_REAL:
            *len += (size_t)snprintf(p, 40, "%.17g", c[i].d);
            break;
        case CELL_TEXT:
            *len += put_text(p, b->arena + c[i].off, c[i].len);
            break;
        }
        (*buf)[(*len)++] = i + 1 < l->n_out ? '\t' : '\n';
    }
}

/* COPY's binary format: the header (signature, flags, no extension) and
 * the trailer (a field count of -1). */
static const char binary_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const char binary_trailer[2] = {'\377', '\377'};

/* A rejected row as a COPY line of the rejects table: table_name, _file,
 * _row, column_name, value, reason, _loaded_at. */
static void put_reject(struct dagd_load *l, const struct batch *b, const struct rejrec *x)
{
    const char *fields[] = {l->table, l->name, NULL, x->column, NULL, x->reason};
    char num[32];

    buf_reserve(&l->pg_rej, &l->pg_rej_cap,
                l->pg_rej_len +
                    2 * (strlen(l->table) + strlen(l->name) + strlen(x->column) +
                         strlen(x->reason) + x->len) +
                    96);
    char *p = l->pg_rej;
    size_t *n = &l->pg_rej_len;
    for (size_t i = 0; i < 6; i++) {
        if (i == 2) {
            *n += (size_t)snprintf(p + *n, sizeof(num), "%" PRIu64, x->row);
        } else if (i == 4) {
            if (x->has_value) {
                *n += put_text(p + *n, b->rarena + x->off, x->len);
            } else {
                memcpy(p + *n, "\\N", 2);
                *n += 2;
            }
        } else {
            *n += put_text(p + *n, fields[i], strlen(fields[i]));
        }
        p[(*n)++] = '\t';
    }
    *n += (size_t)snprintf(p + *n, sizeof(num), "%" PRId64 "\n", l->loaded_at);
}

/* ---- the statements ------------------------------------------------------ */

static char *column_list(const struct dagd_load *l, char *s)
{
    for (size_t i = 0; i < l->n_out; i++) {
        s = dagd_wh_append(s, i ? ", " : "");
        s = dagd_wh_append_ident(s, dagd__load_out_name(l, i));
    }
    return s;
}

static bool is_text(const struct dagd_load *l, const char *name)
{
    for (size_t i = 0; i < l->n_cols; i++) {
        if (strcmp(l->cols[i].name, name) == 0) {
            return l->cols[i].type != DAGD_LOAD_INTEGER && l->cols[i].type != DAGD_LOAD_MONEY &&
                   l->cols[i].type != DAGD_LOAD_REAL;
        }
    }
    return false;
}

static char *key_list(const struct dagd_load_spec *spec, char *s)
{
    for (size_t k = 0; k < spec->n_key; k++) {
        s = dagd_wh_append(s, k ? ", " : "");
        s = dagd_wh_append_ident(s, spec->key[k]);
    }
    return s;
}

/* "newest" [COLLATE "C"] of alias (NULL: none). */
static char *newest_expr(const struct dagd_load *l, char *s, const char *alias)
{
    if (alias) {
        s = dagd_wh_append_ident(s, alias);
        s = dagd_wh_append(s, ".");
    }
    s = dagd_wh_append_ident(s, l->newest);
    return is_text(l, l->newest) ? dagd_wh_append(s, " COLLATE \"C\"") : s;
}

static bool is_key_col(const struct dagd_load_spec *spec, const char *name)
{
    for (size_t k = 0; k < spec->n_key; k++) {
        if (strcmp(spec->key[k], name) == 0) {
            return true;
        }
    }
    return false;
}

static char *merge_sql(const struct dagd_load *l, const struct dagd_load_spec *spec)
{
    char *s = dagd_wh_append(NULL, "INSERT INTO ");
    bool first = true;

    s = dagd_wh_append_ident(s, l->table);
    s = column_list(l, dagd_wh_append(s, " ("));
    s = column_list(l, dagd_wh_append(s, ") SELECT "));
    s = key_list(spec, dagd_wh_append(s, " FROM (SELECT DISTINCT ON ("));
    s = key_list(spec, dagd_wh_append(s, ") * FROM \"_dagd_stage\" ORDER BY "));
    if (l->newest) {
        s = newest_expr(l, dagd_wh_append(s, ", "), NULL);
        s = dagd_wh_append(s, " DESC NULLS LAST, CASE WHEN ");
        s = dagd_wh_append_ident(s, l->newest);
        s = dagd_wh_append(s, " IS NULL THEN _dagd_seq ELSE -_dagd_seq END");
    } else {
        s = dagd_wh_append(s, ", _dagd_seq DESC");
    }
    s = key_list(spec, dagd_wh_append(s, ") AS s ON CONFLICT ("));
    s = dagd_wh_append(s, ") DO UPDATE SET ");
    for (size_t i = 0; i < l->n_out; i++) {
        const char *n = dagd__load_out_name(l, i);
        if (!is_key_col(spec, n)) {
            s = dagd_wh_append_ident(dagd_wh_append(s, first ? "" : ", "), n);
            s = dagd_wh_append_ident(dagd_wh_append(s, " = excluded."), n);
            first = false;
        }
    }
    if (first) { /* every column is a key column */
        s = dagd_wh_append_ident(s, spec->key[0]);
        s = dagd_wh_append_ident(dagd_wh_append(s, " = excluded."), spec->key[0]);
    }
    if (l->newest) {
        /* as on SQLite: a NULL never replaces a value; equal values: the later row */
        s = newest_expr(l, dagd_wh_append(s, " WHERE "), "excluded");
        s = dagd_wh_append(s, " IS NOT NULL AND (");
        s = newest_expr(l, s, l->table);
        s = newest_expr(l, dagd_wh_append(s, " IS NULL OR "), "excluded");
        s = newest_expr(l, dagd_wh_append(s, " >= "), l->table);
        s = dagd_wh_append(s, ")");
    }
    return s;
}

/* The type each output column must have for the binary format: what the
 * cells are (load_file.c types every value by its column). */
static const char *binary_type(const struct dagd_load *l, size_t i)
{
    if (i >= l->n_cols) {
        return strcmp(dagd__load_out_name(l, i), "_file") == 0 ? "text" : "bigint";
    }
    switch (l->cols[i].type) {
    case DAGD_LOAD_INTEGER:
    case DAGD_LOAD_MONEY:
        return "bigint";
    case DAGD_LOAD_REAL:
        return "double precision";
    default:
        return "text";
    }
}

struct typecheck {
    const struct dagd_load *l;
    size_t matched;
    bool other;
};

static int type_row(void *userdata, size_t n, const char *const *names, const char *const *values,
                    const char *kinds)
{
    struct typecheck *t = userdata;

    for (size_t i = 0; i < t->l->n_out; i++) {
        if (values[0] && strcmp(values[0], dagd__load_out_name(t->l, i)) == 0) {
            if (values[1] && strcmp(values[1], binary_type(t->l, i)) == 0) {
                t->matched++;
            } else {
                t->other = true;
            }
        }
    }
    return 0;
}

/* True when every output column of the table has the type of its cells. */
static bool binary_fits(struct dagd_load *l)
{
    const char *params[] = {l->table};
    struct typecheck t = {.l = l};

    if (dagd_wh_query(l->wh,
                      "SELECT a.attname::text, format_type(a.atttypid, NULL) FROM "
                      "pg_catalog.pg_attribute a WHERE a.attrelid = to_regclass(quote_ident($1)) "
                      "AND a.attnum > 0 AND NOT a.attisdropped",
                      1, params, type_row, &t) < 0) {
        return false;
    }
    return !t.other && t.matched == l->n_out;
}

/* CREATE TABLE IF NOT EXISTS is not safe against itself on PostgreSQL: two
 * load steps creating `rejects` at once, one fails on pg_type's unique
 * index. The steps' DDL takes turns under a transaction-scoped advisory
 * lock (released at COMMIT or by a dropped connection). */
#define DDL_LOCK "SELECT pg_advisory_xact_lock(hashtext('dagd load: create tables'))"

static int create_locked(struct dagd_load *l, const struct dagd_load_spec *spec)
{
    int r;

    if (dagd_wh_exec(l->wh, "BEGIN") < 0 || dagd_wh_exec(l->wh, DDL_LOCK) < 0) {
        r = dagd__load_fail(l, -EIO, "%s: %s", l->wh->label, l->wh->err);
    } else if ((r = dagd__load_create_tables(l, spec)) >= 0 && dagd_wh_exec(l->wh, "COMMIT") < 0) {
        r = dagd__load_fail(l, -EIO, "%s: %s", l->wh->label, l->wh->err);
    }
    if (r < 0) {
        (void)dagd_wh_exec(l->wh, "ROLLBACK");
    }
    return r;
}

int dagd__load_pg_create(struct dagd_load *l, const struct dagd_load_spec *spec)
{
    const char *target = l->mode == DAGD_LOAD_UPSERT ? "_dagd_stage" : l->table;
    int r = create_locked(l, spec);

    if (r < 0) {
        return r;
    }
    l->pg_binary = binary_fits(l);
    l->pg_copy_sql = dagd_wh_append_ident(dagd_wh_append(NULL, "COPY "), target);
    l->pg_copy_sql = column_list(l, dagd_wh_append(l->pg_copy_sql, " ("));
    l->pg_copy_sql = dagd_wh_append(l->pg_copy_sql,
                                    l->pg_binary ? ") FROM STDIN (FORMAT binary)" : ") FROM STDIN");
    if (l->mode == DAGD_LOAD_UPSERT) {
        /* file order in _dagd_seq; gone at COMMIT or ROLLBACK */
        l->pg_stage_sql = dagd_wh_append(NULL, "CREATE TEMP TABLE \"_dagd_stage\" (LIKE ");
        l->pg_stage_sql = dagd_wh_append_ident(l->pg_stage_sql, l->table);
        l->pg_stage_sql = dagd_wh_append(
            l->pg_stage_sql, ", _dagd_seq BIGINT GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP");
        l->pg_merge_sql = merge_sql(l, spec);
    }
    if (l->rejects) {
        l->pg_rej_sql = dagd_wh_append_ident(dagd_wh_append(NULL, "COPY "), l->rejects);
        l->pg_rej_sql =
            dagd_wh_append(l->pg_rej_sql, " (table_name, _file, _row, column_name, value, reason, "
                                          "_loaded_at) FROM STDIN");
    }
    return 0;
}

void dagd__load_pg_done(struct dagd_load *l)
{
    free(l->pg_rej);
    free(l->pg_buf);
    free(l->pg_copy_sql);
    free(l->pg_stage_sql);
    free(l->pg_merge_sql);
    free(l->pg_rej_sql);
}

/* ---- one file ------------------------------------------------------------ */

static int found_row(void *userdata, size_t n, const char *const *names, const char *const *values,
                     const char *kinds)
{
    struct dagd_load *l = userdata;

    free(l->prev_file);
    l->prev_file = strdup(values[0] ? values[0] : "");
    return 1;
}

int dagd__load_pg_find_checkpoint(struct dagd_load *l, const char *hash, bool *ret_found)
{
    const char *params[] = {l->table, hash};
    int r = dagd_wh_query(l->wh,
                          "SELECT file FROM _dagd_load_files WHERE table_name = $1 AND "
                          "content_hash = $2",
                          2, params, found_row, l);

    if (r < 0) {
        return dagd__load_fail(l, r, "%s: reading _dagd_load_files: %s", l->wh->label, l->wh->err);
    }
    *ret_found = r > 0;
    return 0;
}

static int seen_row(void *userdata, size_t n, const char *const *names, const char *const *values,
                    const char *kinds)
{
    *(bool *)userdata = true;
    return 0;
}

int dagd__load_pg_size_seen(struct dagd_load *l, uint64_t size, bool *ret_seen)
{
    char sz[24];
    const char *params[] = {l->table, sz};
    bool seen = false;

    (void)snprintf(sz, sizeof(sz), "%" PRIu64, size);
    if (dagd_wh_query(l->wh, CK_SIZE_SQL("$1", "$2"), 2, params, seen_row, &seen) < 0) {
        return dagd__load_fail(l, -EIO, "%s: reading _dagd_load_files: %s", l->wh->label,
                               l->wh->err);
    }
    *ret_seen = seen;
    return 0;
}

/* Starts a COPY (sql) and checks the server went into COPY IN. */
static int copy_start(struct dagd_load *l, const char *sql)
{
    PGresult *res = PQexec(PG(l), sql);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;

    if (!ok) {
        (void)dagd__load_fail(l, -EIO, "%s: %s", l->wh->label,
                              res ? PQresultErrorMessage(res) : PQerrorMessage(PG(l)));
    }
    PQclear(res);
    l->pg_in_copy = ok;
    return ok ? 0 : -EIO;
}

/* Ends the open COPY (errmsg: abort it) and reads its result. */
static int copy_end(struct dagd_load *l, const char *errmsg)
{
    PGresult *res;
    int r = 0;

    l->pg_in_copy = false;
    if (PQputCopyEnd(PG(l), errmsg) != 1) {
        return dagd__load_fail(l, -EIO, "%s: %s", l->wh->label, PQerrorMessage(PG(l)));
    }
    while ((res = PQgetResult(PG(l)))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0 && !errmsg) {
            r = dagd__load_fail(l, -EIO, "%s: %s", l->wh->label, PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    return r;
}

int dagd__load_pg_begin(struct dagd_load *l)
{
    l->pg_rej_len = 0;
    if (l->pg_stage_sql && dagd_wh_exec(l->wh, l->pg_stage_sql) < 0) {
        return dagd__load_fail(l, -EIO, "%s: creating the staging table: %s", l->wh->label,
                               l->wh->err);
    }
    int r = copy_start(l, l->pg_copy_sql);
    if (r == 0 && l->pg_binary &&
        PQputCopyData(PG(l), binary_header, (int)sizeof(binary_header)) != 1) {
        return dagd__load_fail(l, -EIO, "%s: %s", l->wh->label,
                               dagd_wh_pg_error(l->wh, PQerrorMessage(PG(l))));
    }
    return r;
}

/* Writer thread: one batch into the open COPY; its rejects kept for later
 * (no other statement may run while the COPY is open). */
int dagd__load_pg_write_batch(struct dagd_load *l, const struct batch *b)
{
    const char *data = b->arena; /* binary: the reader wrote the rows there */
    size_t len = b->alen;

    if (!l->pg_binary) {
        len = 0;
        for (size_t row = 0; row < b->rows; row++) {
            put_row(l, b, b->cells + row * l->n_out, &l->pg_buf, &len, &l->pg_buf_cap);
        }
        data = l->pg_buf;
    }
    if (b->rows > 0 && PQputCopyData(PG(l), data, (int)len) != 1) {
        return dagd__load_wfail(l, -EIO, "%s: %s", l->wh->label, PQerrorMessage(PG(l)));
    }
    for (size_t k = 0; k < b->nrej; k++) {
        put_reject(l, b, &b->rej[k]);
    }
    l->written += b->rows;
    return 0;
}

static int put_checkpoint(struct dagd_load *l, const struct dagd_load_result *res)
{
    char size[24], rows[24], rej[24], at[24];
    (void)snprintf(size, sizeof(size), "%" PRIu64, res->size);
    (void)snprintf(rows, sizeof(rows), "%" PRIu64, l->rows);
    (void)snprintf(rej, sizeof(rej), "%" PRIu64, l->rejected);
    (void)snprintf(at, sizeof(at), "%" PRId64, l->loaded_at);
    const char *params[] = {l->table, res->hash, l->name, size, rows, rej, at};

    if (dagd_wh_query(l->wh,
                      "INSERT INTO _dagd_load_files (table_name, content_hash, file, size, rows, "
                      "rejected, loaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      7, params, NULL, NULL) < 0) {
        return dagd__load_fail(l, -EIO, "%s: writing _dagd_load_files: %s", l->wh->label,
                               l->wh->err);
    }
    return 0;
}

int dagd__load_pg_finish(struct dagd_load *l, const struct dagd_load_result *res)
{
    int r;

    if (l->pg_binary && PQputCopyData(PG(l), binary_trailer, (int)sizeof(binary_trailer)) != 1) {
        return dagd__load_fail(l, -EIO, "%s: %s", l->wh->label,
                               dagd_wh_pg_error(l->wh, PQerrorMessage(PG(l))));
    }
    r = copy_end(l, NULL);

    if (r < 0) {
        return r;
    }
    if (l->pg_merge_sql && dagd_wh_exec(l->wh, l->pg_merge_sql) < 0) {
        return dagd__load_fail(l, -EIO, "%s: upserting into '%s': %s", l->wh->label, l->table,
                               l->wh->err);
    }
    if (l->pg_rej_len > 0) {
        if ((r = copy_start(l, l->pg_rej_sql)) < 0) {
            return r;
        }
        if (PQputCopyData(PG(l), l->pg_rej, (int)l->pg_rej_len) != 1) {
            return dagd__load_fail(l, -EIO, "%s: %s", l->wh->label, PQerrorMessage(PG(l)));
        }
        if ((r = copy_end(l, NULL)) < 0) {
            return r;
        }
    }
    return put_checkpoint(l, res);
}

void dagd__load_pg_abort(struct dagd_load *l)
{
    if (l->pg_in_copy) {
        (void)copy_end(l, "the load of this file failed");
    }
    /* fails on a lost connection: the server rolls back by itself */
    PQclear(PQexec(PG(l), "ROLLBACK"));
}
