// snapshot.c - a state's image: st_state_save writes it through a callback,
// st_state_load rebuilds a state from it, validating every byte.
//
// The image is the model's tables nearly as they lie in memory (records refer
// to each other by index and to strings by interned id, so they need no
// rewriting); the indexes (st_map) are rebuilt on load. Pure: the caller
// does the I/O (a file, a socket to a follower) and adds its own framing and
// checksum (shards/ owns the snapshot file).
//
// Byte layout (format 5), native endianness (the header says which build
// wrote it). The image is written in parts between applies (snapshot.h), so
// each part is as the state was at its own LSN:
//
//   header   "STSNAPv1" (8 bytes)
//            u32 layout id: sizeof of every record type below and the
//            format's version (5), hashed; formats 1 to 4 are read too
//            u32 alerts_kept of the writer (informative)
//   head     u64 first LSN: the head's, replay starts after it
//            u32 n + n st_product, u32 n + n st_supplier,
//            u32 n + n st_source (catalog duplicate windows), u64 alerts_raised
//            u32 warehouse count W, W x u64: each warehouse's alert_seq
//   W parts  u64 the part's LSN (first <= LSN <= last), then
//            u32 id, name, location, outbox_source; i64 total_capacity,
//            last_event_ms; u64 outbox_seq, alert_seq, resv_created
//            tables, each u32 n + n records: st_loc, st_device, st_stock,
//            st_stock_ext, st_bin, st_bin_set, st_resv, st_po, st_xfer,
//            st_lead, u32 stock_of, st_source (duplicate windows)
//            u32 alerts, then per alert (oldest first): u32 kind, sku id,
//            location id, device id, order id; i64 event_time_ms, expected,
//            actual; u64 alert_seq
//   strings  as of the last LSN: u32 count (ids 1..count-1 follow; id 0 is
//            ""), per id: u32 len, len bytes (no NUL)
//   footer   u64 offset of the strings, u64 last LSN, u32 products at the
//            last LSN, "STSNAPend"
//
// Why it is sound: an entry changes the catalog or one warehouse, never two
// (an effect on another warehouse is an outbox event, logged there when it
// arrives), and reads only the catalog and that warehouse. Replaying the
// entries after the first LSN, except each warehouse's up to its part's LSN
// (st_state_covers), applies every entry exactly once, each to the state it
// saw the first time: the catalog replays from the head onwards, so an
// entry sees the catalog it saw then. Strings and products only grow, so
// the tail's strings name every id the parts use, and stock records may
// name products (below the footer's count) that the replay of the catalog
// creates again, at the same index. alerts_raised is the head's plus what
// each warehouse raised before its part.
//
// Format 4 is format 5 with the timers' marks unset (st_device.flags,
// st_po.flags and st_xfer.delayed were padding: cleared on load) and no
// order id in its alerts. Format 3
// is format 4 with 64-byte transfer records (no msg_seq: loaded as
// 0). Format 2 is format 3's tables in one piece: strings after the header,
// no LSNs or alert counts, "STSNAPend" after the warehouses.
//
// Validity: st_state_load refuses (ST_MALFORMED, with a sentence) an image
// that is short, has a different layout id, a string table with a repeat,
// an interned id, table index or count out of range, or a warehouse twice.
// It never trusts a count before checking that many bytes are there.
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/model.h"
#include "core/snapshot.h"

#define SNAP_MAGIC "STSNAPv1"
#define SNAP_END "STSNAPend"

// layout_hash: FNV-1a over the record sizes and the format's version.
static uint32_t
layout_hash(const uint32_t *sizes, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ sizes[i]) * 16777619u;
    return h;
}

// Formats 1 to 3 hold transfer records without msg_seq.
typedef struct snap_xfer_v3 {
    uint32_t id, peer, stock;
    uint8_t inbound, done, has_pos;
    int64_t qty, eta_ms, created_ms, pos_ms;
    double lat, lon;
} snap_xfer_v3;

_Static_assert(sizeof(snap_xfer_v3) == 64 && sizeof(st_xfer) == 72, "transfer records");

static uint32_t
snap_layout_id_of(uint32_t version)
{
    const uint32_t sizes[] = {
        sizeof(st_product),
        sizeof(st_supplier),
        sizeof(st_source),
        sizeof(st_loc),
        sizeof(st_device),
        sizeof(st_stock),
        sizeof(st_bin),
        sizeof(st_resv),
        sizeof(st_po),
        version >= 4 ? (uint32_t)sizeof(st_xfer) : (uint32_t)sizeof(snap_xfer_v3),
        sizeof(st_lead),
        sizeof(st_stock_ext),
        sizeof(st_bin_set),
        version,
    };
    return layout_hash(sizes, sizeof sizes / sizeof sizes[0]);
}

// Versions: 2 = 32-byte records and 16-byte bins, in one consistent piece;
// 3 = the same records, written piecewise (LSNs, strings at the end); 4 =
// format 3 with the seq of each transfer's half (st_xfer.msg_seq); 5 =
// format 4 with the timers' marks (st_device.flags, st_po.flags,
// st_xfer.delayed) where format 4 had padding, which it may not have zeroed.
#define SNAP_FORMAT 5u

