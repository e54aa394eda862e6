/* `dagd plan FILE.yaml [--param k=v]... [--state-dir DIR] [--plugin-dir DIR]
 * [--force] [--json]`: which steps a `dagd run` with the same arguments
 * would run, and why (plan.h). Reads the state database, never writes it,
 * and runs nothing. Exit 0, or 2 for usage errors and invalid pipelines. */
#include <getopt.h>
#include <sys/stat.h>

#include "log.h"
#include "pipeline.h"
#include "plan.h"
#include "plugin_host.h"
#include "store.h"
#include "util.h"

/* Declared in commands.c's table. */
int dagd_cmd_plan(int argc, char **argv);

#define PLAN_USAGE                                                                                 \
    "usage: dagd plan FILE.yaml [--param k=v]... [--state-dir DIR] [--plugin-dir DIR] [--force] "  \
    "[--json]\n"

static void store_freep(struct dagd_store **s)
{
    (void)dagd_store_free(*s);
}

static void host_freep(struct dagd_plugin_host **h)
{
    (void)dagd_plugin_host_free(*h);
}

static void pipeline_unrefp(struct dagd_pipeline **p)
{
    (void)dagd_pipeline_unref(*p);
}

static void plan_freep(struct dagd_plan **p)
{
    (void)dagd_plan_free(*p);
}

int dagd_cmd_plan(int argc, char **argv)
{
    static const struct option options[] = {
        {"param", required_argument, NULL, 'p'},
        {"state-dir", required_argument, NULL, 'd'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(store_freep) struct dagd_store *store = NULL;
    _cleanup_(host_freep) struct dagd_plugin_host *host = NULL;
    _cleanup_(pipeline_unrefp) struct dagd_pipeline *p = NULL;
    _cleanup_(plan_freep) struct dagd_plan *plan = NULL;
    _cleanup_free_ char **overrides = NULL, **dirs = NULL;
    _cleanup_free_ char *state_dir = NULL, *db = NULL;
    struct dagd_diags diags = {0};
    struct dagd_plan_options opts = {0};
    size_t n_overrides = 0, n_dirs = 0;
    const char *dir_arg = ".dagd";
    bool json = false;
    struct stat st;
    int c, r, ret = 2;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
        switch (c) {
        case 'p':
            if (!strchr(optarg, '=')) {
                fprintf(stderr, "dagd plan: --param wants key=value, got '%s'\n", optarg);
                return 2;
            }
            overrides = dagd_xreallocarray(overrides, n_overrides + 1, sizeof(char *));
            overrides[n_overrides++] = optarg;
            break;
        case 'd':
            dir_arg = optarg;
            break;
        case 'P':
            dirs = dagd_xreallocarray(dirs, n_dirs + 2, sizeof(char *));
            dirs[n_dirs++] = optarg;
            dirs[n_dirs] = NULL;
            break;
        case 'f':
            opts.force = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(PLAN_USAGE, stdout);
            return 0;
        default:
            fputs(PLAN_USAGE, stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(PLAN_USAGE, stderr);
        return 2;
    }

    host = dagd_plugin_host_new(dirs);
    r = dagd_pipeline_load(argv[optind], host, &p, &diags);
    if (r < 0) {
        dagd_diags_print(&diags, stderr);
        dagd_diags_done(&diags);
        return 2;
    }

    state_dir = dagd_plan_abs_path(dir_arg);
    /* No state yet means nothing ever succeeded; do not create it. */
    db = dagd_xasprintf("%s/state.db", state_dir);
    if (stat(db, &st) == 0) {
        r = dagd_store_open_readonly(state_dir, &store);
        if (r < 0) {
            dagd_log_errno(LOG_ERR, r, "Failed to open the state in '%s': %m", state_dir);
            ret = 1;
            goto finish;
        }
    }

    r = dagd_plan_for_run(p, store, host, state_dir, overrides, n_overrides, &opts, &plan, &diags);
    if (r < 0) {
        dagd_diags_print(&diags, stderr);
        goto finish;
    }
    if (json) {
        cJSON *j = dagd_plan_to_json(plan);
        char *s = cJSON_PrintUnformatted(j);
        if (!s) {
            abort();
        }
        puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        dagd_plan_print(plan, stdout);
    }
    ret = 0;
finish:
    dagd_diags_done(&diags);
    return ret;
}
