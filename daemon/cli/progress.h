/* Progress of a run for people: `dagd run` (and `dagctl run --wait` if it
 * likes) feed executor events in and get one line per step state change
 * with a done/total counter and durations; on a terminal also a live status
 * line with a progress bar for steps that report rows. At the end, a
 * summary table. Owns its counters only; writes to the FILE it was given. */
#ifndef DAGD_PROGRESS_H
#define DAGD_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "executor.h"

struct dagd_progress;

/* `tty`: draw the live status line (use isatty()); `quiet`: print nothing
 * but the summary; `output`: print what steps write to stdout and stderr as
 * it comes, prefixed by the step ("step | line"); without it, a failed
 * step's last stderr lines are shown when it fails. n_steps is the total
 * shown in "[done/total]". */
struct dagd_progress *dagd_progress_new(FILE *f, bool tty, bool quiet, bool output, size_t n_steps);
struct dagd_progress *dagd_progress_free(struct dagd_progress *pr);

/* An executor observer (dagd_exec_observer_fn); userdata is the progress. */
void dagd_progress_on_event(const struct dagd_exec_event *ev, void *userdata);

/* Print the summary table of a finished run: step, status, attempts,
 * duration, rows, error; then one line with the run's status. */
void dagd_progress_summary(struct dagd_progress *pr, struct dagd_store *store, const char *run_id);

#endif
