// wire.c - protobuf <-> core translation for the server. See wire.h. Events
// go through shards/codec.c, the one place they are translated (the log uses
// it too); what is here are the server's own outputs.
#include "server/wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "pb_wire.h"

// Twin kinds are numbered alike too (the event-side asserts are in codec.c).
_Static_assert((int)ST_TWIN_SUPPLIER == (int)STOCKTWIN__TWIN_KIND__TWIN_SUPPLIER,
               "twin kinds match");

st_err
st_wire_event_from_pb(const Stocktwin__Event *pb, st_arena *arena, st_event *out, char *msg,
                      size_t msg_len)
{
    ST_ASSERT(arena != NULL);
    return st_codec_event_from_pb(pb, &arena->pb, false, out, msg, msg_len);
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
        return snprintf(buf, len, "device %s silent for %lld s (limit %lld s)",
                        a->device ? a->device : "", x / 1000, e / 1000);
    case ST_ALERT_SHIPMENT_DELAYED:
        return snprintf(buf, len, "%s past its eta: %lld of %lld received",
                        a->order && *a->order ? a->order : "shipment", x, e);
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
    out->order = st_arena_strdup(arena, a->order);
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

// --- hand encoding (wire.h) ---

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

// Sizes of proto3 fields numbered 1..15 (one-byte keys): 0 for a default
// value, which protobuf-c leaves out. int64 and bool travel as varints (a
// negative int64 as its two's complement: ten bytes).
static size_t
int_field_len(int64_t v)
{
    return v != 0 ? 1 + st_pb_varint_len((uint64_t)v) : 0;
}

static size_t
str_field_len(size_t n)
{
    return n != 0 ? 1 + st_pb_varint_len(n) + n : 0;
}

static uint8_t *
put_int(uint8_t *p, uint32_t field, int64_t v)
{
    if (v == 0)
        return p;
    *p++ = (uint8_t)(field << 3 | WIRE_VARINT);
    return st_pb_put_varint(p, (uint64_t)v);
}

static uint8_t *
put_str(uint8_t *p, uint32_t field, const char *str, size_t n)
{
    if (n == 0)
        return p;
    *p++ = (uint8_t)(field << 3 | WIRE_LEN);
    p = st_pb_put_varint(p, n);
    memcpy(p, str, n);
    return p + n;
}

static size_t
loc_body_len(const st_location_qty *l, size_t zone_len, size_t shelf_len)
{
    return str_field_len(zone_len) + str_field_len(shelf_len) + int_field_len(l->qty);
}

void
st_wire_line_encode(const st_stock_view *v, st_wire_buf *out)
{
    ST_ASSERT(v != NULL && out != NULL);
    size_t sku_len = v->sku_len, name_len = v->name_len;
    ST_ASSERT(v->sku[sku_len] == '\0' && v->name[name_len] == '\0'); // lengths that fit
    uint32_t n_locs = v->locations != NULL ? v->location_count : 0;
    size_t body = str_field_len(sku_len) + str_field_len(name_len) + int_field_len(v->on_hand) +
                  int_field_len(v->reserved) + int_field_len(v->available) +
                  int_field_len(v->inbound) + int_field_len(v->in_transit_out) +
                  int_field_len(v->reorder_point) + (v->below_reorder ? 2 : 0);
    for (uint32_t i = 0; i < n_locs; i++) {
        const st_location_qty *l = &v->locations[i];
        ST_ASSERT(l->zone[l->zone_len] == '\0' && l->shelf[l->shelf_len] == '\0');
        size_t lb = loc_body_len(l, l->zone_len, l->shelf_len);
        body += 1 + st_pb_varint_len(lb) + lb; // field 10: a message, even when empty
    }
    size_t need = 1 + st_pb_varint_len(body) + body;
    if (out->cap - out->len < need) {
        size_t cap = out->cap ? out->cap : 64 * 1024;
        while (cap - out->len < need)
            cap *= 2;
        // Through calloc, not realloc: the daemon's calloc takes blocks of
        // 16 KiB and more from an arena that keeps its pages (calloc.c).
        uint8_t *grown = st_calloc(cap, 1);
        if (out->len)
            memcpy(grown, out->bytes, out->len);
        st_free(out->bytes);
        out->bytes = grown;
        out->cap = cap;
    }
    uint8_t *p = out->bytes + out->len, *start = p;
    *p++ = 3 << 3 | WIRE_LEN; // InventoryResult.lines
    p = st_pb_put_varint(p, body);
    p = put_str(p, 1, v->sku, sku_len);
    p = put_str(p, 2, v->name, name_len);
    p = put_int(p, 3, v->on_hand);
    p = put_int(p, 4, v->reserved);
    p = put_int(p, 5, v->available);
    p = put_int(p, 6, v->inbound);
    p = put_int(p, 7, v->in_transit_out);
    p = put_int(p, 8, v->reorder_point);
    p = put_int(p, 9, v->below_reorder);
    for (uint32_t i = 0; i < n_locs; i++) {
        const st_location_qty *l = &v->locations[i];
        size_t zl = l->zone_len, sl = l->shelf_len;
        *p++ = 10 << 3 | WIRE_LEN; // InventoryLine.locations
        p = st_pb_put_varint(p, loc_body_len(l, zl, sl));
        p = put_str(p, 1, l->zone, zl);
        p = put_str(p, 2, l->shelf, sl);
        p = put_int(p, 3, l->qty);
    }
    ST_ASSERT((size_t)(p - start) == need);
    out->len += need;
}

size_t
st_wire_inventory_head(uint8_t *out, const char *warehouse, uint32_t total_skus, size_t lines_bytes)
{
    ST_ASSERT(out != NULL && warehouse != NULL);
    size_t wl = strlen(warehouse);
    size_t body = str_field_len(wl) + int_field_len(total_skus) + lines_bytes;
    uint8_t *p =
        st_pb_put_varint(out, (uint64_t)STOCKTWIN__RESPONSE__RESULT_INVENTORY << 3 | WIRE_LEN);
    p = st_pb_put_varint(p, body);
    p = put_str(p, 1, warehouse, wl);
    p = put_int(p, 2, total_skus);
    ST_ASSERT((size_t)(p - out) <= ST_WIRE_INVENTORY_HEAD_MAX(wl));
    return (size_t)(p - out);
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
