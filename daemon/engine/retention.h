/* Retention: delete finished runs (with their steps and events) older than
 * a cutoff, in bounded batches so a daemon can prune from an idle handle
 * without stalling its loop, and `dagd prune` can prune a big history
 * without one huge transaction. Runs still queued or running are never
 * deleted. The last successful step rows that memoization relies on go
 * with their runs: a pruned history only means steps run once more. Does
 * not log. */
#ifndef DAGD_RETENTION_H
#define DAGD_RETENTION_H

#include <stddef.h>
#include <stdint.h>

struct dagd_store;

#define DAGD_RETENTION_BATCH 200

/* One batch: delete up to `batch` runs (0 = DAGD_RETENTION_BATCH) that
 * ended more than `older_than_usec` before `now_usec` (0 = the wall clock).
 * Also prunes old schedule/sensor ticks. Returns the number of rows deleted
 * (runs, steps, events, ticks; 0 = nothing left to do) or -errno. For the
 * daemon: call it from an idle/timer callback until it returns 0. */
int dagd_retention_prune_batch(struct dagd_store *s, uint64_t older_than_usec, uint64_t now_usec,
                               size_t batch);

/* All batches; *ret_deleted (may be NULL) gets the total rows. 0 or -errno. */
int dagd_retention_prune(struct dagd_store *s, uint64_t older_than_usec, uint64_t now_usec,
                         size_t batch, uint64_t *ret_deleted);

#endif
