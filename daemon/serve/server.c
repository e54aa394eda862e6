/* See server.h. Handle lifetimes follow libuv's rules: a client (two handles:
 * the pipe and its idle timer) is freed only when both close callbacks ran;
 * write buffers live until their write callback; calls still open when a
 * client goes away are aborted from the close callback, never from inside a
 * function a handler called (redis freeClientAsync). */
#include "server.h"

#include <assert.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "protocol.h"

#define READ_CHUNK (64u * 1024u)
/* Give freed reply buffers back to the system (malloc_trim) after this many
 * bytes of them: glibc keeps freed heap memory, and its mmap threshold grows
 * after large frees, so without it 60 slow readers left 280 MB behind. */
#define TRIM_AFTER_BYTES (8u * 1024u * 1024u)

struct list_head {
    struct list_head *next, *prev;
};

static void list_init(struct list_head *h)
{
    h->next = h->prev = h;
}

static void list_add_tail(struct list_head *h, struct list_head *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static void list_del(struct list_head *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct dagd_server {
    uv_loop_t *loop;
    struct dagd_server_limits limits;
    dagd_server_dispatch_fn dispatch;
    void *userdata;

    uv_pipe_t listener;
    bool listener_open; /* initialized and not yet closed */
    char *bound_path;   /* the file we created, unlinked on stop */
    char *socket_file;  /* the socket's file, read at each connection (NULL: none known) */
    uid_t owner;        /* the socket file's owner and group when last read */
    gid_t group;

    struct list_head clients;
    unsigned n_clients;
    size_t unsent_total;     /* unsent bytes of all clients */
    size_t freed_since_trim; /* reply bytes freed since the last malloc_trim */
    bool freeing;
};

struct client {
    struct dagd_server *server;
    struct list_head link;
    uv_pipe_t pipe;
    uv_timer_t timer;
    unsigned handles_open;
    struct dagd_linebuf lines;
    struct ucred cred;

    struct list_head calls;
    unsigned n_calls;
    size_t unsent; /* bytes handed to uv_write not yet written */
    bool reading;
    bool closing;
    bool close_when_flushed; /* after a fatal error reply */
    uint64_t last_active_usec;
};

struct dagd_server_call {
    struct client *client;
    struct list_head link;
    cJSON *id;
    dagd_server_call_abort_fn abort;
    void *abort_userdata;
};

struct wreq {
    uv_write_t req;
    struct client *client;
    size_t len;
    char *data;
};

static void client_close(struct client *c);
static void client_process(struct client *c);
static void client_update_reading(struct client *c);

/* Return freed memory to the system once enough reply bytes were freed. */
static void server_maybe_trim(struct dagd_server *s)
{
    if (s->freed_since_trim >= TRIM_AFTER_BYTES) {
        s->freed_since_trim = 0;
        (void)malloc_trim(0);
    }
}

/* The output of all clients fell below max_unsent_total: clients that were
 * held back because they had replies unsent may be read again (`except` is
 * handled by the caller). Clients are only unlinked in close callbacks, so
 * the list stays valid while handlers run. */
static void server_wake(struct dagd_server *s, struct client *except)
{
    for (struct list_head *i = s->clients.next; i != &s->clients; i = i->next) {
        struct client *o = container_of(i, struct client, link);
        if (o != except && !o->closing) {
            client_update_reading(o);
            client_process(o);
        }
    }
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = container_of(req, struct wreq, req);
    struct client *c = w->client;
    struct dagd_server *s = c->server;
    bool was_over = s->unsent_total > s->limits.max_unsent_total;
    c->unsent -= w->len;
    s->unsent_total -= w->len;
    s->freed_since_trim += w->len;
    free(w->data);
    free(w);
    server_maybe_trim(s);
    if (was_over && s->unsent_total <= s->limits.max_unsent_total) {
        server_wake(s, c);
    }
    if (status < 0) {
        if (status != UV_ECANCELED) {
            dagd_log_debug("%s: write to client pid %d failed: %s", __func__, (int)c->cred.pid,
                           uv_strerror(status));
        }
        client_close(c);
        return;
    }
    if (c->close_when_flushed && c->unsent == 0) {
        client_close(c);
        return;
    }
    if (!c->closing) {
        client_update_reading(c);
        client_process(c);
    }
}

/* Queue `data` (taken) for the client. */
static int client_send(struct client *c, char *data, size_t len)
{
    if (c->closing || c->close_when_flushed) {
        free(data);
        return -EPIPE;
    }
    struct wreq *w = dagd_xcalloc(1, sizeof(*w));
    w->client = c;
    w->len = len;
    w->data = data;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    int r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
    if (r < 0) {
        free(data);
        free(w);
        client_close(c);
        return -EPIPE;
    }
    c->unsent += len;
    c->server->unsent_total += len;
    return 0;
}

/* Send an error that ends the connection (oversized line, refused peer). */
static void client_fatal(struct client *c, const char *code, const char *message)
{
    size_t len;
    char *line = dagd_reply_error(NULL, code, message, &len);
    if (client_send(c, line, len) == 0) {
        c->close_when_flushed = true;
        client_update_reading(c);
    }
}

/* ---- calls ---- */

static void call_free(struct dagd_server_call *call)
{
    struct client *c = call->client;
    list_del(&call->link);
    c->n_calls--;
    cJSON_Delete(call->id);
    free(call);
}

static void call_finish(struct dagd_server_call *call, char *line, size_t len)
{
    struct client *c = call->client;
    call_free(call);
    c->last_active_usec = dagd_now_mono_usec(); /* a long call that ends is activity */
    (void)client_send(c, line, len);
    if (!c->closing) {
        client_update_reading(c);
    }
}

void dagd_server_call_reply(struct dagd_server_call *call, cJSON *result)
{
    size_t len;
    char *line = dagd_reply_result(call->id, result, &len);
    call_finish(call, line, len);
}

void dagd_server_call_error(struct dagd_server_call *call, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    size_t len;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    char *line = dagd_reply_error(call->id, code, msg, &len);
    free(msg);
    call_finish(call, line, len);
}

int dagd_server_call_event(struct dagd_server_call *call, cJSON *event)
{
    struct client *c = call->client;
    size_t len;

    if (c->closing || c->close_when_flushed) {
        cJSON_Delete(event);
        return -EPIPE;
    }
    if (c->unsent > c->server->limits.max_unsent) {
        /* A follower that does not read: drop it rather than buffer forever. */
        cJSON_Delete(event);
        dagd_log_warning("Client pid %d does not read its stream, dropping it", (int)c->cred.pid);
        client_close(c);
        return -ENOBUFS;
    }
    char *line = dagd_reply_event(call->id, event, &len);
    return client_send(c, line, len);
}

void dagd_server_call_set_abort(struct dagd_server_call *call, dagd_server_call_abort_fn fn,
                                void *userdata)
{
    call->abort = fn;
    call->abort_userdata = userdata;
}

uid_t dagd_server_call_uid(const struct dagd_server_call *call)
{
    return call->client->cred.uid;
}

pid_t dagd_server_call_pid(const struct dagd_server_call *call)
{
    return call->client->cred.pid;
}

/* ---- reading ---- */

/* Read only while the client has room for more: few calls in flight and a
 * small backlog of unsent replies (backpressure instead of buffering), and,
 * while the replies of all clients together are over their limit, only
 * clients that have none unsent: slow readers wait, the others are served.
 * So memory is bounded by the soft limits plus one reply per client. */
static bool client_can_take(const struct client *c)
{
    const struct dagd_server *s = c->server;
    return !c->closing && !c->close_when_flushed && c->n_calls < s->limits.max_calls &&
           c->unsent <= s->limits.max_unsent_soft &&
           (c->unsent == 0 || s->unsent_total <= s->limits.max_unsent_total);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[READ_CHUNK]; /* one loop thread; data is copied out at once */
    buf->base = chunk;
    buf->len = sizeof(chunk);
}

static void handle_line(struct client *c, const char *line, size_t len)
{
    struct dagd_request req;
    const char *code;
    char *msg = NULL;
    cJSON *id = NULL;

    /* Blank lines are ignored, and are not activity: a client that only
     * sends them is idle (issue 16: 64 such clients locked everyone out). */
    if (len == 0) {
        return;
    }
    c->last_active_usec = dagd_now_mono_usec();
    int r = dagd_request_decode(line, len, &req, &code, &msg, &id);
    if (r < 0) {
        size_t n;
        char *out = dagd_reply_error(id, code, msg, &n);
        cJSON_Delete(id);
        free(msg);
        (void)client_send(c, out, n);
        return;
    }
    struct dagd_server_call *call = dagd_xcalloc(1, sizeof(*call));
    call->client = c;
    call->id = cJSON_Duplicate(req.id, true);
    list_add_tail(&c->calls, &call->link);
    c->n_calls++;
    c->server->dispatch(call, req.method, req.params, c->server->userdata);
    dagd_request_done(&req);
}

static void client_process(struct client *c)
{
    while (client_can_take(c)) {
        char *line;
        size_t len;
        int r = dagd_linebuf_next(&c->lines, &line, &len);
        if (r == 0) {
            break;
        }
        if (r == -EMSGSIZE) {
            client_fatal(c, DAGD_ERR_LINE_TOO_LONG,
                         "request line too long, closing the connection");
            break;
        }
        handle_line(c, line, len);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = container_of((uv_pipe_t *)stream, struct client, pipe);

    if (nread < 0) {
        /* EOF or error: answers to calls still open have nowhere to go. */
        client_close(c);
        return;
    }
    if (nread == 0) {
        return;
    }
    dagd_linebuf_append(&c->lines, buf->base, (size_t)nread);
    client_process(c);
    client_update_reading(c);
}

static void client_update_reading(struct client *c)
{
    bool want = client_can_take(c);
    if (want == c->reading || c->closing) {
        return;
    }
    if (want) {
        if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0) {
            c->reading = true;
        }
    } else {
        (void)uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
}

/* ---- client lifetime ---- */

static void maybe_free_server(struct dagd_server *s)
{
    if (s->freeing && s->n_clients == 0 && !s->listener_open) {
        free(s->bound_path);
        free(s->socket_file);
        free(s);
    }
}

static void on_client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    if (--c->handles_open > 0) {
        return;
    }
    /* Both handles are closed: tell the owners of open calls, then free. */
    while (c->calls.next != &c->calls) {
        struct dagd_server_call *call = container_of(c->calls.next, struct dagd_server_call, link);
        dagd_server_call_abort_fn fn = call->abort;
        void *ud = call->abort_userdata;
        if (fn) {
            fn(call, ud);
        }
        call_free(call);
    }
    struct dagd_server *s = c->server;
    list_del(&c->link);
    s->n_clients--;
    dagd_linebuf_done(&c->lines);
    free(c);
    server_maybe_trim(s);
    maybe_free_server(s);
}

static void client_close(struct client *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    if (c->reading) {
        (void)uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
    uv_close((uv_handle_t *)&c->pipe, on_client_closed);
    uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

static void on_idle_timer(uv_timer_t *t)
{
    struct client *c = t->data;
    uint64_t idle = c->server->limits.idle_timeout_usec;
    uint64_t now = dagd_now_mono_usec();

    /* Streams (run --wait, logs --follow) are not idle while a call is open. */
    if (c->n_calls == 0 && now - c->last_active_usec >= idle) {
        dagd_log_debug("%s: closing idle client pid %d", __func__, (int)c->cred.pid);
        client_close(c);
        return;
    }
    uint64_t left = c->n_calls > 0 ? idle : idle - (now - c->last_active_usec);
    (void)uv_timer_start(t, on_idle_timer, left / 1000 + 1, 0);
}

/* Group membership of a peer, from /proc (the supplementary groups are not
 * in SO_PEERCRED). Races with a peer that changes groups are harmless: it
 * held the groups when it connected a moment ago. */
static bool pid_in_group(pid_t pid, gid_t gid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[4096];

    if (!f) {
        return false;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Groups:", 7) != 0) {
            continue;
        }
        char *p = line + 7, *end;
        for (;;) {
            unsigned long g = strtoul(p, &end, 10);
            if (end == p) {
                return false;
            }
            if ((gid_t)g == gid) {
                return true;
            }
            p = end;
        }
    }
    return false;
}

/* The socket file's owner and group as they are now: an operator's chgrp
 * (or systemd's SocketGroup=) takes effect for the next connection. fstat()
 * of the listening fd would not do: it reports the socket inode in sockfs
 * (its creator's ids), never the file's. If the file is gone or is no longer
 * a socket, the last ids read stay. */
static void refresh_socket_ids(struct dagd_server *s)
{
    struct stat st;
    if (s->socket_file && stat(s->socket_file, &st) == 0 && S_ISSOCK(st.st_mode)) {
        s->owner = st.st_uid;
        s->group = st.st_gid;
    }
}

/* Root, the daemon's uid, the socket file's owner and members of its group
 * may connect: the same people the file mode lets in, checked again with
 * SO_PEERCRED in case the mode was loosened. */
static bool peer_allowed(struct dagd_server *s, const struct ucred *cr)
{
    refresh_socket_ids(s);
    if (cr->uid == 0 || cr->uid == geteuid() || cr->uid == s->owner) {
        return true;
    }
    if (cr->gid == s->group) {
        return true;
    }
    return pid_in_group(cr->pid, s->group);
}

/* Live clients other than `self` (of `uid`, or not root's if uid is -2, or
 * all if -1). */
static unsigned count_clients(const struct dagd_server *s, const struct client *self, long uid)
{
    unsigned n = 0;
    for (const struct list_head *i = s->clients.next; i != &s->clients; i = i->next) {
        const struct client *o = container_of(i, struct client, link);
        if (o == self || o->closing || o->close_when_flushed) {
            continue;
        }
        n += uid == -1 || (uid == -2 && o->cred.uid != 0) || (uid >= 0 && o->cred.uid == uid);
    }
    return n;
}

/* Close the client (matching uid as in count_clients) idle the longest, if
 * one has been idle at least DAGD_SERVER_EVICT_IDLE_USEC with nothing in
 * flight: a new connection beats a connection that does nothing. true if
 * one was closed. */
static bool evict_idle(struct dagd_server *s, const struct client *self, long uid)
{
    uint64_t now = dagd_now_mono_usec();
    struct client *victim = NULL;
    for (struct list_head *i = s->clients.next; i != &s->clients; i = i->next) {
        struct client *o = container_of(i, struct client, link);
        if (o == self || o->closing || o->close_when_flushed || o->n_calls > 0 ||
            now - o->last_active_usec < DAGD_SERVER_EVICT_IDLE_USEC) {
            continue;
        }
        if (!(uid == -1 || (uid == -2 && o->cred.uid != 0) || (uid >= 0 && o->cred.uid == uid))) {
            continue;
        }
        if (!victim || o->last_active_usec < victim->last_active_usec) {
            victim = o;
        }
    }
    if (!victim) {
        return false;
    }
    dagd_log_info("Closing client pid %d (uid %u), idle for %" PRIu64
                  " ms, to make room for pid %d",
                  (int)victim->cred.pid, (unsigned)victim->cred.uid,
                  (now - victim->last_active_usec) / 1000, (int)self->cred.pid);
    client_close(victim);
    return true;
}

/* Room for a new client: per uid (not root), for uids other than root
 * (root's reserve) and in total. Where a limit is reached, an idle client
 * in the same group makes room; otherwise the newcomer gets BUSY. */
static bool admit(struct dagd_server *s, struct client *c)
{
    const struct dagd_server_limits *l = &s->limits;
    unsigned reserve = l->max_clients >= 16 ? DAGD_SERVER_ROOT_RESERVE : 0;
    uid_t uid = c->cred.uid;

    if (uid != 0 && count_clients(s, c, (long)uid) >= l->max_clients_per_uid &&
        !evict_idle(s, c, (long)uid)) {
        dagd_log_warning("Refusing client pid %d: uid %u has %u connections", (int)c->cred.pid,
                         (unsigned)uid, l->max_clients_per_uid);
        client_fatal(c, DAGD_ERR_BUSY, "too many connections from this uid");
        return false;
    }
    if (uid != 0 && reserve > 0 && count_clients(s, c, -2) >= l->max_clients - reserve &&
        !evict_idle(s, c, -2)) {
        client_fatal(c, DAGD_ERR_BUSY, "too many clients");
        return false;
    }
    if (count_clients(s, c, -1) >= l->max_clients && !evict_idle(s, c, -1)) {
        client_fatal(c, DAGD_ERR_BUSY, "too many clients");
        return false;
    }
    return true;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct dagd_server *s = listener->data;

    if (status < 0) {
        dagd_log_warning("Failed to accept a connection: %s, ignoring", uv_strerror(status));
        return;
    }
    struct client *c = dagd_xcalloc(1, sizeof(*c));
    c->server = s;
    list_init(&c->calls);
    list_init(&c->link);
    dagd_linebuf_init(&c->lines, s->limits.max_line);
    if (uv_pipe_init(s->loop, &c->pipe, 0) < 0) {
        free(c);
        return;
    }
    c->pipe.data = c;
    (void)uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    list_add_tail(&s->clients, &c->link);
    s->n_clients++;
    c->last_active_usec = dagd_now_mono_usec();

    if (uv_accept(listener, (uv_stream_t *)&c->pipe) < 0) {
        client_close(c);
        return;
    }
    uv_os_fd_t fd;
    socklen_t sl = sizeof(c->cred);
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &sl) < 0) {
        dagd_log_warning("Failed to read peer credentials: %m, dropping the client");
        client_close(c);
        return;
    }
    if (!peer_allowed(s, &c->cred)) {
        dagd_log_warning("Refusing client uid %u pid %d: not root, uid %u or in group %u",
                         (unsigned)c->cred.uid, (int)c->cred.pid, (unsigned)s->owner,
                         (unsigned)s->group);
        client_fatal(c, DAGD_ERR_PERMISSION, "permission denied");
        return;
    }
    if (!admit(s, c)) {
        return;
    }
    (void)uv_timer_start(&c->timer, on_idle_timer, s->limits.idle_timeout_usec / 1000 + 1, 0);
    client_update_reading(c);
}

/* ---- server ---- */

int dagd_server_new(uv_loop_t *loop, const struct dagd_server_limits *limits,
                    dagd_server_dispatch_fn dispatch, void *userdata, struct dagd_server **ret)
{
    struct dagd_server *s = dagd_xcalloc(1, sizeof(*s));
    s->loop = loop;
    if (limits) {
        s->limits = *limits;
    }
    if (s->limits.max_line == 0) {
        s->limits.max_line = DAGD_PROTOCOL_MAX_LINE;
    }
    if (s->limits.max_clients == 0) {
        s->limits.max_clients = 64;
    }
    if (s->limits.max_clients_per_uid == 0) {
        s->limits.max_clients_per_uid = 32;
    }
    if (s->limits.max_unsent_soft == 0) {
        s->limits.max_unsent_soft = 256u * 1024u;
    }
    if (s->limits.max_unsent_total == 0) {
        s->limits.max_unsent_total = 32u * 1024u * 1024u;
    }
    if (s->limits.max_calls == 0) {
        s->limits.max_calls = 16;
    }
    if (s->limits.max_unsent == 0) {
        s->limits.max_unsent = 16u * 1024u * 1024u;
    }
    if (s->limits.idle_timeout_usec == 0) {
        s->limits.idle_timeout_usec = 60u * 1000000u;
    }
    s->dispatch = dispatch;
    s->userdata = userdata;
    s->owner = geteuid();
    s->group = getegid();
    list_init(&s->clients);
    *ret = s;
    return 0;
}

/* A socket file left by a dead daemon is replaced; one a live daemon
 * listens on is not. */
static int remove_stale_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return -EEXIST;
    }
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        return -EADDRINUSE;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        return -errno;
    }
    return 0;
}

