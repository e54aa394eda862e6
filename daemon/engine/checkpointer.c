/* See checkpointer.h. */
#include "checkpointer.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define MAX_PATHS 64 /* distinct warehouses remembered; idle ones are reused */
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 4000

struct job {
    uv_work_t req;
    struct dagd_checkpointer *owner;
    struct entry *entry; /* NULL once the owner is freed */
    char *path;          /* the job's own copy: entries may go away */
    int rc;              /* SQLite result of the checkpoint */
};

struct entry {
    char *path;
    struct job *running; /* in flight on the thread pool */
    bool again;          /* asked again while running */
    bool failed;         /* the last checkpoint failed (e.g. disk full) */
};

struct dagd_checkpointer {
    uv_loop_t *loop;
    struct entry entries[MAX_PATHS];
    size_t n_entries;
    unsigned n_running;
    unsigned long completed;
    uv_timer_t retry;  /* after a failed checkpoint (disk full): try again */
    uint64_t retry_ms; /* the next wait, doubled up to RETRY_MAX_MS */
    bool timer_open;   /* until its close callback: c is freed after it */
    bool freeing;
};

struct dagd_checkpointer *dagd_checkpointer_new(uv_loop_t *loop)
{
    struct dagd_checkpointer *c = dagd_xmalloc(sizeof(*c));

    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->retry_ms = RETRY_FIRST_MS;
    if (uv_timer_init(loop, &c->retry) == 0) {
        c->retry.data = c;
        /* A retry never keeps `dagd run` from exiting. */
        uv_unref((uv_handle_t *)&c->retry);
        c->timer_open = true;
    }
    return c;
}

static void destroy(struct dagd_checkpointer *c)
{
    for (size_t i = 0; i < c->n_entries; i++) {
        free(c->entries[i].path);
    }
    free(c);
}

/* The last of the in-flight jobs and the timer's close frees c. */
static void maybe_destroy(struct dagd_checkpointer *c)
{
    if (c->freeing && c->n_running == 0 && !c->timer_open) {
        destroy(c);
    }
}

static void on_retry(uv_timer_t *t)
{
    dagd_checkpointer_retry_failed(t->data);
}

/* Reads the file's header: until then a new connection does not know that
 * the database is in WAL mode, and a checkpoint would do nothing. */
static bool is_wal(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool wal = false;

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        wal = mode && streq(mode, "wal");
    }
    sqlite3_finalize(st);
    return wal;
}

/* Thread pool: open without creating, checkpoint what can be, close. */
static void job_work(uv_work_t *req)
{
    struct job *j = req->data;
    sqlite3 *db = NULL;

    j->rc = sqlite3_open_v2(j->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (j->rc == SQLITE_OK && is_wal(db)) {
        j->rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    /* The last connection to close checkpoints again and removes the WAL. */
    (void)sqlite3_close(db);
}

static void job_start(struct dagd_checkpointer *c, struct entry *en);

static bool any_failed(const struct dagd_checkpointer *c)
{
    for (size_t i = 0; i < c->n_entries; i++) {
        if (c->entries[i].failed) {
            return true;
        }
    }
    return false;
}

/* A failed checkpoint (the disk was full) is tried again by itself, with a
 * growing wait, so its WAL does not stay behind when nothing else (a state
 * write that failed too) asks for a retry. Back to the first wait once all
 * succeed. */
static void arm_retry(struct dagd_checkpointer *c)
{
    if (!c->timer_open) {
        return;
    }
    if (!any_failed(c)) {
        c->retry_ms = RETRY_FIRST_MS;
        return;
    }
    if (uv_is_active((uv_handle_t *)&c->retry)) {
        return;
    }
    (void)uv_timer_start(&c->retry, on_retry, c->retry_ms, 0);
    c->retry_ms = c->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : c->retry_ms * 2;
}

static void job_done(uv_work_t *req, int status)
{
    struct job *j = req->data;
    struct dagd_checkpointer *c = j->owner;
    struct entry *en = j->entry;

    c->n_running--;
    if (status == 0) {
        c->completed++;
        if (j->rc != SQLITE_OK) {
            dagd_log_debug("%s: checkpoint of '%s': %s", __func__, j->path, sqlite3_errstr(j->rc));
        }
    }
    if (en) {
        en->running = NULL;
        en->failed = status == 0 && j->rc != SQLITE_OK;
        if (en->again && !c->freeing) {
            en->again = false;
            job_start(c, en);
        }
    }
    free(j->path);
    free(j);
    if (!c->freeing) {
        arm_retry(c);
    }
    maybe_destroy(c);
}

static void job_start(struct dagd_checkpointer *c, struct entry *en)
{
    struct job *j = dagd_xmalloc(sizeof(*j));

    memset(j, 0, sizeof(*j));
    j->owner = c;
    j->entry = en;
    j->path = dagd_xstrdup(en->path);
    j->req.data = j;
    if (uv_queue_work(c->loop, &j->req, job_work, job_done) < 0) {
        free(j->path);
        free(j);
        return;
    }
    en->running = j;
    c->n_running++;
}

/* The entry for path: found, a new one, or an idle one reused. */
static struct entry *entry_for(struct dagd_checkpointer *c, const char *path)
{
    for (size_t i = 0; i < c->n_entries; i++) {
        if (streq(c->entries[i].path, path)) {
            return &c->entries[i];
        }
    }
    struct entry *en = NULL;
    if (c->n_entries < MAX_PATHS) {
        en = &c->entries[c->n_entries++];
    } else {
        for (size_t i = 0; i < c->n_entries && !en; i++) {
            if (!c->entries[i].running) {
                en = &c->entries[i];
                free(en->path);
            }
        }
        if (!en) {
            return NULL; /* all busy: skip this one, the next request will do */
        }
    }
    *en = (struct entry){.path = dagd_xstrdup(path)};
    return en;
}

void dagd_checkpointer_request(struct dagd_checkpointer *c, const char *path)
{
    struct entry *en;

    if (!c || c->freeing || !path || !*path) {
        return;
    }
    en = entry_for(c, path);
    if (!en) {
        return;
    }
    if (en->running) {
        en->again = true;
        return;
    }
    job_start(c, en);
}

void dagd_checkpointer_retry_failed(struct dagd_checkpointer *c)
{
    for (size_t i = 0; c && !c->freeing && i < c->n_entries; i++) {
        struct entry *en = &c->entries[i];
        if (en->failed && !en->running) {
            en->failed = false;
            job_start(c, en);
        }
    }
}

bool dagd_checkpointer_settled(const struct dagd_checkpointer *c)
{
    for (size_t i = 0; c && i < c->n_entries; i++) {
        if (c->entries[i].failed || c->entries[i].running) {
            return false;
        }
    }
    return true;
}

unsigned long dagd_checkpointer_completed(const struct dagd_checkpointer *c)
{
    return c ? c->completed : 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct dagd_checkpointer *c = h->data;
    c->timer_open = false;
    maybe_destroy(c);
}

struct dagd_checkpointer *dagd_checkpointer_free(struct dagd_checkpointer *c)
{
    if (!c || c->freeing) {
        return NULL;
    }
    c->freeing = true;
    for (size_t i = 0; i < c->n_entries; i++) {
        struct entry *en = &c->entries[i];
        en->again = false;
        if (en->running) {
            en->running->entry = NULL;
            /* not started yet: dropped (job_done sees UV_ECANCELED) */
            (void)uv_cancel((uv_req_t *)&en->running->req);
        }
    }
    if (c->timer_open) {
        uv_close((uv_handle_t *)&c->retry, on_timer_closed);
    }
    maybe_destroy(c);
    return NULL;
}
