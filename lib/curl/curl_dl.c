/* See curl_dl.h. */
#define DAGD_CURL_IMPL
#include "curl_dl.h"

#include <pthread.h>
#include <stdio.h>

#include "dl.h"

/* The soname of Debian 12's libcurl4 (OpenSSL flavour, what
 * libcurl4-openssl-dev builds against; the -dev package's libcurl.so link
 * may be absent at run time). */
#define CURL_SONAME "libcurl.so.4"

#define LOAD_FAILED                                                                                \
    "HTTP needs the client library " CURL_SONAME " (Debian package libcurl4), which cannot be "    \
    "loaded: "

struct dagd_curl dagd_curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

#define SYM(field)                                                                                 \
    {                                                                                              \
        "curl_" #field, (void **)&dagd_curl.field                                                  \
    }

static void load_once(void)
{
    /* Kept open for the process's life (a worker runs one step; unloading
     * OpenSSL and Kerberos is not worth the risk). */
    static const struct dagd_dl_sym syms[] = {
        SYM(easy_cleanup),
        SYM(easy_getinfo),
        SYM(easy_header),
        SYM(easy_init),
        SYM(easy_perform),
        SYM(easy_setopt),
        SYM(easy_strerror),
        SYM(free),
        SYM(getdate),
        SYM(global_init),
        SYM(multi_add_handle),
        SYM(multi_cleanup),
        SYM(multi_info_read),
        SYM(multi_init),
        SYM(multi_perform),
        SYM(multi_poll),
        SYM(multi_remove_handle),
        SYM(multi_setopt),
        SYM(slist_append),
        SYM(slist_free_all),
        SYM(url),
        SYM(url_cleanup),
        SYM(url_get),
        SYM(url_set),
        SYM(version_info),
    };
    if (dagd_dl_open(CURL_SONAME, syms, sizeof(syms) / sizeof(syms[0]), LOAD_FAILED, load_error,
                     sizeof(load_error)) < 0) {
        return;
    }
    /* Here, under the once: curl_global_init is not thread-safe, and
     * curl_easy_init would otherwise call it on first use. Never cleaned up:
     * the library stays loaded. */
    if (dagd_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        (void)snprintf(load_error, sizeof(load_error), "curl_global_init failed");
    }
}

int dagd_curl_load(char **ret_msg)
{
    (void)pthread_once(&once, load_once);
    return dagd_dl_status(load_error, ret_msg);
}
