// apply_topology.c - handlers of the upserts: warehouses, zones, shelves,
// devices, stock policies, and the catalog (products, suppliers). Upserts set
// absolute values, so the newest event_time wins and an older one is STALE.
// Contract: see apply.h.
// Thread: the state's owner.
#include <string.h>

#include "core/apply.h"
#include "core/assert.h"

static st_err
st_stale_if_older(st_state *s, int64_t last_ms, const char *what, const char *id)
{
    if (last_ms != ST_TIME_NONE && s->ev->event_time_ms < last_ms)
        return st_fail(s, ST_STALE, "%s %s was updated by a newer event", what, id);
    return ST_OK;
}

static st_err
st_twins_room(st_state *s)
{
    if (s->wh->locs_n + s->wh->devs_n >= s->cfg.twins_max)
        return st_fail(s, ST_CAPACITY, "warehouse %s holds too many twins", s->ev->warehouse);
    return ST_OK;
}

st_err
st_apply_warehouse(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_WAREHOUSE_UPSERT);
    const st_event *ev = s->ev;
    st_err err = st_check_text(s, "name", ev->u.warehouse_upsert.name, ST_TEXT_LEN_MAX);
    if (!err)
        err = st_check_text(s, "location", ev->u.warehouse_upsert.location, ST_TEXT_LEN_MAX);
    if (!err)
        err = st_check_range(s, "total_capacity", ev->u.warehouse_upsert.total_capacity, 0,
                             INT64_MAX);
    if (err)
        return err;
    if (s->wh && (err = st_stale_if_older(s, s->wh->last_event_ms, "warehouse", ev->warehouse)))
        return err;
    if (!s->wh && s->whs_n >= s->cfg.warehouses_max)
        return st_fail(s, ST_CAPACITY, "this state holds %u warehouses already", s->whs_n);
    // Accepted from here on.
    if (!s->wh)
        s->wh = st_wh_create(s, ev->warehouse);
    st_wh *wh = s->wh;
    wh->name = st_intern_cstr(s, ev->u.warehouse_upsert.name);
    wh->location = st_intern_cstr(s, ev->u.warehouse_upsert.location);
    wh->total_capacity = ev->u.warehouse_upsert.total_capacity;
    wh->last_event_ms = ev->event_time_ms;
    return ST_OK;
}

// st_loc_new appends a location: a zone is its own zone.
static uint32_t
st_loc_new(st_state *s, const char *id)
{
    st_wh *wh = s->wh;
    uint32_t i = wh->locs_n;
    st_loc *l = ST_VEC_PUSH(wh->locs);
    memset(l, 0, sizeof *l);
    l->id = st_intern_cstr(s, id);
    l->zone = i;
    l->product = ST_NONE;
    l->reading_ms = ST_TIME_NONE;
    l->win_start_ms = ST_TIME_NONE;
    l->last_event_ms = ST_TIME_NONE;
    st_map_put(&wh->loc_index, l->id, i);
    return i;
}

st_err
st_apply_zone(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_ZONE_UPSERT && s->wh != NULL);
    const st_event *ev = s->ev;
    const char *id = ev->u.zone_upsert.zone_id;
    st_err err = st_check_id(s, "zone_id", id, true);
    if (!err)
        err = st_check_text(s, "name", ev->u.zone_upsert.name, ST_TEXT_LEN_MAX);
    if (!err)
        err = st_check_range(s, "zone type", ev->u.zone_upsert.type, ST_ZONE_UNSPECIFIED,
                             ST_ZONE_DOCK);
    if (err)
        return err;
    uint32_t loc = st_find_loc(s, s->wh, id);
    if (loc != ST_NONE && s->wh->locs[loc].is_shelf)
        return st_fail(s, ST_CONFLICT, "%s is a shelf, not a zone", id);
    if (loc != ST_NONE && (err = st_stale_if_older(s, s->wh->locs[loc].last_event_ms, "zone", id)))
        return err;
    if (loc == ST_NONE && (err = st_twins_room(s)))
        return err;
    // Accepted from here on.
    if (loc == ST_NONE)
        loc = st_loc_new(s, id);
    st_loc *l = &s->wh->locs[loc];
    l->name = st_intern_cstr(s, ev->u.zone_upsert.name);
    l->zone_type = (uint8_t)ev->u.zone_upsert.type;
    l->last_event_ms = ev->event_time_ms;
    return ST_OK;
}

