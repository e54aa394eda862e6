/* MediaWiki lookups over libcurl's multi interface. See wikiclient.h.
 *
 * One loop drives everything: start ready requests (bounded by the
 * connection count, the pacing interval and any global 429 pause), let curl
 * work, collect finished transfers, sleep in curl_multi_poll() until the next
 * socket event or timer. Connections live in the multi handle's pool, so
 * consecutive requests reuse them (keep-alive) even though every request
 * gets a fresh easy handle. */
#include "wikiclient.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_dl.h"
#include "task_clock.h"

/* Request start times remembered to learn a server's rate limit. */
#define RECENT 64

/* Largest response body accepted: a batch of 50 pages is a few kB. */
#define MAX_BODY_BYTES (8u << 20)

struct job {
    size_t first, count; /* slice of the titles */
    char *cont;          /* llcontinue of the next request, or NULL */
    unsigned attempts;   /* failed attempts so far */
    uint64_t not_before; /* monotonic usec */
    bool done, running;
    CURL *easy;
    char *body;
    size_t len;
    bool too_big;
};

struct client {
    const struct dagd_wiki_client_opts *o;
    const char *const *titles;
    struct dagd_wiki_answer *answers;
    struct dagd_wiki_stats *st;
    struct job *jobs;
    size_t njobs, cap_jobs; /* cap_jobs = n: a batch can be split down to one title */
    size_t batch_cap;       /* titles per request, lowered on "toomanyvalues" */
    CURLM *multi;
    unsigned running;
    unsigned consecutive_transport;
    bool any_answer;
    uint64_t pause_until, next_start;
    uint64_t interval;       /* pacing between request starts, usec */
    uint64_t starts[RECENT]; /* ring of the latest request start times */
    unsigned n_starts;
    size_t titles_done, titles_total;
    uint64_t rng;
};

static double jitter(struct client *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}

__attribute__((format(printf, 3, 4))) static void logf_(struct client *c, int level,
                                                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!c->o->log) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->o->log(c->o->userdata, level, msg);
}

