// apply_stock.c - handlers of the events that move stock inside a warehouse:
// weight readings, RFID scans, movements, cycle counts and the reservation
// life cycle (reserve, release, fulfil). Contract: see apply.h.
// Thread: the state's owner.
#include <string.h>

#include "core/apply.h"
#include "core/assert.h"

// st_floor_div is floor division for the tumbling windows (times may be 0).
static int64_t
st_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// st_cut_alert cuts reservations that on_hand no longer covers and says so:
// reserved stock never disappears silently.
static void
st_cut_alert(st_state *s, uint32_t stock, uint32_t loc, uint32_t dev)
{
    const st_wh *wh = s->wh;
    int64_t before = st_ext(wh, &wh->stocks[stock])->reserved;
    int64_t cut = st_stock_cut(s, stock);
    if (cut > 0)
        st_alert_raise(s, ST_ALERT_DISCREPANCY, wh->stocks[stock].product, loc, dev, before,
                       st_ext(wh, &wh->stocks[stock])->reserved);
}

// st_weight_edges raises OVER_CAPACITY once per excursion above max weight
// and WEIGHT_ANOMALY once per tumbling window whose spread is too wide.
static void
st_weight_edges(st_state *s, uint32_t shelf, uint32_t dev)
{
    st_loc *l = &s->wh->locs[shelf];
    int64_t w = l->weight_mg, t = l->reading_ms;
    if (l->max_weight_mg > 0 && w > l->max_weight_mg) {
        if (!(l->flags & ST_LOC_OVER_CAP))
            st_alert_raise(s, ST_ALERT_OVER_CAPACITY, l->product, shelf, dev, l->max_weight_mg, w);
        l->flags |= ST_LOC_OVER_CAP;
    } else {
        l->flags &= (uint8_t)~ST_LOC_OVER_CAP;
    }
    int64_t win = l->anomaly_window_ms ? l->anomaly_window_ms : s->cfg.anomaly_window_ms;
    int64_t thr = l->anomaly_threshold_mg ? l->anomaly_threshold_mg : s->cfg.anomaly_threshold_mg;
    ST_ASSERT(win > 0 && thr > 0);
    int64_t start = st_floor_div(t, win) * win;
    if (l->win_start_ms != start) {
        l->win_start_ms = start;
        l->win_min_mg = l->win_max_mg = w;
        l->flags &= (uint8_t)~ST_LOC_ANOMALY_RAISED;
    } else {
        l->win_min_mg = w < l->win_min_mg ? w : l->win_min_mg;
        l->win_max_mg = w > l->win_max_mg ? w : l->win_max_mg;
    }
    if (!(l->flags & ST_LOC_ANOMALY_RAISED) && l->win_max_mg - l->win_min_mg > thr) {
        l->flags |= ST_LOC_ANOMALY_RAISED;
        st_alert_raise(s, ST_ALERT_WEIGHT_ANOMALY, l->product, shelf, dev, l->win_min_mg,
                       l->win_max_mg);
    }
}

// st_weight_quantity turns the reading into units of the shelf's product:
// under WEIGHT authority the bin becomes that (an adjustment), under LEDGER
// authority a difference beyond tolerance is a discrepancy.
static void
st_weight_quantity(st_state *s, uint32_t shelf, uint32_t dev)
{
    st_wh *wh = s->wh;
    st_loc *l = &wh->locs[shelf];
    if (l->product == ST_NONE || s->products[l->product].unit_weight_mg <= 0)
        return;
    int64_t net = l->weight_mg > l->tare_mg ? l->weight_mg - l->tare_mg : 0;
    int64_t computed = net / s->products[l->product].unit_weight_mg;
    if (l->authority == ST_AUTH_WEIGHT) {
        uint32_t stock = st_stock_get(s, l->product);
        uint32_t bin = st_bin_get(s, shelf, stock);
        int64_t diff = computed - wh->bins[bin].qty;
        st_bin_set_ms_put(wh, bin, l->reading_ms);
        if (diff != 0)
            st_bin_put(s, stock, bin, diff);
        if (diff < 0)
            st_cut_alert(s, stock, shelf, dev);
        return;
    }
    int64_t ledger = st_bin_qty(wh, shelf, st_find_stock(wh, l->product));
    int64_t gap = computed > ledger ? computed - ledger : ledger - computed;
    if (gap > l->tolerance_units)
        st_alert_raise(s, ST_ALERT_DISCREPANCY, l->product, shelf, dev, ledger, computed);
}

