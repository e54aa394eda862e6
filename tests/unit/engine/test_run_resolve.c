/* Unit tests for daemon/engine/run_resolve.c: a run's selection, params and
 * configs resolved in one call, every problem reported at once, and plans'
 * keep_bad_configs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_resolve.h"
#include "util.h"

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
/* A near miss gets a suggestion. */
static void test_step_suggestion(void **state)
{
    static const char y[] = "pipeline: p\nsteps:\n  - {name: extract, task: t}\n"
                            "  - {name: transform, task: t, needs: [extract]}\n";
    struct dagd_pipeline *p = NULL;
    struct dagd_diags d = {0};
    assert_int_equal(dagd_pipeline_load_buffer("p.yaml", y, sizeof(y) - 1, NULL, &p, &d), 0);
    struct dagd_run_options o = {.from_step = "transfrom"};
    assert_int_equal(dagd_run_check_selection(p, &o, &d), -EINVAL);
    assert_string_equal(d.items[0].message, "no step 'transfrom' in pipeline 'p' (did you mean "
                                            "'transform'?) (steps: extract, transform)");
    dagd_diags_done(&d);
    dagd_pipeline_unref(p);
}

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
    assert_string_equal(d.items[0].file, "--from");
    assert_int_equal(d.items[0].mark.line, 0);
    assert_string_equal(d.items[0].message, "no step 'x' in pipeline 'chain' (steps: a, b, c, d)");
    assert_string_equal(d.items[1].message, "no step 'y' in pipeline 'chain' (steps: a, b, c, d)");
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

/* Typed params against a real directory tree: an override that breaks a
 * declaration is refused with --param named; outputs stay in the state
 * directory (or under:), never hit dagd's own files or another output's, and
 * replace an existing file outside the state directory only with overwrite. */
static const char typed_yaml[] =
    "pipeline: typed\n"
    "params:\n"
    "  greeting: {default: hi, pattern: '[a-z]+'}\n"
    "  report: {default: '${state_dir}/report.html', type: output}\n"
    "  wh: {default: '${state_dir}/warehouse.db', type: output}\n"
    "  export: {default: '${state_dir}/x.csv', type: output, under: ['${state_dir}', '%s/pub']}\n"
    "  keep: {default: '%s/pub/kept.csv', type: output, under: ['%s/pub'], overwrite: true}\n"
    "  data: {default: '%s/in', type: path, under: ['%s/in']}\n"
    "steps:\n"
    "  - {name: a, task: t}\n";

static char *resolve_err(struct dagd_pipeline *p, const char *state, const char *ov)
{
    struct dagd_run_resolved *r = NULL;
    struct dagd_diags d = {0};
    char *ovs[] = {(char *)ov};
    struct dagd_run_options o = {.param_overrides = ovs, .n_param_overrides = ov ? 1 : 0};
    int k = dagd_run_resolve(p, &o, state, "RUN", false, &r, &d);
    if (k == 0) {
        dagd_run_resolved_free(r);
        assert_int_equal(d.n, 0);
        return NULL;
    }
    assert_int_equal(k, -EINVAL);
    assert_true(d.n >= 1);
    char *m = dagd_xstrdup(d.items[0].message);
    assert_string_equal(d.items[0].file, "--param");
    dagd_diags_done(&d);
    return m;
}

static void expect_refused(struct dagd_pipeline *p, const char *state, const char *ov,
                           const char *why)
{
    char *m = resolve_err(p, state, ov);
    if (!m || !strstr(m, why)) {
        fail_msg("%s: wanted '%s', got '%s'", ov, why, m ? m : "(accepted)");
    }
    free(m);
}

