/* `dagd run FILE.yaml [--param k=v]... [--state-dir DIR] [--jobs N] [--force]
 * [--plugin-dir DIR]... [--from STEP | --only STEP] [--retry RUN] [--partition KEY] [-q]`: the
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
#include "procsweep.h"
#include "progress.h"
#include "statelock.h"

int dagd_cmd_run(int argc, char **argv);

#define RUN_USAGE                                                                                  \
    "usage: dagd run FILE.yaml [--param k=v]... [--state-dir DIR] [--jobs N] [--force]\n"          \
    "                [--plugin-dir DIR]... [--from STEP | --only STEP] [--retry RUN_ID]\n"         \
    "                [--partition KEY] [--no-output] [-q]\n"

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
        printf("run %s of pipeline %s (%zu step%s)\n", c->run_id, c->p->name, c->p->n_steps,
               c->p->n_steps == 1 ? "" : "s");
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

/* The command line. */
struct run_args {
    char **params; /* argv's --param values */
    size_t n_params;
    char **plugin_dirs;
    size_t n_dirs;
    const char *file, *dir_arg, *from, *only, *retry, *partition;
    unsigned jobs;
    bool force, quiet, output;
};

/* Phase 1: parse argv into *a. Returns -1 to go on, else the exit code
 * (0 for --help, 2 for usage errors, printed). */
static int parse_args(int argc, char **argv, struct run_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_VALUE()                                                                              \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "dagd run: %s needs a value\n" RUN_USAGE, o);                          \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (streq(o, "--param") || streq(o, "-p")) {
            NEEDS_VALUE();
            if (!strchr(v, '=')) {
                fprintf(stderr, "dagd run: --param wants KEY=VALUE, got '%s'\n", v);
                return 2;
            }
            a->params[a->n_params++] = (char *)v;
        } else if (streq(o, "--state-dir")) {
            NEEDS_VALUE();
            a->dir_arg = v;
        } else if (streq(o, "--jobs") || streq(o, "-j")) {
            NEEDS_VALUE();
            if (parse_uint(v, &a->jobs) < 0) {
                fprintf(stderr, "dagd run: --jobs wants a number from 1 to 4096, got '%s'\n", v);
                return 2;
            }
        } else if (streq(o, "--plugin-dir")) {
            NEEDS_VALUE();
            a->plugin_dirs[a->n_dirs++] = (char *)v;
        } else if (streq(o, "--from")) {
            NEEDS_VALUE();
            a->from = v;
        } else if (streq(o, "--only")) {
            NEEDS_VALUE();
            a->only = v;
        } else if (streq(o, "--retry")) {
            NEEDS_VALUE();
            a->retry = v;
        } else if (streq(o, "--partition")) {
            NEEDS_VALUE();
            a->partition = v;
        } else if (streq(o, "--force")) {
            a->force = true;
        } else if (streq(o, "-q") || streq(o, "--quiet")) {
            a->quiet = true;
        } else if (streq(o, "--no-output")) {
            a->output = false;
        } else if (streq(o, "-h") || streq(o, "--help")) {
            fputs(RUN_USAGE, stdout);
            return 0;
        } else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "dagd run: unknown option '%s'\n" RUN_USAGE, o);
            return 2;
        } else if (!a->file) {
            a->file = o;
        } else {
            fprintf(stderr, "dagd run: one pipeline file at a time\n" RUN_USAGE);
            return 2;
        }
#undef NEEDS_VALUE
    }
    if (!a->file) {
        fputs(RUN_USAGE, stderr);
        return 2;
    }
    if (a->from && a->only) {
        fprintf(stderr, "dagd run: --from and --only exclude each other\n");
        return 2;
    }
    return -1;
}

/* Everything the run holds, released by run_done(). */
struct run_state {
    struct dagd_plugin_host *host;
    struct dagd_pipeline *p;
    struct dagd_store *store;
    char *state_dir; /* absolute */
    int lock_fd;
    struct dagd_progress *pr;
    struct dagd_diags diags;
    struct run_ctx c;
    uv_loop_t loop;
    bool loop_open;
};

