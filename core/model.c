// model.c - primitive operations of the data model (see model.h).
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/model.h"

void
st_vec_grow(void **items, uint32_t *cap, uint32_t count, size_t elem)
{
    ST_ASSERT(count <= *cap);
    if (count < *cap)
        return;
    ST_ASSERT(*cap < UINT32_MAX / 2);
    uint32_t n = *cap ? *cap * 2 : 8;
    *items = st_realloc(*items, (size_t)n * elem);
    *cap = n;
}

// --- messages and argument checks ------------------------------------------

st_err
st_fail(st_state *s, st_err err, const char *fmt, ...)
{
    ST_ASSERT(err != ST_OK && s->out != NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->out->message, sizeof s->out->message, fmt, ap);
    va_end(ap);
    return err;
}

st_err
st_check_id(st_state *s, const char *field, const char *value, bool required)
{
    size_t len;
    return st_check_id_len(s, field, value, required, &len);
}

st_err
st_check_id_len(st_state *s, const char *field, const char *value, bool required, size_t *len)
{
    *len = value ? strnlen(value, ST_ID_LEN_MAX + 1) : 0;
    if (*len == 0 && required)
        return st_fail(s, ST_INVALID_ARGUMENT, "%s is required", field);
    if (*len > ST_ID_LEN_MAX)
        return st_fail(s, ST_INVALID_ARGUMENT, "%s is longer than %u bytes", field, ST_ID_LEN_MAX);
    return ST_OK;
}

st_err
st_check_text(st_state *s, const char *field, const char *value, size_t max)
{
    if (value && strnlen(value, max + 1) > max)
        return st_fail(s, ST_INVALID_ARGUMENT, "%s is longer than %zu bytes", field, max);
    return ST_OK;
}

st_err
st_check_qty(st_state *s, const char *field, int64_t value, int64_t lo)
{
    return st_check_range(s, field, value, lo, ST_QTY_MAX);
}

st_err
st_check_range(st_state *s, const char *field, int64_t value, int64_t lo, int64_t hi)
{
    if (value < lo || value > hi)
        return st_fail(s, ST_INVALID_ARGUMENT, "%s %lld is outside %lld..%lld", field,
                       (long long)value, (long long)lo, (long long)hi);
    return ST_OK;
}

// --- lookups -----------------------------------------------------------------

uint32_t
st_find_str(const st_state *s, const char *str)
{
    if (!str || !*str)
        return 0;
    return st_intern_find(&s->intern, str, strlen(str));
}

const char *
st_str(const st_state *s, uint32_t id)
{
    return st_intern_str(&s->intern, id);
}

// st_find_in looks an interned id up in `index`; an id never interned cannot
// be in any table, which keeps lookups of unknown ids free of allocation.
uint32_t
st_find_in(const st_state *s, const st_map *index, const char *str)
{
    if (!str || !*str)
        return ST_NONE;
    return st_find_in_len(s, index, str, strlen(str));
}

uint32_t
st_find_in_len(const st_state *s, const st_map *index, const char *str, size_t len)
{
    ST_ASSERT(len > 0);
    uint32_t id = st_intern_find(&s->intern, str, len);
    uint32_t v;
    if (id == 0 || !st_map_get(index, id, &v))
        return ST_NONE;
    return v;
}

uint32_t
st_find_product(const st_state *s, const char *sku)
{
    return st_find_in(s, &s->product_index, sku);
}

uint32_t
st_find_supplier(const st_state *s, const char *id)
{
    return st_find_in(s, &s->supplier_index, id);
}

st_wh *
st_find_wh(const st_state *s, const char *id)
{
    uint32_t i = st_find_in(s, &s->wh_index, id);
    return i == ST_NONE ? NULL : s->whs[i];
}

st_wh *
st_find_wh_len(const st_state *s, const char *id, size_t len)
{
    uint32_t i = st_find_in_len(s, &s->wh_index, id, len);
    return i == ST_NONE ? NULL : s->whs[i];
}

uint32_t
st_find_loc(const st_state *s, const st_wh *wh, const char *id)
{
    return st_find_in(s, &wh->loc_index, id);
}

uint32_t
st_find_dev(const st_state *s, const st_wh *wh, const char *id)
{
    return st_find_in(s, &wh->dev_index, id);
}

uint32_t
st_find_stock(const st_wh *wh, uint32_t product)
{
    return product < wh->stock_of_n ? wh->stock_of[product] : ST_NONE;
}

