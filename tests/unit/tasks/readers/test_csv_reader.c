/* Unit tests of tasks/readers/csv_reader.c: quoting, line ends, blank lines,
 * byte order mark, chunked input, and errors with line and byte offset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "csv_reader.h"

struct collect {
    char buf[4096];
    size_t len;
    uint64_t records;
};

static int collect(void *ud, uint64_t record_no, uint64_t line, const struct dagd_csv_field *f,
                   size_t n)
{
    struct collect *co = ud;

    co->records++;
    assert_int_equal(record_no, co->records);
    co->len +=
        (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len,
                         "%llu@%llu:", (unsigned long long)record_no, (unsigned long long)line);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strlen(f[i].s), f[i].len);
        co->len += (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len, "%s[%s]",
                                    f[i].quoted ? "q" : "", f[i].s);
    }
    co->len += (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len, "\n");
    return 0;
}

static int parse(const char *csv, size_t chunk, struct collect *co, char *err, size_t errlen)
{
    struct dagd_csv_reader *r = dagd_csv_reader_new(collect, co);
    size_t len = strlen(csv), off = 0;
    int e = 0;

    assert_non_null(r);
    if (chunk == 0) {
        chunk = len ? len : 1;
    }
    while (off < len && e == 0) {
        size_t n = len - off < chunk ? len - off : chunk;
        e = dagd_csv_reader_feed(r, csv + off, n);
        off += n;
    }
    if (e == 0) {
        e = dagd_csv_reader_finish(r);
    }
    (void)snprintf(err, errlen, "%s", dagd_csv_reader_error(r));
    dagd_csv_reader_free(r);
    return e;
}

static const char sample[] = "\xEF\xBB\xBF"
                             "ORDER_ID,ORDER_TIME  (PST),RPTG_AMT\r\n"
                             "G1,50127,1680.53\r\n"
                             "\r\n"
                             "\"G,2\",\"multi\nline\",\"say \"\"hi\"\"\"\n"
                             "\n"
                             ",,\"\"\n"
                             "last,no,newline";
static const char sample_expected[] = "1@1:[ORDER_ID][ORDER_TIME  (PST)][RPTG_AMT]\n"
                                      "2@2:[G1][50127][1680.53]\n"
                                      "3@4:q[G,2]q[multi\nline]q[say \"hi\"]\n"
                                      "4@7:[][]q[]\n"
                                      "5@8:[last][no][newline]\n";

static void test_records(void **state)
{
    static const size_t chunks[] = {0, 1, 2, 5, 13};

    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        struct collect co = {0};
        char err[256];
        assert_int_equal(parse(sample, chunks[i], &co, err, sizeof(err)), 0);
        assert_string_equal(co.buf, sample_expected);
    }
}

/* The sample split into two chunks at every byte (inside the BOM, a CRLF,
 * a "" pair, a quoted newline): the records never depend on where a read
 * ends. */
static void test_split_every_byte(void **state)
{
    size_t len = strlen(sample);

    for (size_t cut = 0; cut <= len; cut++) {
        struct collect co = {0};
        struct dagd_csv_reader *r = dagd_csv_reader_new(collect, &co);
        assert_non_null(r);
        assert_int_equal(dagd_csv_reader_feed(r, sample, cut), 0);
        assert_int_equal(dagd_csv_reader_feed(r, sample + cut, len - cut), 0);
        assert_int_equal(dagd_csv_reader_finish(r), 0);
        assert_string_equal(co.buf, sample_expected);
        dagd_csv_reader_free(r);
    }
}

static void test_delimiter(void **state)
{
    static const char in[] = "a;b;\"c;d\"\r\n1,5;;\"x\"\"y\"\n";
    struct collect co = {0};
    struct dagd_csv_reader *r = dagd_csv_reader_new(collect, &co);

    assert_non_null(r);
    assert_int_equal(dagd_csv_reader_set_delimiter(r, '"'), -EINVAL);
    assert_int_equal(dagd_csv_reader_set_delimiter(r, '\n'), -EINVAL);
    assert_int_equal(dagd_csv_reader_set_delimiter(r, ';'), 0);
    for (size_t i = 0; i < strlen(in); i++) {
        assert_int_equal(dagd_csv_reader_feed(r, in + i, 1), 0);
    }
    assert_int_equal(dagd_csv_reader_finish(r), 0);
    assert_string_equal(co.buf, "1@1:[a][b]q[c;d]\n2@2:[1,5][]q[x\"y]\n");
    /* too late once input was fed */
    assert_int_equal(dagd_csv_reader_set_delimiter(r, '\t'), -EINVAL);
    dagd_csv_reader_free(r);
}

static void test_errors(void **state)
{
    struct collect co = {0};
    char err[256];

    assert_int_equal(parse("a,b\n\"open,c\n", 0, &co, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not closed"));
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "byte offset 4"));

    memset(&co, 0, sizeof(co));
    assert_int_equal(parse("a,b\n\"x\"y,c\n", 1, &co, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "after a closing quote"));
    assert_non_null(strstr(err, "line 2 (byte offset 7)"));

    memset(&co, 0, sizeof(co));
    assert_int_equal(parse("a,b\nx\"y,c\n", 0, &co, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "inside an unquoted field"));

    memset(&co, 0, sizeof(co));
    assert_int_equal(parse("", 0, &co, err, sizeof(err)), 0);
    assert_int_equal(co.records, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_split_every_byte),
        cmocka_unit_test(test_delimiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
