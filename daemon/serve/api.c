/* See api.h: the dispatcher and helpers shared by the command groups. */
#include "api.h"

#include "log.h"
#include "standby.h"

static const struct dagd_api_command *const groups[] = {
    dagd_api_status_commands,    dagd_api_pipelines_commands, dagd_api_runs_commands,
    dagd_api_logs_commands,      dagd_api_ticks_commands,     dagd_api_reliability_commands,
    dagd_api_backfills_commands,
};

static const struct dagd_api_command *find(const char *method)
{
    for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
        for (const struct dagd_api_command *c = groups[g]; c->name; c++) {
            if (streq(c->name, method)) {
                return c;
            }
        }
    }
    return NULL;
}

void dagd_api_dispatch(struct dagd_server_call *call, const char *method, const cJSON *params,
                       void *userdata)
{
    struct dagd_daemon *d = userdata;
    const struct dagd_api_command *c = find(method);

    if (!c) {
        dagd_server_call_error(call, DAGD_ERR_UNKNOWN_METHOD, "unknown method '%.64s'", method);
        return;
    }
    if ((c->flags & DAGD_API_MUTATING) && d->shutting_down) {
        dagd_server_call_error(call, DAGD_ERR_SHUTTING_DOWN, "the daemon is shutting down");
        return;
    }
    if ((c->flags & DAGD_API_MUTATING) && !(c->flags & (DAGD_API_ANY_ROLE | DAGD_API_RELAYED)) &&
        d->standby) {
        _cleanup_free_ char *msg = dagd_standby_refusal(d->standby);
        dagd_server_call_error(call, DAGD_ERR_STANDBY, "%s", msg);
        return;
    }
    dagd_log_debug("%s: %s from uid %u pid %d", __func__, method,
                   (unsigned)dagd_server_call_uid(call), (int)dagd_server_call_pid(call));
    int r = c->fn(d, call, params);
    if (r < 0) {
        /* The handler failed without answering: the call is still ours. */
        dagd_server_call_error(call, dagd__api_store_code(d), "%s failed: %s", method,
                               strerror(-r));
    }
}

int dagd__api_get_string(struct dagd_server_call *call, const cJSON *params, const char *key,
                         bool required, const char **ret)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(params, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) {
            dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "missing parameter '%s'", key);
            return -EINVAL;
        }
        return 0;
    }
    if (!cJSON_IsString(j) || j->valuestring[0] == '\0') {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "parameter '%s' must be a non-empty string", key);
        return -EINVAL;
    }
    *ret = j->valuestring;
    return 0;
}

int dagd__api_get_bool(struct dagd_server_call *call, const cJSON *params, const char *key,
                       bool *ret)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(params, key);
    if (!j || cJSON_IsNull(j)) {
        return 0;
    }
    if (!cJSON_IsBool(j)) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS, "parameter '%s' must be a boolean",
                               key);
        return -EINVAL;
    }
    *ret = cJSON_IsTrue(j);
    return 0;
}

int dagd__api_get_uint(struct dagd_server_call *call, const cJSON *params, const char *key,
                       unsigned max, unsigned *ret)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(params, key);
    if (!j || cJSON_IsNull(j)) {
        return 0;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > max ||
        j->valuedouble != (double)(unsigned)j->valuedouble) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "parameter '%s' must be an integer between 0 and %u", key, max);
        return -EINVAL;
    }
    *ret = (unsigned)j->valuedouble;
    return 0;
}

int dagd__api_get_priority(struct dagd_server_call *call, const cJSON *params, int *ret,
                           bool *ret_set)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(params, "priority");
    if (!j || cJSON_IsNull(j)) {
        return 0;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble < DAGD_API_PRIORITY_MIN ||
        j->valuedouble > DAGD_API_PRIORITY_MAX || j->valuedouble != (double)(int)j->valuedouble) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "parameter 'priority' must be an integer between %d and %d",
                               DAGD_API_PRIORITY_MIN, DAGD_API_PRIORITY_MAX);
        return -EINVAL;
    }
    *ret = (int)j->valuedouble;
    *ret_set = true;
    return 0;
}

