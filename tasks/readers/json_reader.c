/* Streaming JSON record reader over yajl 2 (push parser).
 *
 * Depth model: 0 = outside everything, 1 = inside the top-level array,
 * 2 = inside a record, 3+ = inside a nested value of a record. yajl hands
 * out strings that live only during the callback, so a record's strings are
 * copied into one arena (reset per record) and referenced by offset until
 * the record ends (the arena may move while it grows).
 */
#include "json_reader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "numparse.h"

#define MAX_RECORD_BYTES (64u * 1024u * 1024u)
#define MAX_NEST 64

struct slot {
    enum dagd_json_kind kind;
    int64_t i;
    double d;
    size_t off, len;
};

struct dagd_json_reader {
    yajl_handle h;
    const char *const *keys;
    size_t n_keys;
    size_t *key_len;
    dagd_json_record_fn fn;
    void *userdata;

    int depth;
    bool seen_top;
    bool ndjson; /* records at the top level, not in an array */
    bool dead;
    bool nonblank;     /* a byte other than whitespace was seen */
    unsigned bom_pos;  /* bytes of a leading BOM seen; 3 = done */
    long cur_key;      /* wanted key index of the value being read, -1 for other keys */
    uint64_t records;  /* records delivered */
    uint64_t consumed; /* bytes of previous chunks */
    uint64_t rec_offset;

    struct slot *slots;
    struct dagd_json_value *values;
    char *arena;
    size_t arena_len, arena_cap;
    char *extra;
    size_t extra_len, extra_cap;

    /* Compact serialisation of a nested value of a wanted key. */
    bool nest_capture;
    bool after_key;
    bool first[MAX_NEST + 2];

    int r;
    char err[512];
};

static const char *const kind_names[] = {"nothing",  "null",     "a boolean",     "an integer",
                                         "a number", "a string", "a nested value"};

/* Byte offset in the whole input of the parser position: yajl counts
 * within the current chunk only. */
static uint64_t cur_offset(const struct dagd_json_reader *r)
{
    return r->consumed + yajl_get_bytes_consumed(r->h);
}