st_err
st_apply_weight(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_WEIGHT && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t shelf;
    st_err err = st_check_loc(s, "shelf", ev->u.weight.shelf, true, &shelf);
    if (!err)
        err = st_check_range(s, "weight_mg", ev->u.weight.weight_mg, 0, ST_WEIGHT_MG_MAX);
    if (err)
        return err;
    if (!wh->locs[shelf].is_shelf)
        return st_fail(s, ST_CONFLICT, "location %s is a zone, not a shelf", ev->u.weight.shelf);
    uint32_t dev = st_find_dev(s, wh, ev->source);
    if (dev == ST_NONE)
        return st_fail(s, ST_UNKNOWN_DEVICE, "device %s is not registered in warehouse %s",
                       ev->source, ev->warehouse);
    if (wh->devs[dev].kind != ST_DEV_WEIGHT && wh->devs[dev].kind != ST_DEV_SMART_SHELF)
        return st_fail(s, ST_CONFLICT, "device %s is not a weight sensor", ev->source);
    if (wh->devs[dev].bound != shelf)
        return st_fail(s, ST_CONFLICT, "device %s is not bound to shelf %s", ev->source,
                       ev->u.weight.shelf);
    // Accepted from here on.
    st_device *d = &wh->devs[dev];
    st_device_heard(d, ev->event_time_ms);
    st_loc *l = &wh->locs[shelf];
    if (l->reading_ms != ST_TIME_NONE && ev->event_time_ms < l->reading_ms)
        return st_fail(s, ST_STALE, "shelf %s has a newer reading", ev->u.weight.shelf);
    l->weight_mg = ev->u.weight.weight_mg;
    l->reading_ms = ev->event_time_ms;
    st_weight_edges(s, shelf, dev);
    st_weight_quantity(s, shelf, dev);
    return ST_OK;
}

typedef struct st_tag_sum {
    uint32_t product;
    int64_t qty;
} st_tag_sum;

// st_rfid_check validates the tags and sums them per sku, so one scan raises
// at most one discrepancy and one low-stock alert per sku (the alert bound of
// event.h holds for 64 distinct skus).
static st_err
st_rfid_check(st_state *s, st_tag_sum *sums, uint32_t *n_out)
{
    const st_event *ev = s->ev;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->u.rfid.tag_count; i++) {
        const st_rfid_tag *tag = &ev->u.rfid.tags[i];
        uint32_t product;
        st_err err = st_check_product(s, tag->sku, &product);
        if (!err)
            err = st_check_qty(s, "tag qty", tag->qty, 0);
        if (!err)
            err = st_check_id(s, "epc", tag->epc, false);
        if (err)
            return err;
        uint32_t j = 0;
        while (j < n && sums[j].product != product)
            j++;
        if (j == n)
            sums[n++] = (st_tag_sum){.product = product, .qty = 0};
        sums[j].qty += tag->qty ? tag->qty : 1;
    }
    *n_out = n;
    return ST_OK;
}

// st_rfid_out ships tags out: bound location first, then the other bins;
// more than on hand is clamped at zero and reported, never lost silently.
static void
st_rfid_out(st_state *s, const st_tag_sum *sum, uint32_t loc, uint32_t dev)
{
    uint32_t stock = st_find_stock(s->wh, sum->product);
    int64_t taken = stock == ST_NONE ? 0 : st_stock_take(s, stock, loc, sum->qty);
    if (taken < sum->qty) {
        st_alert_raise(s, ST_ALERT_DISCREPANCY, sum->product, loc, dev, sum->qty, taken);
        if (stock != ST_NONE)
            st_stock_cut(s, stock);
        return;
    }
    st_cut_alert(s, stock, loc, dev);
}

