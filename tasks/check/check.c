/* Task `check`: declarative data-quality checks on warehouse tables
 * (check_spec.h says which; check_run.h runs one). Every result goes to the
 * run history through host->check_result (state.db `checks`); a failed check
 * of severity error fails the step, so downstream steps are skipped, one of
 * severity warn only logs a warning. A check that cannot run (bad SQL, no
 * such table) fails the step whatever its severity: a broken check must not
 * pass silently.
 *
 * Config: checks (list), table and severity (defaults for every check),
 * sample (violating rows kept per check). */
#include <dagd/task.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "wh.h"
#include "check_spec.h"
#include "task_errmsg.h"

static const struct dagd_host_api *host;

static const char *const severities[] = {"error", "warn", NULL};

static const struct dagd_task_field schema[] = {
    {.name = "checks",
     .type = DAGD_FIELD_ANY,
     .required = true,
     .doc = "list of checks: {not_null|unique|accepted_values|relationships|row_count|"
            "expression|sql: ..., table, column, where, name, severity}"},
    {.name = "table", .type = DAGD_FIELD_STRING, .doc = "table of the checks that name none"},
    {.name = "severity",
     .type = DAGD_FIELD_STRING,
     .choices = severities,
     .doc = "default severity: error (fails the step, the default) or warn"},
    {.name = "sample",
     .type = DAGD_FIELD_INT,
     .min = 0,
     .max = 100,
     .doc = "violating rows kept per check in the run history (default 5)"},
    {.name = NULL},
};

static int check_validate(struct dagd_task_ctx *ctx)
{
    struct dagd_check_spec *v = NULL;
    char *err = NULL;
    size_t n = 0;
    int r = dagd_check_specs_parse(host->config_json(ctx), &v, &n, &err);

    if (r < 0) {
        r = host->fail(ctx, "checks", "%s", err ? err : "invalid checks");
    }
    free(err);
    dagd_check_specs_free(v, n);
    return r;
}

static int on_progress(void *userdata)
{
    return host->canceled(userdata) ? 1 : 0;
}

static void record(struct dagd_task_ctx *ctx, const struct dagd_check_spec *c, const char *status,
                   const struct dagd_check_outcome *o, const char *detail)
{
    struct dagd_check_result res = {
        .struct_size = sizeof(res),
        .name = c->name,
        .severity = c->warn ? "warn" : "error",
        .status = status,
        .violations = o ? o->violations : 0,
        .sample = o ? o->sample : NULL,
        .detail = detail,
    };
    if (DAGD_HOST_HAS(host, check_result)) {
        (void)host->check_result(ctx, &res);
    }
}

static void no_retry(struct dagd_task_ctx *ctx, const char *reason)
{
    if (DAGD_HOST_HAS(host, no_retry)) {
        host->no_retry(ctx, reason);
    }
}

/* Run every check; *ret_failed counts the ones that fail the step and
 * *msg names the first few; *ret_transient the ones that could not run for
 * a reason a retry may mend (busy, I/O). -ECANCELED, or 0. */
