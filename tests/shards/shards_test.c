// shards_test.c - the worker runtime against the real core: routing, batches
// across workers, catalog broadcast, backpressure (ST_BUSY), transfers through
// the outbox, concurrent reservations, release order, shutdown with jobs in
// flight, and the feed. Every test bounds its waits (a hang is a failure).
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "shards/shards.h"

#define WAIT_MS 10000

// ---------------------------------------------------------------------------
// Helpers: synchronous submit/query on top of the callback API.

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
} waiter;

static void
waiter_init(waiter *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done = 0;
}

static void
waiter_done_cb(void *arg)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->done++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void
waiter_wait(waiter *w, int count)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&w->lock);
    while (w->done < count) {
        int rc = pthread_cond_timedwait(&w->cond, &w->lock, &until);
        cr_assert(rc == 0, "request did not complete in time");
    }
    cr_assert_eq(w->done, count, "done_cb ran %d times, expected %d", w->done, count);
    pthread_mutex_unlock(&w->lock);
}

static int
waiter_count(waiter *w)
{
    pthread_mutex_lock(&w->lock);
    int n = w->done;
    pthread_mutex_unlock(&w->lock);
    return n;
}

static st_shards_req *
req_new(void)
{
    st_shards_req *req = calloc(1, sizeof(*req));
    cr_assert(req != NULL);
    return req;
}

// Submits and waits; returns the request (caller frees) for its messages.
static st_shards_req *
submit_wait(st_shards *shards, const st_event *events, st_err *statuses, uint32_t count)
{
    waiter w;
    waiter_init(&w);
    st_shards_req *req = req_new();
    st_shards_submit(shards, req, events, statuses, count, waiter_done_cb, &w);
    waiter_wait(&w, 1);
    return req;
}

static st_err
submit1(st_shards *shards, const st_event *event)
{
    st_err status = ST_INTERNAL;
    free(submit_wait(shards, event, &status, 1));
    return status;
}

static st_err
query_wait(st_shards *shards, const char *warehouse, st_shards_query_cb cb, void *arg)
{
    waiter w;
    waiter_init(&w);
    st_shards_req *req = req_new();
    st_shards_query(shards, req, warehouse, cb, arg, waiter_done_cb, &w);
    waiter_wait(&w, 1);
    st_err status = req->status;
    free(req);
    return status;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static st_shards *
shards_new(uint32_t workers, uint32_t ring, st_shards_feed_cb feed_cb, void *feed_arg)
{
    st_shards_config config = {
        .workers = workers, .ring_capacity = ring, .feed_cb = feed_cb, .feed_arg = feed_arg};
    st_shards *shards = NULL;
    cr_assert_eq(st_shards_create(&config, &shards), ST_OK);
    cr_assert(shards != NULL);
    return shards;
}

// Event builders. Every event gets a fresh seq from one test-wide source.
static atomic_ulong next_seq = 1;

static st_event
ev_base(st_event_kind kind, const char *warehouse)
{
    return (st_event){.kind = kind,
                      .source = "test",
                      .seq = atomic_fetch_add(&next_seq, 1),
                      .event_time_ms = 1000,
                      .warehouse = warehouse};
}

static st_event
ev_warehouse(const char *wh)
{
    st_event e = ev_base(ST_EV_WAREHOUSE_UPSERT, wh);
    e.u.warehouse_upsert.name = wh;
    return e;
}

static st_event
ev_zone(const char *wh, const char *zone)
{
    st_event e = ev_base(ST_EV_ZONE_UPSERT, wh);
    e.u.zone_upsert.zone_id = zone;
    e.u.zone_upsert.name = zone;
    e.u.zone_upsert.type = ST_ZONE_STORAGE;
    return e;
}

static st_event
ev_product(const char *sku, int64_t reorder_point)
{
    st_event e = ev_base(ST_EV_PRODUCT_UPSERT, NULL);
    e.u.product_upsert.sku = sku;
    e.u.product_upsert.name = sku;
    e.u.product_upsert.unit_weight_mg = 1000;
    e.u.product_upsert.reorder_point = reorder_point;
    return e;
}

static st_event
ev_receive(const char *wh, const char *zone, const char *sku, int64_t qty)
{
    st_event e = ev_base(ST_EV_MOVEMENT, wh);
    e.u.movement.kind = ST_MOVE_RECEIVE;
    e.u.movement.sku = sku;
    e.u.movement.qty = qty;
    e.u.movement.to_location = zone;
    return e;
}

static st_event
ev_reserve(const char *wh, const char *order, const char *sku, int64_t qty)
{
    st_event e = ev_base(ST_EV_RESERVE, wh);
    e.u.reserve.order_id = order;
    e.u.reserve.sku = sku;
    e.u.reserve.qty = qty;
    return e;
}

// Finds two warehouse ids "<prefix>-<n>" that live on different workers.
static void
two_warehouses(st_shards *shards, const char *prefix, char a[32], char b[32])
{
    snprintf(a, 32, "%s-0", prefix);
    for (int i = 1; i < 1000; i++) {
        snprintf(b, 32, "%s-%d", prefix, i);
        if (st_shards_route(shards, a) != st_shards_route(shards, b))
            return;
    }
    cr_assert_fail("no two warehouses on different workers");
}

// Creates warehouse `wh` with zone "z1".
static void
setup_warehouse(st_shards *shards, const char *wh)
{
    st_event events[2] = {ev_warehouse(wh), ev_zone(wh, "z1")};
    st_err statuses[2];
    free(submit_wait(shards, events, statuses, 2));
    cr_assert_eq(statuses[0], ST_OK, "warehouse %s: %s", wh, st_err_str(statuses[0]));
    cr_assert_eq(statuses[1], ST_OK, "zone of %s: %s", wh, st_err_str(statuses[1]));
}

// A stock query: one (warehouse, sku) record read on its worker.
typedef struct stock_probe {
    const char *warehouse;
    const char *sku;
    bool found;
    st_stock_view view;
    st_err status;
} stock_probe;

static bool
stock_probe_cb(void *arg, const st_stock_view *view)
{
    stock_probe *p = arg;
    if (strcmp(view->sku, p->sku) != 0)
        return true;
    p->found = true;
    p->view = *view;
    p->view.locations = NULL;
    return false;
}

static void
stock_query_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    stock_probe *p = arg;
    (void)info;
    st_inventory_query q = {.warehouse = p->warehouse};
    p->found = false;
    p->status = st_state_inventory(state, &q, stock_probe_cb, p, NULL);
}

