/* Reads of a PostgreSQL run history off the daemon's loop: a small bounded
 * pool of read-only connections (config `state_readers`, default 2), each
 * used by one libuv worker thread at a time, opened on first use.
 *
 * A read waits first for a fence on the daemon's own connection
 * (dagd_store_settle): everything the daemon wrote before the request is
 * then committed, so a read on another session still sees it (`dagctl run`
 * then `dagctl show`). Then it runs in a worker thread on a free
 * connection, or waits in order for one; its answer comes back on the loop.
 * The loop never waits for the server, and up to `size` reads run at once.
 *
 * The work function runs in the thread: it may use only the store it is
 * given and its own userdata. On SQLite there is no pool (reads are a few
 * microseconds on the loop). */
#ifndef DAGD_READ_POOL_H
#define DAGD_READ_POOL_H

#include <stdbool.h>
#include <uv.h>

struct dagd_store;
struct dagd_read_pool;

/* In a worker thread: read from `s`; 0 or -errno (message in
 * dagd_store_errmsg(s)). */
typedef int (*dagd_read_work_fn)(struct dagd_store *s, void *userdata);
/* On the loop: the work's result. `errmsg` (r < 0) says what failed;
 * `unavailable` when the server is away (the UNAVAILABLE error). */
typedef void (*dagd_read_done_fn)(void *userdata, int r, const char *errmsg, bool unavailable);

/* A pool of `size` connections to `conninfo` beside `main` (the daemon's
 * store, for the fences). NULL when size is 0. */
struct dagd_read_pool *dagd_read_pool_new(uv_loop_t *loop, struct dagd_store *main,
                                          const char *conninfo, unsigned size);
/* Queue a read. -EAGAIN when the daemon's own connection is down (the
 * caller answers as a read on the loop would: at once, UNAVAILABLE), or
 * the pool is closing. done is called exactly once otherwise. */
int dagd_read_pool_submit(struct dagd_read_pool *p, dagd_read_work_fn work, dagd_read_done_fn done,
                          void *userdata);
/* Stop: queued reads get done(-ECANCELED); reads in a thread finish, then
 * the connections close. Accepts NULL; returns NULL. */
struct dagd_read_pool *dagd_read_pool_free(struct dagd_read_pool *p);

#endif
