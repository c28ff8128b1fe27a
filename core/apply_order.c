// apply_order.c - handlers of purchase orders and transfers, including the
// two internal events of the transfer outbox (INBOUND at the destination,
// ARRIVED back at the source). Contract: see apply.h.
//
// A transfer is two records with the same id: the outbound one at the source
// (stock left on_hand into in_transit_out) and the inbound one at the
// destination (inbound until received). They meet only through outbox events,
// so the two warehouses may live in different states, workers or nodes.
// Thread: the state's owner.
#include <string.h>

#include "core/apply.h"
#include "core/assert.h"

static st_err
st_orders_room(st_state *s)
{
    if (st_orders_count(s->wh) >= s->cfg.orders_max)
        return st_fail(s, ST_CAPACITY, "warehouse %s holds too many orders", s->ev->warehouse);
    return ST_OK;
}

// st_receive_loc picks where a receipt lands: the named location, else the
// first RECEIVING zone, else the first zone.
static st_err
st_receive_loc(st_state *s, const char *location, uint32_t *loc_out)
{
    st_err err = st_check_loc(s, "location", location, false, loc_out);
    if (err || *loc_out != ST_NONE)
        return err;
    *loc_out = st_default_receiving(s->wh);
    if (*loc_out == ST_NONE)
        return st_fail(s, ST_UNKNOWN_LOCATION, "warehouse %s has no zone to receive into",
                       s->ev->warehouse);
    return ST_OK;
}

st_err
st_apply_po_create(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_PO_CREATE && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t product;
    st_err err = st_check_id(s, "po_id", ev->u.po_create.po_id, true);
    if (!err)
        err = st_check_id(s, "supplier", ev->u.po_create.supplier, true);
    if (!err)
        err = st_check_product(s, ev->u.po_create.sku, &product);
    if (!err)
        err = st_check_qty(s, "qty", ev->u.po_create.qty, 1);
    if (!err)
        err = st_check_range(s, "eta_ms", ev->u.po_create.eta_ms, 0, INT64_MAX);
    if (err)
        return err;
    if (st_find_supplier(s, ev->u.po_create.supplier) == ST_NONE)
        return st_fail(s, ST_UNKNOWN_SUPPLIER, "supplier %s is not in the catalog",
                       ev->u.po_create.supplier);
    if (st_find_po(s, wh, ev->u.po_create.po_id) != ST_NONE)
        return st_fail(s, ST_CONFLICT, "purchase order %s already exists in %s",
                       ev->u.po_create.po_id, ev->warehouse);
    if ((err = st_orders_room(s)))
        return err;
    // Accepted from here on.
    uint32_t stock = st_stock_get(s, product);
    uint32_t i = wh->pos_n;
    st_po *po = ST_VEC_PUSH(wh->pos);
    *po = (st_po){.id = st_intern_cstr(s, ev->u.po_create.po_id),
                  .supplier = st_intern_cstr(s, ev->u.po_create.supplier),
                  .stock = stock,
                  .qty = ev->u.po_create.qty,
                  .eta_ms = ev->u.po_create.eta_ms,
                  .created_ms = ev->event_time_ms,
                  .eta_set_ms = ev->event_time_ms};
    st_map_put(&wh->po_index, po->id, i);
    st_ext_get(wh, stock)->inbound += po->qty;
    st_touch(s, stock);
    return ST_OK;
}

