/* The load task's core (load_file.h): reader callbacks -> typed cells ->
 * batched INSERTs, one transaction per file.
 *
 * Two threads per file: a reader thread runs the reader, checks UTF-8 and
 * types every value into batches of rows (cells plus the bytes of their
 * text); the calling thread, the only one that touches SQLite and the host
 * hooks, binds and inserts them. The batches go round a fixed ring (4 of
 * 1,024 rows), so memory stays flat and parsing overlaps SQLite on two
 * cores. An error on either side stops both; the transaction is the calling
 * thread's, so it is rolled back there. */
#include "load_file.h"
#include "load_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv_reader.h"
#include "json_reader.h"
#include "task_hash.h"
#include "utf8_check.h"
#include "values.h"
#include "wh.h"
#include "xlsx_reader.h"

static const char *const type_names[] = {"text", "integer", "real", "money", "date", "timestamp"};
static const char *const mode_names[] = {"append", "replace", "upsert"};
static const char *const format_names[] = {"csv", "json", "ndjson", "xlsx"};

static int from_string(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++) {
        if (strcmp(names[i], s) == 0) {
            return i;
        }
    }
    return -EINVAL;
}

int dagd_load_type_from_string(const char *s)
{
    return from_string(type_names, _DAGD_LOAD_TYPE_MAX, s);
}

const char *dagd_load_type_to_string(enum dagd_load_type t)
{
    return (unsigned)t < _DAGD_LOAD_TYPE_MAX ? type_names[t] : "?";
}

int dagd_load_mode_from_string(const char *s)
{
    return from_string(mode_names, _DAGD_LOAD_MODE_MAX, s);
}

int dagd_load_format_from_string(const char *s)
{
    return from_string(format_names, _DAGD_LOAD_FORMAT_MAX, s);
}

static int fail(struct dagd_load *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct dagd_load *l, int code, const char *fmt, ...)
{
    va_list ap;

    char buf[sizeof(l->err)];

    /* formatted apart: the arguments may be l->err itself ("...: %s", l->err) */
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    memcpy(l->err, buf, sizeof(buf));
    return code;
}

int dagd__load_fail(struct dagd_load *l, int code, const char *fmt, ...)
{
    va_list ap;

    char buf[sizeof(l->err)];

    /* formatted apart: the arguments may be l->err itself ("...: %s", l->err) */
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    memcpy(l->err, buf, sizeof(buf));
    return code;
}

static int sql_fail(struct dagd_load *l, const char *what)
{
    return fail(l, -EIO, "%s: %s", what, sqlite3_errmsg(l->db));
}

/* SQL identifier quoting: "a""b". Appends to buf; returns 0 or -E2BIG. */
static int put_ident(char **buf, size_t *len, size_t *cap, const char *id)
{
    size_t need = *len + 2 * strlen(id) + 3;

    if (need > *cap) {
        size_t ncap = *cap ? *cap : 256;
        char *nb;
        while (ncap < need) {
            ncap *= 2;
        }
        nb = realloc(*buf, ncap);
        if (!nb) {
            return -ENOMEM;
        }
        *buf = nb;
        *cap = ncap;
    }
    (*buf)[(*len)++] = '"';
    for (const char *p = id; *p; p++) {
        if (*p == '"') {
            (*buf)[(*len)++] = '"';
        }
        (*buf)[(*len)++] = *p;
    }
    (*buf)[(*len)++] = '"';
    (*buf)[*len] = '\0';
    return 0;
}

static int put_str(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);

    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 256;
        char *nb;
        while (ncap < *len + n + 1) {
            ncap *= 2;
        }
        nb = realloc(*buf, ncap);
        if (!nb) {
            return -ENOMEM;
        }
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return 0;
}

struct sb {
    char *s;
    size_t len, cap;
    int r;
};

static void sb_str(struct sb *b, const char *s)
{
    if (b->r == 0) {
        b->r = put_str(&b->s, &b->len, &b->cap, s);
    }
}

static void sb_id(struct sb *b, const char *s)
{
    if (b->r == 0) {
        b->r = put_ident(&b->s, &b->len, &b->cap, s);
    }
}

/* The column type of a declared type, in the warehouse's engine (wh.h). */
static const char *sql_type(const struct dagd_load *l, enum dagd_load_type t)
{
    enum dagd_wh_type w;

    switch (t) {
    case DAGD_LOAD_INTEGER:
    case DAGD_LOAD_MONEY:
        w = DAGD_WH_INTEGER;
        break;
    case DAGD_LOAD_REAL:
        w = DAGD_WH_REAL;
        break;
    default:
        w = DAGD_WH_TEXT;
        break;
    }
    if (l->wh) {
        return dagd_wh_type_name(l->wh, w);
    }
    return w == DAGD_WH_INTEGER ? "INTEGER" : w == DAGD_WH_REAL ? "REAL" : "TEXT";
}

/* Output column names in bind order: the declared columns, then metadata. */
static const char *out_name(const struct dagd_load *l, size_t i)
{
    return dagd__load_out_name(l, i);
}

const char *dagd__load_out_name(const struct dagd_load *l, size_t i)
{
    if (i < l->n_cols) {
        return l->cols[i].name;
    }
    i -= l->n_cols;
    if (l->meta_file && i-- == 0) {
        return "_file";
    }
    if (l->meta_row && i-- == 0) {
        return "_row";
    }
    return "_loaded_at";
}

static bool is_key(const struct dagd_load_spec *spec, const char *name)
{
    for (size_t k = 0; k < spec->n_key; k++) {
        if (strcmp(spec->key[k], name) == 0) {
            return true;
        }
    }
    return false;
}

static int create_tables(struct dagd_load *l, const struct dagd_load_spec *spec)
{
    return dagd__load_create_tables(l, spec);
}