st_err
st_apply_rfid(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_RFID && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    if (ev->u.rfid.direction != ST_DIR_INBOUND && ev->u.rfid.direction != ST_DIR_OUTBOUND)
        return st_fail(s, ST_INVALID_ARGUMENT, "direction must be INBOUND or OUTBOUND");
    if (ev->u.rfid.tag_count == 0 || !ev->u.rfid.tags)
        return st_fail(s, ST_INVALID_ARGUMENT, "an RFID scan needs at least one tag");
    if (ev->u.rfid.tag_count > ST_RFID_TAGS_MAX)
        return st_fail(s, ST_TOO_LARGE, "%u tags is over the limit of %u", ev->u.rfid.tag_count,
                       ST_RFID_TAGS_MAX);
    uint32_t dev = st_find_dev(s, wh, ev->source);
    if (dev == ST_NONE)
        return st_fail(s, ST_UNKNOWN_DEVICE, "device %s is not registered in warehouse %s",
                       ev->source, ev->warehouse);
    if (wh->devs[dev].kind != ST_DEV_RFID || wh->devs[dev].bound == ST_NONE)
        return st_fail(s, ST_CONFLICT, "device %s is not an RFID reader bound to a location",
                       ev->source);
    st_tag_sum sums[ST_RFID_TAGS_MAX];
    uint32_t n;
    st_err err = st_rfid_check(s, sums, &n);
    if (err)
        return err;
    // Accepted from here on.
    st_device *d = &wh->devs[dev];
    uint32_t loc = d->bound;
    st_device_heard(d, ev->event_time_ms);
    for (uint32_t i = 0; i < n; i++) {
        if (ev->u.rfid.direction == ST_DIR_INBOUND) {
            uint32_t stock = st_stock_get(s, sums[i].product);
            st_bin_put(s, stock, st_bin_get(s, loc, stock), sums[i].qty);
        } else {
            st_rfid_out(s, &sums[i], loc, dev);
        }
    }
    return ST_OK;
}

// st_move_check validates a movement's locations and quantity by kind.
static st_err
st_move_check(st_state *s, uint32_t *from, uint32_t *to, int64_t *qty)
{
    const st_event *ev = s->ev;
    st_movement_kind kind = ev->u.movement.kind;
    bool need_from = kind == ST_MOVE_PICK || kind == ST_MOVE_PUTAWAY || kind == ST_MOVE_RELOCATE;
    bool need_to = kind == ST_MOVE_RECEIVE || kind == ST_MOVE_PUTAWAY || kind == ST_MOVE_RELOCATE;
    if (kind < ST_MOVE_RECEIVE || kind > ST_MOVE_ADJUST)
        return st_fail(s, ST_INVALID_ARGUMENT, "movement kind %d is not valid", (int)kind);
    st_err err = st_check_loc(s, "from_location", ev->u.movement.from_location, need_from, from);
    if (!err)
        err = st_check_loc(s, "to_location", ev->u.movement.to_location, need_to, to);
    if (err)
        return err;
    if (kind != ST_MOVE_ADJUST) {
        *qty = ev->u.movement.qty;
        return st_check_qty(s, "qty", *qty, 1);
    }
    *qty = ev->u.movement.delta;
    if (*to == ST_NONE)
        *to = *from;
    if (*to == ST_NONE)
        return st_fail(s, ST_INVALID_ARGUMENT, "an adjustment needs to_location or from_location");
    if (*qty == 0)
        return st_fail(s, ST_INVALID_ARGUMENT, "an adjustment needs a non-zero delta");
    err = st_check_range(s, "delta", *qty, -ST_QTY_MAX, ST_QTY_MAX);
    if (!err)
        err = st_check_text(s, "reason", ev->u.movement.reason, ST_REASON_LEN_MAX);
    return err;
}

