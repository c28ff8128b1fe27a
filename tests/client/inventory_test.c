// inventory_test.c - st_client_inventory_each and the hand decoder behind it
// (client/inventory.c): the same lines as protobuf-c reads, unknown fields
// skipped, and every cut, flipped or mistyped byte refused as MALFORMED
// without a read outside the reply (run under AddressSanitizer in CI).
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "inventory.h"
#include "stocktwin.h"

// A reply of three lines: defaults, locations with and without shelves,
// negative numbers, a name long enough for a two-byte length.
static uint8_t *
sample_reply(size_t *len_out)
{
    static char long_name[200];
    memset(long_name, 'n', sizeof long_name - 1);
    Stocktwin__LocationQty l[3];
    Stocktwin__LocationQty *lp[3];
    for (int i = 0; i < 3; i++) {
        stocktwin__location_qty__init(&l[i]);
        l[i].zone = i ? "STOR" : "RECV";
        l[i].shelf = i == 2 ? "S-2" : "";
        l[i].qty = i * 10 - 5;
        lp[i] = &l[i];
    }
    Stocktwin__InventoryLine a = STOCKTWIN__INVENTORY_LINE__INIT, b = a, c = a;
    a.sku = "SKU-A"; // everything else a default
    b.sku = "SKU-B";
    b.name = long_name;
    b.on_hand = 12;
    b.reserved = 2;
    b.available = 10;
    b.inbound = 3;
    b.in_transit_out = 4;
    b.reorder_point = 15;
    b.below_reorder = true;
    b.n_locations = 3;
    b.locations = lp;
    c.sku = "SKU-C";
    c.name = "gadget";
    c.on_hand = -7;
    c.n_locations = 1;
    c.locations = lp + 2;
    Stocktwin__InventoryLine *lines[] = {&a, &b, &c};
    Stocktwin__InventoryResult inv = STOCKTWIN__INVENTORY_RESULT__INIT;
    inv.warehouse = "wh-1";
    inv.total_skus = 300000;
    inv.n_lines = 3;
    inv.lines = lines;
    Stocktwin__Response r = STOCKTWIN__RESPONSE__INIT;
    r.request_id = 9;
    r.lsn = 77;
    r.result_case = STOCKTWIN__RESPONSE__RESULT_INVENTORY;
    r.inventory = &inv;
    *len_out = stocktwin__response__get_packed_size(&r);
    uint8_t *buf = malloc(*len_out);
    stocktwin__response__pack(&r, buf);
    return buf;
}

typedef struct seen {
    int n, stop_after;
    char sku[4][16];
    char name[4][256];
    int64_t on_hand[4], available[4], reorder_point[4], inbound[4], in_transit_out[4];
    bool low[4];
    size_t n_locs[4];
    char zone[4][8], shelf[4][8];
    int64_t qty[4];
} seen;

static bool
seen_cb(void *arg, const st_inventory_line *l)
{
    seen *s = arg;
    cr_assert_lt(s->n, 4);
    int i = s->n++;
    snprintf(s->sku[i], sizeof s->sku[i], "%s", l->sku);
    snprintf(s->name[i], sizeof s->name[i], "%s", l->name);
    s->on_hand[i] = l->on_hand;
    s->available[i] = l->available;
    s->reorder_point[i] = l->reorder_point;
    s->inbound[i] = l->inbound;
    s->in_transit_out[i] = l->in_transit_out;
    s->low[i] = l->below_reorder;
    s->n_locs[i] = l->n_locations;
    if (l->n_locations) {
        const st_inventory_location *last = &l->locations[l->n_locations - 1];
        snprintf(s->zone[i], sizeof s->zone[i], "%s", last->zone);
        snprintf(s->shelf[i], sizeof s->shelf[i], "%s", last->shelf);
        s->qty[i] = last->qty;
    }
    return !(s->stop_after && s->n >= s->stop_after);
}

// split + walk over `len` bytes at `body`: the status.
static int
decode(const uint8_t *body, size_t len, seen *s, uint32_t *total, uint32_t *lines)
{
    uint8_t *rest = NULL;
    size_t rest_len = 0, inv_len = 0;
    const uint8_t *inv = NULL;
    int st = st_inventory_split(body, len, &rest, &rest_len, &inv, &inv_len);
    if (st == 0 && inv != NULL)
        st = st_inventory_walk(inv, inv_len, seen_cb, s, total, lines);
    free(rest);
    return st;
}

