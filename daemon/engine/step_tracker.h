/* The step tracker: the dependency bookkeeping of one run, with no processes,
 * timers or I/O, so it is unit-testable (tests/unit/test_step_tracker.c). Owns
 * its arrays only. The executor asks it which step may start next, tells it
 * how attempts ended, and acts on what it returns (launch, record a skip,
 * arm a retry timer).
 *
 * A step moves WAITING -> READY (all needs satisfied) -> RUNNING, then to
 * SUCCEEDED, FAILED (skipping everything downstream), BACKOFF (a retry is
 * due; back to READY by dagd_tracker_retry()) or SKIPPED (memoized or not
 * selected; satisfies its dependents like a success). Ready steps come out
 * in the order given (a topological order: file order where possible). */
#ifndef DAGD_STEP_TRACKER_H
#define DAGD_STEP_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum dagd_tracker_state {
    DAGD_TRACKER_WAITING,
    DAGD_TRACKER_READY,
    DAGD_TRACKER_RUNNING,
    DAGD_TRACKER_BACKOFF,
    DAGD_TRACKER_SUCCEEDED,
    DAGD_TRACKER_FAILED,
    DAGD_TRACKER_SKIPPED,         /* memoized or not selected: satisfies dependents */
    DAGD_TRACKER_UPSTREAM_FAILED, /* not run because a need failed */
    DAGD_TRACKER_CANCELED,
    _DAGD_TRACKER_STATE_MAX,
};

/* When a step with needs may start (the step key `trigger_rule`). */
enum dagd_trigger_rule {
    DAGD_TRIGGER_ALL_SUCCEEDED, /* default: every need succeeded (or was skipped) */
    DAGD_TRIGGER_ANY_FAILED,    /* every need ended and at least one failed (or was not run
                                 * because its own upstream failed); else not triggered */
    DAGD_TRIGGER_ALL_DONE,      /* every need ended, whatever happened */
    _DAGD_TRIGGER_RULE_MAX,
};

/* "all_succeeded", "any_failed", "all_done"; -EINVAL for another string. */
int dagd_trigger_rule_from_string(const char *s);
const char *dagd_trigger_rule_to_string(enum dagd_trigger_rule r);

struct dagd_tracker;

/* A tracker over n steps. needs[i] lists the n_needs[i] indices step i
 * depends on (must form a DAG; the loader checked). order is a topological
 * order of all n steps (the priority of ready steps); NULL = 0..n-1, which
 * must then be topological. Copies what it needs. */
struct dagd_tracker *dagd_tracker_new(size_t n, const size_t *const *needs, const size_t *n_needs,
                                      const size_t *order);
struct dagd_tracker *dagd_tracker_free(struct dagd_tracker *s);

/* Before dagd_tracker_begin(): step i's trigger rule (default all_succeeded). */
void dagd_tracker_set_rule(struct dagd_tracker *s, size_t i, enum dagd_trigger_rule rule);
/* Before dagd_tracker_begin(): mark step i SKIPPED (not selected, or
 * succeeded in the parent run of a retry). */
void dagd_tracker_exclude(struct dagd_tracker *s, size_t i);
/* Before dagd_tracker_begin(): step i is RUNNING already (an attempt a
 * restarted daemon adopted); it ends like any running step. */
void dagd_tracker_preset_running(struct dagd_tracker *s, size_t i);
/* Make every step whose needs are satisfied READY. Call once. */
void dagd_tracker_begin(struct dagd_tracker *s);

/* The step dagd_tracker_pop_ready() would return, left READY; -1 if none. */
ssize_t dagd_tracker_peek_ready(const struct dagd_tracker *s);
/* The next READY step in priority order, now RUNNING; -1 if none. */
ssize_t dagd_tracker_pop_ready(struct dagd_tracker *s);
/* The first READY step in priority order that `fits` accepts (NULL: any),
 * now RUNNING; -1 if none. The others stay READY in their order: a step
 * that waits for a pool's slots does not hold up the steps behind it. */
typedef bool (*dagd_tracker_fits_fn)(size_t i, void *userdata);
ssize_t dagd_tracker_pop_ready_if(struct dagd_tracker *s, dagd_tracker_fits_fn fits,
                                  void *userdata);
/* How many READY steps are waiting. */
size_t dagd_tracker_n_ready(const struct dagd_tracker *s);
/* How many steps are RUNNING. */
size_t dagd_tracker_n_running(const struct dagd_tracker *s);

/* A RUNNING step succeeded (or was skipped as memoized, skipped=true).
 * Dependents whose needs are now all satisfied become READY. */
void dagd_tracker_succeeded(struct dagd_tracker *s, size_t i, bool skipped);
/* A RUNNING step failed for good. Every step downstream that has not
 * started becomes UPSTREAM_FAILED; their indices are written to ret_skipped
 * (room for n) in priority order. Returns how many. The walk stops at steps
 * whose rule is any_failed or all_done: each counts the failed need as ended
 * and becomes READY once all its needs ended. */
size_t dagd_tracker_failed(struct dagd_tracker *s, size_t i, size_t *ret_skipped);
/* A RUNNING step failed and will be retried: BACKOFF until dagd_tracker_retry(). */
void dagd_tracker_backoff(struct dagd_tracker *s, size_t i);
/* A BACKOFF step's delay is over: READY again. */
void dagd_tracker_retry(struct dagd_tracker *s, size_t i);
/* A RUNNING step ended because the run was canceled. */
void dagd_tracker_canceled(struct dagd_tracker *s, size_t i);
/* Cancel the run: every WAITING, READY or BACKOFF step becomes CANCELED;
 * their indices go to ret (room for n). RUNNING steps are left to the
 * caller (they must be stopped first). Returns how many. */
size_t dagd_tracker_cancel_pending(struct dagd_tracker *s, size_t *ret);

/* The next step whose rule was not met (any_failed, and every need ended
 * without a failure): it is SKIPPED, and satisfies its dependents like a
 * skip; the caller records why. -1 if none. */
ssize_t dagd_tracker_pop_not_triggered(struct dagd_tracker *s);

/* True when no step is WAITING, READY, RUNNING or BACKOFF. */
bool dagd_tracker_done(const struct dagd_tracker *s);
enum dagd_tracker_state dagd_tracker_state(const struct dagd_tracker *s, size_t i);
const char *dagd_tracker_state_to_string(enum dagd_tracker_state st);

/* Retry delay after attempt `attempt` (1-based) failed: exponential backoff
 * with full jitter (AWS architecture blog "Exponential Backoff And Jitter";
 * fluent-bit backoff_full_jitter): uniform in [0, min(cap, base * 2^(attempt-1))],
 * drawn from `rnd` (a uniformly random 64-bit value). */
uint64_t dagd_tracker_retry_delay(uint64_t base_usec, unsigned attempt, uint64_t cap_usec,
                                  uint64_t rnd);

#endif
