/* Unit tests of tasks/readers/json_reader.c: value types, escapes, missing
 * and extra keys, nested values, chunked input (1 byte at a time gives the
 * same records), and every error with its record number and byte offset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "json_reader.h"

static const char *const keys[] = {"ORDER_ID", "ORDER_TIME_PST", "RPTG_AMT", "ORDER_QTY"};
#define N_KEYS 4

struct collect {
    char buf[8192];
    size_t len;
    uint64_t records;
    uint64_t stop_at;
};

static int collect(void *ud, const struct dagd_json_record *rec)
{
    struct collect *co = ud;

    co->records++;
    if (co->stop_at && co->records == co->stop_at) {
        return -ECANCELED;
    }
    assert_int_equal(rec->record_no, co->records);
    if (co->len > sizeof(co->buf) - 512) {
        return 0;
    }
    co->len +=
        (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len, "#%llu@%llu",
                         (unsigned long long)rec->record_no, (unsigned long long)rec->offset);
    for (size_t k = 0; k < rec->n_values; k++) {
        const struct dagd_json_value *v = &rec->values[k];
        char *o = co->buf + co->len;
        size_t room = sizeof(co->buf) - co->len;
        switch (v->kind) {
        case DAGD_JSON_ABSENT:
            co->len += (size_t)snprintf(o, room, " -");
            break;
        case DAGD_JSON_NULL:
            co->len += (size_t)snprintf(o, room, " null");
            break;
        case DAGD_JSON_BOOL:
            co->len += (size_t)snprintf(o, room, " b%lld", (long long)v->i);
            break;
        case DAGD_JSON_INT:
            co->len += (size_t)snprintf(o, room, " i%lld", (long long)v->i);
            break;
        case DAGD_JSON_REAL:
            co->len += (size_t)snprintf(o, room, " r%.17g", v->d);
            break;
        case DAGD_JSON_STRING:
            assert_int_equal(strlen(v->s), v->len);
            co->len += (size_t)snprintf(o, room, " s'%s'", v->s);
            break;
        case DAGD_JSON_NESTED:
            co->len += (size_t)snprintf(o, room, " n%s", v->s);
            break;
        }
    }
    co->len += (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len, " x=%s\n",
                                rec->extra_keys ? rec->extra_keys : "");
    return 0;
}

/* Parses `json` fed in chunks of `chunk` bytes (0: all at once). */
static int parse(const char *json, size_t chunk, struct collect *co, char *err, size_t errlen)
{
    struct dagd_json_reader *r = dagd_json_reader_new(keys, N_KEYS, collect, co);
    size_t len = strlen(json), off = 0;
    int e = 0;

    assert_non_null(r);
    if (chunk == 0) {
        chunk = len;
    }
    while (off < len && e == 0) {
        size_t n = len - off < chunk ? len - off : chunk;
        e = dagd_json_reader_feed(r, json + off, n);
        off += n;
    }
    if (e == 0) {
        e = dagd_json_reader_finish(r);
    }
    (void)snprintf(err, errlen, "%s", dagd_json_reader_error(r));
    dagd_json_reader_free(r);
    return e;
}

static const char sample[] =
    "\xEF\xBB\xBF[\n"
    "{\"ORDER_ID\": \"G0000165048\", \"ORDER_TIME_PST\": 110136, \"RPTG_AMT\": 1325.66, "
    "\"ORDER_QTY\": 1},\n"
    "{\"ORDER_ID\": \"\\u6842\\u6797 \\\"q\\\" \\ud83d\\ude00\", \"ORDER_TIME_PST\": \"051502\", "
    "\"RPTG_AMT\": -1e2, \"ORDER_QTY\": 2.0, \"PROMO_CD\": \"SUMMER24\", \"X\": {\"a\": [1, "
    "true]}},\n"
    "{\"ORDER_TIME_PST\": null, \"RPTG_AMT\": 12345678901234567890, \"ORDER_QTY\": [1, {\"k\": "
    "\"v\\n\"}, null, false], \"ORDER_ID\": \"a\", \"ORDER_ID\": \"b\"},\n"
    "{}\n"
    "]\n";