// st_shelf_check validates a shelf upsert's fields (not its ids).
static st_err
st_shelf_check(st_state *s)
{
    const st_event *ev = s->ev;
    st_err err =
        st_check_range(s, "max_weight_mg", ev->u.shelf_upsert.max_weight_mg, 0, ST_WEIGHT_MG_MAX);
    if (!err)
        err = st_check_range(s, "tare_mg", ev->u.shelf_upsert.tare_mg, 0, ST_WEIGHT_MG_MAX);
    if (!err)
        err = st_check_range(s, "authority", ev->u.shelf_upsert.authority, ST_AUTH_LEDGER,
                             ST_AUTH_WEIGHT);
    if (!err)
        err = st_check_qty(s, "tolerance_units", ev->u.shelf_upsert.tolerance_units, 0);
    if (!err)
        err = st_check_range(s, "anomaly_window_ms", ev->u.shelf_upsert.anomaly_window_ms, 0,
                             INT64_MAX / 4);
    if (!err)
        err = st_check_range(s, "anomaly_threshold_mg", ev->u.shelf_upsert.anomaly_threshold_mg, 0,
                             ST_WEIGHT_MG_MAX);
    return err;
}

st_err
st_apply_shelf(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_SHELF_UPSERT && s->wh != NULL);
    const st_event *ev = s->ev;
    const char *id = ev->u.shelf_upsert.shelf_id;
    uint32_t zone, product = ST_NONE;
    st_err err = st_check_id(s, "shelf_id", id, true);
    if (!err)
        err = st_check_loc(s, "zone_id", ev->u.shelf_upsert.zone_id, true, &zone);
    if (!err && ev->u.shelf_upsert.sku && *ev->u.shelf_upsert.sku)
        err = st_check_product(s, ev->u.shelf_upsert.sku, &product);
    if (!err)
        err = st_shelf_check(s);
    if (err)
        return err;
    if (s->wh->locs[zone].is_shelf)
        return st_fail(s, ST_CONFLICT, "%s is a shelf, not a zone", ev->u.shelf_upsert.zone_id);
    uint32_t loc = st_find_loc(s, s->wh, id);
    if (loc != ST_NONE && !s->wh->locs[loc].is_shelf)
        return st_fail(s, ST_CONFLICT, "%s is a zone, not a shelf", id);
    if (loc != ST_NONE && (err = st_stale_if_older(s, s->wh->locs[loc].last_event_ms, "shelf", id)))
        return err;
    if (loc == ST_NONE && (err = st_twins_room(s)))
        return err;
    // Accepted from here on.
    if (loc == ST_NONE)
        loc = st_loc_new(s, id);
    st_loc *l = &s->wh->locs[loc];
    l->is_shelf = 1;
    l->zone = zone;
    l->product = product;
    l->max_weight_mg = ev->u.shelf_upsert.max_weight_mg;
    l->tare_mg = ev->u.shelf_upsert.tare_mg;
    l->authority = (uint8_t)ev->u.shelf_upsert.authority;
    l->tolerance_units = ev->u.shelf_upsert.tolerance_units;
    l->anomaly_window_ms = ev->u.shelf_upsert.anomaly_window_ms;
    l->anomaly_threshold_mg = ev->u.shelf_upsert.anomaly_threshold_mg;
    l->last_event_ms = ev->event_time_ms;
    return ST_OK;
}

st_err
st_apply_device(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_DEVICE_UPSERT && s->wh != NULL);
    const st_event *ev = s->ev;
    const char *id = ev->u.device_upsert.device_id;
    st_device_kind kind = ev->u.device_upsert.kind;
    bool bound_needed = kind == ST_DEV_RFID || kind == ST_DEV_WEIGHT || kind == ST_DEV_SMART_SHELF;
    uint32_t bound;
    st_err err = st_check_id(s, "device_id", id, true);
    if (!err)
        err = st_check_range(s, "device kind", kind, ST_DEV_RFID, ST_DEV_GATEWAY);
    if (!err)
        err = st_check_loc(s, "bound_to", ev->u.device_upsert.bound_to, bound_needed, &bound);
    if (err)
        return err;
    if ((kind == ST_DEV_WEIGHT || kind == ST_DEV_SMART_SHELF) && !s->wh->locs[bound].is_shelf)
        return st_fail(s, ST_CONFLICT, "a weight device must be bound to a shelf, not zone %s",
                       ev->u.device_upsert.bound_to);
    uint32_t dev = st_find_dev(s, s->wh, id);
    if (dev != ST_NONE &&
        (err = st_stale_if_older(s, s->wh->devs[dev].last_event_ms, "device", id)))
        return err;
    if (dev == ST_NONE && (err = st_twins_room(s)))
        return err;
    // Accepted from here on.
    st_wh *wh = s->wh;
    if (dev == ST_NONE) {
        dev = wh->devs_n;
        st_device *d = ST_VEC_PUSH(wh->devs);
        *d = (st_device){.id = st_intern_cstr(s, id), .last_seen_ms = ST_TIME_NONE};
        st_map_put(&wh->dev_index, d->id, dev);
    }
    wh->devs[dev].kind = (uint32_t)kind;
    wh->devs[dev].bound = bound;
    wh->devs[dev].last_event_ms = ev->event_time_ms;
    return ST_OK;
}

