// wire.c - protobuf <-> core translation for the server. See wire.h.
//
// Enums and event kinds are numbered alike on both sides (core/event.h says
// so and the asserts below prove it), so translation is a range check and a
// cast; strings are borrowed, not copied, on the way in.
#include "server/wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"

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
// Enums.
ST_SAME(ST_DIR_OUTBOUND, STOCKTWIN__DIRECTION__OUTBOUND);
ST_SAME(ST_MOVE_ADJUST, STOCKTWIN__MOVEMENT_KIND__ADJUST);
ST_SAME(ST_ZONE_DOCK, STOCKTWIN__ZONE_TYPE__DOCK);
ST_SAME(ST_AUTH_WEIGHT, STOCKTWIN__WEIGHT_AUTHORITY__WEIGHT);
ST_SAME(ST_DEV_GATEWAY, STOCKTWIN__DEVICE_KIND__GATEWAY);
ST_SAME(ST_ALERT_OVER_CAPACITY, STOCKTWIN__ALERT_KIND__OVER_CAPACITY);
ST_SAME(ST_TWIN_SUPPLIER, STOCKTWIN__TWIN_KIND__TWIN_SUPPLIER);

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
        fail(t, ST_INVALID_ARGUMENT, "%s has value %d, not one the protocol defines (0..%d)",
             field, v, max);
    return v;
}

