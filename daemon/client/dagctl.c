/* dagctl: the command line client of `dagd serve` (DESIGN 7). One request
 * per invocation over the Unix socket; stream events (run --wait, logs
 * --follow) are printed as they arrive. Exit codes: 0 ok, 1 run failed (or
 * another error reply), 2 usage or invalid pipeline, 3 daemon unreachable. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "protocol.h"
#include "reply_text.h"
#include "util.h"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 3,
};

struct ctl {
    const char *socket;
    bool json;
    int fd;
    struct dagd_linebuf lines;
    bool tty;
};

/* ---- connection ---- */

static const char *default_socket(void)
{
    const char *e = getenv("DAGD_SOCKET");
    static char buf[4096];

    if (e && *e) {
        return e;
    }
    e = getenv("RUNTIME_DIRECTORY");
    if (e && *e) {
        /* systemd may pass several colon-separated directories: use the first. */
        size_t n = strcspn(e, ":");
        snprintf(buf, sizeof(buf), "%.*s/dagd.sock", (int)n, e);
        return buf;
    }
    return "/run/dagd/dagd.sock";
}

static int ctl_connect(struct ctl *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (strlen(c->socket) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "dagctl: socket path too long: %s\n", c->socket);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, c->socket, strlen(c->socket));
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return -errno;
    }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        struct stat st;
        /* "Connection refused" for a directory or a plain file misleads:
         * say what the path is instead. */
        if (stat(c->socket, &st) == 0 && S_ISDIR(st.st_mode)) {
            fprintf(stderr,
                    "dagctl: %s is a directory, not dagd's socket (give the socket file, "
                    "e.g. %s/dagd.sock)\n",
                    c->socket, c->socket);
        } else if (stat(c->socket, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "dagctl: %s is not a socket (give dagd serve's --socket path)\n",
                    c->socket);
        } else {
            fprintf(stderr, "dagctl: cannot connect to %s: %s (is dagd serve running?)\n",
                    c->socket, strerror(-r));
        }
        return r;
    }
    return 0;
}

/* Read the next reply line; 0 on EOF. Lines of any length are accepted from
 * the daemon up to 64 MiB. */
static int ctl_read_reply(struct ctl *c, struct dagd_reply *ret)
{
    char buf[65536];
    for (;;) {
        char *line;
        size_t len;
        int r = dagd_linebuf_next(&c->lines, &line, &len);
        if (r < 0) {
            return -EMSGSIZE;
        }
        if (r == 1) {
            if (len == 0) {
                continue;
            }
            return dagd_reply_decode(line, len, ret) < 0 ? -EBADMSG : 1;
        }
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            return 0;
        }
        dagd_linebuf_append(&c->lines, buf, (size_t)n);
    }
}

typedef int (*event_fn)(struct ctl *c, const cJSON *event, void *userdata);

/* Send one request and read until its reply; events go to on_event. The
 * final reply is returned in *ret (caller frees) when it is a result; an
 * error is printed and mapped to an exit code. */
static int ctl_call(struct ctl *c, const char *method, cJSON *params, event_fn on_event,
                    void *userdata, struct dagd_reply *ret)
{
    size_t len;
    _cleanup_free_ char *req = dagd_request_encode(1, method, params, &len);

    if (ctl_connect(c) < 0) {
        return EXIT_UNREACHABLE;
    }
    int wr = dagd_write_all(c->fd, req, len);
    if (wr < 0 && wr != -EPIPE && wr != -ECONNRESET) {
        fprintf(stderr, "dagctl: failed to send the request: %s\n", strerror(-wr));
        return EXIT_UNREACHABLE;
    }
    /* On EPIPE the daemon closed first: it may have said why (refused peer,
     * too many clients), so read its reply anyway. */
    for (;;) {
        struct dagd_reply rep;
        int r = ctl_read_reply(c, &rep);
        if (r <= 0) {
            fprintf(stderr, "dagctl: %s\n",
                    r == 0 ? "the daemon closed the connection" : strerror(-r));
            return EXIT_UNREACHABLE;
        }
        if (rep.event) {
            int er = on_event ? on_event(c, rep.event, userdata) : 0;
            dagd_reply_done(&rep);
            if (er != 0) {
                return er;
            }
            continue;
        }
        if (rep.error_code) {
            int code = EXIT_FAILED;
            if (streq(rep.error_code, DAGD_ERR_INVALID_PIPELINE) ||
                streq(rep.error_code, DAGD_ERR_INVALID_PARAMS) ||
                streq(rep.error_code, DAGD_ERR_UNKNOWN_METHOD) ||
                streq(rep.error_code, DAGD_ERR_AMBIGUOUS) ||
                streq(rep.error_code, DAGD_ERR_NOT_FOUND)) {
                code = EXIT_USAGE;
            }
            if (c->json) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "code", rep.error_code);
                cJSON_AddStringToObject(e, "message", rep.error_message);
                char *s = cJSON_PrintUnformatted(e);
                printf("{\"error\":%s}\n", s);
                cJSON_free(s);
                cJSON_Delete(e);
            }
            fprintf(stderr, "dagctl: %s: %s\n", rep.error_code, rep.error_message);
            /* Diagnostics of an invalid pipeline come as a list. */
            dagd_reply_done(&rep);
            return code;
        }
        *ret = rep;
        return EXIT_OK;
    }
}

static void print_json(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    cJSON_free(s);
    fflush(stdout);
}

/* ---- commands ---- */

