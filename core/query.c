// query.c - the read side of state.h: inventory, one sku across the owned
// warehouses, recent alerts, a twin by id, stats. Queries never change the
// state; the views they hand out borrow strings from the state and arrays
// from the query call, valid until the callback returns.
// Thread: the state's owner (or any thread while the owner is not applying).
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/model.h"

// st_stock_below_reorder: available (on hand less reserved) at or below the
// reorder point, the dashboard's "LOW".
static bool
st_stock_below_reorder(const st_wh *wh, const st_stock *r)
{
    return r->on_hand - st_ext(wh, r)->reserved <= r->reorder_point;
}

static void
st_view_fill(const st_state *s, const st_wh *wh, const st_stock *r, st_stock_view *v)
{
    memset(v, 0, sizeof *v);
    const st_product *p = &s->products[r->product];
    v->warehouse = st_str(s, wh->id);
    v->sku = st_str(s, p->sku);
    v->name = st_str(s, p->name);
    v->sku_len = st_intern_len(&s->intern, p->sku);
    v->name_len = st_intern_len(&s->intern, p->name);
    const st_stock_ext *x = st_ext(wh, r);
    v->on_hand = r->on_hand;
    v->reserved = x->reserved;
    v->available = r->on_hand - x->reserved;
    v->inbound = x->inbound;
    v->in_transit_out = x->in_transit_out;
    v->reorder_point = r->reorder_point;
    v->safety_stock = x->safety_stock;
    v->order_up_to = x->order_up_to;
    v->below_reorder = v->available <= r->reorder_point;
    v->last_event_ms = r->last_event_ms;
    v->locations = NULL;
}

// st_view_locations lists the record's non-empty bins in creation order into
// *buf (grown as needed; the caller frees it).
static void
st_view_locations(const st_state *s, const st_wh *wh, const st_stock *r, st_stock_view *v,
                  st_location_qty **buf, uint32_t *cap)
{
    uint32_t n = 0;
    for (uint32_t b = r->first_bin; b != ST_NONE; b = wh->bins[b].next) {
        const st_bin *bin = &wh->bins[b];
        if (bin->qty == 0)
            continue;
        st_vec_grow((void **)buf, cap, n, sizeof **buf);
        const st_loc *l = &wh->locs[bin->loc];
        uint32_t zone = wh->locs[l->zone].id;
        (*buf)[n++] = (st_location_qty){
            .zone = st_str(s, zone),
            .zone_len = st_intern_len(&s->intern, zone),
            .shelf = l->is_shelf ? st_str(s, l->id) : "",
            .shelf_len = l->is_shelf ? st_intern_len(&s->intern, l->id) : 0,
            .qty = bin->qty,
        };
    }
    v->location_count = n;
    v->locations = *buf;
}

st_err
st_state_inventory(const st_state *s, const st_inventory_query *q, st_stock_cb cb, void *arg,
                   uint32_t *total_out)
{
    ST_ASSERT(s != NULL && q != NULL && cb != NULL);
    const st_wh *wh = st_find_wh(s, q->warehouse);
    if (!wh)
        return ST_UNKNOWN_WAREHOUSE;
    st_location_qty *buf = NULL;
    bool going = true;
    // Without a filter every record matches: the page starts at the offset
    // and the count is known, so paging through a large warehouse does not
    // walk the records before each page.
    uint32_t from = q->below_reorder_only ? 0 : q->offset;
    uint32_t cap = 0, matched = from, emitted = 0;
    for (uint32_t i = from; i < wh->stocks_n; i++) {
        const st_stock *r = &wh->stocks[i];
        if (q->below_reorder_only && !st_stock_below_reorder(wh, r))
            continue;
        if (matched++ < q->offset || !going || (q->limit && emitted >= q->limit)) {
            if (!q->below_reorder_only)
                break;
            continue;
        }
        st_stock_view v;
        st_view_fill(s, wh, r, &v);
        st_view_locations(s, wh, r, &v, &buf, &cap);
        emitted++;
        going = cb(arg, &v);
    }
    if (!q->below_reorder_only)
        matched = wh->stocks_n;
    st_free(buf);
    if (total_out)
        *total_out = matched;
    ST_ASSERT(emitted <= matched);
    return ST_OK;
}

