// codec_test.c - st_event <-> LogEntry: every kind survives the round trip
// byte for byte, and bytes that are not a valid entry are refused, never
// trusted (they come from the disk).
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/state.h"
#include "shards/codec.h"

// A bump allocator over a static buffer: what the log's replay path uses.
static unsigned char pool[1 << 20];
static size_t pool_used;

static void *
bump_alloc(void *data, size_t size)
{
    (void)data;
    size = (size + 15) & ~(size_t)15;
    cr_assert(pool_used + size <= sizeof pool, "test pool exhausted");
    void *p = pool + pool_used;
    pool_used += size;
    return p;
}

static void
bump_free(void *data, void *ptr)
{
    (void)data, (void)ptr;
}

static ProtobufCAllocator bump = {.alloc = bump_alloc, .free = bump_free};
static st_codec_scratch scratch, scratch2;

static const st_rfid_tag tags[2] = {{"SKU-1", 3, "epc-1"}, {"SKU-2", 0, ""}};

// One event of every kind, each with every field set to a distinct value.
static size_t
all_kinds(st_event *ev)
{
    size_t n = 0;
#define EV(k)                                                                                      \
    (ev[n] = (st_event){.kind = (k),                                                               \
                        .source = "src",                                                           \
                        .seq = n + 1,                                                              \
                        .event_time_ms = 1000 + (int64_t)n,                                        \
                        .warehouse = "wh-1"},                                                      \
     &ev[n++])
    EV(ST_EV_WEIGHT)->u.weight = (__typeof__(ev->u.weight)){"shelf-1", 123456};
    EV(ST_EV_RFID)->u.rfid = (__typeof__(ev->u.rfid)){ST_DIR_OUTBOUND, 2, tags};
    EV(ST_EV_MOVEMENT)->u.movement =
        (__typeof__(ev->u.movement)){ST_MOVE_ADJUST, "SKU-1", 5, "a", "b", -7, "damage"};
    EV(ST_EV_COUNT)->u.count = (__typeof__(ev->u.count)){"bin-1", "SKU-1", 42};
    EV(ST_EV_RESERVE)->u.reserve = (__typeof__(ev->u.reserve)){"o-1", "SKU-1", 4, 99999};
    EV(ST_EV_RELEASE)->u.release = (__typeof__(ev->u.release)){"o-1", "SKU-1", 2};
    EV(ST_EV_FULFIL)->u.fulfil = (__typeof__(ev->u.fulfil)){"o-1", "SKU-1", 1, "bin-2"};
    EV(ST_EV_PO_CREATE)->u.po_create =
        (__typeof__(ev->u.po_create)){"po-1", "sup-1", "SKU-1", 50, 7777};
    EV(ST_EV_PO_ETA)->u.po_eta = (__typeof__(ev->u.po_eta)){"po-1", 8888};
    EV(ST_EV_PO_RECEIVE)->u.po_receive = (__typeof__(ev->u.po_receive)){"po-1", 20, "recv"};
    EV(ST_EV_TRANSFER_DISPATCH)->u.transfer_dispatch =
        (__typeof__(ev->u.transfer_dispatch)){"t-1", "wh-2", "SKU-1", 6, 5555, "bin-3"};
    EV(ST_EV_TRANSFER_POSITION)->u.transfer_position =
        (__typeof__(ev->u.transfer_position)){"t-1", 52.5, 13.4};
    EV(ST_EV_TRANSFER_RECEIVE)->u.transfer_receive =
        (__typeof__(ev->u.transfer_receive)){"t-1", "dock"};
    EV(ST_EV_WAREHOUSE_UPSERT)->u.warehouse_upsert =
        (__typeof__(ev->u.warehouse_upsert)){"Berlin", "DE", 1000};
    EV(ST_EV_ZONE_UPSERT)->u.zone_upsert =
        (__typeof__(ev->u.zone_upsert)){"z-1", "Cold", ST_ZONE_COLD};
    EV(ST_EV_SHELF_UPSERT)->u.shelf_upsert = (__typeof__(ev->u.shelf_upsert)){
        "s-1", "z-1", 900, 100, "SKU-1", ST_AUTH_WEIGHT, 2, 60000, 5000};
    EV(ST_EV_PRODUCT_UPSERT)->u.product_upsert =
        (__typeof__(ev->u.product_upsert)){"SKU-1", "Widget", 250, "parts", 199, 10};
    EV(ST_EV_DEVICE_UPSERT)->u.device_upsert =
        (__typeof__(ev->u.device_upsert)){"dev-1", ST_DEV_SMART_SHELF, "s-1"};
    EV(ST_EV_SUPPLIER_UPSERT)->u.supplier_upsert =
        (__typeof__(ev->u.supplier_upsert)){"sup-1", "Acme"};
    EV(ST_EV_STOCK_POLICY)->u.stock_policy = (__typeof__(ev->u.stock_policy)){"SKU-1", 10, 5, 100};
    EV(ST_EV_TRANSFER_INBOUND)->u.transfer_inbound =
        (__typeof__(ev->u.transfer_inbound)){"t-1", "wh-0", "SKU-1", 6, 5555};
    EV(ST_EV_TRANSFER_ARRIVED)->u.transfer_arrived = (__typeof__(ev->u.transfer_arrived)){"t-1"};
    EV(ST_EV_TICK)->u.tick.device_silent_ms = 300000;
#undef EV
    ev[n - 1].source = ST_TICK_SOURCE;
    ev[n - 3].source = "outbox/a-warehouse-id-of-sixty-four-bytes-xxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    return n;
}

