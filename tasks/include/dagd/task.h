/* dagd task plugin ABI.
 *
 * This is the only header a task plugin includes. It is self-contained (libc
 * headers only) and stable: tables exchanged between host and plugin start
 * with abi_major, abi_minor and struct_size, so fields can be appended in a
 * minor version without breaking older plugins. A host refuses a plugin whose
 * abi_major differs from its own.
 *
 * A plugin is a shared object that exports one function:
 *
 *     const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
 *
 * The host calls it once after dlopen(RTLD_NOW|RTLD_LOCAL). The plugin keeps
 * `api` (it stays valid for the life of the process) and returns a pointer to
 * a static descriptor. Each step attempt runs in its own worker process, so a
 * plugin may keep process-global state, may leak, and may crash without harm to
 * the daemon.
 *
 * Example (see tests/plugins/noop.c; tasks/example/ is a complete plugin built
 * outside the tree with `pkg-config dagd-task`, and its README the guide):
 *
 *     static const struct dagd_host_api *host;
 *     static int noop_run(struct dagd_task_ctx *ctx) { return 0; }
 *     static const struct dagd_task_plugin plugin = {
 *         DAGD_TASK_PLUGIN_HEADER, .name = "noop", .version = "1", .run = noop_run,
 *     };
 *     DAGD_TASK_EXPORT const struct dagd_task_plugin *
 *     dagd_task_entry(const struct dagd_host_api *api) { host = api; return &plugin; }
 */
#ifndef DAGD_TASK_H
#define DAGD_TASK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DAGD_TASK_ABI_MAJOR 1
#define DAGD_TASK_ABI_MINOR 4

/* The symbol the host looks up in every plugin. */
#define DAGD_TASK_ENTRY_SYMBOL "dagd_task_entry"
#define DAGD_TASK_EXPORT __attribute__((visibility("default")))

#if defined(__GNUC__)
#define DAGD_TASK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DAGD_TASK_PRINTF(a, b)
#endif

/* Log levels, syslog numbering. */
enum dagd_task_log_level {
    DAGD_TASK_LOG_ERR = 3,
    DAGD_TASK_LOG_WARNING = 4,
    DAGD_TASK_LOG_NOTICE = 5,
    DAGD_TASK_LOG_INFO = 6,
    DAGD_TASK_LOG_DEBUG = 7,
};

/* Types a config field may have. The loader checks them against the YAML
 * value, with the YAML position of a bad value in the error. */
enum dagd_task_field_type {
    DAGD_FIELD_STRING = 1,    /* scalar string; `choices` restricts it */
    DAGD_FIELD_INT,           /* integer in [min, max] (both 0: unbounded) */
    DAGD_FIELD_NUMBER,        /* decimal number in [min, max] (both 0: unbounded) */
    DAGD_FIELD_BOOL,          /* true/false */
    DAGD_FIELD_DURATION,      /* "250ms", "2s", "5m", "1h"; read back as microseconds */
    DAGD_FIELD_STRING_LIST,   /* sequence of strings */
    DAGD_FIELD_STRING_MAP,    /* mapping of string to string */
    DAGD_FIELD_INT_OR_STRING, /* an integer or one of `choices` (e.g. k: 3 or k: auto) */
    DAGD_FIELD_ANY,           /* any YAML value, passed as JSON */
};

/* One declared config key. A schema is an array terminated by name == NULL. */
struct dagd_task_field {
    const char *name;
    enum dagd_task_field_type type;
    bool required;
    int64_t min, max;           /* DAGD_FIELD_INT / NUMBER / INT_OR_STRING bounds */
    const char *const *choices; /* NULL-terminated allowed strings, or NULL */
    const char *doc;            /* one line for `dagd tasks` and docs */
};

/* Opaque per-attempt (or per-validation) context owned by the host. */
struct dagd_task_ctx;

/* Forward declaration so the header does not need <sqlite3.h>. */
struct sqlite3;

/* ABI 1.2: the result of one data-quality check (host->check_result). The
 * plugin fills struct_size = sizeof(struct dagd_check_result), so fields can
 * be appended later. Strings are read during the call only. */
struct dagd_check_result {
    uint32_t struct_size;
    const char *name;     /* the check's name, unique within the step */
    const char *severity; /* "error" (fails the step) or "warn" */
    const char *status;   /* "passed", "failed", "warned", or "error" (it could not run) */
    int64_t violations;   /* violating rows (0 when passed) */
    const char *sample;   /* a JSON array of a few violating rows (each an object), or NULL */
    const char *detail;   /* one line: what was checked, or why it could not run; or NULL */
};