static int fail(struct dagd_json_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error and returns 0, which makes yajl stop with
 * yajl_status_client_canceled; feed() then reports r->err. */
static int fail(struct dagd_json_reader *r, int code, const char *fmt, ...)
{
    va_list ap;

    if (r->r == 0) {
        r->r = code;
        va_start(ap, fmt);
        (void)vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
    }
    return 0; /* yajl: stop parsing */
}

static int grow(char **buf, size_t *cap, size_t len, size_t need)
{
    size_t ncap;
    char *nb;

    if (need > MAX_RECORD_BYTES || len > MAX_RECORD_BYTES - need) {
        return -E2BIG;
    }
    if (len + need <= *cap) {
        return 0;
    }
    ncap = *cap ? *cap : 1024;
    while (ncap < len + need) {
        ncap *= 2;
    }
    nb = realloc(*buf, ncap);
    if (!nb) {
        return -ENOMEM;
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* Record arena append; returns 1 (continue) or 0 (stop), like a yajl
 * callback, so callers can chain it with &&. */
static int append(struct dagd_json_reader *r, const void *p, size_t n)
{
    int e;

    if (n == 0) {
        return 1; /* also: the arena may still be NULL, and memcpy(NULL, ..., 0) is UB */
    }
    e = grow(&r->arena, &r->arena_cap, r->arena_len, n);
    if (e < 0) {
        return fail(r, e, "record %llu (byte offset %llu): larger than %u bytes",
                    (unsigned long long)r->records + 1, (unsigned long long)r->rec_offset,
                    MAX_RECORD_BYTES);
    }
    if (n == 0) {
        return 1; /* arena may still be NULL: NULL + 0 is undefined (found by fuzz_json) */
    }
    memcpy(r->arena + r->arena_len, p, n);
    r->arena_len += n;
    return 1;
}

/* Appends s as a JSON string literal (for nested values). */
/* Re-escapes a decoded string for the compact JSON text of a nested value. */
static int append_quoted(struct dagd_json_reader *r, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;

    if (!append(r, "\"", 1)) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char esc[6];
        size_t el = 0;
        if (s[i] == '"' || s[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)s[i];
            el = 2;
        } else if (s[i] < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[s[i] >> 4];
            esc[5] = hex[s[i] & 15];
            el = 6;
        } else {
            continue;
        }
        if (!append(r, s + start, i - start) || !append(r, esc, el)) {
            return 0;
        }
        start = i + 1;
    }
    return append(r, s + start, n - start) && append(r, "\"", 1);
}

/* Separator before an element of the nested container at the current depth. */
static int nest_sep(struct dagd_json_reader *r)
{
    if (r->after_key) {
        r->after_key = false;
        return 1;
    }
    if (!r->first[r->depth]) {
        return append(r, ",", 1);
    }
    r->first[r->depth] = false;
    return 1;
}

static const char *describe(enum dagd_json_kind k)
{
    return kind_names[k];
}

/* A scalar event, at any depth. */
/* Where a scalar may appear: at depth 0 or 1 it is a structural error
 * (the top level is not an array, an element is not an object); at depth 2 it
 * is the value of the current key; deeper, it is part of a nested value. */
static int on_scalar(struct dagd_json_reader *r, enum dagd_json_kind kind, int64_t i, double d,
                     const unsigned char *s, size_t len)
{
    struct slot *sl;

    switch (r->depth) {
    case 0:
        return fail(r, -EINVAL, "the top level is %s, not an array of records (byte offset %llu)",
                    describe(kind), (unsigned long long)cur_offset(r));
    case 1:
        return fail(r, -EINVAL, "record %llu (byte offset %llu) is %s, not an object",
                    (unsigned long long)r->records + 1, (unsigned long long)cur_offset(r),
                    describe(kind));
    case 2:
        if (r->cur_key < 0) {
            return 1;
        }
        sl = &r->slots[r->cur_key];
        sl->kind = kind;
        sl->i = i;
        sl->d = d;
        sl->len = 0;
        if (kind == DAGD_JSON_STRING) {
            sl->off = r->arena_len;
            sl->len = len;
            return append(r, s, len) && append(r, "", 1);
        }
        return 1;
    default:
        if (!r->nest_capture) {
            return 1;
        }
        if (!nest_sep(r)) {
            return 0;
        }
        switch (kind) {
        case DAGD_JSON_STRING:
            return append_quoted(r, s, len);
        case DAGD_JSON_NULL:
            return append(r, "null", 4);
        case DAGD_JSON_BOOL:
            return i ? append(r, "true", 4) : append(r, "false", 5);
        default:
            return append(r, s, len); /* numbers: their text */
        }
    }
}

static int cb_null(void *ctx)
{
    return on_scalar(ctx, DAGD_JSON_NULL, 0, 0, NULL, 0);
}

static int cb_boolean(void *ctx, int v)
{
    return on_scalar(ctx, DAGD_JSON_BOOL, v ? 1 : 0, 0, NULL, 0);
}

/* yajl_number gets the number text, so integral numbers stay integers
 * of any size up to int64 and "2.0" stays a real (bronze.sql). */
static int cb_number(void *ctx, const char *s, size_t len)
{
    struct dagd_json_reader *r = ctx;
    int64_t i = 0;
    double d = 0;
    enum dagd_num_kind k;

    if (r->depth >= 3) {
        return on_scalar(r, DAGD_JSON_INT, 0, 0, (const unsigned char *)s, len);
    }
    k = dagd_num_parse(s, len, &i, &d);
    if (k == DAGD_NUM_INT) {
        return on_scalar(r, DAGD_JSON_INT, i, 0, NULL, 0);
    }
    return on_scalar(r, DAGD_JSON_REAL, 0, d, NULL, 0);
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    }
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        unsigned lo = s[0] == 0xE0 ? 0xA0 : 0x80, hi = s[0] == 0xED ? 0x9F : 0xBF;
        return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        unsigned lo = s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* A decoded string (value or key) must be text that every later layer
 * keeps whole: `\u0000` would cut it wherever it is handled as a C string
 * (raw_orders kept "ab\0c", orders "ab"), and yajl decodes a lone low
 * surrogate (`\udc00`) to bytes that are not UTF-8 (a lone high one, `\ud800`,
 * it already turns into a question mark). Both are rejected, naming the
 * record, rather than stored differently in different tables. */
static int check_text(struct dagd_json_reader *r, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t k;
        if (s[i] == 0) {
            return fail(r, -EINVAL,
                        "record %llu (byte offset %llu): a string contains \\u0000 (NUL), "
                        "which is not allowed",
                        (unsigned long long)r->records + 1, (unsigned long long)r->rec_offset);
        }
        k = utf8_len(s + i, len - i);
        if (k == 0) {
            return fail(r, -EINVAL,
                        "record %llu (byte offset %llu): a string is not valid UTF-8 (a lone "
                        "surrogate such as \\udc00?)",
                        (unsigned long long)r->records + 1, (unsigned long long)r->rec_offset);
        }
        i += k;
    }
    return 1;
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return check_text(ctx, s, len) && on_scalar(ctx, DAGD_JSON_STRING, 0, 0, s, len);
}

static int append_extra(struct dagd_json_reader *r, const unsigned char *key, size_t len)
{
    int e;

    e = grow(&r->extra, &r->extra_cap, r->extra_len, len + 2);
    if (e < 0) {
        return fail(r, e, "record %llu (byte offset %llu): too many extra keys",
                    (unsigned long long)r->records + 1, (unsigned long long)r->rec_offset);
    }
    if (r->extra_len > 0) {
        r->extra[r->extra_len++] = ',';
    }
    memcpy(r->extra + r->extra_len, key, len);
    r->extra_len += len;
    r->extra[r->extra_len] = '\0';
    return 1;
}

/* Keys of a record select the slot of the value that follows; others
 * are listed in extra_keys. Keys inside nested values are serialised. */
static int cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct dagd_json_reader *r = ctx;

    if (!check_text(r, key, len)) {
        return 0;
    }
    if (r->depth == 2) {
        for (size_t k = 0; k < r->n_keys; k++) {
            if (r->key_len[k] == len && memcmp(r->keys[k], key, len) == 0) {
                r->cur_key = (long)k;
                return 1;
            }
        }
        r->cur_key = -1;
        return append_extra(r, key, len);
    }
    if (!r->nest_capture) {
        return 1;
    }
    if (!nest_sep(r) || !append_quoted(r, key, len) || !append(r, ":", 1)) {
        return 0;
    }
    r->after_key = true;
    return 1;
}

