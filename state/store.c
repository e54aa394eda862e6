/* The state store: run history in SQLite (DESIGN 5). See store.h for the
 * contract, state/sql/ for the schema and store-sql.h for every statement.
 *
 * Invariants:
 * - Statements are prepared once (lazily, SQLITE_PREPARE_PERSISTENT) and
 *   reset right after use by a cleanup handler, so no statement keeps a read
 *   transaction open between calls (that would pin the WAL and block
 *   checkpoints).
 * - Every write function is atomic: it opens BEGIN IMMEDIATE when no
 *   transaction is open, or a savepoint inside the caller's
 *   dagd_store_begin() batch, and a status change is written together with
 *   its event.
 * - The store is self-contained (SQLite and libc only) and never logs: it
 *   returns -errno and keeps the message for dagd_store_errmsg(). */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store-migrations.h"
#include "store-pg.h"
#include "util.h"
#include "store-sql.h"

/* 'dagd' in the database header: tells our file from any other SQLite file. */
#define STORE_APPLICATION_ID 0x64616764
/* How long a write waits for a lock held by another connection (e.g. a
 * `sqlite3 state.db` session) before failing with -EBUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* clang-format off */
enum store_stmt {
#define X(name, sql) STMT_##name,
    STORE_STATEMENTS(X)
    STORE_STATEMENTS_PG_ONLY(X)
#undef X
    _STMT_MAX,
};
/* clang-format on */

static const char *const store_sql[_STMT_MAX] = {
#define X(name, sql) [STMT_##name] = sql,
    STORE_STATEMENTS(X)
#undef X
};

struct dbstmt;
struct dagd_store {
    sqlite3 *db;         /* the SQLite backend, or */
    struct dagd__pg *pg; /* the PostgreSQL one (store-pg.h) */
    char *path;          /* state.db, or the conninfo without secrets */
    bool readonly;
    bool user_txn; /* dagd_store_begin() is open */
    struct dbstmt *stmts[_STMT_MAX];
    char errmsg[512];
};

/* The message of the last failed open in this thread (no store to hold it). */
static __thread char open_errmsg[512];

static const char *const run_status_table[_DAGD_RUN_STATUS_MAX] = {
    [DAGD_RUN_QUEUED] = "queued",       [DAGD_RUN_RUNNING] = "running",
    [DAGD_RUN_SUCCEEDED] = "succeeded", [DAGD_RUN_FAILED] = "failed",
    [DAGD_RUN_CANCELED] = "canceled",
};

static const char *const step_status_table[_DAGD_STEP_STATUS_MAX] = {
    [DAGD_STEP_PENDING] = "pending",     [DAGD_STEP_RUNNING] = "running",
    [DAGD_STEP_SUCCEEDED] = "succeeded", [DAGD_STEP_FAILED] = "failed",
    [DAGD_STEP_SKIPPED] = "skipped",     [DAGD_STEP_CANCELED] = "canceled",
};

const char *dagd_run_status_to_string(enum dagd_run_status s)
{
    if ((unsigned)s >= _DAGD_RUN_STATUS_MAX) {
        return NULL;
    }
    return run_status_table[s];
}

int dagd_run_status_from_string(const char *s)
{
    if (!s) {
        return -EINVAL;
    }
    for (size_t i = 0; i < _DAGD_RUN_STATUS_MAX; i++) {
        if (strcmp(run_status_table[i], s) == 0) {
            return (int)i;
        }
    }
    return -EINVAL;
}

const char *dagd_step_status_to_string(enum dagd_step_status s)
{
    if ((unsigned)s >= _DAGD_STEP_STATUS_MAX) {
        return NULL;
    }
    return step_status_table[s];
}

int dagd_step_status_from_string(const char *s)
{
    if (!s) {
        return -EINVAL;
    }
    for (size_t i = 0; i < _DAGD_STEP_STATUS_MAX; i++) {
        if (strcmp(step_status_table[i], s) == 0) {
            return (int)i;
        }
    }
    return -EINVAL;
}

/* ---- small helpers ---- */

static void set_msg(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_msg(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/* Map an SQLite result code to -errno (store.h lists the mapping). */
static int errno_from_sqlite(int rc, int sys_errno)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENOENT;
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return -EEXIST;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return -EBADMSG;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CANTOPEN:
        return sys_errno > 0 ? -sys_errno : -EIO;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* Record the connection's current error for dagd_store_errmsg(); returns -errno. */
static int store_fail(struct dagd_store *s, int rc, const char *what)
{
    if (s->pg) {
        set_msg(s->errmsg, sizeof(s->errmsg), "%s: %s", what, dagd__pg_errmsg(s->pg));
        return errno_from_sqlite(rc, 0);
    }
    int r = errno_from_sqlite(rc, sqlite3_system_errno(s->db));
    if (r == -EBADMSG) {
        /* "what" adds nothing here: say what the file is. */
        set_msg(s->errmsg, sizeof(s->errmsg),
                "'%s' is not a dagd state database (not SQLite, or corrupt): %s", s->path,
                sqlite3_errmsg(s->db));
    } else {
        set_msg(s->errmsg, sizeof(s->errmsg), "%s: %s", what, sqlite3_errmsg(s->db));
    }
    return r;
}

static int store_fail_errno(struct dagd_store *s, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int store_fail_errno(struct dagd_store *s, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    return r;
}

/* ---- statements: one interface over both backends ---- */

/* A cached statement. With SQLite it wraps a prepared sqlite3_stmt. With
 * PostgreSQL it holds the translated SQL, the bound parameters as text (the
 * libpq text protocol) and, once stepped, the whole result, whose rows
 * db_step() hands out one by one. The store's functions use only the db_*
 * calls below, so each is written once for both backends; db_step() returns
 * SQLite's codes (SQLITE_ROW, SQLITE_DONE or an error) on both. */
#define DB_MAX_PARAMS 20
struct dbstmt {
    struct dagd_store *s;
    sqlite3_stmt *lite;
    char *sql; /* PostgreSQL */
    int n_params;
    Oid types[DB_MAX_PARAMS];
    char *vals[DB_MAX_PARAMS];
    PGresult *res;
    int row;          /* the row db_step() returned last, -1 before the first */
    uint64_t ask_seq; /* stmt_ask(): the answer to wait for, 0 = none */
};

static void db_stmt_free(struct dbstmt *st)
{
    if (!st) {
        return;
    }
    (void)sqlite3_finalize(st->lite);
    for (int i = 0; i < DB_MAX_PARAMS; i++) {
        free(st->vals[i]);
    }
    if (st->res) {
        /* not PQclear(NULL): on SQLite libpq was never opened (lib/pq) */
        PQclear(st->res);
    }
    if (st->ask_seq) {
        dagd__pg_forget(st->s->pg, st->ask_seq);
    }
    free(st->sql);
    free(st);
}

/* Forget the result (the next db_step() runs the statement again); the
 * bindings stay, as with sqlite3_reset(). */
static void db_reset(struct dbstmt *st)
{
    if (st->lite) {
        (void)sqlite3_reset(st->lite);
        return;
    }
    PQclear(st->res);
    st->res = NULL;
    st->row = -1;
}

static void db_clear_bindings(struct dbstmt *st)
{
    if (st->lite) {
        (void)sqlite3_clear_bindings(st->lite);
        return;
    }
    for (int i = 0; i < DB_MAX_PARAMS; i++) {
        free(st->vals[i]);
        st->vals[i] = NULL;
        st->types[i] = 0;
    }
}

/* PostgreSQL type OIDs of the parameters we send (pg_type.h). */
#define OID_INT8 20
#define OID_TEXT 25

static int db_bind_pg(struct dbstmt *st, int i, char *v, Oid type)
{
    if (i < 1 || i > DB_MAX_PARAMS) {
        free(v);
        return SQLITE_RANGE;
    }
    free(st->vals[i - 1]);
    st->vals[i - 1] = v;
    st->types[i - 1] = type;
    return SQLITE_OK;
}

static int db_bind_int64(struct dbstmt *st, int i, int64_t v)
{
    if (st->lite) {
        return sqlite3_bind_int64(st->lite, i, v);
    }
    return db_bind_pg(st, i, dagd_xasprintf("%" PRId64, v), OID_INT8);
}

static int db_bind_null(struct dbstmt *st, int i)
{
    if (st->lite) {
        return sqlite3_bind_null(st->lite, i);
    }
    return db_bind_pg(st, i, NULL, 0);
}

/* A NULL of a known type: PostgreSQL cannot infer one for "?3 IS NULL". */
static int db_bind_typed_null(struct dbstmt *st, int i, Oid type)
{
    if (st->lite) {
        return sqlite3_bind_null(st->lite, i);
    }
    return db_bind_pg(st, i, NULL, type);
}

/* n < 0: up to the NUL. SQLite keeps `v` (SQLITE_STATIC) or copies it as
 * `destructor` says; PostgreSQL always copies. */
static int db_bind_textn(struct dbstmt *st, int i, const char *v, int n, void (*destructor)(void *))
{
    if (st->lite) {
        return sqlite3_bind_text(st->lite, i, v, n, destructor);
    }
    return db_bind_pg(st, i, n < 0 ? dagd_xstrdup(v) : dagd_xstrndup(v, (size_t)n), OID_TEXT);
}

static int db_step(struct dbstmt *st)
{
    if (st->lite) {
        return sqlite3_step(st->lite);
    }
    if (!st->res) {
        int rc = dagd__pg_exec(st->s->pg, st->sql, st->n_params, st->types,
                               (const char *const *)st->vals, &st->res);
        if (rc != SQLITE_OK) {
            return rc;
        }
        st->row = -1;
    }
    if (st->row + 1 < PQntuples(st->res)) {
        st->row++;
        return SQLITE_ROW;
    }
    st->row = PQntuples(st->res);
    return SQLITE_DONE;
}

static const unsigned char *db_column_text(struct dbstmt *st, int i)
{
    if (st->lite) {
        return sqlite3_column_text(st->lite, i);
    }
    if (!st->res || st->row < 0 || st->row >= PQntuples(st->res) || i >= PQnfields(st->res) ||
        PQgetisnull(st->res, st->row, i)) {
        return NULL;
    }
    return (const unsigned char *)PQgetvalue(st->res, st->row, i);
}

static int db_column_type(struct dbstmt *st, int i)
{
    if (st->lite) {
        return sqlite3_column_type(st->lite, i);
    }
    return db_column_text(st, i) ? SQLITE_TEXT : SQLITE_NULL;
}

static int64_t db_column_int64(struct dbstmt *st, int i)
{
    if (st->lite) {
        return sqlite3_column_int64(st->lite, i);
    }
    const char *v = (const char *)db_column_text(st, i);
    return v ? strtoll(v, NULL, 10) : 0;
}

static int db_column_int(struct dbstmt *st, int i)
{
    return (int)db_column_int64(st, i);
}

static int64_t db_changes(struct dagd_store *s)
{
    return s->pg ? dagd__pg_changes(s->pg) : sqlite3_changes64(s->db);
}

static int64_t db_last_insert_rowid(struct dagd_store *s)
{
    return s->pg ? dagd__pg_last_id(s->pg) : sqlite3_last_insert_rowid(s->db);
}

static bool db_in_txn(struct dagd_store *s)
{
    return s->pg ? dagd__pg_in_txn(s->pg) : !sqlite3_get_autocommit(s->db);
}

static void stmt_resetp(struct dbstmt **st)
{
    if (*st) {
        db_reset(*st);
        db_clear_bindings(*st);
    }
}
/* A cached statement that is reset (not finalized) when it goes out of scope. */
#define _cleanup_stmt_ _cleanup_(stmt_resetp)

/* The PostgreSQL text of statement `id`: its override in
 * STORE_STATEMENTS_PG (store-sql.h) where the dialects differ, else the
 * SQLite text with ?N turned into $N. */
static char *pg_sql(enum store_stmt id, int *ret_n)
{
    /* clang-format off */
    static const char *const overrides[_STMT_MAX] = {
#define X(name, sql) [STMT_##name] = sql,
        STORE_STATEMENTS_PG(X)
        STORE_STATEMENTS_PG_ONLY(X)
#undef X
    };
    /* clang-format on */
    return dagd__pg_translate(overrides[id] ? overrides[id] : store_sql[id], ret_n);
}

/* The cached statement `id`, prepared on first use. SQLITE_PREPARE_PERSISTENT
 * tells SQLite the statement lives long, so it keeps it out of the
 * lookaside allocator meant for short-lived ones. A read-only store never
 * prepares the write statements, so opening one costs nothing for them. */
static int stmt_get(struct dagd_store *s, enum store_stmt id, struct dbstmt **ret)
{
    if (!s->stmts[id]) {
        struct dbstmt *st = dagd_xcalloc(1, sizeof(*st));
        st->s = s;
        st->row = -1;
        if (s->pg) {
            st->sql = pg_sql(id, &st->n_params);
            assert(st->n_params <= DB_MAX_PARAMS);
        } else {
            assert(store_sql[id]); /* not one of STORE_STATEMENTS_PG_ONLY */
            int rc = sqlite3_prepare_v3(s->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                        &st->lite, NULL);
            if (rc != SQLITE_OK) {
                free(st);
                return store_fail(s, rc, "Failed to prepare statement");
            }
        }
        s->stmts[id] = st;
    }
    *ret = s->stmts[id];
    return 0;
}

/* SQLITE_STATIC is safe: every bound string belongs to the caller and
 * outlives the statement's step, which the cleanup handler resets (and so
 * unbinds) before the function returns. */
static int bind_text(struct dbstmt *st, int i, const char *v)
{
    return v ? db_bind_textn(st, i, v, -1, SQLITE_STATIC) : db_bind_typed_null(st, i, OID_TEXT);
}

/* 0 is stored as NULL ("not yet"). */
static int bind_time(struct dbstmt *st, int i, int64_t v)
{
    return v ? db_bind_int64(st, i, v) : db_bind_typed_null(st, i, OID_INT8);
}

/* A PostgreSQL text[] literal of `v`, for a parameter bound with type 0
 * (the statement's cast names text[]): every element quoted, '"' and '\'
 * escaped. A missing array or element is the empty string (a step without a
 * task). */
static char *pg_text_array(const char *const *v, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++) {
        len += 2 * strlen(v && v[i] ? v[i] : "") + 3;
    }
    char *out = dagd_xmalloc(len), *o = out;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            *o++ = ',';
        }
        *o++ = '"';
        for (const char *c = v && v[i] ? v[i] : ""; *c; c++) {
            if (*c == '"' || *c == '\\') {
                *o++ = '\\';
            }
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* Length of s[i..n) once invalid bytes become U+FFFD (3 bytes each). */
static size_t utf8_clean_len(const unsigned char *p, size_t i, size_t n)
{
    size_t len = 0;
    while (i < n) {
        size_t k = dagd_utf8_seq_len(p + i, n - i);
        len += k ? k : 3;
        i += k ? k : 1;
    }
    return len;
}

/* A copy of s[0..n) with invalid UTF-8 bytes replaced by U+FFFD and, if the
 * result is longer than `max` bytes, cut at a character boundary so that it
 * ends in "..." within `max` bytes. max must be at least 3. */
static char *utf8_clean(const char *s, size_t n, size_t max)
{
    static const char repl[] = "\xef\xbf\xbd", cut[] = "...";
    const unsigned char *p = (const unsigned char *)s;
    char *out = dagd_xcalloc(1, max + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = dagd_utf8_seq_len(p + i, n - i);
        size_t len = k ? k : sizeof(repl) - 1;
        if (o + len > max - (sizeof(cut) - 1) && o + utf8_clean_len(p, i, n) > max) {
            /* The rest does not fit: end with the marker. */
            memcpy(out + o, cut, sizeof(cut) - 1);
            o += sizeof(cut) - 1;
            break;
        }
        memcpy(out + o, k ? s + i : repl, len);
        o += len;
        i += k ? k : 1;
    }
    out[o] = '\0';
    return out;
}

/* Bind text that comes from steps (log lines, error messages): stored as
 * valid UTF-8, so every sqlite3 client (Python's too) can read it, and at
 * most DAGD_STORE_TEXT_MAX bytes. Valid short text is bound without a copy. */
static int bind_message(struct dbstmt *st, int i, const char *v)
{
    if (!v) {
        return db_bind_typed_null(st, i, OID_TEXT);
    }
    size_t n = strnlen(v, DAGD_STORE_TEXT_MAX + 1);
    if (n <= DAGD_STORE_TEXT_MAX && dagd_utf8_valid(v, n, NULL)) {
        return db_bind_textn(st, i, v, (int)n, SQLITE_STATIC);
    }
    if (n > DAGD_STORE_TEXT_MAX) {
        n = strlen(v);
    }
    char *c = utf8_clean(v, n, DAGD_STORE_TEXT_MAX);
    int rc = db_bind_textn(st, i, c, -1, SQLITE_TRANSIENT);
    free(c);
    return rc;
}

/* A copy of a text column; NULL stays NULL. */
static char *column_strdup(struct dbstmt *st, int i)
{
    return dagd_xstrdup((const char *)db_column_text(st, i));
}

/* Step a statement that returns no rows. */
static int stmt_exec(struct dagd_store *s, struct dbstmt *st, const char *what)
{
    int rc = db_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return store_fail(s, rc, what);
    }
    return 0;
}

/* Whether a write may go without waiting for its answer: on PostgreSQL
 * with a driver on the daemon's loop, inside the caller's batch
 * (dagd_store_begin). Its error, if the server has one, comes back at the
 * batch's dagd_store_commit() or a later one (store-pg.h). */
static bool db_async(struct dagd_store *s)
{
    return s->pg && s->user_txn && dagd__pg_async(s->pg);
}

/* Send a statement whose answer is not needed without waiting (db_async),
 * else step it. */
static int stmt_send(struct dagd_store *s, struct dbstmt *st, const char *what)
{
    if (!db_async(s)) {
        return stmt_exec(s, st, what);
    }
    int rc = dagd__pg_send(s->pg, st->sql, st->n_params, st->types, (const char *const *)st->vals);
    return rc == SQLITE_OK ? 0 : store_fail(s, rc, what);
}

/* Run a cached statement without parameters (transaction control). On
 * PostgreSQL with a driver these never wait: BEGIN, COMMIT and savepoints
 * have no answer the store needs (a failed statement before a COMMIT turns
 * it into a rollback, which dagd__pg_take_async_error() reports), and they
 * queue during an outage, so a function whose statement failed there can
 * still roll its part back in order. */
static int exec_id(struct dagd_store *s, enum store_stmt id, const char *what)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, id, &st);
    if (r < 0) {
        return r;
    }
    if (s->pg && dagd__pg_async(s->pg)) {
        int rc = dagd__pg_send(s->pg, st->sql, 0, NULL, NULL);
        return rc == SQLITE_OK ? 0 : store_fail(s, rc, what);
    }
    return stmt_exec(s, st, what);
}