st_err
st_apply_po_eta(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_PO_ETA && s->wh != NULL);
    const st_event *ev = s->ev;
    st_err err = st_check_id(s, "po_id", ev->u.po_eta.po_id, true);
    if (!err)
        err = st_check_range(s, "eta_ms", ev->u.po_eta.eta_ms, 0, INT64_MAX);
    if (err)
        return err;
    uint32_t i = st_find_po(s, s->wh, ev->u.po_eta.po_id);
    if (i == ST_NONE)
        return st_fail(s, ST_UNKNOWN_ORDER, "purchase order %s is not known in %s",
                       ev->u.po_eta.po_id, ev->warehouse);
    st_po *po = &s->wh->pos[i];
    if (ev->event_time_ms < po->eta_set_ms)
        return st_fail(s, ST_STALE, "purchase order %s has a newer eta", ev->u.po_eta.po_id);
    if (po->eta_ms != ev->u.po_eta.eta_ms)
        po->flags &= ~(uint32_t)ST_PO_DELAYED; // a new eta is a new promise
    po->eta_ms = ev->u.po_eta.eta_ms;
    po->eta_set_ms = ev->event_time_ms;
    return ST_OK;
}

// st_lead_sample records one receipt's lead time (receipt - creation) for
// the (warehouse, supplier) pair: count, sum and sum of squares give mean
// and variance for the safety-stock work of later issues.
static void
st_lead_sample(st_state *s, uint32_t supplier, int64_t lead_ms)
{
    st_wh *wh = s->wh;
    uint32_t i;
    if (!st_map_get(&wh->lead_index, supplier, &i)) {
        i = wh->leads_n;
        *ST_VEC_PUSH(wh->leads) = (st_lead){.supplier = supplier};
        st_map_put(&wh->lead_index, supplier, i);
    }
    wh->leads[i].count++;
    wh->leads[i].sum_ms += lead_ms;
    wh->leads[i].sumsq_ms2 += (double)lead_ms * (double)lead_ms;
}

st_err
st_apply_po_receive(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_PO_RECEIVE && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t loc;
    st_err err = st_check_id(s, "po_id", ev->u.po_receive.po_id, true);
    if (!err)
        err = st_check_qty(s, "qty", ev->u.po_receive.qty, 1);
    if (err)
        return err;
    uint32_t i = st_find_po(s, wh, ev->u.po_receive.po_id);
    if (i == ST_NONE)
        return st_fail(s, ST_UNKNOWN_ORDER, "purchase order %s is not known in %s",
                       ev->u.po_receive.po_id, ev->warehouse);
    st_po *po = &wh->pos[i];
    if (ev->u.po_receive.qty > po->qty - po->received)
        return st_fail(s, ST_CONFLICT, "purchase order %s has only %lld units left to receive",
                       ev->u.po_receive.po_id, (long long)(po->qty - po->received));
    if ((err = st_receive_loc(s, ev->u.po_receive.location, &loc)))
        return err;
    // Accepted from here on.
    int64_t q = ev->u.po_receive.qty;
    st_bin_put(s, po->stock, st_bin_get(s, loc, po->stock), q);
    po->received += q;
    st_ext_get(wh, po->stock)->inbound -= q;
    st_lead_sample(s, po->supplier, ev->event_time_ms - po->created_ms);
    ST_ASSERT(po->received <= po->qty);
    return ST_OK;
}

// st_dispatch_check validates a dispatch at its source warehouse. Whether the
// destination exists is the runtime's question (it may live elsewhere).
static st_err
st_dispatch_check(st_state *s, uint32_t *product, uint32_t *from)
{
    const st_event *ev = s->ev;
    st_err err = st_check_id(s, "transfer_id", ev->u.transfer_dispatch.transfer_id, true);
    if (!err)
        err = st_check_id(s, "to_warehouse", ev->u.transfer_dispatch.to_warehouse, true);
    if (!err)
        err = st_check_product(s, ev->u.transfer_dispatch.sku, product);
    if (!err)
        err = st_check_qty(s, "qty", ev->u.transfer_dispatch.qty, 1);
    if (!err)
        err = st_check_range(s, "eta_ms", ev->u.transfer_dispatch.eta_ms, 0, INT64_MAX);
    if (!err)
        err = st_check_loc(s, "from_location", ev->u.transfer_dispatch.from_location, false, from);
    if (err)
        return err;
    if (strcmp(ev->u.transfer_dispatch.to_warehouse, ev->warehouse) == 0)
        return st_fail(s, ST_INVALID_ARGUMENT, "a transfer must go to another warehouse");
    if (st_find_xfer(s, s->wh, ev->u.transfer_dispatch.transfer_id, false) != ST_NONE)
        return st_fail(s, ST_CONFLICT, "transfer %s already exists in %s",
                       ev->u.transfer_dispatch.transfer_id, ev->warehouse);
    return st_orders_room(s);
}

