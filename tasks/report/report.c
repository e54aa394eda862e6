/* Task `report`: one self-contained HTML file from the warehouse marts.
 *
 * Reads (one read transaction, so the figures are one snapshot): summary,
 * mart_top_city_per_hour (Q1), mart_city_district_avg (Q2), city_tiers,
 * dq_summary, load_files, and translations for English names. A missing
 * table makes its section say so instead of failing the step. Writes to a
 * temporary file in the output directory, fsyncs it and renames it over the
 * output, so a reader never sees half a report. */
#include <dagd/task.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report_html.h"
#include "task_clock.h"

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "output",
     .type = DAGD_FIELD_STRING,
     .doc = "HTML file to write (default the `report` param, else STATE_DIR/report.html)"},
    {.name = "title", .type = DAGD_FIELD_STRING, .doc = "report title (default \"Sales report\")"},
    {.name = "top",
     .type = DAGD_FIELD_INT,
     .min = 1,
     .max = 100,
     .doc = "cities in the Q2 chart (default 10)"},
    {.name = NULL},
};

/* Strings copied out of SQLite rows, freed together. */
struct pool {
    char **v;
    size_t n, cap;
};

static const char *pool_dup(struct pool *p, const unsigned char *s)
{
    if (!s) {
        return NULL;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        char **nv = realloc(p->v, cap * sizeof(*nv));
        if (!nv) {
            return NULL;
        }
        p->v = nv;
        p->cap = cap;
    }
    char *d = strdup((const char *)s);
    if (d) {
        p->v[p->n++] = d;
    }
    return d;
}

static void pool_done(struct pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i]);
    }
    free(p->v);
}

/* Prepare `sql`, or `fallback` when the first fails (e.g. no translations
 * table); NULL when neither works (the table is missing). */
static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, const char *fallback)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        return st;
    }
    if (fallback && sqlite3_prepare_v2(db, fallback, -1, &st, NULL) == SQLITE_OK) {
        return st;
    }
    return NULL;
}

/* Grow an array of `size`-byte elements by one; returns the new element. */
static void *grow(void **v, size_t *n, size_t size)
{
    char *nv = realloc(*v, (*n + 1) * size);
    if (!nv) {
        return NULL;
    }
    *v = nv;
    memset(nv + *n * size, 0, size);
    return nv + (*n)++ * size;
}

#define EN_JOIN(col) " LEFT JOIN translations tr ON tr.kind = 'city' AND tr.zh = " col

struct model {
    struct dagd_report r;
    struct dagd_report_kv *summary;
    struct dagd_report_hour *hours;
    struct dagd_report_q2 *q2;
    struct dagd_report_tier_city *tiers;
    struct dagd_report_dq *dq;
    struct dagd_report_file *files;
    struct pool pool;
};

static void model_done(struct model *m)
{
    free(m->summary);
    free(m->hours);
    free(m->q2);
    free(m->tiers);
    free(m->dq);
    free(m->files);
    pool_done(&m->pool);
}

