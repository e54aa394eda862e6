/* The validate step: bronze -> orders, dq_exceptions, dq_summary.
 *
 * Every run recomputes the whole silver layer from the whole bronze layer
 * (all deliveries loaded so far). That makes "the last occurrence in load
 * order wins" and the per-source counts trivially right across deliveries,
 * and re-running on the same bronze a no-op by construction; the upsert into
 * orders only writes rows whose values change. At 200k rows it costs a few
 * hundred milliseconds, all of it inside SQLite. */
#include "validate_run.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "dq_sqlite.h"
#include "validate_sql.h"

#define STAGES 6

static void set_err(char **reterr_msg, const char *fmt, ...)
{
    va_list ap;
    char *m = NULL;

    if (!reterr_msg) {
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&m, fmt, ap) < 0) {
        m = NULL;
    }
    va_end(ap);
    free(*reterr_msg);
    *reterr_msg = m;
}

static int progress_cb(void *userdata)
{
    const struct dagd_validate_opts *o = userdata;

    return o->canceled(o->userdata) ? 1 : 0; /* non-zero interrupts the statement */
}

static int exec_sql(sqlite3 *db, const struct dagd_validate_opts *o, const char *what,
                    const char *sql, char **reterr_msg)
{
    char *e = NULL;
    int rc;

    if (o->canceled && o->canceled(o->userdata)) {
        return -ECANCELED;
    }
    rc = sqlite3_exec(db, sql, NULL, NULL, &e);
    if (rc == SQLITE_INTERRUPT && o->canceled && o->canceled(o->userdata)) {
        sqlite3_free(e);
        return -ECANCELED;
    }
    if (rc != SQLITE_OK) {
        set_err(reterr_msg, "%s: %s", what, e ? e : sqlite3_errstr(rc));
        sqlite3_free(e);
        return -EIO;
    }
    return 0;
}

static int64_t count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static int write_meta(sqlite3 *db, const char *rate, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, dagd_validate_meta_sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, rate, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        set_err(reterr_msg, "warehouse_meta: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    return 0;
}

static void stage_done(const struct dagd_validate_opts *o, uint64_t n)
{
    if (o->progress) {
        o->progress(o->userdata, n, STAGES);
    }
}

int dagd_validate_warehouse(sqlite3 *db, const struct dagd_validate_opts *o,
                            struct dagd_validate_stats *ret_stats, char **reterr_msg)
{
    struct dagd_dq_rate rate;
    struct dagd_validate_stats stats = { 0 };
    int r;

    if (dagd_dq_rate_parse(o->usd_rate, &rate) < 0) {
        set_err(reterr_msg, "usd_rate '%s' is not a positive decimal number such as 7.10",
                o->usd_rate ? o->usd_rate : "");
        return -EINVAL;
    }
    r = dagd_dq_sqlite_register(db, &rate);
    if (r < 0) {
        set_err(reterr_msg, "cannot register SQL functions: %s", sqlite3_errmsg(db));
        return r;
    }
    if (count_rows(db, dagd_validate_check_sql) != 3) {
        set_err(reterr_msg, "bronze tables raw_orders, city_district_map, load_files missing "
                            "from the warehouse: run the extract steps first");
        return -ENOENT;
    }
    /* Temporary tables in memory: they are scratch, rebuilt every run. */
    (void)sqlite3_exec(db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL);
    if (o->canceled) {
        sqlite3_progress_handler(db, 20000, progress_cb, (void *)o);
    }

    r = exec_sql(db, o, "begin", "BEGIN IMMEDIATE", reterr_msg);
    if (r < 0) {
        goto out;
    }
    r = exec_sql(db, o, "schema", dagd_validate_schema_sql, reterr_msg);
    if (r < 0) {
        goto rollback;
    }
    stage_done(o, 1);
    r = exec_sql(db, o, "staging bronze rows", dagd_validate_stage_sql, reterr_msg);
    if (r < 0) {
        goto rollback;
    }
    stage_done(o, 2);
    r = exec_sql(db, o, "dq_exceptions", dagd_validate_exceptions_sql, reterr_msg);
    if (r < 0) {
        goto rollback;
    }
    stage_done(o, 3);
    r = exec_sql(db, o, "orders", dagd_validate_orders_sql, reterr_msg);
    if (r < 0) {
        goto rollback;
    }
    stage_done(o, 4);
    r = write_meta(db, o->usd_rate, reterr_msg);
    if (r < 0) {
        goto rollback;
    }
    stats.rows_in = count_rows(db, "SELECT count(*) FROM temp.dq_rows");
    stats.orders = count_rows(db, "SELECT count(*) FROM main.orders");
    stats.exceptions = count_rows(db, "SELECT count(*) FROM main.dq_exceptions");
    r = exec_sql(db, o, "cleanup", dagd_validate_cleanup_sql, reterr_msg);
    if (r < 0) {
        goto rollback;
    }
    stage_done(o, 5);
    r = exec_sql(db, o, "commit", "COMMIT", reterr_msg);
    if (r < 0) {
        goto rollback;
    }
    stage_done(o, STAGES);
    if (ret_stats) {
        *ret_stats = stats;
    }
    goto out;

rollback:
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_progress_handler(db, 0, NULL, NULL);
    return r;
}