/* ---- transactions ---- */

/* Start an atomic unit: a transaction of its own, or a savepoint inside the
 * caller's batch. */
static int txn_begin(struct dagd_store *s, bool *ret_nested)
{
    bool nested = db_in_txn(s);
    int r = exec_id(s, nested ? STMT_SAVEPOINT : STMT_BEGIN, "Failed to begin a transaction");
    if (r < 0) {
        return r;
    }
    *ret_nested = nested;
    return 0;
}

/* Finish the unit begun by txn_begin(): commit if r >= 0, else roll back.
 * Returns r, or the commit error. */
static int txn_end(struct dagd_store *s, bool nested, int r)
{
    if (r >= 0) {
        int k = exec_id(s, nested ? STMT_RELEASE : STMT_COMMIT, "Failed to commit a transaction");
        if (k >= 0) {
            return r;
        }
        r = k;
    }
    /* Keep the first error's message: rollback errors are secondary. */
    char saved[sizeof(s->errmsg)];
    memcpy(saved, s->errmsg, sizeof(saved));
    if (nested) {
        (void)exec_id(s, STMT_ROLLBACK_TO, "rollback");
        (void)exec_id(s, STMT_RELEASE, "rollback");
    } else if (db_in_txn(s)) {
        (void)exec_id(s, STMT_ROLLBACK, "rollback");
    }
    memcpy(s->errmsg, saved, sizeof(saved));
    return r;
}

int dagd_store_begin(struct dagd_store *s)
{
    if (s->user_txn || db_in_txn(s)) {
        return store_fail_errno(s, -EBUSY, "A transaction is already open");
    }
    int r = exec_id(s, STMT_BEGIN, "Failed to begin a transaction");
    if (r < 0) {
        return r;
    }
    s->user_txn = true;
    return 0;
}

int dagd_store_commit(struct dagd_store *s)
{
    if (!s->user_txn) {
        return store_fail_errno(s, -ENOTCONN, "No transaction is open");
    }
    int r = exec_id(s, STMT_COMMIT, "Failed to commit a transaction");
    if (r >= 0 && s->pg) {
        /* A write sent without waiting that the server refused: its
         * transaction (this batch or an earlier one) was rolled back. */
        int rc = dagd__pg_take_async_error(s->pg);
        if (rc != SQLITE_OK) {
            r = store_fail(s, rc, "Failed to commit a transaction");
        }
    }
    if (r < 0) {
        /* A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open:
         * the caller may retry the commit or roll back. */
        if (!db_in_txn(s)) {
            s->user_txn = false;
        }
        return r;
    }
    s->user_txn = false;
    return 0;
}

int dagd_store_rollback(struct dagd_store *s)
{
    if (!s->user_txn) {
        return store_fail_errno(s, -ENOTCONN, "No transaction is open");
    }
    s->user_txn = false;
    if (!db_in_txn(s)) {
        return 0; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    }
    return exec_id(s, STMT_ROLLBACK, "Failed to roll back a transaction");
}

int dagd_store_checkpoint(struct dagd_store *s)
{
    if (s->user_txn) {
        return store_fail_errno(s, -EBUSY, "A transaction is open");
    }
    if (s->pg) {
        return 0; /* PostgreSQL manages its WAL itself */
    }
    /* SQLITE_BUSY (-EBUSY) when a reader kept it from finishing. */
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(s, rc, "Failed to checkpoint");
}

bool dagd_store_in_batch(struct dagd_store *s)
{
    return s->user_txn;
}

/* ---- open, migrate, close ---- */

/* mkdir -p with `mode` for every directory it creates; existing ones keep
 * their mode (an admin may have widened it on purpose). */
static int mkdir_p(const char *dir, mode_t mode)
{
    _cleanup_free_ char *p = dagd_xstrdup(dir);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') {
            continue;
        }
        *c = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            return -errno;
        }
        *c = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST) {
        return -errno;
    }
    struct stat st;
    if (stat(p, &st) < 0) {
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return -ENOTDIR;
    }
    return 0;
}

/* Run one statement that returns at most one integer (PRAGMAs, counts). */
static int query_int(struct dagd_store *s, const char *sql, int64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return store_fail(s, rc, "Failed to read the database");
    }
    rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        int r = store_fail(s, rc, "Failed to read the database");
        (void)sqlite3_finalize(st);
        return r;
    }
    (void)sqlite3_finalize(st);
    if (ret) {
        *ret = v;
    }
    return 0;
}

/* Run uncached SQL (PRAGMAs and migrations: once per open). */
static int exec_sql(struct dagd_store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        return store_fail(s, rc, what);
    }
    return 0;
}

int dagd_store_schema_latest(void)
{
    return (int)ELEMENTSOF(dagd_store_migrations);
}

/* Roll back after a failed step, keeping the first error's message. */
static void rollback_keep_msg(struct dagd_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        char saved[sizeof(s->errmsg)];
        memcpy(saved, s->errmsg, sizeof(saved));
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        memcpy(s->errmsg, saved, sizeof(saved));
    }
}

/* Refuse files that are SQLite but not ours, or from a newer dagd. Runs in
 * one read transaction: the version and the table count must come from the
 * same snapshot, or another process's first migration committing in between
 * would look like "tables but no version". */
static int check_schema_snapshot(struct dagd_store *s, int64_t *ret_version);
static int check_schema(struct dagd_store *s, int64_t *ret_version)
{
    int r = exec_sql(s, "BEGIN", "Failed to read the database");
    if (r < 0) {
        return r;
    }
    r = check_schema_snapshot(s, ret_version);
    if (r < 0) {
        rollback_keep_msg(s);
        return r;
    }
    return exec_sql(s, "COMMIT", "Failed to read the database");
}

static int check_schema_snapshot(struct dagd_store *s, int64_t *ret_version)
{
    int64_t version, app_id;
    int r = query_int(s, "PRAGMA user_version", &version);
    if (r < 0) {
        return r;
    }
    r = query_int(s, "PRAGMA application_id", &app_id);
    if (r < 0) {
        return r;
    }
    if (app_id != 0 && app_id != STORE_APPLICATION_ID) {
        return store_fail_errno(s, -EBADMSG,
                                "'%s' is an SQLite database of another application "
                                "(application_id %" PRId64 "), not a dagd state database",
                                s->path, app_id);
    }
    if (version == 0) {
        int64_t objects;
        r = query_int(s, SQL_SCHEMA_OBJECTS, &objects);
        if (r < 0) {
            return r;
        }
        if (objects > 0) {
            return store_fail_errno(s, -EBADMSG,
                                    "'%s' has tables but no dagd schema version: "
                                    "not a dagd state database",
                                    s->path);
        }
    }
    if (version > dagd_store_schema_latest()) {
        return store_fail_errno(s, -EPROTONOSUPPORT,
                                "'%s' has schema version %" PRId64
                                ", newer than this dagd supports (%d): "
                                "use a newer dagd or another state directory",
                                s->path, version, dagd_store_schema_latest());
    }
    *ret_version = version;
    return 0;
}

/* Apply the missing migrations, each in its own transaction together with
 * its user_version bump. The version is read again under the write lock:
 * two dagd processes starting on the same old database both see it old, and
 * the second must not apply what the first just did. */
