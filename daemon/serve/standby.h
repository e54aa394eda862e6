/* A standby daemon (config `standby: true`, docs/postgresql.md "Two
 * daemons, one history"): while another daemon holds the PostgreSQL
 * history's session lock, this one serves dagctl and the HTTP listener
 * from the shared history, read-only, and fires no schedule or sensor,
 * runs nothing, recovers and prunes nothing (daemon.c leaves those parts
 * out). The standby object owns the poll of the lock (a timer, every
 * 250 ms) and calls its leader callback once, when the lock is taken: the
 * daemon then starts leading in place, on the same socket. It also names
 * the leader for `status` and for the refusal of writes. Single-threaded
 * (the loop); logs its own polls' trouble (an edge: the daemon's). */
#ifndef DAGD_STANDBY_H
#define DAGD_STANDBY_H

#include <uv.h>

#include "store.h"

struct dagd_standby;

/* Called once, from the poll timer, when this daemon holds the history's
 * lock: the standby is finished (free it from there). */
typedef void (*dagd_standby_leader_fn)(void *userdata);

/* Start polling `store`'s history lock on `loop` (borrowed: both outlive
 * the standby). Never fails (the allocation aborts on OOM). */
struct dagd_standby *dagd_standby_new(uv_loop_t *loop, struct dagd_store *store,
                                      dagd_standby_leader_fn fn, void *userdata);
/* Stop polling; the object goes in its timer's close callback. Accepts
 * NULL; returns NULL. */
struct dagd_standby *dagd_standby_free(struct dagd_standby *sb);

/* When the standby began (monotonic usec). */
uint64_t dagd_standby_since_usec(const struct dagd_standby *sb);

/* Who leads, in one line for messages: "'dagd serve pid N on HOST'
 * (PostgreSQL client C, session since 2026-12-07 15:40:01 UTC)", or "not
 * known (...)" when the server does not say. Owned by the caller. */
char *dagd_standby_leader_text(struct dagd_standby *sb);

/* The refusal of a request only the leader can do (api.h: none today, a
 * guard for commands to come): "this daemon is a standby for the run
 * history H; the leader is ...: run it there".
 * Owned by the caller. */
char *dagd_standby_refusal(struct dagd_standby *sb);

/* The application_name a daemon's PostgreSQL session carries, so a
 * standby can name its leader and a leader its standbys: "dagd serve pid
 * N on HOST" (at most 63 bytes, the server's limit). */
#define DAGD_STANDBY_APP_PREFIX "dagd serve pid "
void dagd_standby_application_name(char *buf, size_t size);

#endif
