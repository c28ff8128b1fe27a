// wire_test.c - server/wire.c: every event kind maps field for field, invalid
// input gets the right status and a sentence, statuses equal st_err codes,
// alerts and stock changes become the right messages, and hand-encoded
// inventory lines are byte for byte what protobuf-c packs.
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "server/arena.h"
#include "server/wire.h"

static st_arena arena;
static char msg[ST_WIRE_MESSAGE_MAX];

static void
setup(void)
{
    st_arena_init(&arena, 4096);
}

static void
teardown(void)
{
    st_arena_deinit(&arena);
}

TestSuite(wire, .init = setup, .fini = teardown);

// Every wire Status has an st_err of the same number and the same name
// ("STATUS_INSUFFICIENT_STOCK" <-> "insufficient_stock").
Test(wire, status_numbers_and_names_equal_st_err)
{
    const ProtobufCEnumDescriptor *d = &stocktwin__status__descriptor;
    cr_assert_eq(d->n_values, 22);
    for (unsigned i = 0; i < d->n_values; i++) {
        const char *pb = d->values[i].name + strlen("STATUS_");
        const char *core = st_err_str((st_err)d->values[i].value);
        cr_assert_eq(strlen(pb), strlen(core), "%s vs %s", pb, core);
        for (size_t k = 0; pb[k]; k++)
            cr_assert_eq(tolower((unsigned char)pb[k]), core[k], "%s vs %s", pb, core);
    }
}

static st_event
tr_ok(const Stocktwin__Event *pb)
{
    st_event e;
    st_err err = st_wire_event_from_pb(pb, &arena, &e, msg, sizeof msg);
    cr_assert_eq(err, ST_OK, "translation failed: %s", msg);
    cr_assert_str_eq(msg, "");
    return e;
}

static st_err
tr_err(const Stocktwin__Event *pb)
{
    st_event e;
    st_err err = st_wire_event_from_pb(pb, &arena, &e, msg, sizeof msg);
    cr_assert_neq(err, ST_OK);
    cr_assert_neq(msg[0], '\0', "an error comes with a sentence");
    cr_assert_eq(e.kind, ST_EV_NONE);
    return err;
}

#define EVENT(var)                                                                                \
    Stocktwin__Event var = STOCKTWIN__EVENT__INIT;                                                 \
    var.source = "dev-1";                                                                          \
    var.seq = 42;                                                                                  \
    var.event_time_ms = 1700000000123;                                                             \
    var.warehouse = "wh-1"

Test(wire, header_and_weight)
{
    EVENT(pb);
    Stocktwin__WeightReading w = STOCKTWIN__WEIGHT_READING__INIT;
    w.shelf = "shelf-1";
    w.weight_mg = 123456;
    pb.kind_case = STOCKTWIN__EVENT__KIND_WEIGHT;
    pb.weight = &w;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_WEIGHT);
    cr_assert_str_eq(e.source, "dev-1");
    cr_assert_eq(e.seq, 42);
    cr_assert_eq(e.event_time_ms, 1700000000123);
    cr_assert_str_eq(e.warehouse, "wh-1");
    cr_assert_str_eq(e.u.weight.shelf, "shelf-1");
    cr_assert_eq(e.u.weight.weight_mg, 123456);
}