static int migrate(struct dagd_store *s)
{
    for (;;) {
        int r = exec_sql(s, "BEGIN IMMEDIATE", "Failed to start a migration");
        if (r < 0) {
            return r;
        }
        int64_t v;
        r = query_int(s, "PRAGMA user_version", &v);
        if (r < 0) {
            rollback_keep_msg(s);
            return r;
        }
        if (v > dagd_store_schema_latest()) {
            r = store_fail_errno(s, -EPROTONOSUPPORT,
                                 "'%s' has schema version %" PRId64
                                 ", newer than this dagd supports (%d): "
                                 "use a newer dagd or another state directory",
                                 s->path, v, dagd_store_schema_latest());
            rollback_keep_msg(s);
            return r;
        }
        if (v == dagd_store_schema_latest()) {
            return exec_sql(s, "COMMIT", "Failed to finish migrations");
        }

        const struct dagd_store_migration *m = &dagd_store_migrations[v];
        char what[128];
        set_msg(what, sizeof(what), "Failed to apply migration %s", m->name);
        r = exec_sql(s, m->sql, what);
        if (r >= 0) {
            char pragma[96];
            set_msg(pragma, sizeof(pragma),
                    "PRAGMA user_version = %" PRId64 "; PRAGMA application_id = %d", v + 1,
                    STORE_APPLICATION_ID);
            r = exec_sql(s, pragma, what);
        }
        if (r >= 0) {
            r = exec_sql(s, "COMMIT", what);
        }
        if (r < 0) {
            rollback_keep_msg(s);
            return r;
        }
    }
}

/* Switch to WAL (a no-op once the file is in WAL mode). The switch needs an
 * exclusive lock and SQLite does not call the busy handler for it, so retry
 * while another process holds a lock (two dagd starting on a new directory). */
static int enable_wal(struct dagd_store *s)
{
    for (int waited_ms = 0;; waited_ms += 10) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
        }
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            bool wal = mode && strcmp(mode, "wal") == 0;
            int r = wal ? 0
                        : store_fail_errno(s, -EIO, "Failed to enable WAL mode on '%s' (got '%s')",
                                           s->path, mode ? mode : "?");
            (void)sqlite3_finalize(st);
            return r;
        }
        int r = store_fail(s, rc, "Failed to enable WAL mode");
        (void)sqlite3_finalize(st);
        if (r != -EBUSY || waited_ms >= STORE_BUSY_TIMEOUT_MS) {
            return r;
        }
        (void)usleep(10 * 1000);
    }
}

/* Create state.db complete or not at all: the schema is written to a
 * private file (mode 0640 whatever the umask), synced (SQLite's default
 * synchronous=FULL in rollback mode), then link()ed into place, which never
 * replaces a file another process linked first. So a state.db that exists
 * always has a schema, and a zero-byte one can only be a truncated history
 * (store_open refuses it). 0, or -errno with the message in s->errmsg. */
static int create_fresh(struct dagd_store *s, const char *dir, size_t dir_len)
{
    char nonce[33];
    dagd_run_id_new(nonce);
    _cleanup_free_ char *tmp = dagd_xasprintf("%.*s/.state.db.new-%s", (int)dir_len, dir, nonce);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        return store_fail_errno(s, -errno, "Failed to create '%s': %s", tmp, strerror(errno));
    }
    (void)close(fd);

    char *final_path = s->path;
    s->path = tmp; /* messages name the file being written */
    int r = 0;
    int rc = sqlite3_open_v2(tmp, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = store_fail(s, rc, "Failed to create the state database");
    } else {
        r = migrate(s);
    }
    (void)sqlite3_close(s->db);
    s->db = NULL;
    s->path = final_path;
    if (r >= 0 && link(tmp, s->path) < 0 && errno != EEXIST) {
        /* A file system without hard links: rename, which could replace a
         * file another process created a moment ago, hence only then. */
        bool no_links = errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS;
        if (!no_links || rename(tmp, s->path) < 0) {
            r = store_fail_errno(s, -errno, "Failed to create '%s': %s", s->path, strerror(errno));
        }
    }
    (void)unlink(tmp);
    return r;
}

/* Every page and b-tree of the file checked (`PRAGMA quick_check`: the
 * structural part of integrity_check, without its slower check that indexes
 * match their tables; O(file size)): a damaged history is refused at start
 * rather than discovered by whichever query first reads the bad page. */
static int check_pages(struct dagd_store *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW) {
        int r = store_fail(s, rc, "Failed to check the database");
        (void)sqlite3_finalize(st);
        return r;
    }
    const char *res = (const char *)sqlite3_column_text(st, 0);
    int r = 0;
    if (!res || !streq(res, "ok")) {
        r = store_fail_errno(s, -EBADMSG,
                             "'%s' is corrupt (quick_check: %.200s): refusing a damaged history; "
                             "restore a backup, or recover it with sqlite3 '.recover', or move "
                             "it aside to start with an empty history (docs/state.md)",
                             s->path, res ? res : "?");
        /* quick_check reports on several lines: keep the message on one. */
        for (char *c = s->errmsg; *c; c++) {
            if (*c == '\n') {
                *c = ' ';
            }
        }
    }
    (void)sqlite3_finalize(st);
    return r;
}

/* Open in this order: create the directory and a complete file (so we
 * choose their modes), refuse truncated, damaged, foreign or newer files
 * before changing anything in them, then configure the connection and
 * migrate. A read-only store changes nothing at all: no WAL switch, no
 * migration, no page check (inspection tools may look at a damaged file). */
static int store_open(const char *dir, bool readonly, struct dagd_store **ret)
{
    if (!dir || !*dir || !ret) {
        set_msg(open_errmsg, sizeof(open_errmsg), "No state directory given");
        return -EINVAL;
    }

    struct dagd_store *s = dagd_xcalloc(1, sizeof(*s));
    s->readonly = readonly;
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') {
        len--;
    }
    s->path = dagd_xasprintf("%.*s/state.db", (int)len, dir);

    int r;
    if (!readonly) {
        r = mkdir_p(dir, 0750);
        if (r < 0) {
            set_msg(open_errmsg, sizeof(open_errmsg), "Failed to create state directory '%s': %s",
                    dir, strerror(-r));
            goto fail;
        }
        /* We create the file so it gets mode 0640 whatever the umask lets
         * SQLite do; SQLite gives -wal and -shm the same mode. */
        struct stat st;
        if (stat(s->path, &st) < 0) {
            if (errno != ENOENT) {
                r = -errno;
                set_msg(open_errmsg, sizeof(open_errmsg), "Failed to open '%s': %s", s->path,
                        strerror(-r));
                goto fail;
            }
            r = create_fresh(s, dir, len);
            if (r < 0) {
                goto fail_msg;
            }
        } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
            r = store_fail_errno(s, -EBADMSG,
                                 "'%s' is empty (0 bytes): the history was truncated; refusing "
                                 "to start on it. Restore a backup, or move it aside to start "
                                 "with an empty history (docs/state.md)",
                                 s->path);
            goto fail_msg;
        }
    } else if (access(s->path, F_OK) < 0) {
        r = -errno;
        set_msg(open_errmsg, sizeof(open_errmsg), "No state database at '%s': %s", s->path,
                strerror(-r));
        goto fail;
    }

    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        r = store_fail(s, rc, "Failed to open the state database");
        goto fail_msg;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    (void)sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

    int64_t version = 0;
    r = check_schema(s, &version);
    if (r < 0) {
        goto fail_msg;
    }
    if (!readonly) {
        r = check_pages(s);
        if (r < 0) {
            goto fail_msg;
        }
        /* The check filled the page cache with the whole file's worth (up
         * to cache_size): give it back, the daemon's idle RSS stays small. */
        (void)sqlite3_db_release_memory(s->db);
    }

    if (readonly) {
        if (version != dagd_store_schema_latest()) {
            r = store_fail_errno(s, -EPROTONOSUPPORT,
                                 "'%s' has schema version %" PRId64 ", this dagd reads %d: "
                                 "open it read-write once to migrate it",
                                 s->path, version, dagd_store_schema_latest());
            goto fail_msg;
        }
        r = exec_sql(s, "PRAGMA query_only = ON", "Failed to configure the state database");
        if (r < 0) {
            goto fail_msg;
        }
    } else {
        /* WAL: readers (dagctl, sqlite3) never block the writer; NORMAL: a
         * commit does not fsync, the WAL checkpoint does, so a 1000-step run
         * is not bound by fsyncs. A power cut may lose the last commits but
         * never corrupts the file. */
        r = enable_wal(s);
        if (r < 0) {
            goto fail_msg;
        }
        /* Keep state.db-wal and -shm when we close: then a group member
         * can read the database with `sqlite3 -readonly` also while dagd is
         * stopped (a reader without write access to the directory cannot
         * create them). */
        int persist = 1;
        (void)sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        r = exec_sql(s,
                     "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                     "PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864",
                     "Failed to configure the state database");
        if (r < 0) {
            goto fail_msg;
        }
        if (version < dagd_store_schema_latest()) {
            r = migrate(s);
        }
        if (r < 0) {
            goto fail_msg;
        }
    }

    *ret = s;
    return 0;

fail_msg:
    memcpy(open_errmsg, s->errmsg, sizeof(open_errmsg));
fail:
    (void)dagd_store_free(s);
    return r;
}

int dagd_store_open(const char *dir, struct dagd_store **ret)
{
    return store_open(dir, false, ret);
}

/* PostgreSQL: connect, refuse a foreign or newer schema, migrate. The
 * store's path is the conninfo without secrets, for messages. */