static void test_typed_params(void **state)
{
    char tmpl[] = "/tmp/dagd-typed-XXXXXX";
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    char *st = dagd_xasprintf("%s/state", root), *pub = dagd_xasprintf("%s/pub", root),
         *in = dagd_xasprintf("%s/in", root);
    assert_int_equal(mkdir(st, 0755), 0);
    assert_int_equal(mkdir(pub, 0755), 0);
    assert_int_equal(mkdir(in, 0755), 0);
    char *db = dagd_xasprintf("%s/state.db", st), *kept = dagd_xasprintf("%s/kept.csv", pub),
         *other = dagd_xasprintf("%s/other.csv", pub), *link = dagd_xasprintf("%s/lnk", st);
    for (char **f = (char *[]){db, kept, other, NULL}; *f; f++) {
        int fd = open(*f, O_CREAT | O_WRONLY, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_int_equal(symlink("/etc", link), 0);
    char *y = dagd_xasprintf(typed_yaml, root, root, root, root, root);
    struct dagd_diags d = {0};
    struct dagd_pipeline *p = NULL;
    assert_int_equal(dagd_pipeline_load_buffer("typed.yaml", y, strlen(y), NULL, &p, &d), 0);

    assert_null(resolve_err(p, st, NULL)); /* the defaults are fine */
    assert_null(resolve_err(p, st, "greeting=hello"));
    expect_refused(p, st, "greeting=$(id>/tmp/x); y", "does not match the pattern '[a-z]+'");
    expect_refused(p, st, "report=${state_dir}/state.db", "is dagd's own state");
    expect_refused(p, st, "report=${state_dir}/state.db-wal", "is dagd's own state");
    expect_refused(p, st, "report=${state_dir}/lock", "is dagd's own state");
    expect_refused(p, st, "report=${wh}", "is the file of output parameter 'wh' too");
    expect_refused(p, st, "report=/etc/passwd", "is outside the state directory");
    expect_refused(p, st, "report=${state_dir}/../escape.html", "is outside the state directory");
    expect_refused(p, st, "report=${state_dir}/lnk/passwd", "is outside the state directory");
    expect_refused(p, st, "report=${state_dir}/new/../../x", "climbs with '..'");
    expect_refused(p, st, "report=${state_dir}", "is a directory");
    expect_refused(p, st, "report=", "is empty");
    /* under: widens the roots; an existing file there needs overwrite: true */
    assert_null(resolve_err(p, st, "export=${state_dir}/../pub/new.csv"));
    char *ov = dagd_xasprintf("export=%s", other);
    expect_refused(p, st, ov, "only when the parameter says overwrite: true");
    free(ov);
    ov = dagd_xasprintf("keep=%s", kept);
    assert_null(resolve_err(p, st, ov));
    free(ov);
    /* a confined input path */
    expect_refused(p, st, "data=/etc", "outside the directories the pipeline allows");
    ov = dagd_xasprintf("data=%s/in/sub/file.csv", root);
    assert_null(resolve_err(p, st, ov));
    free(ov);

    dagd_pipeline_unref(p);
    dagd_diags_done(&d);
    for (char **f = (char *[]){db, kept, other, link, NULL}; *f; f++) {
        (void)unlink(*f);
        free(*f);
    }
    (void)rmdir(st);
    (void)rmdir(pub);
    (void)rmdir(in);
    (void)rmdir(root);
    free(st);
    free(pub);
    free(in);
    free(y);
}

/* A retry's or a resumed run's overrides from its recorded params: the
 * declared params with a string value, in declared order; built-ins, unknown
 * keys and other types are left out. */
static void test_overrides_from_json(void **state)
{
    struct dagd_pipeline *p = load();
    size_t n = 99;
    char **v = dagd_params_overrides_from_json(
        &p->params, "{\"greeting\":\"hi\",\"state_dir\":\"/x\",\"who\":\"you\",\"n\":3}", &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "who=you");
    assert_string_equal(v[1], "greeting=hi");
    assert_null(v[2]);
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
    static const char *const none[] = {NULL, "not json", "{\"who\": 3}"};
    for (size_t k = 0; k < 3; k++) {
        v = dagd_params_overrides_from_json(&p->params, none[k], &n);
        assert_int_equal(n, 0);
        assert_null(v[0]);
        free(v);
    }
    dagd_pipeline_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_everything),          cmocka_unit_test(test_from_and_only),
        cmocka_unit_test(test_all_diagnostics),     cmocka_unit_test(test_step_suggestion),
        cmocka_unit_test(test_bad_config),          cmocka_unit_test(test_typed_params),
        cmocka_unit_test(test_overrides_from_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
