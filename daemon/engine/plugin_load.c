/* See plugin_load.h. The checks are redis' versioned module ABI: a major
 * version that must match, and a struct_size so fields appended in a minor
 * version are only read from plugins that have them (DAGD_PLUGIN_HAS). */
#include "plugin_load.h"

#include <dlfcn.h>
#include <stdarg.h>

#include "util.h"

bool dagd_plugin_valid_task_name(const char *name)
{
    if (!name || !*name || strlen(name) > 128) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.')) {
            return false;
        }
    }
    return true;
}

static int fail_close(void *handle, char **reterr_msg, int r, const char *fmt, ...) _printf_(4, 5);
static int fail_close(void *handle, char **reterr_msg, int r, const char *fmt, ...)
{
    va_list ap;

    if (handle) {
        (void)dlclose(handle);
    }
    va_start(ap, fmt);
    r = dagd_fail_msgv(reterr_msg, r, fmt, ap);
    va_end(ap);
    return r;
}

int dagd_plugin_open(const char *open_path, const char *path, const struct dagd_host_api *api,
                     void **ret_handle, const struct dagd_task_plugin **ret_desc, char **reterr_msg)
{
    const size_t min_size =
        offsetof(struct dagd_task_plugin, run) + sizeof(((struct dagd_task_plugin *)0)->run);
    const struct dagd_task_plugin *desc;
    dagd_task_entry_fn entry;
    void *handle;

    (void)dlerror();
    handle = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        return fail_close(NULL, reterr_msg, -ELIBBAD, "cannot load plugin '%s': %s", path,
                          e ? e : "unknown error");
    }
    /* POSIX requires this conversion to work for dlsym results. */
    *(void **)&entry = dlsym(handle, DAGD_TASK_ENTRY_SYMBOL);
    if (!entry) {
        return fail_close(handle, reterr_msg, -ELIBBAD,
                          "plugin '%s' does not export '%s' (not a dagd task plugin?)", path,
                          DAGD_TASK_ENTRY_SYMBOL);
    }
    desc = entry(api);
    if (!desc) {
        return fail_close(handle, reterr_msg, -ELIBBAD, "plugin '%s': %s() returned NULL", path,
                          DAGD_TASK_ENTRY_SYMBOL);
    }
    if (desc->abi_major != DAGD_TASK_ABI_MAJOR) {
        unsigned maj = desc->abi_major, min = desc->abi_minor;
        return fail_close(handle, reterr_msg, -EPROTO,
                          "plugin '%s' was built for task ABI %u.%u, but this dagd speaks ABI "
                          "%d.%d (major versions differ); rebuild the plugin against dagd/task.h",
                          path, maj, min, DAGD_TASK_ABI_MAJOR, DAGD_TASK_ABI_MINOR);
    }
    if (desc->struct_size < min_size) {
        unsigned sz = desc->struct_size;
        return fail_close(handle, reterr_msg, -EPROTO,
                          "plugin '%s' declares a descriptor of %u bytes, smaller than the "
                          "minimum %zu of task ABI %d",
                          path, sz, min_size, DAGD_TASK_ABI_MAJOR);
    }
    if (!dagd_plugin_valid_task_name(desc->name) || !desc->version || !desc->run) {
        return fail_close(handle, reterr_msg, -EPROTO,
                          "plugin '%s' has an invalid descriptor (name, version and run are "
                          "required; names use [A-Za-z0-9_.-])",
                          path);
    }
    *ret_handle = handle;
    *ret_desc = desc;
    return 0;
}
