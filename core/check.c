// check.c - whole-state checks: st_state_verify() (every invariant of
// DESIGN.md §3 and every index, O(size)), st_state_digest() and its per
// warehouse / catalog parts, and st_state_network_units().
//
// The digest is the sum (mod 2^64) of one XXH3 per logical record, computed
// over a canonical encoding that names records by their string ids, never by
// internal indices or pointers: two states that applied the same events hold
// equal digests however their memory is laid out, and a state split over
// several workers sums to the digest of the whole. Creation order that
// changes behaviour (stock records, locations, bins in a chain, reservations)
// is part of the content as a rank.
// Thread: as query.c.
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/model.h"

// --- verify ---------------------------------------------------------------------

static void
st_verify_dedup(const st_dedup *d)
{
    ST_ASSERT(d->index.count == d->count);
    for (uint32_t i = 0; i < d->count; i++) {
        uint32_t v;
        ST_ASSERT(st_map_get(&d->index, d->items[i].id, &v) && v == i);
        ST_ASSERT(d->items[i].hwm >= 1);
    }
}

static void
st_verify_topology(const st_state *s, const st_wh *wh)
{
    uint32_t v;
    ST_ASSERT(wh->loc_index.count == wh->locs_n && wh->dev_index.count == wh->devs_n);
    for (uint32_t i = 0; i < wh->locs_n; i++) {
        const st_loc *l = &wh->locs[i];
        ST_ASSERT(st_map_get(&wh->loc_index, l->id, &v) && v == i);
        ST_ASSERT(l->zone < wh->locs_n && !wh->locs[l->zone].is_shelf);
        ST_ASSERT(l->is_shelf || l->zone == i);
        ST_ASSERT(l->product == ST_NONE || l->product < s->products_n);
    }
    for (uint32_t i = 0; i < wh->devs_n; i++) {
        const st_device *d = &wh->devs[i];
        ST_ASSERT(st_map_get(&wh->dev_index, d->id, &v) && v == i);
        ST_ASSERT(d->bound == ST_NONE || d->bound < wh->locs_n);
        if (d->kind == ST_DEV_WEIGHT || d->kind == ST_DEV_SMART_SHELF)
            ST_ASSERT(d->bound != ST_NONE && wh->locs[d->bound].is_shelf);
    }
    ST_ASSERT(wh->ring_count <= s->cfg.alerts_kept && wh->ring_count <= wh->alert_seq);
}

// st_verify_bins checks that every bin sits in exactly one stock record's
// chain, once, found by its (location, record); that on_hand is the sum of
// the chain; that the set times and the records' extensions are each owned
// by one bin or record.
static void
st_verify_bins(const st_wh *wh)
{
    uint32_t v, seen = 0, indexed = 0;
    uint8_t *on_chain = st_calloc((size_t)wh->bins_n + 1, 1);
    for (uint32_t i = 0; i < wh->stocks_n; i++) {
        int64_t sum = 0;
        uint32_t rank = 0;
        for (uint32_t b = wh->stocks[i].first_bin; b != ST_NONE; b = wh->bins[b].next, rank++) {
            ST_ASSERT(b < wh->bins_n && !on_chain[b]);
            on_chain[b] = 1;
            const st_bin *bin = &wh->bins[b];
            ST_ASSERT(bin->loc < wh->locs_n && bin->qty >= 0);
            // Found by its (location, record), which is therefore unique.
            ST_ASSERT(st_find_bin(wh, bin->loc, i) == b);
            // bin_index holds exactly the bins beyond a lookup's walk.
            bool in_index = st_map_get(&wh->bin_index, st_map_key2(bin->loc, i), &v);
            ST_ASSERT(in_index == (rank >= wh->bin_walk) && (!in_index || v == b));
            indexed += in_index;
            sum += bin->qty;
            seen++;
        }
        ST_ASSERT(wh->stocks[i].on_hand == sum);
    }
    ST_ASSERT(seen == wh->bins_n && wh->bin_index.count == indexed);
    st_free(on_chain);
    ST_ASSERT(wh->set_index.count == wh->sets_n);
    for (uint32_t i = 0; i < wh->sets_n; i++) {
        ST_ASSERT(wh->sets[i].bin < wh->bins_n && wh->sets[i].pad == 0);
        ST_ASSERT(st_map_get(&wh->set_index, wh->sets[i].bin, &v) && v == i);
    }
    uint32_t exts = 0;
    for (uint32_t i = 0; i < wh->stocks_n; i++) {
        ST_ASSERT(wh->stocks[i].ext == ST_NONE || wh->stocks[i].ext < wh->exts_n);
        exts += wh->stocks[i].ext != ST_NONE;
    }
    ST_ASSERT(exts == wh->exts_n); // with the bound above and st_ext_get: one record each
}

