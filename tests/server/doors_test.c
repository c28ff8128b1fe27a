// doors_test.c - whole servers in-process (st_server_start) on their own
// loopback TCP ports, spoken to only with raw nng sockets and protobuf-c: the RPC
// round trip, refusals that leave the server serving, the feed's framing,
// the ingest door, start-up failures, and the demo.
#include <criterion/criterion.h>

#include "support/free_port.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "server/rpc.h"
#include "server/server.h"
#include "stocktwin.pb-c.h"

static st_server *server;
static char url_rpc[128], url_ingest[128], url_feed[128];
static int url_n;

static unsigned
free_port(void)
{
    unsigned port = st_test_free_port();
    cr_assert(port != 0, "no free loopback port");
    return port;
}

static void
make_urls(void)
{
    url_n++;
    // Loopback TCP, not ipc://: closing a socket dialed over ipc:// can
    // deadlock in nng 1.5.2 (nanomsg/nng#1543, #1813).
    // Three distinct ports: none is bound until the server starts, so each
    // check alone could answer the same one twice.
    unsigned rpc = free_port(), ingest, feed;
    do
        ingest = free_port();
    while (ingest == rpc);
    do
        feed = free_port();
    while (feed == rpc || feed == ingest);
    snprintf(url_rpc, sizeof url_rpc, "tcp://127.0.0.1:%u", rpc);
    snprintf(url_ingest, sizeof url_ingest, "tcp://127.0.0.1:%u", ingest);
    snprintf(url_feed, sizeof url_feed, "tcp://127.0.0.1:%u", feed);
}

static void
remove_ipc_files(void)
{
    const char *urls[] = {url_rpc, url_ingest, url_feed};
    for (int i = 0; i < 3; i++)
        if (urls[i][0])
            if (strncmp(urls[i], "ipc://", 6) == 0)
                unlink(urls[i] + strlen("ipc://"));
}

static st_server *
start(bool demo)
{
    make_urls();
    st_server_config cfg = {.rpc_url = url_rpc, .ingest_url = url_ingest, .feed_url = url_feed,
                            .workers = 2, .contexts = 8, .ingest_loops = 2, .quiet = true,
                            .demo = demo, .demo_rate = 200};
    char err[256];
    st_server *s = NULL;
    st_err rc = st_server_start(&cfg, &s, err, sizeof err);
    cr_assert_eq(rc, ST_OK, "st_server_start: %s", err);
    return s;
}

static void
setup(void)
{
    server = start(false);
}

static void
teardown(void)
{
    st_server_stop(server);
    server = NULL;
    remove_ipc_files();
}

TestSuite(doors, .init = setup, .fini = teardown, .timeout = 60);

static nng_socket
req_open(void)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000), 0);
    cr_assert_eq(nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0), 0);
    cr_assert_eq(nng_dial(s, url_rpc, NULL, 0), 0);
    return s;
}

// call sends raw bytes and decodes the Response (caller frees it).
static Stocktwin__Response *
call_raw(nng_socket s, const void *bytes, size_t len)
{
    cr_assert_eq(nng_send(s, (void *)bytes, len, 0), 0);
    void *buf;
    size_t n;
    cr_assert_eq(nng_recv(s, &buf, &n, NNG_FLAG_ALLOC), 0, "no reply");
    Stocktwin__Response *r = stocktwin__response__unpack(NULL, n, buf);
    nng_free(buf, n);
    cr_assert_not_null(r, "the reply is not a Response");
    return r;
}

static Stocktwin__Response *
call(nng_socket s, const Stocktwin__Request *req)
{
    size_t n = stocktwin__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    stocktwin__request__pack(req, buf);
    Stocktwin__Response *r = call_raw(s, buf, n);
    free(buf);
    return r;
}

// --- building events ---