void dagd_wiki_client_defaults(struct dagd_wiki_client_opts *o)
{
    if (!o->connections || o->connections > 2) {
        o->connections = 2;
    }
    if (!o->batch || o->batch > DAGD_WIKI_MAX_TITLES) {
        o->batch = DAGD_WIKI_MAX_TITLES;
    }
    if (!o->connect_timeout_usec) {
        o->connect_timeout_usec = 10 * 1000000ULL;
    }
    if (!o->timeout_usec) {
        o->timeout_usec = 30 * 1000000ULL;
    }
    if (!o->max_attempts) {
        o->max_attempts = 8;
    }
    if (!o->max_retries) {
        o->max_retries = 200;
    }
    if (!o->unreachable_after) {
        o->unreachable_after = 4;
    }
    if (!o->backoff_base_usec) {
        o->backoff_base_usec = 500000;
    }
    if (!o->backoff_cap_usec) {
        o->backoff_cap_usec = 30 * 1000000ULL;
    }
    if (!o->retry_after_cap_usec) {
        o->retry_after_cap_usec = 120 * 1000000ULL;
    }
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct job *j = userdata;
    size_t n = size * nmemb;
    if (j->len + n > MAX_BODY_BYTES) {
        j->too_big = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    char *nb = realloc(j->body, j->len + n + 1);
    if (!nb) {
        return 0;
    }
    memcpy(nb + j->len, ptr, n);
    j->body = nb;
    j->len += n;
    j->body[j->len] = '\0';
    return n;
}

static void job_done(struct client *c, struct job *j)
{
    j->done = true;
    c->titles_done += j->count;
    if (c->o->progress) {
        c->o->progress(c->o->userdata, c->titles_done, c->titles_total);
    }
}

static void job_reset_transfer(struct client *c, struct job *j)
{
    if (j->easy) {
        curl_multi_remove_handle(c->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    free(j->body);
    j->body = NULL;
    j->len = 0;
    j->too_big = false;
    if (j->running) {
        j->running = false;
        c->running--;
    }
}

static void give_up(struct client *c, struct job *j, const char *why)
{
    if (j->done) {
        return;
    }
    job_reset_transfer(c, j);
    job_done(c, j);
    c->st->given_up++;
    logf_(c, 4, "giving up on %zu title(s) starting with '%s': %s", j->count, c->titles[j->first],
          why);
}

static void give_up_all(struct client *c, const char *why)
{
    for (size_t i = 0; i < c->njobs; i++) {
        if (!c->jobs[i].done) {
            job_reset_transfer(c, &c->jobs[i]);
            job_done(c, &c->jobs[i]);
            c->st->given_up++;
        }
    }
    logf_(c, 4, "%s: giving up the remaining lookups", why);
}

/* Schedule another attempt of j, or give up when out of attempts. */
static void retry(struct client *c, struct job *j, uint64_t retry_after, const char *why)
{
    uint64_t now = dagd__task_mono_usec();
    job_reset_transfer(c, j);
    j->attempts++;
    if (c->st->retries >= c->o->max_retries) {
        give_up_all(c, "retry budget exhausted");
        return;
    }
    if (j->attempts >= c->o->max_attempts) {
        give_up(c, j, why);
        return;
    }
    c->st->retries++;
    if (retry_after > c->o->retry_after_cap_usec) {
        retry_after = c->o->retry_after_cap_usec;
    }
    uint64_t d = dagd_wiki_backoff_usec(j->attempts, c->o->backoff_base_usec,
                                        c->o->backoff_cap_usec, retry_after, jitter(c));
    j->not_before = now + d;
    logf_(c, 7, "retry %u of a batch of %zu in %.2fs: %s", j->attempts, j->count, d / 1e6, why);
}

static int start(struct client *c, struct job *j)
{
    char *url = NULL;
    int r = dagd_wiki_build_url_limit(c->o->api, c->titles + j->first, j->count, j->cont,
                                      c->o->lllimit, &url);
    if (r < 0) {
        return r;
    }
    CURL *e = curl_easy_init();
    if (!e) {
        free(url);
        return -ENOMEM;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->o->user_agent);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->o->connect_timeout_usec / 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->o->timeout_usec / 1000));
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    /* No redirects: one could send the lookups (and take answers) from
     * any host; a moved API is a config change (finished() logs where). */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    free(url);
    CURLMcode mc = curl_multi_add_handle(c->multi, e);
    if (mc != CURLM_OK) {
        curl_easy_cleanup(e);
        return -ENOMEM;
    }
    j->easy = e;
    j->running = true;
    c->running++;
    c->st->requests++;
    return 0;
}

/* Split j after `keep` titles; the rest becomes a new batch at the end. */
static void split(struct client *c, struct job *j, size_t keep)
{
    if (keep == 0 || keep >= j->count || c->njobs == c->cap_jobs) {
        return;
    }
    struct job *nj = &c->jobs[c->njobs++];
    *nj = (struct job){.first = j->first + keep, .count = j->count - keep};
    j->count = keep;
    c->st->batches++;
}

static bool retryable_api_error(const char *code)
{
    return strcmp(code, "ratelimited") == 0 || strcmp(code, "maxlag") == 0 ||
           strcmp(code, "readonly") == 0 || strncmp(code, "internal_api_error", 18) == 0;
}

static void finished(struct client *c, struct job *j, CURLcode res)
{
    long status = 0, connects = 0;
    curl_off_t ra = 0;
    char why[160];

    if (curl_easy_getinfo(j->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0) {
        c->st->connections += (unsigned)connects;
    }

    if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && j->too_big)) {
        c->st->transport_errors++;
        c->consecutive_transport++;
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(res));
        if (!c->any_answer && c->consecutive_transport >= c->o->unreachable_after) {
            c->st->unreachable = true;
            logf_(c, 4, "API '%s' unreachable (%s)", c->o->api, why);
            give_up_all(c, "API unreachable");
            return;
        }
        retry(c, j, 0, why);
        return;
    }
    c->consecutive_transport = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(j->easy, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra < 0) {
        ra = 0;
    }
    uint64_t ra_usec = (uint64_t)ra * 1000000u;

    if (status == 429) {
        c->st->http_429++;
        /* A rate limit is about the client: pause every request, and pace
         * below the rate that was refused (requests started in the last
         * second, minus one, with 10% to spare) so it does not recur. */
        uint64_t now = dagd__task_mono_usec();
        uint64_t until = now + (ra_usec ? ra_usec : 1000000u);
        if (until > c->pause_until) {
            c->pause_until = until;
        }
        unsigned k = 0;
        for (unsigned i = 0; i < c->n_starts && i < RECENT; i++) {
            k += c->starts[i] + 1000000u > now;
        }
        uint64_t iv = (uint64_t)(1.1e6 / (k > 1 ? k - 1 : 1));
        if (iv > c->interval) {
            c->interval = iv;
            logf_(c, 5, "rate limited (HTTP 429): pacing requests to %.1f/s", 1e6 / (double)iv);
        }
        retry(c, j, ra_usec, "HTTP 429");
        return;
    }
    if (status >= 500 && status <= 599) {
        c->st->http_5xx++;
        snprintf(why, sizeof(why), "HTTP %ld", status);
        retry(c, j, ra_usec, why);
        return;
    }
    if (status >= 300 && status <= 399) {
        char *to = NULL;
        (void)curl_easy_getinfo(j->easy, CURLINFO_REDIRECT_URL, &to);
        snprintf(why, sizeof(why), "HTTP %ld redirect to '%.100s' not followed (set `api` to it)",
                 status, to ? to : "?");
        give_up(c, j, why);
        return;
    }
    if (status != 200) {
        snprintf(why, sizeof(why), "HTTP %ld", status);
        give_up(c, j, why);
        return;
    }
    c->any_answer = true;
    char *cont = NULL, *code = NULL;
    int r = j->too_big ? -EBADMSG
                       : dagd_wiki_parse(j->body ? j->body : "", j->len, c->titles + j->first,
                                         j->count, c->answers + j->first, &cont, &code);
    if (r == -EBADMSG) {
        c->st->garbage++;
        retry(c, j, ra_usec, "response is not a complete API answer");
        return;
    }
    if (r == -EPROTO) {
        c->st->api_errors++;
        snprintf(why, sizeof(why), "API error '%s'", code ? code : "?");
        if (code && strcmp(code, "toomanyvalues") == 0 && j->count > 1 && !j->cont) {
            /* The wiki takes fewer titles per request than we sent: halve
             * the batches from now on (not a retry: nothing was answered). */
            int lim = dagd_wiki_error_limit(j->body, j->len);
            size_t cap = lim > 0 && (size_t)lim < j->count ? (size_t)lim : j->count / 2;
            c->batch_cap = cap < c->batch_cap ? cap : c->batch_cap;
            logf_(c, 5, "the API takes fewer titles per request: batches of %zu", c->batch_cap);
            job_reset_transfer(c, j);
            split(c, j, c->batch_cap);
            j->not_before = 0;
        } else if (code && retryable_api_error(code)) {
            retry(c, j, ra_usec, why);
        } else {
            give_up(c, j, why);
        }
        free(code);
        return;
    }
    if (r < 0) {
        give_up(c, j, strerror(-r));
        return;
    }
    job_reset_transfer(c, j);
    free(j->cont);
    j->cont = cont;
    if (cont) {
        c->st->continues++; /* not a retry: the next page of the same batch */
        j->not_before = 0;
    } else {
        job_done(c, j);
    }
}

