/* Content hashes of delivered files (not part of the plugin ABI; see
 * task_errmsg.h for how tasks/common is linked): what extract's load_files
 * and load's _dagd_load_files record to skip a file already loaded. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* XXH3-128 of the bytes of `path` as 32 lowercase hex digits (canonical,
 * big-endian order) in ret_hex, and the file's size in *ret_size. Reads
 * the file in 1 MiB chunks. Returns 0, or -errno (nothing written). */
int dagd__task_hash_file(const char *path, char ret_hex[static 33], uint64_t *ret_size);

/* The same hash fed piece by piece, for a reader that goes through the
 * file anyway (load: hashing while it parses saves a second pass over the
 * file). _new returns NULL when out of memory; _feed takes the bytes in
 * file order; _hex writes the hash of everything fed so far (the state
 * stays usable); _free accepts NULL and returns NULL. */
struct dagd__task_hash;
struct dagd__task_hash *dagd__task_hash_new(void);
void dagd__task_hash_feed(struct dagd__task_hash *h, const void *data, size_t n);
void dagd__task_hash_hex(const struct dagd__task_hash *h, char ret_hex[static 33]);
struct dagd__task_hash *dagd__task_hash_free(struct dagd__task_hash *h);
