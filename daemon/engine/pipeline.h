/* The pipeline model: what the YAML parser (pipeline_yaml.c) builds from a
 * file and the executor runs; the model's functions are in pipeline.c. Immutable once loaded;
 * shared read-only by runs (ref counted so a reload can replace it while runs of the old version go
 * on). Every object keeps the YAML mark of its definition so errors found after parsing still point
 * at the file. */
#ifndef DAGD_PIPELINE_H
#define DAGD_PIPELINE_H

#include <cjson/cJSON.h>

#include "diag.h"
#include "params.h"

struct dagd_plugin;
struct dagd_param_spec;

struct dagd_step {
    char *name;
    struct dagd_mark mark;
    char *task;
    struct dagd_mark task_mark;
    const struct dagd_plugin *plugin; /* resolved at load; owned by the plugin host */

    char **needs;      /* names as written */
    size_t *needs_idx; /* resolved indices into pipeline->steps */
    size_t n_needs;

    /* The config mapping as written, `${...}` not yet substituted; values are
     * strings, numbers, bools, lists or maps. Resolve per run with
     * dagd_pipeline_resolve_config(). */
    cJSON *config;
    struct dagd_mark config_mark;

    unsigned retries;
    uint64_t retry_delay_usec;
    uint64_t timeout_usec; /* 0 = none */
    uint64_t memory_bytes; /* 0 = no limit */

    /* Parser-private (pipeline_internal.h): YAML marks of the config keys and values, so errors
     * found when a run resolves the config still point at the file. */
    struct dagd_config_marks *config_marks;
};

/* Schedules and sensors are parsed and checked (DESIGN 3b) but run by the
 * daemon. Their `params` are overrides of declared params, values as written
 * (${...} not substituted): expand them with dagd_params_expand() (for
 * sensors with sensor.dir, sensor.path and sensor.name added) and pass them
 * as "key=value" overrides. */
struct dagd_schedule {
    char *name;
    struct dagd_mark mark;
    char *cron;     /* 5 fields, or 6 with seconds first; checked for shape only */
    char *timezone; /* "UTC" when not given */
    struct dagd_params params;
    unsigned catchup; /* 0 when not given */
};

struct dagd_sensor {
    char *name;
    struct dagd_mark mark;
    char *watch;   /* a directory */
    char *pattern; /* glob on file names; "*" when not given */
    struct dagd_params params;
};

struct dagd_pipeline {
    unsigned n_ref;
    char *file; /* path as given */
    char *dir;  /* absolute directory of the file (${pipeline_dir}) */
    char *name;
    char *description;
    struct dagd_params params; /* declared params with defaults */
    /* Params declared with a type or pattern (param_spec.h), in file order. */
    struct dagd_param_spec *param_specs;
    size_t n_param_specs;
    unsigned concurrency; /* max simultaneous runs of this pipeline; 0 = unlimited */

    struct dagd_step *steps;
    size_t n_steps;
    size_t *topo; /* step indices in a topological order */

    struct dagd_schedule *schedules;
    size_t n_schedules;
    struct dagd_sensor *sensors;
    size_t n_sensors;
};

struct dagd_plugin_host;

/* Load and check a pipeline file (pipeline_yaml.c). On success *ret is a new pipeline (ref 1).
 * On failure returns -EINVAL and appends every error (up to 50) to *reterr
 * with file/line/col; -errno for I/O errors (also added to reterr). Plugins
 * are looked up in `host` to resolve tasks and check configs (schema, then
 * the plugin's validate callback, with the params' default values); with
 * host NULL tasks are not resolved (step->plugin stays NULL) and configs
 * are checked for ${...} references only. Errors are sorted by position.
 * The rules and messages are documented in pipelines/README.md. */
int dagd_pipeline_load(const char *path, struct dagd_plugin_host *host, struct dagd_pipeline **ret,
                       struct dagd_diags *reterr);
/* The same from a memory buffer; `name` is used as FILE in diagnostics. */
int dagd_pipeline_load_buffer(const char *name, const char *buf, size_t len,
                              struct dagd_plugin_host *host, struct dagd_pipeline **ret,
                              struct dagd_diags *reterr);

struct dagd_pipeline *dagd_pipeline_ref(struct dagd_pipeline *p);
struct dagd_pipeline *dagd_pipeline_unref(struct dagd_pipeline *p);

/* Index of a step by name, or -ENOENT. */
ssize_t dagd_pipeline_step_index(const struct dagd_pipeline *p, const char *name);

/* Merge the pipeline's params with `overrides` ("key=value" strings; unknown
 * keys are an error) and the built-ins (state_dir, run_id, pipeline,
 * pipeline_dir): dagd_params_resolve() over p->params. *ret is a new params
 * list. -EINVAL with reterr on error. */
int dagd_pipeline_resolve_params(const struct dagd_pipeline *p, char *const *overrides,
                                 size_t n_overrides, const struct dagd_params *builtins,
                                 struct dagd_params *ret, struct dagd_diags *reterr);

/* Substitute ${name} in a step's config with `params`, re-check it against
 * the plugin schema, and return it as canonical JSON (sorted keys, no
 * spaces; the fingerprint hashes this). -EINVAL with reterr on error. */
int dagd_pipeline_resolve_config(const struct dagd_pipeline *p, size_t step,
                                 const struct dagd_params *params, char **ret_json,
                                 struct dagd_diags *reterr);

/* The built-in params of a run: state_dir, run_id, pipeline (the name) and
 * pipeline_dir, into *ret (a new list). */
void dagd_pipeline_builtins(const struct dagd_pipeline *p, const char *state_dir,
                            const char *run_id, struct dagd_params *ret);

/* Write the DAG as Graphviz DOT. */
void dagd_pipeline_write_dot(const struct dagd_pipeline *p, FILE *f);

#endif
