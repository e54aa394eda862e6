/* `dagd runs`, `dagd show RUN` and `dagd logs RUN [STEP]`: the run history
 * of a state directory (default ./.dagd, where `dagd run` keeps it) without
 * a daemon. They print what `dagctl runs/show/logs` print, from the same
 * JSON (history_json.h) through the same text renderer (reply_text.h), and
 * with --json the same JSON. --state CONNINFO reads a PostgreSQL history
 * instead (docs/postgresql.md). The store is opened read-only: safe beside a
 * running `dagd run` or `dagd serve` (WAL readers never block the writer). */
#include <getopt.h>

#include "history_json.h"
#include "log.h"
#include "reply_text.h"
#include "util.h"

int dagd_cmd_runs(int argc, char **argv);
int dagd_cmd_show(int argc, char **argv);
int dagd_cmd_logs(int argc, char **argv);

#define EVENTS_BATCH 500

struct history_args {
    const char *state_dir;
    const char *state; /* a PostgreSQL history (--state CONNINFO), or NULL */
    const char *pipeline;
    size_t limit;
    bool json;
    char **pos; /* positional arguments */
    int n_pos;
};

static void print_json(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    cJSON_free(s);
}

/* Options shared by the three commands; `usage` is printed on a mistake.
 * 0, or the exit status to return (2 usage, 0 for --help). */
static int parse_args(int argc, char **argv, const char *usage, bool listing,
                      struct history_args *a)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"state", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"pipeline", required_argument, NULL, 'p'},
        {"limit", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;

    *a = (struct history_args){.state_dir = ".dagd", .limit = 20};
    optind = 1;
    while ((o = getopt_long(argc, argv, "d:jp:n:h", opts, NULL)) >= 0) {
        switch (o) {
        case 'd':
            a->state_dir = optarg;
            break;
        case 's':
            a->state = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'p':
        case 'n':
            if (!listing) {
                fprintf(stderr, "%s\n", usage);
                return 2;
            }
            if (o == 'p') {
                a->pipeline = optarg;
                break;
            }
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n <= 0 || n > 1000000) {
                fprintf(stderr, "dagd runs: --limit needs a number from 1 to 1000000, got '%s'\n",
                        optarg);
                return 2;
            }
            a->limit = (size_t)n;
            break;
        case 'h':
            printf("%s\n", usage);
            return -1;
        default:
            fprintf(stderr, "%s\n", usage);
            return 2;
        }
    }
    a->pos = argv + optind;
    a->n_pos = argc - optind;
    return 0;
}

/* The read-only store of a state directory (or of a PostgreSQL history),
 * or an error naming it. */
static int open_history(const struct history_args *a, struct dagd_store **ret)
{
    const char *state_dir = a->state_dir;
    if (a->state) {
        int r = dagd_store_open_location_readonly(a->state, ret);
        if (r < 0) {
            fprintf(stderr, "dagd: cannot read the run history: %s\n", dagd_store_errmsg(NULL));
        }
        return r;
    }
    int r = dagd_store_open_readonly(state_dir, ret);
    if (r == -ENOENT) {
        fprintf(stderr, "dagd: no run history in '%s' (no state.db; use --state-dir DIR)\n",
                state_dir);
        return r;
    }
    if (r < 0) {
        fprintf(stderr, "dagd: cannot read the run history in '%s': %s\n", state_dir,
                dagd_store_errmsg(NULL));
    }
    return r;
}

/* The full id of a run given as an id or a unique prefix, or an error. */
static int resolve_run(struct dagd_store *s, const char *prefix, char **ret)
{
    size_t len = strlen(prefix);
    if (len == 0 || len > 32 || strspn(prefix, "0123456789abcdef") != len) {
        fprintf(stderr, "dagd: '%s' is not a run id (up to 32 lowercase hex digits)\n", prefix);
        return -EINVAL;
    }
    int r = dagd_store_run_resolve(s, prefix, ret);
    if (r == -ENOENT) {
        fprintf(stderr, "dagd: no run '%s'\n", prefix);
    } else if (r == -ENOTUNIQ) {
        fprintf(stderr, "dagd: '%s' matches several runs: give more digits\n", prefix);
    } else if (r < 0) {
        fprintf(stderr, "dagd: cannot look up run '%s': %s\n", prefix, dagd_store_errmsg(s));
    }
    return r;
}

