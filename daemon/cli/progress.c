/* See progress.h. */
#include "progress.h"

#include <inttypes.h>

#include "util.h"

/* Redraw the status line at most this often. */
#define REDRAW_USEC 100000u
/* Lines of stderr kept per running step, shown when it fails unseen. */
#define TAIL_LINES 10

struct live {
    char *step;
    uint64_t done, total;
    char *tail[TAIL_LINES]; /* ring of the attempt's last stderr lines */
    size_t n_tail;          /* lines seen; tail[(n_tail - 1) % TAIL_LINES] is the last */
};

/* The last state of a step as the executor told it. */
struct seen_step {
    char *step;
    enum dagd_step_status status;
    unsigned attempts;
    int64_t started_at, ended_at, rows_in, rows_out;
    char *error, *skip_reason;
};

struct dagd_progress {
    /* What the executor told of the steps and the run's end: the summary
     * prefers it to state.db, which lags behind when a write failed (disk
     * full), so a run that ended is never shown running or pending. */
    struct seen_step *seen;
    size_t n_seen;
    bool run_ended;
    char run_id[33];
    enum dagd_run_status run_status;
    char *run_error;
    int64_t run_ended_ms;

    FILE *f;
    bool tty, quiet, output;
    size_t n_steps, n_done;
    struct live *live; /* running steps, for the status line */
    size_t n_live;
    bool status_shown;
    uint64_t last_draw;
};

struct dagd_progress *dagd_progress_new(FILE *f, bool tty, bool quiet, bool output, size_t n_steps)
{
    struct dagd_progress *pr = dagd_xcalloc(1, sizeof(*pr));
    pr->f = f;
    pr->tty = tty;
    pr->quiet = quiet;
    pr->output = output && !quiet;
    pr->n_steps = n_steps;
    return pr;
}

static void live_done(struct live *l)
{
    free(l->step);
    for (size_t i = 0; i < TAIL_LINES; i++) {
        free(l->tail[i]);
    }
}

struct dagd_progress *dagd_progress_free(struct dagd_progress *pr)
{
    if (!pr) {
        return NULL;
    }
    for (size_t i = 0; i < pr->n_live; i++) {
        live_done(&pr->live[i]);
    }
    free(pr->live);
    for (size_t i = 0; i < pr->n_seen; i++) {
        free(pr->seen[i].step);
        free(pr->seen[i].error);
        free(pr->seen[i].skip_reason);
    }
    free(pr->seen);
    free(pr->run_error);
    free(pr);
    return NULL;
}

static void seen_update(struct dagd_progress *pr, const struct dagd_step_info *info)
{
    struct seen_step *st = NULL;
    for (size_t i = 0; i < pr->n_seen && !st; i++) {
        if (streq(pr->seen[i].step, info->step)) {
            st = &pr->seen[i];
        }
    }
    if (!st) {
        pr->seen = dagd_xreallocarray(pr->seen, pr->n_seen + 1, sizeof(*pr->seen));
        st = &pr->seen[pr->n_seen++];
        *st = (struct seen_step){.step = dagd_xstrdup(info->step)};
    }
    st->status = info->status;
    st->attempts = info->attempts;
    st->started_at = info->started_at;
    st->ended_at = info->ended_at;
    st->rows_in = info->rows_in;
    st->rows_out = info->rows_out;
    free(st->error);
    st->error = dagd_xstrdup(info->error);
    free(st->skip_reason);
    st->skip_reason = dagd_xstrdup(info->skip_reason);
}

/* Overwrite what state.db said of a step with what the executor told. */
static void seen_apply(const struct dagd_progress *pr, struct dagd_step_info *info)
{
    for (size_t i = 0; i < pr->n_seen; i++) {
        const struct seen_step *st = &pr->seen[i];
        if (!streq(st->step, info->step)) {
            continue;
        }
        info->status = st->status;
        info->attempts = st->attempts;
        info->started_at = st->started_at;
        info->ended_at = st->ended_at;
        info->rows_in = st->rows_in;
        info->rows_out = st->rows_out;
        free(info->error);
        info->error = dagd_xstrdup(st->error);
        free(info->skip_reason);
        info->skip_reason = dagd_xstrdup(st->skip_reason);
        return;
    }
}

static struct live *live_find(struct dagd_progress *pr, const char *step, bool add)
{
    for (size_t i = 0; i < pr->n_live; i++) {
        if (streq(pr->live[i].step, step)) {
            return &pr->live[i];
        }
    }
    if (!add) {
        return NULL;
    }
    pr->live = dagd_xreallocarray(pr->live, pr->n_live + 1, sizeof(*pr->live));
    pr->live[pr->n_live] = (struct live){.step = dagd_xstrdup(step)};
    return &pr->live[pr->n_live++];
}