/* Opening [ or {: the top-level array, a record, or a nested value (which
 * is captured as text only when it is the value of a wanted key). */
static int open_container(struct dagd_json_reader *r, bool is_map)
{
    if (r->depth == 0) {
        if (is_map) {
            return fail(r, -EINVAL, "the top level is an object, not an array of records");
        }
        r->seen_top = true;
        r->depth = 1;
        return 1;
    }
    if (r->depth == 1) {
        if (!is_map) {
            return fail(r, -EINVAL, "record %llu (byte offset %llu) is an array, not an object",
                        (unsigned long long)r->records + 1, (unsigned long long)cur_offset(r) - 1);
        }
        for (size_t k = 0; k < r->n_keys; k++) {
            r->slots[k].kind = DAGD_JSON_ABSENT;
        }
        r->arena_len = 0;
        r->extra_len = 0;
        r->cur_key = -1;
        r->rec_offset = cur_offset(r) - 1;
        r->depth = 2;
        return 1;
    }
    if (r->depth >= MAX_NEST) {
        return fail(r, -EINVAL, "record %llu (byte offset %llu): nested deeper than %d levels",
                    (unsigned long long)r->records + 1, (unsigned long long)cur_offset(r),
                    MAX_NEST);
    }
    if (r->depth == 2) {
        r->nest_capture = r->cur_key >= 0;
        r->after_key = false;
        if (r->nest_capture) {
            r->slots[r->cur_key].kind = DAGD_JSON_NESTED;
            r->slots[r->cur_key].off = r->arena_len;
        }
    } else if (r->nest_capture && !nest_sep(r)) {
        return 0;
    }
    r->depth++;
    r->first[r->depth] = true;
    if (r->nest_capture) {
        return append(r, is_map ? "{" : "[", 1);
    }
    return 1;
}

