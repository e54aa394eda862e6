/* Step fingerprints (memoization, DESIGN 9 "unchanged re-run"). A step's
 * fingerprint is an XXH3-128 hash, written as 32 lowercase hex chars, over
 * everything that can change what the step does:
 *
 *   - the task name and the plugin's declared version,
 *   - the plugin file's identity (absolute path, size, mtime),
 *   - the step's resolved config as canonical JSON,
 *   - the run parameters the step can see (all of them but the volatile
 *     built-ins such as run_id), sorted by key,
 *   - the content hash of each declared input file (or "missing"),
 *   - the fingerprints of its upstream steps (by step name).
 *
 * Every field is fed as tag + length + bytes, so no two different inputs
 * serialize alike. The module is pure: it does no I/O except reading the
 * files it is asked to hash, and it does not log. The file-hash cache is an
 * interface (struct dagd_filehash_cache) so the store can back it without
 * this module depending on the store.
 *
 * Next to the hash, dagd_fingerprint_compute() can produce a "manifest": a
 * small JSON object with one digest per component. The executor stores it
 * with a successful step; dagd plan compares the current manifest with the
 * stored one to say *why* a step runs ("input X changed", "config changed"). */
#ifndef DAGD_FINGERPRINT_H
#define DAGD_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAGD_FP_HEX_LEN 32
#define DAGD_FP_HEX_SIZE (DAGD_FP_HEX_LEN + 1)

/* A declared input file with its content hash (NULL = missing/unreadable). */
struct dagd_fp_input {
    const char *path; /* as declared (shown to users) */
    const char *hash; /* 32 hex chars, or NULL */
};

/* An upstream step and its fingerprint for this run. */
struct dagd_fp_upstream {
    const char *step;
    const char *fingerprint; /* 32 hex chars */
};

/* Everything a fingerprint covers. Arrays need not be sorted: the module
 * sorts copies, so declaration order does not matter. */
struct dagd_fp_parts {
    const char *task;
    const char *task_version;
    const char *plugin_path; /* NULL: unknown (not hashed) */
    int64_t plugin_size;
    int64_t plugin_mtime_ns;
    const char *config_json;       /* canonical JSON; NULL = "{}" */
    const char *const *param_keys; /* parallel arrays of n_params items */
    const char *const *param_values;
    size_t n_params;
    const struct dagd_fp_input *inputs;
    size_t n_inputs;
    const struct dagd_fp_upstream *upstream;
    size_t n_upstream;
};

/* True for parameters that differ on every run and so must not be part of
 * a fingerprint (run_id). */
bool dagd_fingerprint_param_is_volatile(const char *key);

/* Compute the fingerprint of `parts` into ret (32 hex + NUL). If
 * ret_manifest is not NULL it gets a new JSON string (free()) of the form
 *   {"v":1,"task":..,"version":..,"plugin":HEX,"config":HEX,"params":HEX,
 *    "inputs":{PATH:HEX|null,...},"upstream":{STEP:FP,...}}
 * Returns 0 (or -EINVAL if a required field is NULL). */
int dagd_fingerprint_compute(const struct dagd_fp_parts *parts, char ret[static DAGD_FP_HEX_SIZE],
                             char **ret_manifest);

/* What changed between a stored manifest (`old`) and the current one
 * (`cur`), as a short human reason: "task version changed", "task plugin
 * changed", "config changed", "params changed", "input PATH changed",
 * "input PATH added", "input PATH removed", "upstream STEP changed". Returns
 * a new string, or NULL when the manifests do not say (NULL/unparsable old
 * manifest, or no component differs). */
char *dagd_fingerprint_explain(const char *old_manifest, const char *cur_manifest);

/* ---- Content hashes of files ----------------------------------------- */

/* Identity of a file version: if all of these match, the content is taken
 * to be unchanged (the git index rule). */
struct dagd_file_id {
    uint64_t dev;
    uint64_t ino;
    int64_t size;
    int64_t mtime_ns;
};

/* A cache of content hashes keyed by (path, identity). get returns 0 and a
 * new string (free()) on a hit, -ENOENT on a miss; put stores a hash.
 * Either may be NULL. */
typedef int (*dagd_filehash_get_fn)(void *userdata, const char *path, const struct dagd_file_id *id,
                                    char **ret_hash);
typedef int (*dagd_filehash_put_fn)(void *userdata, const char *path, const struct dagd_file_id *id,
                                    const char *hash);

struct dagd_filehash_cache {
    dagd_filehash_get_fn get;
    dagd_filehash_put_fn put;
    void *userdata;
    /* Counters for tests and `dagd plan -v`. */
    unsigned hits, misses;
};

/* XXH3-128 of a memory buffer as hex. */
void dagd_fingerprint_hash_buffer(const void *buf, size_t len, char ret[static DAGD_FP_HEX_SIZE]);

/* Content hash of the file at `path` (followed if a symlink), through
 * `cache` (may be NULL). The cache key is the absolute path. A file
 * modified within the last two seconds is hashed but not cached: a write in
 * the same timestamp tick could otherwise go unnoticed ("racy git").
 * Returns 0, or -errno (-ENOENT if missing, -EISDIR for a directory). */
int dagd_fingerprint_hash_file(const char *path, struct dagd_filehash_cache *cache,
                               char ret[static DAGD_FP_HEX_SIZE]);

#endif
