/* Command handlers of the socket protocol: a const table {name, flags,
 * handler} per command group (api_status.c, api_pipelines.c, api_runs.c,
 * api_logs.c, api_reliability.c), dispatched by api.c (tmux cmd_entry). A
 * handler answers its call (dagd_server_call_reply/_error), now or later; it returns 0, or
 * -errno when it failed without answering (api.c then answers INTERNAL).
 * MUTATING commands are refused with SHUTTING_DOWN once the daemon stops,
 * and with STANDBY on a standby (standby.h) unless ANY_ROLE or RELAYED. */
#ifndef DAGD_API_H
#define DAGD_API_H

#include <cjson/cJSON.h>

#include "daemon.h"
#include "history_json.h"
#include "protocol.h"
#include "server.h"

enum {
    DAGD_API_READONLY = 1 << 0,
    DAGD_API_MUTATING = 1 << 1,
    /* A standby does it too: reload (its own pipelines), prune (finished
     * runs of the shared history). */
    DAGD_API_ANY_ROLE = 1 << 2,
    /* A standby hands it to the leader through the history (relay.h): run,
     * retry, cancel, the backfill commands. A MUTATING command that is
     * neither is refused on a standby with STANDBY, naming the leader. */
    DAGD_API_RELAYED = 1 << 3,
};

typedef int (*dagd_api_fn)(struct dagd_daemon *d, struct dagd_server_call *call,
                           const cJSON *params);

struct dagd_api_command {
    const char *name;
    unsigned flags;
    dagd_api_fn fn;
};

/* The tables of each group, terminated by {NULL}. */
extern const struct dagd_api_command dagd_api_status_commands[];
extern const struct dagd_api_command dagd_api_pipelines_commands[];
extern const struct dagd_api_command dagd_api_runs_commands[];
extern const struct dagd_api_command dagd_api_logs_commands[];
extern const struct dagd_api_command dagd_api_ticks_commands[];
extern const struct dagd_api_command dagd_api_reliability_commands[]; /* plan, prune */
extern const struct dagd_api_command dagd_api_backfills_commands[];   /* backfill*, partitions */

/* The server's dispatch callback; userdata is the struct dagd_daemon. */
void dagd_api_dispatch(struct dagd_server_call *call, const char *method, const cJSON *params,
                       void *userdata);

/* ---- helpers for handlers (api.c) ---- */

/* Optional typed params: return 0 and set *ret (left alone when absent), or
 * answer INVALID_PARAMS and return -EINVAL. */
int dagd__api_get_string(struct dagd_server_call *call, const cJSON *params, const char *key,
                         bool required, const char **ret);
int dagd__api_get_bool(struct dagd_server_call *call, const cJSON *params, const char *key,
                       bool *ret);
int dagd__api_get_uint(struct dagd_server_call *call, const cJSON *params, const char *key,
                       unsigned max, unsigned *ret);
/* The optional "priority" of a run or backfill (the run queue's order,
 * higher first; a pipeline's `priority:` has the same range): 0 with *ret
 * and *ret_set = true when present, 0 untouched when absent, or answer
 * INVALID_PARAMS and return -EINVAL. */
#define DAGD_API_PRIORITY_MIN (-1000)
#define DAGD_API_PRIORITY_MAX 1000
int dagd__api_get_priority(struct dagd_server_call *call, const cJSON *params, int *ret,
                           bool *ret_set);
/* Bounds of a request's params (issue 16: a 200 KB param per queued run). */
#define DAGD_API_MAX_PARAMS 256u
#define DAGD_API_MAX_PARAM_KEY 128u
#define DAGD_API_MAX_PARAM_VALUE (64u * 1024u)
/* The optional "params" list of "key=value" strings (run, plan): 0 with a
 * NULL-terminated array of pointers into params in *ret (the caller frees the
 * array, not the strings) and its length in *ret_n; absent or null gives an
 * empty list. Otherwise (not such a list, or beyond the bounds above) answer
 * INVALID_PARAMS and return -EINVAL. */
int dagd__api_get_overrides(struct dagd_server_call *call, const cJSON *params, char ***ret,
                            size_t *ret_n);
/* Resolve a run id or unique prefix (queued runs included) into ret. On
 * failure the call is answered (NOT_FOUND, AMBIGUOUS, INVALID_PARAMS) and
 * -errno returned. */
int dagd__api_resolve_run(struct dagd_daemon *d, struct dagd_server_call *call, const char *prefix,
                          char ret[static 33]);
/* The code of a request that failed on the run history: UNAVAILABLE while
 * a PostgreSQL history is being reconnected (retry later), INTERNAL else. */
const char *dagd__api_store_code(struct dagd_daemon *d);
/* JSON of store records. */

#endif
