/* The load task's core, shared by its two writers (load_file.c: the
 * reader thread, typing, SQLite; load_pg.c: PostgreSQL by COPY). Not part
 * of load_file.h: only these two files see the loader's insides. */
#ifndef DAGD_LOAD_LOAD_INTERNAL_H
#define DAGD_LOAD_LOAD_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "load_file.h"
#include "load_rows_vtab.h"

struct dagd_wh;
struct dagd_load_result;
struct dagd__task_hash;

#define READ_CHUNK (1u << 20)
#define PROGRESS_EVERY 16384u
#define QUEUE_ROWS 1024u /* rows per batch handed from the reader to SQLite */
#define QUEUE_DEPTH 4u

/* Is there a checkpoint of this table for a file of this size (table, size
 * as parameters)? A file whose content was loaded before has that size, so
 * without one the file is new and its hash can wait for the reader. A NULL
 * size (never written by this loader) counts as a match, to stay safe. */
#define CK_SIZE_SQL(table, size)                                                                   \
    "SELECT 1 FROM _dagd_load_files WHERE table_name = " table " AND (size = " size                \
    " OR size IS NULL) LIMIT 1"

enum cell_kind { CELL_NULL, CELL_INT, CELL_REAL, CELL_TEXT };

struct cell {
    enum cell_kind kind;
    int64_t i;
    double d;
    size_t off, len; /* text: in the batch arena */
};

/* A delivered value before typing: text (CSV, xlsx, JSON strings) or a JSON
 * scalar. */
struct src {
    enum { SRC_NULL, SRC_TEXT, SRC_INT, SRC_REAL, SRC_BOOL } kind;
    const char *s;
    size_t len;
    int64_t i;
    double d;
};

/* A rejected row, written to the rejects table by the SQLite thread. */
struct rejrec {
    uint64_t row;
    const char *column; /* the column's `from`, owned by the loader */
    const char *reason; /* a static string */
    bool has_value;
    size_t off, len; /* the value's text in the batch's rarena */
};

struct batch {
    struct cell *cells; /* QUEUE_ROWS * n_out */
    size_t rows;
    /* the text of this batch's cells; with pg_binary, the batch's rows in
     * COPY's binary format, each text cell's bytes among them */
    char *arena;
    size_t alen, acap;
    struct rejrec *rej;
    size_t nrej, rejcap;
    char *rarena; /* the values of the rejected rows (rejrec.off) */
    size_t rlen, rcap;
    bool last; /* the reader's final batch of the file */
};

struct dagd_load {
    sqlite3 *db;
    struct dagd_wh *wh; /* PostgreSQL (load_pg.c); NULL: SQLite */
    char *pg_rej;       /* PostgreSQL: the rejected rows of the file, COPY text */
    size_t pg_rej_len, pg_rej_cap;
    char *pg_buf; /* PostgreSQL: one batch as COPY text */
    size_t pg_buf_cap;
    bool pg_in_copy; /* a COPY is open on the connection */
    /* the rows go in COPY's binary format (the table's types match): the
     * reader thread writes them so into the batch arenas, which the writer
     * sends as they are */
    bool pg_binary;
    char *pg_copy_sql;  /* COPY ... FROM STDIN of the rows (into the staging table: upsert) */
    char *pg_stage_sql; /* upsert: CREATE TEMP TABLE of the staging table */
    char *pg_merge_sql; /* upsert: staging -> table, one row per key */
    char *pg_rej_sql;   /* COPY ... FROM STDIN of the rejected rows */
    struct dagd_load_hooks hooks;

    /* the spec, owned */
    enum dagd_load_format format;
    char delimiter;
    char *sheet, *table, *rejects, *newest;
    struct dagd_load_column *cols;
    size_t n_cols;
    enum dagd_load_mode mode;
    bool meta_file, meta_row, meta_loaded_at;
    uint64_t max_rejects;
    size_t n_out; /* bound values per row: columns + metadata */

    sqlite3_stmt *ins_batch, *rej, *ck_find, *ck_put, *ck_size;
    struct dagd__load_rows rows_vt; /* ins_batch's source: the batch being written */
    bool replaced;                  /* REPLACE: the table was emptied by an earlier file */

    /* the current file */
    const char *path, *name;
    int64_t loaded_at;
    long *src_idx; /* per column: header index (CSV, xlsx) or -1 */
    const char **json_keys;
    size_t n_header;
    bool header_done;
    struct src *vals;
    int fd;
    /* CSV and JSON: the content hash taken while the reader goes through the
     * file (NULL: it was hashed before, see dagd_load_file), and the bytes
     * it read */
    struct dagd__task_hash *read_hash;
    uint64_t bytes_read;
    uint64_t rows, written, rejected; /* rows, rejected: reader; written: SQLite thread */

    /* the ring of batches between the reader thread and the SQLite thread */
    struct batch batches[QUEUE_DEPTH];
    struct batch *cur; /* reader: the batch being filled */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch *full[QUEUE_DEPTH], *free_b[QUEUE_DEPTH];
    size_t full_head, full_n, free_n;
    bool stop;       /* the SQLite side failed or was canceled: the reader stops */
    int reader_r;    /* the reader thread's result */
    char werr[1024]; /* the SQLite side's error (err is the reader's) */
    char *prev_file;

    char err[1024];
};

/* load_file.c's, for load_pg.c */
int dagd__load_fail(struct dagd_load *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int dagd__load_wfail(struct dagd_load *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *dagd__load_out_name(const struct dagd_load *l, size_t i);
/* The table, the rejects table and _dagd_load_files, if missing. */
int dagd__load_create_tables(struct dagd_load *l, const struct dagd_load_spec *spec);

/* load_pg.c: the PostgreSQL writer (see there). */
int dagd__load_pg_create(struct dagd_load *l, const struct dagd_load_spec *spec);
int dagd__load_pg_find_checkpoint(struct dagd_load *l, const char *hash, bool *ret_found);
int dagd__load_pg_size_seen(struct dagd_load *l, uint64_t size, bool *ret_seen);
int dagd__load_pg_begin(struct dagd_load *l);
int dagd__load_pg_write_batch(struct dagd_load *l, const struct batch *b);
int dagd__load_pg_finish(struct dagd_load *l, const struct dagd_load_result *res);
void dagd__load_pg_abort(struct dagd_load *l);
void dagd__load_pg_done(struct dagd_load *l);

#endif
