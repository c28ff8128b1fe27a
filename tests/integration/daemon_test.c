// daemon_test.c - the real stocktwind, driven through libstocktwin and raw
// nng sockets: the twin graph end to end, exactly-once across connections,
// the feed, fire-and-forget ingest, transfers between workers, and bad input
// that must neither crash the daemon nor disturb other clients.
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "harness.h"

static it_daemon daemon_;
static st_client *client_;

static void
start(void)
{
    it_daemon_start(&daemon_, 2);
    client_ = it_client(&daemon_);
    it_setup_network(client_);
}

static void
stop(void)
{
    st_client_close(client_);
    client_ = NULL;
    it_daemon_stop(&daemon_);
}

TestSuite(integration, .init = start, .fini = stop, .timeout = 120);

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(integration, inventory_sku_twin_and_stats)
{
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_inventory(client_, "wh-a", false, 0, 0, &r), 0);
    cr_assert_eq(r->result_case, STOCKTWIN__RESPONSE__RESULT_INVENTORY);
    cr_assert_eq(r->inventory->n_lines, 1);
    Stocktwin__InventoryLine *line = r->inventory->lines[0];
    cr_assert_str_eq(line->sku, "SKU-1");
    cr_assert_str_eq(line->name, "Widget");
    cr_assert_eq(line->on_hand, 100);
    cr_assert_eq(line->available, 100);
    cr_assert_eq(line->reorder_point, 10);
    cr_assert(!line->below_reorder);
    cr_assert_eq(line->n_locations, 1);
    cr_assert_str_eq(line->locations[0]->zone, "stor");
    cr_assert_eq(line->locations[0]->qty, 100);
    st_client_response_free(r);

    cr_assert_eq(st_client_twin(client_, "s1", "wh-a", &r), 0);
    cr_assert_eq(r->twin->kind, STOCKTWIN__TWIN_KIND__TWIN_SHELF);
    st_client_response_free(r);
    cr_assert_eq(st_client_twin(client_, "SKU-1", NULL, &r), 0);
    cr_assert_eq(r->twin->kind, STOCKTWIN__TWIN_KIND__TWIN_PRODUCT);
    st_client_response_free(r);
    cr_assert_eq(st_client_twin(client_, "no-such-twin", NULL, &r), STOCKTWIN__STATUS__STATUS_NOT_FOUND);
    st_client_response_free(r);

    cr_assert_eq(st_client_stats(client_, &r), 0);
    cr_assert_eq(r->stats->n_workers, 2);
    uint64_t accepted = 0;
    for (size_t i = 0; i < r->stats->n_workers; i++)
        accepted += r->stats->workers[i]->events_accepted;
    cr_assert_geq(accepted, 11, "the setup's events are counted (%lu)", (unsigned long)accepted);
    cr_assert_eq(r->stats->products, 2);
    st_client_response_free(r);
}

Test(integration, reservations_and_low_stock_alert)
{
    cr_assert_eq(it_send_one(client_, "{\"source\":\"erp\",\"seq\":1,\"warehouse\":\"wh-a\","
                                      "\"reserve\":{\"order_id\":\"o-1\",\"sku\":\"SKU-1\",\"qty\":95}}"),
                 STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_eq(it_send_one(client_, "{\"source\":\"erp\",\"seq\":2,\"warehouse\":\"wh-a\","
                                      "\"reserve\":{\"order_id\":\"o-2\",\"sku\":\"SKU-1\",\"qty\":6}}"),
                 STOCKTWIN__STATUS__STATUS_INSUFFICIENT_STOCK);
    Stocktwin__SkuWarehouse s;
    cr_assert(it_stock(client_, "wh-a", "SKU-1", &s));
    cr_assert_eq(s.reserved, 95);
    cr_assert_eq(s.available, 5);
    cr_assert(s.below_reorder);

    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_alerts(client_, "wh-a", 0, &r), 0);
    bool low = false;
    for (size_t i = 0; i < r->alerts->n_alerts; i++)
        low |= r->alerts->alerts[i]->kind == STOCKTWIN__ALERT_KIND__LOW_STOCK &&
               strcmp(r->alerts->alerts[i]->sku, "SKU-1") == 0;
    cr_assert(low, "a LOW_STOCK alert for SKU-1 is listed");
    st_client_response_free(r);

    cr_assert_eq(it_send_one(client_, "{\"source\":\"erp\",\"seq\":3,\"warehouse\":\"wh-a\","
                                      "\"fulfil\":{\"order_id\":\"o-1\",\"sku\":\"SKU-1\"}}"),
                 STOCKTWIN__STATUS__STATUS_OK);
    cr_assert(it_stock(client_, "wh-a", "SKU-1", &s));
    cr_assert_eq(s.on_hand, 5);
    cr_assert_eq(s.reserved, 0);
}