static void print_diags(const cJSON *errors, FILE *f)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, errors)
    {
        fprintf(f, "%s:%d:%d: error: %s\n", dagd_or_dash(dagd_jstr(e, "file")),
                (int)dagd_jnum(e, "line"), (int)dagd_jnum(e, "col"),
                dagd_or_dash(dagd_jstr(e, "message")));
    }
}

/* A daemon on a PostgreSQL history leads it or stands by (docs/postgresql.md
 * "Two daemons, one history"); on state.db there is nothing to say. */
static void print_session(const char *what, const cJSON *l)
{
    char since[64];
    printf("%s: %s (PostgreSQL client %s, backend PID %d, session since %s)\n", what,
           dagd_or_dash(dagd_jstr(l, "application")), dagd_or_dash(dagd_jstr(l, "client")),
           (int)dagd_jnum(l, "backend_pid"),
           dagd_fmt_time(dagd_jnum(l, "since_ms"), since, sizeof(since)));
}

static void print_role(const cJSON *st)
{
    const char *history = dagd_jstr(st, "history");
    if (!history) {
        return;
    }
    const cJSON *it;
    if (!streq(dagd_or_dash(dagd_jstr(st, "role")), "standby")) {
        printf("role: leader of the run history %s\n", history);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(st, "standbys"))
        {
            print_session("standby", it);
        }
        return;
    }
    printf("role: standby for the run history %s (reads only; it takes over when the leader "
           "stops)\n",
           history);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(st, "leader");
    if (!cJSON_IsObject(l)) {
        printf("leader: not known\n");
        return;
    }
    print_session("leader", l);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(st, "standbys"))
    {
        print_session("other standby", it);
    }
}

static int cmd_status(struct ctl *c, int argc, char **argv)
{
    struct dagd_reply rep;
    int r = ctl_call(c, "status", NULL, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        char up[32];
        printf("dagd %s (pid %d), up %s\n", dagd_or_dash(dagd_jstr(rep.result, "version")),
               (int)dagd_jnum(rep.result, "pid"),
               dagd_format_duration((uint64_t)dagd_jnum(rep.result, "uptime_ms") * 1000, up,
                                    sizeof(up)));
        print_role(rep.result);
        printf("pipelines: %d loaded, %d with errors\n", (int)dagd_jnum(rep.result, "pipelines"),
               (int)dagd_jnum(rep.result, "pipeline_errors"));
        printf("runs: %d running, %d queued (max %d concurrent)\n",
               (int)dagd_jnum(rep.result, "running"), (int)dagd_jnum(rep.result, "queued"),
               (int)dagd_jnum(rep.result, "max_concurrent_runs"));
        if (dagd_jnum(rep.result, "max_backfill_runs") > 0) {
            printf("backfill runs: %d running (max %d)\n",
                   (int)dagd_jnum(rep.result, "running_backfill"),
                   (int)dagd_jnum(rep.result, "max_backfill_runs"));
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(rep.result, "lanes"))
        {
            const char *bf = dagd_jstr(it, "backfill_id");
            printf("  queued: %d of %s%s%s (priority %d)\n", (int)dagd_jnum(it, "queued"),
                   dagd_or_dash(dagd_jstr(it, "pipeline")), bf ? ", backfill " : "", bf ? bf : "",
                   (int)dagd_jnum(it, "priority"));
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(rep.result, "pools"))
        {
            printf("pool %s: %d of %d slots used, %d steps waiting\n",
                   dagd_or_dash(dagd_jstr(it, "name")), (int)dagd_jnum(it, "used"),
                   (int)dagd_jnum(it, "slots"), (int)dagd_jnum(it, "waiting"));
        }
        printf("clients: %d\n", (int)dagd_jnum(rep.result, "clients"));
        printf("state dir: %s\n", dagd_or_dash(dagd_jstr(rep.result, "state_dir")));
    }
    dagd_reply_done(&rep);
    return 0;
}

static int cmd_pipelines(struct ctl *c, int argc, char **argv)
{
    struct dagd_reply rep;
    int r = ctl_call(c, "pipelines", NULL, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(rep.result, "pipelines");
    if (c->json) {
        print_json(rep.result);
    } else {
        const cJSON *p;
        printf("%-24s %5s  %-8s %-24s %s\n", "PIPELINE", "STEPS", "STATUS", "SCHEDULES/SENSORS",
               "DESCRIPTION (FILE)");
        cJSON_ArrayForEach(p, list)
        {
            const cJSON *errors = cJSON_GetObjectItemCaseSensitive(p, "errors");
            bool loaded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "loaded"));
            const char *st = cJSON_GetArraySize(errors) > 0 ? (loaded ? "stale" : "invalid") : "ok";
            char triggers[256] = "";
            const cJSON *t;
            cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(p, "schedules"))
            {
                if (cJSON_IsString(t)) {
                    snprintf(triggers + strlen(triggers), sizeof(triggers) - strlen(triggers),
                             "%s%s", *triggers ? "," : "", t->valuestring);
                }
            }
            cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(p, "sensors"))
            {
                if (cJSON_IsString(t)) {
                    snprintf(triggers + strlen(triggers), sizeof(triggers) - strlen(triggers),
                             "%s%s", *triggers ? "," : "", t->valuestring);
                }
            }
            const char *desc = dagd_jstr(p, "description");
            printf("%-24s %5d  %-8s %-24s %s%s%s%s\n", dagd_or_dash(dagd_jstr(p, "name")),
                   (int)dagd_jnum(p, "steps"), st, dagd_or_dash(triggers), desc ? desc : "",
                   desc ? " (" : "", dagd_or_dash(dagd_jstr(p, "file")), desc ? ")" : "");
        }
        cJSON_ArrayForEach(p, list)
        {
            print_diags(cJSON_GetObjectItemCaseSensitive(p, "errors"), stdout);
        }
    }
    dagd_reply_done(&rep);
    return 0;
}