static int store_open_pg(const char *dir, const char *conninfo, bool readonly,
                         struct dagd_store **ret)
{
    /* The state directory still holds the daemon's lock and the default
     * warehouse: create it as for state.db. */
    int r = dir && *dir ? mkdir_p(dir, 0750) : 0;
    if (r < 0) {
        set_msg(open_errmsg, sizeof(open_errmsg), "Failed to create state directory '%s': %s", dir,
                strerror(-r));
        return r;
    }
    struct dagd_store *s = dagd_xcalloc(1, sizeof(*s));
    r = dagd__pg_connect(conninfo, &s->pg, open_errmsg, sizeof(open_errmsg));
    if (r < 0) {
        free(s);
        return r;
    }
    s->path = dagd_xstrdup(dagd__pg_display(s->pg));
    s->readonly = readonly;
    int version;
    if (readonly) {
        /* A reader changes nothing: no migration, and the session refuses
         * writes. */
        r = dagd__pg_schema_version(s->pg, &version);
        if (r >= 0 && version != dagd_store_schema_latest()) {
            set_msg(open_errmsg, sizeof(open_errmsg),
                    "PostgreSQL history (%s) has schema version %d, this dagd reads %d: start "
                    "dagd serve on it once to migrate it",
                    s->path, version, dagd_store_schema_latest());
            (void)dagd_store_free(s);
            return -EPROTONOSUPPORT;
        }
        if (r >= 0 &&
            dagd__pg_exec_simple(s->pg, "SET default_transaction_read_only = on") != SQLITE_OK) {
            r = -EIO;
        }
    } else {
        r = dagd__pg_migrate(s->pg, dagd_store_schema_latest(), &version);
    }
    if (r < 0) {
        set_msg(open_errmsg, sizeof(open_errmsg), "%s", dagd__pg_errmsg(s->pg));
        (void)dagd_store_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

int dagd_store_open_location(const char *dir, const char *state, struct dagd_store **ret)
{
    if (state && *state) {
        if (!dagd__pg_is_conninfo(state)) {
            set_msg(open_errmsg, sizeof(open_errmsg),
                    "'%s' is not a PostgreSQL connection string (postgresql://... or "
                    "'host=... dbname=...')",
                    state);
            return -EINVAL;
        }
        return store_open_pg(dir, state, false, ret);
    }
    return store_open(dir, false, ret);
}

int dagd_store_open_location_readonly(const char *state, struct dagd_store **ret)
{
    if (!dagd__pg_is_conninfo(state)) {
        set_msg(open_errmsg, sizeof(open_errmsg),
                "'%s' is not a PostgreSQL connection string (postgresql://... or "
                "'host=... dbname=...')",
                state ? state : "");
        return -EINVAL;
    }
    return store_open_pg(NULL, state, true, ret);
}

int dagd_store_lock_history(struct dagd_store *s)
{
    if (!s->pg) {
        return 0;
    }
    int rc = dagd__pg_lock_history(s->pg);
    if (rc == SQLITE_BUSY) {
        return store_fail_errno(s, -EBUSY, "%s", dagd__pg_errmsg(s->pg));
    }
    return rc == SQLITE_OK ? 0 : store_fail(s, rc, "Failed to lock the run history");
}

/* pg_locks names an int8 advisory lock by (classid, objid) = its high and
 * low 32 bits; the holder's session row gives the rest. */
#define SQL_SESSION_COLUMNS                                                                        \
    "a.pid, coalesce(host(a.client_addr), 'local'), coalesce(a.application_name, ''), "            \
    "coalesce((extract(epoch FROM a.backend_start) * 1000)::bigint, 0)"
#define SQL_HISTORY_LEADER                                                                         \
    "SELECT " SQL_SESSION_COLUMNS " FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE "    \
    "l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1::oid AND l.granted AND "           \
    "l.pid <> pg_backend_pid() LIMIT 1"
/* A prefix compare (not LIKE: the prefix's own characters are literal). */
#define SQL_HISTORY_STANDBYS                                                                       \
    "SELECT " SQL_SESSION_COLUMNS " FROM pg_stat_activity a WHERE a.datname = current_database() " \
    "AND a.pid <> pg_backend_pid() AND left(a.application_name, length($2)) = $2 AND NOT EXISTS "  \
    "(SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND "               \
    "l.classid = 0 AND l.objid = $1::oid AND l.granted) ORDER BY a.backend_start LIMIT 16"

static void session_from_row(PGresult *res, int row, struct dagd_store_session *ret)
{
    *ret = (struct dagd_store_session){
        .backend_pid = strtol(PQgetvalue(res, row, 0), NULL, 10),
        .since_ms = strtoll(PQgetvalue(res, row, 3), NULL, 10),
    };
    (void)snprintf(ret->client, sizeof(ret->client), "%s", PQgetvalue(res, row, 1));
    (void)snprintf(ret->application, sizeof(ret->application), "%s", PQgetvalue(res, row, 2));
}

int dagd_store_history_standbys(struct dagd_store *s, const char *app_prefix,
                                struct dagd_store_session **ret, size_t *ret_n)
{
    if (!s->pg) {
        return -EOPNOTSUPP;
    }
    char key[16];
    (void)snprintf(key, sizeof(key), "%u", (unsigned)DAGD__PG_HISTORY_LOCK);
    const char *vals[] = {key, app_prefix};
    const Oid types[] = {0, 0};
    PGresult *res = NULL;
    int rc = dagd__pg_exec(s->pg, SQL_HISTORY_STANDBYS, 2, types, vals, &res);
    if (rc != SQLITE_OK) {
        return store_fail(s, rc, "Failed to list the history's standbys");
    }
    size_t n = (size_t)PQntuples(res);
    struct dagd_store_session *v = dagd_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        session_from_row(res, (int)i, &v[i]);
    }
    PQclear(res);
    *ret = v;
    *ret_n = n;
    return 0;
}

int dagd_store_history_leader(struct dagd_store *s, struct dagd_store_session *ret)
{
    if (!s->pg) {
        return -EOPNOTSUPP;
    }
    char key[16];
    (void)snprintf(key, sizeof(key), "%u", (unsigned)DAGD__PG_HISTORY_LOCK);
    const char *vals[] = {key};
    const Oid types[] = {0};
    PGresult *res = NULL;
    int rc = dagd__pg_exec(s->pg, SQL_HISTORY_LEADER, 1, types, vals, &res);
    if (rc != SQLITE_OK) {
        return store_fail(s, rc, "Failed to ask who holds the run history");
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return -ENOENT;
    }
    session_from_row(res, 0, ret);
    PQclear(res);
    return 0;
}

int dagd_store_notify(struct dagd_store *s, const char *payload)
{
    if (!s->pg) {
        return -EOPNOTSUPP;
    }
    const char *vals[] = {DAGD_STORE_CHANNEL, payload};
    const Oid types[] = {0, 0};
    PGresult *res = NULL;
    int rc = dagd__pg_exec(s->pg, "SELECT pg_notify($1, $2)", 2, types, vals, &res);
    if (rc != SQLITE_OK) {
        return store_fail(s, rc, "Failed to notify the leader");
    }
    PQclear(res);
    return 0;
}

void dagd_store_set_wait_fn(struct dagd_store *s, dagd_store_wait_fn fn, void *userdata)
{
    if (s->pg) {
        dagd__pg_set_wait_fn(s->pg, fn, userdata);
    }
}

void dagd_store_set_io_fn(struct dagd_store *s, dagd_store_io_fn fn, void *userdata)
{
    if (s->pg) {
        dagd__pg_set_io_fn(s->pg, fn, userdata);
    }
}

void dagd_store_io_state(struct dagd_store *s, struct dagd_store_io *ret)
{
    *ret = (struct dagd_store_io){.fd = -1, .timeout_ms = -1};
    if (s->pg) {
        dagd__pg_io_state(s->pg, &ret->fd, &ret->gen, &ret->want_write, &ret->timeout_ms);
        ret->answers = dagd__pg_answers(s->pg);
    }
}

int dagd_store_process_io(struct dagd_store *s)
{
    if (!s->pg) {
        return 0;
    }
    int rc = dagd__pg_process_io(s->pg);
    return rc == SQLITE_OK ? 0 : store_fail(s, rc, "Run history given up");
}

size_t dagd_store_pending_writes(struct dagd_store *s)
{
    return s->pg ? dagd__pg_pending(s->pg) : 0;
}

bool dagd_store_is_postgresql(struct dagd_store *s)
{
    return s->pg != NULL;
}

bool dagd_store_unavailable(struct dagd_store *s)
{
    return s->pg && dagd__pg_down(s->pg);
}

unsigned dagd_store_reconnects(struct dagd_store *s)
{
    return s->pg ? dagd__pg_reconnects(s->pg) : 0;
}

int dagd_store_open_readonly(const char *dir, struct dagd_store **ret)
{
    return store_open(dir, true, ret);
}

struct dagd_store *dagd_store_free(struct dagd_store *s)
{
    if (!s) {
        return NULL;
    }
    if (s->pg) {
        if (dagd__pg_in_txn(s->pg)) {
            (void)dagd__pg_send(s->pg, "ROLLBACK", 0, NULL, NULL);
        }
        /* The last batches went without waiting: their COMMITs must reach
         * the server before the connection closes (and before the
         * statements, whose text the queue points to, are freed). */
        (void)dagd__pg_flush(s->pg);
    }
    for (size_t i = 0; i < _STMT_MAX; i++) {
        db_stmt_free(s->stmts[i]);
    }
    if (s->pg) {
        s->pg = dagd__pg_free(s->pg);
    }
    if (s->db) {
        if (!sqlite3_get_autocommit(s->db)) {
            (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
        if (!s->readonly) {
            /* Keeps the planner's statistics fresh (SQLite docs); the
             * analysis limit bounds its cost on a big events table, and a
             * short busy timeout keeps another writer from delaying exit. */
            (void)sqlite3_busy_timeout(s->db, 100);
            (void)sqlite3_exec(s->db, "PRAGMA analysis_limit = 400; PRAGMA optimize", NULL, NULL,
                               NULL);
        }
        (void)sqlite3_close(s->db);
    }
    free(s->path);
    free(s);
    return NULL;
}

const char *dagd_store_errmsg(struct dagd_store *s)
{
    if (!s) {
        return open_errmsg[0] ? open_errmsg : "no error";
    }
    return s->errmsg[0] ? s->errmsg : "no error";
}

int dagd_store_schema_version(struct dagd_store *s)
{
    if (s->pg) {
        int pv = 0;
        int r = dagd__pg_schema_version(s->pg, &pv);
        return r < 0 ? store_fail(s, SQLITE_IOERR, "Failed to read the schema version") : pv;
    }
    int64_t v = 0; /* query_int writes it on success only */
    int r = query_int(s, "PRAGMA user_version", &v);
    if (r < 0) {
        return r;
    }
    return (int)v;
}

const char *dagd_store_path(struct dagd_store *s)
{
    return s->path;
}

/* ---- info structs ---- */

void dagd_run_info_done(struct dagd_run_info *r)
{
    if (!r) {
        return;
    }
    free(r->run_id);
    free(r->pipeline);
    free(r->trigger);
    free(r->params_json);
    free(r->parent_run_id);
    free(r->partition);
    free(r->backfill_id);
    free(r->queue_options);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

void dagd_step_info_done(struct dagd_step_info *s)
{
    if (!s) {
        return;
    }
    free(s->run_id);
    free(s->step);
    free(s->task);
    free(s->fingerprint);
    free(s->error);
    free(s->skip_reason);
    free(s->inputs_json);
    free(s->manifest);
    memset(s, 0, sizeof(*s));
}

void dagd_event_info_done(struct dagd_event_info *e)
{
    if (!e) {
        return;
    }
    free(e->run_id);
    free(e->step);
    free(e->level);
    free(e->kind);
    free(e->message);
    memset(e, 0, sizeof(*e));
}

void dagd_tick_info_done(struct dagd_tick_info *t)
{
    if (!t) {
        return;
    }
    free(t->name);
    free(t->kind);
    free(t->run_id);
    free(t->status);
    free(t->reason);
    memset(t, 0, sizeof(*t));
}

/* Row decoders, in the order of RUN_COLUMNS etc. in store-sql.h. */
static void run_from_row(struct dbstmt *st, struct dagd_run_info *r)
{
    *r = (struct dagd_run_info){
        .run_id = column_strdup(st, 0),
        .pipeline = column_strdup(st, 1),
        .trigger = column_strdup(st, 3),
        .params_json = column_strdup(st, 4),
        .parent_run_id = column_strdup(st, 5),
        .created_at = db_column_int64(st, 6),
        .started_at = db_column_int64(st, 7),
        .ended_at = db_column_int64(st, 8),
        .error = column_strdup(st, 9),
        .partition = column_strdup(st, 10),
        .backfill_id = column_strdup(st, 11),
        .priority = db_column_int(st, 12),
        .queue_options = column_strdup(st, 13),
        .start_seq = db_column_int64(st, 14),
    };
    int v = dagd_run_status_from_string((const char *)db_column_text(st, 2));
    /* The CHECK constraint keeps unknown strings out; map anything else to failed. */
    r->status = v >= 0 ? (enum dagd_run_status)v : DAGD_RUN_FAILED;
}

static void step_from_row(struct dbstmt *st, struct dagd_step_info *s)
{
    *s = (struct dagd_step_info){
        .run_id = column_strdup(st, 0),
        .step = column_strdup(st, 1),
        .task = column_strdup(st, 2),
        .attempts = (unsigned)db_column_int64(st, 4),
        .started_at = db_column_int64(st, 5),
        .ended_at = db_column_int64(st, 6),
        .exit_code = db_column_type(st, 7) == SQLITE_NULL ? -1 : db_column_int(st, 7),
        .rows_in = db_column_int64(st, 8),
        .rows_out = db_column_int64(st, 9),
        .fingerprint = column_strdup(st, 10),
        .error = column_strdup(st, 11),
        .skip_reason = column_strdup(st, 12),
        .cpu_usec = db_column_int64(st, 13),
        .max_rss_kb = db_column_int64(st, 14),
        .inputs_json = column_strdup(st, 15),
        .manifest = column_strdup(st, 16),
    };
    int v = dagd_step_status_from_string((const char *)db_column_text(st, 3));
    s->status = v >= 0 ? (enum dagd_step_status)v : DAGD_STEP_FAILED;
}

static void event_from_row(struct dbstmt *st, struct dagd_event_info *e)
{
    *e = (struct dagd_event_info){
        .seq = db_column_int64(st, 0),
        .run_id = column_strdup(st, 1),
        .step = column_strdup(st, 2),
        .ts = db_column_int64(st, 3),
        .level = column_strdup(st, 4),
        .kind = column_strdup(st, 5),
        .message = column_strdup(st, 6),
    };
}

static void check_from_row(struct dbstmt *st, struct dagd_check_info *c)
{
    *c = (struct dagd_check_info){
        .id = db_column_int64(st, 0),
        .run_id = column_strdup(st, 1),
        .step = column_strdup(st, 2),
        .attempt = (unsigned)db_column_int64(st, 3),
        .name = column_strdup(st, 4),
        .severity = column_strdup(st, 5),
        .status = column_strdup(st, 6),
        .violations = db_column_int64(st, 7),
        .sample = column_strdup(st, 8),
        .detail = column_strdup(st, 9),
        .ts = db_column_int64(st, 10),
    };
}

static void tick_from_row(struct dbstmt *st, struct dagd_tick_info *t)
{
    *t = (struct dagd_tick_info){
        .id = db_column_int64(st, 0),
        .name = column_strdup(st, 1),
        .kind = column_strdup(st, 2),
        .ts = db_column_int64(st, 3),
        .run_id = column_strdup(st, 4),
        .status = column_strdup(st, 5),
        .reason = column_strdup(st, 6),
    };
}

/* Collect every row of a bound statement into a growing array of `size`
 * byte elements decoded by `decode`. */
static int collect_rows(struct dagd_store *s, struct dbstmt *st, size_t size,
                        void (*decode)(struct dbstmt *, void *), void (*done)(void *), void **ret,
                        size_t *ret_n)
{
    char *arr = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = db_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            arr = dagd_xreallocarray(arr, cap, size);
        }
        decode(st, arr + n * size);
        n++;
    }
    if (rc != SQLITE_DONE) {
        int r = store_fail(s, rc, "Failed to read the state database");
        for (size_t i = 0; i < n; i++) {
            done(arr + i * size);
        }
        free(arr);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

static void run_decode(struct dbstmt *st, void *p)
{
    run_from_row(st, p);
}
static void run_done(void *p)
{
    dagd_run_info_done(p);
}
static void step_decode(struct dbstmt *st, void *p)
{
    step_from_row(st, p);
}
static void step_done(void *p)
{
    dagd_step_info_done(p);
}
static void event_decode(struct dbstmt *st, void *p)
{
    event_from_row(st, p);
}
static void event_done(void *p)
{
    dagd_event_info_done(p);
}
static void check_decode(struct dbstmt *st, void *p)
{
    check_from_row(st, p);
}
static void check_done(void *p)
{
    dagd_check_info_done(p);
}
static void tick_decode(struct dbstmt *st, void *p)
{
    tick_from_row(st, p);
}
static void tick_done(void *p)
{
    dagd_tick_info_done(p);
}

/* SQLite LIMIT: negative means none. */
static int64_t sql_limit(size_t limit)
{
    return limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit;
}

/* ---- checks ---- */

void dagd_check_info_done(struct dagd_check_info *c)
{
    if (!c) {
        return;
    }
    free(c->run_id);
    free(c->step);
    free(c->name);
    free(c->severity);
    free(c->status);
    free(c->sample);
    free(c->detail);
    *c = (struct dagd_check_info){0};
}

static bool one_of(const char *v, const char *const *list)
{
    for (; v && *list; list++) {
        if (streq(v, *list)) {
            return true;
        }
    }
    return false;
}

int dagd_store_check_add(struct dagd_store *s, const struct dagd_check_info *c)
{
    static const char *const severities[] = {"error", "warn", NULL};
    static const char *const statuses[] = {"passed", "failed", "warned", "error", NULL};

    if (!c->run_id || !c->step || !c->name || !one_of(c->severity, severities) ||
        !one_of(c->status, statuses)) {
        return store_fail_errno(s, -EINVAL,
                                "A check result needs a run, a step, a name, a "
                                "known severity and a known status");
    }
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_CHECK_INSERT, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, c->run_id);
    (void)bind_text(st, 2, c->step);
    (void)db_bind_int64(st, 3, c->attempt);
    (void)bind_message(st, 4, c->name);
    (void)bind_text(st, 5, c->severity);
    (void)bind_text(st, 6, c->status);
    (void)db_bind_int64(st, 7, c->violations);
    (void)bind_text(st, 8, c->sample);
    (void)bind_message(st, 9, c->detail);
    (void)db_bind_int64(st, 10, c->ts);
    r = stmt_send(s, st, "Failed to add a check result");
    if (r == -ENOENT) {
        return store_fail_errno(s, r, "Failed to add a check result: no run '%s'", c->run_id);
    }
    return r;
}

int dagd_store_checks_list(struct dagd_store *s, const char *run_id, struct dagd_check_info **ret,
                           size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_CHECKS_LIST, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run_id);
    return collect_rows(s, st, sizeof(**ret), check_decode, check_done, (void **)ret, ret_n);
}

/* ---- events ---- */

static int event_insert(struct dagd_store *s, const char *run_id, const char *step, int64_t ts,
                        const char *level, const char *kind, const char *message, int64_t *ret_seq)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_EVENT_INSERT, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run_id);
    (void)bind_text(st, 2, step);
    (void)db_bind_int64(st, 3, ts);
    (void)bind_text(st, 4, level ? level : "info");
    (void)bind_text(st, 5, kind ? kind : "log");
    (void)bind_message(st, 6, message ? message : "");
    /* Only a caller that asks for the new seq waits for it. */
    r = ret_seq ? stmt_exec(s, st, "Failed to add an event")
                : stmt_send(s, st, "Failed to add an event");
    if (r < 0) {
        if (r == -ENOENT) {
            return store_fail_errno(s, r, "Failed to add an event: no run '%s'", run_id);
        }
        return r;
    }
    if (ret_seq) {
        *ret_seq = db_last_insert_rowid(s);
    }
    return 0;
}

