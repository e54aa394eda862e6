/* k-means for the cluster task: pure functions, no I/O, no globals.
 *
 * - dagd_kmeans1d(): the exact optimum of 1-D k-means (contiguous groups of
 *   the sorted values minimising the within-group sum of squares) by dynamic
 *   programming, O(k n^2) time, O(k n) memory. Segment costs are computed from
 *   exact integer prefix sums (__int128), so ties and near-ties do not depend
 *   on floating-point summation order.
 * - dagd_kmeans_pp(): Lloyd's k-means in d dimensions with deterministic
 *   k-means++ seeding (fixed seed, several inits, the best inertia wins).
 * - dagd_silhouette(): mean silhouette coefficient of a labelling.
 * - dagd_kmeans_rank(): renumber labels so that label 0 has the lowest mean
 *   of a key (tier 0 = lowest totals).
 *
 * All functions return 0 or a negative errno (-EINVAL for bad arguments,
 * -ENOMEM); out-params are written only on success. */
#ifndef DAGD_KMEANS_H
#define DAGD_KMEANS_H

#include <stddef.h>
#include <stdint.h>

/* Largest k any function accepts. */
#define DAGD_KMEANS_MAX_K 64

/* Exact 1-D k-means. `values` has n integers in any order (they are not
 * modified); labels[i] (0..k-1, ascending with the value) is written for
 * every i. Requires 1 <= k <= n. *ret_sse (optional) receives the
 * within-group sum of squares. Equal values always share a label. */
int dagd_kmeans1d(const int64_t *values, size_t n, unsigned k, unsigned *labels, double *ret_sse);

/* k-means on n points of d dimensions (row-major x[i*d + j]). Runs `n_init`
 * k-means++ initialisations from a generator seeded with `seed`, Lloyd
 * iterations up to `max_iter` each, and keeps the labelling of least inertia
 * (first one on ties). Requires 1 <= k <= n, d >= 1. Deterministic. */
int dagd_kmeans_pp(const double *x, size_t n, size_t d, unsigned k, uint64_t seed, unsigned n_init,
                   unsigned max_iter, unsigned *labels, double *ret_inertia);

/* Mean silhouette coefficient (Euclidean) of the labelling, in [-1, 1].
 * A point alone in its cluster scores 0 (sklearn convention). Requires
 * 2 <= k <= n - 1 for a meaningful result; returns -EINVAL otherwise. */
int dagd_silhouette(const double *x, size_t n, size_t d, const unsigned *labels, unsigned k,
                    double *ret_score);

/* Renumber labels in place so that clusters are ordered by the mean of
 * key[i] over their members, lowest first (ties: lower old label first).
 * Empty clusters sort last. */
int dagd_kmeans_rank(unsigned *labels, size_t n, unsigned k, const double *key);

/* Standardise each column of x (n x d) in place to mean 0 and population
 * standard deviation 1; a constant column becomes all 0. */
void dagd_standardize(double *x, size_t n, size_t d);

#endif /* DAGD_KMEANS_H */
