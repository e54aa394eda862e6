/* Unit tests for daemon/engine/partitions.c: key shapes, static lists, the
 * windows of daily, hourly, weekly and monthly partitions across DST
 * changes (America/New_York, Europe/Berlin) and month and year ends, leap
 * days, the end bound and "not ended yet", and the built-in params. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <time.h>

#include "partitions.h"
#include "util.h"

static int64_t utc(const char *s)
{
    struct tm tm = {0};
    assert_non_null(strptime(s, "%Y-%m-%d %H:%M:%S", &tm));
    return (int64_t)timegm(&tm);
}

static struct dagd_partitions *windows(enum dagd_partition_kind k, const char *start,
                                       const char *end, const char *tz)
{
    struct dagd_partitions *ps = dagd_xcalloc(1, sizeof(*ps));
    ps->kind = k;
    ps->timezone = dagd_xstrdup(tz);
    assert_int_equal(dagd_partitions_parse_time(start, &ps->start), 0);
    ps->end = INT64_MAX;
    if (end) {
        assert_int_equal(dagd_partitions_parse_time(end, &ps->end), 0);
    }
    return ps;
}

static void assert_window(const struct dagd_partitions *ps, const char *key, const char *from,
                          const char *to)
{
    int64_t s, e;
    char *why = NULL;
    int r = dagd_partitions_check(ps, key, &s, &e, &why);
    if (r < 0) {
        fail_msg("%s: %s", key, why);
    }
    assert_int_equal(s, utc(from));
    assert_int_equal(e, utc(to));
}

static void assert_bad(const struct dagd_partitions *ps, const char *key, const char *msg_part)
{
    char *why = NULL;
    assert_int_equal(dagd_partitions_check(ps, key, NULL, NULL, &why), -EINVAL);
    assert_non_null(why);
    if (!strstr(why, msg_part)) {
        fail_msg("'%s' does not say '%s'", why, msg_part);
    }
    free(why);
}

static void test_parse_time(void **state)
{
    int64_t t;
    (void)state;
    assert_int_equal(dagd_partitions_parse_time("2024-02-29", &t), 0);
    assert_int_equal(t, utc("2024-02-29 00:00:00"));
    assert_int_equal(dagd_partitions_parse_time("2024-02-29T13", &t), 0);
    assert_int_equal(t, utc("2024-02-29 13:00:00"));
    assert_int_equal(dagd_partitions_parse_time("2024-02", &t), 0);
    assert_int_equal(t, utc("2024-02-01 00:00:00"));
    assert_int_equal(dagd_partitions_parse_time("2024-01-05 06:07:08", &t), 0);
    assert_int_equal(t, utc("2024-01-05 06:07:08"));
    assert_int_equal(dagd_partitions_parse_time("2023-02-29", &t), -EINVAL);
    assert_int_equal(dagd_partitions_parse_time("2024-13-01", &t), -EINVAL);
    assert_int_equal(dagd_partitions_parse_time("2024-1-01", &t), -EINVAL);
    assert_int_equal(dagd_partitions_parse_time("2024-01-01T24", &t), -EINVAL);
    assert_int_equal(dagd_partitions_parse_time("2024-01-01x", &t), -EINVAL);
    assert_int_equal(dagd_partitions_parse_time("", &t), -EINVAL);
}

/* A day across spring-forward lasts 23 hours, across fall-back 25. */
static void test_daily_dst(void **state)
{
    struct dagd_partitions *ps =
        windows(DAGD_PARTITIONS_DAILY, "2024-01-01", NULL, "America/New_York");
    (void)state;
    assert_window(ps, "2024-03-09", "2024-03-09 05:00:00", "2024-03-10 05:00:00");
    assert_window(ps, "2024-03-10", "2024-03-10 05:00:00", "2024-03-11 04:00:00");
    assert_window(ps, "2024-11-03", "2024-11-03 04:00:00", "2024-11-04 05:00:00");
    assert_bad(ps, "2023-12-31", "before the first partition");
    assert_bad(ps, "2024-03-1", "not a daily key");
    assert_bad(ps, "2024-03-10T00", "not a daily key");
    assert_bad(ps, "2024-02-30", "not a daily key");

    struct dagd_params b = {0};
    dagd_partitions_builtins(ps, "2024-03-10", &b);
    assert_string_equal(dagd_params_get(&b, "partition"), "2024-03-10");
    assert_string_equal(dagd_params_get(&b, "partition_start"), "2024-03-10T00:00:00-05:00");
    assert_string_equal(dagd_params_get(&b, "partition_end"), "2024-03-11T00:00:00-04:00");
    dagd_params_done(&b);
    dagd_partitions_free(ps);
}

