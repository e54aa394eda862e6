/* libcurl, opened when an http or translate-scrape step first talks HTTP,
 * not when the plugin is loaded (issue 11's idle-RSS target).
 *
 * Debian's libcurl4 links OpenSSL, GnuTLS (through LDAP), Kerberos, LDAP,
 * SASL, libssh2, nghttp2, librtmp and more: ~30 libraries and ~7 MB of RSS in
 * every process that maps it. The daemon dlopens the task plugins to
 * validate pipelines, so with the shipped pipelines (which use http and
 * translate-scrape) an idle dagd serve carried all of it. So the plugins do
 * not link it: they call libcurl through this table, filled by
 * dlopen("libcurl.so.4") on the first dagd_curl_load() in a step's run path,
 * the way lib/pq opens libpq. The macros below keep the callers written
 * against libcurl's own names; <curl/curl.h> is included for its types and
 * prototypes only (without its GCC type-checking macros, which would wrap
 * curl_easy_setopt/getinfo around the real symbols).
 *
 * A leaf library (libc, libdl, pthread) linked by the http and
 * translate-scrape plugins; each has its own hidden copy of the table.
 * Include this header, never <curl/curl.h>. */
#ifndef DAGD_CURL_H
#define DAGD_CURL_H

#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK 1
#endif
#include <curl/curl.h>

struct dagd_curl {
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_header) *easy_header;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_free) *free;
    __typeof__(curl_getdate) *getdate;
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_multi_add_handle) *multi_add_handle;
    __typeof__(curl_multi_cleanup) *multi_cleanup;
    __typeof__(curl_multi_info_read) *multi_info_read;
    __typeof__(curl_multi_init) *multi_init;
    __typeof__(curl_multi_perform) *multi_perform;
    __typeof__(curl_multi_poll) *multi_poll;
    __typeof__(curl_multi_remove_handle) *multi_remove_handle;
    __typeof__(curl_multi_setopt) *multi_setopt;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_url) *url;
    __typeof__(curl_url_cleanup) *url_cleanup;
    __typeof__(curl_url_get) *url_get;
    __typeof__(curl_url_set) *url_set;
    __typeof__(curl_version_info) *version_info;
};

/* The table; valid after dagd_curl_load() returned 0. */
extern struct dagd_curl dagd_curl;

/* Open libcurl and curl_global_init() it (once per process, thread-safe;
 * later calls return at once). 0, or -ELIBACC with a message naming the
 * library, the Debian package that ships it and dlerror()'s words in
 * *ret_msg (malloc'ed; NULL when out of memory). */
int dagd_curl_load(char **ret_msg);

#ifndef DAGD_CURL_IMPL
/* curl.h defines these four as macros of themselves when type checking is
 * off: redefine them onto the table. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_cleanup dagd_curl.easy_cleanup
#define curl_easy_getinfo dagd_curl.easy_getinfo
#define curl_easy_header dagd_curl.easy_header
#define curl_easy_init dagd_curl.easy_init
#define curl_easy_perform dagd_curl.easy_perform
#define curl_easy_setopt dagd_curl.easy_setopt
#define curl_easy_strerror dagd_curl.easy_strerror
#define curl_free dagd_curl.free
#define curl_getdate dagd_curl.getdate
#define curl_global_init dagd_curl.global_init
#define curl_multi_add_handle dagd_curl.multi_add_handle
#define curl_multi_cleanup dagd_curl.multi_cleanup
#define curl_multi_info_read dagd_curl.multi_info_read
#define curl_multi_init dagd_curl.multi_init
#define curl_multi_perform dagd_curl.multi_perform
#define curl_multi_poll dagd_curl.multi_poll
#define curl_multi_remove_handle dagd_curl.multi_remove_handle
#define curl_multi_setopt dagd_curl.multi_setopt
#define curl_slist_append dagd_curl.slist_append
#define curl_slist_free_all dagd_curl.slist_free_all
#define curl_url dagd_curl.url
#define curl_url_cleanup dagd_curl.url_cleanup
#define curl_url_get dagd_curl.url_get
#define curl_url_set dagd_curl.url_set
#define curl_version_info dagd_curl.version_info
#endif

#endif
