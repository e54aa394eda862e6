/* Error messages of task helpers (see task_errmsg.h). */
#include "task_errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void dagd__task_set_err(char **reterr_msg, const char *fmt, ...)
{
    va_list ap;
    char *m = NULL;

    if (!reterr_msg) {
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&m, fmt, ap) < 0) {
        m = NULL;
    }
    va_end(ap);
    free(*reterr_msg);
    *reterr_msg = m;
}
