/* See executor.h. The moving parts:
 *
 *   - one dagd-worker template process per executor (worker_proto.h), started
 *     lazily with uv_spawn and restarted if it dies; each step attempt is a
 *     child it forks;
 *   - per attempt: three pipes (events, stdout, stderr) read with uv_poll on
 *     the raw fds, so that when the template reports the exit we can drain
 *     them synchronously and never lose a line that raced the exit;
 *   - per run: a step tracker (step_tracker.h) for the dependency bookkeeping and a
 *     plan context (plan.h) for the "should this step run?" decision right
 *     before launch; the fingerprint is recorded with the success;
 *   - store writes join one transaction per loop iteration (committed from a
 *     prepare and a check handle), so a burst of state changes and log lines
 *     costs one commit.
 *
 * Lifetimes: an attempt owns its poll and timer handles and is freed when
 * the last one is closed; it keeps its run alive (run->n_open) until then.
 * A run is freed once it finished and nothing refers to it; the executor once
 * it is being freed and its own handles are closed. */
#include "executor.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "checkpointer.h"
#include "config.h"
#include "exec_pilot.h"
#include "pilot_pool.h"
#include "exec_slurm.h"
#include "log.h"
#include "memlimit.h"
#include "plan.h"
#include "plugin_host.h"
#include "proc.h"
#include "step_tracker.h"
#include "worker_proto.h"

/* How often the end of a run that could not be stored is written again. */
#define SAVE_RETRY_MS 1000
/* The cap of retry delays (exponential backoff stops growing there). */
#define RETRY_CAP_USEC (5ull * 60 * 1000000)
/* Attempts of a step retried, beyond its `retries:`, because the machine
 * they ran on was lost (a pilot's node died): the step's own failures are
 * what `retries:` counts. */
#define LOST_RETRIES 3
/* stdout + stderr bytes stored per attempt; the rest is counted, not kept. */
#define OUTPUT_CAP_BYTES (1024 * 1024)

enum { FD_EVENTS, FD_STDOUT, FD_STDERR, N_FDS };

struct exec_run;
struct exec_step;

struct exec_attempt {
    struct exec_attempt *prev, *next; /* e->inflight */
    struct dagd_executor *e;
    struct exec_step *step; /* NULL once the step moved on */
    uint64_t id;
    pid_t pid; /* 0 until the template reported it */
    unsigned number;

    int fd[N_FDS];
    uv_poll_t poll[N_FDS];
    bool poll_open[N_FDS];
    char *lbuf[N_FDS]; /* partial line */
    size_t llen[N_FDS];
    size_t out_bytes;
    bool out_truncated;

    uv_timer_t timer; /* timeout, then SIGTERM -> SIGKILL grace */
    bool timer_open;
    bool term_sent, kill_sent;
    bool want_term; /* stop requested before the pid was known */
    bool timed_out, canceled;

    bool exited, finished;
    int status; /* wait4 status */
    int64_t cpu_usec, maxrss_kb;
    bool got_result;
    bool no_memo;    /* the plugin said its result must not be memoized */
    bool no_retry;   /* the plugin said its failure is permanent (task.h no_retry) */
    char *warehouse; /* the warehouse file the step opened, to checkpoint */
    bool oom;        /* reliability: the worker saw an allocation fail under its limit */
    int rc;
    char *error;
    char *cgroup;
    uint64_t start_mono;
    /* NULL: the local worker template (the code below that talks to it);
     * else the backend the attempt runs on (exec_backend.h). */
    struct dagd_exec_backend *backend;
    char *backend_error; /* the backend's reason for the end (a Slurm state) */
    bool lost;           /* its machine was lost with it (dagd_exec_end) */

    unsigned n_open; /* handles not yet closed */
};

struct exec_step {
    struct exec_run *run;
    size_t idx;
    ssize_t pool;               /* index into e->pools, -1 = none */
    bool holds_slots;           /* its running attempt holds its slots of the pool */
    uint64_t waited;            /* the scheduling pass it was last counted waiting for its pool */
    struct dagd_step_info info; /* run_id/step/task borrowed; the rest owned */
    bool forced;                /* selected by --from/--only: run despite memo */
    const struct dagd_plan_step *verdict;
    struct exec_attempt *att;
    uv_timer_t *retry_timer;
    uint64_t retry_delay_usec;
    unsigned n_lost; /* attempts retried because their machine was lost */
    /* dagd_executor_resume: the attempt to adopt (a backend's handle), or
     * the step had failed for good before the restart. */
    char *adopt_handle;
    bool resume_failed;
    /* dagd_executor_resume: its attempt ran in a pilot, which ended with
     * the old daemon's connection; it runs again (a lost attempt). */
    bool resume_lost;
};

struct exec_run {
    struct exec_run *next;
    uint64_t seq; /* 1, 2, ... in the order runs were added: the pools' turns */
    struct dagd_executor *e;
    struct dagd_pipeline *p;
    char run_id[33];
    struct dagd_run_resolved *res; /* params, selection, configs (run_resolve.h) */
    struct dagd_tracker *sched;
    struct exec_step *steps;
    size_t *scratch;
    struct dagd_plan_ctx *plan;
    unsigned max_jobs;
    bool has_remote; /* a step runs on a backend (executor: slurm) */
    bool canceling, finished;
    char *cancel_reason;
    unsigned n_open;
    /* A write of this run's state failed (disk full, I/O error): state.db
     * may be stale, so its end is written whole and retried until it is
     * stored (on_save_timer). */
    int state_err; /* the first failure, -errno; 0 = none */
    bool end_unsaved;
    enum dagd_run_status end_status;
    char *end_error;
    int64_t end_ms;
};

struct observer {
    int id;
    char *run_id;
    dagd_exec_observer_fn fn;
    void *userdata;
};

/* A worker template process. Heap-allocated, so a dead one can finish
 * closing its handles while its successor starts. */
struct tmpl {
    struct tmpl *next; /* e->tmpls: every template not yet freed */
    struct dagd_executor *e;
    uv_process_t proc;
    uv_poll_t poll;
    bool proc_open, poll_open;
    unsigned n_open;
};

struct pending_send {
    struct pending_send *next;
    struct exec_attempt *att;
    char *msg;
    int fds[3];
};

struct dagd_executor {
    struct dagd_executor_config cfg;
    char *state_dir, *worker_path, *work_dir;
    struct dagd_memlimit memlimit;
    bool memlimit_warned;

    struct exec_run *runs; /* in submission order */
    struct exec_attempt *inflight;
    size_t n_inflight;
    uint64_t next_id;

    /* The current template (NULL if none) and its control socket. */
    struct tmpl *tmpl, *tmpls;
    int tmpl_fd;
    bool tmpl_running;
    struct pending_send *sendq, **sendq_tail;
    bool sendq_polling;

    uv_prepare_t prepare;
    uv_check_t check;
    bool own_batch;
    uv_timer_t shutdown_timer;
    bool shutting_down;
    uv_timer_t save_timer; /* after a failed write: retries ends, then checkpoints */
    size_t n_unsaved;
    bool wal_dirty; /* a write failed: truncate state.db's WAL once writable */

    struct observer *obs;
    size_t n_obs;
    int next_obs_id;
    unsigned notifying;

    bool pumping, pump_again;
    bool memo_waiting; /* a run waits for its memo answers (dagd_plan_ctx_ready) */
    bool freeing;
    unsigned n_open;

    /* Backends other than local, created on a first step that needs them. */
    struct dagd_exec_backend *slurm;
    struct dagd_exec_backend *pilot;     /* slurm mode pilot (exec_pilot.h) */
    struct dagd_slurm_config *slurm_cfg; /* a copy of cfg.slurm's scalars (may be NULL) */
    size_t n_remote;                     /* of n_inflight: attempts on a backend */

    struct dagd_checkpointer *ckpt; /* warehouse WAL checkpoints after steps */
    char boot_id[37];               /* recorded with each attempt's process group; "" unknown */

    struct dagd_pool *pools; /* copies of cfg.pools (names owned) */
    size_t n_pools;
    unsigned *pool_used;    /* slots held by running attempts */
    unsigned *pool_waiting; /* ready steps that did not fit, at the last pass */
    /* The runs take turns for a pool's slots: the seq of the run that got
     * the pool's last slot; a run at or before it waits until no later run
     * wants one (then the turn wraps to the oldest). */
    uint64_t *pool_turn;
    bool *pool_turn_held; /* a step waited only for its turn in this pass */
    bool pools_on;        /* cfg.pools given: enforce */
    uint64_t pass;        /* scheduling passes (pump), for pool_waiting */
    uint64_t run_seq;     /* the last exec_run.seq given */
};

static void pump(struct dagd_executor *e);
static void runs_lost_state(struct dagd_executor *e, int k);
static void save_timer_arm(struct dagd_executor *e);
static void attempt_finish(struct exec_attempt *a);
static void run_maybe_finish(struct exec_run *r);
static void pool_take(struct exec_step *s);
static void pool_release(struct exec_step *s);
static void maybe_free_executor(struct dagd_executor *e);

/* ---- store batching ------------------------------------------------------------------------ */

/* Join (or open) the loop iteration's transaction. If someone else holds a
 * batch open, our writes simply join theirs. */
static void batch(struct dagd_executor *e)
{
    if (!dagd_store_in_batch(e->cfg.store)) {
        e->own_batch = dagd_store_begin(e->cfg.store) >= 0;
    }
}

/* Commit the batch we opened (never one of the caller's). Returns 0 or the
 * commit's -errno. */
static int batch_commit(struct dagd_executor *e)
{
    if (!e->own_batch) {
        return 0;
    }
    int r = dagd_store_commit(e->cfg.store);
    /* Still open after a failed commit (e.g. busy): try again next time. */
    e->own_batch = r < 0 && dagd_store_in_batch(e->cfg.store);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to commit state changes: %s",
                       dagd_store_errmsg(e->cfg.store));
        if (!e->own_batch) {
            /* SQLite rolled the batch back (SQLITE_FULL, I/O errors): what
             * it held of every run is lost. */
            runs_lost_state(e, r);
        }
    }
    return r;
}

static void on_prepare(uv_prepare_t *h)
{
    (void)batch_commit(h->data);
}

static void on_check(uv_check_t *h)
{
    struct dagd_executor *e = h->data;
    if (e->memo_waiting) {
        /* The store's answers arrive on its socket, in this iteration's
         * poll phase: a run waiting for them may start now. */
        e->memo_waiting = false;
        pump(e);
    }
    (void)batch_commit(h->data);
}

/* ---- observers ----------------------------------------------------------------------------- */

static void notify(struct dagd_executor *e, const struct dagd_exec_event *ev)
{
    e->notifying++;
    /* Index loop: an observer may add or remove observers. Removed ones get
     * fn = NULL and are compacted when no notification is running. */
    for (size_t i = 0; i < e->n_obs; i++) {
        struct observer *o = &e->obs[i];
        if (o->fn && (!o->run_id || streq(o->run_id, ev->run_id))) {
            o->fn(ev, o->userdata);
        }
    }
    if (--e->notifying == 0) {
        size_t j = 0;
        for (size_t i = 0; i < e->n_obs; i++) {
            if (e->obs[i].fn) {
                e->obs[j++] = e->obs[i];
            }
        }
        e->n_obs = j;
    }
}

int dagd_executor_observe(struct dagd_executor *e, const char *run_id, dagd_exec_observer_fn fn,
                          void *userdata)
{
    e->obs = dagd_xreallocarray(e->obs, e->n_obs + 1, sizeof(*e->obs));
    e->obs[e->n_obs++] = (struct observer){
        .id = ++e->next_obs_id,
        .run_id = run_id ? dagd_xstrdup(run_id) : NULL,
        .fn = fn,
        .userdata = userdata,
    };
    return e->next_obs_id;
}

void dagd_executor_unobserve(struct dagd_executor *e, int id)
{
    for (size_t i = 0; i < e->n_obs; i++) {
        if (e->obs[i].id == id && e->obs[i].fn) {
            free(e->obs[i].run_id);
            e->obs[i].run_id = NULL;
            e->obs[i].fn = NULL;
        }
    }
    if (e->notifying == 0) {
        size_t j = 0;
        for (size_t i = 0; i < e->n_obs; i++) {
            if (e->obs[i].fn) {
                e->obs[j++] = e->obs[i];
            }
        }
        e->n_obs = j;
    }
}

/* ---- recording ----------------------------------------------------------------------------- */

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? dagd_xstrdup(s) : NULL;
}

