// digest_test.c - the state digest (DigestQuery) on whole servers in-process,
// spoken to with raw nng and protobuf-c: the digest over RPC equals
// st_state_digest() of one core state fed the same events (an oracle that
// delivers its outbox in place), it is the same whatever the worker count,
// and it moves when a quantity moves.
//
// Events are written once, as core st_events: the oracle applies them as they
// are, and the server gets them through shards/codec.h's st_codec_event_to_pb
// (the log's encoder), so both see the same events.
#include <criterion/criterion.h>

#include "support/free_port.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "core/event.h"
#include "core/state.h"
#include "server/server.h"
#include "shards/codec.h"
#include "stocktwin.pb-c.h"

#define WAREHOUSES 6
#define EVENTS_MAX 64

static const char *const WH[WAREHOUSES] = {"wh-d0", "wh-d1", "wh-d2", "wh-d3", "wh-d4", "wh-d5"};

// One server and its oracle.
typedef struct world {
    st_server *server;
    char rpc[64], ingest[64], feed[64];
    nng_socket sock;
    st_state *oracle; // the same events, applied to one core state
    uint64_t seq;     // of source "digest-test", the last one used
} world;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static unsigned
free_port(void)
{
    unsigned port = st_test_free_port();
    cr_assert(port != 0, "no free loopback port");
    return port;
}

static void
world_start(world *w, unsigned workers)
{
    memset(w, 0, sizeof *w);
    snprintf(w->rpc, sizeof w->rpc, "tcp://127.0.0.1:%u", free_port());
    snprintf(w->ingest, sizeof w->ingest, "tcp://127.0.0.1:%u", free_port());
    snprintf(w->feed, sizeof w->feed, "tcp://127.0.0.1:%u", free_port());
    st_server_config cfg = {.rpc_url = w->rpc,
                            .ingest_url = w->ingest,
                            .feed_url = w->feed,
                            .workers = workers,
                            .contexts = 4,
                            .ingest_loops = 1,
                            .quiet = true};
    char err[256];
    cr_assert_eq(st_server_start(&cfg, &w->server, err, sizeof err), ST_OK, "start: %s", err);
    cr_assert_eq(nng_req0_open(&w->sock), 0);
    cr_assert_eq(nng_socket_set_ms(w->sock, NNG_OPT_RECVTIMEO, 10000), 0);
    cr_assert_eq(nng_socket_set_size(w->sock, NNG_OPT_RECVMAXSZ, 0), 0);
    cr_assert_eq(nng_dial(w->sock, w->rpc, NULL, 0), 0);
    cr_assert_eq(st_state_create(NULL, &w->oracle), ST_OK);
}

static void
world_stop(world *w)
{
    nng_close(w->sock);
    st_server_stop(w->server);
    st_state_destroy(w->oracle);
    memset(w, 0, sizeof *w);
}

static Stocktwin__Response *
call(world *w, const Stocktwin__Request *req)
{
    size_t n = stocktwin__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    stocktwin__request__pack(req, buf);
    cr_assert_eq(nng_send(w->sock, buf, n, 0), 0);
    free(buf);
    void *reply;
    size_t len;
    cr_assert_eq(nng_recv(w->sock, &reply, &len, NNG_FLAG_ALLOC), 0, "no reply");
    Stocktwin__Response *r = stocktwin__response__unpack(NULL, len, reply);
    nng_free(reply, len);
    cr_assert_not_null(r, "the reply is not a Response");
    return r;
}

// oracle_apply applies `ev` to the oracle and, as the runtime's outbox would,
// delivers what it emits (a transfer's other half) to the same state at once.
static st_err
oracle_apply(world *w, const st_event *ev)
{
    static st_apply_out out, next;
    st_err err = st_state_apply(w->oracle, ev, &out);
    for (uint32_t i = 0; i < out.outbox_count; i++) {
        st_event o = out.outbox[i];
        st_err delivered = st_state_apply(w->oracle, &o, &next);
        cr_assert(st_err_accepted(delivered), "outbox event refused: %s", next.message);
        cr_assert_eq(next.outbox_count, 0);
    }
    return err;
}