/* Functions the host offers a plugin. Every function takes the ctx the host
 * passed to the callback. Strings returned are owned by the host and stay
 * valid until the callback returns.
 *
 * Threads: `run` may start threads. Each function below says which threads
 * may call it:
 *   [any thread]  concurrently, from any thread of the plugin, until the
 *                 callback returns;
 *   [one thread]  from one thread at a time (the callback's, or serialized by
 *                 the plugin): it changes or caches state in the ctx.
 * `validate` and `inputs` run in the daemon's (or dagd's) own thread and must
 * not start threads that call the host. */
struct dagd_host_api {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size;

    /* Identity of the attempt: run id, step name, 1-based attempt number.
     * [any thread] */
    const char *(*run_id)(struct dagd_task_ctx *ctx);
    const char *(*step_name)(struct dagd_task_ctx *ctx);
    unsigned (*attempt)(struct dagd_task_ctx *ctx);

    /* Config, already checked against the schema and with ${params} resolved.
     * A missing key returns `def` (string/int/number/bool) or 0 (list length).
     * Durations are microseconds. [one thread]: strings of non-string values
     * and config_json are made on first use and kept in the ctx; read what
     * threads need before starting them. */
    const char *(*config_string)(struct dagd_task_ctx *ctx, const char *key, const char *def);
    int64_t (*config_int)(struct dagd_task_ctx *ctx, const char *key, int64_t def);
    double (*config_number)(struct dagd_task_ctx *ctx, const char *key, double def);
    bool (*config_bool)(struct dagd_task_ctx *ctx, const char *key, bool def);
    uint64_t (*config_duration)(struct dagd_task_ctx *ctx, const char *key, uint64_t def);
    size_t (*config_list_len)(struct dagd_task_ctx *ctx, const char *key);
    const char *(*config_list_item)(struct dagd_task_ctx *ctx, const char *key, size_t i);
    /* Map keys and values by index, for DAGD_FIELD_STRING_MAP. */
    size_t (*config_map_len)(struct dagd_task_ctx *ctx, const char *key);
    const char *(*config_map_key)(struct dagd_task_ctx *ctx, const char *key, size_t i);
    const char *(*config_map_value)(struct dagd_task_ctx *ctx, const char *key, size_t i);
    /* The whole config as canonical JSON (sorted keys, no spaces). */
    const char *(*config_json)(struct dagd_task_ctx *ctx);

    /* A resolved run parameter (pipeline `params` + --param overrides), or
     * NULL. [any thread] */
    const char *(*param)(struct dagd_task_ctx *ctx, const char *name);
    /* The state directory of the run (absolute path). [any thread] */
    const char *(*state_dir)(struct dagd_task_ctx *ctx);

    /* The warehouse: SQLite handle opened by the host on the `warehouse`
     * param (default STATE_DIR/warehouse.db), WAL mode, busy timeout set.
     * NULL with an error logged if it cannot be opened. Do not close it.
     * It is opened in SQLite's multi-thread mode: use it from one thread at
     * a time (a worker thread that needs SQLite opens its own connection).
     * The host does not checkpoint the WAL; dagd does after the step.
     * [one thread]: the first call opens it. */
    struct sqlite3 *(*warehouse)(struct dagd_task_ctx *ctx);

    /* Logging: the host adds run, step and attempt context. [any thread]:
     * each line is one write; lines over 4 KiB from threads logging at the
     * same time may interleave. */
    void (*log)(struct dagd_task_ctx *ctx, enum dagd_task_log_level level, const char *fmt, ...)
        DAGD_TASK_PRINTF(3, 4);
    /* Progress: `done` of `total` units (rows); total 0 = unknown. Cheap to
     * call often: the host rate-limits what it forwards. [one thread]: the
     * rate limit keeps its state in the ctx. */
    void (*progress)(struct dagd_task_ctx *ctx, uint64_t done, uint64_t total);
    /* Metrics recorded in the steps table. [any thread] */
    void (*metrics)(struct dagd_task_ctx *ctx, int64_t rows_in, int64_t rows_out);
    /* True once the host asked the attempt to stop (cancel, timeout,
     * shutdown). Long loops check it and return -ECANCELED. [any thread] */
    bool (*canceled)(struct dagd_task_ctx *ctx);

    /* Declare a file the step reads; its content is part of the step's
     * fingerprint. Called from `inputs` (at plan time) or from `run`.
     * [any thread] from `run`; [one thread] from `inputs`. */
    int (*declare_input)(struct dagd_task_ctx *ctx, const char *path);
    /* Declare a file the step writes; a missing output forces a re-run.
     * Threads as declare_input. */
    int (*declare_output)(struct dagd_task_ctx *ctx, const char *path);