/* Live progress of `run --wait`: on a terminal, one row per step redrawn in
 * place with a bar; otherwise one plain line per step state change. */
struct progress {
    char **steps;
    char **status;
    double *done, *total;
    size_t n;
    bool drawn;
    bool compact; /* one summary row (more steps than terminal rows) */
    const char *final_status;
    char run_id[64];
};

static void progress_done(struct progress *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->steps[i]);
        free(p->status[i]);
    }
    free(p->steps);
    free(p->status);
    free(p->done);
    free(p->total);
}

static ssize_t progress_find(struct progress *p, const char *step)
{
    for (size_t i = 0; step && i < p->n; i++) {
        if (streq(p->steps[i], step)) {
            return (ssize_t)i;
        }
    }
    return -1;
}

static void fill_bar(char *bar, int barw, double frac)
{
    int fill = (int)(frac * barw);
    for (int k = 0; k < barw; k++) {
        bar[k] = k < fill ? '#' : '.';
    }
    bar[barw] = '\0';
}

/* A pipeline taller than the terminal gets one summary row instead of one
 * row per step (redrawing hundreds of rows per event would flood it). */
static void progress_draw_compact(struct progress *p, int width)
{
    size_t done = 0, failed = 0;
    char running[256] = "";
    size_t used = 0;

    for (size_t i = 0; i < p->n; i++) {
        const char *st = p->status[i];
        if (streq(st, "succeeded") || streq(st, "skipped")) {
            done++;
        } else if (streq(st, "failed") || streq(st, "canceled")) {
            done++;
            failed++;
        } else if (streq(st, "running") && used + strlen(p->steps[i]) + 2 < sizeof(running)) {
            used += (size_t)snprintf(running + used, sizeof(running) - used, "%s%s",
                                     used ? ", " : "", p->steps[i]);
        }
    }
    char bar[64];
    fill_bar(bar, 30, p->n ? (double)done / (double)p->n : 1);
    printf("%s\033[2K  [%s] %zu/%zu steps", p->drawn ? "\r" : "", bar, done, p->n);
    if (failed) {
        printf(", %zu failed", failed);
    }
    int left = width - 50;
    if (*running && left > 10) {
        printf("  running: %.*s", left, running);
    }
    p->drawn = true;
    fflush(stdout);
}

static void progress_draw(struct progress *p)
{
    int width = 80, height = 24;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 40) {
        width = ws.ws_col;
        height = ws.ws_row > 2 ? ws.ws_row : height;
    }
    if (p->n + 2 > (size_t)height) {
        p->compact = true;
    }
    if (p->compact) {
        progress_draw_compact(p, width);
        return;
    }
    if (p->drawn && p->n > 0) {
        printf("\033[%zuA", p->n); /* back to the first row */
    }
    for (size_t i = 0; i < p->n; i++) {
        char bar[64] = "";
        char rows[48] = "";
        int barw = 20;
        double frac = 0;
        const char *st = p->status[i] ? p->status[i] : "pending";
        if (streq(st, "succeeded") || streq(st, "skipped")) {
            frac = 1;
        } else if (p->total[i] > 0) {
            frac = p->done[i] / p->total[i];
            if (frac > 1) {
                frac = 1;
            }
        }
        fill_bar(bar, barw, frac);
        if (p->total[i] > 0) {
            snprintf(rows, sizeof(rows), "%.0f/%.0f", p->done[i], p->total[i]);
        }
        int namew = width - barw - 40;
        namew = namew > 10 ? (namew > 30 ? 30 : namew) : 10;
        printf("\033[2K  %-*.*s [%s] %-12s %s\n", namew, namew, p->steps[i], bar, st, rows);
    }
    p->drawn = true;
    fflush(stdout);
}

static int on_run_event(struct ctl *c, const cJSON *ev, void *userdata)
{
    struct progress *p = userdata;
    const char *kind = dagd_jstr(ev, "kind");
    const char *step = dagd_jstr(ev, "step");

    if (c->json) {
        print_json(ev);
        return 0;
    }
    if (!kind) {
        return 0;
    }
    if (streq(kind, "accepted")) {
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(ev, "steps");
        const cJSON *s;
        snprintf(p->run_id, sizeof(p->run_id), "%s", dagd_or_dash(dagd_jstr(ev, "run_id")));
        if (!c->tty) {
            printf("run %s of %s %s\n", p->run_id, dagd_or_dash(dagd_jstr(ev, "pipeline")),
                   dagd_or_dash(dagd_jstr(ev, "status")));
        } else {
            printf("run %s\n", p->run_id);
        }
        cJSON_ArrayForEach(s, steps)
        {
            if (!cJSON_IsString(s) || p->n >= 100000) {
                continue;
            }
            p->steps = dagd_xreallocarray(p->steps, p->n + 1, sizeof(char *));
            p->status = dagd_xreallocarray(p->status, p->n + 1, sizeof(char *));
            p->done = dagd_xreallocarray(p->done, p->n + 1, sizeof(double));
            p->total = dagd_xreallocarray(p->total, p->n + 1, sizeof(double));
            p->steps[p->n] = dagd_xstrdup(s->valuestring);
            p->status[p->n] = dagd_xstrdup("pending");
            p->done[p->n] = p->total[p->n] = 0;
            p->n++;
        }
        if (c->tty) {
            progress_draw(p);
        }
        fflush(stdout);
        return 0;
    }
    ssize_t i = progress_find(p, step);
    if (streq(kind, "step")) {
        const char *st = dagd_or_dash(dagd_jstr(ev, "status"));
        if (i >= 0) {
            free(p->status[i]);
            p->status[i] = dagd_xstrdup(st);
        }
        if (c->tty) {
            progress_draw(p);
        } else {
            const char *err = dagd_jstr(ev, "error");
            printf("step %s: %s (attempt %d)%s%s\n", dagd_or_dash(step), st,
                   (int)dagd_jnum(ev, "attempts"), err ? ": " : "", err ? err : "");
            fflush(stdout);
        }
    } else if (streq(kind, "progress") && i >= 0) {
        p->done[i] = dagd_jnum(ev, "done");
        p->total[i] = dagd_jnum(ev, "total");
        if (c->tty) {
            progress_draw(p);
        }
    } else if (streq(kind, "finished")) {
        if (c->tty) {
            progress_draw(p);
        }
    }
    return 0;
}

