/* See step_tracker.h. Ready steps are kept in a binary min-heap keyed by their
 * rank in the priority order, so a 1000-step fan-out pops in O(log n). */
#include "step_tracker.h"

#include <assert.h>

#include "util.h"

struct sched_step {
    enum dagd_tracker_state state;
    size_t n_unmet; /* needs not yet satisfied */
    size_t rank;    /* position in the priority order */
    size_t *deps;   /* dependents: steps that need this one */
    size_t n_deps;
    enum dagd_trigger_rule rule;
    size_t n_failed; /* needs that failed (counted by rules other than all_succeeded) */
};

struct dagd_tracker {
    size_t n;
    struct sched_step *steps;
    size_t *heap; /* READY steps, min-heap on rank */
    size_t n_heap;
    size_t n_running;
    size_t n_active; /* WAITING + READY + RUNNING + BACKOFF */
    size_t *stack;   /* scratch for downstream walks */
    size_t *notrig;  /* steps whose rule was not met, a queue (each enters once) */
    size_t notrig_head, notrig_tail;
};

static const char *const rule_names[_DAGD_TRIGGER_RULE_MAX] = {
    [DAGD_TRIGGER_ALL_SUCCEEDED] = "all_succeeded",
    [DAGD_TRIGGER_ANY_FAILED] = "any_failed",
    [DAGD_TRIGGER_ALL_DONE] = "all_done",
};

int dagd_trigger_rule_from_string(const char *s)
{
    for (int i = 0; i < _DAGD_TRIGGER_RULE_MAX; i++) {
        if (streq(s, rule_names[i])) {
            return i;
        }
    }
    return -EINVAL;
}

const char *dagd_trigger_rule_to_string(enum dagd_trigger_rule r)
{
    return r < _DAGD_TRIGGER_RULE_MAX ? rule_names[r] : NULL;
}

static const char *const state_names[_DAGD_TRACKER_STATE_MAX] = {
    [DAGD_TRACKER_WAITING] = "waiting",     [DAGD_TRACKER_READY] = "ready",
    [DAGD_TRACKER_RUNNING] = "running",     [DAGD_TRACKER_BACKOFF] = "backoff",
    [DAGD_TRACKER_SUCCEEDED] = "succeeded", [DAGD_TRACKER_FAILED] = "failed",
    [DAGD_TRACKER_SKIPPED] = "skipped",     [DAGD_TRACKER_UPSTREAM_FAILED] = "upstream-failed",
    [DAGD_TRACKER_CANCELED] = "canceled",
};

const char *dagd_tracker_state_to_string(enum dagd_tracker_state st)
{
    return st < _DAGD_TRACKER_STATE_MAX ? state_names[st] : NULL;
}

static bool is_active(enum dagd_tracker_state st)
{
    return st == DAGD_TRACKER_WAITING || st == DAGD_TRACKER_READY || st == DAGD_TRACKER_RUNNING ||
           st == DAGD_TRACKER_BACKOFF;
}

static bool rank_less(const struct dagd_tracker *s, size_t a, size_t b)
{
    return s->steps[a].rank < s->steps[b].rank;
}

static void heap_push(struct dagd_tracker *s, size_t i)
{
    size_t k = s->n_heap++;
    s->heap[k] = i;
    while (k > 0) {
        size_t parent = (k - 1) / 2;
        if (!rank_less(s, s->heap[k], s->heap[parent])) {
            break;
        }
        size_t t = s->heap[k];
        s->heap[k] = s->heap[parent];
        s->heap[parent] = t;
        k = parent;
    }
}

static size_t heap_pop(struct dagd_tracker *s)
{
    size_t top = s->heap[0];
    s->heap[0] = s->heap[--s->n_heap];
    size_t k = 0;
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, m = k;
        if (l < s->n_heap && rank_less(s, s->heap[l], s->heap[m])) {
            m = l;
        }
        if (r < s->n_heap && rank_less(s, s->heap[r], s->heap[m])) {
            m = r;
        }
        if (m == k) {
            break;
        }
        size_t t = s->heap[k];
        s->heap[k] = s->heap[m];
        s->heap[m] = t;
        k = m;
    }
    return top;
}

struct dagd_tracker *dagd_tracker_new(size_t n, const size_t *const *needs, const size_t *n_needs,
                                      const size_t *order)
{
    struct dagd_tracker *s = dagd_xcalloc(1, sizeof(*s));
    s->n = n;
    s->steps = dagd_xcalloc(n, sizeof(*s->steps));
    s->heap = dagd_xcalloc(n, sizeof(size_t));
    s->stack = dagd_xcalloc(n, sizeof(size_t));
    s->notrig = dagd_xcalloc(n, sizeof(size_t));
    s->n_active = n;

    for (size_t k = 0; k < n; k++) {
        s->steps[order ? order[k] : k].rank = k;
    }
    /* Two passes: count dependents, then fill them. */
    for (size_t i = 0; i < n; i++) {
        s->steps[i].n_unmet = n_needs ? n_needs[i] : 0;
        for (size_t j = 0; j < s->steps[i].n_unmet; j++) {
            assert(needs[i][j] < n);
            s->steps[needs[i][j]].n_deps++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        s->steps[i].deps = dagd_xcalloc(s->steps[i].n_deps, sizeof(size_t));
        s->steps[i].n_deps = 0;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s->steps[i].n_unmet; j++) {
            struct sched_step *up = &s->steps[needs[i][j]];
            up->deps[up->n_deps++] = i;
        }
    }
    return s;
}

