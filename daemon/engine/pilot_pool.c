/* See pilot_pool.h; protocol in pilot_proto.h. The moving parts:
 *
 *   - a TCP listener; each accepted connection reads lines (capped at
 *     DAGD_PILOT_MAX_HELLO until the pilot proved itself, then
 *     DAGD_PILOT_MAX_LINE) and, after an "out" line, that many raw bytes;
 *   - one struct pilot per allocation asked of Slurm, with its secret (in a
 *     0600 file the pilot reads on the shared filesystem), its Slurm job id
 *     once sbatch answered, and once connected its connection and the
 *     attempts it runs;
 *   - a FIFO of attempts waiting for a slot; dispatch is first fit over the
 *     connected pilots, so work packs onto few allocations and the others
 *     go idle and are released;
 *   - one periodic timer for everything that takes time: hello deadlines,
 *     heartbeats, idle release, start timeouts, and asking for more
 *     allocations (also done at once on submit).
 *
 * Lifetimes: a connection is freed in its close callback; a pilot when it
 * has neither a connection nor a running sbatch; the pool once it is being
 * freed and nothing of it is open. */
#include "pilot_pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "worker_proto.h"
/* after worker_proto.h: it sizes lines from DAGD_WORKER_MAX_JOB */
#include "pilot_proto.h"

#define TICK_MS 200
/* Connections that have not said who they are yet, at most: more are
 * closed at once (a flood must not use up the daemon's fds). */
#define MAX_UNAUTHENTICATED 64
/* After sbatch failed, wait this long before asking again. */
#define SBATCH_BACKOFF_USEC (10ull * 1000000)

enum pilot_state {
    PILOT_SUBMITTING, /* sbatch is running */
    PILOT_QUEUED,     /* Slurm took it; not connected yet */
    PILOT_CONNECTED,
    PILOT_GONE, /* released, lost, or sbatch failed: waiting for its handles */
};

struct pjob {
    struct pjob *next;
    uint64_t id;
    char *msg; /* the whole line, "\n" included; NULL once sent */
    size_t msg_len;
    unsigned slots;
};

struct conn;

struct pilot {
    struct pilot *next;
    struct dagd_pilot_pool *pool;
    char alloc[32];
    char secret[DAGD_PILOT_SECRET_BYTES * 2 + 1];
    char *secret_path;
    char *job_id; /* Slurm's, once sbatch answered */
    char *host;
    enum pilot_state state;
    struct conn *conn;
    struct pjob *jobs; /* dispatched, not ended */
    unsigned slots, used;
    uint64_t since; /* submitted, then idle since */
    uv_process_t sbatch;
    uv_pipe_t sbatch_out;
    unsigned n_open; /* sbatch handles */
    char sbatch_buf[128];
    size_t sbatch_len;
    bool sbatch_exited, sbatch_eof; /* both before its answer counts */
    int64_t sbatch_status;
    int sbatch_sig;
};

struct conn {
    struct conn *next;
    struct dagd_pilot_pool *pool;
    uv_tcp_t tcp;
    struct pilot *pilot; /* NULL until the hello was accepted */
    char peer[80];
    char *buf;
    size_t len, cap;
    size_t raw_left; /* raw bytes of an "out" still to come */
    uint64_t raw_id;
    int raw_fd;
    uint64_t accepted_usec, heard_usec;
    uint64_t hb_sent_usec; /* our last heartbeat to the pilot */
    bool released;         /* sent "bye": what still comes is dropped */
    bool closing;
};

struct write_req {
    uv_write_t req;
    char *data;
};

struct dagd_pilot_pool {
    uv_loop_t *loop;
    struct dagd_pilot_job_ops ops;
    void *userdata;
    char *listen, *advertise, *memory, *time, *partition, *account, *qos;
    char **sbatch_args;
    char *sbatch, *scancel, *worker_path, *dir;
    unsigned max_pilots, cpus;
    uint64_t idle_usec, hb_usec, start_timeout_usec;

    uv_tcp_t server;
    uv_timer_t timer;
    uint64_t last_tick_usec;
    int port;
    struct pilot *pilots;
    struct conn *conns;
    struct pjob *queue, **queue_tail;
    size_t n_queued;
    unsigned next_alloc;
    uint64_t sbatch_blocked_until;
    bool freeing;
    unsigned n_open;
};

static void pool_dispatch(struct dagd_pilot_pool *pool);
static void pool_demand(struct dagd_pilot_pool *pool);
static void pool_maybe_free(struct dagd_pilot_pool *pool);

/* ---- small helpers ------------------------------------------------------------------------ */

static void handle_closed(uv_handle_t *h)
{
    struct dagd_pilot_pool *pool = h->data;
    pool->n_open--;
    pool_maybe_free(pool);
}

/* Constant time: a wrong secret tells nothing of the right one. */
static bool secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++) {
        d |= (unsigned char)(a[i] ^ b[i]);
    }
    return d == 0;
}

/* A program run on the side and never waited for (scancel). */
static void on_detached_exit(uv_process_t *p, int64_t status, int sig)
{
    uv_close((uv_handle_t *)p, (uv_close_cb)free);
}

static void run_detached(uv_loop_t *loop, char **args)
{
    uv_process_t *p = dagd_xcalloc(1, sizeof(*p));
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = on_detached_exit,
                              .file = args[0],
                              .args = args,
                              .stdio = stdio,
                              .stdio_count = 3};
    int r = uv_spawn(loop, p, &o);
    if (r < 0) {
        dagd_log_warning("Failed to run '%s': %s, ignoring", args[0], uv_strerror(r));
        uv_close((uv_handle_t *)p, (uv_close_cb)free);
        return;
    }
    /* Referenced: the loop (dagd's shutdown too) waits for it, briefly. */
}

