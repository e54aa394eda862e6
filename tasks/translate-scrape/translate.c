/* Task `translate-scrape`: English names for every city and district of
 * city_district_map, through the MediaWiki Action API (zh.wikipedia), cached
 * in `translations` (DESIGN 6).
 *
 * Lookup rules:
 * - a city with a short name (日照) is asked as its "市" article first
 *   (日照市 -> Rizhao), because the short title is often another article
 *   (日照 = sunlight, 平顶山 = a mesa, 大同 = a disambiguation page) or does not
 *   exist (唐山). Only when that gives nothing is the short name asked, and a
 *   disambiguation result is never taken. Full names (红河哈尼族彝族自治州,
 *   哈密市, 阿勒泰地区) are asked as they are;
 * - a district is asked by its own name (相山区 -> "Xiangshan District, Huaibei");
 * - names the wiki answered for (found or definitively absent) are cached:
 *   a later run asks only for names without a definitive answer, and marks
 *   rows it reused from the cache with source = 'cache';
 * - what the wiki cannot give (unreachable API, no English link) comes from
 *   the bundled dictionary (source 'dictionary'), else source 'none' and
 *   en NULL. An unreachable API is a warning, not a failure.
 * All rows are written in one transaction. */
#include <dagd/task.h>

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "curl_dl.h"
#include "dictionary.h"
#include "mediawiki.h"
#include "task_clock.h"
#include "translations_sql.h"
#include "warehouse_sql.h"
#include "wikiclient.h"

#define DEFAULT_API "https://zh.wikipedia.org/w/api.php"
#define DEFAULT_CONTACT "https://github.com/dagd/dagd" /* set `contact` to yours */

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "api",
     .type = DAGD_FIELD_STRING,
     .doc = "MediaWiki api.php URL (default the wiki_api param); empty: dictionary only"},
    {.name = "dictionary",
     .type = DAGD_FIELD_STRING,
     .doc = "directory of city_translations.json / districts_translations.json (fallback)"},
    {.name = "contact",
     .type = DAGD_FIELD_STRING,
     .doc = "contact URL or e-mail for the User-Agent (Wikimedia policy)"},
    {.name = "connections",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 2,
     .doc = "parallel connections, 1..2 (default 2)"},
    {.name = "batch",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 50,
     .doc = "titles per request, 1..50 (default 50)"},
    {.name = "rate",
     .type = DAGD_FIELD_NUMBER,
     .min = 0,
     .max = 100,
     .doc = "max requests per second, 0 = unpaced (default 4)"},
    {.name = "connect_timeout", .type = DAGD_FIELD_DURATION, .doc = "default 10s"},
    {.name = "request_timeout", .type = DAGD_FIELD_DURATION, .doc = "per request, default 30s"},
    {.name = "max_attempts",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 50,
     .doc = "attempts per request (default 8)"},
    {.name = "max_retries",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 100000,
     .doc = "retries in total (default 200)"},
    {.name = "time_budget",
     .type = DAGD_FIELD_DURATION,
     .doc = "longest time spent asking the API, retries and 429 pauses included; then the "
            "dictionary fills in (default 2m)"},
    {.name = "refresh", .type = DAGD_FIELD_BOOL, .doc = "ignore the cache, ask every name again"},
    {.name = "lllimit",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 500,
     .doc = "langlinks per response (default max; a small value forces continuation, for tests)"},
    {.name = NULL},
};

enum kind {
    KIND_CITY,
    KIND_DISTRICT,
    _KIND_MAX,
};

static const char *const kind_names[_KIND_MAX] = {"city", "district"};

/* One name to translate. */
struct name {
    enum kind kind;
    char *zh;
    bool cached; /* a definitive answer is in the table already */
    bool exists; /* the table has a row: old_* hold it */
    char *old_en, *old_source, *old_title;
    int old_asked;
    char *title1, *title2; /* titles to ask: first choice, fallback (short city name) */
    const struct dagd_wiki_answer *a1, *a2;
    char *en;
    const char *source;
    bool asked;  /* the wiki gave a definitive answer */
    char *title; /* the title that gave `en` */
};

struct names {
    struct name *v;
    size_t n, cap;
};

