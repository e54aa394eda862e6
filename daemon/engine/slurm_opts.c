/* See slurm_opts.h. */
#include "slurm_opts.h"

#include <inttypes.h>

#include "util.h"

static const char *const executor_names[_DAGD_STEP_EXECUTOR_MAX] = {
    [DAGD_STEP_EXECUTOR_LOCAL] = "local",
    [DAGD_STEP_EXECUTOR_SLURM] = "slurm",
};

static const char *const mode_names[_DAGD_SLURM_MODE_MAX] = {
    [DAGD_SLURM_MODE_JOBS] = "jobs",
    [DAGD_SLURM_MODE_PILOT] = "pilot",
};

const char *dagd_step_executor_to_string(enum dagd_step_executor x)
{
    return (unsigned)x < _DAGD_STEP_EXECUTOR_MAX ? executor_names[x] : NULL;
}

int dagd_step_executor_from_string(const char *s)
{
    for (int i = 0; s && i < _DAGD_STEP_EXECUTOR_MAX; i++) {
        if (streq(s, executor_names[i])) {
            return i;
        }
    }
    return -EINVAL;
}

const char *dagd_slurm_mode_to_string(enum dagd_slurm_mode m)
{
    return (unsigned)m < _DAGD_SLURM_MODE_MAX ? mode_names[m] : NULL;
}

int dagd_slurm_mode_from_string(const char *s)
{
    for (int i = 0; s && i < _DAGD_SLURM_MODE_MAX; i++) {
        if (streq(s, mode_names[i])) {
            return i;
        }
    }
    return -EINVAL;
}

void dagd_slurm_opts_done(struct dagd_slurm_opts *o)
{
    free(o->partition);
    free(o->account);
    free(o->qos);
    for (size_t i = 0; i < o->n_options; i++) {
        free(o->options[i]);
    }
    free(o->options);
    *o = (struct dagd_slurm_opts){0};
}

static void fill_str(char **dst, const char *src)
{
    if (!*dst && src) {
        *dst = dagd_xstrdup(src);
    }
}

void dagd_slurm_opts_fill(struct dagd_slurm_opts *dst, const struct dagd_slurm_opts *src)
{
    if (!src) {
        return;
    }
    if (!dst->has_mode && src->has_mode) {
        dst->mode = src->mode;
        dst->has_mode = true;
    }
    fill_str(&dst->partition, src->partition);
    fill_str(&dst->account, src->account);
    fill_str(&dst->qos, src->qos);
    dst->cpus = dst->cpus ? dst->cpus : src->cpus;
    dst->memory_bytes = dst->memory_bytes ? dst->memory_bytes : src->memory_bytes;
    dst->time_usec = dst->time_usec ? dst->time_usec : src->time_usec;
    if (dst->n_options == 0 && src->n_options > 0) {
        dst->options = dagd_xcalloc(src->n_options + 1, sizeof(char *));
        for (size_t i = 0; i < src->n_options; i++) {
            dst->options[i] = dagd_xstrdup(src->options[i]);
        }
        dst->n_options = src->n_options;
    }
}

static void push(char ***argv, size_t *n, char *s)
{
    *argv = dagd_xreallocarray(*argv, *n + 2, sizeof(char *));
    (*argv)[(*n)++] = s;
    (*argv)[*n] = NULL;
}

void dagd_slurm_opts_sbatch_args(const struct dagd_slurm_opts *o, uint64_t step_memory,
                                 char ***argv, size_t *n)
{
    if (o->partition) {
        push(argv, n, dagd_xasprintf("--partition=%s", o->partition));
    }
    if (o->account) {
        push(argv, n, dagd_xasprintf("--account=%s", o->account));
    }
    if (o->qos) {
        push(argv, n, dagd_xasprintf("--qos=%s", o->qos));
    }
    if (o->cpus) {
        push(argv, n, dagd_xasprintf("--cpus-per-task=%u", o->cpus));
    }
    /* Slurm's --mem is in MiB: round up, never below what the step asked. */
    uint64_t mem = o->memory_bytes ? o->memory_bytes : step_memory;
    if (mem) {
        push(argv, n, dagd_xasprintf("--mem=%" PRIu64 "M", (mem + (1u << 20) - 1) >> 20));
    }
    if (o->time_usec) {
        /* days-hours:minutes:seconds, rounded up to the second. */
        uint64_t s = (o->time_usec + 999999) / 1000000;
        push(argv, n,
             dagd_xasprintf("--time=%" PRIu64 "-%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 86400,
                            s / 3600 % 24, s / 60 % 60, s % 60));
    }
    for (size_t i = 0; i < o->n_options; i++) {
        push(argv, n, dagd_xstrdup(o->options[i]));
    }
}