static uint32_t
snap_layout_id(void)
{
    return snap_layout_id_of(SNAP_FORMAT);
}

// Format 1 (before 2026-12-03) differs only in these two tables: 72-byte
// stock records holding every number, 32-byte bins pointing back at their
// record and holding their set time, and no extension or set-time tables.
// st_state_load converts them, so a data directory written by an older
// build still starts (its next snapshot is format 2).
typedef struct snap_stock_v1 {
    uint32_t product, first_bin, flags; // flags: bit 0 = the low-stock alert is armed
    int32_t reorder_point, safety_stock, order_up_to;
    int64_t on_hand, reserved, inbound, in_transit_out;
    int64_t last_event_ms, policy_ms;
} snap_stock_v1;

typedef struct snap_bin_v1 {
    uint32_t loc, stock, next;
    int64_t qty, set_ms;
} snap_bin_v1;

_Static_assert(sizeof(snap_stock_v1) == 72 && sizeof(snap_bin_v1) == 32, "format 1's records");

static uint32_t
snap_layout_id_v1(void)
{
    const uint32_t sizes[] = {
        sizeof(st_product), sizeof(st_supplier),   sizeof(st_source),   sizeof(st_loc),
        sizeof(st_device),  sizeof(snap_stock_v1), sizeof(snap_bin_v1), sizeof(st_resv),
        sizeof(st_po),      sizeof(snap_xfer_v3),  sizeof(st_lead),     1u,
    };
    return layout_hash(sizes, sizeof sizes / sizeof sizes[0]);
}

// --- save --------------------------------------------------------------------

typedef struct snap_out {
    st_snap_write_cb cb;
    void *arg;
    uint64_t bytes;
    bool ok;
} snap_out;

static void
put(snap_out *o, const void *buf, size_t len)
{
    if (o->ok && len != 0)
        o->ok = o->cb(o->arg, buf, len);
    o->bytes += len;
}

static void
put_u32(snap_out *o, uint32_t v)
{
    put(o, &v, sizeof v);
}

static void
put_u64(snap_out *o, uint64_t v)
{
    put(o, &v, sizeof v);
}

static void
put_table(snap_out *o, const void *items, uint32_t n, size_t elem)
{
    put_u32(o, n);
    put(o, items, (size_t)n * elem);
}

static void
save_wh(const st_state *s, const st_wh *wh, snap_out *o)
{
    put_u32(o, wh->id);
    put_u32(o, wh->name);
    put_u32(o, wh->location);
    put_u32(o, wh->outbox_source);
    put_u64(o, (uint64_t)wh->total_capacity);
    put_u64(o, (uint64_t)wh->last_event_ms);
    put_u64(o, wh->outbox_seq);
    put_u64(o, wh->alert_seq);
    put_u64(o, wh->resv_created);
    put_table(o, wh->locs, wh->locs_n, sizeof *wh->locs);
    put_table(o, wh->devs, wh->devs_n, sizeof *wh->devs);
    put_table(o, wh->stocks, wh->stocks_n, sizeof *wh->stocks);
    put_table(o, wh->exts, wh->exts_n, sizeof *wh->exts);
    put_table(o, wh->bins, wh->bins_n, sizeof *wh->bins);
    put_table(o, wh->sets, wh->sets_n, sizeof *wh->sets);
    put_table(o, wh->resvs, wh->resvs_n, sizeof *wh->resvs);
    put_table(o, wh->pos, wh->pos_n, sizeof *wh->pos);
    put_table(o, wh->xfers, wh->xfers_n, sizeof *wh->xfers);
    put_table(o, wh->leads, wh->leads_n, sizeof *wh->leads);
    put_table(o, wh->stock_of, wh->stock_of_n, sizeof *wh->stock_of);
    put_table(o, wh->dedup.items, wh->dedup.count, sizeof *wh->dedup.items);
    put_u32(o, wh->ring_count);
    for (uint32_t k = 0; k < wh->ring_count; k++) {
        const st_alert *a = &wh->ring[(wh->ring_head + k) % s->cfg.alerts_kept];
        put_u32(o, (uint32_t)a->kind);
        put_u32(o, st_find_str(s, a->sku));
        put_u32(o, st_find_str(s, a->location));
        put_u32(o, st_find_str(s, a->device));
        put_u32(o, st_find_str(s, a->order));
        put_u64(o, (uint64_t)a->event_time_ms);
        put_u64(o, (uint64_t)a->expected);
        put_u64(o, (uint64_t)a->actual);
        put_u64(o, a->alert_seq);
    }
}

