/* Schedules of `dagd serve`: cron timers that submit runs (see schedules.h).
 *
 * Each timer is armed for exactly one boundary. libuv timers count on the
 * monotonic clock while cron boundaries are wall-clock instants, so a timer
 * that fires before its wall-clock second (clock skew, a stale loop time)
 * re-arms for the rest instead of firing early. A tick that comes late
 * (the loop was busy, the machine slept) fires once; boundaries passed in
 * between are not run twice. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sys/timerfd.h>
#include <time.h>
#include <uv.h>

#include "cron.h"
#include "log.h"
#include "schedules.h"

#define CATCHUP_SCAN_MAX 100000u /* boundaries looked at for one catch-up */

struct entry {
    struct dagd_schedules *owner; /* NULL once closing */
    char *key;                    /* "pipeline\nschedule" */
    char *sig;                    /* everything that re-arms when it changes */
    char *pipeline;
    char *name;
    char *cron_text;
    struct dagd_cron cron;
    char *tz;
    char **overrides; /* "key=value" as written (${...} expanded by the run) */
    size_t n_overrides;
    unsigned catchup;
    int64_t next;      /* Unix seconds of the armed boundary; 0 = not armed */
    char last_run[33]; /* the run of the previous tick; "" = none */
    bool seen;
    uv_timer_t timer;
};

struct dagd_schedules {
    struct dagd_trigger_host host;
    struct entry **v;
    size_t n;
    bool synced;
    /* A CLOCK_REALTIME timerfd with TFD_TIMER_CANCEL_ON_SET: readable
     * (ECANCELED) when the wall clock is set, so timers computed from the
     * old clock are re-armed (-1 if unavailable). */
    int clock_fd;
    uv_poll_t clock_poll;
};

static void entry_free(struct entry *e)
{
    free(e->key);
    free(e->sig);
    free(e->pipeline);
    free(e->name);
    free(e->cron_text);
    free(e->tz);
    for (size_t i = 0; i < e->n_overrides; i++) {
        free(e->overrides[i]);
    }
    free(e->overrides);
    free(e);
}

static void on_closed(uv_handle_t *h)
{
    entry_free(h->data);
}

static void entry_close(struct entry *e)
{
    e->owner = NULL;
    uv_close((uv_handle_t *)&e->timer, on_closed);
}

/* Run the pipeline for the boundary `ts` (Unix seconds) and record the tick. */
static void fire(struct entry *e, int64_t ts, const char *why)
{
    const struct dagd_trigger_host *h = &e->owner->host;
    _cleanup_free_ char *reason = NULL;
    char want[33], run_id[33] = "";
    int r;

    /* A pipeline slower than its schedule (or held by its concurrency
     * limit) must not pile up queued runs: one waiting run per schedule.
     * Catch-up asked for its runs explicitly (and is bounded by catchup). */
    if (!why && e->last_run[0] && dagd_run_queue_is_queued(h->queue, e->last_run)) {
        _cleanup_free_ char *skip =
            dagd_xasprintf("the previous run %s is still queued", e->last_run);
        if (dagd_store_tick_add(h->store, e->name, "schedule", ts * 1000, NULL, "skipped", skip) <
            0) {
            dagd_log_warning("Failed to record a tick of schedule '%s': %s, ignoring", e->name,
                             dagd_store_errmsg(h->store));
        }
        return;
    }
    dagd_run_id_new(want);
    r = dagd_trigger_submit(h, e->pipeline, "schedule", e->overrides, e->n_overrides, ts, want,
                            run_id, &reason);
    if (r >= 0) {
        memcpy(e->last_run, run_id, sizeof(run_id));
    }
    if (r < 0) {
        dagd_log_warning("Schedule '%s' of pipeline '%s': no run: %s", e->name, e->pipeline,
                         reason);
    } else {
        dagd_log_info("Schedule '%s' of pipeline '%s' started run %s%s%s", e->name, e->pipeline,
                      run_id, why ? " " : "", why ? why : "");
    }
    if (dagd_store_tick_add(h->store, e->name, "schedule", ts * 1000, r < 0 ? NULL : run_id,
                            r < 0 ? "failed" : "started", r < 0 ? reason : why) < 0) {
        dagd_log_warning("Failed to record a tick of schedule '%s': %s, ignoring", e->name,
                         dagd_store_errmsg(h->store));
    }
}

static void on_timer(uv_timer_t *t);