/* Phase 2: the state directory: open state.db, take the shared lock, and if
 * no other dagd uses it, fail the runs a dead one left running. Returns 0 or
 * an exit code (logged). */
static int open_state(struct run_state *st, const char *dir_arg)
{
    bool alone = false;
    int r;

    r = dagd_store_open(dir_arg, &st->store);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to open the state database in '%s': %s", dir_arg,
                       dagd_store_errmsg(NULL));
        return 1;
    }
    /* Same absolute form as `dagd plan` uses, so memo lookups agree. */
    st->state_dir = dagd_plan_abs_path(dir_arg);
    st->lock_fd = dagd_statelock_acquire(st->state_dir, &alone);
    if (st->lock_fd < 0) {
        dagd_log_errno(LOG_ERR, st->lock_fd, "Failed to lock '%s': %m", st->state_dir);
        return 1;
    }
    if (alone) {
        /* What the dead dagd's steps left running dies before they are
         * marked failed (procsweep.h). */
        (void)dagd_procsweep_orphans(st->store);
        r = dagd_store_fail_orphans(st->store, "orphaned: the dagd that ran it died",
                                    dagd_usec_to_msec(dagd_now_wall_usec()));
        if (r > 0) {
            dagd_log_warning("Marked %d runs left running by a dead dagd as failed", r);
        }
        (void)dagd_statelock_share(st->lock_fd);
    }
    return 0;
}

/* Phase 3: the loop, the executor with its observers (progress printer,
 * on_event) and the signal handlers. Returns 0 or an exit code (logged). */
static int start_executor(struct run_state *st, const struct run_args *a)
{
    struct run_ctx *c = &st->c;
    int r;

    (void)uv_loop_init(&st->loop);
    st->loop_open = true;
    struct dagd_executor_config ec = {
        .loop = &st->loop,
        .store = st->store,
        .plugins = st->host,
        .max_jobs = a->jobs,
        .state_dir = st->state_dir,
    };
    r = dagd_executor_new(&ec, &c->e);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to start the executor: %m");
        return 1;
    }
    st->pr = dagd_progress_new(stdout, isatty(STDOUT_FILENO), a->quiet, a->output, st->p->n_steps);
    (void)dagd_executor_observe(c->e, NULL, dagd_progress_on_event, st->pr);
    (void)dagd_executor_observe(c->e, NULL, on_event, c);

    uv_signal_init(&st->loop, &c->sig_int);
    uv_signal_init(&st->loop, &c->sig_term);
    c->sig_int.data = c->sig_term.data = c;
    c->signals_open = true;
    uv_signal_start(&c->sig_int, on_signal, SIGINT);
    uv_signal_start(&c->sig_term, on_signal, SIGTERM);
    return 0;
}

/* How long `dagd run` waits for the state database to take the end of a
 * run it could not record (disk full) before it leaves it to the next start. */
#define UNSAVED_WAIT_MS 60000
#define UNSAVED_POLL_MS 100

struct unsaved_wait {
    uv_timer_t timer;
    struct dagd_executor *e;
    uint64_t deadline;
};

static void on_unsaved_poll(uv_timer_t *t)
{
    struct unsaved_wait *w = t->data;
    if (dagd_executor_unsaved(w->e) == 0 || uv_now(t->loop) >= w->deadline) {
        uv_close((uv_handle_t *)t, NULL);
    }
}

/* The run ended but its end is not in state.db (a write failed): the
 * executor retries every second; wait for it, within a bound. */
