// cli_wal.h - the CLI's offline commands on a data directory:
// `stocktwin wal verify DIR` (check every worker's write-ahead log as the
// daemon's recovery would, and decode every entry) and `stocktwin wal dump
// DIR` (the entries as JSON lines). They read the files directly, need no
// server, and never change a byte (st_wal_scan, shards/wal.h).
// Thread: the CLI's one thread.
#ifndef ST_CLI_WAL_H
#define ST_CLI_WAL_H

#include "cli.h"

// cli_cmd_wal runs `stocktwin wal ...` and returns the process exit code
// (enum cli_exit): 0 every log good (a torn tail included: the next start
// cuts it), 1 a log is corrupt, unreadable or holds an undecodable entry, 2
// usage (also: DIR is not a stocktwin data directory). argv[0] is "wal".
int cli_cmd_wal(const struct cli *cli, int argc, char **argv);

#endif // ST_CLI_WAL_H