// The head: everything but the warehouses and the strings, as it is now,
// and each warehouse's alert count now (st_state_load adds the alerts
// raised between this and the warehouse's part to alerts_raised).
bool
st_snap_begin(st_snap_pass *p, const st_state *s, uint64_t lsn, st_snap_write_cb cb, void *arg)
{
    ST_ASSERT(p != NULL && s != NULL && cb != NULL);
    *p = (st_snap_pass){.first_lsn = lsn, .last_lsn = lsn, .whs = s->whs_n};
    snap_out o = {.cb = cb, .arg = arg, .ok = true};
    put(&o, SNAP_MAGIC, 8);
    put_u32(&o, snap_layout_id());
    put_u32(&o, s->cfg.alerts_kept);
    put_u64(&o, lsn);
    put_table(&o, s->products, s->products_n, sizeof *s->products);
    put_table(&o, s->suppliers, s->suppliers_n, sizeof *s->suppliers);
    put_table(&o, s->catalog_dedup.items, s->catalog_dedup.count, sizeof *s->catalog_dedup.items);
    put_u64(&o, s->alerts_raised);
    put_u32(&o, s->whs_n);
    for (uint32_t i = 0; i < s->whs_n; i++)
        put_u64(&o, s->whs[i]->alert_seq);
    p->bytes += o.bytes;
    return o.ok;
}

// part_bytes: what st_snap_next writes for `wh` (save_wh and its LSN).
static size_t
part_bytes(const st_wh *wh)
{
    return 8 + 4 * 4 + 5 * 8 + 12 * 4 + (size_t)wh->locs_n * sizeof *wh->locs +
           (size_t)wh->devs_n * sizeof *wh->devs + (size_t)wh->stocks_n * sizeof *wh->stocks +
           (size_t)wh->exts_n * sizeof *wh->exts + (size_t)wh->bins_n * sizeof *wh->bins +
           (size_t)wh->sets_n * sizeof *wh->sets + (size_t)wh->resvs_n * sizeof *wh->resvs +
           (size_t)wh->pos_n * sizeof *wh->pos + (size_t)wh->xfers_n * sizeof *wh->xfers +
           (size_t)wh->leads_n * sizeof *wh->leads + (size_t)wh->stock_of_n * sizeof *wh->stock_of +
           (size_t)wh->dedup.count * sizeof *wh->dedup.items + 4 +
           (size_t)wh->ring_count * (5 * 4 + 4 * 8);
}

size_t
st_snap_part_bytes_max(const st_state *s)
{
    size_t max = 0;
    for (uint32_t i = 0; i < s->whs_n; i++)
        if (part_bytes(s->whs[i]) > max)
            max = part_bytes(s->whs[i]);
    return max;
}

bool
st_snap_more(const st_snap_pass *p)
{
    return p->next < p->whs;
}

bool
st_snap_next(st_snap_pass *p, const st_state *s, uint64_t lsn, st_snap_write_cb cb, void *arg)
{
    ST_ASSERT(p->next < p->whs && p->whs <= s->whs_n && lsn >= p->last_lsn);
    snap_out o = {.cb = cb, .arg = arg, .ok = true};
    const st_wh *wh = s->whs[p->next++];
    put_u64(&o, lsn);
    save_wh(s, wh, &o);
    ST_ASSERT(!o.ok || o.bytes == part_bytes(wh));
    p->last_lsn = lsn;
    p->bytes += o.bytes;
    return o.ok;
}

// The tail: every string interned by now (the parts written earlier name
// none beyond them: ids only grow), then the footer that locates them.
bool
st_snap_end(st_snap_pass *p, const st_state *s, uint64_t lsn, st_snap_write_cb cb, void *arg)
{
    ST_ASSERT(p->next == p->whs && lsn >= p->last_lsn);
    snap_out o = {.cb = cb, .arg = arg, .ok = true};
    uint64_t strings_at = p->bytes;
    p->last_lsn = lsn; // the strings' and the product count's
    put_u32(&o, s->intern.count);
    for (uint32_t id = 1; id < s->intern.count; id++) {
        uint32_t len = st_intern_len(&s->intern, id);
        put_u32(&o, len);
        put(&o, st_intern_str(&s->intern, id), len);
    }
    put_u64(&o, strings_at);
    put_u64(&o, p->last_lsn);
    put_u32(&o, s->products_n);
    put(&o, SNAP_END, 9);
    p->bytes += o.bytes;
    return o.ok;
}

bool
st_state_save(const st_state *s, st_snap_write_cb cb, void *arg)
{
    st_snap_pass p;
    bool ok = st_snap_begin(&p, s, 0, cb, arg);
    while (ok && st_snap_more(&p))
        ok = st_snap_next(&p, s, 0, cb, arg);
    return ok && st_snap_end(&p, s, 0, cb, arg);
}

// --- load --------------------------------------------------------------------

typedef struct snap_in {
    const uint8_t *p, *end;
    st_state *s;
    uint32_t version;        // of the image: 1 to 5
    uint32_t products_bound; // stock records may name products below it
    char *why;
    size_t why_len;
    bool ok;
} snap_in;

__attribute__((format(printf, 2, 3))) static void
bad(snap_in *in, const char *fmt, ...)
{
    if (!in->ok)
        return;
    in->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->why, in->why_len, fmt, ap);
    va_end(ap);
}

