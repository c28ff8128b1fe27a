// codec.c - protobuf <-> core translation of events, the one place it is
// done: the server turns network Events into st_events here, and the shards
// will frame st_events as LogEntry records of the write-ahead log with the
// same mapping. See codec.h.
//
// Enums and event kinds are numbered alike on both sides (core/event.h says
// so and the asserts below prove it), so translation is a range check and a
// cast; strings are borrowed, not copied, on the way in.
#include "shards/codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "pb_wire.h"

// Status numbers equal st_err numbers: a status needs no mapping table.
#define ST_SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " == " #b)
ST_SAME(ST_OK, STOCKTWIN__STATUS__STATUS_OK);
ST_SAME(ST_DUPLICATE, STOCKTWIN__STATUS__STATUS_DUPLICATE);
ST_SAME(ST_STALE, STOCKTWIN__STATUS__STATUS_STALE);
ST_SAME(ST_INVALID_ARGUMENT, STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
ST_SAME(ST_TOO_LARGE, STOCKTWIN__STATUS__STATUS_TOO_LARGE);
ST_SAME(ST_MALFORMED, STOCKTWIN__STATUS__STATUS_MALFORMED);
ST_SAME(ST_BAD_VERSION, STOCKTWIN__STATUS__STATUS_BAD_VERSION);
ST_SAME(ST_UNKNOWN_WAREHOUSE, STOCKTWIN__STATUS__STATUS_UNKNOWN_WAREHOUSE);
ST_SAME(ST_UNKNOWN_LOCATION, STOCKTWIN__STATUS__STATUS_UNKNOWN_LOCATION);
ST_SAME(ST_UNKNOWN_PRODUCT, STOCKTWIN__STATUS__STATUS_UNKNOWN_PRODUCT);
ST_SAME(ST_UNKNOWN_DEVICE, STOCKTWIN__STATUS__STATUS_UNKNOWN_DEVICE);
ST_SAME(ST_UNKNOWN_SUPPLIER, STOCKTWIN__STATUS__STATUS_UNKNOWN_SUPPLIER);
ST_SAME(ST_UNKNOWN_ORDER, STOCKTWIN__STATUS__STATUS_UNKNOWN_ORDER);
ST_SAME(ST_INSUFFICIENT_STOCK, STOCKTWIN__STATUS__STATUS_INSUFFICIENT_STOCK);
ST_SAME(ST_CONFLICT, STOCKTWIN__STATUS__STATUS_CONFLICT);
ST_SAME(ST_CAPACITY, STOCKTWIN__STATUS__STATUS_CAPACITY);
ST_SAME(ST_BUSY, STOCKTWIN__STATUS__STATUS_BUSY);
ST_SAME(ST_UNAVAILABLE, STOCKTWIN__STATUS__STATUS_UNAVAILABLE);
ST_SAME(ST_INTERNAL, STOCKTWIN__STATUS__STATUS_INTERNAL);
ST_SAME(ST_NOT_FOUND, STOCKTWIN__STATUS__STATUS_NOT_FOUND);
ST_SAME(ST_NOT_LEADER, STOCKTWIN__STATUS__STATUS_NOT_LEADER);
ST_SAME(ST_FENCED, STOCKTWIN__STATUS__STATUS_FENCED);
// Event kinds equal the oneof's field numbers.
ST_SAME(ST_EV_WEIGHT, STOCKTWIN__EVENT__KIND_WEIGHT);
ST_SAME(ST_EV_RFID, STOCKTWIN__EVENT__KIND_RFID);
ST_SAME(ST_EV_MOVEMENT, STOCKTWIN__EVENT__KIND_MOVEMENT);
ST_SAME(ST_EV_COUNT, STOCKTWIN__EVENT__KIND_COUNT);
ST_SAME(ST_EV_RESERVE, STOCKTWIN__EVENT__KIND_RESERVE);
ST_SAME(ST_EV_RELEASE, STOCKTWIN__EVENT__KIND_RELEASE);
ST_SAME(ST_EV_FULFIL, STOCKTWIN__EVENT__KIND_FULFIL);
ST_SAME(ST_EV_PO_CREATE, STOCKTWIN__EVENT__KIND_PO_CREATE);
ST_SAME(ST_EV_PO_ETA, STOCKTWIN__EVENT__KIND_PO_ETA);
ST_SAME(ST_EV_PO_RECEIVE, STOCKTWIN__EVENT__KIND_PO_RECEIVE);
ST_SAME(ST_EV_TRANSFER_DISPATCH, STOCKTWIN__EVENT__KIND_TRANSFER_DISPATCH);
ST_SAME(ST_EV_TRANSFER_POSITION, STOCKTWIN__EVENT__KIND_TRANSFER_POSITION);
ST_SAME(ST_EV_TRANSFER_RECEIVE, STOCKTWIN__EVENT__KIND_TRANSFER_RECEIVE);
ST_SAME(ST_EV_WAREHOUSE_UPSERT, STOCKTWIN__EVENT__KIND_WAREHOUSE_UPSERT);
ST_SAME(ST_EV_ZONE_UPSERT, STOCKTWIN__EVENT__KIND_ZONE_UPSERT);
ST_SAME(ST_EV_SHELF_UPSERT, STOCKTWIN__EVENT__KIND_SHELF_UPSERT);
ST_SAME(ST_EV_PRODUCT_UPSERT, STOCKTWIN__EVENT__KIND_PRODUCT_UPSERT);
ST_SAME(ST_EV_DEVICE_UPSERT, STOCKTWIN__EVENT__KIND_DEVICE_UPSERT);
ST_SAME(ST_EV_SUPPLIER_UPSERT, STOCKTWIN__EVENT__KIND_SUPPLIER_UPSERT);
ST_SAME(ST_EV_STOCK_POLICY, STOCKTWIN__EVENT__KIND_STOCK_POLICY);
ST_SAME(ST_EV_TRANSFER_INBOUND, STOCKTWIN__EVENT__KIND_TRANSFER_INBOUND);
ST_SAME(ST_EV_TRANSFER_ARRIVED, STOCKTWIN__EVENT__KIND_TRANSFER_ARRIVED);
ST_SAME(ST_EV_TICK, STOCKTWIN__EVENT__KIND_TICK);
// Enums.
ST_SAME(ST_DIR_OUTBOUND, STOCKTWIN__DIRECTION__OUTBOUND);
ST_SAME(ST_MOVE_ADJUST, STOCKTWIN__MOVEMENT_KIND__ADJUST);
ST_SAME(ST_ZONE_DOCK, STOCKTWIN__ZONE_TYPE__DOCK);
ST_SAME(ST_AUTH_WEIGHT, STOCKTWIN__WEIGHT_AUTHORITY__WEIGHT);
ST_SAME(ST_DEV_GATEWAY, STOCKTWIN__DEVICE_KIND__GATEWAY);
ST_SAME(ST_ALERT_OVER_CAPACITY, STOCKTWIN__ALERT_KIND__OVER_CAPACITY);

// A translation in progress: the first error wins, later checks are skipped.
typedef struct tr {
    st_err err;
    char *msg;
    size_t msg_len;
} tr;

__attribute__((format(printf, 3, 4))) static void
fail(tr *t, st_err err, const char *fmt, ...)
{
    if (t->err != ST_OK)
        return;
    t->err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, t->msg_len, fmt, ap);
    va_end(ap);
}

