/* The HTTP listener of `dagd serve` (config `http:`, `--http ADDR:PORT`;
 * off by default): the web UI (GET /, its assets embedded in the binary),
 * OpenMetrics text (GET /metrics) and JSON (GET /api/...; the shapes of
 * `dagctl --json`). HTTP is libmicrohttpd's, driven from the daemon's libuv
 * loop in its external-epoll mode: one uv_poll on MHD's epoll fd and one
 * timer for its timeouts, no thread. Read-only: every method but GET and
 * HEAD is refused (405). Owns the MHD daemon, its handles and the metrics
 * (http_metrics.h); reads the daemon object (registry, queue, store) and
 * never changes it. The daemon object starts and stops it (daemon.c); it
 * builds its JSON with daemon_json.h and engine/history_json.h, the same
 * functions as the socket commands, and does not depend on them (api_*.c):
 * daemon -> http -> daemon_json -> engine/state, and api -> daemon_json. docs/daemon.md "The web UI
 * and metrics" and docs/security.md describe what it serves and how it is locked down. */
#ifndef DAGD_HTTP_H
#define DAGD_HTTP_H

#include <stdbool.h>

struct dagd_daemon;
struct dagd_http;

/* Start listening on `addr` (http_address.h) on d's loop. 0 with *ret, or -errno
 * (-EADDRINUSE, -EINVAL, -ENAMETOOLONG for a Unix path too long, ...), after
 * which nothing is left open. Logs where it listens. */
int dagd_http_start(struct dagd_daemon *d, const char *addr, struct dagd_http **ret);
/* Stop listening and close every connection; the object is freed once its
 * handles are closed (run the loop). NULL is fine. Returns NULL. */
struct dagd_http *dagd_http_stop(struct dagd_http *h);
/* The TCP port it listens on (after port 0), or 0 for a Unix socket. */
unsigned dagd_http_port(const struct dagd_http *h);

#endif