static stock_probe
stock_of(st_shards *shards, const char *wh, const char *sku)
{
    stock_probe p = {.warehouse = wh, .sku = sku};
    cr_assert_eq(query_wait(shards, wh, stock_query_cb, &p), ST_OK);
    cr_assert_eq(p.status, ST_OK, "inventory of %s: %s", wh, st_err_str(p.status));
    return p;
}

// Polls until `pred` holds for (wh, sku), at most WAIT_MS.
static stock_probe
stock_poll(st_shards *shards, const char *wh, const char *sku,
           bool (*pred)(const stock_probe *, int64_t), int64_t want)
{
    for (int i = 0; i < WAIT_MS; i++) {
        stock_probe p = stock_of(shards, wh, sku);
        if (pred(&p, want))
            return p;
        sleep_ms(1);
    }
    cr_assert_fail("%s/%s never reached the expected state", wh, sku);
    return (stock_probe){0};
}

static bool
inbound_is(const stock_probe *p, int64_t want)
{
    return p->found && p->view.inbound == want;
}

static bool
in_transit_is(const stock_probe *p, int64_t want)
{
    return p->found && p->view.in_transit_out == want;
}

// ---------------------------------------------------------------------------

Test(shards, create_rejects_bad_config_and_destroy_null_is_noop)
{
    st_shards *shards = (st_shards *)1;
    st_shards_config config = {.workers = ST_SHARDS_WORKERS_MAX + 1};
    cr_assert_eq(st_shards_create(&config, &shards), ST_INVALID_ARGUMENT);
    cr_assert_null(shards);
    config = (st_shards_config){.workers = 1, .ring_capacity = 100};
    cr_assert_eq(st_shards_create(&config, &shards), ST_INVALID_ARGUMENT);
    config = (st_shards_config){.workers = 0};
    cr_assert_eq(st_shards_create(&config, &shards), ST_OK);
    cr_assert_geq(st_shards_workers(shards), 1);
    st_shards_destroy(shards);
    st_shards_destroy(NULL);
}

Test(shards, routing_is_stable_and_spreads)
{
    st_shards *a = shards_new(4, 0, NULL, NULL);
    st_shards *b = shards_new(4, 0, NULL, NULL);
    uint32_t per_worker[4] = {0};
    for (int i = 0; i < 4000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "wh-%d", i);
        uint32_t w = st_shards_route(a, id);
        cr_assert_lt(w, 4);
        cr_assert_eq(w, st_shards_route(b, id), "same id, same worker");
        cr_assert_eq(w, XXH3_64bits(id, strlen(id)) % 4, "XXH3 of the id modulo workers");
        per_worker[w]++;
    }
    for (int w = 0; w < 4; w++)
        cr_assert(per_worker[w] > 800 && per_worker[w] < 1200, "worker %d got %u of 4000", w,
                  per_worker[w]);
    st_shards_destroy(a);
    st_shards_destroy(b);
}

