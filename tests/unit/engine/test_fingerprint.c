/* Unit tests for daemon/fingerprint.c: what changes a fingerprint, what
 * does not, the manifest explanations, and the file-hash cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "fingerprint.h"
#include "util.h"

/* A baseline step every test modifies one field of. */
static const char *keys[] = {"data_dir", "run_id", "usd_rate"};
static const char *vals[] = {"data/sales", "0123", "7.10"};
static struct dagd_fp_input inputs[] = {
    {"data/a.json", "00000000000000000000000000000001"},
    {"data/b.xlsx", "00000000000000000000000000000002"},
};
static struct dagd_fp_upstream ups[] = {
    {"extract", "0000000000000000000000000000000a"},
    {"load", "0000000000000000000000000000000b"},
};

static struct dagd_fp_parts base(void)
{
    return (struct dagd_fp_parts){
        .task = "extract",
        .task_version = "1",
        .plugin_path = "/usr/lib/dagd/tasks/dagd-task-extract.so",
        .plugin_size = 4096,
        .plugin_mtime_ns = 1700000000000000000,
        .config_json = "{\"format\":\"json\",\"path\":\"data/a.json\"}",
        .param_keys = keys,
        .param_values = vals,
        .n_params = 3,
        .inputs = inputs,
        .n_inputs = 2,
        .upstream = ups,
        .n_upstream = 2,
    };
}

static void fp(const struct dagd_fp_parts *p, char out[static DAGD_FP_HEX_SIZE])
{
    assert_int_equal(dagd_fingerprint_compute(p, out, NULL), 0);
    assert_int_equal(strlen(out), DAGD_FP_HEX_LEN);
    for (size_t i = 0; i < DAGD_FP_HEX_LEN; i++) {
        assert_non_null(strchr("0123456789abcdef", out[i]));
    }
}

static void test_deterministic(void **state)
{
    struct dagd_fp_parts p = base();
    char a[DAGD_FP_HEX_SIZE], b[DAGD_FP_HEX_SIZE];
    fp(&p, a);
    fp(&p, b);
    assert_string_equal(a, b);
}

static void test_order_independent(void **state)
{
    struct dagd_fp_parts p = base();
    const char *k2[] = {"usd_rate", "data_dir", "run_id"};
    const char *v2[] = {"7.10", "data/sales", "0123"};
    struct dagd_fp_input in2[] = {inputs[1], inputs[0]};
    struct dagd_fp_upstream up2[] = {ups[1], ups[0]};
    char a[DAGD_FP_HEX_SIZE], b[DAGD_FP_HEX_SIZE];

    fp(&p, a);
    p.param_keys = k2;
    p.param_values = v2;
    p.inputs = in2;
    p.upstream = up2;
    fp(&p, b);
    assert_string_equal(a, b);
    /* The caller's arrays are left in their order. */
    assert_string_equal(in2[0].path, "data/b.xlsx");
    assert_string_equal(k2[0], "usd_rate");
}

static void test_run_id_ignored(void **state)
{
    struct dagd_fp_parts p = base();
    const char *v2[] = {"data/sales", "9999", "7.10"};
    char a[DAGD_FP_HEX_SIZE], b[DAGD_FP_HEX_SIZE];

    assert_true(dagd_fingerprint_param_is_volatile("run_id"));
    assert_false(dagd_fingerprint_param_is_volatile("data_dir"));
    fp(&p, a);
    p.param_values = v2;
    fp(&p, b);
    assert_string_equal(a, b);
}

/* Every component, changed alone, changes the fingerprint. */
static void test_every_component_counts(void **state)
{
    char ref[DAGD_FP_HEX_SIZE], got[DAGD_FP_HEX_SIZE];
    const char *v2[] = {"data/sales", "0123", "7.11"};
    const char *k3[] = {"data_dir", "run_id", "usd_rate", "extra"};
    const char *v3[] = {"data/sales", "0123", "7.10", ""};
    struct dagd_fp_input in2[] = {inputs[0], {"data/b.xlsx", "00000000000000000000000000000003"}};
    struct dagd_fp_input in3[] = {inputs[0], {"data/b.xlsx", NULL}};
    struct dagd_fp_upstream up2[] = {ups[0], {"load", "0000000000000000000000000000000c"}};
    struct dagd_fp_parts p = base();

    fp(&p, ref);
    for (int field = 0; field < 12; field++) {
        p = base();
        switch (field) {
        case 0:
            p.task = "extract2";
            break;
        case 1:
            p.task_version = "2";
            break;
        case 2:
            p.plugin_path = "/other/dagd-task-extract.so";
            break;
        case 3:
            p.plugin_size++;
            break;
        case 4:
            p.plugin_mtime_ns++;
            break;
        case 5:
            p.config_json = "{\"format\":\"json\",\"path\":\"data/c.json\"}";
            break;
        case 6:
            p.param_values = v2;
            break;
        case 7:
            p.param_keys = k3;
            p.param_values = v3;
            p.n_params = 4;
            break;
        case 8:
            p.inputs = in2;
            break;
        case 9:
            p.inputs = in3;
            break;
        case 10:
            p.n_inputs = 1;
            break;
        case 11:
            p.upstream = up2;
            break;
        }
        fp(&p, got);
        if (streq(ref, got)) {
            fail_msg("changing field %d did not change the fingerprint", field);
        }
    }
    p = base();
    p.n_upstream = 1;
    fp(&p, got);
    assert_string_not_equal(ref, got);
}

