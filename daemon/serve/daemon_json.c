/* See daemon_json.h. */
#include "daemon_json.h"

#include "history_json.h"
#include "schedules.h"
#include "sensors.h"

static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v) {
        cJSON_AddStringToObject(o, key, v);
    } else {
        cJSON_AddNullToObject(o, key);
    }
}

cJSON *dagd_daemon_json_diags(const struct dagd_diags *d)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; d && i < d->n; i++) {
        cJSON *o = cJSON_CreateObject();
        add_str(o, "file", d->items[i].file);
        cJSON_AddNumberToObject(o, "line", d->items[i].mark.line);
        cJSON_AddNumberToObject(o, "col", d->items[i].mark.col);
        add_str(o, "message", d->items[i].message);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

cJSON *dagd_daemon_json_pipelines(struct dagd_daemon *d)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < dagd_registry_size(d->registry); i++) {
        const struct dagd_registry_entry *e = dagd_registry_at(d->registry, i);
        cJSON *o = cJSON_CreateObject();
        if (e->pipeline) {
            cJSON_AddStringToObject(o, "name", e->pipeline->name);
            cJSON_AddNumberToObject(o, "steps", (double)e->pipeline->n_steps);
            cJSON_AddNumberToObject(o, "concurrency", e->pipeline->concurrency);
            if (e->pipeline->description) {
                cJSON_AddStringToObject(o, "description", e->pipeline->description);
            }
            cJSON_AddNumberToObject(o, "loaded_at", (double)(e->loaded_usec / 1000u));
            /* Names of its schedules and sensors (DESIGN 3b; `ticks` says
             * what they did). */
            cJSON *sch = cJSON_AddArrayToObject(o, "schedules");
            for (size_t k = 0; k < e->pipeline->n_schedules; k++) {
                cJSON_AddItemToArray(sch, cJSON_CreateString(e->pipeline->schedules[k].name));
            }
            cJSON *sen = cJSON_AddArrayToObject(o, "sensors");
            for (size_t k = 0; k < e->pipeline->n_sensors; k++) {
                cJSON_AddItemToArray(sen, cJSON_CreateString(e->pipeline->sensors[k].name));
            }
        } else {
            cJSON_AddNullToObject(o, "name");
            cJSON_AddNumberToObject(o, "steps", 0);
        }
        cJSON_AddStringToObject(o, "file", e->file);
        cJSON_AddBoolToObject(o, "loaded", e->pipeline != NULL);
        cJSON_AddItemToObject(o, "errors", dagd_daemon_json_diags(&e->errors));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

int dagd_daemon_json_show(struct dagd_daemon *d, const char *run_id, cJSON **ret)
{
    struct dagd_run_info info = {0};
    char **names = NULL;
    size_t n_names = 0;

    if (dagd_run_queue_get(d->queue, run_id, &info, &names, &n_names) >= 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "run", dagd_history_run_json(&info));
        cJSON *a = cJSON_AddArrayToObject(o, "steps");
        for (size_t i = 0; i < n_names; i++) {
            struct dagd_step_info s = {
                .step = names[i], .status = DAGD_STEP_PENDING, .exit_code = -1};
            cJSON_AddItemToArray(a, dagd_history_step_json(&s));
            free(names[i]);
        }
        free(names);
        (void)cJSON_AddArrayToObject(o,
                                     "checks"); /* none before it starts: same shape as a run's */
        dagd_run_info_done(&info);
        *ret = o;
        return 0;
    }
    return dagd_history_show(d->store, run_id, ret);
}

static cJSON *tick_json(const struct dagd_tick_info *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)t->id);
    cJSON_AddStringToObject(o, "name", t->name ? t->name : "");
    cJSON_AddStringToObject(o, "kind", t->kind ? t->kind : "");
    cJSON_AddNumberToObject(o, "ts", (double)t->ts);
    if (t->run_id) {
        cJSON_AddStringToObject(o, "run_id", t->run_id);
    } else {
        cJSON_AddNullToObject(o, "run_id");
    }
    cJSON_AddStringToObject(o, "status", t->status ? t->status : "");
    if (t->reason) {
        cJSON_AddStringToObject(o, "reason", t->reason);
    } else {
        cJSON_AddNullToObject(o, "reason");
    }
    return o;
}

int dagd_daemon_json_ticks(struct dagd_daemon *d, const char *name, unsigned limit, cJSON **ret)
{
    struct dagd_tick_info *ticks = NULL;
    size_t n = 0;

    int r = dagd_store_ticks_list(d->store, name, limit, &ticks, &n);
    if (r < 0) {
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "ticks");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, tick_json(&ticks[i]));
        dagd_tick_info_done(&ticks[i]);
    }
    free(ticks);
    cJSON_AddNumberToObject(o, "schedules", (double)dagd_schedules_count(d->schedules));
    cJSON_AddNumberToObject(o, "sensors", (double)dagd_sensors_count(d->sensors));
    /* What is armed now: schedules with their next boundary, sensors. */
    cJSON *armed = dagd_schedules_to_json(d->schedules);
    cJSON *sensors = dagd_sensors_to_json(d->sensors);
    cJSON *it;
    while ((it = cJSON_DetachItemFromArray(sensors, 0))) {
        cJSON_AddItemToArray(armed, it);
    }
    cJSON_Delete(sensors);
    cJSON_AddItemToObject(o, "armed", armed);
    *ret = o;
    return 0;
}
