/* See exec_slurm.h. The moving parts:
 *
 *   - launch() writes the attempt's job.json into its directory and queues
 *     it; a zero-delay timer (the next loop iteration, after the executor
 *     started every ready step) submits the queue: attempts with the same
 *     group key (task and sbatch options) as one job array, the others
 *     alone, each submission one `sbatch --parsable` child (uv_spawn);
 *   - a poll timer, running while attempts are out: it reads what the
 *     workers appended to their files (events, stdout, stderr) and starts
 *     one `squeue -j ID,ID,...` for every job at once; its answer decides
 *     which attempts ended (the worker's exit.json, or a terminal Slurm
 *     state, or a job Slurm forgot);
 *   - cancels are batched into one `scancel ID ...` per loop iteration.
 *
 * Why files and not a socket: a job may run on any node, start much later,
 * and outlive this daemon; the shared state directory is the one thing it
 * and a restarted daemon both see (adopt()).
 *
 * Lifetimes: the backend is freed when its timers and every command child
 * it started are closed; an attempt is freed when it finished. */
#include "exec_slurm.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "slurm_opts.h"
#include "util.h"

/* Polls a job that Slurm no longer lists may stay without a result before
 * it counts as lost; polls an exit record waits for Slurm's final state. */
#define UNKNOWN_POLLS 3
#define EXIT_WAIT_POLLS 3
/* Slurm's default MaxArraySize is 1001: indices 0..1000. */
#define MAX_ARRAY 1000
/* Captured output of a command, beyond which it is cut. */
#define CMD_OUTPUT_MAX (4u << 20)

enum phase { PH_QUEUED, PH_SUBMITTING, PH_SUBMITTED };

static const char *const stream_files[_DAGD_EXEC_STREAM_MAX] = {"events", "stdout", "stderr"};

struct satt {
    struct satt *next;
    uint64_t id;
    enum phase phase;
    char *dir;   /* the attempt directory */
    char *key;   /* group key: attempts with equal keys may share an array */
    char *name;  /* --job-name */
    char **args; /* sbatch options of its step */
    size_t n_args;
    char *job;  /* "123" or "123_4" once submitted */
    char *base; /* "123": what squeue -j and the array are named by */
    int fd[_DAGD_EXEC_STREAM_MAX];
    bool cancel_wanted, cancel_sent;
    char state[32]; /* Slurm's last word for it; "" unknown */
    unsigned unknown_polls, exit_polls, terminal_polls;
};

struct slurm;

typedef void (*cmd_done_fn)(struct slurm *b, int64_t status, const char *out, const char *err,
                            void *data);

struct cmd {
    struct slurm *b;
    uv_process_t proc;
    uv_pipe_t pipe[2];
    char *buf[2];
    size_t len[2];
    int64_t status;
    bool exited;
    unsigned eofs, n_open;
    cmd_done_fn done;
    void *data;
};

struct slurm {
    uv_loop_t *loop;
    struct dagd_exec_host host;
    struct dagd_slurm_config cfg; /* strings owned */
    char *state_dir, *worker;
    struct satt *atts;
    uv_timer_t flush_timer, poll_timer;
    bool flush_armed, polling, squeue_running, squeue_warned;
    char **cancels; /* job ids for the next scancel */
    size_t n_cancels;
    bool freeing;
    unsigned n_open;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static void strv_push(char ***v, size_t *n, char *s)
{
    *v = dagd_xreallocarray(*v, *n + 2, sizeof(char *));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* mkdir -p, 0755 (the nodes' jobs may run as another uid in the future). */
static int mkdir_p(const char *path)
{
    _cleanup_free_ char *p = dagd_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                return -errno;
            }
            *s = '/';
        }
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return -errno;
    }
    return dagd_write_all(fd, text, strlen(text));
}

char *dagd_exec_slurm_attempt_dir(const char *state_dir, const char *run_id, const char *step,
                                  unsigned attempt)
{
    return dagd_xasprintf("%s/slurm/%s/%s/%u", state_dir, run_id, step, attempt);
}

/* The file of an attempt's handle, in its directory dir. */
static char *handle_path(const char *dir)
{
    return dagd_xasprintf("%s/handle", dir);
}

