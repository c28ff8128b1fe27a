// state.c - st_state's life cycle and st_state_apply(): the checks common to
// every event, the duplicate window, dispatch to the handlers of apply.h, and
// what every accepted event produces (changes, low-stock alerts).
// Thread: the state's owner.
#include <string.h>

#include "core/alloc.h"
#include "core/apply.h"
#include "core/assert.h"
#include "core/model.h"

static void
st_state_config_defaults(st_state_config *c)
{
    if (c->anomaly_window_ms <= 0)
        c->anomaly_window_ms = 300000;
    if (c->anomaly_threshold_mg <= 0)
        c->anomaly_threshold_mg = 50000;
    if (!c->sources_max)
        c->sources_max = 65536;
    if (!c->alerts_kept)
        c->alerts_kept = 256;
    if (!c->warehouses_max)
        c->warehouses_max = 4096;
    if (!c->twins_max)
        c->twins_max = 1u << 20;
    if (!c->products_max)
        c->products_max = 1u << 24;
    if (c->products_max > 1u << 30) // a stock record keeps the catalog index in 31 bits
        c->products_max = 1u << 30;
    if (!c->orders_max)
        c->orders_max = 1u << 22;
    if (!c->bin_walk)
        c->bin_walk = 8;
    if (c->bin_walk > 64)
        c->bin_walk = 64;
}

st_err
st_state_create(const st_state_config *config, st_state **state_out)
{
    ST_ASSERT(state_out != NULL);
    st_state *s = st_calloc(1, sizeof *s);
    if (config)
        s->cfg = *config;
    st_state_config_defaults(&s->cfg);
    st_intern_init(&s->intern);
    *state_out = s;
    return ST_OK;
}

void
st_state_destroy(st_state *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->whs_n; i++)
        st_wh_destroy(s->whs[i]);
    st_free(s->whs);
    st_free(s->products);
    st_free(s->suppliers);
    st_map_deinit(&s->product_index);
    st_map_deinit(&s->supplier_index);
    st_map_deinit(&s->wh_index);
    st_dedup_deinit(&s->catalog_dedup);
    st_intern_deinit(&s->intern);
    st_free(s);
}

bool
st_state_has_warehouse(const st_state *s, const char *id)
{
    ST_ASSERT(s != NULL);
    return st_find_wh(s, id) != NULL;
}

typedef st_err (*st_handler)(st_state *s);

static st_handler
st_handler_of(st_event_kind kind)
{
    switch (kind) {
    case ST_EV_WEIGHT:
        return st_apply_weight;
    case ST_EV_RFID:
        return st_apply_rfid;
    case ST_EV_MOVEMENT:
        return st_apply_movement;
    case ST_EV_COUNT:
        return st_apply_count;
    case ST_EV_RESERVE:
        return st_apply_reserve;
    case ST_EV_RELEASE:
        return st_apply_release;
    case ST_EV_FULFIL:
        return st_apply_fulfil;
    case ST_EV_PO_CREATE:
        return st_apply_po_create;
    case ST_EV_PO_ETA:
        return st_apply_po_eta;
    case ST_EV_PO_RECEIVE:
        return st_apply_po_receive;
    case ST_EV_TRANSFER_DISPATCH:
        return st_apply_transfer_dispatch;
    case ST_EV_TRANSFER_POSITION:
        return st_apply_transfer_position;
    case ST_EV_TRANSFER_RECEIVE:
        return st_apply_transfer_receive;
    case ST_EV_WAREHOUSE_UPSERT:
        return st_apply_warehouse;
    case ST_EV_ZONE_UPSERT:
        return st_apply_zone;
    case ST_EV_SHELF_UPSERT:
        return st_apply_shelf;
    case ST_EV_PRODUCT_UPSERT:
        return st_apply_product;
    case ST_EV_DEVICE_UPSERT:
        return st_apply_device;
    case ST_EV_SUPPLIER_UPSERT:
        return st_apply_supplier;
    case ST_EV_STOCK_POLICY:
        return st_apply_policy;
    case ST_EV_TRANSFER_INBOUND:
        return st_apply_transfer_inbound;
    case ST_EV_TRANSFER_ARRIVED:
        return st_apply_transfer_arrived;
    case ST_EV_TICK:
        return st_apply_tick;
    case ST_EV_NONE:
        break;
    }
    return NULL;
}

// st_state_common checks what every event carries. Outbox sources are
// "outbox/<warehouse>", longer than a wire id may be, so internal kinds get
// the longer limit. The lengths it measured of source and warehouse (0 for a
// catalog event's) go to the lookups that follow.
static st_err
st_state_common(st_state *s, const st_event *ev, size_t *source_len, size_t *wh_len)
{
    bool internal = st_event_is_transfer_half(ev->kind);
    size_t max = internal ? ST_SOURCE_LEN_MAX : ST_ID_LEN_MAX;
    size_t len = ev->source ? strnlen(ev->source, max + 1) : 0;
    *source_len = len;
    *wh_len = 0;
    if (len == 0)
        return st_fail(s, ST_INVALID_ARGUMENT, "source is required");
    if (len > max)
        return st_fail(s, ST_INVALID_ARGUMENT, "source is longer than %zu bytes", max);
    if (ev->seq < 1)
        return st_fail(s, ST_INVALID_ARGUMENT, "seq must be >= 1");
    if (ev->event_time_ms < 0)
        return st_fail(s, ST_INVALID_ARGUMENT, "event_time_ms must be >= 0");
    if (st_event_is_catalog(ev->kind))
        return ST_OK;
    return st_check_id_len(s, "warehouse", ev->warehouse, true, wh_len);
}

