// encode_test.c - the hand-written request encoder writes exactly protobuf-c's
// bytes: for batches of movements with every field at its edges (0, negative,
// the largest, empty and NULL strings, lengths of one to three varint bytes),
// mixed with events of other kinds and with messages carrying unknown fields
// (both go through protobuf-c), and for requests that are not batches.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "stocktwin.h"

// Packs `req` both ways and compares the bytes.
static void
assert_same_bytes(const Stocktwin__Request *req)
{
    size_t want_len = stocktwin__request__get_packed_size(req);
    uint8_t *want = malloc(want_len ? want_len : 1);
    cr_assert_not_null(want);
    cr_assert_eq(stocktwin__request__pack(req, want), want_len);
    nng_msg *msg = NULL;
    cr_assert_eq(st_request_msg(req, "test://", &msg), 0, "%s", st_client_last_error(NULL));
    cr_assert_eq(nng_msg_len(msg), want_len, "%zu bytes, protobuf-c writes %zu", nng_msg_len(msg),
                 want_len);
    const uint8_t *got = nng_msg_body(msg);
    for (size_t i = 0; i < want_len; i++)
        cr_assert_eq(got[i], want[i], "byte %zu of %zu: %02x, protobuf-c writes %02x", i, want_len,
                     got[i], want[i]);
    nng_msg_free(msg);
    free(want);
}

// A small deterministic generator (xorshift64*), so that a failure repeats.
static uint64_t
next(uint64_t *s)
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

#define N_EVENTS 300
#define STR_BYTES 20000

typedef struct batch_fixture {
    Stocktwin__Event ev[N_EVENTS];
    Stocktwin__Event *ptr[N_EVENTS];
    Stocktwin__StockMovement mv[N_EVENTS];
    Stocktwin__WeightReading weight[N_EVENTS];
    Stocktwin__Reserve reserve[N_EVENTS];
    char *long_str; // STR_BYTES - 1 characters: a three-byte length
    Stocktwin__EventBatch batch;
    Stocktwin__Request req;
} batch_fixture;

// One of: NULL, "", a short id, 127 and 128 characters (the one- and
// two-byte length edge), rarely 16383 and 16384 (two and three bytes: the
// request stays under ST_CLIENT_REQUEST_BYTES_MAX).
static char *
pick_string(batch_fixture *f, uint64_t *rng)
{
    static char short_id[] = "sku-00042";
    switch (next(rng) % 64) {
    case 0:
        return NULL;
    case 1:
        return "";
    case 2:
        return f->long_str + (STR_BYTES - 1 - 127);
    case 3:
        return f->long_str + (STR_BYTES - 1 - 128);
    case 4:
        return f->long_str + (STR_BYTES - 1 - 16383);
    case 5:
        return f->long_str + (STR_BYTES - 1 - 16384);
    case 6:
    case 7:
    case 8:
    case 9:
        return f->long_str + (STR_BYTES - 1 - 127 + (next(rng) % 2));
    default:
        return next(rng) % 3 == 0 ? "" : short_id;
    }
}

static int64_t
pick_int(uint64_t *rng)
{
    static const int64_t edges[] = {0,          1,           -1,        127,      128,
                                    1000000000, -1000000000, INT64_MAX, INT64_MIN};
    uint64_t x = next(rng);
    return x % 3 == 0 ? (int64_t)x : edges[x % (sizeof edges / sizeof edges[0])];
}

static void
fill_batch(batch_fixture *f, uint64_t seed, unsigned other_pct)
{
    memset(f, 0, sizeof *f);
    f->long_str = malloc(STR_BYTES);
    cr_assert_not_null(f->long_str);
    memset(f->long_str, 'x', STR_BYTES - 1);
    f->long_str[STR_BYTES - 1] = '\0';
    uint64_t rng = seed;
    for (unsigned i = 0; i < N_EVENTS; i++) {
        Stocktwin__Event *e = &f->ev[i];
        stocktwin__event__init(e);
        e->source = pick_string(f, &rng);
        e->seq = (uint64_t)pick_int(&rng);
        e->event_time_ms = pick_int(&rng);
        e->warehouse = pick_string(f, &rng);
        unsigned kind = (unsigned)(next(&rng) % 100);
        if (kind < other_pct / 2) {
            stocktwin__weight_reading__init(&f->weight[i]);
            f->weight[i].shelf = pick_string(f, &rng);
            f->weight[i].weight_mg = pick_int(&rng);
            e->kind_case = STOCKTWIN__EVENT__KIND_WEIGHT, e->weight = &f->weight[i];
        } else if (kind < other_pct) {
            stocktwin__reserve__init(&f->reserve[i]);
            f->reserve[i].order_id = pick_string(f, &rng);
            f->reserve[i].sku = pick_string(f, &rng);
            f->reserve[i].qty = pick_int(&rng);
            e->kind_case = STOCKTWIN__EVENT__KIND_RESERVE, e->reserve = &f->reserve[i];
        } else {
            Stocktwin__StockMovement *m = &f->mv[i];
            stocktwin__stock_movement__init(m);
            uint64_t k = next(&rng) % 7;
            m->kind = k == 6 ? (Stocktwin__MovementKind)-3 : (Stocktwin__MovementKind)k;
            m->sku = pick_string(f, &rng);
            m->qty = pick_int(&rng);
            m->from_location = pick_string(f, &rng);
            m->to_location = pick_string(f, &rng);
            m->delta = pick_int(&rng);
            m->reason = pick_string(f, &rng);
            e->kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT, e->movement = m;
        }
        f->ptr[i] = e;
    }
    stocktwin__event_batch__init(&f->batch);
    f->batch.n_events = N_EVENTS, f->batch.events = f->ptr;
    stocktwin__request__init(&f->req);
    f->req.version = 1;
    f->req.credential = "principal:secret";
    f->req.request_id = next(&rng);
    f->req.body_case = STOCKTWIN__REQUEST__BODY_BATCH, f->req.batch = &f->batch;
}

