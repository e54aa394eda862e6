/* See warehouse_target.h. The grammar followed is libpq's (PostgreSQL 15
 * docs, 34.1.1 "Connection Strings"): keyword = value pairs separated by
 * whitespace, a value either bare or in single quotes with \' and \\; and
 * URIs postgresql://[userspec@][hostspec][/dbname][?paramspec]. */
#include "warehouse_target.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "util.h"

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool is_uri(const char *s)
{
    return has_prefix(s, "postgresql://") || has_prefix(s, "postgres://");
}

bool dagd_warehouse_is_conninfo(const char *s)
{
    if (!s) {
        return false;
    }
    if (is_uri(s)) {
        return true;
    }
    while (isspace((unsigned char)*s)) {
        s++;
    }
    const char *k = s;
    while (*s == '_' || (*s >= 'a' && *s <= 'z')) {
        s++;
    }
    if (s == k) {
        return false;
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return *s == '=';
}

/* Calls fn for each password value of S: [start, end) in S. */
typedef void (*value_fn)(void *userdata, const char *start, const char *end);

static void uri_passwords(const char *s, value_fn fn, void *userdata)
{
    const char *auth = strstr(s, "://") + 3;
    const char *end = auth + strcspn(auth, "/?");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    if (at) {
        /* the last '@' of the authority ends the userspec */
        for (const char *p = at + 1; p < end; p++) {
            if (*p == '@') {
                at = p;
            }
        }
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            fn(userdata, colon + 1, at);
        }
    }
    const char *q = strchr(end, '?');
    while (q) {
        q++;
        const char *amp = q + strcspn(q, "&");
        if (has_prefix(q, "password=")) {
            fn(userdata, q + strlen("password="), amp);
        }
        q = *amp ? amp : NULL;
    }
}

static void keyword_passwords(const char *s, value_fn fn, void *userdata)
{
    while (*s) {
        while (isspace((unsigned char)*s)) {
            s++;
        }
        const char *k = s;
        while (*s && *s != '=' && !isspace((unsigned char)*s)) {
            s++;
        }
        size_t klen = (size_t)(s - k);
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s != '=') {
            return; /* not libpq's grammar: libpq refuses it anyway */
        }
        s++;
        while (isspace((unsigned char)*s)) {
            s++;
        }
        const char *v = s;
        if (*s == '\'') {
            for (s++; *s && *s != '\''; s++) {
                if (*s == '\\' && s[1]) {
                    s++;
                }
            }
            if (*s) {
                s++;
            }
        } else {
            while (*s && !isspace((unsigned char)*s)) {
                if (*s == '\\' && s[1]) {
                    s++;
                }
                s++;
            }
        }
        if (klen == strlen("password") && strncmp(k, "password", klen) == 0) {
            fn(userdata, v, s);
        }
    }
}

static void for_each_password(const char *s, value_fn fn, void *userdata)
{
    if (is_uri(s)) {
        uri_passwords(s, fn, userdata);
    } else if (dagd_warehouse_is_conninfo(s)) {
        keyword_passwords(s, fn, userdata);
    }
}

static void count_one(void *userdata, const char *start, const char *end)
{
    (void)start;
    (void)end;
    (*(unsigned *)userdata)++;
}

int dagd_warehouse_check_conninfo(const char *s, char **reterr_msg)
{
    unsigned n = 0;

    if (!s) {
        return 0;
    }
    for_each_password(s, count_one, &n);
    if (n > 0) {
        *reterr_msg = dagd_xstrdup(
            "the warehouse connection string carries a password; it would be stored in the run "
            "history and shown in logs: remove it and give it through PGPASSWORD or a password "
            "file (PGPASSFILE, or passfile= in the connection string)");
        return -EINVAL;
    }
    return 0;
}

struct redact {
    const char *src;
    char *out;
    size_t len;
    const char *done; /* src copied up to here */
};

static void redact_one(void *userdata, const char *start, const char *end)
{
    struct redact *r = userdata;
    size_t n = (size_t)(start - r->done);

    memcpy(r->out + r->len, r->done, n);
    r->len += n;
    memcpy(r->out + r->len, "***", 3);
    r->len += 3;
    r->done = end;
}

char *dagd_warehouse_redact(const char *s)
{
    /* "***" may be longer than a one- or two-byte password: room for it */
    struct redact r = {.src = s, .out = dagd_xmalloc(strlen(s) * 2 + 8), .done = s};

    for_each_password(s, redact_one, &r);
    strcpy(r.out + r.len, r.done);
    return r.out;
}
