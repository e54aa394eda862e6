/* The SQLite writer's source of rows: an eponymous virtual table over the
 * batch being written (load_internal.h), so one
 * `INSERT INTO t (...) SELECT * FROM <it>` writes a whole batch.
 *
 * Why: callgrind on bench_load showed binding (sqlite3_bind_* per value,
 * each unbinding the last one) at a quarter of the SQLite thread, plus one
 * statement run per 128 rows; a virtual table hands SQLite each value by
 * sqlite3_result_* from the batch as it is, and one statement runs per
 * 1,024 rows. Used by load_file.c only; PostgreSQL has COPY (load_pg.c). */
#ifndef DAGD_LOAD_LOAD_ROWS_VTAB_H
#define DAGD_LOAD_LOAD_ROWS_VTAB_H

#include <stddef.h>

struct sqlite3;
struct batch;

struct dagd__load_rows {
    const struct batch *batch; /* the rows the next scan returns; set by the writer */
    size_t n_out;              /* values per row (columns c0..c{n_out-1}) */
    char name[48];             /* the table's (and module's) name, unique per loader */
    struct sqlite3 *db;        /* set while registered */
};

/* Registers the table `rows->name` on db (a name from the rows' address).
 * The object must stay put until dagd__load_rows_unregister. 0 or -EIO. */
int dagd__load_rows_register(struct sqlite3 *db, struct dagd__load_rows *rows);
/* Drops the module (after every statement using it was finalized); a
 * no-op when not registered. */
void dagd__load_rows_unregister(struct dagd__load_rows *rows);

#endif /* DAGD_LOAD_LOAD_ROWS_VTAB_H */
