/* The daemons' sessions on a PostgreSQL run history as `status` shows them:
 * the standbys (every daemon lists the others that do not hold the lock)
 * and, on a standby, the leader (docs/postgresql.md "Two daemons, one
 * history"). Listing them asks pg_stat_activity and pg_locks on the
 * daemon's connection: ~1-5 ms, and behind every write queued there. So
 * the listing is kept and read again at most once per
 * DAGD_HISTORY_SESSIONS_MAX_AGE_USEC, on the first call after that, or
 * after dagd_history_sessions_forget() (this daemon's role changed): a
 * `status` in between answers from memory, at most a second stale.
 * Single-threaded (the loop); owns no handle. */
#ifndef DAGD_HISTORY_SESSIONS_H
#define DAGD_HISTORY_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define DAGD_HISTORY_SESSIONS_MAX_AGE_USEC 1000000u

/* One listing. A part whose query failed (the server away) has its
 * -errno in standbys_r or leader_r and is left out of `status`, as
 * without the cache. */
struct dagd_history_listing {
    int standbys_r; /* 0, or -errno of the query */
    struct dagd_store_session *standbys;
    size_t n_standbys;
    bool has_leader; /* asked for the leader (a standby) */
    int leader_r;    /* 0, -ENOENT (no other session holds the lock) or -errno */
    struct dagd_store_session leader;
};

struct dagd_history_sessions;

/* A cache of `store`'s listing (borrowed: it outlives the cache). Never
 * fails (the allocation aborts on OOM). */
struct dagd_history_sessions *dagd_history_sessions_new(struct dagd_store *store);
/* Accepts NULL; returns NULL. */
struct dagd_history_sessions *dagd_history_sessions_free(struct dagd_history_sessions *h);

/* The listing as of at most DAGD_HISTORY_SESSIONS_MAX_AGE_USEC before
 * `now_usec` (monotonic), with the leader when `with_leader`: read again
 * when older, or when the leader is asked for and the kept listing has
 * none. Owned by the cache, valid until its next call. */
const struct dagd_history_listing *dagd_history_sessions_get(struct dagd_history_sessions *h,
                                                             bool with_leader, uint64_t now_usec);

/* Drop the kept listing: the next call reads it again (a standby took
 * over, so who leads and who stands by changed). */
void dagd_history_sessions_forget(struct dagd_history_sessions *h);

#endif
