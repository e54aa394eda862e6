/* dagd-worker: runs step attempts in their own processes (DESIGN 4).
 *
 * `dagd-worker --template` is a pre-forked zygote: started once by the
 * executor, it waits for jobs on its control socket (fd 3, SOCK_SEQPACKET),
 * forks one child per job and reports the child's pid and, after wait4(),
 * its exit status and rusage. Forking this small, already-linked process is
 * cheaper than exec'ing a fresh one for every step, which keeps the per-step
 * cost near the posix_spawn floor (tests/bench/overhead). Plugins are
 * dlopen'ed in the template once and inherited by every child; a plugin file
 * that changed on disk is loaded afresh in the child instead.
 *
 * The child is the host side of the plugin ABI (tasks/include/dagd/task.h):
 * it implements struct dagd_host_api, runs the plugin's `run` callback and
 * writes JSON-lines events on fd 3 (protocol: worker_proto.h,
 * docs/executor.md). It never touches state.db; the warehouse is opened
 * lazily on first use.
 *
 * The template must stay single-threaded (it forks) and must not open
 * SQLite (a forked connection is unusable). */
#include <assert.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <dagd/task.h>

#include "host_api.h"
#include "memlimit.h"
#include "plugin_load.h"
#include "proc.h"
#include "task_config.h"
#include "util.h"
#include "warehouse_db.h"
#include "warehouse_target.h"
#include "worker.h"
#include "worker_proto.h"

/* ---- the child: host API ---------------------------------------------------------------- */

/* The run mode of the host API (host_api.h): one attempt in this process. */
struct worker_ctx {
    struct dagd_task_ctx base; /* first: the API hands plugins &base */
    cJSON *job;
    const cJSON *params;
    const char *run_id, *step, *state_dir, *warehouse_path;
    unsigned attempt;
    char *error;
    sqlite3 *warehouse;
    bool warehouse_failed;
    bool remote; /* a Slurm job (job "remote": true): no SQLite warehouse */
    uint64_t last_progress_usec;
    uint64_t last_done, last_total;
};

static volatile sig_atomic_t canceled_flag;
static const struct dagd_task_plugin *cur_plugin;
static struct worker_ctx *cur_ctx;

/* A growing buffer for one JSON line. */
struct line {
    char *buf;
    size_t len, cap;
};

static void line_put(struct line *l, const char *s, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        l->cap = (l->len + n + 1) * 2;
        l->buf = dagd_xrealloc(l->buf, l->cap);
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

static void line_puts(struct line *l, const char *s)
{
    line_put(l, s, strlen(s));
}

/* Append s as a JSON string literal. Invalid UTF-8 is passed through: the
 * parent's JSON parser accepts bytes >= 0x80 as they are. */
static void line_put_json_string(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    line_put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            line_put(l, e, 2);
        } else if (*p == '\n') {
            line_put(l, "\\n", 2);
        } else if (*p == '\t') {
            line_put(l, "\\t", 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            line_put(l, e, 6);
        } else {
            line_put(l, (const char *)p, 1);
        }
    }
    line_put(l, "\"", 1);
}

/* Send one complete line to the parent. Errors (parent gone) are ignored:
 * the parent notices our exit either way. */
static void line_send(struct line *l)
{
    line_put(l, "\n", 1);
    (void)dagd_write_all(DAGD_WORKER_EVENTS_FD, l->buf, l->len);
    free(l->buf);
    *l = (struct line){0};
}

static void send_event_str(const char *kind, const char *key, const char *value)
{
    struct line l = {0};
    line_puts(&l, "{\"k\":\"");
    line_puts(&l, kind);
    line_puts(&l, "\",\"");
    line_puts(&l, key);
    line_puts(&l, "\":");
    line_put_json_string(&l, value);
    line_puts(&l, "}");
    line_send(&l);
}

static struct worker_ctx *W(struct dagd_task_ctx *ctx)
{
    return (struct worker_ctx *)ctx;
}

static const char *h_run_id(struct dagd_task_ctx *ctx)
{
    return W(ctx)->run_id;
}

static const char *h_step_name(struct dagd_task_ctx *ctx)
{
    return W(ctx)->step;
}

