/* Unit tests of the data-quality rules (tasks/validate/dq.c) and of the
 * validate step on a small hand-made bronze (tasks/validate/validate_run.c). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include "../query_int.h"
#include "bronze_sql.h"

#include "dq.h"
#include "handoff.h"
#include "oidsort.h"
#include "strmap.h"
#include "validate_run.h"

static void trimmed(const char *in, const char *want)
{
    size_t off, len;

    dagd_dq_trim(in, strlen(in), &off, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(in + off, want, len);
}

static void test_trim(void **state)
{
    trimmed("abc", "abc");
    trimmed("  abc ", "abc");
    trimmed("\t\n\r\v\fabc\f\v\r\n\t", "abc");
    trimmed("\xe3\x80\x80北京", "北京"); /* U+3000 */
    trimmed("北京\xe3\x80\x80", "北京");
    trimmed("\xc2\xa0"
            "a b"
            "\xc2\xa0 ",
            "a b"); /* U+00A0, inner space kept */
    trimmed(" \xe3\x80\x80 \xc2\xa0", "");
    trimmed("", "");
    trimmed("\xe3\x80", "\xe3\x80"); /* truncated U+3000: not space */
    trimmed("\xc2", "\xc2");
    assert_true(dagd_dq_has_outer_space(" x", 2));
    assert_true(dagd_dq_has_outer_space("x\xe3\x80\x80", 4));
    assert_false(dagd_dq_has_outer_space("x y", 3));
    assert_false(dagd_dq_has_outer_space("", 0));
}

static void test_time(void **state)
{
    assert_int_equal(dagd_dq_time_from_int(50127), 50127);
    assert_int_equal(dagd_dq_time_from_int(0), 0);
    assert_int_equal(dagd_dq_time_from_int(235959), 235959);
    assert_int_equal(dagd_dq_time_from_int(240000), -EINVAL);
    assert_int_equal(dagd_dq_time_from_int(106175), -EINVAL); /* SS 75 */
    assert_int_equal(dagd_dq_time_from_int(99999), -EINVAL);  /* MM 99 */
    assert_int_equal(dagd_dq_time_from_int(116160), -EINVAL); /* MM 61 */
    assert_int_equal(dagd_dq_time_from_int(-1), -EINVAL);
    assert_int_equal(dagd_dq_time_from_double(102931.0), 102931);
    assert_int_equal(dagd_dq_time_from_double(102931.5), -EINVAL);
    assert_int_equal(dagd_dq_time_from_double(1e300), -EINVAL);
    assert_int_equal(dagd_dq_time_from_text("051502", 6), 51502);
    assert_int_equal(dagd_dq_time_from_text("51502", 5), 51502);
    assert_int_equal(dagd_dq_time_from_text("time", 4), -EINVAL);
    assert_int_equal(dagd_dq_time_from_text("", 0), -EINVAL);
    assert_int_equal(dagd_dq_time_from_text(" 51502", 6), -EINVAL);
    assert_int_equal(dagd_dq_time_from_text("5150.2", 6), -EINVAL);
    assert_int_equal(dagd_dq_time_from_text("99999999999999999999", 20), -EINVAL);
    assert_true(dagd_dq_time_in_window(50000));
    assert_true(dagd_dq_time_in_window(115959));
    assert_false(dagd_dq_time_in_window(45959));
    assert_false(dagd_dq_time_in_window(120000));
    assert_false(dagd_dq_time_in_window(123000));
}

static void test_cents(void **state)
{
    int64_t c = 0;

    assert_int_equal(dagd_dq_cents_from_double(1680.53, &c), 0);
    assert_int_equal(c, 168053);
    assert_int_equal(dagd_dq_cents_from_double(17520.35, &c), 0);
    assert_int_equal(c, 1752035);
    assert_int_equal(dagd_dq_cents_from_double(0.29, &c), 0); /* 28.999999999999996 */
    assert_int_equal(c, 29);
    assert_int_equal(dagd_dq_cents_from_double(-1325.66, &c), 0);
    assert_int_equal(c, -132566);
    assert_int_equal(dagd_dq_cents_from_double(0.0, &c), 0);
    assert_int_equal(c, 0);
    assert_int_equal(dagd_dq_cents_from_double(1.0 / 0.0, &c), -EINVAL);
    assert_int_equal(dagd_dq_cents_from_double(1e20, &c), -EINVAL);
}

