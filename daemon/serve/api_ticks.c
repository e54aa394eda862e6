/* Command group: ticks of schedules and sensors (DESIGN 3b), newest first. */
#include "api.h"
#include "schedules.h"
#include "sensors.h"

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

static int api_ticks(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *name = NULL;
    unsigned limit = 20;
    struct dagd_tick_info *ticks = NULL;
    size_t n = 0;

    if (dagd__api_get_string(call, params, "name", false, &name) < 0 ||
        dagd__api_get_uint(call, params, "limit", 100000, &limit) < 0) {
        return 0;
    }
    if (dagd_store_ticks_list(d->store, name, limit, &ticks, &n) < 0) {
        dagd_server_call_error(call, DAGD_ERR_INTERNAL, "cannot list ticks: %s",
                               dagd_store_errmsg(d->store));
        return 0;
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
    dagd_server_call_reply(call, o);
    return 0;
}

const struct dagd_api_command dagd_api_ticks_commands[] = {
    {"ticks", DAGD_API_READONLY, api_ticks},
    {NULL, 0, NULL},
};