char *dagd_exec_slurm_attempt_handle(const char *state_dir, const char *run_id, const char *step,
                                     unsigned attempt)
{
    _cleanup_free_ char *dir = dagd_exec_slurm_attempt_dir(state_dir, run_id, step, attempt);
    _cleanup_free_ char *path = handle_path(dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char buf[256];

    if (!f || !fgets(buf, sizeof(buf), f)) {
        return NULL;
    }
    buf[strcspn(buf, "\n")] = '\0';
    return dagd_xstrdup(buf);
}

void dagd_slurm_config_done(struct dagd_slurm_config *c)
{
    dagd_slurm_opts_done(&c->defaults);
    free(c->sbatch);
    free(c->squeue);
    free(c->scancel);
    free(c->pilot.listen);
    free(c->pilot.advertise);
    *c = (struct dagd_slurm_config){0};
}

/* ---- commands (sbatch, squeue, scancel) ------------------------------------------------------ */

static void maybe_free(struct slurm *b);

static void on_cmd_closed(uv_handle_t *h)
{
    struct cmd *c = h->data;
    if (--c->n_open > 0) {
        return;
    }
    struct slurm *b = c->b;
    if (c->done) {
        /* uv_spawn failed: report it now, from the loop */
        c->done(b, c->status, "", c->buf[1] ? c->buf[1] : "", c->data);
    }
    free(c->buf[0]);
    free(c->buf[1]);
    free(c);
    b->n_open--;
    maybe_free(b);
}

static void cmd_maybe_done(struct cmd *c)
{
    if (!c->exited || c->eofs < 2) {
        return;
    }
    if (c->done) {
        c->done(c->b, c->status, c->buf[0] ? c->buf[0] : "", c->buf[1] ? c->buf[1] : "", c->data);
        c->done = NULL;
    }
    uv_close((uv_handle_t *)&c->proc, on_cmd_closed);
}

static void on_cmd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[65536];
    (void)h;
    (void)suggested;
    /* Reads are copied out at once in on_cmd_read: one static chunk is enough. */
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void on_cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct cmd *c = s->data;
    int which = (uv_pipe_t *)s == &c->pipe[0] ? 0 : 1;
    if (n > 0) {
        if (c->len[which] + (size_t)n <= CMD_OUTPUT_MAX) {
            c->buf[which] = dagd_xrealloc(c->buf[which], c->len[which] + (size_t)n + 1);
            memcpy(c->buf[which] + c->len[which], buf->base, (size_t)n);
            c->len[which] += (size_t)n;
            c->buf[which][c->len[which]] = '\0';
        }
        return;
    }
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_cmd_closed);
        c->eofs++;
        cmd_maybe_done(c);
    }
}

static void on_cmd_exit(uv_process_t *p, int64_t status, int term_signal)
{
    struct cmd *c = p->data;
    c->exited = true;
    c->status = term_signal ? 128 + term_signal : status;
    cmd_maybe_done(c);
}

/* Run argv (argv[0] looked up in PATH) with stdout and stderr captured;
 * done() gets the exit status (128+N for a signal, -errno when it could not
 * start) and both outputs. done() is always called, later, from the loop. */
static void cmd_run(struct slurm *b, char *const *argv, cmd_done_fn done, void *data)
{
    struct cmd *c = dagd_xcalloc(1, sizeof(*c));
    c->b = b;
    c->done = done;
    c->data = data;
    c->proc.data = c;
    for (int i = 0; i < 2; i++) {
        (void)uv_pipe_init(b->loop, &c->pipe[i], 0);
        c->pipe[i].data = c;
        c->n_open++;
    }
    b->n_open++;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->pipe[0]},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->pipe[1]},
    };
    uv_process_options_t opts = {
        .exit_cb = on_cmd_exit,
        .file = argv[0],
        .args = (char **)argv,
        .stdio = stdio,
        .stdio_count = 3,
    };
    c->n_open++;
    int r = uv_spawn(b->loop, &c->proc, &opts);
    if (r < 0) {
        /* done() is called when the last handle closed (on_cmd_closed):
         * from the loop, never from inside our caller. */
        c->buf[1] = dagd_xasprintf("cannot run %s: %s", argv[0], uv_strerror(r));
        c->status = r;
        for (int i = 0; i < 2; i++) {
            uv_close((uv_handle_t *)&c->pipe[i], on_cmd_closed);
        }
        uv_close((uv_handle_t *)&c->proc, on_cmd_closed);
        return;
    }
    for (int i = 0; i < 2; i++) {
        (void)uv_read_start((uv_stream_t *)&c->pipe[i], on_cmd_alloc, on_cmd_read);
    }
}

