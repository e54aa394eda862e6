/* The socket server: accepts clients on a Unix stream socket (bound by us or
 * handed over by systemd), checks their credentials, splits their input into
 * JSON lines, decodes requests (protocol.h) and hands each to a dispatch
 * callback as a `call`. A call is answered exactly once (result or error),
 * optionally after stream events. Owns the listening handle, the clients,
 * their buffers and pending writes. Does not know any command.
 *
 * Limits (systemd varlink style): line length, clients (in total, per uid,
 * a reserve for root; an idle client makes room for a new one), calls in
 * flight per client, unsent bytes per client (reading stops above the soft
 * limit, the client is dropped above the hard limit) and over all clients,
 * idle timeout. */
#ifndef DAGD_SERVER_H
#define DAGD_SERVER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "util.h"

struct dagd_server;
struct dagd_server_call;

struct dagd_server_limits {
    size_t max_line;              /* bytes; 0 = DAGD_PROTOCOL_MAX_LINE */
    unsigned max_clients;         /* 0 = 64; the last DAGD_SERVER_ROOT_RESERVE are root's */
    unsigned max_clients_per_uid; /* connections of one uid other than root; 0 = 32 */
    unsigned max_calls;           /* calls in flight per client; 0 = 16 */
    size_t max_unsent;            /* hard limit of queued reply bytes per client; 0 = 16 MiB */
    size_t max_unsent_soft;       /* a client's requests are not read above this; 0 = 256 KiB */
    size_t max_unsent_total;      /* nor, above this over all clients, those of a client with
                                   * unsent replies; 0 = 32 MiB */
    uint64_t idle_timeout_usec;   /* close clients without a request (blank lines do not
                                   * count) or call in flight for this long; 0 = 60 s */
};

/* Connections only root may take: with max_clients of at least 16, other
 * uids together hold at most max_clients - 4, so root can always get in. */
#define DAGD_SERVER_ROOT_RESERVE 4u
/* A client without calls in flight whose last request is this old may be
 * closed to make room for a new connection when a limit is reached. */
#define DAGD_SERVER_EVICT_IDLE_USEC (1000u * 1000u)

/* Called for each decoded request. The callee must eventually answer the
 * call (reply/error), possibly later from another callback. */
typedef void (*dagd_server_dispatch_fn)(struct dagd_server_call *call, const char *method,
                                        const cJSON *params, void *userdata);
/* Called when the client of a call that is still open goes away. The call is
 * freed right after this returns: forget it, do not answer it. */
typedef void (*dagd_server_call_abort_fn)(struct dagd_server_call *call, void *userdata);

int dagd_server_new(uv_loop_t *loop, const struct dagd_server_limits *limits,
                    dagd_server_dispatch_fn dispatch, void *userdata, struct dagd_server **ret);
/* Listen on `path` (created 0660, a stale socket file is replaced, a live
 * one is -EADDRINUSE; a path too long for sun_path is -ENAMETOOLONG), or on
 * `fd` if fd >= 0 (socket activation; path then only names the socket for
 * the group check and may be NULL: the address fd is bound to is used).
 * Peers are checked against the socket file's owner and group as they are
 * when the peer connects. */
int dagd_server_listen(struct dagd_server *s, const char *path, int fd);
/* Stop accepting new clients and close the listening socket (removing the
 * file we created). Existing clients go on. */
void dagd_server_stop_accepting(struct dagd_server *s);
/* Close everything; open calls get their abort callback. The server is freed
 * once all handles are closed (run the loop). */
void dagd_server_free(struct dagd_server *s);
unsigned dagd_server_n_clients(const struct dagd_server *s);

/* ---- calls ---- */

/* Answer with a result (ownership of `result` passes; NULL = {}). Frees the call. */
void dagd_server_call_reply(struct dagd_server_call *call, cJSON *result);
/* Answer with an error. Frees the call. */
void dagd_server_call_error(struct dagd_server_call *call, const char *code, const char *fmt, ...)
    _printf_(3, 4);
/* Send a stream event (ownership passes). -EPIPE if the client is closing;
 * -ENOBUFS if it does not read fast enough (it is then dropped, and the
 * abort callback runs later from the loop, not from inside this call). */
int dagd_server_call_event(struct dagd_server_call *call, cJSON *event);
/* Keep the call open past the dispatch callback and be told if the client
 * goes away first. */
void dagd_server_call_set_abort(struct dagd_server_call *call, dagd_server_call_abort_fn fn,
                                void *userdata);
/* The peer's credentials. */
uid_t dagd_server_call_uid(const struct dagd_server_call *call);
pid_t dagd_server_call_pid(const struct dagd_server_call *call);

#endif
