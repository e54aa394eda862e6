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
 * keeps every committed transaction either way, and the next checkpoint
 * (or SQLite's own, past warehouse_db.c's cap) catches up.
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

/* Checkpoint again every file whose last checkpoint failed: the executor
 * calls it once the state database can be written again after a disk-full
 * error, so a WAL that could not be copied back then does not stay behind. */
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