Test(shards, batch_across_workers_then_query_each)
{
    st_shards *shards = shards_new(4, 0, NULL, NULL);
    char a[32], b[32];
    two_warehouses(shards, "wh-batch", a, b);
    st_event events[] = {
        ev_warehouse(a),
        ev_warehouse(b),
        ev_zone(a, "z1"),
        ev_zone(b, "z1"),
        ev_product("SKU-1", 0),
        ev_receive(a, "z1", "SKU-1", 30),
        ev_receive(b, "z1", "SKU-1", 7),
        ev_receive(a, "z1", "SKU-1", 12),
    };
    uint32_t n = sizeof(events) / sizeof(events[0]);
    st_err statuses[sizeof(events) / sizeof(events[0])];
    st_shards_req *req = submit_wait(shards, events, statuses, n);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(statuses[i], ST_OK, "event %u: %s", i, st_err_str(statuses[i]));
    cr_assert_eq(atomic_load(&req->message_count), 0);
    free(req);
    stock_probe pa = stock_of(shards, a, "SKU-1");
    stock_probe pb = stock_of(shards, b, "SKU-1");
    cr_assert(pa.found && pb.found);
    cr_assert_eq(pa.view.on_hand, 42);
    cr_assert_eq(pb.view.on_hand, 7);
    st_shards_destroy(shards);
}

Test(shards, submit_refuses_internal_kinds_and_missing_warehouse_with_messages)
{
    st_shards *shards = shards_new(2, 0, NULL, NULL);
    setup_warehouse(shards, "wh-r");
    st_event events[4] = {ev_base(ST_EV_TRANSFER_INBOUND, "wh-r"),
                          ev_base(ST_EV_TRANSFER_ARRIVED, "wh-r"), ev_receive("", "z1", "SKU-1", 1),
                          ev_receive("wh-r", "z1", "SKU-NOPE", 1)};
    st_err statuses[4];
    st_shards_req *req = submit_wait(shards, events, statuses, 4);
    cr_assert_eq(statuses[0], ST_INVALID_ARGUMENT);
    cr_assert_eq(statuses[1], ST_INVALID_ARGUMENT);
    cr_assert_eq(statuses[2], ST_UNKNOWN_WAREHOUSE);
    cr_assert_eq(statuses[3], ST_UNKNOWN_PRODUCT);
    cr_assert_eq(atomic_load(&req->message_count), 4);
    bool seen[4] = {false};
    for (uint32_t i = 0; i < 4; i++) {
        cr_assert_lt(req->messages[i].index, 4);
        cr_assert_neq(req->messages[i].text[0], '\0');
        seen[req->messages[i].index] = true;
    }
    cr_assert(seen[0] && seen[1] && seen[2] && seen[3]);
    free(req);
    st_shards_destroy(shards);
}

Test(shards, messages_are_bounded)
{
    st_shards *shards = shards_new(2, 0, NULL, NULL);
    enum { N = 100 };
    st_event events[N];
    st_err statuses[N];
    for (int i = 0; i < N; i++)
        events[i] = ev_base(ST_EV_TRANSFER_ARRIVED, "wh");
    st_shards_req *req = submit_wait(shards, events, statuses, N);
    cr_assert_eq(atomic_load(&req->message_count), ST_SHARDS_MESSAGES_MAX);
    free(req);
    st_shards_destroy(shards);
}

// Per-worker slots of a scatter query.
typedef struct catalog_probe {
    st_err sku_status[ST_SHARDS_WORKERS_MAX];
    uint32_t worker_seen[ST_SHARDS_WORKERS_MAX];
} catalog_probe;

static bool
ignore_stock_cb(void *arg, const st_stock_view *view)
{
    (void)arg;
    (void)view;
    return true;
}

static void
catalog_query_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    catalog_probe *p = arg;
    p->worker_seen[info->worker]++;
    p->sku_status[info->worker] = st_state_sku(state, "SKU-CAT", ignore_stock_cb, NULL);
}

