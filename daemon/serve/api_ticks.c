/* Command group: ticks of schedules and sensors (DESIGN 3b), newest first. */
#include "api.h"
#include "daemon_json.h"

static int api_ticks(struct dagd_daemon *d, struct dagd_server_call *call, const cJSON *params)
{
    const char *name = NULL;
    unsigned limit = 20;
    cJSON *o = NULL;

    if (dagd__api_get_string(call, params, "name", false, &name) < 0 ||
        dagd__api_get_uint(call, params, "limit", 100000, &limit) < 0) {
        return 0;
    }
    if (dagd_daemon_json_ticks(d, name, limit, &o) < 0) {
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot list ticks: %s",
                               dagd_store_errmsg(d->store));
        return 0;
    }
    dagd_server_call_reply(call, o);
    return 0;
}

const struct dagd_api_command dagd_api_ticks_commands[] = {
    {"ticks", DAGD_API_READONLY, api_ticks},
    {NULL, 0, NULL},
};