static unsigned h_attempt(struct dagd_task_ctx *ctx)
{
    return W(ctx)->attempt;
}

static const char *h_param(struct dagd_task_ctx *ctx, const char *name)
{
    const cJSON *v = W(ctx)->params ? cJSON_GetObjectItemCaseSensitive(W(ctx)->params, name) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *h_state_dir(struct dagd_task_ctx *ctx)
{
    return W(ctx)->state_dir;
}

static const char *level_name(enum dagd_task_log_level level)
{
    switch (level) {
    case DAGD_TASK_LOG_ERR:
        return "error";
    case DAGD_TASK_LOG_WARNING:
        return "warning";
    case DAGD_TASK_LOG_NOTICE:
        return "notice";
    case DAGD_TASK_LOG_DEBUG:
        return "debug";
    case DAGD_TASK_LOG_INFO:
    default:
        return "info";
    }
}

static void log_v(enum dagd_task_log_level level, const char *fmt, va_list ap)
{
    char buf[8192];
    struct line l = {0};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
#pragma GCC diagnostic pop
    line_puts(&l, "{\"k\":\"log\",\"l\":\"");
    line_puts(&l, level_name(level));
    line_puts(&l, "\",\"m\":");
    line_put_json_string(&l, buf);
    line_puts(&l, "}");
    line_send(&l);
}

static void h_log(struct dagd_task_ctx *ctx, enum dagd_task_log_level level, const char *fmt,
                  va_list ap)
{
    log_v(level, fmt, ap);
}

static void log_f(enum dagd_task_log_level level, const char *fmt, ...) DAGD_TASK_PRINTF(2, 3);
static void log_f(enum dagd_task_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fmt, ap);
    va_end(ap);
}

static _Noreturn void child_finish(struct worker_ctx *ctx, int rc, const char *error);

static sqlite3 *h_warehouse(struct dagd_task_ctx *ctx)
{
    if (W(ctx)->warehouse || W(ctx)->warehouse_failed) {
        return W(ctx)->warehouse;
    }
    _cleanup_free_ char *path = NULL;
    if (W(ctx)->warehouse_path && *W(ctx)->warehouse_path) {
        if (dagd_warehouse_is_conninfo(W(ctx)->warehouse_path)) {
            /* never a SQLite file named after a connection string */
            log_f(DAGD_TASK_LOG_ERR,
                  "The warehouse is a PostgreSQL server and this task only knows SQLite "
                  "(it does not use warehouse_conninfo())");
            W(ctx)->warehouse_failed = true;
            return NULL;
        }
        path = dagd_xstrdup(W(ctx)->warehouse_path);
    } else {
        path = dagd_xasprintf("%s/warehouse.db", W(ctx)->state_dir ? W(ctx)->state_dir : ".");
    }
    if (W(ctx)->remote) {
        /* docs/slurm.md: SQLite's locks do not hold on the filesystems
         * clusters share, and a job may run beside a local writer. */
        send_event_str("noretry", "reason", "a SQLite warehouse cannot be written from Slurm");
        child_finish(W(ctx), -EPERM,
                     dagd_xasprintf("refused: step runs on Slurm and its warehouse '%s' is a "
                                    "SQLite file; pin the step local (executor: local) or use a "
                                    "server warehouse (warehouse: postgresql://...)",
                                    path));
    }
    sqlite3 *db = NULL;
    _cleanup_free_ char *err = NULL;
    if (dagd_warehouse_open(path, DAGD_WAREHOUSE_BUSY_TIMEOUT_MS, &db, &err) < 0) {
        log_f(DAGD_TASK_LOG_ERR, "Failed to open warehouse '%s': %s", path, err);
        W(ctx)->warehouse_failed = true;
        return NULL;
    }
    W(ctx)->warehouse = db;
    /* The executor checkpoints the WAL once this process is gone
     * (checkpointer.h); it needs the file, absolute: we run in the step's cwd. */
    if (path[0] == '/') {
        send_event_str("warehouse", "path", path);
    } else {
        char cwd[4096];
        _cleanup_free_ char *abs =
            dagd_xasprintf("%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : ".", path);
        send_event_str("warehouse", "path", abs);
    }
    return db;
}

static void h_progress(struct dagd_task_ctx *ctx, uint64_t done, uint64_t total)
{
    /* Forward at most 10 per second, plus the first and the last. */
    uint64_t now = dagd_now_mono_usec();
    bool last = total > 0 && done >= total;
    if (!last && W(ctx)->last_progress_usec && now - W(ctx)->last_progress_usec < 100000) {
        return;
    }
    if (done == W(ctx)->last_done && total == W(ctx)->last_total && W(ctx)->last_progress_usec) {
        return;
    }
    W(ctx)->last_progress_usec = now;
    W(ctx)->last_done = done;
    W(ctx)->last_total = total;
    char buf[128];
    int n =
        snprintf(buf, sizeof(buf),
                 "{\"k\":\"progress\",\"done\":%" PRIu64 ",\"total\":%" PRIu64 "}\n", done, total);
    (void)dagd_write_all(DAGD_WORKER_EVENTS_FD, buf, (size_t)n);
}

static void h_metrics(struct dagd_task_ctx *ctx, int64_t rows_in, int64_t rows_out)
{
    char buf[128];
    int n =
        snprintf(buf, sizeof(buf), "{\"k\":\"metrics\",\"in\":%" PRId64 ",\"out\":%" PRId64 "}\n",
                 rows_in, rows_out);
    (void)dagd_write_all(DAGD_WORKER_EVENTS_FD, buf, (size_t)n);
}

static bool h_canceled(struct dagd_task_ctx *ctx)
{
    return canceled_flag != 0;
}

static int declare(struct dagd_task_ctx *ctx, const char *kind, const char *path)
{
    if (!path || !*path) {
        return -EINVAL;
    }
    _cleanup_free_ char *abs = NULL;
    if (path[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof(cwd))) {
            return -errno;
        }
        abs = dagd_xasprintf("%s/%s", cwd, path);
    }
    send_event_str(kind, "path", abs ? abs : path);
    return 0;
}