/* Sorted unique titles and their answers. */
struct titles {
    char **v;
    size_t n, cap;
    struct dagd_wiki_answer *answers;
};

struct ctxlog {
    struct dagd_task_ctx *ctx;
};

static void names_done(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        free(ns->v[i].zh);
        free(ns->v[i].title1);
        free(ns->v[i].title2);
        free(ns->v[i].en);
        free(ns->v[i].title);
        free(ns->v[i].old_en);
        free(ns->v[i].old_source);
        free(ns->v[i].old_title);
    }
    free(ns->v);
    *ns = (struct names){0};
}

static void titles_done(struct titles *t)
{
    if (t->answers) {
        dagd_wiki_answers_done(t->answers, t->n);
    }
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i]);
    }
    free(t->v);
    free(t->answers);
    *t = (struct titles){0};
}

static int push_title(struct titles *t, const char *s)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char **nv = realloc(t->v, cap * sizeof(*nv));
        if (!nv) {
            return -ENOMEM;
        }
        t->v = nv;
        t->cap = cap;
    }
    t->v[t->n] = strdup(s);
    return t->v[t->n++] ? 0 : -ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int titles_finish(struct titles *t)
{
    if (t->n == 0) {
        return 0;
    }
    qsort(t->v, t->n, sizeof(*t->v), cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < t->n; i++) {
        if (strcmp(t->v[i], t->v[w - 1]) == 0) {
            free(t->v[i]);
        } else {
            t->v[w++] = t->v[i];
        }
    }
    t->n = w;
    t->answers = calloc(t->n, sizeof(*t->answers));
    return t->answers ? 0 : -ENOMEM;
}

static const struct dagd_wiki_answer *titles_find(const struct titles *t, const char *s)
{
    if (!s || !t->n) {
        return NULL;
    }
    char **hit = bsearch(&s, t->v, t->n, sizeof(*t->v), cmp_str);
    return hit ? &t->answers[hit - t->v] : NULL;
}

static bool on_canceled(void *userdata)
{
    struct ctxlog *l = userdata;
    return host->canceled(l->ctx);
}

static void on_log(void *userdata, int level, const char *msg)
{
    struct ctxlog *l = userdata;
    host->log(l->ctx, (enum dagd_task_log_level)level, "%s", msg);
}

static void on_progress(void *userdata, size_t done, size_t total)
{
    struct ctxlog *l = userdata;
    host->progress(l->ctx, done, total);
}

static const char *api_url(struct dagd_task_ctx *ctx)
{
    const char *p = host->param(ctx, "wiki_api");
    return host->config_string(ctx, "api", p ? p : DEFAULT_API);
}

static const char *dict_dir(struct dagd_task_ctx *ctx)
{
    const char *p = host->param(ctx, "translations_dir");
    return host->config_string(ctx, "dictionary", p ? p : "data/translations");
}

static int translate_validate(struct dagd_task_ctx *ctx)
{
    const char *api = api_url(ctx);
    if (*api && strncmp(api, "http://", 7) != 0 && strncmp(api, "https://", 8) != 0) {
        return host->fail(ctx, "api", "api must be an http:// or https:// URL, not '%s'", api);
    }
    return 0;
}

static int translate_inputs(struct dagd_task_ctx *ctx)
{
    char path[4096];
    const char *dir = dict_dir(ctx);
    static const char *const files[] = {"city_translations.json", "districts_translations.json"};
    for (size_t i = 0; i < 2; i++) {
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, files[i]) < sizeof(path)) {
            (void)host->declare_input(ctx, path);
        }
    }
    return 0;
}

/* Make sure `translations` has the columns this task writes (an older or
 * foreign schema may lack the extra ones). */
