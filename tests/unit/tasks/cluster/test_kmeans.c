/* Unit tests for tasks/cluster/kmeans.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kmeans.h"

/* Brute force: every split of the sorted values into k contiguous groups. */
static double sse_of(const int64_t *v, size_t n, const unsigned *lab, unsigned k)
{
    double total = 0;
    for (unsigned c = 0; c < k; c++) {
        double s = 0;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (lab[i] == c) {
                s += (double)v[i];
                m++;
            }
        }
        if (!m) {
            continue;
        }
        double mean = s / (double)m;
        for (size_t i = 0; i < n; i++) {
            if (lab[i] == c) {
                total += ((double)v[i] - mean) * ((double)v[i] - mean);
            }
        }
    }
    return total;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double brute3(const int64_t *sorted, size_t n)
{
    double best = 1e300;
    unsigned *lab = calloc(n, sizeof(unsigned));
    for (size_t a = 1; a < n; a++) {
        for (size_t b = a + 1; b < n; b++) {
            for (size_t i = 0; i < n; i++) {
                lab[i] = i < a ? 0 : i < b ? 1 : 2;
            }
            double s = sse_of(sorted, n, lab, 3);
            if (s < best) {
                best = s;
            }
        }
    }
    free(lab);
    return best;
}

static void test_1d_simple(void **state)
{
    (void)state;
    const int64_t v[] = {100, 1, 2, 50, 3, 51, 101, 52};
    unsigned lab[8];
    double sse;
    assert_int_equal(dagd_kmeans1d(v, 8, 3, lab, &sse), 0);
    /* 1,2,3 -> 0; 50,51,52 -> 1; 100,101 -> 2 */
    const unsigned want[] = {2, 0, 0, 1, 0, 1, 2, 1};
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(lab[i], want[i]);
    }
    assert_true(sse > 4.49 && sse < 4.51); /* 2 + 2 + 0.5 */
}

static void test_1d_matches_brute_force(void **state)
{
    (void)state;
    uint64_t s = 12345;
    for (int round = 0; round < 30; round++) {
        size_t n = 5 + (size_t)(round % 20);
        int64_t v[32], sorted[32];
        unsigned lab[32];
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            /* skewed like sales totals: a few large values */
            int64_t x = (int64_t)(s >> 40) % 100000;
            v[i] = (round % 3 == 0 && i % 7 == 0) ? x * 1000 : x;
            sorted[i] = v[i];
        }
        qsort(sorted, n, sizeof(int64_t), cmp64);
        double sse;
        assert_int_equal(dagd_kmeans1d(v, n, 3, lab, &sse), 0);
        double want = brute3(sorted, n);
        assert_true(sse_of(v, n, lab, 3) <= want * (1 + 1e-9) + 1e-6);
        assert_true(sse <= want * (1 + 1e-9) + 1e-6);
        /* labels are monotone in the value */
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++) {
                if (v[i] < v[j]) {
                    assert_true(lab[i] <= lab[j]);
                }
            }
        }
    }
}

static void test_1d_equal_values_share_label(void **state)
{
    (void)state;
    const int64_t v[] = {5, 5, 5, 5, 9, 9, 20};
    unsigned lab[7];
    assert_int_equal(dagd_kmeans1d(v, 7, 3, lab, NULL), 0);
    assert_int_equal(lab[0], lab[3]);
    assert_int_equal(lab[4], lab[5]);
    assert_int_equal(lab[6], 2);
    /* more groups than distinct values */
    const int64_t w[] = {1, 1, 2};
    assert_int_equal(dagd_kmeans1d(w, 3, 3, lab, NULL), -EDOM);
}

static void test_1d_bad_args(void **state)
{
    (void)state;
    const int64_t v[] = {1, 2};
    unsigned lab[2];
    assert_int_equal(dagd_kmeans1d(v, 2, 0, lab, NULL), -EINVAL);
    assert_int_equal(dagd_kmeans1d(v, 2, 3, lab, NULL), -EINVAL);
    assert_int_equal(dagd_kmeans1d(NULL, 2, 1, lab, NULL), -EINVAL);
    assert_int_equal(dagd_kmeans1d(v, 2, 1, lab, NULL), 0);
    assert_int_equal(lab[0], 0);
    assert_int_equal(lab[1], 0);
}