// st_outbox_event prepares the one outbox event of this apply, numbered by
// the warehouse's own outbox counter and sourced "outbox/<warehouse>", so the
// receiver's duplicate window makes redelivery harmless.
static st_event *
st_outbox_event(st_state *s, st_event_kind kind, uint32_t to)
{
    ST_ASSERT(s->out->outbox_count < ST_APPLY_OUTBOX_MAX);
    st_event *o = &s->out->outbox[s->out->outbox_count++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->source = st_str(s, s->wh->outbox_source);
    o->seq = ++s->wh->outbox_seq;
    o->event_time_ms = s->ev->event_time_ms;
    o->warehouse = st_str(s, to);
    return o;
}

st_err
st_apply_transfer_dispatch(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_TRANSFER_DISPATCH && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t product, from;
    st_err err = st_dispatch_check(s, &product, &from);
    if (err)
        return err;
    uint32_t stock = st_find_stock(wh, product);
    int64_t qty = ev->u.transfer_dispatch.qty;
    int64_t available = stock == ST_NONE ? 0 : st_available(wh, stock);
    if (available < qty)
        return st_fail(s, ST_INSUFFICIENT_STOCK, "only %lld of %s are available in %s",
                       (long long)available, ev->u.transfer_dispatch.sku, ev->warehouse);
    // Accepted from here on.
    int64_t taken = st_stock_take(s, stock, from, qty);
    ST_ASSERT(taken == qty);
    st_ext_get(wh, stock)->in_transit_out += qty;
    uint32_t i = wh->xfers_n;
    st_xfer *x = ST_VEC_PUSH(wh->xfers);
    *x = (st_xfer){.id = st_intern_cstr(s, ev->u.transfer_dispatch.transfer_id),
                   .peer = st_intern_cstr(s, ev->u.transfer_dispatch.to_warehouse),
                   .stock = stock,
                   .qty = qty,
                   .eta_ms = ev->u.transfer_dispatch.eta_ms,
                   .created_ms = ev->event_time_ms,
                   .pos_ms = ST_TIME_NONE};
    st_map_put(&wh->xfer_index, st_map_key2(0, x->id), i);
    st_event *o = st_outbox_event(s, ST_EV_TRANSFER_INBOUND, x->peer);
    x->msg_seq = o->seq;
    o->u.transfer_inbound.transfer_id = st_str(s, x->id);
    o->u.transfer_inbound.from_warehouse = st_str(s, wh->id);
    o->u.transfer_inbound.sku = st_str(s, s->products[product].sku);
    o->u.transfer_inbound.qty = qty;
    o->u.transfer_inbound.eta_ms = x->eta_ms;
    return ST_OK;
}

st_err
st_apply_transfer_position(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_TRANSFER_POSITION && s->wh != NULL);
    const st_event *ev = s->ev;
    double lat = ev->u.transfer_position.lat, lon = ev->u.transfer_position.lon;
    st_err err = st_check_id(s, "transfer_id", ev->u.transfer_position.transfer_id, true);
    if (err)
        return err;
    if (!(lat >= -90.0 && lat <= 90.0) || !(lon >= -180.0 && lon <= 180.0))
        return st_fail(s, ST_INVALID_ARGUMENT, "position %g,%g is not a latitude,longitude", lat,
                       lon);
    uint32_t i = st_find_xfer(s, s->wh, ev->u.transfer_position.transfer_id, false);
    if (i == ST_NONE)
        return st_fail(s, ST_UNKNOWN_ORDER, "transfer %s was not dispatched from %s",
                       ev->u.transfer_position.transfer_id, ev->warehouse);
    st_xfer *x = &s->wh->xfers[i];
    if (x->has_pos && ev->event_time_ms < x->pos_ms)
        return st_fail(s, ST_STALE, "transfer %s has a newer position",
                       ev->u.transfer_position.transfer_id);
    x->lat = lat;
    x->lon = lon;
    x->has_pos = 1;
    x->pos_ms = ev->event_time_ms;
    return ST_OK;
}

