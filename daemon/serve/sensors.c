/* Sensors of `dagd serve`: inotify watches that submit runs (see sensors.h).
 *
 * One inotify fd serves every sensor. Two sensors on one directory share its
 * watch descriptor (inotify returns the same wd for the same inode), so a
 * watch is removed only when no sensor uses it any more. An event queue
 * overflow (IN_Q_OVERFLOW) rescans every directory: the run keys make the
 * rescan harmless. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include <uv.h>

#include "log.h"
#include "sensors.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR)
#define RETRY_MS 5000 /* a missing directory is tried again this often */
#define RECHECK_MS 20 /* a just-closed file that still looks written: look again */
#define RECHECK_TRIES 25

struct sensor {
    char *key; /* "pipeline/sensor": the sensor_keys namespace */
    char *sig; /* everything that re-arms when it changes */
    char *pipeline;
    char *name;
    char *dir; /* absolute */
    char *pattern;
    struct dagd_params params; /* as written */
    int wd;                    /* -1 when not watching */
    bool seen;
};

/* A file whose IN_CLOSE_WRITE came while it still looked open for writing. */
struct pending {
    char *sensor; /* sensor key */
    char *name;
    unsigned tries;
};

struct dagd_sensors {
    struct dagd_trigger_host host;
    int fd;
    uv_poll_t poll;
    uv_timer_t retry;   /* re-watches directories that were missing */
    uv_signal_t sigio;  /* lease breaks: see still_written() */
    uv_timer_t recheck; /* for `pending` */
    struct pending *pending;
    size_t n_pending;
    unsigned open_handles;
    struct sensor **v;
    size_t n;
};

/* Append `v` escaped so that the run's own ${...} expansion leaves it as is:
 * a '$' that would start a reference (followed by '{', in `v` or by `after`)
 * is doubled ("$${" reads as a literal "${"). */
static void append_escaped(char **out, size_t *len, size_t *cap, const char *v, char after)
{
    for (size_t i = 0; v[i]; i++) {
        char next = v[i + 1] ? v[i + 1] : after;
        size_t need = *len + 3;
        if (need > *cap) {
            *cap = need * 2;
            *out = dagd_xrealloc(*out, *cap);
        }
        if (v[i] == '$' && next == '{') {
            (*out)[(*len)++] = '$';
        }
        (*out)[(*len)++] = v[i];
    }
}

char *dagd_sensor_subst(const char *in, const char *dir, const char *path, const char *name)
{
    static const char *const names[] = {"${sensor.dir}", "${sensor.path}", "${sensor.name}",
                                        "${sensor_file}"};
    const char *values[] = {dir, path, name, path};
    size_t cap = strlen(in) + 64, len = 0;
    char *out = dagd_xmalloc(cap);

    for (size_t i = 0; in[i];) {
        bool done = false;
        if (in[i] == '$' && in[i + 1] == '$' && in[i + 2] == '{') {
            /* an escaped "${": keep it escaped for the run's expansion */
            if (len + 4 > cap) {
                cap = (len + 4) * 2;
                out = dagd_xrealloc(out, cap);
            }
            memcpy(out + len, "$${", 3);
            len += 3;
            i += 3;
            continue;
        }
        for (size_t k = 0; k < ELEMENTSOF(names) && in[i] == '$'; k++) {
            size_t l = strlen(names[k]);
            if (strncmp(in + i, names[k], l) == 0) {
                append_escaped(&out, &len, &cap, values[k], in[i + l]);
                i += l;
                done = true;
                break;
            }
        }
        if (!done) {
            if (len + 2 > cap) {
                cap = (len + 2) * 2;
                out = dagd_xrealloc(out, cap);
            }
            out[len++] = in[i++];
        }
    }
    if (len + 1 > cap) {
        out = dagd_xrealloc(out, len + 1);
    }
    out[len] = '\0';
    return out;
}

/* Is the file still open for writing by some process? A read lease is
 * refused (EAGAIN) exactly then (fcntl(2) F_SETLEASE), so this tells a
 * file found by the start scan, or moved in while its writer still writes,
 * from a complete one without guessing from times. The lease is dropped at
 * once; a writer opening the file in between waits only for that (the
 * kernel tells us with SIGIO, which the daemon handles as a no-op rather
 * than dying of its default action). 1 yes, 0 no, -errno when it cannot be
 * told (not the file's owner without CAP_LEASE, a file system without
 * leases): then the file counts as complete. */