/* Write the step's row (with its event) and tell observers. */
static void step_record(struct exec_step *s)
{
    struct exec_run *r = s->run;
    struct dagd_executor *e = r->e;

    batch(e);
    int k = dagd_store_step_update(e->cfg.store, &s->info, dagd_now_wall_msec());
    if (k < 0) {
        dagd_log_errno(LOG_WARNING, k, "Failed to record step '%s' of run %s: %s, ignoring",
                       s->info.step, r->run_id, dagd_store_errmsg(e->cfg.store));
        r->state_err = r->state_err ? r->state_err : k;
        save_timer_arm(e);
    }
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_STEP_CHANGED,
        .run_id = r->run_id,
        .pipeline = r->p->name,
        .step = &s->info,
    };
    notify(e, &ev);
}

/* A log/stdout/stderr line of a step: stored as an event and told. */
static void step_log(struct exec_step *s, const char *level, const char *kind, const char *msg)
{
    struct exec_run *r = s->run;
    struct dagd_executor *e = r->e;
    int64_t seq = 0;

    batch(e);
    /* The seq only on SQLite, where it costs nothing: on PostgreSQL asking
     * for it would make every log line wait for the server (store.h);
     * observers read events by seq from the store anyway. */
    bool want_seq = !dagd_store_is_postgresql(e->cfg.store);
    int k = dagd_store_event_add(e->cfg.store, r->run_id, s->info.step, dagd_now_wall_msec(), level,
                                 kind, msg, want_seq ? &seq : NULL);
    if (k < 0) {
        dagd_log_errno(LOG_WARNING, k, "Failed to record an event of run %s: %s, ignoring",
                       r->run_id, dagd_store_errmsg(e->cfg.store));
        r->state_err = r->state_err ? r->state_err : k;
        save_timer_arm(e);
    }
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_LOG,
        .run_id = r->run_id,
        .pipeline = r->p->name,
        .step = &s->info,
        .level = level,
        .message = msg,
        .stream = kind,
        .seq = seq,
    };
    notify(e, &ev);
}

/* ---- formatting ---------------------------------------------------------------------------- */

/* "2s", "250ms", "5m", "1h30m": how users write durations in YAML. */
static char *format_duration_exact(uint64_t usec, char *buf, size_t len)
{
    if (usec % 1000000u != 0) {
        if (usec % 1000u == 0) {
            snprintf(buf, len, "%" PRIu64 "ms", usec / 1000u);
        } else {
            snprintf(buf, len, "%" PRIu64 "us", usec);
        }
        return buf;
    }
    uint64_t s = usec / 1000000u;
    if (s < 60 || s % 60 != 0) {
        snprintf(buf, len, "%" PRIu64 "s", s);
    } else if (s < 3600 || s % 3600 != 0) {
        snprintf(buf, len, "%" PRIu64 "m", s / 60);
    } else {
        snprintf(buf, len, "%" PRIu64 "h", s / 3600);
    }
    return buf;
}

static const char *signal_name(int sig, char *buf, size_t len)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) {
        snprintf(buf, len, "SIG%s", abbrev);
    } else {
        snprintf(buf, len, "%d", sig);
    }
    return buf;
}

/* ---- the worker template ------------------------------------------------------------------- */

static void handle_closed_count(uv_handle_t *h)
{
    struct dagd_executor *e = h->data;
    e->n_open--;
    maybe_free_executor(e);
}

static void tmpl_fail_inflight(struct dagd_executor *e, const char *why);

static void on_tmpl_handle_closed(uv_handle_t *h)
{
    struct tmpl *t = h->data;
    struct dagd_executor *e = t->e;
    if (--t->n_open == 0) {
        for (struct tmpl **pp = &e->tmpls; *pp; pp = &(*pp)->next) {
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        }
        free(t);
    }
    e->n_open--;
    maybe_free_executor(e);
}

/* Forget the current template: stop talking to it. Its process handle
 * closes when it exits (it does on EOF of its socket). */
static void tmpl_stop(struct dagd_executor *e)
{
    struct tmpl *t = e->tmpl;
    if (t && t->poll_open) {
        t->poll_open = false;
        uv_close((uv_handle_t *)&t->poll, on_tmpl_handle_closed);
    }
    e->tmpl = NULL;
    if (e->tmpl_fd >= 0) {
        (void)close(e->tmpl_fd);
        e->tmpl_fd = -1;
    }
    while (e->sendq) {
        struct pending_send *ps = e->sendq;
        e->sendq = ps->next;
        for (int i = 0; i < 3; i++) {
            (void)close(ps->fds[i]);
        }
        free(ps->msg);
        free(ps);
    }
    e->sendq_tail = &e->sendq;
    e->sendq_polling = false;
    e->tmpl_running = false;
}

static void on_tmpl_exit(uv_process_t *p, int64_t status, int term_signal)
{
    struct tmpl *t = p->data;
    struct dagd_executor *e = t->e;
    bool current = t == e->tmpl;
    if (!e->freeing && current) {
        dagd_log_warning("Worker template exited (status %" PRId64 ", signal %d), restarting it "
                         "on the next step",
                         status, term_signal);
    }
    if (t->proc_open) {
        t->proc_open = false;
        uv_close((uv_handle_t *)p, on_tmpl_handle_closed);
    }
    if (current && e->tmpl_running) {
        tmpl_stop(e);
        tmpl_fail_inflight(e, "the worker template died");
        pump(e);
    }
}

static struct exec_attempt *find_attempt(struct dagd_executor *e, uint64_t id)
{
    for (struct exec_attempt *a = e->inflight; a; a = a->next) {
        if (a->id == id) {
            return a;
        }
    }
    return NULL;
}

static void kill_group(struct exec_attempt *a, int sig)
{
    if (a->pid > 0 && !a->exited && !a->backend) {
        /* The child made itself a group leader before anything else ran. */
        if (kill(-a->pid, sig) < 0 && errno == ESRCH) {
            (void)kill(a->pid, sig);
        }
    }
}

/* Record the attempt's process group and its leader's start time (the
 * template read it before it could reap the child), so that a dagd that
 * finds this one dead can kill what the step left running (procsweep.h).
 * Recording the step's end forgets them. */
static void attempt_record_process(struct exec_attempt *a, const cJSON *start)
{
    struct exec_step *s = a->step;
    struct dagd_executor *e = a->e;
    if (!s || !cJSON_IsNumber(start) || start->valuedouble <= 0) {
        return;
    }
    batch(e);
    int k = dagd_store_step_set_process(e->cfg.store, s->info.run_id, s->info.step, a->pid,
                                        (uint64_t)start->valuedouble,
                                        e->boot_id[0] ? e->boot_id : NULL);
    if (k < 0) {
        dagd_log_errno(LOG_WARNING, k,
                       "Failed to record the process of step '%s' of run %s: %s, "
                       "ignoring",
                       s->info.step, s->info.run_id, dagd_store_errmsg(e->cfg.store));
    }
}

static void on_attempt_timer(uv_timer_t *t);
static void remote_launch(struct exec_attempt *a, const char *handle);

static void attempt_stop(struct exec_attempt *a)
{
    struct dagd_executor *e = a->e;
    if (a->exited || a->term_sent) {
        return;
    }
    if (a->backend) {
        /* The backend escalates by itself (Slurm: SIGTERM, KillWait, SIGKILL). */
        a->term_sent = true;
        a->backend->ops->cancel(a->backend->impl, a->id);
        return;
    }
    if (a->pid == 0) {
        a->want_term = true;
        return;
    }
    a->term_sent = true;
    kill_group(a, SIGTERM);
    if (a->timer_open) {
        uint64_t grace = e->cfg.kill_grace_usec ? e->cfg.kill_grace_usec : 5000000u;
        (void)uv_timer_start(&a->timer, on_attempt_timer, (grace + 999) / 1000, 0);
    }
}

static void on_tmpl_message(struct dagd_executor *e, const char *msg, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(msg, len);
    if (!j) {
        dagd_log_warning("Bad message from the worker template, ignoring");
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    struct exec_attempt *a = cJSON_IsNumber(id) ? find_attempt(e, (uint64_t)id->valuedouble) : NULL;
    if (!a) {
        cJSON_Delete(j);
        return;
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(j, "status");
    if (cJSON_IsString(err)) {
        a->exited = true;
        a->status = -1;
        set_str(&a->error, err->valuestring);
        attempt_finish(a);
    } else if (cJSON_IsNumber(status)) {
        a->exited = true;
        a->status = (int)status->valuedouble;
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "utime_us");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "stime_us");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "maxrss_kb");
        a->cpu_usec = (int64_t)((cJSON_IsNumber(u) ? u->valuedouble : 0) +
                                (cJSON_IsNumber(s) ? s->valuedouble : 0));
        a->maxrss_kb = cJSON_IsNumber(m) ? (int64_t)m->valuedouble : 0;
        attempt_finish(a);
    } else if (cJSON_IsNumber(pid)) {
        a->pid = (pid_t)pid->valuedouble;
        attempt_record_process(a, cJSON_GetObjectItemCaseSensitive(j, "start"));
        if (a->want_term) {
            attempt_stop(a);
        }
    }
    cJSON_Delete(j);
}

static void tmpl_flush_sendq(struct dagd_executor *e);

static void on_tmpl_poll(uv_poll_t *h, int status, int events)
{
    struct tmpl *t = h->data;
    struct dagd_executor *e = t->e;
    char buf[DAGD_WORKER_MAX_REPLY + 1];

    if (events & UV_WRITABLE) {
        tmpl_flush_sendq(e);
    }
    if (!(events & (UV_READABLE | UV_DISCONNECT)) && status >= 0) {
        return;
    }
    for (;;) {
        ssize_t n = recv(e->tmpl_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n > 0) {
            on_tmpl_message(e, buf, (size_t)n);
            if (e->tmpl != t) {
                return; /* stopped from a callback */
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            break;
        }
        /* EOF or error: the template is gone; on_tmpl_exit may not have run yet. */
        if (e->tmpl_running) {
            tmpl_stop(e);
            tmpl_fail_inflight(e, "the worker template died");
            pump(e);
        }
        return;
    }
    pump(e);
}

static void tmpl_update_poll(struct dagd_executor *e)
{
    if (e->tmpl && e->tmpl->poll_open) {
        int ev = UV_READABLE | UV_DISCONNECT | (e->sendq ? UV_WRITABLE : 0);
        (void)uv_poll_start(&e->tmpl->poll, ev, on_tmpl_poll);
        e->sendq_polling = e->sendq != NULL;
    }
}

static int send_job(struct dagd_executor *e, const char *msg, const int fds[3])
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 3)];
        struct cmsghdr align;
    } u = {0}; /* the padding after the fds goes to the kernel too */
    struct iovec iov = {(void *)msg, strlen(msg)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * 3);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * 3);

    for (;;) {
        ssize_t n = sendmsg(e->tmpl_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            return 0;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static void tmpl_flush_sendq(struct dagd_executor *e)
{
    while (e->sendq) {
        struct pending_send *ps = e->sendq;
        int r = send_job(e, ps->msg, ps->fds);
        if (r == -EAGAIN) {
            break;
        }
        e->sendq = ps->next;
        if (!e->sendq) {
            e->sendq_tail = &e->sendq;
        }
        for (int i = 0; i < 3; i++) {
            (void)close(ps->fds[i]);
        }
        if (r < 0 && ps->att) {
            ps->att->exited = true;
            ps->att->status = -1;
            set_str(&ps->att->error, "cannot hand the step to the worker template");
            free(ps->msg);
            struct exec_attempt *a = ps->att;
            free(ps);
            attempt_finish(a);
            continue;
        }
        free(ps->msg);
        free(ps);
    }
    if (e->tmpl && e->sendq_polling != (e->sendq != NULL)) {
        tmpl_update_poll(e);
    }
}

static int tmpl_start(struct dagd_executor *e)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        return dagd_log_errno(LOG_ERR, errno, "Failed to create the worker socket: %m");
    }
    /* Room for many queued jobs, so sends rarely wait. */
    int sz = 4 * 1024 * 1024;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    (void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

    char *args[] = {e->worker_path, (char *)"--template", NULL};
    uv_stdio_container_t stdio[4] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = STDOUT_FILENO},
        {.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
        {.flags = UV_INHERIT_FD, .data.fd = sv[1]},
    };
    uv_process_options_t opts = {
        .exit_cb = on_tmpl_exit,
        .file = e->worker_path,
        .args = args,
        .stdio = stdio,
        .stdio_count = 4,
    };
    struct tmpl *t = dagd_xcalloc(1, sizeof(*t));
    t->e = e;
    t->proc.data = t;
    t->next = e->tmpls;
    e->tmpls = t;
    int r = uv_spawn(e->cfg.loop, &t->proc, &opts);
    (void)close(sv[1]);
    t->n_open = 1;
    e->n_open++;
    if (r < 0) {
        (void)close(sv[0]);
        /* uv_spawn failures still need the handle closed. */
        uv_close((uv_handle_t *)&t->proc, on_tmpl_handle_closed);
        return dagd_log_errno(LOG_ERR, r, "Failed to start the worker '%s': %s", e->worker_path,
                              uv_strerror(r));
    }
    t->proc_open = true;
    /* It must not keep a loop alive on its own (dagd serve idles with it). */
    uv_unref((uv_handle_t *)&t->proc);
    r = uv_poll_init(e->cfg.loop, &t->poll, sv[0]);
    if (r < 0) {
        (void)close(sv[0]);
        (void)uv_process_kill(&t->proc, SIGKILL);
        return dagd_log_errno(LOG_ERR, r, "Failed to watch the worker socket: %s", uv_strerror(r));
    }
    t->n_open++;
    e->n_open++;
    t->poll.data = t;
    t->poll_open = true;
    uv_unref((uv_handle_t *)&t->poll);
    e->tmpl = t;
    e->tmpl_fd = sv[0];
    e->tmpl_running = true;
    tmpl_update_poll(e);
    return 0;
}

