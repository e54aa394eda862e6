/* See registry.h. Pipelines are small: a reload simply re-reads every file,
 * in file name order so duplicate names resolve the same way every time. */
#include "registry.h"

#include <dirent.h>
#include <fnmatch.h>

#include "log.h"

struct dagd_registry {
    char *dir;
    struct dagd_plugin_host *host;
    struct dagd_registry_entry *entries;
    size_t n;
};

struct dagd_registry *dagd_registry_new(const char *dir, struct dagd_plugin_host *host)
{
    struct dagd_registry *r = dagd_xcalloc(1, sizeof(*r));
    r->dir = dagd_xstrdup(dir);
    r->host = host;
    return r;
}

static void entry_done(struct dagd_registry_entry *e)
{
    free(e->file);
    dagd_pipeline_unref(e->pipeline);
    dagd_diags_done(&e->errors);
}

struct dagd_registry *dagd_registry_free(struct dagd_registry *r)
{
    if (!r) {
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++) {
        entry_done(&r->entries[i]);
    }
    free(r->entries);
    free(r->dir);
    free(r);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct dagd_registry_entry *find_file(struct dagd_registry *r, const char *file)
{
    for (size_t i = 0; i < r->n; i++) {
        if (streq(r->entries[i].file, file)) {
            return &r->entries[i];
        }
    }
    return NULL;
}

int dagd_registry_reload(struct dagd_registry *r, unsigned *ret_errors)
{
    DIR *d = opendir(r->dir);
    char **files = NULL;
    size_t n_files = 0;

    if (!d) {
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' ||
            (fnmatch("*.yaml", de->d_name, 0) != 0 && fnmatch("*.yml", de->d_name, 0) != 0)) {
            continue;
        }
        files = dagd_xreallocarray(files, n_files + 1, sizeof(char *));
        files[n_files++] = dagd_xasprintf("%s/%s", r->dir, de->d_name);
    }
    closedir(d);
    if (n_files > 1) {
        qsort(files, n_files, sizeof(char *), cmp_str);
    }

    struct dagd_registry_entry *next = dagd_xcalloc(n_files ? n_files : 1, sizeof(*next));
    unsigned errors = 0;
    for (size_t i = 0; i < n_files; i++) {
        struct dagd_registry_entry *old = find_file(r, files[i]);
        struct dagd_registry_entry *e = &next[i];
        struct dagd_pipeline *p = NULL;

        e->file = files[i];
        int k = dagd_pipeline_load(files[i], r->host, &p, &e->errors);
        if (k >= 0) {
            /* A name already taken by an earlier file is an error here. */
            for (size_t j = 0; j < i; j++) {
                struct dagd_pipeline *q = next[j].pipeline;
                if (q && streq(q->name, p->name)) {
                    dagd_diags_add(&e->errors, files[i], (struct dagd_mark){1, 1},
                                   "pipeline '%s' is already defined in %s", p->name, q->file);
                    p = dagd_pipeline_unref(p);
                    k = -EEXIST;
                    break;
                }
            }
        } else if (e->errors.n == 0) {
            dagd_diags_add(&e->errors, files[i], (struct dagd_mark){0}, "cannot load: %s",
                           strerror(-k));
        }
        if (k >= 0) {
            e->pipeline = p;
            e->loaded_usec = dagd_now_wall_usec();
        } else {
            errors++;
            /* Keep the previous version active, unless its name now clashes. */
            if (old && old->pipeline) {
                bool clash = false;
                for (size_t j = 0; j < i; j++) {
                    if (next[j].pipeline && streq(next[j].pipeline->name, old->pipeline->name)) {
                        clash = true;
                    }
                }
                if (!clash) {
                    e->pipeline = dagd_pipeline_ref(old->pipeline);
                    e->loaded_usec = old->loaded_usec;
                }
            }
            dagd_log_warning("Pipeline file '%s' has %zu errors%s", files[i],
                             e->errors.n + e->errors.dropped,
                             e->pipeline ? ", keeping the previous version" : "");
        }
    }
    free(files);
    for (size_t i = 0; i < r->n; i++) {
        entry_done(&r->entries[i]);
    }
    free(r->entries);
    r->entries = next;
    r->n = n_files;
    if (ret_errors) {
        *ret_errors = errors;
    }
    return 0;
}

struct dagd_pipeline *dagd_registry_get(const struct dagd_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->entries[i].pipeline && streq(r->entries[i].pipeline->name, name)) {
            return r->entries[i].pipeline;
        }
    }
    return NULL;
}

size_t dagd_registry_size(const struct dagd_registry *r)
{
    return r->n;
}

const struct dagd_registry_entry *dagd_registry_at(const struct dagd_registry *r, size_t i)
{
    return i < r->n ? &r->entries[i] : NULL;
}

unsigned dagd_registry_n_active(const struct dagd_registry *r)
{
    unsigned n = 0;
    for (size_t i = 0; i < r->n; i++) {
        n += r->entries[i].pipeline != NULL;
    }
    return n;
}

unsigned dagd_registry_n_errors(const struct dagd_registry *r)
{
    unsigned n = 0;
    for (size_t i = 0; i < r->n; i++) {
        n += r->entries[i].errors.n > 0;
    }
    return n;
}

const char *dagd_registry_dir(const struct dagd_registry *r)
{
    return r->dir;
}
