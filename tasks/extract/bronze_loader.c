/* Bronze loader: readers -> prepared INSERTs, one transaction per file.
 *
 * Values keep their delivered type (bronze.sql): xlsx/CSV numbers become
 * INTEGER when written without fraction or exponent and REAL otherwise, text
 * stays TEXT, blanks are NULL. Text is bound SQLITE_STATIC straight from the
 * reader's buffers (valid until the row callback returns, and the statement
 * is stepped inside it), so a row costs no allocation.
 */
#include "bronze_loader.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sqlite3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bronze_sql.h"
#include "csv_reader.h"
#include "json_reader.h"
#include "numparse.h"
#include "rowq.h"
#include "task_clock.h"
#include "task_hash.h"
#include "xlsx_reader.h"

#define IO_CHUNK (1024u * 1024u)
#define POLL_EVERY 4096u /* rows between progress/cancel polls */
#define ROWQ_BATCH_BYTES (256u * 1024u)
#define ROWQ_BATCHES 4u

const char dagd_bronze_loader_bronze_sql[] = DAGD_BRONZE_SQL;

/* raw_orders value columns, in INSERT parameter order from ?4. */
enum field {
    F_ORDER_ID,
    F_ORDER_TIME,
    F_CDID,
    F_CITY,
    F_DISTRICT,
    F_AMT,
    F_CURRENCY,
    F_QTY,
    _F_MAX,
};
#define P_FILE_ID 1
#define P_ROW_NO 2
#define P_SOURCE 3
#define P_FIELD0 4
#define P_MISSING 12
#define P_EXTRA 13

struct column {
    const char *name;
    enum field field;
};

/* Delivered column / key names per source (shared/data/README.md). */
static const struct column ds1_columns[] = {
    {"ORDER_ID", F_ORDER_ID}, {"ORDER_TIME  (PST)", F_ORDER_TIME}, {"CITY_DISTRICT_ID", F_CDID},
    {"RPTG_AMT", F_AMT},      {"CURRENCY_CD", F_CURRENCY},         {"ORDER_QTY", F_QTY},
};
static const struct column ds2_columns[] = {
    {"ORDER_ID", F_ORDER_ID},
    {"ORDER_TIME_PST", F_ORDER_TIME},
    {"SHIP_TO_DISTRICT_NAME", F_DISTRICT},
    {"SHIP_TO_CITY_CD", F_CITY},
    {"RPTG_AMT", F_AMT},
    {"CURRENCY_CD", F_CURRENCY},
    {"ORDER_QTY", F_QTY},
};
#define N_MAP_COLUMNS 3
static const char *const map_columns[N_MAP_COLUMNS] = {"CITY_DISTRICT_ID", "SHIP_TO_CITY_CD",
                                                       "SHIP_TO_DISTRICT_NAME"};
#define DATA_SHEET "DATA"
#define MAP_SHEET "CITY_DISTRICT_MAP"

static const char sql_insert_row[] =
    "INSERT INTO raw_orders(file_id, row_no, source, order_id, order_time, city_district_id, "
    "city, district, rptg_amt, currency_cd, order_qty, missing_keys, extra_keys) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
/* The same INSERT with MULTI_ROWS rows of VALUES: one statement execution
 * (cursors opened, program started and halted once) for that many rows:
 * SQLite thread 112 -> 78 ms for the 160k rows of data/sales (16 rows per
 * statement were no faster than one; 256 little better than 128). */
#define MULTI_ROWS 128
#define ROW_PARAMS P_EXTRA
static const char sql_insert_rows_head[] =
    "INSERT INTO raw_orders(file_id, row_no, source, order_id, order_time, city_district_id, "
    "city, district, rptg_amt, currency_cd, order_qty, missing_keys, extra_keys) VALUES ";
static const char sql_upsert_map[] =
    "INSERT INTO city_district_map(city_district_id, city, district, file_id) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(city_district_id) DO UPDATE SET "
    "city = excluded.city, district = excluded.district, file_id = excluded.file_id";
static const char sql_find_file[] =
    "SELECT file_id, rows FROM load_files WHERE source = ?1 AND content_hash = ?2";
static const char sql_insert_file[] =
    "INSERT INTO load_files(source, path, content_hash, size, rows, loaded_at) "
    "VALUES (?1, ?2, ?3, ?4, 0, ?5)";
static const char sql_update_file[] = "UPDATE load_files SET rows = ?1 WHERE file_id = ?2";

struct dagd_bronze_loader {
    sqlite3 *db;
    char *source;
    struct dagd_bronze_loader_hooks hooks;
    sqlite3_stmt *ins_row, *ins_rows, *ups_map, *find_file, *ins_file, *upd_file;
    /* rows waiting for ins_rows (their text lives in the queue's batch) */
    struct dagd_rowq_row pending[MULTI_ROWS];
    size_t n_pending;

