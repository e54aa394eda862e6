/* Unit tests for daemon/cron.c: parse errors, aliases and names, next fire
 * times across month and year ends, leap years, Vixie day semantics, the
 * 6-field form, and DST in Europe/Berlin and America/New_York (Asia/Shanghai
 * has none). Instants are written as UTC strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <time.h>

#include "cron.h"
#include "util.h"

static int64_t utc(const char *s)
{
    struct tm tm = {0};
    assert_non_null(strptime(s, "%Y-%m-%d %H:%M:%S", &tm));
    return (int64_t)timegm(&tm);
}

static char *fmt(int64_t t)
{
    static char buf[64];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* The next fire of `expr` in `tz` after the UTC time `after`, as a UTC string. */
static char *next(const char *expr, const char *tz, const char *after)
{
    struct dagd_cron c;
    _cleanup_free_ char *err = NULL;
    int64_t t = 0;

    int r = dagd_cron_parse(expr, &c, &err);
    if (r < 0) {
        fail_msg("parse '%s': %s", expr, err);
    }
    assert_int_equal(dagd_cron_next(&c, tz, utc(after), &t), 0);
    return fmt(t);
}

static void bad(const char *expr, const char *msg_part)
{
    struct dagd_cron c;
    _cleanup_free_ char *err = NULL;

    assert_int_equal(dagd_cron_parse(expr, &c, &err), -EINVAL);
    assert_non_null(err);
    if (!strstr(err, msg_part)) {
        fail_msg("'%s': message '%s' lacks '%s'", expr, err, msg_part);
    }
}

static void test_parse_errors(void **state)
{
    bad("", "expected 5 fields");
    bad("* * * *", "got 4");
    bad("* * * * * * *", "more than 6");
    bad("60 * * * *", "minute: '60' is out of range 0-59");
    bad("* 24 * * *", "hour: '24' is out of range");
    bad("* * 0 * *", "day of month: '0'");
    bad("* * 32 * *", "day of month: '32'");
    bad("* * * 13 *", "month: '13'");
    bad("* * * * 8", "day of week: '8'");
    bad("60 * * * * *", "second: '60'");
    bad("*/0 * * * *", "bad step");
    bad("*/61 * * * *", "bad step");
    bad("5-1 * * * *", "goes backwards");
    bad("a * * * *", "minute: bad value 'a'");
    bad("1,,2 * * * *", "empty list item");
    bad("1, * * * *", "empty list item");
    bad("* * * foo *", "month: bad value 'foo'");
    bad("0 0 31 2 *", "never fires");
    bad("0 0 30,31 2 *", "never fires");
    bad("@reboot", "unknown alias");
    bad("@daily 1", "unknown alias");
    bad("? * * * *", "minute: bad value '?'");
    bad("1-2-3 * * * *", "bad value");
    assert_int_equal(dagd_cron_parse("* * * * 8", &(struct dagd_cron){0}, NULL), -EINVAL);
}

static void test_parse_ok(void **state)
{
    struct dagd_cron c;
    assert_int_equal(dagd_cron_parse("0 9 * JAN-mar mon-FRI", &c, NULL), 0);
    assert_int_equal(c.month, (1u << 1) | (1u << 2) | (1u << 3));
    assert_int_equal(c.dow, 0x3e);
    assert_int_equal(c.sec, 1);
    assert_true(c.dom_star);
    assert_false(c.dow_star);
    assert_int_equal(dagd_cron_parse("  1-10/3,20 * * * * 7  ", &c, NULL), 0);
    assert_true(c.sec == ((1u << 1) | (1u << 4) | (1u << 7) | (1u << 10) | (1u << 20)));
    assert_int_equal(c.dow, 1); /* 7 = Sunday */
    assert_int_equal(dagd_cron_parse("0 0 ? * 5-7", &c, NULL), 0);
    assert_int_equal(c.dow, 0x61);
    assert_true(c.dom_star);
    assert_int_equal(dagd_cron_parse("0 0 30/2 * *", &c, NULL), 0);
    assert_int_equal(c.dom, 1u << 30);
    assert_int_equal(dagd_cron_parse("@hourly", &c, NULL), 0);
    assert_int_equal(c.min, 1);
    assert_int_equal(c.hour, 0xffffff);
    assert_int_equal(dagd_cron_parse("@ANNUALLY", &c, NULL), 0);
    assert_int_equal(c.month, 2);
}