static int h_declare_input(struct dagd_task_ctx *ctx, const char *path)
{
    return declare(ctx, "input", path);
}

static int h_declare_output(struct dagd_task_ctx *ctx, const char *path)
{
    return declare(ctx, "output", path);
}

static void h_no_memo(struct dagd_task_ctx *ctx, const char *reason)
{
    send_event_str("nomemo", "reason", reason && *reason ? reason : "degraded result");
}

static void h_no_retry(struct dagd_task_ctx *ctx, const char *reason)
{
    send_event_str("noretry", "reason", reason && *reason ? reason : "permanent failure");
}

/* Largest check sample forwarded (task.h); the events line limit is 64 KiB. */
#define CHECK_SAMPLE_MAX (16 * 1024)

static bool valid_check_word(const char *v, const char *const *list)
{
    for (; v && *list; list++) {
        if (streq(v, *list)) {
            return true;
        }
    }
    return false;
}

/* {"k":"check","name":...,"severity":...,"status":...,"violations":N,
 * "sample":[...] or null,"detail":... or null}; the sample is parsed and
 * re-printed, so the parent only ever receives a JSON array. */
static int h_check_result(struct dagd_task_ctx *ctx, const struct dagd_check_result *res)
{
    static const char *const severities[] = {"error", "warn", NULL};
    static const char *const statuses[] = {"passed", "failed", "warned", "error", NULL};

    if (!res ||
        res->struct_size < offsetof(struct dagd_check_result, detail) + sizeof(res->detail) ||
        !res->name || !*res->name || !valid_check_word(res->severity, severities) ||
        !valid_check_word(res->status, statuses)) {
        return -EINVAL;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "k", "check");
    cJSON_AddStringToObject(j, "name", res->name);
    cJSON_AddStringToObject(j, "severity", res->severity);
    cJSON_AddStringToObject(j, "status", res->status);
    cJSON_AddNumberToObject(j, "violations", (double)(res->violations > 0 ? res->violations : 0));
    cJSON *sample = res->sample && strlen(res->sample) <= CHECK_SAMPLE_MAX &&
                            dagd_utf8_valid(res->sample, strlen(res->sample), NULL)
                        ? cJSON_Parse(res->sample)
                        : NULL;
    if (sample && !cJSON_IsArray(sample)) {
        cJSON_Delete(sample);
        sample = NULL;
    }
    cJSON_AddItemToObject(j, "sample", sample ? sample : cJSON_CreateNull());
    if (res->detail && dagd_utf8_valid(res->detail, strlen(res->detail), NULL)) {
        cJSON_AddStringToObject(j, "detail", res->detail);
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) {
        return -ENOMEM;
    }
    struct line l = {0};
    line_puts(&l, text);
    free(text);
    line_send(&l);
    return 0;
}