#define MAX_EVENTS 16
typedef struct batch {
    Stocktwin__Event ev[MAX_EVENTS];
    Stocktwin__Event *ptr[MAX_EVENTS];
    Stocktwin__ProductUpsert product;
    Stocktwin__WarehouseUpsert wh;
    Stocktwin__ZoneUpsert zone;
    Stocktwin__StockPolicy policy;
    Stocktwin__StockMovement moves[4];
    Stocktwin__EventBatch batch;
    Stocktwin__Request req;
    size_t n;
    uint64_t seq;
} batch;

static Stocktwin__Event *
add(batch *b, const char *warehouse, Stocktwin__Event__KindCase kind, void *body)
{
    cr_assert(b->n < MAX_EVENTS);
    Stocktwin__Event *e = &b->ev[b->n];
    stocktwin__event__init(e);
    e->source = "test";
    e->seq = ++b->seq;
    e->event_time_ms = 1700000000000 + (int64_t)b->seq;
    e->warehouse = (char *)warehouse;
    e->kind_case = kind;
    e->weight = body; // every kind's member shares the union
    b->ptr[b->n] = e;
    b->n++;
    return e;
}

static void
batch_init(batch *b, uint64_t first_seq)
{
    memset(b, 0, sizeof *b);
    b->seq = first_seq;
    stocktwin__event_batch__init(&b->batch);
    stocktwin__request__init(&b->req);
    b->req.version = 1;
    b->req.request_id = 4242;
    b->req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    b->req.batch = &b->batch;
}

static Stocktwin__Request *
batch_req(batch *b)
{
    b->batch.n_events = b->n;
    b->batch.events = b->ptr;
    return &b->req;
}

static Stocktwin__StockMovement *
movement(batch *b, int i, Stocktwin__MovementKind kind, int64_t qty, const char *from, const char *to)
{
    Stocktwin__StockMovement *m = &b->moves[i];
    stocktwin__stock_movement__init(m);
    m->kind = kind;
    m->sku = "SKU-T";
    m->qty = qty;
    m->from_location = (char *)from;
    m->to_location = (char *)to;
    return m;
}

// model builds: product SKU-T (reorder point 5), warehouse wh-t, zone z1,
// a receipt of `qty` into z1.
static void
model(batch *b, int64_t qty)
{
    batch_init(b, 0);
    stocktwin__product_upsert__init(&b->product);
    b->product.sku = "SKU-T";
    b->product.name = "Test widget";
    b->product.unit_weight_mg = 1000;
    b->product.reorder_point = 5;
    add(b, "", STOCKTWIN__EVENT__KIND_PRODUCT_UPSERT, &b->product);
    stocktwin__warehouse_upsert__init(&b->wh);
    b->wh.name = "Test";
    add(b, "wh-t", STOCKTWIN__EVENT__KIND_WAREHOUSE_UPSERT, &b->wh);
    stocktwin__zone_upsert__init(&b->zone);
    b->zone.zone_id = "z1";
    b->zone.type = STOCKTWIN__ZONE_TYPE__STORAGE;
    add(b, "wh-t", STOCKTWIN__EVENT__KIND_ZONE_UPSERT, &b->zone);
    add(b, "wh-t", STOCKTWIN__EVENT__KIND_MOVEMENT,
        movement(b, 0, STOCKTWIN__MOVEMENT_KIND__RECEIVE, qty, "", "z1"));
}

static void
assert_all_ok(const Stocktwin__Response *r, size_t n)
{
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "request refused: %s", r->message);
    cr_assert_eq(r->n_statuses, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(r->statuses[i]->status, STOCKTWIN__STATUS__STATUS_OK, "event %zu: %d %s", i,
                     r->statuses[i]->status, r->statuses[i]->message);
}

static Stocktwin__Response *
query(nng_socket s, Stocktwin__Query *q)
{
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1;
    req.request_id = 77;
    req.body_case = STOCKTWIN__REQUEST__BODY_QUERY;
    req.query = q;
    Stocktwin__Response *r = call(s, &req);
    cr_assert_eq(r->request_id, 77);
    return r;
}

