/* Warehouse checkpoints in the background.
 *
 * Steps write the warehouse in WAL mode and, opened by the worker host
 * (warehouse_db.c), never copy the WAL back into the database themselves:
 * that copy ends with two fsyncs (~15-20 ms for the 15 MB a 160k-row load
 * writes, mostly waiting on the disk), and inside the step it would sit on
 * the pipeline's critical path. Instead the executor asks for a checkpoint
 * once a step that opened the warehouse has ended, and this module runs it
 * on libuv's thread pool while the next step works: a PASSIVE checkpoint
 * (never blocks a writer or a reader), then the connection is closed, which
 * also deletes the WAL when nobody else has the file open (the end of a
 * run). The loop stays alive until queued checkpoints are done, so
 * `dagd run` exits with the warehouse checkpointed.
 *
 * Requests for the same file coalesce: one in flight, at most one more
 * queued behind it. A file that does not exist, or is not a database in WAL
 * mode, is left alone. Failures are logged at debug level only: the WAL
 * keeps every committed transaction either way. A failed checkpoint (the
 * disk was full) is tried again by itself, after 0.25 s and then waits
 * doubling up to 4 s, until it succeeds: otherwise a WAL the full disk
 * left behind stays there when the state database's writes happened to fit
 * and nothing else asks. That timer never keeps the loop alive.
 *
 * Owns: its path table and the in-flight requests. Runs on the loop thread
 * except for the checkpoint itself (its own SQLite connection per job). */
#ifndef DAGD_CHECKPOINTER_H
#define DAGD_CHECKPOINTER_H

#include <stdbool.h>
#include <uv.h>

struct dagd_checkpointer;

/* NULL never: aborts on OOM. */
struct dagd_checkpointer *dagd_checkpointer_new(uv_loop_t *loop);

/* Checkpoint the SQLite database at `path` (absolute) soon, in the
 * background. Copies the path. */
void dagd_checkpointer_request(struct dagd_checkpointer *c, const char *path);

/* Checkpoint again every file whose last checkpoint failed, now: the
 * executor calls it once the state database can be written again after a
 * disk-full error (sooner than the retry timer's next turn). */
void dagd_checkpointer_retry_failed(struct dagd_checkpointer *c);

/* Whether no checkpoint is in flight and none failed last time. */
bool dagd_checkpointer_settled(const struct dagd_checkpointer *c);

/* How many checkpoints completed (for tests and debug logs). */
unsigned long dagd_checkpointer_completed(const struct dagd_checkpointer *c);

/* Stops taking requests; queued-but-not-started work is dropped, running
 * work finishes (the loop keeps running until it has), then everything is
 * freed. Returns NULL; accepts NULL. */
struct dagd_checkpointer *dagd_checkpointer_free(struct dagd_checkpointer *c);

#endif