// The same batch twice, on one connection and then on another: the second and
// third sendings are all duplicates and change nothing.
Test(integration, same_batch_twice_changes_nothing)
{
    char buf[20][256];
    const char *json[20];
    for (int i = 0; i < 20; i++) {
        snprintf(buf[i], sizeof buf[i],
                 "{\"source\":\"scanner-7\",\"seq\":%d,\"warehouse\":\"wh-a\",\"movement\":"
                 "{\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":%d,\"to_location\":\"recv\"}}",
                 i + 1, i + 1);
        json[i] = buf[i];
    }
    Stocktwin__Response *r = it_send_json(client_, json, 20);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(r->statuses[i]->status, STOCKTWIN__STATUS__STATUS_OK);
    st_client_response_free(r);
    Stocktwin__SkuWarehouse before;
    cr_assert(it_stock(client_, "wh-a", "SKU-2", &before));
    cr_assert_eq(before.on_hand, 210);

    st_client *other = it_client(&daemon_);
    st_client *clients[2] = {client_, other};
    for (int k = 0; k < 2; k++) {
        r = it_send_json(clients[k], json, 20);
        for (int i = 0; i < 20; i++)
            cr_assert_eq(r->statuses[i]->status, STOCKTWIN__STATUS__STATUS_DUPLICATE);
        st_client_response_free(r);
    }
    st_client_close(other);
    Stocktwin__SkuWarehouse after;
    cr_assert(it_stock(client_, "wh-a", "SKU-2", &after));
    cr_assert_eq(after.on_hand, before.on_hand);
}

struct racer {
    const it_daemon *d;
    int id;
    int ok;
    int insufficient;
    int other;
};

static void *
race(void *arg)
{
    struct racer *rc = arg;
    st_client *c = it_client(rc->d);
    for (int i = 0; i < 25; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"source\":\"racer-%d\",\"seq\":%d,\"warehouse\":\"wh-a\",\"reserve\":"
                 "{\"order_id\":\"ord-%d-%d\",\"sku\":\"SKU-1\",\"qty\":1}}",
                 rc->id, i + 1, rc->id, i);
        int st = it_send_one(c, json);
        if (st == STOCKTWIN__STATUS__STATUS_OK)
            rc->ok++;
        else if (st == STOCKTWIN__STATUS__STATUS_INSUFFICIENT_STOCK)
            rc->insufficient++;
        else
            rc->other++;
    }
    st_client_close(c);
    return NULL;
}

// 8 clients over real sockets race for the last 100 units, one at a time:
// exactly 100 win, nobody oversells.
Test(integration, eight_clients_race_for_the_last_hundred)
{
    pthread_t t[8];
    struct racer rc[8];
    for (int i = 0; i < 8; i++) {
        rc[i] = (struct racer){.d = &daemon_, .id = i};
        cr_assert_eq(pthread_create(&t[i], NULL, race, &rc[i]), 0);
    }
    int ok = 0, insufficient = 0, other = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += rc[i].ok;
        insufficient += rc[i].insufficient;
        other += rc[i].other;
    }
    cr_assert_eq(other, 0);
    cr_assert_eq(ok, 100, "exactly 100 reservations succeed, not %d", ok);
    cr_assert_eq(insufficient, 100);
    Stocktwin__SkuWarehouse s;
    cr_assert(it_stock(client_, "wh-a", "SKU-1", &s));
    cr_assert_eq(s.available, 0);
    cr_assert_eq(s.reserved, 100);
}

