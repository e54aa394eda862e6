/* See http_core.h. */
#include "http_core.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <strings.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_dl.h"
#include "task_errmsg.h"
#include "wh.h"

const cJSON *dagd_http_json_path(const cJSON *root, const char *path)
{
    const cJSON *v = root;
    const char *p = path;

    if (!path || !*path || strcmp(path, ".") == 0) {
        return root;
    }
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        const cJSON *child = NULL;

        if (!cJSON_IsObject(v)) {
            return NULL;
        }
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c->string && strlen(c->string) == n && memcmp(c->string, p, n) == 0) {
                child = c; /* a repeated key: the last wins, as in the load task */
            }
        }
        v = child;
        p += n + (dot ? 1 : 0);
    }
    return v;
}

int dagd_http_resolve(const char *base, const char *ref, char **ret)
{
    CURLU *u = curl_url();
    char *out = NULL;
    int r = -EINVAL;

    if (!u) {
        abort();
    }
    /* Setting a relative URL on a handle that holds one resolves it (RFC 3986) */
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
        *ret = strdup(out);
        r = *ret ? 0 : -ENOMEM;
    }
    curl_free(out);
    curl_url_cleanup(u);
    return r;
}

int dagd_http_set_page(const char *url, const char *param, int64_t page, char **ret)
{
    const char *q = strchr(url, '?');
    const char *frag = strchr(url, '#');
    size_t plen = strlen(param);
    char *out = NULL;
    size_t out_len = 0;
    bool any = false;
    FILE *f;

    if (frag && q && frag < q) {
        q = NULL;
    }
    f = open_memstream(&out, &out_len);
    if (!f) {
        return -ENOMEM;
    }
    fwrite(url, 1, q ? (size_t)(q - url) : frag ? (size_t)(frag - url) : strlen(url), f);
    if (q) {
        const char *p = q + 1;
        const char *end = frag ? frag : q + strlen(q);
        while (p < end) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            size_t n = amp ? (size_t)(amp - p) : (size_t)(end - p);
            bool is_param =
                n >= plen && memcmp(p, param, plen) == 0 && (n == plen || p[plen] == '=');
            if (n > 0 && !is_param) {
                fputc(any ? '&' : '?', f);
                fwrite(p, 1, n, f);
                any = true;
            }
            p += n + (amp ? 1 : 0);
        }
    }
    fprintf(f, "%c%s=%lld", any ? '&' : '?', param, (long long)page);
    if (frag) {
        fputs(frag, f);
    }
    fclose(f);
    *ret = out;
    return 0;
}

int64_t dagd_http_retry_after_usec(const char *value, int64_t now_sec)
{
    const char *p = value;
    int64_t secs = 0;

    if (!value) {
        return -1;
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (isdigit((unsigned char)*p)) {
        while (isdigit((unsigned char)*p)) {
            secs = secs * 10 + (*p++ - '0');
            if (secs > 86400 * 365) {
                return -1;
            }
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            p++;
        }
        return *p ? -1 : secs * 1000000;
    }
    time_t t = curl_getdate(p, NULL);
    if (t < 0) {
        return -1;
    }
    return t > now_sec ? ((int64_t)t - now_sec) * 1000000 : 0;
}

uint64_t dagd_http_backoff_usec(unsigned attempt, uint64_t base, uint64_t cap, int64_t retry_after,
                                uint64_t retry_after_max)
{
    uint64_t d = base;

    for (unsigned i = 1; i < attempt && d < cap; i++) {
        d *= 2;
    }
    if (d > cap) {
        d = cap;
    }
    if (retry_after >= 0) {
        uint64_t ra =
            (uint64_t)retry_after > retry_after_max ? retry_after_max : (uint64_t)retry_after;
        d = d > ra ? d : ra;
    }
    return d;
}

static int exec(sqlite3 *db, char *sql, char **reterr_msg)
{
    char *e = NULL;
    int rc;

    if (!sql) {
        abort();
    }
    rc = sqlite3_exec(db, sql, NULL, NULL, &e);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "%s", e ? e : sqlite3_errstr(rc));
        sqlite3_free(e);
        return -EIO;
    }
    return 0;
}

static void bind_json(sqlite3_stmt *st, int i, const cJSON *v)
{
    if (!v || cJSON_IsNull(v)) {
        sqlite3_bind_null(st, i);
    } else if (cJSON_IsBool(v)) {
        sqlite3_bind_int(st, i, cJSON_IsTrue(v) ? 1 : 0);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d) {
            sqlite3_bind_int64(st, i, (int64_t)d);
        } else {
            sqlite3_bind_double(st, i, d);
        }
    } else if (cJSON_IsString(v)) {
        sqlite3_bind_text(st, i, v->valuestring, -1, SQLITE_TRANSIENT);
    } else {
        char *text = cJSON_PrintUnformatted(v);
        sqlite3_bind_text(st, i, text ? text : "", -1, SQLITE_TRANSIENT);
        free(text);
    }
}

/* A declared column type on PostgreSQL: SQLite's INTEGER is 64 bits and
 * its REAL a double; a column without a type must have one there (TEXT). */
