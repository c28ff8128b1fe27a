// cli_send.h - the CLI's write commands: `send` (one event from flags, or JSON
// lines from stdin) and the order shortcuts `reserve`, `release`, `fulfil`.
// Thread: the CLI's one thread.
#ifndef ST_CLI_SEND_H
#define ST_CLI_SEND_H

#include "cli.h"

// Each returns the process exit code (enum cli_exit). `argv[0]` is the
// command name.
int cli_cmd_send(const struct cli *cli, int argc, char **argv);
int cli_cmd_order(const struct cli *cli, int argc, char **argv);

// Help texts, printed by `stocktwin <command> --help`.
void cli_help_send(void);
void cli_help_order(const char *command);

#endif // ST_CLI_SEND_H