// A warehouse of 30,000 skus with long names: its inventory comes back page
// by page, every line exactly once with its quantities and locations, the
// filter and offsets agree, and one page of all of it (over 4 MiB) is refused
// with TOO_LARGE instead of being cut.
enum { BULK = 30000, BULK_BATCH = 1000 };

static void
bulk_submit(Stocktwin__Event **ptrs, size_t n)
{
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_submit(client_, ptrs, n, &r), 0, "%s", st_client_last_error(client_));
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(r->statuses[i]->status, STOCKTWIN__STATUS__STATUS_OK, "%s",
                     r->statuses[i]->message);
    st_client_response_free(r);
}

static int64_t
bulk_qty(uint32_t i)
{
    return (int64_t)(i % 7) + 1;
}

typedef struct each_state {
    char (*skus)[16];
    uint8_t *seen;
    uint32_t offset, n;
} each_state;

static bool
each_line(void *arg, const st_inventory_line *l)
{
    each_state *es = arg;
    uint32_t i = es->offset++;
    cr_assert_lt(i, BULK);
    cr_assert_str_eq(l->sku, es->skus[i]);
    int64_t want = bulk_qty(i) + (i % 3 == 0);
    cr_assert_eq(l->on_hand, want, "%s", l->sku);
    cr_assert_eq(l->below_reorder, want <= 3);
    cr_assert_eq(l->n_locations, i % 3 == 0 ? 2u : 1u);
    cr_assert_str_eq(l->locations[0].zone, "stor");
    cr_assert_str_eq(l->locations[0].shelf, "");
    cr_assert_eq(l->locations[0].qty, bulk_qty(i));
    es->seen[i]++;
    es->n++;
    return true;
}