static Stocktwin__Response *
inventory(nng_socket s, const char *warehouse, uint32_t limit)
{
    Stocktwin__InventoryQuery iq = STOCKTWIN__INVENTORY_QUERY__INIT;
    iq.warehouse = (char *)warehouse;
    iq.limit = limit;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_INVENTORY;
    q.inventory = &iq;
    return query(s, &q);
}

// on_hand_of returns SKU-T's on hand in wh-t, or -1 if it has no line.
static int64_t
on_hand_of(nng_socket s)
{
    Stocktwin__Response *r = inventory(s, "wh-t", 0);
    int64_t v = -1;
    if (r->status == STOCKTWIN__STATUS__STATUS_OK && r->result_case == STOCKTWIN__RESPONSE__RESULT_INVENTORY)
        for (size_t i = 0; i < r->inventory->n_lines; i++)
            if (strcmp(r->inventory->lines[i]->sku, "SKU-T") == 0)
                v = r->inventory->lines[i]->on_hand;
    stocktwin__response__free_unpacked(r, NULL);
    return v;
}

Test(doors, batch_and_queries_round_trip)
{
    nng_socket s = req_open();
    batch b;
    model(&b, 9);
    Stocktwin__Response *r = call(s, batch_req(&b));
    assert_all_ok(r, 4);
    cr_assert_eq(r->request_id, 4242);
    cr_assert_eq(r->sync, STOCKTWIN__SYNC_MODE__SYNC_NONE);
    stocktwin__response__free_unpacked(r, NULL);

    // The same batch again: every event is a duplicate, nothing changes.
    r = call(s, batch_req(&b));
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK);
    for (size_t i = 0; i < r->n_statuses; i++)
        cr_assert_eq(r->statuses[i]->status, STOCKTWIN__STATUS__STATUS_DUPLICATE);
    stocktwin__response__free_unpacked(r, NULL);

    r = inventory(s, "wh-t", 0);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->result_case, STOCKTWIN__RESPONSE__RESULT_INVENTORY);
    cr_assert_str_eq(r->inventory->warehouse, "wh-t");
    cr_assert_eq(r->inventory->total_skus, 1);
    cr_assert_eq(r->inventory->n_lines, 1);
    Stocktwin__InventoryLine *line = r->inventory->lines[0];
    cr_assert_str_eq(line->sku, "SKU-T");
    cr_assert_str_eq(line->name, "Test widget");
    cr_assert_eq(line->on_hand, 9);
    cr_assert_eq(line->available, 9);
    cr_assert_eq(line->n_locations, 1);
    cr_assert_str_eq(line->locations[0]->zone, "z1");
    cr_assert_eq(line->locations[0]->qty, 9);
    stocktwin__response__free_unpacked(r, NULL);

    Stocktwin__SkuQuery sq = STOCKTWIN__SKU_QUERY__INIT;
    sq.sku = "SKU-T";
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_SKU;
    q.sku = &sq;
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->sku->n_warehouses, 1);
    cr_assert_str_eq(r->sku->warehouses[0]->warehouse, "wh-t");
    cr_assert_eq(r->sku->warehouses[0]->on_hand, 9);
    stocktwin__response__free_unpacked(r, NULL);

    Stocktwin__TwinQuery tq = STOCKTWIN__TWIN_QUERY__INIT;
    tq.id = "z1";
    q.kind_case = STOCKTWIN__QUERY__KIND_TWIN;
    q.twin = &tq;
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_str_eq(r->twin->id, "z1");
    cr_assert_eq(r->twin->kind, STOCKTWIN__TWIN_KIND__TWIN_ZONE);
    cr_assert_str_eq(r->twin->warehouse, "wh-t");
    stocktwin__response__free_unpacked(r, NULL);
    tq.id = "wh-t";
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->twin->kind, STOCKTWIN__TWIN_KIND__TWIN_WAREHOUSE);
    stocktwin__response__free_unpacked(r, NULL);
    tq.id = "nope";
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_NOT_FOUND);
    cr_assert_neq(r->message[0], '\0');
    stocktwin__response__free_unpacked(r, NULL);

    Stocktwin__StatsQuery st = STOCKTWIN__STATS_QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_STATS;
    q.stats = &st;
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->stats->n_workers, 2);
    cr_assert_eq(r->stats->products, 1);
    uint64_t accepted = 0, warehouses = 0;
    for (size_t i = 0; i < r->stats->n_workers; i++) {
        accepted += r->stats->workers[i]->events_accepted;
        warehouses += r->stats->workers[i]->warehouses;
    }
    cr_assert_geq(accepted, 4);
    cr_assert_eq(warehouses, 1);
    cr_assert_gt(r->stats->resident_bytes, 1u << 20, "VmRSS is %llu bytes",
                 (unsigned long long)r->stats->resident_bytes);
    // One request at a time: the spare contexts, one handling a request and
    // one or two whose reply's send has not called back yet (the client can
    // send the next request before that) - not the 8.
    cr_assert_leq(r->stats->rpc_contexts_ready, ST_RPC_SPARE + 4);
    cr_assert_geq(r->stats->rpc_contexts_ready, ST_RPC_SPARE);
    stocktwin__response__free_unpacked(r, NULL);

    Stocktwin__AlertsQuery aq = STOCKTWIN__ALERTS_QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_ALERTS;
    q.alerts = &aq;
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->result_case, STOCKTWIN__RESPONSE__RESULT_ALERTS);
    stocktwin__response__free_unpacked(r, NULL);
    nng_close(s);
}