static int still_written(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    int r;

    if (fd < 0) {
        return -errno;
    }
    if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
        r = errno == EAGAIN ? 1 : -errno;
    } else {
        (void)fcntl(fd, F_SETLEASE, F_UNLCK);
        r = 0;
    }
    close(fd);
    return r;
}

static void on_sigio(uv_signal_t *h, int signum)
{
}

static void record(struct dagd_sensors *s, const struct sensor *sn, const char *run_id,
                   const char *status, const char *reason)
{
    if (dagd_store_tick_add(s->host.store, sn->name, "sensor", dagd_now_wall_msec(), run_id, status,
                            reason) < 0) {
        dagd_log_warning("Failed to record a tick of sensor '%s': %s, ignoring", sn->name,
                         dagd_store_errmsg(s->host.store));
    }
}

static void defer(struct dagd_sensors *s, struct sensor *sn, const char *name, unsigned tries);

/* A matching file `name` in the sensor's directory may be complete: run the
 * pipeline unless it is still being written or this version of the file
 * triggered a run already. During a scan, files claimed before are passed
 * over silently (they are not news). `closed`: this is an IN_CLOSE_WRITE. */

static void evaluate(struct dagd_sensors *s, struct sensor *sn, const char *name, const char *how,
                     bool scanning, bool closed)
{
    const struct dagd_trigger_host *h = &s->host;
    _cleanup_free_ char *path = dagd_xasprintf("%s/%s", sn->dir, name);
    _cleanup_free_ char *key = NULL, *reason = NULL;
    char run_id[33], got[33] = "";
    struct stat st;
    int r;

    if (stat(path, &st) < 0) {
        if (!scanning) {
            _cleanup_free_ char *why = dagd_xasprintf("%s: gone before it was looked at", path);
            record(s, sn, NULL, "skipped", why);
        }
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        return;
    }
    if (still_written(path) == 1) {
        /* The kernel queues IN_CLOSE_WRITE before the closing file stops
         * counting as a writer: right after a close, look again shortly.
         * Otherwise the last writer's close brings an IN_CLOSE_WRITE. */
        if (closed) {
            defer(s, sn, name, 0);
            return;
        }
        _cleanup_free_ char *why =
            dagd_xasprintf("%s: still open for writing, waiting for its close", path);
        record(s, sn, NULL, "skipped", why);
        return;
    }
    /* The key describes the file as complete: a writer may have finished
     * between the first stat and the lease. */
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    key = dagd_xasprintf("%s:%" PRId64 ":%" PRId64, path, (int64_t)st.st_size,
                         (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    dagd_run_id_new(run_id);
    r = dagd_store_sensor_key_claim(h->store, sn->key, key, run_id, dagd_now_wall_msec());
    if (r == -EEXIST) {
        if (!scanning) {
            _cleanup_free_ char *why =
                dagd_xasprintf("%s: already triggered a run (same size and mtime)", path);
            record(s, sn, NULL, "skipped", why);
        }
        return;
    }
    if (r < 0) {
        _cleanup_free_ char *why =
            dagd_xasprintf("%s: cannot claim the run key: %s", path, dagd_store_errmsg(h->store));
        dagd_log_warning("Sensor '%s' of pipeline '%s': %s", sn->name, sn->pipeline, why);
        record(s, sn, NULL, "failed", why);
        return;
    }

    char **overrides = dagd_xcalloc(sn->params.n + 1, sizeof(char *));
    for (size_t i = 0; i < sn->params.n; i++) {
        _cleanup_free_ char *v = dagd_sensor_subst(sn->params.items[i].value, sn->dir, path, name);
        overrides[i] = dagd_xasprintf("%s=%s", sn->params.items[i].key, v);
    }
    r = dagd_trigger_submit(h, sn->pipeline, "sensor", overrides, sn->params.n,
                            dagd_now_wall_msec() / 1000, run_id, got, &reason);
    for (size_t i = 0; i < sn->params.n; i++) {
        free(overrides[i]);
    }
    free(overrides);
    if (r < 0) {
        _cleanup_free_ char *why = dagd_xasprintf("%s: %s", path, reason);
        dagd_log_warning("Sensor '%s' of pipeline '%s': no run: %s", sn->name, sn->pipeline, why);
        record(s, sn, NULL, "failed", why);
        return;
    }
    dagd_log_info("Sensor '%s' of pipeline '%s' started run %s for '%s' (%s)", sn->name,
                  sn->pipeline, got, path, how);
    _cleanup_free_ char *why = dagd_xasprintf("%s: %s", path, how);
    record(s, sn, got, "started", why);
}

static struct sensor *find(struct dagd_sensors *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++) {
        if (streq(s->v[i]->key, key)) {
            return s->v[i];
        }
    }
    return NULL;
}

static void on_recheck(uv_timer_t *t)
{
    struct dagd_sensors *s = t->data;
    struct pending *list = s->pending;
    size_t n = s->n_pending;

    /* evaluate() may defer again: work on the taken list. */
    s->pending = NULL;
    s->n_pending = 0;
    for (size_t i = 0; i < n; i++) {
        struct sensor *sn = find(s, list[i].sensor);
        if (sn) {
            _cleanup_free_ char *path = dagd_xasprintf("%s/%s", sn->dir, list[i].name);
            if (still_written(path) == 1 && list[i].tries + 1 < RECHECK_TRIES) {
                defer(s, sn, list[i].name, list[i].tries + 1);
            } else {
                /* Complete now, or another writer has it open (then
                 * evaluate records that and its close comes later). */
                evaluate(s, sn, list[i].name, "closed after writing", false, false);
            }
        }
        free(list[i].sensor);
        free(list[i].name);
    }
    free(list);
    if (s->n_pending == 0) {
        (void)uv_timer_stop(&s->recheck);
    }
}

static void defer(struct dagd_sensors *s, struct sensor *sn, const char *name, unsigned tries)
{
    s->pending = dagd_xreallocarray(s->pending, s->n_pending + 1, sizeof(*s->pending));
    s->pending[s->n_pending++] = (struct pending){
        .sensor = dagd_xstrdup(sn->key),
        .name = dagd_xstrdup(name),
        .tries = tries,
    };
    if (!uv_is_active((uv_handle_t *)&s->recheck)) {
        (void)uv_timer_start(&s->recheck, on_recheck, RECHECK_MS, RECHECK_MS);
    }
}

static void scan(struct dagd_sensors *s, struct sensor *sn)
{
    DIR *dir = opendir(sn->dir);
    struct dirent *de;

    if (!dir) {
        return;
    }
    /* Collect first: evaluating may take a while and the directory may
     * change under readdir. */
    char **names = NULL;
    size_t n = 0;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || streq(de->d_name, ".."))) {
            continue;
        }
        if (fnmatch(sn->pattern, de->d_name, FNM_PERIOD) == 0) {
            names = dagd_xreallocarray(names, n + 1, sizeof(char *));
            names[n++] = dagd_xstrdup(de->d_name);
        }
    }
    closedir(dir);
    for (size_t i = 0; i < n; i++) {
        evaluate(s, sn, names[i], "found at start", true, false);
        free(names[i]);
    }
    free(names);
}

