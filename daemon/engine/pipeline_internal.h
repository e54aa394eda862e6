/* Between the YAML parser (pipeline_yaml.c), which records where each config
 * key and value was written, and the model (pipeline.c), which resolves a
 * step's config per run and reports errors at those places. Not for other
 * modules. */
#ifndef DAGD_PIPELINE_INTERNAL_H
#define DAGD_PIPELINE_INTERNAL_H

#include "pipeline.h"

/* Marks of one top-level config key. */
struct dagd_config_mark_entry {
    char *key;
    struct dagd_mark key_mark;
    struct dagd_mark value_mark;
    struct dagd_mark *items; /* list items / map values, in file order */
    size_t n_items;
};

struct dagd_config_marks {
    struct dagd_mark map_mark; /* the config mapping, or the step when absent */
    bool bad;                  /* errors already reported while parsing it */
    struct dagd_config_mark_entry *e;
    size_t n;
};

/* Frees m (NULL is fine). */
void dagd__config_marks_free(struct dagd_config_marks *m);

/* Userdata of dagd__config_mark(): a step's marks, and where to point when a
 * key has none (the step). */
struct dagd_config_mark_ud {
    const struct dagd_config_marks *m;
    struct dagd_mark fallback;
};

/* A dagd_config_mark_fn: the mark of config key `key` (NULL: the
 * mapping), of its key itself (item -2), of its item `item` (>= 0) or of its
 * value (-1). */
struct dagd_mark dagd__config_mark(void *userdata, const char *key, int item);

/* Substitute `ps` into step s's config and check it against the plugin's
 * schema (when s->plugin is set); on success *ret is the checked object,
 * normalized to the schema types (NULL for a step without config). Errors go
 * to diags with `file`; returns -EINVAL. */
int dagd__step_config(const struct dagd_pipeline *p, const struct dagd_step *s,
                      const struct dagd_params *ps, const char *file, cJSON **ret,
                      struct dagd_diags *diags);

#endif
