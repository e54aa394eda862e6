/* Subcommands of the `dagd` binary. Each lives in its own cmd_*.c file and
 * returns the process exit status (0 ok, 1 run failed, 2 usage/invalid). */
#ifndef DAGD_COMMANDS_H
#define DAGD_COMMANDS_H

typedef int (*dagd_command_fn)(int argc, char **argv);

struct dagd_command {
    const char *name;
    dagd_command_fn fn;
    const char *usage;
};

/* The table main.c dispatches on; defined in commands.c. */
extern const struct dagd_command dagd_commands[];

#endif