/* The first line of a command's stderr (or stdout), for an error message. */
static char *first_line(const char *err, const char *out)
{
    const char *s = err && *err ? err : out ? out : "";
    size_t n = strcspn(s, "\n");
    return n ? dagd_xstrndup(s, n) : dagd_xstrdup("(no output)");
}

/* ---- attempts -------------------------------------------------------------------------------- */

static struct satt *find(struct slurm *b, uint64_t id)
{
    for (struct satt *a = b->atts; a; a = a->next) {
        if (a->id == id) {
            return a;
        }
    }
    return NULL;
}

static void att_free(struct satt *a)
{
    for (int i = 0; i < _DAGD_EXEC_STREAM_MAX; i++) {
        if (a->fd[i] >= 0) {
            (void)close(a->fd[i]);
        }
    }
    free(a->dir);
    free(a->key);
    free(a->name);
    strv_free(a->args, a->n_args);
    free(a->job);
    free(a->base);
    free(a);
}

static void att_unlink(struct slurm *b, struct satt *a)
{
    for (struct satt **pp = &b->atts; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            return;
        }
    }
}

static struct satt *att_new(struct slurm *b, const struct dagd_exec_job *job)
{
    struct satt *a = dagd_xcalloc(1, sizeof(*a));
    a->id = job->id;
    a->dir = dagd_exec_slurm_attempt_dir(b->state_dir, job->run_id, job->step, job->attempt);
    for (int i = 0; i < _DAGD_EXEC_STREAM_MAX; i++) {
        a->fd[i] = -1;
    }
    a->next = b->atts;
    b->atts = a;
    return a;
}

/* Hand what the worker appended to its files to the executor. */
static void att_read(struct slurm *b, struct satt *a)
{
    char buf[65536];
    for (int i = 0; i < _DAGD_EXEC_STREAM_MAX; i++) {
        if (a->fd[i] < 0) {
            _cleanup_free_ char *p = dagd_xasprintf("%s/%s", a->dir, stream_files[i]);
            a->fd[i] = open(p, O_RDONLY | O_CLOEXEC);
            if (a->fd[i] < 0) {
                continue;
            }
        }
        for (;;) {
            ssize_t n = read(a->fd[i], buf, sizeof(buf));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            b->host.output(b->host.host, a->id, (enum dagd_exec_stream)i, buf, (size_t)n);
        }
    }
}

/* The worker's exit record (worker_job.c): 1 and *end filled, 0 if none yet. */
static int att_read_exit(const struct satt *a, struct dagd_exec_end *end)
{
    _cleanup_free_ char *p = dagd_xasprintf("%s/exit.json", a->dir);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    char buf[4096];
    if (fd < 0) {
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    if (!j) {
        return 0;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "utime_us");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "stime_us");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "maxrss_kb");
    end->status = cJSON_IsNumber(st) ? (int)st->valuedouble : -1;
    end->cpu_usec = (int64_t)((cJSON_IsNumber(u) ? u->valuedouble : 0) +
                              (cJSON_IsNumber(s) ? s->valuedouble : 0));
    end->maxrss_kb = cJSON_IsNumber(m) ? (int64_t)m->valuedouble : 0;
    cJSON_Delete(j);
    return 1;
}

/* Report the end and forget the attempt. host->finished may call back into
 * us (launch, cancel): the attempt is unlinked first. */
static void att_finish(struct slurm *b, struct satt *a, struct dagd_exec_end *end)
{
    att_read(b, a);
    att_unlink(b, a);
    uint64_t id = a->id;
    att_free(a);
    b->host.finished(b->host.host, id, end);
}

static bool state_terminal(const char *s)
{
    static const char *const active[] = {"PENDING",   "RUNNING",  "CONFIGURING",  "COMPLETING",
                                         "SUSPENDED", "REQUEUED", "RESIZING",     "SIGNALING",
                                         "STAGE_OUT", "STOPPED",  "REQUEUE_HOLD", "REQUEUE_FED",
                                         NULL};
    if (!s[0]) {
        return false;
    }
    for (size_t i = 0; active[i]; i++) {
        if (streq(s, active[i])) {
            return false;
        }
    }
    return true;
}

/* Why Slurm ended the job, when that explains the attempt better than the
 * worker's status; NULL when the worker's own result says it all. */
