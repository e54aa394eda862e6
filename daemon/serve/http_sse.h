/* Live pages over Server-Sent Events (GET /api/runs/ID/stream): the run
 * page and a step's log follow a run without polling. Internal to the HTTP
 * listener (http.c routes to it); owns its streams.
 *
 * A stream watches its run through the run queue (dagd_run_queue_watch)
 * and reads what to send from state.db, never from the event itself: it is
 * lazy, so a slow client holds at most one batch (~64 KiB) in memory and
 * lags behind, and a reconnect (EventSource's Last-Event-ID) resumes from
 * the store. Between events the connection is suspended in libmicrohttpd
 * (no busy loop); a heartbeat every DAGD_HTTP_SSE_HEARTBEAT_MS resumes each
 * stream, which also finds the clients that went away (a suspended
 * connection does not see a disconnect). At most `max_streams` at a time:
 * the next one gets 503 and the page polls instead.
 *
 * What a stream sends (text/event-stream):
 *   id: SEQ / event: events / data: {events: [...], last_seq}
 *       stored events after the client's `after=` (or Last-Event-ID),
 *       optionally of one `step=`, in batches
 *   event: run / data: {}          a step or the run changed: re-read
 *                                  /api/runs/ID (coalesced)
 *   event: end / data: {status}    the run is over; the server closes
 *   : keep-alive                   heartbeat */
#ifndef DAGD_HTTP_SSE_H
#define DAGD_HTTP_SSE_H

#include <stdint.h>

#include "daemon.h"

#define DAGD_HTTP_SSE_HEARTBEAT_MS 15000

struct dagd_http_sse;
struct MHD_Connection;
struct MHD_Response;

/* The stream set of one listener, with its heartbeat timer on d->loop.
 * kick(userdata) is called when a stream was resumed: the listener must
 * run MHD soon (not from within kick). */
struct dagd_http_sse *dagd_http_sse_new(struct dagd_daemon *d, unsigned max_streams,
                                        void (*kick)(void *userdata), void *userdata);
/* End every stream (each gets its end of stream at the next MHD_run) and
 * stop watching runs; call before MHD_stop_daemon (which must not see a
 * suspended connection). The set is freed when the last stream is gone and
 * the timer closed: dagd_http_sse_free() after MHD_stop_daemon. */
void dagd_http_sse_close_all(struct dagd_http_sse *s);
struct dagd_http_sse *dagd_http_sse_free(struct dagd_http_sse *s);

/* Open a stream of run_id's events after `after` (of `step` when not NULL)
 * on conn: 0 with a response to queue (200, text/event-stream), -ENOENT for
 * an unknown run, -EBUSY when max_streams are open, -EIO when the store
 * cannot be read. */
int dagd_http_sse_open(struct dagd_http_sse *s, struct MHD_Connection *conn, const char *run_id,
                       const char *step, int64_t after, struct MHD_Response **ret);

/* Streams open now (tests, metrics). */
unsigned dagd_http_sse_count(const struct dagd_http_sse *s);

#endif