// send_events gives evs[0..n) the next seqs of source "digest-test" and event
// times, sends them as one batch and applies them to the oracle; every event's
// status must be the oracle's. Returns the status of the last event.
static int
send_events(world *w, st_event *evs, size_t n)
{
    cr_assert(n >= 1 && n <= EVENTS_MAX);
    static st_codec_scratch scratch[EVENTS_MAX];
    Stocktwin__Event *ptrs[EVENTS_MAX];
    for (size_t i = 0; i < n; i++) {
        evs[i].source = "digest-test";
        evs[i].seq = ++w->seq;
        evs[i].event_time_ms = 1700000000000 + (int64_t)w->seq;
        ptrs[i] = st_codec_event_to_pb(&evs[i], &scratch[i]);
    }
    Stocktwin__EventBatch batch = STOCKTWIN__EVENT_BATCH__INIT;
    batch.n_events = n;
    batch.events = ptrs;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1;
    req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    req.batch = &batch;
    Stocktwin__Response *r = call(w, &req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "batch refused: %s", r->message);
    cr_assert_eq(r->n_statuses, n);
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        last = (int)r->statuses[i]->status;
        // An event the server refused changed nothing there: nor here.
        if (last == ST_UNKNOWN_ORDER && evs[i].kind == ST_EV_TRANSFER_RECEIVE)
            continue;
        st_err want = oracle_apply(w, &evs[i]);
        cr_assert_eq(last, (int)want, "event %zu (kind %d): server %d %s, core %s", i,
                     (int)evs[i].kind, last, r->statuses[i]->message, st_err_str(want));
    }
    stocktwin__response__free_unpacked(r, NULL);
    return last;
}

static Stocktwin__Response *
digest_of(world *w)
{
    Stocktwin__DigestQuery dq = STOCKTWIN__DIGEST_QUERY__INIT;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_DIGEST;
    q.digest = &dq;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1;
    req.request_id = 99;
    req.body_case = STOCKTWIN__REQUEST__BODY_QUERY;
    req.query = &q;
    Stocktwin__Response *r = call(w, &req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "digest: %s", r->message);
    cr_assert_eq(r->request_id, 99);
    cr_assert_eq(r->result_case, STOCKTWIN__RESPONSE__RESULT_DIGEST);
    return r;
}

// check_digest asserts the reply's shape and returns its digest: one entry
// per worker in order, and digest = catalog + the workers' warehouses.
static uint64_t
check_digest(world *w, unsigned workers)
{
    Stocktwin__Response *r = digest_of(w);
    const Stocktwin__DigestResult *d = r->digest;
    cr_assert_eq(d->n_workers, workers);
    uint64_t sum = d->catalog_digest;
    for (size_t i = 0; i < d->n_workers; i++) {
        cr_assert_eq(d->workers[i]->worker, i);
        cr_assert_eq(d->workers[i]->durable_lsn, 0, "no log: LSN 0");
        sum += d->workers[i]->warehouses_digest;
    }
    cr_assert_eq(d->digest, sum, "digest = catalog + sum of the workers' warehouses");
    cr_assert_eq(d->catalog_digest, st_state_catalog_digest(w->oracle));
    cr_assert_eq(d->warehouses, WAREHOUSES);
    uint64_t digest = d->digest;
    stocktwin__response__free_unpacked(r, NULL);
    return digest;
}

// wait_digest polls until the server's digest is the oracle's (outbox
// deliveries between workers are asynchronous), at most 5 s, and returns it.
static uint64_t
wait_digest(world *w, unsigned workers)
{
    uint64_t want = st_state_digest(w->oracle), got = 0;
    for (int i = 0; i < 500 && (got = check_digest(w, workers)) != want; i++)
        sleep_ms(10);
    cr_assert_eq(got, want, "server digest %016llx, core state %016llx", (unsigned long long)got,
                 (unsigned long long)want);
    return got;
}