/* The public entry point validates; event_insert() is shared with the
 * functions that write a state change and its event together. */
int dagd_store_event_add(struct dagd_store *s, const char *run_id, const char *step, int64_t ts,
                         const char *level, const char *kind, const char *message, int64_t *ret_seq)
{
    if (!run_id) {
        return store_fail_errno(s, -EINVAL, "An event needs a run id");
    }
    /* A single INSERT is atomic on its own: no explicit transaction, so a
     * burst inside dagd_store_begin() costs one statement per event. */
    return event_insert(s, run_id, step, ts, level, kind, message, ret_seq);
}

int dagd_store_events_list(struct dagd_store *s, const char *run_id, const char *step,
                           int64_t after_seq, size_t limit, struct dagd_event_info **ret,
                           size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_EVENTS_LIST, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run_id);
    (void)db_bind_int64(st, 2, after_seq);
    (void)bind_text(st, 3, step);
    (void)db_bind_int64(st, 4, sql_limit(limit));
    return collect_rows(s, st, sizeof(**ret), event_decode, event_done, (void **)ret, ret_n);
}

int dagd_store_events_tail(struct dagd_store *s, const char *run_id, size_t limit,
                           struct dagd_event_info **ret, size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_EVENTS_TAIL, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run_id);
    (void)db_bind_int64(st, 2, sql_limit(limit));
    struct dagd_event_info *evs = NULL;
    size_t n = 0;
    r = collect_rows(s, st, sizeof(*evs), event_decode, event_done, (void **)&evs, &n);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < n / 2; i++) {
        struct dagd_event_info t = evs[i];
        evs[i] = evs[n - 1 - i];
        evs[n - 1 - i] = t;
    }
    *ret = evs;
    *ret_n = n;
    return 0;
}

/* ---- runs ---- */

/* The first name of `names` that comes twice, or NULL. Quadratic: only
 * for the message of a failed insert. */
static const char *first_duplicate(char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(names[k], names[i]) == 0) {
                return names[i];
            }
        }
    }
    return NULL;
}

/* A run's pending steps on PostgreSQL: one statement with the names and
 * tasks as arrays (STEPS_INSERT_PENDING), not one per step: each statement
 * is a round trip the server serves in turn, however they are queued. */
static int steps_insert_pending_pg(struct dagd_store *s, const struct dagd_run_info *run,
                                   char *const *steps, char *const *tasks, size_t n_steps)
{
    if (n_steps == 0) {
        return 0;
    }
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_STEPS_INSERT_PENDING, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run->run_id);
    (void)bind_text(st, 2, run->pipeline);
    /* type 0: the server takes ?3 and ?4 as the text[] the casts name */
    (void)db_bind_pg(st, 3, pg_text_array((const char *const *)steps, n_steps), 0);
    (void)db_bind_pg(st, 4, pg_text_array((const char *const *)tasks, n_steps), 0);
    r = stmt_send(s, st, "Failed to create the steps of a run");
    /* Sent without waiting, a duplicate fails the batch's commit with the
     * server's message instead (which names the step too). */
    const char *dup = r == -EEXIST ? first_duplicate(steps, n_steps) : NULL;
    if (dup) {
        r = store_fail_errno(s, r, "Failed to create a run: duplicate step '%s'", dup);
    }
    return r;
}

/* The run row, one pending row per step (so `dagctl show` lists every step
 * from the start, in pipeline order) and the "run created" event, in one
 * transaction: a reader sees the whole run or none of it. */
int dagd_store_run_create(struct dagd_store *s, const struct dagd_run_info *run, char *const *steps,
                          char *const *tasks, size_t n_steps)
{
    if (!run || !run->run_id || !run->pipeline || (n_steps > 0 && !steps)) {
        return store_fail_errno(s, -EINVAL, "A run needs a run id, a pipeline and step names");
    }
    int64_t created = run->created_at ? run->created_at : dagd_now_wall_msec();
    const char *trigger = run->trigger ? run->trigger : "cli";

    bool nested;
    int r = txn_begin(s, &nested);
    if (r < 0) {
        return r;
    }

    {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_RUN_INSERT, &st);
        if (r < 0) {
            goto finish;
        }
        (void)bind_text(st, 1, run->run_id);
        (void)bind_text(st, 2, run->pipeline);
        (void)bind_text(st, 3, run_status_table[DAGD_RUN_QUEUED]);
        (void)bind_text(st, 4, trigger);
        (void)bind_text(st, 5, run->params_json ? run->params_json : "{}");
        (void)bind_text(st, 6, run->parent_run_id);
        (void)db_bind_int64(st, 7, created);
        (void)db_bind_null(st, 8);
        (void)db_bind_null(st, 9);
        (void)db_bind_null(st, 10);
        (void)bind_text(st, 11, run->partition);
        (void)bind_text(st, 12, run->backfill_id);
        (void)db_bind_int64(st, 13, run->priority);
        (void)bind_text(st, 14, run->queue_options);
        r = stmt_exec(s, st, "Failed to create a run");
        if (r == -EEXIST) {
            r = store_fail_errno(s, r, "Failed to create a run: run '%s' exists", run->run_id);
        }
        if (r < 0) {
            goto finish;
        }
    }

    if (s->pg) {
        r = steps_insert_pending_pg(s, run, steps, tasks, n_steps);
        if (r < 0) {
            goto finish;
        }
    } else {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_STEP_INSERT_PENDING, &st);
        if (r < 0) {
            goto finish;
        }
        for (size_t i = 0; i < n_steps; i++) {
            (void)db_reset(st);
            (void)bind_text(st, 1, run->run_id);
            (void)bind_text(st, 2, run->pipeline);
            (void)bind_text(st, 3, steps[i]);
            (void)bind_text(st, 4, tasks && tasks[i] ? tasks[i] : "");
            r = stmt_send(s, st, "Failed to create the steps of a run");
            if (r == -EEXIST) {
                r = store_fail_errno(s, r, "Failed to create a run: duplicate step '%s'", steps[i]);
            }
            if (r < 0) {
                goto finish;
            }
        }
    }

    {
        _cleanup_free_ char *msg = dagd_xasprintf(
            "run created for pipeline %s (trigger %s, %zu steps)", run->pipeline, trigger, n_steps);
        r = event_insert(s, run->run_id, NULL, created, "info", "run", msg, NULL);
    }

finish:
    return txn_end(s, nested, r);
}

/* The CASE expressions of RUN_SET_STATUS keep the first start time across
 * repeated `running` updates and stamp the end time only for final states. */
int dagd_store_run_set_status(struct dagd_store *s, const char *run_id, enum dagd_run_status status,
                              const char *error, int64_t now)
{
    const char *status_s = dagd_run_status_to_string(status);
    if (!run_id || !status_s) {
        return store_fail_errno(s, -EINVAL, "Invalid run id or run status");
    }

    /* Sent without waiting in a batch: no savepoint then (see
     * step_update_async) and no -ENOENT (the executor sets the status of
     * runs it created). */
    bool async = db_async(s);
    bool nested = true;
    int r = async ? 0 : txn_begin(s, &nested);
    if (r < 0) {
        return r;
    }
    {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_RUN_SET_STATUS, &st);
        if (r < 0) {
            goto finish;
        }
        (void)bind_text(st, 1, run_id);
        (void)bind_text(st, 2, status_s);
        (void)bind_message(st, 3, error);
        (void)db_bind_int64(st, 4, now);
        r = stmt_send(s, st, "Failed to set the status of a run");
        if (r < 0) {
            goto finish;
        }
        if (!async && db_changes(s) == 0) {
            r = store_fail_errno(s, -ENOENT, "No run '%s'", run_id);
            goto finish;
        }
    }
    {
        const char *why = dagd_reason_after(error, status_s);
        _cleanup_free_ char *msg =
            why ? dagd_xasprintf("run %s: %s", status_s, why) : dagd_xasprintf("run %s", status_s);
        r = event_insert(s, run_id, NULL, now, status == DAGD_RUN_FAILED ? "error" : "info", "run",
                         msg, NULL);
    }
finish:
    return async ? r : txn_end(s, nested, r);
}

int dagd_store_run_get(struct dagd_store *s, const char *run_id, struct dagd_run_info *ret)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_RUN_GET, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run_id);
    int rc = db_step(st);
    if (rc == SQLITE_DONE) {
        return store_fail_errno(s, -ENOENT, "No run '%s'", run_id ? run_id : "");
    }
    if (rc != SQLITE_ROW) {
        return store_fail(s, rc, "Failed to read a run");
    }
    run_from_row(st, ret);
    return 0;
}

/* Unique-prefix lookup, like git's short ids: the range query reads at most
 * two index entries whatever the number of runs. */
int dagd_store_run_resolve(struct dagd_store *s, const char *prefix, char **ret_run_id)
{
    if (!prefix || !*prefix) {
        return store_fail_errno(s, -EINVAL, "Empty run id");
    }
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_RUN_RESOLVE, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, prefix);
    /* At most two rows, in order: an exact match comes first. */
    char *first = NULL;
    bool exact = false;
    size_t n = 0;
    int rc;
    while ((rc = db_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)db_column_text(st, 0);
        if (n == 0) {
            first = dagd_xstrdup(id);
            exact = id && strcmp(id, prefix) == 0;
        }
        n++;
        if (exact) {
            break; /* an exact id wins over longer ids that share it as a prefix */
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        free(first);
        return store_fail(s, rc, "Failed to look up a run");
    }
    if (n == 0) {
        return store_fail_errno(s, -ENOENT, "No run '%s'", prefix);
    }
    if (n > 1) {
        free(first);
        return store_fail_errno(s, -ENOTUNIQ, "Run id prefix '%s' is ambiguous", prefix);
    }
    *ret_run_id = first;
    return 0;
}

int dagd_store_runs_list(struct dagd_store *s, const char *pipeline, size_t limit,
                         struct dagd_run_info **ret, size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, pipeline ? STMT_RUNS_LIST_PIPELINE : STMT_RUNS_LIST_ALL, &st);
    if (r < 0) {
        return r;
    }
    if (pipeline) {
        (void)bind_text(st, 1, pipeline);
        (void)db_bind_int64(st, 2, sql_limit(limit));
    } else {
        (void)db_bind_int64(st, 1, sql_limit(limit));
    }
    return collect_rows(s, st, sizeof(**ret), run_decode, run_done, (void **)ret, ret_n);
}

