/* Params: ordered key=value lists and the `${name}` reference syntax.
 *
 * Owns: the list type (declared params with their defaults, schedule and
 * sensor overrides, a run's resolved values), expanding `${name}` in a string,
 * and resolving a run's values (built-ins, defaults, overrides, expanded in
 * dependency order with cycles reported). May call: basic (util, diag) and
 * task_config's canonical JSON. Knows nothing of YAML or of the pipeline
 * model, so the plugin host and the executor can use it without the parser. */
#ifndef DAGD_PARAMS_H
#define DAGD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* Bytes of one substituted value, at most. */
#define DAGD_PARAMS_MAX_EXPANDED (1u << 20)

/* One key=value pair, in file order; `mark` is where it is defined (0:0 for
 * built-ins and values set by code). */
struct dagd_param {
    char *key;
    char *value;
    struct dagd_mark mark;
};

struct dagd_params {
    struct dagd_param *items;
    size_t n;
};

/* The built-in params every run has (state_dir, run_id, pipeline,
 * pipeline_dir) and the ones a sensor adds to its overrides (sensor.dir,
 * sensor.path, sensor.name, and sensor_file, an alias of sensor.path);
 * NULL-terminated. */
extern const char *const dagd_params_builtin_names[5];
extern const char *const dagd_params_sensor_names[5];
/* The built-ins of a partitioned pipeline's runs (partition,
 * partition_start, partition_end; partitions.h); NULL-terminated. */
extern const char *const dagd_params_partition_names[4];

/* Look up a param value, or NULL (also with ps or key NULL). */
const char *dagd_params_get(const struct dagd_params *ps, const char *key);
/* Set `key` to a copy of `value`: replaces the value of an existing key (its
 * mark is kept), or appends the pair with `mark`. */
void dagd_params_set_at(struct dagd_params *ps, const char *key, const char *value,
                        struct dagd_mark mark);
/* dagd_params_set_at() with no mark. */
void dagd_params_set(struct dagd_params *ps, const char *key, const char *value);
/* Free the contents; *ps is empty afterwards. */
void dagd_params_done(struct dagd_params *ps);
/* Params as a canonical JSON object string (runs.params); owned by the caller. */
char *dagd_params_to_json(const struct dagd_params *ps);
/* The "key=value" overrides that give `declared`'s params the values a run
 * recorded (json: its runs.params object; NULL or unparsable: none). Params
 * without a string value there, built-ins among them, are left out.
 * NULL-terminated; free each, then the array. */
char **dagd_params_overrides_from_json(const struct dagd_params *declared, const char *json,
                                       size_t *ret_n);

/* True if s[0..len) is a valid param name: a letter or '_' first, then
 * letters, digits, '_', '.', '-'; at most 128 bytes. */
bool dagd_params_valid_name(const char *s, size_t len);
/* True if s[0..len) is one of the NULL-terminated `list`. */
bool dagd_params_name_in(const char *const *list, const char *s, size_t len);

/* One ${...} reference in a string. */
struct dagd_param_ref {
    size_t pos;      /* offset of '$' */
    size_t name_pos; /* offset of the name */
    size_t name_len;
    size_t end;  /* offset after '}' */
    int problem; /* 0, or -EINVAL (unterminated or bad name) */
};

/* Find the next reference in `s` at or after *i and move *i past it; "$${"
 * escapes are skipped. Returns false at the end of the string. */
bool dagd_params_next_ref(const char *s, size_t *i, struct dagd_param_ref *ret);

/* Substitute ${name} in `in` with values from `ps` ("$${" writes "${").
 * Returns 0 and a new string in *ret; -ENOENT for an unknown name (its name in
 * *reterr_name if not NULL), -EINVAL for a malformed reference, -E2BIG when
 * the result exceeds DAGD_PARAMS_MAX_EXPANDED. */
int dagd_params_expand(const struct dagd_params *ps, const char *in, char **ret,
                       char **reterr_name);

/* Merge `builtins` (literal values), the `declared` params (defaults, from
 * `file`) and `overrides` ("key=value" strings; unknown keys and built-ins
 * are errors), then expand every declared value. *ret is a new list. On
 * error returns -EINVAL and appends every problem to reterr. */
int dagd_params_resolve(const struct dagd_params *declared, const char *file,
                        char *const *overrides, size_t n_overrides,
                        const struct dagd_params *builtins, struct dagd_params *ret,
                        struct dagd_diags *reterr);

/* Report every reference cycle among the values of `ps` ("parameter cycle:
 * a -> b -> a", at the mark of the first) to reterr with `file`; values are
 * not changed. Returns -EINVAL if there was one, else 0. */
int dagd_params_check_cycles(struct dagd_params *ps, const char *file, struct dagd_diags *reterr);

#endif