st_err
st_apply_movement(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_MOVEMENT && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    st_movement_kind kind = ev->u.movement.kind;
    uint32_t product, from = ST_NONE, to = ST_NONE;
    int64_t qty = 0;
    st_err err = st_move_check(s, &from, &to, &qty);
    if (!err)
        err = st_check_product(s, ev->u.movement.sku, &product);
    if (err)
        return err;
    uint32_t stock = st_find_stock(wh, product);
    uint32_t src = kind == ST_MOVE_ADJUST ? to : from;
    int64_t need = kind == ST_MOVE_ADJUST ? -qty : (kind == ST_MOVE_RECEIVE ? 0 : qty);
    if (need > 0 && st_bin_qty(wh, src, stock) < need)
        return st_fail(s, ST_INSUFFICIENT_STOCK, "location %s holds only %lld of %s",
                       st_str(s, wh->locs[src].id), (long long)st_bin_qty(wh, src, stock),
                       ev->u.movement.sku);
    if (kind == ST_MOVE_PICK && st_available(wh, stock) < qty)
        return st_fail(s, ST_INSUFFICIENT_STOCK, "only %lld of %s are available",
                       (long long)st_available(wh, stock), ev->u.movement.sku);
    // Accepted from here on.
    stock = st_stock_get(s, product);
    if (kind == ST_MOVE_RECEIVE || kind == ST_MOVE_ADJUST) {
        st_bin_put(s, stock, st_bin_get(s, to, stock), qty);
        if (qty < 0)
            st_cut_alert(s, stock, to, ST_NONE);
        return ST_OK;
    }
    st_bin_put(s, stock, st_find_bin(wh, from, stock), -qty);
    if (kind != ST_MOVE_PICK)
        st_bin_put(s, stock, st_bin_get(s, to, stock), qty);
    return ST_OK;
}

st_err
st_apply_count(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_COUNT && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t loc, product;
    st_err err = st_check_loc(s, "location", ev->u.count.location, true, &loc);
    if (!err)
        err = st_check_product(s, ev->u.count.sku, &product);
    if (!err)
        err = st_check_qty(s, "qty", ev->u.count.qty, 0);
    if (err)
        return err;
    uint32_t bin = st_find_bin(wh, loc, st_find_stock(wh, product));
    if (bin != ST_NONE && ev->event_time_ms < st_bin_set_ms(wh, bin))
        return st_fail(s, ST_STALE, "bin %s/%s was set by a newer count or reading",
                       ev->u.count.location, ev->u.count.sku);
    // Accepted from here on.
    uint32_t stock = st_stock_get(s, product);
    bin = st_bin_get(s, loc, stock);
    int64_t ledger = wh->bins[bin].qty;
    st_bin_set_ms_put(wh, bin, ev->event_time_ms);
    st_touch(s, stock);
    if (ev->u.count.qty == ledger)
        return ST_OK;
    st_bin_put(s, stock, bin, ev->u.count.qty - ledger);
    st_alert_raise(s, ST_ALERT_DISCREPANCY, product, loc, ST_NONE, ledger, ev->u.count.qty);
    st_cut_alert(s, stock, loc, ST_NONE);
    return ST_OK;
}

