/* Unit tests for daemon/serve/registry.c on a temporary pipelines
 * directory: loading, a reload with a broken file keeps the version that
 * loaded before (and reports the file's errors), a file that never loaded
 * has no pipeline, a removed file is dropped, a name defined twice is an
 * error on the second file, and an unreadable directory keeps the set. */
#include "registry.h"
#include "serve_test.h"

#define GOOD_A "pipeline: a\nsteps:\n  - {name: one, task: noop}\n"
#define GOOD_A2 "pipeline: a\nsteps:\n  - {name: one, task: noop}\n  - {name: two, task: noop}\n"
#define GOOD_B "pipeline: b\nsteps:\n  - {name: x, task: noop}\n"
#define BROKEN "pipeline: a\nsteps:\n  - {name: one, task: no-such-task}\n"

struct fixture {
    char dir[64];
    struct dagd_plugin_host *host;
    struct dagd_registry *r;
};

static int setup(void **state)
{
    struct fixture *f = dagd_xcalloc(1, sizeof(*f));
    st_mkdtemp(f->dir, "registry");
    f->host = st_plugins();
    f->r = dagd_registry_new(f->dir, f->host);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dagd_registry_free(f->r);
    dagd_plugin_host_free(f->host);
    st_rmrf(f->dir);
    free(f);
    return 0;
}

static const struct dagd_registry_entry *entry(struct fixture *f, const char *base)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/%s", f->dir, base);
    for (size_t i = 0; i < dagd_registry_size(f->r); i++) {
        if (streq(dagd_registry_at(f->r, i)->file, path)) {
            return dagd_registry_at(f->r, i);
        }
    }
    return NULL;
}

static void test_load(void **state)
{
    struct fixture *f = *state;
    unsigned errors = 99;

    st_write(f->dir, "b.yaml", GOOD_B);
    st_write(f->dir, "a.yml", GOOD_A);
    st_write(f->dir, "notes.txt", "not a pipeline");
    st_write(f->dir, ".hidden.yaml", "garbage: [");
    assert_int_equal(dagd_registry_reload(f->r, &errors), 0);
    assert_int_equal(errors, 0);
    assert_int_equal(dagd_registry_size(f->r), 2);
    assert_int_equal(dagd_registry_n_active(f->r), 2);
    assert_int_equal(dagd_registry_n_errors(f->r), 0);
    /* In file name order. */
    assert_non_null(strstr(dagd_registry_at(f->r, 0)->file, "/a.yml"));
    assert_non_null(strstr(dagd_registry_at(f->r, 1)->file, "/b.yaml"));
    assert_non_null(dagd_registry_get(f->r, "a"));
    assert_int_equal(dagd_registry_get(f->r, "b")->n_steps, 1);
    assert_null(dagd_registry_get(f->r, "c"));
    assert_string_equal(dagd_registry_dir(f->r), f->dir);
}

/* The version that loaded stays active while its file is broken, and the
 * fixed file replaces it. */
static void test_broken_keeps_old(void **state)
{
    struct fixture *f = *state;
    unsigned errors = 0;

    st_write(f->dir, "a.yaml", GOOD_A);
    assert_int_equal(dagd_registry_reload(f->r, &errors), 0);
    struct dagd_pipeline *old = dagd_registry_get(f->r, "a");
    assert_non_null(old);
    uint64_t loaded = entry(f, "a.yaml")->loaded_usec;

    st_write(f->dir, "a.yaml", BROKEN);
    assert_int_equal(dagd_registry_reload(f->r, &errors), 0);
    assert_int_equal(errors, 1);
    assert_ptr_equal(dagd_registry_get(f->r, "a"), old);
    const struct dagd_registry_entry *e = entry(f, "a.yaml");
    assert_ptr_equal(e->pipeline, old);
    assert_int_equal(e->loaded_usec, loaded);
    assert_true(e->errors.n > 0);
    assert_non_null(strstr(e->errors.items[0].message, "no-such-task"));
    assert_int_equal(dagd_registry_n_active(f->r), 1);
    assert_int_equal(dagd_registry_n_errors(f->r), 1);

    st_write(f->dir, "a.yaml", GOOD_A2);
    assert_int_equal(dagd_registry_reload(f->r, &errors), 0);
    assert_int_equal(errors, 0);
    assert_int_equal(dagd_registry_get(f->r, "a")->n_steps, 2);
    assert_int_equal(entry(f, "a.yaml")->errors.n, 0);
}

/* A file that never loaded is listed with its errors and no pipeline. */
static void test_never_loaded(void **state)
{
    struct fixture *f = *state;
    unsigned errors = 0;

    st_write(f->dir, "a.yaml", BROKEN);
    assert_int_equal(dagd_registry_reload(f->r, &errors), 0);
    assert_int_equal(errors, 1);
    assert_int_equal(dagd_registry_size(f->r), 1);
    assert_null(dagd_registry_at(f->r, 0)->pipeline);
    assert_null(dagd_registry_get(f->r, "a"));
    assert_int_equal(dagd_registry_n_active(f->r), 0);
    assert_null(dagd_registry_at(f->r, 1));
}

static void test_removed_file_dropped(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *b = dagd_xasprintf("%s/b.yaml", f->dir);

    st_write(f->dir, "a.yaml", GOOD_A);
    st_write(f->dir, "b.yaml", GOOD_B);
    assert_int_equal(dagd_registry_reload(f->r, NULL), 0);
    assert_int_equal(dagd_registry_n_active(f->r), 2);
    assert_int_equal(unlink(b), 0);
    assert_int_equal(dagd_registry_reload(f->r, NULL), 0);
    assert_int_equal(dagd_registry_size(f->r), 1);
    assert_null(dagd_registry_get(f->r, "b"));
}

/* The second file (in name order) that defines a name is the error. */
static void test_duplicate_name(void **state)
{
    struct fixture *f = *state;
    unsigned errors = 0;

    st_write(f->dir, "1.yaml", GOOD_A);
    st_write(f->dir, "2.yaml", GOOD_A2);
    assert_int_equal(dagd_registry_reload(f->r, &errors), 0);
    assert_int_equal(errors, 1);
    assert_int_equal(dagd_registry_get(f->r, "a")->n_steps, 1);
    const struct dagd_registry_entry *e = entry(f, "2.yaml");
    assert_null(e->pipeline);
    assert_non_null(strstr(e->errors.items[0].message, "already defined in"));
}

/* A directory that cannot be read leaves the loaded set alone. */
static void test_missing_dir(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *moved = dagd_xasprintf("%s.gone", f->dir);

    st_write(f->dir, "a.yaml", GOOD_A);
    assert_int_equal(dagd_registry_reload(f->r, NULL), 0);
    assert_int_equal(rename(f->dir, moved), 0);
    assert_int_equal(dagd_registry_reload(f->r, NULL), -ENOENT);
    assert_non_null(dagd_registry_get(f->r, "a"));
    assert_int_equal(rename(moved, f->dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_file_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
