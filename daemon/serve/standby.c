/* See standby.h: the poll of the history's lock while another daemon
 * leads, and what a standby says about that leader. */
#include "standby.h"

#include <time.h>
#include <unistd.h>

#include "log.h"

/* A stopped or crashed leader's session ends at once on the server: the
 * poll decides the takeover time (docs/postgresql.md measures it). */
#define STANDBY_POLL_MS 250

struct dagd_standby {
    uv_timer_t timer;
    struct dagd_store *store;
    dagd_standby_leader_fn fn;
    void *userdata;
    uint64_t since_usec;
    bool lost; /* the last poll could not reach the server (logged once) */
};

static void on_poll(uv_timer_t *t)
{
    struct dagd_standby *sb = t->data;
    struct dagd_store_io io;

    /* The server is away and the daemon's store driver (store_io.h) is
     * making the connection again without blocking: wait for it rather
     * than make it here, blocking the loop. */
    dagd_store_io_state(sb->store, &io);
    if (io.fd < 0 && io.timeout_ms >= 0) {
        if (!sb->lost) {
            dagd_log_warning("Standby: the run history is unreachable; waiting for it");
        }
        sb->lost = true;
        return;
    }
    int r = dagd_store_lock_history(sb->store);

    if (r == 0) {
        (void)uv_timer_stop(&sb->timer);
        sb->fn(sb->userdata);
        return;
    }
    if (r == -EBUSY) {
        sb->lost = false;
        return;
    }
    /* The server restarted or is away: keep standing by; the next poll
     * makes the connection again. */
    if (!sb->lost) {
        dagd_log_warning("Standby: %s; retrying", dagd_store_errmsg(sb->store));
    }
    sb->lost = true;
}

struct dagd_standby *dagd_standby_new(uv_loop_t *loop, struct dagd_store *store,
                                      dagd_standby_leader_fn fn, void *userdata)
{
    struct dagd_standby *sb = dagd_xcalloc(1, sizeof(*sb));
    sb->store = store;
    sb->fn = fn;
    sb->userdata = userdata;
    sb->since_usec = dagd_now_mono_usec();
    (void)uv_timer_init(loop, &sb->timer);
    sb->timer.data = sb;
    (void)uv_timer_start(&sb->timer, on_poll, STANDBY_POLL_MS, STANDBY_POLL_MS);
    return sb;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

struct dagd_standby *dagd_standby_free(struct dagd_standby *sb)
{
    if (sb) {
        uv_close((uv_handle_t *)&sb->timer, on_closed);
    }
    return NULL;
}

uint64_t dagd_standby_since_usec(const struct dagd_standby *sb)
{
    return sb->since_usec;
}

char *dagd_standby_leader_text(struct dagd_standby *sb)
{
    struct dagd_store_session l;
    int r = dagd_store_history_leader(sb->store, &l);
    if (r == -ENOENT) {
        /* Between its session's end and our next poll. */
        return dagd_xstrdup("gone (this daemon takes over within a second)");
    }
    if (r < 0) {
        return dagd_xasprintf("not known (%s)", dagd_store_errmsg(sb->store));
    }
    char since[64] = "?";
    time_t t = (time_t)(l.since_ms / 1000);
    struct tm tm;
    if (l.since_ms > 0 && gmtime_r(&t, &tm)) {
        (void)strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    return dagd_xasprintf("'%s' (PostgreSQL client %s, backend PID %ld, session since %s)",
                          l.application[0] ? l.application : "?", l.client[0] ? l.client : "?",
                          l.backend_pid, since);
}

char *dagd_standby_refusal(struct dagd_standby *sb)
{
    _cleanup_free_ char *leader = dagd_standby_leader_text(sb);
    return dagd_xasprintf("this daemon is a standby for the run history %s; the leader is %s: "
                          "run it there",
                          dagd_store_path(sb->store), leader);
}

void dagd_standby_application_name(char *buf, size_t size)
{
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0]) {
        (void)snprintf(host, sizeof(host), "?");
    }
    /* NAMEDATALEN - 1: the server cuts longer names, so a long host name is
     * cut here already (the result is checked only so that gcc, at -O0,
     * does not call that truncation an error). */
    if (snprintf(buf, size < 64 ? size : 64, DAGD_STANDBY_APP_PREFIX "%ld on %s", (long)getpid(),
                 host) < 0) {
        buf[0] = '\0';
    }
}
