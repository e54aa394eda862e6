/* Task `cluster`: k-means city tiers on per-city sales (DESIGN 6, table
 * city_tiers; rules.tiers of expected.json).
 *
 * Input: the city-figure rows, i.e. included orders whose city_district_id is
 * a row of city_district_map, grouped by the (trimmed) map city; read from
 * mart_city_district_avg when it has `city_total_rmb_cents` and `orders`
 * (the same figures, precomputed), else from orders. Features:
 * `total` (RMB cents), `orders` (row count), `avg_order` (total / orders).
 * One feature: the exact 1-D optimum by dynamic programming, so the tiers
 * equal the reference. Several: standardised features, deterministic
 * k-means++ (fixed seed, several inits). `k: auto` picks k in 2..8 by the
 * mean silhouette. Tier 0 = lowest mean total. Written in one transaction. */
#include <dagd/task.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"
#include "warehouse_sql.h"

#define AUTO_K_MIN 2
#define AUTO_K_MAX 8
#define MAX_FEATURES 3

static const struct dagd_host_api *host;

enum feature {
    FEATURE_TOTAL,
    FEATURE_ORDERS,
    FEATURE_AVG_ORDER,
    _FEATURE_MAX,
};

static const char *const feature_names[_FEATURE_MAX + 1] = {
    [FEATURE_TOTAL] = "total",
    [FEATURE_ORDERS] = "orders",
    [FEATURE_AVG_ORDER] = "avg_order",
    NULL,
};

static const char *const k_choices[] = {"auto", NULL};

static const struct dagd_task_field schema[] = {
    {.name = "k",
     .type = DAGD_FIELD_INT_OR_STRING,
     .min = 1,
     .max = 20,
     .choices = k_choices,
     .doc = "number of tiers (default 3), or `auto` (2..8 by silhouette)"},
    {.name = "features",
     .type = DAGD_FIELD_STRING_LIST,
     .choices = feature_names,
     .doc = "per-city features: total, orders, avg_order (default [total])"},
    {.name = "seed",
     .type = DAGD_FIELD_INT,
     .min = 0,
     .max = INT32_MAX,
     .doc = "k-means++ seed for several features (default 0)"},
    {.name = "n_init",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 100,
     .doc = "k-means++ initialisations for several features (default 10)"},
    {.name = NULL},
};

/* Fast path: the Q2 mart already holds the per-city totals of the city
 * figures (and, in our warehouse, their row count): 359 rows instead of a
 * 200k-row join. Used when it has the columns; the join is the fallback. */
#define SQL_CITY_FIGURES_MART                                                                      \
    "SELECT city, city_total_rmb_cents, orders FROM mart_city_district_avg"                        \
    " WHERE city IS NOT NULL ORDER BY city"

#define SQL_CITY_FIGURES                                                                           \
    "SELECT trim(m.city, " DAGD_SQL_TRIM_CHARS ") AS c,"                                           \
    "       SUM(o.amount_rmb_cents), COUNT(*)"                                                     \
    "  FROM orders o JOIN city_district_map m ON m.city_district_id = o.city_district_id"          \
    " WHERE o.status = 'included' AND o.amount_rmb_cents IS NOT NULL"                              \
    " GROUP BY c ORDER BY c"

#define SQL_TIERS_SCHEMA                                                                           \
    "CREATE TABLE IF NOT EXISTS city_tiers ("                                                      \
    " city TEXT PRIMARY KEY,"                                                                      \
    " city_en TEXT,"                                                                               \
    " total_sales_rmb_cents INTEGER NOT NULL,"                                                     \
    " tier INTEGER NOT NULL);"

/* city_en from translations (translate-scrape's table); without that
 * table (translate has not run), NULL. */
#define SQL_TIERS_INSERT                                                                           \
    "INSERT INTO city_tiers (city, city_en, total_sales_rmb_cents, tier)"                          \
    " VALUES (?1, (SELECT en FROM translations WHERE kind = 'city' AND zh = ?1), ?2, ?3)"

#define SQL_TIERS_INSERT_NO_EN                                                                     \
    "INSERT INTO city_tiers (city, city_en, total_sales_rmb_cents, tier)"                          \
    " VALUES (?1, NULL, ?2, ?3)"

struct city {
    char *name;
    int64_t total;
    int64_t orders;
};

struct cities {
    struct city *v;
    size_t n;
};

