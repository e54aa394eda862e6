/* The JSON of the daemon's state that both the socket commands (api_*.c:
 * `pipelines`, `show`, `ticks`) and the HTTP API (http_api.c) answer with,
 * built in one place so the shapes stay the same. Reads the daemon object
 * (registry, run queue, store, schedules, sensors); changes nothing. Every
 * tree returned is new and owned by the caller. */
#ifndef DAGD_DAEMON_JSON_H
#define DAGD_DAEMON_JSON_H

#include <cjson/cJSON.h>

#include "daemon.h"

/* Diagnostics as [{file, line, col, message}]. */
cJSON *dagd_daemon_json_diags(const struct dagd_diags *d);
/* `pipelines`: the array of every pipeline file, loaded or not. */
cJSON *dagd_daemon_json_pipelines(struct dagd_daemon *d);
/* `show`: {run, steps} of a queued or stored run (exact id). 0, -ENOENT, or
 * the store's -errno. */
int dagd_daemon_json_show(struct dagd_daemon *d, const char *run_id, cJSON **ret);
/* `ticks`: {ticks (newest first, name NULL = all, at most limit), schedules,
 * sensors, armed}. 0 or the store's -errno. */
int dagd_daemon_json_ticks(struct dagd_daemon *d, const char *name, unsigned limit, cJSON **ret);

#endif
