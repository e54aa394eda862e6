/* See http_mhd.h. */
#define DAGD_HTTP_MHD_IMPL
#include "http_mhd.h"

#include "dl.h"
#include "util.h"

/* The soname Debian 12's libmicrohttpd12 ships (the -dev package's .so
 * link may be absent at run time). */
#define MHD_SONAME "libmicrohttpd.so.12"

struct dagd_mhd dagd_mhd;
static bool loaded;

#define SYM(field)                                                                                 \
    {                                                                                              \
        "MHD_" #field, (void **)&dagd_mhd.field                                                    \
    }

int dagd_http_mhd_load(char **ret_msg)
{
    static const struct dagd_dl_sym syms[] = {
        SYM(start_daemon),
        SYM(stop_daemon),
        SYM(run),
        SYM(get_timeout),
        SYM(get_daemon_info),
        SYM(lookup_connection_value),
        SYM(create_response_from_buffer),
        SYM(add_response_header),
        SYM(queue_response),
        SYM(destroy_response),
        SYM(create_response_from_callback),
        SYM(suspend_connection),
        SYM(resume_connection),
        SYM(get_connection_info),
    };
    char msg[512];

    if (loaded) {
        return 0;
    }
    /* Kept open for the process's life: the listener may start again after
     * a reload, and unloading GnuTLS is not worth the risk. */
    if (dagd_dl_open(MHD_SONAME, syms, sizeof(syms) / sizeof(syms[0]), "", msg, sizeof(msg)) < 0) {
        *ret_msg = dagd_xstrdup(msg);
        return -ELIBACC;
    }
    loaded = true;
    return 0;
}