Test(wire, rfid_with_tags)
{
    EVENT(pb);
    Stocktwin__RfidTag t1 = STOCKTWIN__RFID_TAG__INIT, t2 = STOCKTWIN__RFID_TAG__INIT;
    t1.sku = "SKU-1";
    t1.qty = 3;
    t1.epc = "E200";
    t2.sku = "SKU-2";
    Stocktwin__RfidTag *tags[] = {&t1, &t2};
    Stocktwin__RfidScan r = STOCKTWIN__RFID_SCAN__INIT;
    r.direction = STOCKTWIN__DIRECTION__OUTBOUND;
    r.n_tags = 2;
    r.tags = tags;
    pb.kind_case = STOCKTWIN__EVENT__KIND_RFID;
    pb.rfid = &r;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_RFID);
    cr_assert_eq(e.u.rfid.direction, ST_DIR_OUTBOUND);
    cr_assert_eq(e.u.rfid.tag_count, 2);
    cr_assert_str_eq(e.u.rfid.tags[0].sku, "SKU-1");
    cr_assert_eq(e.u.rfid.tags[0].qty, 3);
    cr_assert_str_eq(e.u.rfid.tags[0].epc, "E200");
    cr_assert_str_eq(e.u.rfid.tags[1].sku, "SKU-2");
    cr_assert_eq(e.u.rfid.tags[1].qty, 0);
    cr_assert_str_eq(e.u.rfid.tags[1].epc, "");
}

Test(wire, movement_and_count)
{
    EVENT(pb);
    Stocktwin__StockMovement m = STOCKTWIN__STOCK_MOVEMENT__INIT;
    m.kind = STOCKTWIN__MOVEMENT_KIND__ADJUST;
    m.sku = "SKU-1";
    m.qty = 7;
    m.from_location = "a";
    m.to_location = "b";
    m.delta = -2;
    m.reason = "damage";
    pb.kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
    pb.movement = &m;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_MOVEMENT);
    cr_assert_eq(e.u.movement.kind, ST_MOVE_ADJUST);
    cr_assert_str_eq(e.u.movement.sku, "SKU-1");
    cr_assert_eq(e.u.movement.qty, 7);
    cr_assert_str_eq(e.u.movement.from_location, "a");
    cr_assert_str_eq(e.u.movement.to_location, "b");
    cr_assert_eq(e.u.movement.delta, -2);
    cr_assert_str_eq(e.u.movement.reason, "damage");

    Stocktwin__CycleCount c = STOCKTWIN__CYCLE_COUNT__INIT;
    c.location = "bin-9";
    c.sku = "SKU-2";
    c.qty = 11;
    pb.kind_case = STOCKTWIN__EVENT__KIND_COUNT;
    pb.count = &c;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_COUNT);
    cr_assert_str_eq(e.u.count.location, "bin-9");
    cr_assert_str_eq(e.u.count.sku, "SKU-2");
    cr_assert_eq(e.u.count.qty, 11);
}

Test(wire, orders)
{
    EVENT(pb);
    Stocktwin__Reserve r = STOCKTWIN__RESERVE__INIT;
    r.order_id = "o-1";
    r.sku = "S";
    r.qty = 5;
    r.expires_at_ms = 99;
    pb.kind_case = STOCKTWIN__EVENT__KIND_RESERVE;
    pb.reserve = &r;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_RESERVE);
    cr_assert_str_eq(e.u.reserve.order_id, "o-1");
    cr_assert_str_eq(e.u.reserve.sku, "S");
    cr_assert_eq(e.u.reserve.qty, 5);
    cr_assert_eq(e.u.reserve.expires_at_ms, 99);

    Stocktwin__Release rl = STOCKTWIN__RELEASE__INIT;
    rl.order_id = "o-2";
    rl.sku = "T";
    rl.qty = 1;
    pb.kind_case = STOCKTWIN__EVENT__KIND_RELEASE;
    pb.release = &rl;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_RELEASE);
    cr_assert_str_eq(e.u.release.order_id, "o-2");
    cr_assert_str_eq(e.u.release.sku, "T");
    cr_assert_eq(e.u.release.qty, 1);

    Stocktwin__Fulfil f = STOCKTWIN__FULFIL__INIT;
    f.order_id = "o-3";
    f.sku = "U";
    f.qty = 2;
    f.from_location = "shelf-2";
    pb.kind_case = STOCKTWIN__EVENT__KIND_FULFIL;
    pb.fulfil = &f;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_FULFIL);
    cr_assert_str_eq(e.u.fulfil.order_id, "o-3");
    cr_assert_str_eq(e.u.fulfil.sku, "U");
    cr_assert_eq(e.u.fulfil.qty, 2);
    cr_assert_str_eq(e.u.fulfil.from_location, "shelf-2");
}