uint32_t
st_find_bin(const st_wh *wh, uint32_t loc, uint32_t stock)
{
    if (stock == ST_NONE || loc == ST_NONE)
        return ST_NONE;
    uint32_t b = wh->stocks[stock].first_bin;
    for (uint32_t k = 0; k < wh->bin_walk && b != ST_NONE; k++, b = wh->bins[b].next)
        if (wh->bins[b].loc == loc)
            return b;
    uint32_t v;
    if (b == ST_NONE) // the whole chain was walked
        return ST_NONE;
    return st_map_get(&wh->bin_index, st_map_key2(loc, stock), &v) ? v : ST_NONE;
}

bool
st_bin_index_rebuild(st_wh *wh)
{
    ST_ASSERT(wh->bin_index.count == 0);
    for (uint32_t i = 0; i < wh->stocks_n; i++) {
        uint32_t rank = 0;
        for (uint32_t b = wh->stocks[i].first_bin; b != ST_NONE; b = wh->bins[b].next, rank++) {
            // The lookup sees the chain's head and what is indexed so far:
            // it must find b itself at the head, nothing further down.
            uint32_t found = st_find_bin(wh, wh->bins[b].loc, i);
            if (rank < wh->bin_walk ? found != b : found != ST_NONE)
                return false;
            if (rank >= wh->bin_walk)
                st_map_put(&wh->bin_index, st_map_key2(wh->bins[b].loc, i), b);
        }
    }
    return true;
}

int64_t
st_bin_qty(const st_wh *wh, uint32_t loc, uint32_t stock)
{
    uint32_t b = st_find_bin(wh, loc, stock);
    return b == ST_NONE ? 0 : wh->bins[b].qty;
}

const st_stock_ext st_ext_none = {.policy_ms = ST_TIME_NONE};

int64_t
st_bin_set_ms(const st_wh *wh, uint32_t bin)
{
    uint32_t i;
    return st_map_get(&wh->set_index, bin, &i) ? wh->sets[i].set_ms : ST_TIME_NONE;
}

bool
st_set_index_rebuild(st_wh *wh)
{
    ST_ASSERT(wh->set_index.count == 0);
    for (uint32_t i = 0; i < wh->sets_n; i++) {
        uint32_t b = wh->sets[i].bin;
        if (b >= wh->bins_n || wh->sets[i].pad != 0 ||
            st_map_get(&wh->set_index, b, &(uint32_t){0}))
            return false;
        st_map_put(&wh->set_index, b, i);
    }
    return true;
}

uint32_t
st_find_resv(const st_state *s, const st_wh *wh, const char *order, uint32_t stock)
{
    uint32_t id = st_find_str(s, order);
    uint32_t v;
    if (id == 0 || stock == ST_NONE || !st_map_get(&wh->resv_index, st_map_key2(id, stock), &v))
        return ST_NONE;
    return v;
}

uint32_t
st_find_po(const st_state *s, const st_wh *wh, const char *id)
{
    return st_find_in(s, &wh->po_index, id);
}

uint32_t
st_find_xfer(const st_state *s, const st_wh *wh, const char *id, bool inbound)
{
    uint32_t sid = st_find_str(s, id);
    uint32_t v;
    if (sid == 0 || !st_map_get(&wh->xfer_index, st_map_key2(inbound, sid), &v))
        return ST_NONE;
    return v;
}

uint32_t
st_orders_count(const st_wh *wh)
{
    return wh->resvs_n + wh->pos_n + wh->xfers_n;
}

st_err
st_check_product(st_state *s, const char *sku, uint32_t *product_out)
{
    size_t len;
    st_err err = st_check_id_len(s, "sku", sku, true, &len);
    if (err)
        return err;
    *product_out = st_find_in_len(s, &s->product_index, sku, len);
    if (*product_out == ST_NONE)
        return st_fail(s, ST_UNKNOWN_PRODUCT, "sku %s is not in the catalog", sku);
    return ST_OK;
}

st_err
st_check_loc(st_state *s, const char *field, const char *id, bool required, uint32_t *loc_out)
{
    ST_ASSERT(s->wh != NULL);
    *loc_out = ST_NONE;
    size_t len;
    st_err err = st_check_id_len(s, field, id, required, &len);
    if (err || len == 0)
        return err;
    *loc_out = st_find_in_len(s, &s->wh->loc_index, id, len);
    if (*loc_out == ST_NONE)
        return st_fail(s, ST_UNKNOWN_LOCATION, "location %s is not in warehouse %s", id,
                       st_str(s, s->wh->id));
    return ST_OK;
}