static void test_1d_large_money(void **state)
{
    (void)state;
    /* Totals in cents of the size of the full data set: exact integer costs. */
    int64_t v[] = {169069930000, 139453016000, 91839571000, 29386021000,
                   26917523000,  132566,       1000000};
    int64_t sorted[7];
    unsigned lab[7];
    double sse;
    memcpy(sorted, v, sizeof(v));
    qsort(sorted, 7, sizeof(int64_t), cmp64);
    assert_int_equal(dagd_kmeans1d(v, 7, 3, lab, &sse), 0);
    assert_true(sse_of(v, 7, lab, 3) <= brute3(sorted, 7) * (1 + 1e-12));
    assert_int_equal(lab[0], 2);
    assert_int_equal(lab[5], 0);
}

static void test_pp_separates_blobs(void **state)
{
    (void)state;
    double x[40];
    for (size_t i = 0; i < 20; i++) {
        double c = (i % 2) ? 10 : -10;
        x[2 * i] = c + (double)(i % 5) * 0.1;
        x[2 * i + 1] = c - (double)(i % 3) * 0.1;
    }
    unsigned a[20], b[20];
    double in1, in2;
    assert_int_equal(dagd_kmeans_pp(x, 20, 2, 2, 42, 5, 100, a, &in1), 0);
    assert_int_equal(dagd_kmeans_pp(x, 20, 2, 2, 42, 5, 100, b, &in2), 0);
    assert_memory_equal(a, b, sizeof(a)); /* deterministic */
    for (size_t i = 2; i < 20; i++) {
        assert_int_equal(a[i], a[i % 2]);
    }
    assert_int_not_equal(a[0], a[1]);
    double sil;
    assert_int_equal(dagd_silhouette(x, 20, 2, a, 2, &sil), 0);
    assert_true(sil > 0.9);
}

static void test_silhouette_prefers_true_k(void **state)
{
    (void)state;
    const int64_t v[] = {1, 2, 3, 100, 101, 102, 1000, 1001, 1002};
    double x[9];
    double best = -2;
    unsigned bestk = 0;
    for (size_t i = 0; i < 9; i++) {
        x[i] = (double)v[i];
    }
    for (unsigned k = 2; k <= 5; k++) {
        unsigned lab[9];
        double sil;
        assert_int_equal(dagd_kmeans1d(v, 9, k, lab, NULL), 0);
        assert_int_equal(dagd_silhouette(x, 9, 1, lab, k, &sil), 0);
        if (sil > best) {
            best = sil;
            bestk = k;
        }
    }
    assert_int_equal(bestk, 3);
    unsigned lab[9] = {0};
    double sil;
    assert_int_equal(dagd_silhouette(x, 9, 1, lab, 1, &sil), -EINVAL);
}

static void test_rank_and_standardize(void **state)
{
    (void)state;
    unsigned lab[] = {0, 1, 2, 0, 1, 2};
    const double key[] = {50, 10, 99, 60, 20, 98};
    assert_int_equal(dagd_kmeans_rank(lab, 6, 3, key), 0);
    const unsigned want[] = {1, 0, 2, 1, 0, 2};
    assert_memory_equal(lab, want, sizeof(want));

    double x[] = {1, 7, 2, 7, 3, 7};
    dagd_standardize(x, 3, 2);
    assert_true(x[0] < -1.2 && x[0] > -1.3);
    assert_true(x[2] == 0);
    assert_true(x[1] == 0 && x[3] == 0 && x[5] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1d_simple),
        cmocka_unit_test(test_1d_matches_brute_force),
        cmocka_unit_test(test_1d_equal_values_share_label),
        cmocka_unit_test(test_1d_bad_args),
        cmocka_unit_test(test_1d_large_money),
        cmocka_unit_test(test_pp_separates_blobs),
        cmocka_unit_test(test_silhouette_prefers_true_k),
        cmocka_unit_test(test_rank_and_standardize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
