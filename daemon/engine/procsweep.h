/* The start-up sweep: a dagd alone on a state directory kills the process
 * groups that the running steps of a dead predecessor recorded
 * (dagd_store_step_set_process) before it marks their runs failed
 * (dagd_store_fail_orphans), so that no step is ever both `failed` and
 * still running. Usually nothing is left by then: the worker template kills
 * everything the steps started when its dagd dies (docs/executor.md). This
 * is for when the template died with it (kill -9 of both, the OOM killer).
 *
 * A recorded group counts as the step's, under the same boot id, when its
 * leader is alive with the recorded start time, or, the leader being gone,
 * when a member of the group started between the leader and this dagd
 * (a pid is not reused as a group id while the group has members, so the
 * only mistake left is a group created and abandoned by another program in
 * the seconds between the crash and this start). Only the step's own group
 * is found: a process that left it is killed by the template or not at all
 * (docs/security.md). Logs what it kills; uses /proc. */
#ifndef DAGD_PROCSWEEP_H
#define DAGD_PROCSWEEP_H

#include "store.h"

/* Kill (SIGKILL) the groups recorded for running steps of unfinished runs
 * and wait up to 5 s for them to be gone. Returns the number of groups
 * killed, or -errno if the store could not be read (logged). */
int dagd_procsweep_orphans(struct dagd_store *store);

#endif
