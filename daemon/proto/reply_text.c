/* See reply_text.h. */
#include "reply_text.h"

#include <stdint.h>
#include <time.h>

#include "util.h"

const char *dagd_jstr(const cJSON *o, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

double dagd_jnum(const cJSON *o, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? j->valuedouble : 0;
}

const char *dagd_or_dash(const char *s)
{
    return s && *s ? s : "-";
}

char *dagd_fmt_time(double ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

char *dagd_fmt_span(double start, double end, char *buf, size_t n)
{
    if (start <= 0 || end < start) {
        snprintf(buf, n, "-");
        return buf;
    }
    /* Times are whole milliseconds: an equal start and end is under one,
     * as `dagd run`'s summary says it (not "0us"). */
    if (end == start) {
        snprintf(buf, n, "<1ms");
        return buf;
    }
    return dagd_format_duration((uint64_t)((end - start) * 1000), buf, n);
}

static void print_run_row(FILE *f, const cJSON *run)
{
    char created[32], span[32];
    double end = dagd_jnum(run, "ended_at");
    fprintf(f, "%-32s  %-16s %-10s %-8s %-19s %s\n", dagd_or_dash(dagd_jstr(run, "run_id")),
            dagd_or_dash(dagd_jstr(run, "pipeline")), dagd_or_dash(dagd_jstr(run, "status")),
            dagd_or_dash(dagd_jstr(run, "trigger")),
            dagd_fmt_time(dagd_jnum(run, "created_at"), created, sizeof(created)),
            end > 0 ? dagd_fmt_span(dagd_jnum(run, "started_at"), end, span, sizeof(span)) : "-");
}

void dagd_print_runs(FILE *f, const cJSON *result)
{
    const cJSON *run;
    fprintf(f, "%-32s  %-16s %-10s %-8s %-19s %s\n", "RUN", "PIPELINE", "STATUS", "TRIGGER",
            "CREATED", "DURATION");
    cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(result, "runs"))
    {
        print_run_row(f, run);
    }
}

void dagd_print_show(FILE *f, const cJSON *result)
{
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(result, "run");
    char t1[32], t2[32], span[32];
    fprintf(f, "run:      %s\n", dagd_or_dash(dagd_jstr(run, "run_id")));
    fprintf(f, "pipeline: %s\n", dagd_or_dash(dagd_jstr(run, "pipeline")));
    fprintf(f, "status:   %s\n", dagd_or_dash(dagd_jstr(run, "status")));
    fprintf(f, "trigger:  %s\n", dagd_or_dash(dagd_jstr(run, "trigger")));
    if (dagd_jstr(run, "parent_run_id")) {
        fprintf(f, "parent:   %s\n", dagd_jstr(run, "parent_run_id"));
    }
    if (dagd_jstr(run, "partition")) {
        fprintf(f, "partition: %s\n", dagd_jstr(run, "partition"));
    }
    if (dagd_jstr(run, "backfill_id")) {
        fprintf(f, "backfill:  %s\n", dagd_jstr(run, "backfill_id"));
    }
    fprintf(f, "created:  %s\n", dagd_fmt_time(dagd_jnum(run, "created_at"), t1, sizeof(t1)));
    fprintf(f, "started:  %s\n", dagd_fmt_time(dagd_jnum(run, "started_at"), t2, sizeof(t2)));
    fprintf(f, "duration: %s\n",
            dagd_fmt_span(dagd_jnum(run, "started_at"), dagd_jnum(run, "ended_at"), span,
                          sizeof(span)));
    fprintf(f, "params:   %s\n", dagd_or_dash(dagd_jstr(run, "params")));
    if (dagd_jstr(run, "error")) {
        fprintf(f, "error:    %s\n", dagd_jstr(run, "error"));
    }
    fprintf(f, "\n%-24s %-16s %-10s %3s %9s %10s %10s  %s\n", "STEP", "TASK", "STATUS", "TRY",
            "DURATION", "ROWS_IN", "ROWS_OUT", "ERROR OR REASON");
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(result, "steps"))
    {
        const char *err = dagd_jstr(s, "error");
        const char *why = dagd_jstr(s, "skip_reason");
        /* A skipped step did not run: no duration, as in `dagd run`'s summary. */
        const char *dur = streq_ptr(dagd_jstr(s, "status"), "skipped")
                              ? "-"
                              : dagd_fmt_span(dagd_jnum(s, "started_at"), dagd_jnum(s, "ended_at"),
                                              span, sizeof(span));
        fprintf(f, "%-24s %-16s %-10s %3d %9s %10.0f %10.0f  %s\n",
                dagd_or_dash(dagd_jstr(s, "step")), dagd_or_dash(dagd_jstr(s, "task")),
                dagd_or_dash(dagd_jstr(s, "status")), (int)dagd_jnum(s, "attempts"), dur,
                dagd_jnum(s, "rows_in"), dagd_jnum(s, "rows_out"), err ? err : (why ? why : ""));
    }
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(result, "checks");
    if (cJSON_GetArraySize(checks) > 0) {
        fprintf(f, "\n%-24s %-32s %-8s %-7s %10s  %s\n", "STEP", "CHECK", "SEVERITY", "STATUS",
                "VIOLATIONS", "DETAIL");
        cJSON_ArrayForEach(s, checks)
        {
            fprintf(f, "%-24s %-32s %-8s %-7s %10.0f  %s\n", dagd_or_dash(dagd_jstr(s, "step")),
                    dagd_or_dash(dagd_jstr(s, "check")), dagd_or_dash(dagd_jstr(s, "severity")),
                    dagd_or_dash(dagd_jstr(s, "status")), dagd_jnum(s, "violations"),
                    dagd_jstr(s, "detail") ? dagd_jstr(s, "detail") : "");
        }
    }
}

void dagd_print_log_event(FILE *f, const cJSON *ev)
{
    const char *kind = dagd_jstr(ev, "kind");
    if (!kind || !streq(kind, "log")) {
        return;
    }
    char t[32];
    double ts = dagd_jnum(ev, "ts");
    time_t sec = (time_t)(ts / 1000);
    struct tm tm;
    localtime_r(&sec, &tm);
    strftime(t, sizeof(t), "%H:%M:%S", &tm);
    fprintf(f, "%s.%03d %-16s %-7s %s\n", t, (int)((int64_t)ts % 1000),
            dagd_or_dash(dagd_jstr(ev, "step")), dagd_or_dash(dagd_jstr(ev, "level")),
            dagd_or_dash(dagd_jstr(ev, "message")));
    fflush(f);
}
