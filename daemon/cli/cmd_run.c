/* `dagd run FILE.yaml [--param k=v]... [--state-dir DIR] [--jobs N] [--force]
 * [--plugin-dir DIR]... [--from STEP | --only STEP] [--retry RUN] [-q]`: the
 * one-shot runner (DESIGN 3a). Loads the pipeline, opens the state in
 * ./.dagd (or DIR), runs it on the executor with live progress, prints a
 * summary. Exit 0 when the run succeeded, 1 when it failed or was canceled,
 * 2 for usage errors and invalid pipelines. SIGINT/SIGTERM cancel the run
 * cleanly (steps get SIGTERM, then SIGKILL after the grace) and it is
 * recorded `canceled`. */
#include <signal.h>

#include <uv.h>

#include "executor.h"
#include "log.h"
#include "pipeline.h"
#include "plan.h"
#include "plugin_host.h"
#include "progress.h"
#include "statelock.h"

int dagd_cmd_run(int argc, char **argv);

#define RUN_USAGE                                                                                  \
    "usage: dagd run FILE.yaml [--param k=v]... [--state-dir DIR] [--jobs N] [--force]\n"          \
    "                [--plugin-dir DIR]... [--from STEP | --only STEP] [--retry RUN_ID]\n"         \
    "                [--no-output] [-q]\n"

struct run_ctx {
    struct dagd_executor *e;
    const struct dagd_pipeline *p;
    bool quiet;
    char run_id[33];
    bool finished;
    enum dagd_run_status status;
    uv_signal_t sig_int, sig_term;
    bool signals_open;
    unsigned n_signals;
};

static void close_signals(struct run_ctx *c)
{
    if (c->signals_open) {
        c->signals_open = false;
        uv_close((uv_handle_t *)&c->sig_int, NULL);
        uv_close((uv_handle_t *)&c->sig_term, NULL);
    }
}

static void on_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct run_ctx *c = userdata;
    if (ev->kind == DAGD_EXEC_RUN_STARTED && streq(ev->run_id, c->run_id) && !c->quiet) {
        /* Printed here, not before submit: the run exists only now (params
         * and configs resolved), and before its first step's line. */
        printf("run %s of pipeline %s (%zu steps)\n", c->run_id, c->p->name, c->p->n_steps);
        fflush(stdout);
    }
    if (ev->kind == DAGD_EXEC_RUN_FINISHED && streq(ev->run_id, c->run_id)) {
        c->finished = true;
        c->status = ev->run_status;
        /* Nothing else keeps the loop alive once the run is over. */
        close_signals(c);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct run_ctx *c = h->data;
    if (c->finished) {
        return;
    }
    if (c->n_signals++ == 0) {
        fprintf(stderr, "\n%s: canceling the run (again to stop waiting for steps)\n",
                strsignal(signum));
        (void)dagd_executor_cancel(c->e, c->run_id);
    } else {
        /* A second ^C: do not wait for the grace period. */
        struct dagd_executor *e = c->e;
        c->e = NULL;
        c->status = DAGD_RUN_CANCELED;
        dagd_executor_free(e); /* kills the steps, records them canceled */
        c->finished = true;
        close_signals(c);
    }
}

static int parse_uint(const char *s, unsigned *ret)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 4096) {
        return -EINVAL;
    }
    *ret = (unsigned)v;
    return 0;
}

int dagd_cmd_run(int argc, char **argv)
{
    _cleanup_free_ char **params = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    _cleanup_free_ char **plugin_dirs = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    _cleanup_free_ char *state_dir = NULL;
    size_t n_params = 0, n_dirs = 0;
    const char *file = NULL, *dir_arg = "./.dagd", *from = NULL, *only = NULL, *retry = NULL;
    unsigned jobs = 0;
    bool force = false, quiet = false, output = true;
    int ret = 2, r;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_VALUE()                                                                              \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "dagd run: %s needs a value\n" RUN_USAGE, a);                          \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (streq(a, "--param") || streq(a, "-p")) {
            NEEDS_VALUE();
            if (!strchr(v, '=')) {
                fprintf(stderr, "dagd run: --param wants KEY=VALUE, got '%s'\n", v);
                return 2;
            }
            params[n_params++] = (char *)v;
        } else if (streq(a, "--state-dir")) {
            NEEDS_VALUE();
            dir_arg = v;
        } else if (streq(a, "--jobs") || streq(a, "-j")) {
            NEEDS_VALUE();
            if (parse_uint(v, &jobs) < 0) {
                fprintf(stderr, "dagd run: --jobs wants a number from 1 to 4096, got '%s'\n", v);
                return 2;
            }
        } else if (streq(a, "--plugin-dir")) {
            NEEDS_VALUE();
            plugin_dirs[n_dirs++] = (char *)v;
        } else if (streq(a, "--from")) {
            NEEDS_VALUE();
            from = v;
        } else if (streq(a, "--only")) {
            NEEDS_VALUE();
            only = v;
        } else if (streq(a, "--retry")) {
            NEEDS_VALUE();
            retry = v;
        } else if (streq(a, "--force")) {
            force = true;
        } else if (streq(a, "-q") || streq(a, "--quiet")) {
            quiet = true;
        } else if (streq(a, "--no-output")) {
            output = false;
        } else if (streq(a, "-h") || streq(a, "--help")) {
            fputs(RUN_USAGE, stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "dagd run: unknown option '%s'\n" RUN_USAGE, a);
            return 2;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "dagd run: one pipeline file at a time\n" RUN_USAGE);
            return 2;
        }