static void live_remove(struct dagd_progress *pr, const char *step)
{
    for (size_t i = 0; i < pr->n_live; i++) {
        if (streq(pr->live[i].step, step)) {
            live_done(&pr->live[i]);
            pr->live[i] = pr->live[--pr->n_live];
            return;
        }
    }
}

static void status_clear(struct dagd_progress *pr)
{
    if (pr->status_shown) {
        fputs("\r\033[K", pr->f);
        pr->status_shown = false;
    }
}

/* The live line: "[3/10] running: a, b [#####-----] 52% 104k/200k rows". */
static void status_draw(struct dagd_progress *pr)
{
    char line[256];
    size_t len = 0;

    if (!pr->tty || pr->quiet || pr->n_live == 0) {
        return;
    }
    len += (size_t)snprintf(line + len, sizeof(line) - len, "[%zu/%zu] running:", pr->n_done,
                            pr->n_steps);
    const struct live *bar = NULL;
    for (size_t i = 0; i < pr->n_live && len < 60; i++) {
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s %s", i ? "," : "",
                                pr->live[i].step);
        if (!bar && pr->live[i].total > 0) {
            bar = &pr->live[i];
        }
    }
    if (pr->n_live > 1 && len >= 60) {
        len += (size_t)snprintf(line + len, sizeof(line) - len, " ...");
    }
    if (bar && len < sizeof(line) - 80) {
        uint64_t pct = bar->done >= bar->total ? 100 : bar->done * 100 / bar->total;
        char cells[21];
        for (int i = 0; i < 20; i++) {
            cells[i] = (uint64_t)i < pct / 5 ? '#' : '-';
        }
        cells[20] = '\0';
        len += (size_t)snprintf(line + len, sizeof(line) - len,
                                "  %s [%s] %" PRIu64 "%% %" PRIu64 "/%" PRIu64 " rows", bar->step,
                                cells, pct, bar->done, bar->total);
    }
    status_clear(pr);
    fputs(line, pr->f);
    fflush(pr->f);
    pr->status_shown = true;
    pr->last_draw = dagd_now_mono_usec();
}

static bool terminal(enum dagd_step_status st)
{
    return st == DAGD_STEP_SUCCEEDED || st == DAGD_STEP_FAILED || st == DAGD_STEP_SKIPPED ||
           st == DAGD_STEP_CANCELED;
}

/* A span between two stored epoch-millisecond times. The store keeps
 * milliseconds, so a span of 0 means "under a millisecond", not 0us. */
static char *format_ms_span(int64_t start_ms, int64_t end_ms, char *buf, size_t len)
{
    if (end_ms == start_ms) {
        snprintf(buf, len, "<1ms");
        return buf;
    }
    return dagd_format_duration((uint64_t)(end_ms - start_ms) * 1000u, buf, len);
}

static void step_line(struct dagd_progress *pr, const struct dagd_step_info *s)
{
    char dur[32] = "";
    if (terminal(s->status) && s->started_at && s->ended_at >= s->started_at &&
        s->status != DAGD_STEP_SKIPPED) {
        char b[24];
        snprintf(dur, sizeof(dur), " in %s",
                 format_ms_span(s->started_at, s->ended_at, b, sizeof(b)));
    }
    status_clear(pr);
    fprintf(pr->f, "[%zu/%zu] %s %s", pr->n_done, pr->n_steps, s->step,
            dagd_step_status_to_string(s->status));
    if (s->status == DAGD_STEP_RUNNING && s->attempts > 1) {
        fprintf(pr->f, " (attempt %u)", s->attempts);
    } else if (s->status == DAGD_STEP_PENDING && s->attempts > 0) {
        fprintf(pr->f, " (attempt %u failed: %s; will retry)", s->attempts,
                s->error ? s->error : "?");
    }
    fputs(dur, pr->f);
    if (s->status == DAGD_STEP_SUCCEEDED && (s->rows_in || s->rows_out)) {
        fprintf(pr->f, " (rows in %" PRId64 ", out %" PRId64 ")", s->rows_in, s->rows_out);
    }
    if (s->status == DAGD_STEP_SKIPPED && s->skip_reason) {
        fprintf(pr->f, " (%s)", s->skip_reason);
    } else if (s->status == DAGD_STEP_FAILED && s->error) {
        fprintf(pr->f, ": %s", s->error);
    } else if (s->status == DAGD_STEP_CANCELED && dagd_reason_after(s->error, "canceled")) {
        fprintf(pr->f, ": %s", dagd_reason_after(s->error, "canceled"));
    }
    fputc('\n', pr->f);
    /* Line by line also into pipes (`dagd run ... | tee log`). */
    fflush(pr->f);
}