int dagd_cmd_runs(int argc, char **argv)
{
    static const char usage[] =
        "usage: dagd runs [--state-dir DIR | --state CONNINFO] [--pipeline P] [--limit N] "
        "[--json]";
    struct history_args a;
    int r = parse_args(argc, argv, usage, true, &a);
    if (r != 0) {
        return r < 0 ? 0 : r;
    }
    if (a.n_pos != 0) {
        fprintf(stderr, "%s\n", usage);
        return 2;
    }
    struct dagd_store *s = NULL;
    if (open_history(&a, &s) < 0) {
        return 1;
    }
    cJSON *o = cJSON_CreateObject();
    r = dagd_history_add_runs(s, a.pipeline, a.limit, cJSON_AddArrayToObject(o, "runs"));
    if (r < 0) {
        fprintf(stderr, "dagd: cannot list runs: %s\n", dagd_store_errmsg(s));
    } else if (a.json) {
        print_json(o);
    } else {
        dagd_print_runs(stdout, o);
    }
    cJSON_Delete(o);
    dagd_store_free(s);
    return r < 0 ? 1 : 0;
}

int dagd_cmd_show(int argc, char **argv)
{
    static const char usage[] =
        "usage: dagd show RUN [--state-dir DIR | --state CONNINFO] [--json]";
    struct history_args a;
    int r = parse_args(argc, argv, usage, false, &a);
    if (r != 0) {
        return r < 0 ? 0 : r;
    }
    if (a.n_pos != 1) {
        fprintf(stderr, "%s\n", usage);
        return 2;
    }
    struct dagd_store *s = NULL;
    if (open_history(&a, &s) < 0) {
        return 1;
    }
    _cleanup_free_ char *run_id = NULL;
    cJSON *o = NULL;
    r = resolve_run(s, a.pos[0], &run_id);
    if (r >= 0) {
        r = dagd_history_show(s, run_id, &o);
        if (r < 0) {
            fprintf(stderr, "dagd: cannot read run %s: %s\n", run_id, dagd_store_errmsg(s));
        }
    }
    if (o) {
        if (a.json) {
            print_json(o);
        } else {
            dagd_print_show(stdout, o);
        }
        cJSON_Delete(o);
    }
    dagd_store_free(s);
    return r < 0 ? 1 : 0;
}

/* Print the stored events of a run (of one step) after `after`, oldest
 * first, in batches. Sets *ret_last to the last seq printed. */
static int print_events(struct dagd_store *s, const char *run_id, const char *step, bool json,
                        int64_t *ret_last)
{
    int64_t last = 0;
    for (;;) {
        struct dagd_event_info *evs = NULL;
        size_t n = 0;
        int r = dagd_store_events_list(s, run_id, step, last, EVENTS_BATCH, &evs, &n);
        if (r < 0) {
            return r;
        }
        for (size_t i = 0; i < n; i++) {
            cJSON *o = dagd_history_event_json(&evs[i]);
            if (json) {
                print_json(o);
            } else {
                dagd_print_log_event(stdout, o);
            }
            cJSON_Delete(o);
            last = evs[i].seq;
            dagd_event_info_done(&evs[i]);
        }
        free(evs);
        if (n < EVENTS_BATCH) {
            *ret_last = last;
            return 0;
        }
    }
}

int dagd_cmd_logs(int argc, char **argv)
{
    static const char usage[] = "usage: dagd logs RUN [STEP] [--state-dir DIR | --state CONNINFO] "
                                "[--json]";
    struct history_args a;
    int r = parse_args(argc, argv, usage, false, &a);
    if (r != 0) {
        return r < 0 ? 0 : r;
    }
    if (a.n_pos < 1 || a.n_pos > 2) {
        fprintf(stderr, "%s\n", usage);
        return 2;
    }
    struct dagd_store *s = NULL;
    if (open_history(&a, &s) < 0) {
        return 1;
    }
    _cleanup_free_ char *run_id = NULL;
    struct dagd_run_info info = {0};
    int64_t last = 0;
    r = resolve_run(s, a.pos[0], &run_id);
    if (r >= 0) {
        r = print_events(s, run_id, a.n_pos == 2 ? a.pos[1] : NULL, a.json, &last);
        if (r < 0) {
            fprintf(stderr, "dagd: cannot read the events of %s: %s\n", run_id,
                    dagd_store_errmsg(s));
        }
    }
    if (r >= 0 && a.json && dagd_store_run_get(s, run_id, &info) >= 0) {
        /* The closing line `dagctl --json logs` prints too. */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "run_id", run_id);
        cJSON_AddStringToObject(o, "status", dagd_run_status_to_string(info.status));
        cJSON_AddNumberToObject(o, "last_seq", (double)last);
        cJSON_AddBoolToObject(o, "truncated", false);
        print_json(o);
        cJSON_Delete(o);
        dagd_run_info_done(&info);
    }
    dagd_store_free(s);
    return r < 0 ? 1 : 0;
}
