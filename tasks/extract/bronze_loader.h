/* Loader of delivered files into the bronze tables of the warehouse
 * (pipelines/sales/bronze.sql: load_files, raw_orders, city_district_map).
 *
 * Owns: the prepared statements on a caller-owned SQLite connection, and one
 * file's transaction at a time. Calls the readers (xlsx, json, csv) and
 * SQLite; never logs: errors are -errno with a one-line message naming the
 * file and the row / record / byte offset (dagd_bronze_loader_error).
 *
 * One file = one transaction: dagd_bronze_loader_load_file() runs BEGIN IMMEDIATE,
 * inserts the load_files row, streams the rows, and COMMITs; on any error it
 * rolls back, so the warehouse is exactly as before that file. A file whose
 * (source, content hash) is already in load_files is not loaded again: that
 * is the checkpoint a re-run resumes from.
 */
#ifndef DAGD_EXTRACT_BRONZE_LOADER_H
#define DAGD_EXTRACT_BRONZE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

enum dagd_bronze_loader_format {
    DAGD_FORMAT_XLSX,
    DAGD_FORMAT_JSON,
    DAGD_FORMAT_CSV,
    _DAGD_FORMAT_MAX,
};

/* "xlsx" <-> DAGD_FORMAT_XLSX; -EINVAL for an unknown name. */
int dagd_bronze_loader_format_from_string(const char *s);

struct dagd_bronze_loader_hooks {
    /* Rows of the current file done, and the file's total when known (the
     * sheet's <dimension>), else 0. Called every few thousand rows. */
    void (*progress)(void *userdata, uint64_t done, uint64_t total);
    /* Polled as often; true stops the load with -ECANCELED (rolled back). */
    bool (*canceled)(void *userdata);
    void *userdata;
};

struct dagd_bronze_loader_file {
    int64_t file_id; /* load_files.file_id (new or existing) */
    bool skipped;    /* already loaded: nothing done */
    char hash[33];   /* xxh3-128, hex */
    uint64_t size;
    uint64_t rows;     /* raw_orders rows written (or recorded, when skipped) */
    uint64_t map_rows; /* city_district_map rows upserted */
    double read_cpu;   /* CPU seconds of the reader thread (unzip + parse) */
    double write_cpu;  /* CPU seconds of the SQLite thread */
};

struct dagd_bronze_loader;

/* Creates the bronze tables if missing and prepares the statements.
 * `source` is copied. Returns 0 and *ret, or -errno with err filled. */
int dagd_bronze_loader_new(struct sqlite3 *db, const char *source,
                           const struct dagd_bronze_loader_hooks *hooks,
                           struct dagd_bronze_loader **ret, char *err, size_t errlen);
struct dagd_bronze_loader *dagd_bronze_loader_free(struct dagd_bronze_loader *l);

/* Loads one file in its own transaction, or skips it when its (source,
 * hash) is already in load_files. For csv, a file whose header is the
 * CITY_DISTRICT_MAP columns goes to city_district_map. Returns 0 with *ret
 * filled, or -errno (message: dagd_bronze_loader_error) with nothing written. */
int dagd_bronze_loader_load_file(struct dagd_bronze_loader *l,
                                 enum dagd_bronze_loader_format format, const char *path,
                                 struct dagd_bronze_loader_file *ret);

const char *dagd_bronze_loader_error(const struct dagd_bronze_loader *l);

/* The bronze DDL (pipelines/sales/bronze.sql, embedded at build time). */
extern const char dagd_bronze_loader_bronze_sql[];

#endif /* DAGD_EXTRACT_BRONZE_LOADER_H */