/* One line of a step's output or log, prefixed by the step like `docker
 * compose` does: "extract | 1200 rows". */
static void output_line(struct dagd_progress *pr, const char *step, const char *what,
                        const char *msg)
{
    status_clear(pr);
    fprintf(pr->f, "%s | %s%s%s\n", step, what ? what : "", what ? ": " : "", msg ? msg : "");
    fflush(pr->f);
    status_draw(pr);
}

static void tail_add(struct live *l, const char *msg)
{
    char **slot = &l->tail[l->n_tail % TAIL_LINES];
    free(*slot);
    *slot = dagd_xstrdup(msg ? msg : "");
    l->n_tail++;
}

/* A step failed: when its output was not shown live, show the last lines
 * of its stderr, where programs say why. */
static void tail_print(struct dagd_progress *pr, const char *step)
{
    struct live *l = live_find(pr, step, false);
    if (pr->output || !l || l->n_tail == 0) {
        return;
    }
    size_t n = l->n_tail < TAIL_LINES ? l->n_tail : TAIL_LINES;
    status_clear(pr);
    fprintf(pr->f, "%s | (the last %zu line%s of its stderr)\n", step, n, n == 1 ? "" : "s");
    for (size_t k = l->n_tail - n; k < l->n_tail; k++) {
        fprintf(pr->f, "%s | %s\n", step, l->tail[k % TAIL_LINES]);
    }
    fflush(pr->f);
}

/* stdout and stderr of steps live (unless quieted; stderr's tail is kept
 * for a failure); the task's own warnings and errors always (unless -q).
 * Everything is in the events table too (`dagd logs`). */
static void on_log(struct dagd_progress *pr, const struct dagd_exec_event *ev)
{
    const char *stream = ev->stream ? ev->stream : "log";
    const char *step = ev->step->step;
    if (streq(stream, "stdout") || streq(stream, "stderr")) {
        struct live *l = live_find(pr, step, false);
        if (l && streq(stream, "stderr")) {
            tail_add(l, ev->message);
        }
        if (pr->output) {
            output_line(pr, step, NULL, ev->message);
        }
        return;
    }
    if (!pr->quiet && ev->level && (streq(ev->level, "error") || streq(ev->level, "warning"))) {
        output_line(pr, step, ev->level, ev->message);
    }
}

void dagd_progress_on_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct dagd_progress *pr = userdata;

    switch (ev->kind) {
    case DAGD_EXEC_STEP_CHANGED:
        seen_update(pr, ev->step);
        if (ev->step->status == DAGD_STEP_FAILED) {
            tail_print(pr, ev->step->step);
        }
        if (terminal(ev->step->status)) {
            pr->n_done++;
            live_remove(pr, ev->step->step);
        } else if (ev->step->status == DAGD_STEP_RUNNING) {
            (void)live_find(pr, ev->step->step, true);
        } else {
            live_remove(pr, ev->step->step);
        }
        if (!pr->quiet) {
            step_line(pr, ev->step);
            status_draw(pr);
        }
        break;
    case DAGD_EXEC_STEP_PROGRESS: {
        struct live *l = live_find(pr, ev->step->step, false);
        if (l) {
            l->done = ev->done;
            l->total = ev->total;
        }
        if (dagd_now_mono_usec() - pr->last_draw >= REDRAW_USEC) {
            status_draw(pr);
        }
        break;
    }
    case DAGD_EXEC_LOG:
        if (ev->step) {
            on_log(pr, ev);
        }
        break;
    case DAGD_EXEC_RUN_FINISHED:
        pr->run_ended = true;
        snprintf(pr->run_id, sizeof(pr->run_id), "%s", ev->run_id);
        pr->run_status = ev->run_status;
        free(pr->run_error);
        pr->run_error = dagd_xstrdup(ev->message);
        pr->run_ended_ms = dagd_now_wall_msec();
        break;
    case DAGD_EXEC_RUN_STARTED:
    default:
        break;
    }
}

