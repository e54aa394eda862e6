/* MediaWiki Action API pieces of translate-scrape that do no I/O: query URL
 * building, response parsing (prop=langlinks, formatversion 1 and 2),
 * title rules for Chinese place names, and retry delays. Unit-tested in
 * tests/unit/test_mediawiki.c.
 *
 * Functions return 0 or a negative errno; out-params are written only on
 * success. Strings returned are malloc'd and owned by the caller. */
#ifndef DAGD_MEDIAWIKI_H
#define DAGD_MEDIAWIKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Titles per request: the API limit for normal clients. */
#define DAGD_WIKI_MAX_TITLES 50
/* Longest title the API accepts, in bytes. */
#define DAGD_WIKI_MAX_TITLE_BYTES 255

enum dagd_wiki_state {
    DAGD_WIKI_UNKNOWN = 0, /* not answered (yet) */
    DAGD_WIKI_FOUND,       /* the page exists; `en` is its English langlink or NULL */
    DAGD_WIKI_MISSING,     /* no such page */
    DAGD_WIKI_INVALID,     /* the title is not a valid page title */
    _DAGD_WIKI_STATE_MAX,
};

const char *dagd_wiki_state_to_string(enum dagd_wiki_state s);

/* What the API said about one requested title. */
struct dagd_wiki_answer {
    enum dagd_wiki_state state;
    char *page; /* the page title after normalisation and redirects, or NULL */
    char *en;   /* English langlink title, or NULL */
};

/* Free the strings of n answers and reset them to UNKNOWN. */
void dagd_wiki_answers_done(struct dagd_wiki_answer *a, size_t n);

/* True if `title` can be sent at all: non-empty, at most
 * DAGD_WIKI_MAX_TITLE_BYTES, valid UTF-8 without control characters and
 * none of the characters MediaWiki forbids in titles (# < > [ ] | { }). */
bool dagd_wiki_title_is_valid(const char *title);

/* The query URL for up to DAGD_WIKI_MAX_TITLES titles:
 * API?action=query&format=json&formatversion=2&prop=langlinks&lllang=en
 * &lllimit=max&redirects=1&titles=A|B[&llcontinue=C]. Titles must be valid
 * (see above). Returns -EINVAL for 0 or too many titles. */
int dagd_wiki_build_url(const char *api, const char *const *titles, size_t n,
                        const char *llcontinue, char **ret_url);

/* The same with an explicit lllimit (1..500; 0 = "max"). A small limit makes
 * the API page langlinks with llcontinue (tests use it). */
int dagd_wiki_build_url_limit(const char *api, const char *const *titles, size_t n,
                              const char *llcontinue, unsigned lllimit, char **ret_url);

/* Parse one response body for the n titles it was asked for, merging into
 * answers[] (an English link found in an earlier continuation response is
 * kept). *ret_continue receives the llcontinue value when the response asks
 * for another request (NULL when the batch is complete).
 * Returns 0; -EBADMSG when the body is not a complete API response (not
 * JSON, truncated, HTML, a requested title not accounted for): retry it;
 * -EPROTO for an API error object, with its code in *reterr_code (optional,
 * malloc'd). */
int dagd_wiki_parse(const char *body, size_t len, const char *const *titles, size_t n,
                    struct dagd_wiki_answer *answers, char **ret_continue, char **reterr_code);

/* The `limit` of a "toomanyvalues" API error body (the most titles the wiki
 * takes per request), or -EINVAL if the body carries none. */
int dagd_wiki_error_limit(const char *body, size_t len);

/* True if an English title names a disambiguation page. */
bool dagd_wiki_is_disambiguation(const char *en);

/* True if a Chinese city name is a full administrative name (ends with 市,
 * 自治州, 地区, 盟, 县, 林区, 特别行政区, ...), to be looked up as it is. */
bool dagd_wiki_city_is_full_name(const char *zh);

/* The first title to try for a city: the name itself for full names, the
 * name + "市" for short ones (日照 -> 日照市). */
char *dagd_wiki_city_title(const char *zh);

/* Delay before retry number `attempt` (1 = first retry): capped exponential
 * backoff with full jitter, min(cap, base * 2^(attempt-1)) scaled by
 * `jitter` in [0, 1), but never less than `retry_after` (the server's
 * Retry-After, 0 if none). All in microseconds. */
uint64_t dagd_wiki_backoff_usec(unsigned attempt, uint64_t base, uint64_t cap, uint64_t retry_after,
                                double jitter);

#endif /* DAGD_MEDIAWIKI_H */