uint32_t
st_default_receiving(const st_wh *wh)
{
    uint32_t first_zone = ST_NONE;
    for (uint32_t i = 0; i < wh->locs_n; i++) {
        if (wh->locs[i].is_shelf)
            continue;
        if (wh->locs[i].zone_type == ST_ZONE_RECEIVING)
            return i;
        if (first_zone == ST_NONE)
            first_zone = i;
    }
    return first_zone;
}

// --- mutations ---------------------------------------------------------------

uint32_t
st_intern_cstr(st_state *s, const char *str)
{
    if (!str)
        return 0;
    return st_intern_add(&s->intern, str, strlen(str));
}

// st_stock_get creates a stock record on first touch, with the product's
// default reorder point and the low-stock alert armed.
uint32_t
st_stock_get(st_state *s, uint32_t product)
{
    st_wh *wh = s->wh;
    ST_ASSERT(wh != NULL && product < s->products_n);
    uint32_t i = st_find_stock(wh, product);
    if (i != ST_NONE)
        return i;
    i = wh->stocks_n;
    st_stock *r = ST_VEC_PUSH(wh->stocks);
    *r = (st_stock){.product = product,
                    .low_armed = 1,
                    .first_bin = ST_NONE,
                    .ext = ST_NONE,
                    .reorder_point = (int32_t)s->products[product].reorder_point,
                    .last_event_ms = s->ev->event_time_ms};
    if (product >= wh->stock_of_n) {
        uint32_t n = s->products_cap > product ? s->products_cap : product + 1;
        wh->stock_of = st_realloc(wh->stock_of, (size_t)n * sizeof *wh->stock_of);
        for (uint32_t k = wh->stock_of_n; k < n; k++)
            wh->stock_of[k] = ST_NONE;
        wh->stock_of_n = n;
    }
    wh->stock_of[product] = i;
    st_touch(s, i);
    return i;
}

// st_bin_get appends a new bin at the tail of its stock record's chain, so
// the chain (and the inventory's location list) stays in creation order.
uint32_t
st_bin_get(st_state *s, uint32_t loc, uint32_t stock)
{
    st_wh *wh = s->wh;
    ST_ASSERT(loc < wh->locs_n && stock < wh->stocks_n);
    uint32_t b = st_find_bin(wh, loc, stock);
    if (b != ST_NONE)
        return b;
    b = wh->bins_n;
    *ST_VEC_PUSH(wh->bins) = (st_bin){.loc = loc, .next = ST_NONE, .qty = 0};
    uint32_t rank = 0;
    uint32_t *link = &wh->stocks[stock].first_bin;
    for (; *link != ST_NONE; rank++)
        link = &wh->bins[*link].next;
    *link = b;
    if (rank >= wh->bin_walk) // beyond what a lookup walks (st_find_bin)
        st_map_put(&wh->bin_index, st_map_key2(loc, stock), b);
    return b;
}

void
st_bin_put(st_state *s, uint32_t stock, uint32_t bin, int64_t delta)
{
    st_wh *wh = s->wh;
    ST_ASSERT(stock < wh->stocks_n && bin < wh->bins_n);
    st_bin *b = &wh->bins[bin];
    st_stock *r = &wh->stocks[stock];
    b->qty += delta;
    r->on_hand += delta;
    ST_ASSERT(b->qty >= 0 && r->on_hand >= 0);
    st_touch(s, stock);
}

void
st_bin_set_ms_put(st_wh *wh, uint32_t bin, int64_t set_ms)
{
    ST_ASSERT(bin < wh->bins_n);
    uint32_t i;
    if (!st_map_get(&wh->set_index, bin, &i)) {
        i = wh->sets_n;
        *ST_VEC_PUSH(wh->sets) = (st_bin_set){.bin = bin};
        st_map_put(&wh->set_index, bin, i);
    }
    wh->sets[i].set_ms = set_ms;
}

st_stock_ext *
st_ext_get(st_wh *wh, uint32_t stock)
{
    ST_ASSERT(stock < wh->stocks_n);
    st_stock *r = &wh->stocks[stock];
    if (r->ext == ST_NONE) {
        r->ext = wh->exts_n;
        *ST_VEC_PUSH(wh->exts) = st_ext_none;
    }
    return &wh->exts[r->ext];
}

