/* `dagd prune --older-than DURATION [--state-dir DIR] [--batch N]`: delete
 * finished runs that ended more than DURATION ago, with their steps and
 * events, in batches (retention.h). Prints how many rows went. */
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "subcommands.h"
#include "log.h"
#include "retention.h"
#include "store.h"
#include "util.h"

/* Declared in commands.c's table. */
int dagd_cmd_prune(int argc, char **argv);

static void store_freep(struct dagd_store **s)
{
    (void)dagd_store_free(*s);
}

int dagd_cmd_prune(int argc, char **argv)
{
    static const struct option options[] = {
        {"older-than", required_argument, NULL, 'o'},
        {"state-dir", required_argument, NULL, 'd'},
        {"batch", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(store_freep) struct dagd_store *store = NULL;
    _cleanup_free_ char *db = NULL;
    const char *state_dir = ".dagd", *older = NULL;
    uint64_t older_usec = 0, deleted = 0;
    long batch = DAGD_RETENTION_BATCH;
    struct stat st;
    int c, r;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
        switch (c) {
        case 'o':
            older = optarg;
            break;
        case 'd':
            state_dir = optarg;
            break;
        case 'b':
            batch = strtol(optarg, NULL, 10);
            if (batch <= 0 || batch > 100000) {
                fprintf(stderr, "dagd prune: --batch must be 1..100000\n");
                return 2;
            }
            break;
        case 'h':
            printf("usage: dagd prune --older-than DURATION [--state-dir DIR] [--batch N]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (!older || optind != argc) {
        fprintf(stderr, "usage: dagd prune --older-than DURATION [--state-dir DIR] [--batch N]\n");
        return 2;
    }
    if (dagd_parse_duration(older, &older_usec) < 0) {
        fprintf(stderr, "dagd prune: invalid duration '%s' (e.g. 30d, 12h, 90m)\n", older);
        return 2;
    }
    /* Pruning never creates a state directory that was not there. */
    db = dagd_xasprintf("%s/state.db", state_dir);
    if (stat(db, &st) < 0) {
        printf("deleted 0 rows (no state in '%s')\n", state_dir);
        return 0;
    }
    r = dagd_store_open(state_dir, &store);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to open the state in '%s': %m", state_dir);
        return 1;
    }
    r = dagd_retention_prune(store, older_usec, 0, (size_t)batch, &deleted);
    if (r < 0) {
        dagd_log_errno(LOG_ERR, r, "Failed to prune '%s': %m (%s)", state_dir,
                       dagd_store_errmsg(store));
        return 1;
    }
    printf("deleted %" PRIu64 " row%s (runs, steps, events, ticks)\n", deleted,
           deleted == 1 ? "" : "s");
    return 0;
}