static char *state_reason(const struct satt *a, bool have_exit)
{
    const char *s = a->state;
    if (streq(s, "CANCELLED")) {
        return a->cancel_sent
                   ? NULL
                   : dagd_xasprintf("Slurm job %s was canceled outside dagd (CANCELLED)", a->job);
    }
    if (streq(s, "TIMEOUT")) {
        return dagd_xasprintf("Slurm job %s reached its time limit (TIMEOUT)", a->job);
    }
    if (streq(s, "OUT_OF_MEMORY")) {
        return dagd_xasprintf("out of memory (Slurm job %s: OUT_OF_MEMORY)", a->job);
    }
    if (streq(s, "NODE_FAIL")) {
        return dagd_xasprintf("the node of Slurm job %s failed (NODE_FAIL)", a->job);
    }
    if (streq(s, "COMPLETED") || streq(s, "FAILED")) {
        return have_exit ? NULL
                         : dagd_xasprintf("Slurm job %s ended %s without a result from the "
                                          "worker (see %s/slurm.out)",
                                          a->job, s, a->dir);
    }
    return dagd_xasprintf("Slurm job %s ended %s", a->job, s);
}

/* After a squeue answer (or without one: squeue failed): has it ended? */
static void att_decide(struct slurm *b, struct satt *a, bool know_state)
{
    struct dagd_exec_end end = {.status = -1};
    bool have_exit = att_read_exit(a, &end) > 0;
    bool terminal = state_terminal(a->state);
    bool unknown = know_state && !a->state[0];

    a->unknown_polls = unknown ? a->unknown_polls + 1 : 0;
    if (have_exit) {
        bool ok = end.status >= 0 && WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0;
        /* A failure waits a little for Slurm's word: TIMEOUT or a cancel
         * explain a SIGTERM better than "killed by signal SIGTERM". */
        if (!ok && !terminal && a->unknown_polls < 2 && ++a->exit_polls < EXIT_WAIT_POLLS) {
            return;
        }
        _cleanup_free_ char *why = ok ? NULL : state_reason(a, true);
        end.error = why;
        att_finish(b, a, &end);
        return;
    }
    if (terminal) {
        /* The exit record is written before the job ends; one more poll for
         * a shared filesystem that shows it late. */
        if (++a->terminal_polls < 2) {
            return;
        }
        _cleanup_free_ char *why = state_reason(a, false);
        end.error = why;
        att_finish(b, a, &end);
        return;
    }
    if (a->unknown_polls >= UNKNOWN_POLLS) {
        _cleanup_free_ char *why =
            dagd_xasprintf("Slurm job %s is no longer known to Slurm and left no result", a->job);
        end.error = why;
        att_finish(b, a, &end);
    }
}

/* ---- polling ------------------------------------------------------------------------------- */

static void poll_update(struct slurm *b);

/* "123|RUNNING" lines; a pending array shows as "123_[0-3]|PENDING". */
static void on_squeue_done(struct slurm *b, int64_t status, const char *out, const char *err,
                           void *data)
{
    (void)data;
    b->squeue_running = false;
    if (b->freeing) {
        return;
    }
    bool know = status == 0;
    if (!know && !b->squeue_warned) {
        _cleanup_free_ char *l = first_line(err, out);
        dagd_log_warning("squeue failed (status %" PRId64 "): %s; judging Slurm jobs by their "
                         "exit records only until it works again",
                         status, l);
        b->squeue_warned = true;
    } else if (know) {
        b->squeue_warned = false;
    }
    size_t n = 0;
    for (struct satt *a = b->atts; a; a = a->next) {
        if (a->phase == PH_SUBMITTED) {
            a->state[0] = '\0';
            n++;
        }
    }
    for (const char *line = out; know && *line;) {
        size_t len = strcspn(line, "\n");
        char id[64], st[32];
        const char *bar = memchr(line, '|', len);
        if (bar && (size_t)(bar - line) < sizeof(id) &&
            len - (size_t)(bar - line) - 1 < sizeof(st)) {
            memcpy(id, line, (size_t)(bar - line));
            id[bar - line] = '\0';
            size_t sl = len - (size_t)(bar - line) - 1;
            memcpy(st, bar + 1, sl);
            st[sl] = '\0';
            char *brk = strstr(id, "_[");
            for (struct satt *a = b->atts; a; a = a->next) {
                if (a->phase != PH_SUBMITTED) {
                    continue;
                }
                bool match = brk ? a->base && strncmp(id, a->base, (size_t)(brk - id)) == 0 &&
                                       a->base[brk - id] == '\0' && !a->state[0]
                                 : streq(a->job, id);
                if (match) {
                    snprintf(a->state, sizeof(a->state), "%s", st);
                }
            }
        }
        line += len + (line[len] == '\n');
    }
    /* att_decide may finish attempts, and the executor may launch or
     * cancel others from that callback: walk a snapshot by id. */
    uint64_t *ids = dagd_xcalloc(n ? n : 1, sizeof(uint64_t));
    size_t k = 0;
    for (struct satt *a = b->atts; a && k < n; a = a->next) {
        if (a->phase == PH_SUBMITTED) {
            ids[k++] = a->id;
        }
    }
    for (size_t i = 0; i < k; i++) {
        struct satt *a = find(b, ids[i]);
        if (a && a->phase == PH_SUBMITTED) {
            att_decide(b, a, know);
        }
    }
    free(ids);
    poll_update(b);
}

