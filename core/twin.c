// twin.c - st_state_twin(): one twin by id, with the seed model's property
// names (name, location, totalCapacity, zoneType, currentWeight, maxWeight,
// productName, unitWeight, reorderPoint, currentQuantity, ...) and its
// relationships (hasZone, hasShelf, inZone, holdsProduct, boundTo).
// The view and its relationship array live for the callback only.
// Thread: as query.c.
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/model.h"

typedef struct st_twin_build {
    const st_state *s;
    st_twin_view view;
    st_rel *rels;
    uint32_t rels_cap;
} st_twin_build;

static void
st_prop_int(st_twin_build *b, const char *name, int64_t v)
{
    ST_ASSERT(b->view.prop_count < ST_TWIN_PROPS_MAX);
    b->view.props[b->view.prop_count++] =
        (st_prop){.name = name, .type = ST_PROP_INT, .text = "", .integer = v};
}

static void
st_prop_text(st_twin_build *b, const char *name, const char *v)
{
    ST_ASSERT(b->view.prop_count < ST_TWIN_PROPS_MAX);
    b->view.props[b->view.prop_count++] =
        (st_prop){.name = name, .type = ST_PROP_TEXT, .text = v ? v : ""};
}

static void
st_prop_real(st_twin_build *b, const char *name, double v)
{
    ST_ASSERT(b->view.prop_count < ST_TWIN_PROPS_MAX);
    b->view.props[b->view.prop_count++] =
        (st_prop){.name = name, .type = ST_PROP_REAL, .text = "", .real = v};
}

static void
st_rel_add(st_twin_build *b, const char *name, const char *target)
{
    st_vec_grow((void **)&b->rels, &b->rels_cap, b->view.rel_count, sizeof *b->rels);
    b->rels[b->view.rel_count++] = (st_rel){.name = name, .target = target};
}

static const char *
st_zone_type_name(uint32_t t)
{
    static const char *names[] = {"UNSPECIFIED", "RECEIVING", "STORAGE", "PICKING",
                                  "SHIPPING",    "COLD",      "DOCK"};
    _Static_assert(sizeof names / sizeof names[0] == ST_ZONE_DOCK + 1, "one name per zone type");
    return t <= ST_ZONE_DOCK ? names[t] : "UNSPECIFIED";
}

static const char *
st_device_kind_name(uint32_t k)
{
    static const char *names[] = {"UNSPECIFIED", "RFID",    "WEIGHT_SENSOR",
                                  "SMART_SHELF", "BARCODE", "GATEWAY"};
    _Static_assert(sizeof names / sizeof names[0] == ST_DEV_GATEWAY + 1, "one name per kind");
    return k <= ST_DEV_GATEWAY ? names[k] : "UNSPECIFIED";
}

static void
st_twin_wh(st_twin_build *b, const st_wh *wh)
{
    const st_state *s = b->s;
    b->view.kind = ST_TWIN_WAREHOUSE;
    st_prop_text(b, "name", st_str(s, wh->name));
    st_prop_text(b, "location", st_str(s, wh->location));
    st_prop_int(b, "totalCapacity", wh->total_capacity);
    st_prop_int(b, "stockRecords", wh->stocks_n);
    for (uint32_t i = 0; i < wh->locs_n; i++)
        if (!wh->locs[i].is_shelf)
            st_rel_add(b, "hasZone", st_str(s, wh->locs[i].id));
}

// st_twin_loc describes a zone (its shelves) or a shelf (its weight, its
// product and the quantity of that product on it).
static void
st_twin_loc(st_twin_build *b, const st_wh *wh, uint32_t loc)
{
    const st_state *s = b->s;
    const st_loc *l = &wh->locs[loc];
    st_prop_text(b, "name", st_str(s, l->name));
    if (!l->is_shelf) {
        b->view.kind = ST_TWIN_ZONE;
        st_prop_text(b, "zoneType", st_zone_type_name(l->zone_type));
        for (uint32_t i = 0; i < wh->locs_n; i++)
            if (wh->locs[i].is_shelf && wh->locs[i].zone == loc)
                st_rel_add(b, "hasShelf", st_str(s, wh->locs[i].id));
        return;
    }
    b->view.kind = ST_TWIN_SHELF;
    st_prop_int(b, "currentWeight", l->reading_ms == ST_TIME_NONE ? 0 : l->weight_mg);
    st_prop_int(b, "maxWeight", l->max_weight_mg);
    st_prop_int(b, "tareWeight", l->tare_mg);
    st_prop_text(b, "weightAuthority", l->authority == ST_AUTH_WEIGHT ? "WEIGHT" : "LEDGER");
    st_prop_int(b, "toleranceUnits", l->tolerance_units);
    st_prop_int(b, "lastReadingTime", l->reading_ms == ST_TIME_NONE ? 0 : l->reading_ms);
    st_rel_add(b, "inZone", st_str(s, wh->locs[l->zone].id));
    if (l->product == ST_NONE)
        return;
    const st_product *p = &s->products[l->product];
    st_prop_text(b, "productName", st_str(s, p->name));
    st_prop_int(b, "unitWeight", p->unit_weight_mg);
    st_prop_int(b, "currentQuantity", st_bin_qty(wh, loc, st_find_stock(wh, l->product)));
    uint32_t r = st_find_stock(wh, l->product);
    st_prop_int(b, "reorderPoint", r == ST_NONE ? p->reorder_point : wh->stocks[r].reorder_point);
    st_rel_add(b, "holdsProduct", st_str(s, p->sku));
}