static const char sample_expected[] =
    "#1@5 s'G0000165048' i110136 r1325.6600000000001 i1 x=\n"
    "#2@97 s'\xe6\xa1\x82\xe6\x9e\x97 \"q\" \xf0\x9f\x98\x80' s'051502' r-100 r2 x=PROMO_CD,X\n"
    "#3@257 s'b' null r1.2345678901234567e+19 n[1,{\"k\":\"v\\u000a\"},null,false] x=\n"
    "#4@396 - - - - x=\n";

static void test_records(void **state)
{
    struct collect co = {0};
    char err[512];

    assert_int_equal(parse(sample, 0, &co, err, sizeof(err)), 0);
    assert_int_equal(co.records, 4);
    assert_string_equal(co.buf, sample_expected);
}

static void test_chunked(void **state)
{
    static const size_t chunks[] = {1, 2, 3, 7, 64};

    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        struct collect co = {0};
        char err[512];
        assert_int_equal(parse(sample, chunks[i], &co, err, sizeof(err)), 0);
        assert_string_equal(co.buf, sample_expected);
    }
}

static void expect_error(const char *json, const char *needle1, const char *needle2)
{
    static const size_t chunks[] = {0, 1, 5};

    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        struct collect co = {0};
        char err[512] = "";
        assert_int_equal(parse(json, chunks[i], &co, err, sizeof(err)), -EINVAL);
        if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2))) {
            fail_msg("error \"%s\" lacks \"%s\" / \"%s\" (chunk %zu)", err, needle1,
                     needle2 ? needle2 : "", chunks[i]);
        }
    }
}

static void test_errors(void **state)
{
    /* syntax error inside record 3, at byte 37 (the 'x') */
    expect_error("[{\"ORDER_ID\":1},\n{\"ORDER_ID\":2},\n{\"ORDER_ID\":x}]",
                 "syntax error at record 3", "byte offset 4");
    expect_error("{\"ORDER_ID\": 1}", "top level is an object", NULL);
    expect_error("\"text\"", "top level is a string", NULL);
    expect_error("42", "top level is an integer", NULL);
    expect_error("[{\"ORDER_ID\":1}, 7]", "record 2", "is an integer, not an object");
    expect_error("[{\"ORDER_ID\":1}, [1]]", "record 2", "is an array, not an object");
    expect_error("[{\"ORDER_ID\":1}, {\"ORDER_ID\":", "truncated JSON", "inside record 2");
    expect_error("[{\"ORDER_ID\":1},", "truncated JSON", "after record 1");
    expect_error("", "empty input", NULL);
    expect_error("  \n", "empty input", NULL);
    expect_error("[] []", "syntax error", "trailing garbage");
    expect_error("[{\"A\": \"\xff\"}]", "syntax error at record 1", NULL);
    /* Decoded strings must stay whole text (issue 16 item 15): a NUL would
     * cut the value in the silver tables, a lone surrogate is not UTF-8. */
    expect_error("[{\"ORDER_ID\":1},{\"ORDER_ID\":\"ab\\u0000c\"}]", "record 2",
                 "contains \\u0000");
    /* yajl itself decodes a lone high surrogate (\ud800) to '?'; a lone low
     * one comes out as bytes ED B0 80, which are not UTF-8. */
    expect_error("[{\"ORDER_ID\":\"\\udc00\"}]", "record 1", "not valid UTF-8");
    expect_error("[{\"X\\u0000\":1}]", "record 1", "contains \\u0000");
    expect_error("[{\"A\":{\"b\":\"\\udc00\"}}]", "record 1", "not valid UTF-8");
}

static void test_callback_stops(void **state)
{
    struct collect co = {.stop_at = 2};
    char err[512];

    assert_int_equal(parse("[{},{},{}]", 0, &co, err, sizeof(err)), -ECANCELED);
    assert_int_equal(co.records, 2);
    assert_string_equal(err, "");
}

