/* See pipeline_text.h. */
#include "pipeline_text.h"

#include "util.h"

/* Columns of UTF-8 text, counting code points (close enough for names). */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

static void pad(FILE *f, const char *s, size_t w)
{
    fputs(s, f);
    for (size_t n = width(s); n < w; n++) {
        fputc(' ', f);
    }
}

void dagd_pipeline_write_text(const struct dagd_pipeline *p, FILE *f)
{
    _cleanup_free_ size_t *level = dagd_xcalloc(p->n_steps ? p->n_steps : 1, sizeof(size_t));
    size_t wname = 4, wtask = 4, levels = 0;

    /* In topological order every need's level is known before the step's. */
    for (size_t k = 0; k < p->n_steps; k++) {
        size_t i = p->topo ? p->topo[k] : k;
        const struct dagd_step *s = &p->steps[i];
        level[i] = 1;
        for (size_t j = 0; j < s->n_needs; j++) {
            size_t l = level[s->needs_idx[j]] + 1;
            level[i] = l > level[i] ? l : level[i];
        }
        levels = level[i] > levels ? level[i] : levels;
        wname = width(s->name) > wname ? width(s->name) : wname;
        wtask = width(s->task) > wtask ? width(s->task) : wtask;
    }
    fprintf(f, "pipeline %s: %zu step%s in %zu level%s\n\n", p->name, p->n_steps,
            p->n_steps == 1 ? "" : "s", levels, levels == 1 ? "" : "s");
    fprintf(f, "LEVEL  ");
    pad(f, "STEP", wname + 2);
    pad(f, "TASK", wtask + 2);
    fputs("NEEDS\n", f);
    for (size_t l = 1; l <= levels; l++) {
        for (size_t k = 0; k < p->n_steps; k++) {
            size_t i = p->topo ? p->topo[k] : k;
            const struct dagd_step *s = &p->steps[i];
            if (level[i] != l) {
                continue;
            }
            fprintf(f, "%5zu  ", l);
            pad(f, s->name, wname + 2);
            pad(f, s->task, wtask + 2);
            for (size_t j = 0; j < s->n_needs; j++) {
                fprintf(f, "%s%s", j ? ", " : "", s->needs[j]);
            }
            fputs(s->n_needs ? "\n" : "-\n", f);
        }
    }
}