Test(doors, query_refusals_say_why)
{
    nng_socket s = req_open();
    Stocktwin__Response *r = inventory(s, "wh-nowhere", 0);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_UNKNOWN_WAREHOUSE);
    cr_assert(strstr(r->message, "wh-nowhere") != NULL, "%s", r->message);
    stocktwin__response__free_unpacked(r, NULL);
    r = inventory(s, "wh-t", 100001);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    stocktwin__response__free_unpacked(r, NULL);
    r = inventory(s, "", 0);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    stocktwin__response__free_unpacked(r, NULL);
    Stocktwin__SkuQuery sq = STOCKTWIN__SKU_QUERY__INIT;
    sq.sku = "SKU-NONE";
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_SKU;
    q.sku = &sq;
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_UNKNOWN_PRODUCT, "%d %s", r->status, r->message);
    stocktwin__response__free_unpacked(r, NULL);
    Stocktwin__DevicesQuery dq = STOCKTWIN__DEVICES_QUERY__INIT;
    dq.warehouse = "wh-nowhere";
    q.kind_case = STOCKTWIN__QUERY__KIND_DEVICES;
    q.devices = &dq;
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_UNKNOWN_WAREHOUSE, "%s", r->message);
    stocktwin__response__free_unpacked(r, NULL);
    dq.warehouse = "";
    dq.limit = 100001;
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "%s", r->message);
    cr_assert(strstr(r->message, "devices.limit") != NULL, "%s", r->message);
    stocktwin__response__free_unpacked(r, NULL);
    dq.limit = 0; // no devices anywhere yet: an empty answer
    r = query(s, &q);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->result_case, STOCKTWIN__RESPONSE__RESULT_DEVICES);
    cr_assert_eq(r->devices->n_devices, 0);
    cr_assert_eq(r->devices->total, 0);
    stocktwin__response__free_unpacked(r, NULL);
    Stocktwin__Query empty = STOCKTWIN__QUERY__INIT;
    r = query(s, &empty);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_MALFORMED);
    stocktwin__response__free_unpacked(r, NULL);
    nng_close(s);
}