static const char *pg_type(const char *type)
{
    if (!type || !*type) {
        return "TEXT";
    }
    if (strcasecmp(type, "INTEGER") == 0 || strcasecmp(type, "INT") == 0) {
        return "BIGINT";
    }
    if (strcasecmp(type, "REAL") == 0) {
        return "DOUBLE PRECISION";
    }
    return type;
}

static char *create_sql(const struct dagd_http_table *t, bool pg)
{
    sqlite3_str *s = sqlite3_str_new(NULL);

    sqlite3_str_appendf(s, "CREATE TABLE IF NOT EXISTS \"%w\" (", t->name);
    for (size_t i = 0; i < t->n_columns; i++) {
        const char *type = pg                        ? pg_type(t->types ? t->types[i] : NULL)
                           : t->types && t->types[i] ? t->types[i]
                                                     : "";
        sqlite3_str_appendf(s, "%s\"%w\"%s%s", i ? ", " : "", t->columns[i], *type ? " " : "",
                            type);
    }
    if (t->n_key > 0) {
        sqlite3_str_appendall(s, ", PRIMARY KEY (");
        for (size_t i = 0; i < t->n_key; i++) {
            sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", t->key[i]);
        }
        sqlite3_str_appendall(s, ")");
    }
    sqlite3_str_appendall(s, ")");
    return sqlite3_str_finish(s);
}

static char *insert_sql(const struct dagd_http_table *t, bool pg)
{
    sqlite3_str *s = sqlite3_str_new(NULL);

    sqlite3_str_appendf(s, "INSERT INTO \"%w\" (", t->name);
    for (size_t i = 0; i < t->n_columns; i++) {
        sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", t->columns[i]);
    }
    sqlite3_str_appendall(s, ") VALUES (");
    for (size_t i = 0; i < t->n_columns; i++) {
        if (pg) {
            sqlite3_str_appendf(s, "%s$%lld", i ? ", " : "",
                                (long long)i + 1); /* no %zu in SQLite's printf */
        } else {
            sqlite3_str_appendf(s, "%s?", i ? ", " : "");
        }
    }
    sqlite3_str_appendall(s, ")");
    if (t->n_key > 0 && t->mode != DAGD_HTTP_APPEND) {
        /* a later record with a known key replaces the row */
        sqlite3_str_appendall(s, " ON CONFLICT (");
        for (size_t i = 0; i < t->n_key; i++) {
            sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", t->key[i]);
        }
        sqlite3_str_appendall(s, ") DO UPDATE SET ");
        for (size_t i = 0; i < t->n_columns; i++) {
            sqlite3_str_appendf(s, "%s\"%w\" = excluded.\"%w\"", i ? ", " : "", t->columns[i],
                                t->columns[i]);
        }
    }
    return sqlite3_str_finish(s);
}

static int insert_records(sqlite3 *db, sqlite3_stmt *st, const struct dagd_http_table *t,
                          const cJSON *const *pages, size_t n_pages, int64_t *ret_rows,
                          char **reterr_msg)
{
    int64_t rows = 0;

    for (size_t p = 0; p < n_pages; p++) {
        size_t k = 0;
        for (const cJSON *rec = pages[p] ? pages[p]->child : NULL; rec; rec = rec->next, k++) {
            if (!cJSON_IsObject(rec)) {
                dagd__task_set_err(reterr_msg, "page %zu, record %zu is not an object", p + 1,
                                   k + 1);
                return -EINVAL;
            }
            for (size_t i = 0; i < t->n_key; i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, t->key[i]);
                if (!v || cJSON_IsNull(v)) {
                    dagd__task_set_err(reterr_msg, "page %zu, record %zu has no '%s' (the key)",
                                       p + 1, k + 1, t->key[i]);
                    return -EINVAL;
                }
            }
            sqlite3_reset(st);
            for (size_t i = 0; i < t->n_columns; i++) {
                bind_json(st, (int)i + 1, dagd_http_json_path(rec, t->columns[i]));
            }
            if (sqlite3_step(st) != SQLITE_DONE) {
                dagd__task_set_err(reterr_msg, "page %zu, record %zu: %s", p + 1, k + 1,
                                   sqlite3_errmsg(db));
                return -EIO;
            }
            rows++;
        }
    }
    *ret_rows = rows;
    return 0;
}

int dagd_http_store(sqlite3 *db, const struct dagd_http_table *t, const cJSON *const *pages,
                    size_t n_pages, int64_t *ret_rows, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    char *sql;
    int64_t rows = 0;
    int r;

    r = exec(db, sqlite3_mprintf("BEGIN IMMEDIATE"), reterr_msg);
    if (r < 0) {
        return r;
    }
    r = exec(db, create_sql(t, false), reterr_msg);
    if (r >= 0 && t->mode == DAGD_HTTP_REPLACE) {
        r = exec(db, sqlite3_mprintf("DELETE FROM \"%w\"", t->name), reterr_msg);
    }
    if (r >= 0) {
        sql = insert_sql(t, false);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            dagd__task_set_err(reterr_msg, "%s", sqlite3_errmsg(db));
            r = -EIO;
        }
        sqlite3_free(sql);
    }
    if (r >= 0) {
        r = insert_records(db, st, t, pages, n_pages, &rows, reterr_msg);
    }
    sqlite3_finalize(st);
    if (r >= 0) {
        r = exec(db, sqlite3_mprintf("COMMIT"), reterr_msg);
    }
    if (r < 0) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    *ret_rows = rows;
    return 0;
}