static void cities_done(struct cities *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

static int feature_from_string(const char *s)
{
    for (int f = 0; f < _FEATURE_MAX; f++) {
        if (strcmp(s, feature_names[f]) == 0) {
            return f;
        }
    }
    return -EINVAL;
}

/* Parse `features` into out[]; returns the count or -EINVAL (after fail()). */
static int read_features(struct dagd_task_ctx *ctx, int out[MAX_FEATURES])
{
    size_t n = host->config_list_len(ctx, "features");
    if (n == 0) {
        out[0] = FEATURE_TOTAL;
        return 1;
    }
    if (n > MAX_FEATURES) {
        return host->fail(ctx, "features", "at most %d features", MAX_FEATURES);
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = host->config_list_item(ctx, "features", i);
        int f = s ? feature_from_string(s) : -EINVAL;
        if (f < 0) {
            return host->fail(ctx, "features", "unknown feature '%s' (total, orders, avg_order)",
                              s ? s : "");
        }
        for (size_t j = 0; j < i; j++) {
            if (out[j] == f) {
                return host->fail(ctx, "features", "feature '%s' given twice", s);
            }
        }
        out[i] = f;
    }
    return (int)n;
}

/* k from config: >0 a fixed k, 0 = auto, <0 error (after fail()). */
static int read_k(struct dagd_task_ctx *ctx)
{
    const char *s = host->config_string(ctx, "k", NULL);
    if (s && strcmp(s, "auto") == 0) {
        return 0;
    }
    if (s) {
        char *end = NULL;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno == 0 && end != s && *end == '\0' && v >= 1 && v <= 20) {
            return (int)v;
        }
        return host->fail(ctx, "k", "k must be an integer in 1..20 or 'auto', not '%s'", s);
    }
    int64_t v = host->config_int(ctx, "k", 3);
    if (v < 1 || v > 20) {
        return host->fail(ctx, "k", "k must be in 1..20, not %" PRId64, v);
    }
    return (int)v;
}

static int cluster_validate(struct dagd_task_ctx *ctx)
{
    int f[MAX_FEATURES];
    int r = read_features(ctx, f);
    if (r < 0) {
        return r;
    }
    r = read_k(ctx);
    return r < 0 ? r : 0;
}

static int load_cities(struct dagd_task_ctx *ctx, sqlite3 *db, struct cities *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, SQL_CITY_FIGURES_MART, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        host->log(ctx, DAGD_TASK_LOG_DEBUG, "no usable mart_city_district_avg (%s): using orders",
                  sqlite3_errmsg(db));
        rc = sqlite3_prepare_v2(db, SQL_CITY_FIGURES, -1, &st, NULL);
    }
    if (rc != SQLITE_OK) {
        return host->fail(ctx, NULL, "cannot read city figures (orders, city_district_map): %s",
                          sqlite3_errmsg(db));
    }
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        if (!name || !*name) {
            continue;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            struct city *nv = realloc(out->v, cap * sizeof(*nv));
            if (!nv) {
                sqlite3_finalize(st);
                return -ENOMEM;
            }
            out->v = nv;
        }
        struct city *c = &out->v[out->n];
        c->name = strdup((const char *)name);
        if (!c->name) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        c->total = sqlite3_column_int64(st, 1);
        c->orders = sqlite3_column_int64(st, 2);
        out->n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return host->fail(ctx, NULL, "reading city figures: %s", sqlite3_errmsg(db));
    }
    return 0;
}

static double feature_value(const struct city *c, int f)
{
    switch (f) {
    case FEATURE_ORDERS:
        return (double)c->orders;
    case FEATURE_AVG_ORDER:
        return c->orders ? (double)c->total / (double)c->orders : 0;
    default:
        return (double)c->total;
    }
}

static int64_t feature_int(const struct city *c, int f)
{
    if (f == FEATURE_AVG_ORDER) {
        return (int64_t)llround(feature_value(c, f)); /* cents */
    }
    return f == FEATURE_ORDERS ? c->orders : c->total;
}

static size_t distinct_points(const double *x, size_t n, size_t d)
{
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        for (; j < i; j++) {
            if (memcmp(x + i * d, x + j * d, d * sizeof(double)) == 0) {
                break;
            }
        }
        distinct += j == i;
    }
    return distinct;
}

