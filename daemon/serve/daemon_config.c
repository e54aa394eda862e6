/* See daemon_config.h. Parsed with libyaml's document API so every node
 * keeps its mark for FILE:LINE:COL errors. */
#include "daemon_config.h"

#include "http_address.h"
#include "slurm_opts.h"
#include "task_config.h"

#include <limits.h>
#include <yaml.h>

#define MAX_CONFIG_BYTES (1024u * 1024u)

void dagd_daemon_config_init(struct dagd_daemon_config *c)
{
    *c = (struct dagd_daemon_config){
        .watch_pipelines = true,
        .max_concurrent_runs = 4,
        .max_jobs = 0,
        .max_queued_runs = 1000,
        .max_queued_bytes = 16u * 1024u * 1024u,
        .max_clients = 64,
        .max_clients_per_uid = 32,
        .max_http_streams = 16,
        .state_readers = 2,
        .max_line_bytes = 1024u * 1024u,
        .idle_timeout_usec = 60u * 1000000u,
        .shutdown_grace_usec = 30u * 1000000u,
        .retention_usec = 30ull * 86400u * 1000000u,
    };
    c->plugin_dirs = dagd_xcalloc(1, sizeof(char *));
}

static char *first_dir(const char *env)
{
    const char *e = getenv(env);
    if (!e || !*e) {
        return NULL;
    }
    /* systemd passes one path per configured directory, colon-separated. */
    return dagd_xstrndup(e, strcspn(e, ":"));
}

void dagd_daemon_config_fill_defaults(struct dagd_daemon_config *c)
{
    if (!c->state_dir) {
        c->state_dir = first_dir("STATE_DIRECTORY");
    }
    if (!c->state_dir) {
        c->state_dir = dagd_xstrdup("/var/lib/dagd");
    }
    if (!c->pipelines_dir) {
        _cleanup_free_ char *conf = first_dir("CONFIGURATION_DIRECTORY");
        c->pipelines_dir = dagd_xasprintf("%s/pipelines", conf ? conf : "/etc/dagd");
    }
}

char *dagd_daemon_config_default_socket(void)
{
    _cleanup_free_ char *rt = first_dir("RUNTIME_DIRECTORY");
    return rt ? dagd_xasprintf("%s/dagd.sock", rt) : dagd_xstrdup("/run/dagd/dagd.sock");
}

void dagd_daemon_config_add_plugin_dir(struct dagd_daemon_config *c, const char *dir)
{
    c->plugin_dirs = dagd_xreallocarray(c->plugin_dirs, c->n_plugin_dirs + 2, sizeof(char *));
    c->plugin_dirs[c->n_plugin_dirs++] = dagd_xstrdup(dir);
    c->plugin_dirs[c->n_plugin_dirs] = NULL;
}

void dagd_daemon_config_done(struct dagd_daemon_config *c)
{
    free(c->socket);
    free(c->state_dir);
    free(c->state);
    free(c->pipelines_dir);
    free(c->work_dir);
    free(c->http);
    free(c->http_token_file);
    for (size_t i = 0; i < c->n_pools; i++) {
        free(c->pool_names[i]);
    }
    free(c->pool_names);
    free(c->pool_slots);
    dagd_slurm_config_done(&c->slurm);
    for (size_t i = 0; i < c->n_plugin_dirs; i++) {
        free(c->plugin_dirs[i]);
    }
    free(c->plugin_dirs);
    *c = (struct dagd_daemon_config){0};
}

struct parse {
    yaml_document_t *doc;
    const char *file;
    struct dagd_diags *diags;
};

static struct dagd_mark mark_of(const yaml_node_t *n)
{
    return (struct dagd_mark){.line = (unsigned)n->start_mark.line + 1,
                              .col = (unsigned)n->start_mark.column + 1};
}