static int run_wait_result(struct ctl *c, struct dagd_reply *rep, const struct progress *p)
{
    if (p->compact && p->drawn) {
        printf("\n");
    }
    const char *status = dagd_jstr(rep->result, "status");
    if (c->json) {
        print_json(rep->result);
    } else {
        const char *err = dagd_jstr(rep->result, "error");
        printf("run %s %s%s%s\n", dagd_or_dash(dagd_jstr(rep->result, "run_id")),
               dagd_or_dash(status), err ? ": " : "", err ? err : "");
    }
    return status && streq(status, "succeeded") ? EXIT_OK : EXIT_FAILED;
}

static _printf_(1, 2) int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dagctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'dagctl --help'.\n");
    return EXIT_USAGE;
}

/* Send `method` (run, retry: both start a run) with params, which it takes,
 * adding "wait". Prints the new run's id, or with wait the progress while it
 * runs and its final status. */
static int start_run(struct ctl *c, const char *method, cJSON *params, bool wait)
{
    cJSON_AddBoolToObject(params, "wait", wait);
    struct progress p = {0};
    struct dagd_reply rep;
    int r = ctl_call(c, method, params, on_run_event, &p, &rep);
    if (r != 0) {
        progress_done(&p);
        return r;
    }
    if (wait) {
        r = run_wait_result(c, &rep, &p);
    } else if (c->json) {
        print_json(rep.result);
    } else {
        printf("%s\n", dagd_or_dash(dagd_jstr(rep.result, "run_id")));
    }
    progress_done(&p);
    dagd_reply_done(&rep);
    return r;
}

/* --priority N: an integer (the daemon checks its range). */
static int add_priority(cJSON *params, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT32_MIN || v > INT32_MAX) {
        return -EINVAL;
    }
    cJSON_AddNumberToObject(params, "priority", (double)v);
    return 0;
}

static int cmd_run(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"param", required_argument, NULL, 'p'},    {"wait", no_argument, NULL, 'w'},
        {"force", no_argument, NULL, 'f'},          {"from", required_argument, NULL, 'F'},
        {"only", required_argument, NULL, 'O'},     {"partition", required_argument, NULL, 'P'},
        {"priority", required_argument, NULL, 'R'}, {NULL, 0, NULL, 0},
    };
    cJSON *params = cJSON_CreateObject();
    cJSON *plist = cJSON_AddArrayToObject(params, "params");
    bool wait = false;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "p:wf", opts, NULL)) >= 0) {
        switch (o) {
        case 'p':
            if (!strchr(optarg, '=')) {
                cJSON_Delete(params);
                return usage_error("--param needs KEY=VALUE, got '%s'", optarg);
            }
            cJSON_AddItemToArray(plist, cJSON_CreateString(optarg));
            break;
        case 'w':
            wait = true;
            break;
        case 'f':
            cJSON_AddBoolToObject(params, "force", true);
            break;
        case 'F':
            cJSON_AddStringToObject(params, "from", optarg);
            break;
        case 'O':
            cJSON_AddStringToObject(params, "only", optarg);
            break;
        case 'P':
            cJSON_AddStringToObject(params, "partition", optarg);
            break;
        case 'R':
            if (add_priority(params, optarg) < 0) {
                cJSON_Delete(params);
                return usage_error("--priority needs an integer, got '%s'", optarg);
            }
            break;
        default:
            cJSON_Delete(params);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cJSON_Delete(params);
        return usage_error("%s", "usage: dagctl run PIPELINE [--param k=v]... [--wait] [--force] "
                                 "[--from STEP] [--only STEP] [--partition KEY] [--priority N]");
    }
    cJSON_AddStringToObject(params, "pipeline", argv[optind]);
    return start_run(c, "run", params, wait);
}

/* `dagctl plan PIPELINE [--param k=v]... [--force]`: which steps `run`
 * would run, and why (docs/reliability.md). */
