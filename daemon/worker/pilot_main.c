/* `dagd-worker --pilot`: the worker on a Slurm allocation (docs/slurm.md,
 * "Pilot mode"). It connects back to the daemon that asked Slurm for the
 * allocation, proves it is that allocation with the secret the daemon wrote
 * for it, and then runs the attempts the daemon sends, as many at once as
 * it has slots. Each attempt is a child forked exactly as the local
 * template forks it (worker.h: same host API, process group, signals,
 * memory limit); the pilot reads the child's events, stdout and stderr
 * pipes and relays them with the exit status over the one connection
 * (protocol: pilot_proto.h).
 *
 * The pilot is single-threaded (it forks) and never opens SQLite. When the
 * connection ends, or the daemon releases it, or Slurm ends the job
 * (SIGTERM), it kills everything its attempts started and exits: an attempt
 * never outlives the pilot that the daemon may declare lost. */
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "util.h"
#include "worker.h"
#include "worker_proto.h"
/* after worker_proto.h: it sizes lines from DAGD_WORKER_MAX_JOB */
#include "pilot_proto.h"

/* How long to wait for the daemon's welcome. */
#define WELCOME_TIMEOUT_MS 10000

struct pjob {
    uint64_t id;
    pid_t pid;
    int fd[3];        /* read ends: events, stdout, stderr; -1 once at EOF */
    uint64_t kill_at; /* SIGKILL then (the cancel's grace); 0: none */
};

static struct pjob *jobs;
static size_t n_jobs;
static int sock = -1;
static bool conn_lost;
/* The daemon sends heartbeats too (its welcome said "dhb"): when it is
 * silent this long, it is gone (pilot_proto.h). 0: it does not. */
static uint64_t daemon_silence_usec;
static uint64_t daemon_heard_usec;

static void plog(int prio, const char *fmt, ...) _printf_(2, 3);
static void plog(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "<%d>dagd-worker --pilot: ", prio);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vfprintf(stderr, fmt, ap);
#pragma GCC diagnostic pop
    fputc('\n', stderr);
    va_end(ap);
}

/* Blocking writes: the daemon reads with libuv and never waits on us, so
 * a full socket only slows the attempts' relay (back-pressure). A failed
 * write means the daemon is gone: the main loop ends. */
static void send_raw(const void *buf, size_t len)
{
    if (!conn_lost && dagd_write_all(sock, buf, len) < 0) {
        conn_lost = true;
    }
}

static void send_line(const char *fmt, ...) _printf_(1, 2);
static void send_line(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
#pragma GCC diagnostic pop
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf) - 1) {
        n = (int)sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    send_raw(buf, (size_t)n);
}

static struct pjob *job_find(uint64_t id)
{
    for (size_t i = 0; i < n_jobs; i++) {
        if (jobs[i].id == id) {
            return &jobs[i];
        }
    }
    return NULL;
}

static void kill_group(struct pjob *j, int sig)
{
    /* The child made itself a group leader before anything else ran. */
    if (kill(-j->pid, sig) < 0 && errno == ESRCH) {
        (void)kill(j->pid, sig);
    }
}