/* ---- attempts ------------------------------------------------------------------------------ */

static void attempt_unref(struct exec_attempt *a);

static void on_attempt_handle_closed(uv_handle_t *h)
{
    attempt_unref(h->data);
}

static void run_unref(struct exec_run *r);

static void attempt_unref(struct exec_attempt *a)
{
    if (--a->n_open > 0) {
        return;
    }
    struct exec_run *r = a->step ? a->step->run : NULL;
    struct dagd_executor *e = a->e;
    for (int i = 0; i < N_FDS; i++) {
        free(a->lbuf[i]);
    }
    free(a->error);
    free(a->warehouse);
    free(a->cgroup);
    free(a->backend_error);
    free(a);
    if (r) {
        run_unref(r);
    }
    maybe_free_executor(e);
}

/* A check result from the worker (worker_proto.h) into state.db `checks`,
 * with the attempt that produced it. The store refuses unknown words. */
static void check_record(struct exec_step *s, const cJSON *j)
{
    struct dagd_executor *e = s->run->e;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "violations");
    const cJSON *sample = cJSON_GetObjectItemCaseSensitive(j, "sample");
    char *sample_text = cJSON_IsArray(sample) ? cJSON_PrintUnformatted(sample) : NULL;
    struct dagd_check_info c = {
        .run_id = s->run->run_id,
        .step = s->info.step,
        .attempt = s->info.attempts,
        .name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name")),
        .severity = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "severity")),
        .status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")),
        .violations = cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0,
        .sample = sample_text,
        .detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "detail")),
        .ts = dagd_now_wall_msec(),
    };
    batch(e);
    int k = dagd_store_check_add(e->cfg.store, &c);
    if (k < 0) {
        dagd_log_errno(
            LOG_WARNING, k, "Failed to record check '%s' of step %s of run %s: %s, ignoring",
            c.name ? c.name : "?", s->info.step, s->run->run_id, dagd_store_errmsg(e->cfg.store));
    }
    free(sample_text);
}

/* One complete line from the events pipe. */
static void on_event_line(struct exec_attempt *a, char *line, size_t len)
{
    struct exec_step *s = a->step;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j) {
        step_log(s, "warning", "log", "worker sent a malformed event line");
        return;
    }
    const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "k"));
    if (!k) {
        /* nothing */
    } else if (streq(k, "log")) {
        const char *l = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "l"));
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "m"));
        step_log(s, l ? l : "info", "log", m ? m : "");
    } else if (streq(k, "progress")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "done");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "total");
        struct dagd_exec_event ev = {
            .kind = DAGD_EXEC_STEP_PROGRESS,
            .run_id = s->run->run_id,
            .pipeline = s->run->p->name,
            .step = &s->info,
            .done = cJSON_IsNumber(d) ? (uint64_t)d->valuedouble : 0,
            .total = cJSON_IsNumber(t) ? (uint64_t)t->valuedouble : 0,
        };
        notify(a->e, &ev);
    } else if (streq(k, "metrics")) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "in");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(j, "out");
        s->info.rows_in = cJSON_IsNumber(in) ? (int64_t)in->valuedouble : s->info.rows_in;
        s->info.rows_out = cJSON_IsNumber(out) ? (int64_t)out->valuedouble : s->info.rows_out;
    } else if (streq(k, "input") || streq(k, "output")) {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "path"));
        if (p) {
            char *m = dagd_xasprintf("declared %s %s", k, p);
            step_log(s, "debug", k, m);
            free(m);
        }
    } else if (streq(k, "warehouse")) {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "path"));
        if (p && p[0] == '/') {
            set_str(&a->warehouse, p);
        }
    } else if (streq(k, "check")) {
        check_record(s, j);
    } else if (streq(k, "oom")) {
        a->oom = true; /* reliability: memlimit_worker.c */
    } else if (streq(k, "nomemo")) {
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
        char *m = dagd_xasprintf("result not memoized: %s", why ? why : "degraded result");
        a->no_memo = true;
        step_log(s, "warning", "log", m);
        free(m);
    } else if (streq(k, "noretry")) {
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
        char *m = dagd_xasprintf("failure is permanent, not retried: %s",
                                 why ? why : "permanent failure");
        a->no_retry = true;
        step_log(s, "notice", "log", m);
        free(m);
    } else if (streq(k, "result")) {
        const cJSON *rc = cJSON_GetObjectItemCaseSensitive(j, "rc");
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error"));
        a->got_result = true;
        a->rc = cJSON_IsNumber(rc) ? (int)rc->valuedouble : -EINVAL;
        set_str(&a->error, err);
    }
    cJSON_Delete(j);
}

static void on_output_line(struct exec_attempt *a, int which, char *line, size_t len)
{
    if (a->out_truncated) {
        return;
    }
    a->out_bytes += len + 1;
    if (a->out_bytes > OUTPUT_CAP_BYTES) {
        a->out_truncated = true;
        step_log(a->step, "warning", which == FD_STDOUT ? "stdout" : "stderr",
                 "[output truncated: more than 1 MiB of stdout/stderr]");
        return;
    }
    /* Events are one line each and carry text: a NUL ends the message. */
    line[len] = '\0';
    step_log(a->step, which == FD_STDOUT ? "info" : "warning",
             which == FD_STDOUT ? "stdout" : "stderr", line);
}

static void dispatch_line(struct exec_attempt *a, int which, char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (which == FD_EVENTS) {
        on_event_line(a, line, len);
    } else {
        on_output_line(a, which, line, len);
    }
}

/* Split what was read into lines; keep a partial one. Lines longer than
 * DAGD_WORKER_MAX_LINE are cut there. */
static void feed(struct exec_attempt *a, int which, const char *data, size_t n, bool eof)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            continue;
        }
        size_t part = i - start;
        if (a->llen[which] == 0) {
            char *tmp = dagd_xmalloc(part + 1);
            memcpy(tmp, data + start, part);
            dispatch_line(a, which, tmp, part);
            free(tmp);
        } else {
            size_t room = DAGD_WORKER_MAX_LINE - a->llen[which];
            size_t take = part < room ? part : room;
            memcpy(a->lbuf[which] + a->llen[which], data + start, take);
            a->llen[which] += take;
            dispatch_line(a, which, a->lbuf[which], a->llen[which]);
            a->llen[which] = 0;
        }
        start = i + 1;
    }
    if (start < n) {
        if (!a->lbuf[which]) {
            a->lbuf[which] = dagd_xmalloc(DAGD_WORKER_MAX_LINE + 1);
        }
        size_t part = n - start;
        size_t room = DAGD_WORKER_MAX_LINE - a->llen[which];
        size_t take = part < room ? part : room;
        memcpy(a->lbuf[which] + a->llen[which], data + start, take);
        a->llen[which] += take;
    }
    if (eof && a->llen[which] > 0) {
        dispatch_line(a, which, a->lbuf[which], a->llen[which]);
        a->llen[which] = 0;
    }
}

static void close_fd(struct exec_attempt *a, int which)
{
    if (a->poll_open[which]) {
        a->poll_open[which] = false;
        uv_close((uv_handle_t *)&a->poll[which], on_attempt_handle_closed);
    }
    if (a->fd[which] >= 0) {
        (void)close(a->fd[which]);
        a->fd[which] = -1;
    }
}

/* Read what is there; returns true at EOF (or error). */
static bool drain(struct exec_attempt *a, int which)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(a->fd[which], buf, sizeof(buf));
        if (n > 0) {
            feed(a, which, buf, (size_t)n, false);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return false;
        }
        feed(a, which, NULL, 0, true);
        return true;
    }
}

static void on_attempt_poll(uv_poll_t *h, int status, int events)
{
    struct exec_attempt *a = h->data;
    int which = (int)(h - a->poll);
    if (a->fd[which] < 0 || !a->step) {
        return;
    }
    if (drain(a, which)) {
        close_fd(a, which);
    }
}

static void on_attempt_timer(uv_timer_t *t)
{
    struct exec_attempt *a = t->data;
    struct dagd_executor *e = a->e;
    if (a->exited) {
        return;
    }
    if (!a->term_sent) {
        /* The step's timeout. */
        a->timed_out = true;
        if (a->backend) {
            attempt_stop(a);
            return;
        }
        attempt_stop(a);
        if (!a->term_sent) {
            /* pid unknown yet: attempt_stop arms the grace once it is */
            uint64_t grace = e->cfg.kill_grace_usec ? e->cfg.kill_grace_usec : 5000000u;
            (void)uv_timer_start(&a->timer, on_attempt_timer, (grace + 999) / 1000, 0);
        }
        return;
    }
    if (!a->kill_sent) {
        a->kill_sent = true;
        kill_group(a, SIGKILL);
    }
}