/* Spring-forward skips 02:00-03:00: no partition T02; fall-back repeats
 * 01:00-02:00: one partition T01 of two hours. */
static void test_hourly_dst(void **state)
{
    struct dagd_partitions *ps =
        windows(DAGD_PARTITIONS_HOURLY, "2024-01-01T00", NULL, "Europe/Berlin");
    char **keys = NULL;
    size_t n = 0;
    (void)state;
    assert_window(ps, "2024-03-31T01", "2024-03-31 00:00:00", "2024-03-31 01:00:00");
    assert_bad(ps, "2024-03-31T02", "skipped");
    assert_window(ps, "2024-03-31T03", "2024-03-31 01:00:00", "2024-03-31 02:00:00");
    assert_window(ps, "2024-10-27T02", "2024-10-27 00:00:00", "2024-10-27 02:00:00");
    assert_window(ps, "2024-10-27T03", "2024-10-27 02:00:00", "2024-10-27 03:00:00");

    assert_int_equal(dagd_partitions_keys(ps, "2024-03-31T00", "2024-03-31T04",
                                          utc("2025-01-01 00:00:00"), 100, &keys, &n, NULL),
                     0);
    assert_int_equal(n, 4);
    assert_string_equal(keys[0], "2024-03-31T00");
    assert_string_equal(keys[1], "2024-03-31T01");
    assert_string_equal(keys[2], "2024-03-31T03");
    assert_string_equal(keys[3], "2024-03-31T04");
    assert_null(keys[4]);
    dagd_partitions_keys_free(keys);
    dagd_partitions_free(ps);
}

