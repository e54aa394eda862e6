/* Unit tests for daemon/sensors.c: ${sensor.*} substitution, which must
 * leave every other reference to the run's own expansion and keep file
 * names with '$' or "${" in them literal through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "pipeline.h"
#include "sensors.h"
#include "util.h"

static void check_subst(const char *in, const char *want)
{
    _cleanup_free_ char *got = dagd_sensor_subst(in, "/in", "/in/a.json", "a.json");
    assert_string_equal(got, want);
}

static void test_subst(void **state)
{
    check_subst("", "");
    check_subst("plain", "plain");
    check_subst("${sensor.path}", "/in/a.json");
    check_subst("${sensor.dir}/x:${sensor.name}", "/in/x:a.json");
    check_subst("${data_dir}/${sensor.name}", "${data_dir}/a.json");
    check_subst("$${sensor.path}", "$${sensor.path}");
    check_subst("$${x} ${sensor.name} $5 $", "$${x} a.json $5 $");
    check_subst("${sensor.nam}", "${sensor.nam}");
    check_subst("${sensor.path", "${sensor.path");
}

/* Names with '$' survive the run's expansion unchanged. */
static void test_escaped_values(void **state)
{
    static const char *const names[] = {"a${b}.json", "x$", "$${y}", "$", "plain"};
    struct dagd_params ps = {0};
    dagd_params_set(&ps, "data_dir", "D");

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        _cleanup_free_ char *path = dagd_xasprintf("/in/%s", names[i]);
        _cleanup_free_ char *s = dagd_sensor_subst("${sensor.name}{z}|${sensor.path}|${data_dir}",
                                                   "/in", path, names[i]);
        _cleanup_free_ char *out = NULL;
        _cleanup_free_ char *want = dagd_xasprintf("%s{z}|%s|D", names[i], path);
        assert_int_equal(dagd_params_expand(&ps, s, &out, NULL), 0);
        assert_string_equal(out, want);
    }
    dagd_params_done(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subst),
        cmocka_unit_test(test_escaped_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