static char *build_job(struct exec_attempt *a)
{
    struct exec_step *s = a->step;
    struct exec_run *r = s->run;
    struct dagd_executor *e = r->e;
    const struct dagd_step *ps = &r->p->steps[s->idx];
    const char *warehouse = dagd_params_get(&r->res->params, "warehouse");
    cJSON *j = cJSON_CreateObject();

    cJSON_AddNumberToObject(j, "id", (double)a->id);
    cJSON_AddStringToObject(j, "plugin", ps->plugin ? ps->plugin->path : "");
    cJSON_AddStringToObject(j, "task", ps->task);
    cJSON_AddItemToObject(j, "config", cJSON_CreateRaw(r->res->config_json[s->idx]));
    cJSON_AddItemToObject(j, "params", cJSON_CreateRaw(r->res->params_json));
    cJSON_AddStringToObject(j, "run_id", r->run_id);
    cJSON_AddStringToObject(j, "step", ps->name);
    cJSON_AddNumberToObject(j, "attempt", a->number);
    cJSON_AddStringToObject(j, "state_dir", e->state_dir);
    if (warehouse) {
        cJSON_AddStringToObject(j, "warehouse", warehouse);
    }
    cJSON_AddStringToObject(j, "cwd", e->work_dir);
    if (ps->memory_bytes && e->memlimit.mode == DAGD_MEMLIMIT_RLIMIT_AS) {
        cJSON_AddNumberToObject(j, "memory", (double)ps->memory_bytes);
    }
    if (a->cgroup) {
        cJSON_AddStringToObject(j, "cgroup", a->cgroup);
    }
    if (ps->executor != DAGD_STEP_EXECUTOR_LOCAL) {
        /* Runs elsewhere: the worker refuses a SQLite warehouse (docs/slurm.md)
         * and bounds memory itself, whatever this machine's cgroups are. */
        cJSON_AddBoolToObject(j, "remote", true);
        if (ps->memory_bytes && e->memlimit.mode != DAGD_MEMLIMIT_RLIMIT_AS) {
            cJSON_AddNumberToObject(j, "memory", (double)ps->memory_bytes);
        }
    }
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

/* The template's socket keeps the loop alive exactly while attempts are in
 * flight: their exit reports come through it, after their pipes may have
 * closed. An idle template must not keep `dagd serve`'s loop running. */
static void tmpl_update_ref(struct dagd_executor *e)
{
    if (e->tmpl && e->tmpl->poll_open) {
        if (e->n_inflight > e->n_remote) {
            uv_ref((uv_handle_t *)&e->tmpl->poll);
        } else {
            uv_unref((uv_handle_t *)&e->tmpl->poll);
        }
    }
}

void dagd_executor_foreach_attempt(const struct dagd_executor *e, dagd_exec_attempt_fn fn,
                                   void *userdata)
{
    for (const struct exec_attempt *a = e->inflight; a; a = a->next) {
        if (a->pid <= 0 || a->exited || !a->step) {
            continue;
        }
        const struct exec_step *s = a->step;
        struct dagd_exec_attempt_info info = {
            .run_id = s->run->run_id,
            .pipeline = s->run->p->name,
            .step = s->info.step,
            .attempt = a->number,
            .pid = a->pid,
        };
        fn(&info, userdata);
    }
}

static void attempt_link(struct dagd_executor *e, struct exec_attempt *a)
{
    a->next = e->inflight;
    if (e->inflight) {
        e->inflight->prev = a;
    }
    e->inflight = a;
    e->n_inflight++;
    tmpl_update_ref(e);
}

static void attempt_unlink(struct dagd_executor *e, struct exec_attempt *a)
{
    if (a->prev) {
        a->prev->next = a->next;
    } else {
        e->inflight = a->next;
    }
    if (a->next) {
        a->next->prev = a->prev;
    }
    a->prev = a->next = NULL;
    e->n_inflight--;
    e->n_remote -= a->backend != NULL;
    tmpl_update_ref(e);
}

/* ---- attempts on a backend (exec_backend.h) -------------------------------------------------- */

static void on_backend_started(void *host, uint64_t id, const char *handle)
{
    struct dagd_executor *e = host;
    struct exec_attempt *a = find_attempt(e, id);
    if (!a || !a->step) {
        return;
    }
    /* The handle is in the events (dagd logs) and, for a restart, in the
     * attempt's directory (exec_slurm.c). */
    char *m = dagd_xasprintf("attempt %u runs as %s", a->number, handle);
    step_log(a->step, "info", "log", m);
    free(m);
}

static void on_backend_output(void *host, uint64_t id, enum dagd_exec_stream stream,
                              const char *data, size_t n)
{
    struct exec_attempt *a = find_attempt(host, id);
    if (a && a->step && !a->exited) {
        feed(a, (int)stream, data, n, false);
    }
}

static void on_backend_finished(void *host, uint64_t id, const struct dagd_exec_end *end)
{
    struct exec_attempt *a = find_attempt(host, id);
    if (!a || a->exited) {
        return;
    }
    a->exited = true;
    a->status = end->status;
    a->cpu_usec = end->cpu_usec;
    a->maxrss_kb = end->maxrss_kb;
    set_str(&a->backend_error, end->error);
    a->lost = end->lost;
    if (a->status < 0 && !a->error) {
        set_str(&a->error, "the attempt ended without an exit status");
    }
    attempt_finish(a);
}

/* The Slurm mode of a non-local step: its own, else the daemon config's. */
static enum dagd_slurm_mode slurm_mode(const struct dagd_executor *e, const struct dagd_step *ps)
{
    const struct dagd_slurm_config *sc = e->cfg.slurm;
    return ps->slurm.has_mode            ? ps->slurm.mode
           : sc && sc->defaults.has_mode ? sc->defaults.mode
                                         : DAGD_SLURM_MODE_JOBS;
}

/* The backend a non-local step runs on, created on first use; NULL with
 * the reason when there is none. */
static struct dagd_exec_backend *backend_for(struct dagd_executor *e, const struct dagd_step *ps,
                                             const char **ret_why)
{
    const struct dagd_slurm_config *sc = e->cfg.slurm;
    enum dagd_slurm_mode mode = slurm_mode(e, ps);
    struct dagd_exec_host host = {
        .host = e,
        .started = on_backend_started,
        .output = on_backend_output,
        .finished = on_backend_finished,
    };
    if (mode == DAGD_SLURM_MODE_PILOT) {
        /* The pool listens from its first step on; if it cannot (the
         * address is taken), the next pilot step tries again. */
        if (!e->pilot && dagd_exec_pilot_new(e->cfg.loop, sc, e->state_dir, e->worker_path,
                                             e->cfg.kill_grace_usec, &host, &e->pilot) < 0) {
            *ret_why = "cannot listen for pilots (see the daemon's log)";
        }
        return e->pilot;
    }
    if (!e->slurm) {
        (void)dagd_exec_slurm_new(e->cfg.loop, sc, e->state_dir, e->worker_path, &host, &e->slurm);
    }
    return e->slurm;
}

/* attempt_launch for a step that runs on a backend; `handle` non-NULL:
 * adopt the attempt a previous daemon started there. */
static void remote_launch(struct exec_attempt *a, const char *handle)
{
    struct exec_step *s = a->step;
    struct exec_run *r = s->run;
    struct dagd_executor *e = r->e;
    const struct dagd_step *ps = &r->p->steps[s->idx];
    const char *why = NULL;
    struct dagd_exec_backend *be = backend_for(e, ps, &why);
    int k = -EOPNOTSUPP;

    if (be) {
        char *msg = build_job(a);
        struct dagd_exec_job job = {
            .id = a->id,
            .run_id = r->run_id,
            .step = ps->name,
            .task = ps->task,
            .pipeline = r->p->name,
            .attempt = a->number,
            .job_json = msg,
            .def = ps,
            .handle = handle,
        };
        k = handle ? be->ops->adopt(be->impl, &job) : be->ops->launch(be->impl, &job);
        free(msg);
    }
    if (k < 0) {
        char *m = why ? dagd_xstrdup(why)
                      : dagd_xasprintf("cannot %s the step on %s: %s", handle ? "adopt" : "start",
                                       be->ops->name, strerror(-k));
        set_str(&a->error, m);
        free(m);
        a->exited = true;
        a->status = -1;
        attempt_finish(a);
        return;
    }
    a->backend = be;
    e->n_remote++;
    tmpl_update_ref(e);
    if (ps->timeout_usec > 0) {
        /* From now: a job's wait in the cluster's queue counts, as a
         * local step's wait for its worker does. */
        (void)uv_timer_init(e->cfg.loop, &a->timer);
        a->timer.data = a;
        a->timer_open = true;
        a->n_open++;
        (void)uv_timer_start(&a->timer, on_attempt_timer, (ps->timeout_usec + 999) / 1000, 0);
    }
}

/* Start attempt s->info.attempts (already incremented). A failure to start
 * becomes a failed attempt (retried like any other). */
static void attempt_launch(struct exec_step *s)
{
    struct exec_run *r = s->run;
    struct dagd_executor *e = r->e;
    const struct dagd_step *ps = &r->p->steps[s->idx];
    struct exec_attempt *a = dagd_xcalloc(1, sizeof(*a));
    int pipes[N_FDS][2];
    int k, n_pipes = 0;

    a->e = e;
    a->step = s;
    a->id = ++e->next_id;
    a->number = s->info.attempts;
    a->start_mono = dagd_now_mono_usec();
    for (int i = 0; i < N_FDS; i++) {
        a->fd[i] = -1;
    }
    s->att = a;
    r->n_open++;
    a->n_open = 1; /* the "not finished" reference, dropped by attempt_finish */
    attempt_link(e, a);

    if (ps->executor != DAGD_STEP_EXECUTOR_LOCAL) {
        _cleanup_free_ char *handle = TAKE_PTR(s->adopt_handle);
        remote_launch(a, handle);
        return;
    }
    if (!e->tmpl_running) {
        if (tmpl_start(e) < 0) {
            set_str(&a->error, "cannot start the worker");
            goto fail;
        }
        tmpl_update_ref(e);
    }
    if (ps->memory_bytes && e->memlimit.mode == DAGD_MEMLIMIT_CGROUP2) {
        char name[80];
        snprintf(name, sizeof(name), "%s-%zu-%u", r->run_id, s->idx, a->number);
        k = dagd_memlimit_cgroup_create(&e->memlimit, name, ps->memory_bytes, &a->cgroup);
        if (k < 0) {
            dagd_log_errno(LOG_WARNING, k,
                           "Failed to create a cgroup for step '%s': %m, "
                           "running it without a memory limit",
                           ps->name);
        }
    }
    for (n_pipes = 0; n_pipes < N_FDS; n_pipes++) {
        if (pipe2(pipes[n_pipes], O_CLOEXEC) < 0) {
            k = -errno;
            char *m = dagd_xasprintf("cannot create a pipe: %s", strerror(-k));
            set_str(&a->error, m);
            free(m);
            goto fail_pipes;
        }
    }
    for (int i = 0; i < N_FDS; i++) {
        a->fd[i] = pipes[i][0];
        (void)fcntl(a->fd[i], F_SETFL, O_NONBLOCK);
        if (uv_poll_init(e->cfg.loop, &a->poll[i], a->fd[i]) == 0) {
            a->poll[i].data = a;
            a->poll_open[i] = true;
            a->n_open++;
            (void)uv_poll_start(&a->poll[i], UV_READABLE | UV_DISCONNECT, on_attempt_poll);
        }
    }
    if (ps->timeout_usec > 0) {
        (void)uv_timer_init(e->cfg.loop, &a->timer);
        a->timer.data = a;
        a->timer_open = true;
        a->n_open++;
        (void)uv_timer_start(&a->timer, on_attempt_timer, (ps->timeout_usec + 999) / 1000, 0);
    }

    char *msg = build_job(a);
    int fds[3] = {pipes[FD_EVENTS][1], pipes[FD_STDOUT][1], pipes[FD_STDERR][1]};
    k = e->sendq ? -EAGAIN : send_job(e, msg, fds);
    if (k == -EAGAIN) {
        struct pending_send *q = dagd_xcalloc(1, sizeof(*q));
        q->att = a;
        q->msg = msg;
        memcpy(q->fds, fds, sizeof(fds));
        *e->sendq_tail = q;
        e->sendq_tail = &q->next;
        tmpl_update_poll(e);
        return;
    }
    free(msg);
    for (int i = 0; i < 3; i++) {
        (void)close(fds[i]);
    }
    if (k < 0) {
        char *m = dagd_xasprintf("cannot hand the step to the worker: %s", strerror(-k));
        set_str(&a->error, m);
        free(m);
        a->exited = true;
        a->status = -1;
        attempt_finish(a);
    }
    return;

fail_pipes:
    for (int i = 0; i < n_pipes; i++) {
        (void)close(pipes[i][0]);
        (void)close(pipes[i][1]);
    }
fail:
    a->exited = true;
    a->status = -1;
    attempt_finish(a);
}

static void tmpl_fail_inflight(struct dagd_executor *e, const char *why)
{
    /* attempt_finish unlinks: restart from the head each time. Attempts on
     * another backend do not depend on the template, except at the end. */
    for (;;) {
        struct exec_attempt *a = e->inflight;
        while (a && (a->exited || (a->backend && !e->freeing))) {
            a = a->next;
        }
        if (!a) {
            return;
        }
        /* Its process (if any) died with the template (PDEATHSIG), but what
         * it started may still run in its group: nothing of a step outlives
         * its recorded end. No kill(pid) fallback: that pid is not ours now. */
        if (a->pid > 0) {
            (void)kill(-a->pid, SIGKILL);
        }
        a->exited = true;
        a->status = -1;
        set_str(&a->error, why);
        attempt_finish(a);
    }
}

/* ---- step outcomes ------------------------------------------------------------------------- */

static void step_skip_downstream(struct exec_step *s)
{
    struct exec_run *r = s->run;
    size_t n = dagd_tracker_failed(r->sched, s->idx, r->scratch);
    for (size_t k = 0; k < n; k++) {
        struct exec_step *d = &r->steps[r->scratch[k]];
        char *why = dagd_xasprintf("upstream failed: %s", s->info.step);
        d->info.status = DAGD_STEP_SKIPPED;
        set_str(&d->info.skip_reason, why);
        set_str(&d->info.error, why);
        free(why);
        step_record(d);
    }
}

static void on_retry_timer_closed(uv_handle_t *h)
{
    struct exec_run *r = h->data;
    free(h);
    run_unref(r);
}

static void step_close_retry_timer(struct exec_step *s)
{
    if (s->retry_timer) {
        s->retry_timer->data = s->run;
        uv_close((uv_handle_t *)s->retry_timer, on_retry_timer_closed);
        s->retry_timer = NULL;
    }
}

static void on_retry_timer(uv_timer_t *t)
{
    struct exec_step *s = t->data;
    step_close_retry_timer(s);
    if (dagd_tracker_state(s->run->sched, s->idx) == DAGD_TRACKER_BACKOFF) {
        dagd_tracker_retry(s->run->sched, s->idx);
    }
    pump(s->run->e);
}

/* attempt_finish, phase 1: the rest of the attempt's output, its fds and
 * its timeout timer. */
static void attempt_close_io(struct exec_attempt *a)
{
    for (int i = 0; a->backend && i < N_FDS; i++) {
        feed(a, i, NULL, 0, true); /* the backend handed over everything */
    }
    for (int i = 0; i < N_FDS; i++) {
        if (a->fd[i] >= 0) {
            (void)drain(a, i);
            feed(a, i, NULL, 0, true);
        }
        close_fd(a, i);
    }
    if (a->timer_open) {
        a->timer_open = false;
        uv_close((uv_handle_t *)&a->timer, on_attempt_handle_closed);
    }
}

/* attempt_finish, phase 2: the verdict. Returns true when the attempt
 * succeeded, else false with the reason in *ret_error (new); a failure the
 * memory limit explains says so. */
static bool attempt_verdict(struct exec_attempt *a, char **ret_error)
{
    struct exec_run *r = a->step->run;
    struct dagd_executor *e = r->e;
    const struct dagd_step *ps = &r->p->steps[a->step->idx];
    char buf[128], dbuf[64];
    char *error = NULL;
    int sig = a->status >= 0 && WIFSIGNALED(a->status) ? WTERMSIG(a->status) : 0;
    int code = a->status >= 0 && WIFEXITED(a->status) ? WEXITSTATUS(a->status) : -1;

    if (a->canceled) {
        error = dagd_xstrdup(r->cancel_reason ? r->cancel_reason : "canceled");
    } else if (a->timed_out) {
        error = dagd_xasprintf("timed out after %s",
                               format_duration_exact(ps->timeout_usec, dbuf, sizeof(dbuf)));
    } else if (a->backend_error) {
        error = dagd_xstrdup(a->backend_error);
    } else if (a->status < 0) {
        error = dagd_xstrdup(a->error ? a->error : "the worker failed");
    } else if (a->got_result && a->rc == 0 && code == 0) {
        return true;
    } else if (a->got_result && a->rc < 0) {
        error = dagd_xstrdup(a->error ? a->error : "failed");
    } else if (sig) {
        error = dagd_xasprintf("killed by signal %s", signal_name(sig, buf, sizeof(buf)));
    } else if (code >= 0) {
        error = dagd_xasprintf("exited with code %d without a result", code);
    } else {
        error = dagd_xstrdup("ended without a result");
    }
    /* A remote attempt's limit is always RLIMIT_AS in its worker (build_job). */
    enum dagd_memlimit_mode mode = a->backend ? DAGD_MEMLIMIT_RLIMIT_AS : e->memlimit.mode;
    if (!a->canceled && ps->memory_bytes && mode != DAGD_MEMLIMIT_NONE) {
        struct dagd_memlimit_outcome o = {
            .limit_bytes = ps->memory_bytes,
            .mode = mode,
            .term_signal = sig,
            .exit_code = code,
            .error = a->got_result ? a->rc : 0,
            .message = a->error,
            .cgroup_oom = a->cgroup ? dagd_memlimit_cgroup_oom_killed(a->cgroup) : -1,
            .alloc_watch = mode == DAGD_MEMLIMIT_RLIMIT_AS,
            .alloc_failed = a->oom,
        };
        if (dagd_memlimit_failure_is_oom(&o)) {
            free(error);
            error = dagd_xstrdup(dagd_memlimit_oom_message(ps->memory_bytes, buf, sizeof(buf)));
        }
    }
    *ret_error = error;
    return false;
}

/* attempt_finish, outcome: the step succeeded; keep what the planner
 * computed for the next memo lookup. */
static void step_succeeded(struct exec_step *s, const struct exec_attempt *a,
                           enum dagd_tracker_state st)
{
    struct exec_run *r = s->run;

    s->info.status = DAGD_STEP_SUCCEEDED;
    set_str(&s->info.error, NULL);
    if (s->verdict) {
        /* reliability: the fingerprint of what ran, for the next memo
         * lookup; none for a degraded result, so the next run retries it. */
        set_str(&s->info.fingerprint,
                s->verdict->fingerprint[0] && !a->no_memo ? s->verdict->fingerprint : NULL);
        set_str(&s->info.manifest, s->verdict->manifest);
        free(s->info.inputs_json);
        s->info.inputs_json = dagd_plan_step_inputs_json(s->verdict);
    }
    step_record(s);
    /* Newer than what the other runs' plans asked the store for. */
    for (struct exec_run *o = r->e->runs; o; o = o->next) {
        if (o != r && o->plan && r->plan) {
            dagd_plan_ctx_note_success(o->plan, r->plan, &s->info);
        }
    }
    if (st == DAGD_TRACKER_RUNNING) {
        dagd_tracker_succeeded(r->sched, s->idx, false);
    }
}

/* Whether a failed attempt is retried by the count: a lost one (its
 * pilot was lost) up to LOST_RETRIES times apart from `retries:`, which
 * counts only the attempts that were not lost. */
static bool attempt_retried(struct exec_step *s, const struct exec_attempt *a,
                            const struct dagd_step *ps)
{
    if (a->lost && s->n_lost < LOST_RETRIES) {
        s->n_lost++;
        return true;
    }
    return s->info.attempts - s->n_lost <= ps->retries;
}

/* attempt_finish, outcome: the attempt failed and the step has retries
 * left: back to pending, and a timer for the backoff (exponential, full
 * jitter). */
static void step_schedule_retry(struct exec_step *s, const char *error)
{
    struct exec_run *r = s->run;
    struct dagd_executor *e = r->e;
    const struct dagd_step *ps = &r->p->steps[s->idx];
    uint64_t rnd = 0;
    char dbuf[64];

    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
        rnd = dagd_now_mono_usec() * 0x9e3779b97f4a7c15ull;
    }
    s->retry_delay_usec =
        dagd_tracker_retry_delay(ps->retry_delay_usec, s->info.attempts, RETRY_CAP_USEC, rnd);
    char *m = dagd_xasprintf("attempt %u failed: %s; retrying in %s", s->info.attempts, error,
                             dagd_format_duration(s->retry_delay_usec, dbuf, sizeof(dbuf)));
    step_log(s, "notice", "retry", m);
    free(m);
    s->info.status = DAGD_STEP_PENDING;
    set_str(&s->info.error, error);
    step_record(s);
    dagd_tracker_backoff(r->sched, s->idx);
    s->retry_timer = dagd_xmalloc(sizeof(uv_timer_t));
    (void)uv_timer_init(e->cfg.loop, s->retry_timer);
    s->retry_timer->data = s;
    r->n_open++;
    (void)uv_timer_start(s->retry_timer, on_retry_timer, (s->retry_delay_usec + 999) / 1000, 0);
}

