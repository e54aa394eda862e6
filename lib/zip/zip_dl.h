/* libzip, opened when an xlsx workbook is first opened, not when a plugin
 * that can read one is loaded (issue 11's idle-RSS target).
 *
 * Debian's libzip4 links OpenSSL's libcrypto (for AES-encrypted entries),
 * bzip2, xz and zstd: ~1.7 MB of RSS in every process that maps it, and the
 * daemon maps it through the load and extract plugins it opens to validate
 * pipelines. So tasks/readers does not link it: it calls libzip through this
 * table, filled by dlopen("libzip.so.4") on the first dagd_zip_load() (by
 * the xlsx reader before it opens an archive), the way lib/pq opens libpq.
 * The macros below keep the callers written against libzip's own names;
 * <zip.h> is included for its types and prototypes only.
 *
 * A leaf library (libc, libdl, pthread) below tasks/readers; hidden symbols.
 * Include this header in .c files only: a test that links libzip itself
 * includes <zip.h> and calls the real functions. */
#ifndef DAGD_ZIP_DL_H
#define DAGD_ZIP_DL_H

#include <zip.h>

struct dagd_zip {
    __typeof__(zip_discard) *discard;
    __typeof__(zip_error_code_zip) *error_code_zip;
    __typeof__(zip_error_fini) *error_fini;
    __typeof__(zip_error_init) *error_init;
    __typeof__(zip_error_init_with_code) *error_init_with_code;
    __typeof__(zip_error_strerror) *error_strerror;
    __typeof__(zip_fclose) *fclose;
    __typeof__(zip_file_strerror) *file_strerror;
    __typeof__(zip_fopen_index) *fopen_index;
    __typeof__(zip_fread) *fread;
    __typeof__(zip_name_locate) *name_locate;
    __typeof__(zip_open) *open;
    __typeof__(zip_open_from_source) *open_from_source;
    __typeof__(zip_source_buffer_create) *source_buffer_create;
    __typeof__(zip_source_free) *source_free;
    __typeof__(zip_stat_index) *stat_index;
    __typeof__(zip_strerror) *strerror;
};

/* The table; valid after dagd_zip_load() returned 0. */
extern struct dagd_zip dagd_zip;

/* Open libzip (once per process, thread-safe; later calls return at once).
 * 0, or -ELIBACC with a message naming the library, the Debian package that
 * ships it and dlerror()'s words in *ret_msg (malloc'ed; NULL when out of
 * memory). */
int dagd_zip_load(char **ret_msg);

#ifndef DAGD_ZIP_IMPL
#define zip_discard dagd_zip.discard
#define zip_error_code_zip dagd_zip.error_code_zip
#define zip_error_fini dagd_zip.error_fini
#define zip_error_init dagd_zip.error_init
#define zip_error_init_with_code dagd_zip.error_init_with_code
#define zip_error_strerror dagd_zip.error_strerror
#define zip_fclose dagd_zip.fclose
#define zip_file_strerror dagd_zip.file_strerror
#define zip_fopen_index dagd_zip.fopen_index
#define zip_fread dagd_zip.fread
#define zip_name_locate dagd_zip.name_locate
#define zip_open dagd_zip.open
#define zip_open_from_source dagd_zip.open_from_source
#define zip_source_buffer_create dagd_zip.source_buffer_create
#define zip_source_free dagd_zip.source_free
#define zip_stat_index dagd_zip.stat_index
#define zip_strerror dagd_zip.strerror
#endif

#endif