int dagd_server_listen(struct dagd_server *s, const char *path, int fd)
{
    struct sockaddr_un sa;
    int r;

    assert(!s->listener_open);
    if (path && strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG; /* libuv 1.44 would truncate it silently */
    }
    r = uv_pipe_init(s->loop, &s->listener, 0);
    if (r < 0) {
        return r;
    }
    s->listener.data = s;
    s->listener_open = true;
    if (fd >= 0) {
        r = uv_pipe_open(&s->listener, fd);
    } else {
        r = remove_stale_socket(path);
        if (r >= 0) {
            /* 0660 from the start: no window in which others may connect. */
            mode_t old = umask(0117);
            r = uv_pipe_bind(&s->listener, path);
            umask(old);
            if (r >= 0) {
                s->bound_path = dagd_xstrdup(path);
                if (chmod(path, 0660) < 0) {
                    r = -errno;
                }
            }
        }
    }
    if (r >= 0) {
        r = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    }
    if (r < 0) {
        dagd_server_stop_accepting(s);
        return r;
    }
    /* Under socket activation without a configured path, the file is the
     * one the socket is bound to; an abstract or unnamed socket has none,
     * and then the ids of the socket inode are all there is. */
    struct sockaddr_un bound = {0};
    socklen_t bl = sizeof(bound);
    if (path) {
        s->socket_file = dagd_xstrdup(path);
    } else if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0 &&
               bl > offsetof(struct sockaddr_un, sun_path) && bound.sun_path[0] != '\0') {
        s->socket_file = dagd_xstrndup(bound.sun_path, bl - offsetof(struct sockaddr_un, sun_path));
    } else {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            s->owner = st.st_uid;
            s->group = st.st_gid;
        }
    }
    refresh_socket_ids(s);
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct dagd_server *s = h->data;
    s->listener_open = false;
    maybe_free_server(s);
}

void dagd_server_stop_accepting(struct dagd_server *s)
{
    if (!s->listener_open || uv_is_closing((uv_handle_t *)&s->listener)) {
        return;
    }
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    if (s->bound_path) {
        (void)unlink(s->bound_path);
    }
}

void dagd_server_free(struct dagd_server *s)
{
    if (!s) {
        return;
    }
    s->freeing = true;
    dagd_server_stop_accepting(s);
    for (struct list_head *i = s->clients.next; i != &s->clients;) {
        struct client *c = container_of(i, struct client, link);
        i = i->next;
        client_close(c);
    }
    maybe_free_server(s);
}

unsigned dagd_server_n_clients(const struct dagd_server *s)
{
    return s->n_clients;
}