/* The attempt's process is gone: read the rest of its output, decide. */
static void attempt_finish(struct exec_attempt *a)
{
    struct exec_step *s = a->step;
    struct exec_run *r = s->run;
    struct dagd_executor *e = r->e;
    const struct dagd_step *ps = &r->p->steps[s->idx];
    _cleanup_free_ char *error = NULL;

    if (a->finished) {
        return;
    }
    a->finished = true;
    pool_release(s);
    attempt_unlink(e, a);
    attempt_close_io(a);
    bool ok = attempt_verdict(a, &error);
    if (a->cgroup) {
        (void)dagd_memlimit_cgroup_remove(a->cgroup);
    }

    s->att = NULL;
    if (a->warehouse) {
        /* its WAL goes into the file in the background (checkpointer.h) */
        dagd_checkpointer_request(e->ckpt, a->warehouse);
    }
    s->info.exit_code = a->status >= 0 && WIFEXITED(a->status) ? WEXITSTATUS(a->status) : -1;
    s->info.cpu_usec = a->cpu_usec;
    s->info.max_rss_kb = a->maxrss_kb;
    s->info.ended_at = dagd_now_wall_msec();
    enum dagd_tracker_state st = dagd_tracker_state(r->sched, s->idx);

    if (ok) {
        step_succeeded(s, a, st);
    } else if (a->canceled) {
        s->info.status = DAGD_STEP_CANCELED;
        set_str(&s->info.error, error);
        step_record(s);
        if (st == DAGD_TRACKER_RUNNING) {
            dagd_tracker_canceled(r->sched, s->idx);
        }
    } else if (attempt_retried(s, a, ps) && !a->no_retry && !e->shutting_down && !r->canceling) {
        step_schedule_retry(s, error);
    } else {
        s->info.status = DAGD_STEP_FAILED;
        set_str(&s->info.error, error);
        step_record(s);
        if (st == DAGD_TRACKER_RUNNING) {
            step_skip_downstream(s);
        }
    }
    attempt_unref(a); /* the "not finished" reference */
    run_maybe_finish(r);
    pump(e);
}

/* ---- runs ---------------------------------------------------------------------------------- */

static void run_free(struct exec_run *r)
{
    for (size_t i = 0; i < r->p->n_steps; i++) {
        struct exec_step *s = &r->steps[i];
        free(s->info.error);
        free(s->info.fingerprint);
        free(s->info.skip_reason);
        free(s->info.inputs_json);
        free(s->info.manifest);
        free(s->adopt_handle);
    }
    free(r->steps);
    free(r->scratch);
    dagd_tracker_free(r->sched);
    dagd_plan_ctx_free(r->plan);
    dagd_run_resolved_free(r->res);
    free(r->cancel_reason);
    free(r->end_error);
    dagd_pipeline_unref(r->p);
    free(r);
}

static void run_unref(struct exec_run *r)
{
    if (--r->n_open > 0) {
        return;
    }
    struct dagd_executor *e = r->e;
    for (struct exec_run **pp = &e->runs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    run_free(r);
    maybe_free_executor(e);
}

/* ---- ends that could not be stored (disk full) ---------------------------------------------- */

static void on_save_timer(uv_timer_t *t);

/* A write failed: from now on, every second, retry what must be stored and,
 * once the state can be written again, give back the space the failure
 * left in WALs (on_save_timer). */
static void save_timer_arm(struct dagd_executor *e)
{
    e->wal_dirty = true;
    if (!e->freeing && !uv_is_active((uv_handle_t *)&e->save_timer)) {
        (void)uv_timer_start(&e->save_timer, on_save_timer, SAVE_RETRY_MS, SAVE_RETRY_MS);
    }
}

/* Every run's state may be stale now: a batch holding its writes was lost. */
static void runs_lost_state(struct dagd_executor *e, int k)
{
    for (struct exec_run *r = e->runs; r; r = r->next) {
        if (!r->state_err) {
            r->state_err = k;
        }
    }
    save_timer_arm(e);
}

/* The run's error once some of its state could not be written. */
static char *run_lost_message(const struct exec_run *r, const char *error)
{
    _cleanup_free_ char *why =
        r->state_err == -ENOSPC ? dagd_xstrdup("disk full: some state changes could not be written")
                                : dagd_xasprintf("some state changes could not be written: %s",
                                                 strerror(-r->state_err));
    return error ? dagd_xasprintf("%s (%s)", error, why) : TAKE_PTR(why);
}

/* Write r's end in one transaction: each step's row whole when earlier
 * writes were lost (they may be missing or stale), then the run's status.
 * Returns 0 once it is committed, else -errno (nothing of it stored). */
static int run_store_end(struct exec_run *r)
{
    struct dagd_executor *e = r->e;
    struct dagd_store *st = e->cfg.store;
    int64_t now = dagd_now_wall_msec();
    int k = 0;

    batch(e);
    if (!dagd_store_in_batch(st)) {
        k = -EIO; /* could not even begin */
    }
    for (size_t i = 0; k >= 0 && r->state_err && i < r->p->n_steps; i++) {
        k = dagd_store_step_update(st, &r->steps[i].info, now);
    }
    if (k >= 0) {
        k = dagd_store_run_set_status(st, r->run_id, r->end_status, r->end_error, r->end_ms);
    }
    if (k < 0) {
        dagd_log_errno(LOG_WARNING, k, "Failed to record the end of run %s: %s", r->run_id,
                       dagd_store_errmsg(st));
        if (!r->state_err) {
            r->state_err = k;
        }
        save_timer_arm(e);
        if (e->own_batch) {
            /* The batch may hold half of it: drop it all, retry it all. */
            (void)dagd_store_rollback(st);
            e->own_batch = false;
            runs_lost_state(e, k);
        }
        return k;
    }
    return batch_commit(e);
}

/* Retry the ends not stored yet; once they are, also shrink the WALs the
 * failure left behind (state.db's, and the warehouses' whose checkpoint
 * failed); stop when all that is done. */
static void on_save_timer(uv_timer_t *t)
{
    struct dagd_executor *e = t->data;
    for (struct exec_run *r = e->runs, *next; r; r = next) {
        next = r->next;
        if (!r->end_unsaved || run_store_end(r) < 0) {
            continue;
        }
        dagd_log_notice("Recorded the end of run %s (%s) after the state database could not be "
                        "written",
                        r->run_id, dagd_run_status_to_string(r->end_status));
        r->end_unsaved = false;
        e->n_unsaved--;
        /* Frees r if nothing else holds it; next is untouched (no
         * observer runs here). */
        run_unref(r);
    }
    if (e->n_unsaved > 0 || dagd_store_in_batch(e->cfg.store)) {
        return;
    }
    if (e->wal_dirty) {
        int k = dagd_store_checkpoint(e->cfg.store);
        if (k < 0) {
            dagd_log_debug("%s: checkpoint of the state database: %s", __func__,
                           dagd_store_errmsg(e->cfg.store));
            return;
        }
        e->wal_dirty = false;
    }
    dagd_checkpointer_retry_failed(e->ckpt);
    if (dagd_checkpointer_settled(e->ckpt)) {
        (void)uv_timer_stop(t);
    }
}

/* At free: one last try, then the ends still not stored are left to the
 * next start's orphan recovery. */
static void run_give_up_end(struct exec_run *r)
{
    struct dagd_executor *e = r->e;
    if (!r->end_unsaved) {
        return;
    }
    if (run_store_end(r) < 0) {
        dagd_log_error("The end of run %s is not recorded in the state database; the next "
                       "start marks it failed",
                       r->run_id);
    }
    r->end_unsaved = false;
    e->n_unsaved--;
    run_unref(r);
}

size_t dagd_executor_unsaved(const struct dagd_executor *e)
{
    return e->n_unsaved;
}

static void run_maybe_finish(struct exec_run *r)
{
    struct dagd_executor *e = r->e;
    if (r->finished || !dagd_tracker_done(r->sched)) {
        return;
    }
    for (size_t i = 0; i < r->p->n_steps; i++) {
        if (r->steps[i].att) {
            return;
        }
    }
    r->finished = true;

    enum dagd_run_status status = DAGD_RUN_SUCCEEDED;
    _cleanup_free_ char *error = NULL;
    size_t n_failed = 0;
    const char *first_failed = NULL;
    for (size_t k = 0; k < r->p->n_steps; k++) {
        size_t i = r->p->topo ? r->p->topo[k] : k;
        if (dagd_tracker_state(r->sched, i) == DAGD_TRACKER_FAILED) {
            if (!first_failed) {
                first_failed = r->steps[i].info.step;
            }
            n_failed++;
        }
    }
    if (r->canceling) {
        status = DAGD_RUN_CANCELED;
        error = dagd_xstrdup(r->cancel_reason ? r->cancel_reason : "canceled");
    } else if (n_failed > 0) {
        status = DAGD_RUN_FAILED;
        error = n_failed == 1
                    ? dagd_xasprintf("step %s failed", first_failed)
                    : dagd_xasprintf("%zu steps failed, first %s", n_failed, first_failed);
    }
    if (r->state_err) {
        /* What state.db holds of the run may be stale: it did not succeed
         * as far as anyone can check (docs/reliability.md, "Disk full"). */
        if (status != DAGD_RUN_CANCELED) {
            status = DAGD_RUN_FAILED;
        }
        char *m = run_lost_message(r, error);
        free(error);
        error = m;
    }
    r->end_status = status;
    r->end_error = dagd_xstrdup(error);
    r->end_ms = dagd_now_wall_msec();
    /* Observers answer clients (`dagctl run --wait`) who then read state.db
     * themselves: the end of the run must be committed before they hear of it. */
    if (run_store_end(r) < 0) {
        /* Kept (with a reference) until its end is stored. */
        r->end_unsaved = true;
        r->n_open++;
        e->n_unsaved++;
        dagd_log_error("Cannot record the end of run %s (%s) in the state database: %s; "
                       "retrying every second",
                       r->run_id, dagd_run_status_to_string(status),
                       dagd_store_errmsg(e->cfg.store));
        save_timer_arm(e);
    }
    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_RUN_FINISHED,
        .run_id = r->run_id,
        .pipeline = r->p->name,
        .run_status = status,
        .message = error,
    };
    notify(e, &ev);
    run_unref(r); /* the "not finished" reference */
}