static int ensure_schema(struct dagd_task_ctx *ctx, sqlite3 *db)
{
    char *err = NULL;
    if (sqlite3_exec(db, DAGD_SQL_TRANSLATIONS_SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
        int r = host->fail(ctx, NULL, "cannot create table translations: %s", err);
        sqlite3_free(err);
        return r;
    }
    bool has_title = false, has_asked = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA table_info(translations)", -1, &st, NULL) != SQLITE_OK) {
        return host->fail(ctx, NULL, "cannot read translations schema: %s", sqlite3_errmsg(db));
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 1);
        has_title |= col && strcmp(col, "title") == 0;
        has_asked |= col && strcmp(col, "asked") == 0;
    }
    sqlite3_finalize(st);
    if (!has_title && sqlite3_exec(db, "ALTER TABLE translations ADD COLUMN title TEXT", NULL, NULL,
                                   NULL) != SQLITE_OK) {
        return host->fail(ctx, NULL, "cannot add translations.title: %s", sqlite3_errmsg(db));
    }
    if (!has_asked && sqlite3_exec(db,
                                   "ALTER TABLE translations ADD COLUMN asked INTEGER NOT NULL "
                                   "DEFAULT 0",
                                   NULL, NULL, NULL) != SQLITE_OK) {
        return host->fail(ctx, NULL, "cannot add translations.asked: %s", sqlite3_errmsg(db));
    }
    return 0;
}

#define SQL_NAMES                                                                                  \
    "SELECT DISTINCT 0, trim(city, " DAGD_SQL_TRIM_CHARS ") AS zh FROM city_district_map"          \
    " UNION SELECT DISTINCT 1, trim(district, " DAGD_SQL_TRIM_CHARS ") FROM city_district_map"     \
    " ORDER BY 1, 2"

#define SQL_CACHED "SELECT asked, en, source, title FROM translations WHERE kind = ?1 AND zh = ?2"

static int load_names(struct dagd_task_ctx *ctx, sqlite3 *db, bool refresh, struct names *ns)
{
    sqlite3_stmt *st = NULL, *cached = NULL;
    int rc = sqlite3_prepare_v2(db, SQL_NAMES, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, SQL_CACHED, -1, &cached, NULL);
    }
    if (rc != SQLITE_OK) {
        int r = host->fail(ctx, NULL, "cannot read city_district_map: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return r;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *zh = (const char *)sqlite3_column_text(st, 1);
        if (!zh || !*zh) {
            continue;
        }
        if (ns->n == ns->cap) {
            size_t cap = ns->cap ? ns->cap * 2 : 256;
            struct name *nv = realloc(ns->v, cap * sizeof(*nv));
            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            ns->v = nv;
            ns->cap = cap;
        }
        struct name *nm = &ns->v[ns->n];
        *nm = (struct name){.kind = sqlite3_column_int(st, 0) ? KIND_DISTRICT : KIND_CITY};
        nm->zh = strdup(zh);
        if (!nm->zh) {
            rc = SQLITE_NOMEM;
            break;
        }
        ns->n++;
        sqlite3_bind_text(cached, 1, kind_names[nm->kind], -1, SQLITE_STATIC);
        sqlite3_bind_text(cached, 2, nm->zh, -1, SQLITE_STATIC);
        if (sqlite3_step(cached) == SQLITE_ROW) {
            const unsigned char *v;
            nm->exists = true;
            nm->old_asked = sqlite3_column_int(cached, 0);
            nm->cached = !refresh && nm->old_asked == 1;
            if ((v = sqlite3_column_text(cached, 1))) {
                nm->old_en = strdup((const char *)v);
            }
            if ((v = sqlite3_column_text(cached, 2))) {
                nm->old_source = strdup((const char *)v);
            }
            if ((v = sqlite3_column_text(cached, 3))) {
                nm->old_title = strdup((const char *)v);
            }
        }
        sqlite3_reset(cached);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(cached);
    if (rc == SQLITE_NOMEM) {
        return -ENOMEM;
    }
    if (rc != SQLITE_DONE) {
        return host->fail(ctx, NULL, "reading city_district_map: %s", sqlite3_errmsg(db));
    }
    return 0;
}

/* (city, district) pairs of the map, trimmed, sorted by city then map id:
 * the districts of a city for the dictionary vote, read in one query. */
struct citymap {
    char **city, **district;
    size_t n;
};

static void citymap_done(struct citymap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->city[i]);
        free(m->district[i]);
    }
    free(m->city);
    free(m->district);
    *m = (struct citymap){0};
}