st_err
st_apply_reserve(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_RESERVE && s->wh != NULL);
    const st_event *ev = s->ev;
    st_wh *wh = s->wh;
    uint32_t product;
    st_err err = st_check_id(s, "order_id", ev->u.reserve.order_id, true);
    if (!err)
        err = st_check_product(s, ev->u.reserve.sku, &product);
    if (!err)
        err = st_check_qty(s, "qty", ev->u.reserve.qty, 1);
    if (!err)
        err = st_check_range(s, "expires_at_ms", ev->u.reserve.expires_at_ms, 0, INT64_MAX);
    if (err)
        return err;
    uint32_t stock = st_find_stock(wh, product);
    int64_t available = stock == ST_NONE ? 0 : st_available(wh, stock);
    if (available < ev->u.reserve.qty)
        return st_fail(s, ST_INSUFFICIENT_STOCK, "only %lld of %s are available in %s",
                       (long long)available, ev->u.reserve.sku, ev->warehouse);
    uint32_t resv = st_find_resv(s, wh, ev->u.reserve.order_id, stock);
    if (resv == ST_NONE && st_orders_count(wh) >= s->cfg.orders_max)
        return st_fail(s, ST_CAPACITY, "warehouse %s holds too many orders", ev->warehouse);
    // Accepted from here on.
    if (resv == ST_NONE) {
        resv = wh->resvs_n;
        st_resv *r = ST_VEC_PUSH(wh->resvs);
        *r = (st_resv){.order = st_intern_cstr(s, ev->u.reserve.order_id),
                       .stock = stock,
                       .created = ++wh->resv_created};
        st_map_put(&wh->resv_index, st_map_key2(r->order, stock), resv);
    }
    wh->resvs[resv].qty += ev->u.reserve.qty;
    if (ev->u.reserve.expires_at_ms)
        wh->resvs[resv].expires_at_ms = ev->u.reserve.expires_at_ms;
    st_ext_get(wh, stock)->reserved += ev->u.reserve.qty;
    st_touch(s, stock);
    return ST_OK;
}

// st_resv_check finds the reservation (order_id, sku) named by a release or
// fulfil: UNKNOWN_ORDER when there is none.
static st_err
st_resv_check(st_state *s, const char *order, const char *sku, int64_t qty, uint32_t *resv_out)
{
    uint32_t product;
    st_err err = st_check_id(s, "order_id", order, true);
    if (!err)
        err = st_check_product(s, sku, &product);
    if (!err)
        err = st_check_qty(s, "qty", qty, 0);
    if (err)
        return err;
    *resv_out = st_find_resv(s, s->wh, order, st_find_stock(s->wh, product));
    if (*resv_out == ST_NONE)
        return st_fail(s, ST_UNKNOWN_ORDER, "order %s holds no reservation of %s", order, sku);
    return ST_OK;
}

// st_apply_release gives back qty (0 = all). Releasing more than is reserved
// releases the whole reservation: the caller's intent, "I do not need these",
// is met either way.
st_err
st_apply_release(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_RELEASE && s->wh != NULL);
    const st_event *ev = s->ev;
    uint32_t resv;
    st_err err =
        st_resv_check(s, ev->u.release.order_id, ev->u.release.sku, ev->u.release.qty, &resv);
    if (err)
        return err;
    st_resv *r = &s->wh->resvs[resv];
    int64_t q = ev->u.release.qty == 0 || ev->u.release.qty > r->qty ? r->qty : ev->u.release.qty;
    uint32_t stock = r->stock;
    r->qty -= q;
    st_ext_get(s->wh, stock)->reserved -= q;
    if (r->qty == 0)
        st_resv_remove(s, resv);
    st_touch(s, stock);
    return ST_OK;
}

// st_apply_fulfil ships reserved units; more than the reservation holds is
// INSUFFICIENT_STOCK (ship only what was promised).
st_err
st_apply_fulfil(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_FULFIL && s->wh != NULL);
    const st_event *ev = s->ev;
    uint32_t resv, from;
    st_err err = st_resv_check(s, ev->u.fulfil.order_id, ev->u.fulfil.sku, ev->u.fulfil.qty, &resv);
    if (!err)
        err = st_check_loc(s, "from_location", ev->u.fulfil.from_location, false, &from);
    if (err)
        return err;
    st_resv *r = &s->wh->resvs[resv];
    if (ev->u.fulfil.qty > r->qty)
        return st_fail(s, ST_INSUFFICIENT_STOCK, "order %s has only %lld of %s reserved",
                       ev->u.fulfil.order_id, (long long)r->qty, ev->u.fulfil.sku);
    // Accepted from here on.
    int64_t q = ev->u.fulfil.qty ? ev->u.fulfil.qty : r->qty;
    uint32_t stock = r->stock;
    r->qty -= q;
    st_ext_get(s->wh, stock)->reserved -= q;
    if (r->qty == 0)
        st_resv_remove(s, resv);
    int64_t taken = st_stock_take(s, stock, from, q);
    ST_ASSERT(taken == q);
    return ST_OK;
}
