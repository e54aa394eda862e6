/* Shared by the HTTP listener (http.c) and its routes (http_api.c,
 * http_assets.c): a request as the routes see it and the response they fill
 * in. Not exported beyond daemon/serve/http*.c. */
#ifndef DAGD_HTTP_INTERNAL_H
#define DAGD_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "daemon.h"

struct MHD_Connection;
struct dagd_http;
struct dagd_http_deferred;

struct dagd_http_request {
    struct dagd_daemon *d;
    struct dagd_http *http;
    struct MHD_Connection *conn;
    void **con_cls;   /* MHD's per-request slot (dagd__http_defer) */
    const char *path; /* decoded, without the query */
    bool actions;     /* http_token_file is set: POST actions exist */
};

struct dagd_http_response {
    unsigned status;
    const char *content_type;
    const char *cache_control; /* NULL = no-store */
    const char *csp;           /* NULL = the UI's Content-Security-Policy */
    char *body;                /* owned (free()) unless is_static */
    size_t len;
    bool is_static;
    bool deferred; /* no answer yet: dagd__http_defer() was called */
};

/* The request's answer comes later (a read in the pool, read_pool.h): its
 * connection is suspended until dagd__http_deferred_answer(). `abort` is
 * called on the loop, instead, when the connection ends or the listener
 * stops first; after it the handle is gone. The route sets res->deferred
 * and returns 0. */
typedef void (*dagd_http_abort_fn)(void *userdata);
struct dagd_http_deferred *dagd__http_defer(const struct dagd_http_request *req,
                                            dagd_http_abort_fn abort, void *userdata);
/* On the loop: the answer (takes res's body); the connection resumes and
 * sends it. */
void dagd__http_deferred_answer(struct dagd_http_deferred *t, struct dagd_http_response *res);

/* Fill *res with `o` as JSON (takes it). */
void dagd__http_set_json(struct dagd_http_response *res, unsigned status, cJSON *o);
/* Fill *res with {error: {code, message}}; returns 0. */
int dagd__http_set_error(struct dagd_http_response *res, unsigned status, const char *code,
                         const char *fmt, ...) _printf_(4, 5);

/* GET /api/pipelines/NAME/tables (http_tables.c): 0 with *res filled. */
int dagd__http_tables(const struct dagd_http_request *req, const char *pipeline,
                      struct dagd_http_response *res);
/* GET /api/runs/ID/report: the HTML its report step wrote, 0 with *res
 * filled (errors as JSON). */
int dagd__http_report(const struct dagd_http_request *req, const char *run_id,
                      struct dagd_http_response *res);

/* A query argument, or NULL. */
const char *dagd__http_arg(const struct dagd_http_request *req, const char *name);

/* GET /api/...: 0 with *res filled (errors too, as {error: {code,
 * message}}), -ENOENT when no route matches. */
int dagd__http_api(const struct dagd_http_request *req, struct dagd_http_response *res);

/* POST /api/... (run, cancel, retry), already authorized: 0 with *res
 * filled, -ENOENT when no route matches. */
int dagd__http_action(const struct dagd_http_request *req, struct dagd_http_response *res);

/* An embedded asset (a file of web/): 0 with a static body, or -ENOENT. "/" is
 * index.html. */
int dagd__http_asset(const char *path, struct dagd_http_response *res);

#endif
