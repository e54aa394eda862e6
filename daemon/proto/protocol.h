/* The socket protocol (DESIGN 7): JSON lines over a Unix stream socket.
 *
 *   request:  {"v":1,"id":ID,"method":"NAME","params":{...}}
 *   reply:    {"v":1,"id":ID,"result":{...}}
 *             {"v":1,"id":ID,"error":{"code":"UPPER_WORD","message":"..."}}
 *   stream:   {"v":1,"id":ID,"event":{...}}   (zero or more, before the reply)
 *
 * ID is an integer (|id| < 2^53) or a string of at most 64 bytes. Every
 * message is one line of cJSON_PrintUnformatted output followed by "\n";
 * messages never contain raw newlines (cJSON escapes them in strings, and
 * error messages are flattened before encoding anyway).
 *
 * This module is pure: no I/O, no globals, no logging. The line splitter and
 * the request decoder are what the fuzz target exercises. Owns nothing but
 * the buffers it hands out. */
#ifndef DAGD_PROTOCOL_H
#define DAGD_PROTOCOL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define DAGD_PROTOCOL_VERSION 1
#define DAGD_PROTOCOL_MAX_LINE (1024u * 1024u) /* bytes, without the "\n" */
#define DAGD_PROTOCOL_MAX_ID_LEN 64
#define DAGD_PROTOCOL_MAX_METHOD_LEN 64
#define DAGD_PROTOCOL_MAX_DEPTH 16

/* Error codes (never reuse a retired one). */
#define DAGD_ERR_PARSE "PARSE_ERROR"
#define DAGD_ERR_INVALID_REQUEST "INVALID_REQUEST"
#define DAGD_ERR_VERSION "VERSION_MISMATCH"
#define DAGD_ERR_LINE_TOO_LONG "LINE_TOO_LONG"
#define DAGD_ERR_UNKNOWN_METHOD "UNKNOWN_METHOD"
#define DAGD_ERR_INVALID_PARAMS "INVALID_PARAMS"
#define DAGD_ERR_NOT_FOUND "NOT_FOUND"
#define DAGD_ERR_AMBIGUOUS "AMBIGUOUS"
#define DAGD_ERR_INVALID_PIPELINE "INVALID_PIPELINE"
#define DAGD_ERR_PERMISSION "PERMISSION_DENIED"
#define DAGD_ERR_BUSY "BUSY"
#define DAGD_ERR_SHUTTING_DOWN "SHUTTING_DOWN"
#define DAGD_ERR_CONFLICT "CONFLICT"
#define DAGD_ERR_INTERNAL "INTERNAL"
#define DAGD_ERR_QUEUE_FULL "QUEUE_FULL" /* a run would wait, and the queue is at its bounds */
#define DAGD_ERR_STANDBY "STANDBY"       /* a standby serves reads; the message names the leader */
#define DAGD_ERR_UNAVAILABLE "UNAVAILABLE" /* the run history cannot be reached now; retry */

/* ---- line splitting ---- */

/* Splits a byte stream into lines of at most `max` bytes. Bytes are appended
 * as they arrive (one at a time is fine: the newline search resumes where it
 * stopped, so the cost stays linear). */
struct dagd_linebuf {
    char *buf;
    size_t start; /* first byte not yet returned by next() */
    size_t tail;  /* first byte of the incomplete last line */
    size_t len;   /* bytes held */
    size_t cap;
    size_t max;         /* maximum line length, without the newline */
    size_t oversize_at; /* offset where an oversized line was dropped */
    bool oversize;      /* an oversized line is waiting to be reported */
    bool discarding;    /* inside an oversized line: drop bytes up to the next "\n" */
};

void dagd_linebuf_init(struct dagd_linebuf *lb, size_t max);
void dagd_linebuf_done(struct dagd_linebuf *lb);
/* Append bytes. Never fails (aborts on OOM); never holds more than
 * max + n bytes of an incomplete line. */
void dagd_linebuf_append(struct dagd_linebuf *lb, const char *data, size_t n);
/* Take the next complete line: returns 1 with *ret_line and *ret_len (valid
 * until the next append or next call; the line is NUL-terminated in place,
 * a trailing "\r" is removed), 0 when no complete line is buffered, or
 * -EMSGSIZE once for each line longer than max (its bytes are dropped). */
int dagd_linebuf_next(struct dagd_linebuf *lb, char **ret_line, size_t *ret_len);
/* Bytes buffered that are not yet part of a returned line. */
size_t dagd_linebuf_pending(const struct dagd_linebuf *lb);

/* ---- requests ---- */

struct dagd_request {
    cJSON *root;     /* owns everything below */
    const cJSON *id; /* number or string; NULL if absent/invalid */
    const char *method;
    const cJSON *params; /* an object (an empty one when absent) */
};

/* Decode one request line. On success returns 0 and fills *ret (free with
 * dagd_request_done). On failure returns -EINVAL (-EPROTO for a version
 * mismatch) and sets *reterr_code and *reterr_message (static strings or a new
 * string in *reterr_message_alloc, which the caller frees), and *reterr_id to
 * a new copy of the id when one could be read (else NULL). */
int dagd_request_decode(const char *line, size_t len, struct dagd_request *ret,
                        const char **reterr_code, char **reterr_message, cJSON **reterr_id);
void dagd_request_done(struct dagd_request *r);

/* ---- encoding: each returns a new "...\n" string (length in *ret_len if
 * not NULL). `id` may be NULL (encoded as null). Ownership of `result` and
 * `event` passes to the function. ---- */
char *dagd_reply_result(const cJSON *id, cJSON *result, size_t *ret_len);
char *dagd_reply_error(const cJSON *id, const char *code, const char *message, size_t *ret_len);
char *dagd_reply_event(const cJSON *id, cJSON *event, size_t *ret_len);
/* A request line (used by dagctl and tests). */
char *dagd_request_encode(long long id, const char *method, cJSON *params, size_t *ret_len);

/* Replace every control character (newlines included) of s in place by a
 * space so a message can never break a line or a terminal. Returns s. */
char *dagd_protocol_flatten(char *s);
/* true if code is UPPER_WORD: [A-Z][A-Z0-9_]*. */
bool dagd_protocol_code_valid(const char *code);

/* ---- replies, client side ---- */

struct dagd_reply {
    cJSON *root;
    const cJSON *id;
    const cJSON *result; /* exactly one of result, error, event is set */
    const cJSON *event;
    const char *error_code;
    const char *error_message;
};
/* Decode a reply line (dagctl). 0 or -EINVAL/-EPROTO. */
int dagd_reply_decode(const char *line, size_t len, struct dagd_reply *ret);
void dagd_reply_done(struct dagd_reply *r);

#endif