Test(doors, malformed_bytes_and_the_server_keeps_serving)
{
    nng_socket bad = req_open(), good = req_open();
    const char junk[] = "\xff\xff\xff\xff this is not protobuf";
    Stocktwin__Response *r = call_raw(bad, junk, sizeof junk);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert_neq(r->message[0], '\0');
    stocktwin__response__free_unpacked(r, NULL);
    r = call_raw(bad, "", 0); // empty: a Request with no body
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_BAD_VERSION);
    stocktwin__response__free_unpacked(r, NULL);

    batch b;
    model(&b, 3);
    r = call(good, batch_req(&b));
    assert_all_ok(r, 4);
    stocktwin__response__free_unpacked(r, NULL);
    // The bad client is still served too.
    cr_assert_eq(on_hand_of(bad), 3);

    // A message over 4 MiB (but under nng's limit) gets TOO_LARGE.
    size_t big = 4u * 1024u * 1024u + 100u;
    char *junk2 = calloc(1, big);
    r = call_raw(bad, junk2, big);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_TOO_LARGE);
    stocktwin__response__free_unpacked(r, NULL);
    free(junk2);
    cr_assert_eq(on_hand_of(good), 3);
    nng_close(bad);
    nng_close(good);
}

Test(doors, bad_version_and_missing_body)
{
    nng_socket s = req_open();
    batch b;
    model(&b, 1);
    Stocktwin__Request *req = batch_req(&b);
    req->version = 9;
    Stocktwin__Response *r = call(s, req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_BAD_VERSION);
    cr_assert_eq(r->request_id, 4242);
    cr_assert_eq(r->n_statuses, 0);
    stocktwin__response__free_unpacked(r, NULL);
    req->version = 1;
    req->body_case = STOCKTWIN__REQUEST__BODY__NOT_SET;
    r = call(s, req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_MALFORMED);
    stocktwin__response__free_unpacked(r, NULL);
    // Nothing of the refused requests was applied.
    cr_assert_eq(on_hand_of(s), -1);
    nng_close(s);
}

