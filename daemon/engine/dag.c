/* See dag.h. Kahn's algorithm with a min-heap keyed by file index gives a
 * stable order in O((n + e) log n); the same pass leaves exactly the steps on
 * or behind a cycle unplaced, which is where cycle search starts. */
#include "dag.h"

#include "util.h"

static bool edge_ok(size_t from, size_t to, size_t n)
{
    return to < n && to != from;
}

/* Reverse adjacency (who needs step i) in CSR form. */
struct rev {
    size_t *start; /* n + 1 */
    size_t *list;
};

static void rev_build(const struct dagd_step *steps, size_t n, struct rev *r)
{
    size_t *fill;

    r->start = dagd_xcalloc(n + 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < steps[i].n_needs; j++) {
            if (edge_ok(i, steps[i].needs_idx[j], n)) {
                r->start[steps[i].needs_idx[j] + 1]++;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        r->start[i + 1] += r->start[i];
    }
    r->list = dagd_xcalloc(r->start[n] + 1, sizeof(size_t));
    fill = dagd_xcalloc(n + 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < steps[i].n_needs; j++) {
            size_t t = steps[i].needs_idx[j];
            if (edge_ok(i, t, n)) {
                r->list[r->start[t] + fill[t]++] = i;
            }
        }
    }
    free(fill);
}

static void rev_done(struct rev *r)
{
    free(r->start);
    free(r->list);
}

/* A binary min-heap of step indices. */
struct heap {
    size_t *v;
    size_t n;
};

static void heap_push(struct heap *h, size_t x)
{
    size_t i = h->n++;

    h->v[i] = x;
    while (i > 0 && h->v[(i - 1) / 2] > h->v[i]) {
        size_t p = (i - 1) / 2, t = h->v[p];
        h->v[p] = h->v[i];
        h->v[i] = t;
        i = p;
    }
}

static size_t heap_pop(struct heap *h)
{
    size_t top = h->v[0], i = 0;

    h->v[0] = h->v[--h->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i, t;
        if (l < h->n && h->v[l] < h->v[m]) {
            m = l;
        }
        if (r < h->n && h->v[r] < h->v[m]) {
            m = r;
        }
        if (m == i) {
            break;
        }
        t = h->v[m];
        h->v[m] = h->v[i];
        h->v[i] = t;
        i = m;
    }
    return top;
}

/* Kahn's algorithm; `done` (may be NULL) marks steps already considered
 * resolved (their needers do not wait for them and they are not output). */
static size_t order_from(const struct dagd_step *steps, size_t n, const struct rev *rv,
                         bool *placed, size_t *order)
{
    size_t *waiting = dagd_xcalloc(n + 1, sizeof(size_t));
    struct heap h = {.v = dagd_xcalloc(n + 1, sizeof(size_t))};
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (placed[i]) {
            continue;
        }
        for (size_t j = 0; j < steps[i].n_needs; j++) {
            size_t t = steps[i].needs_idx[j];
            if (edge_ok(i, t, n) && !placed[t]) {
                waiting[i]++;
            }
        }
        if (waiting[i] == 0) {
            heap_push(&h, i);
        }
    }
    while (h.n > 0) {
        size_t s = heap_pop(&h);
        placed[s] = true;
        if (order) {
            order[k] = s;
        }
        k++;
        for (size_t j = rv->start[s]; j < rv->start[s + 1]; j++) {
            size_t d = rv->list[j];
            /* A step listing the same need twice is counted twice: fine,
             * both decrements happen here. */
            if (!placed[d] && --waiting[d] == 0) {
                heap_push(&h, d);
            }
        }
    }
    free(waiting);
    free(h.v);
    return k;
}

size_t dagd_dag_order(const struct dagd_step *steps, size_t n, size_t *order)
{
    struct rev rv;
    bool *placed = dagd_xcalloc(n + 1, sizeof(bool));
    size_t k;

    rev_build(steps, n, &rv);
    k = order_from(steps, n, &rv, placed, order);
    rev_done(&rv);
    free(placed);
    return k;
}

