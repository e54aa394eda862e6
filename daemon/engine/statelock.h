/* The state directory lock: tells a starting dagd whether any other dagd
 * (`dagd run` or `dagd serve`) is using the same state directory, so that
 * it may fail the runs left `running` by a crashed predecessor without
 * touching runs another live process is executing.
 *
 * Every dagd holds a shared flock(2) on STATE_DIR/lock for its lifetime.
 * At start it first tries an exclusive lock without blocking: if that
 * succeeds nobody else is there, every `running` run is an orphan, and the
 * caller fails them (dagd_store_fail_orphans) before downgrading to shared
 * with dagd_statelock_share(). The kernel drops the lock when the process
 * dies, also on SIGKILL, so a crash never leaves a stale lock. Does not log. */
#ifndef DAGD_STATELOCK_H
#define DAGD_STATELOCK_H

#include <stdbool.h>
#include <sys/types.h>

/* Open (creating) DIR/lock and lock it: exclusively if possible (*ret_alone
 * = true), else shared (*ret_alone = false; waits for a starting peer that
 * holds it exclusively). Returns an O_CLOEXEC fd to keep open (close it to
 * unlock) or -errno. */
int dagd_statelock_acquire(const char *dir, bool *ret_alone);

/* Downgrade the exclusive lock to shared, once orphans are dealt with. */
int dagd_statelock_share(int fd);

/* One daemon per state directory (issue 12): `dagd serve` also holds an
 * exclusive flock(2) on DIR/serve.lock for its lifetime, with its PID
 * written in the file. Returns the fd to keep open, or -EBUSY with the
 * holder's PID in *ret_holder (0 if it has not written it yet) when another
 * daemon holds it, or -errno. `dagd run` does not take it: a one-shot run
 * beside a daemon stays allowed (they share DIR/lock). */
int dagd_statelock_serve(const char *dir, pid_t *ret_holder);

#endif