static int cmd_plan(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"param", required_argument, NULL, 'p'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    cJSON *params = cJSON_CreateObject();
    cJSON *plist = cJSON_AddArrayToObject(params, "params");
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "p:f", opts, NULL)) >= 0) {
        if (o == 'p') {
            if (!strchr(optarg, '=')) {
                cJSON_Delete(params);
                return usage_error("--param needs KEY=VALUE, got '%s'", optarg);
            }
            cJSON_AddItemToArray(plist, cJSON_CreateString(optarg));
        } else if (o == 'f') {
            cJSON_AddBoolToObject(params, "force", true);
        } else {
            cJSON_Delete(params);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cJSON_Delete(params);
        return usage_error("%s", "usage: dagctl plan PIPELINE [--param k=v]... [--force]");
    }
    cJSON_AddStringToObject(params, "pipeline", argv[optind]);
    struct dagd_reply rep;
    int r = ctl_call(c, "plan", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(rep.result, "steps"), *s;
        int w = 4;
        cJSON_ArrayForEach(s, steps)
        {
            int n = (int)strlen(dagd_or_dash(dagd_jstr(s, "step")));
            w = n > w ? n : w;
        }
        printf("%-*s  %-6s  %s\n", w, "STEP", "ACTION", "REASON");
        cJSON_ArrayForEach(s, steps)
        {
            printf("%-*s  %-6s  %s\n", w, dagd_or_dash(dagd_jstr(s, "step")),
                   dagd_or_dash(dagd_jstr(s, "action")), dagd_or_dash(dagd_jstr(s, "reason")));
        }
        printf("%.0f to run, %.0f up to date\n", dagd_jnum(rep.result, "run"),
               dagd_jnum(rep.result, "skip"));
    }
    dagd_reply_done(&rep);
    return 0;
}

/* `dagctl prune --older-than DURATION`: the daemon deletes finished runs
 * in bounded requests; ask until it says it is done. */
static int cmd_prune(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"older-than", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *older = NULL;
    double total = 0;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "o:", opts, NULL)) >= 0) {
        if (o != 'o') {
            return EXIT_USAGE;
        }
        older = optarg;
    }
    if (!older || optind != argc) {
        return usage_error("%s", "usage: dagctl prune --older-than DURATION");
    }
    for (;;) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "older_than", older);
        struct dagd_reply rep;
        int r = ctl_call(c, "prune", params, NULL, NULL, &rep);
        if (r != 0) {
            return r;
        }
        total += dagd_jnum(rep.result, "deleted");
        bool done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep.result, "done"));
        dagd_reply_done(&rep);
        if (done) {
            break;
        }
    }
    if (c->json) {
        printf("{\"deleted\":%.0f}\n", total);
    } else {
        printf("deleted %.0f rows (runs, steps, events, ticks)\n", total);
    }
    return 0;
}

static int cmd_retry(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"wait", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    bool wait = false;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "w", opts, NULL)) >= 0) {
        if (o != 'w') {
            return EXIT_USAGE;
        }
        wait = true;
    }
    if (optind != argc - 1) {
        return usage_error("%s", "usage: dagctl retry RUN [--wait]");
    }
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "run", argv[optind]);
    return start_run(c, "retry", params, wait);
}

/* `--limit N` (runs, ticks): N from 1 to max as params' "limit", or a usage
 * error. */
static int add_limit(cJSON *params, const char *arg, long max)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*end || n <= 0 || n > max) {
        return usage_error("--limit needs a positive number, got '%s'", arg);
    }
    cJSON_AddNumberToObject(params, "limit", (double)n);
    return 0;
}

static int cmd_runs(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"pipeline", required_argument, NULL, 'p'},
        {"limit", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    cJSON *params = cJSON_CreateObject();
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "p:n:", opts, NULL)) >= 0) {
        if (o == 'p') {
            cJSON_AddStringToObject(params, "pipeline", optarg);
        } else if (o == 'n') {
            int r = add_limit(params, optarg, 1000000);
            if (r != 0) {
                cJSON_Delete(params);
                return r;
            }
        } else {
            cJSON_Delete(params);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cJSON_Delete(params);
        return usage_error("%s", "usage: dagctl runs [--pipeline P] [--limit N]");
    }
    struct dagd_reply rep;
    int r = ctl_call(c, "runs", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        dagd_print_runs(stdout, rep.result);
    }
    dagd_reply_done(&rep);
    return 0;
}

static int one_run_arg(int argc, char **argv, const char *usage)
{
    if (argc != 2 || argv[1][0] == '-') {
        return usage_error("%s", usage);
    }
    return 0;
}

static int cmd_show(struct ctl *c, int argc, char **argv)
{
    int r = one_run_arg(argc, argv, "usage: dagctl show RUN");
    if (r != 0) {
        return r;
    }
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "run", argv[1]);
    struct dagd_reply rep;
    r = ctl_call(c, "show", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
        dagd_reply_done(&rep);
        return 0;
    }
    dagd_print_show(stdout, rep.result);
    dagd_reply_done(&rep);
    return 0;
}

static int on_log_event(struct ctl *c, const cJSON *ev, void *userdata)
{
    if (c->json) {
        print_json(ev);
        return 0;
    }
    dagd_print_log_event(stdout, ev);
    return 0;
}

static int cmd_logs(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    bool follow = false;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "f", opts, NULL)) >= 0) {
        if (o != 'f') {
            return EXIT_USAGE;
        }
        follow = true;
    }
    if (optind >= argc || argc - optind > 2) {
        return usage_error("%s", "usage: dagctl logs RUN [STEP] [--follow]");
    }
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "run", argv[optind]);
    if (argc - optind == 2) {
        cJSON_AddStringToObject(params, "step", argv[optind + 1]);
    }
    cJSON_AddBoolToObject(params, "follow", follow);
    for (;;) {
        struct dagd_reply rep;
        int r = ctl_call(c, "logs", params, on_log_event, NULL, &rep);
        if (r != 0) {
            return r;
        }
        /* The daemon sends a bounded batch per request: ask for the rest. */
        bool more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep.result, "truncated"));
        double last = dagd_jnum(rep.result, "last_seq");
        if (c->json && !more) {
            print_json(rep.result);
        }
        dagd_reply_done(&rep);
        if (!more) {
            return 0;
        }
        close(c->fd);
        c->fd = -1;
        dagd_linebuf_done(&c->lines);
        cJSON *next = cJSON_CreateObject();
        cJSON_AddStringToObject(next, "run", argv[optind]);
        if (argc - optind == 2) {
            cJSON_AddStringToObject(next, "step", argv[optind + 1]);
        }
        cJSON_AddBoolToObject(next, "follow", follow);
        cJSON_AddNumberToObject(next, "after", last);
        params = next;
    }
}

