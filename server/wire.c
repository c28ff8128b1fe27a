// wire.c - protobuf <-> core translation for the server. See wire.h. Events
// go through shards/codec.c, the one place they are translated (the log uses
// it too); what is here are the server's own outputs.
#include "server/wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"

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