Test(integration, large_inventory_pages_every_line_once)
{
    static char skus[BULK][16];
    static char name[121];
    memset(name, 'w', sizeof name - 1);
    static Stocktwin__Event ev[BULK_BATCH];
    static Stocktwin__Event *ptrs[BULK_BATCH];
    static Stocktwin__ProductUpsert pu[BULK_BATCH];
    static Stocktwin__StockMovement mv[BULK_BATCH];
    uint64_t seq = 1;
    for (int pass = 0; pass < 3; pass++) { // products, stor, then recv for every third
        size_t n = 0;
        for (uint32_t i = 0; i < BULK; i++) {
            if (pass == 2 && i % 3 != 0)
                continue;
            snprintf(skus[i], sizeof skus[i], "BULK-%06u", i);
            stocktwin__event__init(&ev[n]);
            ev[n].source = "bulk";
            ev[n].seq = seq++;
            ev[n].event_time_ms = 1000;
            if (pass == 0) {
                stocktwin__product_upsert__init(&pu[n]);
                pu[n].sku = skus[i];
                pu[n].name = name;
                pu[n].reorder_point = 3;
                ev[n].kind_case = STOCKTWIN__EVENT__KIND_PRODUCT_UPSERT;
                ev[n].product_upsert = &pu[n];
            } else {
                stocktwin__stock_movement__init(&mv[n]);
                mv[n].kind = STOCKTWIN__MOVEMENT_KIND__RECEIVE;
                mv[n].sku = skus[i];
                mv[n].qty = pass == 1 ? bulk_qty(i) : 1;
                mv[n].to_location = pass == 1 ? "stor" : "recv";
                ev[n].warehouse = "wh-c";
                ev[n].kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
                ev[n].movement = &mv[n];
            }
            ptrs[n] = &ev[n];
            if (++n == BULK_BATCH) {
                bulk_submit(ptrs, n);
                n = 0;
            }
        }
        if (n)
            bulk_submit(ptrs, n);
    }

    // Pages of 7,000: every sku once, in the order wh-c first saw them.
    static uint8_t seen[BULK];
    uint32_t offset = 0, pages = 0, low = 0;
    for (;;) {
        Stocktwin__Response *r = NULL;
        cr_assert_eq(st_client_inventory(client_, "wh-c", false, offset, 7000, &r), 0, "%s",
                     st_client_last_error(client_));
        cr_assert_eq(r->inventory->total_skus, BULK);
        if (r->inventory->n_lines == 0) {
            st_client_response_free(r);
            break;
        }
        for (size_t k = 0; k < r->inventory->n_lines; k++) {
            const Stocktwin__InventoryLine *l = r->inventory->lines[k];
            uint32_t i = offset + (uint32_t)k;
            cr_assert_str_eq(l->sku, skus[i], "line %u", i);
            cr_assert_str_eq(l->name, name);
            seen[i]++;
            int64_t want = bulk_qty(i) + (i % 3 == 0);
            cr_assert_eq(l->on_hand, want, "%s", l->sku);
            cr_assert_eq(l->available, want);
            cr_assert_eq(l->reorder_point, 3);
            cr_assert_eq(l->below_reorder, want <= 3);
            low += want <= 3;
            cr_assert_eq(l->n_locations, i % 3 == 0 ? 2u : 1u, "%s", l->sku);
            cr_assert_str_eq(l->locations[0]->zone, "stor");
            cr_assert_eq(l->locations[0]->qty, bulk_qty(i));
        }
        offset += (uint32_t)r->inventory->n_lines;
        pages++;
        st_client_response_free(r);
    }
    cr_assert_eq(offset, BULK);
    cr_assert_eq(pages, (BULK + 6999) / 7000);
    for (uint32_t i = 0; i < BULK; i++)
        cr_assert_eq(seen[i], 1, "%s seen %u times", skus[i], seen[i]);

    // The same pages line by line (st_client_inventory_each): the same skus,
    // quantities and locations as the decoded replies.
    memset(seen, 0, sizeof seen);
    each_state es = {.skus = skus, .seen = seen};
    for (offset = 0;;) {
        uint32_t total = 0, lines = 0;
        es.offset = offset;
        cr_assert_eq(st_client_inventory_each(client_, "wh-c", false, offset, 7000, each_line, &es,
                                              &total, &lines),
                     0, "%s", st_client_last_error(client_));
        cr_assert_eq(total, BULK);
        if (lines == 0)
            break;
        offset += lines;
    }
    cr_assert_eq(es.n, BULK);
    for (uint32_t i = 0; i < BULK; i++)
        cr_assert_eq(seen[i], 1, "%s seen %u times line by line", skus[i], seen[i]);

    // The whole warehouse with the next page asked for while one is decoded
    // (st_client_inventory_all): every line once and in order, in many pages
    // or two, whether they divide the total or not.
    const uint32_t page_sizes[] = {7000, 3001, 16000, BULK / 3};
    for (size_t k = 0; k < sizeof page_sizes / sizeof page_sizes[0]; k++) {
        memset(seen, 0, sizeof seen);
        es = (each_state){.skus = skus, .seen = seen};
        uint32_t total = 0, lines = 0;
        cr_assert_eq(st_client_inventory_all(client_, "wh-c", false, page_sizes[k], each_line, &es,
                                             &total, &lines),
                     0, "%s", st_client_last_error(client_));
        cr_assert_eq(total, BULK);
        cr_assert_eq(lines, BULK, "pages of %u", page_sizes[k]);
        cr_assert_eq(es.n, BULK);
        for (uint32_t i = 0; i < BULK; i++)
            cr_assert_eq(seen[i], 1, "%s seen %u times in pages of %u", skus[i], seen[i],
                         page_sizes[k]);
    }
    uint32_t none = 1;
    cr_assert_eq(
        st_client_inventory_all(client_, "no-such-wh", false, 7000, each_line, &es, NULL, &none),
        STOCKTWIN__STATUS__STATUS_UNKNOWN_WAREHOUSE, "%s", st_client_last_error(client_));
    cr_assert_eq(none, 0);

    // The filter counts the low lines; an offset into them skips matches only.
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_inventory(client_, "wh-c", true, 0, 100000, &r), 0);
    cr_assert_eq(r->inventory->total_skus, low);
    cr_assert_eq(r->inventory->n_lines, low);
    char second[16];
    snprintf(second, sizeof second, "%s", r->inventory->lines[1]->sku);
    st_client_response_free(r);
    cr_assert_eq(st_client_inventory(client_, "wh-c", true, 1, 1, &r), 0);
    cr_assert_eq(r->inventory->n_lines, 1);
    cr_assert_str_eq(r->inventory->lines[0]->sku, second);
    st_client_response_free(r);

    // All of it in one page is over 4 MiB: refused, not cut, and it says so.
    cr_assert_eq(st_client_inventory(client_, "wh-c", false, 0, 100000, &r),
                 STOCKTWIN__STATUS__STATUS_TOO_LARGE);
    cr_assert(strstr(r->message, "limit") != NULL, "%s", r->message);
    st_client_response_free(r);
}

