/* The `files` task: move, copy or delete the files matching a glob
 * (tasks/README.md "files").
 *
 * Moves and copies go through tasks/common/fileops.c: the destination name
 * appears complete or not at all (rename(2), or across file systems a copy
 * to a temporary name, fsync and a link that never replaces), an existing
 * destination with other content fails the step instead of being
 * overwritten, and one with the same content counts as done, so a re-run
 * after a crash (or of a finished step) is harmless. No match is not an
 * error: a re-run finds nothing left to move.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dagd/task.h>

#include "fileops.h"

static const struct dagd_host_api *host;

static const char *const action_choices[] = {"move", "copy", "delete", NULL};

static const struct dagd_task_field schema[] = {
    {.name = "action",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .choices = action_choices,
     .doc = "move, copy or delete"},
    {.name = "path",
     .type = DAGD_FIELD_STRING,
     .required = true,
     .doc = "glob of the files, handled in byte-wise name order"},
    {.name = "to",
     .type = DAGD_FIELD_STRING,
     .doc = "move, copy: the directory (created if missing)"},
    {.name = "require_match",
     .type = DAGD_FIELD_BOOL,
     .doc = "fail when nothing matches (default false: nothing to do succeeds)"},
    {.name = NULL},
};

static int files_validate(struct dagd_task_ctx *ctx)
{
    const char *action = host->config_string(ctx, "action", "");
    const char *to = host->config_string(ctx, "to", NULL);

    if (strcmp(action, "delete") != 0 && (!to || !to[0])) {
        return host->fail(ctx, "action", "action %s needs to: DIRECTORY", action);
    }
    if (strcmp(action, "delete") == 0 && to) {
        return host->fail(ctx, "to", "action delete takes no to:");
    }
    return 0;
}

static int files_run(struct dagd_task_ctx *ctx)
{
    const char *action = host->config_string(ctx, "action", "");
    const char *path = host->config_string(ctx, "path", "");
    const char *to = host->config_string(ctx, "to", NULL);
    struct dagd_file_list fl = {0};
    int64_t done = 0, before = 0;
    char *msg = NULL;
    int r;

    if (DAGD_HOST_HAS(host, no_memo)) {
        /* What to do depends on the file system, not on the config: a step
         * memoized by its config would skip files that landed since. */
        host->no_memo(ctx, "acts on the files present now: always run");
    }
    r = dagd__glob_files(path, &fl, &msg);
    if (r < 0) {
        r = host->fail(ctx, "path", "%s", msg);
        goto out;
    }
    if (fl.n == 0) {
        if (host->config_bool(ctx, "require_match", false)) {
            r = host->fail(ctx, "path", "no file matches '%s'", path);
        } else {
            host->log(ctx, DAGD_TASK_LOG_INFO, "no file matches '%s': nothing to %s", path, action);
        }
        goto out;
    }
    for (size_t i = 0; i < fl.n; i++) {
        bool was = false;
        if (host->canceled(ctx)) {
            r = -ECANCELED;
            goto out;
        }
        if (strcmp(action, "delete") == 0) {
            if (unlink(fl.paths[i]) < 0 && errno != ENOENT) {
                r = host->fail(ctx, NULL, "cannot delete '%s': %s", fl.paths[i], strerror(errno));
                goto out;
            }
            host->log(ctx, DAGD_TASK_LOG_INFO, "deleted '%s'", fl.paths[i]);
        } else {
            r = dagd__file_transfer(strcmp(action, "move") == 0 ? DAGD_FILEOP_MOVE
                                                                : DAGD_FILEOP_COPY,
                                    fl.paths[i], to, &was, &msg);
            if (r < 0) {
                r = host->fail(ctx, NULL, "%s", msg ? msg : strerror(-r));
                goto out;
            }
            host->log(ctx, DAGD_TASK_LOG_INFO, "%s '%s' to '%s'%s",
                      strcmp(action, "move") == 0 ? "moved" : "copied", fl.paths[i], to,
                      was ? " (the same file was there already)" : "");
        }
        done++;
        before += was;
        host->progress(ctx, (uint64_t)done, fl.n);
    }
    host->metrics(ctx, (int64_t)fl.n, done);
    host->log(ctx, DAGD_TASK_LOG_INFO, "%s: %lld file(s), %lld of them already done", action,
              (long long)done, (long long)before);
    r = 0;
out:
    free(msg);
    dagd__file_list_done(&fl);
    return r;
}

static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "files",
    .version = "1",
    .description =
        "move, copy or delete files by glob, atomically, never overwriting other content",
    .schema = schema,
    .validate = files_validate,
    .run = files_run,
};

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