/* Start step i of r, or record it skipped when the plan says it is up to date. */
static void step_start(struct exec_run *r, size_t i)
{
    struct exec_step *s = &r->steps[i];

    if (s->info.attempts == 0 && r->plan) {
        /* reliability: "should this step run?" right before launch, when the
         * files its upstream steps wrote are there to be hashed. */
        s->verdict = dagd_plan_step_eval(r->plan, i);
        if (s->verdict && !s->verdict->run && s->forced) {
            /* --from/--only name a step to run: it runs, and so does
             * everything downstream of it. */
            dagd_plan_step_mark_run(r->plan, i, "selected with --from/--only");
        } else if (s->verdict && !s->verdict->run) {
            s->info.status = DAGD_STEP_SKIPPED;
            set_str(&s->info.skip_reason, "memoized");
            set_str(&s->info.fingerprint,
                    s->verdict->fingerprint[0] ? s->verdict->fingerprint : NULL);
            s->info.started_at = s->info.ended_at = dagd_now_wall_msec();
            step_record(s);
            dagd_tracker_succeeded(r->sched, i, true);
            return;
        }
    }
    pool_take(s);
    s->info.attempts++;
    s->info.status = DAGD_STEP_RUNNING;
    if (s->info.attempts == 1) {
        s->info.started_at = dagd_now_wall_msec();
    }
    s->info.ended_at = 0;
    s->info.exit_code = -1;
    step_record(s);
    attempt_launch(s);
}

static unsigned effective_jobs(const struct dagd_executor *e)
{
    return e->cfg.max_jobs;
}

/* Whether step ps may start now: local steps share max_jobs; steps on a
 * cluster its own bound (slurm max_jobs), since they do not load us. */
static bool slot_free(const struct dagd_executor *e, const struct dagd_step *ps)
{
    if (ps->executor == DAGD_STEP_EXECUTOR_LOCAL) {
        return e->n_inflight - e->n_remote < effective_jobs(e);
    }
    unsigned max = e->cfg.slurm && e->cfg.slurm->max_jobs ? e->cfg.slurm->max_jobs : 1000;
    return e->n_remote < max;
}

/* Record the steps whose trigger rule was not met (any_failed, and no need
 * failed) as skipped with the reason. */
static void record_not_triggered(struct exec_run *r)
{
    ssize_t i;
    while ((i = dagd_tracker_pop_not_triggered(r->sched)) >= 0) {
        struct exec_step *s = &r->steps[i];
        s->info.status = DAGD_STEP_SKIPPED;
        set_str(&s->info.skip_reason, "trigger_rule any_failed: no step it needs failed");
        s->info.started_at = s->info.ended_at = dagd_now_wall_msec();
        step_record(s);
    }
}

/* ---- pools ---- */

static ssize_t pool_index(const struct dagd_executor *e, const char *name)
{
    for (size_t i = 0; name && i < e->n_pools; i++) {
        if (streq(e->pools[i].name, name)) {
            return (ssize_t)i;
        }
    }
    return -1;
}

int dagd_executor_check_pools(const struct dagd_executor *e, const struct dagd_pipeline *p,
                              struct dagd_diags *reterr)
{
    int r = 0;
    for (size_t i = 0; e->pools_on && i < p->n_steps; i++) {
        const struct dagd_step *ps = &p->steps[i];
        if (!ps->pool) {
            continue;
        }
        ssize_t k = pool_index(e, ps->pool);
        if (k < 0) {
            _cleanup_free_ const char **names = dagd_xcalloc(e->n_pools + 1, sizeof(char *));
            for (size_t j = 0; j < e->n_pools; j++) {
                names[j] = e->pools[j].name;
            }
            _cleanup_free_ char *list = dagd_strv_join(names, e->n_pools, ", ");
            dagd_diags_add(reterr, p->file, ps->pool_mark,
                           "step '%s': pool '%s' is not in the daemon config (pools: %s)", ps->name,
                           ps->pool, e->n_pools ? list : "none");
            r = -EINVAL;
        } else if (ps->slots > e->pools[k].slots) {
            dagd_diags_add(reterr, p->file, ps->pool_mark,
                           "step '%s' takes %u slots of pool '%s', which has %u", ps->name,
                           ps->slots, ps->pool, e->pools[k].slots);
            r = -EINVAL;
        }
    }
    return r;
}

/* The tracker's filter: does step i of run r fit in its pool now? A step
 * that does not is counted as waiting for it. */
static bool step_fits(size_t i, void *userdata)
{
    struct exec_run *r = userdata;
    struct dagd_executor *e = r->e;
    struct exec_step *s = &r->steps[i];
    if (s->pool < 0) {
        return true;
    }
    unsigned want = r->p->steps[i].slots;
    if (e->pool_used[s->pool] + want <= e->pools[s->pool].slots) {
        if (r->seq <= e->pool_turn[s->pool]) {
            e->pool_turn_held[s->pool] = true; /* room, but later runs go first */
            return false;
        }
        return true;
    }
    if (s->waited != e->pass) { /* once per pass, however often it is tried */
        s->waited = e->pass;
        e->pool_waiting[s->pool]++;
    }
    return false;
}

/* The tracker's filter with steps on a backend: a free slot of the step's
 * kind (slot_free), then room in its pool. */
static bool step_may_start(size_t i, void *userdata)
{
    struct exec_run *r = userdata;
    return slot_free(r->e, &r->p->steps[i]) && (r->e->n_pools == 0 || step_fits(i, r));
}

static void pool_take(struct exec_step *s)
{
    struct dagd_executor *e = s->run->e;
    if (s->pool >= 0 && !s->holds_slots) {
        e->pool_used[s->pool] += s->run->p->steps[s->idx].slots;
        e->pool_turn[s->pool] = s->run->seq;
        s->holds_slots = true;
    }
}

/* The attempt ended: its slots go back (a retry takes them again when it
 * starts; the backoff holds none). */
static void pool_release(struct exec_step *s)
{
    struct dagd_executor *e = s->run->e;
    if (s->holds_slots) {
        e->pool_used[s->pool] -= s->run->p->steps[s->idx].slots;
        s->holds_slots = false;
    }
}

size_t dagd_executor_n_pools(const struct dagd_executor *e)
{
    return e->n_pools;
}

int dagd_executor_pool(const struct dagd_executor *e, size_t i, const char **ret_name,
                       unsigned *ret_slots, unsigned *ret_used, unsigned *ret_waiting)
{
    if (i >= e->n_pools) {
        return -ENOENT;
    }
    *ret_name = e->pools[i].name;
    *ret_slots = e->pools[i].slots;
    *ret_used = e->pool_used[i];
    *ret_waiting = e->pool_waiting[i];
    return 0;
}

/* A pool whose free slots no run after its turn wanted: the turn wraps to
 * the oldest run. True if one did (pump passes again). */
static bool pool_turns_wrap(struct dagd_executor *e)
{
    bool wrapped = false;
    for (size_t k = 0; k < e->n_pools; k++) {
        if (e->pool_turn_held[k]) {
            e->pool_turn_held[k] = false;
            e->pool_turn[k] = 0;
            wrapped = true;
        }
    }
    return wrapped;
}

/* Start as many ready steps as the limits allow, oldest run first. The
 * slots of a pool go round the runs that want them, one slot a turn in the
 * order of the runs' age (step_fits), so a run with a thousand ready steps
 * in a pool does not hold back a newer run's step in it for all of them. */
static void pump(struct dagd_executor *e)
{
    if (e->pumping) {
        e->pump_again = true;
        return;
    }
    e->pumping = true;
    do {
        e->pump_again = false;
        if (e->n_pools > 0) {
            memset(e->pool_waiting, 0, e->n_pools * sizeof(*e->pool_waiting));
            memset(e->pool_turn_held, 0, e->n_pools * sizeof(*e->pool_turn_held));
            e->pass++;
        }
        struct exec_run *next;
        for (struct exec_run *r = e->runs; r; r = next) {
            /* A launch that fails at once can finish and free the run. */
            r->n_open++;
            record_not_triggered(r);
            bool memo_ready = !r->plan || dagd_plan_ctx_ready(r->plan);
            e->memo_waiting = e->memo_waiting || !memo_ready;
            while (memo_ready && !r->finished && !r->canceling && !e->shutting_down &&
                   !e->freeing &&
                   (r->max_jobs == 0 || dagd_tracker_n_running(r->sched) < r->max_jobs)) {
                ssize_t i;
                if (e->n_pools > 0 || r->has_remote) {
                    i = dagd_tracker_pop_ready_if(r->sched, step_may_start, r);
                } else {
                    /* the hot path of local pipelines: O(log n) */
                    i = e->n_inflight - e->n_remote < effective_jobs(e)
                            ? dagd_tracker_pop_ready(r->sched)
                            : -1;
                }
                if (i < 0) {
                    break;
                }
                step_start(r, (size_t)i);
                record_not_triggered(r);
            }
            record_not_triggered(r);
            run_maybe_finish(r); /* e.g. everything memoized */
            next = r->next;
            run_unref(r);
        }
    } while (e->pump_again || (e->n_pools > 0 && pool_turns_wrap(e)));
    e->pumping = false;
}