Test(integration, feed_publishes_low_stock_alert)
{
    st_sub *sub = NULL;
    cr_assert_eq(st_sub_open(daemon_.feed, "alert/", &sub), 0);
    bool seen = false;
    // A subscription takes a moment to reach the publisher, and LOW_STOCK is
    // edge-triggered: reserve (fires) and release (re-arms) until one arrives.
    for (int round = 0; round < 20 && !seen; round++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"source\":\"erp\",\"seq\":%d,\"warehouse\":\"wh-a\",\"reserve\":"
                 "{\"order_id\":\"feed\",\"sku\":\"SKU-1\",\"qty\":95}}", 2 * round + 1);
        cr_assert_eq(it_send_one(client_, json), STOCKTWIN__STATUS__STATUS_OK);
        char *topic = NULL;
        Stocktwin__FeedMessage *m = NULL;
        while (!seen && st_sub_recv(sub, 250, &topic, &m) == 0) {
            if (m->body_case == STOCKTWIN__FEED_MESSAGE__BODY_ALERT &&
                m->alert->kind == STOCKTWIN__ALERT_KIND__LOW_STOCK) {
                cr_assert_str_eq(topic, "alert/wh-a/LOW_STOCK");
                cr_assert_str_eq(m->alert->sku, "SKU-1");
                cr_assert_eq(m->alert->actual, 5);
                seen = true;
            }
            free(topic);
            st_feed_message_free(m);
        }
        snprintf(json, sizeof json,
                 "{\"source\":\"erp\",\"seq\":%d,\"warehouse\":\"wh-a\",\"release\":"
                 "{\"order_id\":\"feed\",\"sku\":\"SKU-1\"}}", 2 * round + 2);
        cr_assert_eq(it_send_one(client_, json), STOCKTWIN__STATUS__STATUS_OK);
    }
    it_sub_close(sub);
    cr_assert(seen, "a LOW_STOCK alert arrived on the feed");
}

Test(integration, ingest_push_applies_batches)
{
    st_push *p = NULL;
    cr_assert_eq(st_push_open(daemon_.ingest, NULL, &p), 0);
    Stocktwin__Event *e = NULL;
    cr_assert_eq(st_event_from_json("{\"source\":\"gw\",\"seq\":1,\"warehouse\":\"wh-c\",\"movement\":"
                                    "{\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":7,"
                                    "\"to_location\":\"recv\"}}", &e), 0);
    cr_assert_eq(st_push_send(p, &e, 1), 0);
    st_event_free(e);
    Stocktwin__SkuWarehouse s = {0};
    bool found = false;
    for (int i = 0; i < 100 && !(found && s.on_hand == 7); i++) {
        sleep_ms(50);
        found = it_stock(client_, "wh-c", "SKU-2", &s);
    }
    st_push_close(p);
    cr_assert(found && s.on_hand == 7, "the pushed receipt was applied");
}

static unsigned
worker_of(const char *warehouse)
{
    return (unsigned)(XXH3_64bits(warehouse, strlen(warehouse)) % 2);
}

