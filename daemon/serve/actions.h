/* Run, cancel and retry for callers other than the socket's command
 * handlers (the HTTP API when `http_token_file:` enables it), with the same
 * rules: a run of an active pipeline with its defaults, cancel of a queued
 * or running run, retry of an ended run with its declared params (the
 * socket's `retry` gives the same overrides: dagd_params_overrides_from_json). Each logs what it
 * did, as the socket's handlers do. */
#ifndef DAGD_ACTIONS_H
#define DAGD_ACTIONS_H

#include "daemon.h"

/* Start a run of `pipeline` (trigger "cli"). 0 with its id; -ENOENT (no
 * such loaded pipeline), -EINVAL (its params do not resolve), -ENOBUFS
 * (queue full), -ESHUTDOWN; *reterr_msg (owned by the caller) says why. */
int dagd_action_run(struct dagd_daemon *d, const char *pipeline, const char *who,
                    char ret_run_id[static 33], char **reterr_msg);
/* 1 if the run was queued (now canceled), 0 if running (canceling) or
 * relayed to the leader from a standby, -ENOENT if it is not active
 * (dagd_daemon_cancel). */
int dagd_action_cancel(struct dagd_daemon *d, const char *run_id, const char *who);
/* Retry an ended run (trigger "retry", parent run_id): as dagd_action_run,
 * and -EBUSY while the run is still active. */
int dagd_action_retry(struct dagd_daemon *d, const char *run_id, const char *who,
                      char ret_run_id[static 33], char **reterr_msg);

#endif
