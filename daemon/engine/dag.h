/* The DAG of a pipeline's steps: topological order, cycle detection with the
 * cycle's path, and the closures the executor needs (--from, retry).
 * Works on the steps' resolved `needs_idx`; an index out of range or equal
 * to the step itself (an error the loader reports separately) is ignored.
 * Owns nothing, does not log. */
#ifndef DAGD_DAG_H
#define DAGD_DAG_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline_types.h"

/* Topological order, stable: among the steps ready at any point the one
 * first in the file comes first. Writes up to n indices to `order` and
 * returns how many were placed: n when acyclic, fewer when some steps are
 * on or downstream of a cycle. */
size_t dagd_dag_order(const struct dagd_step *steps, size_t n, size_t *order);

/* Called once per cycle with its steps in `needs` order, the first repeated
 * at the end (a needs b needs c needs a: {a, b, c, a}; len 4). The cycle
 * starts at its step first in file order. */
typedef void (*dagd_dag_cycle_fn)(const size_t *path, size_t len, void *userdata);

/* Find cycles: every step on a cycle is in at least one reported cycle, and
 * disjoint cycles are reported separately; returns the number reported. */
size_t dagd_dag_cycles(const struct dagd_step *steps, size_t n, dagd_dag_cycle_fn fn,
                       void *userdata);

/* Expand `mask` (n bools) in place to everything downstream of (needing,
 * directly or not) a step already set. */
void dagd_dag_downstream_mask(const struct dagd_step *steps, size_t n, bool *mask);
/* Expand `mask` in place to everything upstream of (needed by) a set step. */
void dagd_dag_upstream_mask(const struct dagd_step *steps, size_t n, bool *mask);

/* Convenience: a new mask (n bools, free()) of `step` and its downstream
 * (or upstream) closure. */
bool *dagd_dag_downstream(const struct dagd_pipeline *p, size_t step);
bool *dagd_dag_upstream(const struct dagd_pipeline *p, size_t step);

#endif