struct dagd_tracker *dagd_tracker_free(struct dagd_tracker *s)
{
    if (!s) {
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        free(s->steps[i].deps);
    }
    free(s->steps);
    free(s->heap);
    free(s->stack);
    free(s->notrig);
    free(s);
    return NULL;
}

static void set_state(struct dagd_tracker *s, size_t i, enum dagd_tracker_state st)
{
    struct sched_step *p = &s->steps[i];
    if (p->state == DAGD_TRACKER_RUNNING) {
        s->n_running--;
    }
    if (st == DAGD_TRACKER_RUNNING) {
        s->n_running++;
    }
    if (is_active(p->state) && !is_active(st)) {
        s->n_active--;
    }
    p->state = st;
}

static void release(struct dagd_tracker *s, size_t i, bool begun);

/* Every need of WAITING step i ended: READY, or by its rule not triggered
 * (SKIPPED, queued for the caller, and satisfying its own dependents). */
static void make_ready(struct dagd_tracker *s, size_t i)
{
    if (s->steps[i].rule == DAGD_TRIGGER_ANY_FAILED && s->steps[i].n_failed == 0) {
        set_state(s, i, DAGD_TRACKER_SKIPPED);
        s->notrig[s->notrig_tail++] = i;
        release(s, i, true);
        return;
    }
    set_state(s, i, DAGD_TRACKER_READY);
    heap_push(s, i);
}

/* Step i is satisfied (succeeded or skipped): release its dependents. Only
 * WAITING dependents move; ones already decided (e.g. excluded) stay. */
static void release(struct dagd_tracker *s, size_t i, bool begun)
{
    struct sched_step *p = &s->steps[i];
    for (size_t k = 0; k < p->n_deps; k++) {
        struct sched_step *d = &s->steps[p->deps[k]];
        assert(d->n_unmet > 0);
        d->n_unmet--;
        if (begun && d->n_unmet == 0 && d->state == DAGD_TRACKER_WAITING) {
            make_ready(s, p->deps[k]);
        }
    }
}

void dagd_tracker_set_rule(struct dagd_tracker *s, size_t i, enum dagd_trigger_rule rule)
{
    assert(rule < _DAGD_TRIGGER_RULE_MAX);
    s->steps[i].rule = rule;
}

ssize_t dagd_tracker_pop_not_triggered(struct dagd_tracker *s)
{
    if (s->notrig_head == s->notrig_tail) {
        return -1;
    }
    return (ssize_t)s->notrig[s->notrig_head++];
}

void dagd_tracker_exclude(struct dagd_tracker *s, size_t i)
{
    assert(s->steps[i].state == DAGD_TRACKER_WAITING);
    set_state(s, i, DAGD_TRACKER_SKIPPED);
    release(s, i, false);
}

void dagd_tracker_begin(struct dagd_tracker *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->steps[i].state == DAGD_TRACKER_WAITING && s->steps[i].n_unmet == 0) {
            make_ready(s, i);
        }
    }
}

void dagd_tracker_preset_running(struct dagd_tracker *s, size_t i)
{
    assert(s->steps[i].state == DAGD_TRACKER_WAITING);
    set_state(s, i, DAGD_TRACKER_RUNNING);
}

ssize_t dagd_tracker_peek_ready(const struct dagd_tracker *s)
{
    return s->n_heap == 0 ? -1 : (ssize_t)s->heap[0];
}

ssize_t dagd_tracker_pop_ready(struct dagd_tracker *s)
{
    if (s->n_heap == 0) {
        return -1;
    }
    size_t i = heap_pop(s);
    set_state(s, i, DAGD_TRACKER_RUNNING);
    return (ssize_t)i;
}

ssize_t dagd_tracker_pop_ready_if(struct dagd_tracker *s, dagd_tracker_fits_fn fits, void *userdata)
{
    size_t n = s->n_heap, k = 0;
    size_t *skipped = NULL;
    ssize_t found = -1;

    while (s->n_heap > 0) {
        size_t i = heap_pop(s);
        if (!fits || fits(i, userdata)) {
            found = (ssize_t)i;
            break;
        }
        if (!skipped) {
            skipped = dagd_xcalloc(n, sizeof(size_t));
        }
        skipped[k++] = i;
    }
    /* Back in: the heap has room for every step. */
    for (size_t j = 0; j < k; j++) {
        heap_push(s, skipped[j]);
    }
    free(skipped);
    if (found >= 0) {
        set_state(s, (size_t)found, DAGD_TRACKER_RUNNING);
    }
    return found;
}

