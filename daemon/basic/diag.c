/* See diag.h. */
#include "diag.h"

#include <stdarg.h>

void dagd_diags_add(struct dagd_diags *d, const char *file, struct dagd_mark mark, const char *fmt,
                    ...)
{
    va_list ap;
    char *msg;

    if (d->n >= DAGD_DIAG_MAX) {
        d->dropped++;
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
    va_end(ap);
    if (!msg) {
        msg = dagd_xstrdup("(out of memory formatting message)");
    }
    for (char *q = msg; *q; q++) {
        if (*q == '\n' || *q == '\r') {
            *q = ' ';
        }
    }
    d->items = dagd_xreallocarray(d->items, d->n + 1, sizeof(*d->items));
    d->items[d->n++] = (struct dagd_diag){
        .file = dagd_xstrdup(file ? file : "<input>"),
        .mark = mark,
        .message = msg,
    };
}

void dagd_diags_print(const struct dagd_diags *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++) {
        /* No position (a command-line argument, a whole file): no ":0:0". */
        if (d->items[i].mark.line == 0) {
            fprintf(f, "%s: error: %s\n", d->items[i].file, d->items[i].message);
        } else {
            fprintf(f, "%s:%u:%u: error: %s\n", d->items[i].file, d->items[i].mark.line,
                    d->items[i].mark.col, d->items[i].message);
        }
    }
    if (d->dropped > 0) {
        fprintf(f, "%s: error: %zu more error%s not shown\n",
                d->n > 0 ? d->items[0].file : "<input>", d->dropped, d->dropped == 1 ? "" : "s");
    }
}

void dagd_diags_done(struct dagd_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    *d = (struct dagd_diags){0};
}

char *dagd_diags_summary(const struct dagd_diags *d)
{
    if (!d || d->n == 0) {
        return dagd_xstrdup("invalid");
    }
    const struct dagd_diag *x = &d->items[0];
    char *s = x->mark.line == 0
                  ? dagd_xasprintf("%s: error: %s", x->file ? x->file : "-", x->message)
                  : dagd_xasprintf("%s:%u:%u: error: %s", x->file ? x->file : "-", x->mark.line,
                                   x->mark.col, x->message);
    size_t more = d->n - 1 + d->dropped;
    if (more > 0) {
        char *t = dagd_xasprintf("%s (and %zu more error%s)", s, more, more == 1 ? "" : "s");
        free(s);
        s = t;
    }
    return s;
}