static const char *scalar(struct parse *p, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SCALAR_NODE) {
        dagd_diags_add(p->diags, p->file, mark_of(n), "'%s' must be a scalar", key);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static void set_string(struct parse *p, const yaml_node_t *n, const char *key, char **dst)
{
    const char *s = scalar(p, n, key);
    if (!s) {
        return;
    }
    if (!*s) {
        dagd_diags_add(p->diags, p->file, mark_of(n), "'%s' must not be empty", key);
        return;
    }
    free(*dst);
    *dst = dagd_xstrdup(s);
}

static void set_uint(struct parse *p, const yaml_node_t *n, const char *key, unsigned long max,
                     void *dst, size_t size)
{
    const char *s = scalar(p, n, key);
    char *end;

    if (!s) {
        return;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v > max) {
        dagd_diags_add(p->diags, p->file, mark_of(n),
                       "'%s' must be an integer between 0 and %lu, got '%s'", key, max, s);
        return;
    }
    if (size == sizeof(unsigned)) {
        *(unsigned *)dst = (unsigned)v;
    } else {
        *(size_t *)dst = (size_t)v;
    }
}

static void set_duration(struct parse *p, const yaml_node_t *n, const char *key, uint64_t *dst)
{
    const char *s = scalar(p, n, key);
    if (!s) {
        return;
    }
    if (dagd_parse_duration(s, dst) < 0) {
        dagd_diags_add(p->diags, p->file, mark_of(n),
                       "'%s' must be a duration such as 250ms, 30s, 5m, 1h or 30d, got '%s'", key,
                       s);
    }
}

static void set_bool(struct parse *p, const yaml_node_t *n, const char *key, bool *dst)
{
    const char *s = scalar(p, n, key);
    if (!s) {
        return;
    }
    if (streq(s, "true") || streq(s, "yes") || streq(s, "on")) {
        *dst = true;
    } else if (streq(s, "false") || streq(s, "no") || streq(s, "off")) {
        *dst = false;
    } else {
        dagd_diags_add(p->diags, p->file, mark_of(n), "'%s' must be true or false, got '%s'", key,
                       s);
    }
}

typedef void (*key_fn)(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                       const char *key);

static void k_socket(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                     const char *key)
{
    set_string(p, v, key, &c->socket);
}
static void k_state_dir(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                        const char *key)
{
    set_string(p, v, key, &c->state_dir);
}
static void k_state(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                    const char *key)
{
    set_string(p, v, key, &c->state);
}
static void k_standby(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                      const char *key)
{
    set_bool(p, v, key, &c->standby);
}
static void k_state_readers(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                            const char *key)
{
    set_uint(p, v, key, 16, &c->state_readers, sizeof(unsigned));
}
static void k_pipelines_dir(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                            const char *key)
{
    set_string(p, v, key, &c->pipelines_dir);
}
static void k_work_dir(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                       const char *key)
{
    set_string(p, v, key, &c->work_dir);
}
static void k_watch(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                    const char *key)
{
    set_bool(p, v, key, &c->watch_pipelines);
}
static void k_grace(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                    const char *key)
{
    set_duration(p, v, key, &c->shutdown_grace_usec);
}
static void k_retention(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                        const char *key)
{
    set_duration(p, v, key, &c->retention_usec);
}
static void k_http(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                   const char *key)
{
    const char *s = scalar(p, v, key);
    if (!s) {
        return;
    }
    if (dagd_http_check_address(s) < 0) {
        dagd_diags_add(p->diags, p->file, mark_of(v),
                       "'%s' must be ADDR:PORT (e.g. 127.0.0.1:8080, [::1]:8080) or an absolute "
                       "Unix socket path, got '%s'",
                       key, s);
        return;
    }
    free(c->http);
    c->http = dagd_xstrdup(s);
}
static void k_http_token_file(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                              const char *key)
{
    set_string(p, v, key, &c->http_token_file);
}
static void k_plugin_dirs(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                          const char *key)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be a list of directories", key);
        return;
    }
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *item = yaml_document_get_node(p->doc, *i);
        const char *s = item ? scalar(p, item, key) : NULL;
        if (s && *s) {
            dagd_daemon_config_add_plugin_dir(c, s);
        }
    }
}