Test(shards, catalog_event_reaches_every_worker)
{
    st_shards *shards = shards_new(4, 0, NULL, NULL);
    st_event product = ev_product("SKU-CAT", 5);
    cr_assert_eq(submit1(shards, &product), ST_OK);
    catalog_probe p = {0};
    cr_assert_eq(query_wait(shards, NULL, catalog_query_cb, &p), ST_OK);
    for (uint32_t w = 0; w < 4; w++) {
        cr_assert_eq(p.worker_seen[w], 1, "worker %u ran the scatter query once", w);
        cr_assert_eq(p.sku_status[w], ST_OK, "worker %u knows SKU-CAT: %s", w,
                     st_err_str(p.sku_status[w]));
    }
    // A retry of the same (source, seq) is a duplicate everywhere.
    cr_assert_eq(submit1(shards, &product), ST_DUPLICATE);
    st_shards_destroy(shards);
}

// A query callback that holds its worker until the test lets it go.
typedef struct blocker {
    atomic_int entered;
    atomic_int release;
    long hold_ms; // > 0: hold this long instead of waiting for release
} blocker;

static void
blocker_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    blocker *b = arg;
    (void)info;
    (void)state;
    atomic_store(&b->entered, 1);
    if (b->hold_ms > 0) {
        sleep_ms(b->hold_ms);
        return;
    }
    for (int i = 0; i < WAIT_MS && !atomic_load(&b->release); i++)
        sleep_ms(1);
}

static void
blocker_wait_entered(blocker *b)
{
    for (int i = 0; i < WAIT_MS && !atomic_load(&b->entered); i++)
        sleep_ms(1);
    cr_assert(atomic_load(&b->entered), "the blocking query never ran");
}

static void
info_query_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    (void)state;
    *(st_shards_worker_info *)arg = *info;
}

Test(shards, full_ring_gives_busy_and_recovers)
{
    st_shards *shards = shards_new(2, 4, NULL, NULL); // 3 jobs per ring
    char a[32], b[32];
    two_warehouses(shards, "wh-busy", a, b);
    setup_warehouse(shards, a);
    setup_warehouse(shards, b);
    st_event product = ev_product("SKU-B", 0);
    cr_assert_eq(submit1(shards, &product), ST_OK);

    waiter wq;
    waiter_init(&wq);
    blocker blk = {0};
    st_shards_req *block_req = req_new();
    st_shards_query(shards, block_req, a, blocker_cb, &blk, waiter_done_cb, &wq);
    blocker_wait_entered(&blk);

    // Three jobs fill a's ring; they wait behind the blocked worker.
    waiter wq3;
    waiter_init(&wq3);
    st_shards_req *queued[3];
    st_event queued_ev[3];
    st_err queued_st[3];
    for (int i = 0; i < 3; i++) {
        queued[i] = req_new();
        queued_ev[i] = ev_receive(a, "z1", "SKU-B", 1);
        st_shards_submit(shards, queued[i], &queued_ev[i], &queued_st[i], 1, waiter_done_cb, &wq3);
    }
    cr_assert_eq(waiter_count(&wq3), 0);

    // Everything else for a is refused at once, on this thread.
    for (int i = 0; i < 5; i++) {
        st_event e = ev_receive(a, "z1", "SKU-B", 1);
        cr_assert_eq(submit1(shards, &e), ST_BUSY);
    }
    st_event mixed[2] = {ev_receive(a, "z1", "SKU-B", 1), ev_receive(b, "z1", "SKU-B", 1)};
    st_err mixed_st[2];
    free(submit_wait(shards, mixed, mixed_st, 2));
    cr_assert_eq(mixed_st[0], ST_BUSY);
    cr_assert_eq(mixed_st[1], ST_OK, "b's worker is not blocked");
    st_shards_worker_info info;
    cr_assert_eq(query_wait(shards, a, info_query_cb, &info), ST_BUSY);
    st_event product2 = ev_product("SKU-B2", 0);
    cr_assert_eq(submit1(shards, &product2), ST_BUSY, "a catalog event needs every worker");
    cr_assert_eq(waiter_count(&wq3), 0);

    atomic_store(&blk.release, 1);
    waiter_wait(&wq, 1);
    waiter_wait(&wq3, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(queued_st[i], ST_OK);
        free(queued[i]);
    }
    free(block_req);
    cr_assert(st_err_accepted(submit1(shards, &product2)), "the retry completes the upsert");
    cr_assert_eq(query_wait(shards, a, info_query_cb, &info), ST_OK);
    cr_assert_eq(info.worker, st_shards_route(shards, a));
    cr_assert_eq(info.busy_rejections, 8, "5 events, 1 batch, 1 query, 1 catalog event");
    cr_assert_eq(info.queue_capacity, 3);
    cr_assert_eq(stock_of(shards, a, "SKU-B").view.on_hand, 3);
    cr_assert_eq(stock_of(shards, b, "SKU-B").view.on_hand, 1);
    st_shards_destroy(shards);
}