static void start_timer(struct entry *e)
{
    int64_t delay;

    uv_update_time(e->owner->host.loop);
    delay = e->next * 1000 - dagd_now_wall_msec();
    (void)uv_timer_start(&e->timer, on_timer, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* Arm for the first boundary after `after` (Unix seconds). */
static void arm(struct entry *e, int64_t after)
{
    if (dagd_cron_next(&e->cron, e->tz, after, &e->next) < 0) {
        dagd_log_warning("Schedule '%s' of pipeline '%s' never fires again", e->name, e->pipeline);
        e->next = 0;
        return;
    }
    start_timer(e);
}

static void on_timer(uv_timer_t *t)
{
    struct entry *e = t->data;
    int64_t now = dagd_now_wall_msec(), due = e->next;

    if (!e->owner || due == 0) {
        return;
    }
    if (now < due * 1000) {
        start_timer(e); /* early by the wall clock: wait for the rest */
        return;
    }
    fire(e, due, NULL);
    /* Normally now/1000 == due. When late, boundaries in between are
     * dropped, except one due this very second. */
    arm(e, due > now / 1000 - 1 ? due : now / 1000 - 1);
}

/* After downtime: the boundaries since the newest recorded tick. The newest
 * `catchup` of them run now; the rest are recorded once as skipped. */
static void catch_up(struct entry *e, int64_t now)
{
    const struct dagd_trigger_host *h = &e->owner->host;
    struct dagd_tick_info last = {0};
    _cleanup_free_ int64_t *kept = NULL;
    size_t n_kept = 0, missed;
    int64_t t;

    if (dagd_store_tick_last(h->store, e->name, "schedule", &last) < 0) {
        return; /* never ticked (or unreadable): nothing to catch up */
    }
    t = last.ts / 1000;
    dagd_tick_info_done(&last);
    /* The newest catchup + 1: the runs, and the newest skipped one. */
    kept = dagd_xcalloc((size_t)e->catchup + 1, sizeof(*kept));
    missed = dagd_cron_between(&e->cron, e->tz, t, now, CATCHUP_SCAN_MAX, kept,
                               (size_t)e->catchup + 1, &n_kept);
    if (missed == 0) {
        return;
    }
    size_t n_run = missed < e->catchup ? missed : e->catchup;
    if (missed > n_run) {
        _cleanup_free_ char *reason = dagd_xasprintf(
            "%s%zu ticks missed while the daemon was down (catchup: %u)",
            missed >= CATCHUP_SCAN_MAX ? "more than " : "", missed - n_run, e->catchup);
        int64_t newest_skipped = kept[n_kept - n_run - 1];
        dagd_log_info("Schedule '%s' of pipeline '%s': %s", e->name, e->pipeline, reason);
        if (dagd_store_tick_add(h->store, e->name, "schedule", newest_skipped * 1000, NULL,
                                "skipped", reason) < 0) {
            dagd_log_warning("Failed to record a tick of schedule '%s': %s, ignoring", e->name,
                             dagd_store_errmsg(h->store));
        }
    }
    for (size_t i = n_kept - n_run; i < n_kept; i++) {
        fire(e, kept[i], "catchup");
    }
}

static int arm_clock_fd(struct dagd_schedules *s)
{
    /* Far in the future: only the cancellation on a clock set matters. */
    struct itimerspec its = {.it_value = {.tv_sec = time(NULL) + 10 * 366 * 86400}};
    return timerfd_settime(s->clock_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0
               ? -errno
               : 0;
}

static void on_clock(uv_poll_t *h, int status, int events)
{
    struct dagd_schedules *s = h->data;
    uint64_t expirations;
    ssize_t n = read(s->clock_fd, &expirations, sizeof(expirations));

    if (n < 0 && errno == EAGAIN) {
        return;
    }
    (void)arm_clock_fd(s);
    if (n < 0 && errno == ECANCELED) {
        /* Forward: boundaries now past fire once (a late tick). Backward:
         * the armed boundary waits for the clock to reach it again, so
         * nothing runs twice. */
        dagd_log_info("The system clock was set: re-arming %zu schedules", s->n);
        for (size_t i = 0; i < s->n; i++) {
            if (s->v[i]->next > 0) {
                start_timer(s->v[i]);
            }
        }
    }
}

struct dagd_schedules *dagd_schedules_new(const struct dagd_trigger_host *host)
{
    struct dagd_schedules *s = dagd_xcalloc(1, sizeof(*s));
    s->host = *host;
    s->clock_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->clock_fd >= 0 &&
        (arm_clock_fd(s) < 0 || uv_poll_init(host->loop, &s->clock_poll, s->clock_fd) < 0)) {
        close(s->clock_fd);
        s->clock_fd = -1;
    }
    if (s->clock_fd < 0) {
        dagd_log_warning("Cannot watch for wall clock changes, schedules may fire late after one, "
                         "ignoring");
        return s;
    }
    s->clock_poll.data = s;
    (void)uv_poll_start(&s->clock_poll, UV_READABLE, on_clock);
    return s;
}

static void on_clock_closed(uv_handle_t *h)
{
    struct dagd_schedules *s = h->data;
    close(s->clock_fd);
    free(s);
}

static void remove_at(struct dagd_schedules *s, size_t i)
{
    entry_close(s->v[i]);
    s->v[i] = s->v[--s->n];
}

struct dagd_schedules *dagd_schedules_free(struct dagd_schedules *s)
{
    if (!s) {
        return NULL;
    }
    while (s->n > 0) {
        remove_at(s, s->n - 1);
    }
    free(s->v);
    s->v = NULL;
    if (s->clock_fd >= 0) {
        uv_close((uv_handle_t *)&s->clock_poll, on_clock_closed);
    } else {
        free(s);
    }
    return NULL;
}

size_t dagd_schedules_count(const struct dagd_schedules *s)
{
    return s ? s->n : 0;
}

cJSON *dagd_schedules_to_json(const struct dagd_schedules *s)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; s && i < s->n; i++) {
        const struct entry *e = s->v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "schedule");
        cJSON_AddStringToObject(o, "pipeline", e->pipeline);
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddStringToObject(o, "cron", e->cron_text);
        cJSON_AddStringToObject(o, "timezone", e->tz);
        if (e->next > 0) {
            cJSON_AddNumberToObject(o, "next", (double)e->next * 1000.0);
        } else {
            cJSON_AddNullToObject(o, "next");
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static char *signature(const struct dagd_schedule *sc)
{
    char *sig = dagd_xasprintf("%s\n%s\n%u", sc->cron, sc->timezone, sc->catchup);
    for (size_t i = 0; i < sc->params.n; i++) {
        char *t =
            dagd_xasprintf("%s\n%s=%s", sig, sc->params.items[i].key, sc->params.items[i].value);
        free(sig);
        sig = t;
    }
    return sig;
}

static void add(struct dagd_schedules *s, const struct dagd_pipeline *p,
                const struct dagd_schedule *sc, char *key, char *sig, int64_t now_s)
{
    struct entry *e;
    struct dagd_cron cron;
    _cleanup_free_ char *why = NULL;

    /* The loader checked the expression; this only guards a mismatch. */
    if (dagd_cron_parse(sc->cron, &cron, &why) < 0) {
        dagd_log_warning("%s:%u:%u: schedule '%s': invalid cron '%s': %s, ignoring", p->file,
                         sc->mark.line, sc->mark.col, sc->name, sc->cron, why);
        free(key);
        free(sig);
        return;
    }
    e = dagd_xcalloc(1, sizeof(*e));
    e->owner = s;
    e->key = key;
    e->sig = sig;
    e->pipeline = dagd_xstrdup(p->name);
    e->name = dagd_xstrdup(sc->name);
    e->cron = cron;
    e->cron_text = dagd_xstrdup(sc->cron);
    e->tz = dagd_xstrdup(sc->timezone ? sc->timezone : "UTC");
    e->catchup = sc->catchup;
    e->overrides = dagd_xcalloc(sc->params.n + 1, sizeof(char *));
    for (size_t i = 0; i < sc->params.n; i++) {
        e->overrides[i] =
            dagd_xasprintf("%s=%s", sc->params.items[i].key, sc->params.items[i].value);
    }
    e->n_overrides = sc->params.n;
    e->seen = true;
    uv_timer_init(s->host.loop, &e->timer);
    e->timer.data = e;
    s->v = dagd_xreallocarray(s->v, s->n + 1, sizeof(*s->v));
    s->v[s->n++] = e;

    if (!s->synced) {
        catch_up(e, now_s);
    }
    arm(e, now_s);
    if (e->next > 0) {
        dagd_log_debug("%s: schedule '%s' of '%s' armed for %" PRId64, __func__, e->name,
                       e->pipeline, e->next);
    }
}

void dagd_schedules_sync(struct dagd_schedules *s)
{
    const struct dagd_registry *reg = s ? s->host.registry : NULL;
    int64_t now_s = dagd_now_wall_msec() / 1000;

    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->v[i]->seen = false;
    }
    for (size_t i = 0; i < dagd_registry_size(reg); i++) {
        const struct dagd_pipeline *p = dagd_registry_at(reg, i)->pipeline;
        /* A name defined twice: only the version the registry serves. */
        if (!p || dagd_registry_get(reg, p->name) != p) {
            continue;
        }
        for (size_t j = 0; j < p->n_schedules; j++) {
            const struct dagd_schedule *sc = &p->schedules[j];
            char *key = dagd_xasprintf("%s\n%s", p->name, sc->name);
            char *sig = signature(sc);
            size_t k = 0;

            while (k < s->n && !streq(s->v[k]->key, key)) {
                k++;
            }
            if (k < s->n && streq(s->v[k]->sig, sig)) {
                s->v[k]->seen = true; /* unchanged: keep its timer */
                free(key);
                free(sig);
                continue;
            }
            if (k < s->n) {
                remove_at(s, k);
            }
            add(s, p, sc, key, sig, now_s);
        }
    }
    for (size_t i = s->n; i > 0; i--) {
        if (!s->v[i - 1]->seen) {
            dagd_log_info("Schedule '%s' of pipeline '%s' removed", s->v[i - 1]->name,
                          s->v[i - 1]->pipeline);
            remove_at(s, i - 1);
        }
    }
    s->synced = true;
}