Test(doors, batch_limits)
{
    nng_socket s = req_open();
    // 4097 events: TOO_LARGE for the whole request.
    size_t n = 4097;
    Stocktwin__Event *evs = calloc(n, sizeof *evs);
    Stocktwin__Event **ptrs = calloc(n, sizeof *ptrs);
    Stocktwin__SupplierUpsert sup = STOCKTWIN__SUPPLIER_UPSERT__INIT;
    sup.supplier_id = "sup";
    for (size_t i = 0; i < n; i++) {
        stocktwin__event__init(&evs[i]);
        evs[i].source = "t";
        evs[i].seq = i + 1;
        evs[i].kind_case = STOCKTWIN__EVENT__KIND_SUPPLIER_UPSERT;
        evs[i].supplier_upsert = &sup;
        ptrs[i] = &evs[i];
    }
    Stocktwin__EventBatch eb = STOCKTWIN__EVENT_BATCH__INIT;
    eb.n_events = n;
    eb.events = ptrs;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1;
    req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    req.batch = &eb;
    Stocktwin__Response *r = call(s, &req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_TOO_LARGE, "%d %s", r->status, r->message);
    stocktwin__response__free_unpacked(r, NULL);
    eb.n_events = 0;
    r = call(s, &req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    stocktwin__response__free_unpacked(r, NULL);
    // 4096 is fine: one status each.
    eb.n_events = 4096;
    r = call(s, &req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->n_statuses, 4096);
    cr_assert_eq(r->statuses[0]->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->statuses[0]->message);
    stocktwin__response__free_unpacked(r, NULL);
    free(ptrs);
    free(evs);
    nng_close(s);
}

// One bad event does not spoil its batch: each event has its own status.
Test(doors, per_event_statuses_in_order)
{
    nng_socket s = req_open();
    batch b;
    model(&b, 2);
    char long_id[80];
    memset(long_id, 'z', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    Stocktwin__Event *e = add(&b, "wh-t", STOCKTWIN__EVENT__KIND__NOT_SET, NULL); // no kind
    (void)e;
    add(&b, long_id, STOCKTWIN__EVENT__KIND_MOVEMENT,
        movement(&b, 1, STOCKTWIN__MOVEMENT_KIND__RECEIVE, 1, "", "z1")); // id too long
    add(&b, "wh-t", STOCKTWIN__EVENT__KIND_MOVEMENT,
        movement(&b, 2, STOCKTWIN__MOVEMENT_KIND__PICK, 100, "z1", "")); // not enough stock
    add(&b, "wh-t", STOCKTWIN__EVENT__KIND_MOVEMENT,
        movement(&b, 3, STOCKTWIN__MOVEMENT_KIND__RECEIVE, 5, "", "z1"));
    Stocktwin__Response *r = call(s, batch_req(&b));
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_eq(r->n_statuses, 8);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(r->statuses[i]->status, STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_eq(r->statuses[4]->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    cr_assert(strstr(r->statuses[4]->message, "kind") != NULL, "%s", r->statuses[4]->message);
    cr_assert_eq(r->statuses[5]->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    cr_assert(strstr(r->statuses[5]->message, "warehouse") != NULL, "%s", r->statuses[5]->message);
    cr_assert_eq(r->statuses[6]->status, STOCKTWIN__STATUS__STATUS_INSUFFICIENT_STOCK);
    cr_assert_neq(r->statuses[6]->message[0], '\0');
    cr_assert_eq(r->statuses[7]->status, STOCKTWIN__STATUS__STATUS_OK);
    stocktwin__response__free_unpacked(r, NULL);
    cr_assert_eq(on_hand_of(s), 7);
    nng_close(s);
}

static nng_socket
sub_open(const char *topic)
{
    nng_socket s;
    cr_assert_eq(nng_sub0_open(&s), 0);
    cr_assert_eq(nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, topic, strlen(topic)), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000), 0);
    cr_assert_eq(nng_dial(s, url_feed, NULL, 0), 0);
    return s;
}

// split checks the feed framing - topic, one NUL, FeedMessage - and decodes.
static Stocktwin__FeedMessage *
feed_recv(nng_socket s, char *topic, size_t topic_len)
{
    void *buf;
    size_t n;
    cr_assert_eq(nng_recv(s, &buf, &n, NNG_FLAG_ALLOC), 0, "no feed message");
    const char *nul = memchr(buf, '\0', n);
    cr_assert_not_null(nul, "the topic ends with a NUL byte");
    size_t t = (size_t)(nul - (const char *)buf);
    cr_assert_lt(t, topic_len);
    memcpy(topic, buf, t + 1);
    Stocktwin__FeedMessage *fm = stocktwin__feed_message__unpack(NULL, n - t - 1, (uint8_t *)nul + 1);
    nng_free(buf, n);
    cr_assert_not_null(fm, "the payload is a FeedMessage");
    return fm;
}

Test(doors, feed_publishes_low_stock_alert_and_stock_changes)
{
    nng_socket alerts = sub_open("alert/"), stock = sub_open("stock/wh-t");
    nng_socket s = req_open();
    // A subscriber's connection is asynchronous: give it a moment.
    nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
    batch b;
    model(&b, 9); // reorder point 5
    add(&b, "wh-t", STOCKTWIN__EVENT__KIND_MOVEMENT,
        movement(&b, 1, STOCKTWIN__MOVEMENT_KIND__PICK, 6, "z1", "")); // 3 left: LOW_STOCK
    Stocktwin__Response *r = call(s, batch_req(&b));
    assert_all_ok(r, 5);
    stocktwin__response__free_unpacked(r, NULL);

    char topic[200];
    Stocktwin__FeedMessage *fm = feed_recv(alerts, topic, sizeof topic);
    // The first receipt into a fresh record may already be below the
    // reorder point (0 <= 5 before it): read until the pick's alert.
    while (!(fm->alert && fm->alert->actual == 3)) {
        cr_assert_str_eq(topic, "alert/wh-t/LOW_STOCK");
        stocktwin__feed_message__free_unpacked(fm, NULL);
        fm = feed_recv(alerts, topic, sizeof topic);
    }
    cr_assert_str_eq(topic, "alert/wh-t/LOW_STOCK");
    cr_assert_str_eq(fm->warehouse, "wh-t");
    cr_assert_eq(fm->body_case, STOCKTWIN__FEED_MESSAGE__BODY_ALERT);
    cr_assert_eq(fm->alert->kind, STOCKTWIN__ALERT_KIND__LOW_STOCK);
    cr_assert_str_eq(fm->alert->sku, "SKU-T");
    cr_assert_eq(fm->alert->expected, 5);
    cr_assert_str_eq(fm->alert->message, "available 3 <= reorder point 5");
    stocktwin__feed_message__free_unpacked(fm, NULL);

    fm = feed_recv(stock, topic, sizeof topic);
    cr_assert_str_eq(topic, "stock/wh-t");
    cr_assert_eq(fm->body_case, STOCKTWIN__FEED_MESSAGE__BODY_STOCK);
    cr_assert_geq(fm->stock->n_changes, 1);
    cr_assert_str_eq(fm->stock->changes[0]->sku, "SKU-T");
    stocktwin__feed_message__free_unpacked(fm, NULL);
    nng_close(s);
    // The server stops before its subscribers leave: in nng 1.5.2 a message
    // published while a subscriber's pipe closes can leak (nanomsg/nng#1713,
    // fixed in 1.7.0), and the worker may still be publishing this batch's
    // later changes. Stopped, nothing publishes while the pipes close.
    st_server_stop(server);
    server = NULL;
    nng_close(alerts);
    nng_close(stock);
}

Test(doors, ingest_push_changes_state)
{
    nng_socket push;
    cr_assert_eq(nng_push0_open(&push), 0);
    cr_assert_eq(nng_dial(push, url_ingest, NULL, 0), 0);
    batch b;
    model(&b, 11);
    Stocktwin__Request *req = batch_req(&b);
    size_t n = stocktwin__request__get_packed_size(req);
    uint8_t *buf = malloc(n);
    stocktwin__request__pack(req, buf);
    cr_assert_eq(nng_send(push, buf, n, 0), 0);
    // Garbage on the ingest door is dropped, and the door keeps taking.
    cr_assert_eq(nng_send(push, "\xff\xff\xff", 3, 0), 0);
    free(buf);
    nng_socket s = req_open();
    int64_t v = -1;
    for (int i = 0; i < 200 && v != 11; i++) {
        v = on_hand_of(s);
        if (v != 11)
            nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    cr_assert_eq(v, 11);
    nng_close(s);
    nng_close(push);
}

// Address in use is tried on tcp: with ipc, nng 1.5.2's own "is the path
// live?" probe (a connect and close) stops the live listener from accepting
// (nanomsg/nng#1518), so a second server on a busy ipc path would break the
// first one. That is nng's bug, noted in the README; tcp is not affected.
Test(doors, start_fails_cleanly_on_address_in_use_and_bad_url)
{
    nng_socket holder;
    nng_listener l;
    cr_assert_eq(nng_rep0_open(&holder), 0);
    cr_assert_eq(nng_listen(holder, "tcp://127.0.0.1:0", &l, 0), 0);
    int port = 0;
    cr_assert_eq(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    char busy[64];
    snprintf(busy, sizeof busy, "tcp://127.0.0.1:%d", port);
    st_server_config cfg = {.rpc_url = busy, .ingest_url = "ipc:///tmp/stocktwin-srv-unused-in",
                            .feed_url = "ipc:///tmp/stocktwin-srv-unused-feed", .workers = 1,
                            .contexts = 2, .quiet = true};
    char err[256];
    st_server *s2 = (st_server *)1;
    cr_assert_eq(st_server_start(&cfg, &s2, err, sizeof err), ST_IO);
    cr_assert_null(s2);
    cr_assert(strstr(err, busy) != NULL, "%s", err);
    cr_assert(strstr(err, "in use") != NULL, "%s", err);
    cfg.rpc_url = "bogus://nowhere";
    cr_assert_eq(st_server_start(&cfg, &s2, err, sizeof err), ST_IO);
    cr_assert(strstr(err, "bogus://nowhere") != NULL, "%s", err);
    unlink("/tmp/stocktwin-srv-unused-in");
    unlink("/tmp/stocktwin-srv-unused-feed");
    nng_close(holder);
    // The fixture's server is untouched.
    nng_socket s = req_open();
    cr_assert_eq(on_hand_of(s), -1);
    nng_close(s);
}

// Many clients at once on few contexts: every request gets its own answer.
Test(doors, concurrent_clients)
{
    enum { CLIENTS = 16, ROUNDS = 20 };
    nng_socket socks[CLIENTS];
    nng_aio *aios[CLIENTS];
    for (int c = 0; c < CLIENTS; c++) {
        socks[c] = req_open();
        cr_assert_eq(nng_aio_alloc(&aios[c], NULL, NULL), 0);
    }
    batch b;
    model(&b, 1);
    Stocktwin__Response *r = call(socks[0], batch_req(&b));
    assert_all_ok(r, 4);
    stocktwin__response__free_unpacked(r, NULL);
    Stocktwin__InventoryQuery iq = STOCKTWIN__INVENTORY_QUERY__INIT;
    iq.warehouse = "wh-t";
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_INVENTORY;
    q.inventory = &iq;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1;
    req.body_case = STOCKTWIN__REQUEST__BODY_QUERY;
    req.query = &q;
    for (int round = 0; round < ROUNDS; round++) {
        for (int c = 0; c < CLIENTS; c++) {
            req.request_id = (uint64_t)(round * CLIENTS + c);
            nng_msg *m;
            cr_assert_eq(nng_msg_alloc(&m, stocktwin__request__get_packed_size(&req)), 0);
            stocktwin__request__pack(&req, nng_msg_body(m));
            nng_aio_set_msg(aios[c], m);
            nng_send_aio(socks[c], aios[c]);
        }
        for (int c = 0; c < CLIENTS; c++) {
            nng_aio_wait(aios[c]);
            cr_assert_eq(nng_aio_result(aios[c]), 0);
            nng_recv_aio(socks[c], aios[c]);
        }
        for (int c = 0; c < CLIENTS; c++) {
            nng_aio_wait(aios[c]);
            cr_assert_eq(nng_aio_result(aios[c]), 0);
            nng_msg *m = nng_aio_get_msg(aios[c]);
            r = stocktwin__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
            nng_msg_free(m);
            cr_assert_not_null(r);
            cr_assert_eq(r->request_id, (uint64_t)(round * CLIENTS + c));
            cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK);
            cr_assert_eq(r->inventory->lines[0]->on_hand, 1);
            stocktwin__response__free_unpacked(r, NULL);
        }
    }
    // Sixteen requests in flight at once made more contexts ready than one
    // client at a time does, and never more than the 8 there are. (How many
    // depends on how the requests' arrivals bunch up; nearly always all 8.)
    Stocktwin__StatsQuery st = STOCKTWIN__STATS_QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_STATS;
    q.stats = &st;
    r = call(socks[0], &req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_geq(r->stats->rpc_contexts_ready, ST_RPC_SPARE + 3, "%u ready",
                  r->stats->rpc_contexts_ready);
    cr_assert_leq(r->stats->rpc_contexts_ready, 8);
    stocktwin__response__free_unpacked(r, NULL);
    for (int c = 0; c < CLIENTS; c++) {
        nng_aio_free(aios[c]);
        nng_close(socks[c]);
    }
}

// The demo loads its model through the real apply path and keeps it moving.
Test(doors, demo_loads_and_runs, .init = NULL, .fini = NULL)
{
    server = start(true);
    nng_socket s = req_open();
    nanosleep(&(struct timespec){.tv_nsec = 500000000}, NULL);
    Stocktwin__Response *r = inventory(s, "wh-berlin", 0);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->inventory->n_lines, 8);
    stocktwin__response__free_unpacked(r, NULL);
    r = inventory(s, "wh-munich", 0);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK, "%s", r->message);
    cr_assert_eq(r->inventory->n_lines, 8);
    stocktwin__response__free_unpacked(r, NULL);
    nng_close(s);
    teardown();
}