static int h_fail(struct dagd_task_ctx *ctx, const char *key, const char *fmt, va_list ap)
{
    char buf[4096];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
#pragma GCC diagnostic pop
    free(W(ctx)->error);
    W(ctx)->error = dagd_xstrdup(buf);
    return -EINVAL;
}

static const struct dagd_host_mode run_mode = {
    .run_id = h_run_id,
    .step_name = h_step_name,
    .attempt = h_attempt,
    .param = h_param,
    .state_dir = h_state_dir,
    .warehouse = h_warehouse,
    .log = h_log,
    .progress = h_progress,
    .metrics = h_metrics,
    .canceled = h_canceled,
    .declare_input = h_declare_input,
    .declare_output = h_declare_output,
    .fail = h_fail,
    .no_memo = h_no_memo,
    .check_result = h_check_result,
    .no_retry = h_no_retry,
};

/* ---- plugins ------------------------------------------------------------------------------ */

struct plugin_cache {
    char *path;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t size;
    const struct dagd_task_plugin *desc;
    char *error;
};

static struct plugin_cache *plugins;
static size_t n_plugins;

/* Open `open_path` (the file, or /proc/self/fd/N for a fresh copy) with the
 * engine's one loader and its ABI checks; the descriptor, or NULL with
 * *ret_error. The handle stays open for the life of the process. */
static const struct dagd_task_plugin *plugin_open(const char *open_path, const char *path,
                                                  char **ret_error)
{
    const struct dagd_task_plugin *d = NULL;
    void *handle;

    if (dagd_plugin_open(open_path, path, &dagd_host_api, &handle, &d, ret_error) < 0) {
        return NULL;
    }
    return d;
}

/* In the template: the cached descriptor of `path` if the file is unchanged,
 * loading it on first use. Returns NULL with *ret_stale set when the file
 * changed since it was loaded (the child must load its own copy), or NULL
 * with *ret_error. */
static const struct dagd_task_plugin *plugin_get(const char *path, bool *ret_stale,
                                                 const char **ret_error)
{
    struct stat st;
    *ret_stale = false;
    *ret_error = NULL;
    if (stat(path, &st) < 0) {
        return NULL; /* the child reports it */
    }
    for (size_t i = 0; i < n_plugins; i++) {
        struct plugin_cache *c = &plugins[i];
        if (!streq(c->path, path)) {
            continue;
        }
        if (c->dev != st.st_dev || c->ino != st.st_ino || c->size != st.st_size ||
            c->mtime.tv_sec != st.st_mtim.tv_sec || c->mtime.tv_nsec != st.st_mtim.tv_nsec) {
            *ret_stale = true;
            return NULL;
        }
        *ret_error = c->error;
        return c->desc;
    }
    plugins = dagd_xreallocarray(plugins, n_plugins + 1, sizeof(*plugins));
    struct plugin_cache *c = &plugins[n_plugins++];
    *c = (struct plugin_cache){
        .path = dagd_xstrdup(path),
        .dev = st.st_dev,
        .ino = st.st_ino,
        .mtime = st.st_mtim,
        .size = st.st_size,
    };
    c->desc = plugin_open(path, path, &c->error);
    *ret_error = c->error;
    return c->desc;
}

/* ---- the child ---------------------------------------------------------------------------- */

static void on_sigterm(int sig)
{
    canceled_flag = 1;
}

/* When the plugin has a cancel callback, a control thread waits for SIGTERM
 * and calls it from normal (not signal) context, as the ABI promises. */