static int cmd_cancel(struct ctl *c, int argc, char **argv)
{
    int r = one_run_arg(argc, argv, "usage: dagctl cancel RUN");
    if (r != 0) {
        return r;
    }
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "run", argv[1]);
    struct dagd_reply rep;
    r = ctl_call(c, "cancel", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        printf("run %s: %s\n", dagd_or_dash(dagd_jstr(rep.result, "run_id")),
               dagd_or_dash(dagd_jstr(rep.result, "status")));
    }
    dagd_reply_done(&rep);
    return 0;
}

static int cmd_reload(struct ctl *c, int argc, char **argv)
{
    if (argc != 1) {
        return usage_error("%s", "usage: dagctl reload");
    }
    struct dagd_reply rep;
    int r = ctl_call(c, "reload", NULL, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        printf("reloaded: %d pipelines, %d with errors\n", (int)dagd_jnum(rep.result, "pipelines"),
               (int)dagd_jnum(rep.result, "pipeline_errors"));
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(rep.result, "errors"))
        {
            print_diags(p, stderr);
        }
    }
    dagd_reply_done(&rep);
    return 0;
}

static int cmd_ticks(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"limit", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    cJSON *params = cJSON_CreateObject();
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "n:", opts, NULL)) >= 0) {
        if (o == 'n') {
            int r = add_limit(params, optarg, 100000);
            if (r != 0) {
                cJSON_Delete(params);
                return r;
            }
        } else {
            cJSON_Delete(params);
            return EXIT_USAGE;
        }
    }
    if (optind + 1 == argc) {
        cJSON_AddStringToObject(params, "name", argv[optind]);
    } else if (optind != argc) {
        cJSON_Delete(params);
        return usage_error("%s", "usage: dagctl ticks [NAME] [--limit N]");
    }
    struct dagd_reply rep;
    int r = ctl_call(c, "ticks", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        const cJSON *t, *a;
        char when[32];
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(rep.result, "armed"))
        {
            if (streq(dagd_or_dash(dagd_jstr(a, "kind")), "schedule")) {
                printf("schedule %s/%s: '%s' (%s), next %s\n",
                       dagd_or_dash(dagd_jstr(a, "pipeline")), dagd_or_dash(dagd_jstr(a, "name")),
                       dagd_or_dash(dagd_jstr(a, "cron")), dagd_or_dash(dagd_jstr(a, "timezone")),
                       dagd_fmt_time(dagd_jnum(a, "next"), when, sizeof(when)));
            } else {
                printf("sensor %s/%s: '%s' in %s%s\n", dagd_or_dash(dagd_jstr(a, "pipeline")),
                       dagd_or_dash(dagd_jstr(a, "name")), dagd_or_dash(dagd_jstr(a, "pattern")),
                       dagd_or_dash(dagd_jstr(a, "watch")),
                       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "watching"))
                           ? ""
                           : " (directory missing)");
            }
        }
        printf("%-19s %-8s %-16s %-8s %-32s %s\n", "TIME", "KIND", "NAME", "STATUS", "RUN",
               "REASON");
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(rep.result, "ticks"))
        {
            printf("%-19s %-8s %-16s %-8s %-32s %s\n",
                   dagd_fmt_time(dagd_jnum(t, "ts"), when, sizeof(when)),
                   dagd_or_dash(dagd_jstr(t, "kind")), dagd_or_dash(dagd_jstr(t, "name")),
                   dagd_or_dash(dagd_jstr(t, "status")), dagd_or_dash(dagd_jstr(t, "run_id")),
                   dagd_or_dash(dagd_jstr(t, "reason")));
        }
    }
    dagd_reply_done(&rep);
    return 0;
}

/* Drop "--json" from argv (the backfill and partitions commands also take
 * it after their arguments, DESIGN 11); returns the new argc. */
static int take_json(struct ctl *c, int argc, char **argv)
{
    int k = 0;
    for (int i = 0; i < argc; i++) {
        if (streq(argv[i], "--json")) {
            c->json = true;
        } else {
            argv[k++] = argv[i];
        }
    }
    argv[k] = NULL;
    return k;
}

static void print_counts(const cJSON *counts)
{
    static const char *const order[] = {"queued", "running", "succeeded", "failed", "canceled"};
    for (size_t i = 0; i < ELEMENTSOF(order); i++) {
        printf("%s%s %.0f", i ? ", " : "", order[i], dagd_jnum(counts, order[i]));
    }
    printf("\n");
}

