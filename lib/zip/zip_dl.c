/* See zip_dl.h. */
#define DAGD_ZIP_IMPL
#include "zip_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The soname of Debian 12's libzip4 (the -dev package's libzip.so link may
 * be absent at run time). */
#define ZIP_SONAME "libzip.so.4"

#define LOAD_FAILED                                                                                \
    "reading xlsx needs the library " ZIP_SONAME " (Debian package libzip4), which cannot be "     \
    "loaded: "

struct dagd_zip dagd_zip;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

#define SYM(field)                                                                                 \
    do {                                                                                           \
        *(void **)&dagd_zip.field = dlsym(lib, "zip_" #field);                                     \
        if (!dagd_zip.field) {                                                                     \
            (void)snprintf(load_error, sizeof(load_error), LOAD_FAILED "%s has no symbol %s",      \
                           ZIP_SONAME, "zip_" #field);                                             \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static void load_once(void)
{
    /* Kept open for the process's life (archives come and go). */
    void *lib = dlopen(ZIP_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        (void)snprintf(load_error, sizeof(load_error), LOAD_FAILED "%s", e ? e : "dlopen failed");
        return;
    }
    SYM(discard);
    SYM(error_code_zip);
    SYM(error_fini);
    SYM(error_init);
    SYM(error_init_with_code);
    SYM(error_strerror);
    SYM(fclose);
    SYM(file_strerror);
    SYM(fopen_index);
    SYM(fread);
    SYM(name_locate);
    SYM(open);
    SYM(open_from_source);
    SYM(source_buffer_create);
    SYM(source_free);
    SYM(stat_index);
    SYM(strerror);
}

int dagd_zip_load(char **ret_msg)
{
    (void)pthread_once(&once, load_once);
    if (!load_error[0]) {
        return 0;
    }
    if (ret_msg) {
        *ret_msg = strdup(load_error);
    }
    return -ELIBACC;
}