/* ---- PostgreSQL (tasks/common/wh.h) -------------------------------------- */

/* A record's value as a text parameter (NULL for null or absent), as SQLite
 * would store it: true/false 1/0, integral numbers without decimals, arrays
 * and objects as their JSON text (*ret_owned to free). */
static const char *param_text(const cJSON *v, char buf[32], char **ret_owned)
{
    *ret_owned = NULL;
    if (!v || cJSON_IsNull(v)) {
        return NULL;
    }
    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v) ? "1" : "0";
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d) {
            (void)snprintf(buf, 32, "%lld", (long long)d);
        } else {
            (void)snprintf(buf, 32, "%.17g", d);
        }
        return buf;
    }
    if (cJSON_IsString(v)) {
        return v->valuestring;
    }
    *ret_owned = cJSON_PrintUnformatted(v);
    return *ret_owned ? *ret_owned : "";
}

static int pg_record(struct dagd_wh *wh, const struct dagd_http_table *t, const char *sql,
                     const cJSON *rec)
{
    const char **params = calloc(t->n_columns + 1, sizeof(*params));
    char **owned = calloc(t->n_columns + 1, sizeof(*owned));
    char(*bufs)[32] = calloc(t->n_columns + 1, 32);
    int r;

    if (!params || !owned || !bufs) {
        abort();
    }
    for (size_t i = 0; i < t->n_columns; i++) {
        params[i] = param_text(dagd_http_json_path(rec, t->columns[i]), bufs[i], &owned[i]);
    }
    r = dagd_wh_query(wh, sql, t->n_columns, params, NULL, NULL);
    for (size_t i = 0; i < t->n_columns; i++) {
        free(owned[i]);
    }
    free(params);
    free(owned);
    free(bufs);
    return r;
}

static int pg_exec(struct dagd_wh *wh, char *sql, char **reterr_msg)
{
    int r = dagd_wh_exec(wh, sql);

    sqlite3_free(sql);
    if (r < 0) {
        dagd__task_set_err(reterr_msg, "%s: %s", wh->label, wh->err);
    }
    return r;
}

static int pg_store(struct dagd_wh *wh, const struct dagd_http_table *t, const cJSON *const *pages,
                    size_t n_pages, int64_t *ret_rows, char **reterr_msg)
{
    char *sql = insert_sql(t, true);
    int64_t rows = 0;
    int r = pg_exec(wh, sqlite3_mprintf("BEGIN"), reterr_msg);

    if (r >= 0) {
        r = pg_exec(wh, create_sql(t, true), reterr_msg);
    }
    if (r >= 0 && t->mode == DAGD_HTTP_REPLACE) {
        r = pg_exec(wh, sqlite3_mprintf("DELETE FROM \"%w\"", t->name), reterr_msg);
    }
    for (size_t p = 0; r >= 0 && p < n_pages; p++) {
        size_t k = 0;
        for (const cJSON *rec = pages[p] ? pages[p]->child : NULL; r >= 0 && rec;
             rec = rec->next, k++) {
            if (!cJSON_IsObject(rec)) {
                dagd__task_set_err(reterr_msg, "page %zu, record %zu is not an object", p + 1,
                                   k + 1);
                r = -EINVAL;
                break;
            }
            for (size_t i = 0; r >= 0 && i < t->n_key; i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, t->key[i]);
                if (!v || cJSON_IsNull(v)) {
                    dagd__task_set_err(reterr_msg, "page %zu, record %zu has no '%s' (the key)",
                                       p + 1, k + 1, t->key[i]);
                    r = -EINVAL;
                }
            }
            if (r >= 0 && (r = pg_record(wh, t, sql, rec)) < 0) {
                dagd__task_set_err(reterr_msg, "page %zu, record %zu: %s: %s", p + 1, k + 1,
                                   wh->label, wh->err);
            }
            rows += r >= 0;
        }
    }
    sqlite3_free(sql);
    if (r >= 0) {
        r = pg_exec(wh, sqlite3_mprintf("COMMIT"), reterr_msg);
    }
    if (r < 0) {
        (void)dagd_wh_exec(wh, "ROLLBACK");
        return r;
    }
    *ret_rows = rows;
    return 0;
}

int dagd_http_store_wh(struct dagd_wh *wh, const struct dagd_http_table *t,
                       const cJSON *const *pages, size_t n_pages, int64_t *ret_rows,
                       char **reterr_msg)
{
    if (wh->engine == DAGD_WH_SQLITE) {
        return dagd_http_store(wh->db, t, pages, n_pages, ret_rows, reterr_msg);
    }
    return pg_store(wh, t, pages, n_pages, ret_rows, reterr_msg);
}