// str checks a string's length (at most `max` bytes) and returns it,
// borrowed; NULL becomes "".
static const char *
str(tr *t, const char *field, const char *s, size_t max)
{
    if (s == NULL)
        return "";
    size_t n = strnlen(s, max + 1);
    if (n > max)
        fail(t, ST_INVALID_ARGUMENT, "%s is longer than %zu bytes", field, max);
    return s;
}

#define ID(field, s) str(t, field, (s), ST_ID_LEN_MAX)
#define TEXT(field, s) str(t, field, (s), ST_TEXT_LEN_MAX)

// en checks that an enum value is one the proto defines (0..max).
static int
en(tr *t, const char *field, int v, int max)
{
    if (v < 0 || v > max)
        fail(t, ST_INVALID_ARGUMENT, "%s has value %d, not one the protocol defines (0..%d)", field,
             v, max);
    return v;
}

static void
tr_rfid(tr *t, const Stocktwin__RfidScan *pb, ProtobufCAllocator *alloc, st_event *out)
{
    out->u.rfid.direction =
        (st_direction)en(t, "rfid.direction", (int)pb->direction, ST_DIR_OUTBOUND);
    if (pb->n_tags > ST_RFID_TAGS_MAX) {
        fail(t, ST_TOO_LARGE, "rfid has %zu tags, over the limit of %u", pb->n_tags,
             ST_RFID_TAGS_MAX);
        return;
    }
    size_t tags_bytes = (pb->n_tags ? pb->n_tags : 1) * sizeof(st_rfid_tag);
    st_rfid_tag *tags = alloc->alloc(alloc->allocator_data, tags_bytes);
    ST_ASSERT(tags != NULL);
    memset(tags, 0, tags_bytes);
    for (size_t i = 0; i < pb->n_tags && t->err == ST_OK; i++) {
        const Stocktwin__RfidTag *tag = pb->tags[i];
        if (tag == NULL) {
            fail(t, ST_INVALID_ARGUMENT, "rfid.tags[%zu] is missing", i);
            break;
        }
        tags[i].sku = ID("rfid.tags.sku", tag->sku);
        tags[i].qty = tag->qty;
        tags[i].epc = ID("rfid.tags.epc", tag->epc);
    }
    out->u.rfid.tag_count = (uint32_t)pb->n_tags;
    out->u.rfid.tags = tags;
}

static void
tr_movement(tr *t, const Stocktwin__StockMovement *pb, st_event *out)
{
    out->u.movement.kind = (st_movement_kind)en(t, "movement.kind", (int)pb->kind, ST_MOVE_ADJUST);
    out->u.movement.sku = ID("movement.sku", pb->sku);
    out->u.movement.qty = pb->qty;
    out->u.movement.from_location = ID("movement.from_location", pb->from_location);
    out->u.movement.to_location = ID("movement.to_location", pb->to_location);
    out->u.movement.delta = pb->delta;
    out->u.movement.reason = str(t, "movement.reason", pb->reason, ST_CODEC_REASON_LEN_MAX);
}

// tr_orders translates the order-like kinds: reservations, purchase orders,
// transfers.
static void
tr_orders(tr *t, const Stocktwin__Event *pb, st_event *out)
{
    switch (pb->kind_case) {
    case STOCKTWIN__EVENT__KIND_RESERVE:
        out->u.reserve.order_id = ID("reserve.order_id", pb->reserve->order_id);
        out->u.reserve.sku = ID("reserve.sku", pb->reserve->sku);
        out->u.reserve.qty = pb->reserve->qty;
        out->u.reserve.expires_at_ms = pb->reserve->expires_at_ms;
        break;
    case STOCKTWIN__EVENT__KIND_RELEASE:
        out->u.release.order_id = ID("release.order_id", pb->release->order_id);
        out->u.release.sku = ID("release.sku", pb->release->sku);
        out->u.release.qty = pb->release->qty;
        break;
    case STOCKTWIN__EVENT__KIND_FULFIL:
        out->u.fulfil.order_id = ID("fulfil.order_id", pb->fulfil->order_id);
        out->u.fulfil.sku = ID("fulfil.sku", pb->fulfil->sku);
        out->u.fulfil.qty = pb->fulfil->qty;
        out->u.fulfil.from_location = ID("fulfil.from_location", pb->fulfil->from_location);
        break;
    case STOCKTWIN__EVENT__KIND_PO_CREATE:
        out->u.po_create.po_id = ID("po_create.po_id", pb->po_create->po_id);
        out->u.po_create.supplier = ID("po_create.supplier", pb->po_create->supplier);
        out->u.po_create.sku = ID("po_create.sku", pb->po_create->sku);
        out->u.po_create.qty = pb->po_create->qty;
        out->u.po_create.eta_ms = pb->po_create->eta_ms;
        break;
    case STOCKTWIN__EVENT__KIND_PO_ETA:
        out->u.po_eta.po_id = ID("po_eta.po_id", pb->po_eta->po_id);
        out->u.po_eta.eta_ms = pb->po_eta->eta_ms;
        break;
    case STOCKTWIN__EVENT__KIND_PO_RECEIVE:
        out->u.po_receive.po_id = ID("po_receive.po_id", pb->po_receive->po_id);
        out->u.po_receive.qty = pb->po_receive->qty;
        out->u.po_receive.location = ID("po_receive.location", pb->po_receive->location);
        break;
    default:
        ST_ASSERT(!"tr_orders called with a kind it does not translate");
    }
}

static void
tr_transfers(tr *t, const Stocktwin__Event *pb, st_event *out)
{
    switch (pb->kind_case) {
    case STOCKTWIN__EVENT__KIND_TRANSFER_DISPATCH: {
        const Stocktwin__TransferDispatch *d = pb->transfer_dispatch;
        out->u.transfer_dispatch.transfer_id = ID("transfer_dispatch.transfer_id", d->transfer_id);
        out->u.transfer_dispatch.to_warehouse =
            ID("transfer_dispatch.to_warehouse", d->to_warehouse);
        out->u.transfer_dispatch.sku = ID("transfer_dispatch.sku", d->sku);
        out->u.transfer_dispatch.qty = d->qty;
        out->u.transfer_dispatch.eta_ms = d->eta_ms;
        out->u.transfer_dispatch.from_location =
            ID("transfer_dispatch.from_location", d->from_location);
        break;
    }
    case STOCKTWIN__EVENT__KIND_TRANSFER_POSITION:
        out->u.transfer_position.transfer_id =
            ID("transfer_position.transfer_id", pb->transfer_position->transfer_id);
        out->u.transfer_position.lat = pb->transfer_position->lat;
        out->u.transfer_position.lon = pb->transfer_position->lon;
        if (!(pb->transfer_position->lat >= -90.0 && pb->transfer_position->lat <= 90.0 &&
              pb->transfer_position->lon >= -180.0 && pb->transfer_position->lon <= 180.0))
            fail(t, ST_INVALID_ARGUMENT, "transfer_position lat/lon (%g, %g) is not on Earth",
                 pb->transfer_position->lat, pb->transfer_position->lon);
        break;
    case STOCKTWIN__EVENT__KIND_TRANSFER_RECEIVE:
        out->u.transfer_receive.transfer_id =
            ID("transfer_receive.transfer_id", pb->transfer_receive->transfer_id);
        out->u.transfer_receive.location =
            ID("transfer_receive.location", pb->transfer_receive->location);
        break;
    default:
        ST_ASSERT(!"tr_transfers called with a kind it does not translate");
    }
}