// wh-a and wh-c are chosen to live on different workers, so the transfer's
// halves cross workers through the outbox.
Test(integration, transfer_between_workers_exactly_once)
{
    cr_assert_neq(worker_of("wh-a"), worker_of("wh-c"), "the test needs two workers in play");
    cr_assert_eq(it_send_one(client_, "{\"source\":\"tms\",\"seq\":1,\"warehouse\":\"wh-a\","
                                      "\"transfer_dispatch\":{\"transfer_id\":\"t-1\",\"to_warehouse\":"
                                      "\"wh-c\",\"sku\":\"SKU-1\",\"qty\":10}}"),
                 STOCKTWIN__STATUS__STATUS_OK);
    Stocktwin__SkuWarehouse a, b = {0};
    cr_assert(it_stock(client_, "wh-a", "SKU-1", &a));
    cr_assert_eq(a.on_hand, 90);
    cr_assert_eq(a.in_transit_out, 10);
    for (int i = 0; i < 250 && !(it_stock(client_, "wh-c", "SKU-1", &b) && b.inbound == 10); i++)
        sleep_ms(20);
    cr_assert_eq(b.inbound, 10, "the destination learned of the dispatch");
    cr_assert_eq(it_send_one(client_, "{\"source\":\"wms-c\",\"seq\":1,\"warehouse\":\"wh-c\","
                                      "\"transfer_receive\":{\"transfer_id\":\"t-1\"}}"),
                 STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_eq(it_send_one(client_, "{\"source\":\"wms-c\",\"seq\":2,\"warehouse\":\"wh-c\","
                                      "\"transfer_receive\":{\"transfer_id\":\"t-1\"}}"),
                 STOCKTWIN__STATUS__STATUS_CONFLICT);
    for (int i = 0; i < 100 && a.in_transit_out != 0; i++) {
        sleep_ms(20);
        cr_assert(it_stock(client_, "wh-a", "SKU-1", &a));
    }
    cr_assert(it_stock(client_, "wh-c", "SKU-1", &b));
    cr_assert_eq(a.in_transit_out, 0);
    cr_assert_eq(b.on_hand, 10);
    cr_assert_eq(b.inbound, 0);
    cr_assert_eq(a.on_hand + b.on_hand, 100, "a transfer creates and destroys nothing");
    cr_assert_eq(it_send_one(client_, "{\"source\":\"tms\",\"seq\":2,\"warehouse\":\"wh-a\","
                                      "\"transfer_dispatch\":{\"transfer_id\":\"t-2\",\"to_warehouse\":"
                                      "\"wh-nowhere\",\"sku\":\"SKU-1\",\"qty\":1}}"),
                 STOCKTWIN__STATUS__STATUS_UNKNOWN_WAREHOUSE);
}

// raw_request sends bytes on a raw REQ socket and decodes the reply.
static Stocktwin__Response *
raw_request(const void *bytes, size_t len)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000), 0);
    cr_assert_eq(nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u << 20), 0);
    cr_assert_eq(nng_dial(s, daemon_.rpc, NULL, 0), 0);
    cr_assert_eq(nng_send(s, (void *)bytes, len, 0), 0);
    void *buf = NULL;
    size_t got = 0;
    int rv = nng_recv(s, &buf, &got, NNG_FLAG_ALLOC);
    cr_assert_eq(rv, 0, "the daemon answered: %s", nng_strerror(rv));
    Stocktwin__Response *r = stocktwin__response__unpack(NULL, got, buf);
    cr_assert(r != NULL, "the reply is a valid Response");
    nng_free(buf, got);
    nng_close(s);
    return r;
}

static Stocktwin__Response *
raw_pack(const Stocktwin__Request *req)
{
    size_t len = stocktwin__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    stocktwin__request__pack(req, buf);
    Stocktwin__Response *r = raw_request(buf, len);
    free(buf);
    return r;
}

