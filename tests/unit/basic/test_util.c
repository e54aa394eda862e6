/* daemon/basic/util.c: the helpers every layer shares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util.h"

static void test_sh_quote(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", "''"},
        {"plain", "'plain'"},
        {"a b", "'a b'"},
        {"it's", "'it'\\''s'"},
        {"''", "''\\'''\\'''"},
        {"$(id); `x` \"y\"\n", "'$(id); `x` \"y\"\n'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *q = dagd_sh_quote(cases[i].in);
        assert_string_equal(q, cases[i].out);
        free(q);
    }
}

static void test_fail_msg(void **state)
{
    char *msg = NULL;

    assert_int_equal(dagd_fail_msg(&msg, -EINVAL, "bad %s at %d", "key", 7), -EINVAL);
    assert_string_equal(msg, "bad key at 7");
    free(msg);
    /* no message wanted: only the code */
    assert_int_equal(dagd_fail_msg(NULL, -ENOENT, "gone"), -ENOENT);
}

static void test_strv_join(void **state)
{
    const char *v[] = {"a", "b", "c"};
    char *s = dagd_strv_join(v, 3, ", ");
    assert_string_equal(s, "a, b, c");
    free(s);
    s = dagd_strv_join(v, 0, ", ");
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sh_quote),
        cmocka_unit_test(test_fail_msg),
        cmocka_unit_test(test_strv_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
