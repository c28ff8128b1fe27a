// reshard.c - copying a catalog and warehouses between states. See reshard.h.
//
// Records refer to strings by interned id and to each other by index (model.h).
// Indexes within a warehouse (location, stock record, bin) stay valid when
// the warehouse's tables are copied whole; interned ids are translated
// through their strings (`remap`), catalog indexes through the sku, and the
// maps are rebuilt as st_state_load builds them.
#include "core/reshard.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/model.h"

// remap gives dst's id of src's string `id` (0 stays 0).
static uint32_t
remap(st_state *dst, const st_state *src, uint32_t id)
{
    if (id == 0)
        return 0;
    return st_intern_add(&dst->intern, st_str(src, id), st_intern_len(&src->intern, id));
}

// copy_table duplicates n records (NULL when none).
static void *
copy_table(const void *items, uint32_t n, size_t elem)
{
    if (n == 0)
        return NULL;
    void *p = st_malloc((size_t)n * elem);
    memcpy(p, items, (size_t)n * elem);
    return p;
}

static void
copy_dedup(st_state *dst, const st_state *src, st_dedup *to, const st_dedup *from)
{
    to->items = copy_table(from->items, from->count, sizeof *from->items);
    to->count = to->cap = from->count;
    for (uint32_t i = 0; i < to->count; i++) {
        to->items[i].id = remap(dst, src, from->items[i].id);
        st_map_put(&to->index, to->items[i].id, i);
    }
}

st_err
st_state_adopt_catalog(st_state *dst, const st_state *src)
{
    ST_ASSERT(dst->products_n == 0 && dst->suppliers_n == 0 && dst->whs_n == 0);
    ST_ASSERT(dst->catalog_dedup.count == 0);
    dst->products = copy_table(src->products, src->products_n, sizeof *src->products);
    dst->products_n = dst->products_cap = src->products_n;
    for (uint32_t i = 0; i < dst->products_n; i++) {
        st_product *p = &dst->products[i];
        p->sku = remap(dst, src, p->sku);
        p->name = remap(dst, src, p->name);
        p->category = remap(dst, src, p->category);
        st_map_put(&dst->product_index, p->sku, i);
    }
    dst->suppliers = copy_table(src->suppliers, src->suppliers_n, sizeof *src->suppliers);
    dst->suppliers_n = dst->suppliers_cap = src->suppliers_n;
    for (uint32_t i = 0; i < dst->suppliers_n; i++) {
        st_supplier *p = &dst->suppliers[i];
        p->id = remap(dst, src, p->id);
        p->name = remap(dst, src, p->name);
        st_map_put(&dst->supplier_index, p->id, i);
    }
    copy_dedup(dst, src, &dst->catalog_dedup, &src->catalog_dedup);
    dst->alerts_raised = src->alerts_raised;
    return ST_OK;
}

// restr gives dst's copy of a string of src (an alert's; "" stays "").
static const char *
restr(st_state *dst, const char *str)
{
    return st_str(dst, str == NULL || str[0] == '\0' ? 0 : st_intern_cstr(dst, str));
}

// product_of translates a catalog index of src into dst's (ST_NONE stays).
static bool
product_of(st_state *dst, const st_state *src, uint32_t product, uint32_t *out)
{
    if (product == ST_NONE) {
        *out = ST_NONE;
        return true;
    }
    ST_ASSERT(product < src->products_n);
    *out = st_find_product(dst, st_str(src, src->products[product].sku));
    return *out != ST_NONE;
}

