// request.h - one request in flight, from bytes to Response, shared by the
// RPC door (which sends the Response back) and the ingest door (which only
// counts what was rejected).
//
// An st_request is a preallocated context: a protobuf-c arena the Request is
// decoded into and the Response built from, an st_event array of
// ST_SHARDS_BATCH_MAX, their statuses, the st_shards_req that carries them to
// the workers, and one slot per worker where query callbacks leave their part
// of a scatter-gather answer. Nothing is allocated per request unless it
// outgrows the arena (big batches, big inventories).
//
// Life of a request: st_request_handle() decodes and validates the bytes,
// translates the events (server/wire.h) and submits them, or runs the query
// (server/query.c). When every status is final the done callback given to
// st_request_create() runs, once, with the Response ready: on the calling
// thread for requests rejected up front, else on a shard worker thread. The
// door then packs the Response (st_request_pack) and, once it no longer
// needs it, calls st_request_reset() before the next st_request_handle().
//
// Ownership: the caller owns the st_request; the request borrows the
// st_service for its whole life. Bytes given to st_request_handle() may be
// freed as soon as it returns (protobuf-c copies what it decodes).
// Thread: one request at a time per st_request; handle/reset from any one
// thread at a time; the done callback must not block.
#ifndef ST_SERVER_REQUEST_H
#define ST_SERVER_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/arena.h"
#include "server/wire.h"
#include "shards/shards.h"
#include "stocktwin.pb-c.h"

#define ST_SERVER_VERSION 1u
#define ST_SERVER_MSG_MAX (4u * 1024u * 1024u)   // a request or reply, bytes
// nng's receive limit sits above the protocol's, so a request a little too
// big gets a TOO_LARGE answer instead of a dropped connection.
#define ST_SERVER_RECV_MAX (ST_SERVER_MSG_MAX + 1024u * 1024u)
#define ST_SERVER_INVENTORY_LIMIT_DEFAULT 1000u
#define ST_SERVER_INVENTORY_LIMIT_MAX 100000u
#define ST_SERVER_ALERTS_LIMIT_DEFAULT 100u
#define ST_SERVER_ALERTS_LIMIT_MAX 10000u
#define ST_SERVER_DEVICES_LIMIT_DEFAULT 1000u
#define ST_SERVER_DEVICES_LIMIT_MAX 100000u

// What every request of a server shares. Counters are relaxed atomics.
typedef struct st_service {
    st_shards *shards;
    uint32_t workers;
    bool quiet;                       // no log lines on stderr
    int64_t start_ms;                 // CLOCK_MONOTONIC at start, for uptime
    atomic_uint_fast64_t requests;    // requests handled (both doors)
    atomic_uint_fast64_t rejected;    // requests refused whole (malformed, ...)
    atomic_uint_fast64_t ingest_batches;
    atomic_uint_fast64_t ingest_event_rejects; // events the ingest door saw refused
    atomic_uint rpc_contexts_ready;            // the RPC door's, for stats
    // Replication (replication/): at most one of the two; NULL standalone.
    struct st_repl_leader *leader;
    struct st_repl_follower *follower;
    // Promotion of a follower (a PromoteQuery): server.c's; NULL when not
    // possible. Returns the new epoch in *epoch or why not.
    st_err (*promote)(struct st_service *svc, uint64_t *epoch, char *why, size_t why_len);
    void *promote_arg;
} st_service;

// A piece of a reply encoded outside protobuf-c (st_request.parts).
typedef struct st_request_part {
    const uint8_t *bytes;
    size_t len;
} st_request_part;
#define ST_REQUEST_PARTS_MAX (ST_SHARDS_WORKERS_MAX + 1u)

typedef struct st_request st_request;
typedef void (*st_request_done_cb)(void *arg, st_request *req);

// A worker's part of a query answer, written only by that worker's callback.
typedef struct st_query_slot {
    st_arena arena;
    bool ran;
    st_err status;
    uint32_t total;     // inventory, devices: matches before paging or the limit
    uint32_t count;     // items filled
    uint32_t cap;
    void **items;      // Stocktwin__SkuWarehouse / Alert *
    st_wire_buf lines; // inventory: hand-encoded lines (server/wire.h)
    Stocktwin__TwinResult *twin;
    Stocktwin__WorkerStats *worker;
    uint32_t products, suppliers;
} st_query_slot;

struct st_request {
    st_service *svc;
    bool want_reply;           // false for ingest: statuses are only counted
    st_request_done_cb done_cb;
    void *done_arg;
    st_arena arena;
    Stocktwin__Request *pb;    // the decoded request, in `arena`
    Stocktwin__Response resp;  // built in `arena`
    size_t packed_size;        // of resp, once done
    // Batches.
    uint32_t event_count;      // events in the batch
    uint32_t submitted;        // of them translated and submitted
    st_event *events;          // [ST_SHARDS_BATCH_MAX], the submitted ones
    st_err *statuses;          // [ST_SHARDS_BATCH_MAX], per submitted event
    uint16_t *index;           // submitted position -> batch position
    st_err *final;             // [ST_SHARDS_BATCH_MAX], per batch event
    const char **messages;     // per batch event, NULL when none
    st_shards_req req;
    // Queries.
    st_query_slot *slots;      // [svc->workers]
    // Whole fields of the Response encoded by hand (an inventory: its head
    // in `arena`, then each slot's lines), written after protobuf-c packed
    // `resp`, in order; counted in packed_size. Borrowed until the reset.
    st_request_part parts[ST_REQUEST_PARTS_MAX];
    uint32_t parts_n;
    size_t parts_bytes;
};

// st_request_create allocates a context whose first arena block is
// `arena_bytes` (0: 256 KiB). want_reply false skips building Responses.
st_request *st_request_create(st_service *svc, size_t arena_bytes, bool want_reply,
                              st_request_done_cb done_cb, void *done_arg);

// st_request_destroy frees the context; NULL is a no-op. Not while in flight.
void st_request_destroy(st_request *req);

// st_request_handle runs one request; see the header comment.
void st_request_handle(st_request *req, const void *data, size_t len);

// st_request_pack writes the Response (req->packed_size bytes) to `out`.
void st_request_pack(const st_request *req, void *out);

// st_request_reset forgets the request; the context can take the next one.
void st_request_reset(st_request *req);

// --- internal to server/request.c and server/query.c ---

// st_request_finish sets the reply metadata, checks the reply size and runs
// the done callback.
void st_request_finish(st_request *req);

// st_request_fail answers the request with `status` and a sentence.
__attribute__((format(printf, 3, 4))) void st_request_fail(st_request *req, st_err status,
                                                           const char *fmt, ...);

// st_query_run answers a query (server/query.c).
void st_query_run(st_request *req, const Stocktwin__Query *query);

// st_service_now_ms returns CLOCK_MONOTONIC in milliseconds.
int64_t st_service_now_ms(void);

#endif
