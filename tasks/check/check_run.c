/* Running a check (see check_run.h). */
#include "check_run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "task_errmsg.h"
#include "wh.h"

#define SAMPLE_TEXT_MAX 200
/* The host drops a sample over 16 KiB (task.h): stop adding rows well before. */
#define SAMPLE_BYTES_MAX (12 * 1024)

void dagd_check_outcome_done(struct dagd_check_outcome *o)
{
    free(o->sample);
    memset(o, 0, sizeof(*o));
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, char **reterr_msg)
{
    const char *tail = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);

    if (rc != SQLITE_OK) {
        /* SQL that does not compile (-EINVAL) fails again; busy or I/O may not */
        dagd__task_set_err(reterr_msg, "%s", sqlite3_errmsg(db));
        return rc == SQLITE_ERROR ? -EINVAL : -EIO;
    }
    while (tail &&
           (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';')) {
        tail++;
    }
    if (!st || (tail && *tail)) {
        sqlite3_finalize(st);
        dagd__task_set_err(reterr_msg, "not exactly one SQL statement");
        return -EINVAL;
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        dagd__task_set_err(reterr_msg, "a check may only read (the statement would write)");
        return -EINVAL;
    }
    *ret = st;
    return 0;
}

/* Length of at most max bytes of s that does not cut a UTF-8 sequence. */
static size_t cut_utf8(const unsigned char *s, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    while (max > 0 && (s[max] & 0xc0) == 0x80) {
        max--;
    }
    return max;
}

static cJSON *value_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return cJSON_CreateNumber((double)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return cJSON_CreateNumber(sqlite3_column_double(st, i));
    case SQLITE_TEXT: {
        const unsigned char *t = sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        size_t k = cut_utf8(t, n, SAMPLE_TEXT_MAX);
        char *copy = malloc(k + 4);
        cJSON *v;
        if (!copy) {
            abort();
        }
        memcpy(copy, t, k);
        strcpy(copy + k, k < n ? "..." : "");
        v = cJSON_CreateString(copy);
        free(copy);
        return v;
    }
    case SQLITE_BLOB:
        return cJSON_CreateString("(blob)");
    default:
        return cJSON_CreateNull();
    }
}

int dagd_check_run(sqlite3 *db, const struct dagd_check_spec *c, size_t sample_rows,
                   struct dagd_check_outcome *ret, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    cJSON *rows = cJSON_CreateArray();
    int64_t n = 0;
    size_t bytes = 2;
    bool full = false;
    int rc, r;

    /* One pass: count every row, keep the first few. */
    r = prepare(db, c->sql, &st, reterr_msg);
    if (r < 0) {
        cJSON_Delete(rows);
        return r;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)n < sample_rows && !full) {
            cJSON *row = cJSON_CreateObject();
            char *text;
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                const char *name = sqlite3_column_name(st, i);
                cJSON_AddItemToObject(row, name ? name : "?", value_json(st, i));
            }
            text = cJSON_PrintUnformatted(row);
            bytes += (text ? strlen(text) : 0) + 1;
            free(text);
            full = bytes > SAMPLE_BYTES_MAX;
            if (full) {
                cJSON_Delete(row);
            } else {
                cJSON_AddItemToArray(rows, row);
            }
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = rc == SQLITE_INTERRUPT ? -ECANCELED : rc == SQLITE_ERROR ? -EINVAL : -EIO;
        dagd__task_set_err(reterr_msg, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        cJSON_Delete(rows);
        return r;
    }
    sqlite3_finalize(st);
    ret->violations = n;
    ret->sample = cJSON_GetArraySize(rows) > 0 ? cJSON_PrintUnformatted(rows) : NULL;
    cJSON_Delete(rows);
    return 0;
}

/* ---- PostgreSQL (wh.h) ---------------------------------------------------- */

struct pg_sample {
    cJSON *rows;
    size_t max, bytes;
    int64_t n;
    bool full;
};

/* A value as the SQLite path gives it: numbers as numbers, text cut. */
static cJSON *text_json(const char *v, char kind)
{
    if (kind == 'n' || !v) {
        return cJSON_CreateNull();
    }
    if (kind == 'i' || kind == 'r') {
        return cJSON_CreateNumber(strtod(v, NULL));
    }
    size_t n = strlen(v), k = cut_utf8((const unsigned char *)v, n, SAMPLE_TEXT_MAX);
    char *copy = malloc(k + 4);
    if (!copy) {
        abort();
    }
    memcpy(copy, v, k);
    strcpy(copy + k, k < n ? "..." : "");
    cJSON *j = cJSON_CreateString(copy);
    free(copy);
    return j;
}

static int sample_row(void *userdata, size_t n, const char *const *names, const char *const *values,
                      const char *kinds)
{
    struct pg_sample *ps = userdata;

    if ((size_t)ps->n < ps->max && !ps->full) {
        cJSON *row = cJSON_CreateObject();
        for (size_t i = 0; i < n; i++) {
            cJSON_AddItemToObject(row, names[i] ? names[i] : "?", text_json(values[i], kinds[i]));
        }
        char *text = cJSON_PrintUnformatted(row);
        ps->bytes += (text ? strlen(text) : 0) + 1;
        free(text);
        ps->full = ps->bytes > SAMPLE_BYTES_MAX;
        if (ps->full) {
            cJSON_Delete(row);
        } else {
            cJSON_AddItemToArray(ps->rows, row);
        }
    }
    ps->n++;
    return 0;
}

int dagd_check_run_wh(struct dagd_wh *wh, const struct dagd_check_spec *c, size_t sample_rows,
                      struct dagd_check_outcome *ret, char **reterr_msg)
{
    struct pg_sample ps = {.rows = cJSON_CreateArray(), .max = sample_rows, .bytes = 2};

    if (wh->engine == DAGD_WH_SQLITE) {
        cJSON_Delete(ps.rows);
        return dagd_check_run(wh->db, c, sample_rows, ret, reterr_msg);
    }
    /* one statement (PQexecParams takes no more), read only (the caller's
     * READ ONLY transaction refuses writes); in a savepoint, because a
     * failed statement aborts PostgreSQL's transaction and the next checks
     * must still run */
    if (dagd_wh_exec(wh, "SAVEPOINT dagd_check") < 0) {
        dagd__task_set_err(reterr_msg, "%s", wh->err);
        cJSON_Delete(ps.rows);
        return -EIO;
    }
    int r = dagd_wh_query(wh, c->sql_pg, 0, NULL, sample_row, &ps);
    if (r < 0) {
        /* -EINVAL: the check's SQL is wrong; -EIO: the server (a retry may pass) */
        dagd__task_set_err(reterr_msg, "%s", wh->err);
        (void)dagd_wh_exec(wh, "ROLLBACK TO SAVEPOINT dagd_check");
        cJSON_Delete(ps.rows);
        return r == -EINVAL ? -EINVAL : -EIO;
    }
    (void)dagd_wh_exec(wh, "RELEASE SAVEPOINT dagd_check");
    ret->violations = ps.n;
    ret->sample = cJSON_GetArraySize(ps.rows) > 0 ? cJSON_PrintUnformatted(ps.rows) : NULL;
    cJSON_Delete(ps.rows);
    return 0;
}
