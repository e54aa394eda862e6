/* See http.h. libmicrohttpd parses and writes HTTP; this file binds the
 * socket, drives MHD from the libuv loop and adds the headers every answer
 * carries (a strict Content-Security-Policy among them).
 *
 * MHD in external-epoll mode (MHD_USE_EPOLL without a thread) keeps its own
 * epoll set of the listening socket and the connections; that epoll fd turns
 * readable whenever one of them is ready, so one uv_poll on it and a timer
 * set from MHD_get_timeout() after every MHD_run() are the whole
 * integration. */
#include "http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <uv.h>

#include "daemon.h"
#include "http_address.h"
#include "http_internal.h"
#include "http_mhd.h"
#include "http_metrics.h"
#include "http_sse.h"
#include "log.h"

#define HTTP_MAX_CONNECTIONS 64
#define HTTP_CONNECTION_TIMEOUT_S 30
#define HTTP_BACKLOG 64

/* Nothing but our own scripts, styles and fetches; no inline code, no
 * frames, no plugins, no forms posting elsewhere. */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct dagd_http {
    struct dagd_daemon *d;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    unsigned open_handles;
    struct dagd_metrics *metrics;
    struct dagd_http_sse *sse;
    char *unix_path; /* to unlink at stop; NULL for TCP */
    unsigned port;
    /* Listening on loopback only: then a request must name a loopback host
     * (DNS rebinding would otherwise let any web page read the API). */
    bool loopback;
    char *token;                         /* from http_token_file; NULL = read-only */
    struct dagd_http_deferred *deferred; /* suspended, waiting for an answer */
};

/* A request whose answer comes later (http_internal.h), in MHD's
 * per-request slot from dagd__http_defer() until the request ends. */
struct dagd_http_deferred {
    struct dagd_http *h;
    struct MHD_Connection *conn;
    struct dagd_http_deferred *prev, *next; /* in h->deferred while waiting */
    dagd_http_abort_fn abort;               /* NULL once answered */
    void *userdata;
    struct dagd_http_response res;
    bool ready; /* res is the answer: queue it when MHD calls again */
};

/* The slot's value between MHD's first call (headers only) and the answer. */
static int first_call;

/* Bind and listen ourselves (MHD takes the fd): one path for TCP and Unix
 * sockets, and the real port after port 0. */
static int listen_on(struct dagd_http *h, const struct dagd_http_address *a)
{
    _cleanup_close_ int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;

    if (fd < 0) {
        return -errno;
    }
    if (a->is_unix) {
        const char *path = ((const struct sockaddr_un *)&a->sa)->sun_path;
        struct stat st;
        /* A stale socket file from a dead daemon is replaced; anything else
         * at that path is left alone. */
        if (lstat(path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                return -EEXIST;
            }
            _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (probe >= 0 && connect(probe, (const struct sockaddr *)&a->sa, a->len) == 0) {
                return -EADDRINUSE;
            }
            (void)unlink(path);
        }
    } else {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->sa.ss_family == AF_INET6) {
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        }
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
        return -errno;
    }
    if (a->is_unix) {
        const char *path = ((const struct sockaddr_un *)&a->sa)->sun_path;
        /* The same rule as the control socket: owner and group only. */
        if (chmod(path, 0660) < 0) {
            int r = -errno;
            (void)unlink(path);
            return r;
        }
        h->unix_path = dagd_xstrdup(path);
    }
    if (listen(fd, HTTP_BACKLOG) < 0) {
        return -errno;
    }
    if (!a->is_unix) {
        struct sockaddr_storage bound;
        socklen_t len = sizeof(bound);
        if (getsockname(fd, (struct sockaddr *)&bound, &len) == 0) {
            h->port =
                ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                 : ((struct sockaddr_in6 *)&bound)->sin6_port);
        }
    }
    return TAKE_FD(fd);
}

/* ---- answers that come later ---- */

static void kick(void *userdata);