static void parse_map(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *map,
                      const char *const *names, const key_fn *fns, size_t n);

static void k_max_runs(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                       const char *key)
{
    set_uint(p, v, key, 100000, &c->max_concurrent_runs, sizeof(unsigned));
    if (c->max_concurrent_runs == 0) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be at least 1", key);
    }
}
static void k_max_jobs(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                       const char *key)
{
    set_uint(p, v, key, 100000, &c->max_jobs, sizeof(unsigned));
}
static void k_max_queued_runs(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                              const char *key)
{
    set_uint(p, v, key, 1000000, &c->max_queued_runs, sizeof(unsigned));
}
static void k_max_queued_bytes(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                               const char *key)
{
    set_uint(p, v, key, 4ul * 1024 * 1024 * 1024, &c->max_queued_bytes, sizeof(size_t));
}
static void k_max_clients(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                          const char *key)
{
    set_uint(p, v, key, 4096, &c->max_clients, sizeof(unsigned));
}
static void k_max_clients_per_uid(struct parse *p, struct dagd_daemon_config *c,
                                  const yaml_node_t *v, const char *key)
{
    set_uint(p, v, key, 4096, &c->max_clients_per_uid, sizeof(unsigned));
    if (c->max_clients_per_uid == 0) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be at least 1", key);
    }
}
/* Below the HTTP listener's 64 connections, so pages and scrapes still get
 * in while every stream is open. */
static void k_max_http_streams(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                               const char *key)
{
    set_uint(p, v, key, 48, &c->max_http_streams, sizeof(unsigned));
}
static void k_max_line(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                       const char *key)
{
    set_uint(p, v, key, 64ul * 1024 * 1024, &c->max_line_bytes, sizeof(size_t));
    if (c->max_line_bytes < 1024) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be at least 1024", key);
    }
}
static void k_idle(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                   const char *key)
{
    set_duration(p, v, key, &c->idle_timeout_usec);
}

static void k_max_backfill_runs(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                                const char *key)
{
    set_uint(p, v, key, 100000, &c->max_backfill_runs, sizeof(unsigned));
}

/* A pool name: what a step's pool: may say (letters, digits, '_', '-', '.'). */
static bool valid_pool_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

#define MAX_POOLS 256u
#define MAX_POOL_SLOTS 100000u

/* pools: {NAME: SLOTS, ...}; a later file replaces the whole map. */
static void k_pools(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *map,
                    const char *key)
{
    if (map->type != YAML_MAPPING_NODE) {
        dagd_diags_add(p->diags, p->file, mark_of(map),
                       "'%s' must be a mapping of pool names to slot counts", key);
        return;
    }
    for (size_t i = 0; i < c->n_pools; i++) {
        free(c->pool_names[i]);
    }
    c->n_pools = 0;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        const yaml_node_t *k = yaml_document_get_node(p->doc, a->key);
        const yaml_node_t *v = yaml_document_get_node(p->doc, a->value);
        const char *name = k ? scalar(p, k, key) : NULL;
        unsigned slots = 0;
        if (!name || !v) {
            continue;
        }
        if (!valid_pool_name(name)) {
            dagd_diags_add(p->diags, p->file, mark_of(k),
                           "invalid pool name '%.64s' (use letters, digits, '_', '-' and '.', "
                           "at most 64)",
                           name);
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < c->n_pools && !dup; i++) {
            dup = streq(c->pool_names[i], name);
        }
        if (dup) {
            dagd_diags_add(p->diags, p->file, mark_of(k), "duplicate pool '%s'", name);
            continue;
        }
        if (c->n_pools >= MAX_POOLS) {
            dagd_diags_add(p->diags, p->file, mark_of(k), "at most %u pools", MAX_POOLS);
            return;
        }
        _cleanup_free_ char *what = dagd_xasprintf("pools.%s", name);
        size_t before = p->diags->n + p->diags->dropped;
        set_uint(p, v, what, MAX_POOL_SLOTS, &slots, sizeof(unsigned));
        if (p->diags->n + p->diags->dropped != before) {
            continue;
        }
        if (slots == 0) {
            dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must have at least 1 slot", what);
            continue;
        }
        c->pool_names = dagd_xreallocarray(c->pool_names, c->n_pools + 1, sizeof(char *));
        c->pool_slots = dagd_xreallocarray(c->pool_slots, c->n_pools + 1, sizeof(unsigned));
        c->pool_names[c->n_pools] = dagd_xstrdup(name);
        c->pool_slots[c->n_pools++] = slots;
    }
}

