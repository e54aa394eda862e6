/* The scheduler: the dependency bookkeeping of one run, with no processes,
 * timers or I/O, so it is unit-testable (tests/unit/test_scheduler.c). Owns
 * its arrays only. The executor asks it which step may start next, tells it
 * how attempts ended, and acts on what it returns (launch, record a skip,
 * arm a retry timer).
 *
 * A step moves WAITING -> READY (all needs satisfied) -> RUNNING, then to
 * SUCCEEDED, FAILED (skipping everything downstream), BACKOFF (a retry is
 * due; back to READY by dagd_sched_retry()) or SKIPPED (memoized or not
 * selected; satisfies its dependents like a success). Ready steps come out
 * in the order given (a topological order: file order where possible). */
#ifndef DAGD_SCHEDULER_H
#define DAGD_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum dagd_sched_state {
    DAGD_SCHED_WAITING,
    DAGD_SCHED_READY,
    DAGD_SCHED_RUNNING,
    DAGD_SCHED_BACKOFF,
    DAGD_SCHED_SUCCEEDED,
    DAGD_SCHED_FAILED,
    DAGD_SCHED_SKIPPED,         /* memoized or not selected: satisfies dependents */
    DAGD_SCHED_UPSTREAM_FAILED, /* not run because a need failed */
    DAGD_SCHED_CANCELED,
    _DAGD_SCHED_STATE_MAX,
};

struct dagd_sched;

/* A scheduler over n steps. needs[i] lists the n_needs[i] indices step i
 * depends on (must form a DAG; the loader checked). order is a topological
 * order of all n steps (the priority of ready steps); NULL = 0..n-1, which
 * must then be topological. Copies what it needs. */
struct dagd_sched *dagd_sched_new(size_t n, const size_t *const *needs, const size_t *n_needs,
                                  const size_t *order);
struct dagd_sched *dagd_sched_free(struct dagd_sched *s);

/* Before dagd_sched_begin(): mark step i SKIPPED (not selected, or
 * succeeded in the parent run of a retry). */
void dagd_sched_exclude(struct dagd_sched *s, size_t i);
/* Make every step whose needs are satisfied READY. Call once. */
void dagd_sched_begin(struct dagd_sched *s);

/* The next READY step in priority order, now RUNNING; -1 if none. */
ssize_t dagd_sched_pop_ready(struct dagd_sched *s);
/* How many READY steps are waiting. */
size_t dagd_sched_n_ready(const struct dagd_sched *s);
/* How many steps are RUNNING. */
size_t dagd_sched_n_running(const struct dagd_sched *s);

/* A RUNNING step succeeded (or was skipped as memoized, skipped=true).
 * Dependents whose needs are now all satisfied become READY. */
void dagd_sched_succeeded(struct dagd_sched *s, size_t i, bool skipped);
/* A RUNNING step failed for good. Every step downstream that has not
 * started becomes UPSTREAM_FAILED; their indices are written to ret_skipped
 * (room for n) in priority order. Returns how many. */
size_t dagd_sched_failed(struct dagd_sched *s, size_t i, size_t *ret_skipped);
/* A RUNNING step failed and will be retried: BACKOFF until dagd_sched_retry(). */
void dagd_sched_backoff(struct dagd_sched *s, size_t i);
/* A BACKOFF step's delay is over: READY again. */
void dagd_sched_retry(struct dagd_sched *s, size_t i);
/* A RUNNING step ended because the run was canceled. */
void dagd_sched_canceled(struct dagd_sched *s, size_t i);
/* Cancel the run: every WAITING, READY or BACKOFF step becomes CANCELED;
 * their indices go to ret (room for n). RUNNING steps are left to the
 * caller (they must be stopped first). Returns how many. */
size_t dagd_sched_cancel_pending(struct dagd_sched *s, size_t *ret);

/* True when no step is WAITING, READY, RUNNING or BACKOFF. */
bool dagd_sched_done(const struct dagd_sched *s);
enum dagd_sched_state dagd_sched_state(const struct dagd_sched *s, size_t i);
const char *dagd_sched_state_to_string(enum dagd_sched_state st);

/* Retry delay after attempt `attempt` (1-based) failed: exponential backoff
 * with full jitter (AWS architecture blog "Exponential Backoff And Jitter";
 * fluent-bit backoff_full_jitter): uniform in [0, min(cap, base * 2^(attempt-1))],
 * drawn from `rnd` (a uniformly random 64-bit value). */
uint64_t dagd_sched_retry_delay(uint64_t base_usec, unsigned attempt, uint64_t cap_usec,
                                uint64_t rnd);

#endif