static void deferred_unlink(struct dagd_http_deferred *t)
{
    if (t->prev) {
        t->prev->next = t->next;
    } else {
        t->h->deferred = t->next;
    }
    if (t->next) {
        t->next->prev = t->prev;
    }
    t->prev = t->next = NULL;
}

struct dagd_http_deferred *dagd__http_defer(const struct dagd_http_request *req,
                                            dagd_http_abort_fn abort, void *userdata)
{
    struct dagd_http *h = req->http;
    struct dagd_http_deferred *t = dagd_xcalloc(1, sizeof(*t));
    t->h = h;
    t->conn = req->conn;
    t->abort = abort;
    t->userdata = userdata;
    t->next = h->deferred;
    if (h->deferred) {
        h->deferred->prev = t;
    }
    h->deferred = t;
    *req->con_cls = t;
    MHD_suspend_connection(req->conn);
    return t;
}

/* Resume with `res`: MHD calls on_request again, which queues it. */
static void deferred_resume(struct dagd_http_deferred *t, struct dagd_http_response *res)
{
    deferred_unlink(t);
    t->abort = NULL;
    t->res = *res;
    t->res.deferred = false;
    t->ready = true;
    MHD_resume_connection(t->conn);
}

void dagd__http_deferred_answer(struct dagd_http_deferred *t, struct dagd_http_response *res)
{
    deferred_resume(t, res);
    /* Not from inside the pool's callback: on the next turn of the loop. */
    kick(t->h);
}

/* MHD_OPTION_NOTIFY_COMPLETED: the request ended (answered, or the
 * connection closed, or MHD stopped). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct dagd_http_deferred *t = *con_cls;
    *con_cls = NULL;
    if (!t || t == (void *)&first_call) {
        return;
    }
    if (t->abort) {
        deferred_unlink(t);
        t->abort(t->userdata);
    }
    if (!t->res.is_static) {
        free(t->res.body);
    }
    free(t);
}

/* ---- requests ---- */

const char *dagd__http_arg(const struct dagd_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* With a loopback listener, Host must be a loopback name (any port). */
static bool host_allowed(const struct dagd_http *h, struct MHD_Connection *conn)
{
    if (!h->loopback) {
        return true;
    }
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (!host) {
        return false;
    }
    size_t n = strlen(host);
    const char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']')) {
        n = (size_t)(colon - host);
    }
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        if (strlen(names[i]) == n && strncasecmp(host, names[i], n) == 0) {
            return true;
        }
    }
    return false;
}

/* The bearer token, compared in constant time. A browser sends an
 * Authorization header cross-origin only after a CORS preflight, which this
 * server never approves: a token in a header, not a cookie, is what makes
 * the actions CSRF-safe. A request that names an Origin must come from the
 * page's own (http://HOST). */
static bool authorized(const struct dagd_http *h, struct MHD_Connection *conn)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");

    if (origin && (!host || strncmp(origin, "http://", 7) != 0 || !streq(origin + 7, host))) {
        return false;
    }
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) {
        return false;
    }
    const char *given = auth + 7;
    size_t n = strlen(h->token), m = strlen(given);
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)h->token[i] ^ (unsigned char)(i < m ? given[i] : 0);
    }
    return diff == 0;
}

static void set_text(struct dagd_http_response *res, unsigned status, const char *text)
{
    res->status = status;
    res->content_type = "text/plain; charset=utf-8";
    res->body = (char *)text;
    res->len = strlen(text);
    res->is_static = true;
}

static void route(struct dagd_http *h, const struct dagd_http_request *req,
                  struct dagd_http_response *res)
{
    if (streq(req->path, "/metrics")) {
        res->body = dagd_metrics_render(h->metrics, dagd_http_sse_count(h->sse), &res->len);
        if (!res->body) {
            set_text(res, 500, "cannot read the run history\n");
            return;
        }
        res->status = 200;
        res->content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        return;
    }
    if (strncmp(req->path, "/api/", 5) == 0) {
        if (dagd__http_api(req, res) < 0) {
            res->status = 404;
            res->content_type = "application/json";
            res->body = (char *)"{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such API\"}}";
            res->len = strlen(res->body);
            res->is_static = true;
        }
        return;
    }
    if (dagd__http_asset(req->path, res) < 0) {
        set_text(res, 404, "not found\n");
    }
}

