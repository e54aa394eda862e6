/* See http_metrics.h. Names and units follow the OpenMetrics conventions: a
 * counter family `x` has samples `x_total`, durations are seconds with a
 * UNIT line, and the text ends in "# EOF". */
#include "http_metrics.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "schedules.h"
#include "sensors.h"

/* Step duration buckets, in ms (the `le` labels print them in seconds). */
static const int64_t bucket_ms[] = {10,   50,    100,   250,   500,    1000,   2500,
                                    5000, 10000, 30000, 60000, 300000, 900000, 3600000};
#define N_BUCKETS ELEMENTSOF(bucket_ms)

/* HTTP codes we count one by one; anything else counts as its class. */
static const unsigned http_codes[] = {200, 304, 400, 403, 404, 405, 421, 500, 503};
#define N_CODES ELEMENTSOF(http_codes)

struct pipeline_counts {
    char *name;
    uint64_t runs[_DAGD_RUN_STATUS_MAX];
    uint64_t steps[_DAGD_STEP_STATUS_MAX];
    uint64_t buckets[N_BUCKETS]; /* not cumulative; summed when printed */
    uint64_t n_timed;            /* steps with a duration (the histogram's count) */
    int64_t sum_ms;
};

struct dagd_metrics {
    struct dagd_daemon *d;
    int observer;
    bool seeded;
    struct pipeline_counts *pipes;
    size_t n_pipes;
    uint64_t requests[N_CODES + 1]; /* the last slot: other codes */
};

static struct pipeline_counts *pipeline_of(struct dagd_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n_pipes; i++) {
        if (streq(m->pipes[i].name, name)) {
            return &m->pipes[i];
        }
    }
    m->pipes = dagd_xreallocarray(m->pipes, m->n_pipes + 1, sizeof(*m->pipes));
    struct pipeline_counts *p = &m->pipes[m->n_pipes++];
    *p = (struct pipeline_counts){.name = dagd_xstrdup(name)};
    return p;
}

static void count_step(struct dagd_metrics *m, const char *pipeline, const char *status, int64_t ms)
{
    int st = status ? dagd_step_status_from_string(status) : -EINVAL;
    if (st < 0) {
        return;
    }
    struct pipeline_counts *p = pipeline_of(m, pipeline ? pipeline : "");
    p->steps[st]++;
    if (ms < 0) {
        return;
    }
    size_t b = 0;
    while (b < N_BUCKETS && ms > bucket_ms[b]) {
        b++;
    }
    if (b < N_BUCKETS) {
        p->buckets[b]++;
    }
    p->n_timed++;
    p->sum_ms += ms;
}

static void seed_run(const char *pipeline, const char *status, int64_t n, void *userdata)
{
    int st = status ? dagd_run_status_from_string(status) : -EINVAL;
    if (st >= 0) {
        pipeline_of(userdata, pipeline ? pipeline : "")->runs[st] += (uint64_t)n;
    }
}

static void seed_step(const char *pipeline, const char *status, int64_t ms, void *userdata)
{
    count_step(userdata, pipeline, status, ms);
}

static int seed(struct dagd_metrics *m)
{
    struct dagd_store *s = m->d->store;
    int r = dagd_store_runs_count_finished(s, seed_run, m);
    if (r >= 0) {
        r = dagd_store_steps_of_finished(s, seed_step, m);
    }
    if (r < 0) {
        return dagd_log_errno(LOG_ERR, r, "Failed to read the run history for metrics: %s",
                              dagd_store_errmsg(s));
    }
    m->seeded = true;
    return 0;
}

/* A run ended (it is committed by now): count it and its steps. Before the
 * first scrape the seed will find it in state.db instead. */
