/* Unit tests for daemon/serve/daemon_config.c: a full file sets every key,
 * a partial one keeps the defaults, and each kind of error is reported as
 * FILE:LINE:COL: error: MESSAGE, all of them collected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon_config.h"
#include "http_address.h"

static void test_full_file(void **state)
{
    char path[] = "/tmp/dagd-test-config-XXXXXX";
    int fd = mkstemp(path);
    static const char text[] = "socket: /run/x/d.sock\n"
                               "state_dir: /var/lib/x\n"
                               "state: host=/run/postgresql dbname=dagd\n"
                               "pipelines_dir: /etc/x/pipelines\n"
                               "plugin_dirs: [/a, /b]\n"
                               "work_dir: /srv\n"
                               "watch_pipelines: no\n"
                               "limits:\n"
                               "  max_concurrent_runs: 7\n"
                               "  max_jobs: 3\n"
                               "  max_clients: 9\n"
                               "  max_http_streams: 0\n"
                               "  max_line_bytes: 2048\n"
                               "  idle_timeout: 5s\n"
                               "shutdown_grace: 250ms\n"
                               "retention: 2d\n";
    struct dagd_daemon_config c;
    struct dagd_diags d = {0};

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    dagd_daemon_config_init(&c);
    dagd_daemon_config_add_plugin_dir(&c, "/first");
    assert_int_equal(dagd_daemon_config_load(&c, path, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c.socket, "/run/x/d.sock");
    assert_string_equal(c.state_dir, "/var/lib/x");
    assert_string_equal(c.state, "host=/run/postgresql dbname=dagd");
    assert_string_equal(c.pipelines_dir, "/etc/x/pipelines");
    assert_string_equal(c.work_dir, "/srv");
    assert_int_equal(c.n_plugin_dirs, 3); /* appended to what was there */
    assert_string_equal(c.plugin_dirs[0], "/first");
    assert_string_equal(c.plugin_dirs[2], "/b");
    assert_null(c.plugin_dirs[3]);
    assert_false(c.watch_pipelines);
    assert_int_equal(c.max_concurrent_runs, 7);
    assert_int_equal(c.max_jobs, 3);
    assert_int_equal(c.max_clients, 9);
    assert_int_equal(c.max_http_streams, 0);
    assert_int_equal(c.max_line_bytes, 2048);
    assert_int_equal(c.idle_timeout_usec, 5000000);
    assert_int_equal(c.shutdown_grace_usec, 250000);
    assert_int_equal(c.retention_usec, 2ull * 86400 * 1000000);
    dagd_daemon_config_done(&c);
    unlink(path);
}

/* Keys that are absent keep their defaults; an empty file is fine. */
/* pools: NAME: SLOTS in file order; limits.max_backfill_runs. */
static void test_pools(void **state)
{
    static const char text[] = "pools:\n  warehouse: 2\n  api.v2: 40\n"
                               "limits:\n  max_backfill_runs: 3\n";
    struct dagd_daemon_config c;
    struct dagd_diags d = {0};

    dagd_daemon_config_init(&c);
    assert_int_equal(dagd_daemon_config_load_buffer(&c, "p.yaml", text, strlen(text), &d), 0);
    assert_int_equal(c.n_pools, 2);
    assert_string_equal(c.pool_names[0], "warehouse");
    assert_int_equal(c.pool_slots[0], 2);
    assert_string_equal(c.pool_names[1], "api.v2");
    assert_int_equal(c.pool_slots[1], 40);
    assert_int_equal(c.max_backfill_runs, 3);
    dagd_daemon_config_done(&c);
}

static void test_partial_and_empty(void **state)
{
    struct dagd_daemon_config c, def;
    struct dagd_diags d = {0};
    static const char text[] = "limits: {max_jobs: 2}\n";

    dagd_daemon_config_init(&def);
    dagd_daemon_config_init(&c);
    assert_int_equal(dagd_daemon_config_load_buffer(&c, "p.yaml", text, strlen(text), &d), 0);
    assert_int_equal(c.max_jobs, 2);
    assert_int_equal(c.max_concurrent_runs, def.max_concurrent_runs);
    assert_int_equal(c.max_http_streams, 16);
    assert_int_equal(c.state_readers, 2);
    assert_int_equal(c.shutdown_grace_usec, def.shutdown_grace_usec);
    assert_int_equal(c.retention_usec, def.retention_usec);
    assert_true(c.watch_pipelines);
    assert_null(c.socket);
    assert_null(c.http); /* the HTTP listener is off by default */
    assert_int_equal(dagd_daemon_config_load_buffer(&c, "e.yaml", "", 0, &d), 0);
    assert_int_equal(d.n, 0);
    dagd_daemon_config_done(&c);
    dagd_daemon_config_done(&def);
}