static void test_usd(void **state)
{
    struct dagd_dq_rate r;

    assert_int_equal(dagd_dq_rate_parse("7.10", &r), 0);
    assert_int_equal(r.num, 710);
    assert_int_equal(r.scale, 2);
    /* (usd_cents * 710 + 50) div 100 */
    assert_int_equal(dagd_dq_usd_to_rmb_cents(123383, &r), (123383LL * 710 + 50) / 100);
    assert_int_equal(dagd_dq_usd_to_rmb_cents(5, &r), 36);   /* 35.5 -> 36 (half up) */
    assert_int_equal(dagd_dq_usd_to_rmb_cents(15, &r), 107); /* 106.5 -> 107 */
    assert_int_equal(dagd_dq_usd_to_rmb_cents(1, &r), 7);    /* 7.1 -> 7 */
    assert_int_equal(dagd_dq_usd_to_rmb_cents(0, &r), 0);
    assert_int_equal(dagd_dq_usd_to_rmb_cents(-5, &r), -35); /* -35.5 -> -35 (half up) */
    assert_int_equal(dagd_dq_rate_parse("7.1", &r), 0);
    assert_int_equal(dagd_dq_usd_to_rmb_cents(5, &r), 36);
    assert_int_equal(dagd_dq_rate_parse("7", &r), 0);
    assert_int_equal(dagd_dq_usd_to_rmb_cents(5, &r), 35);
    assert_int_equal(dagd_dq_rate_parse("6.8523", &r), 0);
    assert_int_equal(dagd_dq_usd_to_rmb_cents(100, &r), 685); /* 685.23 */
    assert_int_equal(dagd_dq_rate_parse("", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse("7.", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse(".5", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse("-7.10", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse("7,10", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse("1e3", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse("0.00", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse("1.0000000001", &r), -EINVAL);
    assert_int_equal(dagd_dq_rate_parse(NULL, &r), -EINVAL);
}

static void test_qty(void **state)
{
    assert_int_equal(dagd_dq_qty_from_int(1), 1);
    assert_int_equal(dagd_dq_qty_from_int(5), 5);
    assert_int_equal(dagd_dq_qty_from_int(0), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_int(-1), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_double(2.0), 2);
    assert_int_equal(dagd_dq_qty_from_double(1.5), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_double(0.0), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_double(0.0 / 0.0), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_text("2", 1), 2);
    assert_int_equal(dagd_dq_qty_from_text("0", 1), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_text("2.0", 3), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_text("-1", 2), -EINVAL);
    assert_int_equal(dagd_dq_qty_from_text("", 0), -EINVAL);
}

static void test_strmap(void **state)
{
    struct dagd_arena a = {0};
    struct dagd_strmap m = {0};
    struct dagd_strmap_entry *e;
    char key[32];
    bool added;

    assert_null(dagd_strmap_find(&m, "x", 1));
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof(key), "G%010d", i);
        e = dagd_strmap_upsert(&m, dagd_arena_strndup(&a, key, (size_t)n), (size_t)n, i, &added);
        assert_true(added);
        assert_int_equal(e->value, i);
    }
    assert_int_equal(m.n, 10000);
    e = dagd_strmap_upsert(&m, "G0000000042", 11, -1, &added);
    assert_false(added);
    assert_int_equal(e->value, 42);
    assert_null(dagd_strmap_find(&m, "G0000000042", 10)); /* a prefix is another key */
    assert_non_null(dagd_strmap_find(&m, "G0000009999", 11));
    /* reserve: entries do not move while the map holds at most n keys */
    dagd_strmap_done(&m);
    dagd_strmap_reserve(&m, 1000);
    e = dagd_strmap_upsert(&m, "first", 5, 1, NULL);
    for (int i = 0; i < 998; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        (void)dagd_strmap_upsert(&m, dagd_arena_strndup(&a, key, (size_t)n), (size_t)n, i, NULL);
    }
    assert_ptr_equal(dagd_strmap_find(&m, "first", 5), e);
    /* empty keys and long strings */
    assert_true(dagd_strmap_upsert(&m, "", 0, 7, &added) != NULL && added);
    assert_int_equal(dagd_strmap_find(&m, "", 0)->value, 7);
    char *big = malloc(300000);
    memset(big, 'x', 299999);
    big[299999] = '\0';
    assert_string_equal(dagd_arena_strndup(&a, big, 299999), big);
    free(big);
    dagd_strmap_done(&m);
    dagd_arena_done(&a);
}

/* A hand-made bronze covering every rule once, in the tables extract
 * creates (pipelines/sales/bronze.sql, the owner's DDL). */
static const char bronze_sql[] = DAGD_BRONZE_SQL
    "INSERT INTO load_files VALUES (1, 'dataset1', 'a', 'h1', 1, 9, 0), (2, 'dataset2', 'b', 'h2', "
    "1, 9, 0);"
    "INSERT INTO city_district_map VALUES (1, '北京', '东城区', 1), (2, '上海', '浦东新区', 1),"
    "  (3, '天津', '和平区', 1), (4, '沈阳', '和平区', 1);"
    "INSERT INTO raw_orders (file_id, row_no, source, order_id, order_time, city_district_id,"
    "  rptg_amt, currency_cd, order_qty) VALUES"
    "  (1, 2, 'dataset1', 'G1', 50127, 1, 100.5, 'RMB', 1),"     /* superseded by G1 row 9 */
    "  (1, 3, 'dataset1', ' G2 ', 'time', 2, 10.0, 'USD', 2.0)," /* bad time, USD */
    "  (1, 4, 'dataset1', NULL, 60000, 1, 5, 'RMB', 1),"         /* no id */
    "  (1, 5, 'dataset1', 'G3', 45959, 999999, 0, 'EUR', 1.5),"  /* outside, unknown id, rejected */
    "  (1, 6, 'dataset1', 'G4', '051502', 3, 20, 'RMB', '2'),"
    "  (1, 9, 'dataset1', 'G1', 106175, 1, 300, 'RMB', NULL);" /* the winner of G1 (in ds1) */
    "INSERT INTO raw_orders (file_id, row_no, source, order_id, order_time, city, district,"
    "  rptg_amt, currency_cd, order_qty, missing_keys, extra_keys) VALUES"
    "  (2, 1, 'dataset2', 'G4', 110000, '\xe3\x80\x80天津', '和平区 ', 30, 'RMB', 1, NULL, NULL),"
    "  (2, 2, 'dataset2', 'G5', 110000, '天津', '浦东新区', 40, 'RMB', 1, NULL, 'PROMO'),"
    "  (2, 3, 'dataset2', 'G6', 110000, '山南', '乃东区', 50, 'RMB', NULL, 'ORDER_QTY', NULL),"
    "  (2, 4, 'dataset2', '', 120000, '北京', '东城区', -1, ' RMB', 1, NULL, NULL);";

static int64_t q_int(sqlite3 *db, const char *sql)
{
    return test_query_int(db, sql, -12345); /* -12345: no row */
}

static int64_t dq_count(sqlite3 *db, const char *source, const char *rule)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT \"rows\" FROM dq_summary WHERE source = '%s' AND rule = '%s'", source, rule);
    return q_int(db, sql);
}

static void test_validate_bronze(void **state)
{
    struct dagd_validate_opts o = {.usd_rate = "7.10"};
    struct dagd_validate_stats st;
    char *err = NULL;
    sqlite3 *db;

    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), -ENOENT);
    assert_non_null(err);
    assert_int_equal(sqlite3_exec(db, bronze_sql, NULL, NULL, NULL), SQLITE_OK);
    o.usd_rate = "7,10";
    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), -EINVAL);
    o.usd_rate = "7.10";
    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), 0);
    assert_int_equal(st.rows_in, 10);
    assert_int_equal(st.orders, 6); /* G1..G6 */

    /* dedup: the last G1 wins; G4 of dataset2 replaces dataset1's G4 */
    assert_int_equal(q_int(db, "SELECT amount_rmb_cents FROM orders WHERE order_id = 'G1'"), 30000);
    assert_int_equal(q_int(db, "SELECT order_time IS NULL FROM orders WHERE order_id = 'G1'"), 1);
    assert_int_equal(q_int(db, "SELECT source = 'dataset2' FROM orders WHERE order_id = 'G4'"), 1);
    assert_int_equal(q_int(db, "SELECT city_district_id FROM orders WHERE order_id = 'G4'"), 3);
    /* USD 10.00 -> 71.00 RMB; trimmed id */
    assert_int_equal(q_int(db, "SELECT amount_rmb_cents FROM orders WHERE order_id = 'G2'"), 7100);
    assert_int_equal(q_int(db, "SELECT status = 'rejected' FROM orders WHERE order_id = 'G3'"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM orders WHERE status = 'included'"), 5);
    assert_int_equal(q_int(db, "SELECT location_known FROM orders WHERE order_id = 'G5'"), 0);

    assert_int_equal(dq_count(db, "dataset1", "duplicate_order_id_superseded"), 2);
    assert_int_equal(dq_count(db, "dataset1", "order_id_missing"), 1);
    assert_int_equal(dq_count(db, "dataset1", "bad_order_time"), 2);
    assert_int_equal(dq_count(db, "dataset1", "currency_not_rmb"), 1);
    assert_int_equal(dq_count(db, "dataset1", "currency_unknown"), 1);
    assert_int_equal(dq_count(db, "dataset1", "amount_not_positive"), 1);
    assert_int_equal(dq_count(db, "dataset1", "order_time_outside_window"), 1);
    assert_int_equal(dq_count(db, "dataset1", "unknown_city_district_id"), 1);
    assert_int_equal(dq_count(db, "dataset1", "qty_not_positive_integer"), 2);
    assert_int_equal(dq_count(db, "dataset2", "location_whitespace_trimmed"), 1);
    assert_int_equal(dq_count(db, "dataset2", "unknown_city"), 1);
    assert_int_equal(dq_count(db, "dataset2", "unknown_district"), 1);
    assert_int_equal(dq_count(db, "dataset2", "unknown_city_district_pair"), 2);
    assert_int_equal(dq_count(db, "dataset2", "json_missing_key"), 1);
    assert_int_equal(dq_count(db, "dataset2", "json_extra_key"), 1);
    assert_int_equal(dq_count(db, "dataset2", "order_id_missing"), 1);
    assert_int_equal(dq_count(db, "dataset2", "currency_unknown"), 0); /* ' RMB' trimmed */
    assert_int_equal(dq_count(db, "dataset2", "amount_not_positive"), 1);
    assert_int_equal(dq_count(db, "dataset2", "order_time_outside_window"), 1);
    /* final rows: G1 (row 9), G2, G3, G4 (ds2), G5, G6 and the 2 rows without id */
    assert_int_equal(dq_count(db, "final", "bad_order_time"), 2);
    assert_int_equal(dq_count(db, "final", "qty_not_positive_integer"), 3);
    assert_int_equal(dq_count(db, "final", "order_id_missing"), 2);
    assert_int_equal(dq_count(db, "final", "order_time_outside_window"), 2);
    assert_int_equal(dq_count(db, "final", "duplicate_order_id_superseded"), -12345);

    /* order_groups is orders grouped */
    static const char groups_sql[] =
        "SELECT city_district_id, hour, status, location_known,"
        " CASE WHEN location_known = 1 THEN min(city) END, count(*), sum(amount_rmb_cents)"
        " FROM orders GROUP BY city_district_id, hour, status, location_known";
    char sql[1024];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s EXCEPT SELECT * FROM order_groups)",
             groups_sql);
    assert_int_equal(q_int(db, sql), 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT * FROM order_groups EXCEPT %s)",
             groups_sql);
    assert_int_equal(q_int(db, sql), 0);
    assert_true(q_int(db, "SELECT count(*) FROM order_groups") >= 4);

    /* idempotent: a second run leaves every orders row as it was */
    int64_t before = q_int(db, "SELECT total_changes()");
    assert_int_equal(
        sqlite3_exec(db, "CREATE TEMP TABLE snap AS SELECT * FROM orders", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT * FROM orders EXCEPT "
                               "SELECT * FROM snap)"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM orders"), 6);
    assert_true(q_int(db, "SELECT total_changes()") > before);

    /* Bronze beyond memory_rows is sorted by SQLite while it is read: the
     * same tables, and orders untouched. */
    static const char *const tables[] = {"orders", "dq_exceptions", "dq_summary", "order_groups"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++) {
        snprintf(sql, sizeof(sql), "CREATE TEMP TABLE snap_%s AS SELECT * FROM %s", tables[i],
                 tables[i]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    o.memory_rows = 1;
    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), 0);
    assert_int_equal(st.rows_in, 10);
    assert_int_equal(st.orders, 6);
    for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT (SELECT count(*) FROM (SELECT * FROM %s EXCEPT SELECT * FROM snap_%s))"
                 " + (SELECT count(*) FROM (SELECT * FROM snap_%s EXCEPT SELECT * FROM %s))"
                 " + (SELECT count(*) FROM %s) - (SELECT count(*) FROM snap_%s)",
                 tables[i], tables[i], tables[i], tables[i], tables[i], tables[i]);
        assert_int_equal(q_int(db, sql), 0);
    }
    /* dq_* and order_groups are rebuilt; orders is not written */
    assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT * FROM orders EXCEPT "
                               "SELECT * FROM snap)"),
                     0);
    free(err);
    sqlite3_close(db);
}

