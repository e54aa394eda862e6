/* Opening a shared library on first use: dlopen by soname, then a table of
 * its symbols. libpq, libcurl, libzip, libcrypto and libmicrohttpd are
 * opened this way rather than linked, so that a process that never uses
 * them (above all an idle dagd serve, which dlopens every task plugin to
 * validate pipelines) does not map them and the dozens of libraries they
 * bring (lib/pq/pq.h says what each cost).
 *
 * A leaf library (libc, libdl); each user links its own hidden copy. */
#ifndef DAGD_DL_H
#define DAGD_DL_H

#include <stddef.h>

/* A symbol and where its address goes (a function pointer's address cast to
 * void **, as POSIX's dlsym example does). */
struct dagd_dl_sym {
    const char *name;
    void **slot;
};

/* dlopen(soname) (kept open for the process's life: these libraries
 * bring TLS stacks that are not worth unloading), then every symbol of syms
 * into its slot. 0, or -ELIBACC with msg (size bytes) set to prefix followed
 * by dlopen's reason or "SONAME has no symbol NAME". */
int dagd_dl_open(const char *soname, const struct dagd_dl_sym *syms, size_t n, const char *prefix,
                 char *msg, size_t size);

/* For a loader whose pthread_once left load_error ("" = loaded): 0, or
 * -ELIBACC with *ret_msg (when ret_msg is not NULL) a copy of load_error
 * (NULL when out of memory). */
int dagd_dl_status(const char *load_error, char **ret_msg);

#endif