static st_event
ev_dispatch(const char *from, const char *to, const char *id, const char *sku, int64_t qty)
{
    st_event e = ev_base(ST_EV_TRANSFER_DISPATCH, from);
    e.u.transfer_dispatch.transfer_id = id;
    e.u.transfer_dispatch.to_warehouse = to;
    e.u.transfer_dispatch.sku = sku;
    e.u.transfer_dispatch.qty = qty;
    e.u.transfer_dispatch.eta_ms = 5000;
    return e;
}

static st_event
ev_transfer_receive(const char *wh, const char *id)
{
    st_event e = ev_base(ST_EV_TRANSFER_RECEIVE, wh);
    e.u.transfer_receive.transfer_id = id;
    e.u.transfer_receive.location = "z1";
    return e;
}

// Counts feed changes that show 20 units inbound (the destination's half).
static void
inbound_feed_cb(void *arg, const st_feed_batch *batch)
{
    for (uint32_t i = 0; i < batch->change_count; i++) {
        const st_change *c = &batch->changes[i];
        if (strcmp(c->sku, "SKU-T") == 0 && c->inbound == 20 && c->on_hand == 0)
            atomic_fetch_add((atomic_int *)arg, 1);
    }
}

Test(shards, transfer_between_workers_goes_through_the_outbox)
{
    atomic_int inbound_changes = 0;
    st_shards *shards = shards_new(2, 0, inbound_feed_cb, &inbound_changes);
    char a[32], b[32];
    two_warehouses(shards, "wh-xfer", a, b);
    setup_warehouse(shards, a);
    setup_warehouse(shards, b);
    st_event setup[2] = {ev_product("SKU-T", 0), ev_receive(a, "z1", "SKU-T", 50)};
    st_err setup_st[2];
    free(submit_wait(shards, setup, setup_st, 2));
    cr_assert(setup_st[0] == ST_OK && setup_st[1] == ST_OK);

    st_event dispatch = ev_dispatch(a, b, "t-1", "SKU-T", 20);
    cr_assert_eq(submit1(shards, &dispatch), ST_OK);
    stock_probe src = stock_of(shards, a, "SKU-T");
    cr_assert_eq(src.view.on_hand, 30);
    cr_assert_eq(src.view.in_transit_out, 20);
    stock_poll(shards, b, "SKU-T", inbound_is, 20); // the inbound half arrived
    for (int i = 0; i < WAIT_MS && atomic_load(&inbound_changes) == 0; i++)
        sleep_ms(1);
    cr_assert_eq(atomic_load(&inbound_changes), 1, "the delivery was published on the feed");

    st_event receive = ev_transfer_receive(b, "t-1");
    cr_assert_eq(submit1(shards, &receive), ST_OK);
    stock_probe dst = stock_of(shards, b, "SKU-T");
    cr_assert_eq(dst.view.on_hand, 20);
    cr_assert_eq(dst.view.inbound, 0);
    stock_poll(shards, a, "SKU-T", in_transit_is, 0); // the arrival went back

    st_event again = ev_transfer_receive(b, "t-1");
    cr_assert_eq(submit1(shards, &again), ST_CONFLICT);
    st_event nowhere = ev_dispatch(a, "wh-nowhere", "t-2", "SKU-T", 1);
    cr_assert_eq(submit1(shards, &nowhere), ST_UNKNOWN_WAREHOUSE);
    cr_assert_eq(stock_of(shards, a, "SKU-T").view.on_hand, 30,
                 "the refused dispatch took nothing");
    st_shards_destroy(shards);
}

typedef struct race_arg {
    st_shards *shards;
    int thread;
    int ok;
    int insufficient;
    int other;
} race_arg;

static void *
race_thread(void *p)
{
    race_arg *arg = p;
    char source[32];
    snprintf(source, sizeof(source), "racer-%d", arg->thread);
    for (int i = 0; i < 40; i++) {
        char order[32];
        snprintf(order, sizeof(order), "o-%d-%d", arg->thread, i);
        st_event e = ev_reserve("wh-race", order, "SKU-R", 1);
        e.source = source;
        e.seq = (uint64_t)i + 1;
        st_err st = submit1(arg->shards, &e);
        if (st == ST_OK)
            arg->ok++;
        else if (st == ST_INSUFFICIENT_STOCK)
            arg->insufficient++;
        else
            arg->other++;
    }
    return NULL;
}

