/* See protocol.h. Pure code: the fuzz target drives it directly. */
#include "protocol.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "util.h"

void dagd_linebuf_init(struct dagd_linebuf *lb, size_t max)
{
    *lb = (struct dagd_linebuf){.max = max};
}

void dagd_linebuf_done(struct dagd_linebuf *lb)
{
    free(lb->buf);
    *lb = (struct dagd_linebuf){.max = lb->max};
}

size_t dagd_linebuf_pending(const struct dagd_linebuf *lb)
{
    return lb->len - lb->start;
}

/* Drop returned lines from the front so the buffer grows with the longest
 * line a client sends, not with the number of lines. */
static void linebuf_compact(struct dagd_linebuf *lb)
{
    if (lb->start == 0) {
        return;
    }
    memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
    lb->len -= lb->start;
    lb->tail -= lb->start;
    if (lb->oversize) {
        lb->oversize_at -= lb->start;
    }
    lb->start = 0;
}

static void linebuf_reserve(struct dagd_linebuf *lb, size_t n)
{
    if (lb->len + n + 1 <= lb->cap) {
        return;
    }
    linebuf_compact(lb);
    if (lb->len + n + 1 <= lb->cap) {
        return;
    }
    size_t cap = lb->cap ? lb->cap : 256;
    while (cap < lb->len + n + 1) {
        cap *= 2;
    }
    lb->buf = dagd_xrealloc(lb->buf, cap);
    lb->cap = cap;
}

/* Forget the incomplete line and remember where to report it. Only the
 * first unreported oversized line is kept: the server drops the client
 * after reporting it anyway. */
static void linebuf_drop_tail(struct dagd_linebuf *lb)
{
    lb->len = lb->tail;
    if (!lb->oversize) {
        lb->oversize = true;
        lb->oversize_at = lb->tail;
    }
}

void dagd_linebuf_append(struct dagd_linebuf *lb, const char *data, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) + 1 : n;
        if (lb->discarding) {
            /* Inside an oversized line: nothing is kept up to its newline. */
            if (nl) {
                lb->discarding = false;
            }
        } else {
            size_t line_len = lb->len - lb->tail + chunk - (nl ? 1 : 0);
            if (line_len > lb->max) {
                linebuf_drop_tail(lb);
                lb->discarding = !nl;
            } else {
                linebuf_reserve(lb, chunk);
                memcpy(lb->buf + lb->len, data, chunk);
                lb->len += chunk;
                if (nl) {
                    lb->tail = lb->len;
                }
            }
        }
        data += chunk;
        n -= chunk;
    }
}

int dagd_linebuf_next(struct dagd_linebuf *lb, char **ret_line, size_t *ret_len)
{
    if (lb->oversize && lb->start == lb->oversize_at) {
        lb->oversize = false;
        return -EMSGSIZE;
    }
    if (lb->start >= lb->tail) {
        return 0; /* no complete line */
    }
    char *line = lb->buf + lb->start;
    char *nl = memchr(line, '\n', lb->tail - lb->start);
    assert(nl);
    size_t len = (size_t)(nl - line);
    lb->start += len + 1;
    *nl = '\0';
    if (len > 0 && line[len - 1] == '\r') {
        line[--len] = '\0';
    }
    if (lb->start == lb->len && !lb->oversize) {
        /* Everything consumed: the next append starts at offset 0 again.
         * The returned line stays valid until then. */
        lb->start = lb->tail = lb->len = 0;
    }
    *ret_line = line;
    *ret_len = len;
    return 1;
}

/* ---- requests ---- */

char *dagd_protocol_flatten(char *s)
{
    for (unsigned char *p = (unsigned char *)s; p && *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        }
    }
    return s;
}

bool dagd_protocol_code_valid(const char *code)
{
    if (!code || !(code[0] >= 'A' && code[0] <= 'Z')) {
        return false;
    }
    for (const char *p = code; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            return false;
        }
    }
    return true;
}

/* An id is an integer that a double represents exactly, or a short string. */
static bool id_valid(const cJSON *id)
{
    if (cJSON_IsNumber(id)) {
        double d = id->valuedouble;
        return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
    }
    if (cJSON_IsString(id)) {
        return strlen(id->valuestring) <= DAGD_PROTOCOL_MAX_ID_LEN;
    }
    return false;
}

