/* Unit tests for daemon/dag.c: stable topological order, fan-out/fan-in,
 * cycles with their path, downstream/upstream closures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dag.h"

/* Build steps from a spec: steps[i] needs the indices in needs[i] (-1 ends). */
#define MAXN 16
static struct dagd_step steps[MAXN];
static size_t idx_store[MAXN][MAXN];
static char names[MAXN][8];

static void build(size_t n, const int needs[][MAXN])
{
    memset(steps, 0, sizeof(steps));
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "%c", (char)('a' + i));
        steps[i].name = names[i];
        steps[i].needs_idx = idx_store[i];
        for (size_t j = 0; needs[i][j] >= 0; j++) {
            idx_store[i][j] = (size_t)needs[i][j];
            steps[i].n_needs++;
        }
    }
}

static char cycles_out[512];

static void on_cycle(const size_t *path, size_t len, void *userdata)
{
    size_t *count = userdata;

    (*count)++;
    for (size_t i = 0; i < len; i++) {
        strcat(cycles_out, names[path[i]]);
    }
    strcat(cycles_out, ";");
}

static void order_string(size_t n, char *out)
{
    size_t order[MAXN];
    size_t k = dagd_dag_order(steps, n, order);

    for (size_t i = 0; i < k; i++) {
        out[i] = names[order[i]][0];
    }
    out[k] = 0;
}

static void test_chain_reversed(void **state)
{
    /* d needs nothing, c needs d, b needs c, a needs b: order d c b a */
    const int needs[][MAXN] = {{1, -1}, {2, -1}, {3, -1}, {-1}};
    char out[MAXN + 1];

    build(4, needs);
    order_string(4, out);
    assert_string_equal(out, "dcba");
}

static void test_stable_file_order(void **state)
{
    /* independent steps keep file order; e needs a, comes after everything
     * ready earlier in the file but as soon as a is done and it is smallest */
    const int needs[][MAXN] = {{-1}, {-1}, {4, -1}, {-1}, {0, -1}};
    char out[MAXN + 1];

    build(5, needs);
    order_string(5, out);
    /* ready at start: a b d; a first, then b (index 1) < d (3) < e (4) ... c after e */
    assert_string_equal(out, "abdec");
}

static void test_fan_out_fan_in(void **state)
{
    /* a -> b, c, d (fan-out); e needs b, c, d (fan-in) */
    const int needs[][MAXN] = {{-1}, {0, -1}, {0, -1}, {0, -1}, {3, 2, 1, -1}};
    char out[MAXN + 1];
    bool *m;
    struct dagd_pipeline p = {.steps = steps, .n_steps = 5};

    build(5, needs);
    order_string(5, out);
    assert_string_equal(out, "abcde");

    m = dagd_dag_downstream(&p, 2); /* c: c, e */
    assert_false(m[0]);
    assert_false(m[1]);
    assert_true(m[2]);
    assert_false(m[3]);
    assert_true(m[4]);
    free(m);

    m = dagd_dag_upstream(&p, 4); /* e: everything */
    for (size_t i = 0; i < 5; i++) {
        assert_true(m[i]);
    }
    free(m);

    m = dagd_dag_downstream(&p, 0); /* a: everything */
    for (size_t i = 0; i < 5; i++) {
        assert_true(m[i]);
    }
    free(m);

    m = dagd_dag_upstream(&p, 1); /* b: a, b */
    assert_true(m[0]);
    assert_true(m[1]);
    assert_false(m[2]);
    assert_false(m[4]);
    free(m);
}

static void test_mask_expansion(void **state)
{
    /* retry: failed {b, d} -> b, d and everything downstream */
    const int needs[][MAXN] = {{-1}, {0, -1}, {-1}, {2, -1}, {1, -1}, {-1}};
    bool mask[6] = {false, true, false, true, false, false};

    build(6, needs);
    dagd_dag_downstream_mask(steps, 6, mask);
    assert_false(mask[0]);
    assert_true(mask[1]);
    assert_false(mask[2]);
    assert_true(mask[3]);
    assert_true(mask[4]);
    assert_false(mask[5]);
}

static void test_cycle_path(void **state)
{
    /* a needs c, b needs a, c needs b: a -> c -> b -> a; d needs a (behind) */
    const int needs[][MAXN] = {{2, -1}, {0, -1}, {1, -1}, {0, -1}};
    size_t count = 0, order[MAXN];

    build(4, needs);
    assert_int_equal(dagd_dag_order(steps, 4, order), 0);
    cycles_out[0] = 0;
    assert_int_equal(dagd_dag_cycles(steps, 4, on_cycle, &count), 1);
    assert_int_equal(count, 1);
    assert_string_equal(cycles_out, "acba;");
}

static void test_two_cycles(void **state)
{
    /* a <-> b, and c -> d -> e -> c (starting at the first in file order),
     * f depends on both cycles and is not reported */
    const int needs[][MAXN] = {{1, -1}, {0, -1}, {4, -1}, {2, -1}, {3, -1}, {0, 2, -1}};
    size_t count = 0;

    build(6, needs);
    cycles_out[0] = 0;
    assert_int_equal(dagd_dag_cycles(steps, 6, on_cycle, &count), 2);
    assert_string_equal(cycles_out, "aba;cedc;");
}

static void test_cycle_rotation(void **state)
{
    /* Walk starts at a, which is not on the cycle b -> c -> b. */
    const int needs[][MAXN] = {{2, -1}, {2, -1}, {1, -1}};
    size_t count = 0, order[MAXN];

    build(3, needs);
    assert_int_equal(dagd_dag_order(steps, 3, order), 0);
    cycles_out[0] = 0;
    assert_int_equal(dagd_dag_cycles(steps, 3, on_cycle, &count), 1);
    assert_string_equal(cycles_out, "bcb;");
}

static void test_ignored_edges(void **state)
{
    /* Self-edges and out-of-range indices (reported by the loader) are ignored. */
    const int needs[][MAXN] = {{0, -1}, {0, 99, -1}};
    char out[MAXN + 1];
    size_t count = 0;

    build(2, needs);
    idx_store[1][1] = SIZE_MAX;
    order_string(2, out);
    assert_string_equal(out, "ab");
    assert_int_equal(dagd_dag_cycles(steps, 2, on_cycle, &count), 0);
}

static void test_empty(void **state)
{
    size_t order[1];

    assert_int_equal(dagd_dag_order(NULL, 0, order), 0);
    assert_int_equal(dagd_dag_cycles(NULL, 0, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_reversed), cmocka_unit_test(test_stable_file_order),
        cmocka_unit_test(test_fan_out_fan_in), cmocka_unit_test(test_mask_expansion),
        cmocka_unit_test(test_cycle_path),     cmocka_unit_test(test_two_cycles),
        cmocka_unit_test(test_cycle_rotation), cmocka_unit_test(test_ignored_edges),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
