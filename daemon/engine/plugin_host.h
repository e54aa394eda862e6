/* The plugin host: finds task plugins (dagd-task-NAME.so) in the configured
 * directories, opens them with dagd_plugin_open() (plugin_load.h: dlopen and
 * the ABI checks) and keeps their descriptors. Owns the dlopen handles.
 * Runs the load- and plan-time callbacks (validate, inputs) with its mode
 * of the host API (host_api.h). Used by the YAML parser (task lookup, schema
 * checks, validate callback) and the planner (inputs); dagd-worker runs
 * `run` with its own mode and opens plugins with dagd_plugin_open().
 *
 * Search order (DESIGN 3a): --plugin-dir DIRs (in order), then
 * DAGD_PLUGIN_PATH (colon-separated), then the build tree's plugins when the
 * binary runs from the build tree, then DAGD_PLUGINDIR. The first plugin
 * with a given task name wins; a later duplicate is logged and ignored. */
#ifndef DAGD_PLUGIN_HOST_H
#define DAGD_PLUGIN_HOST_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>
#include <dagd/task.h>

#include "diag.h"

struct dagd_params;

struct dagd_plugin {
    char *path; /* absolute path of the .so */
    dev_t dev;  /* identity of the file, for fingerprints */
    ino_t ino;
    int64_t mtime_ns;
    off_t size;
    const struct dagd_task_plugin *desc;
    void *handle;
};

struct dagd_plugin_host;

/* A new host searching `dirs` first (NULL-terminated, may be NULL), then the
 * defaults above. Scans lazily on first lookup. */
struct dagd_plugin_host *dagd_plugin_host_new(char *const *dirs);
struct dagd_plugin_host *dagd_plugin_host_free(struct dagd_plugin_host *h);

/* Find the plugin for task `name`. Returns 0 and *ret, -ENOENT if no plugin
 * provides it, or another -errno if the plugin exists but cannot be loaded
 * (wrong ABI major, missing symbol, dlopen error); *reterr_msg (may be NULL)
 * then gets a new string saying why. */
int dagd_plugin_host_find(struct dagd_plugin_host *h, const char *name,
                          const struct dagd_plugin **ret, char **reterr_msg);

/* Load one plugin file directly (the worker does this with the path it was
 * given). Same errors as find. */
int dagd_plugin_host_load_file(struct dagd_plugin_host *h, const char *path,
                               const struct dagd_plugin **ret, char **reterr_msg);

/* All task names found, sorted; caller frees the array (not the strings). */
int dagd_plugin_host_list(struct dagd_plugin_host *h, const struct dagd_plugin ***ret,
                          size_t *ret_n);

/* The directories searched, in order (after the build-tree expansion). */
int dagd_plugin_host_dirs(struct dagd_plugin_host *h, char *const **ret, size_t *ret_n);

/* One fail(ctx, key, ...) of a plugin's validate callback. */
struct dagd_plugin_failure {
    char *key; /* NULL: the step itself */
    char *message;
};

/* Run the plugin's optional `validate` callback on `config` (an object,
 * already schema-checked; not modified) with `params` (the pipeline
 * defaults) and `step` as the step name. Returns 0 when the plugin accepts
 * it or has no callback; -EINVAL with the failures in *ret and *ret_n (free with
 * dagd_plugin_failures_free) when it refuses. A plugin that returns < 0 without
 * calling fail() gets a generic failure. */
int dagd_plugin_host_validate(struct dagd_plugin_host *h, const struct dagd_plugin *pl,
                              const cJSON *config, const struct dagd_params *params,
                              const char *step, struct dagd_plugin_failure **ret, size_t *ret_n);
void dagd_plugin_failures_free(struct dagd_plugin_failure *f, size_t n);

/* Plan time (plan.c): run the plugin's optional `inputs` callback on a
 * resolved config (canonical JSON) with the run's `params`, collecting the
 * files it passes to declare_input/declare_output (duplicates dropped).
 * Returns 0 with new arrays of new strings (all empty when the plugin has
 * no callback); -errno when the callback fails, with a new message in
 * *reterr_msg (may be NULL). */
int dagd_plugin_host_inputs(struct dagd_plugin_host *h, const struct dagd_plugin *pl,
                            const char *config_json, const struct dagd_params *params,
                            const char *step, char ***ret_inputs, size_t *ret_n_inputs,
                            char ***ret_outputs, size_t *ret_n_outputs, char **reterr_msg);

#endif