/* A record is complete: resolve arena offsets to pointers and call back. */
static int emit(struct dagd_json_reader *r)
{
    struct dagd_json_record rec;
    int e;

    for (size_t k = 0; k < r->n_keys; k++) {
        const struct slot *sl = &r->slots[k];
        r->values[k] = (struct dagd_json_value){
            .kind = sl->kind,
            .i = sl->i,
            .d = sl->d,
            .s = (sl->kind == DAGD_JSON_STRING || sl->kind == DAGD_JSON_NESTED) ? r->arena + sl->off
                                                                                : NULL,
            .len = sl->len,
        };
    }
    r->records++;
    rec = (struct dagd_json_record){
        .record_no = r->records,
        .offset = r->rec_offset,
        .values = r->values,
        .n_values = r->n_keys,
        .extra_keys = r->extra_len > 0 ? r->extra : NULL,
    };
    e = r->fn(r->userdata, &rec);
    if (e < 0) {
        r->r = e;
        r->err[0] = '\0';
        return 0;
    }
    return 1;
}

static int close_container(struct dagd_json_reader *r)
{
    r->depth--;
    if (r->depth == 1) {
        return emit(r);
    }
    if (r->depth >= 2 && r->nest_capture) {
        /* closing brackets are written by the callers */
        return 1;
    }
    return 1;
}

static int cb_start_map(void *ctx)
{
    return open_container(ctx, true);
}

static int cb_start_array(void *ctx)
{
    return open_container(ctx, false);
}

/* In a captured nested value (depth >= 3) write the closing bracket; when
 * it closes the captured value itself (depth 3), end its slot with a NUL.
 * Returns like append(): 1 to continue, 0 to stop. */
static int end_nested(struct dagd_json_reader *r, const char *bracket)
{
    if (r->depth >= 3 && r->nest_capture && !append(r, bracket, 1)) {
        return 0;
    }
    if (r->depth == 3 && r->nest_capture) {
        struct slot *sl = &r->slots[r->cur_key];
        sl->len = r->arena_len - sl->off;
        if (!append(r, "", 1)) {
            return 0;
        }
    }
    return 1;
}

static int cb_end_map(void *ctx)
{
    struct dagd_json_reader *r = ctx;

    if (!end_nested(r, "}")) {
        return 0;
    }
    return close_container(r);
}

static int cb_end_array(void *ctx)
{
    struct dagd_json_reader *r = ctx;

    if (!end_nested(r, "]")) {
        return 0;
    }
    if (r->depth == 1) {
        r->depth = 0;
        return 1;
    }
    return close_container(r);
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

struct dagd_json_reader *dagd_json_reader_new(const char *const *keys, size_t n_keys,
                                              dagd_json_record_fn fn, void *userdata)
{
    struct dagd_json_reader *r = calloc(1, sizeof(*r));

    if (!r) {
        return NULL;
    }
    r->keys = keys;
    r->n_keys = n_keys;
    r->fn = fn;
    r->userdata = userdata;
    r->cur_key = -1;
    r->key_len = calloc(n_keys ? n_keys : 1, sizeof(*r->key_len));
    r->slots = calloc(n_keys ? n_keys : 1, sizeof(*r->slots));
    r->values = calloc(n_keys ? n_keys : 1, sizeof(*r->values));
    r->h = yajl_alloc(&callbacks, NULL, r);
    if (!r->key_len || !r->slots || !r->values || !r->h) {
        return dagd_json_reader_free(r);
    }
    for (size_t k = 0; k < n_keys; k++) {
        r->key_len[k] = strlen(keys[k]);
    }
    return r;
}

int dagd_json_reader_set_ndjson(struct dagd_json_reader *r)
{
    if (r->consumed > 0 || r->bom_pos > 0) {
        return -EINVAL;
    }
    /* The reader starts "inside the array": every top-level value is a
     * record, and yajl accepts one value after another. */
    (void)yajl_config(r->h, yajl_allow_multiple_values, 1);
    r->ndjson = true;
    r->seen_top = true;
    r->depth = 1;
    return 0;
}

struct dagd_json_reader *dagd_json_reader_free(struct dagd_json_reader *r)
{
    if (!r) {
        return NULL;
    }
    if (r->h) {
        yajl_free(r->h);
    }
    free(r->key_len);
    free(r->slots);
    free(r->values);
    free(r->arena);
    free(r->extra);
    free(r);
    return NULL;
}

/* Turns a yajl failure into our message: ours if a callback stopped the
 * parse, else yajl's short message with the record number and byte offset. */
static int status_error(struct dagd_json_reader *r, yajl_status st, const unsigned char *buf,
                        size_t len)
{
    unsigned char *msg;
    size_t n;

    r->dead = true;
    if (st == yajl_status_client_canceled) {
        return r->r != 0 ? r->r : -ECANCELED;
    }
    msg = yajl_get_error(r->h, 0, buf, len);
    n = msg ? strlen((char *)msg) : 0;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) {
        msg[--n] = '\0';
    }
    r->r = -EINVAL;
    (void)snprintf(r->err, sizeof(r->err), "JSON syntax error at record %llu, byte offset %llu: %s",
                   (unsigned long long)r->records + 1, (unsigned long long)cur_offset(r),
                   msg ? (char *)msg : "?");
    if (msg) {
        yajl_free_error(r->h, msg);
    }
    return r->r;
}