static void
tr_topology(tr *t, const Stocktwin__Event *pb, st_event *out)
{
    switch (pb->kind_case) {
    case STOCKTWIN__EVENT__KIND_WAREHOUSE_UPSERT:
        out->u.warehouse_upsert.name = TEXT("warehouse_upsert.name", pb->warehouse_upsert->name);
        out->u.warehouse_upsert.location =
            TEXT("warehouse_upsert.location", pb->warehouse_upsert->location);
        out->u.warehouse_upsert.total_capacity = pb->warehouse_upsert->total_capacity;
        break;
    case STOCKTWIN__EVENT__KIND_ZONE_UPSERT:
        out->u.zone_upsert.zone_id = ID("zone_upsert.zone_id", pb->zone_upsert->zone_id);
        out->u.zone_upsert.name = TEXT("zone_upsert.name", pb->zone_upsert->name);
        out->u.zone_upsert.type =
            (st_zone_type)en(t, "zone_upsert.type", (int)pb->zone_upsert->type, ST_ZONE_DOCK);
        break;
    case STOCKTWIN__EVENT__KIND_SHELF_UPSERT: {
        const Stocktwin__ShelfUpsert *s = pb->shelf_upsert;
        out->u.shelf_upsert.shelf_id = ID("shelf_upsert.shelf_id", s->shelf_id);
        out->u.shelf_upsert.zone_id = ID("shelf_upsert.zone_id", s->zone_id);
        out->u.shelf_upsert.max_weight_mg = s->max_weight_mg;
        out->u.shelf_upsert.tare_mg = s->tare_mg;
        out->u.shelf_upsert.sku = ID("shelf_upsert.sku", s->sku);
        out->u.shelf_upsert.authority =
            (st_authority)en(t, "shelf_upsert.authority", (int)s->authority, ST_AUTH_WEIGHT);
        out->u.shelf_upsert.tolerance_units = s->tolerance_units;
        out->u.shelf_upsert.anomaly_window_ms = s->anomaly_window_ms;
        out->u.shelf_upsert.anomaly_threshold_mg = s->anomaly_threshold_mg;
        break;
    }
    case STOCKTWIN__EVENT__KIND_PRODUCT_UPSERT: {
        const Stocktwin__ProductUpsert *p = pb->product_upsert;
        out->u.product_upsert.sku = ID("product_upsert.sku", p->sku);
        out->u.product_upsert.name = TEXT("product_upsert.name", p->name);
        out->u.product_upsert.unit_weight_mg = p->unit_weight_mg;
        out->u.product_upsert.category = TEXT("product_upsert.category", p->category);
        out->u.product_upsert.unit_cost_cents = p->unit_cost_cents;
        out->u.product_upsert.reorder_point = p->reorder_point;
        break;
    }
    case STOCKTWIN__EVENT__KIND_DEVICE_UPSERT:
        out->u.device_upsert.device_id =
            ID("device_upsert.device_id", pb->device_upsert->device_id);
        out->u.device_upsert.kind = (st_device_kind)en(
            t, "device_upsert.kind", (int)pb->device_upsert->kind, ST_DEV_GATEWAY);
        out->u.device_upsert.bound_to = ID("device_upsert.bound_to", pb->device_upsert->bound_to);
        break;
    case STOCKTWIN__EVENT__KIND_SUPPLIER_UPSERT:
        out->u.supplier_upsert.supplier_id =
            ID("supplier_upsert.supplier_id", pb->supplier_upsert->supplier_id);
        out->u.supplier_upsert.name = TEXT("supplier_upsert.name", pb->supplier_upsert->name);
        break;
    case STOCKTWIN__EVENT__KIND_STOCK_POLICY:
        out->u.stock_policy.sku = ID("stock_policy.sku", pb->stock_policy->sku);
        out->u.stock_policy.reorder_point = pb->stock_policy->reorder_point;
        out->u.stock_policy.safety_stock = pb->stock_policy->safety_stock;
        out->u.stock_policy.order_up_to = pb->stock_policy->order_up_to;
        break;
    default:
        ST_ASSERT(!"tr_topology called with a kind it does not translate");
    }
}

// tr_internal translates the runtime's own kinds (the outbox's transfer
// halves, the clock's ticks), which only the log carries.
static void
tr_internal(tr *t, const Stocktwin__Event *pb, st_event *out)
{
    if (pb->kind_case == STOCKTWIN__EVENT__KIND_TICK) {
        out->u.tick.device_silent_ms = pb->tick->device_silent_ms;
    } else if (pb->kind_case == STOCKTWIN__EVENT__KIND_TRANSFER_INBOUND) {
        const Stocktwin__TransferInbound *in = pb->transfer_inbound;
        out->u.transfer_inbound.transfer_id = ID("transfer_inbound.transfer_id", in->transfer_id);
        out->u.transfer_inbound.from_warehouse =
            ID("transfer_inbound.from_warehouse", in->from_warehouse);
        out->u.transfer_inbound.sku = ID("transfer_inbound.sku", in->sku);
        out->u.transfer_inbound.qty = in->qty;
        out->u.transfer_inbound.eta_ms = in->eta_ms;
    } else {
        ST_ASSERT(pb->kind_case == STOCKTWIN__EVENT__KIND_TRANSFER_ARRIVED);
        out->u.transfer_arrived.transfer_id =
            ID("transfer_arrived.transfer_id", pb->transfer_arrived->transfer_id);
    }
}

// kind_body returns the oneof's message pointer, whatever the kind: every
// member of the anonymous union is a pointer to a message.
static const void *
kind_body(const Stocktwin__Event *pb)
{
    return pb->weight;
}

