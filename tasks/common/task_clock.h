/* Clocks of the task plugins' own code (not part of the plugin ABI; see
 * task_errmsg.h for how tasks/common is linked). */
#pragma once

#include <stdint.h>

/* Wall-clock time in epoch milliseconds (CLOCK_REALTIME): what the
 * warehouse stores (load_files.loaded_at, translations.fetched_at, the
 * report's generation time). */
int64_t dagd__task_wall_ms(void);

/* Monotonic time in microseconds (CLOCK_MONOTONIC): for pacing, backoff and
 * elapsed times, never stored. */
uint64_t dagd__task_mono_usec(void);
