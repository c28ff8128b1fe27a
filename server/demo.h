// demo.h - `stocktwind --demo`: loads the seed article's model (warehouses,
// zones, shelves, products, suppliers, policies, devices, first receipts)
// through the real apply path (st_shards_submit of st_events), then a device
// simulator thread streams RFID portal scans, shelf weight readings (with the
// odd bump and shrinkage), reservations, fulfilments and purchase-order
// receipts at a configured rate, so that stock drains, LOW_STOCK and
// weight alerts fire within seconds and replenishment keeps it going. Every
// few seconds it prints a compact live view and each alert as it fires.
//
// Event times come from the real clock (the server may read clocks; core may
// not).
//
// Ownership: st_demo_create() returns a demo the caller destroys with
// st_demo_destroy() (which stops its thread). The demo borrows the shards
// and the output stream.
// Thread: create/start/destroy from the server's thread; st_demo_note_alert()
// from any thread (shard workers, through the feed).
#ifndef ST_SERVER_DEMO_H
#define ST_SERVER_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "core/event.h"
#include "shards/shards.h"

typedef struct st_demo st_demo;

typedef struct st_demo_config {
    uint32_t rate;      // simulated events per second (>= 1)
    uint32_t view_ms;   // live view period
    bool quiet;         // print nothing
    FILE *out;          // where to print
    const char *rpc_url; // named in the "look around" hints
} st_demo_config;

st_demo *st_demo_create(const st_demo_config *config);

// st_demo_start loads the model (synchronously: it is applied when this
// returns) and starts the simulator thread. ST_INTERNAL with a sentence in
// err if the model was refused (a bug).
st_err st_demo_start(st_demo *demo, st_shards *shards, char *err, size_t err_len);

// st_demo_note_alert queues an alert for printing (the feed's alert hook).
void st_demo_note_alert(void *demo, const st_alert *alert);

// st_demo_stop stops the simulator thread (it submits: call it before the
// shards go); NULL or a demo never started is a no-op.
void st_demo_stop(st_demo *demo);

// st_demo_destroy frees the demo (stopping it first); NULL is a no-op. Call
// it after the shards are destroyed: workers call st_demo_note_alert().
void st_demo_destroy(st_demo *demo);

#endif