st_err
st_codec_event_from_pb(const Stocktwin__Event *pb, ProtobufCAllocator *alloc, bool allow_internal,
                       st_event *out, char *msg, size_t msg_len)
{
    ST_ASSERT(out != NULL && alloc != NULL && msg != NULL && msg_len > 0);
    tr t = {.err = ST_OK, .msg = msg, .msg_len = msg_len};
    memset(out, 0, sizeof *out);
    msg[0] = '\0';
    if (pb == NULL) {
        fail(&t, ST_INVALID_ARGUMENT, "the event is missing");
        return t.err;
    }
    out->source =
        str(&t, "source", pb->source, allow_internal ? ST_CODEC_SOURCE_LEN_MAX : ST_ID_LEN_MAX);
    out->seq = pb->seq;
    out->event_time_ms = pb->event_time_ms;
    out->warehouse = str(&t, "warehouse", pb->warehouse, ST_ID_LEN_MAX);
    out->kind = (st_event_kind)pb->kind_case;
    if (pb->kind_case == STOCKTWIN__EVENT__KIND__NOT_SET) {
        fail(&t, ST_INVALID_ARGUMENT, "the event has no kind (weight, rfid, movement, ...)");
    } else if (kind_body(pb) == NULL) {
        fail(&t, ST_INVALID_ARGUMENT, "the event's %d body is missing", (int)pb->kind_case);
    }
    if (t.err != ST_OK) {
        out->kind = ST_EV_NONE;
        return t.err;
    }
    switch (pb->kind_case) {
    case STOCKTWIN__EVENT__KIND_WEIGHT:
        out->u.weight.shelf = str(&t, "weight.shelf", pb->weight->shelf, ST_ID_LEN_MAX);
        out->u.weight.weight_mg = pb->weight->weight_mg;
        break;
    case STOCKTWIN__EVENT__KIND_RFID:
        tr_rfid(&t, pb->rfid, alloc, out);
        break;
    case STOCKTWIN__EVENT__KIND_MOVEMENT:
        tr_movement(&t, pb->movement, out);
        break;
    case STOCKTWIN__EVENT__KIND_COUNT:
        out->u.count.location = str(&t, "count.location", pb->count->location, ST_ID_LEN_MAX);
        out->u.count.sku = str(&t, "count.sku", pb->count->sku, ST_ID_LEN_MAX);
        out->u.count.qty = pb->count->qty;
        break;
    case STOCKTWIN__EVENT__KIND_RESERVE:
    case STOCKTWIN__EVENT__KIND_RELEASE:
    case STOCKTWIN__EVENT__KIND_FULFIL:
    case STOCKTWIN__EVENT__KIND_PO_CREATE:
    case STOCKTWIN__EVENT__KIND_PO_ETA:
    case STOCKTWIN__EVENT__KIND_PO_RECEIVE:
        tr_orders(&t, pb, out);
        break;
    case STOCKTWIN__EVENT__KIND_TRANSFER_DISPATCH:
    case STOCKTWIN__EVENT__KIND_TRANSFER_POSITION:
    case STOCKTWIN__EVENT__KIND_TRANSFER_RECEIVE:
        tr_transfers(&t, pb, out);
        break;
    case STOCKTWIN__EVENT__KIND_WAREHOUSE_UPSERT:
    case STOCKTWIN__EVENT__KIND_ZONE_UPSERT:
    case STOCKTWIN__EVENT__KIND_SHELF_UPSERT:
    case STOCKTWIN__EVENT__KIND_PRODUCT_UPSERT:
    case STOCKTWIN__EVENT__KIND_DEVICE_UPSERT:
    case STOCKTWIN__EVENT__KIND_SUPPLIER_UPSERT:
    case STOCKTWIN__EVENT__KIND_STOCK_POLICY:
        tr_topology(&t, pb, out);
        break;
    case STOCKTWIN__EVENT__KIND_TRANSFER_INBOUND:
    case STOCKTWIN__EVENT__KIND_TRANSFER_ARRIVED:
    case STOCKTWIN__EVENT__KIND_TICK:
        if (allow_internal) {
            tr_internal(&t, pb, out);
            break;
        }
        fail(&t, ST_INVALID_ARGUMENT, "%s is an internal event kind, written only by the server",
             pb->kind_case == STOCKTWIN__EVENT__KIND_TRANSFER_INBOUND   ? "transfer_inbound"
             : pb->kind_case == STOCKTWIN__EVENT__KIND_TRANSFER_ARRIVED ? "transfer_arrived"
                                                                        : "tick");
        break;
    default:
        // protobuf-c keeps an unknown oneof member out of kind_case, so this
        // is a hand-built message with a made-up case.
        fail(&t, ST_INVALID_ARGUMENT, "event kind %d is not one the protocol defines",
             (int)pb->kind_case);
        break;
    }
    if (t.err != ST_OK)
        out->kind = ST_EV_NONE;
    return t.err;
}

// ---------------------------------------------------------------------------
// st_event -> protobuf, for the log.

// S hands a borrowed string to protobuf-c, which only reads it.
#define S(s) ((char *)((s) != NULL ? (s) : ""))

static void
to_pb_stock(const st_event *ev, st_codec_scratch *x, Stocktwin__Event *pb)
{
    switch (ev->kind) {
    case ST_EV_WEIGHT:
        stocktwin__weight_reading__init(&x->weight);
        x->weight.shelf = S(ev->u.weight.shelf);
        x->weight.weight_mg = ev->u.weight.weight_mg;
        pb->weight = &x->weight;
        break;
    case ST_EV_RFID:
        stocktwin__rfid_scan__init(&x->rfid);
        x->rfid.direction = (Stocktwin__Direction)ev->u.rfid.direction;
        ST_ASSERT(ev->u.rfid.tag_count <= ST_RFID_TAGS_MAX);
        for (uint32_t i = 0; i < ev->u.rfid.tag_count; i++) {
            stocktwin__rfid_tag__init(&x->tags[i]);
            x->tags[i].sku = S(ev->u.rfid.tags[i].sku);
            x->tags[i].qty = ev->u.rfid.tags[i].qty;
            x->tags[i].epc = S(ev->u.rfid.tags[i].epc);
            x->tag_ptrs[i] = &x->tags[i];
        }
        x->rfid.n_tags = ev->u.rfid.tag_count;
        x->rfid.tags = x->tag_ptrs;
        pb->rfid = &x->rfid;
        break;
    case ST_EV_MOVEMENT:
        stocktwin__stock_movement__init(&x->movement);
        x->movement.kind = (Stocktwin__MovementKind)ev->u.movement.kind;
        x->movement.sku = S(ev->u.movement.sku);
        x->movement.qty = ev->u.movement.qty;
        x->movement.from_location = S(ev->u.movement.from_location);
        x->movement.to_location = S(ev->u.movement.to_location);
        x->movement.delta = ev->u.movement.delta;
        x->movement.reason = S(ev->u.movement.reason);
        pb->movement = &x->movement;
        break;
    case ST_EV_COUNT:
        stocktwin__cycle_count__init(&x->count);
        x->count.location = S(ev->u.count.location);
        x->count.sku = S(ev->u.count.sku);
        x->count.qty = ev->u.count.qty;
        pb->count = &x->count;
        break;
    default:
        ST_ASSERT(!"to_pb_stock called with a kind it does not translate");
    }
}

