/* The pipeline registry of `dagd serve`: every *.yaml / *.yml file of the
 * pipelines directory, loaded with the loader (pipeline.h). A reload re-reads
 * every file; a file that fails to load keeps its previous version active
 * (if it ever loaded) and keeps its errors for `dagctl pipelines`. A file
 * that disappeared is dropped. Pipelines are looked up by name; a name
 * defined by two files is an error on the second (in file name order).
 * Owns the entries and one reference on each active pipeline. */
#ifndef DAGD_REGISTRY_H
#define DAGD_REGISTRY_H

#include "diag.h"
#include "pipeline.h"

struct dagd_plugin_host;

struct dagd_registry_entry {
    char *file;                     /* path of the file */
    struct dagd_pipeline *pipeline; /* active version; NULL if it never loaded */
    struct dagd_diags errors;       /* of the last load; empty if it loaded */
    uint64_t loaded_usec;           /* wall clock of the active version's load */
};

struct dagd_registry;

/* A registry over `dir` (nothing loaded yet; call reload). */
struct dagd_registry *dagd_registry_new(const char *dir, struct dagd_plugin_host *host);
struct dagd_registry *dagd_registry_free(struct dagd_registry *r);

/* Re-read the directory. Returns 0 (even when some files have errors: see
 * the entries) or -errno when the directory cannot be read (the previous
 * set stays). *ret_errors (may be NULL) gets the number of files with errors. */
int dagd_registry_reload(struct dagd_registry *r, unsigned *ret_errors);

/* The active pipeline called `name` (no reference taken), or NULL. */
struct dagd_pipeline *dagd_registry_get(const struct dagd_registry *r, const char *name);
size_t dagd_registry_size(const struct dagd_registry *r);
const struct dagd_registry_entry *dagd_registry_at(const struct dagd_registry *r, size_t i);
/* Active pipelines and files with errors. */
unsigned dagd_registry_n_active(const struct dagd_registry *r);
unsigned dagd_registry_n_errors(const struct dagd_registry *r);
const char *dagd_registry_dir(const struct dagd_registry *r);

#endif