// st_verify_orders recomputes reserved, inbound and in_transit_out of every
// stock record from the reservations, purchase orders and transfers.
static void
st_verify_orders(const st_wh *wh)
{
    uint32_t n = wh->stocks_n, v;
    int64_t *sums = st_calloc((size_t)n * 3 + 1, sizeof *sums);
    int64_t *resv = sums, *in = sums + n, *out = sums + 2 * n;
    ST_ASSERT(wh->resv_index.count == wh->resvs_n && wh->po_index.count == wh->pos_n);
    for (uint32_t i = 0; i < wh->resvs_n; i++) {
        const st_resv *r = &wh->resvs[i];
        ST_ASSERT(r->stock < n && r->qty > 0 && r->created <= wh->resv_created);
        ST_ASSERT(st_map_get(&wh->resv_index, st_map_key2(r->order, r->stock), &v) && v == i);
        resv[r->stock] += r->qty;
    }
    for (uint32_t i = 0; i < wh->pos_n; i++) {
        const st_po *p = &wh->pos[i];
        ST_ASSERT(p->stock < n && p->received >= 0 && p->received <= p->qty);
        ST_ASSERT(st_map_get(&wh->po_index, p->id, &v) && v == i);
        in[p->stock] += p->qty - p->received;
    }
    ST_ASSERT(wh->xfer_index.count == wh->xfers_n);
    for (uint32_t i = 0; i < wh->xfers_n; i++) {
        const st_xfer *x = &wh->xfers[i];
        ST_ASSERT(x->stock < n && x->qty > 0);
        ST_ASSERT(st_map_get(&wh->xfer_index, st_map_key2(x->inbound, x->id), &v) && v == i);
        if (!x->done)
            (x->inbound ? in : out)[x->stock] += x->qty;
    }
    for (uint32_t i = 0; i < n; i++) {
        const st_stock *r = &wh->stocks[i];
        const st_stock_ext *x = st_ext(wh, r);
        ST_ASSERT(r->on_hand >= 0 && x->reserved >= 0 && x->reserved <= r->on_hand);
        ST_ASSERT(x->reserved == resv[i]);
        ST_ASSERT(x->inbound == in[i]);
        ST_ASSERT(x->in_transit_out == out[i]);
    }
    st_free(sums);
}

void
st_state_verify(const st_state *s)
{
    ST_ASSERT(s != NULL);
    uint32_t v;
    ST_ASSERT(s->product_index.count == s->products_n);
    for (uint32_t i = 0; i < s->products_n; i++)
        ST_ASSERT(st_map_get(&s->product_index, s->products[i].sku, &v) && v == i);
    ST_ASSERT(s->supplier_index.count == s->suppliers_n);
    for (uint32_t i = 0; i < s->suppliers_n; i++)
        ST_ASSERT(st_map_get(&s->supplier_index, s->suppliers[i].id, &v) && v == i);
    ST_ASSERT(s->wh_index.count == s->whs_n && s->whs_n <= s->cfg.warehouses_max);
    st_verify_dedup(&s->catalog_dedup);
    for (uint32_t w = 0; w < s->whs_n; w++) {
        const st_wh *wh = s->whs[w];
        ST_ASSERT(st_map_get(&s->wh_index, wh->id, &v) && v == w);
        uint32_t indexed = 0;
        for (uint32_t p = 0; p < wh->stock_of_n; p++)
            indexed += wh->stock_of[p] != ST_NONE;
        ST_ASSERT(indexed == wh->stocks_n);
        for (uint32_t i = 0; i < wh->stocks_n; i++) {
            ST_ASSERT(wh->stocks[i].product < s->products_n);
            ST_ASSERT(st_find_stock(wh, wh->stocks[i].product) == i);
        }
        st_verify_topology(s, wh);
        st_verify_bins(wh);
        st_verify_orders(wh);
        st_verify_dedup(&wh->dedup);
    }
}

int64_t
st_state_network_units(const st_state *s)
{
    ST_ASSERT(s != NULL);
    int64_t units = 0;
    for (uint32_t w = 0; w < s->whs_n; w++) {
        const st_wh *wh = s->whs[w];
        for (uint32_t i = 0; i < wh->stocks_n; i++)
            units += wh->stocks[i].on_hand + st_ext(wh, &wh->stocks[i])->in_transit_out;
    }
    return units;
}

// --- digest ---------------------------------------------------------------------

#define ST_HASH_BUF 2048u

typedef struct st_hash {
    const st_state *s;
    size_t n;
    uint8_t buf[ST_HASH_BUF];
} st_hash;

_Static_assert(ST_HASH_BUF > 6 * (ST_TEXT_LEN_MAX + 4) + 32 * 8, "a record fits the buffer");

