/* The warehouse a task writes, on either engine (issue 13): the host's
 * SQLite file or a PostgreSQL server named by the pipeline's `warehouse`
 * param (a libpq connection string; the host hands it over through
 * warehouse_conninfo(), ABI 1.4). This is the ONE place where the shipped
 * tasks' SQL differs between the engines (docs/postgresql.md "What differs"):
 * connecting, running statements and queries, parameter binding, column
 * types of created tables, which tables exist, a table's columns. What both
 * engines accept alike (quoted identifiers, INSERT ... ON CONFLICT ... DO
 * UPDATE with `excluded.`, CREATE TABLE IF NOT EXISTS, BEGIN/COMMIT) is
 * written once by the tasks.
 *
 * Owns the PostgreSQL connection (the SQLite handle stays the host's).
 * Passwords: the connection string has none (the host refuses one); libpq
 * reads PGPASSWORD or the password file. Messages name the server by
 * dagd_wh_label(): host, port, database and user, never more. Does not log.
 * One thread at a time per handle. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd_host_api;
struct dagd_task_ctx;
struct sqlite3;
struct pg_conn;
struct pg_result;

enum dagd_wh_engine {
    DAGD_WH_SQLITE,
    DAGD_WH_POSTGRESQL,
    _DAGD_WH_ENGINE_MAX,
};

/* "sqlite", "postgresql" (also the suffix of engine-specific model files). */
const char *dagd_wh_engine_to_string(enum dagd_wh_engine e);

/* Column types the tasks create: the engine's name for each. */
enum dagd_wh_type {
    DAGD_WH_INTEGER, /* SQLite INTEGER, PostgreSQL BIGINT */
    DAGD_WH_REAL,    /* REAL, DOUBLE PRECISION */
    DAGD_WH_TEXT,    /* TEXT, TEXT */
    _DAGD_WH_TYPE_MAX,
};

struct dagd_wh {
    enum dagd_wh_engine engine;
    struct sqlite3 *db; /* SQLITE: the host's handle (not closed here) */
    struct pg_conn *pg; /* POSTGRESQL: ours (PGconn) */
    char *label;        /* for messages: "PostgreSQL host=... dbname=..." or "SQLite" */
    int64_t changes;    /* rows changed by the last dagd_wh_exec */
    char err[1024];     /* the last error (one line) */
};

/* The step's warehouse: PostgreSQL when the host says so (connects now,
 * UTF-8 client encoding), else the host's SQLite handle. Returns 0 and
 * *ret, or -errno with *reterr_msg (malloc'ed) naming the server: -EIO
 * (cannot connect: server down, wrong password, ...), -ENOENT (the host
 * could not open the SQLite file; it logged why). */
int dagd_wh_open(const struct dagd_host_api *host, struct dagd_task_ctx *ctx, struct dagd_wh **ret,
                 char **reterr_msg);

/* Connect to PostgreSQL directly (tests, benchmarks). As dagd_wh_open. */
int dagd_wh_connect(const char *conninfo, struct dagd_wh **ret, char **reterr_msg);

/* Wrap a SQLite handle the caller keeps owning (tests, SQLite-only code). */
struct dagd_wh *dagd_wh_wrap_sqlite(struct sqlite3 *db);

/* Closes the PostgreSQL connection (rolling back an open transaction);
 * NULL-safe; returns NULL. */
struct dagd_wh *dagd_wh_free(struct dagd_wh *wh);

/* The engine's type name. */
const char *dagd_wh_type_name(const struct dagd_wh *wh, enum dagd_wh_type t);

/* Run one or more statements without results. 0, or -EINVAL / -EIO with
 * wh->err, as dagd_wh_query. */
int dagd_wh_exec(struct dagd_wh *wh, const char *sql);

/* One row of a query: n values as text (NULL for SQL NULL; numbers as the
 * engine prints them), names the column names, kinds 'i' integer, 'r' real,
 * 't' text or 'n' null per value. Return 0 to go on, < 0 to stop (the
 * query returns it). */
typedef int (*dagd_wh_row_fn)(void *userdata, size_t n, const char *const *names,
                              const char *const *values, const char *kinds);

/* Run a query with text parameters $1..$n (both engines take `$1`), calling
 * fn per row (may be NULL). 0, fn's error, or with wh->err: -EINVAL when
 * the SQL is wrong (SQLite cannot compile it, PostgreSQL SQLSTATE class 42:
 * it fails again), -EIO otherwise (busy, I/O, the connection). */
int dagd_wh_query(struct dagd_wh *wh, const char *sql, size_t n_params, const char *const *params,
                  dagd_wh_row_fn fn, void *userdata);

/* PostgreSQL: the text of a result's value as SQLite would print the same
 * value (NULL for NULL; numbers normalised: NUMERIC without trailing zeros,
 * a real with a fraction digit: 12.0; booleans 1/0), its kind in *ret_kind
 * as in dagd_wh_row_fn. buf (64 bytes) may hold the text. */
const char *dagd_wh_pg_value(const struct pg_result *res, int row, int col, char buf[64],
                             char *ret_kind);

/* A libpq message as one line (newlines and tabs as spaces) in wh->err,
 * which it returns. */
const char *dagd_wh_pg_error(struct dagd_wh *wh, const char *msg);

/* True when table or view NAME exists (-errno on a failed lookup). */
int dagd_wh_table_exists(struct dagd_wh *wh, const char *name);

/* Rows changed by the last statement dagd_wh_exec ran (one statement). */
int64_t dagd_wh_changes(struct dagd_wh *wh);

/* Append "name" (doubled quotes) to a malloc'ed string buffer; used to
 * build SQL. Both engines quote alike. Returns the new string (the old one
 * freed) or aborts on OOM. */
char *dagd_wh_append(char *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *dagd_wh_append_ident(char *s, const char *ident);