Test(shards, racing_reservations_never_oversell)
{
    st_shards *shards = shards_new(4, 0, NULL, NULL);
    setup_warehouse(shards, "wh-race");
    st_event setup[2] = {ev_product("SKU-R", 0), ev_receive("wh-race", "z1", "SKU-R", 100)};
    st_err setup_st[2];
    free(submit_wait(shards, setup, setup_st, 2));
    cr_assert(setup_st[0] == ST_OK && setup_st[1] == ST_OK);
    pthread_t threads[8];
    race_arg args[8];
    for (int t = 0; t < 8; t++) {
        args[t] = (race_arg){.shards = shards, .thread = t};
        cr_assert_eq(pthread_create(&threads[t], NULL, race_thread, &args[t]), 0);
    }
    int ok = 0, insufficient = 0;
    for (int t = 0; t < 8; t++) {
        pthread_join(threads[t], NULL);
        ok += args[t].ok;
        insufficient += args[t].insufficient;
        cr_assert_eq(args[t].other, 0, "thread %d got other statuses", t);
    }
    cr_assert_eq(ok, 100);
    cr_assert_eq(insufficient, 8 * 40 - 100);
    stock_probe p = stock_of(shards, "wh-race", "SKU-R");
    cr_assert_eq(p.view.available, 0);
    cr_assert_eq(p.view.reserved, 100);
    st_shards_destroy(shards);
}

typedef struct order_log {
    atomic_int count;    // slots claimed
    atomic_int finished; // slots written
    int order[512];
} order_log;

typedef struct order_ctx {
    order_log *log;
    int id;
    st_shards_req req;
    st_event event;
    st_err status;
} order_ctx;

static void
order_done_cb(void *arg)
{
    order_ctx *ctx = arg;
    int slot = atomic_fetch_add(&ctx->log->count, 1);
    ctx->log->order[slot] = ctx->id;
    atomic_fetch_add(&ctx->log->finished, 1);
}

Test(shards, one_worker_releases_in_submission_order)
{
    enum { N = 500 };
    st_shards *shards = shards_new(2, 0, NULL, NULL);
    setup_warehouse(shards, "wh-order");
    st_event product = ev_product("SKU-O", 0);
    cr_assert_eq(submit1(shards, &product), ST_OK);
    order_log *log = calloc(1, sizeof(*log));
    order_ctx *ctx = calloc(N, sizeof(*ctx));
    for (int i = 0; i < N; i++) {
        ctx[i].log = log;
        ctx[i].id = i;
        ctx[i].event = ev_receive("wh-order", "z1", "SKU-O", 1);
        st_shards_submit(shards, &ctx[i].req, &ctx[i].event, &ctx[i].status, 1, order_done_cb,
                         &ctx[i]);
    }
    for (int i = 0; i < WAIT_MS && atomic_load(&log->finished) < N; i++)
        sleep_ms(1);
    cr_assert_eq(atomic_load(&log->finished), N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(log->order[i], i, "release %d was request %d", i, log->order[i]);
        cr_assert_eq(ctx[i].status, ST_OK);
    }
    cr_assert_eq(stock_of(shards, "wh-order", "SKU-O").view.on_hand, N);
    free(ctx);
    free(log);
    st_shards_destroy(shards);
}

Test(shards, destroy_completes_jobs_in_flight)
{
    st_shards *shards = shards_new(2, 8, NULL, NULL);
    setup_warehouse(shards, "wh-stop");
    st_event product = ev_product("SKU-S", 0);
    cr_assert_eq(submit1(shards, &product), ST_OK);
    waiter wb;
    waiter_init(&wb);
    blocker blk = {.hold_ms = 300};
    st_shards_req *block_req = req_new();
    st_shards_query(shards, block_req, "wh-stop", blocker_cb, &blk, waiter_done_cb, &wb);
    blocker_wait_entered(&blk);

    // Behind the blocked worker: three receives, a catalog event, a scatter query.
    waiter wd;
    waiter_init(&wd);
    st_shards_req *reqs[5];
    st_event events[4] = {ev_receive("wh-stop", "z1", "SKU-S", 1),
                          ev_receive("wh-stop", "z1", "SKU-S", 1),
                          ev_receive("wh-stop", "z1", "SKU-S", 1), ev_product("SKU-S2", 0)};
    st_err statuses[4];
    for (int i = 0; i < 4; i++) {
        reqs[i] = req_new();
        st_shards_submit(shards, reqs[i], &events[i], &statuses[i], 1, waiter_done_cb, &wd);
    }
    catalog_probe probe = {0};
    reqs[4] = req_new();
    st_shards_query(shards, reqs[4], NULL, catalog_query_cb, &probe, waiter_done_cb, &wd);
    cr_assert_eq(waiter_count(&wd), 0);

    st_shards_destroy(shards);
    cr_assert_eq(waiter_count(&wb), 1);
    cr_assert_eq(waiter_count(&wd), 5, "every request completed exactly once");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(statuses[i], ST_UNAVAILABLE, "event %d: %s", i, st_err_str(statuses[i]));
    cr_assert_eq(reqs[4]->status, ST_UNAVAILABLE);
    for (int i = 0; i < 5; i++)
        free(reqs[i]);
    free(block_req);
}

