// peer_load.h - stocktwin-peer-load, the load generator for the peers of the
// comparison (issue 5): Redis and PostgreSQL, driven with the same closed
// loop, the same update stream and the same latency histogram as
// stocktwin-load drives stocktwind. What its modules share.
//
//   peer_load.c      flags, main, the update stream, counters, the report
//                    (text, and --json in stocktwin-load's shape)
//   peer_redis.c     the Redis model (one hash per warehouse, HINCRBY)
//   peer_postgres.c  the PostgreSQL model (table stock, one transaction per
//                    request, libpq pipeline mode)
//   ../hist.c        the latency histogram, linked (st_bench_hist)
//
// The closed loop is stocktwin-load's: --connections connections, each with
// its own thread and --depth requests in flight; a request is --batch
// updates; a new request goes out as soon as one completes, and its latency
// runs from when it was built to when its last reply arrived.
//
// Ownership: main owns the one peer_run and everything reachable from it;
// the target modules borrow it. Threads: one thread per connection (it owns
// its connection, its random state and its requests in flight), the main
// thread for setup, progress lines, verification and the report. Counters,
// the histogram and the net-change table are atomics.
#ifndef ST_BENCH_PEER_LOAD_H
#define ST_BENCH_PEER_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hist.h"

// Always on, release builds included (STYLE.md).
#define PEER_ASSERT(e)                                                                             \
    ((e) ? (void)0                                                                                 \
         : (fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #e), abort()))

// The same limits as stocktwin-load's flags (load.h), so one command line
// fits both.
#define PEER_CONNECTIONS_MAX 256u
#define PEER_DEPTH_MAX 1024u
#define PEER_BATCH_MAX 4096u
#define PEER_WAREHOUSES_MAX 100u // wh-00..wh-99
#define PEER_SKUS_MAX 1000000u   // SKU-000000..SKU-999999
#define PEER_ERROR_MAX 256       // bytes of the last error message kept

typedef enum peer_target { PEER_REDIS, PEER_POSTGRES } peer_target;

typedef struct peer_opts {
    peer_target target;
    const char *host;
    int port; // 0: the target's usual port
    const char *dbname, *user;
    unsigned connections, depth, batch;
    unsigned warehouses, skus;
    double duration_s;
    uint64_t seed;
    int64_t initial_qty; // on hand of every record after setup
    unsigned verify_skus;
    bool setup_only, no_setup, no_verify, json;
} peer_opts;

// One update of the stream: add delta to the on hand of record `key`
// (warehouse * skus + sku). delta is 0 for a RELOCATE (see peer_load.c).
typedef struct peer_update {
    uint32_t key;
    int32_t delta;
} peer_update;

// Counters of the measured run.
typedef struct peer_counts {
    _Atomic uint64_t events_sent;     // updates put into sent requests
    _Atomic uint64_t events_ok;       // updates the server confirmed
    _Atomic uint64_t events_failed;   // updates answered with an error, or in a failed request
    _Atomic uint64_t requests_done;   // requests completed, whatever the outcome
    _Atomic uint64_t requests_failed; // requests with at least one failed update
} peer_counts;

typedef struct peer_run {
    peer_opts o;
    char run_id[48];
    char (*wh_ids)[8];       // "wh-00"..
    char (*sku_ids)[16];     // "SKU-000000"..
    uint64_t keys;           // warehouses * skus
    _Atomic int64_t *net;    // per key: net change of the confirmed updates
    _Atomic uint8_t *unsure; // per key: in a request whose outcome is unknown
    peer_counts run;
    st_hist batch_lat;
    atomic_bool stop;
    int64_t t0_ns;
    double run_s, setup_s;
    char server[128]; // "redis 7.0.15", "PostgreSQL 15.x": from the server
    char sync[128];   // its durability settings, as it reports them
    uint64_t records; // records the server holds (after the run)
    // Verification: sampled skus, on hand before the run per (sku, warehouse).
    uint32_t *verify_skus;
    uint32_t verify_n;
    int64_t *before;
    uint64_t verified, mismatches, skipped_unsure, missing;
    pthread_mutex_t err_mu;
    char last_error[PEER_ERROR_MAX]; // under err_mu
} peer_run;

// One target: the same operations for Redis and PostgreSQL. Every function
// returns 0 or 1 after saying why on stderr.
typedef struct peer_ops {
    const char *name;
    int default_port;
    // Loads every record with on hand = initial_qty, printing progress.
    int (*setup)(peer_run *r);
    // The body of one connection's thread in the measured run: keeps depth
    // requests of batch updates in flight until r->stop, then waits for
    // those in flight. Uses peer_next_update, peer_request_done.
    int (*run_conn)(peer_run *r, uint32_t index);
    // Reads the on hand of the sampled (sku, warehouse) pairs into out
    // (-1 where missing).
    int (*fetch)(peer_run *r, int64_t *out);
    // Fills r->server, r->sync and r->records.
    int (*describe)(peer_run *r);
} peer_ops;

extern const peer_ops peer_redis_ops;
extern const peer_ops peer_postgres_ops;

// peer_load.c
int64_t peer_now_ns(void);
// peer_stream_seed is the random state of connection `index`: the same as
// stocktwin-load's for the same --seed, so both draw the same updates.
uint64_t peer_stream_seed(const peer_run *r, uint32_t index);
// peer_next_update draws the next update of a connection's stream.
peer_update peer_next_update(const peer_run *r, uint64_t *rng);
// peer_request_done accounts one completed request of n updates: ok when
// the server confirmed every one of them (they are then added to the net
// change), else they count as failed and their keys as unsure. Records the
// latency from sent_ns. Any thread.
void peer_request_done(peer_run *r, const peer_update *u, uint32_t n, bool ok, int64_t sent_ns);
// peer_error keeps the last error message (any thread) and prints the first
// few.
void peer_error(peer_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// peer_progress prints a setup progress line at most once a second.
void peer_progress(const char *what, uint64_t done, uint64_t total, int64_t t0_ns,
                   int64_t *last_ns);

#endif // ST_BENCH_PEER_LOAD_H
