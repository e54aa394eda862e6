/* Error messages of task helpers (see task_errmsg.h). */
#include "task_errmsg.h"

#include <errno.h>
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

bool dagd__task_input_error(int r)
{
    return r == -EINVAL || r == -E2BIG || r == -EFBIG || r == -ENOTSUP || r == -EBADMSG ||
           r == -EILSEQ || r == -EOVERFLOW || r == -ERANGE || r == -ELOOP;
}