st_err
st_state_adopt_warehouse(st_state *dst, const st_state *src, uint32_t index, char *why,
                         size_t why_len)
{
    ST_ASSERT(index < src->whs_n);
    const st_wh *from = src->whs[index];
    const char *id = st_str(src, from->id);
    if (st_find_wh(dst, id) != NULL) {
        snprintf(why, why_len, "warehouse %s is there twice", id);
        return ST_CONFLICT;
    }
    if (dst->whs_n >= dst->cfg.warehouses_max) {
        snprintf(why, why_len, "warehouse %s: over the limit of %u warehouses", id,
                 dst->cfg.warehouses_max);
        return ST_CAPACITY;
    }
    // Catalog indexes first: nothing is created unless every one resolves.
    uint32_t *product = st_calloc(from->stocks_n + from->locs_n + 1, sizeof *product);
    for (uint32_t i = 0; i < from->stocks_n; i++)
        if (!product_of(dst, src, from->stocks[i].product, &product[i])) {
            snprintf(why, why_len, "warehouse %s stocks %s, which the catalog lacks", id,
                     st_str(src, src->products[from->stocks[i].product].sku));
            st_free(product);
            return ST_UNKNOWN_PRODUCT;
        }
    for (uint32_t i = 0; i < from->locs_n; i++)
        if (!product_of(dst, src, from->locs[i].product, &product[from->stocks_n + i])) {
            snprintf(why, why_len, "a shelf of warehouse %s holds a product the catalog lacks",
                     id);
            st_free(product);
            return ST_UNKNOWN_PRODUCT;
        }
    st_wh *wh = st_wh_create(dst, id);
    wh->name = remap(dst, src, from->name);
    wh->location = remap(dst, src, from->location);
    wh->total_capacity = from->total_capacity;
    wh->last_event_ms = from->last_event_ms;
    wh->outbox_seq = from->outbox_seq;
    wh->alert_seq = from->alert_seq;
    wh->resv_created = from->resv_created;

    wh->locs = copy_table(from->locs, from->locs_n, sizeof *from->locs);
    wh->locs_n = wh->locs_cap = from->locs_n;
    for (uint32_t i = 0; i < wh->locs_n; i++) {
        st_loc *l = &wh->locs[i];
        l->id = remap(dst, src, l->id);
        l->name = remap(dst, src, l->name);
        l->product = product[from->stocks_n + i];
        st_map_put(&wh->loc_index, l->id, i);
    }
    wh->devs = copy_table(from->devs, from->devs_n, sizeof *from->devs);
    wh->devs_n = wh->devs_cap = from->devs_n;
    for (uint32_t i = 0; i < wh->devs_n; i++) {
        wh->devs[i].id = remap(dst, src, wh->devs[i].id);
        st_map_put(&wh->dev_index, wh->devs[i].id, i);
    }
    wh->stocks = copy_table(from->stocks, from->stocks_n, sizeof *from->stocks);
    wh->stocks_n = wh->stocks_cap = from->stocks_n;
    wh->stock_of_n = dst->products_cap > dst->products_n ? dst->products_cap : dst->products_n;
    wh->stock_of = st_malloc((wh->stock_of_n ? wh->stock_of_n : 1) * sizeof *wh->stock_of);
    for (uint32_t i = 0; i < wh->stock_of_n; i++)
        wh->stock_of[i] = ST_NONE;
    for (uint32_t i = 0; i < wh->stocks_n; i++) {
        wh->stocks[i].product = product[i]; // < products_max < 2^31
        wh->stock_of[product[i]] = i;
    }
    wh->exts = copy_table(from->exts, from->exts_n, sizeof *from->exts);
    wh->exts_n = wh->exts_cap = from->exts_n;
    wh->bins = copy_table(from->bins, from->bins_n, sizeof *from->bins);
    wh->bins_n = wh->bins_cap = from->bins_n;
    wh->sets = copy_table(from->sets, from->sets_n, sizeof *from->sets);
    wh->sets_n = wh->sets_cap = from->sets_n;
    // The source state held the same chains and set times.
    bool unique = st_bin_index_rebuild(wh) && st_set_index_rebuild(wh);
    ST_ASSERT(unique);
    wh->resvs = copy_table(from->resvs, from->resvs_n, sizeof *from->resvs);
    wh->resvs_n = wh->resvs_cap = from->resvs_n;
    for (uint32_t i = 0; i < wh->resvs_n; i++) {
        wh->resvs[i].order = remap(dst, src, wh->resvs[i].order);
        st_map_put(&wh->resv_index, st_map_key2(wh->resvs[i].order, wh->resvs[i].stock), i);
    }
    wh->pos = copy_table(from->pos, from->pos_n, sizeof *from->pos);
    wh->pos_n = wh->pos_cap = from->pos_n;
    for (uint32_t i = 0; i < wh->pos_n; i++) {
        wh->pos[i].id = remap(dst, src, wh->pos[i].id);
        wh->pos[i].supplier = remap(dst, src, wh->pos[i].supplier);
        st_map_put(&wh->po_index, wh->pos[i].id, i);
    }
    wh->xfers = copy_table(from->xfers, from->xfers_n, sizeof *from->xfers);
    wh->xfers_n = wh->xfers_cap = from->xfers_n;
    for (uint32_t i = 0; i < wh->xfers_n; i++) {
        st_xfer *x = &wh->xfers[i];
        x->id = remap(dst, src, x->id);
        x->peer = remap(dst, src, x->peer);
        st_map_put(&wh->xfer_index, st_map_key2(x->inbound ? 1u : 0u, x->id), i);
    }
    wh->leads = copy_table(from->leads, from->leads_n, sizeof *from->leads);
    wh->leads_n = wh->leads_cap = from->leads_n;
    for (uint32_t i = 0; i < wh->leads_n; i++) {
        wh->leads[i].supplier = remap(dst, src, wh->leads[i].supplier);
        st_map_put(&wh->lead_index, wh->leads[i].supplier, i);
    }
    copy_dedup(dst, src, &wh->dedup, &from->dedup);
    // The kept alerts, oldest first, their strings now dst's.
    uint32_t kept = dst->cfg.alerts_kept;
    for (uint32_t k = 0; k < from->ring_count; k++) {
        st_alert a = from->ring[(from->ring_head + k) % src->cfg.alerts_kept];
        a.warehouse = st_str(dst, wh->id);
        a.sku = restr(dst, a.sku);
        a.location = restr(dst, a.location);
        a.device = restr(dst, a.device);
        a.order = restr(dst, a.order);
        wh->ring[(wh->ring_head + wh->ring_count) % kept] = a;
        if (wh->ring_count < kept)
            wh->ring_count++;
        else
            wh->ring_head = (wh->ring_head + 1) % kept;
    }
    st_free(product);
    return ST_OK;
}