static void on_poll(uv_timer_t *t)
{
    struct slurm *b = t->data;
    char **argv = NULL;
    size_t n = 0;
    _cleanup_free_ char *list = NULL;
    size_t ll = 0;

    for (struct satt *a = b->atts; a; a = a->next) {
        if (a->phase != PH_SUBMITTED) {
            continue;
        }
        att_read(b, a);
        /* One id per array, not per task: squeue lists its tasks. */
        if (list && strstr(list, a->base)) {
            bool dup = false;
            for (const char *p = list; (p = strstr(p, a->base)); p++) {
                size_t bl = strlen(a->base);
                if ((p == list || p[-1] == ',') && (p[bl] == ',' || p[bl] == '\0')) {
                    dup = true;
                    break;
                }
            }
            if (dup) {
                continue;
            }
        }
        size_t bl = strlen(a->base);
        list = dagd_xrealloc(list, ll + bl + 2);
        if (ll) {
            list[ll++] = ',';
        }
        memcpy(list + ll, a->base, bl + 1);
        ll += bl;
    }
    if (!list || b->squeue_running) {
        return;
    }
    strv_push(&argv, &n, dagd_xstrdup(b->cfg.squeue ? b->cfg.squeue : "squeue"));
    strv_push(&argv, &n, dagd_xstrdup("-h"));
    strv_push(&argv, &n, dagd_xstrdup("-a"));
    strv_push(&argv, &n, dagd_xstrdup("-t"));
    strv_push(&argv, &n, dagd_xstrdup("all"));
    strv_push(&argv, &n, dagd_xstrdup("-o"));
    strv_push(&argv, &n, dagd_xstrdup("%i|%T"));
    strv_push(&argv, &n, dagd_xstrdup("-j"));
    strv_push(&argv, &n, TAKE_PTR(list));
    b->squeue_running = true;
    cmd_run(b, argv, on_squeue_done, NULL);
    strv_free(argv, n);
}

/* The poll timer runs (and keeps the loop alive) while jobs are out. */
static void poll_update(struct slurm *b)
{
    bool want = false;
    for (struct satt *a = b->atts; a && !want; a = a->next) {
        want = a->phase == PH_SUBMITTED;
    }
    if (want && !b->polling && !b->freeing) {
        uint64_t ms = (b->cfg.poll_usec ? b->cfg.poll_usec : 1000000u) / 1000;
        (void)uv_timer_start(&b->poll_timer, on_poll, ms, ms ? ms : 1);
        b->polling = true;
    } else if (!want && b->polling) {
        (void)uv_timer_stop(&b->poll_timer);
        b->polling = false;
    }
}

/* ---- submission ---------------------------------------------------------------------------- */

struct submission {
    size_t n;
    uint64_t ids[]; /* by array index */
};

static void on_flush(uv_timer_t *t);

/* Submit and cancel in the next loop iteration: the executor starts every
 * ready step in one go, so a fan-out is all queued by then. */
static void flush_arm(struct slurm *b)
{
    if (!b->flush_armed && !b->freeing) {
        b->flush_armed = true;
        (void)uv_timer_start(&b->flush_timer, on_flush, 0, 0);
    }
}

static void queue_cancel(struct slurm *b, struct satt *a)
{
    a->cancel_sent = true;
    strv_push(&b->cancels, &b->n_cancels, dagd_xstrdup(a->job));
    flush_arm(b);
}

