/* MediaWiki Action API pieces without I/O. See mediawiki.h.
 *
 * Response shapes follow MediaWiki's ApiPageSet / ApiQueryLangLinks:
 * formatversion=2 gives "pages" as a list, boolean flags as true and
 * langlinks as {lang, title}; formatversion=1 gives "pages" as an object
 * keyed by page id, flags as "" and langlinks as {lang, "*"}. We ask for 2
 * but accept both, so a proxy or an old wiki does not break us. */
#include "mediawiki.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[_DAGD_WIKI_STATE_MAX] = {
    [DAGD_WIKI_UNKNOWN] = "unknown",
    [DAGD_WIKI_FOUND] = "found",
    [DAGD_WIKI_MISSING] = "missing",
    [DAGD_WIKI_INVALID] = "invalid",
};

const char *dagd_wiki_state_to_string(enum dagd_wiki_state s)
{
    return (unsigned)s < _DAGD_WIKI_STATE_MAX ? state_names[s] : NULL;
}

void dagd_wiki_answers_done(struct dagd_wiki_answer *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].page);
        free(a[i].en);
        a[i] = (struct dagd_wiki_answer){0};
    }
}

/* Length of the UTF-8 sequence at s, or 0 if it is not well-formed. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) {
        return 1;
    }
    size_t n = (s[0] & 0xe0) == 0xc0   ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0 || (n == 2 && s[0] < 0xc2)) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

bool dagd_wiki_title_is_valid(const char *title)
{
    if (!title || !*title || strlen(title) > DAGD_WIKI_MAX_TITLE_BYTES) {
        return false;
    }
    const unsigned char *s = (const unsigned char *)title;
    bool nonblank = false;
    while (*s) {
        size_t n = utf8_len(s);
        if (n == 0) {
            return false;
        }
        if (n == 1) {
            if (*s < 0x20 || *s == 0x7f || strchr("#<>[]|{}", *s)) {
                return false;
            }
            nonblank |= *s != ' ' && *s != '_';
        } else {
            nonblank = true;
        }
        s += n;
    }
    return nonblank;
}

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (!np) {
            return -ENOMEM;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static int buf_add_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int r;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            r = buf_add(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            r = buf_add(b, e, 3);
        }
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

int dagd_wiki_build_url(const char *api, const char *const *titles, size_t n,
                        const char *llcontinue, char **ret_url)
{
    return dagd_wiki_build_url_limit(api, titles, n, llcontinue, 0, ret_url);
}

int dagd_wiki_build_url_limit(const char *api, const char *const *titles, size_t n,
                              const char *llcontinue, unsigned lllimit, char **ret_url)
{
    struct buf b = {0};
    char lim[16] = "max";
    int r = 0;

    if (!api || !titles || !ret_url || n == 0 || n > DAGD_WIKI_MAX_TITLES || lllimit > 500) {
        return -EINVAL;
    }
    if (lllimit) {
        snprintf(lim, sizeof(lim), "%u", lllimit);
    }
    r |= buf_adds(&b, api);
    r |= buf_adds(&b, strchr(api, '?') ? "&" : "?");
    r |= buf_adds(&b, "action=query&format=json&formatversion=2&prop=langlinks&lllang=en"
                      "&redirects=1&lllimit=");
    r |= buf_adds(&b, lim);
    r |= buf_adds(&b, "&titles=");
    for (size_t i = 0; i < n; i++) {
        if (!dagd_wiki_title_is_valid(titles[i])) {
            free(b.p);
            return -EINVAL;
        }
        if (i > 0) {
            r |= buf_adds(&b, "%7C");
        }
        r |= buf_add_escaped(&b, titles[i]);
    }
    if (llcontinue) {
        r |= buf_adds(&b, "&llcontinue=");
        r |= buf_add_escaped(&b, llcontinue);
    }
    if (r < 0) {
        free(b.p);
        return -ENOMEM;
    }
    *ret_url = b.p;
    return 0;
}

/* A MediaWiki flag: present and "" (formatversion 1) or true (2). */
static bool flag(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsFalse(v) && !cJSON_IsNull(v);
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Map a title through a list of {from, to} objects; NULL if not in it. */
static const char *map_title(const cJSON *list, const char *t)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        const char *from = str(e, "from"), *to = str(e, "to");
        if (from && to && strcmp(from, t) == 0) {
            return to;
        }
    }
    return NULL;
}

/* The title the answer lists a requested title's page under: normalized
 * first, then redirects followed for at most 8 hops (a redirect loop in a
 * body ends there instead of spinning). */
static const char *resolve_title(const cJSON *normalized, const cJSON *redirects, const char *t)
{
    const char *nt = map_title(normalized, t);
    t = nt ? nt : t;
    for (int hop = 0; hop < 8; hop++) {
        const char *to = map_title(redirects, t);
        if (!to || strcmp(to, t) == 0) {
            break;
        }
        t = to;
    }
    return t;
}

static const cJSON *find_page(const cJSON *pages, const char *title)
{
    const cJSON *pg;
    cJSON_ArrayForEach(pg, pages)
    {
        const char *t = str(pg, "title");
        if (t && strcmp(t, title) == 0) {
            return pg;
        }
    }
    return NULL;
}