/* Try the sensors without a watch again; scan the directories that came
 * back. Keeps going while some are still missing. */
static void on_retry(uv_timer_t *t)
{
    struct dagd_sensors *s = t->data;
    bool missing = false;

    for (size_t i = 0; i < s->n; i++) {
        struct sensor *sn = s->v[i];
        if (sn->wd >= 0) {
            continue;
        }
        sn->wd = inotify_add_watch(s->fd, sn->dir, WATCH_MASK);
        if (sn->wd < 0) {
            missing = true;
            continue;
        }
        dagd_log_info("Sensor '%s' of pipeline '%s' watches '%s' for '%s'", sn->name, sn->pipeline,
                      sn->dir, sn->pattern);
        scan(s, sn);
    }
    if (missing) {
        (void)uv_timer_start(&s->retry, on_retry, RETRY_MS, 0);
    }
}

static void start_retry(struct dagd_sensors *s)
{
    if (!uv_is_active((uv_handle_t *)&s->retry)) {
        (void)uv_timer_start(&s->retry, on_retry, RETRY_MS, 0);
    }
}

static void handle_event(struct dagd_sensors *s, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        dagd_log_warning("Sensor event queue overflowed: rescanning every watched directory");
        for (size_t i = 0; i < s->n; i++) {
            if (s->v[i]->wd >= 0) {
                scan(s, s->v[i]);
            }
        }
        return;
    }
    if (ev->mask & IN_IGNORED) {
        for (size_t i = 0; i < s->n; i++) {
            if (s->v[i]->wd == ev->wd) {
                dagd_log_warning("Sensor '%s' of pipeline '%s': '%s' is gone; watching it "
                                 "again when it comes back",
                                 s->v[i]->name, s->v[i]->pipeline, s->v[i]->dir);
                s->v[i]->wd = -1;
                start_retry(s);
            }
        }
        return;
    }
    if (ev->len == 0 || (ev->mask & IN_ISDIR) || !(ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct sensor *sn = s->v[i];
        if (sn->wd == ev->wd && fnmatch(sn->pattern, ev->name, FNM_PERIOD) == 0) {
            bool moved = ev->mask & IN_MOVED_TO;
            evaluate(s, sn, ev->name, moved ? "moved in" : "closed after writing", false, !moved);
        }
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct dagd_sensors *s = h->data;
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

    if (status < 0) {
        dagd_log_warning("Sensor events: %s, ignoring", uv_strerror(status));
        return;
    }
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* EAGAIN: drained */
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            handle_event(s, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
}

struct dagd_sensors *dagd_sensors_new(const struct dagd_trigger_host *host)
{
    struct dagd_sensors *s;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int r;

    if (fd < 0) {
        dagd_log_errno(LOG_ERR, -errno,
                       "Failed to create an inotify instance, sensors are off: %m");
        return NULL;
    }
    s = dagd_xcalloc(1, sizeof(*s));
    s->host = *host;
    s->fd = fd;
    r = uv_poll_init(host->loop, &s->poll, fd);
    if (r < 0) {
        dagd_log_error("Failed to poll the inotify fd, sensors are off: %s", uv_strerror(r));
        close(fd);
        free(s);
        return NULL;
    }
    s->poll.data = s;
    (void)uv_poll_start(&s->poll, UV_READABLE, on_readable);
    uv_timer_init(host->loop, &s->retry);
    s->retry.data = s;
    uv_signal_init(host->loop, &s->sigio);
    s->sigio.data = s;
    (void)uv_signal_start(&s->sigio, on_sigio, SIGIO);
    uv_timer_init(host->loop, &s->recheck);
    s->recheck.data = s;
    s->open_handles = 4;
    return s;
}

static void sensor_free(struct sensor *sn)
{
    free(sn->key);
    free(sn->sig);
    free(sn->pipeline);
    free(sn->name);
    free(sn->dir);
    free(sn->pattern);
    dagd_params_done(&sn->params);
    free(sn);
}

static void remove_at(struct dagd_sensors *s, size_t i)
{
    struct sensor *sn = s->v[i];
    bool shared = false;

    s->v[i] = s->v[--s->n];
    for (size_t k = 0; k < s->n && sn->wd >= 0; k++) {
        shared = shared || s->v[k]->wd == sn->wd;
    }
    if (sn->wd >= 0 && !shared) {
        (void)inotify_rm_watch(s->fd, sn->wd);
    }
    sensor_free(sn);
}

static void on_closed(uv_handle_t *h)
{
    struct dagd_sensors *s = h->data;
    if (--s->open_handles > 0) {
        return;
    }
    close(s->fd);
    free(s);
}

struct dagd_sensors *dagd_sensors_free(struct dagd_sensors *s)
{
    if (!s) {
        return NULL;
    }
    while (s->n > 0) {
        remove_at(s, s->n - 1);
    }
    free(s->v);
    s->v = NULL;
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->retry, on_closed);
    uv_close((uv_handle_t *)&s->sigio, on_closed);
    uv_close((uv_handle_t *)&s->recheck, on_closed);
    for (size_t i = 0; i < s->n_pending; i++) {
        free(s->pending[i].sensor);
        free(s->pending[i].name);
    }
    free(s->pending);
    s->pending = NULL;
    s->n_pending = 0;
    return NULL;
}

size_t dagd_sensors_count(const struct dagd_sensors *s)
{
    return s ? s->n : 0;
}

cJSON *dagd_sensors_to_json(const struct dagd_sensors *s)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; s && i < s->n; i++) {
        const struct sensor *sn = s->v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "sensor");
        cJSON_AddStringToObject(o, "pipeline", sn->pipeline);
        cJSON_AddStringToObject(o, "name", sn->name);
        cJSON_AddStringToObject(o, "watch", sn->dir);
        cJSON_AddStringToObject(o, "pattern", sn->pattern);
        cJSON_AddBoolToObject(o, "watching", sn->wd >= 0);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* The directory a sensor watches: `watch` with ${...} expanded from the
 * pipeline's param defaults and built-ins (state_dir: the daemon's), relative
 * to the pipeline file like ${pipeline_dir}. A watch that does not expand is
 * used as written (the warning says why; the retry timer keeps failing). */
