/* The dagd subcommand table. Add one line per command (and its cmd_*.c). */
#include <stddef.h>

#include "subcommands.h"

/* Declarations of the command functions live next to the table so each
 * command file needs no header of its own. */
int dagd_cmd_prune(int argc, char **argv);
int dagd_cmd_state(int argc, char **argv);
int dagd_cmd_plan(int argc, char **argv);
int dagd_cmd_runs(int argc, char **argv);
int dagd_cmd_show(int argc, char **argv);
int dagd_cmd_logs(int argc, char **argv);

int dagd_cmd_validate(int argc, char **argv);
int dagd_cmd_graph(int argc, char **argv);
int dagd_cmd_tasks(int argc, char **argv);
int dagd_cmd_lineage(int argc, char **argv);

int dagd_cmd_serve(int argc, char **argv);
int dagd_cmd_run(int argc, char **argv);

const struct dagd_command dagd_commands[] = {
    {"run", dagd_cmd_run,
     "run FILE.yaml [--param k=v]... [--state-dir DIR] [--jobs N] [--force] [--plugin-dir DIR]..."
     " [--from STEP | --only STEP] [--retry RUN_ID] [--no-output] [-q]"},
    {"plan", dagd_cmd_plan,
     "plan FILE.yaml [--param k=v]... [--state-dir DIR] [--plugin-dir DIR] [--force] [--json]"},
    {"runs", dagd_cmd_runs, "runs [--state-dir DIR] [--pipeline P] [--limit N] [--json]"},
    {"show", dagd_cmd_show, "show RUN [--state-dir DIR] [--json]"},
    {"logs", dagd_cmd_logs, "logs RUN [STEP] [--state-dir DIR] [--json]"},
    {"prune", dagd_cmd_prune, "prune --older-than DURATION [--state-dir DIR] [--batch N]"},
    {"state", dagd_cmd_state,
     "state import --state-dir DIR --state CONNINFO | state export --state CONNINFO --state-dir "
     "DIR"},
    {"validate", dagd_cmd_validate, "validate [--plugin-dir DIR]... FILE.yaml..."},
    {"graph", dagd_cmd_graph, "graph [--plugin-dir DIR]... [--ascii] FILE.yaml"},
    {"lineage", dagd_cmd_lineage, "lineage FILE.yaml [--param k=v]... [--state-dir DIR] [--json]"},
    {"tasks", dagd_cmd_tasks, "tasks [--plugin-dir DIR]... [--json] [--all]"},
    {"serve", dagd_cmd_serve,
     "serve [--config FILE] [--socket PATH] [--state-dir DIR] [--state CONNINFO] [--pipelines "
     "DIR] [--plugin-dir DIR]"},
    {NULL, NULL, NULL},
};