static bool
take(snap_in *in, void *dst, size_t len)
{
    if (!in->ok)
        return false;
    if ((size_t)(in->end - in->p) < len) {
        bad(in, "snapshot: the image ends early");
        return false;
    }
    memcpy(dst, in->p, len);
    in->p += len;
    return true;
}

static uint32_t
get_u32(snap_in *in)
{
    uint32_t v = 0;
    take(in, &v, sizeof v);
    return v;
}

static uint64_t
get_u64(snap_in *in)
{
    uint64_t v = 0;
    take(in, &v, sizeof v);
    return v;
}

// get_table reads a count and that many records into a fresh array. `max`
// bounds the count beyond what the remaining bytes allow.
static void *
get_table(snap_in *in, uint32_t *n_out, uint32_t *cap_out, size_t elem, uint32_t max,
          const char *what)
{
    uint32_t n = get_u32(in);
    *n_out = 0;
    if (!in->ok)
        return NULL;
    if (n > max || (size_t)(in->end - in->p) / elem < n) {
        bad(in, "snapshot: %u %s do not fit the image", n, what);
        return NULL;
    }
    if (n == 0)
        return NULL;
    void *items = st_malloc((size_t)n * elem);
    take(in, items, (size_t)n * elem);
    *n_out = n;
    if (cap_out != NULL)
        *cap_out = n;
    return items;
}

static bool
id_ok(const snap_in *in, uint32_t id)
{
    return id < in->s->intern.count;
}

static bool
idx_ok(uint32_t idx, uint32_t n)
{
    return idx < n || idx == ST_NONE;
}

static void
check(snap_in *in, bool cond, const char *what, uint32_t wh, uint32_t i)
{
    if (!cond)
        bad(in, "snapshot: warehouse %u: %s %u refers out of range", wh, what, i);
}

static void
load_dedup(snap_in *in, st_dedup *d)
{
    d->items = get_table(in, &d->count, &d->cap, sizeof *d->items, UINT32_MAX, "sources");
    for (uint32_t i = 0; in->ok && i < d->count; i++) {
        if (!id_ok(in, d->items[i].id) || d->items[i].id == 0) {
            bad(in, "snapshot: a duplicate window names string %u", d->items[i].id);
            break;
        }
        st_map_put(&d->index, d->items[i].id, i);
    }
}

// load_stocks_v1 reads format 1's stock records and bins into format 2's
// tables: the numbers a record rarely sets go to an extension only when one
// of them is set, a bin's set time to the set-time table only when it has
// one. What format 2 no longer stores is checked here: a record's flags,
// and that each bin points back at the record whose chain holds it (the
// chains themselves are checked by load_wh, as for format 2).
// load_xfers_v3 reads the 64-byte transfer records of formats 1 to 3: the
// same fields, no msg_seq (0: a promoted follower cannot send such a half
// again, st_state_transfer_halves).
static void
load_xfers_v3(snap_in *in, st_wh *wh)
{
    uint32_t n = 0;
    snap_xfer_v3 *old = get_table(in, &n, NULL, sizeof *old, UINT32_MAX, "transfers");
    if (n != 0) {
        wh->xfers = st_malloc((size_t)n * sizeof *wh->xfers);
        wh->xfers_n = wh->xfers_cap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        const snap_xfer_v3 *o = &old[i];
        wh->xfers[i] = (st_xfer){.id = o->id,
                                 .peer = o->peer,
                                 .stock = o->stock,
                                 .inbound = o->inbound,
                                 .done = o->done,
                                 .has_pos = o->has_pos,
                                 .qty = o->qty,
                                 .eta_ms = o->eta_ms,
                                 .created_ms = o->created_ms,
                                 .pos_ms = o->pos_ms,
                                 .lat = o->lat,
                                 .lon = o->lon};
    }
    st_free(old);
}

