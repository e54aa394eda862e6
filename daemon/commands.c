/* The dagd subcommand table. Add one line per command (and its cmd_*.c). */
#include <stddef.h>

#include "commands.h"

/* Declarations of the command functions live next to the table so each
 * command file needs no header of its own. */

const struct dagd_command dagd_commands[] = {
    {NULL, NULL, NULL},
};
