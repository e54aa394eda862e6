/* Unit tests for daemon/engine/pilot_pool.c with real `dagd-worker --pilot`
 * processes and no Slurm: the pool's sbatch is a small script that runs
 * the --wrap command in the background and prints its pid as the job id
 * (scancel: kill). Covers dispatch over slots, kill, a pilot killed with
 * SIGKILL mid-attempt (the attempt is reported lost exactly once, a new
 * allocation replaces the pilot), idle release, and hostile connections
 * (wrong secret, garbage, an endless first line) refused while the pool
 * keeps working. Each test ends with the pool freed, every handle closed
 * and uv_loop_close() == 0 (STYLE 27). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "pilot_pool.h"
#include "util.h"

#define MAX_JOBS 64

struct job {
    bool started, exited, failed, lost;
    int status;
    unsigned n_ends; /* exited + failed: must stay <= 1 */
    char out[4096];
    size_t out_len;
};

struct fixture {
    char dir[64];
    char *plugins;
    uv_loop_t loop;
    struct dagd_pilot_pool *pool;
    struct job jobs[MAX_JOBS];
};

static struct job *J(void *ud, uint64_t id)
{
    assert_true(id >= 1 && id <= MAX_JOBS);
    return &((struct fixture *)ud)->jobs[id - 1];
}

static void on_started(void *ud, uint64_t id, const char *where)
{
    assert_non_null(strstr(where, "pilot a"));
    J(ud, id)->started = true;
}

static void on_output(void *ud, uint64_t id, int which, const char *data, size_t n)
{
    struct job *j = J(ud, id);
    if (which == 0 && j->out_len + n < sizeof(j->out)) {
        memcpy(j->out + j->out_len, data, n);
        j->out_len += n;
        j->out[j->out_len] = '\0';
    }
}

static void on_exited(void *ud, uint64_t id, int status, int64_t cpu, int64_t rss)
{
    struct job *j = J(ud, id);
    j->exited = true;
    j->status = status;
    j->n_ends++;
}

static void on_failed(void *ud, uint64_t id, const char *why, bool lost)
{
    struct job *j = J(ud, id);
    j->failed = true;
    j->lost = lost;
    j->n_ends++;
}

static const struct dagd_pilot_job_ops ops = {
    .started = on_started, .output = on_output, .exited = on_exited, .failed = on_failed};

static void write_script(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
}

static void pool_start(struct fixture *f, unsigned max_pilots, unsigned cpus, uint64_t idle_usec)
{
    const char *build = getenv("DAGD_BUILD_ROOT") ? getenv("DAGD_BUILD_ROOT") : "build";
    _cleanup_free_ char *worker = dagd_xasprintf("%s/daemon/dagd-worker", build);
    _cleanup_free_ char *sbatch = dagd_xasprintf("%s/sbatch", f->dir);
    _cleanup_free_ char *scancel = dagd_xasprintf("%s/scancel", f->dir);
    _cleanup_free_ char *pdir = dagd_xasprintf("%s/pilots", f->dir);
    write_script(sbatch,
                 "#!/bin/sh\n"
                 "for a in \"$@\"; do case \"$a\" in\n"
                 "  --wrap=*) wrap=\"${a#--wrap=}\";; --output=*) out=\"${a#--output=}\";;\n"
                 "esac; done\n"
                 "sh -c \"$wrap\" >>\"$out\" 2>&1 </dev/null &\n"
                 "echo $! >>\"$(dirname \"$0\")/pids\"\n"
                 "echo $!\n");
    write_script(scancel, "#!/bin/sh\nkill \"$1\" 2>/dev/null; exit 0\n");
    struct dagd_pilot_config cfg = {
        .listen = "127.0.0.1:0",
        /* 127.0.0.1 and the bound port, not this host's name (may not resolve) */
        .advertise = "127.0.0.1",
        .max_pilots = max_pilots,
        .cpus = cpus,
        .idle_usec = idle_usec,
        .heartbeat_usec = 400000, /* pilots give up after 1 s without the loop running */
        .sbatch = sbatch,
        .scancel = scancel,
        .worker_path = worker,
        .dir = pdir,
    };
    assert_int_equal(dagd_pilot_pool_new(&f->loop, &cfg, &ops, f, &f->pool), 0);
}

static int setup(void **state)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    const char *build = getenv("DAGD_BUILD_ROOT") ? getenv("DAGD_BUILD_ROOT") : "build";
    char real[4096];
    assert_non_null(realpath(build, real));
    f->plugins = dagd_xasprintf("%s/tests/plugins", real);
    strcpy(f->dir, "/tmp/dagd-test-pilot-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    *state = f;
    return 0;
}

/* pids of the pilots the fake sbatch started */
static size_t read_pids(struct fixture *f, pid_t *pids, size_t max)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/pids", f->dir);
    FILE *fp = fopen(path, "r");
    size_t n = 0;
    int pid;
    while (fp && n < max && fscanf(fp, "%d", &pid) == 1) {
        pids[n++] = pid;
    }
    if (fp) {
        fclose(fp);
    }
    return n;
}

