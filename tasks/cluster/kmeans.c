/* k-means for the cluster task. See kmeans.h for the contract.
 *
 * The 1-D solver is the classic optimal-partition DP (Bellman 1973; the
 * Ckmeans.1d.dp paper by Wang & Song 2011 describes the same recurrence):
 * after sorting, an optimal k-means clustering of a line is a partition into
 * contiguous runs, so D[m][j] = min_i D[m-1][i] + cost(i, j) over the split
 * point i. cost(i, j) is the sum of squared deviations of sorted[i..j) and is
 * O(1) from prefix sums. */
#include "kmeans.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct kv {
    int64_t v;
    size_t i;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    if (x->v != y->v) {
        return x->v < y->v ? -1 : 1;
    }
    return x->i < y->i ? -1 : (x->i > y->i);
}

/* Prefix sums for segment costs. Exact in __int128 when the magnitudes allow
 * it (always for money in cents); long double otherwise. */
struct prefix {
    bool exact;
    __int128 *s, *q;
    long double *ls, *lq;
};

static long double seg_cost(const struct prefix *p, size_t i, size_t j)
{
    __int128 len = (__int128)(j - i);
    if (p->exact) {
        __int128 s = p->s[j] - p->s[i];
        __int128 q = p->q[j] - p->q[i];
        /* len*q - s^2 >= 0 exactly (Cauchy-Schwarz). */
        return (long double)(len * q - s * s) / (long double)len;
    }
    long double s = p->ls[j] - p->ls[i];
    long double q = p->lq[j] - p->lq[i];
    long double c = q - s * s / (long double)len;
    return c < 0 ? 0 : c;
}

int dagd_kmeans1d(const int64_t *values, size_t n, unsigned k, unsigned *labels, double *ret_sse)
{
    struct kv *kv = NULL;
    struct prefix p = {0};
    long double *D = NULL;
    size_t *B = NULL;
    int r = -ENOMEM;

    if (!values || !labels || n == 0 || k == 0 || k > DAGD_KMEANS_MAX_K || k > n) {
        return -EINVAL;
    }
    kv = calloc(n, sizeof(*kv));
    if (!kv) {
        goto out;
    }
    uint64_t vmax = 0;
    for (size_t i = 0; i < n; i++) {
        kv[i].v = values[i];
        kv[i].i = i;
        uint64_t a = values[i] < 0 ? (uint64_t)0 - (uint64_t)values[i] : (uint64_t)values[i];
        if (a > vmax) {
            vmax = a;
        }
    }
    qsort(kv, n, sizeof(*kv), kv_cmp);

    size_t distinct = 1;
    for (size_t i = 1; i < n; i++) {
        distinct += kv[i].v != kv[i - 1].v;
    }
    if (k > distinct) {
        r = -EDOM;
        goto out;
    }

    /* len * q <= n * n * vmax^2 must stay below 2^126. */
    long double bound = (long double)n * (long double)n * (long double)vmax * (long double)vmax;
    p.exact = bound < 0x1p125L;
    if (p.exact) {
        p.s = calloc(n + 1, sizeof(*p.s));
        p.q = calloc(n + 1, sizeof(*p.q));
        if (!p.s || !p.q) {
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            p.s[i + 1] = p.s[i] + kv[i].v;
            p.q[i + 1] = p.q[i] + (__int128)kv[i].v * kv[i].v;
        }
    } else {
        p.ls = calloc(n + 1, sizeof(*p.ls));
        p.lq = calloc(n + 1, sizeof(*p.lq));
        if (!p.ls || !p.lq) {
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            p.ls[i + 1] = p.ls[i] + (long double)kv[i].v;
            p.lq[i + 1] = p.lq[i] + (long double)kv[i].v * (long double)kv[i].v;
        }
    }

    /* D[m*(n+1) + j]: least cost of the first j sorted values in m+1 groups;
     * B: start of the last group of that optimum. */
    D = calloc((size_t)k * (n + 1), sizeof(*D));
    B = calloc((size_t)k * (n + 1), sizeof(*B));
    if (!D || !B) {
        goto out;
    }
    for (size_t j = 1; j <= n; j++) {
        D[j] = seg_cost(&p, 0, j);
        B[j] = 0;
    }
    for (unsigned m = 1; m < k; m++) {
        long double *Dm = D + (size_t)m * (n + 1), *Dp = D + (size_t)(m - 1) * (n + 1);
        size_t *Bm = B + (size_t)m * (n + 1);
        for (size_t j = m + 1; j <= n; j++) {
            long double best = INFINITY;
            size_t arg = 0;
            for (size_t i = m; i < j; i++) {
                /* Never split a run of equal values. */
                if (kv[i].v == kv[i - 1].v) {
                    continue;
                }
                long double c = Dp[i] + seg_cost(&p, i, j);
                if (c < best) {
                    best = c;
                    arg = i;
                }
            }
            Dm[j] = best;
            Bm[j] = arg;
        }
    }
    if (!isfinite(D[(size_t)(k - 1) * (n + 1) + n])) {
        r = -EDOM;
        goto out;
    }

    /* Walk back the split points. */
    size_t j = n;
    for (unsigned m = k; m-- > 0;) {
        size_t i = B[(size_t)m * (n + 1) + j];
        for (size_t t = i; t < j; t++) {
            labels[kv[t].i] = m;
        }
        j = i;
    }
    if (ret_sse) {
        *ret_sse = (double)D[(size_t)(k - 1) * (n + 1) + n];
    }
    r = 0;
out:
    free(kv);
    free(p.s);
    free(p.q);
    free(p.ls);
    free(p.lq);
    free(D);
    free(B);
    return r;
}

