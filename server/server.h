// server.h - stocktwind as a library: start the shards and the three doors
// (RPC, ingest, feed) and optionally the demo; stop them again. main.c is a
// thin shell of flags and signals around this, and tests run whole servers
// in-process through it on private URLs (loopback ports or ipc:// paths).
//
// Ownership: st_server_start() returns a server the caller stops with
// st_server_stop(), which frees it. The config's strings are copied.
// Thread: start and stop from one thread; several servers may run in one
// process on different URLs.
#ifndef ST_SERVER_SERVER_H
#define ST_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "shards/shards.h"

#define ST_SERVER_RPC_URL_DEFAULT "tcp://127.0.0.1:7400"
#define ST_SERVER_INGEST_URL_DEFAULT "tcp://127.0.0.1:7401"
#define ST_SERVER_FEED_URL_DEFAULT "tcp://127.0.0.1:7402"
#define ST_SERVER_DEMO_RATE_DEFAULT 20u

typedef struct st_server_config {
    const char *rpc_url;      // NULL: ST_SERVER_RPC_URL_DEFAULT
    const char *ingest_url;   // NULL: ST_SERVER_INGEST_URL_DEFAULT
    const char *feed_url;     // NULL: ST_SERVER_FEED_URL_DEFAULT
    uint32_t workers;         // 0: online CPUs (at most ST_SHARDS_WORKERS_MAX)
    uint32_t contexts;        // RPC contexts; 0: ST_RPC_CONTEXTS_DEFAULT
    uint32_t ring;            // jobs per worker ring, a power of two; 0: shards' default
    uint32_t ingest_loops;    // 0: ST_INGEST_LOOPS_DEFAULT
    size_t arena_bytes;       // first arena block per context; 0: 256 KiB
    bool demo;                // load the demo model and run the device simulator
    uint32_t demo_rate;       // simulated events per second; 0: default
    uint32_t demo_view_ms;    // live view period; 0: 5000
    // Durability: with data_dir NULL the state lives in memory only. Else
    // every worker logs to <data_dir>/wal-<worker>/ and replays it at start.
    const char *data_dir;
    st_shards_sync sync;       // fsync (default), batch or none
    uint32_t sync_interval_ms; // batch mode; 0: 1000
    bool truncate_corrupt;     // cut a corrupt log at the damage (the operator's call)
    uint64_t snapshot_bytes;       // snapshot after this many log bytes; 0: 256 MiB
    uint32_t snapshot_interval_ms; // or after this long; 0: 10 minutes
    uint64_t retain_entries;       // log entries kept behind a snapshot
    uint64_t segment_bytes;    // log segment size; 0: the log's default (64 MiB)
    const char *fault_control; // tests only: logs inject faults this file sets (shards.h)
    // Replication (replication/replication.h), with data_dir. follow_url: run
    // as a follower of the leader whose replication door it is. replication_url:
    // open this replication door while leader (also after a promotion).
    // ack_quorum: replies wait for this many followers (0: async).
    const char *follow_url;
    const char *replication_url;
    uint32_t ack_quorum;
    // Timers (st_shards_config): tick_ms 0 = no ticks (no reservation
    // expires, no DEVICE_SILENT or SHIPMENT_DELAYED); stocktwind's default is
    // 1000. device_silent_ms 0 = no device is ever silent.
    uint32_t tick_ms;
    int64_t device_silent_ms;
    // Called (on an RPC thread) once a promotion is recorded and replied to:
    // the caller stops this server and starts it again without follow_url.
    void (*on_promote)(void *arg);
    void *on_promote_arg;
    bool quiet;               // no startup line, live view or log lines
    FILE *out;                // where the startup line and demo go; NULL: stdout
} st_server_config;

typedef struct st_server st_server;

// st_server_start starts everything. On failure (a door cannot listen: bad
// URL, address in use; shards cannot start) everything started is stopped
// again and ST_IO / the shards' error is returned with a sentence in err.
st_err st_server_start(const st_server_config *config, st_server **server_out, char *err,
                       size_t err_len);

// st_server_stop stops the demo, closes the doors (requests in flight are
// answered or dropped), stops the workers and frees everything; NULL is a
// no-op.
void st_server_stop(st_server *server);

// st_server_workers returns the number of workers.
uint32_t st_server_workers(const st_server *server);

// st_server_shards returns the runtime, for tests that look behind the doors.
st_shards *st_server_shards(st_server *server);

#endif