size_t dagd_dag_cycles(const struct dagd_step *steps, size_t n, dagd_dag_cycle_fn fn,
                       void *userdata)
{
    struct rev rv;
    bool *placed = dagd_xcalloc(n + 1, sizeof(bool));
    size_t *pos = dagd_xcalloc(n + 1, sizeof(size_t)); /* 1-based position in walk, 0 = none */
    size_t *walk = dagd_xcalloc(n + 2, sizeof(size_t));
    size_t *path = dagd_xcalloc(n + 2, sizeof(size_t));
    size_t placed_n = 0, cycles = 0;

    rev_build(steps, n, &rv);
    for (;;) {
        size_t s = SIZE_MAX, len = 0, v, first, clen, rot = 0;

        placed_n += order_from(steps, n, &rv, placed, NULL);
        if (placed_n >= n) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (!placed[i]) {
                s = i;
                break;
            }
        }
        /* Every unplaced step has an unplaced need (else Kahn would have
         * placed it), so following first unplaced needs must revisit a step. */
        v = s;
        while (pos[v] == 0) {
            size_t next = SIZE_MAX;
            walk[len++] = v;
            pos[v] = len;
            for (size_t j = 0; j < steps[v].n_needs; j++) {
                size_t t = steps[v].needs_idx[j];
                if (edge_ok(v, t, n) && !placed[t]) {
                    next = t;
                    break;
                }
            }
            if (next == SIZE_MAX) {
                break; /* cannot happen; be safe */
            }
            v = next;
        }
        if (pos[v] == 0) {
            for (size_t i = 0; i < len; i++) {
                pos[walk[i]] = 0;
                placed[walk[i]] = true;
                placed_n++;
            }
            continue;
        }
        first = pos[v] - 1;
        clen = len - first;
        for (size_t i = 1; i < clen; i++) {
            if (walk[first + i] < walk[first + rot]) {
                rot = i;
            }
        }
        for (size_t i = 0; i < clen; i++) {
            path[i] = walk[first + (rot + i) % clen];
        }
        path[clen] = path[0];
        if (fn) {
            fn(path, clen + 1, userdata);
        }
        cycles++;
        for (size_t i = 0; i < len; i++) {
            pos[walk[i]] = 0;
        }
        /* Treat the cycle as resolved so steps behind it are not reported
         * again, but other cycles still are. */
        for (size_t i = 0; i < clen; i++) {
            if (!placed[path[i]]) {
                placed[path[i]] = true;
                placed_n++;
            }
        }
    }
    rev_done(&rv);
    free(placed);
    free(pos);
    free(walk);
    free(path);
    return cycles;
}

void dagd_dag_downstream_mask(const struct dagd_step *steps, size_t n, bool *mask)
{
    struct rev rv;
    size_t *stack = dagd_xcalloc(n + 1, sizeof(size_t));
    size_t sp = 0;

    rev_build(steps, n, &rv);
    for (size_t i = 0; i < n; i++) {
        if (mask[i]) {
            stack[sp++] = i;
        }
    }
    while (sp > 0) {
        size_t s = stack[--sp];
        for (size_t j = rv.start[s]; j < rv.start[s + 1]; j++) {
            size_t d = rv.list[j];
            if (!mask[d]) {
                mask[d] = true;
                stack[sp++] = d;
            }
        }
    }
    rev_done(&rv);
    free(stack);
}

void dagd_dag_upstream_mask(const struct dagd_step *steps, size_t n, bool *mask)
{
    size_t *stack = dagd_xcalloc(n + 1, sizeof(size_t));
    size_t sp = 0;

    for (size_t i = 0; i < n; i++) {
        if (mask[i]) {
            stack[sp++] = i;
        }
    }
    while (sp > 0) {
        size_t s = stack[--sp];
        for (size_t j = 0; j < steps[s].n_needs; j++) {
            size_t t = steps[s].needs_idx[j];
            if (edge_ok(s, t, n) && !mask[t]) {
                mask[t] = true;
                stack[sp++] = t;
            }
        }
    }
    free(stack);
}

bool *dagd_dag_downstream(const struct dagd_pipeline *p, size_t step)
{
    bool *mask = dagd_xcalloc(p->n_steps + 1, sizeof(bool));

    if (step < p->n_steps) {
        mask[step] = true;
        dagd_dag_downstream_mask(p->steps, p->n_steps, mask);
    }
    return mask;
}

bool *dagd_dag_upstream(const struct dagd_pipeline *p, size_t step)
{
    bool *mask = dagd_xcalloc(p->n_steps + 1, sizeof(bool));

    if (step < p->n_steps) {
        mask[step] = true;
        dagd_dag_upstream_mask(p->steps, p->n_steps, mask);
    }
    return mask;
}