/* Field boundaries are part of the hash: moving a byte between two
 * adjacent fields changes it. */
static void test_no_field_ambiguity(void **state)
{
    const char *ka[] = {"ab"}, *va[] = {"c"};
    const char *kb[] = {"a"}, *vb[] = {"bc"};
    struct dagd_fp_parts p = base();
    char a[DAGD_FP_HEX_SIZE], b[DAGD_FP_HEX_SIZE];

    p.n_params = 1;
    p.param_keys = ka;
    p.param_values = va;
    fp(&p, a);
    p.param_keys = kb;
    p.param_values = vb;
    fp(&p, b);
    assert_string_not_equal(a, b);

    p = base();
    p.task = "ab";
    p.task_version = "c";
    fp(&p, a);
    p.task = "a";
    p.task_version = "bc";
    fp(&p, b);
    assert_string_not_equal(a, b);
}

static void test_invalid(void **state)
{
    struct dagd_fp_parts p = base();
    char out[DAGD_FP_HEX_SIZE];

    p.task = NULL;
    assert_int_equal(dagd_fingerprint_compute(&p, out, NULL), -EINVAL);
    p = base();
    p.inputs = NULL;
    assert_int_equal(dagd_fingerprint_compute(&p, out, NULL), -EINVAL);
    /* No params, inputs or upstream at all is fine. */
    p = (struct dagd_fp_parts){.task = "noop", .task_version = "1"};
    fp(&p, out);
}

static char *manifest_of(const struct dagd_fp_parts *p)
{
    char out[DAGD_FP_HEX_SIZE];
    char *m = NULL;
    assert_int_equal(dagd_fingerprint_compute(p, out, &m), 0);
    assert_non_null(m);
    return m;
}

static void check_reason(const struct dagd_fp_parts *old, const struct dagd_fp_parts *cur,
                         const char *want)
{
    _cleanup_free_ char *a = manifest_of(old), *b = manifest_of(cur);
    _cleanup_free_ char *why = dagd_fingerprint_explain(a, b);
    if (!want) {
        assert_null(why);
        return;
    }
    assert_non_null(why);
    assert_string_equal(why, want);
}

static void test_explain(void **state)
{
    struct dagd_fp_parts old = base(), cur;
    const char *v2[] = {"data/sales", "0123", "7.11"};
    struct dagd_fp_input in2[] = {inputs[0], {"data/b.xlsx", "00000000000000000000000000000003"}};
    struct dagd_fp_input in3[] = {inputs[0], {"data/b.xlsx", NULL}};
    struct dagd_fp_input in4[] = {
        inputs[0], inputs[1], {"data/c.csv", "0000000000000000000000000000000f"}};
    struct dagd_fp_upstream up2[] = {ups[0], {"load", "0000000000000000000000000000000c"}};

    cur = base();
    check_reason(&old, &cur, NULL);
    cur.task_version = "2";
    check_reason(&old, &cur, "task version changed");
    cur = base();
    cur.config_json = "{}";
    check_reason(&old, &cur, "config changed");
    cur = base();
    cur.param_values = v2;
    check_reason(&old, &cur, "params changed");
    cur = base();
    cur.inputs = in2;
    check_reason(&old, &cur, "input data/b.xlsx changed");
    cur.inputs = in3;
    check_reason(&old, &cur, "input data/b.xlsx missing");
    cur.inputs = in4;
    cur.n_inputs = 3;
    check_reason(&old, &cur, "input data/c.csv added");
    cur = base();
    cur.n_inputs = 1;
    check_reason(&old, &cur, "input data/b.xlsx removed");
    cur = base();
    cur.upstream = up2;
    check_reason(&old, &cur, "upstream load changed");
    cur = base();
    cur.plugin_mtime_ns++;
    check_reason(&old, &cur, "task plugin changed");

    /* Unusable old manifests explain nothing. */
    _cleanup_free_ char *m = manifest_of(&old);
    assert_null(dagd_fingerprint_explain(NULL, m));
    assert_null(dagd_fingerprint_explain("not json", m));
    assert_null(dagd_fingerprint_explain("[1]", m));
}

