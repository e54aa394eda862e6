/* The run history's PostgreSQL connection on the daemon's loop (store.h
 * "PostgreSQL on an event loop"): a uv_poll on the connection's socket and
 * a uv_timer for reconnect attempts, both calling dagd_store_process_io().
 * state/ knows no libuv; this is the only place that puts the two
 * together. On SQLite nothing is created. */
#ifndef DAGD_STORE_IO_H
#define DAGD_STORE_IO_H

#include <uv.h>

struct dagd_store;
struct dagd_store_io_driver;

/* Start driving `store` on `loop`: from now on its batched writes go
 * without waiting. Returns NULL on SQLite (nothing to drive). */
struct dagd_store_io_driver *dagd_store_io_driver_new(uv_loop_t *loop, struct dagd_store *store);
/* Stop: the store waits for its answers again (its last writes are
 * flushed when it is freed); the handles close on the loop's next run and
 * free the driver. Accepts NULL; returns NULL. */
struct dagd_store_io_driver *dagd_store_io_driver_free(struct dagd_store_io_driver *d);

/* Call fn(userdata, r) on `loop` once everything queued on `store` so far
 * has the server's answer (dagd_store_fence): r 0, or -EIO when the server
 * went away first. fn comes in the loop iteration the answer arrived in,
 * before the loop waits again, whichever callback read it (the driver, or
 * a read on the loop that waited for its own answer). Returns NULL,
 * without calling fn, when that is true already (SQLite, or nothing
 * unanswered): the caller goes on at once. */
struct dagd_store_settle;
typedef void (*dagd_store_settle_fn)(void *userdata, int r);
struct dagd_store_settle *dagd_store_settle(uv_loop_t *loop, struct dagd_store *store,
                                            dagd_store_settle_fn fn, void *userdata);
/* Forget a pending settle (fn is not called). Accepts NULL; returns NULL. */
struct dagd_store_settle *dagd_store_settle_cancel(struct dagd_store_settle *w);

#endif