Test(wire, purchase_orders)
{
    EVENT(pb);
    Stocktwin__PurchaseOrderCreate c = STOCKTWIN__PURCHASE_ORDER_CREATE__INIT;
    c.po_id = "po-1";
    c.supplier = "sup";
    c.sku = "S";
    c.qty = 10;
    c.eta_ms = 5000;
    pb.kind_case = STOCKTWIN__EVENT__KIND_PO_CREATE;
    pb.po_create = &c;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_PO_CREATE);
    cr_assert_str_eq(e.u.po_create.po_id, "po-1");
    cr_assert_str_eq(e.u.po_create.supplier, "sup");
    cr_assert_str_eq(e.u.po_create.sku, "S");
    cr_assert_eq(e.u.po_create.qty, 10);
    cr_assert_eq(e.u.po_create.eta_ms, 5000);

    Stocktwin__PurchaseOrderEta eta = STOCKTWIN__PURCHASE_ORDER_ETA__INIT;
    eta.po_id = "po-1";
    eta.eta_ms = 6000;
    pb.kind_case = STOCKTWIN__EVENT__KIND_PO_ETA;
    pb.po_eta = &eta;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_PO_ETA);
    cr_assert_str_eq(e.u.po_eta.po_id, "po-1");
    cr_assert_eq(e.u.po_eta.eta_ms, 6000);

    Stocktwin__PurchaseOrderReceive r = STOCKTWIN__PURCHASE_ORDER_RECEIVE__INIT;
    r.po_id = "po-1";
    r.qty = 4;
    r.location = "dock";
    pb.kind_case = STOCKTWIN__EVENT__KIND_PO_RECEIVE;
    pb.po_receive = &r;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_PO_RECEIVE);
    cr_assert_str_eq(e.u.po_receive.po_id, "po-1");
    cr_assert_eq(e.u.po_receive.qty, 4);
    cr_assert_str_eq(e.u.po_receive.location, "dock");
}

Test(wire, transfers)
{
    EVENT(pb);
    Stocktwin__TransferDispatch d = STOCKTWIN__TRANSFER_DISPATCH__INIT;
    d.transfer_id = "t-1";
    d.to_warehouse = "wh-2";
    d.sku = "S";
    d.qty = 3;
    d.eta_ms = 77;
    d.from_location = "shelf";
    pb.kind_case = STOCKTWIN__EVENT__KIND_TRANSFER_DISPATCH;
    pb.transfer_dispatch = &d;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_TRANSFER_DISPATCH);
    cr_assert_str_eq(e.u.transfer_dispatch.transfer_id, "t-1");
    cr_assert_str_eq(e.u.transfer_dispatch.to_warehouse, "wh-2");
    cr_assert_str_eq(e.u.transfer_dispatch.sku, "S");
    cr_assert_eq(e.u.transfer_dispatch.qty, 3);
    cr_assert_eq(e.u.transfer_dispatch.eta_ms, 77);
    cr_assert_str_eq(e.u.transfer_dispatch.from_location, "shelf");

    Stocktwin__TransferPosition p = STOCKTWIN__TRANSFER_POSITION__INIT;
    p.transfer_id = "t-1";
    p.lat = 52.5;
    p.lon = 13.4;
    pb.kind_case = STOCKTWIN__EVENT__KIND_TRANSFER_POSITION;
    pb.transfer_position = &p;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_TRANSFER_POSITION);
    cr_assert_str_eq(e.u.transfer_position.transfer_id, "t-1");
    cr_assert_float_eq(e.u.transfer_position.lat, 52.5, 1e-9);
    cr_assert_float_eq(e.u.transfer_position.lon, 13.4, 1e-9);
    p.lat = 91;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);

    Stocktwin__TransferReceive r = STOCKTWIN__TRANSFER_RECEIVE__INIT;
    r.transfer_id = "t-1";
    r.location = "dock";
    pb.kind_case = STOCKTWIN__EVENT__KIND_TRANSFER_RECEIVE;
    pb.transfer_receive = &r;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_TRANSFER_RECEIVE);
    cr_assert_str_eq(e.u.transfer_receive.transfer_id, "t-1");
    cr_assert_str_eq(e.u.transfer_receive.location, "dock");
}

