/* Unit tests for daemon/engine/warehouse_target.c: which `warehouse` values
 * are PostgreSQL connection strings, that a password in one is refused
 * (never echoed), and that redaction hides every password form libpq
 * accepts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "warehouse_target.h"

static void test_is_conninfo(void **state)
{
    assert_true(dagd_warehouse_is_conninfo("postgresql://u@db.example/wh"));
    assert_true(dagd_warehouse_is_conninfo("postgres:///wh?host=/run/pg"));
    assert_true(dagd_warehouse_is_conninfo("host=/tmp/x port=5432 dbname=wh"));
    assert_true(dagd_warehouse_is_conninfo("  dbname = wh"));
    assert_false(dagd_warehouse_is_conninfo("/var/lib/dagd/medallion.db"));
    assert_false(dagd_warehouse_is_conninfo("state/wh.db"));
    assert_false(dagd_warehouse_is_conninfo("dir/a=b.db"));
    assert_false(dagd_warehouse_is_conninfo(""));
    assert_false(dagd_warehouse_is_conninfo(NULL));
}

static void refused(const char *s)
{
    char *msg = NULL;
    assert_int_equal(dagd_warehouse_check_conninfo(s, &msg), -EINVAL);
    assert_non_null(strstr(msg, "PGPASSWORD"));
    assert_null(strstr(msg, "s3cret"));
    free(msg);
}

static void test_password_refused(void **state)
{
    char *msg = NULL;

    refused("postgresql://alice:s3cret@db/wh");
    refused("postgresql://alice@db/wh?sslmode=disable&password=s3cret");
    refused("host=db password=s3cret dbname=wh");
    refused("host=db password='s3 cret' dbname=wh");
    assert_int_equal(dagd_warehouse_check_conninfo("postgresql://alice@db/wh", &msg), 0);
    assert_int_equal(dagd_warehouse_check_conninfo("host=db passfile=/etc/pgpass", &msg), 0);
    assert_int_equal(dagd_warehouse_check_conninfo("/a/password=x.db", &msg), 0);
    assert_int_equal(dagd_warehouse_check_conninfo(NULL, &msg), 0);
    assert_null(msg);
}

static void redacted(const char *in, const char *want)
{
    char *got = dagd_warehouse_redact(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_redact(void **state)
{
    redacted("postgresql://alice:s3cret@db:5432/wh", "postgresql://alice:***@db:5432/wh");
    redacted("postgresql://a@db/wh?password=x&sslmode=require",
             "postgresql://a@db/wh?password=***&sslmode=require");
    redacted("host=db password=s3cret dbname=wh", "host=db password=*** dbname=wh");
    redacted("host=db password='a b\\' c' dbname=wh", "host=db password=*** dbname=wh");
    redacted("password=x", "password=***");
    redacted("/var/lib/wh.db", "/var/lib/wh.db");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_conninfo),
        cmocka_unit_test(test_password_refused),
        cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