static void on_sbatch_done(struct slurm *b, int64_t status, const char *out, const char *err,
                           void *data)
{
    struct submission *sub = data;
    char *end = NULL;
    unsigned long long jid = strtoull(out, &end, 10);
    bool ok = status == 0 && end != out && (*end == '\n' || *end == ';' || *end == '\0');
    _cleanup_free_ char *why = NULL;

    if (!ok) {
        _cleanup_free_ char *l = first_line(err, out);
        why = dagd_xasprintf("sbatch failed: %s", l);
        if (!b->freeing) {
            dagd_log_warning("%s", why);
        }
    }
    for (size_t i = 0; i < sub->n; i++) {
        struct satt *a = find(b, sub->ids[i]);
        if (!a || b->freeing) {
            continue;
        }
        if (!ok) {
            struct dagd_exec_end e = {.status = -1, .error = why};
            att_finish(b, a, &e);
            continue;
        }
        a->base = dagd_xasprintf("%llu", jid);
        a->job = sub->n > 1 ? dagd_xasprintf("%llu_%zu", jid, i) : dagd_xstrdup(a->base);
        a->phase = PH_SUBMITTED;
        _cleanup_free_ char *handle = dagd_xasprintf("slurm:%s", a->job);
        _cleanup_free_ char *hpath = handle_path(a->dir);
        /* What a restarted daemon adopts the attempt by (executor resume). */
        int k = write_file(hpath, handle, 0644);
        if (k < 0) {
            dagd_log_errno(LOG_WARNING, k,
                           "Failed to write '%s': %m; a restart will not find "
                           "Slurm job %s, ignoring",
                           hpath, a->job);
        }
        b->host.started(b->host.host, a->id, handle);
        a = find(b, sub->ids[i]); /* started() may have canceled it */
        if (a && a->cancel_wanted && !a->cancel_sent) {
            queue_cancel(b, a);
        }
    }
    free(sub);
    if (!b->freeing) {
        poll_update(b);
    }
}

/* One sbatch for atts[0..n): a job, or a job array when n > 1. */
static void submit(struct slurm *b, struct satt **atts, size_t n)
{
    struct satt *a0 = atts[0];
    char **argv = NULL;
    size_t argc = 0;
    _cleanup_free_ char *script = NULL, *text = NULL;
    _cleanup_free_ char *worker_q = dagd_sh_quote(b->worker);
    struct submission *sub = dagd_xcalloc(1, sizeof(*sub) + n * sizeof(uint64_t));
    int k;

    sub->n = n;
    for (size_t i = 0; i < n; i++) {
        sub->ids[i] = atts[i]->id;
        atts[i]->phase = PH_SUBMITTING;
    }
    if (n == 1) {
        _cleanup_free_ char *spec = dagd_xasprintf("%s/job.json", a0->dir);
        _cleanup_free_ char *spec_q = dagd_sh_quote(spec);
        script = dagd_xasprintf("%s/job.sh", a0->dir);
        text = dagd_xasprintf("#!/bin/sh\n# dagd: one step attempt (docs/slurm.md)\n"
                              "exec %s --job %s\n",
                              worker_q, spec_q);
    } else {
        /* The array's list names each task's job.json, by index. */
        _cleanup_free_ char *list = dagd_xasprintf("%s/array.list", a0->dir);
        _cleanup_free_ char *list_q = dagd_sh_quote(list);
        size_t tl = 0;
        _cleanup_free_ char *lines = NULL;
        for (size_t i = 0; i < n; i++) {
            _cleanup_free_ char *l = dagd_xasprintf("%s/job.json\n", atts[i]->dir);
            size_t ln = strlen(l);
            lines = dagd_xrealloc(lines, tl + ln + 1);
            memcpy(lines + tl, l, ln + 1);
            tl += ln;
        }
        k = write_file(list, lines, 0644);
        if (k < 0) {
            goto fail;
        }
        script = dagd_xasprintf("%s/array.sh", a0->dir);
        text = dagd_xasprintf("#!/bin/sh\n# dagd: %zu step attempts as one array "
                              "(docs/slurm.md)\nexec %s --job-list %s\n",
                              n, worker_q, list_q);
    }
    k = write_file(script, text, 0755);
    if (k < 0) {
        goto fail;
    }
    strv_push(&argv, &argc, dagd_xstrdup(b->cfg.sbatch ? b->cfg.sbatch : "sbatch"));
    strv_push(&argv, &argc, dagd_xstrdup("--parsable"));
    /* Our retries decide about another attempt, not Slurm's requeue. */
    strv_push(&argv, &argc, dagd_xstrdup("--no-requeue"));
    strv_push(&argv, &argc, dagd_xasprintf("--job-name=%s", a0->name));
    strv_push(&argv, &argc, dagd_xasprintf("--chdir=%s", a0->dir));
    if (n > 1) {
        strv_push(&argv, &argc, dagd_xasprintf("--array=0-%zu", n - 1));
        strv_push(&argv, &argc, dagd_xasprintf("--output=%s/slurm-%%a.out", a0->dir));
    } else {
        strv_push(&argv, &argc, dagd_xasprintf("--output=%s/slurm.out", a0->dir));
    }
    for (size_t i = 0; i < a0->n_args; i++) {
        strv_push(&argv, &argc, dagd_xstrdup(a0->args[i]));
    }
    strv_push(&argv, &argc, TAKE_PTR(script));
    cmd_run(b, argv, on_sbatch_done, sub);
    strv_free(argv, argc);
    return;

fail:;
    /* Reported like a failed sbatch, from the loop (cmd_run's path). */
    _cleanup_free_ char *m =
        dagd_xasprintf("cannot write the job script in '%s': %s", a0->dir, strerror(-k));
    on_sbatch_done(b, -1, "", m, sub);
}