/* Relay one read of fd `which`; returns false at EOF or on an error. */
static bool relay_once(struct pjob *j, int which)
{
    static char buf[DAGD_PILOT_MAX_CHUNK];
    ssize_t n;
    do {
        n = read(j->fd[which], buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        return true;
    }
    if (n <= 0) {
        (void)close(j->fd[which]);
        j->fd[which] = -1;
        return false;
    }
    send_line("{\"t\":\"out\",\"id\":%" PRIu64 ",\"fd\":%d,\"n\":%zd}", j->id, which, n);
    send_raw(buf, (size_t)n);
    return true;
}

/* The attempt's process ended: relay what its pipes still hold (as the
 * local executor drains them before deciding), then its exit. Output a
 * process it left behind writes later is not waited for. */
static void on_child_exit(uint64_t id, pid_t pid, int status, const struct rusage *ru,
                          void *userdata)
{
    struct pjob *j = job_find(id);
    if (!j) {
        return;
    }
    for (int i = 0; i < 3; i++) {
        while (j->fd[i] >= 0) {
            int fl = j->fd[i];
            if (!relay_once(j, i) || j->fd[i] != fl) {
                break;
            }
            struct pollfd p = {fl, POLLIN, 0};
            if (poll(&p, 1, 0) <= 0) {
                break;
            }
        }
        if (j->fd[i] >= 0) {
            (void)close(j->fd[i]);
            j->fd[i] = -1;
        }
    }
    send_line("{\"t\":\"exit\",\"id\":%" PRIu64 ",\"status\":%d,\"utime_us\":%" PRId64
              ",\"stime_us\":%" PRId64 ",\"maxrss_kb\":%ld}",
              id, status, (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec,
              (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec, ru->ru_maxrss);
    *j = jobs[--n_jobs];
}

static void start_job(cJSON *job)
{
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(job, "id");
    uint64_t id = cJSON_IsNumber(idj) ? (uint64_t)idj->valuedouble : 0;
    int pipes[3][2];
    int n_pipes = 0, k = 0;
    pid_t pid = 0;
    uint64_t start;

    for (; n_pipes < 3; n_pipes++) {
        if (pipe2(pipes[n_pipes], O_CLOEXEC) < 0) {
            k = -errno;
            break;
        }
    }
    if (k == 0) {
        int fds[3] = {pipes[0][1], pipes[1][1], pipes[2][1]};
        k = dagd__worker_spawn(job, id, fds, &pid, &start);
    }
    for (int i = 0; i < n_pipes; i++) {
        (void)close(pipes[i][1]);
        if (k < 0) {
            (void)close(pipes[i][0]);
        }
    }
    if (k < 0) {
        send_line("{\"t\":\"error\",\"id\":%" PRIu64 ",\"error\":\"cannot start the step: %s\"}",
                  id, strerror(-k));
        return;
    }
    jobs = dagd_xreallocarray(jobs, n_jobs + 1, sizeof(*jobs));
    struct pjob *j = &jobs[n_jobs++];
    *j = (struct pjob){.id = id, .pid = pid};
    for (int i = 0; i < 3; i++) {
        j->fd[i] = pipes[i][0];
        (void)fcntl(j->fd[i], F_SETFL, O_NONBLOCK);
    }
    send_line("{\"t\":\"pid\",\"id\":%" PRIu64 ",\"pid\":%d}", id, (int)pid);
}

/* One line from the daemon. Returns false when the pilot must end. */
static bool on_daemon_line(const char *line, size_t len)
{
    cJSON *m = cJSON_ParseWithLength(line, len);
    const char *t = m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "t")) : NULL;
    bool keep = true;

    if (!t) {
        plog(4, "malformed message from the daemon, ignoring");
    } else if (streq(t, "job")) {
        cJSON *job = cJSON_GetObjectItemCaseSensitive(m, "job");
        if (cJSON_IsObject(job)) {
            start_job(job);
        }
    } else if (streq(t, "kill")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
        const cJSON *grace = cJSON_GetObjectItemCaseSensitive(m, "grace_ms");
        struct pjob *j = cJSON_IsNumber(id) ? job_find((uint64_t)id->valuedouble) : NULL;
        double ms = cJSON_IsNumber(grace) && grace->valuedouble > 0 ? grace->valuedouble : 0;
        if (j) {
            /* SIGTERM, then SIGKILL after the grace, as the local executor
             * does; the clock is ours, so a slow link does not stretch it. */
            kill_group(j, ms > 0 ? SIGTERM : SIGKILL);
            j->kill_at = ms > 0 ? dagd_now_mono_usec() + (uint64_t)(ms * 1000) : 0;
        }
    } else if (streq(t, "bye")) {
        plog(6, "released by the daemon");
        keep = false;
    }
    cJSON_Delete(m);
    return keep;
}

/* Handle the complete lines in buf; keep a partial one. Returns false
 * when the pilot must end. */
static bool process_lines(char *buf, size_t *len)
{
    size_t start = 0;
    bool keep = true;
    for (size_t i = 0; i < *len && keep; i++) {
        if (buf[i] == '\n') {
            keep = on_daemon_line(buf + start, i - start);
            start = i + 1;
        }
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    if (keep && *len >= DAGD_PILOT_MAX_LINE) {
        plog(3, "a line from the daemon is too long");
        return false;
    }
    return keep;
}

/* Read what the daemon sent; returns false at EOF, on an error or a bye. */
static bool read_daemon(char *buf, size_t *len)
{
    for (;;) {
        ssize_t n = recv(sock, buf + *len, DAGD_PILOT_MAX_LINE - *len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return true;
        }
        if (n <= 0) {
            plog(n == 0 ? 6 : 3, "the daemon closed the connection");
            return false;
        }
        *len += (size_t)n;
        daemon_heard_usec = dagd_now_mono_usec();
        if (!process_lines(buf, len)) {
            return false;
        }
    }
}

static int connect_to(const char *addr)
{
    _cleanup_free_ char *host = dagd_xstrdup(addr);
    char *colon = strrchr(host, ':');
    if (!colon) {
        plog(3, "--connect wants HOST:PORT, not '%s'", addr);
        return -EINVAL;
    }
    *colon = '\0';
    const char *port = colon + 1;
    char *h = host;
    if (h[0] == '[' && colon[-1] == ']') { /* [::1]:7077 */
        colon[-1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int r = getaddrinfo(h, port, &hints, &res);
    if (r != 0) {
        plog(3, "cannot resolve '%s': %s", addr, gai_strerror(r));
        return -EHOSTUNREACH;
    }
    int fd = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        err = errno;
        (void)close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        plog(3, "cannot connect to '%s': %s", addr, strerror(err));
        return -err;
    }
    int one = 1;
    /* Small messages both ways; Nagle would hold each for an ACK. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    return fd;
}

/* The secret, 64 hex chars, from the file the daemon wrote for this
 * allocation (on the shared state directory, mode 0600). */
static int read_secret(const char *path, char out[DAGD_PILOT_SECRET_BYTES * 2 + 1])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, out, DAGD_PILOT_SECRET_BYTES * 2);
    (void)close(fd);
    if (n != DAGD_PILOT_SECRET_BYTES * 2) {
        return -EINVAL;
    }
    out[n] = '\0';
    return 0;
}

/* Wait for the welcome line; returns the heartbeat interval in ms, or
 * -errno (refused: the daemon closed the connection). */
static int wait_welcome(char *buf, size_t *len)
{
    uint64_t t0 = dagd_now_mono_usec();
    for (;;) {
        char *nl = memchr(buf, '\n', *len);
        if (nl) {
            cJSON *m = cJSON_ParseWithLength(buf, (size_t)(nl - buf));
            const char *t =
                m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "t")) : NULL;
            const cJSON *hb = m ? cJSON_GetObjectItemCaseSensitive(m, "hb_ms") : NULL;
            int ms = t && streq(t, "welcome") && cJSON_IsNumber(hb) && hb->valuedouble >= 10
                         ? (int)hb->valuedouble
                         : -EPROTO;
            if (ms > 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "dhb"))) {
                /* Half an interval before the daemon gives up on us. */
                daemon_silence_usec = (uint64_t)ms * 1000 * (2 * DAGD_PILOT_HB_MISSES - 1) / 2;
                daemon_heard_usec = dagd_now_mono_usec();
            }
            cJSON_Delete(m);
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, buf + used, *len - used);
            *len -= used;
            return ms;
        }
        int left = WELCOME_TIMEOUT_MS - (int)((dagd_now_mono_usec() - t0) / 1000);
        struct pollfd p = {sock, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            return -ETIMEDOUT;
        }
        ssize_t n = recv(sock, buf + *len, DAGD_PILOT_MAX_HELLO - *len, 0);
        if (n <= 0) {
            return -ECONNREFUSED;
        }
        *len += (size_t)n;
        if (*len >= DAGD_PILOT_MAX_HELLO) {
            return -EPROTO;
        }
    }
}