static void on_exec_event(const struct dagd_exec_event *ev, void *userdata)
{
    struct dagd_metrics *m = userdata;
    struct dagd_step_info *steps = NULL;
    size_t n = 0;

    if (ev->kind != DAGD_EXEC_RUN_FINISHED || !m->seeded || !ev->run_id) {
        return;
    }
    pipeline_of(m, ev->pipeline ? ev->pipeline : "")->runs[ev->run_status]++;
    if (dagd_store_steps_list(m->d->store, ev->run_id, &steps, &n) < 0) {
        dagd_log_warning("Failed to read the steps of run %s for metrics: %s, ignoring", ev->run_id,
                         dagd_store_errmsg(m->d->store));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t ms =
            steps[i].started_at && steps[i].ended_at ? steps[i].ended_at - steps[i].started_at : -1;
        count_step(m, ev->pipeline, dagd_step_status_to_string(steps[i].status), ms);
        dagd_step_info_done(&steps[i]);
    }
    free(steps);
}

struct dagd_metrics *dagd_metrics_new(struct dagd_daemon *d)
{
    struct dagd_metrics *m = dagd_xcalloc(1, sizeof(*m));
    m->d = d;
    m->observer = dagd_executor_observe(d->executor, NULL, on_exec_event, m);
    return m;
}

struct dagd_metrics *dagd_metrics_free(struct dagd_metrics *m)
{
    if (!m) {
        return NULL;
    }
    if (m->observer > 0 && m->d->executor) {
        dagd_executor_unobserve(m->d->executor, m->observer);
    }
    for (size_t i = 0; i < m->n_pipes; i++) {
        free(m->pipes[i].name);
    }
    free(m->pipes);
    free(m);
    return NULL;
}

void dagd_metrics_count_request(struct dagd_metrics *m, unsigned code)
{
    for (size_t i = 0; i < N_CODES; i++) {
        if (http_codes[i] == code) {
            m->requests[i]++;
            return;
        }
    }
    m->requests[N_CODES]++;
}

/* A label value: backslash, double quote and newline escaped (OpenMetrics
 * ABNF escaped-string). */
static void put_label(FILE *f, const char *v)
{
    for (const char *c = v ? v : ""; *c; c++) {
        if (*c == '\\' || *c == '"') {
            fputc('\\', f);
            fputc(*c, f);
        } else if (*c == '\n') {
            fputs("\\n", f);
        } else {
            fputc(*c, f);
        }
    }
}

static void family(FILE *f, const char *name, const char *type, const char *unit, const char *help)
{
    fprintf(f, "# TYPE %s %s\n", name, type);
    if (unit) {
        fprintf(f, "# UNIT %s %s\n", name, unit);
    }
    fprintf(f, "# HELP %s %s\n", name, help);
}

/* The config's pools (executor.h): size, slots held, steps waiting. */
static void render_pools(struct dagd_daemon *d, FILE *f)
{
    static const char *const names[] = {"dagd_pool_slots", "dagd_pool_slots_used",
                                        "dagd_pool_steps_waiting"};
    static const char *const help[] = {
        "Slots of each pool (daemon config pools:).", "Slots held by running steps.",
        "Ready steps waiting for the pool's slots at the last scheduling pass."};
    size_t n = dagd_executor_n_pools(d->executor);
    if (n == 0) {
        return;
    }
    for (size_t k = 0; k < ELEMENTSOF(names); k++) {
        family(f, names[k], "gauge", NULL, help[k]);
        for (size_t i = 0; i < n; i++) {
            const char *name;
            unsigned v[3];
            if (dagd_executor_pool(d->executor, i, &name, &v[0], &v[1], &v[2]) < 0) {
                continue;
            }
            fprintf(f, "%s{pool=\"", names[k]);
            put_label(f, name);
            fprintf(f, "\"} %u\n", v[k]);
        }
    }
}

/* An `le` label in canonical form (OpenMetrics: "0.25", "1.0", "60.0"). */
static void print_le(FILE *f, int64_t ms)
{
    char frac[24];
    (void)snprintf(frac, sizeof(frac), "%03" PRId64, ms % 1000);
    for (int i = 2; i > 0 && frac[i] == '0'; i--) {
        frac[i] = '\0';
    }
    fprintf(f, "%" PRId64 ".%s", ms / 1000, frac);
}

