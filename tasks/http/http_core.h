/* The http task without the plugin glue: what can be tested without a
 * server. JSON paths into a response body, the next page's URL (a `next`
 * link resolved against the page's URL, or a page counter in the query),
 * Retry-After and backoff, and writing the collected records into a table
 * in one transaction. Nothing here knows a column: the table's columns, key
 * and types come from the step's config. Tested by
 * tests/unit/tasks/http/test_http.c. */
#ifndef DAGD_HTTP_CORE_H
#define DAGD_HTTP_CORE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

/* The value at a dotted path ("data", "result.items"; "" or "." = the root),
 * or NULL when a step is missing or not an object. */
const cJSON *dagd_http_json_path(const cJSON *root, const char *path);

/* `ref` (an absolute URL, or a path like "/v1/cases?page=2", or relative)
 * resolved against `base`, as a browser follows a link. 0 with *ret
 * (malloc'ed), -EINVAL for a URL libcurl cannot parse. Needs
 * dagd_curl_load() (lib/curl) done, like the Retry-After parser below. */
int dagd_http_resolve(const char *base, const char *ref, char **ret);

/* `url` with query parameter `param` set to `page` (replacing every
 * existing `param=...`, appended otherwise). 0 with *ret (malloc'ed). */
int dagd_http_set_page(const char *url, const char *param, int64_t page, char **ret);

/* A Retry-After header value in microseconds: delay-seconds or an
 * HTTP-date (`now_sec` is the current Unix time; libcurl parses it, so
 * dagd_curl_load() first). -1 when it is neither. */
int64_t dagd_http_retry_after_usec(const char *value, int64_t now_sec);

/* How long to wait before attempt `attempt` + 1 (attempt >= 1 failed):
 * base * 2^(attempt-1), at most cap, but never less than retry_after (when
 * >= 0) itself bounded by retry_after_max. */
uint64_t dagd_http_backoff_usec(unsigned attempt, uint64_t base, uint64_t cap, int64_t retry_after,
                                uint64_t retry_after_max);

enum dagd_http_mode {
    DAGD_HTTP_UPSERT,  /* rows with a known key are replaced, others added */
    DAGD_HTTP_REPLACE, /* the table holds exactly this fetch */
    DAGD_HTTP_APPEND,
};

struct dagd_http_table {
    const char *name;
    const char *const *columns; /* n_columns names: record keys and table columns */
    const char *const *types;   /* their SQL types (INTEGER, REAL, TEXT, ...), or NULL */
    size_t n_columns;
    const char *const *key; /* n_key columns (upsert), the table's PRIMARY KEY */
    size_t n_key;
    enum dagd_http_mode mode;
};

/* Write the records (each page's array of objects, in order) into table t
 * in ONE transaction, creating it if needed. A record's value for a column
 * is its key's value: numbers as INTEGER or REAL, strings as TEXT, true and
 * false as 1 and 0, null or absent as NULL, arrays and objects as their JSON
 * text. With a key, a later record replaces an earlier one with the same
 * key (also within one fetch). 0 with *ret_rows (records written), or
 * -EINVAL/-EIO with *reterr_msg set (a record that is not an object, a
 * missing key value, SQLite's message); nothing is written then. */
int dagd_http_store(struct sqlite3 *db, const struct dagd_http_table *t, const cJSON *const *pages,
                    size_t n_pages, int64_t *ret_rows, char **reterr_msg);

/* The same on either engine (tasks/common/wh.h). On PostgreSQL, SQLite's
 * type names INTEGER and REAL become BIGINT and DOUBLE PRECISION, a column
 * without a type is TEXT, and the values go as text parameters. */
struct dagd_wh;
int dagd_http_store_wh(struct dagd_wh *wh, const struct dagd_http_table *t,
                       const cJSON *const *pages, size_t n_pages, int64_t *ret_rows,
                       char **reterr_msg);

#endif