st_err
st_apply_policy(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_STOCK_POLICY && s->wh != NULL);
    const st_event *ev = s->ev;
    uint32_t product;
    st_err err = st_check_product(s, ev->u.stock_policy.sku, &product);
    if (!err)
        err = st_check_qty(s, "reorder_point", ev->u.stock_policy.reorder_point, 0);
    if (!err)
        err = st_check_qty(s, "safety_stock", ev->u.stock_policy.safety_stock, 0);
    if (!err)
        err = st_check_qty(s, "order_up_to", ev->u.stock_policy.order_up_to, 0);
    if (err)
        return err;
    uint32_t stock = st_find_stock(s->wh, product);
    if (stock != ST_NONE &&
        (err = st_stale_if_older(s, st_ext(s->wh, &s->wh->stocks[stock])->policy_ms,
                                 "stock policy of", ev->u.stock_policy.sku)))
        return err;
    // Accepted from here on.
    stock = st_stock_get(s, product);
    s->wh->stocks[stock].reorder_point = (int32_t)ev->u.stock_policy.reorder_point;
    st_stock_ext *x = st_ext_get(s->wh, stock);
    x->safety_stock = (int32_t)ev->u.stock_policy.safety_stock;
    x->order_up_to = (int32_t)ev->u.stock_policy.order_up_to;
    x->policy_ms = ev->event_time_ms;
    st_touch(s, stock);
    return ST_OK;
}

// Catalog events ----------------------------------------------------------------

st_err
st_apply_product(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_PRODUCT_UPSERT && s->wh == NULL);
    const st_event *ev = s->ev;
    const char *sku = ev->u.product_upsert.sku;
    st_err err = st_check_id(s, "sku", sku, true);
    if (!err)
        err = st_check_text(s, "name", ev->u.product_upsert.name, ST_TEXT_LEN_MAX);
    if (!err)
        err = st_check_text(s, "category", ev->u.product_upsert.category, ST_TEXT_LEN_MAX);
    if (!err)
        err = st_check_range(s, "unit_weight_mg", ev->u.product_upsert.unit_weight_mg, 0,
                             ST_WEIGHT_MG_MAX);
    if (!err)
        err = st_check_range(s, "unit_cost_cents", ev->u.product_upsert.unit_cost_cents, 0,
                             INT64_MAX);
    if (!err)
        err = st_check_qty(s, "reorder_point", ev->u.product_upsert.reorder_point, 0);
    if (err)
        return err;
    uint32_t i = st_find_product(s, sku);
    if (i != ST_NONE && (err = st_stale_if_older(s, s->products[i].last_event_ms, "product", sku)))
        return err;
    if (i == ST_NONE && s->products_n >= s->cfg.products_max)
        return st_fail(s, ST_CAPACITY, "the catalog holds %u products already", s->products_n);
    // Accepted from here on.
    if (i == ST_NONE) {
        i = s->products_n;
        st_product *p = ST_VEC_PUSH(s->products);
        memset(p, 0, sizeof *p);
        p->sku = st_intern_cstr(s, sku);
        st_map_put(&s->product_index, p->sku, i);
    }
    st_product *p = &s->products[i];
    p->name = st_intern_cstr(s, ev->u.product_upsert.name);
    p->category = st_intern_cstr(s, ev->u.product_upsert.category);
    p->unit_weight_mg = ev->u.product_upsert.unit_weight_mg;
    p->unit_cost_cents = ev->u.product_upsert.unit_cost_cents;
    p->reorder_point = ev->u.product_upsert.reorder_point;
    p->last_event_ms = ev->event_time_ms;
    return ST_OK;
}

// st_apply_supplier: suppliers share the catalog bound (products_max).
st_err
st_apply_supplier(st_state *s)
{
    ST_ASSERT(s->ev->kind == ST_EV_SUPPLIER_UPSERT && s->wh == NULL);
    const st_event *ev = s->ev;
    const char *id = ev->u.supplier_upsert.supplier_id;
    st_err err = st_check_id(s, "supplier_id", id, true);
    if (!err)
        err = st_check_text(s, "name", ev->u.supplier_upsert.name, ST_TEXT_LEN_MAX);
    if (err)
        return err;
    uint32_t i = st_find_supplier(s, id);
    if (i != ST_NONE && (err = st_stale_if_older(s, s->suppliers[i].last_event_ms, "supplier", id)))
        return err;
    if (i == ST_NONE && s->suppliers_n >= s->cfg.products_max)
        return st_fail(s, ST_CAPACITY, "the catalog holds %u suppliers already", s->suppliers_n);
    // Accepted from here on.
    if (i == ST_NONE) {
        i = s->suppliers_n;
        st_supplier *p = ST_VEC_PUSH(s->suppliers);
        p->id = st_intern_cstr(s, id);
        st_map_put(&s->supplier_index, p->id, i);
    }
    s->suppliers[i].name = st_intern_cstr(s, ev->u.supplier_upsert.name);
    s->suppliers[i].last_event_ms = ev->event_time_ms;
    return ST_OK;
}
