/* Opening the warehouse: the SQLite file the task plugins share
 * (DESIGN 6), opened by the worker host for a step that asks for it.
 *
 * Owns the connection settings every plugin gets, so that they are the same
 * for each step and chosen in one place:
 * - a NEW warehouse gets 64 KiB pages: bulk loads and full scans (what the
 *   warehouse does) make 16x fewer page writes, reads and b-tree splits
 *   than with 4 KiB pages; an existing file keeps the page size it has;
 * - WAL with synchronous=NORMAL: readers never block the one writer, and a
 *   commit survives a crash of the process (a power cut may lose the last
 *   commits, never corrupt the file);
 * - the step does not checkpoint the WAL into the database file, not even
 *   when it closes: dagd's executor does it in the background once the
 *   step's process is gone (checkpointer.h), off the pipeline's critical
 *   path. SQLite's own checkpoint still runs past 256 MiB of WAL, and a
 *   WAL that was reset is truncated to 64 MiB;
 * - SQLite's multi-thread mode (SQLITE_OPEN_NOMUTEX): no mutex around each
 *   call, so the connection must be used by one thread at a time;
 * - a busy handler that retries a locked database every few milliseconds
 *   for up to `busy_timeout_ms`: steps run in parallel (say translate next
 *   to validate) and wait for each other's write transaction. SQLite's
 *   built-in handler backs off to 100 ms sleeps, so a waiter could wake up
 *   ~100 ms after the lock was freed, on the pipeline's critical path.
 * Does not log. */
#ifndef DAGD_WAREHOUSE_DB_H
#define DAGD_WAREHOUSE_DB_H

#include <sqlite3.h>

#define DAGD_WAREHOUSE_PAGE_SIZE 65536
#define DAGD_WAREHOUSE_BUSY_TIMEOUT_MS 30000

/* Open (creating it if missing) the warehouse at PATH with the settings
 * above. Returns 0 with *ret_db (the caller closes it), or -errno with
 * *reterr_msg (malloc'ed, the caller frees it). */
int dagd_warehouse_open(const char *path, int busy_timeout_ms, sqlite3 **ret_db, char **reterr_msg);

/* Process-wide SQLite settings for a process whose steps use the
 * warehouse (dagd-worker): memory statistics off. With them on, every
 * sqlite3_malloc and sqlite3_free takes SQLite's global memory mutex and
 * updates counters that nothing in dagd reads (no heap limits, no
 * sqlite3_memory_used): ~10% of a bulk load's CPU (bench_load, same run).
 * Must run before the first SQLite call of the process; later it is a
 * no-op (SQLite refuses the change once initialised). */
void dagd_warehouse_process_init(void);

#endif