static void
to_pb_orders(const st_event *ev, st_codec_scratch *x, Stocktwin__Event *pb)
{
    switch (ev->kind) {
    case ST_EV_RESERVE:
        stocktwin__reserve__init(&x->reserve);
        x->reserve.order_id = S(ev->u.reserve.order_id);
        x->reserve.sku = S(ev->u.reserve.sku);
        x->reserve.qty = ev->u.reserve.qty;
        x->reserve.expires_at_ms = ev->u.reserve.expires_at_ms;
        pb->reserve = &x->reserve;
        break;
    case ST_EV_RELEASE:
        stocktwin__release__init(&x->release);
        x->release.order_id = S(ev->u.release.order_id);
        x->release.sku = S(ev->u.release.sku);
        x->release.qty = ev->u.release.qty;
        pb->release = &x->release;
        break;
    case ST_EV_FULFIL:
        stocktwin__fulfil__init(&x->fulfil);
        x->fulfil.order_id = S(ev->u.fulfil.order_id);
        x->fulfil.sku = S(ev->u.fulfil.sku);
        x->fulfil.qty = ev->u.fulfil.qty;
        x->fulfil.from_location = S(ev->u.fulfil.from_location);
        pb->fulfil = &x->fulfil;
        break;
    case ST_EV_PO_CREATE:
        stocktwin__purchase_order_create__init(&x->po_create);
        x->po_create.po_id = S(ev->u.po_create.po_id);
        x->po_create.supplier = S(ev->u.po_create.supplier);
        x->po_create.sku = S(ev->u.po_create.sku);
        x->po_create.qty = ev->u.po_create.qty;
        x->po_create.eta_ms = ev->u.po_create.eta_ms;
        pb->po_create = &x->po_create;
        break;
    case ST_EV_PO_ETA:
        stocktwin__purchase_order_eta__init(&x->po_eta);
        x->po_eta.po_id = S(ev->u.po_eta.po_id);
        x->po_eta.eta_ms = ev->u.po_eta.eta_ms;
        pb->po_eta = &x->po_eta;
        break;
    case ST_EV_PO_RECEIVE:
        stocktwin__purchase_order_receive__init(&x->po_receive);
        x->po_receive.po_id = S(ev->u.po_receive.po_id);
        x->po_receive.qty = ev->u.po_receive.qty;
        x->po_receive.location = S(ev->u.po_receive.location);
        pb->po_receive = &x->po_receive;
        break;
    default:
        ST_ASSERT(!"to_pb_orders called with a kind it does not translate");
    }
}

static void
to_pb_transfers(const st_event *ev, st_codec_scratch *x, Stocktwin__Event *pb)
{
    switch (ev->kind) {
    case ST_EV_TRANSFER_DISPATCH:
        stocktwin__transfer_dispatch__init(&x->transfer_dispatch);
        x->transfer_dispatch.transfer_id = S(ev->u.transfer_dispatch.transfer_id);
        x->transfer_dispatch.to_warehouse = S(ev->u.transfer_dispatch.to_warehouse);
        x->transfer_dispatch.sku = S(ev->u.transfer_dispatch.sku);
        x->transfer_dispatch.qty = ev->u.transfer_dispatch.qty;
        x->transfer_dispatch.eta_ms = ev->u.transfer_dispatch.eta_ms;
        x->transfer_dispatch.from_location = S(ev->u.transfer_dispatch.from_location);
        pb->transfer_dispatch = &x->transfer_dispatch;
        break;
    case ST_EV_TRANSFER_POSITION:
        stocktwin__transfer_position__init(&x->transfer_position);
        x->transfer_position.transfer_id = S(ev->u.transfer_position.transfer_id);
        x->transfer_position.lat = ev->u.transfer_position.lat;
        x->transfer_position.lon = ev->u.transfer_position.lon;
        pb->transfer_position = &x->transfer_position;
        break;
    case ST_EV_TRANSFER_RECEIVE:
        stocktwin__transfer_receive__init(&x->transfer_receive);
        x->transfer_receive.transfer_id = S(ev->u.transfer_receive.transfer_id);
        x->transfer_receive.location = S(ev->u.transfer_receive.location);
        pb->transfer_receive = &x->transfer_receive;
        break;
    case ST_EV_TRANSFER_INBOUND:
        stocktwin__transfer_inbound__init(&x->transfer_inbound);
        x->transfer_inbound.transfer_id = S(ev->u.transfer_inbound.transfer_id);
        x->transfer_inbound.from_warehouse = S(ev->u.transfer_inbound.from_warehouse);
        x->transfer_inbound.sku = S(ev->u.transfer_inbound.sku);
        x->transfer_inbound.qty = ev->u.transfer_inbound.qty;
        x->transfer_inbound.eta_ms = ev->u.transfer_inbound.eta_ms;
        pb->transfer_inbound = &x->transfer_inbound;
        break;
    case ST_EV_TRANSFER_ARRIVED:
        stocktwin__transfer_arrived__init(&x->transfer_arrived);
        x->transfer_arrived.transfer_id = S(ev->u.transfer_arrived.transfer_id);
        pb->transfer_arrived = &x->transfer_arrived;
        break;
    default:
        ST_ASSERT(!"to_pb_transfers called with a kind it does not translate");
    }
}

static void
to_pb_places(const st_event *ev, st_codec_scratch *x, Stocktwin__Event *pb)
{
    switch (ev->kind) {
    case ST_EV_WAREHOUSE_UPSERT:
        stocktwin__warehouse_upsert__init(&x->warehouse_upsert);
        x->warehouse_upsert.name = S(ev->u.warehouse_upsert.name);
        x->warehouse_upsert.location = S(ev->u.warehouse_upsert.location);
        x->warehouse_upsert.total_capacity = ev->u.warehouse_upsert.total_capacity;
        pb->warehouse_upsert = &x->warehouse_upsert;
        break;
    case ST_EV_ZONE_UPSERT:
        stocktwin__zone_upsert__init(&x->zone_upsert);
        x->zone_upsert.zone_id = S(ev->u.zone_upsert.zone_id);
        x->zone_upsert.name = S(ev->u.zone_upsert.name);
        x->zone_upsert.type = (Stocktwin__ZoneType)ev->u.zone_upsert.type;
        pb->zone_upsert = &x->zone_upsert;
        break;
    case ST_EV_SHELF_UPSERT:
        stocktwin__shelf_upsert__init(&x->shelf_upsert);
        x->shelf_upsert.shelf_id = S(ev->u.shelf_upsert.shelf_id);
        x->shelf_upsert.zone_id = S(ev->u.shelf_upsert.zone_id);
        x->shelf_upsert.max_weight_mg = ev->u.shelf_upsert.max_weight_mg;
        x->shelf_upsert.tare_mg = ev->u.shelf_upsert.tare_mg;
        x->shelf_upsert.sku = S(ev->u.shelf_upsert.sku);
        x->shelf_upsert.authority = (Stocktwin__WeightAuthority)ev->u.shelf_upsert.authority;
        x->shelf_upsert.tolerance_units = ev->u.shelf_upsert.tolerance_units;
        x->shelf_upsert.anomaly_window_ms = ev->u.shelf_upsert.anomaly_window_ms;
        x->shelf_upsert.anomaly_threshold_mg = ev->u.shelf_upsert.anomaly_threshold_mg;
        pb->shelf_upsert = &x->shelf_upsert;
        break;
    case ST_EV_DEVICE_UPSERT:
        stocktwin__device_upsert__init(&x->device_upsert);
        x->device_upsert.device_id = S(ev->u.device_upsert.device_id);
        x->device_upsert.kind = (Stocktwin__DeviceKind)ev->u.device_upsert.kind;
        x->device_upsert.bound_to = S(ev->u.device_upsert.bound_to);
        pb->device_upsert = &x->device_upsert;
        break;
    default:
        ST_ASSERT(!"to_pb_places called with a kind it does not translate");
    }
}