st_err
st_apply_transfer_inbound(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_TRANSFER_INBOUND && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t product;
    st_err err = st_check_id(s, "transfer_id", ev->u.transfer_inbound.transfer_id, true);
    if (!err)
        err = st_check_id(s, "from_warehouse", ev->u.transfer_inbound.from_warehouse, true);
    if (!err)
        err = st_check_product(s, ev->u.transfer_inbound.sku, &product);
    if (!err)
        err = st_check_qty(s, "qty", ev->u.transfer_inbound.qty, 1);
    if (!err)
        err = st_check_range(s, "eta_ms", ev->u.transfer_inbound.eta_ms, 0, INT64_MAX);
    if (err)
        return err;
    if (strcmp(ev->u.transfer_inbound.from_warehouse, ev->warehouse) == 0)
        return st_fail(s, ST_INVALID_ARGUMENT, "a transfer must come from another warehouse");
    if (st_find_xfer(s, wh, ev->u.transfer_inbound.transfer_id, true) != ST_NONE)
        return st_fail(s, ST_CONFLICT, "inbound transfer %s already exists in %s",
                       ev->u.transfer_inbound.transfer_id, ev->warehouse);
    if ((err = st_orders_room(s)))
        return err;
    // Accepted from here on.
    uint32_t stock = st_stock_get(s, product);
    uint32_t i = wh->xfers_n;
    st_xfer *x = ST_VEC_PUSH(wh->xfers);
    *x = (st_xfer){.id = st_intern_cstr(s, ev->u.transfer_inbound.transfer_id),
                   .peer = st_intern_cstr(s, ev->u.transfer_inbound.from_warehouse),
                   .stock = stock,
                   .inbound = 1,
                   .qty = ev->u.transfer_inbound.qty,
                   .eta_ms = ev->u.transfer_inbound.eta_ms,
                   .created_ms = ev->event_time_ms,
                   .pos_ms = ST_TIME_NONE};
    st_map_put(&wh->xfer_index, st_map_key2(1, x->id), i);
    st_ext_get(wh, stock)->inbound += x->qty;
    st_touch(s, stock);
    return ST_OK;
}

st_err
st_apply_transfer_receive(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_TRANSFER_RECEIVE && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t loc;
    st_err err = st_check_id(s, "transfer_id", ev->u.transfer_receive.transfer_id, true);
    if (err)
        return err;
    uint32_t i = st_find_xfer(s, wh, ev->u.transfer_receive.transfer_id, true);
    if (i == ST_NONE)
        return st_fail(s, ST_UNKNOWN_ORDER, "transfer %s has not been announced to %s (yet)",
                       ev->u.transfer_receive.transfer_id, ev->warehouse);
    if (wh->xfers[i].done)
        return st_fail(s, ST_CONFLICT, "transfer %s was already received",
                       ev->u.transfer_receive.transfer_id);
    if ((err = st_receive_loc(s, ev->u.transfer_receive.location, &loc)))
        return err;
    // Accepted from here on.
    st_xfer *x = &wh->xfers[i];
    st_bin_put(s, x->stock, st_bin_get(s, loc, x->stock), x->qty);
    st_ext_get(wh, x->stock)->inbound -= x->qty;
    x->done = 1;
    st_event *o = st_outbox_event(s, ST_EV_TRANSFER_ARRIVED, x->peer);
    x->msg_seq = o->seq;
    o->u.transfer_arrived.transfer_id = st_str(s, x->id);
    return ST_OK;
}