static void test_monthly_ends(void **state)
{
    struct dagd_partitions *ps =
        windows(DAGD_PARTITIONS_MONTHLY, "2023-11-15", "2024-04-01", "UTC");
    char **keys = NULL;
    size_t n = 0;
    (void)state;
    /* The first window holds the start. */
    assert_window(ps, "2023-11", "2023-11-01 00:00:00", "2023-12-01 00:00:00");
    assert_window(ps, "2023-12", "2023-12-01 00:00:00", "2024-01-01 00:00:00");
    assert_window(ps, "2024-02", "2024-02-01 00:00:00", "2024-03-01 00:00:00");
    assert_bad(ps, "2024-04", "ends after");
    assert_bad(ps, "2024-02-01", "not a monthly key");
    assert_int_equal(
        dagd_partitions_keys(ps, NULL, NULL, utc("2030-01-01 00:00:00"), 100, &keys, &n, NULL), 0);
    assert_int_equal(n, 5);
    assert_string_equal(keys[0], "2023-11");
    assert_string_equal(keys[4], "2024-03");
    dagd_partitions_keys_free(keys);

    /* Only windows that have ended by `now`. */
    assert_int_equal(
        dagd_partitions_keys(ps, NULL, NULL, utc("2024-02-15 00:00:00"), 100, &keys, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_string_equal(keys[2], "2024-01");
    dagd_partitions_keys_free(keys);
    dagd_partitions_free(ps);
}

static void test_daily_month_end_and_max(void **state)
{
    struct dagd_partitions *ps = windows(DAGD_PARTITIONS_DAILY, "2024-02-27", NULL, "UTC");
    char **keys = NULL;
    size_t n = 0;
    (void)state;
    assert_int_equal(dagd_partitions_keys(ps, NULL, "2024-03-02", utc("2030-01-01 00:00:00"), 100,
                                          &keys, &n, NULL),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(keys[2], "2024-02-29");
    assert_string_equal(keys[3], "2024-03-01");
    dagd_partitions_keys_free(keys);
    assert_int_equal(dagd_partitions_keys(ps, "2024-12-30", "2025-01-02",
                                          utc("2030-01-01 00:00:00"), 100, &keys, &n, NULL),
                     0);
    assert_int_equal(n, 4);
    assert_string_equal(keys[2], "2025-01-01");
    dagd_partitions_keys_free(keys);
    assert_int_equal(
        dagd_partitions_keys(ps, NULL, NULL, utc("2030-01-01 00:00:00"), 100, &keys, &n, NULL),
        -E2BIG);
    dagd_partitions_free(ps);
}

/* A schedule's run targets the partition that just closed. */
static void test_last_closed(void **state)
{
    struct dagd_partitions *ps =
        windows(DAGD_PARTITIONS_DAILY, "2024-01-01", "2024-06-01", "America/New_York");
    char *key = NULL;
    (void)state;
    /* 00:05 New York on 2024-03-11 (EDT) = 04:05 UTC: 2024-03-10 closed. */
    assert_int_equal(dagd_partitions_last_closed(ps, utc("2024-03-11 04:05:00"), &key), 0);
    assert_string_equal(key, "2024-03-10");
    free(key);
    /* 23:55 New York on 2024-03-11: still 2024-03-10. */
    assert_int_equal(dagd_partitions_last_closed(ps, utc("2024-03-12 03:55:00"), &key), 0);
    assert_string_equal(key, "2024-03-10");
    free(key);
    /* After the end: the last partition. */
    assert_int_equal(dagd_partitions_last_closed(ps, utc("2025-01-01 00:00:00"), &key), 0);
    assert_string_equal(key, "2024-05-31");
    free(key);
    /* Before the first one closed. */
    assert_int_equal(dagd_partitions_last_closed(ps, utc("2024-01-01 12:00:00"), &key), -ENOENT);
    dagd_partitions_free(ps);

    ps = windows(DAGD_PARTITIONS_HOURLY, "2024-01-01", NULL, "Europe/Berlin");
    /* 03:30 CEST on spring-forward day = 01:30 UTC: hour 03 is open, 02
     * was skipped, 01 closed. */
    assert_int_equal(dagd_partitions_last_closed(ps, utc("2024-03-31 01:30:00"), &key), 0);
    assert_string_equal(key, "2024-03-31T01");
    free(key);
    dagd_partitions_free(ps);
}

static void test_weekly(void **state)
{
    struct dagd_partitions *ps =
        windows(DAGD_PARTITIONS_WEEKLY, "2024-03-04", NULL, "America/New_York");
    (void)state;
    assert_window(ps, "2024-03-04", "2024-03-04 05:00:00", "2024-03-11 04:00:00");
    assert_bad(ps, "2024-03-05", "does not start a week");
    dagd_partitions_free(ps);
}

static void test_static(void **state)
{
    struct dagd_partitions ps = {.kind = DAGD_PARTITIONS_STATIC};
    char *k[] = {"north", "south", "east"};
    char **keys = NULL;
    size_t n = 0;
    (void)state;
    ps.keys = k;
    ps.n_keys = 3;
    assert_int_equal(dagd_partitions_check(&ps, "south", NULL, NULL, NULL), 0);
    assert_int_equal(dagd_partitions_check(&ps, "west", NULL, NULL, NULL), -EINVAL);
    assert_int_equal(dagd_partitions_keys(&ps, "south", NULL, 0, 10, &keys, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(keys[1], "east");
    dagd_partitions_keys_free(keys);
    struct dagd_params b = {0};
    dagd_partitions_builtins(&ps, "east", &b);
    assert_string_equal(dagd_params_get(&b, "partition"), "east");
    assert_string_equal(dagd_params_get(&b, "partition_start"), "");
    dagd_params_done(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_daily_dst),
        cmocka_unit_test(test_hourly_dst),
        cmocka_unit_test(test_monthly_ends),
        cmocka_unit_test(test_daily_month_end_and_max),
        cmocka_unit_test(test_weekly),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_last_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