#undef NEEDS_VALUE
    }
    if (!file) {
        fputs(RUN_USAGE, stderr);
        return 2;
    }
    if (from && only) {
        fprintf(stderr, "dagd run: --from and --only exclude each other\n");
        return 2;
    }

    struct dagd_plugin_host *host = dagd_plugin_host_new(n_dirs ? plugin_dirs : NULL);
    struct dagd_pipeline *p = NULL;
    struct dagd_store *store = NULL;
    struct dagd_progress *pr = NULL;
    struct dagd_diags diags = {0};
    struct run_ctx c = {0};
    uv_loop_t loop;
    bool loop_open = false;
    int lock_fd = -1;

    r = dagd_pipeline_load(file, host, &p, &diags);
    if (r < 0) {
        dagd_diags_print(&diags, stderr);
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        const char *name = k == 0 ? from : only;
        if (name && dagd_pipeline_step_index(p, name) < 0) {
            fprintf(stderr, "dagd run: %s: no step '%s' in %s\n", k == 0 ? "--from" : "--only",
                    name, file);
            goto out;
        }
    }
    c.p = p;
    c.quiet = quiet;
    r = dagd_store_open(dir_arg, &store);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to open the state database in '%s': %s", dir_arg,
                       dagd_store_errmsg(NULL));
        ret = 1;
        goto out;
    }
    /* Same absolute form as `dagd plan` uses, so memo lookups agree. */
    state_dir = dagd_plan_abs_path(dir_arg);
    bool alone = false;
    lock_fd = dagd_statelock_acquire(state_dir, &alone);
    if (lock_fd < 0) {
        dagd_log_errno(LOG_ERR, lock_fd, "Failed to lock '%s': %m", state_dir);
        ret = 1;
        goto out;
    }
    if (alone) {
        r = dagd_store_fail_orphans(store, "orphaned: the dagd that ran it died",
                                    dagd_usec_to_msec(dagd_now_wall_usec()));
        if (r > 0) {
            dagd_log_warning("Marked %d runs left running by a dead dagd as failed", r);
        }
        (void)dagd_statelock_share(lock_fd);
    }

    (void)uv_loop_init(&loop);
    loop_open = true;
    struct dagd_executor_config ec = {
        .loop = &loop,
        .store = store,
        .plugins = host,
        .max_jobs = jobs,
        .state_dir = state_dir,
    };
    r = dagd_executor_new(&ec, &c.e);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to start the executor: %m");
        ret = 1;
        goto out;
    }
    pr = dagd_progress_new(stdout, isatty(STDOUT_FILENO), quiet, output, p->n_steps);
    (void)dagd_executor_observe(c.e, NULL, dagd_progress_on_event, pr);
    (void)dagd_executor_observe(c.e, NULL, on_event, &c);

    uv_signal_init(&loop, &c.sig_int);
    uv_signal_init(&loop, &c.sig_term);
    c.sig_int.data = c.sig_term.data = &c;
    c.signals_open = true;
    uv_signal_start(&c.sig_int, on_signal, SIGINT);
    uv_signal_start(&c.sig_term, on_signal, SIGTERM);

    struct dagd_run_options opts = {
        .trigger = retry ? "retry" : "cli",
        .param_overrides = params,
        .n_param_overrides = n_params,
        .force = force,
        .from_step = from,
        .only_step = only,
        .parent_run_id = retry,
    };
    /* The observer matches on c.run_id: the run may end inside submit (all
     * memoized), so learn the id first through RUN_STARTED-independent
     * means: generate it here. */
    dagd_run_id_new(c.run_id);
    opts.run_id = c.run_id;
    r = dagd_executor_submit(c.e, p, &opts, c.run_id, &diags);
    if (r < 0) {
        dagd_diags_print(&diags, stderr);
        close_signals(&c);
        ret = 2;
        goto out;
    }
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    if (c.e) {
        dagd_progress_summary(pr, store, c.run_id);
    }
    ret = c.status == DAGD_RUN_SUCCEEDED ? 0 : 1;

out:
    if (c.e) {
        dagd_executor_free(c.e);
    }
    if (loop_open) {
        (void)uv_run(&loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&loop) < 0) {
            dagd_log_warning("Handles left open at exit, ignoring");
        }
    }
    dagd_progress_free(pr);
    if (lock_fd >= 0) {
        (void)close(lock_fd);
    }
    dagd_diags_done(&diags);
    dagd_store_free(store);
    dagd_pipeline_unref(p);
    dagd_plugin_host_free(host);
    return ret;
}