st_err
st_apply_transfer_arrived(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_TRANSFER_ARRIVED && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    st_err err = st_check_id(s, "transfer_id", ev->u.transfer_arrived.transfer_id, true);
    if (err)
        return err;
    uint32_t i = st_find_xfer(s, wh, ev->u.transfer_arrived.transfer_id, false);
    if (i == ST_NONE)
        return st_fail(s, ST_UNKNOWN_ORDER, "transfer %s was not dispatched from %s",
                       ev->u.transfer_arrived.transfer_id, ev->warehouse);
    if (wh->xfers[i].done)
        return st_fail(s, ST_CONFLICT, "transfer %s has already arrived",
                       ev->u.transfer_arrived.transfer_id);
    // Accepted from here on.
    st_xfer *x = &wh->xfers[i];
    x->done = 1;
    st_ext_get(wh, x->stock)->in_transit_out -= x->qty;
    st_touch(s, x->stock);
    ST_ASSERT(st_ext(wh, &wh->stocks[x->stock])->in_transit_out >= 0);
    return ST_OK;
}

// --- transfer halves after a restart --------------------------------------

uint32_t
st_state_transfer_halves(const st_state *s, st_half_fn fn, void *arg)
{
    ST_ASSERT(s != NULL && fn != NULL);
    uint32_t n = 0;
    for (uint32_t w = 0; w < s->whs_n; w++) {
        const st_wh *wh = s->whs[w];
        for (uint32_t i = 0; i < wh->xfers_n; i++) {
            const st_xfer *x = &wh->xfers[i];
            if (x->inbound ? !x->done : x->done) // not received, or arrived
                continue;
            // As st_outbox_event and the apply staged it, but for an
            // arrival's event time: the receipt's is not kept, so it
            // carries the inbound record's (only the source's
            // last_event_ms sees the difference, should this copy be
            // the one applied).
            st_event o = {.source = st_str(s, wh->outbox_source),
                          .seq = x->msg_seq,
                          .event_time_ms = x->created_ms,
                          .warehouse = st_str(s, x->peer)};
            if (x->inbound) {
                o.kind = ST_EV_TRANSFER_ARRIVED;
                o.u.transfer_arrived.transfer_id = st_str(s, x->id);
            } else {
                o.kind = ST_EV_TRANSFER_INBOUND;
                o.u.transfer_inbound.transfer_id = st_str(s, x->id);
                o.u.transfer_inbound.from_warehouse = st_str(s, wh->id);
                o.u.transfer_inbound.sku = st_str(s, s->products[wh->stocks[x->stock].product].sku);
                o.u.transfer_inbound.qty = x->qty;
                o.u.transfer_inbound.eta_ms = x->eta_ms;
            }
            fn(arg, &o);
            n++;
        }
    }
    return n;
}

bool
st_state_transfer_half_needed(const st_state *s, const st_event *half)
{
    ST_ASSERT(s != NULL && half != NULL);
    ST_ASSERT(st_event_is_transfer_half(half->kind));
    bool inbound = half->kind == ST_EV_TRANSFER_INBOUND;
    const char *id =
        inbound ? half->u.transfer_inbound.transfer_id : half->u.transfer_arrived.transfer_id;
    const st_wh *wh = half->warehouse != NULL ? st_find_wh(s, half->warehouse) : NULL;
    if (wh == NULL || id == NULL)
        return false;                              // not here, or not a half (the apply says why)
    uint32_t i = st_find_xfer(s, wh, id, inbound); // the record this half makes or closes
    return inbound ? i == ST_NONE : i != ST_NONE && !wh->xfers[i].done;
}