static void
st_twin_dev(st_twin_build *b, const st_wh *wh, const st_device *d)
{
    b->view.kind = ST_TWIN_DEVICE;
    st_prop_text(b, "deviceKind", st_device_kind_name(d->kind));
    st_prop_int(b, "lastSeen", d->last_seen_ms == ST_TIME_NONE ? 0 : d->last_seen_ms);
    st_prop_int(b, "silent", (d->flags & ST_DEV_SILENT) ? 1 : 0); // DEVICE_SILENT, not heard since
    if (d->bound != ST_NONE)
        st_rel_add(b, "boundTo", st_str(b->s, wh->locs[d->bound].id));
}

static void
st_twin_product(st_twin_build *b, const st_product *p)
{
    const st_state *s = b->s;
    b->view.kind = ST_TWIN_PRODUCT;
    st_prop_text(b, "name", st_str(s, p->name));
    st_prop_text(b, "productName", st_str(s, p->name));
    st_prop_text(b, "category", st_str(s, p->category));
    st_prop_int(b, "unitWeight", p->unit_weight_mg);
    st_prop_int(b, "unitCost", p->unit_cost_cents);
    st_prop_int(b, "reorderPoint", p->reorder_point);
}

// st_twin_supplier adds the lead-time history gathered over the owned
// warehouses' receipts from this supplier.
static void
st_twin_supplier(st_twin_build *b, const st_supplier *sup)
{
    const st_state *s = b->s;
    b->view.kind = ST_TWIN_SUPPLIER;
    st_prop_text(b, "name", st_str(s, sup->name));
    uint64_t count = 0;
    int64_t sum = 0;
    for (uint32_t i = 0; i < s->whs_n; i++) {
        uint32_t k;
        if (st_map_get(&s->whs[i]->lead_index, sup->id, &k)) {
            count += s->whs[i]->leads[k].count;
            sum += s->whs[i]->leads[k].sum_ms;
        }
    }
    st_prop_int(b, "leadTimeSamples", (int64_t)count);
    st_prop_real(b, "leadTimeMeanMs", count ? (double)sum / (double)count : 0.0);
}

// st_twin_in_wh looks among a warehouse's own twins: itself, its locations,
// its devices.
static bool
st_twin_in_wh(st_twin_build *b, const st_wh *wh, const char *id, bool self)
{
    const st_state *s = b->s;
    b->view.warehouse = st_str(s, wh->id);
    if (self && strcmp(id, st_str(s, wh->id)) == 0) {
        st_twin_wh(b, wh);
        return true;
    }
    uint32_t loc = st_find_loc(s, wh, id);
    if (loc != ST_NONE) {
        st_twin_loc(b, wh, loc);
        return true;
    }
    uint32_t dev = st_find_dev(s, wh, id);
    if (dev != ST_NONE) {
        st_twin_dev(b, wh, &wh->devs[dev]);
        return true;
    }
    return false;
}

static bool
st_twin_find(st_twin_build *b, const char *warehouse, const char *id)
{
    const st_state *s = b->s;
    if (warehouse && *warehouse) {
        const st_wh *wh = st_find_wh(s, warehouse);
        return wh && st_twin_in_wh(b, wh, id, true);
    }
    const st_wh *wh = st_find_wh(s, id);
    if (wh)
        return st_twin_in_wh(b, wh, id, true);
    b->view.warehouse = "";
    uint32_t i = st_find_product(s, id);
    if (i != ST_NONE) {
        st_twin_product(b, &s->products[i]);
        return true;
    }
    i = st_find_supplier(s, id);
    if (i != ST_NONE) {
        st_twin_supplier(b, &s->suppliers[i]);
        return true;
    }
    for (i = 0; i < s->whs_n; i++)
        if (st_twin_in_wh(b, s->whs[i], id, false))
            return true;
    return false;
}

st_err
st_state_twin(const st_state *s, const char *warehouse, const char *id, st_twin_cb cb, void *arg)
{
    ST_ASSERT(s != NULL && cb != NULL);
    if (!id || !*id)
        return ST_NOT_FOUND;
    st_twin_build b = {.s = s};
    bool found = st_twin_find(&b, warehouse, id);
    if (found) {
        b.view.id = id;
        b.view.rels = b.rels;
        cb(arg, &b.view);
    }
    st_free(b.rels);
    return found ? ST_OK : ST_NOT_FOUND;
}
