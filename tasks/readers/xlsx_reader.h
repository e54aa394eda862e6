/* Streaming reader for Office Open XML workbooks (.xlsx).
 *
 * Owns: the opened zip archive (libzip), the sheet list found through
 * _rels/.rels -> xl/workbook.xml -> its relationships, and the shared string
 * table (one arena, the only thing kept in memory: cells refer to it). A
 * sheet is scanned (xml_scan.h) straight out of the zip entry, in fixed-size
 * chunks, and handed to the caller one row at a time: memory does not grow
 * with the number of rows. Sheets and shared strings may not hold a DOCTYPE
 * (what xml_scan.h reads); the small parts go through expat.
 *
 * Calls nothing but libzip, zip_entry, xml_scan and expat; it never logs.
 * Errors are returned as -errno with a one-line message (naming the zip
 * part, the cell or row, and the line, column and byte offset where that
 * helps) in the caller's buffer.
 */
#ifndef DAGD_READERS_XLSX_READER_H
#define DAGD_READERS_XLSX_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAGD_XLSX_MAX_COLS 16384u /* A..XFD, Excel's limit */

enum dagd_xlsx_kind {
    DAGD_XLSX_NUMBER = 1, /* t="n" or no t: text of <v>, e.g. "50127", "1680.53" */
    DAGD_XLSX_STRING,     /* shared (t="s"), inline (t="inlineStr"), t="str", t="d"; may be "" */
    DAGD_XLSX_BOOL,       /* t="b": "0" or "1" */
    DAGD_XLSX_ERROR,      /* t="e": "#N/A", ... */
};

/* One present cell. Blank cells (absent, or without <v>/<is>) are not
 * delivered. `text` is NUL-terminated and valid until the row callback
 * returns. */
struct dagd_xlsx_cell {
    uint32_t col;  /* 0-based: A = 0 */
    uint32_t kind; /* enum dagd_xlsx_kind */
    const char *text;
    size_t len;
};

/* Called once per <row> that has at least one present cell, in file order.
 * row_no is the row's r="" attribute (1-based; previous + 1 when absent).
 * cells are in file order (normally by column). Return 0 to continue or a
 * negative errno to stop: read_sheet then returns that value and leaves the
 * error buffer empty. */
typedef int (*dagd_xlsx_row_fn)(void *userdata, uint64_t row_no, const struct dagd_xlsx_cell *cells,
                                size_t n_cells);

/* Called once if the sheet has <dimension ref="A1:F2001">, with the last row
 * number of the ref (2001), before the first row. */
typedef void (*dagd_xlsx_dimension_fn)(void *userdata, uint64_t last_row);

struct dagd_xlsx_handler {
    dagd_xlsx_row_fn row;
    dagd_xlsx_dimension_fn dimension; /* may be NULL */
    void *userdata;
};

struct dagd_xlsx;

/* Opens the workbook at `path` (or in memory: `data`/`size`, which must stay
 * valid until dagd_xlsx_free), reads its sheet list and shared strings.
 * Returns 0 and *ret, or -errno with a message in err:
 *   -EBADMSG  not a zip archive (truncated or not an xlsx at all),
 *   -ENOENT   a zip without xl/workbook.xml (not a workbook),
 *   -EINVAL   malformed XML or references in the workbook parts,
 *   -EIO      read error / corrupt entry, -ENOMEM, -E2BIG (limits). */
int dagd_xlsx_open(const char *path, struct dagd_xlsx **ret, char *err, size_t errlen);
int dagd_xlsx_open_buffer(const void *data, size_t size, struct dagd_xlsx **ret, char *err,
                          size_t errlen);

/* Largest total of the shared string table a workbook may hold, for every
 * dagd_xlsx_open after this call in the process (a worker runs one step);
 * 0 restores the default, DAGD_XLSX_SHARED_LIMIT_DEFAULT. Each shared
 * string is also held to the 4 MiB cell limit. Beyond either, open fails
 * with -E2BIG. The table is read whole at open whether or not cells use it,
 * so without a bound a 1 MB workbook could hold 1 GB of unused strings. */
#define DAGD_XLSX_SHARED_LIMIT_DEFAULT (64u << 20)
void dagd_xlsx_set_shared_limit(size_t bytes);

/* Closes the archive and frees everything. Accepts NULL; returns NULL. */
struct dagd_xlsx *dagd_xlsx_free(struct dagd_xlsx *x);

/* Sheets in workbook order. */
size_t dagd_xlsx_sheet_count(const struct dagd_xlsx *x);
const char *dagd_xlsx_sheet_name(const struct dagd_xlsx *x, size_t i);
/* Index of the sheet named `name` (exact, else ASCII case-insensitive as
 * Excel compares names), or -ENOENT. */
int dagd_xlsx_find_sheet(const struct dagd_xlsx *x, const char *name);
/* Number of shared strings loaded. */
size_t dagd_xlsx_shared_count(const struct dagd_xlsx *x);

/* Streams sheet `index` (from dagd_xlsx_find_sheet) through `h`. Returns 0,
 * the negative value a callback returned, or -errno with err set (-EINVAL
 * malformed sheet XML or a bad cell reference / shared string index, -EIO
 * corrupt or truncated entry, -E2BIG a cell or row over the limits). */
int dagd_xlsx_read_sheet(struct dagd_xlsx *x, size_t index, const struct dagd_xlsx_handler *h,
                         char *err, size_t errlen);

/* Parses sheet XML that is not inside a zip (for tests and fuzzing), with
 * the shared strings of x (x may be NULL: no shared strings). */
int dagd_xlsx_parse_sheet_xml(struct dagd_xlsx *x, const void *xml, size_t size,
                              const struct dagd_xlsx_handler *h, char *err, size_t errlen);
/* Replaces x's shared strings with those parsed from sst XML (tests, fuzzing). */
int dagd_xlsx_parse_shared_xml(struct dagd_xlsx *x, const void *xml, size_t size, char *err,
                               size_t errlen);
/* An empty reader with no archive, for the two functions above. */
struct dagd_xlsx *dagd_xlsx_new_empty(void);

/* Column index of a cell reference ("A1" -> 0, "AB12" -> 27) and its row
 * number; -EINVAL if `ref` is not LETTERS[DIGITS] within the limits. */
int dagd_xlsx_parse_ref(const char *ref, uint32_t *ret_col, uint64_t *ret_row);

#endif /* DAGD_READERS_XLSX_READER_H */