Test(inventory, lines_decode_as_protobuf_c_reads_them)
{
    size_t len;
    uint8_t *buf = sample_reply(&len);
    seen s = {0};
    uint32_t total = 0, lines = 0;
    cr_assert_eq(decode(buf, len, &s, &total, &lines), 0);
    cr_assert_eq(total, 300000);
    cr_assert_eq(lines, 3);
    cr_assert_str_eq(s.sku[0], "SKU-A");
    cr_assert_str_eq(s.name[0], "");
    cr_assert_eq(s.n_locs[0], 0);
    cr_assert_eq(s.on_hand[0], 0);
    cr_assert_str_eq(s.sku[1], "SKU-B");
    cr_assert_eq(strlen(s.name[1]), 199);
    cr_assert_eq(s.on_hand[1], 12);
    cr_assert_eq(s.available[1], 10);
    cr_assert_eq(s.inbound[1], 3);
    cr_assert_eq(s.in_transit_out[1], 4);
    cr_assert_eq(s.reorder_point[1], 15);
    cr_assert(s.low[1]);
    cr_assert_eq(s.n_locs[1], 3);
    cr_assert_str_eq(s.zone[1], "STOR");
    cr_assert_str_eq(s.shelf[1], "S-2");
    cr_assert_eq(s.qty[1], 15);
    cr_assert_eq(s.on_hand[2], -7);
    cr_assert_eq(s.n_locs[2], 1);
    cr_assert(!s.low[2]);

    // The rest of the Response, without the inventory, is left for protobuf-c.
    uint8_t *rest = NULL;
    size_t rest_len, inv_len;
    const uint8_t *inv;
    cr_assert_eq(st_inventory_split(buf, len, &rest, &rest_len, &inv, &inv_len), 0);
    Stocktwin__Response *r = stocktwin__response__unpack(NULL, rest_len, rest);
    cr_assert_not_null(r);
    cr_assert_eq(r->request_id, 9);
    cr_assert_eq(r->lsn, 77);
    cr_assert_eq(r->result_case, STOCKTWIN__RESPONSE__RESULT__NOT_SET);
    stocktwin__response__free_unpacked(r, NULL);
    free(rest);

    // A callback that stops sees no more lines; the count says so.
    seen stop = {.stop_after = 1};
    cr_assert_eq(decode(buf, len, &stop, &total, &lines), 0);
    cr_assert_eq(lines, 1);
    cr_assert_eq(total, 300000, "fields after the lines are still read");
    free(buf);
}

Test(inventory, unknown_fields_are_skipped)
{
    size_t len;
    uint8_t *buf = sample_reply(&len);
    // A newer server's top-level fields: 99 as a varint, 100 as 8 bytes,
    // 101 as 4 bytes, 102 as a string.
    static const uint8_t extra[] = {
        0x98, 0x06, 0x05,                            // 99: varint 5
        0xa1, 0x06, 1,    2,   3,   4,   5, 6, 7, 8, // 100: fixed64
        0xad, 0x06, 1,    2,   3,   4,               // 101: fixed32
        0xb2, 0x06, 0x03, 'a', 'b', 'c',             // 102: "abc"
    };
    uint8_t *more = malloc(len + sizeof extra);
    memcpy(more, extra, sizeof extra);
    memcpy(more + sizeof extra, buf, len);
    seen s = {0};
    uint32_t total, lines;
    cr_assert_eq(decode(more, len + sizeof extra, &s, &total, &lines), 0);
    cr_assert_eq(lines, 3);
    free(more);
    free(buf);
}

Test(inventory, every_cut_is_refused_or_a_shorter_valid_reply)
{
    size_t len;
    uint8_t *buf = sample_reply(&len);
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = malloc(cut ? cut : 1); // exactly `cut` bytes: ASan sees any overread
        memcpy(part, buf, cut);
        seen s = {0};
        uint32_t total = 0, lines = 0;
        int st = decode(part, cut, &s, &total, &lines);
        cr_assert(st == 0 || st == STOCKTWIN__STATUS__STATUS_MALFORMED, "cut %zu: %d", cut, st);
        refused += st != 0;
        free(part);
    }
    // The inventory is the last field and most of the bytes: cutting it
    // anywhere leaves a length running past the end.
    cr_assert_gt(refused, (int)len / 2);
    free(buf);
}

Test(inventory, flipped_bits_never_read_outside_the_reply)
{
    size_t len;
    uint8_t *buf = sample_reply(&len);
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, buf, len);
            copy[i] ^= (uint8_t)(1u << bit);
            seen s = {0};
            uint32_t total = 0, lines = 0;
            int st = decode(copy, len, &s, &total, &lines);
            cr_assert(st == 0 || st == STOCKTWIN__STATUS__STATUS_MALFORMED);
        }
    free(copy);
    free(buf);
}