static void wait_unsaved(struct run_state *st)
{
    struct unsaved_wait w = {.e = st->c.e};
    if (!w.e || dagd_executor_unsaved(w.e) == 0) {
        return;
    }
    fprintf(stderr,
            "dagd run: the end of run %s could not be recorded in %s/state.db; "
            "retrying for up to %d s\n",
            st->c.run_id, st->state_dir, UNSAVED_WAIT_MS / 1000);
    (void)uv_timer_init(&st->loop, &w.timer);
    w.timer.data = &w;
    w.deadline = uv_now(&st->loop) + UNSAVED_WAIT_MS;
    (void)uv_timer_start(&w.timer, on_unsaved_poll, UNSAVED_POLL_MS, UNSAVED_POLL_MS);
    (void)uv_run(&st->loop, UV_RUN_DEFAULT);
}

/* Phase 4: submit the run and run the loop until it is over. Returns the
 * exit code: 0 succeeded, 1 failed or canceled, 2 refused (printed). */
static int run_to_end(struct run_state *st, const struct dagd_run_options *opts)
{
    struct run_ctx *c = &st->c;
    struct dagd_run_options o = *opts;
    int r;

    /* The observer matches on c.run_id: the run may end inside submit (all
     * memoized), so learn the id first through RUN_STARTED-independent
     * means: generate it here. */
    dagd_run_id_new(c->run_id);
    o.run_id = c->run_id;
    r = dagd_executor_submit(c->e, st->p, &o, c->run_id, &st->diags);
    if (r < 0) {
        dagd_diags_print(&st->diags, stderr);
        close_signals(c);
        return 2;
    }
    (void)uv_run(&st->loop, UV_RUN_DEFAULT);
    wait_unsaved(st);
    if (c->e) {
        dagd_progress_summary(st->pr, st->store, c->run_id);
    }
    return c->status == DAGD_RUN_SUCCEEDED ? 0 : 1;
}

static void run_done(struct run_state *st)
{
    if (st->c.e) {
        dagd_executor_free(st->c.e);
    }
    if (st->loop_open) {
        (void)uv_run(&st->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&st->loop) < 0) {
            dagd_log_warning("Handles left open at exit, ignoring");
        }
    }
    dagd_progress_free(st->pr);
    if (st->lock_fd >= 0) {
        (void)close(st->lock_fd);
    }
    dagd_diags_done(&st->diags);
    dagd_store_free(st->store);
    free(st->state_dir);
    dagd_pipeline_unref(st->p);
    dagd_plugin_host_free(st->host);
}

int dagd_cmd_run(int argc, char **argv)
{
    _cleanup_free_ char **params = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    _cleanup_free_ char **plugin_dirs = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    struct run_args a = {
        .params = params, .plugin_dirs = plugin_dirs, .dir_arg = "./.dagd", .output = true};
    struct run_state st = {.lock_fd = -1};
    int ret;

    ret = parse_args(argc, argv, &a);
    if (ret >= 0) {
        return ret;
    }
    struct dagd_run_options opts = {
        .trigger = a.retry ? "retry" : "cli",
        .param_overrides = a.params,
        .n_param_overrides = a.n_params,
        .force = a.force,
        .from_step = a.from,
        .only_step = a.only,
        .parent_run_id = a.retry,
        .partition = a.partition,
        .require_partition = !a.retry,
    };
    st.host = dagd_plugin_host_new(a.n_dirs ? a.plugin_dirs : NULL);
    ret = 2;
    if (dagd_pipeline_load(a.file, st.host, &st.p, &st.diags) < 0) {
        dagd_diags_print(&st.diags, stderr);
        goto out;
    }
    /* Before the state directory is touched: a typo creates nothing. The
     * executor resolves the whole run (params, configs) once the state_dir
     * built-in is known. */
    if (dagd_run_check_selection(st.p, &opts, &st.diags) < 0) {
        dagd_diags_print(&st.diags, stderr);
        goto out;
    }
    st.c.p = st.p;
    st.c.quiet = a.quiet;
    ret = open_state(&st, a.dir_arg);
    if (ret == 0) {
        ret = start_executor(&st, &a);
    }
    if (ret == 0) {
        ret = run_to_end(&st, &opts);
    }
out:
    run_done(&st);
    return ret;
}
