/* The plugin host: finds task plugins (dagd-task-NAME.so) in the configured
 * directories, dlopens them RTLD_NOW|RTLD_LOCAL, checks the ABI version and
 * keeps their descriptors. Owns the dlopen handles. Used by the loader (task
 * lookup, schema checks, validate callback) and by the worker (run).
 *
 * Search order (DESIGN 3a): --plugin-dir DIRs (in order), then
 * DAGD_PLUGIN_PATH (colon-separated), then the build tree's plugins when the
 * binary runs from the build tree, then DAGD_PLUGINDIR. The first plugin
 * with a given task name wins; a later duplicate is logged and ignored. */
#ifndef DAGD_PLUGIN_HOST_H
#define DAGD_PLUGIN_HOST_H

#include <dagd/task.h>

#include "diag.h"

struct dagd_plugin {
    char *path;    /* absolute path of the .so */
    dev_t dev;     /* identity of the file, for fingerprints */
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

#endif
