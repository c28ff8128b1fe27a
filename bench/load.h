// load.h - stocktwin-load, the load generator: what its modules share.
//
//   load.c         flags, main, the final report (text and --json)
//   load_setup.c   catalog, topology, devices and initial stock of its twins
//   load_gen.c     connections, in-flight slots, the event mix, closed and
//                  open loop, per-event status accounting, BUSY resends
//   load_verify.c  on-hand snapshots before and after, and the comparison
//   hist.c         the latency histogram
//
// It talks to stocktwind only through libstocktwin (stocktwin.h), over the
// RPC door.
//
// Ownership: main owns the one load_run and everything reachable from it; the
// modules borrow it. Threads: one generator thread per connection, nng's
// threads for completions (load_gen.c says which fields each may touch), and
// the main thread for progress lines, setup and verification.
#ifndef ST_BENCH_LOAD_H
#define ST_BENCH_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hist.h"
#include "stocktwin.h"

// Always on, release builds included (STYLE.md): a broken promise of this
// program aborts with the expression.
#define LOAD_ASSERT(e)                                                                             \
    ((e) ? (void)0                                                                                 \
         : (fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #e), abort()))

// Formats into a char array that must be large enough (ids are bounded by
// the flags' limits); a truncation would be a bug here.
#define LOAD_FMT(buf, ...)                                                                         \
    do {                                                                                           \
        int n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                                        \
        LOAD_ASSERT(n_ > 0 && (size_t)n_ < sizeof(buf));                                           \
    } while (0)

#define LOAD_CONNECTIONS_MAX 256u
#define LOAD_DEPTH_MAX 1024u
#define LOAD_WAREHOUSES_MAX 100u // ids wh-00..wh-99
#define LOAD_SKUS_MAX 1000000u   // ids SKU-000000..SKU-999999
#define LOAD_STATUS_N 20         // Stocktwin__Status numbers 0..19
#define LOAD_ID_MAX 64           // the wire's id limit, in bytes

_Static_assert(ST_CLIENT_BATCH_MAX == 4096u, "--batch max documented as 4096");
_Static_assert(STOCKTWIN__STATUS__STATUS_NOT_FOUND == LOAD_STATUS_N - 1, "status table size");

// The parts of the event mix, in --mix order. QUERY is not an event: it is a
// request of its own.
enum { MIX_MOVES, MIX_RFID, MIX_WEIGHT, MIX_RESERVE, MIX_QUERY, MIX_N };

typedef struct load_opts {
    const char *url;
    unsigned connections;
    unsigned depth;
    unsigned batch;
    double rate;         // events/s; 0 = closed loop
    unsigned mix[MIX_N]; // percentages, summing to 100
    unsigned warehouses;
    unsigned skus;
    double duration_s;
    uint64_t seed;
    int64_t initial_qty;  // per (warehouse, sku) at setup
    unsigned verify_skus; // skus sampled for verification (every warehouse each)
    int timeout_ms;
    bool setup_only, no_setup, verify_all, no_verify, json;
} load_opts;

// One operation of the mix, as much as the completion needs to account it.
typedef enum load_op_kind {
    OP_RECEIVE,      // movement RECEIVE into recv: +qty
    OP_RECEIVE_STOR, // movement RECEIVE into stor: +qty
    OP_PICK,         // movement PICK from stor: -qty
    OP_PICK_RECV,    // movement PICK from recv: -qty
    OP_RELOC_IN,     // movement RELOCATE stor -> recv: 0
    OP_RELOC_OUT,    // movement RELOCATE recv -> stor: 0
    OP_SETUP_STOCK,  // setup's initial RECEIVE into stor (and into recv): not accounted
    OP_SETUP_RECV,
    OP_RFID_IN,  // RFID inbound scan (device bound to recv): +qty
    OP_RFID_OUT, // RFID outbound scan: -qty (never clamped: see load_gen.c)
    OP_WEIGHT,   // weight reading of the shelf: 0
    OP_RESERVE,  // reserve qty for an order (the pair's first half): 0
    OP_RELEASE,  // release that order's reservation: 0
} load_op_kind;

typedef struct load_op {
    uint32_t key; // warehouse * skus + sku
    uint16_t kind;
    uint16_t order; // OP_RESERVE / OP_RELEASE: which of the slot's order ids
    int32_t qty;
} load_op;

typedef struct load_conn load_conn;

// Counters of one phase (setup stock, or the measured run). Updated by
// completions on nng threads, read by the main thread.
typedef struct load_counts {
    _Atomic uint64_t status[LOAD_STATUS_N + 1]; // per event; [LOAD_STATUS_N] = unknown numbers
    _Atomic uint64_t events_sent;    // events put into submitted requests (resends included)
    _Atomic uint64_t events_done;    // events of completed requests with per-event statuses
    _Atomic uint64_t events_lost;    // events of requests that failed as a whole
    _Atomic uint64_t batches_done;   // batch requests completed (any outcome)
    _Atomic uint64_t batches_failed; // batch requests without per-event statuses
    _Atomic uint64_t queries_done;
    _Atomic uint64_t queries_failed; // queries answered with an error, or not answered
    _Atomic uint64_t busy_resent;    // BUSY events queued for resending
    _Atomic uint64_t busy_dropped;   // BUSY events not resent (queue full, or run over)
    _Atomic uint64_t last_error_status;
    _Atomic uint64_t requests_unsent; // open loop: due before the end, not sent by then
} load_counts;

typedef struct load_run {
    load_opts o;
    char run_id[40];         // "load-<pid>-<unix time>": sources and devices
    char (*wh_ids)[8];       // "wh-00"..
    char (*sku_ids)[16];     // "SKU-000000"..
    uint64_t keys;           // warehouses * skus
    _Atomic int64_t *net;    // per key: net on-hand change of accepted events
    _Atomic uint8_t *unsure; // per key: touched by a request that got no reply
    load_counts setup, run;
    st_hist batch_lat, query_lat;
    load_conn *conns;
    atomic_bool stop;                 // generator threads: stop submitting
    _Atomic unsigned threads_running; // generator threads not yet returned
    _Atomic uint64_t setup_cursor;    // next key the setup stock phase sends
    int phase;                        // LOAD_PHASE_*; set by main between phases
    int64_t t0_ns;                    // start of the measured run (CLOCK_MONOTONIC)
    double run_s;                     // from t0 to the last completion
    double setup_s;
    // Verification (load_verify.c).
    uint32_t *verify_skus; // the sku indexes compared
    uint32_t verify_n;
    int64_t *before; // [verify_n * warehouses] on hand before the run; -1 unknown
    uint64_t verified, mismatches, skipped_unsure, missing;
} load_run;

enum { LOAD_PHASE_SETUP_STOCK = 1, LOAD_PHASE_RUN = 2 };

// load_gen.c
int64_t load_now_ns(void);
int load_conns_open(load_run *r);
void load_conns_close(load_run *r);
// Starts the generator threads of the current phase: they run until r->stop
// (run) or until every key was answered (setup), then count themselves out
// of threads_running; main prints progress meanwhile and then joins.
int load_phase_start(load_run *r);
void load_phase_join(load_run *r);

// load_setup.c
int load_setup_topology(load_run *r, st_client *c);
int load_setup_devices(load_run *r, st_client *c);

// load_verify.c
int load_verify_before(load_run *r, st_client *c);
int load_verify_after(load_run *r, st_client *c);

// load.c
uint64_t load_rand(uint64_t *state);

#endif // ST_BENCH_LOAD_H