static void *cancel_thread(void *arg)
{
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    for (;;) {
        if (sigwait(&set, &sig) == 0 && sig == SIGTERM) {
            /* The flag only after the callback returned: a run loop that
             * sees canceled() and returns ends the process, which must not
             * cut the callback short. */
            cur_plugin->cancel(&cur_ctx->base);
            canceled_flag = 1;
            return NULL;
        }
    }
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static _Noreturn void child_finish(struct worker_ctx *ctx, int rc, const char *error)
{
    struct line l = {0};
    char buf[64];

    if (rc == 0 && error == NULL) {
        line_puts(&l, "{\"k\":\"result\",\"rc\":0}");
    } else {
        if (rc == 0) {
            rc = -EINVAL;
        }
        snprintf(buf, sizeof(buf), "{\"k\":\"result\",\"rc\":%d,\"error\":", rc);
        line_puts(&l, buf);
        line_put_json_string(&l, error ? error : strerror(rc < 0 ? -rc : rc));
        line_puts(&l, "}");
    }
    /* Flush what the plugin printed before the result, so output precedes it. */
    (void)fflush(NULL);
    line_send(&l);
    if (ctx && ctx->warehouse) {
        (void)sqlite3_close(ctx->warehouse);
    }
    /* _exit: atexit handlers and stdio state belong to the template. */
    _exit(rc == 0 ? 0 : 1);
}

/* fds of the template or pilot process a child must not keep (its
 * signalfd, the pilot's connection): closed first thing in the child. */
static int parent_fds[4] = {-1, -1, -1, -1};

void dagd__worker_close_in_child(int fd)
{
    for (size_t i = 0; i < ELEMENTSOF(parent_fds); i++) {
        if (parent_fds[i] < 0) {
            parent_fds[i] = fd;
            return;
        }
    }
    assert(!"too many fds to close in the child");
}

/* The attempt process, before anything of the job: its own process group,
 * its fds (1 and 2 the output pipes, 3 the events pipe, 0 /dev/null) and
 * signal dispositions. Exits 127 when the fds cannot be wired. */
static void child_setup_process(int ev_fd, int out_fd, int err_fd)
{
    /* Own process group, so a cancel or timeout reaches everything the step
     * started; die with the template. */
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);

    /* Wire fds: 1 and 2 to the output pipes, 3 to the events pipe. The
     * control socket (3 in the template) is replaced; events stays
     * close-on-exec so programs the step runs do not hold it. */
    if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0 ||
        dup3(ev_fd, DAGD_WORKER_EVENTS_FD, O_CLOEXEC) < 0) {
        _exit(127);
    }
    (void)close(out_fd);
    (void)close(err_fd);
    (void)close(ev_fd);
    for (size_t i = 0; i < ELEMENTSOF(parent_fds); i++) {
        if (parent_fds[i] >= 0 && parent_fds[i] > STDERR_FILENO &&
            parent_fds[i] != DAGD_WORKER_EVENTS_FD) {
            (void)close(parent_fds[i]);
        }
    }
    /* Line-buffered: what a plugin prints shows up (as stdout events) while
     * it runs, not in one burst at the end. */
    (void)setvbuf(stdout, NULL, _IOLBF, 0);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) {
        (void)dup2(devnull, STDIN_FILENO);
        (void)close(devnull);
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    /* A crashing plugin must die of its signal, so the step error names it
     * ("killed by signal SIGSEGV"), also in sanitizer builds whose runtime
     * would catch it and exit(1) instead. */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < ELEMENTSOF(fatal); i++) {
        signal(fatal[i], SIG_DFL);
    }
    struct sigaction sa = {.sa_handler = on_sigterm};
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGTERM, &sa, NULL);
    /* Everything unblocked except SIGTERM, which the template blocked
     * around fork(): a cancel that arrives while we set up stays pending
     * until the handler or the cancel thread below is ready for it. */
    sigset_t none;
    sigemptyset(&none);
    sigaddset(&none, SIGTERM);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The plugin to run: the template's copy, or a fresh one when the file
 * changed since the template loaded it; ends the attempt when it cannot be
 * loaded. */