Test(wire, topology)
{
    EVENT(pb);
    Stocktwin__WarehouseUpsert w = STOCKTWIN__WAREHOUSE_UPSERT__INIT;
    w.name = "Berlin";
    w.location = "DE";
    w.total_capacity = 1000;
    pb.kind_case = STOCKTWIN__EVENT__KIND_WAREHOUSE_UPSERT;
    pb.warehouse_upsert = &w;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_WAREHOUSE_UPSERT);
    cr_assert_str_eq(e.u.warehouse_upsert.name, "Berlin");
    cr_assert_str_eq(e.u.warehouse_upsert.location, "DE");
    cr_assert_eq(e.u.warehouse_upsert.total_capacity, 1000);

    Stocktwin__ZoneUpsert z = STOCKTWIN__ZONE_UPSERT__INIT;
    z.zone_id = "z-1";
    z.name = "Cold room";
    z.type = STOCKTWIN__ZONE_TYPE__COLD;
    pb.kind_case = STOCKTWIN__EVENT__KIND_ZONE_UPSERT;
    pb.zone_upsert = &z;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_ZONE_UPSERT);
    cr_assert_str_eq(e.u.zone_upsert.zone_id, "z-1");
    cr_assert_str_eq(e.u.zone_upsert.name, "Cold room");
    cr_assert_eq(e.u.zone_upsert.type, ST_ZONE_COLD);

    Stocktwin__ShelfUpsert s = STOCKTWIN__SHELF_UPSERT__INIT;
    s.shelf_id = "s-1";
    s.zone_id = "z-1";
    s.max_weight_mg = 1;
    s.tare_mg = 2;
    s.sku = "SKU";
    s.authority = STOCKTWIN__WEIGHT_AUTHORITY__WEIGHT;
    s.tolerance_units = 3;
    s.anomaly_window_ms = 4;
    s.anomaly_threshold_mg = 5;
    pb.kind_case = STOCKTWIN__EVENT__KIND_SHELF_UPSERT;
    pb.shelf_upsert = &s;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_SHELF_UPSERT);
    cr_assert_str_eq(e.u.shelf_upsert.shelf_id, "s-1");
    cr_assert_str_eq(e.u.shelf_upsert.zone_id, "z-1");
    cr_assert_eq(e.u.shelf_upsert.max_weight_mg, 1);
    cr_assert_eq(e.u.shelf_upsert.tare_mg, 2);
    cr_assert_str_eq(e.u.shelf_upsert.sku, "SKU");
    cr_assert_eq(e.u.shelf_upsert.authority, ST_AUTH_WEIGHT);
    cr_assert_eq(e.u.shelf_upsert.tolerance_units, 3);
    cr_assert_eq(e.u.shelf_upsert.anomaly_window_ms, 4);
    cr_assert_eq(e.u.shelf_upsert.anomaly_threshold_mg, 5);

    Stocktwin__DeviceUpsert d = STOCKTWIN__DEVICE_UPSERT__INIT;
    d.device_id = "scale-1";
    d.kind = STOCKTWIN__DEVICE_KIND__WEIGHT_SENSOR;
    d.bound_to = "s-1";
    pb.kind_case = STOCKTWIN__EVENT__KIND_DEVICE_UPSERT;
    pb.device_upsert = &d;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_DEVICE_UPSERT);
    cr_assert_str_eq(e.u.device_upsert.device_id, "scale-1");
    cr_assert_eq(e.u.device_upsert.kind, ST_DEV_WEIGHT);
    cr_assert_str_eq(e.u.device_upsert.bound_to, "s-1");

    Stocktwin__StockPolicy p = STOCKTWIN__STOCK_POLICY__INIT;
    p.sku = "SKU";
    p.reorder_point = 6;
    p.safety_stock = 7;
    p.order_up_to = 8;
    pb.kind_case = STOCKTWIN__EVENT__KIND_STOCK_POLICY;
    pb.stock_policy = &p;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_STOCK_POLICY);
    cr_assert_str_eq(e.u.stock_policy.sku, "SKU");
    cr_assert_eq(e.u.stock_policy.reorder_point, 6);
    cr_assert_eq(e.u.stock_policy.safety_stock, 7);
    cr_assert_eq(e.u.stock_policy.order_up_to, 8);
}

