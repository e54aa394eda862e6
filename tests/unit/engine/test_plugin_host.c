/* Unit tests for daemon/plugin_host.c with the test plugins of
 * tests/unit/plugins: lookup, ABI checks with clear messages, a .so without
 * the entry symbol, search order (--plugin-dir, DAGD_PLUGIN_PATH), file
 * identity for fingerprints, the loader-time validate callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "pipeline.h"
#include "plugin_host.h"

static char *const unit_dirs[] = {UNIT_PLUGIN_DIR, NULL};

static void test_find(void **state)
{
    struct dagd_plugin_host *h = dagd_plugin_host_new(unit_dirs);
    const struct dagd_plugin *p = NULL, *p2 = NULL;
    struct stat st;

    assert_int_equal(dagd_plugin_host_find(h, "utest", &p, NULL), 0);
    assert_string_equal(p->desc->name, "utest");
    assert_string_equal(p->desc->version, "1.2");
    assert_string_equal(p->path, UNIT_PLUGIN_DIR "/dagd-task-utest.so");
    /* identity recorded for fingerprints */
    assert_int_equal(stat(p->path, &st), 0);
    assert_true(p->dev == st.st_dev);
    assert_true(p->ino == st.st_ino);
    assert_true(p->size == st.st_size);
    assert_true(p->mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    /* cached */
    assert_int_equal(dagd_plugin_host_find(h, "utest", &p2, NULL), 0);
    assert_ptr_equal(p, p2);
    /* by path: the same object */
    assert_int_equal(
        dagd_plugin_host_load_file(h, UNIT_PLUGIN_DIR "/dagd-task-utest.so", &p2, NULL), 0);
    assert_ptr_equal(p, p2);
    dagd_plugin_host_free(h);
}

static void test_not_found(void **state)
{
    struct dagd_plugin_host *h = dagd_plugin_host_new(unit_dirs);
    const struct dagd_plugin *p = NULL;
    char *msg = NULL;

    assert_int_equal(dagd_plugin_host_find(h, "no-such-task", &p, &msg), -ENOENT);
    assert_string_equal(msg, "no plugin provides task 'no-such-task'");
    free(msg);
    msg = NULL;
    /* names with a slash never reach the file system */
    assert_int_equal(dagd_plugin_host_find(h, "../utest", &p, &msg), -ENOENT);
    free(msg);
    dagd_plugin_host_free(h);
}

static void test_wrong_abi_major(void **state)
{
    struct dagd_plugin_host *h = dagd_plugin_host_new(unit_dirs);
    const struct dagd_plugin *p = NULL;
    char *msg = NULL;
    char expect[1024];

    assert_int_equal(dagd_plugin_host_find(h, "badabi", &p, &msg), -EPROTO);
    snprintf(expect, sizeof(expect),
             "plugin '%s/dagd-task-badabi.so' was built for task ABI 99.3, but this dagd speaks "
             "ABI %d.%d (major versions differ); rebuild the plugin against dagd/task.h",
             UNIT_PLUGIN_DIR, DAGD_TASK_ABI_MAJOR, DAGD_TASK_ABI_MINOR);
    assert_string_equal(msg, expect);
    free(msg);
    dagd_plugin_host_free(h);
}

static void test_too_small(void **state)
{
    struct dagd_plugin_host *h = dagd_plugin_host_new(unit_dirs);
    const struct dagd_plugin *p = NULL;
    char *msg = NULL;

    assert_int_equal(dagd_plugin_host_find(h, "small", &p, &msg), -EPROTO);
    assert_non_null(strstr(msg, "dagd-task-small.so' declares a descriptor of 16 bytes"));
    free(msg);
    dagd_plugin_host_free(h);
}

static void test_missing_symbol(void **state)
{
    struct dagd_plugin_host *h = dagd_plugin_host_new(unit_dirs);
    const struct dagd_plugin *p = NULL;
    char *msg = NULL;
    char expect[1024];

    assert_int_equal(dagd_plugin_host_find(h, "nosym", &p, &msg), -ELIBBAD);
    snprintf(expect, sizeof(expect),
             "plugin '%s/dagd-task-nosym.so' does not export 'dagd_task_entry' (not a dagd task "
             "plugin?)",
             UNIT_PLUGIN_DIR);
    assert_string_equal(msg, expect);
    free(msg);
    /* a file that is not a shared object at all */
    msg = NULL;
    assert_true(dagd_plugin_host_load_file(h, SOURCE_ROOT "/tests/unit/engine/test_plugin_host.c",
                                           &p, &msg) < 0);
    assert_non_null(strstr(msg, "cannot load plugin"));
    free(msg);
    dagd_plugin_host_free(h);
}

