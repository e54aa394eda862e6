/* See notify.h. */
#include "notify.h"

#include <stdarg.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "log.h"

struct dagd_notify {
    uv_timer_t timer;
    uint64_t watchdog_usec;
    bool enabled; /* NOTIFY_SOCKET was set */
};

static void send_state(struct dagd_notify *n, const char *state)
{
    if (!n || !n->enabled) {
        return;
    }
    int r = sd_notify(0, state);
    if (r < 0) {
        dagd_log_debug("%s: sd_notify(%s) failed: %s", __func__, state, strerror(-r));
    }
}

static void on_watchdog(uv_timer_t *t)
{
    send_state(t->data, "WATCHDOG=1");
}

void dagd_notify_watchdog(struct dagd_notify *n)
{
    if (n && n->watchdog_usec) {
        send_state(n, "WATCHDOG=1");
    }
}

int dagd_notify_new(uv_loop_t *loop, struct dagd_notify **ret)
{
    struct dagd_notify *n = dagd_xcalloc(1, sizeof(*n));
    const char *ns = getenv("NOTIFY_SOCKET");
    uint64_t usec = 0;

    n->enabled = ns && *ns;
    (void)uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    /* The watchdog pings come from the loop itself: a stalled loop stops
     * them and systemd restarts us (that is the point). */
    if (n->enabled && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        n->watchdog_usec = usec;
        uint64_t ms = usec / 2000u;
        (void)uv_timer_start(&n->timer, on_watchdog, ms ? ms : 1, ms ? ms : 1);
        uv_unref((uv_handle_t *)&n->timer);
    }
    *ret = n;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void dagd_notify_free(struct dagd_notify *n)
{
    if (!n) {
        return;
    }
    uv_close((uv_handle_t *)&n->timer, on_closed);
}

void dagd_notify_ready(struct dagd_notify *n)
{
    send_state(n, "READY=1");
    if (n && n->watchdog_usec) {
        send_state(n, "WATCHDOG=1");
    }
}

void dagd_notify_stopping(struct dagd_notify *n)
{
    send_state(n, "STOPPING=1");
}

void dagd_notify_reloading(struct dagd_notify *n)
{
    send_state(n, "RELOADING=1");
}

void dagd_notify_status(struct dagd_notify *n, const char *fmt, ...)
{
    va_list ap;
    char buf[512] = "STATUS=";

    if (!n || !n->enabled) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
    va_end(ap);
    /* One line: a newline would start another assignment. */
    for (char *p = buf; *p; p++) {
        if (*p == '\n') {
            *p = ' ';
        }
    }
    send_state(n, buf);
}

uint64_t dagd_notify_watchdog_usec(const struct dagd_notify *n)
{
    return n ? n->watchdog_usec : 0;
}

int dagd_notify_listen_fd(void)
{
    int n = sd_listen_fds(1);
    if (n < 0) {
        return n;
    }
    if (n == 0) {
        return -ENOENT;
    }
    if (n > 1) {
        return -EINVAL;
    }
    int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
        return -EINVAL;
    }
    return fd;
}
