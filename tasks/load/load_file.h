/* The load task's core: files (CSV, JSON array, NDJSON, an xlsx sheet) into
 * one table of a SQLite database, by a declared column spec.
 *
 * Owns: the prepared statements on a caller-owned connection and one file's
 * transaction at a time. Calls the readers (tasks/readers) and SQLite; never
 * logs: errors are -errno with a one-line message naming the file and the
 * row, line and column where one is to blame (dagd_load_error).
 *
 * One file = one transaction (BEGIN IMMEDIATE ... COMMIT): its rows, its
 * rejected rows and its checkpoint row (`_dagd_load_files`) commit together,
 * or nothing of the file is written. A file whose content (XXH3-128 of its
 * bytes) was loaded into the same table before, under any name, is skipped.
 * Memory does not grow with the file: one record of the reader plus one batch
 * of rows (at most 128) is held at a time.
 */
#ifndef DAGD_LOAD_LOAD_FILE_H
#define DAGD_LOAD_LOAD_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

enum dagd_load_type {
    DAGD_LOAD_TEXT,
    DAGD_LOAD_INTEGER,
    DAGD_LOAD_REAL,
    DAGD_LOAD_MONEY, /* decimal text -> INTEGER cents */
    DAGD_LOAD_DATE,
    DAGD_LOAD_TIMESTAMP,
    _DAGD_LOAD_TYPE_MAX,
};

enum dagd_load_mode {
    DAGD_LOAD_APPEND,
    DAGD_LOAD_REPLACE, /* the table is emptied in the first file's transaction */
    DAGD_LOAD_UPSERT,  /* by key; optionally only when `newest` is not older */
    _DAGD_LOAD_MODE_MAX,
};

enum dagd_load_format {
    DAGD_LOAD_CSV,
    DAGD_LOAD_JSON, /* a top-level array of objects */
    DAGD_LOAD_NDJSON,
    DAGD_LOAD_XLSX,
    _DAGD_LOAD_FORMAT_MAX,
};

/* "integer" <-> DAGD_LOAD_INTEGER etc.; -EINVAL for an unknown name. */
int dagd_load_type_from_string(const char *s);
const char *dagd_load_type_to_string(enum dagd_load_type t);
int dagd_load_mode_from_string(const char *s);
int dagd_load_format_from_string(const char *s);

struct dagd_load_column {
    char *name; /* table column */
    char *from; /* header name (CSV, xlsx) or key (JSON) it is read from */
    enum dagd_load_type type;
    bool required; /* a missing or bad value rejects the row (else: NULL) */
    bool has_min, has_max;
    int64_t min, max; /* integer: the value; money: cents */
};

struct dagd_load_spec {
    enum dagd_load_format format;
    char delimiter;    /* CSV; 0 = ',' */
    const char *sheet; /* xlsx; NULL = the first sheet */
    const char *table;
    const struct dagd_load_column *columns;
    size_t n_columns;
    enum dagd_load_mode mode;
    const char *const *key; /* upsert: column names */
    size_t n_key;
    const char *newest;                       /* upsert: a row replaces a kept one only when its
                                               * value here is >= the kept one's; NULL = always */
    bool meta_file, meta_row, meta_loaded_at; /* _file, _row, _loaded_at */
    const char *rejects;  /* table of rejected rows; NULL = a bad row fails the file */
    uint64_t max_rejects; /* per file; more fails the file; 0 = no limit */
};

struct dagd_load_hooks {
    /* Rows of the current file done; called every few thousand rows. */
    void (*progress)(void *userdata, uint64_t rows);
    /* Polled as often; true stops the file with -ECANCELED (rolled back). */
    bool (*canceled)(void *userdata);
    void *userdata;
};

struct dagd_load_result {
    bool skipped;    /* its content was loaded into the table before */
    char hash[33];   /* XXH3-128, hex */
    char *prev_file; /* skipped: the name it was loaded under (owned by the loader) */
    uint64_t size;
    uint64_t rows;     /* records read */
    uint64_t written;  /* rows inserted or upserted */
    uint64_t rejected; /* rows rejected */
};

struct dagd_load;

/* Checks the spec against itself (key and newest columns declared, ...),
 * creates the table, the rejects table and `_dagd_load_files` if missing and
 * prepares the statements. The spec is copied. Returns 0 and *ret, or
 * -errno with err filled. */
int dagd_load_new(struct sqlite3 *db, const struct dagd_load_spec *spec,
                  const struct dagd_load_hooks *hooks, struct dagd_load **ret, char *err,
                  size_t errlen);
/* The same on either engine (tasks/common/wh.h): on PostgreSQL each file is
 * COPY'd (text format) in one transaction with its rejects and checkpoint;
 * an upsert goes through a temporary staging table merged with INSERT ...
 * ON CONFLICT, the later (or newest) row of a key winning as on SQLite. The
 * connection stays the caller's. */
struct dagd_wh;
int dagd_load_new_wh(struct dagd_wh *wh, const struct dagd_load_spec *spec,
                     const struct dagd_load_hooks *hooks, struct dagd_load **ret, char *err,
                     size_t errlen);
struct dagd_load *dagd_load_free(struct dagd_load *l);

/* Loads one file in its own transaction (or skips it, see above). `name`
 * is what `_file` and the messages call it (the base name); loaded_at_ms
 * fills `_loaded_at`. Returns 0 with *ret filled, or -errno with nothing of
 * the file written: -EINVAL bad input (not UTF-8, broken quoting, a record
 * with another number of fields, a missing column, a bad row without a
 * rejects table, too many rejects), -EIO, -ECANCELED, -ENOMEM. */
int dagd_load_file(struct dagd_load *l, const char *path, const char *name, int64_t loaded_at_ms,
                   struct dagd_load_result *ret);

const char *dagd_load_error(const struct dagd_load *l);

#endif /* DAGD_LOAD_LOAD_FILE_H */