static void
to_pb_catalog(const st_event *ev, st_codec_scratch *x, Stocktwin__Event *pb)
{
    switch (ev->kind) {
    case ST_EV_PRODUCT_UPSERT:
        stocktwin__product_upsert__init(&x->product_upsert);
        x->product_upsert.sku = S(ev->u.product_upsert.sku);
        x->product_upsert.name = S(ev->u.product_upsert.name);
        x->product_upsert.unit_weight_mg = ev->u.product_upsert.unit_weight_mg;
        x->product_upsert.category = S(ev->u.product_upsert.category);
        x->product_upsert.unit_cost_cents = ev->u.product_upsert.unit_cost_cents;
        x->product_upsert.reorder_point = ev->u.product_upsert.reorder_point;
        pb->product_upsert = &x->product_upsert;
        break;
    case ST_EV_SUPPLIER_UPSERT:
        stocktwin__supplier_upsert__init(&x->supplier_upsert);
        x->supplier_upsert.supplier_id = S(ev->u.supplier_upsert.supplier_id);
        x->supplier_upsert.name = S(ev->u.supplier_upsert.name);
        pb->supplier_upsert = &x->supplier_upsert;
        break;
    case ST_EV_STOCK_POLICY:
        stocktwin__stock_policy__init(&x->stock_policy);
        x->stock_policy.sku = S(ev->u.stock_policy.sku);
        x->stock_policy.reorder_point = ev->u.stock_policy.reorder_point;
        x->stock_policy.safety_stock = ev->u.stock_policy.safety_stock;
        x->stock_policy.order_up_to = ev->u.stock_policy.order_up_to;
        pb->stock_policy = &x->stock_policy;
        break;
    default:
        ST_ASSERT(!"to_pb_catalog called with a kind it does not translate");
    }
}

Stocktwin__Event *
st_codec_event_to_pb(const st_event *ev, st_codec_scratch *x)
{
    ST_ASSERT(ev != NULL && x != NULL);
    Stocktwin__Event *pb = &x->event;
    stocktwin__event__init(pb);
    pb->source = S(ev->source);
    pb->seq = ev->seq;
    pb->event_time_ms = ev->event_time_ms;
    pb->warehouse = S(ev->warehouse);
    pb->kind_case = (Stocktwin__Event__KindCase)ev->kind;
    switch (ev->kind) {
    case ST_EV_WEIGHT:
    case ST_EV_RFID:
    case ST_EV_MOVEMENT:
    case ST_EV_COUNT:
        to_pb_stock(ev, x, pb);
        break;
    case ST_EV_RESERVE:
    case ST_EV_RELEASE:
    case ST_EV_FULFIL:
    case ST_EV_PO_CREATE:
    case ST_EV_PO_ETA:
    case ST_EV_PO_RECEIVE:
        to_pb_orders(ev, x, pb);
        break;
    case ST_EV_TRANSFER_DISPATCH:
    case ST_EV_TRANSFER_POSITION:
    case ST_EV_TRANSFER_RECEIVE:
    case ST_EV_TRANSFER_INBOUND:
    case ST_EV_TRANSFER_ARRIVED:
        to_pb_transfers(ev, x, pb);
        break;
    case ST_EV_WAREHOUSE_UPSERT:
    case ST_EV_ZONE_UPSERT:
    case ST_EV_SHELF_UPSERT:
    case ST_EV_DEVICE_UPSERT:
        to_pb_places(ev, x, pb);
        break;
    case ST_EV_PRODUCT_UPSERT:
    case ST_EV_SUPPLIER_UPSERT:
    case ST_EV_STOCK_POLICY:
        to_pb_catalog(ev, x, pb);
        break;
    case ST_EV_TICK:
        stocktwin__tick__init(&x->tick);
        x->tick.device_silent_ms = ev->u.tick.device_silent_ms;
        pb->tick = &x->tick;
        break;
    default:
        ST_ASSERT(!"st_codec_event_to_pb: not an event kind");
    }
    ST_ASSERT(pb->weight != NULL); // every body member shares the union
    return pb;
}

// ---------------------------------------------------------------------------
// LogEntry.

// A movement's entry written by hand: protobuf-c's get_packed_size and pack
// walk the descriptors of three messages for each, and were ≈ 10 % of the
// daemon's time under a closed loop of moves. The rules are proto3's as
// protobuf-c applies them: fields in number order, a scalar or string only
// when it is not zero or empty, a message field whenever it is set, int64
// and enum values as the varint of their 64-bit two's complement.

// The strings of a movement's entry, in st_codec_scratch.str_len.
enum { MV_PRINCIPAL, MV_SOURCE, MV_WAREHOUSE, MV_SKU, MV_FROM, MV_TO, MV_REASON, MV_STRS };
_Static_assert(MV_STRS == sizeof((st_codec_scratch *)0)->str_len / sizeof(size_t),
               "one length a string");

size_t
st_codec_entry_size(const st_event *ev, const st_codec_entry *meta, st_codec_scratch *x)
{
    ST_ASSERT(meta != NULL && meta->lsn != 0);
    Stocktwin__LogEntry *e = &x->entry;
    stocktwin__log_entry__init(e);
    e->lsn = meta->lsn;
    e->epoch = meta->epoch;
    e->ingest_time_ms = meta->ingest_time_ms;
    e->principal = S(meta->principal);
    e->event = st_codec_event_to_pb(ev, x);
    x->movement_len = x->event_len = 0;
    if (e->event->kind_case != STOCKTWIN__EVENT__KIND_MOVEMENT)
        return stocktwin__log_entry__get_packed_size(e);
    const Stocktwin__StockMovement *m = e->event->movement;
    const Stocktwin__Event *pe = e->event;
    size_t *n = x->str_len;
    n[MV_PRINCIPAL] = strlen(e->principal);
    n[MV_SOURCE] = strlen(pe->source);
    n[MV_WAREHOUSE] = strlen(pe->warehouse);
    n[MV_SKU] = strlen(m->sku);
    n[MV_FROM] = strlen(m->from_location);
    n[MV_TO] = strlen(m->to_location);
    n[MV_REASON] = strlen(m->reason);
    x->movement_len = st_pb_size_varint(1, st_pb_enum(m->kind)) + st_pb_size_bytes(2, n[MV_SKU]) +
                      st_pb_size_varint(3, (uint64_t)m->qty) + st_pb_size_bytes(4, n[MV_FROM]) +
                      st_pb_size_bytes(5, n[MV_TO]) + st_pb_size_varint(6, (uint64_t)m->delta) +
                      st_pb_size_bytes(7, n[MV_REASON]);
    x->event_len = st_pb_size_bytes(1, n[MV_SOURCE]) + st_pb_size_varint(2, pe->seq) +
                   st_pb_size_varint(3, (uint64_t)pe->event_time_ms) +
                   st_pb_size_bytes(4, n[MV_WAREHOUSE]) +
                   st_pb_size_len(STOCKTWIN__EVENT__KIND_MOVEMENT, x->movement_len);
    return st_pb_size_varint(1, e->lsn) + st_pb_size_varint(2, e->epoch) +
           st_pb_size_varint(3, (uint64_t)e->ingest_time_ms) +
           st_pb_size_bytes(4, n[MV_PRINCIPAL]) + st_pb_size_len(5, x->event_len);
}

