/* daemon/serve/store_io.c against a PostgreSQL server (DAGD_TEST_PG, set
 * by `python3 -m dagdtest.pg`; SKIP without one): a settle is seen on the
 * loop iteration whose callbacks let its fence pass, also when no answer
 * is left on the socket to wake the poll. */
#include <inttypes.h>

#include "serve_test.h"

#include "store.h"
#include "store_io.h"

static const char *pg_base;
static bool settled;
static int settled_r;

static void on_settled(void *userdata, int r)
{
    (void)userdata;
    settled = true;
    settled_r = r;
}

/* A read that waits for its own answer, in a timer's callback (as the
 * relay reads the durable queue): it reads the fence's answer on the way. */
static void on_read(uv_timer_t *t)
{
    struct dagd_run_info run;
    assert_int_equal(dagd_store_run_get(t->data, "r1", &run), 0);
    dagd_run_info_done(&run);
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void test_settle_after_waited_read(void **state)
{
    (void)state;
    char dir[64];
    st_mkdtemp(dir, "store-io");
    _cleanup_free_ char *conninfo = dagd_xasprintf("%s dbname=postgres", pg_base);
    struct dagd_store *s = NULL;
    assert_int_equal(dagd_store_open_location(dir, conninfo, &s), 0);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct dagd_store_io_driver *drv = dagd_store_io_driver_new(&loop, s);
    assert_non_null(drv);

    char *steps[] = {"a"};
    struct dagd_run_info run = {.run_id = "r1", .pipeline = "p"};
    assert_int_equal(dagd_store_begin(s), 0);
    assert_int_equal(dagd_store_run_create(s, &run, steps, NULL, 1), 0);
    assert_int_equal(dagd_store_commit(s), 0);
    struct dagd_store_settle *w = dagd_store_settle(&loop, s, on_settled, NULL);
    assert_non_null(w);

    uv_timer_t read, deadline;
    assert_int_equal(uv_timer_init(&loop, &read), 0);
    read.data = s;
    assert_int_equal(uv_timer_start(&read, on_read, 0, 0), 0);
    /* Without it the loop would wait for nothing at all. */
    assert_int_equal(uv_timer_init(&loop, &deadline), 0);
    assert_int_equal(uv_timer_start(&deadline, on_deadline, 3000, 0), 0);
    uint64_t t0 = dagd_now_mono_usec();
    while (!settled && dagd_now_mono_usec() - t0 < 5000000u) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    uint64_t ms = (dagd_now_mono_usec() - t0) / 1000u;
    assert_true(settled);
    assert_int_equal(settled_r, 0);
    /* Not woken by the deadline 3 s later. */
    if (ms >= 1000) {
        fail_msg("settled after %" PRIu64 " ms", ms);
    }

    uv_close((uv_handle_t *)&read, close_cb);
    uv_close((uv_handle_t *)&deadline, close_cb);
    drv = dagd_store_io_driver_free(drv);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    s = dagd_store_free(s);
    st_rmrf(dir);
}

int main(void)
{
    pg_base = getenv("DAGD_TEST_PG");
    if (!pg_base || !*pg_base) {
        fprintf(stderr, "SKIP: no PostgreSQL (run through python3 -m dagdtest.pg)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle_after_waited_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