/* Strings of the radix sort test: NULL, empty, embedded NULs, a shared
 * prefix, lengths on both sides of 16 bytes after it. */
struct sort_item {
    const char *s;
    size_t len;
    int64_t pos;
};

static int cmp_items(const struct sort_item *x, const struct sort_item *y)
{
    int c;

    if (!x->s || !y->s) {
        c = (x->s != NULL) - (y->s != NULL);
    } else {
        c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
        c = c ? c : (x->len > y->len) - (x->len < y->len);
    }
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int cmp_items_idx(uint32_t a, uint32_t b, void *userdata)
{
    const struct sort_item *items = userdata;

    return cmp_items(&items[a], &items[b]);
}

static int cmp_items_q(const void *a, const void *b)
{
    return cmp_items(a, b);
}

static void check_oidsort(size_t n, const char *prefix, size_t tail_max, unsigned seed)
{
    struct sort_item *items = calloc(n, sizeof(*items)), *want = calloc(n, sizeof(*items));
    struct dagd_oidsort_key *keys = calloc(n, sizeof(*keys)), *tmp = calloc(n, sizeof(*tmp));
    char *text = calloc(n, strlen(prefix) + tail_max + 1);
    size_t plen = strlen(prefix), skip = SIZE_MAX;
    const char *first = NULL;

    assert_non_null(items);
    assert_non_null(want);
    assert_non_null(keys);
    assert_non_null(tmp);
    assert_non_null(text);
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        char *t = text + i * (plen + tail_max + 1);
        size_t tl = (size_t)rand() % (tail_max + 1);
        memcpy(t, prefix, plen);
        for (size_t j = 0; j < tl; j++) {
            /* few distinct bytes, NUL and 0xff included: many ties */
            static const char alphabet[] = {'\0', '1', '2', '\xff'};
            t[plen + j] = alphabet[rand() % 4];
        }
        items[i] = (struct sort_item){
            .s = rand() % 50 == 0 ? NULL : t, .len = plen + tl, .pos = rand() % 1000};
        if (i % 7 == 3) {
            items[i].s = items[i - 1].s; /* the same ORDER_ID again */
            items[i].len = items[i - 1].len;
        }
        if (items[i].s) {
            if (!first) {
                first = items[i].s;
                skip = items[i].len;
            }
            skip = dagd_oidsort_lcp(first, skip, items[i].s, items[i].len);
        }
    }
    for (size_t i = 0; i < n; i++) {
        dagd_oidsort_key_set(&keys[i], items[i].s, items[i].len, skip, (uint32_t)i);
    }
    dagd_oidsort_sort(keys, tmp, n, cmp_items_idx, items);
    memcpy(want, items, n * sizeof(*items));
    qsort(want, n, sizeof(*want), cmp_items_q);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cmp_items(&items[keys[i].idx], &want[i]), 0);
    }
    free(items);
    free(want);
    free(keys);
    free(tmp);
    free(text);
}