static batch_fixture fixture;

Test(encode, movements_at_every_edge_are_protobuf_c_bytes)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fill_batch(&fixture, seed * 0x9e3779b97f4a7c15ull, 0);
        assert_same_bytes(&fixture.req);
        free(fixture.long_str);
    }
}

Test(encode, other_kinds_mixed_in_go_through_protobuf_c)
{
    for (uint64_t seed = 1; seed <= 10; seed++) {
        fill_batch(&fixture, seed * 0x2545f4914f6cdd1dull, 40);
        assert_same_bytes(&fixture.req);
        free(fixture.long_str);
    }
}

Test(encode, request_fields_at_zero_and_a_movement_case_without_a_body)
{
    fill_batch(&fixture, 7, 0);
    fixture.req.version = 0, fixture.req.credential = NULL, fixture.req.request_id = 0;
    fixture.ev[3].movement = NULL; // the case set, no message: protobuf-c writes nothing
    fixture.ev[4].kind_case = STOCKTWIN__EVENT__KIND__NOT_SET;
    assert_same_bytes(&fixture.req);
    fixture.batch.n_events = 0;
    assert_same_bytes(&fixture.req);
    free(fixture.long_str);
}

Test(encode, unknown_fields_are_kept_where_they_are)
{
    uint8_t data[] = {0x2a};
    ProtobufCMessageUnknownField unknown = {
        .tag = 900, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = data};
    fill_batch(&fixture, 11, 0);
    fixture.ev[1].base.n_unknown_fields = 1, fixture.ev[1].base.unknown_fields = &unknown;
    fixture.mv[2].base.n_unknown_fields = 1, fixture.mv[2].base.unknown_fields = &unknown;
    assert_same_bytes(&fixture.req); // per event
    fixture.batch.base.n_unknown_fields = 1, fixture.batch.base.unknown_fields = &unknown;
    assert_same_bytes(&fixture.req); // the whole request
    fixture.batch.base.n_unknown_fields = 0;
    fixture.req.base.n_unknown_fields = 1, fixture.req.base.unknown_fields = &unknown;
    assert_same_bytes(&fixture.req);
    free(fixture.long_str);
}

Test(encode, a_query_request_is_protobuf_c_bytes)
{
    Stocktwin__InventoryQuery iq = STOCKTWIN__INVENTORY_QUERY__INIT;
    iq.warehouse = "wh-1", iq.offset = 100, iq.limit = 50;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_INVENTORY, q.inventory = &iq;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1, req.request_id = 77;
    req.body_case = STOCKTWIN__REQUEST__BODY_QUERY, req.query = &q;
    assert_same_bytes(&req);
}

Test(encode, a_request_over_the_limit_is_refused_as_too_large)
{
    size_t big = ST_CLIENT_REQUEST_BYTES_MAX + 1;
    char *s = malloc(big + 1);
    cr_assert_not_null(s);
    memset(s, 'y', big);
    s[big] = '\0';
    Stocktwin__StockMovement m = STOCKTWIN__STOCK_MOVEMENT__INIT;
    m.kind = STOCKTWIN__MOVEMENT_KIND__ADJUST, m.sku = "a", m.reason = s, m.delta = -1;
    Stocktwin__Event e = STOCKTWIN__EVENT__INIT;
    e.source = "src", e.seq = 1, e.warehouse = "wh";
    e.kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT, e.movement = &m;
    Stocktwin__Event *ptr = &e;
    Stocktwin__EventBatch b = STOCKTWIN__EVENT_BATCH__INIT;
    b.n_events = 1, b.events = &ptr;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1, req.body_case = STOCKTWIN__REQUEST__BODY_BATCH, req.batch = &b;
    nng_msg *msg = NULL;
    cr_assert_eq(st_request_msg(&req, "test://", &msg), STOCKTWIN__STATUS__STATUS_TOO_LARGE);
    cr_assert_null(msg);
    cr_assert(strstr(st_client_last_error(NULL), "over the") != NULL, "%s",
              st_client_last_error(NULL));
    free(s);
}
