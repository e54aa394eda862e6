/* Replies as people read them: the tables and lines `dagctl` prints for
 * `runs`, `show` and `logs`, shared with the `dagd runs/show/logs` commands
 * that read a state directory without a daemon, so both print the same.
 * The input is the JSON of a reply (see daemon/engine/history_json.h). */
#ifndef DAGD_REPLY_TEXT_H
#define DAGD_REPLY_TEXT_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* o[key] as a string, or NULL when missing or not a string. */
const char *dagd_jstr(const cJSON *o, const char *key);
/* o[key] as a number, or 0 when missing or not a number. */
double dagd_jnum(const cJSON *o, const char *key);
/* s, or "-" for NULL and "". */
const char *dagd_or_dash(const char *s);
/* Epoch milliseconds as local "YYYY-MM-DD HH:MM:SS" ("-" for 0) into buf. */
char *dagd_fmt_time(double ms, char *buf, size_t n);
/* The duration between two epoch-ms times ("-" when not both set) into buf. */
char *dagd_fmt_span(double start, double end, char *buf, size_t n);

/* The `runs` reply {runs: [...]} as a table with a header line. */
void dagd_print_runs(FILE *f, const cJSON *result);
/* The `show` reply {run, steps} as a block of fields and a step table. */
void dagd_print_show(FILE *f, const cJSON *result);
/* One `logs` event: "HH:MM:SS.mmm STEP LEVEL MESSAGE" (others ignored). */
void dagd_print_log_event(FILE *f, const cJSON *ev);

#endif