static unsigned default_slots(void)
{
    const char *env = getenv("SLURM_CPUS_ON_NODE");
    long n = env ? strtol(env, NULL, 10) : 0;
    if (n <= 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    return n > 0 ? (unsigned)n : 1;
}

static int pilot_loop(int sfd, int hb_ms, char *buf, size_t len)
{
    uint64_t next_hb = dagd_now_mono_usec() + (uint64_t)hb_ms * 1000;
    struct pollfd *p = NULL;
    size_t cap = 0;
    int rc = 0;

    /* What came with the welcome. */
    if (!process_lines(buf, &len)) {
        return 0;
    }
    for (;;) {
        size_t n = 2, need = 2 + n_jobs * 3;
        if (need > cap) {
            cap = need * 2;
            p = dagd_xreallocarray(p, cap, sizeof(*p));
        }
        p[0] = (struct pollfd){sock, POLLIN, 0};
        p[1] = (struct pollfd){sfd, POLLIN, 0};
        for (size_t i = 0; i < n_jobs; i++) {
            for (int k = 0; k < 3; k++) {
                if (jobs[i].fd[k] >= 0) {
                    p[n++] = (struct pollfd){jobs[i].fd[k], POLLIN, 0};
                }
            }
        }
        uint64_t now = dagd_now_mono_usec(), wake = next_hb;
        if (daemon_silence_usec && daemon_heard_usec + daemon_silence_usec < wake) {
            wake = daemon_heard_usec + daemon_silence_usec;
        }
        for (size_t i = 0; i < n_jobs; i++) {
            if (jobs[i].kill_at && jobs[i].kill_at < wake) {
                wake = jobs[i].kill_at;
            }
        }
        int timeout = now >= wake ? 0 : (int)((wake - now + 999) / 1000);
        int r = poll(p, n, timeout);
        if (r < 0 && errno != EINTR) {
            plog(3, "poll: %s", strerror(errno));
            rc = 1;
            break;
        }
        now = dagd_now_mono_usec();
        for (size_t i = 0; i < n_jobs; i++) {
            if (jobs[i].kill_at && now >= jobs[i].kill_at) {
                jobs[i].kill_at = 0;
                kill_group(&jobs[i], SIGKILL);
            }
        }
        if (daemon_silence_usec && now - daemon_heard_usec >= daemon_silence_usec) {
            plog(3, "heard nothing from the daemon for %" PRIu64 " ms: it is gone",
                 (now - daemon_heard_usec) / 1000);
            rc = 1;
            break;
        }
        if (now >= next_hb) {
            send_line("{\"t\":\"hb\"}");
            next_hb = dagd_now_mono_usec() + (uint64_t)hb_ms * 1000;
        }
        if (r <= 0) {
            continue;
        }
        /* Pipes first: output precedes the exit the signalfd reports. */
        for (size_t i = 2; i < n; i++) {
            if (!p[i].revents) {
                continue;
            }
            for (size_t j = 0; j < n_jobs; j++) {
                for (int k = 0; k < 3; k++) {
                    if (jobs[j].fd[k] == p[i].fd) {
                        (void)relay_once(&jobs[j], k);
                    }
                }
            }
        }
        if (p[1].revents) {
            struct signalfd_siginfo si;
            bool term = false;
            while (read(sfd, &si, sizeof(si)) > 0) {
                term = term || si.ssi_signo != SIGCHLD;
            }
            dagd__worker_reap(on_child_exit, NULL);
            if (term) {
                plog(5, "terminated (Slurm ended the job?)");
                break;
            }
        }
        if (p[0].revents && !read_daemon(buf, &len)) {
            break;
        }
        if (conn_lost) {
            plog(3, "lost the connection to the daemon");
            rc = 1;
            break;
        }
    }
    free(p);
    return rc;
}

int dagd__pilot_main(int argc, char **argv)
{
    const char *connect_addr = NULL, *alloc = NULL, *secret_file = NULL;
    unsigned slots = 0;
    char secret[DAGD_PILOT_SECRET_BYTES * 2 + 1];
    char hostname[256] = "";

    for (int i = 1; i + 1 < argc; i += 2) {
        if (streq(argv[i], "--connect")) {
            connect_addr = argv[i + 1];
        } else if (streq(argv[i], "--alloc")) {
            alloc = argv[i + 1];
        } else if (streq(argv[i], "--secret-file")) {
            secret_file = argv[i + 1];
        } else if (streq(argv[i], "--slots")) {
            slots = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else {
            plog(3, "unknown option '%s'", argv[i]);
            return 2;
        }
    }
    if (!connect_addr || !alloc || !secret_file || argc % 2 != 1) {
        plog(3, "usage: dagd-worker --pilot --connect HOST:PORT --alloc ID --secret-file FILE "
                "[--slots N]");
        return 2;
    }
    if (slots == 0) {
        slots = default_slots();
    }
    int k = read_secret(secret_file, secret);
    if (k < 0) {
        plog(3, "cannot read the secret from '%s': %s", secret_file, strerror(-k));
        return 1;
    }
    (void)gethostname(hostname, sizeof(hostname) - 1);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    /* Orphaned descendants of steps become ours, so we can kill them. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    (void)sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        plog(3, "signalfd: %s", strerror(errno));
        return 1;
    }
    dagd__worker_close_in_child(sfd);

    sock = connect_to(connect_addr);
    if (sock < 0) {
        return 1;
    }
    dagd__worker_close_in_child(sock);
    cJSON *hello = cJSON_CreateObject();
    cJSON_AddNumberToObject(hello, "v", DAGD_PILOT_PROTO_VERSION);
    cJSON_AddStringToObject(hello, "t", "hello");
    cJSON_AddStringToObject(hello, "alloc", alloc);
    cJSON_AddStringToObject(hello, "secret", secret);
    cJSON_AddNumberToObject(hello, "slots", slots);
    cJSON_AddStringToObject(hello, "host", hostname);
    char *text = cJSON_PrintUnformatted(hello);
    cJSON_Delete(hello);
    explicit_bzero(secret, sizeof(secret));
    send_raw(text, strlen(text));
    send_raw("\n", 1);
    explicit_bzero(text, strlen(text));
    free(text);

    _cleanup_free_ char *buf = dagd_xmalloc(DAGD_PILOT_MAX_LINE + 1);
    size_t len = 0;
    int hb_ms = wait_welcome(buf, &len);
    if (hb_ms < 0) {
        plog(3, "the daemon at '%s' refused allocation '%s' (%s)", connect_addr, alloc,
             strerror(-hb_ms));
        return 1;
    }
    plog(6, "connected to '%s' as allocation '%s' with %u slots", connect_addr, alloc, slots);
    int rc = pilot_loop(sfd, hb_ms, buf, len);
    dagd__worker_kill_descendants();
    (void)close(sock);
    (void)close(sfd);
    return rc;
}