static const struct dagd_task_plugin *child_load_plugin(struct worker_ctx *ctx,
                                                        const struct dagd_task_plugin *desc,
                                                        bool stale, const char *load_error,
                                                        const char *path)
{
    if (stale) {
        /* The file changed since the template loaded it: dlopen by the same
         * name would return the old copy, so open it by fd. */
        char *err = NULL;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            child_finish(ctx, -errno,
                         dagd_xasprintf("cannot open plugin '%s': %s", path, strerror(errno)));
        }
        char fdpath[64];
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        desc = plugin_open(fdpath, path, &err);
        if (!desc) {
            child_finish(ctx, -ENOEXEC, err);
        }
    } else if (!desc) {
        char *err = NULL;
        if (load_error) {
            child_finish(ctx, -ENOEXEC, load_error);
        }
        desc = path ? plugin_open(path, path, &err) : NULL;
        if (!desc) {
            child_finish(ctx, -ENOEXEC, err ? err : "no plugin path in job");
        }
    }
    return desc;
}

static _Noreturn void child_run(cJSON *job, const struct dagd_task_plugin *desc, bool stale,
                                const char *load_error, int ev_fd, int out_fd, int err_fd)
{
    struct worker_ctx ctx = {.base.mode = &run_mode, .job = job};

    child_setup_process(ev_fd, out_fd, err_fd);

    ctx.base.config =
        dagd_task_config_new_from_cjson(cJSON_DetachItemFromObjectCaseSensitive(job, "config"));
    ctx.params = cJSON_GetObjectItemCaseSensitive(job, "params");
    ctx.run_id = jstr(job, "run_id");
    ctx.step = jstr(job, "step");
    ctx.state_dir = jstr(job, "state_dir");
    ctx.warehouse_path = jstr(job, "warehouse");
    ctx.attempt = (unsigned)jnum(job, "attempt");
    ctx.remote = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job, "remote"));
    const char *cwd = jstr(job, "cwd");
    const char *path = jstr(job, "plugin");
    double mem = jnum(job, "memory");
    const char *cgroup = jstr(job, "cgroup");

    if (cwd && chdir(cwd) < 0) {
        char *m = dagd_xasprintf("cannot change to directory '%s': %s", cwd, strerror(errno));
        child_finish(&ctx, -errno, m);
    }
    if (cgroup) {
        /* The executor made a cgroup with memory.max for this attempt. */
        int k = dagd_memlimit_cgroup_enter(cgroup, 0);
        if (k < 0) {
            child_finish(&ctx, k,
                         dagd_xasprintf("cannot enter cgroup '%s': %s", cgroup, strerror(-k)));
        }
    }
    desc = child_load_plugin(&ctx, desc, stale, load_error, path);
    cur_plugin = desc;
    cur_ctx = &ctx;
    if (mem > 0) {
        /* No usable cgroup v2 (DESIGN 10): RLIMIT_AS, set after the plugin
         * is mapped so the budget is what the step may add. */
        int k = dagd_memlimit_apply_rlimit((uint64_t)mem);
        if (k < 0) {
            child_finish(&ctx, k, dagd_xasprintf("cannot set the memory limit: %s", strerror(-k)));
        }
        /* reliability: tell the executor when an allocation hits the limit */
        (void)dagd_memlimit_watch_allocations(DAGD_WORKER_EVENTS_FD);
    }
    pthread_t t;
    if (!DAGD_PLUGIN_HAS(desc, cancel) || !desc->cancel ||
        pthread_create(&t, NULL, cancel_thread, NULL) != 0) {
        /* No cancel thread (it inherits SIGTERM blocked and sigwaits for
         * it): the handler sets the flag. */
        sigset_t term;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        (void)sigprocmask(SIG_UNBLOCK, &term, NULL);
    }
    int rc = desc->run(&ctx.base);
    if (rc > 0) {
        rc = 0;
    }
    if (rc < 0 && !ctx.error && canceled_flag) {
        ctx.error = dagd_xstrdup("canceled");
    }
    child_finish(&ctx, rc, rc < 0 ? ctx.error : NULL);
}

/* ---- the template ------------------------------------------------------------------------- */

struct child {
    pid_t pid;
    uint64_t id;
};

static struct child *children;
static size_t n_children;