/* Steps of the parent run that do not need to run again in a retry. */
static int load_parent(struct dagd_executor *e, struct exec_run *r, const char *parent,
                       struct dagd_diags *reterr)
{
    struct dagd_step_info *steps = NULL;
    size_t n = 0;
    int k = dagd_store_steps_list(e->cfg.store, parent, &steps, &n);
    if (k < 0 || n == 0) {
        dagd_diags_add(reterr, r->p->file, (struct dagd_mark){0, 0}, "cannot retry run %s: %s",
                       parent, k < 0 ? dagd_store_errmsg(e->cfg.store) : "no such run or no steps");
        free(steps);
        return -EINVAL;
    }
    for (size_t j = 0; j < n; j++) {
        ssize_t i = dagd_pipeline_step_index(r->p, steps[j].step);
        if (i >= 0 && (steps[j].status == DAGD_STEP_SUCCEEDED ||
                       (steps[j].status == DAGD_STEP_SKIPPED && steps[j].skip_reason &&
                        !strstr(steps[j].skip_reason, "upstream failed") &&
                        !strstr(steps[j].skip_reason, "trigger_rule")))) {
            struct exec_step *s = &r->steps[i];
            char *why = dagd_xasprintf("succeeded in run %s", parent);
            s->info.status = DAGD_STEP_SKIPPED;
            set_str(&s->info.skip_reason, why);
            set_str(&s->info.fingerprint, steps[j].fingerprint);
            free(why);
            dagd_tracker_exclude(r->sched, (size_t)i);
        }
        dagd_step_info_done(&steps[j]);
    }
    free(steps);
    return 0;
}

/* submit, phase 1: the run's memory, its steps pending, or skipped "not
 * selected" when --from / --only left them out; takes `res`. */
static struct exec_run *run_new(struct dagd_executor *e, struct dagd_pipeline *p,
                                const struct dagd_run_options *opts, struct dagd_run_resolved *res)
{
    struct exec_run *r = dagd_xcalloc(1, sizeof(*r));
    size_t *n_needs = dagd_xcalloc(p->n_steps ? p->n_steps : 1, sizeof(size_t));
    const size_t **needs = dagd_xcalloc(p->n_steps ? p->n_steps : 1, sizeof(size_t *));

    r->e = e;
    r->p = dagd_pipeline_ref(p);
    r->res = res;
    r->max_jobs = opts->max_jobs;
    if (opts->run_id && strlen(opts->run_id) == 32) {
        memcpy(r->run_id, opts->run_id, 33);
    } else {
        dagd_run_id_new(r->run_id);
    }
    r->steps = dagd_xcalloc(p->n_steps, sizeof(*r->steps));
    r->scratch = dagd_xcalloc(p->n_steps ? p->n_steps : 1, sizeof(size_t));
    for (size_t i = 0; i < p->n_steps; i++) {
        struct exec_step *s = &r->steps[i];
        s->run = r;
        s->idx = i;
        s->info.run_id = r->run_id;
        s->info.step = p->steps[i].name;
        s->info.task = p->steps[i].task;
        s->info.status = DAGD_STEP_PENDING;
        s->info.exit_code = -1;
        s->pool = e->pools_on ? pool_index(e, p->steps[i].pool) : -1;
        n_needs[i] = p->steps[i].n_needs;
        r->has_remote = r->has_remote || p->steps[i].executor != DAGD_STEP_EXECUTOR_LOCAL;
        needs[i] = p->steps[i].needs_idx;
    }
    r->sched = dagd_tracker_new(p->n_steps, needs, n_needs, p->topo);
    free(n_needs);
    free(needs);
    for (size_t i = 0; i < p->n_steps; i++) {
        dagd_tracker_set_rule(r->sched, i, p->steps[i].trigger_rule);
    }

    for (size_t i = 0; i < p->n_steps; i++) {
        if (!res->selected[i]) {
            r->steps[i].info.status = DAGD_STEP_SKIPPED;
            set_str(&r->steps[i].info.skip_reason, "not selected");
            dagd_tracker_exclude(r->sched, i);
        }
    }
    if (res->forced >= 0) {
        r->steps[res->forced].forced = true;
    }
    return r;
}

/* submit, phase 2: the run and its steps in the store, marked running. */
static int run_record(struct exec_run *r, const struct dagd_run_options *opts,
                      struct dagd_diags *reterr)
{
    struct dagd_executor *e = r->e;
    const struct dagd_pipeline *p = r->p;
    _cleanup_free_ char **names = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    _cleanup_free_ char **tasks = dagd_xcalloc(p->n_steps + 1, sizeof(char *));
    int k;

    for (size_t i = 0; i < p->n_steps; i++) {
        names[i] = p->steps[i].name;
        tasks[i] = p->steps[i].task;
    }
    struct dagd_run_info info = {
        .run_id = r->run_id,
        .pipeline = p->name,
        .trigger = (char *)(opts->trigger         ? opts->trigger
                            : opts->parent_run_id ? "retry"
                                                  : "cli"),
        .params_json = r->res->params_json,
        .parent_run_id = (char *)opts->parent_run_id,
        .created_at = dagd_now_wall_msec(),
        .partition = (char *)opts->partition,
    };
    batch(e);
    /* A run of the daemon's durable queue has its row (queued) already. */
    k = opts->recorded ? 0 : dagd_store_run_create(e->cfg.store, &info, names, tasks, p->n_steps);
    if (k < 0) {
        dagd_diags_add(reterr, p->file, (struct dagd_mark){0, 0}, "cannot record the run: %s",
                       dagd_store_errmsg(e->cfg.store));
        return k;
    }
    k = dagd_store_run_set_status(e->cfg.store, r->run_id, DAGD_RUN_RUNNING, NULL,
                                  dagd_now_wall_msec());
    if (k < 0) {
        dagd_log_errno(LOG_WARNING, k, "Failed to record run %s running: %s, ignoring", r->run_id,
                       dagd_store_errmsg(e->cfg.store));
    }
    return 0;
}

/* run_begin of a resumed run: adopt its attempts still out there, and
 * fail again what had failed (its downstream steps are skipped). */
static void resume_begin(struct exec_run *r)
{
    for (size_t i = 0; i < r->p->n_steps; i++) {
        struct exec_step *s = &r->steps[i];
        if (s->adopt_handle) {
            s->info.status = DAGD_STEP_RUNNING;
            s->info.ended_at = 0;
            step_record(s);
            char *m = dagd_xasprintf("attempt %u adopted after a restart (%s)", s->info.attempts,
                                     s->adopt_handle);
            step_log(s, "notice", "log", m);
            free(m);
            attempt_launch(s);
        } else if (s->resume_lost) {
            s->resume_lost = false;
            char *m = dagd_xasprintf("attempt %u was lost with the daemon (its pilot ends with the "
                                     "daemon's connection), runs again",
                                     s->info.attempts);
            step_log(s, "warning", "log", m);
            free(m);
        } else if (s->resume_failed) {
            s->resume_failed = false;
            s->info.status = DAGD_STEP_FAILED;
            step_record(s);
            step_skip_downstream(s);
        }
    }
}

/* submit, phase 3: the run joins the executor's list, observers hear of it,
 * its skipped steps are recorded and its first steps start. */
static void run_begin(struct exec_run *r, const struct dagd_run_options *opts)
{
    struct dagd_executor *e = r->e;
    struct dagd_plan_options popts = {
        .force = opts->force,
        .work_dir = e->work_dir,
        .configs = (const char *const *)r->res->config_json,
    };

    r->plan = dagd_plan_ctx_new(r->p, e->cfg.store, e->cfg.plugins, &r->res->params, &popts);
    /* Every step's last success in one question, not one wait per step. */
    dagd_plan_ctx_prefetch(r->plan);
    r->n_open = 1; /* the "not finished" reference */
    r->seq = ++e->run_seq;
    struct exec_run **tail = &e->runs;
    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = r;

    struct dagd_exec_event ev = {
        .kind = DAGD_EXEC_RUN_STARTED,
        .run_id = r->run_id,
        .pipeline = r->p->name,
    };
    notify(e, &ev);
    for (size_t i = 0; i < r->p->n_steps; i++) {
        if (r->steps[i].info.status == DAGD_STEP_SKIPPED) {
            step_record(&r->steps[i]);
        }
    }
    dagd_tracker_begin(r->sched);
    resume_begin(r);
    pump(e);
}

int dagd_executor_submit_resolved(struct dagd_executor *e, struct dagd_pipeline *p,
                                  const struct dagd_run_options *opts,
                                  struct dagd_run_resolved *resolved, char ret_run_id[static 33],
                                  struct dagd_diags *reterr)
{
    static const struct dagd_run_options no_opts = {0};
    struct exec_run *r;
    int k;

    if (!opts) {
        opts = &no_opts;
    }
    if (e->freeing || e->shutting_down) {
        dagd_run_resolved_free(resolved);
        dagd_diags_add(reterr, p->file, (struct dagd_mark){0, 0}, "dagd is shutting down");
        return -ESHUTDOWN;
    }
    assert(resolved->n_steps == p->n_steps);
    k = dagd_executor_check_pools(e, p, reterr);
    if (k < 0) {
        dagd_run_resolved_free(resolved);
        return k;
    }
    r = run_new(e, p, opts, resolved);
    if (opts->parent_run_id) {
        k = load_parent(e, r, opts->parent_run_id, reterr);
        if (k < 0) {
            goto fail;
        }
    }
    k = run_record(r, opts, reterr);
    if (k < 0) {
        goto fail;
    }
    memcpy(ret_run_id, r->run_id, 33);
    run_begin(r, opts);
    /* The caller may hand the id to a client that looks it up in state.db. */
    (void)batch_commit(e);
    return 0;

fail:
    r->n_open = 0;
    run_free(r);
    return k;
}

int dagd_executor_submit(struct dagd_executor *e, struct dagd_pipeline *p,
                         const struct dagd_run_options *opts, char ret_run_id[static 33],
                         struct dagd_diags *reterr)
{
    static const struct dagd_run_options no_opts = {0};
    struct dagd_run_options o = opts ? *opts : no_opts;
    struct dagd_run_resolved *res = NULL;
    struct dagd_run_info parent = {0};
    char id[33];
    int k;

    if (e->freeing || e->shutting_down) {
        dagd_diags_add(reterr, p->file, (struct dagd_mark){0, 0}, "dagd is shutting down");
        return -ESHUTDOWN;
    }
    /* A retry runs the partition of the run it retries. */
    if (o.parent_run_id && !o.partition &&
        dagd_store_run_get(e->cfg.store, o.parent_run_id, &parent) == 0) {
        o.partition = parent.partition;
    }
    /* The run_id built-in needs the id before the run exists. */
    if (!o.run_id || strlen(o.run_id) != 32) {
        dagd_run_id_new(id);
        o.run_id = id;
    }
    k = dagd_run_resolve(p, &o, e->state_dir, o.run_id, false, &res, reterr);
    if (k >= 0) {
        k = dagd_executor_submit_resolved(e, p, &o, res, ret_run_id, reterr);
    }
    dagd_run_info_done(&parent);
    return k;
}

/* resume: what each recorded step becomes; false if the run has nothing
 * to adopt (then it is not resumed). */
static bool resume_steps(struct dagd_executor *e, struct exec_run *r,
                         const struct dagd_step_info *steps, size_t n)
{
    bool adopted = false;
    for (size_t j = 0; j < n; j++) {
        ssize_t i = dagd_pipeline_step_index(r->p, steps[j].step);
        if (i < 0) {
            continue;
        }
        struct exec_step *s = &r->steps[i];
        const struct dagd_step_info *st = &steps[j];
        s->info.attempts = st->attempts;
        s->info.started_at = st->started_at;
        if (st->status == DAGD_STEP_SUCCEEDED ||
            (st->status == DAGD_STEP_SKIPPED && st->skip_reason &&
             !strstr(st->skip_reason, "upstream failed"))) {
            s->info.status = st->status;
            s->info.ended_at = st->ended_at;
            s->info.exit_code = st->exit_code;
            s->info.rows_in = st->rows_in;
            s->info.rows_out = st->rows_out;
            set_str(&s->info.skip_reason, st->skip_reason);
            set_str(&s->info.fingerprint, st->fingerprint);
            dagd_tracker_exclude(r->sched, (size_t)i);
        } else if (st->status == DAGD_STEP_FAILED) {
            s->info.ended_at = st->ended_at;
            s->info.exit_code = st->exit_code;
            set_str(&s->info.error, st->error);
            s->resume_failed = true;
            dagd_tracker_preset_running(r->sched, (size_t)i);
        } else if (st->status == DAGD_STEP_RUNNING &&
                   r->p->steps[i].executor != DAGD_STEP_EXECUTOR_LOCAL) {
            s->adopt_handle =
                dagd_exec_slurm_attempt_handle(e->state_dir, r->run_id, st->step, st->attempts);
            if (s->adopt_handle) {
                dagd_tracker_preset_running(r->sched, (size_t)i);
                adopted = true;
            } else if (slurm_mode(e, &r->p->steps[i]) == DAGD_SLURM_MODE_PILOT) {
                /* Its pilot killed the attempt when the old daemon's
                 * connection dropped: it runs again as a lost attempt
                 * (not counted against `retries:`). */
                s->resume_lost = true;
                s->n_lost = st->attempts ? 1 : 0;
                adopted = true;
            }
        }
        /* Anything else (pending, a local attempt that died with the old
         * daemon) runs again, its attempts counted on. */
    }
    return adopted;
}