size_t
st_codec_entry_pack(st_codec_scratch *x, uint8_t *buf)
{
    const Stocktwin__LogEntry *e = &x->entry;
    ST_ASSERT(e->event == &x->event);
    if (e->event->kind_case != STOCKTWIN__EVENT__KIND_MOVEMENT)
        return stocktwin__log_entry__pack(&x->entry, buf);
    const Stocktwin__Event *pe = e->event;
    const Stocktwin__StockMovement *m = pe->movement;
    uint8_t *p = buf;
    p = st_pb_put_varint_field(p, 1, e->lsn);
    p = st_pb_put_varint_field(p, 2, e->epoch);
    p = st_pb_put_varint_field(p, 3, (uint64_t)e->ingest_time_ms);
    const size_t *n = x->str_len;
    p = st_pb_put_bytes(p, 4, e->principal, n[MV_PRINCIPAL]);
    p = st_pb_put_len(p, 5, x->event_len);
    p = st_pb_put_bytes(p, 1, pe->source, n[MV_SOURCE]);
    p = st_pb_put_varint_field(p, 2, pe->seq);
    p = st_pb_put_varint_field(p, 3, (uint64_t)pe->event_time_ms);
    p = st_pb_put_bytes(p, 4, pe->warehouse, n[MV_WAREHOUSE]);
    p = st_pb_put_len(p, STOCKTWIN__EVENT__KIND_MOVEMENT, x->movement_len);
    p = st_pb_put_varint_field(p, 1, st_pb_enum(m->kind));
    p = st_pb_put_bytes(p, 2, m->sku, n[MV_SKU]);
    p = st_pb_put_varint_field(p, 3, (uint64_t)m->qty);
    p = st_pb_put_bytes(p, 4, m->from_location, n[MV_FROM]);
    p = st_pb_put_bytes(p, 5, m->to_location, n[MV_TO]);
    p = st_pb_put_varint_field(p, 6, (uint64_t)m->delta);
    p = st_pb_put_bytes(p, 7, m->reason, n[MV_REASON]);
    return (size_t)(p - buf);
}

// ---------------------------------------------------------------------------
// LogEntry of a StockMovement, read by hand.
//
// Nearly every entry of a log is a movement, and protobuf-c's unpack, which
// walks the descriptors and parses each message twice, was the largest
// share of replay time (23 %, docs/PERFORMANCE.md). An entry of exactly
// this shape is read here into the same protobuf-c structs - strings copied
// into `alloc` and NUL-terminated, as protobuf-c copies them - and then goes
// through the same checks as any other. Any other shape (another kind, a
// field not listed below, a field twice, another wire type, a varint or
// length out of bounds) answers false and is left to protobuf-c, which
// decides; codec_test compares the two on random and damaged entries.

typedef struct wire {
    const uint8_t *p, *end;
} wire;

static inline bool
wire_varint(wire *w, uint64_t *v)
{
    return st_pb_varint(&w->p, w->end, v);
}

// wire_field reads a key: the field number and wire type, each field at
// most once (`seen`, a bit per number below 64).
static bool
wire_field(wire *w, uint64_t *seen, uint32_t *field, uint32_t *type)
{
    uint64_t key;
    if (!wire_varint(w, &key) || key >> 3 == 0 || key >> 3 >= 64)
        return false;
    *field = (uint32_t)(key >> 3);
    *type = (uint32_t)(key & 7u);
    if (*seen & (1ull << *field))
        return false;
    *seen |= 1ull << *field;
    return true;
}

// wire_bytes reads a length-delimited field's bounds into *sub.
static bool
wire_bytes(wire *w, wire *sub)
{
    uint64_t n;
    if (!wire_varint(w, &n) || n > (uint64_t)(w->end - w->p))
        return false;
    *sub = (wire){w->p, w->p + n};
    w->p += n;
    return true;
}

static bool
wire_string(wire *w, ProtobufCAllocator *alloc, char **out)
{
    wire sub;
    if (!wire_bytes(w, &sub))
        return false;
    size_t n = (size_t)(sub.end - sub.p);
    char *s = alloc->alloc(alloc->allocator_data, n + 1);
    if (s == NULL)
        return false;
    memcpy(s, sub.p, n);
    s[n] = '\0';
    *out = s;
    return true;
}