static int json_depth(const cJSON *j, int depth)
{
    int max = depth;
    if (depth > DAGD_PROTOCOL_MAX_DEPTH) {
        return depth;
    }
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
        int d = json_depth(c, depth + 1);
        if (d > max) {
            max = d;
        }
        if (max > DAGD_PROTOCOL_MAX_DEPTH) {
            break;
        }
    }
    return max;
}

/* JSON text is UTF-8 (RFC 8259 8.1) and every string a request carries ends
 * up in replies, logs and the store, where invalid bytes would make the
 * output unreadable to strict decoders (Python's json, dagctl --json): so
 * the line is checked here, at the boundary, before anything is parsed. A
 * "\u0000" escape is refused too: cJSON would cut the string at it, so the
 * value used would silently differ from the one sent. Returns the offset of
 * the first offending byte and what is wrong, or false if the line is clean. */
static bool line_unclean(const char *line, size_t len, size_t *ret_off, const char **ret_what)
{
    size_t bad;
    if (!dagd_utf8_valid(line, len, &bad)) {
        *ret_off = bad;
        *ret_what = "invalid UTF-8";
        return true;
    }
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"') {
            in_string = !in_string;
        } else if (in_string && line[i] == '\\') {
            if (i + 5 < len && line[i + 1] == 'u' && memcmp(line + i + 2, "0000", 4) == 0) {
                *ret_off = i;
                *ret_what = "\\u0000 (NUL) in a string";
                return true;
            }
            i++; /* the escaped character cannot end the string */
        }
    }
    return false;
}

void dagd_request_done(struct dagd_request *r)
{
    cJSON_Delete(r->root);
    *r = (struct dagd_request){0};
}

int dagd_request_decode(const char *line, size_t len, struct dagd_request *ret,
                        const char **reterr_code, char **reterr_message, cJSON **reterr_id)
{
    const char *code = DAGD_ERR_INVALID_REQUEST;
    char *msg = NULL;
    int r = -EINVAL;
    cJSON *root = NULL;
    const cJSON *id = NULL;

    if (len > DAGD_PROTOCOL_MAX_LINE) {
        code = DAGD_ERR_LINE_TOO_LONG;
        msg = dagd_xasprintf("line longer than %u bytes", DAGD_PROTOCOL_MAX_LINE);
        goto fail;
    }
    if (memchr(line, '\0', len)) {
        code = DAGD_ERR_PARSE;
        msg = dagd_xstrdup("NUL byte in request");
        goto fail;
    }
    size_t bad;
    const char *what;
    if (line_unclean(line, len, &bad, &what)) {
        code = DAGD_ERR_PARSE;
        msg = dagd_xasprintf("%s at byte %zu (requests must be UTF-8 JSON)", what, bad);
        goto fail;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(line, len, &end, false);
    if (!root) {
        size_t off = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
        code = DAGD_ERR_PARSE;
        msg = dagd_xasprintf("invalid JSON at byte %zu", off);
        goto fail;
    }
    /* Only whitespace may follow the object. */
    for (const char *p = end; p && p < line + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r') {
            code = DAGD_ERR_PARSE;
            msg = dagd_xasprintf("trailing data at byte %zu", (size_t)(p - line));
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        msg = dagd_xstrdup("request is not a JSON object");
        goto fail;
    }
    if (json_depth(root, 0) > DAGD_PROTOCOL_MAX_DEPTH) {
        msg = dagd_xasprintf("request nested deeper than %d levels", DAGD_PROTOCOL_MAX_DEPTH);
        goto fail;
    }
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (jid && id_valid(jid)) {
        id = jid;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (!cJSON_IsNumber(v)) {
        msg = dagd_xstrdup("missing protocol version \"v\"");
        goto fail;
    }
    if (v->valuedouble != DAGD_PROTOCOL_VERSION) {
        code = DAGD_ERR_VERSION;
        msg = dagd_xasprintf("protocol version %g not supported (this daemon speaks %d)",
                             v->valuedouble, DAGD_PROTOCOL_VERSION);
        r = -EPROTO;
        goto fail;
    }
    if (!jid) {
        msg = dagd_xstrdup("missing \"id\"");
        goto fail;
    }
    if (!id) {
        msg = dagd_xasprintf("\"id\" must be an integer or a string of at most %d bytes",
                             DAGD_PROTOCOL_MAX_ID_LEN);
        goto fail;
    }
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    if (!cJSON_IsString(method) || method->valuestring[0] == '\0' ||
        strlen(method->valuestring) > DAGD_PROTOCOL_MAX_METHOD_LEN) {
        msg = dagd_xstrdup("\"method\" must be a non-empty string");
        goto fail;
    }
    cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (!params || cJSON_IsNull(params)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "params");
        params = cJSON_AddObjectToObject(root, "params");
    } else if (!cJSON_IsObject(params)) {
        msg = dagd_xstrdup("\"params\" must be an object");
        goto fail;
    }
    *ret = (struct dagd_request){
        .root = root,
        .id = id,
        .method = method->valuestring,
        .params = params,
    };
    return 0;

fail:
    *reterr_code = code;
    *reterr_message = dagd_protocol_flatten(msg);
    *reterr_id = id ? cJSON_Duplicate(id, true) : NULL;
    cJSON_Delete(root);
    return r;
}

/* ---- encoding ---- */

static char *finish(cJSON *root, size_t *ret_len)
{
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) {
        abort(); /* cJSON only fails on OOM; see util.h on OOM policy */
    }
    /* Grown in place, not copied: a 1 MB reply needed twice its size at
     * once before. cJSON allocates with malloc (no hooks are installed). */
    size_t n = strlen(s);
    char *out = dagd_xrealloc(s, n + 2);
    out[n] = '\n';
    out[n + 1] = '\0';
    if (ret_len) {
        *ret_len = n + 1;
    }
    return out;
}

