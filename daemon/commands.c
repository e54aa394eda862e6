/* The dagd subcommand table. Add one line per command (and its cmd_*.c). */
#include <stddef.h>

#include "commands.h"

/* Declarations of the command functions live next to the table so each
 * command file needs no header of its own. */
int dagd_cmd_prune(int argc, char **argv);

const struct dagd_command dagd_commands[] = {
    {"prune", dagd_cmd_prune, "prune --older-than DURATION [--state-dir DIR] [--batch N]"},
    {NULL, NULL, NULL},
};
