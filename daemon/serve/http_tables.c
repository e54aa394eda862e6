/* GET /api/pipelines/NAME/tables and GET /api/runs/ID/report (see
 * http_api.c's list): what a pipeline writes, as `dagd lineage` derives it
 * (engine/lineage.c), with row counts from its warehouse and the run that
 * last wrote each table; and the HTML report a run's `report` step wrote.
 *
 * Both read files a pipeline names, so both are careful: the warehouse is
 * opened read-only with a cap on the work a count may take, and a report is
 * served only from inside the daemon's state directory (a run's --param
 * could name any file; the UI's readers need not be the users who may run
 * pipelines), as HTML in a sandbox with no script. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "history_json.h"
#include "http_internal.h"
#include "lineage.h"

/* Tables counted per request, and the SQLite VM steps one count may take
 * (COUNT(*) walks the smallest index: ~50 M steps is a few hundred ms). */
#define MAX_TABLES 200
#define COUNT_STEP_CAP 50000000
/* Runs looked through for the one that last wrote each table. */
#define LAST_RUNS 100
#define MAX_REPORT_BYTES (32u * 1024u * 1024u)

static int count_progress(void *userdata)
{
    unsigned *calls = userdata;
    /* Called every 1000 VM steps: give up past the cap. */
    return ++*calls > COUNT_STEP_CAP / 1000;
}

/* Rows of `table` in an open read-only warehouse; -1 when it cannot be
 * counted (no such table yet, too big, locked). */
static int64_t count_rows(sqlite3 *db, const char *table)
{
    _cleanup_free_ char *sql = NULL;
    char *quoted = sqlite3_mprintf("%w", table);
    sqlite3_stmt *st = NULL;
    unsigned calls = 0;
    int64_t n = -1;

    if (!quoted) {
        abort(); /* out of memory */
    }
    sql = dagd_xasprintf("SELECT count(*) FROM \"%s\"", quoted);
    sqlite3_free(quoted);
    sqlite3_progress_handler(db, 1000, count_progress, &calls);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    return n;
}

/* A warehouse that is a SQLite file (not a libpq connection string). */
static sqlite3 *open_warehouse(const char *path)
{
    sqlite3 *db = NULL;
    struct stat stbuf;
    if (!path || path[0] != '/' || stat(path, &stbuf) < 0 || !S_ISREG(stbuf.st_mode)) {
        return NULL;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 200);
    return db;
}

/* The params of p's runs as the daemon resolves them with no overrides:
 * defaults and built-ins, ${state_dir} the daemon's. */
static int default_params(struct dagd_daemon *d, const struct dagd_pipeline *p,
                          struct dagd_params *ret)
{
    struct dagd_params builtins = {0};
    struct dagd_diags diags = {0};
    dagd_pipeline_builtins(p, d->config.state_dir, "tables", NULL, &builtins);
    int r = dagd_pipeline_resolve_params(p, NULL, 0, &builtins, ret, &diags);
    dagd_params_done(&builtins);
    dagd_diags_done(&diags);
    return r;
}

struct table {
    const char *name; /* "table:NAME" + 6, borrowed from the lineage */
    cJSON *writers;   /* the steps writing it */
    cJSON *last;      /* {run_id, ended_at} of the newest run where one succeeded */
};

/* For each table, the newest of the pipeline's last LAST_RUNS runs in which
 * a step writing it succeeded. */
static void find_last_writes(struct dagd_daemon *d, const char *pipeline, struct table *t, size_t n)
{
    struct dagd_run_info *runs = NULL;
    size_t n_runs = 0, missing = n;
    if (dagd_store_runs_list(d->store, pipeline, LAST_RUNS, &runs, &n_runs) < 0) {
        return;
    }
    for (size_t i = 0; i < n_runs && missing > 0; i++) {
        struct dagd_step_info *steps = NULL;
        size_t n_steps = 0;
        if (dagd_store_steps_list(d->store, runs[i].run_id, &steps, &n_steps) < 0) {
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            for (size_t j = 0; j < n_steps && !t[k].last; j++) {
                const cJSON *w;
                bool writes = false;
                cJSON_ArrayForEach(w, t[k].writers)
                {
                    writes = writes || streq(w->valuestring, steps[j].step);
                }
                if (writes && steps[j].status == DAGD_STEP_SUCCEEDED) {
                    t[k].last = cJSON_CreateObject();
                    cJSON_AddStringToObject(t[k].last, "run_id", runs[i].run_id);
                    cJSON_AddNumberToObject(t[k].last, "ended_at", (double)steps[j].ended_at);
                    cJSON_AddNumberToObject(t[k].last, "rows_out", (double)steps[j].rows_out);
                    missing--;
                }
            }
        }
        for (size_t j = 0; j < n_steps; j++) {
            dagd_step_info_done(&steps[j]);
        }
        free(steps);
    }
    for (size_t i = 0; i < n_runs; i++) {
        dagd_run_info_done(&runs[i]);
    }
    free(runs);
}

/* The tables of the lineage (nodes "table:NAME"), each with the steps that
 * write it (edges into it from a file, url or table). */
