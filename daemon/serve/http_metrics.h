/* The daemon's metrics in OpenMetrics text (GET /metrics): runs and steps
 * finished, by pipeline and status (counters), step durations by pipeline
 * (histogram), queue depth and running runs, schedule lag and sensor ticks,
 * the daemon's own RSS and CPU, and HTTP requests by code.
 *
 * The counters are seeded from state.db on the first scrape (one scan of the
 * finished runs and of their steps) and then counted as runs finish (the
 * executor's RUN_FINISHED, whose steps are read back then): a scrape does no
 * scan of the history, and counters never go down when retention deletes
 * old runs. Owns its counters and its executor observer. */
#ifndef DAGD_HTTP_METRICS_H
#define DAGD_HTTP_METRICS_H

#include <stddef.h>

struct dagd_daemon;
struct dagd_metrics;

struct dagd_metrics *dagd_metrics_new(struct dagd_daemon *d);
/* Stops observing and frees. NULL is fine; returns NULL. */
struct dagd_metrics *dagd_metrics_free(struct dagd_metrics *m);
/* Count one HTTP request answered with `code`. */
void dagd_metrics_count_request(struct dagd_metrics *m, unsigned code);
/* The exposition, ending in "# EOF\n": a new string (free()) of *ret_len
 * bytes; n_streams is the listener's open event streams (http_sse.h). NULL only if the first
 * scrape's seeding failed (the store's error is logged). */
char *dagd_metrics_render(struct dagd_metrics *m, unsigned n_streams, size_t *ret_len);

#endif
