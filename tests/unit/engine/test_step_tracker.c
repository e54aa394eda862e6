/* Unit tests for daemon/engine/step_tracker.c: ready order, fan-in/fan-out, skip
 * propagation, exclusion (--from/--only), cancel and retry delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "step_tracker.h"
#include "util.h"

/* A DAG given as needs lists; builds the tracker with identity order. */
struct dag {
    size_t n;
    const size_t *needs[16];
    size_t n_needs[16];
};

static struct dagd_tracker *mk(const struct dag *d, const size_t *order)
{
    return dagd_tracker_new(d->n, d->needs, d->n_needs, order);
}

static void test_chain_order(void **state)
{
    /* 0 <- 1 <- 2: one at a time, in order. */
    static const size_t n1[] = {0}, n2[] = {1};
    struct dag d = {.n = 3, .needs = {NULL, n1, n2}, .n_needs = {0, 1, 1}};
    struct dagd_tracker *s = mk(&d, NULL);

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_n_ready(s), 1);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(dagd_tracker_pop_ready(s), (ssize_t)i);
        assert_int_equal(dagd_tracker_pop_ready(s), -1);
        assert_int_equal(dagd_tracker_n_running(s), 1);
        assert_false(dagd_tracker_done(s));
        dagd_tracker_succeeded(s, i, false);
    }
    assert_true(dagd_tracker_done(s));
    assert_int_equal(dagd_tracker_state(s, 2), DAGD_TRACKER_SUCCEEDED);
    dagd_tracker_free(s);
}

static bool odd_only(size_t i, void *userdata)
{
    (*(unsigned *)userdata)++;
    return i % 2 == 1;
}

/* pop_ready_if: the first ready step the filter accepts; the refused ones
 * stay ready, in their order (a step waiting for a pool holds up nothing). */
static void test_pop_ready_if(void **state)
{
    struct dag d = {.n = 4, .needs = {NULL}, .n_needs = {0}};
    struct dagd_tracker *s = mk(&d, NULL);
    unsigned calls = 0;

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready_if(s, odd_only, &calls), 1);
    assert_int_equal(dagd_tracker_pop_ready_if(s, odd_only, &calls), 3);
    assert_int_equal(dagd_tracker_pop_ready_if(s, odd_only, &calls), -1);
    assert_int_equal(dagd_tracker_n_ready(s), 2);
    assert_int_equal(dagd_tracker_n_running(s), 2);
    assert_true(calls >= 4);
    assert_int_equal(dagd_tracker_pop_ready_if(s, NULL, NULL), 0);
    assert_int_equal(dagd_tracker_pop_ready(s), 2);
    dagd_tracker_free(s);
}

static void test_fan_out_in(void **state)
{
    /* 0 -> {1,2,3} -> 4; ready steps come out in priority order. */
    static const size_t n_mid[] = {0}, n_last[] = {1, 2, 3};
    struct dag d = {
        .n = 5, .needs = {NULL, n_mid, n_mid, n_mid, n_last}, .n_needs = {0, 1, 1, 1, 3}};
    /* Priority order puts 3 before 1 before 2. */
    static const size_t order[] = {0, 3, 1, 2, 4};
    struct dagd_tracker *s = mk(&d, order);

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    dagd_tracker_succeeded(s, 0, false);
    assert_int_equal(dagd_tracker_n_ready(s), 3);
    assert_int_equal(dagd_tracker_pop_ready(s), 3);
    assert_int_equal(dagd_tracker_pop_ready(s), 1);
    assert_int_equal(dagd_tracker_pop_ready(s), 2);
    assert_int_equal(dagd_tracker_n_running(s), 3);
    /* Fan-in: 4 waits for all three. */
    dagd_tracker_succeeded(s, 1, false);
    dagd_tracker_succeeded(s, 3, true); /* memoized counts as satisfied */
    assert_int_equal(dagd_tracker_pop_ready(s), -1);
    assert_int_equal(dagd_tracker_state(s, 4), DAGD_TRACKER_WAITING);
    dagd_tracker_succeeded(s, 2, false);
    assert_int_equal(dagd_tracker_pop_ready(s), 4);
    dagd_tracker_succeeded(s, 4, false);
    assert_true(dagd_tracker_done(s));
    assert_int_equal(dagd_tracker_state(s, 3), DAGD_TRACKER_SKIPPED);
    dagd_tracker_free(s);
}