static void
tr_rfid(tr *t, const Stocktwin__RfidScan *pb, st_arena *arena, st_event *out)
{
    out->u.rfid.direction = (st_direction)en(t, "rfid.direction", (int)pb->direction, ST_DIR_OUTBOUND);
    if (pb->n_tags > ST_RFID_TAGS_MAX) {
        fail(t, ST_TOO_LARGE, "rfid has %zu tags, over the limit of %u", pb->n_tags,
             ST_RFID_TAGS_MAX);
        return;
    }
    st_rfid_tag *tags = st_arena_calloc(arena, pb->n_tags ? pb->n_tags : 1, sizeof *tags);
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
    out->u.movement.reason = str(t, "movement.reason", pb->reason, ST_WIRE_REASON_LEN_MAX);
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
        out->u.transfer_dispatch.to_warehouse = ID("transfer_dispatch.to_warehouse", d->to_warehouse);
        out->u.transfer_dispatch.sku = ID("transfer_dispatch.sku", d->sku);
        out->u.transfer_dispatch.qty = d->qty;
        out->u.transfer_dispatch.eta_ms = d->eta_ms;
        out->u.transfer_dispatch.from_location = ID("transfer_dispatch.from_location", d->from_location);
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
        out->u.transfer_receive.location = ID("transfer_receive.location", pb->transfer_receive->location);
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
        out->u.warehouse_upsert.location = TEXT("warehouse_upsert.location", pb->warehouse_upsert->location);
        out->u.warehouse_upsert.total_capacity = pb->warehouse_upsert->total_capacity;
        break;
    case STOCKTWIN__EVENT__KIND_ZONE_UPSERT:
        out->u.zone_upsert.zone_id = ID("zone_upsert.zone_id", pb->zone_upsert->zone_id);
        out->u.zone_upsert.name = TEXT("zone_upsert.name", pb->zone_upsert->name);
        out->u.zone_upsert.type = (st_zone_type)en(t, "zone_upsert.type", (int)pb->zone_upsert->type, ST_ZONE_DOCK);
        break;
    case STOCKTWIN__EVENT__KIND_SHELF_UPSERT: {
        const Stocktwin__ShelfUpsert *s = pb->shelf_upsert;
        out->u.shelf_upsert.shelf_id = ID("shelf_upsert.shelf_id", s->shelf_id);
        out->u.shelf_upsert.zone_id = ID("shelf_upsert.zone_id", s->zone_id);
        out->u.shelf_upsert.max_weight_mg = s->max_weight_mg;
        out->u.shelf_upsert.tare_mg = s->tare_mg;
        out->u.shelf_upsert.sku = ID("shelf_upsert.sku", s->sku);
        out->u.shelf_upsert.authority = (st_authority)en(t, "shelf_upsert.authority", (int)s->authority, ST_AUTH_WEIGHT);
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
        out->u.device_upsert.device_id = ID("device_upsert.device_id", pb->device_upsert->device_id);
        out->u.device_upsert.kind =
            (st_device_kind)en(t, "device_upsert.kind", (int)pb->device_upsert->kind, ST_DEV_GATEWAY);
        out->u.device_upsert.bound_to = ID("device_upsert.bound_to", pb->device_upsert->bound_to);
        break;
    case STOCKTWIN__EVENT__KIND_SUPPLIER_UPSERT:
        out->u.supplier_upsert.supplier_id = ID("supplier_upsert.supplier_id", pb->supplier_upsert->supplier_id);
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

// kind_body returns the oneof's message pointer, whatever the kind: every
// member of the anonymous union is a pointer to a message.
static const void *
kind_body(const Stocktwin__Event *pb)
{
    return pb->weight;
}

st_err
st_wire_event_from_pb(const Stocktwin__Event *pb, st_arena *arena, st_event *out, char *msg,
                      size_t msg_len)
{
    ST_ASSERT(out != NULL && arena != NULL && msg != NULL && msg_len > 0);
    tr t = {.err = ST_OK, .msg = msg, .msg_len = msg_len};
    memset(out, 0, sizeof *out);
    msg[0] = '\0';
    if (pb == NULL) {
        fail(&t, ST_INVALID_ARGUMENT, "the event is missing");
        return t.err;
    }
    out->source = str(&t, "source", pb->source, ST_ID_LEN_MAX);
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
        tr_rfid(&t, pb->rfid, arena, out);
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
        fail(&t, ST_INVALID_ARGUMENT, "%s is an internal event kind, written only by the server",
             pb->kind_case == STOCKTWIN__EVENT__KIND_TRANSFER_INBOUND ? "transfer_inbound"
                                                                     : "transfer_arrived");
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
// Outputs.

const char *
st_wire_alert_kind_name(st_alert_kind kind)
{
    switch (kind) {
    case ST_ALERT_LOW_STOCK: return "LOW_STOCK";
    case ST_ALERT_DISCREPANCY: return "DISCREPANCY";
    case ST_ALERT_WEIGHT_ANOMALY: return "WEIGHT_ANOMALY";
    case ST_ALERT_DEVICE_SILENT: return "DEVICE_SILENT";
    case ST_ALERT_SHIPMENT_DELAYED: return "SHIPMENT_DELAYED";
    case ST_ALERT_OVER_CAPACITY: return "OVER_CAPACITY";
    default: return "UNSPECIFIED";
    }
}

// st_wire_alert_text speaks in the alert's units: quantities for stock,
// grams and kilograms for weights, so an operator reads it at a glance.
int
st_wire_alert_text(const st_alert *a, char *buf, size_t len)
{
    ST_ASSERT(a != NULL && buf != NULL);
    long long e = (long long)a->expected, x = (long long)a->actual;
    switch (a->kind) {
    case ST_ALERT_LOW_STOCK:
        return snprintf(buf, len, "available %lld <= reorder point %lld", x, e);
    case ST_ALERT_DISCREPANCY:
        return snprintf(buf, len, "expected %lld, actual %lld (difference %+lld)", e, x, x - e);
    case ST_ALERT_WEIGHT_ANOMALY:
        return snprintf(buf, len, "weight swung from %.1f g to %.1f g within the window", e / 1000.0,
                        x / 1000.0);
    case ST_ALERT_OVER_CAPACITY:
        return snprintf(buf, len, "weight %.3f kg above max %.3f kg", x / 1e6, e / 1e6);
    case ST_ALERT_DEVICE_SILENT:
        return snprintf(buf, len, "device %s has not reported in time", a->device ? a->device : "");
    case ST_ALERT_SHIPMENT_DELAYED:
        return snprintf(buf, len, "shipment past its eta and not received");
    default:
        return snprintf(buf, len, "expected %lld, actual %lld", e, x);
    }
}

void
st_wire_alert_to_pb(const st_alert *a, st_arena *arena, Stocktwin__Alert *out)
{
    ST_ASSERT(a != NULL && arena != NULL && out != NULL);
    stocktwin__alert__init(out);
    char text[ST_WIRE_MESSAGE_MAX];
    st_wire_alert_text(a, text, sizeof text);
    out->kind = (Stocktwin__AlertKind)a->kind;
    out->warehouse = st_arena_strdup(arena, a->warehouse);
    out->sku = st_arena_strdup(arena, a->sku);
    out->location = st_arena_strdup(arena, a->location);
    out->device = st_arena_strdup(arena, a->device);
    out->event_time_ms = a->event_time_ms;
    out->expected = a->expected;
    out->actual = a->actual;
    out->message = st_arena_strdup(arena, text);
    out->alert_seq = a->alert_seq;
}

void
st_wire_change_to_pb(const st_change *c, Stocktwin__StockChange *out)
{
    ST_ASSERT(c != NULL && out != NULL);
    stocktwin__stock_change__init(out);
    out->sku = (char *)(c->sku ? c->sku : "");
    out->on_hand = c->on_hand;
    out->reserved = c->reserved;
    out->available = c->on_hand - c->reserved;
    out->inbound = c->inbound;
    out->in_transit_out = c->in_transit_out;
    out->event_time_ms = c->event_time_ms;
}

void
st_wire_line_to_pb(const st_stock_view *v, st_arena *arena, Stocktwin__InventoryLine *out)
{
    ST_ASSERT(v != NULL && arena != NULL && out != NULL);
    stocktwin__inventory_line__init(out);
    out->sku = st_arena_strdup(arena, v->sku);
    out->name = st_arena_strdup(arena, v->name);
    out->on_hand = v->on_hand;
    out->reserved = v->reserved;
    out->available = v->available;
    out->inbound = v->inbound;
    out->in_transit_out = v->in_transit_out;
    out->reorder_point = v->reorder_point;
    out->below_reorder = v->below_reorder;
    uint32_t n = v->locations != NULL ? v->location_count : 0;
    if (n == 0)
        return;
    Stocktwin__LocationQty *locs = st_arena_alloc(arena, n * sizeof *locs);
    out->locations = st_arena_alloc(arena, n * sizeof *out->locations);
    for (uint32_t i = 0; i < n; i++) {
        stocktwin__location_qty__init(&locs[i]);
        locs[i].zone = st_arena_strdup(arena, v->locations[i].zone);
        locs[i].shelf = st_arena_strdup(arena, v->locations[i].shelf);
        locs[i].qty = v->locations[i].qty;
        out->locations[i] = &locs[i];
    }
    out->n_locations = n;
}

void
st_wire_sku_to_pb(const st_stock_view *v, st_arena *arena, Stocktwin__SkuWarehouse *out)
{
    ST_ASSERT(v != NULL && arena != NULL && out != NULL);
    stocktwin__sku_warehouse__init(out);
    out->warehouse = st_arena_strdup(arena, v->warehouse);
    out->on_hand = v->on_hand;
    out->reserved = v->reserved;
    out->available = v->available;
    out->inbound = v->inbound;
    out->in_transit_out = v->in_transit_out;
    out->reorder_point = v->reorder_point;
    out->below_reorder = v->below_reorder;
}

static void
prop_to_pb(const st_prop *p, st_arena *arena, Stocktwin__Property *out)
{
    stocktwin__property__init(out);
    out->name = st_arena_strdup(arena, p->name);
    switch (p->type) {
    case ST_PROP_TEXT:
        out->value_case = STOCKTWIN__PROPERTY__VALUE_TEXT;
        out->text = st_arena_strdup(arena, p->text);
        break;
    case ST_PROP_INT:
        out->value_case = STOCKTWIN__PROPERTY__VALUE_INTEGER;
        out->integer = p->integer;
        break;
    case ST_PROP_REAL:
        out->value_case = STOCKTWIN__PROPERTY__VALUE_REAL;
        out->real = p->real;
        break;
    default:
        break; // no value: the name alone
    }
}

void
st_wire_twin_to_pb(const st_twin_view *v, st_arena *arena, Stocktwin__TwinResult *out)
{
    ST_ASSERT(v != NULL && arena != NULL && out != NULL);
    ST_ASSERT(v->prop_count <= ST_TWIN_PROPS_MAX);
    stocktwin__twin_result__init(out);
    out->id = st_arena_strdup(arena, v->id);
    out->kind = (Stocktwin__TwinKind)v->kind;
    out->warehouse = st_arena_strdup(arena, v->warehouse);
    Stocktwin__Property *props = st_arena_alloc(arena, (v->prop_count + 1) * sizeof *props);
    out->properties = st_arena_alloc(arena, (v->prop_count + 1) * sizeof *out->properties);
    for (uint32_t i = 0; i < v->prop_count; i++) {
        prop_to_pb(&v->props[i], arena, &props[i]);
        out->properties[i] = &props[i];
    }
    out->n_properties = v->prop_count;
    uint32_t n = v->rels != NULL ? v->rel_count : 0;
    Stocktwin__Relationship *rels = st_arena_alloc(arena, (n + 1) * sizeof *rels);
    out->relationships = st_arena_alloc(arena, (n + 1) * sizeof *out->relationships);
    for (uint32_t i = 0; i < n; i++) {
        stocktwin__relationship__init(&rels[i]);
        rels[i].name = st_arena_strdup(arena, v->rels[i].name);
        rels[i].target = st_arena_strdup(arena, v->rels[i].target);
        out->relationships[i] = &rels[i];
    }
    out->n_relationships = n;
}

void
st_wire_worker_to_pb(const st_shards_worker_info *info, const st_state_stats *stats,
                     Stocktwin__WorkerStats *out)
{
    ST_ASSERT(info != NULL && stats != NULL && out != NULL);
    stocktwin__worker_stats__init(out);
    out->worker = info->worker;
    out->warehouses = stats->warehouses;
    out->stock_records = stats->stock_records;
    out->events_accepted = info->events_accepted;
    out->events_rejected = info->events_rejected;
    out->events_duplicate = info->events_duplicate;
    out->queries = info->queries;
    out->busy_rejections = info->busy_rejections;
    out->queue_depth = info->queue_depth;
    out->queue_capacity = info->queue_capacity;
}