static void
load_stocks_v1(snap_in *in, st_wh *wh, uint32_t w)
{
    uint32_t n = 0, nb = 0;
    snap_stock_v1 *old = get_table(in, &n, NULL, sizeof *old, UINT32_MAX, "stock records");
    snap_bin_v1 *ob = get_table(in, &nb, NULL, sizeof *ob, UINT32_MAX, "bins");
    if (n != 0) {
        wh->stocks = st_malloc((size_t)n * sizeof *wh->stocks);
        wh->stocks_n = wh->stocks_cap = n;
    }
    for (uint32_t i = 0; in->ok && i < n; i++) {
        const snap_stock_v1 *k = &old[i];
        check(in, k->product < in->products_bound && (k->flags & ~1u) == 0, "stock record", w, i);
        wh->stocks[i] = (st_stock){.product = in->ok ? k->product : 0,
                                   .low_armed = k->flags & 1u,
                                   .first_bin = k->first_bin,
                                   .ext = ST_NONE,
                                   .reorder_point = k->reorder_point,
                                   .on_hand = k->on_hand,
                                   .last_event_ms = k->last_event_ms};
        if (k->reserved || k->inbound || k->in_transit_out || k->safety_stock || k->order_up_to ||
            k->policy_ms != ST_TIME_NONE) {
            wh->stocks[i].ext = wh->exts_n;
            *ST_VEC_PUSH(wh->exts) = (st_stock_ext){.safety_stock = k->safety_stock,
                                                    .order_up_to = k->order_up_to,
                                                    .reserved = k->reserved,
                                                    .inbound = k->inbound,
                                                    .in_transit_out = k->in_transit_out,
                                                    .policy_ms = k->policy_ms};
        }
    }
    if (nb != 0) {
        wh->bins = st_malloc((size_t)nb * sizeof *wh->bins);
        wh->bins_n = wh->bins_cap = nb;
    }
    for (uint32_t i = 0; in->ok && i < nb; i++) {
        wh->bins[i] = (st_bin){.loc = ob[i].loc, .next = ob[i].next, .qty = ob[i].qty};
        if (ob[i].set_ms != ST_TIME_NONE)
            *ST_VEC_PUSH(wh->sets) = (st_bin_set){.bin = i, .set_ms = ob[i].set_ms};
    }
    // Back pointers, on a walk bounded by the bin count; every index is
    // checked before it is followed.
    uint32_t steps = 0;
    for (uint32_t i = 0; in->ok && i < n; i++)
        for (uint32_t b = old[i].first_bin; b != ST_NONE; b = ob[b].next)
            if (b >= nb || ob[b].stock != i || ++steps > nb) {
                bad(in, "snapshot: warehouse %u: the bins of stock record %u do not chain", w, i);
                break;
            }
    st_free(old);
    st_free(ob);
}

// clear_timer_marks: before format 5 the timers' marks were padding, and no
// timer had fired (ticks came with format 5).
static void
clear_timer_marks(st_wh *wh)
{
    for (uint32_t i = 0; i < wh->devs_n; i++)
        wh->devs[i].flags = 0;
    for (uint32_t i = 0; i < wh->pos_n; i++)
        wh->pos[i].flags = 0;
    for (uint32_t i = 0; i < wh->xfers_n; i++)
        wh->xfers[i].delayed = 0;
}