static void pilot_scancel(struct pilot *p)
{
    if (!p->job_id) {
        return;
    }
    char *args[] = {p->pool->scancel, p->job_id, NULL};
    run_detached(p->pool->loop, args);
}

/* ---- writes ------------------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    free(w->data);
    free(w);
}

/* Send `data` (taken) on c. Errors surface as a read error or EOF. */
static void conn_send(struct conn *c, char *data, size_t len)
{
    if (c->closing) {
        free(data);
        return;
    }
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    /* Most sends fit the socket buffer: no request, no callback. */
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == (int)len) {
            free(data);
            return;
        }
        if (n > 0) {
            b.base += n;
            b.len -= (size_t)n;
        }
    }
    struct write_req *w = dagd_xcalloc(1, sizeof(*w));
    w->data = data;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        free(data);
        free(w);
    }
}

static void conn_send_str(struct conn *c, const char *s)
{
    conn_send(c, dagd_xstrdup(s), strlen(s));
}

/* ---- pilots and their end ----------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct dagd_pilot_pool *pool = c->pool;
    for (struct conn **pp = &pool->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c->buf);
    free(c);
    pool->n_open--;
    pool_maybe_free(pool);
}

static void conn_close(struct conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    if (c->pilot) {
        c->pilot->conn = NULL;
        c->pilot = NULL;
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    conn_close(c);
}

static void pilot_free(struct pilot *p)
{
    struct dagd_pilot_pool *pool = p->pool;
    for (struct pilot **pp = &pool->pilots; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    if (p->secret_path) {
        (void)unlink(p->secret_path);
    }
    if (p->job_id) {
        _cleanup_free_ char *jf = dagd_xasprintf("%s/%s.job", pool->dir, p->alloc);
        (void)unlink(jf);
    }
    explicit_bzero(p->secret, sizeof(p->secret));
    free(p->secret_path);
    free(p->job_id);
    free(p->host);
    free(p);
    pool_maybe_free(pool);
}

static void pilot_maybe_free(struct pilot *p)
{
    if (p->state == PILOT_GONE && p->n_open == 0) {
        pilot_free(p);
    }
}

/* The pilot ends: no more dispatch to it; its connection closes (after a
 * "bye" when released); each attempt it still held hears failed(lost). */
static void pilot_end(struct pilot *p, const char *why, bool lost)
{
    struct dagd_pilot_pool *pool = p->pool;
    if (p->state == PILOT_GONE) {
        return;
    }
    p->state = PILOT_GONE;
    struct conn *c = p->conn;
    if (c && !lost) {
        conn_send_str(c, "{\"t\":\"bye\"}\n");
        uv_shutdown_t *req = dagd_xcalloc(1, sizeof(*req));
        req->data = c;
        c->pilot = NULL;
        c->released = true;
        p->conn = NULL;
        if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
            free(req);
            conn_close(c);
        }
    } else if (c) {
        conn_close(c);
    }
    if (lost) {
        unsigned n = 0;
        for (struct pjob *j = p->jobs; j; j = j->next) {
            n++;
        }
        dagd_log_warning("Lost pilot allocation %s (Slurm job %s) on %s: %s; %u attempts in flight",
                         p->alloc, p->job_id ? p->job_id : "?", p->host ? p->host : "?", why, n);
        /* It may still run (a hung node): nothing of it may go on. */
        pilot_scancel(p);
    }
    struct pjob *jobs = p->jobs;
    p->jobs = NULL;
    p->used = 0;
    /* Detached first: the callbacks may submit again (a retry). */
    while (jobs) {
        struct pjob *j = jobs;
        jobs = j->next;
        char *m = dagd_xasprintf("the pilot on %s (Slurm job %s) was lost: %s",
                                 p->host ? p->host : "?", p->job_id ? p->job_id : "?", why);
        if (pool->ops.failed) {
            pool->ops.failed(pool->userdata, j->id, m, true);
        }
        free(m);
        free(j->msg);
        free(j);
    }
    pilot_maybe_free(p);
    if (!pool->freeing) {
        pool_dispatch(pool);
        pool_demand(pool);
    }
}

/* ---- asking Slurm for allocations ---------------------------------------------------------- */

static void on_sbatch_closed(uv_handle_t *h)
{
    struct pilot *p = h->data;
    p->n_open--;
    pilot_maybe_free(p);
}

static void on_sbatch_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct pilot *p = h->data;
    b->base = p->sbatch_buf + p->sbatch_len;
    b->len = sizeof(p->sbatch_buf) - 1 - p->sbatch_len;
}

static void sbatch_done(struct pilot *p);

static void on_sbatch_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct pilot *p = s->data;
    if (n > 0) {
        p->sbatch_len += (size_t)n;
    }
    if (n < 0 || p->sbatch_len >= sizeof(p->sbatch_buf) - 1) {
        (void)uv_read_stop(s);
        uv_close((uv_handle_t *)s, on_sbatch_closed);
        p->sbatch_eof = true;
        sbatch_done(p);
    }
}

static void on_sbatch_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct pilot *p = proc->data;
    p->sbatch_exited = true;
    p->sbatch_status = status;
    p->sbatch_sig = sig;
    uv_close((uv_handle_t *)proc, on_sbatch_closed);
    sbatch_done(p);
}