static void k_limits(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                     const char *key)
{
    static const char *const names[] = {"max_concurrent_runs", "max_jobs",
                                        "max_queued_runs",     "max_queued_bytes",
                                        "max_clients",         "max_clients_per_uid",
                                        "max_line_bytes",      "idle_timeout",
                                        "max_http_streams",    "max_backfill_runs"};
    static const key_fn fns[] = {k_max_runs,         k_max_jobs,    k_max_queued_runs,
                                 k_max_queued_bytes, k_max_clients, k_max_clients_per_uid,
                                 k_max_line,         k_idle,        k_max_http_streams,
                                 k_max_backfill_runs};
    parse_map(p, c, v, names, fns, ELEMENTSOF(names));
}

static void parse_map(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *map,
                      const char *const *names, const key_fn *fns, size_t n)
{
    if (map->type != YAML_MAPPING_NODE) {
        dagd_diags_add(p->diags, p->file, mark_of(map), "expected a mapping");
        return;
    }
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        const yaml_node_t *k = yaml_document_get_node(p->doc, a->key);
        const yaml_node_t *v = yaml_document_get_node(p->doc, a->value);
        if (!k || !v) {
            continue;
        }
        if (k->type != YAML_SCALAR_NODE) {
            dagd_diags_add(p->diags, p->file, mark_of(k), "keys must be scalars");
            continue;
        }
        const char *name = (const char *)k->data.scalar.value;
        bool dup = false;
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            const yaml_node_t *k2 = yaml_document_get_node(p->doc, b->key);
            if (k2 && k2->type == YAML_SCALAR_NODE &&
                streq((const char *)k2->data.scalar.value, name)) {
                dup = true;
            }
        }
        if (dup) {
            dagd_diags_add(p->diags, p->file, mark_of(k), "duplicate key '%s'", name);
            continue;
        }
        size_t i;
        for (i = 0; i < n; i++) {
            if (streq(names[i], name)) {
                fns[i](p, c, v, name);
                break;
            }
        }
        if (i == n) {
            dagd_diags_add(p->diags, p->file, mark_of(k), "unknown key '%s'", name);
        }
    }
}

/* ---- slurm: (exec_slurm.h, docs/slurm.md) ---- */