int64_t
st_stock_take(st_state *s, uint32_t stock, uint32_t first_loc, int64_t qty)
{
    st_wh *wh = s->wh;
    ST_ASSERT(stock < wh->stocks_n && qty >= 0);
    int64_t taken = 0;
    uint32_t first = st_find_bin(wh, first_loc, stock);
    if (first != ST_NONE && wh->bins[first].qty > 0) {
        int64_t t = wh->bins[first].qty < qty ? wh->bins[first].qty : qty;
        st_bin_put(s, stock, first, -t);
        taken += t;
    }
    for (uint32_t b = wh->stocks[stock].first_bin; b != ST_NONE && taken < qty;
         b = wh->bins[b].next) {
        int64_t have = wh->bins[b].qty;
        if (b == first || have == 0)
            continue;
        int64_t t = have < qty - taken ? have : qty - taken;
        st_bin_put(s, stock, b, -t);
        taken += t;
    }
    st_touch(s, stock);
    ST_ASSERT(taken <= qty);
    return taken;
}

void
st_resv_remove(st_state *s, uint32_t resv)
{
    st_wh *wh = s->wh;
    ST_ASSERT(resv < wh->resvs_n);
    st_resv *r = &wh->resvs[resv];
    bool had = st_map_del(&wh->resv_index, st_map_key2(r->order, r->stock));
    ST_ASSERT(had);
    uint32_t last = wh->resvs_n - 1;
    if (resv != last) {
        wh->resvs[resv] = wh->resvs[last];
        st_map_put(&wh->resv_index, st_map_key2(wh->resvs[resv].order, wh->resvs[resv].stock),
                   resv);
    }
    wh->resvs_n--;
}

// st_stock_cut is called when physical stock vanished below what orders
// hold: it never lets reserved exceed on_hand, taking from the newest
// reservations first (the oldest promises are kept). Rare, so a scan of the
// warehouse's reservations is fine.
int64_t
st_stock_cut(st_state *s, uint32_t stock)
{
    st_wh *wh = s->wh;
    const st_stock *r = &wh->stocks[stock];
    int64_t cut = 0;
    while (st_ext(wh, r)->reserved > r->on_hand) {
        uint32_t newest = ST_NONE;
        for (uint32_t i = 0; i < wh->resvs_n; i++)
            if (wh->resvs[i].stock == stock &&
                (newest == ST_NONE || wh->resvs[i].created > wh->resvs[newest].created))
                newest = i;
        ST_ASSERT(newest != ST_NONE);
        int64_t excess = st_ext(wh, r)->reserved - r->on_hand;
        int64_t t = wh->resvs[newest].qty < excess ? wh->resvs[newest].qty : excess;
        wh->resvs[newest].qty -= t;
        st_ext_get(wh, stock)->reserved -= t;
        cut += t;
        if (wh->resvs[newest].qty == 0)
            st_resv_remove(s, newest);
    }
    if (cut)
        st_touch(s, stock);
    ST_ASSERT(st_ext(wh, r)->reserved >= 0 && st_ext(wh, r)->reserved <= r->on_hand);
    return cut;
}

void
st_touch(st_state *s, uint32_t stock)
{
    for (uint32_t i = 0; i < s->touched_n; i++)
        if (s->touched[i] == stock)
            return;
    ST_ASSERT(s->touched_n < ST_APPLY_CHANGES_MAX);
    s->touched[s->touched_n++] = stock;
}

// alert_raise numbers the alert in its warehouse, keeps it in the
// warehouse's ring of recent alerts and hands it to the caller in out.
static void
alert_raise(st_state *s, st_alert_kind kind, uint32_t product, uint32_t loc, uint32_t dev,
            uint32_t order, int64_t expected, int64_t actual)
{
    st_wh *wh = s->wh;
    st_apply_out *out = s->out;
    ST_ASSERT(wh != NULL && out->alert_count < ST_APPLY_ALERTS_MAX);
    st_alert a = {
        .kind = kind,
        .warehouse = st_str(s, wh->id),
        .sku = product == ST_NONE ? "" : st_str(s, s->products[product].sku),
        .location = loc == ST_NONE ? "" : st_str(s, wh->locs[loc].id),
        .device = dev == ST_NONE ? "" : st_str(s, wh->devs[dev].id),
        .order = st_str(s, order),
        .event_time_ms = s->ev->event_time_ms,
        .expected = expected,
        .actual = actual,
        .alert_seq = ++wh->alert_seq,
    };
    out->alerts[out->alert_count++] = a;
    uint32_t kept = s->cfg.alerts_kept;
    wh->ring[(wh->ring_head + wh->ring_count) % kept] = a;
    if (wh->ring_count < kept)
        wh->ring_count++;
    else
        wh->ring_head = (wh->ring_head + 1) % kept;
    s->alerts_raised++;
}

void
st_alert_raise(st_state *s, st_alert_kind kind, uint32_t product, uint32_t loc, uint32_t dev,
               int64_t expected, int64_t actual)
{
    alert_raise(s, kind, product, loc, dev, 0, expected, actual);
}