static void test_next_calendar(void **state)
{
    assert_string_equal(next("* * * * *", NULL, "2024-05-05 10:00:00"), "2024-05-05 10:01:00");
    assert_string_equal(next("* * * * *", "UTC", "2024-05-05 10:00:59"), "2024-05-05 10:01:00");
    assert_string_equal(next("0 * * * *", NULL, "2024-05-05 10:00:00"), "2024-05-05 11:00:00");
    /* month and year ends */
    assert_string_equal(next("0 0 1 * *", NULL, "2024-01-31 12:00:00"), "2024-02-01 00:00:00");
    assert_string_equal(next("0 0 31 * *", NULL, "2024-02-01 00:00:00"), "2024-03-31 00:00:00");
    assert_string_equal(next("0 0 31 * *", NULL, "2024-04-15 00:00:00"), "2024-05-31 00:00:00");
    assert_string_equal(next("@daily", NULL, "2023-12-31 23:59:59"), "2024-01-01 00:00:00");
    assert_string_equal(next("@yearly", NULL, "2023-06-01 00:00:00"), "2024-01-01 00:00:00");
    assert_string_equal(next("59 23 31 12 *", NULL, "2023-12-31 23:59:00"), "2024-12-31 23:59:00");
    /* leap years */
    assert_string_equal(next("0 12 29 2 *", NULL, "2023-03-01 00:00:00"), "2024-02-29 12:00:00");
    assert_string_equal(next("0 12 29 2 *", NULL, "2024-02-29 12:00:00"), "2028-02-29 12:00:00");
    assert_string_equal(next("0 0 29 2 *", NULL, "2096-03-01 00:00:00"), "2104-02-29 00:00:00");
    assert_string_equal(next("0 0 29 2 *", NULL, "1999-03-01 00:00:00"), "2000-02-29 00:00:00");
    assert_string_equal(next("0 0 28 2 *", NULL, "2023-02-28 00:00:00"), "2024-02-28 00:00:00");
    /* Vixie: both restricted = OR (13th or a Friday); one '*' = AND */
    assert_string_equal(next("0 0 13 * 5", NULL, "2024-01-01 00:00:00"), "2024-01-05 00:00:00");
    assert_string_equal(next("0 0 13 * 5", NULL, "2024-01-12 00:00:00"), "2024-01-13 00:00:00");
    assert_string_equal(next("0 0 13 * *", NULL, "2024-01-01 00:00:00"), "2024-01-13 00:00:00");
    assert_string_equal(next("0 0 */10 * mon", NULL, "2024-01-01 00:00:00"), "2024-03-11 00:00:00");
    assert_string_equal(next("0 0 * * sun", NULL, "2024-01-01 00:00:00"), "2024-01-07 00:00:00");
    assert_string_equal(next("0 0 * * 7", NULL, "2024-01-01 00:00:00"), "2024-01-07 00:00:00");
    assert_string_equal(next("30 8 * * 1-5", NULL, "2024-01-05 09:00:00"), "2024-01-08 08:30:00");
    /* 6 fields: seconds first */
    assert_string_equal(next("* * * * * *", NULL, "2024-05-05 10:00:07"), "2024-05-05 10:00:08");
    assert_string_equal(next("*/15 * * * * *", NULL, "2024-05-05 10:00:07"), "2024-05-05 10:00:15");
    assert_string_equal(next("*/15 * * * * *", NULL, "2024-05-05 10:00:45"), "2024-05-05 10:01:00");
    assert_string_equal(next("5 0 0 1 1 *", NULL, "2024-01-01 00:00:05"), "2025-01-01 00:00:05");
    /* before the epoch works too */
    assert_string_equal(next("0 0 1 1 *", NULL, "1960-06-01 00:00:00"), "1961-01-01 00:00:00");
}

static void test_next_never(void **state)
{
    struct dagd_cron c;
    int64_t t = 0;
    /* Feb 29 or a Monday in February (OR): the first Monday of Feb 2025. */
    assert_int_equal(dagd_cron_parse("0 0 29 2 1", &c, NULL), 0);
    assert_int_equal(dagd_cron_next(&c, NULL, utc("2024-03-01 00:00:00"), &t), 0);
    assert_string_equal(fmt(t), "2025-02-03 00:00:00");
    /* A day-of-month that needs 31 days in 30-day months only */
    assert_int_equal(dagd_cron_parse("0 0 31 4,6,9,11 *", &c, NULL), -EINVAL);
}

