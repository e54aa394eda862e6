/* Unit tests for daemon/engine/run_resolve.c: a run's selection, params and
 * configs resolved in one call, every problem reported at once, and plans'
 * keep_bad_configs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "run_resolve.h"

static const char yaml[] = "pipeline: chain\n"
                           "params: {who: world, greeting: 'hello ${who}'}\n"
                           "steps:\n"
                           "  - {name: a, task: t, config: {msg: '${greeting}'}}\n"
                           "  - {name: b, task: t, needs: [a], config: {dir: '${state_dir}'}}\n"
                           "  - {name: c, task: t, needs: [b], config: {n: 3}}\n"
                           "  - {name: d, task: t, config: {id: '${run_id}'}}\n";

static struct dagd_pipeline *load(void)
{
    struct dagd_diags d = {0};
    struct dagd_pipeline *p = NULL;

    assert_int_equal(dagd_pipeline_load_buffer("p.yaml", yaml, sizeof(yaml) - 1, NULL, &p, &d), 0);
    dagd_diags_done(&d);
    return p;
}

static void test_everything(void **state)
{
    struct dagd_pipeline *p = load();
    struct dagd_run_resolved *r = NULL;
    struct dagd_diags d = {0};
    char *ov[] = {"who=dagd"};
    struct dagd_run_options o = {.param_overrides = ov, .n_param_overrides = 1};

    assert_int_equal(dagd_run_resolve(p, &o, "/s", "RUN", false, &r, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(r->n_steps, 4);
    assert_string_equal(dagd_params_get(&r->params, "greeting"), "hello dagd");
    assert_string_equal(dagd_params_get(&r->params, "run_id"), "RUN");
    assert_non_null(strstr(r->params_json, "\"greeting\":\"hello dagd\""));
    assert_string_equal(r->config_json[0], "{\"msg\":\"hello dagd\"}");
    assert_string_equal(r->config_json[1], "{\"dir\":\"/s\"}");
    assert_string_equal(r->config_json[2], "{\"n\":3}");
    assert_string_equal(r->config_json[3], "{\"id\":\"RUN\"}");
    for (size_t i = 0; i < 4; i++) {
        assert_true(r->selected[i]);
        assert_null(r->config_error[i]);
    }
    assert_int_equal(r->forced, -1);
    dagd_run_resolved_free(r);
    dagd_pipeline_unref(p);
}

static void test_from_and_only(void **state)
{
    struct dagd_pipeline *p = load();
    struct dagd_run_resolved *r = NULL;
    struct dagd_diags d = {0};

    assert_int_equal(
        dagd_run_resolve(p, &(struct dagd_run_options){.from_step = "b"}, "/s", "R", false, &r, &d),
        0);
    assert_false(r->selected[0]);
    assert_true(r->selected[1]);
    assert_true(r->selected[2]);
    assert_false(r->selected[3]);
    assert_int_equal(r->forced, 1);
    /* Steps out of the selection are resolved too (recorded with the run). */
    assert_non_null(r->config_json[0]);
    r = dagd_run_resolved_free(r);

    assert_int_equal(
        dagd_run_resolve(p, &(struct dagd_run_options){.only_step = "b"}, "/s", "R", false, &r, &d),
        0);
    assert_false(r->selected[0]);
    assert_true(r->selected[1]);
    assert_false(r->selected[2]);
    assert_false(r->selected[3]);
    assert_int_equal(r->forced, 1);
    dagd_run_resolved_free(r);
    assert_int_equal(d.n, 0);
    dagd_pipeline_unref(p);
}

/* A bad --from, a bad --only and an undeclared param: all three reported. */
static void test_all_diagnostics(void **state)
{
    struct dagd_pipeline *p = load();
    struct dagd_run_resolved *r = NULL;
    struct dagd_diags d = {0};
    char *ov[] = {"nosuch=1"};
    struct dagd_run_options o = {
        .from_step = "x", .only_step = "y", .param_overrides = ov, .n_param_overrides = 1};

    assert_int_equal(dagd_run_resolve(p, &o, "/s", "R", false, &r, &d), -EINVAL);
    assert_null(r);
    assert_int_equal(d.n, 3);
    assert_string_equal(d.items[0].message, "--from: no step 'x' in pipeline 'chain'");
    assert_string_equal(d.items[1].message, "--only: no step 'y' in pipeline 'chain'");
    assert_non_null(strstr(d.items[2].message, "unknown parameter 'nosuch'"));
    dagd_diags_done(&d);

    assert_int_equal(dagd_run_check_selection(p, &o, &d), -EINVAL);
    assert_int_equal(d.n, 2);
    dagd_diags_done(&d);
    dagd_pipeline_unref(p);
}

/* A config that does not resolve (a value over 1 MiB): refused, or kept as
 * a reason for plans. */
static void test_bad_config(void **state)
{
    struct dagd_run_resolved *r = NULL;
    struct dagd_diags d = {0};
    size_t n = DAGD_PARAMS_MAX_EXPANDED / 2 + 16;
    _cleanup_free_ char *big = dagd_xmalloc(n + 5);
    char *ov[] = {big};
    struct dagd_run_options o = {.param_overrides = ov, .n_param_overrides = 1};

    memcpy(big, "who=", 4);
    memset(big + 4, 'x', n);
    big[4 + n] = 0;
    /* who fits in a param, but not twice in one value. */
    static const char y2[] = "pipeline: p\nparams: {who: w}\n"
                             "steps:\n  - {name: a, task: t, config: {v: '${who}${who}'}}\n"
                             "  - {name: b, task: t, config: {v: '${who}'}}\n";
    struct dagd_pipeline *p2 = NULL;
    assert_int_equal(dagd_pipeline_load_buffer("q.yaml", y2, sizeof(y2) - 1, NULL, &p2, &d), 0);
    assert_int_equal(dagd_run_resolve(p2, &o, "/s", "R", false, &r, &d), -EINVAL);
    assert_int_equal(d.n, 1);
    dagd_diags_done(&d);
    assert_int_equal(dagd_run_resolve(p2, &o, "/s", "R", true, &r, &d), 0);
    assert_int_equal(d.n, 0);
    assert_null(r->config_json[0]);
    assert_non_null(strstr(r->config_error[0], "more than"));
    assert_non_null(r->config_json[1]);
    assert_null(r->config_error[1]);
    dagd_run_resolved_free(r);
    dagd_pipeline_unref(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_everything),
        cmocka_unit_test(test_from_and_only),
        cmocka_unit_test(test_all_diagnostics),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