int dagd_json_reader_feed(struct dagd_json_reader *r, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    yajl_status st;

    if (r->dead) {
        return r->r != 0 ? r->r : -EINVAL;
    }
    /* Skip a UTF-8 byte order mark, even when split across chunks. */
    while (r->bom_pos < 3 && len > 0) {
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        if (p[0] != bom[r->bom_pos]) {
            if (r->bom_pos > 0) {
                /* a partial mark: hand its bytes to yajl, which rejects them */
                st = yajl_parse(r->h, bom, r->bom_pos);
                if (st != yajl_status_ok) {
                    return status_error(r, st, bom, r->bom_pos);
                }
            }
            r->bom_pos = 3;
            break;
        }
        r->bom_pos++;
        p++;
        len--;
        r->consumed++;
    }
    for (size_t i = 0; !r->nonblank && i < len; i++) {
        r->nonblank = !(p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r');
    }
    st = yajl_parse(r->h, p, len);
    if (st != yajl_status_ok) {
        return status_error(r, st, p, len);
    }
    r->consumed += len;
    return 0;
}

int dagd_json_reader_finish(struct dagd_json_reader *r)
{
    yajl_status st;

    if (r->dead) {
        return r->r != 0 ? r->r : -EINVAL;
    }
    if (r->depth >= 2) {
        r->dead = true;
        r->r = -EINVAL;
        (void)snprintf(r->err, sizeof(r->err),
                       "truncated JSON: the input ends inside record %llu (byte offset %llu)",
                       (unsigned long long)r->records + 1, (unsigned long long)r->consumed);
        return r->r;
    }
    if (r->depth == 1 && r->ndjson) {
        /* NDJSON: every record closed; an empty input is no records (yajl
         * would call it a premature EOF). */
        r->dead = true;
        if (!r->nonblank) {
            return 0;
        }
        st = yajl_complete_parse(r->h);
        if (st != yajl_status_ok) {
            return status_error(r, st, NULL, 0);
        }
        return 0;
    }
    if (r->depth == 1) {
        r->dead = true;
        r->r = -EINVAL;
        (void)snprintf(r->err, sizeof(r->err),
                       "truncated JSON: the input ends after record %llu, before the array is "
                       "closed (byte offset %llu)",
                       (unsigned long long)r->records, (unsigned long long)r->consumed);
        return r->r;
    }
    if (!r->nonblank) {
        r->dead = true;
        r->r = -EINVAL;
        (void)snprintf(r->err, sizeof(r->err), "empty input: expected a JSON array of records");
        return r->r;
    }
    /* May still deliver a top-level scalar whose end only EOF shows ("5"). */
    st = yajl_complete_parse(r->h);
    if (st != yajl_status_ok) {
        return status_error(r, st, NULL, 0);
    }
    r->dead = true;
    if (!r->seen_top) {
        r->r = -EINVAL;
        (void)snprintf(r->err, sizeof(r->err), "empty input: expected a JSON array of records");
        return r->r;
    }
    return 0;
}

const char *dagd_json_reader_error(const struct dagd_json_reader *r)
{
    return r->err;
}

uint64_t dagd_json_reader_records(const struct dagd_json_reader *r)
{
    return r->records;
}

uint64_t dagd_json_reader_bytes(const struct dagd_json_reader *r)
{
    return r->consumed;
}