typedef struct feed_log {
    pthread_mutex_t lock;
    int low_stock;
    int changes;
    int64_t last_reserved;
    int64_t last_on_hand;
    bool bad_worker;
} feed_log;

static void
feed_cb(void *arg, const st_feed_batch *batch)
{
    feed_log *log = arg;
    pthread_mutex_lock(&log->lock);
    if (batch->worker >= 2)
        log->bad_worker = true;
    for (uint32_t i = 0; i < batch->alert_count; i++) {
        const st_alert *a = &batch->alerts[i];
        if (a->kind == ST_ALERT_LOW_STOCK && strcmp(a->warehouse, "wh-feed") == 0 &&
            strcmp(a->sku, "SKU-F") == 0 && a->expected == 10 && a->actual == 5)
            log->low_stock++;
    }
    for (uint32_t i = 0; i < batch->change_count; i++) {
        const st_change *c = &batch->changes[i];
        if (strcmp(c->warehouse, "wh-feed") == 0 && strcmp(c->sku, "SKU-F") == 0) {
            log->changes++;
            log->last_reserved = c->reserved;
            log->last_on_hand = c->on_hand;
        }
    }
    pthread_mutex_unlock(&log->lock);
}

Test(shards, feed_publishes_alerts_and_changes)
{
    feed_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    st_shards *shards = shards_new(2, 0, feed_cb, &log);
    setup_warehouse(shards, "wh-feed");
    st_event events[3] = {ev_product("SKU-F", 10), ev_receive("wh-feed", "z1", "SKU-F", 20),
                          ev_reserve("wh-feed", "order-1", "SKU-F", 15)};
    st_err statuses[3];
    free(submit_wait(shards, events, statuses, 3));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(statuses[i], ST_OK, "event %d: %s", i, st_err_str(statuses[i]));
    bool seen = false;
    for (int i = 0; i < WAIT_MS && !seen; i++) {
        pthread_mutex_lock(&log.lock);
        seen = log.low_stock == 1 && log.changes == 2;
        pthread_mutex_unlock(&log.lock);
        if (!seen)
            sleep_ms(1);
    }
    st_shards_destroy(shards); // feed_cb has run for the last time
    cr_assert(seen, "low stock %d, changes %d", log.low_stock, log.changes);
    cr_assert_eq(log.last_on_hand, 20);
    cr_assert_eq(log.last_reserved, 15);
    cr_assert(!log.bad_worker);
}

// Finds warehouse ids "<prefix>-<n>" on `count` distinct workers.
static void
distinct_warehouses(st_shards *shards, const char *prefix, uint32_t count, char ids[][32])
{
    uint64_t used = 0;
    uint32_t found = 0;
    for (int i = 0; i < 10000 && found < count; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        uint32_t w = st_shards_route(shards, id);
        if ((used & (1ull << w)) == 0) {
            used |= 1ull << w;
            memcpy(ids[found++], id, sizeof(id));
        }
    }
    cr_assert_eq(found, count, "not enough distinct workers");
}