static int citymap_load(sqlite3 *db, struct citymap *m)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int r = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT trim(city, " DAGD_SQL_TRIM_CHARS ") AS c,"
                           " trim(district, " DAGD_SQL_TRIM_CHARS ") FROM city_district_map"
                           " ORDER BY c, city_district_id",
                           -1, &st, NULL) != SQLITE_OK) {
        return -EIO;
    }
    while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
        if (m->n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **c = realloc(m->city, cap * sizeof(*c));
            if (c) {
                m->city = c;
            }
            char **d = realloc(m->district, cap * sizeof(*d));
            if (d) {
                m->district = d;
            }
            if (!c || !d) {
                r = -ENOMEM;
                break;
            }
        }
        m->city[m->n] = strdup((const char *)sqlite3_column_text(st, 0));
        m->district[m->n] = strdup((const char *)sqlite3_column_text(st, 1));
        if (!m->city[m->n] || !m->district[m->n]) {
            free(m->city[m->n]);
            free(m->district[m->n]);
            r = -ENOMEM;
            break;
        }
        m->n++;
    }
    sqlite3_finalize(st);
    return r;
}

/* The districts of `city`: a slice of m->district (no copy). */
static const char *const *citymap_districts(const struct citymap *m, const char *city,
                                            size_t *ret_n)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->city[mid], city) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t end = lo;
    while (end < m->n && strcmp(m->city[end], city) == 0) {
        end++;
    }
    *ret_n = end - lo;
    return (const char *const *)(m->district ? m->district + lo : NULL);
}

/* An answer that settles the title: the wiki said yes or no for sure. */
static bool definitive(const struct dagd_wiki_answer *a)
{
    return a && a->state != DAGD_WIKI_UNKNOWN;
}

static bool good_link(const struct dagd_wiki_answer *a)
{
    return a && a->state == DAGD_WIKI_FOUND && a->en && !dagd_wiki_is_disambiguation(a->en);
}

static void log_stats(struct dagd_task_ctx *ctx, const char *phase, size_t ntitles,
                      const struct dagd_wiki_stats *s)
{
    host->log(ctx, DAGD_TASK_LOG_INFO,
              "%s: %zu title(s), %u request(s) for %u batch(es): %u retries (429: %u, 5xx: %u, "
              "garbage: %u, transport: %u, API errors: %u), %u continuation(s), %u given up, "
              "%u connection(s) opened",
              phase, ntitles, s->requests, s->batches, s->retries, s->http_429, s->http_5xx,
              s->garbage, s->transport_errors, s->api_errors, s->continues, s->given_up,
              s->connections);
}

static int lookup(struct dagd_task_ctx *ctx, struct dagd_wiki_client_opts *o, struct titles *t,
                  const char *phase, struct dagd_wiki_stats *total)
{
    struct dagd_wiki_stats s = {0};
    if (t->n == 0) {
        return 0;
    }
    int r = dagd_wiki_lookup(o, (const char *const *)t->v, t->n, t->answers, &s);
    log_stats(ctx, phase, t->n, &s);
    total->requests += s.requests;
    total->batches += s.batches;
    total->retries += s.retries;
    total->given_up += s.given_up;
    total->unreachable |= s.unreachable;
    return r;
}

#define SQL_UPSERT                                                                                 \
    "INSERT INTO translations (kind, zh, en, source, fetched_at, title, asked)"                    \
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"                                                         \
    " ON CONFLICT (kind, zh) DO UPDATE SET en = excluded.en, source = excluded.source,"            \
    " fetched_at = excluded.fetched_at, title = excluded.title, asked = excluded.asked"            \
    " WHERE (en, source, title, asked) IS NOT"                                                     \
    " (excluded.en, excluded.source, excluded.title, excluded.asked)"

#define SQL_MARK_CACHED                                                                            \
    "UPDATE translations SET source = 'cache'"                                                     \
    " WHERE kind = ?1 AND zh = ?2 AND source = 'wikipedia'"

