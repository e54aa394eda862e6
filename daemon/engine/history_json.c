/* See history_json.h. */
#include "history_json.h"

#include "util.h"

static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v) {
        cJSON_AddStringToObject(o, key, v);
    } else {
        cJSON_AddNullToObject(o, key);
    }
}

cJSON *dagd_history_run_json(const struct dagd_run_info *r)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "run_id", r->run_id);
    add_str(o, "pipeline", r->pipeline);
    add_str(o, "status", dagd_run_status_to_string(r->status));
    add_str(o, "trigger", r->trigger);
    add_str(o, "params", r->params_json);
    add_str(o, "parent_run_id", r->parent_run_id);
    cJSON_AddNumberToObject(o, "created_at", (double)r->created_at);
    cJSON_AddNumberToObject(o, "started_at", (double)r->started_at);
    cJSON_AddNumberToObject(o, "ended_at", (double)r->ended_at);
    add_str(o, "error", r->error);
    /* Partitioned pipelines and backfills: which partition the run is of
     * (null outside partitions), which backfill made it (null for the
     * others), and its priority in the queue. */
    add_str(o, "partition", r->partition);
    add_str(o, "backfill_id", r->backfill_id);
    cJSON_AddNumberToObject(o, "priority", r->priority);
    return o;
}

cJSON *dagd_history_step_json(const struct dagd_step_info *s)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "step", s->step);
    add_str(o, "task", s->task);
    add_str(o, "status", dagd_step_status_to_string(s->status));
    cJSON_AddNumberToObject(o, "attempts", s->attempts);
    cJSON_AddNumberToObject(o, "started_at", (double)s->started_at);
    cJSON_AddNumberToObject(o, "ended_at", (double)s->ended_at);
    if (s->exit_code >= 0) {
        cJSON_AddNumberToObject(o, "exit_code", s->exit_code);
    } else {
        cJSON_AddNullToObject(o, "exit_code");
    }
    cJSON_AddNumberToObject(o, "rows_in", (double)s->rows_in);
    cJSON_AddNumberToObject(o, "rows_out", (double)s->rows_out);
    add_str(o, "fingerprint", s->fingerprint);
    add_str(o, "error", s->error);
    add_str(o, "skip_reason", s->skip_reason);
    cJSON_AddNumberToObject(o, "cpu_usec", (double)s->cpu_usec);
    cJSON_AddNumberToObject(o, "max_rss_kb", (double)s->max_rss_kb);
    return o;
}

cJSON *dagd_history_event_json(const struct dagd_event_info *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "log");
    cJSON_AddNumberToObject(o, "seq", (double)e->seq);
    cJSON_AddNumberToObject(o, "ts", (double)e->ts);
    if (e->step) {
        cJSON_AddStringToObject(o, "step", e->step);
    }
    cJSON_AddStringToObject(o, "level", e->level ? e->level : "info");
    cJSON_AddStringToObject(o, "type", e->kind ? e->kind : "log");
    cJSON_AddStringToObject(o, "message", e->message ? e->message : "");
    return o;
}

cJSON *dagd_history_check_json(const struct dagd_check_info *c)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "step", c->step);
    cJSON_AddNumberToObject(o, "attempt", c->attempt);
    add_str(o, "check", c->name);
    add_str(o, "severity", c->severity);
    add_str(o, "status", c->status);
    cJSON_AddNumberToObject(o, "violations", (double)c->violations);
    cJSON *sample = c->sample ? cJSON_Parse(c->sample) : NULL;
    cJSON_AddItemToObject(o, "sample", sample ? sample : cJSON_CreateNull());
    add_str(o, "detail", c->detail);
    cJSON_AddNumberToObject(o, "ts", (double)c->ts);
    return o;
}

int dagd_history_add_runs(struct dagd_store *s, const char *pipeline, size_t limit, cJSON *runs)
{
    struct dagd_run_info *list = NULL;
    size_t n = 0;
    int r = dagd_store_runs_list(s, pipeline, limit, &list, &n);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(runs, dagd_history_run_json(&list[i]));
        dagd_run_info_done(&list[i]);
    }
    free(list);
    return 0;
}

int dagd_history_show(struct dagd_store *s, const char *run_id, cJSON **ret)
{
    struct dagd_run_info info = {0};
    int r = dagd_store_run_get(s, run_id, &info);
    if (r < 0) {
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "run", dagd_history_run_json(&info));
    dagd_run_info_done(&info);

    struct dagd_step_info *steps = NULL;
    size_t n = 0;
    cJSON *a = cJSON_AddArrayToObject(o, "steps");
    r = dagd_store_steps_list(s, run_id, &steps, &n);
    if (r < 0) {
        cJSON_Delete(o);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, dagd_history_step_json(&steps[i]));
        dagd_step_info_done(&steps[i]);
    }
    free(steps);

    struct dagd_check_info *checks = NULL;
    a = cJSON_AddArrayToObject(o, "checks");
    r = dagd_store_checks_list(s, run_id, &checks, &n);
    if (r < 0) {
        cJSON_Delete(o);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, dagd_history_check_json(&checks[i]));
        dagd_check_info_done(&checks[i]);
    }
    free(checks);
    *ret = o;
    return 0;
}
