/* File helpers shared by the data tasks (load, files, export): globs in
 * byte order, and moves and copies that never overwrite silently.
 *
 * Plain libc; never logs. Errors are -errno with a message in *reterr_msg
 * (task_errmsg.h; the caller frees it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct dagd_file_list {
    char **paths;
    size_t n;
};

/* Appends the regular files matching `pattern` (glob(3)), sorted by bytes
 * (not by locale). No match is not an error (fl grows by nothing). */
int dagd__glob_files(const char *pattern, struct dagd_file_list *fl, char **reterr_msg);
void dagd__file_list_done(struct dagd_file_list *fl);

/* The base name of a path (a pointer into it). */
const char *dagd__base_name(const char *path);

/* Creates a directory and its parents (mode 0755). */
int dagd__mkdir_p(const char *dir, char **reterr_msg);

enum dagd_fileop {
    DAGD_FILEOP_MOVE,
    DAGD_FILEOP_COPY,
};

/* Moves or copies `src` into directory `dstdir` (created if missing) under
 * its base name, atomically: the destination name appears complete or not
 * at all (rename(2); across file systems a copy to a temporary name in
 * dstdir, fsync, and a rename that does not replace). If the destination
 * exists with the same bytes, the operation is already done: a move then
 * removes the source and a copy does nothing (so re-running is harmless).
 * If it exists with other bytes: -EEXIST, nothing changed. *ret_done_before
 * (may be NULL) tells whether the destination was already there. */
int dagd__file_transfer(enum dagd_fileop op, const char *src, const char *dstdir,
                        bool *ret_done_before, char **reterr_msg);

/* Writes the whole file `tmp` to disk and renames it to `dst` (replacing
 * it), then syncs the directory. */
int dagd__commit_file(const char *tmp, const char *dst, char **reterr_msg);