// st_state_finish runs after an accepted event changed stock records: every
// touched record is reported once, its invariants asserted, and its low-stock
// edge evaluated (raised when available falls to or below the reorder point,
// re-armed once it is above it again).
static void
st_state_finish(st_state *s)
{
    st_wh *wh = s->wh;
    for (uint32_t i = 0; i < s->touched_n; i++) {
        st_stock *r = &wh->stocks[s->touched[i]];
        const st_stock_ext *x = st_ext(wh, r);
        ST_ASSERT(r->on_hand >= 0 && x->reserved >= 0 && x->reserved <= r->on_hand);
        ST_ASSERT(x->inbound >= 0 && x->in_transit_out >= 0);
        r->last_event_ms = s->ev->event_time_ms;
        int64_t available = r->on_hand - x->reserved;
        if (r->low_armed && available <= r->reorder_point) {
            r->low_armed = 0;
            st_alert_raise(s, ST_ALERT_LOW_STOCK, r->product, ST_NONE, ST_NONE, r->reorder_point,
                           available);
        } else if (!r->low_armed && available > r->reorder_point) {
            r->low_armed = 1;
        }
        s->out->changes[s->out->change_count++] = (st_change){
            .warehouse = st_str(s, wh->id),
            .sku = st_str(s, s->products[r->product].sku),
            .on_hand = r->on_hand,
            .reserved = x->reserved,
            .inbound = x->inbound,
            .in_transit_out = x->in_transit_out,
            .event_time_ms = s->ev->event_time_ms,
        };
    }
}

// st_state_apply: validate the envelope, find the warehouse, check the
// duplicate window, then let the handler validate and apply. The window is
// marked only for accepted events, so a rejected event may be retried with
// the same seq once its cause is fixed.
st_err
st_state_apply(st_state *s, const st_event *ev, st_apply_out *out)
{
    ST_ASSERT(s != NULL && ev != NULL && out != NULL);
    out->alert_count = out->change_count = out->outbox_count = 0;
    out->message[0] = '\0';
    s->ev = ev;
    s->out = out;
    s->wh = NULL;
    s->touched_n = 0;
    st_handler handler = st_handler_of(ev->kind);
    if (!handler)
        return st_fail(s, ST_INVALID_ARGUMENT, "unknown event kind %d", (int)ev->kind);
    size_t source_len, wh_len;
    st_err err = st_state_common(s, ev, &source_len, &wh_len);
    if (err)
        return err;
    st_dedup *dedup = &s->catalog_dedup;
    if (!st_event_is_catalog(ev->kind)) {
        s->wh = st_find_wh_len(s, ev->warehouse, wh_len);
        if (!s->wh && ev->kind != ST_EV_WAREHOUSE_UPSERT)
            return st_fail(s, ST_UNKNOWN_WAREHOUSE, "warehouse %s is not known here",
                           ev->warehouse);
        dedup = s->wh ? &s->wh->dedup : NULL;
    }
    uint32_t slot = ST_NONE;
    bool seen = false; // a transfer half whose seq the window has, for a half not applied
    if (dedup) {
        err = st_dedup_check(s, dedup, ev->source, source_len, ev->seq, &slot);
        // A transfer half is a duplicate when its transfer says so: a half
        // sent again after a promotion may be older than the window, and a
        // promoted source may number new halves with seqs the destination
        // saw from the old leader (docs/REPLICATION.md).
        if (err == ST_DUPLICATE && st_event_is_transfer_half(ev->kind) &&
            st_state_transfer_half_needed(s, ev)) {
            err = ST_OK;
            seen = true;
        }
        if (err == ST_DUPLICATE)
            return st_fail(s, err, "seq %llu of source %s was already applied",
                           (unsigned long long)ev->seq, ev->source);
        if (err == ST_CAPACITY)
            return st_fail(s, err, "too many sources (%u)", s->cfg.sources_max);
    }
    err = handler(s);
    if (err != ST_OK && err != ST_STALE) {
        ST_ASSERT(out->alert_count == 0 && out->outbox_count == 0 && s->touched_n == 0);
        return err;
    }
    if (!seen) // the window counts it already
        st_dedup_mark(s, dedup ? dedup : &s->wh->dedup, ev->source, ev->seq, slot);
    if (s->touched_n)
        st_state_finish(s);
    if (err == ST_STALE && !out->message[0])
        st_fail(s, ST_STALE, "an event newer than %lld was already applied",
                (long long)ev->event_time_ms);
    return err;
}

uint64_t
st_state_warehouses_digest(const st_state *s)
{
    ST_ASSERT(s != NULL);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < s->whs_n; i++)
        sum += st_state_warehouse_digest(s, st_str(s, s->whs[i]->id));
    return sum;
}

void
st_state_stats_get(const st_state *s, st_state_stats *stats_out)
{
    ST_ASSERT(s != NULL && stats_out != NULL);
    memset(stats_out, 0, sizeof *stats_out);
    stats_out->warehouses = s->whs_n;
    stats_out->products = s->products_n;
    stats_out->suppliers = s->suppliers_n;
    stats_out->alerts_raised = s->alerts_raised;
    for (uint32_t i = 0; i < s->whs_n; i++) {
        stats_out->stock_records += s->whs[i]->stocks_n;
        stats_out->reservations += s->whs[i]->resvs_n;
    }
}

const char *
st_state_warehouse_id(const st_state *s, uint32_t i)
{
    ST_ASSERT(s != NULL);
    return i < s->whs_n ? st_str(s, s->whs[i]->id) : NULL;
}
