/* The host API handed to task plugins (struct dagd_host_api in
 * dagd/task.h): one table for every process that loads plugins.
 *
 * The table's config accessors read the ctx's config (task_config.c), so a
 * value reads the same when the daemon validates a step and when a worker
 * runs it. Everything that depends on where the plugin runs (identity,
 * params, the warehouse, logging, progress, failures, declared files) goes
 * through the ctx's mode: the plugin host's load/plan-time mode
 * (plugin_host.c) or the worker's run mode (worker_main.c). A mode embeds
 * struct dagd_task_ctx as the first member of its own context.
 *
 * May call: task_config. Linked by dagd-worker: keep it free of logging,
 * the loop and the store. */
#ifndef DAGD_HOST_API_H
#define DAGD_HOST_API_H

#include <stdarg.h>
#include <dagd/task.h>

#include "task_config.h"

struct dagd_host_mode;

/* What the host passes to a plugin callback. */
struct dagd_task_ctx {
    struct dagd_task_config *config; /* the step's checked config */
    const struct dagd_host_mode *mode;
};

/* The mode-specific half of the API; every function is required. Strings
 * returned stay valid until the callback returns. */
struct dagd_host_mode {
    const char *(*run_id)(struct dagd_task_ctx *ctx);
    const char *(*step_name)(struct dagd_task_ctx *ctx);
    unsigned (*attempt)(struct dagd_task_ctx *ctx);
    const char *(*param)(struct dagd_task_ctx *ctx, const char *name);
    const char *(*state_dir)(struct dagd_task_ctx *ctx);
    struct sqlite3 *(*warehouse)(struct dagd_task_ctx *ctx);
    void (*log)(struct dagd_task_ctx *ctx, enum dagd_task_log_level level, const char *fmt,
                va_list ap);
    void (*progress)(struct dagd_task_ctx *ctx, uint64_t done, uint64_t total);
    void (*metrics)(struct dagd_task_ctx *ctx, int64_t rows_in, int64_t rows_out);
    bool (*canceled)(struct dagd_task_ctx *ctx);
    int (*declare_input)(struct dagd_task_ctx *ctx, const char *path);
    int (*declare_output)(struct dagd_task_ctx *ctx, const char *path);
    /* Returns what host->fail returns to the plugin (-EINVAL). */
    int (*fail)(struct dagd_task_ctx *ctx, const char *key, const char *fmt, va_list ap);
    void (*no_memo)(struct dagd_task_ctx *ctx, const char *reason);
    int (*check_result)(struct dagd_task_ctx *ctx, const struct dagd_check_result *result);
    void (*no_retry)(struct dagd_task_ctx *ctx, const char *reason);
};

/* The one table (ABI DAGD_TASK_ABI_MAJOR.MINOR, struct_size of this build);
 * plugins keep the pointer for the life of the process. */
extern const struct dagd_host_api dagd_host_api;

#endif