// load_wh reads one warehouse into wh (created empty) and checks every index.
static void
load_wh(snap_in *in, st_wh *wh, uint32_t w)
{
    st_state *s = in->s;
    wh->name = get_u32(in);
    wh->location = get_u32(in);
    wh->outbox_source = get_u32(in);
    wh->total_capacity = (int64_t)get_u64(in);
    wh->last_event_ms = (int64_t)get_u64(in);
    wh->outbox_seq = get_u64(in);
    wh->alert_seq = get_u64(in);
    wh->resv_created = get_u64(in);
    if (!id_ok(in, wh->name) || !id_ok(in, wh->location) || !id_ok(in, wh->outbox_source))
        bad(in, "snapshot: warehouse %u names a string out of range", w);
    wh->locs = get_table(in, &wh->locs_n, &wh->locs_cap, sizeof *wh->locs, UINT32_MAX, "locations");
    wh->devs = get_table(in, &wh->devs_n, &wh->devs_cap, sizeof *wh->devs, UINT32_MAX, "devices");
    if (in->version == 1) {
        load_stocks_v1(in, wh, w);
    } else {
        wh->stocks = get_table(in, &wh->stocks_n, &wh->stocks_cap, sizeof *wh->stocks, UINT32_MAX,
                               "stock records");
        wh->exts = get_table(in, &wh->exts_n, &wh->exts_cap, sizeof *wh->exts, wh->stocks_n,
                             "stock record extensions");
        wh->bins = get_table(in, &wh->bins_n, &wh->bins_cap, sizeof *wh->bins, UINT32_MAX, "bins");
        wh->sets = get_table(in, &wh->sets_n, &wh->sets_cap, sizeof *wh->sets, wh->bins_n,
                             "bin set times");
    }
    wh->resvs =
        get_table(in, &wh->resvs_n, &wh->resvs_cap, sizeof *wh->resvs, UINT32_MAX, "reservations");
    wh->pos = get_table(in, &wh->pos_n, &wh->pos_cap, sizeof *wh->pos, UINT32_MAX, "orders");
    if (in->version < 4)
        load_xfers_v3(in, wh);
    else
        wh->xfers =
            get_table(in, &wh->xfers_n, &wh->xfers_cap, sizeof *wh->xfers, UINT32_MAX, "transfers");
    if (in->version < 5)
        clear_timer_marks(wh);
    wh->leads = get_table(in, &wh->leads_n, &wh->leads_cap, sizeof *wh->leads, UINT32_MAX,
                          "lead-time samples");
    // stock_of is sized by the catalog's capacity when it grew: slots past
    // the products are ST_NONE.
    wh->stock_of =
        get_table(in, &wh->stock_of_n, NULL, sizeof *wh->stock_of, UINT32_MAX, "catalog slots");
    load_dedup(in, &wh->dedup);
    for (uint32_t i = 0; in->ok && i < wh->locs_n; i++) {
        const st_loc *l = &wh->locs[i];
        check(in, id_ok(in, l->id) && l->id != 0 && id_ok(in, l->name), "location", w, i);
        check(in, l->zone < wh->locs_n && idx_ok(l->product, in->products_bound), "location", w, i);
        st_map_put(&wh->loc_index, l->id, i);
    }
    for (uint32_t i = 0; in->ok && i < wh->devs_n; i++) {
        const st_device *d = &wh->devs[i];
        check(in, id_ok(in, d->id) && d->id != 0 && idx_ok(d->bound, wh->locs_n), "device", w, i);
        check(in, (d->flags & ~(uint32_t)ST_DEV_SILENT) == 0, "device", w, i);
        st_map_put(&wh->dev_index, d->id, i);
    }
    // Each extension belongs to one record: marked as its owner is checked.
    uint8_t *owned = st_calloc((size_t)wh->exts_n + (size_t)wh->bins_n + 1, 1);
    for (uint32_t i = 0; in->ok && i < wh->stocks_n; i++) {
        const st_stock *k = &wh->stocks[i];
        check(in, k->product < in->products_bound && idx_ok(k->first_bin, wh->bins_n),
              "stock record", w, i);
        check(in, idx_ok(k->ext, wh->exts_n) && (k->ext == ST_NONE || !owned[k->ext]),
              "stock record", w, i);
        if (in->ok && k->ext != ST_NONE)
            owned[k->ext] = 1;
        check(in, k->product < wh->stock_of_n && wh->stock_of[k->product] == i, "stock record", w,
              i);
    }
    for (uint32_t i = 0; in->ok && i < wh->stock_of_n; i++)
        check(in,
              idx_ok(wh->stock_of[i], wh->stocks_n) &&
                  (i < in->products_bound || wh->stock_of[i] == ST_NONE),
              "catalog slot", w, i);
    for (uint32_t i = 0; in->ok && i < wh->exts_n; i++)
        check(in, owned[i], "stock record extension", w, i);
    for (uint32_t i = 0; in->ok && i < wh->bins_n; i++) {
        const st_bin *b = &wh->bins[i];
        check(in, b->loc < wh->locs_n && idx_ok(b->next, wh->bins_n) && b->qty >= 0, "bin", w, i);
    }
    if (in->ok && !st_set_index_rebuild(wh))
        bad(in, "snapshot: warehouse %u: a bin set time names a bin out of range or twice", w);
    for (uint32_t i = 0; in->ok && i < wh->resvs_n; i++) {
        const st_resv *r = &wh->resvs[i];
        check(in, id_ok(in, r->order) && r->stock < wh->stocks_n, "reservation", w, i);
        st_map_put(&wh->resv_index, st_map_key2(r->order, r->stock), i);
    }
    for (uint32_t i = 0; in->ok && i < wh->pos_n; i++) {
        const st_po *p = &wh->pos[i];
        check(in, id_ok(in, p->id) && id_ok(in, p->supplier) && p->stock < wh->stocks_n, "order", w,
              i);
        check(in, (p->flags & ~(uint32_t)ST_PO_DELAYED) == 0, "order", w, i);
        st_map_put(&wh->po_index, p->id, i);
    }
    for (uint32_t i = 0; in->ok && i < wh->xfers_n; i++) {
        const st_xfer *x = &wh->xfers[i];
        check(in, id_ok(in, x->id) && id_ok(in, x->peer) && x->stock < wh->stocks_n, "transfer", w,
              i);
        check(in, x->delayed <= 1, "transfer", w, i);
        st_map_put(&wh->xfer_index, st_map_key2(x->inbound ? 1u : 0u, x->id), i);
    }
    for (uint32_t i = 0; in->ok && i < wh->leads_n; i++) {
        check(in, id_ok(in, wh->leads[i].supplier), "lead-time sample", w, i);
        st_map_put(&wh->lead_index, wh->leads[i].supplier, i);
    }
    // The chains visit each bin once (a cycle would hang every pick, a bin
    // on two chains would count twice), every bin is on a chain, and no
    // record has two bins at one location; then the index of long chains is
    // rebuilt.
    uint8_t *on_chain = owned + wh->exts_n;
    uint32_t steps = 0;
    for (uint32_t i = 0; in->ok && i < wh->stocks_n; i++)
        for (uint32_t b = wh->stocks[i].first_bin; in->ok && b != ST_NONE; b = wh->bins[b].next) {
            if (on_chain[b])
                bad(in, "snapshot: warehouse %u: the bins of stock record %u do not chain", w, i);
            on_chain[b] = 1;
            steps++;
        }
    st_free(owned);
    if (in->ok && steps != wh->bins_n)
        bad(in, "snapshot: warehouse %u: %u of its %u bins are on no chain", w, wh->bins_n - steps,
            wh->bins_n);
    if (in->ok && !st_bin_index_rebuild(wh))
        bad(in, "snapshot: warehouse %u: a stock record has two bins at one location", w);
    uint32_t alerts = get_u32(in);
    if (in->ok && alerts > wh->alert_seq) {
        bad(in, "snapshot: warehouse %u keeps %u alerts of %llu raised", w, alerts,
            (unsigned long long)wh->alert_seq);
        return;
    }
    for (uint32_t k = 0; in->ok && k < alerts; k++) {
        st_alert a = {.kind = (st_alert_kind)get_u32(in)};
        uint32_t sku = get_u32(in), loc = get_u32(in), dev = get_u32(in);
        uint32_t order = in->version >= 5 ? get_u32(in) : 0;
        a.event_time_ms = (int64_t)get_u64(in);
        a.expected = (int64_t)get_u64(in);
        a.actual = (int64_t)get_u64(in);
        a.alert_seq = get_u64(in);
        if (!in->ok)
            break;
        if (a.kind <= ST_ALERT_NONE || a.kind > ST_ALERT_OVER_CAPACITY || !id_ok(in, sku) ||
            !id_ok(in, loc) || !id_ok(in, dev) || !id_ok(in, order)) {
            bad(in, "snapshot: warehouse %u: alert %u is not valid", w, k);
            break;
        }
        a.warehouse = st_str(s, wh->id);
        a.sku = st_str(s, sku);
        a.location = st_str(s, loc);
        a.device = st_str(s, dev);
        a.order = st_str(s, order);
        // Keep the newest alerts_kept of them, as the ring would have.
        uint32_t kept = s->cfg.alerts_kept;
        wh->ring[(wh->ring_head + wh->ring_count) % kept] = a;
        if (wh->ring_count < kept)
            wh->ring_count++;
        else
            wh->ring_head = (wh->ring_head + 1) % kept;
    }
}

