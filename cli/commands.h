/* commands.h - the deltabench subcommands. Each is `int cmd_<name>(int argc, char **argv)` with argv[0]
 * the subcommand name; it returns the process exit status. Add a command: one function in its own
 * cli/cmd_<name>.c and one row in the table in cli/main.c. */
#ifndef DB_COMMANDS_H
#define DB_COMMANDS_H

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

int cmd_version(int argc, char **argv);
int cmd_data(int argc, char **argv);
/* `data synth` (cli/cmd_synth.c); argv[0] = "synth" */
int cmd_data_synth(int argc, char **argv);

#endif