static int
st_wh_cmp(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

// st_sorted_whs returns the owned warehouses' ids sorted (the caller frees):
// network-wide answers list warehouses in id order, whatever their creation
// order, so gathered answers from several workers merge simply.
static const char **
st_sorted_whs(const st_state *s)
{
    const char **ids = st_malloc((s->whs_n + 1) * sizeof *ids);
    for (uint32_t i = 0; i < s->whs_n; i++)
        ids[i] = st_str(s, s->whs[i]->id);
    qsort(ids, s->whs_n, sizeof *ids, st_wh_cmp);
    return ids;
}

st_err
st_state_sku(const st_state *s, const char *sku, st_stock_cb cb, void *arg)
{
    ST_ASSERT(s != NULL && cb != NULL);
    uint32_t product = st_find_product(s, sku);
    if (product == ST_NONE)
        return ST_UNKNOWN_PRODUCT;
    const char **ids = st_sorted_whs(s);
    for (uint32_t i = 0; i < s->whs_n; i++) {
        const st_wh *wh = st_find_wh(s, ids[i]);
        uint32_t r = st_find_stock(wh, product);
        if (r == ST_NONE)
            continue;
        st_stock_view v;
        st_view_fill(s, wh, &wh->stocks[r], &v);
        if (!cb(arg, &v))
            break;
    }
    st_free(ids);
    return ST_OK;
}

// st_wh_alerts walks one warehouse's ring newest first; false once the
// callback stopped or the limit is reached.
static bool
st_wh_alerts(const st_state *s, const st_wh *wh, uint32_t limit, uint32_t *sent, st_alert_cb cb,
             void *arg)
{
    for (uint32_t k = wh->ring_count; k-- > 0;) {
        if (limit && *sent >= limit)
            return false;
        (*sent)++;
        if (!cb(arg, &wh->ring[(wh->ring_head + k) % s->cfg.alerts_kept]))
            return false;
    }
    return !(limit && *sent >= limit);
}

st_err
st_state_alerts(const st_state *s, const char *warehouse, uint32_t limit, st_alert_cb cb, void *arg)
{
    ST_ASSERT(s != NULL && cb != NULL);
    uint32_t sent = 0;
    if (warehouse && *warehouse) {
        const st_wh *wh = st_find_wh(s, warehouse);
        if (!wh)
            return ST_UNKNOWN_WAREHOUSE;
        st_wh_alerts(s, wh, limit, &sent, cb, arg);
        return ST_OK;
    }
    const char **ids = st_sorted_whs(s);
    for (uint32_t i = 0; i < s->whs_n; i++)
        if (!st_wh_alerts(s, st_find_wh(s, ids[i]), limit, &sent, cb, arg))
            break;
    st_free(ids);
    return ST_OK;
}

// Devices sorted by id within one warehouse (st_state_devices).
typedef struct st_dev_order {
    const char *id;
    uint32_t index;
} st_dev_order;

static int
st_dev_cmp(const void *a, const void *b)
{
    return strcmp(((const st_dev_order *)a)->id, ((const st_dev_order *)b)->id);
}

// st_wh_devices reports one warehouse's devices; false once cb said stop
// (the rest are still counted).
static bool
st_wh_devices(const st_state *s, const st_wh *wh, bool silent_only, bool go, st_device_cb cb,
              void *arg, uint32_t *total)
{
    if (!go) { // the caller has what it wanted: only count, no sort
        for (uint32_t i = 0; i < wh->devs_n; i++)
            *total += !silent_only || (wh->devs[i].flags & ST_DEV_SILENT);
        return false;
    }
    if (wh->devs_n == 0)
        return true;
    st_dev_order *order = st_malloc((size_t)wh->devs_n * sizeof *order);
    for (uint32_t i = 0; i < wh->devs_n; i++)
        order[i] = (st_dev_order){.id = st_str(s, wh->devs[i].id), .index = i};
    qsort(order, wh->devs_n, sizeof *order, st_dev_cmp);
    for (uint32_t i = 0; i < wh->devs_n; i++) {
        const st_device *d = &wh->devs[order[i].index];
        bool silent = (d->flags & ST_DEV_SILENT) != 0;
        if (silent_only && !silent)
            continue;
        (*total)++;
        if (!go)
            continue; // stopped in this warehouse: count the rest
        st_device_view v = {
            .warehouse = st_str(s, wh->id),
            .id = order[i].id,
            .kind = (st_device_kind)d->kind,
            .bound_to = d->bound == ST_NONE ? "" : st_str(s, wh->locs[d->bound].id),
            .last_seen_ms = d->last_seen_ms == ST_TIME_NONE ? 0 : d->last_seen_ms,
            .silent = silent,
        };
        go = cb(arg, &v);
    }
    st_free(order);
    return go;
}

st_err
st_state_devices(const st_state *s, const char *warehouse, bool silent_only, st_device_cb cb,
                 void *arg, uint32_t *total_out)
{
    ST_ASSERT(s != NULL && cb != NULL);
    uint32_t total = 0;
    if (warehouse && *warehouse) {
        const st_wh *wh = st_find_wh(s, warehouse);
        if (!wh)
            return ST_UNKNOWN_WAREHOUSE;
        st_wh_devices(s, wh, silent_only, true, cb, arg, &total);
    } else {
        const char **ids = st_sorted_whs(s);
        bool go = true;
        for (uint32_t i = 0; i < s->whs_n; i++)
            go = st_wh_devices(s, st_find_wh(s, ids[i]), silent_only, go, cb, arg, &total);
        st_free(ids);
    }
    if (total_out)
        *total_out = total;
    return ST_OK;
}