// load_strings reads the string table (ids 1..count-1 in order).
static void
load_strings(snap_in *in)
{
    uint32_t strings = get_u32(in);
    for (uint32_t id = 1; in->ok && id < strings; id++) {
        uint32_t n = get_u32(in);
        if (in->ok &&
            (n == 0 || n > ST_TEXT_LEN_MAX + ST_SOURCE_LEN_MAX || (size_t)(in->end - in->p) < n)) {
            bad(in, "snapshot: string %u has a bad length %u", id, n);
            break;
        }
        if (in->ok && st_intern_add(&in->s->intern, (const char *)in->p, n) != id)
            bad(in, "snapshot: string %u repeats an earlier one", id);
        in->p += n;
    }
}

// Format 3's footer: u64 offset of the strings, u64 last LSN, u32 products
// at the end, "STSNAPend".
#define SNAP_FOOTER_BYTES (8u + 8u + 4u + 9u)

// load_tail reads format 3's footer and strings; in->end then stops where
// the warehouses must end.
static void
load_tail(snap_in *in, uint64_t *last_lsn)
{
    const uint8_t *image = in->p - 16; // the header was read
    size_t len = (size_t)(in->end - image);
    if (len < 16 + SNAP_FOOTER_BYTES + 8) {
        bad(in, "snapshot: the image ends early");
        return;
    }
    snap_in foot = *in;
    foot.p = in->end - SNAP_FOOTER_BYTES;
    uint64_t strings_at = get_u64(&foot);
    *last_lsn = get_u64(&foot);
    in->products_bound = get_u32(&foot);
    if (memcmp(foot.p, SNAP_END, 9) != 0 || strings_at < 16 ||
        strings_at > len - SNAP_FOOTER_BYTES) {
        bad(in, "snapshot: the image does not end where it should");
        return;
    }
    if (in->products_bound > in->s->cfg.products_max) {
        bad(in, "snapshot: %u products, more than this state's limit %u", in->products_bound,
            in->s->cfg.products_max);
        return;
    }
    snap_in str = *in;
    str.p = image + strings_at;
    str.end = in->end - SNAP_FOOTER_BYTES;
    load_strings(&str);
    if (str.ok && str.p != str.end)
        bad(&str, "snapshot: the strings do not end where the footer begins");
    in->ok = str.ok;
    in->end = image + strings_at;
}