/* DIR/ALLOC.job: "JOBID PID HOST", so that the next daemon on this state
 * directory can cancel the allocations of one that died
 * (dagd_pilot_pool_sweep). */
static void write_job_file(const struct pilot *p)
{
    char host[256] = "";
    (void)gethostname(host, sizeof(host) - 1);
    _cleanup_free_ char *path = dagd_xasprintf("%s/%s.job", p->pool->dir, p->alloc);
    _cleanup_free_ char *text = dagd_xasprintf("%s %d %s\n", p->job_id, (int)getpid(), host);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || dagd_write_all(fd, text, strlen(text)) < 0) {
        dagd_log_warning("Failed to write '%s': %m; a restarted daemon will not cancel it", path);
    }
    if (fd >= 0) {
        (void)close(fd);
    }
}

void dagd_pilot_pool_sweep(uv_loop_t *loop, const char *dir, const char *scancel)
{
    DIR *d = opendir(dir);
    char host[256] = "";
    char **args = NULL;
    size_t n = 0;

    (void)gethostname(host, sizeof(host) - 1);
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len < 5 || len > 64 || !streq(de->d_name + len - 4, ".job")) {
            continue;
        }
        _cleanup_free_ char *path = dagd_xasprintf("%s/%s", dir, de->d_name);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char job[64], who[256];
        int pid = 0;
        if (!f || fscanf(f, "%63s %d %255s", job, &pid, who) != 3 || pid <= 0 ||
            !streq(who, host) || pid == (int)getpid() || kill(pid, 0) == 0 || errno != ESRCH) {
            continue;
        }
        _cleanup_free_ char *secret =
            dagd_xasprintf("%s/%.*s.secret", dir, (int)(len - 4), de->d_name);
        (void)unlink(secret);
        (void)unlink(path);
        dagd_log_info("Canceling pilot allocation %.*s (Slurm job %s) of a daemon that died",
                      (int)(len - 4), de->d_name, job);
        args = dagd_xreallocarray(args, n + 3, sizeof(*args));
        if (n == 0) {
            args[n++] = dagd_xstrdup(scancel ? scancel : "scancel");
        }
        args[n++] = dagd_xstrdup(job);
        args[n] = NULL;
    }
    if (d) {
        (void)closedir(d);
    }
    if (n) {
        run_detached(loop, args);
        for (size_t i = 0; i < n; i++) {
            free(args[i]);
        }
        free(args);
    }
}

/* sbatch exited and its output is read: the job id, or a failure. */
static void sbatch_done(struct pilot *p)
{
    struct dagd_pilot_pool *pool = p->pool;
    if (!p->sbatch_exited || !p->sbatch_eof) {
        return;
    }
    p->sbatch_buf[p->sbatch_len] = '\0';
    /* --parsable: "JOBID" or "JOBID;CLUSTER" */
    p->sbatch_buf[strcspn(p->sbatch_buf, ";\n")] = '\0';
    if (p->sbatch_status == 0 && p->sbatch_sig == 0 && p->sbatch_buf[0]) {
        p->job_id = dagd_xstrdup(p->sbatch_buf);
        write_job_file(p);
        if (p->state == PILOT_SUBMITTING) {
            p->state = PILOT_QUEUED;
            dagd_log_info("Asked Slurm for pilot allocation %s (job %s)", p->alloc, p->job_id);
        } else if (p->state == PILOT_GONE) {
            pilot_scancel(p); /* released, or the pool freed, while sbatch ran */
        }
        return;
    }
    if (p->state == PILOT_GONE) {
        return;
    }
    dagd_log_error("'%s' failed for pilot allocation %s (status %" PRId64 ", signal %d); "
                   "asking again in 10 s",
                   pool->sbatch, p->alloc, p->sbatch_status, p->sbatch_sig);
    pool->sbatch_blocked_until = dagd_now_mono_usec() + SBATCH_BACKOFF_USEC;
    pilot_end(p, "sbatch failed", false);
}

static int write_secret(struct pilot *p)
{
    uint8_t raw[DAGD_PILOT_SECRET_BYTES];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        snprintf(p->secret + 2 * i, 3, "%02x", raw[i]);
    }
    explicit_bzero(raw, sizeof(raw));
    p->secret_path = dagd_xasprintf("%s/%s.secret", p->pool->dir, p->alloc);
    (void)unlink(p->secret_path);
    int fd = open(p->secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return -errno;
    }
    int k = dagd_write_all(fd, p->secret, strlen(p->secret));
    (void)close(fd);
    return k;
}