// Two senders flood one blocked destination with dispatches: each sender's
// outbox pool runs dry (further transfers get ST_BUSY, nothing grows), the
// destination's inbox fills (messages wait on the sender's pending list),
// and once the destination runs again every accepted dispatch arrives.
Test(shards, outbox_is_bounded_and_loses_nothing)
{
    enum { N = 1500 };
    st_shards *shards = shards_new(3, 0, NULL, NULL);
    char ids[3][32];
    distinct_warehouses(shards, "wh-flood", 3, ids);
    const char *dst = ids[2];
    st_event product = ev_product("SKU-X", 0);
    cr_assert_eq(submit1(shards, &product), ST_OK);
    for (int i = 0; i < 3; i++)
        setup_warehouse(shards, ids[i]);
    for (int s = 0; s < 2; s++) {
        st_event receive = ev_receive(ids[s], "z1", "SKU-X", N);
        cr_assert_eq(submit1(shards, &receive), ST_OK);
    }
    waiter wb;
    waiter_init(&wb);
    blocker blk = {0};
    st_shards_req *block_req = req_new();
    st_shards_query(shards, block_req, dst, blocker_cb, &blk, waiter_done_cb, &wb);
    blocker_wait_entered(&blk);

    static char xfer_ids[2][N][32];
    st_event *events = calloc(2 * N, sizeof(*events));
    st_err *statuses = calloc(2 * N, sizeof(*statuses));
    waiter wd;
    waiter_init(&wd);
    st_shards_req *reqs[2];
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < N; i++) {
            snprintf(xfer_ids[s][i], 32, "t-%d-%d", s, i);
            events[s * N + i] = ev_dispatch(ids[s], dst, xfer_ids[s][i], "SKU-X", 1);
        }
        reqs[s] = req_new();
        st_shards_submit(shards, reqs[s], &events[s * N], &statuses[s * N], N, waiter_done_cb, &wd);
    }
    waiter_wait(&wd, 2);
    int ok = 0, busy = 0;
    for (int i = 0; i < 2 * N; i++) {
        if (statuses[i] == ST_OK)
            ok++;
        else if (statuses[i] == ST_BUSY)
            busy++;
    }
    cr_assert_eq(ok + busy, 2 * N, "only OK or BUSY");
    cr_assert(busy > 0 && ok > 0, "the pools bound the outbox (ok %d, busy %d)", ok, busy);

    atomic_store(&blk.release, 1);
    waiter_wait(&wb, 1);
    stock_poll(shards, dst, "SKU-X", inbound_is, ok);
    for (int s = 0; s < 2; s++) {
        stock_probe p = stock_of(shards, ids[s], "SKU-X");
        cr_assert_eq(p.view.in_transit_out + p.view.on_hand, N, "a transfer moves, never makes");
    }
    // With the destination running, the pools refill and a refused transfer goes through.
    st_event retry = ev_dispatch(ids[0], dst, "t-retry", "SKU-X", 1);
    cr_assert_eq(submit1(shards, &retry), ST_OK);
    stock_poll(shards, dst, "SKU-X", inbound_is, ok + 1);
    for (int s = 0; s < 2; s++)
        free(reqs[s]);
    free(block_req);
    free(events);
    free(statuses);
    st_shards_destroy(shards);
}

typedef struct stats_probe {
    st_shards_worker_info info[ST_SHARDS_WORKERS_MAX];
} stats_probe;

static void
stats_query_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    (void)state;
    ((stats_probe *)arg)->info[info->worker] = *info;
}

Test(shards, worker_counters_add_up)
{
    st_shards *shards = shards_new(4, 0, NULL, NULL);
    setup_warehouse(shards, "wh-stats"); // 2 accepted
    st_event events[4] = {ev_product("SKU-Z", 0), ev_receive("wh-stats", "z1", "SKU-Z", 5),
                          ev_receive("wh-stats", "z1", "SKU-NONE", 5),
                          ev_receive("wh-stats", "z1", "SKU-Z", 5)};
    st_err statuses[4];
    free(submit_wait(shards, events, statuses, 4));
    events[3].seq = events[1].seq; // the same (source, seq) again
    cr_assert_eq(submit1(shards, &events[3]), ST_DUPLICATE);
    stats_probe p;
    memset(&p, 0, sizeof(p));
    cr_assert_eq(query_wait(shards, NULL, stats_query_cb, &p), ST_OK);
    uint64_t accepted = 0, rejected = 0, duplicate = 0, queries = 0;
    for (uint32_t w = 0; w < 4; w++) {
        cr_assert_eq(p.info[w].worker, w);
        cr_assert_eq(p.info[w].queue_capacity, 1023);
        accepted += p.info[w].events_accepted;
        rejected += p.info[w].events_rejected;
        duplicate += p.info[w].events_duplicate;
        queries += p.info[w].queries;
    }
    cr_assert_eq(accepted, 2 + 4 + 2, "warehouse+zone, product on 4 workers, 2 receives");
    cr_assert_eq(rejected, 1);
    cr_assert_eq(duplicate, 1);
    cr_assert_eq(queries, 4, "the scatter query counts on each worker");
    st_shards_destroy(shards);
}