Test(wire, catalog)
{
    EVENT(pb);
    pb.warehouse = "";
    Stocktwin__ProductUpsert p = STOCKTWIN__PRODUCT_UPSERT__INIT;
    p.sku = "SKU-1";
    p.name = "Widget";
    p.unit_weight_mg = 250000;
    p.category = "widgets";
    p.unit_cost_cents = 450;
    p.reorder_point = 20;
    pb.kind_case = STOCKTWIN__EVENT__KIND_PRODUCT_UPSERT;
    pb.product_upsert = &p;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_PRODUCT_UPSERT);
    cr_assert_str_eq(e.warehouse, "");
    cr_assert_str_eq(e.u.product_upsert.sku, "SKU-1");
    cr_assert_str_eq(e.u.product_upsert.name, "Widget");
    cr_assert_eq(e.u.product_upsert.unit_weight_mg, 250000);
    cr_assert_str_eq(e.u.product_upsert.category, "widgets");
    cr_assert_eq(e.u.product_upsert.unit_cost_cents, 450);
    cr_assert_eq(e.u.product_upsert.reorder_point, 20);

    Stocktwin__SupplierUpsert s = STOCKTWIN__SUPPLIER_UPSERT__INIT;
    s.supplier_id = "sup-1";
    s.name = "ACME";
    pb.kind_case = STOCKTWIN__EVENT__KIND_SUPPLIER_UPSERT;
    pb.supplier_upsert = &s;
    e = tr_ok(&pb);
    cr_assert_eq(e.kind, ST_EV_SUPPLIER_UPSERT);
    cr_assert_str_eq(e.u.supplier_upsert.supplier_id, "sup-1");
    cr_assert_str_eq(e.u.supplier_upsert.name, "ACME");
}

Test(wire, missing_kind_is_invalid_argument)
{
    EVENT(pb);
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "no kind") != NULL, "%s", msg);
    cr_assert_eq(st_wire_event_from_pb(NULL, &arena, &(st_event){0}, msg, sizeof msg), ST_INVALID_ARGUMENT);
}

Test(wire, id_over_64_bytes_is_invalid_argument)
{
    char id[ST_ID_LEN_MAX + 2];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0'; // 65 bytes
    EVENT(pb);
    Stocktwin__WeightReading w = STOCKTWIN__WEIGHT_READING__INIT;
    w.shelf = "shelf";
    pb.kind_case = STOCKTWIN__EVENT__KIND_WEIGHT;
    pb.weight = &w;
    pb.source = id;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "source") != NULL, "%s", msg);
    pb.source = "ok";
    w.shelf = id;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "weight.shelf") != NULL, "%s", msg);
    id[ST_ID_LEN_MAX] = '\0'; // exactly 64 bytes is fine
    tr_ok(&pb);
}

