// cli.h - what the `stocktwin` command's modules share: the global options,
// the exit codes, argument parsing helpers. Private to the CLI.
// Thread: the CLI is single-threaded (libstocktwin's threads never call in).
#ifndef ST_CLI_H
#define ST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stocktwin.h"

// Exit codes, documented in `stocktwin --help`.
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REJECTED = 1,    // the server refused an event or a query
    CLI_EXIT_USAGE = 2,       // bad command line or input
    CLI_EXIT_UNREACHABLE = 3, // transport error, timeout, garbage reply
};

struct cli {
    const char *url;
    const char *feed_url;
    const char *credential;
    int timeout_ms;
    bool json;
    bool help;
};

// Parsed flags and positionals of one command. Flags keep their order (a
// repeated --tag appears several times); values point into argv.
#define CLI_ARGS_MAX 128
struct cli_args {
    const char *names[CLI_ARGS_MAX];
    const char *values[CLI_ARGS_MAX]; // NULL for a switch
    size_t n;
    const char *positional[CLI_ARGS_MAX];
    size_t n_positional;
};

// A flag a command accepts: its name without "--", whether it takes a value.
struct cli_flag {
    const char *name;
    bool has_value;
};

// cli_args_parse - splits argv[0..argc) into flags (from `flags`, or any
// --name VALUE when flags is NULL) and positionals; "--name=value" works too.
// Returns 0 or CLI_EXIT_USAGE after printing why.
int cli_args_parse(int argc, char **argv, const struct cli_flag *flags, struct cli_args *out);

// cli_args_get - the last value of flag `name` (or "" for a switch), or NULL.
const char *cli_args_get(const struct cli_args *a, const char *name);

// cli_usage - prints "stocktwin: <sentence>" and a pointer to --help on
// stderr; returns CLI_EXIT_USAGE.
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// cli_parse_i64 / cli_parse_u32 - strict decimal parse of `flag`'s value.
// 0 or CLI_EXIT_USAGE after printing why.
int cli_parse_i64(const char *flag, const char *text, int64_t *out);
int cli_parse_u32(const char *flag, const char *text, uint32_t *out);

// cli_fail - reports a library failure (status, response or NULL) on stderr
// and returns its exit code: 1 when the server answered, 2 for a batch or
// argument refused before sending, 3 for transport errors and bad replies.
int cli_fail(int status, const Stocktwin__Response *resp);

// cli_connect - st_client_open with the global options; prints on failure.
int cli_connect(const struct cli *cli, st_client **out);

#endif // ST_CLI_H