    /* current file: the reader thread owns err and the reader fields below,
     * the SQLite thread owns cerr, rows and map_rows */
    const char *path;
    enum dagd_bronze_loader_format format;
    struct dagd_rowq *q;
    char cerr[1024];
    double read_cpu, write_cpu; /* CPU seconds of each thread for this file */
    int64_t file_id;
    uint64_t rows, map_rows;
    const struct column *columns;
    size_t n_columns;

    /* current sheet / csv */
    const char *what; /* "sheet DATA", "line", ... for messages */
    bool header_done, is_map, is_csv;
    int16_t *colmap; /* DAGD_XLSX_MAX_COLS entries: column -> field, or -1 */
    uint32_t map_cols[N_MAP_COLUMNS];

    char err[1024];
};

static int lerr(struct dagd_bronze_loader *l, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats "<prefix>: <message>" into buf; a prefix too long for buf is
 * dropped, so the message itself is always there. */
static void format_err(char *buf, size_t size, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void format_err(char *buf, size_t size, const char *prefix, const char *fmt, va_list ap)
{
    int n = snprintf(buf, size, "%s: ", prefix);
    if (n < 0 || (size_t)n >= size) {
        n = 0;
    }
    (void)vsnprintf(buf + n, size - (size_t)n, fmt, ap);
}

/* Sets the error message, always prefixed with the file, and returns r.
 * Only the reader thread (and the setup before it) writes l->err. */
static int lerr(struct dagd_bronze_loader *l, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    format_err(l->err, sizeof(l->err), l->path ? l->path : "warehouse", fmt, ap);
    va_end(ap);
    return r;
}

static int sql_err(struct dagd_bronze_loader *l, const char *what)
{
    return lerr(l, -EIO, "warehouse error (%s): %s", what, sqlite3_errmsg(l->db));
}

const char *dagd_bronze_loader_error(const struct dagd_bronze_loader *l)
{
    return l->err;
}

int dagd_bronze_loader_format_from_string(const char *s)
{
    static const char *const names[_DAGD_FORMAT_MAX] = {"xlsx", "json", "csv"};

    for (int i = 0; i < _DAGD_FORMAT_MAX; i++) {
        if (s && strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -EINVAL;
}

int dagd_bronze_loader_new(sqlite3 *db, const char *source,
                           const struct dagd_bronze_loader_hooks *hooks,
                           struct dagd_bronze_loader **ret, char *err, size_t errlen)
{
    struct dagd_bronze_loader *l = calloc(1, sizeof(*l));
    char *msg = NULL;

    if (!l) {
        (void)snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->db = db;
    l->source = strdup(source);
    l->colmap = malloc(DAGD_XLSX_MAX_COLS * sizeof(*l->colmap));
    if (hooks) {
        l->hooks = *hooks;
    }
    if (!l->source || !l->colmap) {
        dagd_bronze_loader_free(l);
        (void)snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (sqlite3_exec(db, dagd_bronze_loader_bronze_sql, NULL, NULL, &msg) != SQLITE_OK) {
        (void)snprintf(err, errlen, "cannot create the bronze tables: %s", msg ? msg : "?");
        sqlite3_free(msg);
        dagd_bronze_loader_free(l);
        return -EIO;
    }
    char rows_sql[sizeof(sql_insert_rows_head) + MULTI_ROWS * 64];
    size_t o = (size_t)snprintf(rows_sql, sizeof(rows_sql), "%s", sql_insert_rows_head);
    for (int i = 0; i < MULTI_ROWS; i++) {
        o += (size_t)snprintf(rows_sql + o, sizeof(rows_sql) - o, "%s(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                              i ? "," : "");
    }
    if (sqlite3_prepare_v3(db, sql_insert_row, -1, SQLITE_PREPARE_PERSISTENT, &l->ins_row, NULL) ||
        sqlite3_prepare_v3(db, rows_sql, -1, SQLITE_PREPARE_PERSISTENT, &l->ins_rows, NULL) ||
        sqlite3_prepare_v3(db, sql_upsert_map, -1, SQLITE_PREPARE_PERSISTENT, &l->ups_map, NULL) ||
        sqlite3_prepare_v2(db, sql_find_file, -1, &l->find_file, NULL) ||
        sqlite3_prepare_v2(db, sql_insert_file, -1, &l->ins_file, NULL) ||
        sqlite3_prepare_v2(db, sql_update_file, -1, &l->upd_file, NULL)) {
        (void)snprintf(err, errlen, "cannot prepare the bronze statements: %s", sqlite3_errmsg(db));
        dagd_bronze_loader_free(l);
        return -EIO;
    }
    *ret = l;
    return 0;
}

struct dagd_bronze_loader *dagd_bronze_loader_free(struct dagd_bronze_loader *l)
{
    if (!l) {
        return NULL;
    }
    sqlite3_finalize(l->ins_row);
    sqlite3_finalize(l->ins_rows);
    sqlite3_finalize(l->ups_map);
    sqlite3_finalize(l->find_file);
    sqlite3_finalize(l->ins_file);
    sqlite3_finalize(l->upd_file);
    free(l->source);
    free(l->colmap);
    free(l);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Encoding rows for the SQLite thread (runs on the reader thread) */

enum row_kind { KIND_ROW = 1, KIND_MAP = 2 };

/* Text that may be a number (xlsx <v>, unquoted CSV): INTEGER, REAL or TEXT. */
static int put_text_value(struct dagd_rowq *q, uint8_t p, const char *s, size_t len)
{
    int64_t i;
    double d;

    switch (dagd_num_parse(s, len, &i, &d)) {
    case DAGD_NUM_INT:
        return dagd_rowq_int(q, p, i);
    case DAGD_NUM_REAL:
        return dagd_rowq_real(q, p, d);
    default:
        return dagd_rowq_text(q, p, s, len);
    }
}

static int put_xlsx_cell(struct dagd_rowq *q, uint8_t p, const struct dagd_xlsx_cell *c)
{
    switch (c->kind) {
    case DAGD_XLSX_NUMBER:
        return put_text_value(q, p, c->text, c->len);
    case DAGD_XLSX_BOOL:
        return dagd_rowq_int(q, p, c->len == 1 && c->text[0] == '1');
    case DAGD_XLSX_STRING:
    case DAGD_XLSX_ERROR:
    default:
        /* An empty string is a blank: the shared-string writers drop such
         * cells, so inline and shared workbooks load the same. */
        if (c->len == 0) {
            return 0;
        }
        return dagd_rowq_text(q, p, c->text, c->len);
    }
}

static int put_csv_field(struct dagd_rowq *q, uint8_t p, const struct dagd_csv_field *f)
{
    if (f->len == 0) {
        return 0;
    }
    if (f->quoted) {
        return dagd_rowq_text(q, p, f->s, f->len);
    }
    return put_text_value(q, p, f->s, f->len);
}

static int put_json_value(struct dagd_rowq *q, uint8_t p, const struct dagd_json_value *v)
{
    switch (v->kind) {
    case DAGD_JSON_BOOL:
    case DAGD_JSON_INT:
        return dagd_rowq_int(q, p, v->i);
    case DAGD_JSON_REAL:
        return dagd_rowq_real(q, p, v->d);
    case DAGD_JSON_STRING:
    case DAGD_JSON_NESTED:
        return dagd_rowq_text(q, p, v->s, v->len);
    case DAGD_JSON_ABSENT:
    case DAGD_JSON_NULL:
    default:
        return 0; /* absent from the row = NULL */
    }
}

/* ---------------------------------------------------------------------- */
/* Header matching (xlsx and csv) */

static inline char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Exact match first; then ignoring whitespace and ASCII case, so a header
 * retyped as "ORDER_TIME (PST)" still maps. */
static bool name_eq_loose(const char *a, size_t alen, const char *b)
{
    size_t i = 0, j = 0, blen = strlen(b);

    for (;;) {
        while (i < alen && (a[i] == ' ' || a[i] == '\t' || a[i] == '\n' || a[i] == '\r')) {
            i++;
        }
        while (j < blen && b[j] == ' ') {
            j++;
        }
        if (i == alen || j == blen) {
            return i == alen && j == blen;
        }
        if (ascii_lower(a[i]) != ascii_lower(b[j])) {
            return false;
        }
        i++;
        j++;
    }
}

struct header_cell {
    uint32_t col;
    const char *text;
    size_t len;
};

/* Finds `name` among the header cells; returns the column or -1. */
static long header_find(const struct header_cell *h, size_t n, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < n; i++) {
        if (h[i].len == nl && memcmp(h[i].text, name, nl) == 0) {
            return h[i].col;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (name_eq_loose(h[i].text, h[i].len, name)) {
            return h[i].col;
        }
    }
    return -1;
}

static void header_list(const struct header_cell *h, size_t n, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && o + 8 < len; i++) {
        int w = snprintf(buf + o, len - o, "%s'%.*s'", i ? ", " : "",
                         (int)(h[i].len > 40 ? 40 : h[i].len), h[i].text);
        if (w < 0) {
            break;
        }
        o += (size_t)w;
    }
    if (o >= len) {
        memcpy(buf + len - 4, "...", 4);
    }
}

/* Sets up l->colmap (data) or l->map_cols (map) from a header row. */
static int apply_header(struct dagd_bronze_loader *l, const struct header_cell *h, size_t n,
                        uint64_t row_no)
{
    char list[400];

    if (l->is_map) {
        for (size_t k = 0; k < N_MAP_COLUMNS; k++) {
            long c = header_find(h, n, map_columns[k]);
            if (c < 0) {
                header_list(h, n, list, sizeof(list));
                return lerr(l, -EINVAL, "%s: missing column '%s' in header %s %llu (found %s)",
                            l->is_csv ? "map file" : "sheet " MAP_SHEET, map_columns[k],
                            l->is_csv ? "line" : "row", (unsigned long long)row_no, list);
            }
            l->map_cols[k] = (uint32_t)c;
        }
    } else {
        memset(l->colmap, 0xff, DAGD_XLSX_MAX_COLS * sizeof(*l->colmap));
        for (size_t k = 0; k < l->n_columns; k++) {
            long c = header_find(h, n, l->columns[k].name);
            if (c < 0) {
                header_list(h, n, list, sizeof(list));
                return lerr(l, -EINVAL, "%s: missing column '%s' in header %s %llu (found %s)",
                            l->is_csv ? "CSV" : "sheet " DATA_SHEET, l->columns[k].name,
                            l->is_csv ? "line" : "row", (unsigned long long)row_no, list);
            }
            if (l->colmap[c] < 0) {
                l->colmap[c] = (int16_t)l->columns[k].field;
            }
        }
    }
    l->header_done = true;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* city_district_map rows */

static int map_id_of(const char *s, size_t len, int64_t *ret)
{
    int64_t i;
    double d;

    switch (dagd_num_parse(s, len, &i, &d)) {
    case DAGD_NUM_INT:
        *ret = i;
        return 0;
    case DAGD_NUM_REAL:
        if (d >= -9.0e15 && d <= 9.0e15 && d == (double)(int64_t)d) {
            *ret = (int64_t)d;
            return 0;
        }
        return -EINVAL;
    default:
        return -EINVAL;
    }
}

/* One map row: texts[k] for map_columns[k] (NULL when blank). */
/* Map rows: the id must be an integer (5 and 5.0 are; "x" is an error
 * naming the row); blank names are stored as '' (the columns are NOT NULL). */
static int put_map_row(struct dagd_bronze_loader *l, uint64_t row_no, const char *const texts[],
                       const size_t lens[])
{
    int64_t id;
    int rc;

    if (!texts[0] && !texts[1] && !texts[2]) {
        return 0;
    }
    if (!texts[0] || map_id_of(texts[0], lens[0], &id) < 0) {
        return lerr(l, -EINVAL, "%s %llu: CITY_DISTRICT_ID '%.*s' is not an integer",
                    l->is_csv ? "map file line" : "sheet " MAP_SHEET " row",
                    (unsigned long long)row_no, texts[0] ? (int)(lens[0] > 40 ? 40 : lens[0]) : 0,
                    texts[0] ? texts[0] : "");
    }
    if ((rc = dagd_rowq_begin(l->q, KIND_MAP, row_no)) < 0 ||
        (rc = dagd_rowq_int(l->q, 1, id)) < 0 ||
        (rc = dagd_rowq_text(l->q, 2, texts[1] ? texts[1] : "", lens[1])) < 0 ||
        (rc = dagd_rowq_text(l->q, 3, texts[2] ? texts[2] : "", lens[2])) < 0) {
        return rc;
    }
    return dagd_rowq_end(l->q);
}

/* ---------------------------------------------------------------------- */
/* xlsx */

static void xlsx_dimension(void *ud, uint64_t last_row)
{
    struct dagd_bronze_loader *l = ud;

    if (!l->is_map && last_row > 1) {
        dagd_rowq_set_total(l->q, last_row - 1);
    }
}

/* Reader thread: the first row of a sheet is its header; later rows are
 * encoded for the SQLite thread with the header's column -> field map. */
static int xlsx_row(void *ud, uint64_t row_no, const struct dagd_xlsx_cell *cells, size_t n)
{
    struct dagd_bronze_loader *l = ud;
    int r;

    if (!l->header_done) {
        struct header_cell h[256];
        size_t nh = 0;
        for (size_t i = 0; i < n && nh < 256; i++) {
            h[nh++] = (struct header_cell){cells[i].col, cells[i].text, cells[i].len};
        }
        return apply_header(l, h, nh, row_no);
    }
    if (l->is_map) {
        const char *texts[N_MAP_COLUMNS] = {NULL};
        size_t lens[N_MAP_COLUMNS] = {0};
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < N_MAP_COLUMNS; k++) {
                if (cells[i].col == l->map_cols[k] && cells[i].len > 0) {
                    texts[k] = cells[i].text;
                    lens[k] = cells[i].len;
                }
            }
        }
        return put_map_row(l, row_no, texts, lens);
    }

    if ((r = dagd_rowq_begin(l->q, KIND_ROW, row_no)) < 0) {
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        int f = l->colmap[cells[i].col];
        if (f >= 0 && (r = put_xlsx_cell(l->q, (uint8_t)(P_FIELD0 + f), &cells[i])) < 0) {
            return r;
        }
    }
    return dagd_rowq_end(l->q);
}

/* Both sheets must exist before anything is sent, so a workbook without
 * its map fails before any row is read. DATA is read first, then the map. */
static int load_xlsx(struct dagd_bronze_loader *l)
{
    struct dagd_xlsx *x = NULL;
    struct dagd_xlsx_handler h = {.row = xlsx_row, .dimension = xlsx_dimension, .userdata = l};
    char rerr[512] = "";
    int data, map, r;

    r = dagd_xlsx_open(l->path, &x, rerr, sizeof(rerr));
    if (r < 0) {
        return lerr(l, r, "%s", rerr);
    }
    data = dagd_xlsx_find_sheet(x, DATA_SHEET);
    map = dagd_xlsx_find_sheet(x, MAP_SHEET);
    if (data < 0 || map < 0) {
        char list[300] = "";
        size_t o = 0;
        for (size_t i = 0; i < dagd_xlsx_sheet_count(x) && o + 8 < sizeof(list); i++) {
            int w = snprintf(list + o, sizeof(list) - o, "%s'%s'", i ? ", " : "",
                             dagd_xlsx_sheet_name(x, i));
            o += w > 0 ? (size_t)w : 0;
        }
        dagd_xlsx_free(x);
        return lerr(l, -EINVAL, "workbook has no sheet '%s' (sheets: %s)",
                    data < 0 ? DATA_SHEET : MAP_SHEET, list[0] ? list : "none");
    }

    l->what = "sheet " DATA_SHEET " row";
    l->is_map = false;
    l->header_done = false;
    r = dagd_xlsx_read_sheet(x, (size_t)data, &h, rerr, sizeof(rerr));
    if (r < 0) {
        dagd_xlsx_free(x);
        return rerr[0] ? lerr(l, r, "%s (sheet %s)", rerr, DATA_SHEET) : r;
    }
    if (!l->header_done) {
        dagd_xlsx_free(x);
        return lerr(l, -EINVAL, "sheet %s is empty: no header row", DATA_SHEET);
    }

    l->what = "sheet " MAP_SHEET " row";
    l->is_map = true;
    l->header_done = false;
    r = dagd_xlsx_read_sheet(x, (size_t)map, &h, rerr, sizeof(rerr));
    dagd_xlsx_free(x);
    if (r < 0) {
        return rerr[0] ? lerr(l, r, "%s (sheet %s)", rerr, MAP_SHEET) : r;
    }
    if (!l->header_done) {
        return lerr(l, -EINVAL, "sheet %s is empty: no header row", MAP_SHEET);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* json */

/* One record -> one row; absent wanted keys are listed in missing_keys. */
static int json_record(void *ud, const struct dagd_json_record *rec)
{
    struct dagd_bronze_loader *l = ud;
    char missing[256];
    size_t mo = 0;

    int r = dagd_rowq_begin(l->q, KIND_ROW, rec->record_no);

    if (r < 0) {
        return r;
    }
    for (size_t k = 0; k < rec->n_values; k++) {
        const struct dagd_json_value *v = &rec->values[k];
        r = put_json_value(l->q, (uint8_t)(P_FIELD0 + (int)l->columns[k].field), v);
        if (r < 0) {
            return r;
        }
        if (v->kind == DAGD_JSON_ABSENT) {
            size_t nl = strlen(l->columns[k].name);
            if (mo + nl + 2 < sizeof(missing)) {
                if (mo > 0) {
                    missing[mo++] = ',';
                }
                memcpy(missing + mo, l->columns[k].name, nl);
                mo += nl;
            }
        }
    }
    if (mo > 0 && (r = dagd_rowq_text(l->q, P_MISSING, missing, mo)) < 0) {
        return r;
    }
    if (rec->extra_keys &&
        (r = dagd_rowq_text(l->q, P_EXTRA, rec->extra_keys, strlen(rec->extra_keys))) < 0) {
        return r;
    }
    return dagd_rowq_end(l->q);
}

/* Streams a file through a push parser in IO_CHUNK reads. */
static int read_fd_chunks(struct dagd_bronze_loader *l, int fd,
                          int (*feed)(void *, const void *, size_t), void *reader)
{
    char *buf = malloc(IO_CHUNK);
    int r = 0;

    if (!buf) {
        return lerr(l, -ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = read(fd, buf, IO_CHUNK);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            r = lerr(l, -errno, "read error: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            break;
        }
        r = feed(reader, buf, (size_t)n);
        if (r < 0) {
            break;
        }
    }
    free(buf);
    return r;
}

static int json_feed(void *reader, const void *buf, size_t n)
{
    return dagd_json_reader_feed(reader, buf, n);
}

static int load_json(struct dagd_bronze_loader *l)
{
    const char *keys[16];
    struct dagd_json_reader *jr;
    int fd, r;

    for (size_t k = 0; k < l->n_columns; k++) {
        keys[k] = l->columns[k].name;
    }
    fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return lerr(l, -errno, "cannot open: %s", strerror(errno));
    }
    jr = dagd_json_reader_new(keys, l->n_columns, json_record, l);
    if (!jr) {
        (void)close(fd);
        return lerr(l, -ENOMEM, "out of memory");
    }
    l->what = "record";
    r = read_fd_chunks(l, fd, json_feed, jr);
    if (r == 0) {
        r = dagd_json_reader_finish(jr);
    }
    if (r < 0 && dagd_json_reader_error(jr)[0]) {
        (void)lerr(l, r, "%s", dagd_json_reader_error(jr));
    }
    dagd_json_reader_free(jr);
    (void)close(fd);
    return r;
}

/* ---------------------------------------------------------------------- */
/* csv */

static int csv_record(void *ud, uint64_t record_no, uint64_t line,
                      const struct dagd_csv_field *fields, size_t n)
{
    struct dagd_bronze_loader *l = ud;
    int r;

    if (!l->header_done) {
        struct header_cell h[256];
        size_t nh = 0;
        for (size_t i = 0; i < n && nh < 256; i++) {
            h[nh++] = (struct header_cell){(uint32_t)i, fields[i].s, fields[i].len};
        }
        /* A header with the map columns and no ORDER_ID is the map file. */
        l->is_map = header_find(h, nh, "ORDER_ID") < 0 && header_find(h, nh, map_columns[0]) >= 0 &&
                    header_find(h, nh, map_columns[1]) >= 0;
        return apply_header(l, h, nh, line);
    }
    if (l->is_map) {
        const char *texts[N_MAP_COLUMNS] = {NULL};
        size_t lens[N_MAP_COLUMNS] = {0};
        for (size_t k = 0; k < N_MAP_COLUMNS; k++) {
            uint32_t c = l->map_cols[k];
            if (c < n && fields[c].len > 0) {
                texts[k] = fields[c].s;
                lens[k] = fields[c].len;
            }
        }
        return put_map_row(l, line, texts, lens);
    }
    if ((r = dagd_rowq_begin(l->q, KIND_ROW, record_no)) < 0) {
        return r;
    }
    for (size_t i = 0; i < n && i < DAGD_XLSX_MAX_COLS; i++) {
        int f = l->colmap[i];
        if (f >= 0 && (r = put_csv_field(l->q, (uint8_t)(P_FIELD0 + f), &fields[i])) < 0) {
            return r;
        }
    }
    return dagd_rowq_end(l->q);
}

static int csv_feed(void *reader, const void *buf, size_t n)
{
    return dagd_csv_reader_feed(reader, buf, n);
}

static int load_csv(struct dagd_bronze_loader *l)
{
    struct dagd_csv_reader *cr;
    int fd, r;

    fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return lerr(l, -errno, "cannot open: %s", strerror(errno));
    }
    cr = dagd_csv_reader_new(csv_record, l);
    if (!cr) {
        (void)close(fd);
        return lerr(l, -ENOMEM, "out of memory");
    }
    l->what = "line";
    l->is_csv = true;
    l->is_map = false;
    l->header_done = false;
    r = read_fd_chunks(l, fd, csv_feed, cr);
    if (r == 0) {
        r = dagd_csv_reader_finish(cr);
    }
    if (r < 0 && dagd_csv_reader_error(cr)[0]) {
        (void)lerr(l, r, "%s", dagd_csv_reader_error(cr));
    }
    if (r == 0 && !l->header_done) {
        r = lerr(l, -EINVAL, "empty CSV file: no header line");
    }
    dagd_csv_reader_free(cr);
    (void)close(fd);
    return r;
}

/* ---------------------------------------------------------------------- */
/* One file, one transaction */

/* ---------------------------------------------------------------------- */
/* The SQLite side: rows from the queue into the prepared statements */

static int cerr(struct dagd_bronze_loader *l, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Errors of the SQLite thread: l->cerr (l->err belongs to the reader thread). */
static int cerr(struct dagd_bronze_loader *l, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    format_err(l->cerr, sizeof(l->cerr), l->path, fmt, ap);
    va_end(ap);
    return r;
}

/* Binds value v of a row to parameter `base + v->param` of st. */
static void bind_value(sqlite3_stmt *st, int base, const struct dagd_rowq_value *v)
{
    int i = base + v->param;

    switch (v->type) {
    case DAGD_ROWQ_INT:
        (void)sqlite3_bind_int64(st, i, v->i);
        break;
    case DAGD_ROWQ_REAL:
        (void)sqlite3_bind_double(st, i, v->d);
        break;
    case DAGD_ROWQ_TEXT:
        (void)sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC);
        break;
    default:
        (void)sqlite3_bind_null(st, i);
        break;
    }
}

/* Binds a raw_orders row at parameter offset `base` of st. Bindings survive
 * sqlite3_reset(): a parameter absent from this row needs a NULL only if
 * the row bound there before set it (fewer bind calls are measurably
 * faster). *set is that previous row's parameter mask, updated. */
static void bind_row(sqlite3_stmt *st, int base, const struct dagd_rowq_row *row, uint32_t *set)
{
    uint32_t now = 0, clear;

    for (size_t i = 0; i < row->n; i++) {
        bind_value(st, base, &row->v[i]);
        now |= UINT32_C(1) << row->v[i].param;
    }
    (void)sqlite3_bind_int64(st, base + P_ROW_NO, (int64_t)row->row_no);
    clear = *set & ~now;
    for (int p = P_FIELD0; clear != 0 && p <= P_EXTRA; p++) {
        if (clear & (UINT32_C(1) << p)) {
            (void)sqlite3_bind_null(st, base + p);
        }
    }
    *set = now;
}

static int step_done(struct dagd_bronze_loader *l, sqlite3_stmt *st, const char *what,
                     unsigned long long first, unsigned long long last)
{
    int rc = sqlite3_step(st);

    (void)sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        return 0;
    }
    if (first == last) {
        return cerr(l, -EIO, "%s %llu: warehouse write failed: %s", what, first,
                    sqlite3_errmsg(l->db));
    }
    return cerr(l, -EIO, "%ss %llu-%llu: warehouse write failed: %s", what, first, last,
                sqlite3_errmsg(l->db));
}

/* Writes the pending raw_orders rows: MULTI_ROWS in one statement, fewer
 * one by one (the queue's batch ended, their text goes with it). */
static int flush_rows(struct dagd_bronze_loader *l, uint32_t *set_multi, uint32_t *set_one)
{
    size_t n = l->n_pending;
    int r = 0;

    l->n_pending = 0;
    if (n == MULTI_ROWS) {
        for (size_t i = 0; i < n; i++) {
            bind_row(l->ins_rows, (int)i * ROW_PARAMS, &l->pending[i], &set_multi[i]);
        }
        r = step_done(l, l->ins_rows, "row", (unsigned long long)l->pending[0].row_no,
                      (unsigned long long)l->pending[n - 1].row_no);
    } else {
        for (size_t i = 0; i < n && r >= 0; i++) {
            bind_row(l->ins_row, 0, &l->pending[i], set_one);
            r = step_done(l, l->ins_row, "row", (unsigned long long)l->pending[i].row_no,
                          (unsigned long long)l->pending[i].row_no);
        }
    }
    if (r >= 0) {
        l->rows += n;
    }
    return r;
}

static int consume(struct dagd_bronze_loader *l)
{
    struct dagd_rowq_row row;
    uint32_t set_multi[MULTI_ROWS], set_one = ~UINT32_C(0);
    uint64_t n = 0;
    int k, r = 0;

    for (size_t i = 0; i < MULTI_ROWS; i++) {
        set_multi[i] = ~UINT32_C(0);
    }
    l->n_pending = 0;
    while (r >= 0 && (k = dagd_rowq_next(l->q, &row)) > 0) {
        if (row.kind == KIND_MAP) {
            for (size_t i = 0; i < row.n; i++) {
                bind_value(l->ups_map, 0, &row.v[i]);
            }
            r = step_done(l, l->ups_map, "sheet " MAP_SHEET " row", (unsigned long long)row.row_no,
                          (unsigned long long)row.row_no);
            l->map_rows += r >= 0;
        } else {
            l->pending[l->n_pending++] = row;
        }
        if (r >= 0 && l->n_pending > 0 &&
            (l->n_pending == MULTI_ROWS || dagd_rowq_batch_ends(l->q))) {
            r = flush_rows(l, set_multi, &set_one);
        }
        if (r >= 0 && ++n % POLL_EVERY == 0) {
            if (l->hooks.progress) {
                l->hooks.progress(l->hooks.userdata, l->rows, row.total);
            }
            if (l->hooks.canceled && l->hooks.canceled(l->hooks.userdata)) {
                return cerr(l, -ECANCELED, "canceled at row %llu", (unsigned long long)row.row_no);
            }
        }
    }
    /* Nothing is pending here: the last row of every batch flushed it (and
     * the batch's text is gone once dagd_rowq_next() ended the stream). */
    return r;
}

static double thread_cpu_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *reader_main(void *arg)
{
    struct dagd_bronze_loader *l = arg;
    int r;

    switch (l->format) {
    case DAGD_FORMAT_XLSX:
        r = load_xlsx(l);
        break;
    case DAGD_FORMAT_JSON:
        r = load_json(l);
        break;
    case DAGD_FORMAT_CSV:
        r = load_csv(l);
        break;
    default:
        r = lerr(l, -EINVAL, "unknown format");
        break;
    }
    l->read_cpu = thread_cpu_s();
    dagd_rowq_close(l->q, r);
    return NULL;
}

/* Reads the file on a second thread while this one writes to SQLite, so
 * parsing and inserting overlap; the queue bounds the memory in between. */
static int run_load(struct dagd_bronze_loader *l)
{
    pthread_t th;
    double t0;
    int rc, rp, e;

    l->cerr[0] = '\0';
    l->read_cpu = l->write_cpu = 0;
    l->q = dagd_rowq_new(ROWQ_BATCH_BYTES, ROWQ_BATCHES);
    if (!l->q) {
        return lerr(l, -ENOMEM, "out of memory");
    }
    e = pthread_create(&th, NULL, reader_main, l);
    if (e != 0) {
        l->q = dagd_rowq_free(l->q);
        return lerr(l, -e, "cannot start the reader thread: %s", strerror(e));
    }
    t0 = thread_cpu_s();
    rc = consume(l);
    l->write_cpu = thread_cpu_s() - t0;
    if (rc < 0) {
        dagd_rowq_stop(l->q);
    }
    (void)pthread_join(th, NULL);
    rp = dagd_rowq_result(l->q);
    l->q = dagd_rowq_free(l->q);
#ifdef __GLIBC__
    /* The reader thread's malloc arena keeps the freed shared string table
     * and buffers; the next file's thread may get another arena. Give the
     * pages back so that peak RSS stays that of one file, not of the sum. */
    (void)malloc_trim(0);
#endif
    if (rc < 0) {
        /* the reader stopped because we did: our error is the cause */
        memcpy(l->err, l->cerr, sizeof(l->err));
        return rc;
    }
    return rp;
}

/* The checkpoint: 1 if (source, hash) is already in load_files. */
static int find_loaded(struct dagd_bronze_loader *l, const char *hash,
                       struct dagd_bronze_loader_file *f)
{
    int rc;

    (void)sqlite3_bind_text(l->find_file, 1, l->source, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(l->find_file, 2, hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(l->find_file);
    if (rc == SQLITE_ROW) {
        f->file_id = sqlite3_column_int64(l->find_file, 0);
        f->rows = (uint64_t)sqlite3_column_int64(l->find_file, 1);
    }
    (void)sqlite3_reset(l->find_file);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sql_err(l, "looking up load_files");
    }
    return rc == SQLITE_ROW;
}

static int exec(struct dagd_bronze_loader *l, const char *sql)
{
    if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return sql_err(l, sql);
    }
    return 0;
}

int dagd_bronze_loader_load_file(struct dagd_bronze_loader *l,
                                 enum dagd_bronze_loader_format format, const char *path,
                                 struct dagd_bronze_loader_file *ret)
{
    struct dagd_bronze_loader_file f = {0};
    int r;

    l->path = path;
    l->err[0] = '\0';
    l->rows = l->map_rows = 0;
    l->is_csv = false;
    if (strcmp(l->source, "dataset1") == 0) {
        l->columns = ds1_columns;
        l->n_columns = sizeof(ds1_columns) / sizeof(ds1_columns[0]);
    } else {
        l->columns = ds2_columns;
        l->n_columns = sizeof(ds2_columns) / sizeof(ds2_columns[0]);
    }

    r = dagd__task_hash_file(path, f.hash, &f.size);
    if (r < 0) {
        return lerr(l, r, "cannot read: %s", strerror(-r));
    }
    r = exec(l, "BEGIN IMMEDIATE");
    if (r < 0) {
        return r;
    }
    r = find_loaded(l, f.hash, &f);
    if (r != 0) {
        (void)exec(l, "ROLLBACK");
        if (r > 0) {
            f.skipped = true;
            *ret = f;
            return 0;
        }
        return r;
    }

    (void)sqlite3_bind_text(l->ins_file, 1, l->source, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(l->ins_file, 2, path, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(l->ins_file, 3, f.hash, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(l->ins_file, 4, (int64_t)f.size);
    (void)sqlite3_bind_int64(l->ins_file, 5, dagd__task_wall_ms());
    if (sqlite3_step(l->ins_file) != SQLITE_DONE) {
        r = sql_err(l, "inserting into load_files");
        (void)sqlite3_reset(l->ins_file);
        goto rollback;
    }
    (void)sqlite3_reset(l->ins_file);
    l->file_id = sqlite3_last_insert_rowid(l->db);

    (void)sqlite3_bind_int64(l->ins_row, P_FILE_ID, l->file_id);
    (void)sqlite3_bind_text(l->ins_row, P_SOURCE, l->source, -1, SQLITE_STATIC);
    for (int i = 0; i < MULTI_ROWS; i++) {
        (void)sqlite3_bind_int64(l->ins_rows, i * ROW_PARAMS + P_FILE_ID, l->file_id);
        (void)sqlite3_bind_text(l->ins_rows, i * ROW_PARAMS + P_SOURCE, l->source, -1,
                                SQLITE_STATIC);
    }
    (void)sqlite3_bind_int64(l->ups_map, 4, l->file_id);
    l->format = format;
    r = run_load(l);
    /* Drop references to batch buffers that are gone now. */
    (void)sqlite3_clear_bindings(l->ins_row);
    (void)sqlite3_clear_bindings(l->ins_rows);
    (void)sqlite3_clear_bindings(l->ups_map);
    if (r < 0) {
        if (!l->err[0]) {
            (void)lerr(l, r, "load failed: %s", strerror(-r));
        }
        goto rollback;
    }

    (void)sqlite3_bind_int64(l->upd_file, 1, (int64_t)l->rows);
    (void)sqlite3_bind_int64(l->upd_file, 2, l->file_id);
    if (sqlite3_step(l->upd_file) != SQLITE_DONE) {
        r = sql_err(l, "updating load_files");
        (void)sqlite3_reset(l->upd_file);
        goto rollback;
    }
    (void)sqlite3_reset(l->upd_file);
    r = exec(l, "COMMIT");
    if (r < 0) {
        goto rollback;
    }
    if (l->hooks.progress) {
        l->hooks.progress(l->hooks.userdata, l->rows, l->rows);
    }
    f.file_id = l->file_id;
    f.rows = l->rows;
    f.map_rows = l->map_rows;
    f.read_cpu = l->read_cpu;
    f.write_cpu = l->write_cpu;
    *ret = f;
    l->path = NULL;
    return 0;

rollback:
    (void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    l->path = NULL;
    return r;
}