/* Start every job that may start now (a free connection, its backoff,
 * a 429 pause and the pace allow it). *ret_wake: the earliest time a job
 * that had to wait may start (UINT64_MAX: none); *ret_pending: some job is
 * not done. */
static int start_ready_jobs(struct client *c, uint64_t now, uint64_t *ret_wake, bool *ret_pending)
{
    uint64_t wake = UINT64_MAX;
    bool pending = false;
    for (size_t i = 0; i < c->njobs; i++) {
        struct job *j = &c->jobs[i];
        if (j->done) {
            continue;
        }
        pending = true;
        if (j->running || c->running >= c->o->connections) {
            continue;
        }
        uint64_t ready = j->not_before;
        if (c->pause_until > ready) {
            ready = c->pause_until;
        }
        if (c->next_start > ready) {
            ready = c->next_start;
        }
        if (ready > now) {
            if (ready < wake) {
                wake = ready;
            }
            continue;
        }
        while (j->count > c->batch_cap && c->njobs < c->cap_jobs) {
            split(c, j, c->batch_cap);
        }
        int r = start(c, j);
        if (r < 0) {
            return r;
        }
        c->next_start = now + c->interval;
        c->starts[c->n_starts++ % RECENT] = now;
    }
    *ret_wake = wake;
    *ret_pending = pending;
    return 0;
}