static void test_oidsort(void **state)
{
    check_oidsort(0, "", 4, 1);
    check_oidsort(1, "G", 4, 1);
    check_oidsort(5000, "", 3, 2);             /* short: tails of 0..3 bytes */
    check_oidsort(5000, "G0000", 12, 3);       /* all differ within 16 bytes */
    check_oidsort(5000, "ORDER-", 30, 4);      /* long ones tie on 16 bytes */
    check_oidsort(3000, "ORDER-2024-", 40, 5); /* big runs: qsort */
}

/* The producer of the handoff test: 0..n-1, then its status. */
struct ho_producer {
    struct dagd_handoff *h;
    int n, committed, r;
};

static void *ho_produce(void *userdata)
{
    struct ho_producer *pr = userdata;
    int r = 0;

    for (int i = 0; i < pr->n && r >= 0; i++) {
        *(int *)dagd_handoff_slot(pr->h) = i;
        r = dagd_handoff_commit(pr->h);
        pr->committed += r >= 0;
    }
    pr->r = r;
    dagd_handoff_finish(pr->h, r >= 0 ? 7 : r);
    return NULL;
}

/* Every element arrives once, in order, in buffers of at most cap; a
 * consumer that stops ends the producer; a producer with nothing to send
 * ends the consumer. */