static int backfill_show_cancel(struct ctl *c, bool show, const char *id)
{
    struct dagd_reply rep;
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "backfill", id);
    int r = ctl_call(c, show ? "backfill_show" : "backfill_cancel", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else if (show) {
        printf("backfill %s of %s: %s, %.0f partitions",
               dagd_or_dash(dagd_jstr(rep.result, "backfill_id")),
               dagd_or_dash(dagd_jstr(rep.result, "pipeline")),
               dagd_or_dash(dagd_jstr(rep.result, "status")), dagd_jnum(rep.result, "partitions"));
        if (dagd_jstr(rep.result, "from")) {
            printf(" (%s to %s)", dagd_jstr(rep.result, "from"),
                   dagd_or_dash(dagd_jstr(rep.result, "to")));
        }
        printf("\n");
        const cJSON *bp = cJSON_GetObjectItemCaseSensitive(rep.result, "params"), *it;
        printf("priority %.0f", dagd_jnum(rep.result, "priority"));
        cJSON_ArrayForEach(it, bp)
        {
            printf(", param %s=%s", it->string, cJSON_IsString(it) ? it->valuestring : "?");
        }
        printf("\n");
        print_counts(cJSON_GetObjectItemCaseSensitive(rep.result, "counts"));
    } else {
        printf("backfill %s: %.0f queued runs canceled\n", id, dagd_jnum(rep.result, "canceled"));
    }
    dagd_reply_done(&rep);
    return 0;
}

/* `dagctl backfill P --from A --to B | --partitions K1,K2`, `backfill show
 * ID`, `backfill cancel ID` (docs/daemon.md, "Partitions and backfills"). */
static int cmd_backfill(struct ctl *c, int argc, char **argv)
{
    static const char usage_s[] = "usage: dagctl backfill PIPELINE (--from KEY --to KEY | "
                                  "--partitions K1,K2,... | --failed)\n"
                                  "                [--failed] [--param k=v]... [--priority N]\n"
                                  "       dagctl backfill show ID [--json]\n"
                                  "       dagctl backfill cancel ID\n"
                                  "       dagctl backfill retry ID";
    const char *from = NULL, *to = NULL, *list = NULL, *pipeline = NULL;
    bool failed = false;
    struct dagd_reply rep;
    int r;

    argc = take_json(c, argc, argv);
    if (argc == 3 && (streq(argv[1], "show") || streq(argv[1], "cancel"))) {
        return backfill_show_cancel(c, streq(argv[1], "show"), argv[2]);
    }
    cJSON *params = cJSON_CreateObject();
    if (argc == 3 && streq(argv[1], "retry")) {
        cJSON_AddStringToObject(params, "backfill", argv[2]);
        r = ctl_call(c, "backfill_retry", params, NULL, NULL, &rep);
        if (r != 0) {
            return r;
        }
        if (c->json) {
            print_json(rep.result);
        } else {
            printf("%s\n", dagd_or_dash(dagd_jstr(rep.result, "backfill_id")));
        }
        dagd_reply_done(&rep);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && streq(argv[i], "--from")) {
            from = v;
            i++;
        } else if (v && streq(argv[i], "--to")) {
            to = v;
            i++;
        } else if (v && streq(argv[i], "--partitions")) {
            list = v;
            i++;
        } else if (streq(argv[i], "--failed")) {
            failed = true;
        } else if (v && streq(argv[i], "--param") && strchr(v, '=')) {
            cJSON *plist = cJSON_GetObjectItemCaseSensitive(params, "params");
            if (!plist) {
                plist = cJSON_AddArrayToObject(params, "params");
            }
            cJSON_AddItemToArray(plist, cJSON_CreateString(v));
            i++;
        } else if (v && streq(argv[i], "--priority")) {
            if (add_priority(params, v) < 0) {
                cJSON_Delete(params);
                return usage_error("--priority needs an integer, got '%s'", v);
            }
            i++;
        } else if (argv[i][0] != '-' && !pipeline) {
            pipeline = argv[i];
        } else {
            cJSON_Delete(params);
            return usage_error("%s", usage_s);
        }
    }
    /* --failed alone: every partition whose last run failed; with a range
     * or a list: those of them. */
    if (!pipeline || (list && (from || to)) || (!list && !failed && !(from && to)) ||
        (!!from != !!to)) {
        cJSON_Delete(params);
        return usage_error("%s", usage_s);
    }
    cJSON_AddStringToObject(params, "pipeline", pipeline);
    if (failed) {
        cJSON_AddTrueToObject(params, "failed");
    }
    if (list) {
        cJSON *arr = cJSON_AddArrayToObject(params, "partitions");
        _cleanup_free_ char *copy = dagd_xstrdup(list);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(t));
        }
    } else if (from) {
        cJSON_AddStringToObject(params, "from", from);
        cJSON_AddStringToObject(params, "to", to);
    }
    r = ctl_call(c, "backfill", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        printf("%s\n", dagd_or_dash(dagd_jstr(rep.result, "backfill_id")));
    }
    dagd_reply_done(&rep);
    return 0;
}

/* `dagctl backfills [--pipeline P] [--limit N] [--json]`: newest first. */
static int cmd_backfills(struct ctl *c, int argc, char **argv)
{
    cJSON *params = cJSON_CreateObject();
    struct dagd_reply rep;

    argc = take_json(c, argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && streq(argv[i], "--pipeline")) {
            cJSON_AddStringToObject(params, "pipeline", v);
            i++;
        } else if (v && streq(argv[i], "--limit")) {
            int r = add_limit(params, v, 1000);
            if (r != 0) {
                cJSON_Delete(params);
                return r;
            }
            i++;
        } else {
            cJSON_Delete(params);
            return usage_error("%s", "usage: dagctl backfills [--pipeline P] [--limit N] [--json]");
        }
    }
    int r = ctl_call(c, "backfills", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        const cJSON *b;
        printf("%-32s %-16s %-9s %6s %7s %7s %9s %6s %8s\n", "BACKFILL", "PIPELINE", "STATUS",
               "PARTS", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED");
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(rep.result, "backfills"))
        {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "counts");
            printf("%-32s %-16s %-9s %6.0f %7.0f %7.0f %9.0f %6.0f %8.0f\n",
                   dagd_or_dash(dagd_jstr(b, "backfill_id")),
                   dagd_or_dash(dagd_jstr(b, "pipeline")), dagd_or_dash(dagd_jstr(b, "status")),
                   dagd_jnum(b, "partitions"), dagd_jnum(n, "queued"), dagd_jnum(n, "running"),
                   dagd_jnum(n, "succeeded"), dagd_jnum(n, "failed"), dagd_jnum(n, "canceled"));
        }
    }
    dagd_reply_done(&rep);
    return 0;
}