/* Cluster with a fixed k into labels; *ret_score = within SSE/inertia. */
static int cluster_k(const struct cities *cs, const int *feat, int nfeat, const double *x,
                     unsigned k, uint64_t seed, unsigned n_init, unsigned *labels,
                     double *ret_score)
{
    if (nfeat == 1) {
        int64_t *v = malloc(cs->n * sizeof(*v));
        if (!v) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < cs->n; i++) {
            v[i] = feature_int(&cs->v[i], feat[0]);
        }
        int r = dagd_kmeans1d(v, cs->n, k, labels, ret_score);
        free(v);
        return r;
    }
    return dagd_kmeans_pp(x, cs->n, (size_t)nfeat, k, seed, n_init, 300, labels, ret_score);
}

static int write_tiers(struct dagd_task_ctx *ctx, sqlite3 *db, const struct cities *cs,
                       const unsigned *labels)
{
    sqlite3_stmt *ins = NULL;
    char *err = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE;" SQL_TIERS_SCHEMA "DELETE FROM city_tiers;", NULL,
                          NULL, &err);
    if (rc != SQLITE_OK) {
        int r = host->fail(ctx, NULL, "cannot prepare city_tiers: %s", err ? err : "?");
        sqlite3_free(err);
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    rc = sqlite3_prepare_v2(db, SQL_TIERS_INSERT, -1, &ins, NULL);
    if (rc != SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, SQL_TIERS_INSERT_NO_EN, -1, &ins, NULL);
    }
    for (size_t i = 0; rc == SQLITE_OK && i < cs->n; i++) {
        sqlite3_bind_text(ins, 1, cs->v[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, cs->v[i].total);
        sqlite3_bind_int(ins, 3, (int)labels[i]);
        rc = sqlite3_step(ins);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(ins);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        int r = host->fail(ctx, NULL, "writing city_tiers: %s", sqlite3_errmsg(db));
        sqlite3_finalize(ins);
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    sqlite3_finalize(ins);
    return 0;
}

/* k auto: the k in AUTO_K_MIN..AUTO_K_MAX (below the number of distinct
 * points) with the best mean silhouette; ties keep the smaller k. Too few
 * distinct cities for a silhouette: one tier. `trial` is scratch (cs->n). */
static int cluster_auto(struct dagd_task_ctx *ctx, const struct cities *cs, const int *feat,
                        int nfeat, const double *x, size_t distinct, uint64_t seed, unsigned n_init,
                        unsigned *labels, unsigned *trial, unsigned *ret_k, double *ret_score)
{
    double best = -INFINITY, score = 0;
    unsigned k = 0;
    for (unsigned kk = AUTO_K_MIN; kk <= AUTO_K_MAX && kk + 1 <= distinct; kk++) {
        double sse, sil;
        if (host->canceled(ctx)) {
            return -ECANCELED;
        }
        int r = cluster_k(cs, feat, nfeat, x, kk, seed, n_init, trial, &sse);
        if (r >= 0) {
            r = dagd_silhouette(x, cs->n, (size_t)nfeat, trial, kk, &sil);
        }
        if (r < 0) {
            host->fail(ctx, NULL, "k-means (k=%u) failed: %s", kk, strerror(-r));
            return r;
        }
        host->log(ctx, DAGD_TASK_LOG_INFO, "k=%u: silhouette %.4f, within SSE %.6g", kk, sil, sse);
        if (sil > best) {
            best = sil;
            k = kk;
            score = sse;
            memcpy(labels, trial, cs->n * sizeof(unsigned));
        }
    }
    if (k == 0) {
        k = 1;
        memset(labels, 0, cs->n * sizeof(unsigned));
    }
    host->log(ctx, DAGD_TASK_LOG_NOTICE, "k auto: chose k=%u (silhouette %.4f)", k,
              isfinite(best) ? best : 0.0);
    *ret_k = k;
    *ret_score = score;
    return 0;
}

/* One line: how many cities in how many tiers of which sizes. */
/* The share of the spread between cities (total sum of squares of the
 * features) that the tiers explain: 1 - within-tier SSE / total. A reader
 * can judge "tiers explain 97% of the differences"; the raw SSE (in cents
 * squared) means nothing to anyone. */
static double explained(const double *x, size_t n, int nfeat, double sse)
{
    double total = 0;
    for (int f = 0; f < nfeat; f++) {
        double mean = 0;
        for (size_t i = 0; i < n; i++) {
            mean += x[i * (size_t)nfeat + (size_t)f];
        }
        mean /= (double)(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            double d = x[i * (size_t)nfeat + (size_t)f] - mean;
            total += d * d;
        }
    }
    return total > 0 ? 1.0 - sse / total : 1.0;
}

static void log_tiers(struct dagd_task_ctx *ctx, const struct cities *cs, const unsigned *labels,
                      unsigned k, int nfeat, const double *x, double score)
{
    size_t sizes[DAGD_KMEANS_MAX_K] = {0};
    for (size_t i = 0; i < cs->n; i++) {
        sizes[labels[i]]++;
    }
    char buf[256];
    size_t off = 0;
    for (unsigned t = 0; t < k && off < sizeof(buf); t++) {
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%zu", t ? "/" : "", sizes[t]);
    }
    host->log(ctx, DAGD_TASK_LOG_NOTICE,
              "%zu cities in %u tiers (cities per tier, lowest first: %s) by %d feature%s; the "
              "tiers explain %.1f%% of the differences between cities",
              cs->n, k, buf, nfeat, nfeat == 1 ? "" : "s",
              100.0 * explained(x, cs->n, nfeat, score));
}

static int cluster_run(struct dagd_task_ctx *ctx)
{
    struct cities cs = {0};
    double *x = NULL, *key = NULL;
    unsigned *labels = NULL, *trial = NULL;
    int feat[MAX_FEATURES];
    int r;

    int nfeat = read_features(ctx, feat);
    if (nfeat < 0) {
        return nfeat;
    }
    int k_cfg = read_k(ctx);
    if (k_cfg < 0) {
        return k_cfg;
    }
    uint64_t seed = (uint64_t)host->config_int(ctx, "seed", 0);
    unsigned n_init = (unsigned)host->config_int(ctx, "n_init", 10);

    sqlite3 *db = host->warehouse(ctx);
    if (!db) {
        return host->fail(ctx, NULL, "no warehouse");
    }
    r = load_cities(ctx, db, &cs);
    if (r < 0) {
        goto out;
    }
    if (cs.n == 0) {
        host->log(ctx, DAGD_TASK_LOG_WARNING, "no city-figure rows: city_tiers will be empty");
        labels = NULL;
        r = write_tiers(ctx, db, &cs, NULL);
        goto out;
    }

    x = calloc(cs.n * (size_t)nfeat, sizeof(double));
    key = calloc(cs.n, sizeof(double));
    labels = calloc(cs.n, sizeof(unsigned));
    if (!x || !key || !labels) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cs.n; i++) {
        key[i] = (double)cs.v[i].total;
        for (int f = 0; f < nfeat; f++) {
            x[i * (size_t)nfeat + (size_t)f] = feature_value(&cs.v[i], feat[f]);
        }
    }
    if (nfeat > 1) {
        dagd_standardize(x, cs.n, (size_t)nfeat);
    }
    size_t distinct = distinct_points(x, cs.n, (size_t)nfeat);

    unsigned k;
    double score = 0;
    if (k_cfg > 0) {
        k = (unsigned)k_cfg;
        if (k > distinct) {
            host->log(ctx, DAGD_TASK_LOG_WARNING, "k=%u but only %zu distinct cities: using k=%zu",
                      k, distinct, distinct);
            k = (unsigned)distinct;
        }
        r = cluster_k(&cs, feat, nfeat, x, k, seed, n_init, labels, &score);
        if (r < 0) {
            host->fail(ctx, NULL, "k-means failed: %s", strerror(-r));
            goto out;
        }
    } else {
        trial = calloc(cs.n, sizeof(unsigned));
        if (!trial) {
            r = -ENOMEM;
            goto out;
        }
        r = cluster_auto(ctx, &cs, feat, nfeat, x, distinct, seed, n_init, labels, trial, &k,
                         &score);
        if (r < 0) {
            goto out;
        }
    }
    r = dagd_kmeans_rank(labels, cs.n, k, key);
    if (r < 0) {
        goto out;
    }

    log_tiers(ctx, &cs, labels, k, nfeat, x, score);

    r = write_tiers(ctx, db, &cs, labels);
    if (r >= 0) {
        host->metrics(ctx, (int64_t)cs.n, (int64_t)cs.n);
        host->progress(ctx, cs.n, cs.n);
    }
out:
    cities_done(&cs);
    free(x);
    free(key);
    free(labels);
    free(trial);
    return r < 0 ? r : 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "cluster",
    .version = "1",
    .description = "k-means city tiers on per-city sales (exact 1-D optimum for one feature)",
    .schema = schema,
    .validate = cluster_validate,
    .run = cluster_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