static void check_handoff(int n, size_t cap, int stop_after)
{
    struct dagd_handoff h;
    struct ho_producer pr = {.h = &h, .n = n};
    pthread_t t;
    void *buf;
    size_t got;
    int next = 0, batches = 0;

    dagd_handoff_init(&h, sizeof(int), cap);
    assert_int_equal(pthread_create(&t, NULL, ho_produce, &pr), 0);
    while ((got = dagd_handoff_take(&h, &buf)) > 0) {
        assert_true(got <= cap);
        if (stop_after < 0 || batches < stop_after) {
            for (size_t i = 0; i < got; i++) {
                assert_int_equal(((int *)buf)[i], next++);
            }
        }
        if (++batches == stop_after) {
            dagd_handoff_stop(&h);
        }
        dagd_handoff_release(&h);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    if (stop_after < 0) {
        assert_int_equal(next, n);
        assert_int_equal(h.r, 7);
        assert_int_equal(pr.r, 0);
    } else {
        assert_int_equal(next, stop_after * (int)cap);
        assert_int_equal(pr.r, -ECANCELED);
        assert_int_equal(h.r, -ECANCELED);
        assert_true(pr.committed < n);
    }
    dagd_handoff_done(&h);
}

static void test_handoff(void **state)
{
    check_handoff(0, 4, -1);
    check_handoff(3, 4, -1);       /* one partial buffer */
    check_handoff(8, 4, -1);       /* exactly two full */
    check_handoff(100003, 64, -1); /* many turns of both buffers */
    check_handoff(100000, 64, 3);  /* the consumer gives up */
}

/* 30041 more bronze rows for bronze_sql (see test_validate_many_rows). */
static const char many_rows_sql[] =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)"
    " INSERT INTO raw_orders (file_id, row_no, source, order_id, order_time,"
    "  city_district_id, rptg_amt, currency_cd, order_qty)"
    " SELECT 3, i + 1, 'dataset1',"
    "  CASE i % 3 WHEN 0 THEN i % 20000 WHEN 1 THEN ' ' || (i % 20000)"
    "   ELSE CAST(i % 20000 AS TEXT) END,"
    "  50000 + i % 70000, 1 + i % 5, i % 101, CASE WHEN i % 7 = 0 THEN 'USD'"
    "   ELSE 'RMB' END, 1 FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
    " INSERT INTO raw_orders (file_id, row_no, source, order_id, order_time,"
    "  city_district_id, rptg_amt, currency_cd, order_qty)"
    " SELECT 4, i, 'dataset1', 'MANY', 60000 + i, 1 + i % 4, i, 'RMB', i FROM n;"
    /* first in load order, so that the two halves of a parallel scan meet
     * the sources in different orders */
    "INSERT INTO raw_orders (file_id, row_no, source, order_id, order_time, city, district,"
    "  rptg_amt, currency_cd, order_qty) VALUES"
    "  (0, 1, 'dataset2', 'Z0', 110000, '北京', '东城区', 10, 'RMB', 1)";

