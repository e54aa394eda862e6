/* Helpers shared by the task plugins' own code (not part of the plugin ABI).
 *
 * tasks/common builds a static library with hidden visibility: each plugin
 * that uses it links its own copy, so the .so files stay self-contained and
 * export nothing new. It may call libc only. */
#pragma once

#include <stdbool.h>

/* Replace *reterr_msg with a newly allocated message formatted from fmt
 * (the caller frees it with free()). Does nothing if reterr_msg is NULL.
 * If formatting fails (out of memory), *reterr_msg is freed and set to NULL. */
void dagd__task_set_err(char **reterr_msg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when a task's -errno r blames its input (a malformed file, a bad
 * record, SQL that does not compile, a 4xx answer): the same input fails
 * the same way, so the task tells the host not to retry (task.h no_retry).
 * The tasks return -EINVAL for those (-E2BIG, -EFBIG, -ENOTSUP, -EBADMSG,
 * -EILSEQ, -EOVERFLOW, -ERANGE from the readers, -ELOOP for a cycle of SQL
 * models); I/O, memory, busy and missing-file errors are worth a retry. */
bool dagd__task_input_error(int r);
