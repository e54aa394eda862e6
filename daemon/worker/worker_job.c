/* dagd-worker --job (worker.h). What a Slurm job runs (docs/slurm.md): the attempt's
 * directory on the shared filesystem holds its spec (job.json, what the
 * template would have received on its socket) and receives the three
 * streams as files and, once the attempt's process is gone, exit.json
 * (written to a temporary name and renamed, so the daemon never reads half
 * of it). The daemon reads the streams while the job runs and decides when
 * exit.json or Slurm's state says the job ended. SIGTERM (scancel, a time
 * limit) is forwarded to the attempt's process group, as the executor does
 * for a local attempt. */

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"
#include "worker.h"
#include "worker_proto.h"

static const char *const stream_files[3] = {"events", "stdout", "stderr"};

static int read_small(const char *path, size_t max, char **ret)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    char *buf = dagd_xmalloc(max + 1);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, max - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int k = -errno;
            free(buf);
            return k;
        }
        if (n == 0 || (len += (size_t)n) == max) {
            break;
        }
    }
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

/* The spec of array task $SLURM_ARRAY_TASK_ID: that line of the list. */
static char *spec_from_list(const char *list)
{
    const char *idx = getenv("SLURM_ARRAY_TASK_ID");
    _cleanup_free_ char *text = NULL;
    char *end = NULL;
    unsigned long i = idx ? strtoul(idx, &end, 10) : 0;
    if (!idx || !*idx || *end || read_small(list, DAGD_WORKER_MAX_JOB, &text) < 0) {
        return NULL;
    }
    const char *line = text;
    for (; i > 0 && line; i--) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return line && *line ? dagd_xstrndup(line, strcspn(line, "\n")) : NULL;
}

static int write_exit(const char *dir, int status, const struct rusage *ru)
{
    _cleanup_free_ char *tmp = dagd_xasprintf("%s/exit.json.tmp", dir);
    _cleanup_free_ char *path = dagd_xasprintf("%s/exit.json", dir);
    char host[256] = "";
    (void)gethostname(host, sizeof(host) - 1);
    for (char *p = host; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            *p = '_';
        }
    }
    _cleanup_free_ char *text = dagd_xasprintf(
        "{\"status\":%d,\"utime_us\":%" PRId64 ",\"stime_us\":%" PRId64
        ",\"maxrss_kb\":%ld,\"host\":\"%s\"}\n",
        status, (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec,
        (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec, ru->ru_maxrss, host);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    int k = dagd_write_all(fd, text, strlen(text));
    if (k < 0 || fsync(fd) < 0) {
        return k < 0 ? k : -errno;
    }
    return rename(tmp, path) < 0 ? -errno : 0;
}

/* Wait for the child; forward SIGTERM/SIGINT to its process group once. */
static int wait_child(pid_t pid, int sfd, int *ret_status, struct rusage *ru)
{
    bool forwarded = false;
    for (;;) {
        pid_t w = wait4(pid, ret_status, WNOHANG, ru);
        if (w == pid) {
            return 0;
        }
        if (w < 0 && errno != EINTR) {
            return -errno;
        }
        struct pollfd p = {sfd, POLLIN, 0};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            return -errno;
        }
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !forwarded) {
                forwarded = true;
                (void)kill(-pid, SIGTERM);
            }
        }
    }
}

int dagd__worker_job_main(const char *path, bool list)
{
    _cleanup_free_ char *spec = list ? spec_from_list(path) : dagd_xstrdup(path);
    _cleanup_free_ char *text = NULL, *dirbuf = NULL;
    int fds[3] = {-1, -1, -1};
    int k;

    if (!spec) {
        fprintf(stderr, "dagd-worker: no job for SLURM_ARRAY_TASK_ID=%s in '%s'\n",
                getenv("SLURM_ARRAY_TASK_ID") ? getenv("SLURM_ARRAY_TASK_ID") : "(unset)", path);
        return 2;
    }
    k = read_small(spec, DAGD_WORKER_MAX_JOB, &text);
    if (k < 0) {
        fprintf(stderr, "dagd-worker: cannot read '%s': %s\n", spec, strerror(-k));
        return 2;
    }
    cJSON *job = cJSON_Parse(text);
    if (!job) {
        fprintf(stderr, "dagd-worker: '%s' is not a job\n", spec);
        return 2;
    }
    dirbuf = dagd_xstrdup(spec);
    const char *dir = dirname(dirbuf);
    for (int i = 0; i < 3; i++) {
        _cleanup_free_ char *p = dagd_xasprintf("%s/%s", dir, stream_files[i]);
        fds[i] = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fds[i] < 0) {
            fprintf(stderr, "dagd-worker: cannot create '%s': %s\n", p, strerror(errno));
            return 2;
        }
        /* Above fd 3, which the child makes its events fd (dup3 of an fd
         * onto itself fails). */
        int hi = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        if (hi < 0) {
            fprintf(stderr, "dagd-worker: dup: %s\n", strerror(errno));
            return 2;
        }
        (void)close(fds[i]);
        fds[i] = hi;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    (void)sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd >= 0 && sfd < 10) {
        /* Not 3: the child closes it after making 3 its events fd. */
        int hi = fcntl(sfd, F_DUPFD_CLOEXEC, 10);
        (void)close(sfd);
        sfd = hi;
    }
    if (sfd < 0) {
        fprintf(stderr, "dagd-worker: signalfd: %s\n", strerror(errno));
        return 2;
    }
    dagd__worker_close_in_child(sfd);
    pid_t pid = 0;
    uint64_t start = 0;
    k = dagd__worker_spawn(job, 0, fds, &pid, &start);
    if (k < 0) {
        fprintf(stderr, "dagd-worker: fork: %s\n", strerror(-k));
        return 2;
    }
    for (int i = 0; i < 3; i++) {
        (void)close(fds[i]);
    }
    cJSON_Delete(job);
    int status = 0;
    struct rusage ru = {0};
    k = wait_child(pid, sfd, &status, &ru);
    if (k < 0) {
        fprintf(stderr, "dagd-worker: wait: %s\n", strerror(-k));
        return 2;
    }
    /* Nothing the step started outlives its recorded end (docs/executor.md). */
    (void)kill(-pid, SIGKILL);
    k = write_exit(dir, status, &ru);
    if (k < 0) {
        fprintf(stderr, "dagd-worker: cannot write '%s/exit.json': %s\n", dir, strerror(-k));
        return 2;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