static void k_slurm_mode(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                         const char *key)
{
    const char *s = scalar(p, v, key);
    int m = s ? dagd_slurm_mode_from_string(s) : 0;
    if (s && m < 0) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be jobs or pilot, got '%s'", key,
                       s);
    } else if (s) {
        c->slurm.defaults.mode = (enum dagd_slurm_mode)m;
        c->slurm.defaults.has_mode = true;
    }
}
static void k_slurm_partition(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                              const char *key)
{
    set_string(p, v, key, &c->slurm.defaults.partition);
}
static void k_slurm_account(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                            const char *key)
{
    set_string(p, v, key, &c->slurm.defaults.account);
}
static void k_slurm_qos(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                        const char *key)
{
    set_string(p, v, key, &c->slurm.defaults.qos);
}
static void k_slurm_cpus(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                         const char *key)
{
    set_uint(p, v, key, 4096, &c->slurm.defaults.cpus, sizeof(unsigned));
}
static void k_slurm_memory(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                           const char *key)
{
    const char *s = scalar(p, v, key);
    if (s && dagd_parse_size(s, &c->slurm.defaults.memory_bytes) < 0) {
        dagd_diags_add(p->diags, p->file, mark_of(v),
                       "'%s' must be a size such as 512M or 2G, got '%s'", key, s);
    }
}
static void k_slurm_time(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                         const char *key)
{
    set_duration(p, v, key, &c->slurm.defaults.time_usec);
}
static void k_slurm_options(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                            const char *key)
{
    struct dagd_slurm_opts *o = &c->slurm.defaults;
    if (v->type != YAML_SEQUENCE_NODE) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be a list of sbatch options", key);
        return;
    }
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *item = yaml_document_get_node(p->doc, *i);
        const char *s = item ? scalar(p, item, key) : NULL;
        if (s && s[0] != '-') {
            dagd_diags_add(p->diags, p->file, mark_of(item),
                           "'%s' are sbatch options, each starting with '-', got '%s'", key, s);
        } else if (s) {
            o->options = dagd_xreallocarray(o->options, o->n_options + 2, sizeof(char *));
            o->options[o->n_options++] = dagd_xstrdup(s);
            o->options[o->n_options] = NULL;
        }
    }
}
static void k_slurm_sbatch(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                           const char *key)
{
    set_string(p, v, key, &c->slurm.sbatch);
}
static void k_slurm_squeue(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                           const char *key)
{
    set_string(p, v, key, &c->slurm.squeue);
}
static void k_slurm_scancel(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                            const char *key)
{
    set_string(p, v, key, &c->slurm.scancel);
}
static void k_slurm_poll(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                         const char *key)
{
    set_duration(p, v, key, &c->slurm.poll_usec);
    if (c->slurm.poll_usec && c->slurm.poll_usec < 100000) {
        dagd_diags_add(p->diags, p->file, mark_of(v),
                       "'%s' must be at least 100ms (every poll runs squeue)", key);
    }
}
static void k_slurm_max_jobs(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                             const char *key)
{
    set_uint(p, v, key, 1000000, &c->slurm.max_jobs, sizeof(unsigned));
}
static void k_slurm_arrays(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                           const char *key)
{
    bool arrays = !c->slurm.no_arrays;
    set_bool(p, v, key, &arrays);
    c->slurm.no_arrays = !arrays;
}

/* slurm: pilot: (exec_slurm.h struct dagd_slurm_pilot_config, docs/slurm.md "Pilot mode") */
static void k_pilot_listen(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                           const char *key)
{
    set_string(p, v, key, &c->slurm.pilot.listen);
    const char *s = c->slurm.pilot.listen;
    if (s && (!strchr(s, ':') || !*(strrchr(s, ':') + 1))) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be HOST:PORT, got '%s'", key, s);
    }
}
static void k_pilot_advertise(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                              const char *key)
{
    set_string(p, v, key, &c->slurm.pilot.advertise);
}
static void k_pilot_max(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                        const char *key)
{
    set_uint(p, v, key, 10000, &c->slurm.pilot.max_pilots, sizeof(unsigned));
}
static void k_pilot_cpus(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                         const char *key)
{
    set_uint(p, v, key, 4096, &c->slurm.pilot.cpus, sizeof(unsigned));
}
static void k_pilot_memory(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                           const char *key)
{
    const char *s = scalar(p, v, key);
    if (s && dagd_parse_size(s, &c->slurm.pilot.memory_bytes) < 0) {
        dagd_diags_add(p->diags, p->file, mark_of(v),
                       "'%s' must be a size such as 512M or 2G, got '%s'", key, s);
    }
}
static void k_pilot_time(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                         const char *key)
{
    set_duration(p, v, key, &c->slurm.pilot.time_usec);
}
static void k_pilot_idle(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                         const char *key)
{
    set_duration(p, v, key, &c->slurm.pilot.idle_usec);
}
static void k_pilot_heartbeat(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                              const char *key)
{
    set_duration(p, v, key, &c->slurm.pilot.heartbeat_usec);
    if (c->slurm.pilot.heartbeat_usec && c->slurm.pilot.heartbeat_usec < 100000) {
        dagd_diags_add(p->diags, p->file, mark_of(v), "'%s' must be at least 100ms", key);
    }
}
static void k_pilot_start_timeout(struct parse *p, struct dagd_daemon_config *c,
                                  const yaml_node_t *v, const char *key)
{
    set_duration(p, v, key, &c->slurm.pilot.start_timeout_usec);
}