static void test_search_order(void **state)
{
    char *const ab[] = {UNIT_PLUGIN_DIR "/order_a", UNIT_PLUGIN_DIR "/order_b", NULL};
    char *const ba[] = {UNIT_PLUGIN_DIR "/order_b", UNIT_PLUGIN_DIR "/order_a", NULL};
    char *const b_only[] = {UNIT_PLUGIN_DIR "/order_b", NULL};
    struct dagd_plugin_host *h;
    const struct dagd_plugin *p = NULL;
    char *const *dirs;
    size_t n;

    h = dagd_plugin_host_new(ab);
    assert_int_equal(dagd_plugin_host_find(h, "dup", &p, NULL), 0);
    assert_string_equal(p->desc->version, "a");
    dagd_plugin_host_free(h);

    h = dagd_plugin_host_new(ba);
    assert_int_equal(dagd_plugin_host_find(h, "dup", &p, NULL), 0);
    assert_string_equal(p->desc->version, "b");
    dagd_plugin_host_free(h);

    /* --plugin-dir comes before DAGD_PLUGIN_PATH, which comes before the rest */
    assert_int_equal(setenv("DAGD_PLUGIN_PATH", UNIT_PLUGIN_DIR "/order_a:/nonexistent", 1), 0);
    h = dagd_plugin_host_new(b_only);
    assert_int_equal(dagd_plugin_host_find(h, "dup", &p, NULL), 0);
    assert_string_equal(p->desc->version, "b");
    assert_int_equal(dagd_plugin_host_dirs(h, &dirs, &n), 0);
    assert_true(n >= 4);
    assert_string_equal(dirs[0], UNIT_PLUGIN_DIR "/order_b");
    assert_string_equal(dirs[1], UNIT_PLUGIN_DIR "/order_a");
    assert_string_equal(dirs[2], "/nonexistent");
    dagd_plugin_host_free(h);

    h = dagd_plugin_host_new(NULL);
    assert_int_equal(dagd_plugin_host_find(h, "dup", &p, NULL), 0);
    assert_string_equal(p->desc->version, "a");
    /* The test binary runs from the build tree: its plugin dirs follow,
     * with their immediate subdirectories; the install dir is last. */
    assert_int_equal(dagd_plugin_host_dirs(h, &dirs, &n), 0);
    assert_string_equal(dirs[0], UNIT_PLUGIN_DIR "/order_a");
    assert_string_equal(dirs[n - 1], DAGD_PLUGINDIR);
    bool saw_build = false;
    for (size_t i = 0; i < n; i++) {
        if (strstr(dirs[i], "/tests/plugins")) {
            saw_build = true;
        }
    }
    assert_true(saw_build);
    dagd_plugin_host_free(h);
    assert_int_equal(unsetenv("DAGD_PLUGIN_PATH"), 0);
}

static void test_list(void **state)
{
    char *const dirs[] = {UNIT_PLUGIN_DIR, UNIT_PLUGIN_DIR "/order_b", NULL};
    struct dagd_plugin_host *h = dagd_plugin_host_new(dirs);
    const struct dagd_plugin **list = NULL;
    size_t n = 0;
    bool bare = false, utest = false, dup = false;

    /* badabi, small and nosym are refused (with a warning) and not listed */
    assert_int_equal(dagd_plugin_host_list(h, &list, &n), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(list[i]->desc->name, "badabi");
        assert_string_not_equal(list[i]->desc->name, "small");
        if (i > 0) {
            assert_true(strcmp(list[i - 1]->desc->name, list[i]->desc->name) < 0);
        }
        bare |= streq(list[i]->desc->name, "bare");
        utest |= streq(list[i]->desc->name, "utest");
        if (streq(list[i]->desc->name, "dup")) {
            dup = true;
            assert_string_equal(list[i]->desc->version, "b");
        }
    }
    assert_true(bare && utest && dup);
    free(list);
    dagd_plugin_host_free(h);
}

static void test_validate_callback(void **state)
{
    struct dagd_plugin_host *h = dagd_plugin_host_new(unit_dirs);
    const struct dagd_plugin *p = NULL;
    struct dagd_plugin_failure *f = NULL;
    size_t nf = 0;
    cJSON *ok = cJSON_Parse("{\"path\":\"x\",\"format\":\"json\",\"limit\":10}");
    cJSON *bad = cJSON_Parse("{\"path\":\"x\",\"format\":\"json\",\"limit\":60}");
    cJSON *silent = cJSON_Parse("{\"path\":\"silent\"}");

    assert_int_equal(dagd_plugin_host_find(h, "utest", &p, NULL), 0);
    assert_int_equal(dagd_plugin_host_validate(h, p, ok, NULL, "s", &f, &nf), 0);
    assert_int_equal(dagd_plugin_host_validate(h, p, bad, NULL, "s", &f, &nf), -EINVAL);
    assert_int_equal(nf, 1);
    assert_string_equal(f[0].key, "limit");
    assert_string_equal(f[0].message, "must be at most 50 with format json");
    dagd_plugin_failures_free(f, nf);
    assert_int_equal(dagd_plugin_host_validate(h, p, silent, NULL, "s", &f, &nf), -EINVAL);
    assert_int_equal(nf, 1);
    assert_null(f[0].key);
    assert_string_equal(f[0].message, "the task rejected its config (error -22)");
    dagd_plugin_failures_free(f, nf);
    cJSON_Delete(ok);
    cJSON_Delete(bad);
    cJSON_Delete(silent);
    dagd_plugin_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_wrong_abi_major),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_search_order),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_validate_callback),
    };
    (void)unsetenv("DAGD_PLUGIN_PATH");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
