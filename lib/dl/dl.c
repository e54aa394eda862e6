/* See dl.h. */
#include "dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dagd_dl_open(const char *soname, const struct dagd_dl_sym *syms, size_t n, const char *prefix,
                 char *msg, size_t size)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        (void)snprintf(msg, size, "%s%s", prefix, e ? e : "dlopen failed");
        return -ELIBACC;
    }
    for (size_t i = 0; i < n; i++) {
        *syms[i].slot = dlsym(lib, syms[i].name);
        if (!*syms[i].slot) {
            (void)snprintf(msg, size, "%s%s has no symbol %s", prefix, soname, syms[i].name);
            return -ELIBACC;
        }
    }
    return 0;
}

int dagd_dl_status(const char *load_error, char **ret_msg)
{
    if (!load_error[0]) {
        return 0;
    }
    if (ret_msg) {
        *ret_msg = strdup(load_error);
    }
    return -ELIBACC;
}
