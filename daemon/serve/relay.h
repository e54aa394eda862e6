/* The leader's side of a standby's requests (docs/postgresql.md "Two
 * daemons, one history"): a standby records a run it was asked for as a
 * row of the durable queue and says so with pg_notify, and relays a cancel
 * the same way; the leader LISTENs on a connection of its own
 * (dagd_store_listener), polls its socket on the loop, and takes each
 * request up: a run id to adopt, a run id to cancel. When that connection
 * drops it is made again every second, and then the whole durable queue is
 * read again, so a run recorded meanwhile is taken up too. Logs (an edge:
 * requests from another process). Single-threaded (the loop). */
#ifndef DAGD_RELAY_H
#define DAGD_RELAY_H

#include <uv.h>

#include "run_queue.h"

/* Payloads on DAGD_STORE_CHANNEL: "run ID", "cancel ID", "queue" (read
 * the durable queue: a backfill's runs) and "backfill-cancel ID". */
#define DAGD_RELAY_RUN "run "
#define DAGD_RELAY_CANCEL "cancel "
#define DAGD_RELAY_QUEUE "queue"
#define DAGD_RELAY_BACKFILL_CANCEL "backfill-cancel "

/* Take up the queued row of `run_id` from the history (NULL: every queued
 * row this daemon does not hold yet): the daemon's (daemon.c). 0, or
 * -errno when the history could not be read (the relay tries a full read
 * again a second later). */
typedef int (*dagd_relay_take_fn)(void *userdata, const char *run_id);

struct dagd_relay_host {
    uv_loop_t *loop;
    struct dagd_run_queue *queue; /* cancels go here */
    const char *conninfo;         /* the history's; borrowed */
    dagd_relay_take_fn take;
    void *userdata;
};

struct dagd_relay;

/* Connect and LISTEN (blocks for the connect; when the server does not
 * answer, the relay tries again every second). Never fails: allocation
 * aborts on OOM. The host is copied, its pointers borrowed. */
struct dagd_relay *dagd_relay_new(const struct dagd_relay_host *host);
/* Stop listening; freed once its handles closed. NULL is fine; returns
 * NULL. */
struct dagd_relay *dagd_relay_free(struct dagd_relay *r);

#endif