    /* Set the reason of a failure (shown in `steps.error`). From `validate`,
     * `key` names the config key whose YAML position the loader reports
     * (NULL: the step itself). From `run`, key is ignored. Returns -EINVAL so
     * a plugin can write `return host->fail(ctx, "k", "bad %s", v);`.
     * [one thread]: the last reason wins. */
    int (*fail)(struct dagd_task_ctx *ctx, const char *key, const char *fmt, ...)
        DAGD_TASK_PRINTF(3, 4);

    /* ABI 1.1: the attempt succeeded with a degraded result (e.g. a fallback
     * used because a service was down), so the host must not memoize it: the
     * next run runs the step again even when nothing changed. `reason` is
     * logged. Check DAGD_HOST_HAS(api, no_memo) before calling. [any thread] */
    void (*no_memo)(struct dagd_task_ctx *ctx, const char *reason);

    /* ABI 1.2: record a data-quality check result in the run history
     * (state.db `checks`, shown by `dagctl show` and `dagd run`). Only from
     * `run`; what the step returns decides whether it failed. A sample longer
     * than 16 KiB is dropped (the count stays). 0, -EINVAL (bad fields), or
     * -EOPNOTSUPP outside `run`. Check DAGD_HOST_HAS(api, check_result). */
    int (*check_result)(struct dagd_task_ctx *ctx, const struct dagd_check_result *result);

    /* ABI 1.3: the failure of this attempt is permanent (a malformed input
     * file, a bad record): running it again gives the same result, so the
     * host does not retry the step whatever its `retries:`. Call it with the
     * reason before returning an error from `run`; `reason` is logged. Check
     * DAGD_HOST_HAS(api, no_retry) before calling. [any thread] */
    void (*no_retry)(struct dagd_task_ctx *ctx, const char *reason);
    /* ABI 1.4: the warehouse's libpq connection string when the pipeline's
     * `warehouse` param names a PostgreSQL server (`postgresql://...`,
     * `postgres://...` or libpq keywords `host=... dbname=...`), else NULL:
     * the warehouse is SQLite and warehouse() opens it. warehouse() returns
     * NULL (with an error logged) for a PostgreSQL warehouse. The string
     * never carries a password (the host refuses such a run; libpq reads
     * PGPASSWORD or the passfile), so it may be shown in messages. The
     * plugin connects itself (tasks/common/wh.h does, for the shipped
     * tasks). Check DAGD_HOST_HAS(api, warehouse_conninfo). [any thread] */
    const char *(*warehouse_conninfo)(struct dagd_task_ctx *ctx);
};

/* True when the host's API table is large enough to have `field` (fields
 * appended in later minor versions). */
#define DAGD_HOST_HAS(api, field)                                                                  \
    ((api)->struct_size >= offsetof(struct dagd_host_api, field) + sizeof((api)->field))

/* What a plugin declares. */
struct dagd_task_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size;

    const char *name;        /* the `task:` value in pipelines */
    const char *version;     /* part of every step fingerprint: bump on behaviour change */
    const char *description; /* one line */
    const struct dagd_task_field *schema; /* NULL: the task takes no config */

    /* Optional: cross-field checks at load time, in the loading process.
     * Config accessors work; param() returns the pipeline defaults; nothing
     * else may be called. Return 0, or fail(ctx, key, ...). Must not block. */
    int (*validate)(struct dagd_task_ctx *ctx);

    /* Optional: declare input/output files (declare_input/declare_output)
     * for the fingerprint, before the step runs. Cheap and side-effect free
     * (e.g. expand a glob). */
    int (*inputs)(struct dagd_task_ctx *ctx);

    /* Required: run one attempt in the worker process. Return 0 on success,
     * a negative errno-style code on failure (after fail() for the reason). */
    int (*run)(struct dagd_task_ctx *ctx);

    /* Optional: called (from a signal-safe point in the worker's control
     * thread) when the host asks the attempt to stop; canceled() turns true
     * either way. */
    void (*cancel)(struct dagd_task_ctx *ctx);
};

/* True when a plugin's descriptor is large enough to have `field` (fields
 * appended in later minor versions are absent from older plugins). The host
 * checks this before it reads an optional field. */
#define DAGD_PLUGIN_HAS(desc, field)                                                               \
    ((desc)->struct_size >=                                                                        \
     offsetof(struct dagd_task_plugin, field) + sizeof(((struct dagd_task_plugin *)0)->field))

#define DAGD_TASK_PLUGIN_HEADER                                                                    \
    .abi_major = DAGD_TASK_ABI_MAJOR, .abi_minor = DAGD_TASK_ABI_MINOR,                            \
    .struct_size = sizeof(struct dagd_task_plugin)

typedef const struct dagd_task_plugin *(*dagd_task_entry_fn)(const struct dagd_host_api *api);

#ifdef __cplusplus
}
#endif

#endif /* DAGD_TASK_H */