static int run_checks(struct dagd_task_ctx *ctx, struct dagd_wh *wh,
                      const struct dagd_check_spec *v, size_t n, size_t sample, size_t *ret_failed,
                      size_t *ret_transient, int64_t *ret_violations, FILE *msg)
{
    size_t failed = 0, transient = 0;
    int64_t violations = 0;

    for (size_t i = 0; i < n; i++) {
        const struct dagd_check_spec *c = &v[i];
        struct dagd_check_outcome o = {0};
        char *err = NULL;
        int r = dagd_check_run_wh(wh, c, sample, &o, &err);

        if (r == -ECANCELED || host->canceled(ctx)) {
            free(err);
            return -ECANCELED;
        }
        if (r < 0) {
            char *detail = NULL;
            if (asprintf(&detail, "%s: cannot run: %s", c->detail, err ? err : "?") < 0) {
                detail = NULL;
            }
            host->log(ctx, DAGD_TASK_LOG_ERR, "check %s cannot run: %s", c->name, err ? err : "?");
            record(ctx, c, "error", NULL, detail);
            fprintf(msg, "%s%s (cannot run: %s)", failed++ ? ", " : "", c->name, err ? err : "?");
            transient += dagd__task_input_error(r) ? 0 : 1;
            free(detail);
            free(err);
            continue;
        }
        violations += o.violations;
        if (o.violations == 0) {
            host->log(ctx, DAGD_TASK_LOG_INFO, "check %s passed", c->name);
            record(ctx, c, "passed", &o, c->detail);
        } else if (c->warn) {
            host->log(ctx, DAGD_TASK_LOG_WARNING, "check %s: %" PRId64 " violating rows (warn)",
                      c->name, o.violations);
            record(ctx, c, "warned", &o, c->detail);
        } else {
            host->log(ctx, DAGD_TASK_LOG_ERR, "check %s failed: %" PRId64 " violating rows",
                      c->name, o.violations);
            record(ctx, c, "failed", &o, c->detail);
            if (failed < 5) {
                fprintf(msg, "%s%s (%" PRId64 " violating rows)", failed ? ", " : "", c->name,
                        o.violations);
            }
            failed++;
        }
        host->progress(ctx, i + 1, n);
        dagd_check_outcome_done(&o);
    }
    *ret_failed = failed;
    *ret_transient = transient;
    *ret_violations = violations;
    return 0;
}

static int check_run(struct dagd_task_ctx *ctx)
{
    struct dagd_check_spec *v = NULL;
    struct dagd_wh *wh = NULL;
    size_t n = 0, failed = 0, transient = 0, sample = (size_t)host->config_int(ctx, "sample", 5);
    int64_t violations = 0;
    char *err = NULL, *msg = NULL;
    size_t msg_len = 0;
    FILE *mf;
    int r;

    if ((r = dagd_wh_open(host, ctx, &wh, &err)) < 0) {
        (void)host->fail(ctx, NULL, "%s", err);
        free(err);
        return r;
    }
    r = dagd_check_specs_parse(host->config_json(ctx), &v, &n, &err);
    if (r < 0) {
        r = host->fail(ctx, NULL, "%s", err ? err : "invalid checks");
        no_retry(ctx, "the checks are invalid");
        free(err);
        dagd_wh_free(wh);
        return r;
    }
    mf = open_memstream(&msg, &msg_len);
    if (!mf) {
        dagd_check_specs_free(v, n);
        dagd_wh_free(wh);
        return -ENOMEM;
    }
    if (wh->db) {
        sqlite3_progress_handler(wh->db, 20000, on_progress, ctx);
    }
    /* every check sees the same snapshot of the warehouse (PostgreSQL:
     * REPEATABLE READ, and READ ONLY refuses a check that would write) */
    (void)dagd_wh_exec(wh, wh->db ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    r = run_checks(ctx, wh, v, n, sample, &failed, &transient, &violations, mf);
    (void)dagd_wh_exec(wh, "ROLLBACK");
    if (wh->db) {
        sqlite3_progress_handler(wh->db, 0, NULL, NULL);
    }
    dagd_wh_free(wh);
    fclose(mf);
    host->metrics(ctx, (int64_t)n, violations);
    if (r >= 0 && failed > 0) {
        r = host->fail(ctx, NULL, "%zu of %zu checks failed: %s%s", failed, n, msg,
                       failed > 5 ? ", ..." : "");
        if (transient == 0) {
            /* the same tables fail the same checks: only new data mends them */
            no_retry(ctx, "the data fails its checks");
        }
    } else if (r >= 0) {
        host->log(ctx, DAGD_TASK_LOG_INFO, "%zu checks, none failed", n);
    }
    free(msg);
    dagd_check_specs_free(v, n);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "check",
    .version = "1",
    .description = "Data-quality checks on warehouse tables, recorded in the run history",
    .schema = schema,
    .validate = check_validate,
    .run = check_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