static char *absolute_dir(const struct dagd_sensors *s, const struct dagd_pipeline *p,
                          const char *watch)
{
    _cleanup_free_ char *expanded = NULL;

    if (strstr(watch, "${")) {
        struct dagd_params builtins = {0}, params = {0};
        struct dagd_diags d = {0};
        dagd_pipeline_builtins(p, s->host.state_dir ? s->host.state_dir : ".", "", NULL, &builtins);
        if (dagd_pipeline_resolve_params(p, NULL, 0, &builtins, &params, &d) < 0 ||
            dagd_params_expand(&params, watch, &expanded, NULL) < 0) {
            dagd_log_warning("Pipeline '%s': sensor watch '%s' does not expand", p->name, watch);
        }
        dagd_params_done(&params);
        dagd_params_done(&builtins);
        dagd_diags_done(&d);
        if (expanded) {
            watch = expanded;
        }
    }
    if (watch[0] == '/') {
        return dagd_xstrdup(watch);
    }
    return dagd_xasprintf("%s/%s", p->dir ? p->dir : ".", watch);
}

static void add(struct dagd_sensors *s, const struct dagd_pipeline *p,
                const struct dagd_sensor *src, char *key, char *sig)
{
    struct sensor *sn = dagd_xcalloc(1, sizeof(*sn));

    sn->key = key;
    sn->sig = sig;
    sn->pipeline = dagd_xstrdup(p->name);
    sn->name = dagd_xstrdup(src->name);
    sn->dir = absolute_dir(s, p, src->watch);
    sn->pattern = dagd_xstrdup(src->pattern ? src->pattern : "*");
    for (size_t i = 0; i < src->params.n; i++) {
        dagd_params_set(&sn->params, src->params.items[i].key, src->params.items[i].value);
    }
    sn->seen = true;
    s->v = dagd_xreallocarray(s->v, s->n + 1, sizeof(*s->v));
    s->v[s->n++] = sn;

    /* Watch first, then scan: a file completed in between is seen twice
     * and claimed once. */
    sn->wd = inotify_add_watch(s->fd, sn->dir, WATCH_MASK);
    if (sn->wd < 0) {
        _cleanup_free_ char *why =
            dagd_xasprintf("cannot watch '%s': %s", sn->dir, strerror(errno));
        dagd_log_warning("%s:%u:%u: sensor '%s': %s (tried again every %u s)", p->file,
                         src->mark.line, src->mark.col, src->name, why, RETRY_MS / 1000);
        record(s, sn, NULL, "failed", why);
        start_retry(s);
        return;
    }
    dagd_log_info("Sensor '%s' of pipeline '%s' watches '%s' for '%s'", sn->name, sn->pipeline,
                  sn->dir, sn->pattern);
    scan(s, sn);
}

