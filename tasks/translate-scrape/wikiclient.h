/* HTTP side of translate-scrape: look titles up through the MediaWiki
 * Action API with libcurl's multi interface.
 *
 * Titles go in batches (up to 50 per request), at most `connections`
 * requests in flight over kept-alive connections, paced to `rate` requests
 * per second. `continue`/`llcontinue` is followed. HTTP 429 pauses every
 * request for Retry-After (a rate limit applies to the client); 5xx, garbage
 * bodies (not JSON, truncated, HTML) and transport errors retry that request
 * after a capped exponential backoff with jitter, never sooner than
 * Retry-After. Retries are bounded per request and in total; after
 * `unreachable_after` consecutive transport failures without any answer the
 * API is declared unreachable and the rest is given up; so is everything
 * left at `deadline_usec`. Redirects are not followed (a 3xx gives up that
 * request, naming where it pointed). Titles not answered
 * stay DAGD_WIKI_UNKNOWN: the caller falls back to the dictionary. */
#ifndef DAGD_WIKICLIENT_H
#define DAGD_WIKICLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mediawiki.h"

typedef bool (*dagd_wiki_canceled_fn)(void *userdata);
typedef void (*dagd_wiki_log_fn)(void *userdata, int level, const char *msg);
typedef void (*dagd_wiki_progress_fn)(void *userdata, size_t titles_done, size_t titles_total);

struct dagd_wiki_client_opts {
    const char *api;        /* .../w/api.php */
    const char *user_agent; /* "dagd/VERSION (+contact) libcurl/X" */
    unsigned connections;   /* 1..2 */
    unsigned batch;         /* titles per request, 1..50 */
    double rate;            /* max request starts per second; 0 = no pacing */
    uint64_t connect_timeout_usec, timeout_usec;
    unsigned max_attempts;      /* per request (first try included) */
    unsigned max_retries;       /* in total */
    unsigned unreachable_after; /* consecutive transport failures */
    uint64_t backoff_base_usec, backoff_cap_usec;
    uint64_t retry_after_cap_usec; /* longest Retry-After honoured */
    /* Monotonic time (dagd__task_mono_usec) after which every lookup not
     * answered is given up, and earlier when a 429 pause or backoff would
     * end past it; 0 = none. Bounds a rate-limited or slow API. */
    uint64_t deadline_usec;
    uint64_t seed;    /* jitter */
    unsigned lllimit; /* langlinks per response, 0 = max (tests page with less) */
    dagd_wiki_canceled_fn canceled;
    dagd_wiki_log_fn log;           /* level: syslog numbering */
    dagd_wiki_progress_fn progress; /* optional, after every finished batch */
    void *userdata;
};

struct dagd_wiki_stats {
    unsigned requests; /* HTTP requests started */
    unsigned batches;  /* requests needed without faults */
    unsigned retries;
    unsigned http_429, http_5xx, garbage, transport_errors, api_errors, continues;
    unsigned given_up;    /* batches abandoned (budget, errors, unreachable) */
    unsigned connections; /* new connections opened (keep-alive reuses them) */
    bool unreachable;
};

/* Fill in defaults for every zero field of *o (except api/user_agent). */
void dagd_wiki_client_defaults(struct dagd_wiki_client_opts *o);

/* Look up n distinct valid titles; answers[] (n entries, zeroed by the
 * caller) receives what the API said. Returns 0 (some answers may still be
 * UNKNOWN: see stats), -ECANCELED, -ENOMEM or -EINVAL. */
int dagd_wiki_lookup(const struct dagd_wiki_client_opts *o, const char *const *titles, size_t n,
                     struct dagd_wiki_answer *answers, struct dagd_wiki_stats *stats);

#endif /* DAGD_WIKICLIENT_H */