/* One scancel for every cancel asked since the last. */
static void send_cancels(struct slurm *b)
{
    if (b->n_cancels == 0) {
        return;
    }
    char **argv = NULL;
    size_t n = 0;
    strv_push(&argv, &n, dagd_xstrdup(b->cfg.scancel ? b->cfg.scancel : "scancel"));
    for (size_t i = 0; i < b->n_cancels; i++) {
        strv_push(&argv, &n, b->cancels[i]);
    }
    free(b->cancels);
    b->cancels = NULL;
    b->n_cancels = 0;
    cmd_run(b, argv, NULL, NULL);
    strv_free(argv, n);
}

static void on_flush(uv_timer_t *t)
{
    struct slurm *b = t->data;
    b->flush_armed = false;

    /* Canceled before they were submitted: end now, nothing ran. */
    for (struct satt *a = b->atts, *next; a; a = next) {
        next = a->next;
        if (a->phase == PH_QUEUED && a->cancel_wanted) {
            struct dagd_exec_end e = {.status = -1, .error = "canceled before it was submitted"};
            att_finish(b, a, &e);
            next = b->atts; /* the list may have changed under us */
        }
    }
    send_cancels(b);
    /* Group the queue by key, oldest first, at most MAX_ARRAY per array. */
    size_t nq = 0;
    for (struct satt *a = b->atts; a; a = a->next) {
        nq += a->phase == PH_QUEUED;
    }
    if (nq == 0) {
        return;
    }
    struct satt **q = dagd_xcalloc(nq, sizeof(*q));
    size_t k = nq;
    for (struct satt *a = b->atts; a; a = a->next) {
        if (a->phase == PH_QUEUED) {
            q[--k] = a; /* the list is newest first */
        }
    }
    /* Every group is formed before any is submitted: a submission that
     * fails at once finishes (frees) its attempts. */
    struct satt **order = dagd_xcalloc(nq, sizeof(*order));
    size_t *starts = dagd_xcalloc(nq + 1, sizeof(size_t));
    size_t no = 0, ng = 0;
    for (size_t i = 0; i < nq; i++) {
        if (q[i]->phase != PH_QUEUED) {
            continue;
        }
        starts[ng++] = no;
        size_t g = 0;
        for (size_t j = i; j < nq && g < MAX_ARRAY; j++) {
            if (q[j]->phase == PH_QUEUED && streq(q[j]->key, q[i]->key) &&
                (g == 0 || !b->cfg.no_arrays)) {
                order[no++] = q[j];
                q[j]->phase = PH_SUBMITTING;
                g++;
            }
        }
    }
    starts[ng] = no;
    for (size_t g = 0; g < ng; g++) {
        submit(b, order + starts[g], starts[g + 1] - starts[g]);
    }
    free(starts);
    free(order);
    free(q);
}

/* ---- the backend ops ----------------------------------------------------------------------- */

static int slurm_launch(void *impl, const struct dagd_exec_job *job)
{
    struct slurm *b = impl;
    const struct dagd_step *def = job->def;
    struct satt *a;
    int k;

    a = att_new(b, job);
    k = mkdir_p(a->dir);
    if (k >= 0) {
        _cleanup_free_ char *spec = dagd_xasprintf("%s/job.json", a->dir);
        k = write_file(spec, job->job_json, 0644);
    }
    if (k < 0) {
        dagd_log_errno(LOG_ERR, k, "Failed to write the Slurm job of step '%s' in '%s': %m",
                       job->step, a->dir);
        att_unlink(b, a);
        att_free(a);
        return k;
    }
    /* Step options over the daemon's cluster defaults. */
    struct dagd_slurm_opts o = {0};
    dagd_slurm_opts_fill(&o, &def->slurm);
    dagd_slurm_opts_fill(&o, &b->cfg.defaults);
    dagd_slurm_opts_sbatch_args(&o, def->memory_bytes, &a->args, &a->n_args);
    dagd_slurm_opts_done(&o);
    _cleanup_free_ char *joined = dagd_strv_join((const char *const *)a->args, a->n_args, "\x1f");
    a->key = dagd_xasprintf("%s\x1e%s\x1e%s", job->pipeline, job->task, joined);
    a->name = dagd_xasprintf("dagd:%s:%s", job->pipeline, job->task);
    a->phase = PH_QUEUED;
    flush_arm(b);
    return 0;
}