/* ---- File hashes and the cache ----------------------------------------- */

struct memcache {
    char path[4096];
    struct dagd_file_id id;
    char hash[DAGD_FP_HEX_SIZE];
    bool valid;
    unsigned puts;
};

static int mc_get(void *u, const char *path, const struct dagd_file_id *id, char **ret)
{
    struct memcache *c = u;
    if (!c->valid || !streq(c->path, path) || memcmp(&c->id, id, sizeof(*id)) != 0) {
        return -ENOENT;
    }
    *ret = dagd_xstrdup(c->hash);
    return 0;
}

static int mc_put(void *u, const char *path, const struct dagd_file_id *id, const char *hash)
{
    struct memcache *c = u;
    (void)snprintf(c->path, sizeof(c->path), "%s", path);
    c->id = *id;
    memcpy(c->hash, hash, DAGD_FP_HEX_SIZE);
    c->valid = true;
    c->puts++;
    return 0;
}

static char tmpdir[] = "/tmp/dagd-test-fp-XXXXXX";

static void write_file(const char *path, const char *content, time_t mtime)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    if (mtime) {
        struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
}

static void test_hash_file(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/in.json", tmpdir);
    char expect[DAGD_FP_HEX_SIZE], got[DAGD_FP_HEX_SIZE], again[DAGD_FP_HEX_SIZE];
    struct memcache mc = {0};
    struct dagd_filehash_cache cache = {.get = mc_get, .put = mc_put, .userdata = &mc};
    time_t old = time(NULL) - 3600;

    write_file(path, "{\"a\":1}", old);
    dagd_fingerprint_hash_buffer("{\"a\":1}", 7, expect);

    /* No cache. */
    assert_int_equal(dagd_fingerprint_hash_file(path, NULL, got), 0);
    assert_string_equal(got, expect);

    /* Miss, then hit. */
    assert_int_equal(dagd_fingerprint_hash_file(path, &cache, got), 0);
    assert_string_equal(got, expect);
    assert_int_equal(cache.misses, 1);
    assert_int_equal(cache.hits, 0);
    assert_int_equal(mc.puts, 1);
    assert_true(mc.path[0] == '/'); /* keyed by absolute path */
    assert_int_equal(dagd_fingerprint_hash_file(path, &cache, again), 0);
    assert_string_equal(again, expect);
    assert_int_equal(cache.hits, 1);

    /* A hit trusts the cache: prove it by planting a different hash. */
    memcpy(mc.hash, "ffffffffffffffffffffffffffffffff", DAGD_FP_HEX_SIZE);
    assert_int_equal(dagd_fingerprint_hash_file(path, &cache, got), 0);
    assert_string_equal(got, "ffffffffffffffffffffffffffffffff");

    /* Touch (new mtime, same content): miss, rehash, same hash. */
    write_file(path, "{\"a\":1}", old + 60);
    assert_int_equal(dagd_fingerprint_hash_file(path, &cache, got), 0);
    assert_string_equal(got, expect);
    assert_int_equal(cache.misses, 2);

    /* Changed content with the same size and mtime would be missed: that
     * is why recent files are not cached. A fresh write is hashed each time. */
    write_file(path, "{\"a\":2}", 0);
    unsigned puts = mc.puts;
    assert_int_equal(dagd_fingerprint_hash_file(path, &cache, got), 0);
    assert_string_not_equal(got, expect);
    assert_int_equal(mc.puts, puts);

    /* Errors. */
    _cleanup_free_ char *missing = dagd_xasprintf("%s/nope", tmpdir);
    assert_int_equal(dagd_fingerprint_hash_file(missing, &cache, got), -ENOENT);
    assert_int_equal(dagd_fingerprint_hash_file(tmpdir, &cache, got), -EISDIR);
    (void)unlink(path);
}

/* Bigger than one read buffer, so the streaming path is the one tested. */
static void test_hash_big_file(void **state)
{
    _cleanup_free_ char *path = dagd_xasprintf("%s/big.bin", tmpdir);
    size_t n = 1024 * 1024 + 17;
    _cleanup_free_ char *buf = dagd_xmalloc(n);
    char expect[DAGD_FP_HEX_SIZE], got[DAGD_FP_HEX_SIZE];
    FILE *f;

    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)(i * 131 + 7);
    }
    f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    dagd_fingerprint_hash_buffer(buf, n, expect);
    assert_int_equal(dagd_fingerprint_hash_file(path, NULL, got), 0);
    assert_string_equal(got, expect);
    (void)unlink(path);
}

static int setup(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_run_id_ignored),
        cmocka_unit_test(test_every_component_counts),
        cmocka_unit_test(test_no_field_ambiguity),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_hash_file),
        cmocka_unit_test(test_hash_big_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