/* Ask Slurm for one more allocation. */
static void pilot_submit(struct dagd_pilot_pool *pool)
{
    struct pilot *p = dagd_xcalloc(1, sizeof(*p));
    p->pool = pool;
    snprintf(p->alloc, sizeof(p->alloc), "a%u-%08x", ++pool->next_alloc,
             (unsigned)(dagd_now_wall_usec() & 0xffffffffu));
    p->state = PILOT_SUBMITTING;
    p->since = dagd_now_mono_usec();
    p->next = pool->pilots;
    pool->pilots = p;

    int k = write_secret(p);
    if (k < 0) {
        dagd_log_errno(LOG_ERR, k, "Failed to write the secret of pilot allocation %s: %m",
                       p->alloc);
        pool->sbatch_blocked_until = dagd_now_mono_usec() + SBATCH_BACKOFF_USEC;
        p->state = PILOT_GONE;
        pilot_maybe_free(p);
        return;
    }
    _cleanup_free_ char *q_worker = dagd_sh_quote(pool->worker_path);
    _cleanup_free_ char *q_addr = dagd_sh_quote(pool->advertise);
    _cleanup_free_ char *q_secret = dagd_sh_quote(p->secret_path);
    _cleanup_free_ char *wrap =
        dagd_xasprintf("--wrap=exec %s --pilot --connect %s --alloc %s --secret-file %s "
                       "--slots %u",
                       q_worker, q_addr, p->alloc, q_secret, pool->cpus);
    _cleanup_free_ char *name = dagd_xasprintf("--job-name=dagd-pilot-%s", p->alloc);
    _cleanup_free_ char *cpus = dagd_xasprintf("--cpus-per-task=%u", pool->cpus);
    _cleanup_free_ char *out = dagd_xasprintf("--output=%s/%s.log", pool->dir, p->alloc);
    _cleanup_free_ char *mem = pool->memory ? dagd_xasprintf("--mem=%s", pool->memory) : NULL;
    _cleanup_free_ char *tim = pool->time ? dagd_xasprintf("--time=%s", pool->time) : NULL;
    _cleanup_free_ char *part =
        pool->partition ? dagd_xasprintf("--partition=%s", pool->partition) : NULL;
    _cleanup_free_ char *acct =
        pool->account ? dagd_xasprintf("--account=%s", pool->account) : NULL;
    _cleanup_free_ char *qos = pool->qos ? dagd_xasprintf("--qos=%s", pool->qos) : NULL;
    char *args[32];
    size_t n = 0;
    args[n++] = pool->sbatch;
    args[n++] = (char *)"--parsable";
    args[n++] = name;
    args[n++] = (char *)"--nodes=1";
    args[n++] = (char *)"--ntasks=1";
    args[n++] = cpus;
    args[n++] = out;
    char *opt[] = {mem, tim, part, acct, qos};
    for (size_t i = 0; i < ELEMENTSOF(opt); i++) {
        if (opt[i]) {
            args[n++] = opt[i];
        }
    }
    for (size_t i = 0; pool->sbatch_args && pool->sbatch_args[i] && n < ELEMENTSOF(args) - 2; i++) {
        args[n++] = pool->sbatch_args[i];
    }
    args[n++] = wrap;
    args[n] = NULL;

    (void)uv_pipe_init(pool->loop, &p->sbatch_out, 0);
    p->sbatch_out.data = p;
    p->n_open++;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->sbatch_out},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t o = {
        .exit_cb = on_sbatch_exit, .file = args[0], .args = args, .stdio = stdio, .stdio_count = 3};
    p->sbatch.data = p;
    int r = uv_spawn(pool->loop, &p->sbatch, &o);
    p->n_open++;
    if (r < 0) {
        dagd_log_error("Failed to run '%s' for a pilot allocation: %s", pool->sbatch,
                       uv_strerror(r));
        pool->sbatch_blocked_until = dagd_now_mono_usec() + SBATCH_BACKOFF_USEC;
        uv_close((uv_handle_t *)&p->sbatch, on_sbatch_closed);
        uv_close((uv_handle_t *)&p->sbatch_out, on_sbatch_closed);
        p->state = PILOT_GONE;
        return;
    }
    if (uv_read_start((uv_stream_t *)&p->sbatch_out, on_sbatch_alloc, on_sbatch_read) < 0) {
        uv_close((uv_handle_t *)&p->sbatch_out, on_sbatch_closed);
        p->sbatch_eof = true;
    }
}

/* Ask for allocations while queued attempts need more slots than the
 * allocations already on their way will bring. */
static void pool_demand(struct dagd_pilot_pool *pool)
{
    if (pool->freeing || pool->n_queued == 0 || dagd_now_mono_usec() < pool->sbatch_blocked_until) {
        return;
    }
    unsigned n = 0, coming = 0;
    for (struct pilot *p = pool->pilots; p; p = p->next) {
        if (p->state == PILOT_GONE) {
            continue;
        }
        n++;
        if (p->state != PILOT_CONNECTED) {
            coming += pool->cpus;
        }
    }
    uint64_t need = 0;
    for (struct pjob *j = pool->queue; j; j = j->next) {
        need += j->slots < pool->cpus ? j->slots : pool->cpus;
    }
    while (need > coming && n < pool->max_pilots) {
        pilot_submit(pool);
        coming += pool->cpus;
        n++;
    }
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void pool_dispatch(struct dagd_pilot_pool *pool)
{
    while (pool->queue) {
        struct pjob *j = pool->queue;
        struct pilot *to = NULL;
        for (struct pilot *p = pool->pilots; p && !to; p = p->next) {
            unsigned want = j->slots < p->slots ? j->slots : p->slots;
            if (p->state == PILOT_CONNECTED && p->conn && p->slots - p->used >= want) {
                to = p;
            }
        }
        if (!to) {
            return;
        }
        pool->queue = j->next;
        if (!pool->queue) {
            pool->queue_tail = &pool->queue;
        }
        pool->n_queued--;
        j->slots = j->slots < to->slots ? j->slots : to->slots;
        j->next = to->jobs;
        to->jobs = j;
        to->used += j->slots;
        conn_send(to->conn, j->msg, j->msg_len);
        j->msg = NULL;
    }
}

void dagd_pilot_pool_submit(struct dagd_pilot_pool *pool, uint64_t id, char *job_json,
                            unsigned slots)
{
    struct pjob *j = dagd_xcalloc(1, sizeof(*j));
    j->id = id;
    j->msg = dagd_xasprintf("{\"t\":\"job\",\"job\":%s}\n", job_json);
    j->msg_len = strlen(j->msg);
    j->slots = slots ? slots : 1;
    free(job_json);
    *pool->queue_tail = j;
    pool->queue_tail = &j->next;
    pool->n_queued++;
    pool_dispatch(pool);
    pool_demand(pool);
    /* Queued or running attempts keep the loop alive. */
    uv_ref((uv_handle_t *)&pool->timer);
}

static struct pjob *pilot_find_job(struct pilot *p, uint64_t id, struct pjob ***ret_link)
{
    for (struct pjob **pp = &p->jobs; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            if (ret_link) {
                *ret_link = pp;
            }
            return *pp;
        }
    }
    return NULL;
}

