/* systemd integration of `dagd serve`: sd_notify messages (READY=1,
 * STATUS=..., WATCHDOG=1, STOPPING=1), the watchdog timer, and socket
 * activation (sd_listen_fds). Every function is a no-op outside systemd
 * (no NOTIFY_SOCKET / LISTEN_FDS in the environment). Owns the watchdog
 * timer. Does not log except a failed notify (at debug level). */
#ifndef DAGD_NOTIFY_H
#define DAGD_NOTIFY_H

#include <uv.h>

#include "util.h"

struct dagd_notify;

/* A new notifier; starts the watchdog timer (every WATCHDOG_USEC / 2) when
 * systemd asked for one. */
int dagd_notify_new(uv_loop_t *loop, struct dagd_notify **ret);
/* Stop the timer; frees after its close callback. NULL is fine. */
void dagd_notify_free(struct dagd_notify *n);

void dagd_notify_ready(struct dagd_notify *n);
void dagd_notify_stopping(struct dagd_notify *n);
void dagd_notify_reloading(struct dagd_notify *n);
void dagd_notify_status(struct dagd_notify *n, const char *fmt, ...) _printf_(2, 3);
/* Feed the watchdog from outside the loop's timer: while the loop is
 * blocked on purpose (waiting for the PostgreSQL history to come back). */
void dagd_notify_watchdog(struct dagd_notify *n);
/* Watchdog period in microseconds, 0 if none. */
uint64_t dagd_notify_watchdog_usec(const struct dagd_notify *n);

/* The listening socket passed by systemd (dagd.socket): returns the fd
 * (>= 3), -ENOENT if none was passed, -EINVAL if more than one or not a
 * Unix stream listening socket. Unsets LISTEN_* so children do not see them. */
int dagd_notify_listen_fd(void);

#endif