int dagd_store_runs_page(struct dagd_store *s, const struct dagd_runs_filter *f,
                         struct dagd_run_info **ret, size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, f->pipeline ? STMT_RUNS_PAGE_PIPELINE : STMT_RUNS_PAGE_ALL, &st);
    if (r < 0) {
        return r;
    }
    (void)db_bind_int64(st, 1, f->before_created_at > 0 ? f->before_created_at : INT64_MAX);
    (void)bind_text(st, 2, f->before_run_id ? f->before_run_id : "");
    (void)bind_text(st, 3, f->status);
    (void)bind_text(st, 4, f->trigger);
    (void)db_bind_int64(st, 5, f->since_ms);
    (void)db_bind_int64(st, 6, sql_limit(f->limit));
    if (f->pipeline) {
        (void)bind_text(st, 7, f->pipeline);
    }
    return collect_rows(s, st, sizeof(**ret), run_decode, run_done, (void **)ret, ret_n);
}

int dagd_store_runs_count_finished(struct dagd_store *s, dagd_store_count_fn fn, void *userdata)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_RUNS_COUNT_FINISHED, &st);
    int rc;
    if (r < 0) {
        return r;
    }
    while ((rc = db_step(st)) == SQLITE_ROW) {
        fn((const char *)db_column_text(st, 0), (const char *)db_column_text(st, 1),
           db_column_int64(st, 2), userdata);
    }
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc, "Failed to count runs");
}

int dagd_store_steps_of_finished(struct dagd_store *s, dagd_store_step_fn fn, void *userdata)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_STEPS_OF_FINISHED, &st);
    int rc;
    if (r < 0) {
        return r;
    }
    while ((rc = db_step(st)) == SQLITE_ROW) {
        bool timed = db_column_type(st, 2) != SQLITE_NULL && db_column_type(st, 3) != SQLITE_NULL;
        int64_t ms = timed ? db_column_int64(st, 3) - db_column_int64(st, 2) : -1;
        const char *pipeline = (const char *)db_column_text(st, 0);
        fn(pipeline ? pipeline : "", (const char *)db_column_text(st, 1), ms, userdata);
    }
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc, "Failed to read steps");
}

/* ---- steps ---- */

/* The event text of a step state change. */
static char *step_event_message(const struct dagd_step_info *st)
{
    const char *name = st->step;
    switch (st->status) {
    case DAGD_STEP_RUNNING:
        return dagd_xasprintf("step %s running (attempt %u)", name, st->attempts);
    case DAGD_STEP_SUCCEEDED: {
        int64_t ms = st->ended_at && st->started_at ? st->ended_at - st->started_at : 0;
        if (st->rows_in || st->rows_out) {
            return dagd_xasprintf("step %s succeeded in %" PRId64 ".%03" PRId64
                                  " s (rows in %" PRId64 ", out %" PRId64 ")",
                                  name, ms / 1000, ms % 1000, st->rows_in, st->rows_out);
        }
        return dagd_xasprintf("step %s succeeded in %" PRId64 ".%03" PRId64 " s", name, ms / 1000,
                              ms % 1000);
    }
    case DAGD_STEP_FAILED:
        /* The error says what failed (a task's own words, such as "'sh'
         * exited with code 3"); the worker's exit code is in exit_code, and
         * only named when there are no words. */
        if (!st->error && st->exit_code >= 0) {
            return dagd_xasprintf("step %s failed (attempt %u, exit code %d)", name, st->attempts,
                                  st->exit_code);
        }
        return dagd_xasprintf("step %s failed (attempt %u): %s", name, st->attempts,
                              st->error ? st->error : "unknown error");
    case DAGD_STEP_SKIPPED:
        return dagd_xasprintf("step %s skipped: %s", name,
                              st->skip_reason ? st->skip_reason : "no reason given");
    case DAGD_STEP_CANCELED:
        return dagd_reason_after(st->error, "canceled")
                   ? dagd_xasprintf("step %s canceled: %s", name,
                                    dagd_reason_after(st->error, "canceled"))
                   : dagd_xasprintf("step %s canceled", name);
    case DAGD_STEP_PENDING:
    default:
        return st->attempts
                   ? dagd_xasprintf("step %s pending (retry after attempt %u)", name, st->attempts)
                   : dagd_xasprintf("step %s pending", name);
    }
}

/* STEP_UPDATE and STEP_INSERT share their parameter numbers (?1..?17), so
 * one binder serves both. */
static void bind_step(struct dbstmt *st, const struct dagd_step_info *step)
{
    (void)bind_text(st, 1, step->run_id);
    (void)bind_text(st, 2, step->step);
    (void)bind_text(st, 3, step->task);
    (void)bind_text(st, 4, step_status_table[step->status]);
    (void)db_bind_int64(st, 5, step->attempts);
    (void)bind_time(st, 6, step->started_at);
    (void)bind_time(st, 7, step->ended_at);
    if (step->exit_code >= 0) {
        (void)db_bind_int64(st, 8, step->exit_code);
    } else {
        (void)db_bind_null(st, 8);
    }
    (void)db_bind_int64(st, 9, step->rows_in);
    (void)db_bind_int64(st, 10, step->rows_out);
    (void)bind_text(st, 11, step->fingerprint);
    (void)bind_message(st, 12, step->error);
    (void)bind_message(st, 13, step->skip_reason);
    (void)bind_time(st, 14, step->cpu_usec);
    (void)bind_time(st, 15, step->max_rss_kb);
    (void)bind_text(st, 16, step->inputs_json);
    (void)bind_text(st, 17, step->manifest);
}

/* In a batch sent without waiting (db_async): the row by one upsert (no
 * change count to choose UPDATE or INSERT by) and the event, without a
 * savepoint: a savepoint could not undo a write nobody waits for (its
 * error aborts the whole batch, which the commit reports), and each one is
 * two more statements for the server. */
static int step_update_async(struct dagd_store *s, const struct dagd_step_info *step, int64_t now)
{
    {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        int r = stmt_get(s, STMT_STEP_UPSERT, &st);
        if (r < 0) {
            return r;
        }
        bind_step(st, step);
        r = stmt_send(s, st, "Failed to update a step");
        if (r < 0) {
            return r;
        }
    }
    _cleanup_free_ char *msg = step_event_message(step);
    return event_insert(s, step->run_id, step->step, now,
                        step->status == DAGD_STEP_FAILED ? "error" : "info", "step", msg, NULL);
}

/* UPDATE first (the common case: run_create listed the step), INSERT only if
 * no row changed; either way with the event, in one transaction. */
int dagd_store_step_update(struct dagd_store *s, const struct dagd_step_info *step, int64_t now)
{
    if (!step || !step->run_id || !step->step || (unsigned)step->status >= _DAGD_STEP_STATUS_MAX) {
        return store_fail_errno(s, -EINVAL, "Invalid step update");
    }

    if (db_async(s)) {
        return step_update_async(s, step, now);
    }
    bool nested;
    int r = txn_begin(s, &nested);
    if (r < 0) {
        return r;
    }
    {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_STEP_UPDATE, &st);
        if (r < 0) {
            goto finish;
        }
        bind_step(st, step);
        r = stmt_exec(s, st, "Failed to update a step");
        if (r < 0) {
            goto finish;
        }
    }
    if (db_changes(s) == 0) {
        /* Not listed at run_create (e.g. added by a retry): insert it. */
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_STEP_INSERT, &st);
        if (r < 0) {
            goto finish;
        }
        bind_step(st, step);
        r = stmt_exec(s, st, "Failed to insert a step");
        if (r == -ENOENT) {
            r = store_fail_errno(s, r, "Failed to update step '%s': no run '%s'", step->step,
                                 step->run_id);
        }
        if (r < 0) {
            goto finish;
        }
    }
    {
        _cleanup_free_ char *msg = step_event_message(step);
        r = event_insert(s, step->run_id, step->step, now,
                         step->status == DAGD_STEP_FAILED ? "error" : "info", "step", msg, NULL);
    }
finish:
    return txn_end(s, nested, r);
}

int dagd_store_steps_list(struct dagd_store *s, const char *run_id, struct dagd_step_info **ret,
                          size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_STEPS_LIST, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run_id);
    return collect_rows(s, st, sizeof(**ret), step_decode, step_done, (void **)ret, ret_n);
}

int dagd_store_step_last_success(struct dagd_store *s, const char *pipeline, const char *step,
                                 struct dagd_step_info *ret)
{
    return dagd_store_step_last_success_partition(s, pipeline, step, NULL, ret);
}

int dagd_store_step_last_success_partition(struct dagd_store *s, const char *pipeline,
                                           const char *step, const char *partition,
                                           struct dagd_step_info *ret)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, partition ? STMT_STEP_LAST_SUCCESS_PARTITION : STMT_STEP_LAST_SUCCESS, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, pipeline);
    (void)bind_text(st, 2, step);
    if (partition) {
        (void)bind_text(st, 3, partition);
    }
    int rc = db_step(st);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && db_column_type(st, 0) == SQLITE_NULL)) {
        /* The aggregate gives one row of NULLs when nothing matches. */
        return store_fail_errno(s, -ENOENT, "No succeeded step '%s' in pipeline '%s'",
                                step ? step : "", pipeline ? pipeline : "");
    }
    if (rc != SQLITE_ROW) {
        return store_fail(s, rc, "Failed to read a step");
    }
    step_from_row(st, ret);
    return 0;
}

/* ---- fences ---- */

int dagd_store_fence(struct dagd_store *s, uint64_t *ret)
{
    *ret = 0;
    if (!s->pg) {
        return 0;
    }
    return dagd__pg_fence(s->pg, ret) == SQLITE_OK ? 0 : -EIO;
}

int dagd_store_fence_passed(struct dagd_store *s, uint64_t fence)
{
    if (!s->pg || fence == 0) {
        return 1;
    }
    int r = dagd__pg_fence_passed(s->pg, fence);
    return r < 0 ? -EIO : r;
}

void dagd_store_fence_drop(struct dagd_store *s, uint64_t fence)
{
    if (s->pg && fence != 0) {
        dagd__pg_forget(s->pg, fence);
    }
}

/* ---- memoization lookups of many steps at once ---- */

struct dagd_store_memo {
    struct dagd_store *s;
    char *pipeline, *partition;
    char **steps;
    size_t n;
    struct dbstmt *st; /* PostgreSQL: the statement asked */
    bool answered;
};

int dagd_store_memo_ask(struct dagd_store *s, const char *pipeline, const char *partition,
                        const char *const *steps, size_t n, struct dagd_store_memo **ret)
{
    struct dagd_store_memo *m = dagd_xcalloc(1, sizeof(*m));
    m->s = s;
    m->pipeline = dagd_xstrdup(pipeline);
    m->partition = partition ? dagd_xstrdup(partition) : NULL;
    m->steps = dagd_xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        m->steps[i] = dagd_xstrdup(steps[i]);
    }
    m->n = n;
    if (s->pg && n > 0 && dagd__pg_async(s->pg)) {
        struct dbstmt *st = dagd_xcalloc(1, sizeof(*st));
        st->s = s;
        st->row = -1;
        st->sql = dagd__pg_translate(partition ? SQL_PG_MEMO_LAST_SUCCESS_PARTITION
                                               : SQL_PG_MEMO_LAST_SUCCESS,
                                     &st->n_params);
        (void)bind_text(st, 1, pipeline);
        /* type 0: the server takes ?2 as the text[] the cast names */
        (void)db_bind_pg(st, 2, pg_text_array(steps, n), 0);
        if (partition) {
            (void)bind_text(st, 3, partition);
        }
        m->st = st;
        int rc = dagd__pg_ask(s->pg, st->sql, st->n_params, st->types,
                              (const char *const *)st->vals, &st->ask_seq);
        if (rc != SQLITE_OK) {
            int r = store_fail(s, rc, "Failed to look up the steps' last successes");
            dagd_store_memo_free(m);
            return r;
        }
    }
    *ret = m;
    return 0;
}

/* SQLite, or PostgreSQL without a driver: one lookup per step, now. */
static int memo_take_each(struct dagd_store_memo *m, struct dagd_step_info *infos)
{
    for (size_t i = 0; i < m->n; i++) {
        int r = dagd_store_step_last_success_partition(m->s, m->pipeline, m->steps[i], m->partition,
                                                       &infos[i]);
        if (r == -ENOENT) {
            infos[i] = (struct dagd_step_info){0};
        } else if (r < 0) {
            for (size_t k = 0; k < i; k++) {
                dagd_step_info_done(&infos[k]);
            }
            return r;
        }
    }
    return 1;
}

