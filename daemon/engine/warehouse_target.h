/* Where a pipeline's warehouse is: a SQLite file (a path) or a PostgreSQL
 * server (a libpq connection string, issue 13). The `warehouse` param is
 * one or the other; these functions tell which, refuse a connection string
 * that carries a password (it would be stored in the run history's params
 * and shown in logs: passwords come from PGPASSWORD or a passfile) and
 * redact one for messages.
 *
 * Pure string functions: no libpq here (dagd and dagd-worker do not link
 * it; the task plugins that talk to the server do). Does not log. */
#ifndef DAGD_WAREHOUSE_TARGET_H
#define DAGD_WAREHOUSE_TARGET_H

#include <stdbool.h>

/* True when S is a libpq connection string rather than a file path: a
 * `postgresql://` or `postgres://` URI, or libpq keywords (`host=... dbname=...`:
 * the first word is a lower-case keyword followed by `=`, no `/` before it). */
bool dagd_warehouse_is_conninfo(const char *s);

/* 0 when S is no connection string or one without a password; -EINVAL when
 * it carries one (URI `user:secret@`, `?password=`, keyword `password=`),
 * with *reterr_msg (malloc'ed, naming the fix, never the password). */
int dagd_warehouse_check_conninfo(const char *s, char **reterr_msg);

/* A copy of S (malloc'ed, aborts on OOM) with every password value replaced
 * by `***`; S unchanged otherwise (also for a path). */
char *dagd_warehouse_redact(const char *s);

#endif