/* splitmix64: small, good enough for seeding, and identical everywhere. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * 0x1p-53;
}

static double dist2(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* Greedy k-means++ (as sklearn: 2 + ln k candidates per step, keep the one
 * that lowers the potential most). */
static void kpp_seed(const double *x, size_t n, size_t d, unsigned k, uint64_t *rng,
                     double *centers, double *closest)
{
    unsigned trials = 2 + (unsigned)log((double)k);
    size_t first = (size_t)(rng_uniform(rng) * (double)n);
    if (first >= n) {
        first = n - 1;
    }
    memcpy(centers, x + first * d, d * sizeof(double));
    double pot = 0;
    for (size_t i = 0; i < n; i++) {
        closest[i] = dist2(x + i * d, centers, d);
        pot += closest[i];
    }
    for (unsigned c = 1; c < k; c++) {
        size_t best_idx = 0;
        double best_pot = INFINITY;
        for (unsigned t = 0; t < trials; t++) {
            size_t idx = n - 1;
            if (pot > 0) {
                double target = rng_uniform(rng) * pot, acc = 0;
                for (size_t i = 0; i < n; i++) {
                    acc += closest[i];
                    if (acc > target) {
                        idx = i;
                        break;
                    }
                }
            } else {
                idx = (size_t)(rng_uniform(rng) * (double)n);
                if (idx >= n) {
                    idx = n - 1;
                }
            }
            double np = 0;
            for (size_t i = 0; i < n; i++) {
                double dd = dist2(x + i * d, x + idx * d, d);
                np += dd < closest[i] ? dd : closest[i];
            }
            if (np < best_pot) {
                best_pot = np;
                best_idx = idx;
            }
        }
        memcpy(centers + (size_t)c * d, x + best_idx * d, d * sizeof(double));
        pot = 0;
        for (size_t i = 0; i < n; i++) {
            double dd = dist2(x + i * d, x + best_idx * d, d);
            if (dd < closest[i]) {
                closest[i] = dd;
            }
            pot += closest[i];
        }
    }
}

/* Lloyd iterations from the given centres; returns the inertia. */
static double lloyd(const double *x, size_t n, size_t d, unsigned k, unsigned max_iter,
                    double *centers, unsigned *lab, size_t *count)
{
    double inertia = 0;
    for (size_t i = 0; i < n; i++) {
        lab[i] = UINT32_MAX;
    }
    for (unsigned it = 0; it < (max_iter ? max_iter : 1); it++) {
        bool changed = false;
        inertia = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned best = 0;
            double bd = INFINITY;
            for (unsigned c = 0; c < k; c++) {
                double dd = dist2(x + i * d, centers + (size_t)c * d, d);
                if (dd < bd) {
                    bd = dd;
                    best = c;
                }
            }
            if (lab[i] != best) {
                lab[i] = best;
                changed = true;
            }
            inertia += bd;
        }
        if (!changed) {
            break;
        }
        memset(centers, 0, (size_t)k * d * sizeof(double));
        memset(count, 0, k * sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
            count[lab[i]]++;
            for (size_t j = 0; j < d; j++) {
                centers[(size_t)lab[i] * d + j] += x[i * d + j];
            }
        }
        for (unsigned c = 0; c < k; c++) {
            if (count[c] == 0) {
                /* Empty cluster: move it to the point farthest from its centre. */
                size_t far = 0;
                double fd = -1;
                for (size_t i = 0; i < n; i++) {
                    double dd = dist2(x + i * d, centers + (size_t)lab[i] * d, d);
                    if (dd > fd) {
                        fd = dd;
                        far = i;
                    }
                }
                memcpy(centers + (size_t)c * d, x + far * d, d * sizeof(double));
                continue;
            }
            for (size_t j = 0; j < d; j++) {
                centers[(size_t)c * d + j] /= (double)count[c];
            }
        }
    }
    return inertia;
}