/* The headers every answer carries, streams too. */
static void add_headers(struct MHD_Response *r, const char *content_type, const char *cache_control,
                        const char *csp)
{
    (void)MHD_add_response_header(r, "Content-Type", content_type);
    (void)MHD_add_response_header(r, "Content-Security-Policy", csp ? csp : CSP);
    (void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    (void)MHD_add_response_header(r, "X-Frame-Options", "DENY");
    (void)MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    (void)MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    (void)MHD_add_response_header(r, "Cache-Control", cache_control ? cache_control : "no-store");
}

static enum MHD_Result answer(struct dagd_http *h, struct MHD_Connection *conn,
                              struct dagd_http_response *res)
{
    struct MHD_Response *r;
    if (res->is_static) {
        r = MHD_create_response_from_buffer(res->len, res->body, MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(res->len, res->body, MHD_RESPMEM_MUST_FREE);
    }
    if (!r) {
        if (!res->is_static) {
            free(res->body);
        }
        return MHD_NO;
    }
    add_headers(r, res->content_type, res->cache_control, res->csp);
    if (res->status == 405) {
        (void)MHD_add_response_header(r, "Allow", h->token ? "GET, HEAD, POST" : "GET, HEAD");
    }
    dagd_metrics_count_request(h->metrics, res->status);
    enum MHD_Result ok = MHD_queue_response(conn, res->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* GET /api/runs/ID/stream?after=SEQ&step=NAME (Last-Event-ID, sent by a
 * reconnecting EventSource, wins over after=): a Server-Sent Events stream
 * (http_sse.h). Returns false when the path is not a stream's. */
static bool is_stream(const char *path)
{
    size_t n = strlen(path);
    return strncmp(path, "/api/runs/", 10) == 0 && n == 10 + 32 + 7 && streq(path + 42, "/stream");
}

static enum MHD_Result stream(struct dagd_http *h, const struct dagd_http_request *req,
                              struct dagd_http_response *res)
{
    char run_id[33];
    const char *last = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Last-Event-ID");
    const char *after = last ? last : dagd__http_arg(req, "after");
    const char *step = dagd__http_arg(req, "step");
    long long seq = 0;
    char *end = NULL;

    memcpy(run_id, req->path + 10, 32);
    run_id[32] = '\0';
    for (size_t i = 0; i < 32; i++) {
        if (!((run_id[i] >= '0' && run_id[i] <= '9') || (run_id[i] >= 'a' && run_id[i] <= 'f'))) {
            set_text(res, 404, "no such run\n");
            return answer(h, req->conn, res);
        }
    }
    if (after && *after) {
        errno = 0;
        seq = strtoll(after, &end, 10);
        if (errno || *end || seq < 0) {
            set_text(res, 400, "after (or Last-Event-ID) is an event seq\n");
            return answer(h, req->conn, res);
        }
    }
    struct MHD_Response *r = NULL;
    int k = dagd_http_sse_open(h->sse, req->conn, run_id, step && *step ? step : NULL, seq, &r);
    if (k < 0) {
        set_text(res,
                 k == -ENOENT  ? 404
                 : k == -EBUSY ? 503
                               : 500,
                 k == -ENOENT ? "no such run\n"
                 : k == -EBUSY
                     ? "too many live pages (limits.max_http_streams): poll /api/runs/ID/events\n"
                     : "cannot read the run history\n");
        return answer(h, req->conn, res);
    }
    add_headers(r, "text/event-stream; charset=utf-8", NULL, NULL);
    /* Tell proxies not to buffer the stream. */
    (void)MHD_add_response_header(r, "X-Accel-Buffering", "no");
    dagd_metrics_count_request(h->metrics, 200);
    enum MHD_Result ok = MHD_queue_response(req->conn, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct dagd_http *h = cls;
    struct dagd_http_response res = {.cache_control = NULL};

    /* MHD calls twice: first with the headers only. A GET has no body, so
     * answer on the second call (MHD's documented pattern). */
    if (!*con_cls) {
        *con_cls = &first_call;
        return MHD_YES;
    }
    if (*con_cls != &first_call) {
        /* Resumed: the answer that came later. */
        struct dagd_http_deferred *t = *con_cls;
        if (!t->ready) {
            return MHD_YES;
        }
        res = t->res;
        t->res = (struct dagd_http_response){.is_static = true};
        return answer(h, conn, &res);
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* a body on a method we refuse below: drop it */
        return MHD_YES;
    }
    struct dagd_http_request req = {.d = h->d,
                                    .http = h,
                                    .conn = conn,
                                    .con_cls = con_cls,
                                    .path = url,
                                    .actions = h->token != NULL};
    if (!host_allowed(h, conn)) {
        set_text(&res, 421, "this server answers to localhost only\n");
    } else if (streq(method, MHD_HTTP_METHOD_POST) && h->token) {
        if (!authorized(h, conn)) {
            set_text(&res, 403, "a POST needs 'Authorization: Bearer TOKEN' (http_token_file)\n");
        } else if (dagd__http_action(&req, &res) < 0) {
            set_text(&res, 404, "no such action\n");
        }
    } else if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD)) {
        set_text(&res, 405,
                 h->token ? "GET, HEAD and POST only\n" : "read-only: GET and HEAD only\n");
    } else if (is_stream(url) && streq(method, MHD_HTTP_METHOD_GET)) {
        return stream(h, &req, &res);
    } else {
        route(h, &req, &res);
        if (res.deferred) {
            return MHD_YES; /* suspended: on_request is called again */
        }
    }
    return answer(h, conn, &res);
}

/* ---- the loop ---- */

static void on_timer(uv_timer_t *t);

static void run_mhd(struct dagd_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    (void)MHD_run(h->mhd);
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES) {
        (void)uv_timer_start(&h->timer, on_timer, ms, 0);
    } else {
        (void)uv_timer_stop(&h->timer);
    }
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    run_mhd(p->data);
}

/* A stream was resumed: MHD must run (in external-epoll mode its resume
 * does not wake the epoll fd), but not from inside the executor's callback
 * that resumed it: on the next turn of the loop. */
static void kick(void *userdata)
{
    struct dagd_http *h = userdata;
    (void)uv_timer_start(&h->timer, on_timer, 0, 0);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    dagd_log_debug("%s: libmicrohttpd: %s", __func__, buf);
}

/* The bearer token of the actions: the file's first line, at least 16
 * characters, in a file others cannot read. */
static int load_token(const char *path, char **ret)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    char buf[4097];

    if (fd < 0) {
        return dagd_log_errno(LOG_ERR, -errno, "Failed to open the HTTP token file '%s': %m", path);
    }
    if (fstat(fd, &st) < 0 || (st.st_mode & 0007)) {
        return dagd_log_errno(
            LOG_ERR, -EPERM,
            "The HTTP token file '%s' must not be readable by others (chmod o-rwx)", path);
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        return dagd_log_errno(LOG_ERR, -errno, "Failed to read '%s': %m", path);
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) < 16 || strlen(buf) > 1024) {
        return dagd_log_errno(LOG_ERR, -EINVAL,
                              "The HTTP token in '%s' must be 16 to 1024 characters on one line",
                              path);
    }
    *ret = dagd_xstrdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int dagd_http_start(struct dagd_daemon *d, const char *addr, struct dagd_http **ret)
{
    struct dagd_http_address a;
    int r = dagd_http_address_parse(addr, &a);
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Invalid HTTP address '%s' (want ADDR:PORT or /path)",
                              addr);
    }
    _cleanup_free_ char *token = NULL;
    if (d->config.http_token_file) {
        r = load_token(d->config.http_token_file, &token);
        if (r < 0) {
            return r;
        }
    }
    _cleanup_free_ char *why = NULL;
    r = dagd_http_mhd_load(&why);
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to load libmicrohttpd for the HTTP listener: %s",
                              why);
    }
    struct dagd_http *h = dagd_xcalloc(1, sizeof(*h));
    h->d = d;
    h->loopback = dagd_http_address_is_loopback(&a);
    h->token = TAKE_PTR(token);
    int fd = listen_on(h, &a);
    if (fd < 0) {
        free(h->unix_path);
        free(h->token);
        free(h);
        return dagd_log_errno(LOG_ERR, fd, "Failed to listen for HTTP on '%s': %s", addr,
                              strerror(-fd));
    }
    h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
                              NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        h->mhd ? MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        if (h->mhd) {
            MHD_stop_daemon(h->mhd);
        } else {
            close(fd);
        }
        if (h->unix_path) {
            (void)unlink(h->unix_path);
        }
        free(h->unix_path);
        free(h->token);
        free(h);
        return dagd_log_errno(LOG_ERR, -EIO, "Failed to start the HTTP server on '%s'", addr);
    }
    (void)uv_timer_init(d->loop, &h->timer);
    h->timer.data = h;
    (void)uv_poll_init(d->loop, &h->poll, info->epoll_fd);
    h->poll.data = h;
    h->open_handles = 2;
    (void)uv_poll_start(&h->poll, UV_READABLE, on_poll);
    h->metrics = dagd_metrics_new(d);
    h->sse = dagd_http_sse_new(d, d->config.max_http_streams, kick, h);
    run_mhd(h);
    if (a.is_unix) {
        dagd_log_info("Web UI and metrics on unix:%s", addr);
    } else {
        char host[INET6_ADDRSTRLEN] = "";
        const void *in = a.sa.ss_family == AF_INET
                             ? (const void *)&((struct sockaddr_in *)&a.sa)->sin_addr
                             : (const void *)&((struct sockaddr_in6 *)&a.sa)->sin6_addr;
        (void)inet_ntop(a.sa.ss_family, in, host, sizeof(host));
        dagd_log_info(a.sa.ss_family == AF_INET6 ? "Web UI and metrics on http://[%s]:%u/"
                                                 : "Web UI and metrics on http://%s:%u/",
                      host, h->port);
    }
    *ret = h;
    return 0;
}