static void
st_h_bytes(st_hash *h, const void *p, size_t len)
{
    ST_ASSERT(h->n + len <= ST_HASH_BUF);
    memcpy(h->buf + h->n, p, len);
    h->n += len;
}

static void
st_h_i64(st_hash *h, int64_t v)
{
    st_h_bytes(h, &v, sizeof v);
}

static void
st_h_f64(st_hash *h, double v)
{
    st_h_bytes(h, &v, sizeof v);
}

// st_h_str hashes a string with its length, so ("ab","c") != ("a","bc").
static void
st_h_str(st_hash *h, uint32_t id)
{
    uint32_t len = st_intern_len(&h->s->intern, id);
    st_h_bytes(h, &len, sizeof len);
    st_h_bytes(h, st_str(h->s, id), len);
}

static void
st_h_begin(st_hash *h, char tag, const st_wh *wh)
{
    h->n = 0;
    st_h_bytes(h, &tag, 1);
    if (wh)
        st_h_str(h, wh->id);
}

static uint64_t
st_h_end(st_hash *h)
{
    return XXH3_64bits(h->buf, h->n);
}

static uint64_t
st_digest_dedup(st_hash *h, const st_wh *wh, const st_dedup *d)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < d->count; i++) {
        st_h_begin(h, 'Q', wh);
        st_h_str(h, d->items[i].id);
        st_h_i64(h, (int64_t)d->items[i].hwm);
        st_h_i64(h, (int64_t)d->items[i].window);
        sum += st_h_end(h);
    }
    return sum;
}

uint64_t
st_state_catalog_digest(const st_state *s)
{
    ST_ASSERT(s != NULL);
    st_hash *h = st_malloc(sizeof *h);
    h->s = s;
    uint64_t sum = st_digest_dedup(h, NULL, &s->catalog_dedup);
    for (uint32_t i = 0; i < s->products_n; i++) {
        const st_product *p = &s->products[i];
        st_h_begin(h, 'P', NULL);
        st_h_str(h, p->sku);
        st_h_str(h, p->name);
        st_h_str(h, p->category);
        st_h_i64(h, p->unit_weight_mg);
        st_h_i64(h, p->unit_cost_cents);
        st_h_i64(h, p->reorder_point);
        st_h_i64(h, p->last_event_ms);
        sum += st_h_end(h);
    }
    for (uint32_t i = 0; i < s->suppliers_n; i++) {
        st_h_begin(h, 'S', NULL);
        st_h_str(h, s->suppliers[i].id);
        st_h_str(h, s->suppliers[i].name);
        st_h_i64(h, s->suppliers[i].last_event_ms);
        sum += st_h_end(h);
    }
    st_free(h);
    return sum;
}

static uint64_t
st_digest_topology(st_hash *h, const st_wh *wh)
{
    const st_state *s = h->s;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < wh->locs_n; i++) {
        const st_loc *l = &wh->locs[i];
        st_h_begin(h, 'L', wh);
        st_h_str(h, l->id);
        st_h_i64(h, i);
        st_h_str(h, l->name);
        st_h_str(h, wh->locs[l->zone].id);
        st_h_str(h, l->product == ST_NONE ? 0 : s->products[l->product].sku);
        int64_t f[] = {l->is_shelf,        l->zone_type,         l->authority,
                       l->flags,           l->max_weight_mg,     l->tare_mg,
                       l->tolerance_units, l->anomaly_window_ms, l->anomaly_threshold_mg,
                       l->weight_mg,       l->reading_ms,        l->win_start_ms,
                       l->win_min_mg,      l->win_max_mg,        l->last_event_ms};
        st_h_bytes(h, f, sizeof f);
        sum += st_h_end(h);
    }
    for (uint32_t i = 0; i < wh->devs_n; i++) {
        const st_device *d = &wh->devs[i];
        st_h_begin(h, 'D', wh);
        st_h_str(h, d->id);
        st_h_str(h, d->bound == ST_NONE ? 0 : wh->locs[d->bound].id);
        st_h_i64(h, d->kind);
        st_h_i64(h, d->last_seen_ms);
        st_h_i64(h, d->last_event_ms);
        if (d->flags) // timers' marks count only when set: digests before them hold
            st_h_i64(h, d->flags);
        sum += st_h_end(h);
    }
    return sum;
}