static void print_ms_as_seconds(FILE *f, int64_t ms)
{
    fprintf(f, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}

static void render_history(struct dagd_metrics *m, FILE *f)
{
    family(f, "dagd_runs", "counter", NULL, "Runs finished, by pipeline and status.");
    for (size_t i = 0; i < m->n_pipes; i++) {
        for (int st = DAGD_RUN_SUCCEEDED; st < _DAGD_RUN_STATUS_MAX; st++) {
            fputs("dagd_runs_total{pipeline=\"", f);
            put_label(f, m->pipes[i].name);
            fprintf(f, "\",status=\"%s\"} %" PRIu64 "\n", dagd_run_status_to_string(st),
                    m->pipes[i].runs[st]);
        }
    }
    family(f, "dagd_steps", "counter", NULL,
           "Steps of finished runs, by pipeline and final status.");
    for (size_t i = 0; i < m->n_pipes; i++) {
        for (int st = 0; st < _DAGD_STEP_STATUS_MAX; st++) {
            fputs("dagd_steps_total{pipeline=\"", f);
            put_label(f, m->pipes[i].name);
            fprintf(f, "\",status=\"%s\"} %" PRIu64 "\n", dagd_step_status_to_string(st),
                    m->pipes[i].steps[st]);
        }
    }
    family(f, "dagd_step_duration_seconds", "histogram", "seconds",
           "Wall time of the steps of finished runs, first start to end, by pipeline.");
    for (size_t i = 0; i < m->n_pipes; i++) {
        const struct pipeline_counts *p = &m->pipes[i];
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            fputs("dagd_step_duration_seconds_bucket{pipeline=\"", f);
            put_label(f, p->name);
            fputs("\",le=\"", f);
            if (b < N_BUCKETS) {
                cum += p->buckets[b];
                print_le(f, bucket_ms[b]);
            } else {
                cum = p->n_timed;
                fputs("+Inf", f);
            }
            fprintf(f, "\"} %" PRIu64 "\n", cum);
        }
        fputs("dagd_step_duration_seconds_count{pipeline=\"", f);
        put_label(f, p->name);
        fprintf(f, "\"} %" PRIu64 "\n", p->n_timed);
        fputs("dagd_step_duration_seconds_sum{pipeline=\"", f);
        put_label(f, p->name);
        fputs("\"} ", f);
        print_ms_as_seconds(f, p->sum_ms);
        fputc('\n', f);
    }
}

/* Schedules: the armed boundary and how late it is (0 while it lies ahead:
 * a lag above 0 for long means the loop is stuck or the daemon was down). */
static void render_triggers(struct dagd_metrics *m, FILE *f)
{
    struct dagd_daemon *d = m->d;
    int64_t now = dagd_now_wall_msec();
    cJSON *sch = d->schedules ? dagd_schedules_to_json(d->schedules) : cJSON_CreateArray();
    cJSON *sen = d->sensors ? dagd_sensors_to_json(d->sensors) : cJSON_CreateArray();
    const cJSON *it;

    family(f, "dagd_schedule_lag_seconds", "gauge", "seconds",
           "How far the armed boundary of a schedule lies in the past (0 = not due yet).");
    cJSON_ArrayForEach(it, sch)
    {
        const cJSON *next = cJSON_GetObjectItem(it, "next");
        if (!cJSON_IsNumber(next)) {
            continue;
        }
        int64_t lag = now - (int64_t)next->valuedouble;
        fputs("dagd_schedule_lag_seconds{pipeline=\"", f);
        put_label(f, cJSON_GetStringValue(cJSON_GetObjectItem(it, "pipeline")));
        fputs("\",schedule=\"", f);
        put_label(f, cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")));
        fputs("\"} ", f);
        print_ms_as_seconds(f, lag > 0 ? lag : 0);
        fputc('\n', f);
    }
    family(f, "dagd_sensor_last_tick_age_seconds", "gauge", "seconds",
           "Time since the last tick of a sensor (absent before its first).");
    cJSON_ArrayForEach(it, sen)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
        struct dagd_tick_info t = {0};
        if (!name || dagd_store_tick_last(d->store, name, "sensor", &t) < 0) {
            continue;
        }
        int64_t age = now - t.ts;
        dagd_tick_info_done(&t);
        fputs("dagd_sensor_last_tick_age_seconds{pipeline=\"", f);
        put_label(f, cJSON_GetStringValue(cJSON_GetObjectItem(it, "pipeline")));
        fputs("\",sensor=\"", f);
        put_label(f, name);
        fputs("\"} ", f);
        print_ms_as_seconds(f, age > 0 ? age : 0);
        fputc('\n', f);
    }
    cJSON_Delete(sch);
    cJSON_Delete(sen);
}