int dagd__api_get_overrides(struct dagd_server_call *call, const cJSON *params, char ***ret,
                            size_t *ret_n)
{
    const cJSON *plist = cJSON_GetObjectItemCaseSensitive(params, "params");
    if (plist && !cJSON_IsArray(plist) && !cJSON_IsNull(plist)) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "'params' must be a list of \"key=value\" strings");
        return -EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(plist);
    if (n > DAGD_API_MAX_PARAMS) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "at most %u params per request, got %zu", DAGD_API_MAX_PARAMS, n);
        return -EINVAL;
    }
    _cleanup_free_ char **overrides = dagd_xcalloc(n + 1, sizeof(char *));
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, plist)
    {
        if (!cJSON_IsString(it) || !strchr(it->valuestring, '=') || it->valuestring[0] == '=') {
            dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                                   "'params' must be a list of \"key=value\" strings");
            return -EINVAL;
        }
        size_t key_len = (size_t)(strchr(it->valuestring, '=') - it->valuestring);
        size_t value_len = strlen(it->valuestring) - key_len - 1;
        if (key_len > DAGD_API_MAX_PARAM_KEY || value_len > DAGD_API_MAX_PARAM_VALUE) {
            dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                                   "param '%.64s%s': keys are at most %u bytes and values at "
                                   "most %u bytes (got %zu and %zu)",
                                   it->valuestring, strlen(it->valuestring) > 64 ? "..." : "",
                                   DAGD_API_MAX_PARAM_KEY, DAGD_API_MAX_PARAM_VALUE, key_len,
                                   value_len);
            return -EINVAL;
        }
        overrides[i++] = it->valuestring;
    }
    *ret = TAKE_PTR(overrides);
    *ret_n = n;
    return 0;
}

const char *dagd__api_store_code(struct dagd_daemon *d)
{
    return dagd_store_unavailable(d->store) ? DAGD_ERR_UNAVAILABLE : DAGD_ERR_INTERNAL;
}

int dagd__api_resolve_run(struct dagd_daemon *d, struct dagd_server_call *call, const char *prefix,
                          char ret[static 33])
{
    size_t len = strlen(prefix);
    char found[33] = "";
    size_t n_found = 0;

    if (len == 0 || len > 32 || strspn(prefix, "0123456789abcdef") != len) {
        dagd_server_call_error(call, DAGD_ERR_INVALID_PARAMS,
                               "'%.64s' is not a run id (up to 32 lowercase hex digits)", prefix);
        return -EINVAL;
    }
    /* Queued runs are not in the store yet. */
    char **ids = NULL;
    size_t n = dagd_run_queue_list(d->queue, prefix, &ids);
    for (size_t i = 0; i < n; i++) {
        if (n_found == 0) {
            snprintf(found, sizeof(found), "%s", ids[i]);
        }
        n_found++;
        free(ids[i]);
    }
    free(ids);

    char *full = NULL;
    int r = dagd_store_run_resolve(d->store, prefix, &full);
    if (r == -ENOTUNIQ) {
        n_found += 2;
    } else if (r >= 0) {
        if (n_found == 0) {
            snprintf(found, sizeof(found), "%s", full);
        }
        if (!streq(found, full)) {
            n_found++;
        } else if (n_found == 0) {
            n_found = 1;
        }
        free(full);
    } else if (r != -ENOENT) {
        dagd_server_call_error(call, dagd__api_store_code(d), "cannot look up runs: %s",
                               dagd_store_errmsg(d->store));
        return r;
    }
    if (n_found == 0) {
        dagd_server_call_error(call, DAGD_ERR_NOT_FOUND, "no run '%s'", prefix);
        return -ENOENT;
    }
    if (n_found > 1) {
        dagd_server_call_error(call, DAGD_ERR_AMBIGUOUS,
                               "run id prefix '%s' matches several runs, give more digits", prefix);
        return -EEXIST;
    }
    memcpy(ret, found, 33);
    return 0;
}
