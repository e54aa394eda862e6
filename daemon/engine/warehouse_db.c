/* See warehouse_db.h. */
#include "warehouse_db.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define WAL_CHECKPOINT_CAP_BYTES (256 * 1024 * 1024)
#define WAL_KEEP_BYTES 67108864 /* a reset WAL is truncated to 64 MiB */
#define BUSY_SLEEP_MAX_USEC 4000

struct busy {
    int timeout_ms;
    uint64_t since_usec; /* when this wait began */
};

/* Retry sooner than SQLite's own handler: 0.5, 1, 2, 4, 4, 4... ms. A retry
 * is a failed fcntl lock, cheap next to the time a waiter would lose
 * sleeping past the end of the other step's transaction. */
static int on_busy(void *userdata, int n)
{
    struct busy *b = userdata;
    uint64_t now = dagd_now_mono_usec();
    uint64_t sleep_usec = n < 4 ? 500u << n : BUSY_SLEEP_MAX_USEC;

    if (n == 0) {
        b->since_usec = now;
    }
    if (now - b->since_usec >= (uint64_t)b->timeout_ms * 1000) {
        return 0; /* give up: the statement fails with SQLITE_BUSY */
    }
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)sleep_usec * 1000};
    (void)nanosleep(&ts, NULL);
    return 1;
}

/* One busy state per process: the worker opens one warehouse connection. */
static struct busy busy_state;

static int exec_all(sqlite3 *db, const char *sql, char **reterr_msg)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        *reterr_msg = dagd_xasprintf("%s", sqlite3_errmsg(db));
        return -EIO;
    }
    return 0;
}

/* exec_all(), again while the database is busy, up to timeout_ms. Two steps
 * opening a new warehouse at once race for the switch to WAL, and SQLite
 * answers that race with SQLITE_BUSY without calling the busy handler (it
 * could deadlock there): seen as "database is locked" when two steps of a
 * fresh pipeline start together. */
static int exec_all_busy(sqlite3 *db, const char *sql, int timeout_ms, char **reterr_msg)
{
    uint64_t start = dagd_now_mono_usec();
    for (unsigned n = 0;; n++) {
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            return 0;
        }
        if ((rc & 0xff) != SQLITE_BUSY ||
            dagd_now_mono_usec() - start >= (uint64_t)timeout_ms * 1000) {
            *reterr_msg = dagd_xasprintf("%s", sqlite3_errmsg(db));
            return -EIO;
        }
        uint64_t sleep_usec = n < 4 ? 500u << n : BUSY_SLEEP_MAX_USEC;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)sleep_usec * 1000};
        (void)nanosleep(&ts, NULL);
    }
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

void dagd_warehouse_process_init(void)
{
    /* SQLITE_MISUSE once SQLite is initialised: then it stays as it is */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int dagd_warehouse_open(const char *path, int busy_timeout_ms, sqlite3 **ret_db, char **reterr_msg)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    int r = 0;

    /* NOMUTEX: every sqlite3_bind_* and _step would lock the connection's
     * mutex otherwise (~5% of a bulk load); plugins use the handle from one
     * thread at a time, which task.h asks of them. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = dagd_xasprintf("%s", db ? sqlite3_errmsg(db) : "out of memory");
        r = -EIO;
    }
    if (r >= 0) {
        busy_state.timeout_ms = busy_timeout_ms;
        (void)sqlite3_busy_handler(db, on_busy, &busy_state);
        /* page_size only takes effect on a database without content, and
         * before the switch to WAL; on an existing file it is a no-op. */
        r = exec_all_busy(
            db,
            "PRAGMA page_size = " STR(
                DAGD_WAREHOUSE_PAGE_SIZE) ";"
                                          "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
            busy_timeout_ms, &err);
    }
    if (r >= 0) {
        /* Checkpoints are the executor's, in the background after the step
         * (checkpointer.h); SQLite's own only past a cap, so that the WAL
         * stays bounded if nobody else checkpoints. */
        int64_t page = pragma_int(db, "PRAGMA page_size");
        if (page > 0) {
            (void)sqlite3_wal_autocheckpoint(db, (int)(WAL_CHECKPOINT_CAP_BYTES / page));
        }
        (void)sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        r = exec_all(db, "PRAGMA journal_size_limit = " STR(WAL_KEEP_BYTES), &err);
    }
    if (r < 0) {
        (void)sqlite3_close(db);
        *reterr_msg = err;
        return r;
    }
    *ret_db = db;
    return 0;
}