/* The stand-in sbatch writes a pilot's pid after forking it: the pilot
 * may be running (even connected) before it is in the file. */
static bool have_pids(struct fixture *f, void *arg)
{
    pid_t pids[64];
    return read_pids(f, pids, 64) >= (size_t)(uintptr_t)arg;
}

static bool alive(pid_t pid)
{
    /* the fake sbatch's children were reparented: not ours to reap */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        return false;
    }
    char state = '?';
    (void)fscanf(fp, "%*d %*s %c", &state);
    fclose(fp);
    return state != 'Z';
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dagd_pilot_pool_free(f->pool);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    /* Every pilot ends once its connection is gone. */
    pid_t pids[64];
    size_t n = read_pids(f, pids, 64);
    for (int tries = 0; tries < 300; tries++) {
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            any = any || alive(pids[i]);
        }
        if (!any) {
            break;
        }
        usleep(10000);
    }
    for (size_t i = 0; i < n; i++) {
        assert_false(alive(pids[i]));
    }
    _cleanup_free_ char *cmd = dagd_xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->plugins);
    free(f);
    return 0;
}

static void on_guard(uv_timer_t *t)
{
}

/* Run the loop until cond(f) or `ms` passed; returns cond(f). */
static bool spin(struct fixture *f, bool (*cond)(struct fixture *, void *), void *arg, unsigned ms)
{
    uv_timer_t guard;
    uint64_t end = dagd_now_mono_usec() + (uint64_t)ms * 1000;
    (void)uv_timer_init(&f->loop, &guard);
    (void)uv_timer_start(&guard, on_guard, 5, 5);
    bool ok;
    while (!(ok = cond(f, arg)) && dagd_now_mono_usec() < end) {
        (void)uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&guard, NULL);
    (void)uv_run(&f->loop, UV_RUN_NOWAIT);
    return ok;
}

static char *job_json(struct fixture *f, uint64_t id, const char *task, const char *config)
{
    return dagd_xasprintf("{\"id\":%" PRIu64 ",\"plugin\":\"%s/dagd-task-%s.so\",\"task\":\"%s\","
                          "\"config\":%s,\"params\":{},\"run_id\":\"r\",\"step\":\"s%" PRIu64 "\","
                          "\"attempt\":1,\"state_dir\":\"%s\",\"cwd\":\"%s\"}",
                          id, f->plugins, task, task, config, id, f->dir, f->dir);
}

static bool all_ended(struct fixture *f, void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < n; i++) {
        if (f->jobs[i].n_ends == 0) {
            return false;
        }
    }
    return true;
}

static bool job_started(struct fixture *f, void *arg)
{
    return f->jobs[(uintptr_t)arg].started;
}

/* 40 noop attempts over two pilots of 2 slots: each runs once, succeeds,
 * and its events (the result line) come back. */
static void test_fan_out(void **state)
{
    struct fixture *f = *state;
    pool_start(f, 2, 2, 60000000);
    for (uint64_t i = 0; i < 40; i++) {
        dagd_pilot_pool_submit(f->pool, i + 1, job_json(f, i + 1, "noop", "{}"), 1);
    }
    assert_true(spin(f, all_ended, (void *)40, 20000));
    for (size_t i = 0; i < 40; i++) {
        assert_true(f->jobs[i].exited);
        assert_int_equal(f->jobs[i].n_ends, 1);
        assert_true(WIFEXITED(f->jobs[i].status));
        assert_int_equal(WEXITSTATUS(f->jobs[i].status), 0);
        assert_non_null(strstr(f->jobs[i].out, "{\"k\":\"result\",\"rc\":0}"));
    }
    pid_t pids[8];
    assert_true(read_pids(f, pids, 8) <= 2);
}

/* SIGTERM to a running attempt reaches its process group on the node. */
static void test_kill(void **state)
{
    struct fixture *f = *state;
    pool_start(f, 1, 2, 60000000);
    dagd_pilot_pool_submit(f->pool, 1, job_json(f, 1, "sleep", "{\"ms\":20000}"), 1);
    assert_true(spin(f, job_started, (void *)0, 10000));
    dagd_pilot_pool_cancel(f->pool, 1, 5000000);
    assert_true(spin(f, all_ended, (void *)1, 5000));
    assert_true(f->jobs[0].exited);
    assert_non_null(strstr(f->jobs[0].out, "canceled"));
    /* queued, never dispatched: dropped at once */
    dagd_pilot_pool_submit(f->pool, 2, job_json(f, 2, "sleep", "{\"ms\":20000}"), 2);
    dagd_pilot_pool_submit(f->pool, 3, job_json(f, 3, "sleep", "{\"ms\":20000}"), 2);
    assert_true(spin(f, job_started, (void *)1, 10000));
    dagd_pilot_pool_cancel(f->pool, 3, 5000000);
    assert_true(f->jobs[2].failed);
    assert_false(f->jobs[2].lost);
    dagd_pilot_pool_cancel(f->pool, 2, 0);
    assert_true(spin(f, all_ended, (void *)3, 5000));
    assert_true(f->jobs[1].exited);
    assert_true(WIFSIGNALED(f->jobs[1].status));
    assert_int_equal(WTERMSIG(f->jobs[1].status), SIGKILL);
}

