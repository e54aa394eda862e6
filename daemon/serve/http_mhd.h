/* libmicrohttpd, opened when the HTTP listener starts, not when dagd does.
 *
 * Debian's libmicrohttpd links GnuTLS, whose libraries (gnutls, p11-kit,
 * nettle, gmp, idn2, ...) cost every `dagd` process about 2 MB of RSS and
 * their constructors' time when linked: dagd serve without `http:`, every
 * `dagd run` and `dagd validate` would pay for a listener they never
 * start (the idle-RSS target is 8 MB). So dagd does not link it: http.c
 * calls libmicrohttpd through this table, filled by dlopen() on the first
 * dagd_http_mhd_load(). The macros below keep http.c written against the
 * library's own names. */
#ifndef DAGD_HTTP_MHD_H
#define DAGD_HTTP_MHD_H

#include <microhttpd.h>

struct dagd_mhd {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_get_timeout) *get_timeout;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_get_connection_info) *get_connection_info;
};

/* The table; valid after dagd_http_mhd_load() returned 0. */
extern struct dagd_mhd dagd_mhd;

/* Open libmicrohttpd (once; later calls return at once). 0, or -ELIBACC
 * with dlerror()'s words in *ret_msg (a new string). */
int dagd_http_mhd_load(char **ret_msg);

#ifndef DAGD_HTTP_MHD_IMPL
#define MHD_start_daemon dagd_mhd.start_daemon
#define MHD_stop_daemon dagd_mhd.stop_daemon
#define MHD_run dagd_mhd.run
#define MHD_get_timeout dagd_mhd.get_timeout
#define MHD_get_daemon_info dagd_mhd.get_daemon_info
#define MHD_lookup_connection_value dagd_mhd.lookup_connection_value
#define MHD_create_response_from_buffer dagd_mhd.create_response_from_buffer
#define MHD_add_response_header dagd_mhd.add_response_header
#define MHD_queue_response dagd_mhd.queue_response
#define MHD_destroy_response dagd_mhd.destroy_response
#define MHD_create_response_from_callback dagd_mhd.create_response_from_callback
#define MHD_suspend_connection dagd_mhd.suspend_connection
#define MHD_resume_connection dagd_mhd.resume_connection
#define MHD_get_connection_info dagd_mhd.get_connection_info
#endif

#endif
