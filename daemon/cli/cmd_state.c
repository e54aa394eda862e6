/* `dagd state import|export`: move a run history between state.db and
 * PostgreSQL (docs/postgresql.md, "Moving a history"). Both copy every table
 * with dagd_store_copy() into an empty destination, in one transaction. */
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"
#include "subcommands.h"
#include "util.h"

/* Declared in subcommands.c's table. */
int dagd_cmd_state(int argc, char **argv);

#define STATE_USAGE                                                                                \
    "usage: dagd state import --state-dir DIR --state CONNINFO\n"                                  \
    "       dagd state export --state CONNINFO --state-dir DIR\n"

static void store_freep(struct dagd_store **s)
{
    (void)dagd_store_free(*s);
}

int dagd_cmd_state(int argc, char **argv)
{
    static const struct option options[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"state", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(store_freep) struct dagd_store *sqlite = NULL;
    _cleanup_(store_freep) struct dagd_store *pg = NULL;
    const char *dir = NULL, *conninfo = NULL;
    int c, r;

    if (argc < 2 || (!streq(argv[1], "import") && !streq(argv[1], "export"))) {
        fputs(STATE_USAGE, stderr);
        return 2;
    }
    bool import = streq(argv[1], "import");
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 's':
            conninfo = optarg;
            break;
        case 'h':
            fputs(STATE_USAGE, stdout);
            return 0;
        default:
            return 2;
        }
    }
    if (!dir || !conninfo || optind != argc) {
        fputs(STATE_USAGE, stderr);
        return 2;
    }
    _cleanup_free_ char *db = dagd_xasprintf("%s/state.db", dir);
    struct stat st;
    if (import && stat(db, &st) < 0) {
        dagd_log_error("No state database at '%s'", db);
        return 1;
    }
    /* Read-write, so an older state.db is migrated (and checked) first:
     * both sides are then at this dagd's schema. */
    r = dagd_store_open(dir, &sqlite);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to open '%s': %s", db, dagd_store_errmsg(NULL));
        return 1;
    }
    r = dagd_store_open_location(dir, conninfo, &pg);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to open the run history: %s", dagd_store_errmsg(NULL));
        return 1;
    }
    struct dagd_store *dst = import ? pg : sqlite, *src = import ? sqlite : pg;
    int64_t rows = 0;
    r = dagd_store_copy(dst, src, &rows);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to copy the history: %s", dagd_store_errmsg(dst));
        return 1;
    }
    printf("copied %" PRId64 " rows from %s to %s\n", rows, dagd_store_path(src),
           dagd_store_path(dst));
    return 0;
}