static const char *const out_tables[] = {"orders", "dq_exceptions", "dq_summary", "order_groups"};

/* Copy the output tables to temp.snap_<table>. */
static void snapshot(sqlite3 *db)
{
    char sql[256];

    for (size_t i = 0; i < sizeof(out_tables) / sizeof(*out_tables); i++) {
        snprintf(sql, sizeof(sql),
                 "DROP TABLE IF EXISTS temp.snap_%s; CREATE TEMP TABLE snap_%s AS SELECT * FROM %s",
                 out_tables[i], out_tables[i], out_tables[i]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
}

/* How many output tables differ from their snapshot. */
static int snapshot_diff(sqlite3 *db)
{
    char sql[1024];
    int n = 0;

    for (size_t i = 0; i < sizeof(out_tables) / sizeof(*out_tables); i++) {
        const char *t = out_tables[i];
        snprintf(sql, sizeof(sql),
                 "SELECT (SELECT count(*) FROM (SELECT * FROM %s EXCEPT SELECT * FROM snap_%s))"
                 " + (SELECT count(*) FROM (SELECT * FROM snap_%s EXCEPT SELECT * FROM %s))"
                 " + (SELECT count(*) FROM %s) - (SELECT count(*) FROM snap_%s)",
                 t, t, t, t, t, t);
        n += q_int(db, sql) != 0;
    }
    return n;
}

/* bronze_sql and many_rows_sql in a new database: in memory (path NULL) or
 * a WAL file in dir, as the worker opens the warehouse (the in-memory way
 * then reads bronze in two halves on two connections). */
static sqlite3 *open_many_rows(const char *dir)
{
    char path[512];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/warehouse.db", dir ? dir : "");
    assert_int_equal(sqlite3_open(dir ? path : ":memory:", &db), SQLITE_OK);
    if (dir) {
        assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
                         SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(db, bronze_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, many_rows_sql, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void remove_many_rows(const char *dir)
{
    static const char *const files[] = {"warehouse.db", "warehouse.db-wal", "warehouse.db-shm"};
    char path[512];

    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        (void)unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

static int cancel_after, cancel_calls;

static bool cancel_late(void *userdata)
{
    return ++cancel_calls > cancel_after;
}

/* Canceled at any point (the scan, the sort, the batches of orders written
 * while the second thread prepares the next, dq_exceptions, the rest), in
 * both ways: -ECANCELED and the warehouse as before; the SQLite thread stops
 * the other one. */
static void check_cancel(sqlite3 *db)
{
    struct dagd_validate_opts o = {.usd_rate = "7.10"};
    struct dagd_validate_stats st;
    char *err = NULL;

    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), 0);
    snapshot(db);
    /* under valgrind the in-memory way only (its three threads): the other
     * legs run both */
    const int ways = getenv("DAGD_VALGRIND") ? 1 : 2;
    for (int stream = 0; stream < ways; stream++) {
        int canceled = 0;
        /* another rate changes every USD order: a run that got through
         * would show */
        o = (struct dagd_validate_opts){
            .usd_rate = "6.50", .canceled = cancel_late, .stream = stream};
        /* under valgrind (50x slower) fewer cancel points, still from the
         * first callback to the last (every 4x: the other legs) */
        const int grow = getenv("DAGD_VALGRIND") ? 64 : 4;
        for (cancel_after = 0;; cancel_after = grow * cancel_after + 1) {
            cancel_calls = 0;
            int r = dagd_validate_warehouse(db, &o, &st, &err);
            if (r == 0) {
                break;
            }
            assert_int_equal(r, -ECANCELED);
            assert_int_equal(snapshot_diff(db), 0);
            canceled++;
        }
        assert_true(canceled > (grow == 4 ? 4 : 2));
        assert_true(snapshot_diff(db) > 0);
        o = (struct dagd_validate_opts){.usd_rate = "7.10"};
        assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), 0);
        assert_int_equal(snapshot_diff(db), 0);
    }
    free(err);
}

/* check() on the many-rows bronze in memory (unless wal_only) and in a WAL
 * file, as the worker opens the warehouse. */
static void on_many_rows(void (*check)(sqlite3 *db), bool wal_only)
{
    char dir[] = "/tmp/dagd-test-validate-XXXXXX";
    sqlite3 *db;

    if (!wal_only) {
        db = open_many_rows(NULL);
        check(db);
        sqlite3_close(db);
    }
    assert_non_null(mkdtemp(dir));
    db = open_many_rows(dir);
    check(db);
    sqlite3_close(db);
    remove_many_rows(dir);
}

static void test_validate_cancel(void **state)
{
    /* under valgrind only the WAL file (two connections, three threads):
     * the release and sanitizer builds run both */
    on_many_rows(check_cancel, getenv("DAGD_VALGRIND") != NULL);
}

/* More rows than a batch of orders (8192), duplicates far apart, ORDER_IDs as
 * numbers and as padded text, one ORDER_ID 40 times (more than the first
 * allocation for the rows of one ORDER_ID): the in-memory and the streaming
 * way agree. */
static void check_many_rows(sqlite3 *db)
{
    static const char *const tables[] = {"orders", "dq_exceptions", "dq_summary", "order_groups"};
    struct dagd_validate_opts o = {.usd_rate = "7.10"};
    struct dagd_validate_stats st;
    char *err = NULL, sql[1024];

    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), 0);
    assert_int_equal(st.rows_in, 30010 + 40 + 1);
    assert_int_equal(st.orders, 6 + 20000 + 1 + 1);
    assert_int_equal(dq_count(db, "dataset1", "duplicate_order_id_superseded"), 2 + 10000 + 39);
    assert_int_equal(q_int(db, "SELECT qty FROM orders WHERE order_id = 'MANY'"), 40);
    for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++) {
        snprintf(sql, sizeof(sql), "CREATE TEMP TABLE snap_%s AS SELECT * FROM %s", tables[i],
                 tables[i]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(db, "DELETE FROM orders", NULL, NULL, NULL), SQLITE_OK);
    o.stream = true;
    assert_int_equal(dagd_validate_warehouse(db, &o, &st, &err), 0);
    assert_int_equal(st.orders, 6 + 20000 + 1 + 1);
    for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT (SELECT count(*) FROM (SELECT * FROM %s EXCEPT SELECT * FROM snap_%s))"
                 " + (SELECT count(*) FROM (SELECT * FROM snap_%s EXCEPT SELECT * FROM %s))"
                 " + (SELECT count(*) FROM %s) - (SELECT count(*) FROM snap_%s)",
                 tables[i], tables[i], tables[i], tables[i], tables[i], tables[i]);
        assert_int_equal(q_int(db, sql), 0);
    }
    free(err);
}

static void test_validate_many_rows(void **state)
{
    /* under valgrind only the WAL file, as for cancel */
    on_many_rows(check_many_rows, getenv("DAGD_VALGRIND") != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_cents),
        cmocka_unit_test(test_usd),
        cmocka_unit_test(test_qty),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_oidsort),
        cmocka_unit_test(test_handoff),
        cmocka_unit_test(test_validate_bronze),
        cmocka_unit_test(test_validate_many_rows),
        cmocka_unit_test(test_validate_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