/* `http:` takes ADDR:PORT (IPv6 in brackets) or an absolute Unix socket path. */
static void test_http_addresses(void **state)
{
    static const char *const good[] = {"127.0.0.1:8080", "[::1]:0", "localhost:9000", "0.0.0.0:80",
                                       "/run/dagd/http.sock"};
    for (size_t i = 0; i < ELEMENTSOF(good); i++) {
        struct dagd_daemon_config c;
        struct dagd_diags d = {0};
        _cleanup_free_ char *text = dagd_xasprintf("http: '%s'\n", good[i]);
        dagd_daemon_config_init(&c);
        assert_int_equal(dagd_daemon_config_load_buffer(&c, "h.yaml", text, strlen(text), &d), 0);
        assert_string_equal(c.http, good[i]);
        dagd_daemon_config_done(&c);
    }
    static const char *const bad_addrs[] = {"",           "8080",        ":8080",
                                            "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:-1",
                                            "::1:80",     "[::1:80",     "rel/path.sock"};
    for (size_t i = 0; i < ELEMENTSOF(bad_addrs); i++) {
        assert_true(dagd_http_check_address(bad_addrs[i]) < 0);
    }
}

struct bad {
    const char *text;
    const char *want; /* the first diagnostic, as dagd_diags_summary prints it */
};

static const struct bad bad[] = {
    {"sockett: x\n", "t.yaml:1:1: error: unknown key 'sockett'"},
    {"socket: a\nsocket: b\n", "t.yaml:2:1: error: duplicate key 'socket'"},
    {"socket: [a]\n", "t.yaml:1:9: error: 'socket' must be a scalar"},
    {"state_dir: ''\n", "t.yaml:1:12: error: 'state_dir' must not be empty"},
    {"watch_pipelines: maybe\n",
     "t.yaml:1:18: error: 'watch_pipelines' must be true or false, got 'maybe'"},
    {"limits: 3\n", "t.yaml:1:9: error: expected a mapping"},
    {"limits:\n  max_jobs: -1\n",
     "t.yaml:2:13: error: 'max_jobs' must be an integer between 0 and 100000, got '-1'"},
    {"state_readers: 17\n",
     "t.yaml:1:16: error: 'state_readers' must be an integer between 0 and 16, got '17'"},
    {"limits:\n  max_clients: 5000\n",
     "t.yaml:2:16: error: 'max_clients' must be an integer between 0 and 4096, got '5000'"},
    {"limits:\n  max_http_streams: 64\n",
     "t.yaml:2:21: error: 'max_http_streams' must be an integer between 0 and 48, got '64'"},
    {"limits:\n  max_concurrent_runs: 0\n",
     "t.yaml:2:24: error: 'max_concurrent_runs' must be at least 1"},
    {"limits:\n  max_line_bytes: 10\n",
     "t.yaml:2:19: error: 'max_line_bytes' must be at least 1024"},
    {"limits:\n  max_line: 10\n", "t.yaml:2:3: error: unknown key 'max_line'"},
    {"shutdown_grace: soon\n", "t.yaml:1:17: error: 'shutdown_grace' must be a duration such as "
                               "250ms, 30s, 5m, 1h or 30d, got 'soon'"},
    {"plugin_dirs: /x\n", "t.yaml:1:14: error: 'plugin_dirs' must be a list of directories"},
    {"plugin_dirs: [[a]]\n", "t.yaml:1:15: error: 'plugin_dirs' must be a scalar"},
    {"[a, b]\n", "t.yaml:1:1: error: expected a mapping"},
    {"{[a]: b}\n", "t.yaml:1:2: error: keys must be scalars"},
    {"http: 8080\n", "t.yaml:1:7: error: 'http' must be ADDR:PORT (e.g. 127.0.0.1:8080, "
                     "[::1]:8080) or an absolute Unix socket path, got '8080'"},
    {"http: ::1:8080\n", "t.yaml:1:7: error: 'http' must be ADDR:PORT (e.g. 127.0.0.1:8080, "
                         "[::1]:8080) or an absolute Unix socket path, got '::1:8080'"},
    {"http: 127.0.0.1:65536\n", "t.yaml:1:7: error: 'http' must be ADDR:PORT (e.g. "
                                "127.0.0.1:8080, [::1]:8080) or an absolute Unix socket path, got "
                                "'127.0.0.1:65536'"},
    {"pools: [a]\n", "t.yaml:1:8: error: 'pools' must be a mapping of pool names to slot counts"},
    {"pools:\n  db: 0\n", "t.yaml:2:7: error: 'pools.db' must have at least 1 slot"},
    {"pools:\n  db: many\n",
     "t.yaml:2:7: error: 'pools.db' must be an integer between 0 and 100000, got 'many'"},
    {"pools:\n  \"a b\": 2\n",
     "t.yaml:2:3: error: invalid pool name 'a b' (use letters, digits, '_', '-' and '.', at most "
     "64)"},
    {"pools:\n  db: 1\n  db: 2\n", "t.yaml:3:3: error: duplicate pool 'db'"},
    {"limits:\n  max_backfill_runs: x\n",
     "t.yaml:2:22: error: 'max_backfill_runs' must be an integer between 0 and 100000, got 'x'"},
    /* Not YAML: libyaml's problem at its mark. */
    {"socket: \"x\n", "t.yaml:2:1: error: found unexpected end of stream"},
};

