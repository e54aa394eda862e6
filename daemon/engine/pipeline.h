/* The pipeline model: what the YAML parser (pipeline_yaml.c) builds from a
 * file and the executor runs; the types are in pipeline_types.h, the model's
 * functions in pipeline.c. Immutable once loaded; shared read-only by runs
 * (ref counted so a reload can replace it while runs of the old version go
 * on). Every object keeps the YAML mark of its definition so errors found
 * after parsing still point at the file. */
#ifndef DAGD_PIPELINE_H
#define DAGD_PIPELINE_H

#include "pipeline_types.h"

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
 * pipeline_dir, into *ret (a new list); of a partitioned pipeline also
 * partition, partition_start and partition_end (partitions.h) for
 * `partition` ("" for each when NULL). */
void dagd_pipeline_builtins(const struct dagd_pipeline *p, const char *state_dir,
                            const char *run_id, const char *partition, struct dagd_params *ret);

/* Write the DAG as Graphviz DOT. */
void dagd_pipeline_write_dot(const struct dagd_pipeline *p, FILE *f);

#endif