void
st_alert_raise_order(st_state *s, st_alert_kind kind, uint32_t product, uint32_t order,
                     int64_t expected, int64_t actual)
{
    alert_raise(s, kind, product, ST_NONE, ST_NONE, order, expected, actual);
}

st_wh *
st_wh_create(st_state *s, const char *id)
{
    ST_ASSERT(id && *id && s->whs_n < s->cfg.warehouses_max);
    st_wh *wh = st_calloc(1, sizeof *wh);
    wh->id = st_intern_cstr(s, id);
    char src[ST_SOURCE_LEN_MAX + 1];
    int n = snprintf(src, sizeof src, "%s%s", ST_OUTBOX_PREFIX, id);
    ST_ASSERT(n > 0 && (size_t)n < sizeof src);
    wh->outbox_source = st_intern_add(&s->intern, src, (size_t)n);
    wh->last_event_ms = ST_TIME_NONE;
    wh->bin_walk = s->cfg.bin_walk;
    wh->ring = st_calloc(s->cfg.alerts_kept, sizeof *wh->ring);
    st_map_put(&s->wh_index, wh->id, s->whs_n);
    *ST_VEC_PUSH(s->whs) = wh;
    return wh;
}

void
st_wh_destroy(st_wh *wh)
{
    if (!wh)
        return;
    st_free(wh->locs);
    st_free(wh->devs);
    st_free(wh->stocks);
    st_free(wh->exts);
    st_free(wh->bins);
    st_free(wh->sets);
    st_free(wh->resvs);
    st_free(wh->pos);
    st_free(wh->xfers);
    st_free(wh->leads);
    st_free(wh->stock_of);
    st_map *maps[] = {&wh->loc_index,  &wh->dev_index, &wh->bin_index,  &wh->set_index,
                      &wh->resv_index, &wh->po_index,  &wh->xfer_index, &wh->lead_index};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++)
        st_map_deinit(maps[i]);
    st_dedup_deinit(&wh->dedup);
    st_free(wh->ring);
    st_free(wh);
}

// --- duplicate windows ---------------------------------------------------------

st_err
st_dedup_check(const st_state *s, const st_dedup *d, const char *source, size_t source_len,
               uint64_t seq, uint32_t *slot)
{
    ST_ASSERT(seq >= 1 && slot != NULL && source_len >= 1);
    *slot = ST_NONE;
    uint32_t id = st_intern_find(&s->intern, source, source_len);
    uint32_t i;
    if (id == 0 || !st_map_get(&d->index, id, &i))
        return d->count >= s->cfg.sources_max ? ST_CAPACITY : ST_OK;
    *slot = i;
    const st_source *src = &d->items[i];
    if (seq > src->hwm)
        return ST_OK;
    uint64_t back = src->hwm - seq;
    if (back == 0 || back > ST_SEQ_WINDOW)
        return ST_DUPLICATE;
    return (src->window >> (back - 1)) & 1 ? ST_DUPLICATE : ST_OK;
}

// st_dedup_mark records an accepted seq: above the high-water mark it slides
// the window (the old mark becomes bit shift-1), inside it sets one bit.
void
st_dedup_mark(st_state *s, st_dedup *d, const char *source, uint64_t seq, uint32_t slot)
{
    ST_ASSERT(seq >= 1);
    uint32_t i = slot;
    if (i == ST_NONE) {
        uint32_t id = st_intern_cstr(s, source);
        ST_ASSERT(id != 0);
        if (!st_map_get(&d->index, id, &i)) {
            i = d->count;
            st_vec_grow((void **)&d->items, &d->cap, d->count, sizeof *d->items);
            d->count++;
            d->items[i] = (st_source){.id = id, .hwm = 0, .window = 0};
            st_map_put(&d->index, id, i);
        }
    }
    ST_ASSERT(i < d->count);
    st_source *src = &d->items[i];
    if (seq > src->hwm) {
        uint64_t shift = seq - src->hwm;
        if (src->hwm == 0 || shift > ST_SEQ_WINDOW)
            src->window = 0;
        else
            src->window = (shift == 64 ? 0 : src->window << shift) | (1ULL << (shift - 1));
        src->hwm = seq;
    } else {
        uint64_t back = src->hwm - seq;
        ST_ASSERT(back >= 1 && back <= ST_SEQ_WINDOW);
        src->window |= 1ULL << (back - 1);
    }
}

void
st_dedup_deinit(st_dedup *d)
{
    st_free(d->items);
    st_map_deinit(&d->index);
    memset(d, 0, sizeof *d);
}