static size_t width(const char *s)
{
    /* Columns of UTF-8 text, counting code points (close enough for names). */
    size_t n = 0;
    for (; *s; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

/* The data-quality results of the run, one line each, after the steps. */
static void print_checks(struct dagd_progress *pr, struct dagd_store *store, const char *run_id)
{
    struct dagd_check_info *c = NULL;
    size_t n = 0, wname = 5;

    if (pr->quiet || dagd_store_checks_list(store, run_id, &c, &n) < 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t w = width(c[i].step) + 1 + width(c[i].name);
        wname = w > wname ? w : wname;
    }
    if (n > 0) {
        fprintf(pr->f, "\n%-*s  %-9s  %-8s  %10s  %s\n", (int)wname, "CHECK", "STATUS", "SEVERITY",
                "VIOLATIONS", "DETAIL");
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(pr->f, "%s.%s%*s  %-9s  %-8s  %10" PRId64 "  %s\n", c[i].step, c[i].name,
                (int)(wname - width(c[i].step) - 1 - width(c[i].name)), "", c[i].status,
                c[i].severity, c[i].violations, c[i].detail ? c[i].detail : "");
        dagd_check_info_done(&c[i]);
    }
    free(c);
}

void dagd_progress_summary(struct dagd_progress *pr, struct dagd_store *store, const char *run_id)
{
    struct dagd_step_info *steps = NULL;
    struct dagd_run_info run = {0};
    size_t n = 0, wname = 4;

    status_clear(pr);
    if (dagd_store_steps_list(store, run_id, &steps, &n) < 0 || n == 0) {
        /* Not in state.db (it could not be written): what we were told. */
        steps = dagd_xcalloc(pr->n_seen, sizeof(*steps));
        for (n = 0; n < pr->n_seen; n++) {
            steps[n].step = dagd_xstrdup(pr->seen[n].step);
        }
    }
    for (size_t i = 0; i < n; i++) {
        seen_apply(pr, &steps[i]);
    }
    for (size_t i = 0; i < n; i++) {
        size_t w = width(steps[i].step);
        wname = w > wname ? w : wname;
    }
    if (!pr->quiet && n > 0) {
        fprintf(pr->f, "\n%-*s  %-9s  %8s  %9s  %10s  %s\n", (int)wname, "STEP", "STATUS",
                "ATTEMPTS", "DURATION", "ROWS", "ERROR OR REASON");
        for (size_t i = 0; i < n; i++) {
            const struct dagd_step_info *s = &steps[i];
            char dur[24] = "-", rows[24] = "-";
            if (s->started_at && s->ended_at >= s->started_at && s->status != DAGD_STEP_SKIPPED) {
                format_ms_span(s->started_at, s->ended_at, dur, sizeof(dur));
            }
            if (s->rows_out || s->rows_in) {
                snprintf(rows, sizeof(rows), "%" PRId64, s->rows_out ? s->rows_out : s->rows_in);
            }
            const char *err = s->error                                           ? s->error
                              : s->status == DAGD_STEP_SKIPPED && s->skip_reason ? s->skip_reason
                                                                                 : "";
            fprintf(pr->f, "%s%*s  %-9s  %8u  %9s  %10s  %s\n", s->step,
                    (int)(wname - width(s->step)), "", dagd_step_status_to_string(s->status),
                    s->attempts, dur, rows, err);
        }
    }
    print_checks(pr, store, run_id);
    bool known = dagd_store_run_get(store, run_id, &run) == 0;
    if (pr->run_ended && streq(pr->run_id, run_id)) {
        if (!known) {
            run.run_id = dagd_xstrdup(run_id);
            known = true;
        }
        if (run.status != pr->run_status) {
            /* state.db lags behind (a write failed): the executor knows. */
            run.status = pr->run_status;
            free(run.error);
            run.error = dagd_xstrdup(pr->run_error);
            run.ended_at = pr->run_ended_ms;
        }
    }
    if (known) {
        char dur[24] = "-";
        if (run.started_at && run.ended_at >= run.started_at) {
            format_ms_span(run.started_at, run.ended_at, dur, sizeof(dur));
        }
        const char *st = dagd_run_status_to_string(run.status);
        const char *why = dagd_reason_after(run.error, st);
        fprintf(pr->f, "%srun %s %s in %s%s%s\n", pr->quiet ? "" : "\n", run.run_id, st, dur,
                why ? ": " : "", why ? why : "");
        dagd_run_info_done(&run);
    }
    for (size_t i = 0; i < n; i++) {
        dagd_step_info_done(&steps[i]);
    }
    free(steps);
    fflush(pr->f);
}