// send_world loads the catalog, six warehouses with two zones each, stock in
// every one, a reservation, a purchase order and a putaway.
static void
send_world(world *w)
{
    st_event ev[EVENTS_MAX];
    size_t n = 0;
    ev[n++] = (st_event){
        .kind = ST_EV_PRODUCT_UPSERT,
        .u.product_upsert = {
            .sku = "SKU-D1", .name = "Digest widget", .unit_weight_mg = 1000, .reorder_point = 5}};
    ev[n++] = (st_event){.kind = ST_EV_PRODUCT_UPSERT,
                         .u.product_upsert = {.sku = "SKU-D2", .name = "Digest gadget"}};
    ev[n++] = (st_event){.kind = ST_EV_SUPPLIER_UPSERT,
                         .u.supplier_upsert = {.supplier_id = "sup-d", .name = "Acme"}};
    for (int i = 0; i < WAREHOUSES; i++) {
        ev[n++] = (st_event){.kind = ST_EV_WAREHOUSE_UPSERT,
                             .warehouse = WH[i],
                             .u.warehouse_upsert = {.name = WH[i], .total_capacity = 1000}};
        ev[n++] = (st_event){.kind = ST_EV_ZONE_UPSERT,
                             .warehouse = WH[i],
                             .u.zone_upsert = {.zone_id = "z1", .type = ST_ZONE_RECEIVING}};
        ev[n++] = (st_event){.kind = ST_EV_ZONE_UPSERT,
                             .warehouse = WH[i],
                             .u.zone_upsert = {.zone_id = "z2", .type = ST_ZONE_STORAGE}};
        ev[n++] = (st_event){
            .kind = ST_EV_MOVEMENT,
            .warehouse = WH[i],
            .u.movement = {
                .kind = ST_MOVE_RECEIVE, .sku = "SKU-D1", .qty = 10 + i, .to_location = "z1"}};
        ev[n++] = (st_event){
            .kind = ST_EV_MOVEMENT,
            .warehouse = WH[i],
            .u.movement = {
                .kind = ST_MOVE_RECEIVE, .sku = "SKU-D2", .qty = 3 * i + 1, .to_location = "z2"}};
    }
    ev[n++] = (st_event){.kind = ST_EV_RESERVE,
                         .warehouse = "wh-d1",
                         .u.reserve = {.order_id = "o-1", .sku = "SKU-D1", .qty = 4}};
    ev[n++] = (st_event){
        .kind = ST_EV_PO_CREATE,
        .warehouse = "wh-d2",
        .u.po_create = {.po_id = "po-1", .supplier = "sup-d", .sku = "SKU-D2", .qty = 7}};
    ev[n++] = (st_event){.kind = ST_EV_MOVEMENT,
                         .warehouse = "wh-d4",
                         .u.movement = {.kind = ST_MOVE_PUTAWAY,
                                        .sku = "SKU-D1",
                                        .qty = 3,
                                        .from_location = "z1",
                                        .to_location = "z2"}};
    cr_assert_eq(send_events(w, ev, n), ST_OK);
}