static void slurm_cancel(void *impl, uint64_t id)
{
    struct slurm *b = impl;
    struct satt *a = find(b, id);
    if (!a || a->cancel_wanted) {
        return;
    }
    a->cancel_wanted = true;
    if (a->phase == PH_SUBMITTED) {
        queue_cancel(b, a);
    } else if (a->phase == PH_QUEUED) {
        flush_arm(b);
    }
    /* PH_SUBMITTING: canceled as soon as sbatch names the job. */
}

static int slurm_adopt(void *impl, const struct dagd_exec_job *job)
{
    struct slurm *b = impl;
    if (!job->handle || strncmp(job->handle, "slurm:", 6) != 0 || !job->handle[6]) {
        return -EINVAL;
    }
    struct satt *a = att_new(b, job);
    a->job = dagd_xstrdup(job->handle + 6);
    a->base = dagd_xstrndup(a->job, strcspn(a->job, "_"));
    a->key = dagd_xstrdup("");
    a->name = dagd_xstrdup("");
    a->phase = PH_SUBMITTED;
    poll_update(b);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct slurm *b = h->data;
    b->n_open--;
    maybe_free(b);
}

static void maybe_free(struct slurm *b)
{
    if (!b->freeing || b->n_open > 0) {
        return;
    }
    dagd_slurm_config_done(&b->cfg);
    free(b->state_dir);
    free(b->worker);
    free(b);
}

static void send_cancels(struct slurm *b);

static void slurm_free(void *impl)
{
    struct slurm *b = impl;
    send_cancels(b); /* what the executor canceled last still goes out */
    b->freeing = true;
    while (b->atts) {
        struct satt *a = b->atts;
        b->atts = a->next;
        att_free(a);
    }
    strv_free(b->cancels, b->n_cancels);
    b->cancels = NULL;
    b->n_cancels = 0;
    uv_close((uv_handle_t *)&b->flush_timer, on_handle_closed);
    uv_close((uv_handle_t *)&b->poll_timer, on_handle_closed);
}

static const struct dagd_exec_backend_ops slurm_ops = {
    .name = "slurm",
    .launch = slurm_launch,
    .cancel = slurm_cancel,
    .adopt = slurm_adopt,
    .free = slurm_free,
};

static void copy_opts(struct dagd_slurm_opts *dst, const struct dagd_slurm_opts *src)
{
    *dst = (struct dagd_slurm_opts){0};
    dagd_slurm_opts_fill(dst, src);
}

int dagd_exec_slurm_new(uv_loop_t *loop, const struct dagd_slurm_config *cfg, const char *state_dir,
                        const char *worker, const struct dagd_exec_host *host,
                        struct dagd_exec_backend **ret)
{
    struct slurm *b = dagd_xcalloc(1, sizeof(*b));
    struct dagd_exec_backend *be = dagd_xcalloc(1, sizeof(*be));

    b->loop = loop;
    b->host = *host;
    if (cfg) {
        copy_opts(&b->cfg.defaults, &cfg->defaults);
        b->cfg.sbatch = dagd_xstrdup(cfg->sbatch);
        b->cfg.squeue = dagd_xstrdup(cfg->squeue);
        b->cfg.scancel = dagd_xstrdup(cfg->scancel);
        b->cfg.poll_usec = cfg->poll_usec;
        b->cfg.max_jobs = cfg->max_jobs;
        b->cfg.no_arrays = cfg->no_arrays;
    }
    b->state_dir = dagd_xstrdup(state_dir);
    b->worker = dagd_xstrdup(worker);
    (void)uv_timer_init(loop, &b->flush_timer);
    (void)uv_timer_init(loop, &b->poll_timer);
    b->flush_timer.data = b->poll_timer.data = b;
    b->n_open = 2;
    be->ops = &slurm_ops;
    be->impl = b;
    *ret = be;
    return 0;
}