static void test_no_dst_shanghai(void **state)
{
    assert_string_equal(next("0 9 * * *", "Asia/Shanghai", "2024-03-10 00:00:00"),
                        "2024-03-10 01:00:00");
    assert_string_equal(next("0 9 * * *", "Asia/Shanghai", "2024-03-10 01:00:00"),
                        "2024-03-11 01:00:00");
    /* midnight Shanghai is 16:00 UTC the day before */
    assert_string_equal(next("@daily", "Asia/Shanghai", "2024-12-31 15:00:00"),
                        "2024-12-31 16:00:00");
    assert_string_equal(next("0 0 1 * *", "Asia/Shanghai", "2024-02-15 00:00:00"),
                        "2024-02-29 16:00:00");
}

static void test_dst_berlin(void **state)
{
    /* Spring forward 2024-03-31: 02:00 CET -> 03:00 CEST at 01:00 UTC. */
    assert_string_equal(next("30 2 * * *", "Europe/Berlin", "2024-03-30 12:00:00"),
                        "2024-03-31 01:00:00"); /* skipped: fires once at the gap's end */
    assert_string_equal(next("30 2 * * *", "Europe/Berlin", "2024-03-31 01:00:00"),
                        "2024-04-01 00:30:00");
    assert_string_equal(next("*/15 2 * * *", "Europe/Berlin", "2024-03-31 00:00:00"),
                        "2024-03-31 01:00:00");
    assert_string_equal(next("*/15 2 * * *", "Europe/Berlin", "2024-03-31 01:00:00"),
                        "2024-04-01 00:00:00");
    assert_string_equal(next("0 * * * *", "Europe/Berlin", "2024-03-31 00:30:00"),
                        "2024-03-31 01:00:00");
    assert_string_equal(next("0 * * * *", "Europe/Berlin", "2024-03-31 01:00:00"),
                        "2024-03-31 02:00:00");
    assert_string_equal(next("0 9 * * *", "Europe/Berlin", "2024-03-30 12:00:00"),
                        "2024-03-31 07:00:00");
    /* Fall back 2024-10-27: 03:00 CEST -> 02:00 CET at 01:00 UTC; 02:30 twice. */
    assert_string_equal(next("30 2 * * *", "Europe/Berlin", "2024-10-26 12:00:00"),
                        "2024-10-27 00:30:00");
    assert_string_equal(next("30 2 * * *", "Europe/Berlin", "2024-10-27 00:30:00"),
                        "2024-10-28 01:30:00");
    assert_string_equal(next("*/30 * * * *", "Europe/Berlin", "2024-10-27 00:30:00"),
                        "2024-10-27 02:00:00");
    /* Started during the repeat: that hour already fired. */
    assert_string_equal(next("45 2 * * *", "Europe/Berlin", "2024-10-27 01:10:00"),
                        "2024-10-28 01:45:00");
    assert_string_equal(next("0 3 * * *", "Europe/Berlin", "2024-10-27 01:10:00"),
                        "2024-10-27 02:00:00");
}

static void test_dst_new_york(void **state)
{
    /* Spring forward 2024-03-10: 02:00 EST -> 03:00 EDT at 07:00 UTC. */
    assert_string_equal(next("0 2 * * *", "America/New_York", "2024-03-09 12:00:00"),
                        "2024-03-10 07:00:00");
    assert_string_equal(next("0 2 * * *", "America/New_York", "2024-03-10 07:00:00"),
                        "2024-03-11 06:00:00");
    assert_string_equal(next("59 59 2 * * *", "America/New_York", "2024-03-10 06:00:00"),
                        "2024-03-10 07:00:00");
    /* Fall back 2024-11-03: 02:00 EDT -> 01:00 EST at 06:00 UTC. */
    assert_string_equal(next("30 1 * * *", "America/New_York", "2024-11-02 12:00:00"),
                        "2024-11-03 05:30:00");
    assert_string_equal(next("30 1 * * *", "America/New_York", "2024-11-03 05:30:00"),
                        "2024-11-04 06:30:00");
    /* Every second: the repeated hour runs once, then 02:00 EST. */
    assert_string_equal(next("* * * * * *", "America/New_York", "2024-11-03 05:59:59"),
                        "2024-11-03 07:00:00");
    assert_string_equal(next("0 0 * * *", "America/New_York", "2024-11-02 12:00:00"),
                        "2024-11-03 04:00:00");
    assert_string_equal(next("0 0 * * *", "America/New_York", "2024-11-03 04:00:00"),
                        "2024-11-04 05:00:00");
}

