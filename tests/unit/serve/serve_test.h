/* Helpers shared by the serve layer's unit tests: a temporary directory,
 * files written into it, the test plugins of the build tree, and running a
 * real loop until a condition holds (with a deadline, so a test that waits
 * for something that never comes fails instead of hanging). */
#ifndef DAGD_SERVE_TEST_H
#define DAGD_SERVE_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "plugin_host.h"
#include "util.h"

/* mkdtemp under /tmp; `buf` gets the path. */
static _unused_ void st_mkdtemp(char buf[static 64], const char *name)
{
    snprintf(buf, 64, "/tmp/dagd-test-%s-XXXXXX", name);
    assert_non_null(mkdtemp(buf));
}

static _unused_ void st_rmrf(const char *dir)
{
    _cleanup_free_ char *cmd = dagd_xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Write `text` to DIR/NAME (replacing it: a new inode, like an editor). */
static _unused_ void st_write(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *tmp = dagd_xasprintf("%s/.%s.tmp", dir, name);
    _cleanup_free_ char *path = dagd_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(tmp, "we");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* The plugin host over the build tree's test plugins (noop, sleep, fail...). */
static _unused_ struct dagd_plugin_host *st_plugins(void)
{
    const char *build = getenv("DAGD_BUILD_ROOT") ? getenv("DAGD_BUILD_ROOT") : "build";
    _cleanup_free_ char *plugdir = dagd_xasprintf("%s/tests/plugins", build);
    char *dirs[] = {plugdir, NULL};
    return dagd_plugin_host_new(dirs);
}

struct st_wait {
    bool (*cond)(void *userdata);
    void *userdata;
    bool timed_out;
};

static _unused_ void st_on_check(uv_timer_t *t)
{
    struct st_wait *w = t->data;
    if (w->cond(w->userdata)) {
        uv_stop(t->loop);
    }
}

static _unused_ void st_on_deadline(uv_timer_t *t)
{
    struct st_wait *w = t->data;
    w->timed_out = true;
    uv_stop(t->loop);
}

/* Run the loop until cond(userdata) holds (checked every 10 ms) or
 * `timeout_ms` passed; fails the test on the timeout. */
static _unused_ void st_run_until(uv_loop_t *loop, bool (*cond)(void *), void *userdata,
                                  unsigned timeout_ms)
{
    struct st_wait w = {.cond = cond, .userdata = userdata};
    uv_timer_t check, deadline;

    if (cond(userdata)) {
        return;
    }
    uv_timer_init(loop, &check);
    uv_timer_init(loop, &deadline);
    check.data = deadline.data = &w;
    uv_timer_start(&check, st_on_check, 10, 10);
    uv_timer_start(&deadline, st_on_deadline, timeout_ms, 0);
    (void)uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&check, NULL);
    uv_close((uv_handle_t *)&deadline, NULL);
    (void)uv_run(loop, UV_RUN_NOWAIT);
    if (w.timed_out && !cond(userdata)) {
        fail_msg("timed out after %u ms", timeout_ms);
    }
}

#endif
