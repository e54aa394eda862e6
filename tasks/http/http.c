/* Task `http`: a paginated JSON API into a warehouse table (http_core.h).
 *
 * Pages are fetched one after another with libcurl: from `url`, following
 * the body's `next` link (resolved against the page's URL) or counting a
 * page parameter until a page has no records. Every request is retried on
 * transport errors, 408, 429, 5xx and broken bodies (not JSON, no records array)
 * with capped exponential backoff, never sooner than Retry-After (bounded);
 * a body over `max_body` or another 4xx fails the step, not to be retried
 * (host no_retry): the answer would be the same. Nothing is written unless every page
 * arrived: the records are kept (bounded by `max_total`) and written in one
 * transaction at the end. The step is never memoized: the API's answer
 * changes while the config does not. */
#include <dagd/task.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "curl_dl.h"
#include "http_core.h"
#include "wh.h"

static const struct dagd_host_api *host;

static const char *const modes[] = {"upsert", "replace", "append", NULL};

static const struct dagd_task_field schema[] = {
    {.name = "url", .type = DAGD_FIELD_STRING, .required = true, .doc = "the first page's URL"},
    {.name = "table", .type = DAGD_FIELD_STRING, .required = true, .doc = "the table written"},
    {.name = "columns",
     .type = DAGD_FIELD_STRING_MAP,
     .required = true,
     .doc = "record key (dotted path) -> SQL type of its column (integer, real, text, ...)"},
    {.name = "key",
     .type = DAGD_FIELD_STRING_LIST,
     .doc = "columns identifying a row: the table's primary key, a later record wins"},
    {.name = "mode",
     .type = DAGD_FIELD_STRING,
     .choices = modes,
     .doc = "upsert (default with a key), replace, or append (default without)"},
    {.name = "records",
     .type = DAGD_FIELD_STRING,
     .doc = "dotted path of the records array in a page (default data; '.' = the body)"},
    {.name = "next",
     .type = DAGD_FIELD_STRING,
     .doc = "dotted path of the next page's URL in a page (null or absent: the last page)"},
    {.name = "page_param",
     .type = DAGD_FIELD_STRING,
     .doc = "without next: query parameter counting pages, until a page has no records"},
    {.name = "page_start", .type = DAGD_FIELD_INT, .doc = "first page number (default 1)"},
    {.name = "max_pages",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 1000000,
     .doc = "more pages fail the step (default 10000)"},
    {.name = "headers", .type = DAGD_FIELD_STRING_MAP, .doc = "request headers"},
    {.name = "timeout", .type = DAGD_FIELD_DURATION, .doc = "per request (default 30s)"},
    {.name = "connect_timeout", .type = DAGD_FIELD_DURATION, .doc = "default 10s"},
    {.name = "max_attempts",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 100,
     .doc = "tries per request (default 8)"},
    {.name = "backoff", .type = DAGD_FIELD_DURATION, .doc = "first retry delay (default 500ms)"},
    {.name = "backoff_max", .type = DAGD_FIELD_DURATION, .doc = "retry delay cap (default 10s)"},
    {.name = "retry_after_max",
     .type = DAGD_FIELD_DURATION,
     .doc = "longest Retry-After honoured (default 30s)"},
    {.name = "max_body",
     .type = DAGD_FIELD_INT,
     .min = 1024,
     .max = INT64_C(1) << 40,
     .doc = "largest response body in bytes (default 64 MiB)"},
    {.name = "max_total",
     .type = DAGD_FIELD_INT,
     .min = 1024,
     .max = INT64_C(1) << 40,
     .doc = "largest sum of bodies kept until the write (default 512 MiB)"},
    {.name = NULL},
};

struct body {
    char *buf;
    size_t len, cap, max;
    bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;