static bool same_str(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Would writing this name change its row? Unchanged rows are not written
 * (and a run that changes nothing takes no write lock at all). */
static bool row_changes(const struct name *nm)
{
    if (nm->cached) {
        return same_str(nm->old_source, "wikipedia"); /* becomes 'cache' */
    }
    return !nm->exists || !same_str(nm->old_en, nm->en) || !same_str(nm->old_source, nm->source) ||
           !same_str(nm->old_title, nm->title) || nm->old_asked != (int)nm->asked;
}

static int write_rows(struct dagd_task_ctx *ctx, sqlite3 *db, const struct names *ns,
                      size_t *ret_written)
{
    sqlite3_stmt *up = NULL, *mark = NULL;
    size_t written = 0, changes = 0;
    int64_t now = dagd__task_wall_ms();
    for (size_t i = 0; i < ns->n; i++) {
        changes += row_changes(&ns->v[i]);
    }
    if (changes == 0) {
        *ret_written = 0;
        return 0;
    }
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, SQL_UPSERT, -1, &up, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, SQL_MARK_CACHED, -1, &mark, NULL);
    }
    for (size_t i = 0; rc == SQLITE_OK && i < ns->n; i++) {
        const struct name *nm = &ns->v[i];
        sqlite3_stmt *st = nm->cached ? mark : up;
        if (!row_changes(nm)) {
            continue;
        }
        sqlite3_bind_text(st, 1, kind_names[nm->kind], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, nm->zh, -1, SQLITE_STATIC);
        if (!nm->cached) {
            if (nm->en) {
                sqlite3_bind_text(st, 3, nm->en, -1, SQLITE_STATIC);
            } else {
                sqlite3_bind_null(st, 3);
            }
            sqlite3_bind_text(st, 4, nm->source, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, now);
            if (nm->title) {
                sqlite3_bind_text(st, 6, nm->title, -1, SQLITE_STATIC);
            } else {
                sqlite3_bind_null(st, 6);
            }
            sqlite3_bind_int(st, 7, nm->asked);
        }
        written++;
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        int r = host->fail(ctx, NULL, "writing translations: %s", sqlite3_errmsg(db));
        sqlite3_finalize(up);
        sqlite3_finalize(mark);
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    sqlite3_finalize(up);
    sqlite3_finalize(mark);
    *ret_written = written;
    return 0;
}

/* Counts of how names were decided (translate_run's summary). */
struct tally {
    size_t to_ask, wiki, dict, none, unanswered;
};

/* Phase 1 titles: the 市 form of short city names, full names, districts;
 * names with a definitive answer in the cache are not asked. */
static int collect_first_titles(struct names *ns, struct titles *t1, size_t *ret_to_ask)
{
    size_t to_ask = 0;
    int r;
    for (size_t i = 0; i < ns->n; i++) {
        struct name *nm = &ns->v[i];
        if (nm->cached) {
            continue;
        }
        to_ask++;
        nm->title1 = nm->kind == KIND_CITY ? dagd_wiki_city_title(nm->zh) : strdup(nm->zh);
        if (!nm->title1) {
            return -ENOMEM;
        }
        if (dagd_wiki_title_is_valid(nm->title1) && (r = push_title(t1, nm->title1)) < 0) {
            return r;
        }
    }
    *ret_to_ask = to_ask;
    return titles_finish(t1);
}

/* Phase 2 titles: short city names whose 市 title gave nothing for sure. */
static int collect_short_titles(struct names *ns, const struct titles *t1, struct titles *t2)
{
    int r;
    for (size_t i = 0; i < ns->n; i++) {
        struct name *nm = &ns->v[i];
        if (nm->cached || nm->kind != KIND_CITY || strcmp(nm->title1, nm->zh) == 0) {
            continue;
        }
        nm->a1 = titles_find(t1, nm->title1);
        if (definitive(nm->a1) && !good_link(nm->a1) && dagd_wiki_title_is_valid(nm->zh)) {
            nm->title2 = strdup(nm->zh);
            if (!nm->title2 || (r = push_title(t2, nm->zh)) < 0) {
                return -ENOMEM;
            }
        }
    }
    return titles_finish(t2);
}

/* The client options from the step's config; `ua` (the User-Agent) and `lg`
 * must outlive the lookups. */