static void test_skip_propagation(void **state)
{
    /* a(0) -> b(1) -> c(2);  a -> d(3);  e(4) independent;  f(5) needs c and e. */
    static const size_t nb[] = {0}, nc[] = {1}, nd[] = {0}, nf[] = {2, 4};
    struct dag d = {.n = 6, .needs = {NULL, nb, nc, nd, NULL, nf}, .n_needs = {0, 1, 1, 1, 0, 2}};
    struct dagd_tracker *s = mk(&d, NULL);
    size_t skipped[6];

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    assert_int_equal(dagd_tracker_pop_ready(s), 4);
    dagd_tracker_succeeded(s, 0, false);
    assert_int_equal(dagd_tracker_pop_ready(s), 1);
    assert_int_equal(dagd_tracker_pop_ready(s), 3);
    size_t n = dagd_tracker_failed(s, 1, skipped);
    /* c and f are downstream of b; d (a sibling) and e go on. */
    assert_int_equal(n, 2);
    assert_int_equal(skipped[0], 2);
    assert_int_equal(skipped[1], 5);
    assert_int_equal(dagd_tracker_state(s, 2), DAGD_TRACKER_UPSTREAM_FAILED);
    assert_int_equal(dagd_tracker_state(s, 5), DAGD_TRACKER_UPSTREAM_FAILED);
    assert_false(dagd_tracker_done(s));
    dagd_tracker_succeeded(s, 3, false);
    /* e succeeding must not revive f. */
    dagd_tracker_succeeded(s, 4, false);
    assert_int_equal(dagd_tracker_pop_ready(s), -1);
    assert_true(dagd_tracker_done(s));
    assert_int_equal(dagd_tracker_state(s, 3), DAGD_TRACKER_SUCCEEDED);
    assert_int_equal(dagd_tracker_state(s, 1), DAGD_TRACKER_FAILED);
    dagd_tracker_free(s);
}

static void test_diamond_failure_marks_once(void **state)
{
    /* 0 -> {1,2} -> 3: 3 is reachable twice but reported once. */
    static const size_t n_mid[] = {0}, n3[] = {1, 2};
    struct dag d = {.n = 4, .needs = {NULL, n_mid, n_mid, n3}, .n_needs = {0, 1, 1, 2}};
    struct dagd_tracker *s = mk(&d, NULL);
    size_t skipped[4];

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    size_t n = dagd_tracker_failed(s, 0, skipped);
    assert_int_equal(n, 3);
    assert_int_equal(skipped[0], 1);
    assert_int_equal(skipped[1], 2);
    assert_int_equal(skipped[2], 3);
    assert_true(dagd_tracker_done(s));
    dagd_tracker_free(s);
}

static void test_retry_cycle(void **state)
{
    struct dag d = {.n = 1};
    struct dagd_tracker *s = mk(&d, NULL);

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    dagd_tracker_backoff(s, 0);
    assert_int_equal(dagd_tracker_state(s, 0), DAGD_TRACKER_BACKOFF);
    assert_int_equal(dagd_tracker_n_running(s), 0);
    assert_int_equal(dagd_tracker_pop_ready(s), -1);
    assert_false(dagd_tracker_done(s));
    dagd_tracker_retry(s, 0);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    dagd_tracker_succeeded(s, 0, false);
    assert_true(dagd_tracker_done(s));
    dagd_tracker_free(s);
}

static void test_exclude_from(void **state)
{
    /* --from 1 on 0 -> 1 -> 2: 0 is excluded and satisfies 1. */
    static const size_t n1[] = {0}, n2[] = {1};
    struct dag d = {.n = 3, .needs = {NULL, n1, n2}, .n_needs = {0, 1, 1}};
    struct dagd_tracker *s = mk(&d, NULL);

    dagd_tracker_exclude(s, 0);
    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 1);
    dagd_tracker_succeeded(s, 1, false);
    assert_int_equal(dagd_tracker_pop_ready(s), 2);
    dagd_tracker_succeeded(s, 2, false);
    assert_true(dagd_tracker_done(s));
    assert_int_equal(dagd_tracker_state(s, 0), DAGD_TRACKER_SKIPPED);
    dagd_tracker_free(s);
}

