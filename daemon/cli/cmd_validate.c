/* `dagd validate FILE...`, `dagd graph FILE`, `dagd tasks`: the commands
 * that load pipelines and plugins without running anything (DESIGN 3a).
 * Exit 0 ok, 2 usage error or invalid pipeline. */
#include <inttypes.h>

#include "config.h"

#include "log.h"
#include "pipeline_lint.h"
#include "pipeline_text.h"
#include "pipeline.h"
#include "plugin_host.h"
#include "task_config.h"

int dagd_cmd_validate(int argc, char **argv);
int dagd_cmd_graph(int argc, char **argv);
int dagd_cmd_tasks(int argc, char **argv);

struct opts {
    char **plugin_dirs; /* NULL-terminated */
    size_t n_plugin_dirs;
    char **files;
    size_t n_files;
    bool quiet;
    bool json;
    bool all; /* dagd tasks: the build tree's test tasks too */
};

static void opts_done(struct opts *o)
{
    free(o->plugin_dirs);
    free(o->files);
}

/* Parse the options shared by these commands; files are the operands. */
static int parse_opts(int argc, char **argv, bool allow_json, struct opts *o)
{
    *o = (struct opts){0};
    o->plugin_dirs = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    o->files = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (streq(a, "--plugin-dir")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --plugin-dir needs a directory\n", argv[0]);
                return -EINVAL;
            }
            o->plugin_dirs[o->n_plugin_dirs++] = argv[++i];
        } else if (strncmp(a, "--plugin-dir=", 13) == 0) {
            o->plugin_dirs[o->n_plugin_dirs++] = (char *)a + 13;
        } else if (streq(a, "-q") || streq(a, "--quiet")) {
            o->quiet = true;
        } else if (allow_json && streq(a, "--json")) {
            o->json = true;
        } else if (allow_json && streq(a, "--all")) {
            o->all = true;
        } else if (streq(a, "--")) {
            while (++i < argc) {
                o->files[o->n_files++] = argv[i];
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], a);
            return -EINVAL;
        } else {
            o->files[o->n_files++] = argv[i];
        }
    }
    return 0;
}

/* Risky but valid constructs (pipeline_lint.h), as "FILE:LINE:COL: warning:". */
static void print_warnings(const struct dagd_pipeline *p)
{
    struct dagd_diags w = {0};
    dagd_pipeline_lint(p, &w);
    for (size_t i = 0; i < w.n; i++) {
        fprintf(stderr, "%s:%u:%u: warning: %s\n", w.items[i].file, w.items[i].mark.line,
                w.items[i].mark.col, w.items[i].message);
    }
    dagd_diags_done(&w);
}

int dagd_cmd_validate(int argc, char **argv)
{
    struct opts o;
    struct dagd_plugin_host *h;
    int ret = 0;

    if (parse_opts(argc, argv, false, &o) < 0 || o.n_files == 0) {
        if (o.n_files == 0) {
            fprintf(stderr, "usage: dagd validate [--plugin-dir DIR]... [-q] FILE.yaml...\n");
        }
        opts_done(&o);
        return 2;
    }
    h = dagd_plugin_host_new(o.plugin_dirs);
    for (size_t i = 0; i < o.n_files; i++) {
        struct dagd_diags d = {0};
        struct dagd_pipeline *p = NULL;
        int r = dagd_pipeline_load(o.files[i], h, &p, &d);
        if (r < 0) {
            dagd_diags_print(&d, stderr);
            ret = 2;
        } else {
            print_warnings(p);
            if (!o.quiet) {
                printf("%s: ok (pipeline '%s', %zu step%s)\n", o.files[i], p->name, p->n_steps,
                       p->n_steps == 1 ? "" : "s");
            }
        }
        dagd_diags_done(&d);
        dagd_pipeline_unref(p);
    }
    dagd_plugin_host_free(h);
    opts_done(&o);
    return ret;
}

int dagd_cmd_graph(int argc, char **argv)
{
    struct opts o;
    struct dagd_plugin_host *h;
    struct dagd_diags d = {0};
    struct dagd_pipeline *p = NULL;
    int r;

    bool ascii = false;
    for (int i = 1; i < argc; i++) {
        if (streq(argv[i], "--ascii")) {
            /* Drop it for parse_opts, which knows only the shared options. */
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(char *));
            argc--;
            ascii = true;
            break;
        }
    }
    if (parse_opts(argc, argv, false, &o) < 0 || o.n_files != 1) {
        fprintf(stderr, "usage: dagd graph [--plugin-dir DIR]... [--ascii] FILE.yaml\n");
        opts_done(&o);
        return 2;
    }
    h = dagd_plugin_host_new(o.plugin_dirs);
    r = dagd_pipeline_load(o.files[0], h, &p, &d);
    if (r < 0) {
        dagd_diags_print(&d, stderr);
    } else if (ascii) {
        dagd_pipeline_write_text(p, stdout);
    } else {
        dagd_pipeline_write_dot(p, stdout);
    }
    dagd_diags_done(&d);
    dagd_pipeline_unref(p);
    dagd_plugin_host_free(h);
    opts_done(&o);
    if (r >= 0 && fflush(stdout) != 0) {
        return 1;
    }
    return r < 0 ? 2 : 0;
}