st_err
st_state_load(st_state *s, const void *image, size_t len, char *why, size_t why_len)
{
    ST_ASSERT(s != NULL && (image != NULL || len == 0) && why != NULL && why_len > 0);
    ST_ASSERT(s->intern.count <= 1 && s->products_n == 0 && s->whs_n == 0); // empty
    snap_in in = {.p = image,
                  .end = (const uint8_t *)image + len,
                  .s = s,
                  .why = why,
                  .why_len = why_len,
                  .ok = true};
    why[0] = '\0';
    char magic[9] = {0};
    take(&in, magic, 8);
    if (in.ok && memcmp(magic, SNAP_MAGIC, 8) != 0)
        bad(&in, "snapshot: not a stocktwin state image");
    uint32_t layout = get_u32(&in);
    in.version = layout == snap_layout_id()       ? SNAP_FORMAT
                 : layout == snap_layout_id_of(4) ? 4
                 : layout == snap_layout_id_of(3) ? 3
                 : layout == snap_layout_id_of(2) ? 2
                 : layout == snap_layout_id_v1()  ? 1
                                                  : 0;
    if (in.ok && in.version == 0)
        bad(&in, "snapshot: written by a build with another record layout");
    (void)get_u32(&in); // the writer's alerts_kept
    uint64_t first_lsn = 0, last_lsn = 0;
    if (in.version >= 3) {
        load_tail(&in, &last_lsn);
        first_lsn = get_u64(&in);
        if (in.ok && last_lsn < first_lsn)
            bad(&in, "snapshot: its last LSN comes before its first");
    } else {
        load_strings(&in);
    }
    s->products = get_table(&in, &s->products_n, &s->products_cap, sizeof *s->products, UINT32_MAX,
                            "products");
    if (in.version < 3)
        in.products_bound = s->products_n;
    else if (in.ok && s->products_n > in.products_bound)
        bad(&in, "snapshot: %u products at its start but %u at its end", s->products_n,
            in.products_bound);
    for (uint32_t i = 0; in.ok && i < s->products_n; i++) {
        const st_product *p = &s->products[i];
        if (!id_ok(&in, p->sku) || p->sku == 0 || !id_ok(&in, p->name) ||
            !id_ok(&in, p->category)) {
            bad(&in, "snapshot: product %u names a string out of range", i);
            break;
        }
        st_map_put(&s->product_index, p->sku, i);
    }
    s->suppliers = get_table(&in, &s->suppliers_n, &s->suppliers_cap, sizeof *s->suppliers,
                             UINT32_MAX, "suppliers");
    for (uint32_t i = 0; in.ok && i < s->suppliers_n; i++) {
        if (!id_ok(&in, s->suppliers[i].id) || s->suppliers[i].id == 0 ||
            !id_ok(&in, s->suppliers[i].name)) {
            bad(&in, "snapshot: supplier %u names a string out of range", i);
            break;
        }
        st_map_put(&s->supplier_index, s->suppliers[i].id, i);
    }
    load_dedup(&in, &s->catalog_dedup);
    s->alerts_raised = get_u64(&in);
    uint32_t whs = get_u32(&in);
    if (in.ok && whs > s->cfg.warehouses_max)
        bad(&in, "snapshot: %u warehouses, more than this state's limit %u", whs,
            s->cfg.warehouses_max);
    // Format 3: each warehouse's alert count at the head's LSN.
    const uint8_t *seqs = in.p;
    if (in.ok && in.version >= 3) {
        if ((size_t)(in.end - in.p) / 8 < whs)
            bad(&in, "snapshot: %u warehouses do not fit the image", whs);
        else
            in.p += (size_t)whs * 8;
    }
    for (uint32_t w = 0; in.ok && w < whs; w++) {
        uint64_t part_lsn = in.version >= 3 ? get_u64(&in) : 0;
        uint32_t id = get_u32(&in);
        if (!in.ok)
            break;
        if (!id_ok(&in, id) || id == 0 || st_map_get(&s->wh_index, id, &(uint32_t){0})) {
            bad(&in, "snapshot: warehouse %u has a bad or repeated id", w);
            break;
        }
        if (in.version >= 3 && (part_lsn < first_lsn || part_lsn > last_lsn)) {
            bad(&in, "snapshot: warehouse %u's LSN is outside the image's", w);
            break;
        }
        st_wh *wh = st_wh_create(s, st_str(s, id));
        ST_ASSERT(wh->id == id);
        wh->image_lsn = part_lsn;
        load_wh(&in, wh, w);
        if (in.ok && in.version >= 3) {
            uint64_t before;
            memcpy(&before, seqs + (size_t)w * 8, 8);
            if (before > wh->alert_seq)
                bad(&in, "snapshot: warehouse %u lost alerts while it was written", w);
            s->alerts_raised += wh->alert_seq - before;
        }
    }
    if (in.version >= 3) {
        if (in.ok && in.p != in.end)
            bad(&in, "snapshot: the warehouses do not end where the strings begin");
        s->image_lsn = last_lsn > first_lsn ? last_lsn : 0;
        s->products_bound = in.products_bound;
    } else {
        char end[9] = {0};
        if (take(&in, end, 9) && (memcmp(end, SNAP_END, 9) != 0 || in.p != in.end))
            bad(&in, "snapshot: the image does not end where it should");
    }
    return in.ok ? ST_OK : ST_MALFORMED;
}

st_err
st_state_covers(st_state *s, uint64_t lsn, const st_event *ev, bool *covered)
{
    *covered = false;
    if (s->image_lsn == 0)
        return ST_OK;
    if (lsn > s->image_lsn) {
        // Replayed past the image: the catalog entries written after its
        // head must have created every product its warehouses may name.
        if (s->products_n < s->products_bound)
            return ST_MALFORMED;
        s->image_lsn = 0;
        return ST_OK;
    }
    if (!st_event_is_catalog(ev->kind) && ev->warehouse != NULL) {
        const st_wh *wh = st_find_wh(s, ev->warehouse);
        *covered = wh != NULL && lsn <= wh->image_lsn;
    }
    return ST_OK;
}

uint64_t
st_state_image_lsn(const st_state *s)
{
    return s->image_lsn;
}