    if (b->len + n > b->max) {
        b->too_big = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->buf, cap);
        if (!p) {
            return 0;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

struct fetch {
    struct dagd_task_ctx *ctx;
    CURL *curl;
    struct curl_slist *headers;
    const char *records_path;
    const char *next_path;
    unsigned max_attempts;
    uint64_t backoff, backoff_max, retry_after_max;
    size_t max_body;
    unsigned requests;
};

static bool progress_canceled(void *userdata, curl_off_t a, curl_off_t b, curl_off_t c,
                              curl_off_t d)
{
    return host->canceled(userdata);
}

static int xferinfo(void *userdata, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return progress_canceled(userdata, a, b, c, d) ? 1 : 0;
}

/* Sleep usec, waking every 100 ms to notice a cancel. */
static int sleep_canceled(struct dagd_task_ctx *ctx, uint64_t usec)
{
    while (usec > 0) {
        uint64_t step = usec > 100000 ? 100000 : usec;
        if (host->canceled(ctx)) {
            return -ECANCELED;
        }
        (void)usleep((useconds_t)step);
        usec -= step;
    }
    return host->canceled(ctx) ? -ECANCELED : 0;
}

/* Returns r (after host->fail) telling the host not to retry the step: the
 * server answered, and its answer (a 4xx, a body over max_body, a `next`
 * that is no URL) will be the same next time. */
static int answer_failure(struct dagd_task_ctx *ctx, int r)
{
    if (DAGD_HOST_HAS(host, no_retry)) {
        host->no_retry(ctx, "the API's answer is an error that a retry will not change");
    }
    return r;
}

/* One try: 0 with *ret_page (the parsed body), 1 to retry (reason in why,
 * *ret_retry_after set from the header or -1), <0 to fail now. */
static int try_once(struct fetch *f, const char *url, cJSON **ret_page, int64_t *ret_retry_after,
                    char *why, size_t why_len)
{
    struct body b = {.max = f->max_body};
    struct curl_header *h = NULL;
    long status = 0;
    CURLcode rc;
    cJSON *page;

    *ret_retry_after = -1;
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &b);
    f->requests++;
    rc = curl_easy_perform(f->curl);
    if (b.too_big) {
        free(b.buf);
        return answer_failure(f->ctx, host->fail(f->ctx, NULL,
                                                 "GET %s: the body is larger than max_body (%zu "
                                                 "bytes)",
                                                 url, f->max_body));
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        free(b.buf);
        return -ECANCELED;
    }
    if (rc != CURLE_OK) {
        snprintf(why, why_len, "%s", curl_easy_strerror(rc));
        free(b.buf);
        return 1;
    }
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_header(f->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
        *ret_retry_after = dagd_http_retry_after_usec(h->value, (int64_t)time(NULL));
    }
    if (status == 408 || status == 429 || status >= 500) {
        snprintf(why, why_len, "HTTP %ld", status);
        free(b.buf);
        return 1;
    }
    if (status < 200 || status >= 300) {
        /* 4xx: the request is wrong (bad URL, token, page); 3xx: redirects
         * are not followed */
        free(b.buf);
        return answer_failure(f->ctx, host->fail(f->ctx, NULL, "GET %s: HTTP %ld", url, status));
    }
    page = b.buf ? cJSON_ParseWithLength(b.buf, b.len) : NULL;
    free(b.buf);
    if (!page) {
        snprintf(why, why_len, "HTTP %ld with a body that is not JSON", status);
        return 1;
    }
    if (!cJSON_IsArray(dagd_http_json_path(page, f->records_path))) {
        snprintf(why, why_len, "HTTP %ld with no records array at '%s'", status, f->records_path);
        cJSON_Delete(page);
        return 1;
    }
    *ret_page = page;
    return 0;
}

/* GET url with retries. 0 with *ret_page, or <0 after fail(). */
static int get_page(struct fetch *f, const char *url, cJSON **ret_page)
{
    char why[256] = "";

    for (unsigned attempt = 1;; attempt++) {
        int64_t retry_after = -1;
        int r = try_once(f, url, ret_page, &retry_after, why, sizeof(why));
        if (r <= 0) {
            return r;
        }
        if (attempt >= f->max_attempts) {
            return host->fail(f->ctx, NULL, "GET %s: gave up after %u attempts (last: %s)", url,
                              attempt, why);
        }
        uint64_t wait = dagd_http_backoff_usec(attempt, f->backoff, f->backoff_max, retry_after,
                                               f->retry_after_max);
        host->log(f->ctx, DAGD_TASK_LOG_NOTICE,
                  "GET %s: attempt %u failed (%s), retrying in %" PRIu64 " ms", url, attempt, why,
                  wait / 1000);
        r = sleep_canceled(f->ctx, wait);
        if (r < 0) {
            return r;
        }
    }
}

/* The URL after page `page` (its URL `url`, body `body`): *ret NULL at the end. */
static int next_url(struct fetch *f, const char *url, const cJSON *body, int64_t page_no,
                    const char *page_param, char **ret)
{
    *ret = NULL;
    if (f->next_path) {
        const cJSON *n = dagd_http_json_path(body, f->next_path);
        if (!n || cJSON_IsNull(n) || (cJSON_IsString(n) && !n->valuestring[0])) {
            return 0;
        }
        if (!cJSON_IsString(n) || dagd_http_resolve(url, n->valuestring, ret) < 0) {
            return answer_failure(
                f->ctx, host->fail(f->ctx, NULL, "GET %s: '%s' is not a URL", url, f->next_path));
        }
        return 0;
    }
    if (page_param && cJSON_GetArraySize(dagd_http_json_path(body, f->records_path)) > 0) {
        return dagd_http_set_page(url, page_param, page_no + 1, ret) < 0 ? -ENOMEM : 0;
    }
    return 0;
}

struct pages {
    cJSON **bodies;
    const cJSON **records;
    size_t n;
};

static void pages_done(struct pages *p)
{
    for (size_t i = 0; i < p->n; i++) {
        cJSON_Delete(p->bodies[i]);
    }
    free(p->bodies);
    free(p->records);
}

/* Fetch every page into *ps. 0, or <0 after fail(). */
static int fetch_all(struct fetch *f, struct pages *ps)
{
    struct dagd_task_ctx *ctx = f->ctx;
    const char *page_param = host->config_string(ctx, "page_param", NULL);
    int64_t page_no = host->config_int(ctx, "page_start", 1);
    int64_t max_pages = host->config_int(ctx, "max_pages", 10000);
    uint64_t max_total = (uint64_t)host->config_int(ctx, "max_total", INT64_C(512) << 20);
    uint64_t total = 0;
    char *url = NULL;
    int r = 0;

    if (page_param && !f->next_path) {
        r = dagd_http_set_page(host->config_string(ctx, "url", ""), page_param, page_no, &url);
    } else {
        url = strdup(host->config_string(ctx, "url", ""));
    }
    while (r >= 0 && url) {
        cJSON *body = NULL;
        char *next = NULL;

        if ((int64_t)ps->n >= max_pages) {
            r = host->fail(ctx, NULL, "more than max_pages (%" PRId64 ") pages", max_pages);
            break;
        }
        r = get_page(f, url, &body);
        if (r < 0) {
            break;
        }
        char *text = cJSON_PrintUnformatted(body);
        total += text ? strlen(text) : 0;
        free(text);
        if (total > max_total) {
            cJSON_Delete(body);
            r = host->fail(ctx, NULL, "the pages exceed max_total (%" PRIu64 " bytes)", max_total);
            break;
        }
        ps->bodies = realloc(ps->bodies, (ps->n + 1) * sizeof(*ps->bodies));
        ps->records = realloc(ps->records, (ps->n + 1) * sizeof(*ps->records));
        if (!ps->bodies || !ps->records) {
            abort();
        }
        ps->bodies[ps->n] = body;
        ps->records[ps->n] = dagd_http_json_path(body, f->records_path);
        ps->n++;
        host->progress(ctx, ps->n, 0);
        r = next_url(f, url, body, page_no, page_param, &next);
        free(url);
        url = next;
        page_no++;
    }
    free(url);
    return r;
}

static int http_validate(struct dagd_task_ctx *ctx)
{
    if (host->config_string(ctx, "next", NULL) && host->config_string(ctx, "page_param", NULL)) {
        return host->fail(ctx, "page_param", "set either next or page_param, not both");
    }
    if (host->config_map_len(ctx, "columns") == 0) {
        return host->fail(ctx, "columns", "at least one column");
    }
    return 0;
}

static int setup_fetch(struct dagd_task_ctx *ctx, struct fetch *f)
{
    size_t nh = host->config_map_len(ctx, "headers");
    char *why = NULL;

    if (dagd_curl_load(&why) < 0) {
        int r = host->fail(ctx, NULL, "%s", why ? why : "cannot load libcurl");
        free(why);
        return r;
    }
    f->curl = curl_easy_init();
    if (!f->curl) {
        return host->fail(ctx, NULL, "cannot initialise libcurl");
    }
    for (size_t i = 0; i < nh; i++) {
        char *line = NULL;
        if (asprintf(&line, "%s: %s", host->config_map_key(ctx, "headers", i),
                     host->config_map_value(ctx, "headers", i)) < 0) {
            return -ENOMEM;
        }
        f->headers = curl_slist_append(f->headers, line);
        free(line);
    }
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, f->headers);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(f->curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(f->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f->curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(f->curl, CURLOPT_USERAGENT, "dagd-http/1 libcurl");
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS,
                     (long)(host->config_duration(ctx, "timeout", 30000000) / 1000));
    curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(host->config_duration(ctx, "connect_timeout", 10000000) / 1000));
    curl_easy_setopt(f->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(f->curl, CURLOPT_XFERINFOFUNCTION, xferinfo);
    curl_easy_setopt(f->curl, CURLOPT_XFERINFODATA, ctx);
    return 0;
}

static int http_run(struct dagd_task_ctx *ctx)
{
    struct fetch f = {
        .ctx = ctx,
        .records_path = host->config_string(ctx, "records", "data"),
        .next_path = host->config_string(ctx, "next", NULL),
        .max_attempts = (unsigned)host->config_int(ctx, "max_attempts", 8),
        .backoff = host->config_duration(ctx, "backoff", 500000),
        .backoff_max = host->config_duration(ctx, "backoff_max", 10000000),
        .retry_after_max = host->config_duration(ctx, "retry_after_max", 30000000),
        .max_body = (size_t)host->config_int(ctx, "max_body", INT64_C(64) << 20),
    };
    size_t nc = host->config_map_len(ctx, "columns"), nk = host->config_list_len(ctx, "key");
    const char **cols = calloc(nc + 1, sizeof(*cols)), **types = calloc(nc + 1, sizeof(*types));
    const char **key = calloc(nk + 1, sizeof(*key));
    const char *mode = host->config_string(ctx, "mode", nk ? "upsert" : "append");
    struct pages ps = {0};
    char *err = NULL;
    int64_t rows = 0;
    int r;

    if (!cols || !types || !key) {
        abort();
    }
    if (DAGD_HOST_HAS(host, no_memo)) {
        host->no_memo(ctx, "an API's answer changes while the config does not: always run");
    }
    for (size_t i = 0; i < nc; i++) {
        cols[i] = host->config_map_key(ctx, "columns", i);
        types[i] = host->config_map_value(ctx, "columns", i);
    }
    for (size_t i = 0; i < nk; i++) {
        key[i] = host->config_list_item(ctx, "key", i);
    }
    const char *url = host->config_string(ctx, "url", "");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        r = host->fail(ctx, "url", "url '%s' is not an http:// or https:// URL (is a param unset?)",
                       url);
    } else {
        r = setup_fetch(ctx, &f);
    }
    if (r >= 0) {
        r = fetch_all(&f, &ps);
    }
    if (r >= 0) {
        struct dagd_http_table t = {
            .name = host->config_string(ctx, "table", NULL),
            .columns = cols,
            .types = types,
            .n_columns = nc,
            .key = key,
            .n_key = nk,
            .mode = strcmp(mode, "replace") == 0  ? DAGD_HTTP_REPLACE
                    : strcmp(mode, "append") == 0 ? DAGD_HTTP_APPEND
                                                  : DAGD_HTTP_UPSERT,
        };
        struct dagd_wh *wh = NULL;
        if ((r = dagd_wh_open(host, ctx, &wh, &err)) < 0) {
            r = host->fail(ctx, NULL, "%s", err ? err : "cannot open the warehouse");
        } else {
            r = dagd_http_store_wh(wh, &t, ps.records, ps.n, &rows, &err);
            if (r < 0) {
                r = host->fail(ctx, NULL, "table %s: %s", t.name, err ? err : "write failed");
            }
        }
        dagd_wh_free(wh);
    }
    if (r >= 0) {
        host->log(ctx, DAGD_TASK_LOG_INFO, "%zu pages, %u requests, %" PRId64 " records", ps.n,
                  f.requests, rows);
        host->metrics(ctx, (int64_t)f.requests, rows);
    }
    pages_done(&ps);
    if (f.headers) { /* else libcurl may not be loaded */
        curl_slist_free_all(f.headers);
    }
    if (f.curl) {
        curl_easy_cleanup(f.curl);
    }
    free(err);
    free(cols);
    free(types);
    free(key);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "http",
    .version = "1",
    .description = "A paginated JSON API into a warehouse table (all pages or nothing)",
    .schema = schema,
    .validate = http_validate,
    .run = http_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