Test(wire, bad_enum_values_are_invalid_argument)
{
    EVENT(pb);
    Stocktwin__RfidScan r = STOCKTWIN__RFID_SCAN__INIT;
    r.direction = (Stocktwin__Direction)7;
    pb.kind_case = STOCKTWIN__EVENT__KIND_RFID;
    pb.rfid = &r;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "rfid.direction") != NULL, "%s", msg);

    Stocktwin__ZoneUpsert z = STOCKTWIN__ZONE_UPSERT__INIT;
    z.zone_id = "z";
    z.type = (Stocktwin__ZoneType)-1;
    pb.kind_case = STOCKTWIN__EVENT__KIND_ZONE_UPSERT;
    pb.zone_upsert = &z;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);

    Stocktwin__DeviceUpsert d = STOCKTWIN__DEVICE_UPSERT__INIT;
    d.device_id = "d";
    d.kind = (Stocktwin__DeviceKind)6;
    pb.kind_case = STOCKTWIN__EVENT__KIND_DEVICE_UPSERT;
    pb.device_upsert = &d;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);

    Stocktwin__StockMovement m = STOCKTWIN__STOCK_MOVEMENT__INIT;
    m.kind = (Stocktwin__MovementKind)6;
    pb.kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
    pb.movement = &m;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);

    Stocktwin__ShelfUpsert s = STOCKTWIN__SHELF_UPSERT__INIT;
    s.authority = (Stocktwin__WeightAuthority)2;
    pb.kind_case = STOCKTWIN__EVENT__KIND_SHELF_UPSERT;
    pb.shelf_upsert = &s;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
}

Test(wire, too_many_tags_is_too_large)
{
    EVENT(pb);
    Stocktwin__RfidTag tag = STOCKTWIN__RFID_TAG__INIT;
    tag.sku = "S";
    Stocktwin__RfidTag *tags[ST_RFID_TAGS_MAX + 1];
    for (unsigned i = 0; i <= ST_RFID_TAGS_MAX; i++)
        tags[i] = &tag;
    Stocktwin__RfidScan r = STOCKTWIN__RFID_SCAN__INIT;
    r.direction = STOCKTWIN__DIRECTION__INBOUND;
    r.n_tags = ST_RFID_TAGS_MAX + 1;
    r.tags = tags;
    pb.kind_case = STOCKTWIN__EVENT__KIND_RFID;
    pb.rfid = &r;
    cr_assert_eq(tr_err(&pb), ST_TOO_LARGE);
    r.n_tags = ST_RFID_TAGS_MAX;
    st_event e = tr_ok(&pb);
    cr_assert_eq(e.u.rfid.tag_count, ST_RFID_TAGS_MAX);
}

Test(wire, long_reason_and_internal_kinds_are_invalid_argument)
{
    EVENT(pb);
    char reason[ST_WIRE_REASON_LEN_MAX + 2];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    Stocktwin__StockMovement m = STOCKTWIN__STOCK_MOVEMENT__INIT;
    m.kind = STOCKTWIN__MOVEMENT_KIND__ADJUST;
    m.reason = reason;
    pb.kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
    pb.movement = &m;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);

    Stocktwin__TransferInbound in = STOCKTWIN__TRANSFER_INBOUND__INIT;
    pb.kind_case = STOCKTWIN__EVENT__KIND_TRANSFER_INBOUND;
    pb.transfer_inbound = &in;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "internal") != NULL, "%s", msg);
    Stocktwin__TransferArrived ar = STOCKTWIN__TRANSFER_ARRIVED__INIT;
    pb.kind_case = STOCKTWIN__EVENT__KIND_TRANSFER_ARRIVED;
    pb.transfer_arrived = &ar;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
    Stocktwin__Tick tick = STOCKTWIN__TICK__INIT; // only a worker's clock writes these
    pb.kind_case = STOCKTWIN__EVENT__KIND_TICK;
    pb.tick = &tick;
    cr_assert_eq(tr_err(&pb), ST_INVALID_ARGUMENT);
    cr_assert(strstr(msg, "internal") != NULL, "%s", msg);
}

// Bytes off the wire: an event whose oneof names a field number the proto
// does not define decodes as "no kind" and is refused, not crashed on.
Test(wire, unknown_kind_on_the_wire_decodes_as_no_kind)
{
    // Event{source:"s" (1), seq:1 (2), field 99 (varint 5)}
    const uint8_t bytes[] = {0x0a, 0x01, 's', 0x10, 0x01, 0x98, 0x06, 0x05};
    Stocktwin__Event *pb = stocktwin__event__unpack(&arena.pb, sizeof bytes, bytes);
    cr_assert_not_null(pb);
    cr_assert_eq(tr_err(pb), ST_INVALID_ARGUMENT);
}

