/* dagd: the daemon and one-shot runner. Dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "subcommands.h"
#include "config.h"
#include "log.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: dagd COMMAND [ARGS]...\n\ncommands:\n");
    for (const struct dagd_command *c = dagd_commands; c->name; c++) {
        fprintf(f, "  %s\n", c->usage);
    }
    fprintf(f, "  --version\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *lvl = getenv("DAGD_LOG_LEVEL");
    if (lvl && dagd_log_level_from_string(lvl) >= 0) {
        dagd_log_set_max_level(dagd_log_level_from_string(lvl));
    }
    /* journald reads "<N>" prefixes; a person at a terminal does not want them. */
    dagd_log_set_prefix(!isatty(STDERR_FILENO));

    if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
        return argc < 2 ? usage(stderr) : (usage(stdout), 0);
    }
    if (streq(argv[1], "--version")) {
        printf("dagd %s\n", DAGD_VERSION);
        return 0;
    }
    for (const struct dagd_command *c = dagd_commands; c->name; c++) {
        if (streq(argv[1], c->name)) {
            return c->fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "dagd: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
