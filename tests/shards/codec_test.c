// codec_test.c - st_event <-> LogEntry: every kind survives the round trip
// byte for byte, and bytes that are not a valid entry are refused, never
// trusted (they come from the disk).
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

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
#define EV(k) (ev[n] = (st_event){.kind = (k), .source = "src", .seq = n + 1, \
                                  .event_time_ms = 1000 + (int64_t)n, .warehouse = "wh-1"}, &ev[n++])
    EV(ST_EV_WEIGHT)->u.weight = (__typeof__(ev->u.weight)){"shelf-1", 123456};
    EV(ST_EV_RFID)->u.rfid = (__typeof__(ev->u.rfid)){ST_DIR_OUTBOUND, 2, tags};
    EV(ST_EV_MOVEMENT)->u.movement = (__typeof__(ev->u.movement)){ST_MOVE_ADJUST, "SKU-1", 5, "a", "b", -7, "damage"};
    EV(ST_EV_COUNT)->u.count = (__typeof__(ev->u.count)){"bin-1", "SKU-1", 42};
    EV(ST_EV_RESERVE)->u.reserve = (__typeof__(ev->u.reserve)){"o-1", "SKU-1", 4, 99999};
    EV(ST_EV_RELEASE)->u.release = (__typeof__(ev->u.release)){"o-1", "SKU-1", 2};
    EV(ST_EV_FULFIL)->u.fulfil = (__typeof__(ev->u.fulfil)){"o-1", "SKU-1", 1, "bin-2"};
    EV(ST_EV_PO_CREATE)->u.po_create = (__typeof__(ev->u.po_create)){"po-1", "sup-1", "SKU-1", 50, 7777};
    EV(ST_EV_PO_ETA)->u.po_eta = (__typeof__(ev->u.po_eta)){"po-1", 8888};
    EV(ST_EV_PO_RECEIVE)->u.po_receive = (__typeof__(ev->u.po_receive)){"po-1", 20, "recv"};
    EV(ST_EV_TRANSFER_DISPATCH)->u.transfer_dispatch =
        (__typeof__(ev->u.transfer_dispatch)){"t-1", "wh-2", "SKU-1", 6, 5555, "bin-3"};
    EV(ST_EV_TRANSFER_POSITION)->u.transfer_position = (__typeof__(ev->u.transfer_position)){"t-1", 52.5, 13.4};
    EV(ST_EV_TRANSFER_RECEIVE)->u.transfer_receive = (__typeof__(ev->u.transfer_receive)){"t-1", "dock"};
    EV(ST_EV_WAREHOUSE_UPSERT)->u.warehouse_upsert = (__typeof__(ev->u.warehouse_upsert)){"Berlin", "DE", 1000};
    EV(ST_EV_ZONE_UPSERT)->u.zone_upsert = (__typeof__(ev->u.zone_upsert)){"z-1", "Cold", ST_ZONE_COLD};
    EV(ST_EV_SHELF_UPSERT)->u.shelf_upsert =
        (__typeof__(ev->u.shelf_upsert)){"s-1", "z-1", 900, 100, "SKU-1", ST_AUTH_WEIGHT, 2, 60000, 5000};
    EV(ST_EV_PRODUCT_UPSERT)->u.product_upsert =
        (__typeof__(ev->u.product_upsert)){"SKU-1", "Widget", 250, "parts", 199, 10};
    EV(ST_EV_DEVICE_UPSERT)->u.device_upsert = (__typeof__(ev->u.device_upsert)){"dev-1", ST_DEV_SMART_SHELF, "s-1"};
    EV(ST_EV_SUPPLIER_UPSERT)->u.supplier_upsert = (__typeof__(ev->u.supplier_upsert)){"sup-1", "Acme"};
    EV(ST_EV_STOCK_POLICY)->u.stock_policy = (__typeof__(ev->u.stock_policy)){"SKU-1", 10, 5, 100};
    EV(ST_EV_TRANSFER_INBOUND)->u.transfer_inbound =
        (__typeof__(ev->u.transfer_inbound)){"t-1", "wh-0", "SKU-1", 6, 5555};
    EV(ST_EV_TRANSFER_ARRIVED)->u.transfer_arrived = (__typeof__(ev->u.transfer_arrived)){"t-1"};
#undef EV
    ev[n - 2].source = "outbox/a-warehouse-id-of-sixty-four-bytes-xxxxxxxxxxxxxxxxxxxxxxxxxxxx";
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
    cr_assert_eq(n, 22, "one event per kind (20 on the wire, 2 internal)");
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
    cr_assert_eq(st_codec_event_from_pb(pb, &bump, false, &out, msg, sizeof msg), ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "internal") != NULL, "%s", msg);
    cr_assert_eq(st_codec_event_from_pb(pb, &bump, true, &out, msg, sizeof msg), ST_OK, "%s", msg);
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
    cr_assert_eq(st_codec_entry_unpack(garbage, sizeof garbage, &bump, &back, &meta, msg, sizeof msg),
                 ST_MALFORMED);
    cr_assert_eq(st_codec_entry_unpack("", 0, &bump, &back, &meta, msg, sizeof msg), ST_MALFORMED,
                 "an empty entry has no LSN");
}