Test(wire, alert_and_change_to_pb)
{
    st_alert a = {.kind = ST_ALERT_LOW_STOCK, .warehouse = "wh-berlin", .sku = "SKU-1003",
                  .location = "", .device = "", .event_time_ms = 5, .expected = 15, .actual = 12,
                  .alert_seq = 9};
    Stocktwin__Alert pb;
    st_wire_alert_to_pb(&a, &arena, &pb);
    cr_assert_eq(pb.kind, STOCKTWIN__ALERT_KIND__LOW_STOCK);
    cr_assert_str_eq(pb.warehouse, "wh-berlin");
    cr_assert_str_eq(pb.sku, "SKU-1003");
    cr_assert_eq(pb.event_time_ms, 5);
    cr_assert_eq(pb.expected, 15);
    cr_assert_eq(pb.actual, 12);
    cr_assert_eq(pb.alert_seq, 9);
    cr_assert_str_eq(pb.message, "available 12 <= reorder point 15");
    cr_assert_str_eq(st_wire_alert_kind_name(ST_ALERT_WEIGHT_ANOMALY), "WEIGHT_ANOMALY");

    st_change c = {.warehouse = "wh", .sku = "S", .on_hand = 10, .reserved = 3, .inbound = 4,
                   .in_transit_out = 2, .event_time_ms = 77};
    Stocktwin__StockChange sc;
    st_wire_change_to_pb(&c, &sc);
    cr_assert_str_eq(sc.sku, "S");
    cr_assert_eq(sc.on_hand, 10);
    cr_assert_eq(sc.reserved, 3);
    cr_assert_eq(sc.available, 7);
    cr_assert_eq(sc.inbound, 4);
    cr_assert_eq(sc.in_transit_out, 2);
    cr_assert_eq(sc.event_time_ms, 77);
}

Test(wire, arena_spills_and_resets)
{
    st_arena a;
    st_arena_init(&a, 64);
    char *p = st_arena_alloc(&a, 48);
    memset(p, 1, 48);
    char *q = st_arena_alloc(&a, 100000); // spills
    memset(q, 2, 100000);
    cr_assert(a.spill != NULL);
    cr_assert_eq(((uintptr_t)q) % ST_ARENA_ALIGN, 0);
    st_arena_reset(&a);
    cr_assert(a.spill == NULL);
    cr_assert_eq(st_arena_alloc(&a, 8), (void *)a.base);
    st_arena_deinit(&a);
}

// A view of the kind core hands out, with `n` locations.
static st_stock_view
line_view(const char *sku, const char *name, int64_t base, bool low, st_location_qty *locs,
          uint32_t n)
{
    return (st_stock_view){
        .warehouse = "wh-x",
        .sku = sku,
        .name = name,
        .sku_len = (uint32_t)strlen(sku),
        .name_len = (uint32_t)strlen(name),
        .on_hand = base,
        .reserved = base / 3,
        .available = base - base / 3,
        .inbound = base * 7,
        .in_transit_out = -base, // never negative in core; the encoding must not care
        .reorder_point = base ? 15 : 0,
        .below_reorder = low,
        .locations = n ? locs : NULL,
        .location_count = n,
    };
}

// protobuf-c's bytes for the same line as a `lines` entry of an
// InventoryResult (only that field set, so the result is key, length, line).
static size_t
reference_bytes(const st_stock_view *v, uint8_t *out, size_t cap)
{
    Stocktwin__InventoryLine line;
    st_wire_line_to_pb(v, &arena, &line);
    Stocktwin__InventoryLine *lines[] = {&line};
    Stocktwin__InventoryResult res = STOCKTWIN__INVENTORY_RESULT__INIT;
    res.n_lines = 1;
    res.lines = lines;
    size_t n = stocktwin__inventory_result__get_packed_size(&res);
    cr_assert_leq(n, cap);
    return stocktwin__inventory_result__pack(&res, out);
}