static void reply(const char *fmt, ...) _printf_(1, 2);
static void reply(const char *fmt, ...)
{
    char buf[DAGD_WORKER_MAX_REPLY];
    va_list ap;
    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
#pragma GCC diagnostic pop
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        n = (int)sizeof(buf) - 1;
    }
    /* Blocking send: the executor always reads replies promptly. */
    while (send(DAGD_WORKER_CTRL_FD, buf, (size_t)n, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

void dagd__worker_reap(dagd__worker_exit_fn fn, void *userdata)
{
    for (;;) {
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, WNOHANG, &ru);
        if (pid <= 0) {
            return;
        }
        for (size_t i = 0; i < n_children; i++) {
            if (children[i].pid != pid) {
                continue;
            }
            uint64_t id = children[i].id;
            children[i] = children[--n_children];
            fn(id, pid, status, &ru, userdata);
            break;
        }
    }
}

static void on_child_exit(uint64_t id, pid_t pid, int status, const struct rusage *ru,
                          void *userdata)
{
    reply("{\"id\":%" PRIu64 ",\"pid\":%d,\"status\":%d,\"utime_us\":%" PRId64
          ",\"stime_us\":%" PRId64 ",\"maxrss_kb\":%ld}",
          id, (int)pid, status, (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec,
          (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec, ru->ru_maxrss);
}

/* Receive one job with its three fds. Returns 1 on a job, 0 on EOF (the
 * executor is gone), -errno on error. */
static int recv_job(char *buf, size_t len, size_t *ret_len, int fds[3])
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 3)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {buf, len - 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;

    do {
        n = recvmsg(DAGD_WORKER_CTRL_FD, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    if (n == 0) {
        return 0;
    }
    fds[0] = fds[1] = fds[2] = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds, CMSG_DATA(c), sizeof(int) * (nfd < 3 ? nfd : 3));
            for (size_t i = 3; i < nfd; i++) {
                int extra;
                memcpy(&extra, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                (void)close(extra);
            }
        }
    }
    buf[n] = '\0';
    *ret_len = (size_t)n;
    return 1;
}

int dagd__worker_spawn(cJSON *job, uint64_t id, const int fds[3], pid_t *ret_pid,
                       uint64_t *ret_start)
{
    bool stale = false;
    const char *load_error = NULL;
    const struct dagd_task_plugin *desc = NULL;
    const char *path = jstr(job, "plugin");
    if (path) {
        desc = plugin_get(path, &stale, &load_error);
    }
    /* SIGTERM blocked across fork: the child unblocks it once it can act
     * on it (see child_run). */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    (void)sigprocmask(SIG_BLOCK, &term, &old);
    pid_t pid = fork();
    if (pid == 0) {
        child_run(job, desc, stale, load_error, fds[0], fds[1], fds[2]);
    }
    int fork_errno = errno;
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        return -fork_errno;
    }
    /* Also from the parent side, so the executor can signal the group as
     * soon as it knows the pid (whichever setpgid runs first wins). */
    (void)setpgid(pid, pid);
    children = dagd_xreallocarray(children, n_children + 1, sizeof(*children));
    children[n_children++] = (struct child){pid, id};
    /* The start time names the process group in state.db for the start-up
     * sweep (procsweep.h). Read here, where the child cannot have been
     * reaped yet, so the pid is still its own. */
    struct dagd_proc_stat st;
    *ret_start = dagd_proc_stat_read(pid, &st) >= 0 ? st.start_ticks : 0;
    *ret_pid = pid;
    return 0;
}

static void handle_job(char *buf, int fds[3])
{
    cJSON *job = cJSON_Parse(buf);
    uint64_t id = job ? (uint64_t)jnum(job, "id") : 0;
    pid_t pid;
    uint64_t start;

    if (!job || fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
        reply("{\"id\":%" PRIu64 ",\"error\":\"malformed job\"}", id);
        goto out;
    }
    int r = dagd__worker_spawn(job, id, fds, &pid, &start);
    if (r < 0) {
        reply("{\"id\":%" PRIu64 ",\"error\":\"fork: %s\"}", id, strerror(-r));
        goto out;
    }
    reply("{\"id\":%" PRIu64 ",\"pid\":%d,\"start\":%" PRIu64 "}", id, (int)pid, start);
out:
    cJSON_Delete(job);
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0) {
            (void)close(fds[i]);
        }
    }
}

/* Kill every direct child of ours, and the process group of each one that
 * leads its own. Returns how many were signalled. */