static void test_between(void **state)
{
    struct dagd_cron c;
    int64_t keep[4];
    size_t kept = 99;

    assert_int_equal(dagd_cron_parse("*/10 * * * * *", &c, NULL), 0);
    /* 00:00:00 < t <= 00:01:00: 10, 20, ..., 60 = 6 fires; keep the newest 4 */
    assert_int_equal(dagd_cron_between(&c, NULL, utc("2024-05-05 00:00:00"),
                                       utc("2024-05-05 00:01:00"), 1000, keep, 4, &kept),
                     6);
    assert_int_equal(kept, 4);
    assert_string_equal(fmt(keep[0]), "2024-05-05 00:00:30");
    assert_string_equal(fmt(keep[3]), "2024-05-05 00:01:00");
    /* fewer than kept */
    assert_int_equal(dagd_cron_between(&c, "Europe/Berlin", utc("2024-05-05 00:00:00"),
                                       utc("2024-05-05 00:00:25"), 1000, keep, 4, &kept),
                     2);
    assert_int_equal(kept, 2);
    assert_string_equal(fmt(keep[1]), "2024-05-05 00:00:20");
    /* the scan limit */
    assert_int_equal(dagd_cron_between(&c, NULL, utc("2024-05-05 00:00:00"),
                                       utc("2024-05-06 00:00:00"), 100, keep, 1, &kept),
                     100);
    assert_int_equal(kept, 1);
    assert_string_equal(fmt(keep[0]), "2024-05-05 00:16:40");
    /* nothing, and n_keep 0 */
    assert_int_equal(dagd_cron_between(&c, NULL, utc("2024-05-05 00:00:00"),
                                       utc("2024-05-05 00:00:05"), 100, keep, 4, &kept),
                     0);
    assert_int_equal(kept, 0);
    assert_int_equal(dagd_cron_between(&c, NULL, utc("2024-05-05 00:00:00"),
                                       utc("2024-05-05 00:00:30"), 100, NULL, 0, &kept),
                     3);
    assert_int_equal(kept, 0);
    /* the Berlin fall-back night, hourly: 02:00 local once */
    assert_int_equal(dagd_cron_parse("0 * * * *", &c, NULL), 0);
    assert_int_equal(dagd_cron_between(&c, "Europe/Berlin", utc("2024-10-26 22:30:00"),
                                       utc("2024-10-27 03:30:00"), 100, keep, 4, &kept),
                     4);
    assert_string_equal(fmt(keep[0]), "2024-10-26 23:00:00"); /* 01:00 CEST */
    assert_string_equal(fmt(keep[1]), "2024-10-27 00:00:00"); /* 02:00 CEST */
    assert_string_equal(fmt(keep[2]), "2024-10-27 02:00:00"); /* 03:00 CET */
    assert_string_equal(fmt(keep[3]), "2024-10-27 03:00:00");
}

static void test_tz_restored(void **state)
{
    assert_int_equal(setenv("TZ", "Asia/Tokyo", 1), 0);
    tzset();
    assert_string_equal(next("0 9 * * *", "Europe/Berlin", "2024-06-01 00:00:00"),
                        "2024-06-01 07:00:00");
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    time_t t = 0;
    struct tm tm;
    localtime_r(&t, &tm);
    assert_int_equal(tm.tm_hour, 9);
    assert_int_equal(unsetenv("TZ"), 0);
    assert_string_equal(next("0 9 * * *", "America/New_York", "2024-06-01 00:00:00"),
                        "2024-06-01 13:00:00");
    assert_null(getenv("TZ"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_next_calendar),   cmocka_unit_test(test_next_never),
        cmocka_unit_test(test_no_dst_shanghai), cmocka_unit_test(test_dst_berlin),
        cmocka_unit_test(test_dst_new_york),    cmocka_unit_test(test_between),
        cmocka_unit_test(test_tz_restored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