unsigned dagd_http_port(const struct dagd_http *h)
{
    return h ? h->port : 0;
}

static void on_closed(uv_handle_t *handle)
{
    struct dagd_http *h = handle->data;
    if (--h->open_handles == 0) {
        free(h->token);
        free(h);
    }
}

struct dagd_http *dagd_http_stop(struct dagd_http *h)
{
    if (!h) {
        return NULL;
    }
    /* Streams end first: MHD must not be stopped with a connection
     * suspended, and one more MHD_run() lets each resumed stream send its
     * end (the page then polls until the daemon is back). */
    dagd_http_sse_close_all(h->sse);
    /* So do reads still in the pool (it is freed after the listener):
     * their answers are dropped, their requests answered now. */
    while (h->deferred) {
        struct dagd_http_deferred *t = h->deferred;
        struct dagd_http_response res = {0};
        t->abort(t->userdata);
        (void)dagd__http_set_error(&res, 503, "SHUTTING_DOWN", "the daemon is stopping");
        deferred_resume(t, &res);
    }
    (void)MHD_run(h->mhd);
    /* libuv forgets the epoll fd before MHD closes it. */
    (void)uv_poll_stop(&h->poll);
    uv_close((uv_handle_t *)&h->poll, on_closed);
    uv_close((uv_handle_t *)&h->timer, on_closed);
    MHD_stop_daemon(h->mhd);
    h->mhd = NULL;
    if (h->unix_path) {
        (void)unlink(h->unix_path);
        free(h->unix_path);
        h->unix_path = NULL;
    }
    h->sse = dagd_http_sse_free(h->sse);
    h->metrics = dagd_metrics_free(h->metrics);
    return NULL;
}