static unsigned kill_children(pid_t self)
{
    DIR *d = opendir("/proc");
    unsigned n = 0;
    if (!d) {
        return 0;
    }
    for (struct dirent *de; (de = readdir(d));) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        struct dagd_proc_stat st;
        if (*end || pid <= 0 || dagd_proc_stat_read((pid_t)pid, &st) < 0 || st.ppid != self) {
            continue;
        }
        if (st.pgrp == pid) {
            (void)kill((pid_t)-pid, SIGKILL);
        }
        (void)kill((pid_t)pid, SIGKILL);
        n++;
    }
    (void)closedir(d);
    return n;
}

/* The executor is gone (its socket closed, or PDEATHSIG): nothing a step
 * started may outlive it (docs/security.md, "Processes a step starts").
 * One kill reaches each step's process group; whatever left its group
 * became our child when its parent died (we are a subreaper), so we kill
 * our children and reap them until none is left. Never our own group: we
 * share it with dagd and whatever started dagd. Bounded: a process tree
 * that forks faster than we kill is given up after 5 s. */
void dagd__worker_kill_descendants(void)
{
    pid_t self = getpid();
    struct timespec t0, t;

    for (size_t i = 0; i < n_children; i++) {
        (void)kill(-children[i].pid, SIGKILL);
    }
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        }
        if (pid < 0 && errno == ECHILD) {
            return;
        }
        (void)kill_children(self);
        (void)clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= 5) {
            fprintf(stderr, "<4>dagd-worker: processes of steps still alive after 5 s\n");
            return;
        }
        (void)poll(NULL, 0, 10);
    }
}

static int template_main(void)
{
    sigset_t mask;
    _cleanup_free_ char *buf = dagd_xmalloc(DAGD_WORKER_MAX_JOB + 1);

    /* SIGINT is for the executor (dagd run's ^C); it cancels us properly. */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* The executor's death (SIGTERM here) or its closed socket ends us, and
     * kill_descendants() everything the steps started. PDEATHSIG follows
     * the thread that spawned us: the executor's loop thread, which lives
     * as long as the executor. */
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* Orphaned descendants of steps (children of a killed step, daemonized
     * helpers) become our children instead of init's. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    (void)sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    dagd__worker_close_in_child(sfd);
    if (sfd < 0) {
        fprintf(stderr, "<3>dagd-worker: signalfd: %s\n", strerror(errno));
        return 1;
    }

    for (;;) {
        struct pollfd p[2] = {{DAGD_WORKER_CTRL_FD, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "<3>dagd-worker: poll: %s\n", strerror(errno));
            return 1;
        }
        if (p[1].revents) {
            struct signalfd_siginfo si;
            bool term = false;
            while (read(sfd, &si, sizeof(si)) > 0) {
                term = term || si.ssi_signo == SIGTERM;
            }
            if (term) {
                break;
            }
            dagd__worker_reap(on_child_exit, NULL);
        }
        if (p[0].revents) {
            int fds[3];
            size_t len;
            int r = recv_job(buf, DAGD_WORKER_MAX_JOB + 1, &len, fds);
            if (r == 0 || (r < 0 && r != -EAGAIN)) {
                break; /* the executor is gone */
            }
            if (r > 0) {
                handle_job(buf, fds);
            }
        }
    }
    dagd__worker_kill_descendants();
    (void)close(sfd);
    return 0;
}

int main(int argc, char **argv)
{
    dagd_warehouse_process_init();
    if (argc == 2 && streq(argv[1], "--template")) {
        return template_main();
    }
    if (argc >= 2 && streq(argv[1], "--pilot")) {
        return dagd__pilot_main(argc - 1, argv + 1);
    }
    if (argc == 3 && (streq(argv[1], "--job") || streq(argv[1], "--job-list"))) {
        return dagd__worker_job_main(argv[2], streq(argv[1], "--job-list"));
    }
    fprintf(stderr, "usage: dagd-worker --template   (started by dagd; not for direct use)\n"
                    "       dagd-worker --job SPEC | --job-list LIST   (a Slurm job of dagd)\n"
                    "       dagd-worker --pilot --connect HOST:PORT --alloc ID --secret-file FILE "
                    "[--slots N]\n");
    return 2;
}