static void client_opts(struct dagd_task_ctx *ctx, const char *api, const char *ua,
                        struct ctxlog *lg, struct dagd_wiki_client_opts *ret_o)
{
    *ret_o = (struct dagd_wiki_client_opts){
        .api = api,
        .user_agent = ua,
        .connections = (unsigned)host->config_int(ctx, "connections", 2),
        .batch = (unsigned)host->config_int(ctx, "batch", DAGD_WIKI_MAX_TITLES),
        .rate = host->config_number(ctx, "rate", 4.0),
        .connect_timeout_usec = host->config_duration(ctx, "connect_timeout", 10000000),
        .timeout_usec = host->config_duration(ctx, "request_timeout", 30000000),
        .max_attempts = (unsigned)host->config_int(ctx, "max_attempts", 8),
        .max_retries = (unsigned)host->config_int(ctx, "max_retries", 200),
        .lllimit = (unsigned)host->config_int(ctx, "lllimit", 0),
        .deadline_usec =
            dagd__task_mono_usec() + host->config_duration(ctx, "time_budget", 120000000),
        .canceled = on_canceled,
        .log = on_log,
        .progress = on_progress,
        .userdata = lg,
    };
    dagd_wiki_client_defaults(ret_o);
}

/* Ask the wiki: the phase 1 titles, then the short names of cities whose
 * 市 title gave nothing for sure (phase 2, skipped once the API is
 * unreachable). Answers land in t1 and t2, counts in total. */
static int ask_wiki(struct dagd_task_ctx *ctx, struct dagd_wiki_client_opts *o, struct names *ns,
                    struct titles *t1, struct titles *t2, struct dagd_wiki_stats *total)
{
    int r = lookup(ctx, o, t1, "lookup", total);
    if (r >= 0 && !total->unreachable) {
        r = collect_short_titles(ns, t1, t2);
    }
    if (r >= 0) {
        r = lookup(ctx, o, t2, "short-name lookup", total);
    }
    if (r == -ECANCELED) {
        host->fail(ctx, NULL, "canceled");
    }
    return r;
}

/* The dictionary and the map's districts per city, loaded on first need;
 * NULL (after a warning) when either cannot be read. */
static struct dagd_dict *dictionary_load(struct dagd_task_ctx *ctx, sqlite3 *db,
                                         struct citymap *cmap)
{
    struct dagd_dict *dict = NULL;
    char *msg = NULL;
    int dr = dagd_dict_load(dict_dir(ctx), &dict, &msg);
    if (dr >= 0) {
        dr = citymap_load(db, cmap);
        if (dr < 0) {
            msg = strdup("cannot read city_district_map");
        }
    }
    if (dr < 0) {
        host->log(ctx, DAGD_TASK_LOG_WARNING, "dictionary unavailable: %s, ignoring",
                  msg ? msg : strerror(-dr));
        free(msg);
        dict = dagd_dict_free(dict);
    }
    return dict;
}

/* Decide every name not cached: a good wiki link, else the dictionary, else
 * none. The dictionary is loaded the first time a name needs it. */
static void decide_names(struct dagd_task_ctx *ctx, sqlite3 *db, bool online, struct names *ns,
                         const struct titles *t1, const struct titles *t2, struct tally *n)
{
    struct dagd_dict *dict = NULL;
    struct citymap cmap = {0};
    bool dict_tried = false;
    for (size_t i = 0; i < ns->n; i++) {
        struct name *nm = &ns->v[i];
        if (nm->cached) {
            continue;
        }
        nm->a1 = titles_find(t1, nm->title1);
        nm->a2 = titles_find(t2, nm->title2);
        const struct dagd_wiki_answer *good = good_link(nm->a1)   ? nm->a1
                                              : good_link(nm->a2) ? nm->a2
                                                                  : NULL;
        bool invalid = !dagd_wiki_title_is_valid(nm->title1);
        if (good) {
            nm->en = strdup(good->en);
            nm->title = strdup(good->page ? good->page : nm->title1);
            nm->source = "wikipedia";
            nm->asked = true;
            n->wiki++;
            continue;
        }
        /* Settled: the wiki answered every title we had for this name (or
         * the name cannot be a title at all). */
        nm->asked =
            online && (invalid || (definitive(nm->a1) && (!nm->title2 || definitive(nm->a2))));
        if (online && !nm->asked) {
            n->unanswered++;
        }
        if (!dict_tried) {
            dict_tried = true;
            dict = dictionary_load(ctx, db, &cmap);
        }
        if (dict && nm->kind == KIND_CITY) {
            size_t nd = 0;
            const char *const *ds = citymap_districts(&cmap, nm->zh, &nd);
            nm->en = dagd_dict_city(dict, nm->zh, ds, nd);
        } else if (dict) {
            nm->en = dagd_dict_district(dict, nm->zh);
        }
        nm->source = nm->en ? "dictionary" : "none";
        if (nm->en) {
            n->dict++;
        } else {
            n->none++;
        }
    }
    dagd_dict_free(dict);
    citymap_done(&cmap);
}