void dagd_pilot_pool_cancel(struct dagd_pilot_pool *pool, uint64_t id, uint64_t grace_usec)
{
    for (struct pjob **pp = &pool->queue; *pp; pp = &(*pp)->next) {
        struct pjob *j = *pp;
        if (j->id != id) {
            continue;
        }
        *pp = j->next;
        if (pool->queue_tail == &j->next) {
            pool->queue_tail = pp;
        }
        pool->n_queued--;
        free(j->msg);
        free(j);
        if (pool->ops.failed) {
            pool->ops.failed(pool->userdata, id, "canceled before it started", false);
        }
        return;
    }
    for (struct pilot *p = pool->pilots; p; p = p->next) {
        if (p->conn && pilot_find_job(p, id, NULL)) {
            char buf[96];
            snprintf(buf, sizeof(buf),
                     "{\"t\":\"kill\",\"id\":%" PRIu64 ",\"grace_ms\":%" PRIu64 "}\n", id,
                     (grace_usec + 999) / 1000);
            conn_send_str(p->conn, buf);
            return;
        }
    }
}

/* ---- messages from pilots ----------------------------------------------------------------- */

/* Refuse a connection that has not (or not rightly) said who it is. */
static void conn_refuse(struct conn *c, const char *why)
{
    dagd_log_warning("Refused a pilot connection from %s: %s", c->peer, why);
    conn_close(c);
}

static void on_hello(struct conn *c, const char *line, size_t len)
{
    struct dagd_pilot_pool *pool = c->pool;
    cJSON *m = cJSON_ParseWithLength(line, len);
    const char *t = m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "t")) : NULL;
    const char *alloc =
        m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "alloc")) : NULL;
    const char *secret =
        m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "secret")) : NULL;
    const char *host = m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "host")) : NULL;
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, "v") : NULL;
    const cJSON *slots = m ? cJSON_GetObjectItemCaseSensitive(m, "slots") : NULL;
    struct pilot *p = NULL;

    if (!t || !streq(t, "hello") || !alloc || !secret || !cJSON_IsNumber(slots)) {
        conn_refuse(c, "not a pilot's hello");
        goto out;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != DAGD_PILOT_PROTO_VERSION) {
        conn_refuse(c, "another protocol version");
        goto out;
    }
    for (p = pool->pilots; p; p = p->next) {
        if (streq(p->alloc, alloc)) {
            break;
        }
    }
    /* The same answer for an unknown allocation and a wrong secret. */
    if (!p || !secret_equal(p->secret, secret)) {
        conn_refuse(c, "wrong allocation or secret");
        goto out;
    }
    if (p->state != PILOT_QUEUED && p->state != PILOT_SUBMITTING) {
        conn_refuse(c, p->state == PILOT_CONNECTED ? "allocation already connected"
                                                   : "allocation already ended");
        goto out;
    }
    p->state = PILOT_CONNECTED;
    p->conn = c;
    c->pilot = p;
    p->slots =
        slots->valuedouble >= 1 && slots->valuedouble <= 4096 ? (unsigned)slots->valuedouble : 1;
    if (p->slots > pool->cpus) {
        p->slots = pool->cpus;
    }
    p->host = dagd_xstrdup(host && strlen(host) < 256 ? host : c->peer);
    p->since = dagd_now_mono_usec();
    dagd_log_info("Pilot allocation %s (Slurm job %s) connected from %s (%s), %u slots", p->alloc,
                  p->job_id ? p->job_id : "?", p->host, c->peer, p->slots);
    char buf[96];
    snprintf(buf, sizeof(buf), "{\"v\":%d,\"t\":\"welcome\",\"hb_ms\":%" PRIu64 ",\"dhb\":true}\n",
             DAGD_PILOT_PROTO_VERSION, pool->hb_usec / 1000);
    conn_send_str(c, buf);
    c->hb_sent_usec = p->since;
    pool_dispatch(pool);
out:
    cJSON_Delete(m);
}

/* The attempt id of a message, if it names one this pilot runs. */
static struct pjob *msg_job(struct pilot *p, const cJSON *m, struct pjob ***ret_link)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
    return cJSON_IsNumber(id) ? pilot_find_job(p, (uint64_t)id->valuedouble, ret_link) : NULL;
}

static void job_end(struct pilot *p, struct pjob **link)
{
    struct pjob *j = *link;
    *link = j->next;
    p->used -= j->slots;
    if (p->used == 0) {
        p->since = dagd_now_mono_usec();
    }
    free(j->msg);
    free(j);
}

