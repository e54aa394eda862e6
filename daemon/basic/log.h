/* Logging for edge modules (main, server, loader, executor, plugin host).
 * Lines go to stderr with a "<N>" syslog priority prefix that journald reads
 * (sd-daemon.h). Helpers do not log: they return -errno and the caller logs
 * once. Owns the global log level only. */
#ifndef DAGD_LOG_H
#define DAGD_LOG_H

#include <syslog.h>

#include "util.h"

/* Current maximum level that is printed (LOG_INFO by default; DAGD_LOG_LEVEL
 * = err|warning|notice|info|debug or a number overrides it). */
extern int dagd_log_max_level;

void dagd_log_set_max_level(int level);
/* Parse "debug", "info", ... or "0".."7". Returns the level or -EINVAL. */
int dagd_log_level_from_string(const char *s);
/* Prefix every line with "<N>" (true when stderr is the journal or not a tty). */
void dagd_log_set_prefix(bool on);

/* Log a line; returns -abs(error) so callers can `return dagd_log_errno(...)`.
 * %m in fmt expands to strerror(error). error 0 returns 0. */
int dagd_log_internal(int level, int error, const char *func, const char *fmt, ...) _printf_(4, 5);

#define dagd_log_full_errno(level, error, ...)                                                     \
    ({                                                                                             \
        int _l_ = (level);                                                                         \
        int _e_ = (error);                                                                         \
        (_l_ <= dagd_log_max_level) ? dagd_log_internal(_l_, _e_, __func__, __VA_ARGS__)           \
                                    : -((_e_) < 0 ? -(_e_) : (_e_));                               \
    })

#define dagd_log_errno(level, error, ...) dagd_log_full_errno(level, error, __VA_ARGS__)
#define dagd_log(level, ...) ((void)dagd_log_full_errno(level, 0, __VA_ARGS__))
#define dagd_log_error(...) dagd_log(LOG_ERR, __VA_ARGS__)
#define dagd_log_warning(...) dagd_log(LOG_WARNING, __VA_ARGS__)
#define dagd_log_notice(...) dagd_log(LOG_NOTICE, __VA_ARGS__)
#define dagd_log_info(...) dagd_log(LOG_INFO, __VA_ARGS__)
#define dagd_log_debug(...) dagd_log(LOG_DEBUG, __VA_ARGS__)

#endif