static size_t
pack(const st_event *ev, uint64_t lsn, st_codec_scratch *x, uint8_t *buf, size_t cap)
{
    st_codec_entry meta = {.lsn = lsn, .epoch = 3, .ingest_time_ms = 4242, .principal = "erp"};
    size_t len = st_codec_entry_size(ev, &meta, x);
    cr_assert(len <= cap);
    cr_assert_eq(st_codec_entry_pack(x, buf), len);
    return len;
}

Test(codec, every_kind_round_trips_byte_for_byte)
{
    st_event ev[32];
    size_t n = all_kinds(ev);
    cr_assert_eq(n, 23, "one event per kind (20 on the wire, 3 internal)");
    for (size_t i = 0; i < n; i++) {
        static uint8_t a[4096], b[4096];
        pool_used = 0;
        size_t la = pack(&ev[i], 100 + i, &scratch, a, sizeof a);
        st_event back;
        st_codec_entry meta;
        char msg[256];
        st_err err = st_codec_entry_unpack(a, la, &bump, &back, &meta, msg, sizeof msg);
        cr_assert_eq(err, ST_OK, "kind %d: %s", ev[i].kind, msg);
        cr_assert_eq(back.kind, ev[i].kind);
        cr_assert_eq(meta.lsn, 100 + i);
        cr_assert_eq(meta.epoch, 3);
        cr_assert_eq(meta.ingest_time_ms, 4242);
        cr_assert_str_eq(meta.principal, "erp");
        cr_assert_str_eq(back.source, ev[i].source);
        cr_assert_eq(back.seq, ev[i].seq);
        cr_assert_eq(back.event_time_ms, ev[i].event_time_ms);
        size_t lb = pack(&back, 100 + i, &scratch2, b, sizeof b);
        cr_assert_eq(lb, la, "kind %d", ev[i].kind);
        cr_assert(memcmp(a, b, la) == 0, "kind %d: the second encoding differs", ev[i].kind);
    }
}

Test(codec, fields_survive)
{
    st_event ev[32];
    all_kinds(ev);
    static uint8_t a[4096];
    st_event back;
    st_codec_entry meta;
    char msg[256];
    pool_used = 0;
    size_t la = pack(&ev[1], 7, &scratch, a, sizeof a); // rfid
    cr_assert_eq(st_codec_entry_unpack(a, la, &bump, &back, &meta, msg, sizeof msg), ST_OK);
    cr_assert_eq(back.u.rfid.direction, ST_DIR_OUTBOUND);
    cr_assert_eq(back.u.rfid.tag_count, 2);
    cr_assert_str_eq(back.u.rfid.tags[0].sku, "SKU-1");
    cr_assert_eq(back.u.rfid.tags[0].qty, 3);
    cr_assert_str_eq(back.u.rfid.tags[0].epc, "epc-1");
    la = pack(&ev[15], 8, &scratch, a, sizeof a); // shelf upsert
    cr_assert_eq(st_codec_entry_unpack(a, la, &bump, &back, &meta, msg, sizeof msg), ST_OK);
    cr_assert_eq(back.u.shelf_upsert.authority, ST_AUTH_WEIGHT);
    cr_assert_eq(back.u.shelf_upsert.anomaly_threshold_mg, 5000);
    cr_assert_str_eq(back.u.shelf_upsert.sku, "SKU-1");
    la = pack(&ev[20], 9, &scratch, a, sizeof a); // transfer inbound
    cr_assert_eq(st_codec_entry_unpack(a, la, &bump, &back, &meta, msg, sizeof msg), ST_OK);
    cr_assert_str_eq(back.u.transfer_inbound.from_warehouse, "wh-0");
    cr_assert_eq(back.u.transfer_inbound.qty, 6);
    la = pack(&ev[22], 10, &scratch, a, sizeof a); // tick
    cr_assert_eq(st_codec_entry_unpack(a, la, &bump, &back, &meta, msg, sizeof msg), ST_OK);
    cr_assert_eq(back.kind, ST_EV_TICK);
    cr_assert_eq(back.u.tick.device_silent_ms, 300000);
    cr_assert_str_eq(back.source, ST_TICK_SOURCE);
}