static int translate_run(struct dagd_task_ctx *ctx)
{
    struct names ns = {0};
    struct titles t1 = {0}, t2 = {0};
    struct dagd_wiki_stats total = {0};
    struct tally n = {0};
    struct ctxlog lg = {ctx};
    char ua[512];
    int r;

    sqlite3 *db = host->warehouse(ctx);
    if (!db) {
        return host->fail(ctx, NULL, "no warehouse");
    }
    r = ensure_schema(ctx, db);
    if (r < 0) {
        return r;
    }
    r = load_names(ctx, db, host->config_bool(ctx, "refresh", false), &ns);
    if (r < 0) {
        goto out;
    }
    if ((r = collect_first_titles(&ns, &t1, &n.to_ask)) < 0) {
        goto out;
    }

    const char *api = api_url(ctx);
    const char *contact = host->config_string(ctx, "contact", DEFAULT_CONTACT);
    char *why = NULL;
    if (dagd_curl_load(&why) < 0) {
        r = host->fail(ctx, NULL, "%s", why ? why : "cannot load libcurl");
        free(why);
        goto out;
    }
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    snprintf(ua, sizeof(ua), "dagd/%s (+%s) libcurl/%s", DAGD_VERSION, contact,
             cv ? cv->version : "?");
    struct dagd_wiki_client_opts o;
    client_opts(ctx, api, ua, &lg, &o);
    bool online = *api != '\0';
    if (!online && n.to_ask) {
        host->log(ctx, DAGD_TASK_LOG_WARNING, "no api configured: using the dictionary only");
    }
    if (online && t1.n) {
        host->log(ctx, DAGD_TASK_LOG_INFO, "asking %s for %zu name(s) (%zu cached) as %s", api,
                  n.to_ask, ns.n - n.to_ask, ua);
        if ((r = ask_wiki(ctx, &o, &ns, &t1, &t2, &total)) < 0) {
            goto out;
        }
    }

    decide_names(ctx, db, online, &ns, &t1, &t2, &n);
    if (n.unanswered) {
        host->log(ctx, DAGD_TASK_LOG_WARNING,
                  "%s: %zu name(s) got no answer from %s; the dictionary filled in "
                  "(they are asked again next run)",
                  total.unreachable ? "API unreachable" : "lookups given up", n.unanswered, api);
        /* A fallback answer is not the answer: keep the engine from memoizing it. */
        if (DAGD_HOST_HAS(host, no_memo)) {
            host->no_memo(ctx, "the dictionary filled in for names the API did not answer");
        }
    }

    size_t written = 0;
    r = write_rows(ctx, db, &ns, &written);
    if (r < 0) {
        goto out;
    }
    host->log(ctx, DAGD_TASK_LOG_NOTICE,
              "%zu name(s): %zu cached, %zu from wikipedia, %zu from the dictionary, %zu none; "
              "%u request(s) (%u batch(es), %u retries)",
              ns.n, ns.n - n.to_ask, n.wiki, n.dict, n.none, total.requests, total.batches,
              total.retries);
    host->metrics(ctx, (int64_t)ns.n, (int64_t)written);
    host->progress(ctx, ns.n, ns.n);
    r = 0;
out:
    titles_done(&t1);
    titles_done(&t2);
    names_done(&ns);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "translate-scrape",
    .version = "1",
    .description = "English names of cities and districts via the MediaWiki API, cached",
    .schema = schema,
    .validate = translate_validate,
    .inputs = translate_inputs,
    .run = translate_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