Test(wire, hand_encoded_lines_equal_protobuf_c)
{
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1); // a length that takes two varint bytes
    long_name[sizeof long_name - 1] = '\0';
    st_location_qty locs[200];
    for (uint32_t i = 0; i < 200; i++)
        locs[i] = (st_location_qty){.zone = i % 2 ? "STOR" : "RECV",
                                    .zone_len = 4,
                                    .shelf = i % 3 ? "S-01-02" : "",
                                    .shelf_len = i % 3 ? 7 : 0,
                                    .qty = i % 5 == 0 ? 0 : (int64_t)i * 1000003};
    const st_stock_view views[] = {
        line_view("SKU-1", "widget", 0, false, NULL, 0),        // every number a default
        line_view("SKU-2", "", 1, true, locs, 1),               // empty name
        line_view("SKU-3", long_name, 1 << 20, false, locs, 3), // two-byte lengths
        line_view("SKU-4", "gadget", INT64_MAX / 8, true, locs, 200),
        line_view("SKU-5", "x", -5, true, locs, 2), // negative: ten-byte varints
    };
    static uint8_t want[64 * 1024];
    st_wire_buf buf = {0};
    size_t at = 0;
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        size_t n = reference_bytes(&views[i], want, sizeof want);
        st_wire_line_encode(&views[i], &buf);
        cr_assert_eq(buf.len - at, n, "line %zu: %zu bytes, protobuf-c packs %zu", i, buf.len - at,
                     n);
        cr_assert_eq(memcmp(buf.bytes + at, want, n), 0, "line %zu: the bytes differ", i);
        at = buf.len;
    }
    // A whole Response: protobuf-c's part, the head, the lines. protobuf-c
    // reads it back with every line and the result's own fields.
    Stocktwin__Response resp = STOCKTWIN__RESPONSE__INIT;
    resp.request_id = 77;
    resp.lsn = 12345;
    size_t pb = stocktwin__response__get_packed_size(&resp);
    uint8_t head[ST_WIRE_INVENTORY_HEAD_MAX(4)];
    size_t head_len = st_wire_inventory_head(head, "wh-x", 123456, buf.len);
    uint8_t *msg_bytes = malloc(pb + head_len + buf.len);
    stocktwin__response__pack(&resp, msg_bytes);
    memcpy(msg_bytes + pb, head, head_len);
    memcpy(msg_bytes + pb + head_len, buf.bytes, buf.len);
    Stocktwin__Response *back =
        stocktwin__response__unpack(NULL, pb + head_len + buf.len, msg_bytes);
    cr_assert_not_null(back, "protobuf-c reads the spliced reply");
    cr_assert_eq(back->request_id, 77);
    cr_assert_eq(back->lsn, 12345);
    cr_assert_eq(back->result_case, STOCKTWIN__RESPONSE__RESULT_INVENTORY);
    cr_assert_str_eq(back->inventory->warehouse, "wh-x");
    cr_assert_eq(back->inventory->total_skus, 123456);
    cr_assert_eq(back->inventory->n_lines, 5);
    cr_assert_str_eq(back->inventory->lines[2]->name, long_name);
    cr_assert_eq(back->inventory->lines[3]->n_locations, 200);
    cr_assert_eq(back->inventory->lines[3]->locations[7]->qty, 7 * 1000003);
    cr_assert_str_eq(back->inventory->lines[3]->locations[7]->shelf, "S-01-02");
    cr_assert_eq(back->inventory->lines[4]->in_transit_out, 5);
    cr_assert_eq(back->inventory->lines[4]->on_hand, -5);
    stocktwin__response__free_unpacked(back, NULL);
    free(msg_bytes);
    free(buf.bytes);
}
