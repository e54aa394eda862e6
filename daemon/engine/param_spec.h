/* Declared types of params, and the checks a run's values must pass.
 *
 * A pipeline may declare a param as a map instead of a plain default:
 *
 *   params:
 *     greeting: {default: hello, pattern: "[a-z]+"}
 *     usd_rate: {default: "7.10", type: number}
 *     report:   {default: "${state_dir}/report.html", type: output}
 *
 * Every value of the param (its default, and above all a trigger-time
 * override from `--param`, `dagctl run`, a schedule or a sensor) must then
 * match: an int, a number, a bool, one of `values` (enum), the `pattern`
 * (a POSIX extended regex matching the whole value), or, for `path` and
 * `output`, a file inside the `under` roots. An `output` is a file the run
 * writes: by default it must be inside the state directory; it is never the
 * state database or the file of another output; and an existing file
 * outside the state directory is replaced only with `overwrite: true`.
 * (issue 16: params reached any file, and shell code.)
 *
 * Owns the spec objects. May call: params (expansion of `under` roots). */
#ifndef DAGD_PARAM_SPEC_H
#define DAGD_PARAM_SPEC_H

#include <regex.h>
#include <stdbool.h>

#include "diag.h"
#include "params.h"

enum dagd_param_type {
    DAGD_PARAM_STRING,
    DAGD_PARAM_INT,
    DAGD_PARAM_NUMBER,
    DAGD_PARAM_BOOL,
    DAGD_PARAM_ENUM,
    DAGD_PARAM_PATH,   /* a file or directory the run reads */
    DAGD_PARAM_OUTPUT, /* a file the run writes */
    _DAGD_PARAM_TYPE_MAX,
};

const char *dagd_param_type_to_string(enum dagd_param_type t);
/* The type named `s`, or -EINVAL. */
int dagd_param_type_from_string(const char *s);

struct dagd_param_spec {
    char *key;
    enum dagd_param_type type;
    char *pattern; /* as written, or NULL */
    regex_t re;    /* compiled when pattern is set; it must match the whole value */
    char **values; /* enum: the allowed values */
    size_t n_values;
    char **under; /* path/output: the roots (may hold ${...}) */
    size_t n_under;
    bool overwrite;        /* output: may replace a file outside the state directory */
    struct dagd_mark mark; /* of the param's key */
};

/* Compile spec->pattern. 0, or -EINVAL with the regex error in *ret_msg. */
int dagd_param_spec_compile(struct dagd_param_spec *spec, char **ret_msg);
/* Free the contents of n specs and the array. Returns NULL. */
struct dagd_param_spec *dagd_param_specs_free(struct dagd_param_spec *specs, size_t n);
/* The spec of `key`, or NULL. */
const struct dagd_param_spec *dagd_param_spec_find(const struct dagd_param_spec *specs, size_t n,
                                                   const char *key);

/* Check the values in `values` (a run's resolved params, or a pipeline's
 * expanded defaults) against the n specs. `overrides` ("key=value", may be
 * NULL) say which values came from the trigger, so a diagnostic names
 * `--param` for those and the YAML position for defaults. With `files`
 * false only the form of values is checked (at load, where the state
 * directory is a placeholder); with it, path and output roots too (their
 * `${...}` expanded with `values`; state_dir must be among them). Every
 * problem is appended to reterr; returns -EINVAL if there was one. */
int dagd_param_specs_check(const struct dagd_param_spec *specs, size_t n,
                           const struct dagd_params *values, char *const *overrides,
                           size_t n_overrides, const char *file, bool files,
                           struct dagd_diags *reterr);

#endif