/* A pilot killed with SIGKILL mid-attempt: the attempt is reported lost
 * once; the next attempt gets a new allocation and runs. */
static void test_pilot_killed(void **state)
{
    struct fixture *f = *state;
    pid_t pids[8];
    pool_start(f, 1, 1, 60000000);
    dagd_pilot_pool_submit(f->pool, 1, job_json(f, 1, "sleep", "{\"ms\":20000}"), 1);
    assert_true(spin(f, job_started, (void *)0, 10000));
    assert_true(spin(f, have_pids, (void *)1, 5000));
    assert_int_equal(read_pids(f, pids, 8), 1);
    assert_int_equal(kill(pids[0], SIGKILL), 0);
    assert_true(spin(f, all_ended, (void *)1, 5000));
    assert_true(f->jobs[0].failed);
    assert_true(f->jobs[0].lost);
    dagd_pilot_pool_submit(f->pool, 2, job_json(f, 2, "noop", "{}"), 1);
    assert_true(spin(f, all_ended, (void *)2, 10000));
    assert_true(f->jobs[1].exited);
    assert_true(spin(f, have_pids, (void *)2, 5000));
    assert_int_equal(read_pids(f, pids, 8), 2);
    /* nothing more about the lost attempt ever arrives */
    (void)spin(f, all_ended, (void *)3, 300);
    assert_int_equal(f->jobs[0].n_ends, 1);
}

static bool pilots_gone(struct fixture *f, void *arg)
{
    pid_t pids[8];
    size_t n = read_pids(f, pids, 8);
    for (size_t i = 0; i < n; i++) {
        if (alive(pids[i])) {
            return false;
        }
    }
    return n > 0;
}

/* A pilot idle for idle_usec is released: it exits on its own. */
static void test_idle_release(void **state)
{
    struct fixture *f = *state;
    pool_start(f, 1, 1, 300000);
    dagd_pilot_pool_submit(f->pool, 1, job_json(f, 1, "noop", "{}"), 1);
    assert_true(spin(f, all_ended, (void *)1, 10000));
    assert_true(spin(f, pilots_gone, NULL, 5000));
}

static int connect_pool(struct fixture *f)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)dagd_pilot_pool_port(f->pool))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static bool closed_by_peer(struct fixture *f, void *arg)
{
    char buf[256];
    ssize_t n = recv(*(int *)arg, buf, sizeof(buf), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Wrong secret, an unknown allocation, garbage, silence, an endless first line:
 * each connection is closed; the pool still runs attempts after. */
static void test_hostile(void **state)
{
    struct fixture *f = *state;
    pool_start(f, 1, 1, 60000000);
    /* an allocation exists, so its id is known: only the secret is wrong */
    dagd_pilot_pool_submit(f->pool, 1, job_json(f, 1, "noop", "{}"), 1);
    assert_true(spin(f, all_ended, (void *)1, 10000));
    static const char *const lines[] = {
        "{\"v\":1,\"t\":\"hello\",\"alloc\":\"a1\",\"secret\":\"00\",\"slots\":4}\n",
        "{\"v\":1,\"t\":\"hello\",\"alloc\":\"nope\",\"secret\":\"00\",\"slots\":4}\n",
        "\x01\x02 garbage\n",
        "{\"t\":\"job\"}\n",
    };
    for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
        int fd = connect_pool(f);
        assert_int_equal(dagd_write_all(fd, lines[i], strlen(lines[i])), 0);
        assert_true(spin(f, closed_by_peer, &fd, 3000));
        close(fd);
    }
    /* silent: closed once the hello is overdue */
    int quiet = connect_pool(f);
    uint64_t t0 = dagd_now_mono_usec();
    assert_true(spin(f, closed_by_peer, &quiet, 8000));
    assert_true(dagd_now_mono_usec() - t0 >= 4000000);
    close(quiet);
    int fd = connect_pool(f);
    char big[8192];
    memset(big, 'x', sizeof(big));
    (void)send(fd, big, sizeof(big), MSG_NOSIGNAL);
    assert_true(spin(f, closed_by_peer, &fd, 3000));
    close(fd);
    dagd_pilot_pool_submit(f->pool, 2, job_json(f, 2, "noop", "{}"), 1);
    assert_true(spin(f, all_ended, (void *)2, 10000));
    assert_true(f->jobs[1].exited);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fan_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pilot_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
