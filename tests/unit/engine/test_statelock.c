/* Unit tests for daemon/statelock.c: the first holder is alone, a second
 * one is not, and a released lock makes the next one alone again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "statelock.h"
#include "util.h"

static void test_lock(void **state)
{
    char dir[] = "/tmp/dagd-test-lock-XXXXXX";
    bool alone = false;
    int a, b, c;

    assert_non_null(mkdtemp(dir));
    a = dagd_statelock_acquire(dir, &alone);
    assert_true(a >= 0);
    assert_true(alone);
    assert_int_equal(dagd_statelock_share(a), 0);

    /* flock locks belong to the open file description: a second open in
     * the same process is a second holder. */
    b = dagd_statelock_acquire(dir, &alone);
    assert_true(b >= 0);
    assert_false(alone);

    assert_int_equal(close(a), 0);
    assert_int_equal(close(b), 0);
    c = dagd_statelock_acquire(dir, &alone);
    assert_true(c >= 0);
    assert_true(alone);
    assert_int_equal(close(c), 0);

    _cleanup_free_ char *lock = dagd_xasprintf("%s/lock", dir);
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(rmdir(dir), 0);

    assert_true(dagd_statelock_acquire("/nonexistent/dir", &alone) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