static void on_pilot_line(struct conn *c, const char *line, size_t len)
{
    struct dagd_pilot_pool *pool = c->pool;
    struct pilot *p = c->pilot;
    cJSON *m = cJSON_ParseWithLength(line, len);
    const char *t = m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "t")) : NULL;
    struct pjob **link = NULL;
    struct pjob *j;

    if (!t) {
        dagd_log_warning("Malformed message from pilot %s on %s, ignoring", p->alloc, p->host);
    } else if (streq(t, "hb")) {
        /* heard_usec is updated for every read */
    } else if (streq(t, "out")) {
        const cJSON *fd = cJSON_GetObjectItemCaseSensitive(m, "fd");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "n");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
        if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > DAGD_PILOT_MAX_CHUNK ||
            !cJSON_IsNumber(fd) || fd->valuedouble < 0 || fd->valuedouble > 2 ||
            !cJSON_IsNumber(id)) {
            cJSON_Delete(m);
            pilot_end(p, "protocol error: bad output header", true);
            return;
        }
        c->raw_left = (size_t)n->valuedouble;
        c->raw_id = (uint64_t)id->valuedouble;
        c->raw_fd = (int)fd->valuedouble;
    } else if (streq(t, "pid") && (j = msg_job(p, m, NULL))) {
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(m, "pid");
        if (pool->ops.started) {
            char where[400];
            snprintf(where, sizeof(where), "pilot %s (Slurm job %s) on %s, pid %d", p->alloc,
                     p->job_id ? p->job_id : "?", p->host,
                     cJSON_IsNumber(pid) ? (int)pid->valuedouble : 0);
            pool->ops.started(pool->userdata, j->id, where);
        }
    } else if (streq(t, "exit") && (j = msg_job(p, m, &link))) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "status");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "utime_us");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "stime_us");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "maxrss_kb");
        uint64_t id = j->id;
        job_end(p, link);
        if (pool->ops.exited) {
            pool->ops.exited(pool->userdata, id, cJSON_IsNumber(st) ? (int)st->valuedouble : -1,
                             (int64_t)((cJSON_IsNumber(u) ? u->valuedouble : 0) +
                                       (cJSON_IsNumber(s) ? s->valuedouble : 0)),
                             cJSON_IsNumber(r) ? (int64_t)r->valuedouble : 0);
        }
        pool_dispatch(pool);
    } else if (streq(t, "error") && (j = msg_job(p, m, &link))) {
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "error"));
        _cleanup_free_ char *why = dagd_xasprintf("on %s: %s", p->host, e ? e : "cannot start");
        uint64_t id = j->id;
        job_end(p, link);
        if (pool->ops.failed) {
            pool->ops.failed(pool->userdata, id, why, false);
        }
        pool_dispatch(pool);
    }
    /* Anything else, or about an attempt it does not hold (ended, or never
     * its): ignored, so nothing is recorded twice. */
    cJSON_Delete(m);
}

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char buf[64 * 1024];
    b->base = buf;
    b->len = sizeof(buf);
}