static void print_bounds(FILE *f, const struct dagd_task_field *fl)
{
    if ((fl->type == DAGD_FIELD_INT || fl->type == DAGD_FIELD_NUMBER ||
         fl->type == DAGD_FIELD_INT_OR_STRING) &&
        (fl->min != 0 || fl->max != 0)) {
        fprintf(f, " [%" PRId64 "..%" PRId64 "]", fl->min, fl->max);
    }
    if (fl->choices) {
        fprintf(f, " one of:");
        for (size_t i = 0; fl->choices[i]; i++) {
            fprintf(f, "%s%s", i ? "," : " ", fl->choices[i]);
        }
    }
}

static cJSON *plugin_json(const struct dagd_plugin *pl)
{
    cJSON *o = cJSON_CreateObject(), *schema = cJSON_AddArrayToObject(o, "schema");
    const struct dagd_task_plugin *d = pl->desc;

    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "version", d->version);
    cJSON_AddStringToObject(o, "description", d->description ? d->description : "");
    cJSON_AddStringToObject(o, "path", pl->path);
    for (size_t i = 0; d->schema && d->schema[i].name; i++) {
        const struct dagd_task_field *fl = &d->schema[i];
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", fl->name);
        cJSON_AddStringToObject(f, "type", dagd_task_field_type_to_string(fl->type));
        cJSON_AddBoolToObject(f, "required", fl->required);
        if (fl->min != 0 || fl->max != 0) {
            cJSON_AddNumberToObject(f, "min", (double)fl->min);
            cJSON_AddNumberToObject(f, "max", (double)fl->max);
        }
        if (fl->choices) {
            cJSON *c = cJSON_AddArrayToObject(f, "choices");
            for (size_t j = 0; fl->choices[j]; j++) {
                cJSON_AddItemToArray(c, cJSON_CreateString(fl->choices[j]));
            }
        }
        cJSON_AddStringToObject(f, "doc", fl->doc ? fl->doc : "");
        cJSON_AddItemToArray(schema, f);
    }
    return o;
}

/* A test task of the build tree (tests/plugins: noop, crash, hog, ...),
 * which a dagd run from the build tree finds by default: there for the
 * tests, not for pipelines. */
static bool is_test_plugin(const char *path)
{
    const char *dir = DAGD_BUILD_ROOT "/tests/plugins/";
    return strncmp(path, dir, strlen(dir)) == 0;
}

int dagd_cmd_tasks(int argc, char **argv)
{
    struct opts o;
    struct dagd_plugin_host *h;
    const struct dagd_plugin **list = NULL;
    size_t n = 0;

    if (parse_opts(argc, argv, true, &o) < 0 || o.n_files > 0) {
        fprintf(stderr, "usage: dagd tasks [--plugin-dir DIR]... [--json] [--all]\n");
        opts_done(&o);
        return 2;
    }
    h = dagd_plugin_host_new(o.plugin_dirs);
    (void)dagd_plugin_host_list(h, &list, &n);
    if (o.json) {
        cJSON *a = cJSON_CreateArray();
        char *s;
        for (size_t i = 0; i < n; i++) {
            cJSON_AddItemToArray(a, plugin_json(list[i]));
        }
        s = cJSON_PrintUnformatted(a);
        printf("%s\n", s ? s : "[]");
        free(s);
        cJSON_Delete(a);
    } else {
        if (n == 0) {
            char *const *dirs;
            size_t nd;
            (void)dagd_plugin_host_dirs(h, &dirs, &nd);
            fprintf(stderr, "no task plugins found; searched:\n");
            for (size_t i = 0; i < nd; i++) {
                fprintf(stderr, "  %s\n", dirs[i]);
            }
        }
        /* Columns as wide as the longest key and type of all tasks. */
        int wkey = 3, wtype = 4;
        for (size_t i = 0; i < n; i++) {
            const struct dagd_task_plugin *d = list[i]->desc;
            for (size_t j = 0; d->schema && d->schema[j].name; j++) {
                int k = (int)strlen(d->schema[j].name);
                int t = (int)strlen(dagd_task_field_type_to_string(d->schema[j].type));
                wkey = k > wkey ? k : wkey;
                wtype = t > wtype ? t : wtype;
            }
        }
        bool test_heading = false;
        for (size_t k = 0; k < 2 * n; k++) {
            /* Shipped tasks first, then (with --all) the build tree's test tasks. */
            size_t i = k % n;
            if ((k < n) == is_test_plugin(list[i]->path) || (k >= n && !o.all)) {
                continue;
            }
            const struct dagd_task_plugin *d = list[i]->desc;
            if (is_test_plugin(list[i]->path) && !test_heading) {
                printf("-- test tasks of the build tree (tests/plugins) --\n");
                test_heading = true;
            }
            printf("%s %s\n    %s\n    %s\n", d->name, d->version,
                   d->description ? d->description : "", list[i]->path);
            for (size_t j = 0; d->schema && d->schema[j].name; j++) {
                const struct dagd_task_field *fl = &d->schema[j];
                printf("    %-*s  %-*s  %s%s", wkey, fl->name, wtype,
                       dagd_task_field_type_to_string(fl->type), fl->required ? "required " : "",
                       fl->doc ? fl->doc : "");
                print_bounds(stdout, fl);
                printf("\n");
            }
        }
    }
    free(list);
    dagd_plugin_host_free(h);
    opts_done(&o);
    return 0;
}
