/* Opening one task plugin file with the full ABI checks: the only place that
 * dlopens a plugin. Used by the plugin host (daemon, dagd run/validate/plan)
 * and by dagd-worker, which links this object alone (no search path, no
 * logging), so a worker process maps nothing it does not need.
 *
 * May call: libc, libdl and basic's allocators. */
#ifndef DAGD_PLUGIN_LOAD_H
#define DAGD_PLUGIN_LOAD_H

#include <dagd/task.h>

/* dlopen `open_path` (RTLD_NOW | RTLD_LOCAL), call its dagd_task_entry()
 * with `api` and check the descriptor it returns: abi_major equal to ours,
 * struct_size at least up to `run`, a valid name ([A-Za-z0-9_.-], at most
 * 128 bytes), a version and a run callback. `path` names the plugin in
 * messages (open_path may be /proc/self/fd/N). Returns 0 with the handle and
 * the descriptor; on failure the library is closed again and returns
 * -ELIBBAD (cannot be loaded, no entry symbol, no descriptor) or -EPROTO (ABI
 * or descriptor checks), with a new message in *reterr_msg (may be NULL). */
int dagd_plugin_open(const char *open_path, const char *path, const struct dagd_host_api *api,
                     void **ret_handle, const struct dagd_task_plugin **ret_desc,
                     char **reterr_msg);

/* True if `name` is a valid task name (see dagd_plugin_open). */
bool dagd_plugin_valid_task_name(const char *name);

#endif
