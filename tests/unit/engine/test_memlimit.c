/* Unit tests for daemon/memlimit.c: size formatting, the OOM verdict, cgroup
 * path parsing, and RLIMIT_AS really stopping an allocation (in a child). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>

#include "memlimit.h"
#include "util.h"

static void test_format_size(void **state)
{
    char buf[32];
    assert_string_equal(dagd_memlimit_format_size(64 << 20, buf, sizeof(buf)), "64M");
    assert_string_equal(dagd_memlimit_format_size(1ULL << 30, buf, sizeof(buf)), "1G");
    assert_string_equal(dagd_memlimit_format_size(1536 << 10, buf, sizeof(buf)), "1536K");
    assert_string_equal(dagd_memlimit_format_size(100, buf, sizeof(buf)), "100");
    assert_string_equal(dagd_memlimit_format_size(0, buf, sizeof(buf)), "0");
    assert_string_equal(dagd_memlimit_oom_message(64 << 20, buf, sizeof(buf)),
                        "out of memory (limit 64M)");
}

static void test_modes(void **state)
{
    for (int m = 0; m < _DAGD_MEMLIMIT_MODE_MAX; m++) {
        assert_int_equal(dagd_memlimit_mode_from_string(dagd_memlimit_mode_to_string(m)), m);
    }
    assert_int_equal(dagd_memlimit_mode_from_string("bogus"), -EINVAL);
    assert_null(dagd_memlimit_mode_to_string(_DAGD_MEMLIMIT_MODE_MAX));
}

static void test_parse_proc_cgroup(void **state)
{
    _cleanup_free_ char *a =
        dagd_memlimit_parse_proc_cgroup("4:memory:/x\n0::/system.slice/d.service\n");
    _cleanup_free_ char *b = dagd_memlimit_parse_proc_cgroup("0::/");
    _cleanup_free_ char *c = dagd_memlimit_parse_proc_cgroup("1:cpu:/\n");
    assert_string_equal(a, "/system.slice/d.service");
    assert_string_equal(b, "/");
    assert_null(c);
}

static void test_verdict(void **state)
{
    struct dagd_memlimit_outcome o = {
        .limit_bytes = 64 << 20,
        .mode = DAGD_MEMLIMIT_RLIMIT_AS,
        .cgroup_oom = -1,
        .exit_code = 1,
    };
    assert_false(dagd_memlimit_failure_is_oom(&o));
    o.message = "cannot allocate 256 MiB";
    assert_true(dagd_memlimit_failure_is_oom(&o));
    o.message = "bad input";
    o.error = -ENOMEM;
    assert_true(dagd_memlimit_failure_is_oom(&o));
    o.error = -EINVAL;
    o.term_signal = SIGSEGV;
    assert_true(dagd_memlimit_failure_is_oom(&o));
    o.term_signal = SIGTERM; /* a timeout or cancel is not an OOM */
    assert_false(dagd_memlimit_failure_is_oom(&o));
    o.term_signal = SIGSEGV;
    o.limit_bytes = 0; /* no limit: a crash is a crash */
    assert_false(dagd_memlimit_failure_is_oom(&o));

    /* With the worker's allocation witness armed, it decides: a crash with
     * no failed allocation is a crash, and one after a failed allocation is
     * running out of memory. */
    o = (struct dagd_memlimit_outcome){
        .limit_bytes = 64 << 20,
        .mode = DAGD_MEMLIMIT_RLIMIT_AS,
        .cgroup_oom = -1,
        .term_signal = SIGSEGV,
        .alloc_watch = true,
    };
    assert_false(dagd_memlimit_failure_is_oom(&o));
    o.message = "cannot allocate a port"; /* no word guessing when armed */
    assert_false(dagd_memlimit_failure_is_oom(&o));
    o.alloc_failed = true;
    assert_true(dagd_memlimit_failure_is_oom(&o));
    o.alloc_failed = false;
    o.term_signal = 0;
    o.error = -ENOMEM;
    assert_true(dagd_memlimit_failure_is_oom(&o));

    /* With a cgroup, the kernel's count alone decides. */
    o = (struct dagd_memlimit_outcome){
        .limit_bytes = 1 << 20,
        .mode = DAGD_MEMLIMIT_CGROUP2,
        .term_signal = SIGKILL,
        .cgroup_oom = 1,
    };
    assert_true(dagd_memlimit_failure_is_oom(&o));
    o.cgroup_oom = 0;
    o.message = "malloc failed";
    assert_false(dagd_memlimit_failure_is_oom(&o));
}

static void test_detect(void **state)
{
    struct dagd_memlimit l;

    setenv("DAGD_MEMLIMIT", "none", 1);
    dagd_memlimit_detect(&l);
    assert_int_equal(l.mode, DAGD_MEMLIMIT_NONE);
    dagd_memlimit_done(&l);

    unsetenv("DAGD_MEMLIMIT");
    dagd_memlimit_detect(&l);
    /* Whatever the machine offers, detection yields a valid mode, and a
     * cgroup mode comes with its directory. */
    assert_true(l.mode < _DAGD_MEMLIMIT_MODE_MAX);
    assert_true((l.mode == DAGD_MEMLIMIT_CGROUP2) == (l.cgroup_dir != NULL));
    dagd_memlimit_done(&l);
}

/* In a child: with a 64 MiB budget, 16 MiB works and 256 MiB fails. */
static void test_rlimit_enforced(void **state)
{
    struct dagd_memlimit l;
    int status;

    if (getenv("DAGD_VALGRIND")) {
        skip(); /* valgrind manages the address space itself */
    }
    setenv("DAGD_MEMLIMIT", "rlimit", 1);
    dagd_memlimit_detect(&l);
    unsetenv("DAGD_MEMLIMIT");
    if (l.mode != DAGD_MEMLIMIT_RLIMIT_AS) {
        skip(); /* ASan build */
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dagd_memlimit_apply_rlimit(64 << 20) < 0) {
            _exit(10);
        }
        char *small = malloc(16 << 20);
        if (!small) {
            _exit(11);
        }
        memset(small, 1, 16 << 20);
        char *big = malloc(256 << 20);
        if (big) {
            _exit(12);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(dagd_memlimit_apply_rlimit(0), 0); /* 0 = no limit: no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_size),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_parse_proc_cgroup),
        cmocka_unit_test(test_verdict),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_rlimit_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
