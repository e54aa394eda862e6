/* See zip_dl.h. */
#define DAGD_ZIP_IMPL
#include "zip_dl.h"

#include <pthread.h>

#include "dl.h"

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
    {                                                                                              \
        "zip_" #field, (void **)&dagd_zip.field                                                    \
    }

static void load_once(void)
{
    /* Kept open for the process's life (archives come and go). */
    static const struct dagd_dl_sym syms[] = {
        SYM(discard),
        SYM(error_code_zip),
        SYM(error_fini),
        SYM(error_init),
        SYM(error_init_with_code),
        SYM(error_strerror),
        SYM(fclose),
        SYM(file_strerror),
        SYM(fopen_index),
        SYM(fread),
        SYM(name_locate),
        SYM(open),
        SYM(open_from_source),
        SYM(source_buffer_create),
        SYM(source_free),
        SYM(stat_index),
        SYM(strerror),
    };
    if (dagd_dl_open(ZIP_SONAME, syms, sizeof(syms) / sizeof(syms[0]), LOAD_FAILED, load_error,
                     sizeof(load_error)) < 0) {
        return;
    }
}

int dagd_zip_load(char **ret_msg)
{
    (void)pthread_once(&once, load_once);
    return dagd_dl_status(load_error, ret_msg);
}