Test(inventory, wrong_wire_types_and_two_inventories_are_malformed)
{
    // sku (line field 1) as a varint.
    static const uint8_t bad_sku[] = {0xaa, 0x01, 0x04, 0x1a, 0x02, 0x08, 0x01};
    seen s = {0};
    uint32_t total, lines;
    cr_assert_eq(decode(bad_sku, sizeof bad_sku, &s, &total, &lines),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    // on_hand (line field 3) as a string.
    static const uint8_t bad_qty[] = {0xaa, 0x01, 0x05, 0x1a, 0x03, 0x1a, 0x01, 'x'};
    cr_assert_eq(decode(bad_qty, sizeof bad_qty, &s, &total, &lines),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    // A group (wire type 3) and a varint of eleven bytes.
    static const uint8_t group[] = {0x0b};
    cr_assert_eq(decode(group, sizeof group, &s, &total, &lines),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    cr_assert_eq(decode(long_varint, sizeof long_varint, &s, &total, &lines),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    // Two inventory fields.
    static const uint8_t two[] = {0xaa, 0x01, 0x00, 0xaa, 0x01, 0x00};
    cr_assert_eq(decode(two, sizeof two, &s, &total, &lines), STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert_eq(s.n, 0, "no line was handed out");
}

// End to end against the fake server: the same line as st_client_inventory.
Test(inventory, each_against_a_server)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), NULL, &c), 0, "%s", st_client_last_error(c));
    seen s = {0};
    uint32_t total = 0, lines = 0;
    cr_assert_eq(st_client_inventory_each(c, "wh-1", true, 10, 20, seen_cb, &s, &total, &lines), 0,
                 "%s", st_client_last_error(c));
    cr_assert_eq(total, 1);
    cr_assert_eq(lines, 1);
    cr_assert_str_eq(s.sku[0], "SKU1");
    cr_assert_str_eq(s.name[0], "Widget");
    cr_assert_eq(s.on_hand[0], 7);
    cr_assert(s.low[0]);
    cr_assert_str_eq(s.zone[0], "z1");
    cr_assert_str_eq(s.shelf[0], "s1");
    Stocktwin__Request *req = fake_server_last_request(srv);
    cr_assert_eq(req->query->kind_case, STOCKTWIN__QUERY__KIND_INVENTORY);
    cr_assert_eq(req->query->inventory->offset, 10);
    cr_assert_eq(req->query->inventory->limit, 20);
    cr_assert(req->query->inventory->below_reorder_only);
    stocktwin__request__free_unpacked(req, NULL);
    st_client_close(c);
    fake_server_stop(srv);
}

// Answers "nope" with UNKNOWN_WAREHOUSE, "empty" with an OK reply that has no
// result, "stats" with a stats result, anything else as the standard server.
static nng_msg *
odd_handler(const Stocktwin__Request *req, void *arg)
{
    if (req == NULL || req->body_case != STOCKTWIN__REQUEST__BODY_QUERY ||
        req->query->kind_case != STOCKTWIN__QUERY__KIND_INVENTORY)
        return fake_standard_handler(req, arg);
    const char *wh = req->query->inventory->warehouse;
    Stocktwin__Response r = STOCKTWIN__RESPONSE__INIT;
    Stocktwin__StatsResult stats = STOCKTWIN__STATS_RESULT__INIT;
    r.request_id = req->request_id;
    if (strcmp(wh, "nope") == 0) {
        r.status = STOCKTWIN__STATUS__STATUS_UNKNOWN_WAREHOUSE;
        r.message = "warehouse nope is not known";
    } else if (strcmp(wh, "stats") == 0) {
        r.result_case = STOCKTWIN__RESPONSE__RESULT_STATS;
        r.stats = &stats;
    } else if (strcmp(wh, "empty") != 0) {
        return fake_standard_handler(req, arg);
    }
    return fake_msg_from_response(&r);
}

Test(inventory, refusals_keep_their_status_and_other_results_are_malformed)
{
    struct fake_server *srv = fake_server_start(odd_handler, NULL);
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), NULL, &c), 0, "%s", st_client_last_error(c));
    seen s = {0};
    uint32_t total = 1, lines = 1;
    cr_assert_eq(st_client_inventory_each(c, "nope", false, 0, 0, seen_cb, &s, &total, &lines),
                 STOCKTWIN__STATUS__STATUS_UNKNOWN_WAREHOUSE);
    cr_assert(strstr(st_client_last_error(c), "nope is not known") != NULL, "%s",
              st_client_last_error(c));
    cr_assert_eq(total, 0);
    cr_assert_eq(lines, 0);
    cr_assert_eq(st_client_inventory_each(c, "empty", false, 0, 0, seen_cb, &s, NULL, NULL),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert_eq(st_client_inventory_each(c, "stats", false, 0, 0, seen_cb, &s, NULL, NULL),
                 STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert_eq(s.n, 0);
    st_client_close(c);
    fake_server_stop(srv);
}