size_t dagd_tracker_n_ready(const struct dagd_tracker *s)
{
    return s->n_heap;
}

size_t dagd_tracker_n_running(const struct dagd_tracker *s)
{
    return s->n_running;
}

void dagd_tracker_succeeded(struct dagd_tracker *s, size_t i, bool skipped)
{
    assert(s->steps[i].state == DAGD_TRACKER_RUNNING);
    set_state(s, i, skipped ? DAGD_TRACKER_SKIPPED : DAGD_TRACKER_SUCCEEDED);
    release(s, i, true);
}

static int cmp_rank_ctx(const void *a, const void *b, void *ctx)
{
    const struct dagd_tracker *s = ctx;
    size_t ra = s->steps[*(const size_t *)a].rank, rb = s->steps[*(const size_t *)b].rank;
    return ra < rb ? -1 : ra > rb;
}

size_t dagd_tracker_failed(struct dagd_tracker *s, size_t i, size_t *ret_skipped)
{
    size_t n_out = 0, top = 0;

    assert(s->steps[i].state == DAGD_TRACKER_RUNNING);
    set_state(s, i, DAGD_TRACKER_FAILED);
    /* Depth-first over dependents; a step not yet started (WAITING: READY
     * and BACKOFF are impossible below a step that has not succeeded) is
     * marked once, which also stops the walk through it twice. */
    s->stack[top++] = i;
    while (top > 0) {
        struct sched_step *p = &s->steps[s->stack[--top]];
        for (size_t k = 0; k < p->n_deps; k++) {
            size_t d = p->deps[k];
            if (s->steps[d].state != DAGD_TRACKER_WAITING) {
                continue;
            }
            if (s->steps[d].rule != DAGD_TRIGGER_ALL_SUCCEEDED) {
                /* It runs anyway once its other needs ended; the walk stops here. */
                assert(s->steps[d].n_unmet > 0);
                s->steps[d].n_unmet--;
                s->steps[d].n_failed++;
                if (s->steps[d].n_unmet == 0) {
                    make_ready(s, d);
                }
                continue;
            }
            set_state(s, d, DAGD_TRACKER_UPSTREAM_FAILED);
            ret_skipped[n_out++] = d;
            s->stack[top++] = d;
        }
    }
    qsort_r(ret_skipped, n_out, sizeof(size_t), cmp_rank_ctx, s);
    return n_out;
}

void dagd_tracker_backoff(struct dagd_tracker *s, size_t i)
{
    assert(s->steps[i].state == DAGD_TRACKER_RUNNING);
    set_state(s, i, DAGD_TRACKER_BACKOFF);
}

void dagd_tracker_retry(struct dagd_tracker *s, size_t i)
{
    assert(s->steps[i].state == DAGD_TRACKER_BACKOFF);
    set_state(s, i, DAGD_TRACKER_READY);
    heap_push(s, i);
}

void dagd_tracker_canceled(struct dagd_tracker *s, size_t i)
{
    assert(s->steps[i].state == DAGD_TRACKER_RUNNING);
    set_state(s, i, DAGD_TRACKER_CANCELED);
}

size_t dagd_tracker_cancel_pending(struct dagd_tracker *s, size_t *ret)
{
    size_t n_out = 0;
    s->n_heap = 0;
    for (size_t k = 0; k < s->n; k++) {
        enum dagd_tracker_state st = s->steps[k].state;
        if (st == DAGD_TRACKER_WAITING || st == DAGD_TRACKER_READY || st == DAGD_TRACKER_BACKOFF) {
            set_state(s, k, DAGD_TRACKER_CANCELED);
            ret[n_out++] = k;
        }
    }
    qsort_r(ret, n_out, sizeof(size_t), cmp_rank_ctx, s);
    return n_out;
}

bool dagd_tracker_done(const struct dagd_tracker *s)
{
    return s->n_active == 0;
}

enum dagd_tracker_state dagd_tracker_state(const struct dagd_tracker *s, size_t i)
{
    return s->steps[i].state;
}

uint64_t dagd_tracker_retry_delay(uint64_t base_usec, unsigned attempt, uint64_t cap_usec,
                                  uint64_t rnd)
{
    uint64_t ceiling = base_usec;

    /* base * 2^(attempt-1), saturating at cap without overflowing. */
    for (unsigned k = 1; k < attempt && ceiling < cap_usec; k++) {
        ceiling = ceiling > UINT64_MAX / 2 ? UINT64_MAX : ceiling * 2;
    }
    if (ceiling > cap_usec) {
        ceiling = cap_usec;
    }
    if (ceiling == 0) {
        return 0;
    }
    /* Full jitter: uniform in [0, ceiling]. The modulo bias is below 2^-40
     * for any ceiling under a day, which no retry timer can tell apart. */
    return rnd % (ceiling + 1);
}
