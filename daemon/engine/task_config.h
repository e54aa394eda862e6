/* Task configs: a step's config as a cJSON object, checked against the
 * schema a plugin declares (struct dagd_task_field), and the accessors behind
 * the config_* functions of struct dagd_host_api. Used by the loader (checks
 * at load and per run) and by the worker (accessors during a run). Owns the
 * cJSON object it wraps and the strings it hands out. Does not log. */
#ifndef DAGD_TASK_CONFIG_H
#define DAGD_TASK_CONFIG_H

#include <cjson/cJSON.h>
#include <dagd/task.h>

#include "diag.h"

/* ---- Schema checks ---------------------------------------------------- */

/* Where a config value was written: the loader answers with the YAML mark of
 * `key` (item -1: the value of key; -2: the key itself; item >= 0: the
 * item-th element of a list or the item-th value of a map; key NULL: the
 * config mapping itself).
 * Return {0, 0} when unknown. */
typedef struct dagd_mark (*dagd_config_mark_fn)(void *userdata, const char *key, int item);

/* Check `config` (a JSON object, or NULL for "no config") against `schema`
 * (terminated by name == NULL; NULL = the task takes no config): required
 * keys, unknown keys, types, int/number bounds and choices. Normalizes
 * values in place to their schema type: numeric or boolean strings become
 * numbers/bools for INT/NUMBER/BOOL fields, numbers become strings for
 * STRING fields, durations stay strings (checked with dagd_parse_duration).
 * Raw numbers (cJSON_Raw, as the loader writes unquoted YAML numbers) are
 * accepted wherever a number or string is. Every problem is appended to
 * `diags` (file may be NULL; mark_fn may be NULL). Returns 0 or -EINVAL. */
int dagd_task_config_check(const struct dagd_task_field *schema, cJSON *config, const char *file,
                           dagd_config_mark_fn mark_fn, void *userdata, struct dagd_diags *diags);

/* Name of a field type ("string", "int", ...), for messages and `dagd tasks`. */
const char *dagd_task_field_type_to_string(enum dagd_task_field_type t);

/* ---- Canonical JSON --------------------------------------------------- */

/* `j` printed with object keys sorted (byte order, recursively) and no
 * spaces: the form fingerprints hash. Returns a new string (free()). */
char *dagd_json_canonical(const cJSON *j);

/* Replace `old` (a child of `parent`) by `new_item`, keeping its object key
 * (cJSON_ReplaceItemViaPointer does not). Frees `old`. */
void dagd_json_replace(cJSON *parent, cJSON *old, cJSON *new_item);

/* ---- Accessors -------------------------------------------------------- */

/* A parsed config. Accessor results are owned by it and stay valid until
 * dagd_task_config_free(). */
struct dagd_task_config;

/* Parse a JSON object (e.g. the canonical config the worker is given).
 * NULL or "" means an empty config. Returns NULL if json is not an object. */
struct dagd_task_config *dagd_task_config_new_from_json(const char *json);
/* Wrap an object; takes ownership of `obj` (freed on failure too). NULL
 * obj = empty config. */
struct dagd_task_config *dagd_task_config_new_from_cjson(cJSON *obj);
struct dagd_task_config *dagd_task_config_free(struct dagd_task_config *c);

/* The underlying object (owned by c). */
const cJSON *dagd_task_config_object(const struct dagd_task_config *c);

/* Semantics of struct dagd_host_api: a missing key (or a value of another
 * type that cannot be converted) returns `def`. Strings are converted from
 * numbers/bools for config_string; numeric strings are accepted by int,
 * number and duration; "true"/"false" by bool; durations are microseconds. */
const char *dagd_task_config_string(struct dagd_task_config *c, const char *key, const char *def);
int64_t dagd_task_config_int(struct dagd_task_config *c, const char *key, int64_t def);
double dagd_task_config_number(struct dagd_task_config *c, const char *key, double def);
bool dagd_task_config_bool(struct dagd_task_config *c, const char *key, bool def);
uint64_t dagd_task_config_duration(struct dagd_task_config *c, const char *key, uint64_t def);
/* Lists: length 0 for a missing key; a scalar counts as a one-item list.
 * Items are returned as strings (NULL past the end). */
size_t dagd_task_config_list_len(struct dagd_task_config *c, const char *key);
const char *dagd_task_config_list_item(struct dagd_task_config *c, const char *key, size_t i);
/* Maps, by index in canonical (sorted) key order. */
size_t dagd_task_config_map_len(struct dagd_task_config *c, const char *key);
const char *dagd_task_config_map_key(struct dagd_task_config *c, const char *key, size_t i);
const char *dagd_task_config_map_value(struct dagd_task_config *c, const char *key, size_t i);
/* The whole config as canonical JSON. */
const char *dagd_task_config_json(struct dagd_task_config *c);

/* ---- Small parsers shared with the loader ---------------------------- */

/* Parse a whole string as a signed 64-bit integer (decimal). 0 or -EINVAL/-ERANGE. */
int dagd_parse_int64(const char *s, int64_t *ret);
/* Parse a whole string as a finite double. 0 or -EINVAL. */
int dagd_parse_double(const char *s, double *ret);
/* Parse "true"/"false" (also True/TRUE/yes/no/on/off). 0 or -EINVAL. */
int dagd_parse_bool(const char *s, bool *ret);
/* Parse a memory size: "512M", "1G", "64K", "1.5G", "4096" (bytes); K/M/G/T are
 * powers of 1024, an optional trailing "B" or "iB" is accepted. 0 or -EINVAL/-ERANGE. */
int dagd_parse_size(const char *s, uint64_t *ret_bytes);

/* The candidate closest to `word` (Levenshtein distance at most 1 for
 * short words, a third of the length for longer ones), for "did you mean"
 * hints; NULL when none is close. `cands` has `n` entries (NULLs skipped). */
const char *dagd_closest_word(const char *word, size_t len, const char *const *cands, size_t n);

#endif