static bool
read_movement(wire w, ProtobufCAllocator *alloc, Stocktwin__StockMovement *m)
{
    uint64_t seen = 0, v = 0;
    uint32_t f, t;
    while (w.p < w.end) {
        if (!wire_field(&w, &seen, &f, &t))
            return false;
        bool ok;
        switch (f) {
        case 1:
            ok = t == 0 && wire_varint(&w, &v) && v <= UINT32_MAX;
            m->kind = (Stocktwin__MovementKind)(uint32_t)v;
            break;
        case 3:
            ok = t == 0 && wire_varint(&w, &v);
            m->qty = (int64_t)v;
            break;
        case 6:
            ok = t == 0 && wire_varint(&w, &v);
            m->delta = (int64_t)v;
            break;
        case 2:
            ok = t == 2 && wire_string(&w, alloc, &m->sku);
            break;
        case 4:
            ok = t == 2 && wire_string(&w, alloc, &m->from_location);
            break;
        case 5:
            ok = t == 2 && wire_string(&w, alloc, &m->to_location);
            break;
        case 7:
            ok = t == 2 && wire_string(&w, alloc, &m->reason);
            break;
        default:
            ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

static bool
read_event(wire w, ProtobufCAllocator *alloc, Stocktwin__Event *ev, Stocktwin__StockMovement *m)
{
    uint64_t seen = 0, v = 0;
    uint32_t f, t;
    wire sub;
    while (w.p < w.end) {
        if (!wire_field(&w, &seen, &f, &t))
            return false;
        bool ok;
        switch (f) {
        case 1:
            ok = t == 2 && wire_string(&w, alloc, &ev->source);
            break;
        case 2:
            ok = t == 0 && wire_varint(&w, &ev->seq);
            break;
        case 3:
            ok = t == 0 && wire_varint(&w, &v);
            ev->event_time_ms = (int64_t)v;
            break;
        case 4:
            ok = t == 2 && wire_string(&w, alloc, &ev->warehouse);
            break;
        case STOCKTWIN__EVENT__KIND_MOVEMENT:
            ok = t == 2 && wire_bytes(&w, &sub) && read_movement(sub, alloc, m);
            ev->kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
            ev->movement = m;
            break;
        default:
            ok = false;
        }
        if (!ok)
            return false;
    }
    return ev->kind_case == STOCKTWIN__EVENT__KIND_MOVEMENT;
}

bool
st_codec_entry_read_movement(const void *bytes, size_t len, ProtobufCAllocator *alloc,
                             st_codec_movement_entry *out)
{
    stocktwin__log_entry__init(&out->entry);
    stocktwin__event__init(&out->event);
    stocktwin__stock_movement__init(&out->movement);
    wire w = {bytes, (const uint8_t *)bytes + len}, sub;
    uint64_t seen = 0, v = 0;
    uint32_t f, t;
    while (w.p < w.end) {
        if (!wire_field(&w, &seen, &f, &t))
            return false;
        bool ok;
        switch (f) {
        case 1:
            ok = t == 0 && wire_varint(&w, &out->entry.lsn);
            break;
        case 2:
            ok = t == 0 && wire_varint(&w, &out->entry.epoch);
            break;
        case 3:
            ok = t == 0 && wire_varint(&w, &v);
            out->entry.ingest_time_ms = (int64_t)v;
            break;
        case 4:
            ok = t == 2 && wire_string(&w, alloc, &out->entry.principal);
            break;
        case 5:
            ok = t == 2 && wire_bytes(&w, &sub) &&
                 read_event(sub, alloc, &out->event, &out->movement);
            out->entry.event = &out->event;
            break;
        default:
            ok = false;
        }
        if (!ok)
            return false;
    }
    return out->entry.event != NULL;
}

bool
st_codec_entry_epoch(const void *bytes, size_t len, uint64_t *epoch)
{
    wire w = {bytes, (const uint8_t *)bytes + len}, sub;
    uint64_t seen = 0, v = 0;
    uint32_t f, t;
    bool have = false;
    while (w.p < w.end) { // to the end: a second field 2 would win in protobuf
        if (!wire_field(&w, &seen, &f, &t))
            return false;
        bool ok = t == 0 ? wire_varint(&w, &v) : t == 2 && wire_bytes(&w, &sub);
        if (!ok || (f == 2 && t != 0))
            return false;
        if (f == 2) {
            *epoch = v;
            have = true;
        }
    }
    return have && *epoch != 0;
}

// event_is_movement: the Event's top-level fields are only 1-4 and one
// movement (12), each value within bounds. A cheap look before anything is
// copied, so that a batch with another kind goes straight to protobuf-c.
static bool
event_is_movement(wire w)
{
    uint64_t seen = 0, v;
    uint32_t f, t;
    wire sub;
    while (w.p < w.end) {
        if (!wire_field(&w, &seen, &f, &t))
            return false;
        if (f > 4 && f != STOCKTWIN__EVENT__KIND_MOVEMENT)
            return false;
        if (t == 0 ? !wire_varint(&w, &v) : t != 2 || !wire_bytes(&w, &sub))
            return false;
    }
    return (seen >> STOCKTWIN__EVENT__KIND_MOVEMENT) & 1u;
}

// A Request carrying a batch of movements (what devices, WMS and the load
// generator send), read by hand like a movement's log entry above: the
// same structs protobuf-c would build, from `alloc`; any other shape
// (a query, another kind in the batch, a field not listed, a field twice)
// answers false and the caller uses protobuf-c.
bool
st_codec_request_read_movements(const void *bytes, size_t len, ProtobufCAllocator *alloc,
                                Stocktwin__Request **out)
{
    wire w = {bytes, (const uint8_t *)bytes + len}, batch = {NULL, NULL}, sub;
    uint64_t seen = 0, version = 0, request_id = 0;
    uint32_t f, t;
    char *credential = NULL;
    while (w.p < w.end) {
        if (!wire_field(&w, &seen, &f, &t))
            return false;
        bool ok;
        switch (f) {
        case 1:
            ok = t == 0 && wire_varint(&w, &version) && version <= UINT32_MAX;
            break;
        case 2:
            ok = t == 2 && wire_string(&w, alloc, &credential);
            break;
        case 3:
            ok = t == 0 && wire_varint(&w, &request_id);
            break;
        case STOCKTWIN__REQUEST__BODY_BATCH:
            ok = t == 2 && wire_bytes(&w, &batch);
            break;
        default:
            ok = false;
        }
        if (!ok)
            return false;
    }
    // The batch: field 1 (events) only, repeated; counted and looked at first.
    size_t n = 0;
    uint64_t bseen = 0;
    for (wire b = batch; b.p < b.end; n++) {
        bseen = 0; // repeated: each occurrence is one event
        if (!wire_field(&b, &bseen, &f, &t) || f != 1 || t != 2 || !wire_bytes(&b, &sub) ||
            !event_is_movement(sub))
            return false;
    }
    if (batch.p == NULL || n == 0)
        return false;
    Stocktwin__Request *r = alloc->alloc(alloc->allocator_data, sizeof *r);
    Stocktwin__EventBatch *eb = alloc->alloc(alloc->allocator_data, sizeof *eb);
    Stocktwin__Event **evs = alloc->alloc(alloc->allocator_data, n * sizeof *evs);
    Stocktwin__Event *ev = alloc->alloc(alloc->allocator_data, n * sizeof *ev);
    Stocktwin__StockMovement *mv = alloc->alloc(alloc->allocator_data, n * sizeof *mv);
    if (r == NULL || eb == NULL || evs == NULL || ev == NULL || mv == NULL)
        return false;
    stocktwin__request__init(r);
    stocktwin__event_batch__init(eb);
    size_t i = 0;
    for (wire b = batch; b.p < b.end; i++) {
        bseen = 0;
        if (!wire_field(&b, &bseen, &f, &t) || !wire_bytes(&b, &sub))
            return false;
        stocktwin__event__init(&ev[i]);
        stocktwin__stock_movement__init(&mv[i]);
        if (!read_event(sub, alloc, &ev[i], &mv[i]))
            return false;
        evs[i] = &ev[i];
    }
    ST_ASSERT(i == n);
    r->version = (uint32_t)version;
    if (credential != NULL)
        r->credential = credential;
    r->request_id = request_id;
    r->body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    r->batch = eb;
    eb->n_events = n;
    eb->events = evs;
    *out = r;
    return true;
}

st_err
st_codec_entry_unpack(const void *bytes, size_t len, ProtobufCAllocator *alloc, st_event *ev_out,
                      st_codec_entry *meta_out, char *msg, size_t msg_len)
{
    ST_ASSERT(alloc != NULL && ev_out != NULL && meta_out != NULL && msg_len > 0);
    st_codec_movement_entry fast; // borrowed by *ev_out only through strings in `alloc`
    Stocktwin__LogEntry *e = st_codec_entry_read_movement(bytes, len, alloc, &fast)
                                 ? &fast.entry
                                 : stocktwin__log_entry__unpack(alloc, len, bytes);
    if (e == NULL) {
        snprintf(msg, msg_len, "the log entry is not a valid LogEntry (%zu bytes)", len);
        return ST_MALFORMED;
    }
    if (e->lsn == 0 || e->event == NULL) {
        snprintf(msg, msg_len, "the log entry has %s", e->lsn == 0 ? "no LSN" : "no event");
        return ST_MALFORMED;
    }
    char why[ST_APPLY_MESSAGE_MAX];
    if (st_codec_event_from_pb(e->event, alloc, true, ev_out, why, sizeof why) != ST_OK) {
        snprintf(msg, msg_len, "the event of log entry %" PRIu64 " is invalid: %s", e->lsn, why);
        return ST_MALFORMED;
    }
    *meta_out = (st_codec_entry){.lsn = e->lsn,
                                 .epoch = e->epoch,
                                 .ingest_time_ms = e->ingest_time_ms,
                                 .principal = e->principal};
    msg[0] = '\0';
    return ST_OK;
}