static uint64_t
st_digest_stock(st_hash *h, const st_wh *wh)
{
    const st_state *s = h->s;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < wh->stocks_n; i++) {
        const st_stock *r = &wh->stocks[i];
        const st_stock_ext *x = st_ext(wh, r);
        uint32_t sku = s->products[r->product].sku;
        st_h_begin(h, 'R', wh);
        st_h_str(h, sku);
        // The logical record, whatever its layout: these were the fields of
        // the 72-byte record, and digests taken before the split still match.
        int64_t f[] = {i,
                       r->low_armed,
                       r->on_hand,
                       x->reserved,
                       x->inbound,
                       x->in_transit_out,
                       r->reorder_point,
                       x->safety_stock,
                       x->order_up_to,
                       r->last_event_ms,
                       x->policy_ms};
        st_h_bytes(h, f, sizeof f);
        sum += st_h_end(h);
        int64_t rank = 0;
        for (uint32_t b = r->first_bin; b != ST_NONE; b = wh->bins[b].next, rank++) {
            st_h_begin(h, 'B', wh);
            st_h_str(h, sku);
            st_h_str(h, wh->locs[wh->bins[b].loc].id);
            st_h_i64(h, rank);
            st_h_i64(h, wh->bins[b].qty);
            st_h_i64(h, st_bin_set_ms(wh, b));
            sum += st_h_end(h);
        }
    }
    for (uint32_t i = 0; i < wh->resvs_n; i++) {
        const st_resv *r = &wh->resvs[i];
        st_h_begin(h, 'V', wh);
        st_h_str(h, r->order);
        st_h_str(h, s->products[wh->stocks[r->stock].product].sku);
        st_h_i64(h, (int64_t)r->created);
        st_h_i64(h, r->qty);
        st_h_i64(h, r->expires_at_ms);
        sum += st_h_end(h);
    }
    return sum;
}

static uint64_t
st_digest_orders(st_hash *h, const st_wh *wh)
{
    const st_state *s = h->s;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < wh->pos_n; i++) {
        const st_po *p = &wh->pos[i];
        st_h_begin(h, 'O', wh);
        st_h_str(h, p->id);
        st_h_str(h, p->supplier);
        st_h_str(h, s->products[wh->stocks[p->stock].product].sku);
        int64_t f[] = {p->qty, p->received, p->eta_ms, p->created_ms, p->eta_set_ms};
        st_h_bytes(h, f, sizeof f);
        if (p->flags)
            st_h_i64(h, p->flags);
        sum += st_h_end(h);
    }
    for (uint32_t i = 0; i < wh->xfers_n; i++) {
        const st_xfer *x = &wh->xfers[i];
        st_h_begin(h, 'T', wh);
        st_h_str(h, x->id);
        st_h_str(h, x->peer);
        st_h_str(h, s->products[wh->stocks[x->stock].product].sku);
        int64_t f[] = {x->inbound, x->done,       x->has_pos, x->qty,
                       x->eta_ms,  x->created_ms, x->pos_ms};
        st_h_bytes(h, f, sizeof f);
        st_h_f64(h, x->lat);
        st_h_f64(h, x->lon);
        if (x->delayed)
            st_h_i64(h, x->delayed);
        sum += st_h_end(h);
    }
    for (uint32_t i = 0; i < wh->leads_n; i++) {
        st_h_begin(h, 'M', wh);
        st_h_str(h, wh->leads[i].supplier);
        st_h_i64(h, (int64_t)wh->leads[i].count);
        st_h_i64(h, wh->leads[i].sum_ms);
        st_h_f64(h, wh->leads[i].sumsq_ms2);
        sum += st_h_end(h);
    }
    return sum;
}

static uint64_t
st_digest_wh(st_hash *h, const st_wh *wh)
{
    st_h_begin(h, 'W', wh);
    st_h_str(h, wh->name);
    st_h_str(h, wh->location);
    int64_t f[] = {wh->total_capacity, wh->last_event_ms, (int64_t)wh->outbox_seq,
                   (int64_t)wh->alert_seq, (int64_t)wh->resv_created};
    st_h_bytes(h, f, sizeof f);
    uint64_t sum = st_h_end(h);
    sum += st_digest_topology(h, wh);
    sum += st_digest_stock(h, wh);
    sum += st_digest_orders(h, wh);
    sum += st_digest_dedup(h, wh, &wh->dedup);
    return sum;
}

uint64_t
st_state_warehouse_digest(const st_state *s, const char *warehouse)
{
    ST_ASSERT(s != NULL);
    const st_wh *wh = st_find_wh(s, warehouse);
    if (!wh)
        return 0;
    st_hash *h = st_malloc(sizeof *h);
    h->s = s;
    uint64_t d = st_digest_wh(h, wh);
    st_free(h);
    return d;
}

uint64_t
st_state_digest(const st_state *s)
{
    ST_ASSERT(s != NULL);
    uint64_t sum = st_state_catalog_digest(s);
    for (uint32_t w = 0; w < s->whs_n; w++)
        sum += st_state_warehouse_digest(s, st_str(s, s->whs[w]->id));
    return sum;
}