/* The daemon's own RSS (statm) and CPU (getrusage): a few syscalls. */
static void render_process(FILE *f)
{
    struct rusage ru;
    long pages = 0, rss = 0;
    _cleanup_fclose_ FILE *statm = fopen("/proc/self/statm", "re");

    if (statm && fscanf(statm, "%ld %ld", &pages, &rss) == 2) {
        family(f, "dagd_process_resident_memory_bytes", "gauge", "bytes",
               "Resident memory of the daemon.");
        fprintf(f, "dagd_process_resident_memory_bytes %ld\n", rss * sysconf(_SC_PAGESIZE));
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        uint64_t usec = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
                        (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
        family(f, "dagd_process_cpu_seconds", "counter", "seconds",
               "CPU time of the daemon (user and system).");
        fprintf(f, "dagd_process_cpu_seconds_total %" PRIu64 ".%06" PRIu64 "\n", usec / 1000000u,
                usec % 1000000u);
    }
}

/* ---- running workers ---- */

struct worker_sum {
    const char *pipeline, *step; /* borrowed during the scrape */
    unsigned n;
    uint64_t rss_bytes, cpu_usec;
};

struct worker_sums {
    struct worker_sum *v;
    size_t n;
    long page, hz;
};

/* The worker's RSS and CPU (its own, plus that of the children it waited
 * for) from /proc/PID/stat; false when it is gone. */
static bool read_proc_stat(pid_t pid, long page, long hz, uint64_t *ret_rss, uint64_t *ret_cpu)
{
    char path[64], buf[1024];
    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    /* The command name may hold spaces and ')': fields start after the last ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime, stime, cutime, cstime, rss;
    if (!p || sscanf(p + 2,
                     "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %llu %llu %*s %*s "
                     "%*s %*s %*s %*s %llu",
                     &utime, &stime, &cutime, &cstime, &rss) != 5) {
        return false;
    }
    *ret_rss = (uint64_t)rss * (uint64_t)page;
    *ret_cpu = (utime + stime + cutime + cstime) * 1000000ull / (uint64_t)hz;
    return true;
}

static void add_worker(const struct dagd_exec_attempt_info *a, void *userdata)
{
    struct worker_sums *w = userdata;
    uint64_t rss, cpu;
    if (!read_proc_stat(a->pid, w->page, w->hz, &rss, &cpu)) {
        return;
    }
    struct worker_sum *x = NULL;
    for (size_t i = 0; i < w->n && !x; i++) {
        if (streq(w->v[i].pipeline, a->pipeline) && streq(w->v[i].step, a->step)) {
            x = &w->v[i];
        }
    }
    if (!x) {
        w->v = dagd_xreallocarray(w->v, w->n + 1, sizeof(*w->v));
        x = &w->v[w->n++];
        *x = (struct worker_sum){.pipeline = a->pipeline, .step = a->step};
    }
    x->n++;
    x->rss_bytes += rss;
    x->cpu_usec += cpu;
}

static void worker_labels(FILE *f, const char *name, const struct worker_sum *x)
{
    fprintf(f, "%s{pipeline=\"", name);
    put_label(f, x->pipeline);
    fputs("\",step=\"", f);
    put_label(f, x->step);
    fputs("\"} ", f);
}

/* The step attempts running now, summed per pipeline and step (two runs of
 * one pipeline may run the same step at once): how many, their resident
 * memory and the CPU they used so far. Gauges: the sums drop when an
 * attempt ends (its figures go to the step's record, cpu_usec and
 * max_rss_kb in /api/runs/ID). A few /proc reads per running worker. */
static void render_workers(struct dagd_metrics *m, FILE *f)
{
    struct worker_sums w = {.page = sysconf(_SC_PAGESIZE), .hz = sysconf(_SC_CLK_TCK)};
    if (w.page <= 0 || w.hz <= 0) {
        return;
    }
    dagd_executor_foreach_attempt(m->d->executor, add_worker, &w);
    family(f, "dagd_workers_running", "gauge", NULL,
           "Step attempts whose worker process runs now, by pipeline and step.");
    for (size_t i = 0; i < w.n; i++) {
        worker_labels(f, "dagd_workers_running", &w.v[i]);
        fprintf(f, "%u\n", w.v[i].n);
    }
    family(f, "dagd_worker_resident_memory_bytes", "gauge", "bytes",
           "Resident memory of the running workers, by pipeline and step.");
    for (size_t i = 0; i < w.n; i++) {
        worker_labels(f, "dagd_worker_resident_memory_bytes", &w.v[i]);
        fprintf(f, "%" PRIu64 "\n", w.v[i].rss_bytes);
    }
    family(f, "dagd_worker_cpu_seconds", "gauge", "seconds",
           "CPU time (user and system, with waited-for children) the running workers used so "
           "far, by pipeline and step.");
    for (size_t i = 0; i < w.n; i++) {
        worker_labels(f, "dagd_worker_cpu_seconds", &w.v[i]);
        fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", w.v[i].cpu_usec / 1000000u,
                w.v[i].cpu_usec % 1000000u);
    }
    free(w.v);
}

char *dagd_metrics_render(struct dagd_metrics *m, unsigned n_streams, size_t *ret_len)
{
    struct dagd_daemon *d = m->d;
    char *buf = NULL;
    size_t len = 0;

    if (!m->seeded && seed(m) < 0) {
        return NULL;
    }
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        abort(); /* out of memory, as dagd_xmalloc would */
    }
    render_history(m, f);
    family(f, "dagd_runs_queued", "gauge", NULL, "Runs waiting for a slot.");
    fprintf(f, "dagd_runs_queued %zu\n", dagd_run_queue_n_queued(d->queue));
    family(f, "dagd_runs_running", "gauge", NULL, "Runs running now.");
    fprintf(f, "dagd_runs_running %zu\n", dagd_run_queue_n_running(d->queue));
    render_pools(d, f);
    family(f, "dagd_pipelines", "gauge", NULL, "Pipelines loaded, and files with errors.");
    fprintf(f, "dagd_pipelines{state=\"loaded\"} %u\n", dagd_registry_n_active(d->registry));
    fprintf(f, "dagd_pipelines{state=\"error\"} %u\n", dagd_registry_n_errors(d->registry));
    render_triggers(m, f);
    render_process(f);
    render_workers(m, f);
    family(f, "dagd_http_requests", "counter", NULL, "HTTP requests answered, by status code.");
    for (size_t i = 0; i <= N_CODES; i++) {
        if (i < N_CODES) {
            fprintf(f, "dagd_http_requests_total{code=\"%u\"} %" PRIu64 "\n", http_codes[i],
                    m->requests[i]);
        } else {
            fprintf(f, "dagd_http_requests_total{code=\"other\"} %" PRIu64 "\n", m->requests[i]);
        }
    }
    family(f, "dagd_http_streams", "gauge", NULL,
           "Live pages following a run (Server-Sent Events).");
    fprintf(f, "dagd_http_streams %u\n", n_streams);
    fputs("# EOF\n", f);
    if (fclose(f) != 0) {
        abort();
    }
    *ret_len = len;
    return buf;
}