/* Raw bytes of an "out": to the attempt, if this pilot still holds it. */
static void conn_feed_raw(struct conn *c, const char *data, size_t n)
{
    struct pjob *j = c->pilot ? pilot_find_job(c->pilot, c->raw_id, NULL) : NULL;
    c->raw_left -= n;
    if (j && c->pool->ops.output) {
        c->pool->ops.output(c->pool->userdata, j->id, c->raw_fd, data, n);
    }
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    if (c->released) {
        if (nread < 0) {
            conn_close(c);
        }
        return;
    }
    if (nread < 0) {
        if (c->pilot) {
            pilot_end(c->pilot,
                      nread == UV_EOF ? "the connection was closed" : uv_strerror((int)nread),
                      true);
        } else {
            conn_close(c);
        }
        return;
    }
    c->heard_usec = dagd_now_mono_usec();
    const char *d = b->base;
    size_t n = (size_t)nread;
    while (n > 0 && !c->closing) {
        if (c->raw_left > 0) {
            size_t take = n < c->raw_left ? n : c->raw_left;
            conn_feed_raw(c, d, take);
            d += take;
            n -= take;
            continue;
        }
        const char *nl = memchr(d, '\n', n);
        size_t part = nl ? (size_t)(nl - d) : n;
        size_t max = c->pilot ? DAGD_PILOT_MAX_LINE : DAGD_PILOT_MAX_HELLO;
        if (c->len + part > max) {
            if (c->pilot) {
                pilot_end(c->pilot, "protocol error: a line is too long", true);
            } else {
                conn_refuse(c, "first line too long");
            }
            return;
        }
        if (c->len + part + 1 > c->cap) {
            c->cap = (c->len + part + 1) * 2;
            c->buf = dagd_xrealloc(c->buf, c->cap);
        }
        memcpy(c->buf + c->len, d, part);
        c->len += part;
        d += part + (nl ? 1 : 0);
        n -= part + (nl ? 1 : 0);
        if (!nl) {
            break;
        }
        size_t l = c->len;
        c->len = 0;
        if (c->pilot) {
            on_pilot_line(c, c->buf, l);
        } else {
            on_hello(c, c->buf, l);
            if (!c->pilot && !c->closing) {
                conn_close(c);
            }
        }
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct dagd_pilot_pool *pool = server->data;
    if (status < 0) {
        dagd_log_warning("Failed to accept a pilot connection: %s, ignoring", uv_strerror(status));
        return;
    }
    struct conn *c = dagd_xcalloc(1, sizeof(*c));
    c->pool = pool;
    (void)uv_tcp_init(pool->loop, &c->tcp);
    c->tcp.data = c;
    c->next = pool->conns;
    pool->conns = c;
    pool->n_open++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    unsigned n_unauth = 0;
    for (struct conn *o = pool->conns; o; o = o->next) {
        n_unauth += !o->pilot && !o->closing && !o->released;
    }
    snprintf(c->peer, sizeof(c->peer), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[64] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            (void)uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            (void)uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    }
    if (n_unauth > MAX_UNAUTHENTICATED) {
        conn_refuse(c, "too many connections waiting for their hello");
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    c->accepted_usec = c->heard_usec = dagd_now_mono_usec();
    if (uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read) < 0) {
        conn_close(c);
        return;
    }
    /* A connection does not keep dagd's loop alive (the attempts do). */
    uv_unref((uv_handle_t *)&c->tcp);
}

/* ---- the timer ---------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct dagd_pilot_pool *pool = t->data;
    uint64_t now = dagd_now_mono_usec();

    /* Timers run before I/O in a loop iteration: after the loop was
     * blocked (a long commit), the heartbeats wait unread in the sockets.
     * Silence while we did not listen does not count. */
    if (pool->last_tick_usec && now - pool->last_tick_usec > pool->hb_usec) {
        for (struct conn *c = pool->conns; c; c = c->next) {
            c->heard_usec = now;
        }
    }
    pool->last_tick_usec = now;

    for (struct conn *c = pool->conns, *next; c; c = next) {
        next = c->next;
        if (!c->pilot && !c->closing &&
            now - c->accepted_usec > DAGD_PILOT_HELLO_TIMEOUT_MS * 1000ull) {
            conn_refuse(c, "no hello in time");
        }
    }
    for (struct pilot *p = pool->pilots, *next; p; p = next) {
        next = p->next;
        if (p->state == PILOT_CONNECTED && p->conn && !p->conn->closing &&
            now - p->conn->hb_sent_usec >= pool->hb_usec) {
            /* Ours, so a pilot whose daemon went silent stops its attempts. */
            conn_send_str(p->conn, "{\"t\":\"hb\"}\n");
            p->conn->hb_sent_usec = now;
        }
        if (p->state == PILOT_CONNECTED && p->conn &&
            now - p->conn->heard_usec > DAGD_PILOT_HB_MISSES * pool->hb_usec) {
            dagd_log_warning("Pilot allocation %s on %s missed %d heartbeats: lost", p->alloc,
                             p->host, DAGD_PILOT_HB_MISSES);
            pilot_end(p, "no heartbeat", true);
        } else if (p->state == PILOT_CONNECTED && p->used == 0 && pool->n_queued == 0 &&
                   now - p->since >= pool->idle_usec) {
            dagd_log_info("Releasing pilot allocation %s (Slurm job %s) on %s: idle", p->alloc,
                          p->job_id ? p->job_id : "?", p->host);
            pilot_end(p, "released", false);
        } else if (p->state == PILOT_QUEUED && now - p->since >= pool->start_timeout_usec) {
            dagd_log_warning("Pilot allocation %s (Slurm job %s) did not connect in time; "
                             "canceling it",
                             p->alloc, p->job_id ? p->job_id : "?");
            pilot_scancel(p);
            pilot_end(p, "did not connect", false);
        }
    }
    pool_demand(pool);
    bool busy = pool->n_queued > 0;
    for (struct pilot *p = pool->pilots; p && !busy; p = p->next) {
        busy = p->jobs != NULL;
    }
    if (!busy) {
        uv_unref((uv_handle_t *)t);
    }
}

/* ---- life cycle --------------------------------------------------------------------------- */

static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
    _cleanup_free_ char *host = dagd_xstrdup(s);
    char *colon = strrchr(host, ':');
    if (!colon) {
        return -EINVAL;
    }
    *colon = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        return -EINVAL;
    }
    char *h = host;
    if (h[0] == '[' && colon > h && colon[-1] == ']') {
        colon[-1] = '\0';
        h++;
    }
    if (!*h || streq(h, "*")) {
        h = (char *)"0.0.0.0";
    }
    if (uv_ip4_addr(h, (int)port, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    return uv_ip6_addr(h, (int)port, (struct sockaddr_in6 *)ss) == 0 ? 0 : -EINVAL;
}

static char **strv_copy(const char *const *v)
{
    size_t n = 0;
    while (v && v[n]) {
        n++;
    }
    char **out = dagd_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        out[i] = dagd_xstrdup(v[i]);
    }
    return out;
}

int dagd_pilot_pool_new(uv_loop_t *loop, const struct dagd_pilot_config *cfg,
                        const struct dagd_pilot_job_ops *ops, void *userdata,
                        struct dagd_pilot_pool **ret)
{
    struct sockaddr_storage ss = {0};
    int r;