int dagd_kmeans_pp(const double *x, size_t n, size_t d, unsigned k, uint64_t seed, unsigned n_init,
                   unsigned max_iter, unsigned *labels, double *ret_inertia)
{
    if (!x || !labels || n == 0 || d == 0 || k == 0 || k > DAGD_KMEANS_MAX_K || k > n) {
        return -EINVAL;
    }
    double *centers = calloc((size_t)k * d, sizeof(double));
    double *closest = calloc(n, sizeof(double));
    unsigned *lab = calloc(n, sizeof(unsigned));
    size_t *count = calloc(k, sizeof(size_t));
    int r = -ENOMEM;
    if (!centers || !closest || !lab || !count) {
        goto out;
    }
    uint64_t rng = seed;
    double best = INFINITY;
    for (unsigned init = 0; init < (n_init ? n_init : 1); init++) {
        kpp_seed(x, n, d, k, &rng, centers, closest);
        double in = lloyd(x, n, d, k, max_iter ? max_iter : 300, centers, lab, count);
        if (in < best) {
            best = in;
            memcpy(labels, lab, n * sizeof(unsigned));
        }
    }
    if (ret_inertia) {
        *ret_inertia = best;
    }
    r = 0;
out:
    free(centers);
    free(closest);
    free(lab);
    free(count);
    return r;
}

int dagd_silhouette(const double *x, size_t n, size_t d, const unsigned *labels, unsigned k,
                    double *ret_score)
{
    if (!x || !labels || k < 2 || k > DAGD_KMEANS_MAX_K || n < (size_t)k + 1) {
        return -EINVAL;
    }
    size_t count[DAGD_KMEANS_MAX_K] = {0};
    double sum[DAGD_KMEANS_MAX_K];
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= k) {
            return -EINVAL;
        }
        count[labels[i]]++;
    }
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        memset(sum, 0, sizeof(sum));
        for (size_t j = 0; j < n; j++) {
            if (j != i) {
                sum[labels[j]] += sqrt(dist2(x + i * d, x + j * d, d));
            }
        }
        unsigned own = labels[i];
        if (count[own] <= 1) {
            continue; /* s(i) = 0 */
        }
        double a = sum[own] / (double)(count[own] - 1);
        double b = INFINITY;
        for (unsigned c = 0; c < k; c++) {
            if (c != own && count[c] > 0) {
                double m = sum[c] / (double)count[c];
                if (m < b) {
                    b = m;
                }
            }
        }
        double mx = a > b ? a : b;
        if (isfinite(b) && mx > 0) {
            total += (b - a) / mx;
        }
    }
    if (ret_score) {
        *ret_score = total / (double)n;
    }
    return 0;
}

int dagd_kmeans_rank(unsigned *labels, size_t n, unsigned k, const double *key)
{
    if (!labels || !key || k == 0 || k > DAGD_KMEANS_MAX_K) {
        return -EINVAL;
    }
    double mean[DAGD_KMEANS_MAX_K] = {0};
    size_t count[DAGD_KMEANS_MAX_K] = {0};
    unsigned order[DAGD_KMEANS_MAX_K], newlab[DAGD_KMEANS_MAX_K];
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= k) {
            return -EINVAL;
        }
        mean[labels[i]] += key[i];
        count[labels[i]]++;
    }
    for (unsigned c = 0; c < k; c++) {
        mean[c] = count[c] ? mean[c] / (double)count[c] : INFINITY;
        order[c] = c;
    }
    /* Insertion sort: k is tiny, and it is stable (lower old label first). */
    for (unsigned a = 1; a < k; a++) {
        unsigned t = order[a], b = a;
        while (b > 0 && mean[order[b - 1]] > mean[t]) {
            order[b] = order[b - 1];
            b--;
        }
        order[b] = t;
    }
    for (unsigned r = 0; r < k; r++) {
        newlab[order[r]] = r;
    }
    for (size_t i = 0; i < n; i++) {
        labels[i] = newlab[labels[i]];
    }
    return 0;
}

void dagd_standardize(double *x, size_t n, size_t d)
{
    if (!x || n == 0) {
        return;
    }
    for (size_t j = 0; j < d; j++) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < n; i++) {
            mean += x[i * d + j];
        }
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double t = x[i * d + j] - mean;
            var += t * t;
        }
        double sd = sqrt(var / (double)n);
        for (size_t i = 0; i < n; i++) {
            x[i * d + j] = sd > 0 ? (x[i * d + j] - mean) / sd : 0;
        }
    }
}