// Internal kinds are the log's alone: from the network they are refused.
Test(codec, internal_kinds_only_where_allowed)
{
    st_event ev[32];
    all_kinds(ev);
    Stocktwin__Event *pb = st_codec_event_to_pb(&ev[21], &scratch);
    st_event out;
    char msg[256];
    pool_used = 0;
    cr_assert_eq(st_codec_event_from_pb(pb, &bump, false, &out, msg, sizeof msg),
                 ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "internal") != NULL, "%s", msg);
    cr_assert_eq(st_codec_event_from_pb(pb, &bump, true, &out, msg, sizeof msg), ST_OK, "%s", msg);
    pb = st_codec_event_to_pb(&ev[22], &scratch); // a tick
    cr_assert_eq(st_codec_event_from_pb(pb, &bump, false, &out, msg, sizeof msg),
                 ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "tick is an internal") != NULL, "%s", msg);
    cr_assert_eq(st_codec_event_from_pb(pb, &bump, true, &out, msg, sizeof msg), ST_OK, "%s", msg);
    cr_assert_eq(out.u.tick.device_silent_ms, 300000);
}

// Every truncation and every single-byte corruption of an entry either
// decodes to a structurally valid event or is refused: nothing crashes
// (ASan and UBSan watch), nothing asserts.
Test(codec, damaged_bytes_are_refused_not_trusted)
{
    st_event ev[32];
    size_t n = all_kinds(ev);
    static uint8_t a[4096], d[4096];
    size_t refused = 0;
    for (size_t i = 0; i < n; i++) {
        size_t la = pack(&ev[i], 1, &scratch, a, sizeof a);
        for (size_t cut = 0; cut < la; cut++) {
            st_event back;
            st_codec_entry meta;
            char msg[256];
            pool_used = 0;
            refused += st_codec_entry_unpack(a, cut, &bump, &back, &meta, msg, sizeof msg) != ST_OK;
        }
        for (size_t at = 0; at < la; at++) {
            memcpy(d, a, la);
            d[at] ^= 0xff;
            st_event back;
            st_codec_entry meta;
            char msg[256];
            pool_used = 0;
            st_err err = st_codec_entry_unpack(d, la, &bump, &back, &meta, msg, sizeof msg);
            cr_assert(err == ST_OK || err == ST_MALFORMED);
            if (err != ST_OK)
                cr_assert(msg[0] != '\0', "a refusal says why");
        }
    }
    cr_assert_gt(refused, n, "truncated entries are refused");
    static const char garbage[] = "\xff\xff\xff\xff\xff not a log entry";
    st_event back;
    st_codec_entry meta;
    char msg[256];
    pool_used = 0;
    cr_assert_eq(
        st_codec_entry_unpack(garbage, sizeof garbage, &bump, &back, &meta, msg, sizeof msg),
        ST_MALFORMED);
    cr_assert_eq(st_codec_entry_unpack("", 0, &bump, &back, &meta, msg, sizeof msg), ST_MALFORMED,
                 "an empty entry has no LSN");
}

// --- the hand-read movement entries ---------------------------------------------

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