static size_t tables_of(const struct dagd_lineage *l, struct table *t)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n_nodes && n < MAX_TABLES; i++) {
        if (strncmp(l->node_ids[i], "table:", 6) != 0) {
            continue;
        }
        t[n] = (struct table){.name = l->node_ids[i] + 6, .writers = cJSON_CreateArray()};
        for (size_t k = 0; k < l->n_edges; k++) {
            if (!streq(l->edge_to[k], l->node_ids[i])) {
                continue;
            }
            bool seen = false;
            const cJSON *w;
            cJSON_ArrayForEach(w, t[n].writers)
            {
                seen = seen || streq(w->valuestring, l->edge_step[k]);
            }
            if (!seen) {
                cJSON_AddItemToArray(t[n].writers, cJSON_CreateString(l->edge_step[k]));
            }
        }
        n++;
    }
    return n;
}

int dagd__http_tables(const struct dagd_http_request *req, const char *pipeline,
                      struct dagd_http_response *res)
{
    struct dagd_daemon *d = req->d;
    struct dagd_pipeline *p = dagd_registry_get(d->registry, pipeline);
    struct dagd_params params = {0};
    struct dagd_lineage l = {0};

    if (!p) {
        return dagd__http_set_error(res, 404, "NOT_FOUND", "no such pipeline");
    }
    if (default_params(d, p, &params) < 0) {
        return dagd__http_set_error(res, 500, "INTERNAL", "cannot resolve the pipeline's params");
    }
    (void)dagd_lineage_build(&l, p, &params);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pipeline", p->name);
    const char *warehouse = dagd_params_get(&params, "warehouse");
    if (warehouse) {
        cJSON_AddStringToObject(o, "warehouse", warehouse);
    } else {
        cJSON_AddNullToObject(o, "warehouse");
    }
    cJSON_AddItemToObject(o, "lineage", dagd_lineage_to_json(&l, p->name));
    if (l.error) {
        cJSON_AddStringToObject(o, "lineage_error", l.error);
    }
    struct table *t = dagd_xcalloc(MAX_TABLES, sizeof(*t));
    size_t n = tables_of(&l, t);
    find_last_writes(d, p->name, t, n);
    sqlite3 *db = open_warehouse(warehouse);
    cJSON *a = cJSON_AddArrayToObject(o, "tables");
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", t[i].name);
        int64_t rows = db ? count_rows(db, t[i].name) : -1;
        if (rows >= 0) {
            cJSON_AddNumberToObject(x, "rows", (double)rows);
        } else {
            cJSON_AddNullToObject(x, "rows");
        }
        cJSON_AddItemToObject(x, "written_by", t[i].writers);
        cJSON_AddItemToObject(x, "last_written", t[i].last ? t[i].last : cJSON_CreateNull());
        cJSON_AddItemToArray(a, x);
    }
    sqlite3_close(db);
    free(t);
    dagd_lineage_done(&l);
    dagd_params_done(&params);
    dagd__http_set_json(res, 200, o);
    return 0;
}

/* The file run_id's `report` step wrote: its `output` expanded with the
 * run's own params. A new string, or NULL (with *why) when there is none. */
static char *report_path(struct dagd_daemon *d, const struct dagd_run_info *run, const char **why)
{
    struct dagd_pipeline *p = dagd_registry_get(d->registry, run->pipeline);
    const struct dagd_step *step = NULL;

    *why = "the run's pipeline has no report step";
    for (size_t i = 0; p && i < p->n_steps && !step; i++) {
        if (streq_ptr(p->steps[i].task, "report")) {
            step = &p->steps[i];
        }
    }
    const cJSON *out = step ? cJSON_GetObjectItemCaseSensitive(step->config, "output") : NULL;
    if (!cJSON_IsString(out)) {
        return NULL;
    }
    struct dagd_params params = {0};
    cJSON *pj = run->params_json ? cJSON_Parse(run->params_json) : NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, pj)
    {
        if (cJSON_IsString(it)) {
            dagd_params_set(&params, it->string, it->valuestring);
        }
    }
    cJSON_Delete(pj);
    char *path = NULL;
    if (dagd_params_expand(&params, out->valuestring, &path, NULL) < 0) {
        path = NULL;
        *why = "the report's path does not resolve";
    }
    dagd_params_done(&params);
    return path;
}

/* Whether `path` (resolved) lies inside `dir`. */
static bool inside(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

int dagd__http_report(const struct dagd_http_request *req, const char *run_id,
                      struct dagd_http_response *res)
{
    struct dagd_daemon *d = req->d;
    struct dagd_run_info run = {0};
    const char *why = NULL;
    char real[PATH_MAX];

    if (dagd_store_run_get(d->store, run_id, &run) < 0) {
        return dagd__http_set_error(res, 404, "NOT_FOUND", "no such run");
    }
    _cleanup_free_ char *path = report_path(d, &run, &why);
    dagd_run_info_done(&run);
    if (!path) {
        return dagd__http_set_error(res, 404, "NOT_FOUND", "%s", why);
    }
    if (!realpath(path, real)) {
        return dagd__http_set_error(res, 404, "NOT_FOUND", "the report file is not there");
    }
    if (!inside(d->config.state_dir, real)) {
        return dagd__http_set_error(res, 403, "FORBIDDEN",
                                    "the report lies outside the daemon's state directory");
    }
    _cleanup_close_ int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > MAX_REPORT_BYTES) {
        return dagd__http_set_error(res, 404, "NOT_FOUND", "the report file cannot be served");
    }
    char *body = dagd_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, body + got, (size_t)st.st_size - got);
        if (k <= 0) {
            break;
        }
        got += (size_t)k;
    }
    res->status = 200;
    res->content_type = "text/html; charset=utf-8";
    res->body = body;
    res->len = got;
    /* Its own origin, no script, only its inline styles and data: images. */
    res->csp = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";
    return 0;
}