int dagd_store_memo_take(struct dagd_store_memo *m, struct dagd_step_info *infos)
{
    struct dbstmt *st = m->st;
    if (m->answered) {
        return store_fail_errno(m->s, -EALREADY, "The steps' last successes were taken already");
    }
    if (!st) {
        m->answered = true;
        return memo_take_each(m, infos);
    }
    PGresult *res = NULL;
    int rc = dagd__pg_answer(m->s->pg, st->ask_seq, &res);
    if (rc == SQLITE_OK && !res) {
        return 0;
    }
    st->ask_seq = 0;
    m->answered = true;
    if (rc != SQLITE_OK) {
        return store_fail(m->s, rc, "Failed to look up the steps' last successes");
    }
    st->res = res;
    st->row = -1;
    int last = PQnfields(res) - 1;
    while (db_step(st) == SQLITE_ROW) {
        int64_t i = db_column_int64(st, last);
        if (i >= 1 && (uint64_t)i <= m->n && !infos[i - 1].run_id) {
            step_from_row(st, &infos[i - 1]);
        }
    }
    return 1;
}

struct dagd_store_memo *dagd_store_memo_free(struct dagd_store_memo *m)
{
    if (!m) {
        return NULL;
    }
    db_stmt_free(m->st);
    for (size_t i = 0; i < m->n; i++) {
        free(m->steps[i]);
    }
    free(m->steps);
    free(m->pipeline);
    free(m->partition);
    free(m);
    return NULL;
}

/* ---- crash recovery and retention ---- */

/* Read column 0 (a run id) of the rows of st, at most `max` of them, into
 * *ids (NULL and *n 0 on entry), a growing array. *ids and *n are updated as
 * rows come, so the caller frees them with free_ids() whatever this returns. */
static int collect_ids(struct dagd_store *s, struct dbstmt *st, size_t max, const char *what,
                       char ***ids, size_t *n)
{
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (*n < max && (rc = db_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *ids = dagd_xreallocarray(*ids, cap, sizeof(**ids));
        }
        (*ids)[(*n)++] = column_strdup(st, 0);
    }
    if (*n < max && rc != SQLITE_DONE) {
        return store_fail(s, rc, what);
    }
    return 0;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
    }
    free(ids);
}

/* Per unfinished run, in this order: the events of its running steps (they
 * are found by status = 'running', so before the update changes it), the
 * step rows, the run row, the run's event. All runs in one transaction, so
 * a crash during recovery leaves the database as it was. */
int dagd_store_fail_orphans(struct dagd_store *s, const char *reason, int64_t now)
{
    if (!reason) {
        reason = "dagd stopped while the run was active";
    }
    bool nested;
    int r = txn_begin(s, &nested);
    if (r < 0) {
        return r;
    }

    /* Collect first: the run ids are updated while we iterate. */
    char **ids = NULL;
    size_t n = 0;
    {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_ORPHANS_SELECT, &st);
        if (r < 0) {
            goto finish;
        }
        r = collect_ids(s, st, SIZE_MAX, "Failed to find unfinished runs", &ids, &n);
        if (r < 0) {
            goto finish;
        }
    }

    static const enum store_stmt order[] = {STMT_ORPHAN_STEP_EVENTS, STMT_ORPHAN_STEPS,
                                            STMT_ORPHAN_RUN};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ELEMENTSOF(order); k++) {
            _cleanup_stmt_ struct dbstmt *st = NULL;
            r = stmt_get(s, order[k], &st);
            if (r < 0) {
                goto finish;
            }
            (void)bind_text(st, 1, ids[i]);
            (void)db_bind_int64(st, 2, now);
            (void)bind_text(st, 3, reason);
            r = stmt_exec(s, st, "Failed to fail an unfinished run");
            if (r < 0) {
                goto finish;
            }
        }
        _cleanup_free_ char *msg = dagd_xasprintf("run failed: %s", reason);
        r = event_insert(s, ids[i], NULL, now, "error", "run", msg, NULL);
        if (r < 0) {
            goto finish;
        }
    }
    r = n > INT_MAX ? INT_MAX : (int)n;

finish:
    free_ids(ids, n);
    return txn_end(s, nested, r);
}

int dagd_store_step_set_process(struct dagd_store *s, const char *run_id, const char *step,
                                int64_t pgid, uint64_t start_ticks, const char *boot_id)
{
    if (!run_id || !step || pgid < 0) {
        return store_fail_errno(s, -EINVAL, "Invalid step process");
    }
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_STEP_SET_PROCESS, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, run_id);
    (void)bind_text(st, 2, step);
    if (pgid > 0) {
        (void)db_bind_int64(st, 3, pgid);
        (void)db_bind_int64(st, 4, (int64_t)start_ticks);
        (void)bind_text(st, 5, boot_id);
    }
    bool async = db_async(s);
    r = stmt_send(s, st, "Failed to record a step's process");
    if (r < 0) {
        return r;
    }
    return async || db_changes(s) > 0 ? 0 : -ENOENT;
}

int dagd_store_orphan_processes(struct dagd_store *s, struct dagd_orphan_process **ret,
                                size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    struct dagd_orphan_process *v = NULL;
    size_t n = 0;
    int rc;
    int r = stmt_get(s, STMT_ORPHAN_PROCESSES, &st);
    if (r < 0) {
        return r;
    }
    while ((rc = db_step(st)) == SQLITE_ROW) {
        v = dagd_xreallocarray(v, n + 1, sizeof(*v));
        v[n++] = (struct dagd_orphan_process){
            .pgid = db_column_int64(st, 0),
            .start_ticks = (uint64_t)db_column_int64(st, 1),
            .boot_id = column_strdup(st, 2),
            .run_id = column_strdup(st, 3),
            .step = column_strdup(st, 4),
        };
    }
    if (rc != SQLITE_DONE) {
        dagd_orphan_processes_free(v, n);
        return store_fail(s, rc, "Failed to find the processes of unfinished runs");
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

void dagd_orphan_processes_free(struct dagd_orphan_process *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].boot_id);
        free(p[i].run_id);
        free(p[i].step);
    }
    free(p);
}

/* Oldest runs first. Children are deleted explicitly before the run (the
 * foreign keys' ON DELETE CASCADE is only the safety net): that keeps the
 * event deletion bounded and countable. */
int dagd_store_prune(struct dagd_store *s, int64_t before_ms, size_t batch)
{
    if (batch == 0) {
        return 0;
    }
    if (batch > 100000) {
        batch = 100000; /* keeps the event budget and the return value in range */
    }
    int64_t event_budget = (int64_t)batch * DAGD_STORE_PRUNE_EVENTS_PER_RUN;
    if (event_budget > DAGD_STORE_PRUNE_EVENTS_MAX) {
        event_budget = DAGD_STORE_PRUNE_EVENTS_MAX;
    }
    int64_t deleted = 0;

    bool nested;
    int r = txn_begin(s, &nested);
    if (r < 0) {
        return r;
    }

    char **ids = NULL;
    size_t n = 0;
    {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_PRUNE_SELECT, &st);
        if (r < 0) {
            goto finish;
        }
        (void)db_bind_int64(st, 1, before_ms);
        (void)db_bind_int64(st, 2, (int64_t)batch);
        r = collect_ids(s, st, batch, "Failed to find old runs", &ids, &n);
        if (r < 0) {
            goto finish;
        }
    }

    for (size_t i = 0; i < n; i++) {
        /* Events first, within the budget: a run with a huge log is trimmed
         * over several calls instead of blocking the loop in one. */
        {
            _cleanup_stmt_ struct dbstmt *st = NULL;
            r = stmt_get(s, STMT_PRUNE_EVENTS, &st);
            if (r < 0) {
                goto finish;
            }
            (void)bind_text(st, 1, ids[i]);
            (void)db_bind_int64(st, 2, event_budget);
            r = stmt_exec(s, st, "Failed to delete old events");
            if (r < 0) {
                goto finish;
            }
        }
        int64_t changed = db_changes(s);
        deleted += changed;
        event_budget -= changed;
        if (event_budget <= 0) {
            break; /* this run may have more events: the next call goes on */
        }
        static const enum store_stmt order[] = {STMT_PRUNE_CHECKS, STMT_PRUNE_STEPS,
                                                STMT_PRUNE_RUN};
        for (size_t k = 0; k < ELEMENTSOF(order); k++) {
            _cleanup_stmt_ struct dbstmt *st = NULL;
            r = stmt_get(s, order[k], &st);
            if (r < 0) {
                goto finish;
            }
            (void)bind_text(st, 1, ids[i]);
            r = stmt_exec(s, st, "Failed to delete an old run");
            if (r < 0) {
                goto finish;
            }
            deleted += db_changes(s);
        }
    }

    {
        _cleanup_stmt_ struct dbstmt *st = NULL;
        r = stmt_get(s, STMT_PRUNE_TICKS, &st);
        if (r < 0) {
            goto finish;
        }
        (void)db_bind_int64(st, 1, before_ms);
        (void)db_bind_int64(st, 2, (int64_t)batch);
        r = stmt_exec(s, st, "Failed to delete old ticks");
        if (r < 0) {
            goto finish;
        }
        deleted += db_changes(s);
    }
    r = deleted > INT_MAX ? INT_MAX : (int)deleted;

finish:
    free_ids(ids, n);
    return txn_end(s, nested, r);
}

/* ---- file hashes, ticks, sensor keys ---- */

/* FILEHASH_GET and FILEHASH_PUT name a file version with the same ?1..?5. */
static void bind_file_key(struct dbstmt *st, const char *path, uint64_t dev, uint64_t ino,
                          int64_t size, int64_t mtime_ns)
{
    (void)bind_text(st, 1, path);
    /* SQLite integers are signed: store the bit pattern. */
    (void)db_bind_int64(st, 2, (int64_t)dev);
    (void)db_bind_int64(st, 3, (int64_t)ino);
    (void)db_bind_int64(st, 4, size);
    (void)db_bind_int64(st, 5, mtime_ns);
}

int dagd_store_filehash_get(struct dagd_store *s, const char *path, uint64_t dev, uint64_t ino,
                            int64_t size, int64_t mtime_ns, char **ret_hash)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_FILEHASH_GET, &st);
    if (r < 0) {
        return r;
    }
    bind_file_key(st, path, dev, ino, size, mtime_ns);
    int rc = db_step(st);
    if (rc == SQLITE_DONE) {
        return store_fail_errno(s, -ENOENT, "No cached hash of '%s'", path ? path : "");
    }
    if (rc != SQLITE_ROW) {
        return store_fail(s, rc, "Failed to read the file-hash cache");
    }
    *ret_hash = column_strdup(st, 0);
    return 0;
}

int dagd_store_filehash_put(struct dagd_store *s, const char *path, uint64_t dev, uint64_t ino,
                            int64_t size, int64_t mtime_ns, const char *hash)
{
    if (!path || !hash) {
        return store_fail_errno(s, -EINVAL, "A file hash needs a path and a hash");
    }
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_FILEHASH_PUT, &st);
    if (r < 0) {
        return r;
    }
    bind_file_key(st, path, dev, ino, size, mtime_ns);
    (void)bind_text(st, 6, hash);
    (void)db_bind_int64(st, 7, dagd_now_wall_msec());
    return stmt_send(s, st, "Failed to write the file-hash cache");
}

/* One INSERT: atomic without an explicit transaction, and it joins the
 * caller's batch if one is open. */
int dagd_store_tick_add(struct dagd_store *s, const char *name, const char *kind, int64_t ts,
                        const char *run_id, const char *status, const char *reason)
{
    if (!name || !kind || !status) {
        return store_fail_errno(s, -EINVAL, "A tick needs a name, a kind and a status");
    }
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_TICK_INSERT, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, name);
    (void)bind_text(st, 2, kind);
    (void)db_bind_int64(st, 3, ts);
    (void)bind_text(st, 4, run_id);
    (void)bind_text(st, 5, status);
    (void)bind_text(st, 6, reason);
    return stmt_send(s, st, "Failed to record a tick");
}

int dagd_store_tick_last(struct dagd_store *s, const char *name, const char *kind,
                         struct dagd_tick_info *ret)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_TICK_LAST, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, name);
    (void)bind_text(st, 2, kind);
    int rc = db_step(st);
    if (rc == SQLITE_DONE) {
        return store_fail_errno(s, -ENOENT, "No tick of '%s'", name ? name : "");
    }
    if (rc != SQLITE_ROW) {
        return store_fail(s, rc, "Failed to read ticks");
    }
    tick_from_row(st, ret);
    return 0;
}

int dagd_store_ticks_list(struct dagd_store *s, const char *name, size_t limit,
                          struct dagd_tick_info **ret, size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, name ? STMT_TICKS_LIST_NAME : STMT_TICKS_LIST_ALL, &st);
    if (r < 0) {
        return r;
    }
    if (name) {
        (void)bind_text(st, 1, name);
        (void)db_bind_int64(st, 2, sql_limit(limit));
    } else {
        (void)db_bind_int64(st, 1, sql_limit(limit));
    }
    return collect_rows(s, st, sizeof(**ret), tick_decode, tick_done, (void **)ret, ret_n);
}

/* INSERT ... ON CONFLICT DO NOTHING and the change count make the check and
 * the claim one atomic statement: two sensors racing on a file cannot both
 * win. */
int dagd_store_sensor_key_claim(struct dagd_store *s, const char *sensor, const char *key,
                                const char *run_id, int64_t ts)
{
    if (!sensor || !key) {
        return store_fail_errno(s, -EINVAL, "A sensor key needs a sensor and a key");
    }
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_SENSOR_KEY_CLAIM, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, sensor);
    (void)bind_text(st, 2, key);
    (void)bind_text(st, 3, run_id);
    (void)db_bind_int64(st, 4, ts);
    r = stmt_exec(s, st, "Failed to record a sensor key");
    if (r < 0) {
        return r;
    }
    if (db_changes(s) == 0) {
        return store_fail_errno(s, -EEXIST, "Sensor '%s' already saw '%s'", sensor, key);
    }
    return 0;
}