// rnd_text: NULL (absent) or 0..max bytes, now and then with a NUL or bytes
// that are not UTF-8 in it.
static char *
rnd_text(char *buf, size_t max)
{
    if (rnd() % 5 == 0)
        return NULL;
    size_t n = rnd() % (max + 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = rnd() % 17 == 0 ? (char)(rnd() % 256) : (char)('a' + rnd() % 26);
    buf[n] = '\0';
    return buf;
}

static int64_t
rnd_i64(void)
{
    switch (rnd() % 4) {
    case 0:
        return 0;
    case 1:
        return (int64_t)(rnd() % 2000) - 1000;
    case 2:
        return (int64_t)rnd();
    default:
        return (int64_t)(rnd() % 1000000001);
    }
}

// rnd_event fills *ev with a movement with any field present or not and any
// value (valid or not), now and then a count or no kind at all. `t` holds
// its strings (8 of 96 bytes).
static void
rnd_event(Stocktwin__Event *ev, Stocktwin__StockMovement *m, Stocktwin__CycleCount *c,
          char (*t)[96])
{
    stocktwin__stock_movement__init(m);
    m->kind = (Stocktwin__MovementKind)(rnd() % 9 == 0 ? (int)(rnd() % 300) : (int)(rnd() % 7));
    m->sku = rnd_text(t[0], 70) ?: m->sku;
    m->qty = rnd_i64();
    m->from_location = rnd_text(t[1], 70) ?: m->from_location;
    m->to_location = rnd_text(t[2], 70) ?: m->to_location;
    m->delta = rnd() % 3 == 0 ? rnd_i64() : 0;
    m->reason = rnd_text(t[3], 80) ?: m->reason;
    stocktwin__cycle_count__init(c);
    c->sku = "SKU-1", c->location = "bin", c->qty = 3;
    stocktwin__event__init(ev);
    ev->source = rnd_text(t[4], 80) ?: ev->source;
    ev->seq = rnd() % 4 == 0 ? rnd() : rnd() % 1000;
    ev->event_time_ms = rnd_i64();
    ev->warehouse = rnd_text(t[5], 70) ?: ev->warehouse;
    uint64_t k = rnd() % 20;
    if (k == 0) {
        ev->kind_case = STOCKTWIN__EVENT__KIND_COUNT, ev->count = c;
    } else if (k != 1) {
        ev->kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT, ev->movement = m;
    }
}

// rnd_entry packs a LogEntry with protobuf-c around rnd_event's event.
static size_t
rnd_entry(uint8_t *buf)
{
    static char t[8][96];
    Stocktwin__StockMovement m;
    Stocktwin__CycleCount c;
    Stocktwin__Event ev;
    rnd_event(&ev, &m, &c, t);
    Stocktwin__LogEntry e = STOCKTWIN__LOG_ENTRY__INIT;
    e.lsn = rnd() % 10 == 0 ? 0 : rnd() % 100000;
    e.epoch = rnd() % 4;
    e.ingest_time_ms = rnd_i64();
    e.principal = rnd_text(t[6], 40) ?: e.principal;
    e.event = rnd() % 30 == 0 ? NULL : &ev;
    return stocktwin__log_entry__pack(&e, buf);
}

// ref_unpack is st_codec_entry_unpack without the fast path: protobuf-c,
// then the same checks and sentences.
static st_err
ref_unpack(const uint8_t *bytes, size_t len, st_event *ev, st_codec_entry *meta, char *msg)
{
    Stocktwin__LogEntry *e = stocktwin__log_entry__unpack(&bump, len, bytes);
    if (e == NULL) {
        snprintf(msg, 256, "the log entry is not a valid LogEntry (%zu bytes)", len);
        return ST_MALFORMED;
    }
    if (e->lsn == 0 || e->event == NULL) {
        snprintf(msg, 256, "the log entry has %s", e->lsn == 0 ? "no LSN" : "no event");
        return ST_MALFORMED;
    }
    char why[ST_APPLY_MESSAGE_MAX];
    if (st_codec_event_from_pb(e->event, &bump, true, ev, why, sizeof why) != ST_OK) {
        snprintf(msg, 256, "the event of log entry %llu is invalid: %s", (unsigned long long)e->lsn,
                 why);
        return ST_MALFORMED;
    }
    *meta = (st_codec_entry){e->lsn, e->epoch, e->ingest_time_ms, e->principal};
    msg[0] = '\0';
    return ST_OK;
}

static void
same_str(const char *a, const char *b, const char *what, size_t i)
{
    cr_assert_str_eq(a ? a : "(null)", b ? b : "(null)", "entry %zu: %s", i, what);
}

// decode_both decodes with st_codec_entry_unpack and with ref_unpack and
// requires the same answer: status, sentence, event and meta. Returns
// whether the fast path read the bytes.
static bool
decode_both(const uint8_t *bytes, size_t len, size_t i)
{
    st_event a, b;
    st_codec_entry ma = {0}, mb = {0};
    char msga[256], msgb[256];
    pool_used = 0;
    st_codec_movement_entry probe;
    bool fast = st_codec_entry_read_movement(bytes, len, &bump, &probe);
    st_err ea = st_codec_entry_unpack(bytes, len, &bump, &a, &ma, msga, sizeof msga);
    st_err eb = ref_unpack(bytes, len, &b, &mb, msgb);
    cr_assert_eq(ea, eb, "entry %zu: %s / %s", i, msga, msgb);
    cr_assert_str_eq(msga, msgb, "entry %zu", i);
    if (ea != ST_OK)
        return fast;
    cr_assert_eq(a.kind, b.kind, "entry %zu", i);
    same_str(a.source, b.source, "source", i);
    same_str(a.warehouse, b.warehouse, "warehouse", i);
    cr_assert_eq(a.seq, b.seq);
    cr_assert_eq(a.event_time_ms, b.event_time_ms);
    cr_assert_eq(ma.lsn, mb.lsn);
    cr_assert_eq(ma.epoch, mb.epoch);
    cr_assert_eq(ma.ingest_time_ms, mb.ingest_time_ms);
    same_str(ma.principal, mb.principal, "principal", i);
    if (a.kind == ST_EV_MOVEMENT) {
        cr_assert_eq(a.u.movement.kind, b.u.movement.kind, "entry %zu", i);
        same_str(a.u.movement.sku, b.u.movement.sku, "sku", i);
        same_str(a.u.movement.from_location, b.u.movement.from_location, "from", i);
        same_str(a.u.movement.to_location, b.u.movement.to_location, "to", i);
        same_str(a.u.movement.reason, b.u.movement.reason, "reason", i);
        cr_assert_eq(a.u.movement.qty, b.u.movement.qty);
        cr_assert_eq(a.u.movement.delta, b.u.movement.delta);
    }
    return fast;
}

// The fast path takes what the log writer writes, and on random entries,
// cut, flipped, doubled (two messages in a row merge in protobuf) or with
// bytes appended, st_codec_entry_unpack answers exactly what protobuf-c's
// path answers.
Test(codec, hand_read_movements_agree_with_protobuf_c)
{
    st_event ev[32];
    all_kinds(ev);
    static uint8_t a[8192], d[16384];
    size_t la = pack(&ev[2], 5, &scratch, a, sizeof a); // the writer's movement entry
    cr_assert(decode_both(a, la, 0), "the fast path reads the log writer's movements");
    size_t fast = 0, ok = 0;
    for (size_t i = 1; i <= 20000; i++) {
        size_t n = rnd_entry(a);
        fast += decode_both(a, n, i);
        size_t cut = n ? (size_t)(rnd() % n) : 0;
        decode_both(a, cut, i);
        memcpy(d, a, n);
        if (n) {
            d[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
            decode_both(d, n, i);
        }
        memcpy(d, a, n);
        memcpy(d + n, a, n);
        decode_both(d, 2 * n, i);
        memcpy(d, a, n);
        for (size_t k = 0; k < 3; k++)
            d[n + k] = (uint8_t)rnd();
        decode_both(d, n + 3, i);
        pool_used = 0;
        st_event e;
        st_codec_entry m;
        char msg[256];
        ok += st_codec_entry_unpack(a, n, &bump, &e, &m, msg, sizeof msg) == ST_OK;
    }
    cr_assert_gt(fast, 10000, "the fast path read %zu of 20000 random entries", fast);
    cr_assert_gt(ok, 1000, "only %zu random entries were valid", ok);
}

// The epoch reader (a follower's fetcher names the epoch of the last frame
// it received) reads every entry the writer writes, every entry protobuf-c
// packs with an epoch, and never answers an epoch protobuf-c would not
// read from the same bytes, damaged or not.
Test(codec, the_epoch_reader_agrees_with_protobuf_c)
{
    st_event ev[32];
    size_t kinds = all_kinds(ev);
    static uint8_t a[8192], d[16384];
    uint64_t epoch = 0;
    for (size_t i = 0; i < kinds; i++) {
        size_t n = pack(&ev[i], 7 + i, &scratch, a, sizeof a);
        cr_assert(st_codec_entry_epoch(a, n, &epoch), "kind %d", ev[i].kind);
        cr_assert_eq(epoch, 3);
    }
    size_t read = 0, damaged = 0;
    for (size_t i = 0; i < 20000; i++) {
        size_t n = rnd_entry(a);
        pool_used = 0;
        Stocktwin__LogEntry *e = stocktwin__log_entry__unpack(&bump, n, a);
        cr_assert_not_null(e);
        bool got = st_codec_entry_epoch(a, n, &epoch);
        cr_assert_eq(got, e->epoch != 0, "entry %zu: epoch %llu", i, (unsigned long long)e->epoch);
        cr_assert(!got || epoch == e->epoch, "entry %zu", i);
        read += got;
        for (int k = 0; k < 3; k++) {
            size_t m = n;
            memcpy(d, a, n);
            if (k == 0 && n > 0) {
                m = (size_t)(rnd() % n);
            } else if (k == 1 && n > 0) {
                d[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
            } else {
                memcpy(d + n, a, n);
                m = 2 * n;
            }
            if (!st_codec_entry_epoch(d, m, &epoch))
                continue;
            pool_used = 0;
            Stocktwin__LogEntry *x = stocktwin__log_entry__unpack(&bump, m, d);
            cr_assert(x == NULL || x->epoch == epoch, "entry %zu, damage %d", i, k);
            damaged += x != NULL;
        }
    }
    cr_assert_gt(read, 10000, "epochs read of %zu of 20000 random entries", read);
    cr_assert_gt(damaged, 1000, "only %zu damaged entries were still read", damaged);
}

// A movement's entry is written by hand: the bytes must be protobuf-c's,
// for any values (zeros, negatives, absent and long strings), or the log
// would hold entries that other readers decode differently.
Test(codec, hand_written_movements_are_protobuf_c_bytes)
{
    static uint8_t a[4096], b[4096];
    static char t[5][96];
    for (size_t i = 0; i < 20000; i++) {
        st_event ev = {.kind = ST_EV_MOVEMENT};
        ev.source = rnd_text(t[0], 80);
        ev.warehouse = rnd_text(t[1], 64);
        ev.seq = rnd() % 3 == 0 ? 0 : rnd() >> (rnd() % 64);
        ev.event_time_ms = rnd_i64();
        ev.u.movement.kind = (st_movement_kind)(rnd() % 7);
        ev.u.movement.sku = rnd_text(t[2], 64);
        ev.u.movement.qty = rnd_i64();
        ev.u.movement.from_location = rnd_text(t[3], 64);
        ev.u.movement.to_location = rnd_text(t[4], 64);
        ev.u.movement.delta = rnd() % 3 == 0 ? rnd_i64() : 0;
        ev.u.movement.reason = rnd() % 2 ? "damage" : NULL;
        st_codec_entry meta = {.lsn = 1 + rnd() % 100000,
                               .epoch = rnd() % 3,
                               .ingest_time_ms = rnd_i64(),
                               .principal = rnd() % 2 ? "erp" : NULL};
        size_t len = st_codec_entry_size(&ev, &meta, &scratch);
        cr_assert(len <= sizeof a);
        size_t n = st_codec_entry_pack(&scratch, a);
        size_t m = stocktwin__log_entry__pack(&scratch.entry, b);
        cr_assert_eq(n, len, "entry %zu", i);
        cr_assert_eq(m, len, "entry %zu: protobuf-c packs %zu bytes, the hand %zu", i, m, n);
        cr_assert(memcmp(a, b, len) == 0, "entry %zu: the bytes differ", i);
        cr_assert_eq(stocktwin__log_entry__get_packed_size(&scratch.entry), len);
    }
}

// rnd_request packs a Request: mostly a batch of 1-8 of rnd_event's events
// (one in ten batches with a count among them), now and then a query or
// no body, any version, credential and id.
static size_t
rnd_request(uint8_t *buf)
{
    static char t[8][8][96];
    Stocktwin__StockMovement m[8];
    Stocktwin__CycleCount c[8];
    Stocktwin__Event ev[8];
    Stocktwin__Event *evs[8];
    size_t n = 1 + rnd() % 8;
    for (size_t i = 0; i < n; i++) {
        rnd_event(&ev[i], &m[i], &c[i], t[i]);
        evs[i] = &ev[i];
    }
    Stocktwin__EventBatch b = STOCKTWIN__EVENT_BATCH__INIT;
    b.n_events = n, b.events = evs;
    Stocktwin__StatsQuery sq = STOCKTWIN__STATS_QUERY__INIT;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_STATS, q.stats = &sq;
    Stocktwin__Request r = STOCKTWIN__REQUEST__INIT;
    r.version = rnd() % 10 == 0 ? (uint32_t)rnd() : 1;
    r.credential = rnd() % 3 == 0 ? "user:secret" : r.credential;
    r.request_id = rnd() % 2 ? rnd() : 0;
    uint64_t k = rnd() % 20;
    if (k == 0) {
        r.body_case = STOCKTWIN__REQUEST__BODY_QUERY, r.query = &q;
    } else if (k != 1) {
        r.body_case = STOCKTWIN__REQUEST__BODY_BATCH, r.batch = &b;
    }
    return stocktwin__request__pack(&r, buf);
}

static void
same_event(const Stocktwin__Event *a, const Stocktwin__Event *b, size_t i)
{
    same_str(a->source, b->source, "source", i);
    same_str(a->warehouse, b->warehouse, "warehouse", i);
    cr_assert_eq(a->seq, b->seq, "request %zu", i);
    cr_assert_eq(a->event_time_ms, b->event_time_ms, "request %zu", i);
    cr_assert_eq(a->kind_case, b->kind_case, "request %zu", i);
    cr_assert_eq(a->kind_case, STOCKTWIN__EVENT__KIND_MOVEMENT, "request %zu", i);
    const Stocktwin__StockMovement *x = a->movement, *y = b->movement;
    cr_assert_eq(x->kind, y->kind, "request %zu", i);
    same_str(x->sku, y->sku, "sku", i);
    same_str(x->from_location, y->from_location, "from", i);
    same_str(x->to_location, y->to_location, "to", i);
    same_str(x->reason, y->reason, "reason", i);
    cr_assert_eq(x->qty, y->qty, "request %zu", i);
    cr_assert_eq(x->delta, y->delta, "request %zu", i);
}

// check_request: whenever the hand reader takes bytes, protobuf-c reads the
// same Request from them. Returns whether the hand reader took them.
static bool
check_request(const uint8_t *bytes, size_t len, size_t i)
{
    pool_used = 0;
    Stocktwin__Request *a = NULL;
    bool fast = st_codec_request_read_movements(bytes, len, &bump, &a);
    Stocktwin__Request *b = stocktwin__request__unpack(&bump, len, bytes);
    if (!fast)
        return false;
    cr_assert_not_null(b, "request %zu: the hand reader took bytes protobuf-c refuses", i);
    cr_assert_eq(a->version, b->version, "request %zu", i);
    same_str(a->credential, b->credential, "credential", i);
    cr_assert_eq(a->request_id, b->request_id, "request %zu", i);
    cr_assert_eq(a->body_case, b->body_case, "request %zu", i);
    cr_assert_eq(a->batch->n_events, b->batch->n_events, "request %zu", i);
    for (size_t k = 0; k < a->batch->n_events; k++)
        same_event(a->batch->events[k], b->batch->events[k], i);
    return true;
}

// The door's hand reader of a batch of movements builds the Request that
// protobuf-c builds, on random requests, cut, flipped and doubled (two
// Requests in a row merge: the batch's events add up).
Test(codec, hand_read_batches_agree_with_protobuf_c)
{
    static uint8_t a[1 << 16], d[1 << 17];
    size_t fast = 0;
    for (size_t i = 0; i < 10000; i++) {
        size_t n = rnd_request(a);
        fast += check_request(a, n, i);
        check_request(a, n ? (size_t)(rnd() % n) : 0, i);
        memcpy(d, a, n);
        if (n) {
            d[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
            check_request(d, n, i);
        }
        memcpy(d, a, n);
        memcpy(d + n, a, n);
        check_request(d, 2 * n, i);
    }
    cr_assert_gt(fast, 3000, "the hand reader took %zu of 10000 random requests", fast);
}
