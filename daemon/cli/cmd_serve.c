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

static int parse_args(int argc, char **argv, struct dagd_daemon_config *c)
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
    const char *config = NULL, *sock = NULL, *state = NULL, *pipes = NULL, *http = NULL;
    const char *history = NULL;
    bool standby = false;
    char **plugin_dirs = dagd_xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n_plugin_dirs = 0;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "c:s:", opts, NULL)) >= 0) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sock = optarg;
            break;
        case 'S':
            state = optarg;
            break;
        case 'D':
            history = optarg;
            break;
        case 'B':
            standby = true;
            break;
        case 'p':
            pipes = optarg;
            break;
        case 'P':
            plugin_dirs[n_plugin_dirs++] = optarg;
            break;
        case 'H':
            http = optarg;
            break;
        case 'h':
            free(plugin_dirs);
            (void)usage();
            return 1;
        default:
            free(plugin_dirs);
            return usage();
        }
    }
    if (optind != argc) {
        free(plugin_dirs);
        return usage();
    }
    if (config) {
        struct dagd_diags diags = {0};
        if (dagd_daemon_config_load(c, config, &diags) < 0) {
            dagd_diags_print(&diags, stderr);
            dagd_diags_done(&diags);
            free(plugin_dirs);
            return 2;
        }
    }
    /* The command line wins over the file; --plugin-dir dirs come first. */
    if (n_plugin_dirs > 0) {
        char **old = c->plugin_dirs;
        size_t n_old = c->n_plugin_dirs;
        c->plugin_dirs = dagd_xcalloc(1, sizeof(char *));
        c->n_plugin_dirs = 0;
        for (size_t i = 0; i < n_plugin_dirs; i++) {
            dagd_daemon_config_add_plugin_dir(c, plugin_dirs[i]);
        }
        for (size_t i = 0; i < n_old; i++) {
            dagd_daemon_config_add_plugin_dir(c, old[i]);
            free(old[i]);
        }
        free(old);
    }
    free(plugin_dirs);
    if (sock) {
        free(c->socket);
        c->socket = dagd_xstrdup(sock);
    }
    if (state) {
        free(c->state_dir);
        c->state_dir = dagd_xstrdup(state);
    }
    if (history) {
        free(c->state);
        c->state = dagd_xstrdup(history);
    }
    if (standby) {
        c->standby = true;
    }
    if (c->standby && !c->state) {
        fprintf(stderr, "dagd serve: --standby (standby:) needs a PostgreSQL run history "
                        "(--state or state:)\n");
        return 2;
    }
    if (http) {
        if (dagd_http_check_address(http) < 0) {
            fprintf(stderr, "dagd serve: --http wants ADDR:PORT or a Unix socket path, got '%s'\n",
                    http);
            return 2;
        }
        free(c->http);
        c->http = dagd_xstrdup(http);
    }
    if (pipes) {
        free(c->pipelines_dir);
        c->pipelines_dir = dagd_xstrdup(pipes);
    }
    dagd_daemon_config_fill_defaults(c);
    return 0;
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