/* ---- backfills ---- */

void dagd_backfill_info_done(struct dagd_backfill_info *b)
{
    if (!b) {
        return;
    }
    free(b->backfill_id);
    free(b->pipeline);
    free(b->status);
    free(b->range_from);
    free(b->range_to);
    free(b->params_json);
    memset(b, 0, sizeof(*b));
}

int dagd_store_backfill_create(struct dagd_store *s, const struct dagd_backfill_info *b)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_BACKFILL_INSERT, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, b->backfill_id);
    (void)bind_text(st, 2, b->pipeline);
    (void)bind_text(st, 3, b->range_from);
    (void)bind_text(st, 4, b->range_to);
    (void)db_bind_int64(st, 5, b->n_partitions);
    (void)db_bind_int64(st, 6, b->created_at ? b->created_at : dagd_now_wall_msec());
    (void)bind_text(st, 7, b->params_json);
    (void)db_bind_int64(st, 8, b->priority);
    return stmt_exec(s, st, "Failed to create a backfill");
}

int dagd_store_backfill_set_status(struct dagd_store *s, const char *backfill_id,
                                   const char *status, int64_t now)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_BACKFILL_SET_STATUS, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, backfill_id);
    (void)bind_text(st, 2, status);
    (void)db_bind_int64(st, 3, now);
    return stmt_send(s, st, "Failed to set the status of a backfill");
}

/* In the order of BACKFILL_COLUMNS. */
static void backfill_from_row(struct dbstmt *st, struct dagd_backfill_info *b)
{
    *b = (struct dagd_backfill_info){
        .backfill_id = column_strdup(st, 0),
        .pipeline = column_strdup(st, 1),
        .status = column_strdup(st, 2),
        .range_from = column_strdup(st, 3),
        .range_to = column_strdup(st, 4),
        .n_partitions = db_column_int64(st, 5),
        .created_at = db_column_int64(st, 6),
        .ended_at = db_column_int64(st, 7),
        .params_json = column_strdup(st, 8),
        .priority = db_column_int(st, 9),
    };
}

int dagd_store_backfills_list(struct dagd_store *s, const char *pipeline, size_t limit,
                              struct dagd_backfill_info **ret, size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    struct dagd_backfill_info *v = NULL;
    size_t n = 0;
    int r = stmt_get(s, pipeline ? STMT_BACKFILLS_LIST_PIPELINE : STMT_BACKFILLS_LIST_ALL, &st), rc;
    if (r < 0) {
        return r;
    }
    int k = 1;
    if (pipeline) {
        (void)bind_text(st, k++, pipeline);
    }
    (void)db_bind_int64(st, k, sql_limit(limit));
    while ((rc = db_step(st)) == SQLITE_ROW) {
        v = dagd_xreallocarray(v, n + 1, sizeof(*v));
        backfill_from_row(st, &v[n++]);
    }
    *ret = v;
    *ret_n = n;
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc, "Failed to list the backfills");
}

int dagd_store_backfill_get(struct dagd_store *s, const char *backfill_id,
                            struct dagd_backfill_info *ret)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_BACKFILL_GET, &st);
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, backfill_id);
    int rc = db_step(st);
    if (rc == SQLITE_DONE) {
        return store_fail_errno(s, -ENOENT, "No backfill '%s'", backfill_id);
    }
    if (rc != SQLITE_ROW) {
        return store_fail(s, rc, "Failed to read a backfill");
    }
    backfill_from_row(st, ret);
    return 0;
}

int dagd_store_backfill_counts(struct dagd_store *s, const char *backfill_id,
                               int64_t counts[static 5])
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_BACKFILL_COUNTS, &st), rc;
    if (r < 0) {
        return r;
    }
    memset(counts, 0, 5 * sizeof(*counts));
    (void)bind_text(st, 1, backfill_id);
    while ((rc = db_step(st)) == SQLITE_ROW) {
        int v = dagd_run_status_from_string((const char *)db_column_text(st, 0));
        if (v >= 0 && v < 5) {
            counts[v] = db_column_int64(st, 1);
        }
    }
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc, "Failed to count a backfill's runs");
}

int dagd_store_runs_queued_durable(struct dagd_store *s, struct dagd_run_info **ret, size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    struct dagd_run_info *v = NULL;
    size_t n = 0;
    int r = stmt_get(s, STMT_RUNS_QUEUED_DURABLE, &st), rc;
    if (r < 0) {
        return r;
    }
    while ((rc = db_step(st)) == SQLITE_ROW) {
        v = dagd_xreallocarray(v, n + 1, sizeof(*v));
        run_from_row(st, &v[n++]);
    }
    *ret = v;
    *ret_n = n;
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc, "Failed to read the queued runs");
}

int dagd_store_partitions_last(struct dagd_store *s, const char *pipeline,
                               void (*fn)(const char *partition, const char *status,
                                          int64_t created_at, int64_t ended_at, const char *run_id,
                                          void *userdata),
                               void *userdata)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    int r = stmt_get(s, STMT_PARTITIONS_LAST, &st), rc;
    if (r < 0) {
        return r;
    }
    (void)bind_text(st, 1, pipeline);
    while ((rc = db_step(st)) == SQLITE_ROW) {
        fn((const char *)db_column_text(st, 0), (const char *)db_column_text(st, 1),
           db_column_int64(st, 2), db_column_int64(st, 3), (const char *)db_column_text(st, 4),
           userdata);
    }
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc, "Failed to read the partitions");
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dagd_store_backfill_unsuccessful(struct dagd_store *s, const char *backfill_id, char ***ret,
                                     size_t *ret_n)
{
    _cleanup_stmt_ struct dbstmt *st = NULL;
    char **v = dagd_xcalloc(1, sizeof(char *));
    size_t n = 0;
    int r = stmt_get(s, STMT_BACKFILL_UNSUCCESSFUL, &st), rc;
    if (r < 0) {
        free(v);
        return r;
    }
    (void)bind_text(st, 1, backfill_id);
    while ((rc = db_step(st)) == SQLITE_ROW) {
        v = dagd_xreallocarray(v, n + 2, sizeof(char *));
        v[n++] = column_strdup(st, 0);
        v[n] = NULL;
    }
    qsort(v, n, sizeof(char *), cmp_strp);
    *ret = v;
    *ret_n = n;
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc, "Failed to read a backfill's runs");
}

/* ---- copy between backends (dagd state import / export) ---- */

/* An uncached statement (the copy runs once). */
static int stmt_adhoc(struct dagd_store *s, const char *sql, struct dbstmt **ret)
{
    struct dbstmt *st = dagd_xcalloc(1, sizeof(*st));
    st->s = s;
    st->row = -1;
    if (s->pg) {
        st->sql = dagd__pg_translate(sql, &st->n_params);
    } else {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st->lite, NULL);
        if (rc != SQLITE_OK) {
            free(st);
            return store_fail(s, rc, "Failed to prepare a copy");
        }
    }
    *ret = st;
    return 0;
}

static void stmt_freep(struct dbstmt **st)
{
    db_stmt_free(*st);
}

static int count_of(struct dagd_store *s, const char *table, int64_t *ret)
{
    _cleanup_free_ char *sql = dagd_xasprintf("SELECT count(*) FROM %s", table);
    _cleanup_(stmt_freep) struct dbstmt *st = NULL;
    int r = stmt_adhoc(s, sql, &st);
    if (r < 0) {
        return r;
    }
    int rc = db_step(st);
    if (rc != SQLITE_ROW) {
        return store_fail(s, rc, "Failed to count rows");
    }
    *ret = db_column_int64(st, 0);
    return 0;
}

static size_t count_columns(const char *columns)
{
    size_t n = 1;
    for (const char *c = columns; *c; c++) {
        n += *c == ',';
    }
    return n;
}

/* One table: every row of src, in insertion order, into dst (COPY on
 * PostgreSQL, one prepared INSERT on SQLite). Values travel as text; SQLite's
 * column affinity turns them back into integers. */
static int copy_table(struct dagd_store *dst, struct dagd_store *src, const char *table,
                      const char *columns, const char *order, int64_t *rows)
{
    int n = (int)count_columns(columns);
    _cleanup_free_ char *select =
        dagd_xasprintf("SELECT %s FROM %s ORDER BY %s", columns, table, order);
    _cleanup_(stmt_freep) struct dbstmt *in = NULL;
    _cleanup_(stmt_freep) struct dbstmt *out = NULL;
    int r = stmt_adhoc(src, select, &in);
    if (r < 0) {
        return r;
    }
    if (dst->pg) {
        int rc = dagd__pg_copy_begin(dst->pg, table, columns);
        if (rc != SQLITE_OK) {
            return store_fail(dst, rc, "Failed to copy");
        }
    } else {
        _cleanup_free_ char *marks = dagd_xstrdup("?1");
        for (int i = 2; i <= n; i++) {
            char *m = dagd_xasprintf("%s, ?%d", marks, i);
            free(marks);
            marks = m;
        }
        _cleanup_free_ char *insert =
            dagd_xasprintf("INSERT INTO %s (%s) VALUES (%s)", table, columns, marks);
        r = stmt_adhoc(dst, insert, &out);
        if (r < 0) {
            return r;
        }
    }
    const char **vals = dagd_xcalloc((size_t)n, sizeof(char *));
    int rc;
    r = 0;
    while ((rc = db_step(in)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            vals[i] = (const char *)db_column_text(in, i);
        }
        if (dst->pg) {
            rc = dagd__pg_copy_row(dst->pg, vals, n);
            if (rc != SQLITE_OK) {
                r = store_fail(dst, rc, "Failed to copy");
                break;
            }
        } else {
            db_reset(out);
            for (int i = 0; i < n; i++) {
                (void)bind_text(out, i + 1, vals[i]);
            }
            r = stmt_exec(dst, out, "Failed to copy");
            if (r < 0) {
                break;
            }
        }
        (*rows)++;
    }
    free(vals);
    if (r >= 0 && rc != SQLITE_DONE) {
        r = store_fail(src, rc, "Failed to read the history to copy");
    }
    if (dst->pg) {
        rc = dagd__pg_copy_end(dst->pg);
        if (r >= 0 && rc != SQLITE_OK) {
            r = store_fail(dst, rc, "Failed to copy");
        }
    }
    if (r < 0 && !dst->errmsg[0]) {
        memcpy(dst->errmsg, src->errmsg, sizeof(dst->errmsg));
    }
    return r;
}

int dagd_store_copy(struct dagd_store *dst, struct dagd_store *src, int64_t *ret_rows)
{
    static const struct {
        const char *table, *columns, *order;
    } tables[] = {
#define X(t, c, o) {t, c, o},
        STORE_COPY_TABLES(X)
#undef X
    };
    if (dst->user_txn || src->user_txn) {
        return store_fail_errno(dst, -EBUSY, "A transaction is open");
    }
    int64_t n_runs = 0, n_events = 0;
    int r = count_of(dst, "runs", &n_runs);
    if (r >= 0) {
        r = count_of(dst, "events", &n_events);
    }
    if (r < 0) {
        return r;
    }
    if (n_runs > 0 || n_events > 0) {
        return store_fail_errno(dst, -EEXIST,
                                "The destination history (%s) is not empty (%" PRId64
                                " runs): copying only goes into a new one",
                                dst->path, n_runs);
    }
    /* One transaction: a failed copy leaves the destination empty. On
     * PostgreSQL outside the replay log (the COPY data is not kept): a
     * dropped connection fails the copy. */
    int rc = dst->pg ? dagd__pg_exec_simple(dst->pg, "BEGIN")
                     : sqlite3_exec(dst->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        return store_fail(dst, rc, "Failed to begin the copy");
    }
    int64_t rows = 0;
    for (size_t i = 0; i < ELEMENTSOF(tables) && r >= 0; i++) {
        r = copy_table(dst, src, tables[i].table, tables[i].columns, tables[i].order, &rows);
    }
    if (r >= 0 && dst->pg) {
        rc = dagd__pg_exec_simple(dst->pg, SQL_PG_SEQUENCES_AFTER_COPY);
        if (rc != SQLITE_OK) {
            r = store_fail(dst, rc, "Failed to advance the sequences");
        }
    }
    if (r >= 0) {
        rc = dst->pg ? dagd__pg_exec_simple(dst->pg, "COMMIT")
                     : sqlite3_exec(dst->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            r = store_fail(dst, rc, "Failed to commit the copy");
        }
    }
    if (r < 0) {
        char saved[sizeof(dst->errmsg)];
        memcpy(saved, dst->errmsg, sizeof(saved));
        if (dst->pg) {
            (void)dagd__pg_exec_simple(dst->pg, "ROLLBACK");
        } else if (!sqlite3_get_autocommit(dst->db)) {
            (void)sqlite3_exec(dst->db, "ROLLBACK", NULL, NULL, NULL);
        }
        memcpy(dst->errmsg, saved, sizeof(saved));
        return r;
    }
    if (ret_rows) {
        *ret_rows = rows;
    }
    return 0;
}
