/* Diagnostics: "FILE:LINE:COL: error: MESSAGE" lists collected by the
 * loader and config parsers (tmux cfg_add_cause). Owns its strings. */
#ifndef DAGD_DIAG_H
#define DAGD_DIAG_H

#include <stdio.h>

#include "util.h"

#define DAGD_DIAG_MAX 50

struct dagd_mark {
    unsigned line; /* 1-based; 0 = unknown */
    unsigned col;  /* 1-based */
};

struct dagd_diag {
    char *file;
    struct dagd_mark mark;
    char *message;
};

struct dagd_diags {
    struct dagd_diag *items;
    size_t n;
    size_t dropped; /* errors past DAGD_DIAG_MAX, counted not kept */
};

/* Append an error; beyond DAGD_DIAG_MAX only counts it. */
void dagd_diags_add(struct dagd_diags *d, const char *file, struct dagd_mark mark, const char *fmt,
                    ...) _printf_(4, 5);
/* Print every diagnostic as "FILE:LINE:COL: error: MESSAGE\n". */
void dagd_diags_print(const struct dagd_diags *d, FILE *f);
/* The first diagnostic as one line "FILE:LINE:COL: error: MESSAGE", with
 * " (and N more errors)" when there are more; "invalid" when there is none.
 * Returns a new string (for an error reply or a log line). */
char *dagd_diags_summary(const struct dagd_diags *d);
/* Free the contents (not d itself). */
void dagd_diags_done(struct dagd_diags *d);

#endif