/* Drive the transfers and handle those that ended; true if any did (a slot
 * is free or a retry is scheduled). */
static bool reap_finished(struct client *c)
{
    int still = 0;
    curl_multi_perform(c->multi, &still);
    CURLMsg *msg;
    int left;
    bool progressed = false;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        struct job *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        CURLcode res = msg->data.result;
        if (j && j->easy == msg->easy_handle) {
            finished(c, j, res);
            progressed = true;
        }
    }
    return progressed;
}

/* Sleep until a transfer has news or `wake` (at most 1 s). */
static void wait_for_work(struct client *c, uint64_t wake)
{
    uint64_t now = dagd__task_mono_usec();
    int timeout_ms = 1000;
    if (wake != UINT64_MAX) {
        uint64_t ms = wake > now ? (wake - now + 999) / 1000 : 0;
        if (ms < (uint64_t)timeout_ms) {
            timeout_ms = (int)ms;
        }
    }
    if (c->running > 0 || timeout_ms > 0) {
        curl_multi_poll(c->multi, NULL, 0, timeout_ms, NULL);
    }
}

int dagd_wiki_lookup(const struct dagd_wiki_client_opts *o, const char *const *titles, size_t n,
                     struct dagd_wiki_answer *answers, struct dagd_wiki_stats *stats)
{
    struct client c = {.o = o, .titles = titles, .answers = answers, .st = stats};
    int r = 0;

    if (!o || !o->api || !o->user_agent || !titles || !answers || !stats || !o->connections ||
        !o->batch || o->batch > DAGD_WIKI_MAX_TITLES) {
        return -EINVAL;
    }
    *stats = (struct dagd_wiki_stats){0};
    if (n == 0) {
        return 0;
    }
    c.rng = o->seed ? o->seed : (uint64_t)dagd__task_mono_usec();
    c.njobs = (n + o->batch - 1) / o->batch;
    c.titles_total = n;
    stats->batches = (unsigned)c.njobs;
    c.cap_jobs = n;
    c.batch_cap = o->batch;
    c.jobs = calloc(c.cap_jobs, sizeof(*c.jobs));
    c.multi = curl_multi_init();
    if (!c.jobs || !c.multi) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < c.njobs; i++) {
        c.jobs[i].first = i * o->batch;
        c.jobs[i].count = n - c.jobs[i].first < o->batch ? n - c.jobs[i].first : o->batch;
    }
    curl_multi_setopt(c.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o->connections);
    curl_multi_setopt(c.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->connections);
    curl_multi_setopt(c.multi, CURLMOPT_MAXCONNECTS, (long)o->connections);
    c.interval = o->rate > 0 ? (uint64_t)(1e6 / o->rate) : 0;

    for (;;) {
        if (o->canceled && o->canceled(o->userdata)) {
            r = -ECANCELED;
            goto out;
        }
        uint64_t wake;
        bool pending;
        r = start_ready_jobs(&c, dagd__task_mono_usec(), &wake, &pending);
        if (r < 0) {
            goto out;
        }
        if (!pending) {
            break;
        }
        if (o->deadline_usec) {
            uint64_t now = dagd__task_mono_usec();
            if (now >= o->deadline_usec) {
                give_up_all(&c, "time budget spent");
                continue;
            }
            if (c.running == 0 && wake != UINT64_MAX && wake > o->deadline_usec) {
                /* e.g. Retry-After: 120 with less budget left: waiting
                 * would only end in giving up later */
                give_up_all(&c, "the API asks to wait past the time budget");
                continue;
            }
        }
        if (reap_finished(&c)) {
            continue; /* a slot is free or a retry is scheduled: plan again now */
        }
        wait_for_work(&c, wake);
    }
out:
    for (size_t i = 0; c.jobs && i < c.njobs; i++) {
        job_reset_transfer(&c, &c.jobs[i]);
        free(c.jobs[i].cont);
    }
    free(c.jobs);
    if (c.multi) {
        curl_multi_cleanup(c.multi);
    }
    return r;
}
