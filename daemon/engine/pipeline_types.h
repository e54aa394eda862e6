/* The pipeline model's types (struct dagd_pipeline and what it holds), with
 * no functions: modules that only read a pipeline (dag.c) include this, so
 * they do not depend on the parser and the model's functions, which call
 * them. See pipeline.h for what the model is and promises. */
#ifndef DAGD_PIPELINE_TYPES_H
#define DAGD_PIPELINE_TYPES_H

#include <cjson/cJSON.h>

#include "diag.h"
#include "params.h"
#include "step_tracker.h"

struct dagd_plugin;
struct dagd_param_spec;
struct dagd_partitions;

/* Where a step's attempts run (step key `executor:`, docs/executor.md). */
enum dagd_step_executor {
    DAGD_STEP_EXECUTOR_LOCAL, /* a worker process of this dagd (default) */
    DAGD_STEP_EXECUTOR_SLURM, /* a Slurm job or a pilot (docs/slurm.md) */
    _DAGD_STEP_EXECUTOR_MAX,
};

/* How a Slurm step runs (step key `slurm:`). */
enum dagd_slurm_mode {
    DAGD_SLURM_MODE_JOBS,  /* one Slurm job per attempt (exec_slurm.c) */
    DAGD_SLURM_MODE_PILOT, /* dispatched into pilot allocations */
    _DAGD_SLURM_MODE_MAX,
};

/* The `slurm:` map of a step (defaults' keys filled in) or of the daemon
 * config (cluster defaults). Unset: NULL strings, 0 numbers. */
struct dagd_slurm_opts {
    enum dagd_slurm_mode mode;
    bool has_mode;
    char *partition, *account, *qos;
    unsigned cpus;         /* --cpus-per-task */
    uint64_t memory_bytes; /* --mem; 0 = the step's memory:, else the cluster default */
    uint64_t time_usec;    /* --time */
    char **options;        /* more sbatch options, each one argv element */
    size_t n_options;
};

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

    /* `inputs:` and `outputs:` of the step as written (files or globs,
     * `${...}` not yet substituted): what any task reads and writes besides
     * what its plugin declares. Inputs feed the fingerprint; a missing
     * output makes the step run again (as make does). */
    char **inputs;
    size_t n_inputs;
    char **outputs;
    size_t n_outputs;

    unsigned retries;
    uint64_t retry_delay_usec;
    uint64_t timeout_usec;               /* 0 = none */
    uint64_t memory_bytes;               /* 0 = no limit */
    enum dagd_trigger_rule trigger_rule; /* `trigger_rule:`, default all_succeeded */
    /* `pool:` and `slots:`: each attempt takes `slots` of the daemon's named
     * pool while it runs (executor.h); NULL = no pool. */
    char *pool;
    struct dagd_mark pool_mark;
    unsigned slots;
    enum dagd_step_executor executor; /* `executor:`, default local */
    struct dagd_slurm_opts slurm;     /* `slurm:` (with defaults'), for executor slurm */

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
    int priority;         /* of its runs in the daemon's queue (higher first); default 0 */

    struct dagd_step *steps;
    size_t n_steps;
    size_t *topo; /* step indices in a topological order */

    struct dagd_schedule *schedules;
    size_t n_schedules;
    struct dagd_sensor *sensors;
    size_t n_sensors;

    /* `partitions:` (partitions.h); NULL: the pipeline is not partitioned. */
    struct dagd_partitions *partitions;
};

#endif
