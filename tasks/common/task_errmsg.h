/* Helpers shared by the task plugins' own code (not part of the plugin ABI).
 *
 * tasks/common builds a static library with hidden visibility: each plugin
 * that uses it links its own copy, so the .so files stay self-contained and
 * export nothing new. It may call libc only. */
#pragma once

/* Replace *reterr_msg with a newly allocated message formatted from fmt
 * (the caller frees it with free()). Does nothing if reterr_msg is NULL.
 * If formatting fails (out of memory), *reterr_msg is freed and set to NULL. */
void dagd__task_set_err(char **reterr_msg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
