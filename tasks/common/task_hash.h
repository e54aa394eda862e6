/* Content hashes of delivered files (not part of the plugin ABI; see
 * task_errmsg.h for how tasks/common is linked): what extract's load_files
 * and load's _dagd_load_files record to skip a file already loaded. */
#pragma once

#include <stdint.h>

/* XXH3-128 of the bytes of `path` as 32 lowercase hex digits (canonical,
 * big-endian order) in ret_hex, and the file's size in *ret_size. Reads
 * the file in 1 MiB chunks. Returns 0, or -errno (nothing written). */
int dagd__task_hash_file(const char *path, char ret_hex[static 33], uint64_t *ret_size);
