/* Unit tests of tasks/extract/rowq.c: rows cross from a producer thread to
 * the consumer intact and in order with tiny batches (so the producer keeps
 * blocking on a full queue), an oversized row grows its batch, an unfinished
 * row is dropped at close, and stop() releases a blocked producer. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rowq.h"

#define ROWS 20000

struct producer {
    struct dagd_rowq *q;
    int result;    /* what the producer's last begin() returned */
    uint64_t sent; /* rows fully sent */
    bool open_row; /* leave the last row unfinished */
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    char text[64];
    static char big[100000];

    memset(big, 'x', sizeof(big));
    for (uint64_t i = 1; i <= ROWS; i++) {
        int r = dagd_rowq_begin(p->q, (uint32_t)(i % 3), i);
        if (r < 0) {
            p->result = r;
            dagd_rowq_close(p->q, r);
            return NULL;
        }
        (void)snprintf(text, sizeof(text), "row-%llu", (unsigned long long)i);
        assert_int_equal(dagd_rowq_int(p->q, 4, (int64_t)i * 7), 0);
        assert_int_equal(dagd_rowq_real(p->q, 5, (double)i / 4), 0);
        assert_int_equal(dagd_rowq_text(p->q, 6, text, strlen(text)), 0);
        if (i == 777) {
            assert_int_equal(dagd_rowq_text(p->q, 7, big, sizeof(big)), 0); /* > batch */
        }
        if (p->open_row && i == ROWS) {
            break; /* no end(): close() must drop it */
        }
        assert_int_equal(dagd_rowq_end(p->q), 0);
        p->sent = i;
    }
    dagd_rowq_close(p->q, 42);
    return NULL;
}

static void check_rows(bool open_row)
{
    struct dagd_rowq *q = dagd_rowq_new(512, 2); /* a few rows per batch */
    struct producer p = {.q = q, .open_row = open_row};
    struct dagd_rowq_row row;
    pthread_t th;
    uint64_t n = 0;
    int k;

    assert_non_null(q);
    assert_int_equal(pthread_create(&th, NULL, produce, &p), 0);
    while ((k = dagd_rowq_next(q, &row)) > 0) {
        char text[64];
        n++;
        assert_int_equal(row.row_no, n);
        assert_int_equal(row.kind, n % 3);
        assert_int_equal(row.n, n == 777 ? 4 : 3);
        assert_int_equal(row.v[0].param, 4);
        assert_int_equal(row.v[0].type, DAGD_ROWQ_INT);
        assert_int_equal(row.v[0].i, (int64_t)n * 7);
        assert_int_equal(row.v[1].type, DAGD_ROWQ_REAL);
        assert_true(row.v[1].d == (double)n / 4);
        (void)snprintf(text, sizeof(text), "row-%llu", (unsigned long long)n);
        assert_int_equal(row.v[2].len, strlen(text));
        assert_memory_equal(row.v[2].s, text, strlen(text));
        if (n == 777) {
            assert_int_equal(row.v[3].len, 100000);
            assert_int_equal(row.v[3].s[99999], 'x');
        }
    }
    assert_int_equal(k, 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(n, open_row ? ROWS - 1 : ROWS);
    assert_int_equal(dagd_rowq_result(q), 42);
    dagd_rowq_free(q);
}

static void test_rows_cross_intact(void **state)
{
    check_rows(false);
}

static void test_unfinished_row_dropped(void **state)
{
    check_rows(true);
}

static void test_stop_releases_producer(void **state)
{
    struct dagd_rowq *q = dagd_rowq_new(512, 2);
    struct producer p = {.q = q};
    struct dagd_rowq_row row;
    pthread_t th;

    assert_non_null(q);
    assert_int_equal(pthread_create(&th, NULL, produce, &p), 0);
    /* take a few rows, then give up: the producer must not stay blocked */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(dagd_rowq_next(q, &row), 1);
    }
    dagd_rowq_stop(q);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.result, -ECANCELED);
    assert_true(p.sent < ROWS);
    assert_int_equal(dagd_rowq_result(q), -ECANCELED);
    dagd_rowq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_cross_intact),
        cmocka_unit_test(test_unfinished_row_dropped),
        cmocka_unit_test(test_stop_releases_producer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