static void test_each_error(void **state)
{
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct dagd_daemon_config c;
        struct dagd_diags d = {0};
        dagd_daemon_config_init(&c);
        int r = dagd_daemon_config_load_buffer(&c, "t.yaml", bad[i].text, strlen(bad[i].text), &d);
        _cleanup_free_ char *got = dagd_diags_summary(&d);
        if (r != -EINVAL || !streq(got, bad[i].want)) {
            fail_msg("case %zu: r=%d\n got: %s\nwant: %s", i, r, got, bad[i].want);
        }
        dagd_diags_done(&d);
        dagd_daemon_config_done(&c);
    }
}

/* Every error of a file is reported, not only the first. */
static void test_all_errors_collected(void **state)
{
    static const char text[] = "socket: ''\n"
                               "bogus: 1\n"
                               "limits:\n"
                               "  max_jobs: x\n"
                               "  idle_timeout: later\n"
                               "retention: 0\n";
    struct dagd_daemon_config c;
    struct dagd_diags d = {0};

    dagd_daemon_config_init(&c);
    assert_int_equal(dagd_daemon_config_load_buffer(&c, "m.yaml", text, strlen(text), &d), -EINVAL);
    assert_int_equal(d.n, 4);
    static const unsigned lines[] = {1, 2, 4, 5};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(d.items[i].file, "m.yaml");
        assert_int_equal(d.items[i].mark.line, lines[i]);
    }
    assert_int_equal(c.retention_usec, 0); /* the good key still applied */
    _cleanup_free_ char *s = dagd_diags_summary(&d);
    assert_non_null(strstr(s, "(and 3 more errors)"));
    dagd_diags_done(&d);
    dagd_daemon_config_done(&c);
}

static void test_missing_file(void **state)
{
    struct dagd_daemon_config c;
    struct dagd_diags d = {0};

    dagd_daemon_config_init(&c);
    assert_int_equal(dagd_daemon_config_load(&c, "/nonexistent/dagd.yaml", &d), -ENOENT);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.items[0].file, "/nonexistent/dagd.yaml");
    assert_non_null(strstr(d.items[0].message, "cannot open"));
    dagd_diags_done(&d);
    dagd_daemon_config_done(&c);
}

/* systemd's directories fill in what the file and command line left unset. */
static void test_defaults_from_systemd(void **state)
{
    struct dagd_daemon_config c;

    dagd_daemon_config_init(&c);
    setenv("STATE_DIRECTORY", "/var/lib/s1:/var/lib/s2", 1);
    setenv("CONFIGURATION_DIRECTORY", "/etc/c1", 1);
    setenv("RUNTIME_DIRECTORY", "/run/r1", 1);
    dagd_daemon_config_fill_defaults(&c);
    assert_string_equal(c.state_dir, "/var/lib/s1");
    assert_string_equal(c.pipelines_dir, "/etc/c1/pipelines");
    _cleanup_free_ char *sock = dagd_daemon_config_default_socket();
    assert_string_equal(sock, "/run/r1/dagd.sock");
    dagd_daemon_config_done(&c);

    dagd_daemon_config_init(&c);
    c.state_dir = dagd_xstrdup("/mine");
    unsetenv("STATE_DIRECTORY");
    unsetenv("CONFIGURATION_DIRECTORY");
    unsetenv("RUNTIME_DIRECTORY");
    dagd_daemon_config_fill_defaults(&c);
    assert_string_equal(c.state_dir, "/mine");
    assert_string_equal(c.pipelines_dir, "/etc/dagd/pipelines");
    _cleanup_free_ char *sock2 = dagd_daemon_config_default_socket();
    assert_string_equal(sock2, "/run/dagd/dagd.sock");
    dagd_daemon_config_done(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),    cmocka_unit_test(test_partial_and_empty),
        cmocka_unit_test(test_pools),        cmocka_unit_test(test_http_addresses),
        cmocka_unit_test(test_each_error),   cmocka_unit_test(test_all_errors_collected),
        cmocka_unit_test(test_missing_file), cmocka_unit_test(test_defaults_from_systemd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