void dagd_sensors_sync(struct dagd_sensors *s)
{
    const struct dagd_registry *reg;

    if (!s) {
        return;
    }
    reg = s->host.registry;
    for (size_t i = 0; i < s->n; i++) {
        s->v[i]->seen = false;
    }
    for (size_t i = 0; i < dagd_registry_size(reg); i++) {
        const struct dagd_pipeline *p = dagd_registry_at(reg, i)->pipeline;
        if (!p || dagd_registry_get(reg, p->name) != p) {
            continue;
        }
        for (size_t j = 0; j < p->n_sensors; j++) {
            const struct dagd_sensor *src = &p->sensors[j];
            _cleanup_free_ char *dir = absolute_dir(s, p, src->watch);
            char *key = dagd_xasprintf("%s/%s", p->name, src->name);
            char *sig = dagd_xasprintf("%s\n%s", dir, src->pattern ? src->pattern : "*");
            size_t k = 0;

            for (size_t q = 0; q < src->params.n; q++) {
                char *t = dagd_xasprintf("%s\n%s=%s", sig, src->params.items[q].key,
                                         src->params.items[q].value);
                free(sig);
                sig = t;
            }
            while (k < s->n && !streq(s->v[k]->key, key)) {
                k++;
            }
            /* Unchanged: keep it (the retry timer re-watches a missing
             * directory). */
            if (k < s->n && streq(s->v[k]->sig, sig)) {
                s->v[k]->seen = true;
                free(key);
                free(sig);
                continue;
            }
            if (k < s->n) {
                remove_at(s, k);
            }
            add(s, p, src, key, sig);
        }
    }
    for (size_t i = s->n; i > 0; i--) {
        if (!s->v[i - 1]->seen) {
            dagd_log_info("Sensor '%s' of pipeline '%s' removed", s->v[i - 1]->name,
                          s->v[i - 1]->pipeline);
            remove_at(s, i - 1);
        }
    }
}