Test(integration, bad_input_gets_clear_errors_and_the_daemon_stays_up)
{
    static const char garbage[] = "\xff\xff\xff\xff this is not protobuf";
    Stocktwin__Response *r = raw_request(garbage, sizeof garbage);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert(strlen(r->message) > 0, "the error says why");
    stocktwin__response__free_unpacked(r, NULL);

    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    Stocktwin__StatsQuery sq = STOCKTWIN__STATS_QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_STATS;
    q.stats = &sq;
    req.body_case = STOCKTWIN__REQUEST__BODY_QUERY;
    req.query = &q;
    req.version = 2;
    r = raw_pack(&req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_BAD_VERSION);
    stocktwin__response__free_unpacked(r, NULL);

    // 4097 events: one over the limit.
    enum { N = 4097 };
    static Stocktwin__Event events[N];
    static Stocktwin__Event *ptrs[N];
    static Stocktwin__Release rel = STOCKTWIN__RELEASE__INIT;
    for (int i = 0; i < N; i++) {
        events[i] = (Stocktwin__Event)STOCKTWIN__EVENT__INIT;
        events[i].source = "x";
        events[i].seq = (uint64_t)i + 1;
        events[i].warehouse = "wh-a";
        events[i].kind_case = STOCKTWIN__EVENT__KIND_RELEASE;
        events[i].release = &rel;
        ptrs[i] = &events[i];
    }
    Stocktwin__EventBatch batch = STOCKTWIN__EVENT_BATCH__INIT;
    batch.n_events = N;
    batch.events = ptrs;
    req.version = 1;
    req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    req.batch = &batch;
    r = raw_pack(&req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_TOO_LARGE);
    stocktwin__response__free_unpacked(r, NULL);

    // An event without a kind, and a negative quantity: per-event errors.
    Stocktwin__StockMovement mv = STOCKTWIN__STOCK_MOVEMENT__INIT;
    mv.kind = STOCKTWIN__MOVEMENT_KIND__RECEIVE;
    mv.sku = "SKU-1";
    mv.qty = -5;
    mv.to_location = "stor";
    events[0].kind_case = STOCKTWIN__EVENT__KIND__NOT_SET;
    events[1].kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
    events[1].movement = &mv;
    batch.n_events = 2;
    r = raw_pack(&req);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_eq(r->n_statuses, 2);
    cr_assert_eq(r->statuses[0]->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    cr_assert_eq(r->statuses[1]->status, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    cr_assert(strlen(r->statuses[1]->message) > 0);
    stocktwin__response__free_unpacked(r, NULL);

    // A message over 4 MiB is refused as a whole, with a reply saying so.
    size_t big = 4u * 1024u * 1024u + 4096u;
    char *huge = calloc(1, big);
    cr_assert(huge != NULL);
    r = raw_request(huge, big);
    cr_assert_eq(r->status, STOCKTWIN__STATUS__STATUS_TOO_LARGE);
    cr_assert(strstr(r->message, "bytes") != NULL, "the error names the size: %s", r->message);
    stocktwin__response__free_unpacked(r, NULL);
    free(huge);

    // Other clients never noticed.
    Stocktwin__SkuWarehouse s;
    cr_assert(it_stock(client_, "wh-a", "SKU-1", &s));
    cr_assert_eq(s.on_hand, 100);
}

// Timers end to end (--tick, --device-silent): a reservation expires by
// itself, a silent device and a late purchase order are listed once each,
// and after a kill -9 the log gives them all back, still once each.
static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
timer_alerts(st_client *c, int *silent, int *delayed)
{
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_alerts(c, "wh-a", 0, &r), 0);
    *silent = *delayed = 0;
    for (size_t i = 0; i < r->alerts->n_alerts; i++) {
        const Stocktwin__Alert *a = r->alerts->alerts[i];
        *silent +=
            a->kind == STOCKTWIN__ALERT_KIND__DEVICE_SILENT && strcmp(a->device, "scan-t") == 0;
        *delayed += a->kind == STOCKTWIN__ALERT_KIND__SHIPMENT_DELAYED &&
                    strcmp(a->sku, "SKU-2") == 0 && strcmp(a->order, "po-t") == 0;
    }
    st_client_response_free(r);
}

TestSuite(timers, .timeout = 120);

Test(timers, expiry_and_timer_alerts_come_once_and_survive_a_kill9)
{
    char data[] = "/tmp/stocktwin-timers-XXXXXX";
    cr_assert(mkdtemp(data) != NULL);
    static const char *const flags[] = {"--tick", "50", "--device-silent", "400", NULL};
    it_daemon d;
    it_daemon_start_flags(&d, 2, data, flags);
    st_client *c = it_client(&d);
    it_setup_network(c);
    int64_t now = wall_ms();
    char json[512];
    snprintf(json, sizeof json,
             "{\"source\":\"t\",\"seq\":1,\"event_time_ms\":%lld,\"warehouse\":\"wh-a\","
             "\"device_upsert\":{\"device_id\":\"scan-t\",\"kind\":\"BARCODE\"}}",
             (long long)now);
    cr_assert_eq(it_send_one(c, json), STOCKTWIN__STATUS__STATUS_OK);
    snprintf(
        json, sizeof json,
        "{\"source\":\"t\",\"seq\":2,\"event_time_ms\":%lld,\"warehouse\":\"wh-a\","
        "\"reserve\":{\"order_id\":\"o-t\",\"sku\":\"SKU-1\",\"qty\":30,\"expires_at_ms\":%lld}}",
        (long long)now, (long long)now + 300);
    cr_assert_eq(it_send_one(c, json), STOCKTWIN__STATUS__STATUS_OK);
    snprintf(json, sizeof json,
             "{\"source\":\"t\",\"seq\":3,\"event_time_ms\":%lld,\"warehouse\":\"wh-a\","
             "\"po_create\":{\"po_id\":\"po-t\",\"supplier\":\"sup-1\",\"sku\":\"SKU-2\","
             "\"qty\":5,\"eta_ms\":%lld}}",
             (long long)now, (long long)now + 300);
    cr_assert_eq(it_send_one(c, json), STOCKTWIN__STATUS__STATUS_OK);
    Stocktwin__SkuWarehouse s;
    cr_assert(it_stock(c, "wh-a", "SKU-1", &s));
    cr_assert_eq(s.reserved, 30, "held until its expiry");

    int silent = 0, delayed = 0;
    for (int i = 0; i < 1000 && (silent == 0 || delayed == 0 || s.reserved != 0); i++) {
        sleep_ms(10);
        timer_alerts(c, &silent, &delayed);
        cr_assert(it_stock(c, "wh-a", "SKU-1", &s));
    }
    cr_assert_eq(s.reserved, 0, "the reservation expired");
    cr_assert_eq(s.available, 100);
    cr_assert_eq(silent, 1, "scan-t is listed as silent once");
    cr_assert_eq(delayed, 1, "po-t is listed as late once");
    cr_assert_geq(wall_ms(), now + 400);
    // Device health says the same: scan-t is the one silent device.
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_devices(c, "wh-a", true, 0, &r), 0);
    cr_assert_eq(r->devices->total, 1);
    cr_assert_eq(r->devices->n_devices, 1);
    cr_assert_str_eq(r->devices->devices[0]->id, "scan-t");
    cr_assert(r->devices->devices[0]->silent);
    cr_assert_eq(r->devices->devices[0]->kind, STOCKTWIN__DEVICE_KIND__BARCODE);
    st_client_response_free(r);
    static char out[4096];
    char *argv[] = {
        (char *)it_path("client/stocktwin"), "--url", d.rpc, "devices", "--silent", NULL};
    cr_assert_eq(it_run(argv, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "scan-t") != NULL && strstr(out, "SILENT") != NULL, "%s", out);
    st_client_close(c);

    it_daemon_kill9(&d);
    it_daemon_start_flags(&d, 2, data, flags);
    c = it_client(&d);
    sleep_ms(300); // rounds of the clock after the restart raise nothing again
    cr_assert(it_stock(c, "wh-a", "SKU-1", &s));
    cr_assert_eq(s.reserved, 0, "the expiry is in the log");
    timer_alerts(c, &silent, &delayed);
    cr_assert_eq(silent, 1);
    cr_assert_eq(delayed, 1);
    st_client_close(c);
    it_daemon_stop(&d);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", data);
    cr_assert_eq(system(cmd), 0);
}
