/* dagd serve: the daemon's command line. Parses the options and the config
 * file (the command line wins), fills in systemd's directories as defaults,
 * and hands the config to the daemon object (daemon/serve/daemon.h), which
 * owns everything from start to exit. */
#include <getopt.h>

#include "api.h"
#include "daemon.h"
#include "http.h"
#include "http_address.h"
#include "subcommands.h"

int dagd_cmd_serve(int argc, char **argv);

static int usage(void)
{
    fprintf(stderr, "usage: dagd serve [--config FILE] [--socket PATH] [--state-dir DIR] "
                    "[--state POSTGRESQL-URI [--standby]] [--pipelines DIR] [--plugin-dir DIR]... "
                    "[--http ADDR:PORT]\n");
    return 2;
}

/* What the command line says; NULL or false: not given. */
struct serve_args {
    const char *config, *sock, *state_dir, *history, *pipes, *http;
    bool standby;
    char **plugin_dirs; /* argc + 1 slots */
    size_t n_plugin_dirs;
};

/* 0, or the exit code: 1 after --help, 2 for a usage error. */
static int read_args(int argc, char **argv, struct serve_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"state-dir", required_argument, NULL, 'S'},
        {"state", required_argument, NULL, 'D'},
        {"standby", no_argument, NULL, 'B'},
        {"pipelines", required_argument, NULL, 'p'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"http", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "c:s:", opts, NULL)) >= 0) {
        switch (o) {
        case 'c':
            a->config = optarg;
            break;
        case 's':
            a->sock = optarg;
            break;
        case 'S':
            a->state_dir = optarg;
            break;
        case 'D':
            a->history = optarg;
            break;
        case 'B':
            a->standby = true;
            break;
        case 'p':
            a->pipes = optarg;
            break;
        case 'P':
            a->plugin_dirs[a->n_plugin_dirs++] = optarg;
            break;
        case 'H':
            a->http = optarg;
            break;
        case 'h':
            (void)usage();
            return 1;
        default:
            return usage();
        }
    }
    return optind != argc ? usage() : 0;
}

/* --plugin-dir dirs come before the config file's. */
static void prepend_plugin_dirs(struct dagd_daemon_config *c, char *const *dirs, size_t n)
{
    char **old = c->plugin_dirs;
    size_t n_old = c->n_plugin_dirs;

    c->plugin_dirs = dagd_xcalloc(1, sizeof(char *));
    c->n_plugin_dirs = 0;
    for (size_t i = 0; i < n; i++) {
        dagd_daemon_config_add_plugin_dir(c, dirs[i]);
    }
    for (size_t i = 0; i < n_old; i++) {
        dagd_daemon_config_add_plugin_dir(c, old[i]);
        free(old[i]);
    }
    free(old);
}

static void replace_str(char **dst, const char *v)
{
    if (v) {
        free(*dst);
        *dst = dagd_xstrdup(v);
    }
}

/* The command line over the config file: 0, or 2 for a bad combination. */
static int apply_args(const struct serve_args *a, struct dagd_daemon_config *c)
{
    if (a->n_plugin_dirs > 0) {
        prepend_plugin_dirs(c, a->plugin_dirs, a->n_plugin_dirs);
    }
    replace_str(&c->socket, a->sock);
    replace_str(&c->state_dir, a->state_dir);
    replace_str(&c->state, a->history);
    if (a->standby) {
        c->standby = true;
    }
    if (c->standby && !c->state) {
        fprintf(stderr, "dagd serve: --standby (standby:) needs a PostgreSQL run history "
                        "(--state or state:)\n");
        return 2;
    }
    if (a->http && dagd_http_check_address(a->http) < 0) {
        fprintf(stderr, "dagd serve: --http wants ADDR:PORT or a Unix socket path, got '%s'\n",
                a->http);
        return 2;
    }
    replace_str(&c->http, a->http);
    replace_str(&c->pipelines_dir, a->pipes);
    return 0;
}

static int parse_args(int argc, char **argv, struct dagd_daemon_config *c)
{
    struct serve_args a = {.plugin_dirs = dagd_xcalloc((size_t)argc + 1, sizeof(char *))};
    int r = read_args(argc, argv, &a);

    if (r == 0 && a.config) {
        struct dagd_diags diags = {0};
        if (dagd_daemon_config_load(c, a.config, &diags) < 0) {
            dagd_diags_print(&diags, stderr);
            r = 2;
        }
        dagd_diags_done(&diags);
    }
    if (r == 0) {
        r = apply_args(&a, c);
    }
    free(a.plugin_dirs);
    if (r == 0) {
        dagd_daemon_config_fill_defaults(c);
    }
    return r;
}

int dagd_cmd_serve(int argc, char **argv)
{
    struct dagd_daemon_config config;
    int r;

    dagd_daemon_config_init(&config);
    r = parse_args(argc, argv, &config);
    if (r == 0) {
        const struct dagd_daemon_parts parts = {
            .dispatch = dagd_api_dispatch,
            .http_start = dagd_http_start,
            .http_stop = dagd_http_stop,
        };
        r = dagd_daemon_serve(&config, &parts);
    } else if (r == 1) {
        r = 0; /* --help */
    }
    dagd_daemon_config_done(&config);
    return r;
}