static int count_only(void *ud, const struct dagd_json_record *rec)
{
    (*(uint64_t *)ud)++;
    for (size_t k = 0; k < rec->n_values; k++) {
        assert_int_not_equal(rec->values[k].kind, DAGD_JSON_ABSENT);
    }
    return 0;
}

static void test_sample_file(void **state)
{
    static const char *const ds2[] = {"ORDER_ID",        "ORDER_TIME_PST", "SHIP_TO_DISTRICT_NAME",
                                      "SHIP_TO_CITY_CD", "RPTG_AMT",       "CURRENCY_CD",
                                      "ORDER_QTY"};
    uint64_t n = 0;
    struct dagd_json_reader *r = dagd_json_reader_new(ds2, 7, count_only, &n);
    FILE *f = fopen(DAGD_SOURCE_ROOT "/data/sales-tiny/dataset2.json", "rb");
    char buf[4096];
    size_t got;

    assert_non_null(f);
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        assert_int_equal(dagd_json_reader_feed(r, buf, got), 0);
    }
    fclose(f);
    assert_int_equal(dagd_json_reader_finish(r), 0);
    assert_int_equal(dagd_json_reader_records(r), 500);
    assert_int_equal(n, 500);
    dagd_json_reader_free(r);
}

/* NDJSON: one object per line, blank lines and a missing last newline are
 * fine, an empty input is no records, and a non-object is an error. */
static void test_ndjson(void **state)
{
    static const char in[] = "\xEF\xBB\xBF{\"ORDER_ID\":\"A\",\"ORDER_QTY\":2}\n\n"
                             "{\"ORDER_ID\":\"B\",\"X\":1}\r\n{\"RPTG_AMT\":1.5}";
    static const size_t chunks[] = {0, 1, 3};

    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct collect co = {0};
        struct dagd_json_reader *r = dagd_json_reader_new(keys, N_KEYS, collect, &co);
        size_t len = strlen(in), step = chunks[c] ? chunks[c] : len;
        assert_non_null(r);
        assert_int_equal(dagd_json_reader_set_ndjson(r), 0);
        for (size_t off = 0; off < len; off += step) {
            assert_int_equal(
                dagd_json_reader_feed(r, in + off, len - off < step ? len - off : step), 0);
        }
        assert_int_equal(dagd_json_reader_finish(r), 0);
        assert_int_equal(co.records, 3);
        assert_non_null(strstr(co.buf, "#1@3 s'A' - - i2 x="));
        assert_non_null(strstr(co.buf, " s'B' - - - x=X"));
        assert_non_null(strstr(co.buf, " - - r1.5 - x="));
        dagd_json_reader_free(r);
    }
    {
        struct collect co = {0};
        struct dagd_json_reader *r = dagd_json_reader_new(keys, N_KEYS, collect, &co);
        assert_int_equal(dagd_json_reader_set_ndjson(r), 0);
        assert_int_equal(dagd_json_reader_finish(r), 0);
        assert_int_equal(co.records, 0);
        dagd_json_reader_free(r);
    }
    {
        struct collect co = {0};
        struct dagd_json_reader *r = dagd_json_reader_new(keys, N_KEYS, collect, &co);
        assert_int_equal(dagd_json_reader_set_ndjson(r), 0);
        assert_int_equal(dagd_json_reader_feed(r, "{}\n[1]\n", 7), -EINVAL);
        assert_non_null(strstr(dagd_json_reader_error(r), "record 2"));
        dagd_json_reader_free(r);
    }
    {
        struct collect co = {0};
        struct dagd_json_reader *r = dagd_json_reader_new(keys, N_KEYS, collect, &co);
        assert_int_equal(dagd_json_reader_set_ndjson(r), 0);
        assert_int_equal(dagd_json_reader_feed(r, "{\"A\":", 5), 0);
        assert_int_equal(dagd_json_reader_finish(r), -EINVAL);
        assert_non_null(strstr(dagd_json_reader_error(r), "truncated"));
        dagd_json_reader_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),     cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_sample_file), cmocka_unit_test(test_ndjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
