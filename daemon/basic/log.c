/* See log.h. */
#include "log.h"

#include <stdarg.h>
#include <string.h>

int dagd_log_max_level = LOG_INFO;
static bool log_prefix = true;

void dagd_log_set_max_level(int level)
{
    dagd_log_max_level = level;
}

void dagd_log_set_prefix(bool on)
{
    log_prefix = on;
}

int dagd_log_level_from_string(const char *s)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        if (streq(s, names[i])) {
            return (int)i;
        }
    }
    if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0') {
        return s[0] - '0';
    }
    return -EINVAL;
}

int dagd_log_internal(int level, int error, const char *func, const char *fmt, ...)
{
    char buf[4096];
    char fmt2[1024];
    int e = error < 0 ? -error : error;
    va_list ap;

    /* Expand %m ourselves with the given error, not errno. */
    size_t j = 0;
    for (const char *p = fmt; *p && j + 1 < sizeof(fmt2); p++) {
        if (p[0] == '%' && p[1] == 'm') {
            const char *m = strerror(e);
            for (; *m && j + 1 < sizeof(fmt2); m++) {
                if (*m == '%' && j + 2 < sizeof(fmt2)) {
                    fmt2[j++] = '%';
                }
                fmt2[j++] = *m;
            }
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            fmt2[j++] = *p++;
            if (j + 1 < sizeof(fmt2)) {
                fmt2[j++] = *p;
            }
        } else {
            fmt2[j++] = *p;
        }
    }
    fmt2[j] = '\0';

    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vsnprintf(buf, sizeof(buf), fmt2, ap);
#pragma GCC diagnostic pop
    va_end(ap);
    /* Messages never carry raw newlines: one event, one line. */
    for (char *q = buf; *q; q++) {
        if (*q == '\n' || *q == '\r') {
            *q = ' ';
        }
    }
    if (log_prefix) {
        fprintf(stderr, "<%d>", level);
    }
    if (level >= LOG_DEBUG) {
        fprintf(stderr, "%s: %s\n", func, buf);
    } else {
        fprintf(stderr, "%s\n", buf);
    }
    return -e;
}