/* summary: every key figure, by key. A missing table loads nothing. */
static int load_summary(sqlite3 *db, struct model *m)
{
    sqlite3_stmt *st;
    struct pool *p = &m->pool;
    size_t n;

    st = prepare(db, "SELECT key, value FROM summary ORDER BY key", NULL);
    for (n = 0; st && sqlite3_step(st) == SQLITE_ROW;) {
        struct dagd_report_kv *kv = grow((void **)&m->summary, &n, sizeof(*kv));
        if (!kv) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        kv->key = pool_dup(p, sqlite3_column_text(st, 0));
        kv->value = pool_dup(p, sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    m->r.summary = m->summary;
    m->r.n_summary = n;
    return 0;
}

/* Q1 (mart_top_city_per_hour), English names when translations has them. A missing table loads
 * nothing. */
static int load_hours(sqlite3 *db, struct model *m)
{
    sqlite3_stmt *st;
    struct pool *p = &m->pool;
    size_t n;

    st = prepare(db,
                 "SELECT t.hour, t.city, tr.en, t.sales_rmb_cents, t.margin_rmb_cents"
                 " FROM mart_top_city_per_hour t" EN_JOIN("t.city") " ORDER BY t.hour",
                 "SELECT hour, city, NULL, sales_rmb_cents, margin_rmb_cents"
                 " FROM mart_top_city_per_hour ORDER BY hour");
    for (n = 0; st && sqlite3_step(st) == SQLITE_ROW;) {
        struct dagd_report_hour *h = grow((void **)&m->hours, &n, sizeof(*h));
        if (!h) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        h->hour = sqlite3_column_int(st, 0);
        h->city = pool_dup(p, sqlite3_column_text(st, 1));
        h->city_en = pool_dup(p, sqlite3_column_text(st, 2));
        h->sales_cents = sqlite3_column_int64(st, 3);
        h->margin_cents = sqlite3_column_int64(st, 4);
    }
    sqlite3_finalize(st);
    m->r.hours = m->hours;
    m->r.n_hours = n;
    return 0;
}

/* Q2 (mart_city_district_avg): the first `top` ranks, English names when translations has them. A
 * missing table loads nothing. */
static int load_q2(sqlite3 *db, struct model *m, int64_t top)
{
    sqlite3_stmt *st;
    struct pool *p = &m->pool;
    size_t n;

    st =
        prepare(db,
                "SELECT q.rank, q.city, tr.en, q.districts_with_sales, q.city_total_rmb_cents,"
                " q.avg_district_sales_rmb_cents FROM mart_city_district_avg q" EN_JOIN(
                    "q.city") " ORDER BY q.rank LIMIT ?1",
                "SELECT rank, city, NULL, districts_with_sales, city_total_rmb_cents,"
                " avg_district_sales_rmb_cents FROM mart_city_district_avg ORDER BY rank LIMIT ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, top);
    }
    for (n = 0; st && sqlite3_step(st) == SQLITE_ROW;) {
        struct dagd_report_q2 *q = grow((void **)&m->q2, &n, sizeof(*q));
        if (!q) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        q->rank = sqlite3_column_int64(st, 0);
        q->city = pool_dup(p, sqlite3_column_text(st, 1));
        q->city_en = pool_dup(p, sqlite3_column_text(st, 2));
        q->districts = sqlite3_column_int64(st, 3);
        q->total_cents = sqlite3_column_int64(st, 4);
        q->avg_cents = sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    m->r.q2 = m->q2;
    m->r.n_q2 = n;
    return 0;
}

/* city_tiers (a tier outside 0..63 counts as 0: the chart has one colour per tier). A missing table
 * loads nothing. */
static int load_tiers(sqlite3 *db, struct model *m)
{
    sqlite3_stmt *st;
    struct pool *p = &m->pool;
    size_t n;

    st = prepare(db, "SELECT city, city_en, total_sales_rmb_cents, tier FROM city_tiers", NULL);
    for (n = 0; st && sqlite3_step(st) == SQLITE_ROW;) {
        struct dagd_report_tier_city *c = grow((void **)&m->tiers, &n, sizeof(*c));
        if (!c) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        c->city = pool_dup(p, sqlite3_column_text(st, 0));
        c->city_en = pool_dup(p, sqlite3_column_text(st, 1));
        c->total_cents = sqlite3_column_int64(st, 2);
        c->tier = sqlite3_column_int(st, 3);
        if (c->tier < 0 || c->tier > 63) {
            c->tier = 0;
        }
    }
    sqlite3_finalize(st);
    m->r.tiers = m->tiers;
    m->r.n_tiers = n;
    return 0;
}

/* dq_summary: dataset1, dataset2, final, then any other source. A missing table loads nothing. */
static int load_dq(sqlite3 *db, struct model *m)
{
    sqlite3_stmt *st;
    struct pool *p = &m->pool;
    size_t n;

    st = prepare(db,
                 "SELECT source, rule, rows FROM dq_summary ORDER BY CASE source"
                 " WHEN 'dataset1' THEN 0 WHEN 'dataset2' THEN 1 WHEN 'final' THEN 2 ELSE 3 END,"
                 " source, rule",
                 NULL);
    for (n = 0; st && sqlite3_step(st) == SQLITE_ROW;) {
        struct dagd_report_dq *d = grow((void **)&m->dq, &n, sizeof(*d));
        if (!d) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        d->source = pool_dup(p, sqlite3_column_text(st, 0));
        d->rule = pool_dup(p, sqlite3_column_text(st, 1));
        d->rows = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    m->r.dq = m->dq;
    m->r.n_dq = n;
    return 0;
}

/* load_files, in load order. A missing table loads nothing. */
static int load_files(sqlite3 *db, struct model *m)
{
    sqlite3_stmt *st;
    struct pool *p = &m->pool;
    size_t n;

    st = prepare(db,
                 "SELECT source, path, content_hash, rows, size, loaded_at FROM load_files"
                 " ORDER BY file_id",
                 NULL);
    for (n = 0; st && sqlite3_step(st) == SQLITE_ROW;) {
        struct dagd_report_file *f = grow((void **)&m->files, &n, sizeof(*f));
        if (!f) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        f->source = pool_dup(p, sqlite3_column_text(st, 0));
        f->path = pool_dup(p, sqlite3_column_text(st, 1));
        f->hash = pool_dup(p, sqlite3_column_text(st, 2));
        f->rows = sqlite3_column_int64(st, 3);
        f->size = sqlite3_column_int64(st, 4);
        f->loaded_at_ms = sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    m->r.files = m->files;
    m->r.n_files = n;
    return 0;
}

static int load(struct dagd_task_ctx *ctx, sqlite3 *db, int64_t top, struct model *m)
{
    int r;
    if ((r = load_summary(db, m)) < 0 || (r = load_hours(db, m)) < 0 ||
        (r = load_q2(db, m, top)) < 0 || (r = load_tiers(db, m)) < 0 || (r = load_dq(db, m)) < 0 ||
        (r = load_files(db, m)) < 0) {
        return r;
    }
    if (!m->r.n_hours || !m->r.n_q2 || !m->r.n_tiers || !m->r.n_dq) {
        host->log(ctx, DAGD_TASK_LOG_WARNING,
                  "some sections have no data (Q1 %zu, Q2 %zu, tiers %zu, dq %zu rows), ignoring",
                  m->r.n_hours, m->r.n_q2, m->r.n_tiers, m->r.n_dq);
    }
    return 0;
}

/* The output path (static buffer per call site is fine: one per attempt). */
static const char *output_path(struct dagd_task_ctx *ctx, char *buf, size_t size)
{
    const char *p = host->config_string(ctx, "output", NULL);
    if (!p || !*p) {
        p = host->param(ctx, "report");
    }
    if (!p || !*p) {
        const char *sd = host->state_dir(ctx);
        snprintf(buf, size, "%s/report.html", sd ? sd : ".");
        return buf;
    }
    return p;
}

static int report_inputs(struct dagd_task_ctx *ctx)
{
    char buf[PATH_MAX];
    return host->declare_output(ctx, output_path(ctx, buf, sizeof(buf)));
}

static int mkdir_parents(const char *path)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
        return -ENAMETOOLONG;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        return 0;
    }
    *slash = '\0';
    for (char *s = dir + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                return -errno;
            }
            *s = '/';
        }
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/* Render into PATH.XXXXXX next to the output, fsync, rename over it. */
static int write_atomic(struct dagd_task_ctx *ctx, const char *path, const struct dagd_report *r)
{
    char tmp[PATH_MAX];
    int r0 = mkdir_parents(path);
    if (r0 < 0) {
        return host->fail(ctx, NULL, "cannot create the directory of '%s': %s", path,
                          strerror(-r0));
    }
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        return host->fail(ctx, NULL, "output path too long");
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        return host->fail(ctx, NULL, "cannot create '%s': %s", tmp, strerror(errno));
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return host->fail(ctx, NULL, "fdopen: %s", strerror(e));
    }
    int rr = dagd_report_render(r, f);
    if (fflush(f) != 0 || rr < 0) {
        rr = rr < 0 ? rr : -errno;
    } else if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
        rr = -errno;
    }
    if (fclose(f) != 0 && rr >= 0) {
        rr = -errno;
    }
    if (rr >= 0 && rename(tmp, path) < 0) {
        rr = -errno;
    }
    if (rr < 0) {
        unlink(tmp);
        return host->fail(ctx, NULL, "writing '%s': %s", path, strerror(-rr));
    }
    return 0;
}

static int report_run(struct dagd_task_ctx *ctx)
{
    struct model m = {0};
    char buf[PATH_MAX];
    int r;

    sqlite3 *db = host->warehouse(ctx);
    if (!db) {
        return host->fail(ctx, NULL, "no warehouse");
    }
    const char *path = output_path(ctx, buf, sizeof(buf));
    (void)host->declare_output(ctx, path);

    /* One snapshot for every figure. */
    (void)sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    r = load(ctx, db, host->config_int(ctx, "top", 10), &m);
    (void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (r < 0) {
        model_done(&m);
        return host->fail(ctx, NULL, "reading the warehouse: %s", strerror(-r));
    }
    m.r.title = host->config_string(ctx, "title", "Sales report");
    m.r.run_id = host->run_id(ctx);
    m.r.generated_at_ms = dagd__task_wall_ms();

    r = write_atomic(ctx, path, &m.r);
    if (r >= 0) {
        size_t rows = m.r.n_hours + m.r.n_q2 + m.r.n_tiers + m.r.n_dq + m.r.n_files;
        host->log(ctx, DAGD_TASK_LOG_NOTICE,
                  "wrote '%s' (%zu hours, %zu Q2 cities, %zu tiered "
                  "cities, %zu dq rows)",
                  path, m.r.n_hours, m.r.n_q2, m.r.n_tiers, m.r.n_dq);
        host->metrics(ctx, (int64_t)rows, 1);
    }
    model_done(&m);
    return r < 0 ? r : 0;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "report",
    .version = "1",
    .description = "self-contained HTML sales report with inline SVG charts",
    .schema = schema,
    .inputs = report_inputs,
    .run = report_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