// send_transfer moves 5 of SKU-D1 from wh-d0 to wh-d5: the dispatch, then the
// receipt, retried until the destination has learnt of the dispatch through
// the outbox (UNKNOWN_ORDER until then). The source learns of the arrival
// later, through the outbox again: wait_digest() waits for that.
static void
send_transfer(world *w, unsigned workers)
{
    st_event ev = {.kind = ST_EV_TRANSFER_DISPATCH,
                   .warehouse = "wh-d0",
                   .u.transfer_dispatch = {
                       .transfer_id = "t-1", .to_warehouse = "wh-d5", .sku = "SKU-D1", .qty = 5}};
    cr_assert_eq(send_events(w, &ev, 1), ST_OK);
    // The inbound half reaches wh-d5 asynchronously: wait for it (the oracle
    // delivered it in place) so that exactly one receive is sent. Retrying a
    // refused receive would spend seqs, and the duplicate windows are part
    // of the digest.
    (void)wait_digest(w, workers);
    ev = (st_event){.kind = ST_EV_TRANSFER_RECEIVE,
                    .warehouse = "wh-d5",
                    .u.transfer_receive = {.transfer_id = "t-1", .location = "z1"}};
    cr_assert_eq(send_events(w, &ev, 1), ST_OK, "the transfer was received");
}

TestSuite(digest, .timeout = 60);

Test(digest, equals_core_state_fed_the_same_events)
{
    world w;
    world_start(&w, 2);
    send_world(&w);
    uint64_t before = check_digest(&w, 2);
    cr_assert_eq(before, st_state_digest(w.oracle));
    cr_assert_eq(st_state_catalog_digest(w.oracle) + st_state_warehouses_digest(w.oracle), before);

    // One more unit in one bin: the digest moves, and still equals core's.
    st_event ev = {
        .kind = ST_EV_MOVEMENT,
        .warehouse = "wh-d3",
        .u.movement = {.kind = ST_MOVE_RECEIVE, .sku = "SKU-D1", .qty = 1, .to_location = "z1"}};
    cr_assert_eq(send_events(&w, &ev, 1), ST_OK);
    uint64_t after = check_digest(&w, 2);
    cr_assert_neq(after, before, "a quantity changed, so did the digest");
    cr_assert_eq(after, st_state_digest(w.oracle));

    // A refused event changes nothing.
    ev = (st_event){
        .kind = ST_EV_MOVEMENT,
        .warehouse = "wh-d3",
        .u.movement = {.kind = ST_MOVE_PICK, .sku = "SKU-D1", .qty = 1000, .from_location = "z1"}};
    cr_assert_eq(send_events(&w, &ev, 1), ST_INSUFFICIENT_STOCK);
    cr_assert_eq(check_digest(&w, 2), after);
    world_stop(&w);
}

// The digest is a function of the events, not of how warehouses are spread
// over workers: one worker and three (with a transfer between workers) agree.
Test(digest, same_for_one_and_three_workers)
{
    const unsigned counts[2] = {1, 3};
    uint64_t digest[2];
    for (int k = 0; k < 2; k++) {
        world w;
        world_start(&w, counts[k]);
        send_world(&w);
        send_transfer(&w, counts[k]);
        digest[k] = wait_digest(&w, counts[k]);
        Stocktwin__Response *r = digest_of(&w);
        unsigned owning = 0;
        for (size_t i = 0; i < r->digest->n_workers; i++)
            owning += r->digest->workers[i]->warehouses_digest != 0;
        stocktwin__response__free_unpacked(r, NULL);
        cr_assert(counts[k] == 1 || owning >= 2,
                  "the warehouses are spread over several workers (%u own some)", owning);
        world_stop(&w);
    }
    cr_assert_eq(digest[0], digest[1], "1 worker: %016llx, 3 workers: %016llx",
                 (unsigned long long)digest[0], (unsigned long long)digest[1]);
}

Test(digest, query_on_an_empty_server)
{
    world w;
    world_start(&w, 3);
    Stocktwin__Response *r = digest_of(&w);
    cr_assert_eq(r->digest->n_workers, 3);
    cr_assert_eq(r->digest->warehouses, 0);
    cr_assert_eq(r->digest->digest, st_state_digest(w.oracle), "an empty state's digest");
    for (size_t i = 0; i < r->digest->n_workers; i++)
        cr_assert_eq(r->digest->workers[i]->warehouses_digest, 0);
    stocktwin__response__free_unpacked(r, NULL);
    world_stop(&w);
}
