/* See http_mhd.h. */
#define DAGD_HTTP_MHD_IMPL
#include "http_mhd.h"

#include <dlfcn.h>

#include "util.h"

/* The soname Debian 12's libmicrohttpd12 ships (the -dev package's .so
 * link may be absent at run time). */
#define MHD_SONAME "libmicrohttpd.so.12"

struct dagd_mhd dagd_mhd;
static bool loaded;

#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)&dagd_mhd.field = dlsym(lib, name);                                              \
        if (!dagd_mhd.field) {                                                                     \
            *ret_msg = dagd_xasprintf("%s has no symbol %s", MHD_SONAME, name);                    \
            return -ELIBACC;                                                                       \
        }                                                                                          \
    } while (0)

int dagd_http_mhd_load(char **ret_msg)
{
    if (loaded) {
        return 0;
    }
    /* Kept open for the process's life: the listener may start again after
     * a reload, and unloading GnuTLS is not worth the risk. */
    void *lib = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        *ret_msg = dagd_xstrdup(e ? e : "dlopen failed");
        return -ELIBACC;
    }
    SYM(start_daemon, "MHD_start_daemon");
    SYM(stop_daemon, "MHD_stop_daemon");
    SYM(run, "MHD_run");
    SYM(get_timeout, "MHD_get_timeout");
    SYM(get_daemon_info, "MHD_get_daemon_info");
    SYM(lookup_connection_value, "MHD_lookup_connection_value");
    SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
    SYM(add_response_header, "MHD_add_response_header");
    SYM(queue_response, "MHD_queue_response");
    SYM(destroy_response, "MHD_destroy_response");
    SYM(create_response_from_callback, "MHD_create_response_from_callback");
    SYM(suspend_connection, "MHD_suspend_connection");
    SYM(resume_connection, "MHD_resume_connection");
    SYM(get_connection_info, "MHD_get_connection_info");
    loaded = true;
    return 0;
}