static int exec(struct dagd_load *l, const char *sql)
{
    char *msg = NULL;

    if (l->wh) {
        return dagd_wh_exec(l->wh, sql) < 0 ? fail(l, -EIO, "%s", l->wh->err) : 0;
    }
    if (sqlite3_exec(l->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        (void)fail(l, -EIO, "%s", msg ? msg : sqlite3_errmsg(l->db));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

int dagd__load_create_tables(struct dagd_load *l, const struct dagd_load_spec *spec)
{
    struct sb b = {0};
    int r;

    sb_str(&b, "CREATE TABLE IF NOT EXISTS ");
    sb_id(&b, l->table);
    sb_str(&b, " (");
    for (size_t i = 0; i < l->n_out; i++) {
        if (i > 0) {
            sb_str(&b, ", ");
        }
        sb_id(&b, out_name(l, i));
        sb_str(&b, " ");
        sb_str(&b, i < l->n_cols                          ? sql_type(l, l->cols[i].type)
                   : strcmp(out_name(l, i), "_file") == 0 ? sql_type(l, DAGD_LOAD_TEXT)
                                                          : sql_type(l, DAGD_LOAD_INTEGER));
    }
    if (spec->mode == DAGD_LOAD_UPSERT) {
        sb_str(&b, ", PRIMARY KEY (");
        for (size_t k = 0; k < spec->n_key; k++) {
            if (k > 0) {
                sb_str(&b, ", ");
            }
            sb_id(&b, spec->key[k]);
        }
        sb_str(&b, ")");
    }
    sb_str(&b, ")");
    if (b.r < 0) {
        free(b.s);
        return fail(l, -ENOMEM, "out of memory");
    }
    r = exec(l, b.s);
    free(b.s);
    if (r < 0) {
        return fail(l, r, "creating table '%s': %s", l->table, l->err);
    }
    if (l->rejects) {
        b = (struct sb){0};
        sb_str(&b, "CREATE TABLE IF NOT EXISTS ");
        sb_id(&b, l->rejects);
        sb_str(&b, " (table_name TEXT, _file TEXT, _row ");
        sb_str(&b, sql_type(l, DAGD_LOAD_INTEGER));
        sb_str(&b, ", column_name TEXT, value TEXT, reason TEXT, _loaded_at ");
        sb_str(&b, sql_type(l, DAGD_LOAD_INTEGER));
        sb_str(&b, ")");
        if (b.r < 0) {
            free(b.s);
            return fail(l, -ENOMEM, "out of memory");
        }
        r = exec(l, b.s);
        free(b.s);
        if (r < 0) {
            return fail(l, r, "creating table '%s': %s", l->rejects, l->err);
        }
    }
    /* the content checkpoints: in the warehouse, so they commit with the rows */
    return exec(l, l->wh ? "CREATE TABLE IF NOT EXISTS _dagd_load_files (table_name TEXT NOT NULL, "
                           "content_hash TEXT NOT NULL, file TEXT NOT NULL, size BIGINT, rows "
                           "BIGINT, rejected BIGINT, loaded_at BIGINT, PRIMARY KEY (table_name, "
                           "content_hash))"
                         : "CREATE TABLE IF NOT EXISTS _dagd_load_files (table_name TEXT NOT NULL, "
                           "content_hash TEXT NOT NULL, file TEXT NOT NULL, size INTEGER, rows "
                           "INTEGER, rejected INTEGER, loaded_at INTEGER, PRIMARY KEY (table_name, "
                           "content_hash))");
}

/* The INSERT of a batch's rows (SELECT * FROM the rows table, in delivery
 * order): plain, or an upsert that leaves the key columns alone and, with
 * `newest`, only replaces a row that is not newer. */
static int prepare_insert(struct dagd_load *l, const struct dagd_load_spec *spec,
                          sqlite3_stmt **ret)
{
    struct sb b = {0};
    int rc;

    sb_str(&b, "INSERT INTO ");
    sb_id(&b, l->table);
    sb_str(&b, " (");
    for (size_t i = 0; i < l->n_out; i++) {
        if (i > 0) {
            sb_str(&b, ", ");
        }
        sb_id(&b, out_name(l, i));
    }
    /* WHERE true: an upsert's ON CONFLICT must not read as a join's ON */
    sb_str(&b, ") SELECT * FROM ");
    sb_id(&b, l->rows_vt.name);
    sb_str(&b, " WHERE true");
    if (spec->mode == DAGD_LOAD_UPSERT) {
        bool first = true;
        sb_str(&b, " ON CONFLICT (");
        for (size_t k = 0; k < spec->n_key; k++) {
            if (k > 0) {
                sb_str(&b, ", ");
            }
            sb_id(&b, spec->key[k]);
        }
        sb_str(&b, ") DO UPDATE SET ");
        for (size_t i = 0; i < l->n_out; i++) {
            const char *n = out_name(l, i);
            if (is_key(spec, n)) {
                continue;
            }
            if (!first) {
                sb_str(&b, ", ");
            }
            first = false;
            sb_id(&b, n);
            sb_str(&b, " = excluded.");
            sb_id(&b, n);
        }
        if (first) {
            /* every column is a key column: nothing to update */
            sb_id(&b, spec->key[0]);
            sb_str(&b, " = excluded.");
            sb_id(&b, spec->key[0]);
        }
        if (l->newest) {
            /* A NULL never replaces a value; equal values: the later row wins. */
            sb_str(&b, " WHERE excluded.");
            sb_id(&b, l->newest);
            sb_str(&b, " IS NOT NULL AND (");
            sb_id(&b, l->table);
            sb_str(&b, ".");
            sb_id(&b, l->newest);
            sb_str(&b, " IS NULL OR excluded.");
            sb_id(&b, l->newest);
            sb_str(&b, " >= ");
            sb_id(&b, l->table);
            sb_str(&b, ".");
            sb_id(&b, l->newest);
            sb_str(&b, ")");
        }
    }
    if (b.r < 0) {
        free(b.s);
        return fail(l, -ENOMEM, "out of memory");
    }
    rc = sqlite3_prepare_v3(l->db, b.s, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
    free(b.s);
    if (rc != SQLITE_OK) {
        return fail(l, -EIO,
                    "preparing the INSERT into '%s': %s (does the table have other "
                    "columns than the load declares?)",
                    l->table, sqlite3_errmsg(l->db));
    }
    return 0;
}

static int prepare(struct dagd_load *l, const char *sql, sqlite3_stmt **ret)
{
    if (sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK) {
        return sql_fail(l, "preparing a statement");
    }
    return 0;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int check_spec(const struct dagd_load_spec *spec, char *err, size_t errlen)
{
    if (!spec->table || !spec->table[0]) {
        (void)snprintf(err, errlen, "no table");
        return -EINVAL;
    }
    if (spec->n_columns == 0) {
        (void)snprintf(err, errlen, "no columns");
        return -EINVAL;
    }
    for (size_t i = 0; i < spec->n_columns; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(spec->columns[i].name, spec->columns[j].name) == 0) {
                (void)snprintf(err, errlen, "column '%s' is declared twice", spec->columns[i].name);
                return -EINVAL;
            }
        }
        if (spec->columns[i].name[0] == '_' && (strcmp(spec->columns[i].name, "_file") == 0 ||
                                                strcmp(spec->columns[i].name, "_row") == 0 ||
                                                strcmp(spec->columns[i].name, "_loaded_at") == 0)) {
            (void)snprintf(err, errlen, "column '%s' is a metadata column (use metadata:)",
                           spec->columns[i].name);
            return -EINVAL;
        }
    }
    if (spec->mode == DAGD_LOAD_UPSERT && spec->n_key == 0) {
        (void)snprintf(err, errlen, "mode upsert needs a key");
        return -EINVAL;
    }
    if (spec->mode != DAGD_LOAD_UPSERT && (spec->n_key > 0 || spec->newest)) {
        (void)snprintf(err, errlen, "key and newest are for mode upsert");
        return -EINVAL;
    }
    for (size_t k = 0; k < spec->n_key + (spec->newest ? 1 : 0); k++) {
        const char *n = k < spec->n_key ? spec->key[k] : spec->newest;
        bool found = false;
        for (size_t i = 0; i < spec->n_columns && !found; i++) {
            found = strcmp(spec->columns[i].name, n) == 0;
        }
        if (!found) {
            (void)snprintf(err, errlen, "%s column '%s' is not a declared column",
                           k < spec->n_key ? "key" : "newest", n);
            return -EINVAL;
        }
    }
    return 0;
}

/* SQLite: the statements prepared once and reused for every file. */
static int prepare_sqlite(struct dagd_load *l, const struct dagd_load_spec *spec)
{
    int r;

    l->rows_vt.n_out = l->n_out;
    if (dagd__load_rows_register(l->db, &l->rows_vt) < 0) {
        return sql_fail(l, "registering the rows table");
    }
    if ((r = prepare_insert(l, spec, &l->ins_batch)) < 0 ||
        (r = prepare(l,
                     "SELECT file FROM _dagd_load_files WHERE table_name = ?1 AND "
                     "content_hash = ?2",
                     &l->ck_find)) < 0 ||
        (r = prepare(l,
                     "INSERT INTO _dagd_load_files (table_name, content_hash, file, size, rows, "
                     "rejected, loaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     &l->ck_put)) < 0 ||
        (r = prepare(l, CK_SIZE_SQL("?1", "?2"), &l->ck_size)) < 0) {
        return r;
    }
    if (l->rejects) {
        struct sb b = {0};
        sb_str(&b, "INSERT INTO ");
        sb_id(&b, l->rejects);
        sb_str(&b, " (table_name, _file, _row, column_name, value, reason, _loaded_at) VALUES "
                   "(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        r = b.r < 0 ? -ENOMEM : prepare(l, b.s, &l->rej);
        free(b.s);
    }
    return r;
}

int dagd_load_new(struct sqlite3 *db, const struct dagd_load_spec *spec,
                  const struct dagd_load_hooks *hooks, struct dagd_load **ret, char *err,
                  size_t errlen)
{
    struct dagd_wh wh = {.engine = DAGD_WH_SQLITE, .db = db};

    return dagd_load_new_wh(&wh, spec, hooks, ret, err, errlen);
}

int dagd_load_new_wh(struct dagd_wh *wh, const struct dagd_load_spec *spec,
                     const struct dagd_load_hooks *hooks, struct dagd_load **ret, char *err,
                     size_t errlen)
{
    struct dagd_load *l;
    int r = check_spec(spec, err, errlen);

    if (r < 0) {
        return r;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        return -ENOMEM;
    }
    l->db = wh->db;
    l->wh = wh->engine == DAGD_WH_POSTGRESQL ? wh : NULL;
    if (hooks) {
        l->hooks = *hooks;
    }
    l->format = spec->format;
    l->delimiter = spec->delimiter ? spec->delimiter : ',';
    l->sheet = xstrdup(spec->sheet);
    l->table = xstrdup(spec->table);
    l->rejects = xstrdup(spec->rejects);
    l->newest = xstrdup(spec->newest);
    l->mode = spec->mode;
    l->meta_file = spec->meta_file;
    l->meta_row = spec->meta_row;
    l->meta_loaded_at = spec->meta_loaded_at;
    l->max_rejects = spec->max_rejects;
    l->n_cols = spec->n_columns;
    l->cols = calloc(l->n_cols, sizeof(*l->cols));
    l->src_idx = calloc(l->n_cols, sizeof(*l->src_idx));
    l->json_keys = calloc(l->n_cols, sizeof(*l->json_keys));
    l->vals = calloc(l->n_cols, sizeof(*l->vals));
    if (!l->table || !l->cols || !l->src_idx || !l->json_keys || !l->vals) {
        r = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < l->n_cols; i++) {
        l->cols[i] = spec->columns[i];
        l->cols[i].name = strdup(spec->columns[i].name);
        l->cols[i].from =
            strdup(spec->columns[i].from ? spec->columns[i].from : spec->columns[i].name);
        if (!l->cols[i].name || !l->cols[i].from) {
            r = -ENOMEM;
            goto fail;
        }
        /* key columns are required: a row without its key cannot be kept */
        if (is_key(spec, l->cols[i].name)) {
            l->cols[i].required = true;
        }
        l->json_keys[i] = l->cols[i].from;
    }
    l->n_out = l->n_cols + l->meta_file + l->meta_row + l->meta_loaded_at;
    for (size_t b = 0; b < QUEUE_DEPTH; b++) {
        l->batches[b].cells = calloc(QUEUE_ROWS * l->n_out, sizeof(*l->batches[b].cells));
        if (!l->batches[b].cells) {
            r = -ENOMEM;
            goto fail;
        }
    }
    (void)pthread_mutex_init(&l->mu, NULL);
    (void)pthread_cond_init(&l->cv, NULL);
    if (l->wh) {
        r = dagd__load_pg_create(l, spec);
    } else if ((r = create_tables(l, spec)) >= 0) {
        r = prepare_sqlite(l, spec);
    }
    if (r < 0) {
        goto fail_msg;
    }
    *ret = l;
    return 0;
fail_msg:
    (void)snprintf(err, errlen, "%s", l->err);
    (void)dagd_load_free(l);
    return r;
fail:
    (void)snprintf(err, errlen, "out of memory");
    (void)dagd_load_free(l);
    return r;
}

struct dagd_load *dagd_load_free(struct dagd_load *l)
{
    if (!l) {
        return NULL;
    }
    sqlite3_finalize(l->ins_batch);
    sqlite3_finalize(l->rej);
    sqlite3_finalize(l->ck_find);
    sqlite3_finalize(l->ck_put);
    sqlite3_finalize(l->ck_size);
    dagd__load_rows_unregister(&l->rows_vt); /* after the statement that reads it */
    dagd__load_pg_done(l);
    for (size_t i = 0; l->cols && i < l->n_cols; i++) {
        free(l->cols[i].name);
        free(l->cols[i].from);
    }
    free(l->cols);
    free(l->src_idx);
    free(l->json_keys);
    free(l->vals);
    for (size_t b = 0; b < QUEUE_DEPTH; b++) {
        free(l->batches[b].cells);
        free(l->batches[b].arena);
        free(l->batches[b].rarena);
        free(l->batches[b].rej);
    }
    if (l->n_out > 0 && l->batches[0].cells) {
        (void)pthread_mutex_destroy(&l->mu);
        (void)pthread_cond_destroy(&l->cv);
    }
    free(l->sheet);
    free(l->table);
    free(l->rejects);
    free(l->newest);
    dagd__task_hash_free(l->read_hash);
    free(l->prev_file);
    free(l);
    return NULL;
}

const char *dagd_load_error(const struct dagd_load *l)
{
    return l->err;
}

/* ---- one batch of rows ------------------------------------------------- */

/* Grows a buffer (an arena of a batch) to hold len + need bytes. */
static __attribute__((noinline)) int grow(struct dagd_load *l, char **buf, size_t len, size_t *cap,
                                          size_t need)
{
    size_t ncap = *cap ? *cap : 64 * 1024;
    char *nb;

    while (ncap < len + need) {
        ncap *= 2;
    }
    nb = realloc(*buf, ncap);
    if (!nb) {
        return fail(l, -ENOMEM, "out of memory");
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* Room for need more bytes; inline, as it runs for every value. */
static inline int reserve(struct dagd_load *l, char **buf, size_t len, size_t *cap, size_t need)
{
    return len + need <= *cap ? 0 : grow(l, buf, len, cap, need);
}

/* Reader side: text into the current batch's arena. In COPY's binary
 * format (PostgreSQL) the text is a field: its length goes first. */
static inline int arena_put(struct dagd_load *l, const char *s, size_t n, size_t *ret_off)
{
    struct batch *b = l->cur;
    size_t pre = l->pg_binary ? 4 : 0;

    if (reserve(l, &b->arena, b->alen, &b->acap, pre + n) < 0) {
        return -ENOMEM;
    }
    if (pre) {
        uint32_t be = htobe32((uint32_t)n);
        memcpy(b->arena + b->alen, &be, 4);
    }
    memcpy(b->arena + b->alen + pre, s, n);
    *ret_off = b->alen + pre;
    b->alen += pre + n;
    return 0;
}

/* Reader side, COPY's binary format: a row's field count, or a field that
 * is not text (arena_put writes those), in the current batch's arena
 * (PostgreSQL 15 docs "COPY", "Binary Format": a 16-bit field count per
 * row; per field a 32-bit length, -1 for NULL, and its bytes; integers
 * and float8 big-endian). */
static int wire_count(struct dagd_load *l)
{
    struct batch *b = l->cur;
    uint16_t be = htobe16((uint16_t)l->n_out);

    if (reserve(l, &b->arena, b->alen, &b->acap, 2) < 0) {
        return -ENOMEM;
    }
    memcpy(b->arena + b->alen, &be, 2);
    b->alen += 2;
    return 0;
}

static int wire_cell(struct dagd_load *l, const struct cell *c)
{
    struct batch *b = l->cur;
    uint32_t len = htobe32(c->kind == CELL_NULL ? UINT32_MAX : 8);
    uint64_t v;

    if (reserve(l, &b->arena, b->alen, &b->acap, 12) < 0) {
        return -ENOMEM;
    }
    memcpy(b->arena + b->alen, &len, 4);
    b->alen += 4;
    if (c->kind == CELL_NULL) {
        return 0;
    }
    if (c->kind == CELL_INT) {
        v = htobe64((uint64_t)c->i);
    } else {
        memcpy(&v, &c->d, 8);
        v = htobe64(v);
    }
    memcpy(b->arena + b->alen, &v, 8);
    b->alen += 8;
    return 0;
}

/* SQLite side errors go to werr: the reader may be writing err meanwhile. */
static int wfail(struct dagd_load *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int wfail(struct dagd_load *l, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(l->werr, sizeof(l->werr), fmt, ap);
    va_end(ap);
    return code;
}

int dagd__load_wfail(struct dagd_load *l, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(l->werr, sizeof(l->werr), fmt, ap);
    va_end(ap);
    return code;
}

static int step_done(struct dagd_load *l, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    (void)sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return wfail(l, -EIO, "writing to '%s': %s", l->table, sqlite3_errmsg(l->db));
    }
    return 0;
}

static int write_rejects(struct dagd_load *l, const struct batch *b)
{
    for (size_t k = 0; k < b->nrej; k++) {
        const struct rejrec *x = &b->rej[k];
        int rc;
        sqlite3_bind_text(l->rej, 1, l->table, -1, SQLITE_STATIC);
        sqlite3_bind_text(l->rej, 2, l->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(l->rej, 3, (sqlite3_int64)x->row);
        sqlite3_bind_text(l->rej, 4, x->column, -1, SQLITE_STATIC);
        if (x->has_value) {
            sqlite3_bind_text(l->rej, 5, b->rarena + x->off, (int)x->len, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(l->rej, 5);
        }
        sqlite3_bind_text(l->rej, 6, x->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(l->rej, 7, l->loaded_at);
        rc = sqlite3_step(l->rej);
        (void)sqlite3_reset(l->rej);
        if (rc != SQLITE_DONE) {
            return wfail(l, -EIO, "writing a rejected row: %s", sqlite3_errmsg(l->db));
        }
    }
    return 0;
}

/* SQLite side: a batch's rows in one INSERT ... SELECT from the rows
 * table, then its rejected rows. */
static int write_batch(struct dagd_load *l, const struct batch *b)
{
    int r = 0;

    if (b->rows > 0) {
        l->rows_vt.batch = b;
        r = step_done(l, l->ins_batch);
        l->rows_vt.batch = NULL;
    }
    if (r == 0) {
        l->written += b->rows;
        r = write_rejects(l, b);
    }
    return r;
}

static void batch_reset(struct batch *b)
{
    b->rows = 0;
    b->alen = 0;
    b->nrej = 0;
    b->rlen = 0;
    b->last = false;
}

/* Reader side: hands the full current batch to the SQLite thread and takes
 * a free one, waiting while all are in use. -ECANCELED once the SQLite side
 * stopped. The last batch carries the reader's result. */
static int hand_over(struct dagd_load *l, bool last, int reader_r)
{
    int r = 0;

    (void)pthread_mutex_lock(&l->mu);
    if (last) {
        l->reader_r = reader_r;
    }
    l->cur->last = last;
    l->full[(l->full_head + l->full_n) % QUEUE_DEPTH] = l->cur;
    l->full_n++;
    l->cur = NULL;
    (void)pthread_cond_broadcast(&l->cv);
    /* the SQLite thread returns every batch, also after it stopped */
    while (!last && l->free_n == 0) {
        (void)pthread_cond_wait(&l->cv, &l->mu);
    }
    if (!last) {
        l->cur = l->free_b[--l->free_n];
        batch_reset(l->cur);
        if (l->stop) {
            r = -ECANCELED;
        }
    }
    (void)pthread_mutex_unlock(&l->mu);
    return r;
}

/* ---- typing ------------------------------------------------------------ */

/* Turns one delivered value into a cell of column c; returns NULL, or the
 * reason it is a bad value. */
static const char *convert(struct dagd_load *l, const struct dagd_load_column *c,
                           const struct src *v, struct cell *out)
{
    const char *s = v->s;
    size_t n = v->len;
    char num[64];

    out->kind = CELL_NULL;
    if (v->kind == SRC_NULL) {
        return NULL;
    }
    if (v->kind != SRC_TEXT) {
        /* a JSON scalar: typed columns take its text form */
        if (v->kind == SRC_REAL) {
            if (c->type == DAGD_LOAD_REAL || c->type == DAGD_LOAD_TEXT) {
                if (c->type == DAGD_LOAD_REAL) {
                    out->kind = CELL_REAL;
                    out->d = v->d;
                    return NULL;
                }
            }
            n = (size_t)snprintf(num, sizeof(num), "%.17g", v->d);
        } else if (v->kind == SRC_BOOL) {
            n = (size_t)snprintf(num, sizeof(num), "%s", v->i ? "true" : "false");
            if (c->type == DAGD_LOAD_INTEGER) {
                out->kind = CELL_INT;
                out->i = v->i;
                return NULL;
            }
        } else {
            n = (size_t)snprintf(num, sizeof(num), "%" PRId64, v->i);
        }
        s = num;
    }
    if (c->type == DAGD_LOAD_TEXT) {
        if (n == 0) {
            return NULL;
        }
        if (arena_put(l, s, n, &out->off) < 0) {
            return "out of memory";
        }
        out->kind = CELL_TEXT;
        out->len = n;
        return NULL;
    }
    s = dagd_load_trim(s, &n);
    if (n == 0) {
        return NULL;
    }
    switch (c->type) {
    case DAGD_LOAD_INTEGER:
        if (dagd_load_parse_integer(s, n, &out->i) < 0) {
            return "not an integer";
        }
        out->kind = CELL_INT;
        break;
    case DAGD_LOAD_MONEY:
        if (dagd_load_parse_money(s, n, &out->i) < 0) {
            return "not an amount (digits, at most 2 decimals)";
        }
        out->kind = CELL_INT;
        break;
    case DAGD_LOAD_REAL:
        if (dagd_load_parse_real(s, n, &out->d) < 0) {
            return "not a number";
        }
        out->kind = CELL_REAL;
        return NULL;
    case DAGD_LOAD_DATE:
        if (dagd_load_parse_date(s, n) < 0) {
            return "not a date (YYYY-MM-DD)";
        }
        goto text;
    case DAGD_LOAD_TIMESTAMP:
        if (dagd_load_parse_timestamp(s, n) < 0) {
            return "not a timestamp (YYYY-MM-DD HH:MM:SS)";
        }
        goto text;
    default:
        return "unknown type";
    }
    if (c->has_min && out->i < c->min) {
        out->kind = CELL_NULL;
        return "below the minimum";
    }
    if (c->has_max && out->i > c->max) {
        out->kind = CELL_NULL;
        return "above the maximum";
    }
    return NULL;
text:
    if (arena_put(l, s, n, &out->off) < 0) {
        return "out of memory";
    }
    out->kind = CELL_TEXT;
    out->len = n;
    return NULL;
}

static int reject(struct dagd_load *l, uint64_t row, uint64_t line,
                  const struct dagd_load_column *c, const struct src *v, const char *reason)
{
    struct batch *b = l->cur;
    char shown[64];
    struct rejrec *x;

    if (v->kind == SRC_TEXT) {
        int n = (int)v->len;
        (void)snprintf(shown, sizeof(shown), "'%.*s'%s", n > 40 ? 40 : n, v->s,
                       n > 40 ? "..." : "");
    } else {
        (void)snprintf(shown, sizeof(shown), "%s", v->kind == SRC_NULL ? "empty" : "a JSON value");
    }
    if (!l->rejects) {
        char where[48] = "";
        if (line > 0) {
            (void)snprintf(where, sizeof(where), " (line %" PRIu64 ")", line);
        }
        return fail(l, -EINVAL, "%s: row %" PRIu64 "%s, column '%s': %s (%s)", l->name, row, where,
                    c->from, reason, shown);
    }
    l->rejected++;
    if (l->max_rejects > 0 && l->rejected > l->max_rejects) {
        return fail(l, -EINVAL,
                    "%s: more than %" PRIu64 " rejected rows (row %" PRIu64
                    ", column '%s': %s (%s))",
                    l->name, l->max_rejects, row, c->from, reason, shown);
    }
    if (b->nrej == b->rejcap) {
        size_t ncap = b->rejcap ? 2 * b->rejcap : 64;
        struct rejrec *nr = realloc(b->rej, ncap * sizeof(*nr));
        if (!nr) {
            return fail(l, -ENOMEM, "out of memory");
        }
        b->rej = nr;
        b->rejcap = ncap;
    }
    x = &b->rej[b->nrej];
    *x = (struct rejrec){.row = row, .column = c->from, .reason = reason};
    if (v->kind == SRC_TEXT) {
        if (reserve(l, &b->rarena, b->rlen, &b->rcap, v->len) < 0) {
            return -ENOMEM;
        }
        if (v->len > 0) {
            memcpy(b->rarena + b->rlen, v->s, v->len);
        }
        x->off = b->rlen;
        b->rlen += v->len;
        x->has_value = true;
        x->len = v->len;
    }
    b->nrej++;
    return 0;
}

/* One record whose values are in l->vals: typed into the next batch row,
 * or rejected (its text already in the arena is dropped with the row). */
static int add_row(struct dagd_load *l, uint64_t row, uint64_t line)
{
    struct cell *cells = l->cur->cells + l->cur->rows * l->n_out;
    size_t alen0 = l->cur->alen;
    size_t m = l->n_cols;

    l->rows = row;
    /* COPY binary: the row goes into the arena field by field, a text one
     * by arena_put (convert never writes a value it then turns down) */
    if (l->pg_binary && wire_count(l) < 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < l->n_cols; i++) {
        const struct dagd_load_column *c = &l->cols[i];
        const struct src *v = &l->vals[i];
        const char *why = NULL;
        if (c->type == DAGD_LOAD_TEXT && v->kind == SRC_TEXT && v->len > 0) {
            /* the common case (every column of a raw_ table): what convert()
             * does with it, without its dispatch */
            cells[i].kind = CELL_NULL;
            if (arena_put(l, v->s, v->len, &cells[i].off) < 0) {
                why = "out of memory";
            } else {
                cells[i].kind = CELL_TEXT;
                cells[i].len = v->len;
            }
        } else {
            why = convert(l, c, v, &cells[i]);
        }
        if (why && !c->required) {
            cells[i].kind = CELL_NULL; /* a bad value of an optional column is NULL */
            why = NULL;
        }
        if (!why && c->required && cells[i].kind == CELL_NULL) {
            why = "missing value";
        }
        if (why) {
            l->cur->alen = alen0;
            return reject(l, row, line, c, &l->vals[i], why);
        }
        if (l->pg_binary && cells[i].kind != CELL_TEXT && wire_cell(l, &cells[i]) < 0) {
            return -ENOMEM;
        }
    }
    if (l->meta_file) {
        cells[m].kind = CELL_TEXT;
        if (arena_put(l, l->name, strlen(l->name), &cells[m].off) < 0) {
            return -ENOMEM;
        }
        cells[m++].len = strlen(l->name);
    }
    if (l->meta_row) {
        cells[m].kind = CELL_INT;
        cells[m].i = (int64_t)row;
        if (l->pg_binary && wire_cell(l, &cells[m]) < 0) {
            return -ENOMEM;
        }
        m++;
    }
    if (l->meta_loaded_at) {
        cells[m].kind = CELL_INT;
        cells[m].i = l->loaded_at;
        if (l->pg_binary && wire_cell(l, &cells[m]) < 0) {
            return -ENOMEM;
        }
        m++;
    }
    if (++l->cur->rows == QUEUE_ROWS) {
        return hand_over(l, false, 0);
    }
    return 0;
}

/* Finds each declared column in a header; a missing one fails the file. */
static int map_header(struct dagd_load *l, const char *const *names, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < l->n_cols; i++) {
        l->src_idx[i] = -1;
        for (size_t j = 0; j < n; j++) {
            if (strlen(l->cols[i].from) == lens[j] &&
                memcmp(l->cols[i].from, names[j], lens[j]) == 0) {
                l->src_idx[i] = (long)j;
                break;
            }
        }
        if (l->src_idx[i] < 0) {
            char found[512];
            size_t fl = 0;
            found[0] = '\0';
            for (size_t j = 0; j < n && fl < sizeof(found) - 1; j++) {
                fl += (size_t)snprintf(found + fl, sizeof(found) - fl, "%s'%.*s'", j ? ", " : "",
                                       (int)(lens[j] > 60 ? 60 : lens[j]), names[j]);
            }
            return fail(l, -EINVAL, "%s: missing column '%s' in the header (found %s)", l->name,
                        l->cols[i].from, n ? found : "no columns");
        }
    }
    l->n_header = n;
    l->header_done = true;
    return 0;
}

/* ---- readers ----------------------------------------------------------- */

static int on_csv(void *ud, uint64_t record_no, uint64_t line, const struct dagd_csv_field *f,
                  size_t n)
{
    struct dagd_load *l = ud;

    if (!l->header_done) {
        const char *names[n ? n : 1];
        size_t lens[n ? n : 1];
        for (size_t j = 0; j < n; j++) {
            names[j] = f[j].s;
            lens[j] = f[j].len;
        }
        return map_header(l, names, lens, n);
    }
    if (n != l->n_header) {
        return fail(l, -EINVAL,
                    "%s: row %" PRIu64 " (line %" PRIu64 ") has %zu fields, the header has %zu",
                    l->name, record_no - 1, line, n, l->n_header);
    }
    for (size_t i = 0; i < l->n_cols; i++) {
        const struct dagd_csv_field *x = &f[l->src_idx[i]];
        l->vals[i] = (struct src){.kind = x->len ? SRC_TEXT : SRC_NULL, .s = x->s, .len = x->len};
    }
    return add_row(l, record_no - 1, line);
}

static int on_json(void *ud, const struct dagd_json_record *rec)
{
    struct dagd_load *l = ud;

    for (size_t i = 0; i < l->n_cols; i++) {
        const struct dagd_json_value *v = &rec->values[i];
        struct src *s = &l->vals[i];
        switch (v->kind) {
        case DAGD_JSON_STRING:
        case DAGD_JSON_NESTED:
            *s = (struct src){.kind = v->len ? SRC_TEXT : SRC_NULL, .s = v->s, .len = v->len};
            break;
        case DAGD_JSON_INT:
            *s = (struct src){.kind = SRC_INT, .i = v->i};
            break;
        case DAGD_JSON_REAL:
            *s = (struct src){.kind = SRC_REAL, .d = v->d};
            break;
        case DAGD_JSON_BOOL:
            *s = (struct src){.kind = SRC_BOOL, .i = v->i};
            break;
        default:
            *s = (struct src){.kind = SRC_NULL};
            break;
        }
    }
    return add_row(l, rec->record_no, 0);
}

static int on_xlsx(void *ud, uint64_t row_no, const struct dagd_xlsx_cell *cells, size_t n)
{
    struct dagd_load *l = ud;

    if (!l->header_done) {
        uint32_t width = n ? cells[n - 1].col + 1 : 0;
        const char **names = calloc(width ? width : 1, sizeof(*names));
        size_t *lens = calloc(width ? width : 1, sizeof(*lens));
        int r;
        if (!names || !lens) {
            free(names);
            free(lens);
            return fail(l, -ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < n; j++) {
            if (cells[j].col < width) {
                names[cells[j].col] = cells[j].text;
                lens[cells[j].col] = cells[j].len;
            }
        }
        for (uint32_t j = 0; j < width; j++) {
            if (!names[j]) {
                names[j] = "";
            }
        }
        r = map_header(l, names, lens, width);
        free(names);
        free(lens);
        l->rows = 0; /* _row counts data rows (1 = the row after the header) */
        return r;
    }
    for (size_t i = 0; i < l->n_cols; i++) {
        l->vals[i] = (struct src){.kind = SRC_NULL};
    }
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < l->n_cols; i++) {
            if ((long)cells[j].col == l->src_idx[i] && cells[j].len > 0) {
                l->vals[i] =
                    (struct src){.kind = cells[j].kind == DAGD_XLSX_BOOL ? SRC_BOOL : SRC_TEXT,
                                 .s = cells[j].text,
                                 .len = cells[j].len,
                                 .i = cells[j].text[0] == '1'};
            }
        }
    }
    return add_row(l, l->rows + 1, row_no);
}

/* Streams a CSV or JSON file through its reader, checking UTF-8 on the way
 * (the JSON parser checks its strings itself). */
static int read_stream(struct dagd_load *l, int fd)
{
    struct dagd_csv_reader *csv = NULL;
    struct dagd_json_reader *json = NULL;
    struct dagd_utf8_check u8 = {0};
    char *buf = malloc(READ_CHUNK);
    int r = 0;

    if (!buf) {
        return fail(l, -ENOMEM, "out of memory");
    }
    if (l->format == DAGD_LOAD_CSV) {
        csv = dagd_csv_reader_new(on_csv, l);
        if (!csv || dagd_csv_reader_set_delimiter(csv, l->delimiter) < 0) {
            r = fail(l, csv ? -EINVAL : -ENOMEM, "bad delimiter");
            goto out;
        }
    } else {
        json = dagd_json_reader_new(l->json_keys, l->n_cols, on_json, l);
        if (!json) {
            r = fail(l, -ENOMEM, "out of memory");
            goto out;
        }
        if (l->format == DAGD_LOAD_NDJSON) {
            (void)dagd_json_reader_set_ndjson(json);
        }
    }
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            r = fail(l, -errno, "%s: read error: %s", l->name, strerror(errno));
            goto out;
        }
        if (l->read_hash) {
            dagd__task_hash_feed(l->read_hash, buf, (size_t)n);
            l->bytes_read += (uint64_t)n;
        }
        if (csv && dagd_utf8_check_feed(&u8, buf, (size_t)n) < 0) {
            r = fail(l, -EINVAL, "%s: not valid UTF-8 (byte offset %" PRIu64 ")", l->name,
                     u8.error_offset);
            goto out;
        }
        if (n == 0) {
            r = csv ? dagd_csv_reader_finish(csv) : dagd_json_reader_finish(json);
        } else {
            r = csv ? dagd_csv_reader_feed(csv, buf, (size_t)n)
                    : dagd_json_reader_feed(json, buf, (size_t)n);
        }
        if (r < 0) {
            const char *msg = csv ? dagd_csv_reader_error(csv) : dagd_json_reader_error(json);
            if (msg && msg[0]) {
                r = fail(l, r, "%s: %s", l->name, msg);
            }
            goto out;
        }
        if (n == 0) {
            break;
        }
    }
    if (csv && !l->header_done) {
        r = fail(l, -EINVAL, "%s: empty file: no header row", l->name);
    }
out:
    dagd_csv_reader_free(csv);
    dagd_json_reader_free(json);
    free(buf);
    return r;
}

static int read_xlsx(struct dagd_load *l)
{
    struct dagd_xlsx *x = NULL;
    struct dagd_xlsx_handler h = {.row = on_xlsx, .userdata = l};
    char msg[512];
    int idx = 0;
    int r = dagd_xlsx_open(l->path, &x, msg, sizeof(msg));

    if (r < 0) {
        return fail(l, r, "%s: %s", l->name, msg);
    }
    if (l->sheet) {
        idx = dagd_xlsx_find_sheet(x, l->sheet);
        if (idx < 0) {
            r = fail(l, -EINVAL, "%s: workbook has no sheet '%s'", l->name, l->sheet);
            goto out;
        }
    } else if (dagd_xlsx_sheet_count(x) == 0) {
        r = fail(l, -EINVAL, "%s: workbook has no sheet", l->name);
        goto out;
    }
    msg[0] = '\0';
    r = dagd_xlsx_read_sheet(x, (size_t)idx, &h, msg, sizeof(msg));
    if (r < 0 && msg[0]) {
        r = fail(l, r, "%s: %s", l->name, msg);
    }
    if (r == 0 && !l->header_done) {
        r = fail(l, -EINVAL, "%s: the sheet is empty: no header row", l->name);
    }
out:
    dagd_xlsx_free(x);
    return r;
}

static int find_checkpoint(struct dagd_load *l, const char *hash, bool *ret_found)
{
    int rc;

    sqlite3_bind_text(l->ck_find, 1, l->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(l->ck_find, 2, hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(l->ck_find);
    *ret_found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        free(l->prev_file);
        l->prev_file = xstrdup((const char *)sqlite3_column_text(l->ck_find, 0));
    }
    (void)sqlite3_reset(l->ck_find);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(l, "reading _dagd_load_files");
}

static int size_seen(struct dagd_load *l, uint64_t size, bool *ret_seen)
{
    int rc;

    sqlite3_bind_text(l->ck_size, 1, l->table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(l->ck_size, 2, (sqlite3_int64)size);
    rc = sqlite3_step(l->ck_size);
    *ret_seen = rc == SQLITE_ROW;
    (void)sqlite3_reset(l->ck_size);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(l, "reading _dagd_load_files");
}

static int put_checkpoint(struct dagd_load *l, const struct dagd_load_result *res)
{
    int rc;

    sqlite3_bind_text(l->ck_put, 1, l->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(l->ck_put, 2, res->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(l->ck_put, 3, l->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(l->ck_put, 4, (sqlite3_int64)res->size);
    sqlite3_bind_int64(l->ck_put, 5, (sqlite3_int64)l->rows);
    sqlite3_bind_int64(l->ck_put, 6, (sqlite3_int64)l->rejected);
    sqlite3_bind_int64(l->ck_put, 7, l->loaded_at);
    rc = sqlite3_step(l->ck_put);
    (void)sqlite3_reset(l->ck_put);
    return rc == SQLITE_DONE ? 0 : sql_fail(l, "writing _dagd_load_files");
}

static void *reader_main(void *userdata)
{
    struct dagd_load *l = userdata;
    int r = l->format == DAGD_LOAD_XLSX ? read_xlsx(l) : read_stream(l, l->fd);

    (void)hand_over(l, true, r);
    return NULL;
}

/* Runs the reader thread and writes what it hands over, in this thread
 * (SQLite, hooks). Returns the first error of either side, with the
 * message in l->err. */
static int read_and_write(struct dagd_load *l)
{
    pthread_t th;
    uint64_t batches = 0;
    int wr = 0, r;

    l->stop = false;
    l->reader_r = 0;
    l->full_head = l->full_n = l->free_n = 0;
    for (size_t b = 1; b < QUEUE_DEPTH; b++) {
        l->free_b[l->free_n++] = &l->batches[b];
    }
    l->cur = &l->batches[0];
    batch_reset(l->cur);
    if ((r = pthread_create(&th, NULL, reader_main, l)) != 0) {
        return fail(l, -r, "%s: cannot start the reader thread: %s", l->name, strerror(r));
    }
    for (;;) {
        struct batch *b;
        bool last;
        int rr;

        (void)pthread_mutex_lock(&l->mu);
        while (l->full_n == 0) {
            (void)pthread_cond_wait(&l->cv, &l->mu);
        }
        b = l->full[l->full_head];
        l->full_head = (l->full_head + 1) % QUEUE_DEPTH;
        l->full_n--;
        last = b->last;
        rr = l->reader_r;
        (void)pthread_mutex_unlock(&l->mu);

        /* after a failure, batches only go round until the reader's last */
        if (wr == 0 && !(last && rr < 0)) {
            wr = l->wh ? dagd__load_pg_write_batch(l, b) : write_batch(l, b);
            if (wr == 0 && (++batches % (PROGRESS_EVERY / QUEUE_ROWS)) == 0) {
                if (l->hooks.progress) {
                    l->hooks.progress(l->hooks.userdata, l->written);
                }
                if (l->hooks.canceled && l->hooks.canceled(l->hooks.userdata)) {
                    wr = wfail(l, -ECANCELED, "canceled");
                }
            }
        }
        (void)pthread_mutex_lock(&l->mu);
        if (wr < 0) {
            l->stop = true;
        }
        l->free_b[l->free_n++] = b;
        (void)pthread_cond_broadcast(&l->cv);
        (void)pthread_mutex_unlock(&l->mu);
        if (last) {
            break;
        }
    }
    (void)pthread_join(th, NULL);
    if (wr < 0) {
        /* the reader only stopped because of it */
        return fail(l, wr, "%s: %s", l->name, l->werr);
    }
    return l->reader_r;
}

/* Before a file is read: either it is hashed now and looked up among the
 * checkpoints (found: *ret_found), or, when no checkpoint of the table has
 * its size, it cannot have been loaded before and the reader hashes it on
 * the way (l->read_hash): one pass over the file instead of two. XLSX is
 * read out of order (zip), so it is always hashed first. fd: the open file
 * (CSV, JSON) or -1. */
static int lookup_checkpoint(struct dagd_load *l, int fd, struct dagd_load_result *res,
                             bool *ret_found)
{
    struct stat st;
    bool seen = true;
    int r;

    if (fd >= 0) {
        if (fstat(fd, &st) < 0) {
            return fail(l, -errno, "%s: cannot read: %s", l->name, strerror(errno));
        }
        r = l->wh ? dagd__load_pg_size_seen(l, (uint64_t)st.st_size, &seen)
                  : size_seen(l, (uint64_t)st.st_size, &seen);
        if (r < 0) {
            return r;
        }
    }
    if (!seen) {
        l->read_hash = dagd__task_hash_new();
        if (!l->read_hash) {
            return fail(l, -ENOMEM, "out of memory");
        }
        *ret_found = false;
        return 0;
    }
    r = dagd__task_hash_file(l->path, res->hash, &res->size);
    if (r < 0) {
        return fail(l, r, "%s: cannot read: %s", l->name, strerror(-r));
    }
    return l->wh ? dagd__load_pg_find_checkpoint(l, res->hash, ret_found)
                 : find_checkpoint(l, res->hash, ret_found);
}

int dagd_load_file(struct dagd_load *l, const char *path, const char *name, int64_t loaded_at_ms,
                   struct dagd_load_result *ret)
{
    struct dagd_load_result res = {0};
    bool found = false;
    int fd = -1;
    int r;

    l->path = path;
    l->name = name;
    l->loaded_at = loaded_at_ms;
    l->header_done = false;
    l->n_header = 0;
    l->rows = l->written = l->rejected = 0;
    l->bytes_read = 0;
    l->read_hash = dagd__task_hash_free(l->read_hash);
    l->err[0] = '\0';
    l->werr[0] = '\0';

    if (l->format != DAGD_LOAD_XLSX) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return fail(l, -errno, "%s: cannot read: %s", name, strerror(errno));
        }
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    if ((r = lookup_checkpoint(l, fd, &res, &found)) < 0 || found) {
        if (fd >= 0) {
            close(fd);
        }
        if (r < 0) {
            return r;
        }
        res.skipped = true;
        res.prev_file = l->prev_file;
        *ret = res;
        return 0;
    }
    if ((r = exec(l, l->wh ? "BEGIN" : "BEGIN IMMEDIATE")) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return fail(l, r, "%s: cannot begin a transaction: %s", name, l->err);
    }
    if (l->mode == DAGD_LOAD_REPLACE && !l->replaced) {
        struct sb b = {0};
        sb_str(&b, "DELETE FROM ");
        sb_id(&b, l->table);
        r = b.r < 0 ? fail(l, -ENOMEM, "out of memory") : exec(l, b.s);
        free(b.s);
        if (r < 0) {
            goto rollback;
        }
    }
    /* PostgreSQL: the COPY starts after the DELETE (nothing else can run
     * on the connection while it is open) */
    if (l->wh && (r = dagd__load_pg_begin(l)) < 0) {
        goto rollback;
    }
    l->fd = fd;
    r = read_and_write(l);
    res.rows = l->rows;
    res.written = l->written;
    res.rejected = l->rejected;
    if (r == 0 && l->read_hash) {
        dagd__task_hash_hex(l->read_hash, res.hash);
        res.size = l->bytes_read;
    }
    if (r == 0) {
        /* the checkpoint commits in the same transaction as the rows */
        r = l->wh ? dagd__load_pg_finish(l, &res) : put_checkpoint(l, &res);
    }
    if (r == 0 && (r = exec(l, "COMMIT")) < 0) {
        (void)fail(l, r, "%s: commit: %s", name, l->err);
    }
    if (r < 0) {
        goto rollback;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (l->mode == DAGD_LOAD_REPLACE) {
        l->replaced = true;
    }
    *ret = res;
    return 0;
rollback:
    if (l->wh) {
        dagd__load_pg_abort(l);
    } else {
        (void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (!l->err[0]) {
        (void)fail(l, r, "%s: %s", name, strerror(-r));
    }
    return r;
}