static void test_exclude_only(void **state)
{
    /* --only 1: 0 and 2 excluded; 2 must not become ready after 1. */
    static const size_t n1[] = {0}, n2[] = {1};
    struct dag d = {.n = 3, .needs = {NULL, n1, n2}, .n_needs = {0, 1, 1}};
    struct dagd_tracker *s = mk(&d, NULL);

    dagd_tracker_exclude(s, 0);
    dagd_tracker_exclude(s, 2);
    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 1);
    assert_int_equal(dagd_tracker_pop_ready(s), -1);
    dagd_tracker_succeeded(s, 1, false);
    assert_int_equal(dagd_tracker_pop_ready(s), -1);
    assert_true(dagd_tracker_done(s));
    dagd_tracker_free(s);
}

static void test_cancel_pending(void **state)
{
    /* 0 and 1 independent, 2 needs 0. Cancel with 0 running, 1 ready. */
    static const size_t n2[] = {0};
    struct dag d = {.n = 3, .needs = {NULL, NULL, n2}, .n_needs = {0, 0, 1}};
    struct dagd_tracker *s = mk(&d, NULL);
    size_t out[3];

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    size_t n = dagd_tracker_cancel_pending(s, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    assert_int_equal(dagd_tracker_pop_ready(s), -1);
    assert_false(dagd_tracker_done(s)); /* 0 still running */
    dagd_tracker_canceled(s, 0);
    assert_true(dagd_tracker_done(s));
    dagd_tracker_free(s);
}

static void test_big_fan(void **state)
{
    /* 1 -> 998 -> 1, as in the benchmark: every middle step pops in order. */
    enum { N = 1000 };
    static size_t first[] = {0};
    static size_t all_mid[N - 2];
    static const size_t *needs[N];
    static size_t n_needs[N];
    for (size_t i = 1; i < N - 1; i++) {
        needs[i] = first;
        n_needs[i] = 1;
        all_mid[i - 1] = i;
    }
    needs[N - 1] = all_mid;
    n_needs[N - 1] = N - 2;
    struct dagd_tracker *s = dagd_tracker_new(N, needs, n_needs, NULL);

    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    dagd_tracker_succeeded(s, 0, false);
    for (size_t i = 1; i < N - 1; i++) {
        assert_int_equal(dagd_tracker_pop_ready(s), (ssize_t)i);
    }
    for (size_t i = 1; i < N - 1; i++) {
        assert_int_equal(dagd_tracker_pop_ready(s), -1);
        dagd_tracker_succeeded(s, i, false);
    }
    assert_int_equal(dagd_tracker_pop_ready(s), N - 1);
    dagd_tracker_succeeded(s, N - 1, false);
    assert_true(dagd_tracker_done(s));
    dagd_tracker_free(s);
}

static void test_retry_delay_bounds(void **state)
{
    const uint64_t base = 1000000, cap = 300000000;
    uint64_t x = 88172645463325252ULL;

    /* Never above min(cap, base * 2^(attempt-1)). */
    for (unsigned attempt = 1; attempt <= 40; attempt++) {
        uint64_t ceiling = attempt > 20 ? cap : base << (attempt - 1);
        if (ceiling > cap) {
            ceiling = cap;
        }
        uint64_t max_seen = 0;
        for (int k = 0; k < 200; k++) {
            /* xorshift64: deterministic, uniform enough for bounds. */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint64_t d = dagd_tracker_retry_delay(base, attempt, cap, x);
            assert_true(d <= ceiling);
            if (d > max_seen) {
                max_seen = d;
            }
        }
        /* Full jitter spreads over the range: 200 draws reach its top half. */
        assert_true(max_seen >= ceiling / 2);
    }
    /* The extremes of the random input hit both ends exactly. */
    assert_int_equal(dagd_tracker_retry_delay(base, 1, cap, 0), 0);
    assert_int_equal(dagd_tracker_retry_delay(base, 1, cap, base), base);
    assert_int_equal(dagd_tracker_retry_delay(base, 3, cap, 4 * base), 4 * base);
    assert_int_equal(dagd_tracker_retry_delay(0, 5, cap, 12345), 0);
    /* Huge attempt numbers must not overflow past the cap. */
    assert_true(dagd_tracker_retry_delay(UINT64_MAX / 3, 1000, cap, UINT64_MAX) <= cap);
}

static void test_trigger_rules_on_failure(void **state)
{
    /* a(0) -> b(1) -> c(2); errors(3) needs b with any_failed; cleanup(4)
     * needs a and c with all_done; after(5) needs errors (default rule). */
    static const size_t nb[] = {0}, nc[] = {1}, ne[] = {1}, ncl[] = {0, 2}, nafter[] = {3};
    struct dag d = {
        .n = 6, .needs = {NULL, nb, nc, ne, ncl, nafter}, .n_needs = {0, 1, 1, 1, 2, 1}};
    struct dagd_tracker *s = mk(&d, NULL);
    size_t skipped[6];

    dagd_tracker_set_rule(s, 3, DAGD_TRIGGER_ANY_FAILED);
    dagd_tracker_set_rule(s, 4, DAGD_TRIGGER_ALL_DONE);
    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    dagd_tracker_succeeded(s, 0, false);
    assert_int_equal(dagd_tracker_pop_ready(s), 1);
    size_t n = dagd_tracker_failed(s, 1, skipped);
    /* only c is skipped; the walk stops at errors and cleanup */
    assert_int_equal(n, 1);
    assert_int_equal(skipped[0], 2);
    assert_int_equal(dagd_tracker_state(s, 2), DAGD_TRACKER_UPSTREAM_FAILED);
    /* errors runs (b failed); cleanup runs (a succeeded, c did not run) */
    assert_int_equal(dagd_tracker_pop_ready(s), 3);
    assert_int_equal(dagd_tracker_pop_ready(s), 4);
    assert_int_equal(dagd_tracker_pop_not_triggered(s), -1);
    dagd_tracker_succeeded(s, 3, false);
    dagd_tracker_succeeded(s, 4, false);
    assert_int_equal(dagd_tracker_pop_ready(s), 5);
    dagd_tracker_succeeded(s, 5, false);
    assert_true(dagd_tracker_done(s));
    dagd_tracker_free(s);
}

static void test_trigger_rules_on_success(void **state)
{
    /* Same DAG, nothing fails: errors is not triggered (SKIPPED, reported
     * once), after runs as below a skip, cleanup waits for c. */
    static const size_t nb[] = {0}, nc[] = {1}, ne[] = {1}, ncl[] = {0, 2}, nafter[] = {3};
    struct dag d = {
        .n = 6, .needs = {NULL, nb, nc, ne, ncl, nafter}, .n_needs = {0, 1, 1, 1, 2, 1}};
    struct dagd_tracker *s = mk(&d, NULL);

    dagd_tracker_set_rule(s, 3, DAGD_TRIGGER_ANY_FAILED);
    dagd_tracker_set_rule(s, 4, DAGD_TRIGGER_ALL_DONE);
    dagd_tracker_begin(s);
    assert_int_equal(dagd_tracker_pop_ready(s), 0);
    dagd_tracker_succeeded(s, 0, false);
    assert_int_equal(dagd_tracker_pop_ready(s), 1);
    dagd_tracker_succeeded(s, 1, false);
    assert_int_equal(dagd_tracker_pop_not_triggered(s), 3);
    assert_int_equal(dagd_tracker_pop_not_triggered(s), -1);
    assert_int_equal(dagd_tracker_state(s, 3), DAGD_TRACKER_SKIPPED);
    assert_int_equal(dagd_tracker_pop_ready(s), 2);
    assert_int_equal(dagd_tracker_pop_ready(s), 5);
    assert_int_equal(dagd_tracker_pop_ready(s), -1);
    dagd_tracker_succeeded(s, 2, false);
    assert_int_equal(dagd_tracker_pop_ready(s), 4);
    dagd_tracker_succeeded(s, 4, false);
    dagd_tracker_succeeded(s, 5, false);
    assert_true(dagd_tracker_done(s));
    assert_int_equal(dagd_trigger_rule_from_string("all_done"), DAGD_TRIGGER_ALL_DONE);
    assert_int_equal(dagd_trigger_rule_from_string("one_failed"), -EINVAL);
    assert_string_equal(dagd_trigger_rule_to_string(DAGD_TRIGGER_ANY_FAILED), "any_failed");
    dagd_tracker_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_order),
        cmocka_unit_test(test_pop_ready_if),
        cmocka_unit_test(test_fan_out_in),
        cmocka_unit_test(test_skip_propagation),
        cmocka_unit_test(test_diamond_failure_marks_once),
        cmocka_unit_test(test_retry_cycle),
        cmocka_unit_test(test_exclude_from),
        cmocka_unit_test(test_exclude_only),
        cmocka_unit_test(test_cancel_pending),
        cmocka_unit_test(test_big_fan),
        cmocka_unit_test(test_retry_delay_bounds),
        cmocka_unit_test(test_trigger_rules_on_failure),
        cmocka_unit_test(test_trigger_rules_on_success),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