static const char *english_link(const cJSON *page)
{
    const cJSON *ll;
    cJSON_ArrayForEach(ll, cJSON_GetObjectItemCaseSensitive(page, "langlinks"))
    {
        const char *lang = str(ll, "lang");
        const char *t = str(ll, "title");
        if (!t) {
            t = str(ll, "*");
        }
        if (lang && t && *t && strcmp(lang, "en") == 0) {
            return t;
        }
    }
    return NULL;
}

static int set_str(char **dst, const char *s)
{
    if (*dst || !s) {
        return 0;
    }
    *dst = strdup(s);
    return *dst ? 0 : -ENOMEM;
}

int dagd_wiki_parse(const char *body, size_t len, const char *const *titles, size_t n,
                    struct dagd_wiki_answer *answers, char **ret_continue, char **reterr_code)
{
    const char *end = NULL;
    int r = 0;

    if (!body || !titles || !answers) {
        return -EINVAL;
    }
    /* Require the whole body to be one JSON value (a truncated body or one
     * with trailing bytes is garbage). */
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -EBADMSG;
    }
    while (end && end < body + len && strchr(" \t\r\n", *end)) {
        end++;
    }
    if (end != body + len) {
        cJSON_Delete(root);
        return -EBADMSG;
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (err) {
        if (reterr_code) {
            const char *code = str(err, "code");
            *reterr_code = strdup(code ? code : "unknown");
        }
        cJSON_Delete(root);
        return -EPROTO;
    }
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(root, "continue");
    const char *llcont = str(cont, "llcontinue");
    bool complete = flag(root, "batchcomplete");
    const cJSON *query = cJSON_GetObjectItemCaseSensitive(root, "query");
    const cJSON *pages = cJSON_GetObjectItemCaseSensitive(query, "pages");
    if ((!complete && !llcont) || (n > 0 && !pages) ||
        (pages && !cJSON_IsArray(pages) && !cJSON_IsObject(pages))) {
        cJSON_Delete(root);
        return -EBADMSG;
    }
    const cJSON *normalized = cJSON_GetObjectItemCaseSensitive(query, "normalized");
    const cJSON *redirects = cJSON_GetObjectItemCaseSensitive(query, "redirects");

    /* First pass: every requested title must be accounted for, or the body
     * is not what we asked for. */
    for (size_t i = 0; i < n; i++) {
        const cJSON *pg = find_page(pages, resolve_title(normalized, redirects, titles[i]));
        if (!pg) {
            r = -EBADMSG;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = resolve_title(normalized, redirects, titles[i]);
        const cJSON *pg = find_page(pages, t);
        struct dagd_wiki_answer *a = &answers[i];
        if (flag(pg, "invalid")) {
            a->state = DAGD_WIKI_INVALID;
        } else if (flag(pg, "missing") || flag(pg, "interwiki")) {
            a->state = DAGD_WIKI_MISSING;
        } else {
            a->state = DAGD_WIKI_FOUND;
            if (set_str(&a->page, t) < 0 || set_str(&a->en, english_link(pg)) < 0) {
                r = -ENOMEM;
                goto out;
            }
        }
    }
    if (ret_continue) {
        *ret_continue = NULL;
        if (llcont && !(*ret_continue = strdup(llcont))) {
            r = -ENOMEM;
        }
    }
out:
    cJSON_Delete(root);
    return r;
}

int dagd_wiki_error_limit(const char *body, size_t len)
{
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *lim =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "error"), "limit");
    int r = cJSON_IsNumber(lim) && lim->valuedouble >= 1 && lim->valuedouble <= 5000
                ? (int)lim->valuedouble
                : -EINVAL;
    cJSON_Delete(root);
    return r;
}

bool dagd_wiki_is_disambiguation(const char *en)
{
    return en && (strstr(en, "(disambiguation)") || strstr(en, "(Disambiguation)"));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool dagd_wiki_city_is_full_name(const char *zh)
{
    /* Not plain "州": 广州 and 杭州 are short names. */
    static const char *const suffixes[] = {"市", "自治州", "地区",       "盟",
                                           "县", "林区",   "特别行政区", NULL};
    if (!zh) {
        return false;
    }
    for (size_t i = 0; suffixes[i]; i++) {
        if (ends_with(zh, suffixes[i])) {
            return true;
        }
    }
    return false;
}

char *dagd_wiki_city_title(const char *zh)
{
    if (!zh) {
        return NULL;
    }
    if (dagd_wiki_city_is_full_name(zh)) {
        return strdup(zh);
    }
    size_t n = strlen(zh);
    char *t = malloc(n + sizeof("市"));
    if (t) {
        memcpy(t, zh, n);
        memcpy(t + n, "市", sizeof("市"));
    }
    return t;
}

uint64_t dagd_wiki_backoff_usec(unsigned attempt, uint64_t base, uint64_t cap, uint64_t retry_after,
                                double jitter)
{
    uint64_t d = base;
    for (unsigned i = 1; i < attempt && d < cap; i++) {
        d *= 2;
    }
    if (d > cap) {
        d = cap;
    }
    if (jitter < 0 || jitter >= 1) {
        jitter = 0;
    }
    /* "Equal jitter": half fixed, half random, so retries of a burst spread
     * out but never come back immediately. */
    d = d / 2 + (uint64_t)((double)(d - d / 2) * jitter);
    return d > retry_after ? d : retry_after;
}