int dagd_executor_resume(struct dagd_executor *e, struct dagd_pipeline *p,
                         const struct dagd_run_info *run, const struct dagd_step_info *steps,
                         size_t n, struct dagd_diags *reterr)
{
    size_t n_over = 0;
    char **over = dagd_params_overrides_from_json(&p->params, run->params_json, &n_over);
    struct dagd_run_options opts = {
        .trigger = run->trigger,
        .param_overrides = over,
        .n_param_overrides = n_over,
        .run_id = run->run_id,
        .partition = run->partition,
        .recorded = true,
    };
    struct dagd_run_resolved *res = NULL;
    struct exec_run *r = NULL;
    int k = -ESHUTDOWN;

    if (e->freeing || e->shutting_down) {
        goto out;
    }
    k = dagd_run_resolve(p, &opts, e->state_dir, run->run_id, false, &res, reterr);
    if (k < 0) {
        goto out;
    }
    r = run_new(e, p, &opts, res);
    if (!resume_steps(e, r, steps, n)) {
        r->n_open = 0;
        run_free(r);
        k = -ENOENT;
        goto out;
    }
    k = run_record(r, &opts, reterr);
    if (k < 0) {
        r->n_open = 0;
        run_free(r);
        goto out;
    }
    run_begin(r, &opts);
    (void)batch_commit(e);
out:
    for (size_t i = 0; i < n_over; i++) {
        free(over[i]);
    }
    free(over);
    return k;
}

static void run_cancel(struct exec_run *r, const char *reason)
{
    if (r->finished) {
        return;
    }
    /* A run may be canceling already without its running steps stopped:
     * dagd_executor_shutdown() cancels only the pending ones first and
     * leaves the running ones their grace. */
    if (!r->canceling) {
        r->canceling = true;
        set_str(&r->cancel_reason, reason);
    }
    size_t n = dagd_tracker_cancel_pending(r->sched, r->scratch);
    for (size_t k = 0; k < n; k++) {
        struct exec_step *s = &r->steps[r->scratch[k]];
        step_close_retry_timer(s);
        s->info.status = DAGD_STEP_CANCELED;
        set_str(&s->info.error, reason);
        step_record(s);
    }
    for (size_t i = 0; i < r->p->n_steps; i++) {
        struct exec_attempt *a = r->steps[i].att;
        /* Not twice: that would stop the grace timer of the first. */
        if (a && !a->exited && !a->canceled) {
            a->canceled = true;
            if (!a->timer_open) {
                (void)uv_timer_init(r->e->cfg.loop, &a->timer);
                a->timer.data = a;
                a->timer_open = true;
                a->n_open++;
            }
            (void)uv_timer_stop(&a->timer);
            attempt_stop(a);
        }
    }
    run_maybe_finish(r);
}

int dagd_executor_cancel(struct dagd_executor *e, const char *run_id)
{
    for (struct exec_run *r = e->runs; r; r = r->next) {
        if (streq(r->run_id, run_id) && !r->finished) {
            run_cancel(r, "canceled");
            pump(e);
            return 0;
        }
    }
    return -ENOENT;
}

/* Call fn on every run. fn may finish and free any run (observers of a
 * finished run can cancel others), so the visited run is held by a
 * reference until the next one is held: the loop never reads freed memory. */
static void runs_each(struct dagd_executor *e, void (*fn)(struct exec_run *r))
{
    struct exec_run *r = e->runs;
    if (r) {
        r->n_open++;
    }
    while (r) {
        fn(r);
        struct exec_run *next = r->next;
        if (next) {
            next->n_open++;
        }
        run_unref(r);
        r = next;
    }
}

static void run_cancel_shutdown(struct exec_run *r)
{
    run_cancel(r, "canceled: dagd is shutting down");
}

static void run_cancel_stopping(struct exec_run *r)
{
    run_cancel(r, "canceled: dagd is stopping");
}

static void on_shutdown_timer(uv_timer_t *t)
{
    runs_each(t->data, run_cancel_shutdown);
}

/* No new steps of r start: the pending ones are recorded canceled. */
static void run_cancel_pending(struct exec_run *r)
{
    if (r->finished) {
        return;
    }
    size_t n = dagd_tracker_cancel_pending(r->sched, r->scratch);
    for (size_t k = 0; k < n; k++) {
        struct exec_step *s = &r->steps[r->scratch[k]];
        step_close_retry_timer(s);
        s->info.status = DAGD_STEP_CANCELED;
        set_str(&s->info.error, "canceled: dagd is shutting down");
        step_record(s);
    }
    if (n > 0) {
        r->canceling = true;
        set_str(&r->cancel_reason, "canceled: dagd is shutting down");
    }
}

void dagd_executor_shutdown(struct dagd_executor *e, uint64_t grace_usec)
{
    if (e->shutting_down) {
        return;
    }
    e->shutting_down = true;
    /* No new steps start; the running ones get `grace_usec` to finish. */
    runs_each(e, run_cancel_pending);
    if (grace_usec == 0) {
        on_shutdown_timer(&e->shutdown_timer);
    } else {
        (void)uv_timer_start(&e->shutdown_timer, on_shutdown_timer, (grace_usec + 999) / 1000, 0);
    }
    /* Runs with nothing running end now (each end frees its run). */
    runs_each(e, run_maybe_finish);
}

size_t dagd_executor_active(const struct dagd_executor *e)
{
    size_t n = 0;
    for (const struct exec_run *r = e->runs; r; r = r->next) {
        n += !r->finished;
    }
    return n;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* The dagd-worker binary: next to the running binary (build tree:
 * daemon/dagd and daemon/dagd-worker), else, for another binary of the build
 * tree (unit tests), the tree's own worker, else the installed one in
 * DAGD_LIBEXECDIR. An installed dagd never uses a build tree's worker, even
 * when the tree it was built from still exists. */
static char *find_worker(void)
{
    char self[4096], dir[4096];
    _cleanup_free_ char *root = NULL;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *p;
    size_t l;

    if (n <= 0) {
        return dagd_xasprintf("%s/dagd-worker", DAGD_LIBEXECDIR);
    }
    self[n] = '\0';
    memcpy(dir, self, (size_t)n + 1);
    p = dagd_xasprintf("%s/dagd-worker", dirname(dir)); /* dirname() writes into dir */
    if (access(p, X_OK) == 0) {
        return p;
    }
    free(p);
    root = realpath(DAGD_BUILD_ROOT, NULL);
    l = root ? strlen(root) : 0;
    if (root && strncmp(self, root, l) == 0 && self[l] == '/') {
        p = dagd_xasprintf("%s/daemon/dagd-worker", root);
        if (access(p, X_OK) == 0) {
            return p;
        }
        free(p);
    }
    return dagd_xasprintf("%s/dagd-worker", DAGD_LIBEXECDIR);
}

int dagd_executor_new(const struct dagd_executor_config *cfg, struct dagd_executor **ret)
{
    struct dagd_executor *e = dagd_xcalloc(1, sizeof(*e));
    e->cfg = *cfg;
    if (e->cfg.max_jobs == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        e->cfg.max_jobs = n > 0 ? (unsigned)n : 1;
    }
    e->state_dir = dagd_xstrdup(cfg->state_dir ? cfg->state_dir : ".");
    e->worker_path = cfg->worker_path ? dagd_xstrdup(cfg->worker_path) : find_worker();
    if (cfg->work_dir) {
        e->work_dir = dagd_xstrdup(cfg->work_dir);
    } else {
        char cwd[4096];
        e->work_dir = dagd_xstrdup(getcwd(cwd, sizeof(cwd)) ? cwd : ".");
    }
    e->pools_on = cfg->pools != NULL;
    e->n_pools = cfg->n_pools;
    e->pools = dagd_xcalloc(e->n_pools + 1, sizeof(*e->pools));
    e->pool_used = dagd_xcalloc(e->n_pools + 1, sizeof(*e->pool_used));
    e->pool_waiting = dagd_xcalloc(e->n_pools + 1, sizeof(*e->pool_waiting));
    e->pool_turn = dagd_xcalloc(e->n_pools + 1, sizeof(*e->pool_turn));
    e->pool_turn_held = dagd_xcalloc(e->n_pools + 1, sizeof(*e->pool_turn_held));
    for (size_t i = 0; i < e->n_pools; i++) {
        e->pools[i].name = dagd_xstrdup(cfg->pools[i].name);
        e->pools[i].slots = cfg->pools[i].slots;
    }
    e->cfg.pools = NULL; /* the copies above */
    e->tmpl_fd = -1;
    e->sendq_tail = &e->sendq;
    if (dagd_proc_boot_id(e->boot_id) < 0) {
        e->boot_id[0] = '\0';
    }
    dagd_memlimit_detect(&e->memlimit);
    e->ckpt = dagd_checkpointer_new(cfg->loop);

    (void)uv_prepare_init(cfg->loop, &e->prepare);
    (void)uv_check_init(cfg->loop, &e->check);
    (void)uv_timer_init(cfg->loop, &e->shutdown_timer);
    (void)uv_timer_init(cfg->loop, &e->save_timer);
    e->prepare.data = e->check.data = e->shutdown_timer.data = e->save_timer.data = e;
    e->n_open = 4;
    (void)uv_prepare_start(&e->prepare, on_prepare);
    (void)uv_check_start(&e->check, on_check);
    uv_unref((uv_handle_t *)&e->prepare);
    uv_unref((uv_handle_t *)&e->check);
    uv_unref((uv_handle_t *)&e->shutdown_timer);
    uv_unref((uv_handle_t *)&e->save_timer);
    /* Start the template now, so the first step of `dagd serve` does not pay
     * for it; if it cannot start, the first step tries again (and fails
     * with the reason). */
    (void)tmpl_start(e);
    /* Pilot allocations a dead daemon left in Slurm's queue: canceled now,
     * not only once a pilot step needs the pool. */
    _cleanup_free_ char *pilots = dagd_xasprintf("%s/pilots", e->state_dir);
    dagd_pilot_pool_sweep(cfg->loop, pilots, cfg->slurm ? cfg->slurm->scancel : NULL);
    *ret = e;
    return 0;
}

static void maybe_free_executor(struct dagd_executor *e)
{
    if (!e->freeing || e->n_open > 0 || e->runs) {
        return;
    }
    for (size_t i = 0; i < e->n_obs; i++) {
        free(e->obs[i].run_id);
    }
    free(e->obs);
    for (size_t i = 0; i < e->n_pools; i++) {
        free((char *)e->pools[i].name);
    }
    free(e->pools);
    free(e->pool_used);
    free(e->pool_waiting);
    free(e->pool_turn);
    free(e->pool_turn_held);
    dagd_memlimit_done(&e->memlimit);
    (void)dagd_checkpointer_free(e->ckpt);
    free(e->state_dir);
    free(e->worker_path);
    free(e->work_dir);
    free(e);
}

void dagd_executor_free(struct dagd_executor *e)
{
    if (!e || e->freeing) {
        return;
    }
    e->freeing = true;
    /* Everything still running is killed now; its state is recorded before
     * we return, the memory goes with the close callbacks. */
    runs_each(e, run_cancel_stopping);
    for (struct exec_attempt *a = e->inflight; a; a = a->next) {
        if (a->pid > 0) {
            kill_group(a, SIGKILL);
        }
    }
    tmpl_stop(e);
    tmpl_fail_inflight(e, "canceled: dagd is stopping");
    if (e->slurm) {
        /* Its cancels (scancel) still go out; its handles close later. */
        e->slurm->ops->free(e->slurm->impl);
        free(e->slurm);
        e->slurm = NULL;
    }
    if (e->pilot) {
        /* Closing the connections ends the pilots and what they run. */
        e->pilot->ops->free(e->pilot->impl);
        free(e->pilot);
        e->pilot = NULL;
    }
    /* SIGTERM, not SIGKILL: the template then kills what the steps started
     * outside their process groups (it is their subreaper) and exits. */
    for (struct tmpl *t = e->tmpls; t; t = t->next) {
        if (t->proc_open) {
            (void)uv_process_kill(&t->proc, SIGTERM);
            t->proc_open = false;
            uv_close((uv_handle_t *)&t->proc, on_tmpl_handle_closed);
        }
    }
    (void)batch_commit(e);
    runs_each(e, run_give_up_end);
    uv_close((uv_handle_t *)&e->prepare, handle_closed_count);
    uv_close((uv_handle_t *)&e->check, handle_closed_count);
    uv_close((uv_handle_t *)&e->shutdown_timer, handle_closed_count);
    uv_close((uv_handle_t *)&e->save_timer, handle_closed_count);
}