static cJSON *envelope(const cJSON *id)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "v", DAGD_PROTOCOL_VERSION);
    cJSON_AddItemToObject(root, "id", id ? cJSON_Duplicate(id, true) : cJSON_CreateNull());
    return root;
}

char *dagd_reply_result(const cJSON *id, cJSON *result, size_t *ret_len)
{
    cJSON *root = envelope(id);
    cJSON_AddItemToObject(root, "result", result ? result : cJSON_CreateObject());
    return finish(root, ret_len);
}

char *dagd_reply_event(const cJSON *id, cJSON *event, size_t *ret_len)
{
    cJSON *root = envelope(id);
    cJSON_AddItemToObject(root, "event", event ? event : cJSON_CreateObject());
    return finish(root, ret_len);
}

char *dagd_reply_error(const cJSON *id, const char *code, const char *message, size_t *ret_len)
{
    cJSON *root = envelope(id);
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "code", dagd_protocol_code_valid(code) ? code : DAGD_ERR_INTERNAL);
    _cleanup_free_ char *m = dagd_xstrdup(message ? message : "");
    cJSON_AddStringToObject(err, "message", dagd_protocol_flatten(m));
    return finish(root, ret_len);
}

char *dagd_request_encode(long long id, const char *method, cJSON *params, size_t *ret_len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "v", DAGD_PROTOCOL_VERSION);
    cJSON_AddNumberToObject(root, "id", (double)id);
    cJSON_AddStringToObject(root, "method", method);
    cJSON_AddItemToObject(root, "params", params ? params : cJSON_CreateObject());
    return finish(root, ret_len);
}

void dagd_reply_done(struct dagd_reply *r)
{
    cJSON_Delete(r->root);
    *r = (struct dagd_reply){0};
}

int dagd_reply_decode(const char *line, size_t len, struct dagd_reply *ret)
{
    cJSON *root = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -EINVAL;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != DAGD_PROTOCOL_VERSION) {
        cJSON_Delete(root);
        return -EPROTO;
    }
    struct dagd_reply r = {
        .root = root,
        .id = cJSON_GetObjectItemCaseSensitive(root, "id"),
        .result = cJSON_GetObjectItemCaseSensitive(root, "result"),
        .event = cJSON_GetObjectItemCaseSensitive(root, "event"),
    };
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (err) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(err, "code");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
        if (!cJSON_IsString(c)) {
            cJSON_Delete(root);
            return -EINVAL;
        }
        r.error_code = c->valuestring;
        r.error_message = cJSON_IsString(m) ? m->valuestring : "";
    }
    if (!!r.result + !!r.event + !!err != 1) {
        cJSON_Delete(root);
        return -EINVAL;
    }
    *ret = r;
    return 0;
}