    if (!cfg->listen || parse_listen(cfg->listen, &ss) < 0) {
        return dagd_log_errno(LOG_ERR, EINVAL, "Bad pilot listen address '%s' (want HOST:PORT)",
                              cfg->listen ? cfg->listen : "");
    }
    if (!cfg->worker_path || !cfg->dir) {
        return -EINVAL;
    }
    if (mkdir(cfg->dir, 0700) < 0 && errno != EEXIST) {
        return dagd_log_errno(LOG_ERR, errno, "Failed to create '%s': %m", cfg->dir);
    }
    struct dagd_pilot_pool *pool = dagd_xcalloc(1, sizeof(*pool));
    pool->loop = loop;
    pool->ops = *ops;
    pool->userdata = userdata;
    pool->listen = dagd_xstrdup(cfg->listen);
    pool->memory = dagd_xstrdup(cfg->memory);
    pool->time = dagd_xstrdup(cfg->time);
    pool->partition = dagd_xstrdup(cfg->partition);
    pool->account = dagd_xstrdup(cfg->account);
    pool->qos = dagd_xstrdup(cfg->qos);
    pool->sbatch_args = strv_copy(cfg->sbatch_args);
    pool->sbatch = dagd_xstrdup(cfg->sbatch ? cfg->sbatch : "sbatch");
    pool->scancel = dagd_xstrdup(cfg->scancel ? cfg->scancel : "scancel");
    pool->worker_path = dagd_xstrdup(cfg->worker_path);
    pool->dir = dagd_xstrdup(cfg->dir);
    pool->max_pilots = cfg->max_pilots ? cfg->max_pilots : 4;
    pool->cpus = cfg->cpus ? cfg->cpus : 1;
    pool->idle_usec = cfg->idle_usec ? cfg->idle_usec : 60ull * 1000000;
    pool->hb_usec = cfg->heartbeat_usec ? cfg->heartbeat_usec : 5ull * 1000000;
    pool->start_timeout_usec = cfg->start_timeout_usec ? cfg->start_timeout_usec : 600ull * 1000000;
    pool->queue_tail = &pool->queue;

    (void)uv_tcp_init(loop, &pool->server);
    pool->server.data = pool;
    pool->n_open++;
    (void)uv_timer_init(loop, &pool->timer);
    pool->timer.data = pool;
    pool->n_open++;
    r = uv_tcp_bind(&pool->server, (struct sockaddr *)&ss, 0);
    if (r >= 0) {
        r = uv_listen((uv_stream_t *)&pool->server, 128, on_connection);
    }
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to listen for pilots on '%s': %s", cfg->listen,
                       uv_strerror(r));
        pool->freeing = true;
        uv_close((uv_handle_t *)&pool->server, handle_closed);
        uv_close((uv_handle_t *)&pool->timer, handle_closed);
        return r;
    }
    uv_unref((uv_handle_t *)&pool->server);
    struct sockaddr_storage bound;
    int bl = sizeof(bound);
    if (uv_tcp_getsockname(&pool->server, (struct sockaddr *)&bound, &bl) == 0) {
        pool->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                       : ((struct sockaddr_in *)&bound)->sin_port);
    }
    if (cfg->advertise && strchr(cfg->advertise, ':')) {
        pool->advertise = dagd_xstrdup(cfg->advertise);
    } else if (cfg->advertise) {
        pool->advertise = dagd_xasprintf("%s:%d", cfg->advertise, pool->port);
    } else {
        char host[256] = "localhost";
        (void)gethostname(host, sizeof(host) - 1);
        pool->advertise = dagd_xasprintf("%s:%d", host, pool->port);
    }
    (void)uv_timer_start(&pool->timer, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&pool->timer);
    dagd_log_info("Listening for pilots on %s (they connect to %s)", pool->listen, pool->advertise);
    dagd_pilot_pool_sweep(loop, pool->dir, pool->scancel);
    *ret = pool;
    return 0;
}

unsigned dagd_pilot_pool_capacity(const struct dagd_pilot_pool *pool)
{
    return pool ? pool->max_pilots * pool->cpus : 0;
}

int dagd_pilot_pool_port(const struct dagd_pilot_pool *pool)
{
    return pool->port;
}

static void pool_maybe_free(struct dagd_pilot_pool *pool)
{
    if (!pool->freeing || pool->n_open > 0 || pool->pilots) {
        return;
    }
    free(pool->listen);
    free(pool->advertise);
    free(pool->memory);
    free(pool->time);
    free(pool->partition);
    free(pool->account);
    free(pool->qos);
    for (size_t i = 0; pool->sbatch_args[i]; i++) {
        free(pool->sbatch_args[i]);
    }
    free(pool->sbatch_args);
    free(pool->sbatch);
    free(pool->scancel);
    free(pool->worker_path);
    free(pool->dir);
    free(pool);
}

struct dagd_pilot_pool *dagd_pilot_pool_free(struct dagd_pilot_pool *pool)
{
    if (!pool || pool->freeing) {
        return NULL;
    }
    pool->freeing = true;
    while (pool->queue) {
        struct pjob *j = pool->queue;
        pool->queue = j->next;
        free(j->msg);
        free(j);
    }
    pool->queue_tail = &pool->queue;
    pool->n_queued = 0;
    for (struct pilot *p = pool->pilots, *next; p; p = next) {
        next = p->next;
        while (p->jobs) {
            struct pjob *j = p->jobs;
            p->jobs = j->next;
            free(j->msg);
            free(j);
        }
        if (p->state != PILOT_CONNECTED) {
            pilot_scancel(p); /* still queued in Slurm (or sbatch runs: its exit cancels) */
        }
        if (p->conn) {
            conn_close(p->conn);
        }
        p->state = PILOT_GONE;
        pilot_maybe_free(p);
    }
    for (struct conn *c = pool->conns; c; c = c->next) {
        conn_close(c);
    }
    uv_close((uv_handle_t *)&pool->server, handle_closed);
    uv_close((uv_handle_t *)&pool->timer, handle_closed);
    return NULL;
}