static void k_slurm_pilot(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                          const char *key)
{
    static const char *const names[] = {"listen", "advertise", "max",
                                        "cpus",   "memory",    "time",
                                        "idle",   "heartbeat", "start_timeout"};
    static const key_fn fns[] = {k_pilot_listen, k_pilot_advertise, k_pilot_max,
                                 k_pilot_cpus,   k_pilot_memory,    k_pilot_time,
                                 k_pilot_idle,   k_pilot_heartbeat, k_pilot_start_timeout};
    (void)key;
    parse_map(p, c, v, names, fns, ELEMENTSOF(names));
}

static void k_slurm(struct parse *p, struct dagd_daemon_config *c, const yaml_node_t *v,
                    const char *key)
{
    static const char *const names[] = {"mode",    "partition",     "account",  "qos",    "cpus",
                                        "memory",  "time",          "options",  "sbatch", "squeue",
                                        "scancel", "poll_interval", "max_jobs", "arrays", "pilot"};
    static const key_fn fns[] = {
        k_slurm_mode,    k_slurm_partition, k_slurm_account,  k_slurm_qos,    k_slurm_cpus,
        k_slurm_memory,  k_slurm_time,      k_slurm_options,  k_slurm_sbatch, k_slurm_squeue,
        k_slurm_scancel, k_slurm_poll,      k_slurm_max_jobs, k_slurm_arrays, k_slurm_pilot};
    (void)key;
    parse_map(p, c, v, names, fns, ELEMENTSOF(names));
}

int dagd_daemon_config_load_buffer(struct dagd_daemon_config *c, const char *name, const char *buf,
                                   size_t len, struct dagd_diags *reterr)
{
    static const char *const names[] = {
        "socket",          "state_dir", "pipelines_dir",  "plugin_dirs", "work_dir",
        "watch_pipelines", "limits",    "shutdown_grace", "retention",   "http",
        "http_token_file", "state",     "pools",          "slurm",       "standby",
        "state_readers"};
    static const key_fn fns[] = {k_socket,    k_state_dir, k_pipelines_dir,   k_plugin_dirs,
                                 k_work_dir,  k_watch,     k_limits,          k_grace,
                                 k_retention, k_http,      k_http_token_file, k_state,
                                 k_pools,     k_slurm,     k_standby,         k_state_readers};
    yaml_parser_t parser;
    yaml_document_t doc;
    size_t before = reterr->n + reterr->dropped;

    if (!yaml_parser_initialize(&parser)) {
        abort();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        dagd_diags_add(reterr, name,
                       (struct dagd_mark){.line = (unsigned)parser.problem_mark.line + 1,
                                          .col = (unsigned)parser.problem_mark.column + 1},
                       "%s", parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -EINVAL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        struct parse p = {.doc = &doc, .file = name, .diags = reterr};
        parse_map(&p, c, root, names, fns, ELEMENTSOF(names));
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return reterr->n + reterr->dropped > before ? -EINVAL : 0;
}

int dagd_daemon_config_load(struct dagd_daemon_config *c, const char *path,
                            struct dagd_diags *reterr)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;

    if (!f) {
        int r = -errno;
        dagd_diags_add(reterr, path, (struct dagd_mark){0}, "cannot open: %s", strerror(-r));
        return r;
    }
    buf = dagd_xmalloc(MAX_CONFIG_BYTES + 1);
    len = fread(buf, 1, MAX_CONFIG_BYTES + 1, f);
    if (ferror(f) || len > MAX_CONFIG_BYTES) {
        dagd_diags_add(reterr, path, (struct dagd_mark){0}, "cannot read (or larger than 1 MiB)");
        return -EIO;
    }
    return dagd_daemon_config_load_buffer(c, path, buf, len, reterr);
}