/* `dagctl partitions PIPELINE [--json]`: every partition with its newest
 * run's status, and how many have none. */
static int cmd_partitions(struct ctl *c, int argc, char **argv)
{
    struct dagd_reply rep;
    argc = take_json(c, argc, argv);
    if (argc != 2) {
        return usage_error("%s", "usage: dagctl partitions PIPELINE [--json]");
    }
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "pipeline", argv[1]);
    int r = ctl_call(c, "partitions", params, NULL, NULL, &rep);
    if (r != 0) {
        return r;
    }
    if (c->json) {
        print_json(rep.result);
    } else {
        const cJSON *e;
        printf("%-16s %-10s %s\n", "PARTITION", "STATUS", "RUN");
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rep.result, "partitions"))
        {
            const cJSON *last = cJSON_GetObjectItemCaseSensitive(e, "last_run");
            bool has = cJSON_IsObject(last);
            printf("%-16s %-10s %s\n", dagd_or_dash(dagd_jstr(e, "partition")),
                   has ? dagd_or_dash(dagd_jstr(last, "status")) : "missing",
                   has ? dagd_or_dash(dagd_jstr(last, "run_id")) : "-");
        }
        printf("%.0f missing\n", dagd_jnum(rep.result, "missing"));
    }
    dagd_reply_done(&rep);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(struct ctl *c, int argc, char **argv);
    const char *usage;
} commands[] = {
    {"status", cmd_status, "status"},
    {"pipelines", cmd_pipelines, "pipelines"},
    {"run", cmd_run,
     "run PIPELINE [--param k=v]... [--wait] [--force] [--from STEP] [--only STEP] "
     "[--partition KEY] [--priority N]"},
    {"runs", cmd_runs, "runs [--pipeline P] [--limit N]"},
    {"show", cmd_show, "show RUN"},
    {"logs", cmd_logs, "logs RUN [STEP] [--follow]"},
    {"cancel", cmd_cancel, "cancel RUN"},
    {"retry", cmd_retry, "retry RUN [--wait]"},
    {"plan", cmd_plan, "plan PIPELINE [--param k=v]... [--force]"},
    {"prune", cmd_prune, "prune --older-than DURATION"},
    {"reload", cmd_reload, "reload"},
    {"ticks", cmd_ticks, "ticks [NAME] [--limit N]"},
    {"backfill", cmd_backfill,
     "backfill PIPELINE (--from KEY --to KEY | --partitions K1,K2 | --failed) [--param k=v]... "
     "[--priority N] | show ID [--json] | cancel ID "
     "| retry ID"},
    {"backfills", cmd_backfills, "backfills [--pipeline P] [--limit N] [--json]"},
    {"partitions", cmd_partitions, "partitions PIPELINE [--json]"},
};

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: dagctl [--socket PATH] [--json] COMMAND [ARGS]...\n\ncommands:\n");
    for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
        fprintf(f, "  %s\n", commands[i].usage);
    }
    fprintf(f, "\nRUN may be any unique prefix of a run id.\n"
               "Exit status: 0 ok, 1 run failed, 2 usage or invalid pipeline, "
               "3 daemon unreachable.\n");
    return code;
}

int main(int argc, char **argv)
{
    struct ctl c = {.fd = -1};
    _cleanup_free_ char **rest = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    int n = 0;

    /* --socket and --json are accepted anywhere on the line. */
    for (int i = 1; i < argc; i++) {
        if (streq(argv[i], "--json")) {
            c.json = true;
        } else if (streq(argv[i], "--socket") || streq(argv[i], "-s")) {
            if (i + 1 >= argc) {
                return usage(stderr, EXIT_USAGE);
            }
            c.socket = argv[++i];
        } else if (strncmp(argv[i], "--socket=", 9) == 0) {
            c.socket = argv[i] + 9;
        } else if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
            return usage(stdout, EXIT_OK);
        } else if (streq(argv[i], "--version")) {
            printf("dagctl %s\n", DAGD_VERSION);
            return EXIT_OK;
        } else {
            rest[n++] = argv[i];
        }
    }
    if (n == 0) {
        return usage(stderr, EXIT_USAGE);
    }
    if (!c.socket) {
        c.socket = default_socket();
    }
    c.tty = isatty(STDOUT_FILENO) && !c.json;
    (void)signal(SIGPIPE, SIG_IGN);
    dagd_linebuf_init(&c.lines, 64u * 1024u * 1024u);

    int r = -1;
    for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
        if (streq(rest[0], commands[i].name)) {
            r = commands[i].fn(&c, n, rest);
            break;
        }
    }
    if (r < 0) {
        fprintf(stderr, "dagctl: unknown command '%s'\n", rest[0]);
        r = usage(stderr, EXIT_USAGE);
    }
    dagd_linebuf_done(&c.lines);
    if (c.fd >= 0) {
        close(c.fd);
    }
    return r;
}
