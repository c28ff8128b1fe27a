// model.h - the internal data model behind state.h: the structs of the twin
// graph of one worker and the primitive operations every event handler uses
// (lookups that change nothing, get-or-create helpers, bin puts and takes,
// reservation cuts, alerts, change tracking). Shared by state.c, apply_*.c,
// query.c and check.c; nothing outside core includes it.
//
// Layout: every table is an array in creation order plus an st_map index on
// interned ids. Records refer to each other by array index (uint32_t,
// ST_NONE for none), never by pointer, so tables may grow. Each warehouse
// holds its own tables; the catalog (products, suppliers) is per state.
//
// Ownership: the state owns everything; handlers borrow it for one apply.
// Thread: the one thread that owns the state.
#ifndef ST_CORE_MODEL_H
#define ST_CORE_MODEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/event.h"
#include "core/intern.h"
#include "core/map.h"
#include "core/state.h"

#define ST_NONE UINT32_MAX
#define ST_TIME_NONE INT64_MIN
#define ST_OUTBOX_PREFIX "outbox/"
#define ST_SOURCE_LEN_MAX (ST_ID_LEN_MAX + sizeof(ST_OUTBOX_PREFIX) - 1)
#define ST_REASON_LEN_MAX 64u

_Static_assert(ST_SEQ_WINDOW == 64u, "the duplicate window is one uint64_t bitmap");
_Static_assert(ST_QTY_MAX *(long long)ST_RFID_TAGS_MAX < INT64_MAX / 4, "tag sums fit int64");

typedef struct st_product {
    uint32_t sku, name, category; // interned
    int64_t unit_weight_mg, unit_cost_cents, reorder_point;
    int64_t last_event_ms;
} st_product;

typedef struct st_supplier {
    uint32_t id, name;
    int64_t last_event_ms;
} st_supplier;

// A source's high-water mark and the bitmap of the 64 seqs below it
// (bit i = seq hwm-1-i was accepted).
typedef struct st_source {
    uint32_t id;
    uint64_t hwm;
    uint64_t window;
} st_source;

typedef struct st_dedup {
    st_source *items;
    uint32_t count, cap;
    st_map index; // interned source id -> item
} st_dedup;

enum { ST_LOC_OVER_CAP = 1, ST_LOC_ANOMALY_RAISED = 2 };

// A location: a zone (zone == its own index) or a shelf in a zone.
typedef struct st_loc {
    uint32_t id, name;
    uint32_t zone;    // location index of the zone
    uint32_t product; // shelf's product (catalog index) or ST_NONE
    uint8_t is_shelf, zone_type, authority, flags;
    int64_t max_weight_mg, tare_mg, tolerance_units;
    int64_t anomaly_window_ms, anomaly_threshold_mg;
    int64_t weight_mg, reading_ms; // last reading (ST_TIME_NONE: none)
    int64_t win_start_ms, win_min_mg, win_max_mg;
    int64_t last_event_ms; // last upsert
} st_loc;

enum { ST_DEV_SILENT = 1 };

typedef struct st_device {
    uint32_t id;
    uint32_t bound; // location index or ST_NONE
    uint32_t kind;
    uint32_t flags; // ST_DEV_SILENT: DEVICE_SILENT raised, not heard since
    int64_t last_seen_ms;
    int64_t last_event_ms;
} st_device;

// A stock record (warehouse, sku). on_hand == sum of its bins. There are
// millions (45 warehouses x 100,000 skus), so the record holds only what
// nearly every one uses and every apply reads: 32 bytes. The numbers most
// records never set (reservations, inbound and outbound orders, a policy
// beyond the reorder point) live in an st_stock_ext the record points to,
// made the first time one of them is written; st_ext() reads a record's
// (zeros when it has none). Policy numbers are bounded by ST_QTY_MAX and
// fit 32 bits.
typedef struct st_stock {
    uint32_t product : 31;  // catalog index (products_max < 2^31)
    uint32_t low_armed : 1; // the low-stock alert fires when available drops to the reorder point
    uint32_t first_bin;     // chain in creation order, ST_NONE if none
    uint32_t ext;           // index in wh->exts, ST_NONE if none
    int32_t reorder_point;
    int64_t on_hand;
    int64_t last_event_ms; // last change
} st_stock;

typedef struct st_stock_ext {
    int32_t safety_stock, order_up_to;
    int64_t reserved, inbound, in_transit_out;
    int64_t policy_ms; // last StockPolicy (ST_TIME_NONE: none)
} st_stock_ext;

_Static_assert(ST_QTY_MAX <= INT32_MAX, "policy numbers fit int32_t");
_Static_assert(sizeof(st_stock) == 32, "the stock record stays compact");

// A bin: a record's quantity at one location, 16 bytes. The time of its
// last absolute set (a count or a weight reading), which only counted bins
// have, is kept aside in wh->sets (st_bin_set_ms).
typedef struct st_bin {
    uint32_t loc, next;
    int64_t qty;
} st_bin;

_Static_assert(sizeof(st_bin) == 16, "a bin stays compact");

typedef struct st_bin_set {
    uint32_t bin;
    uint32_t pad; // zero
    int64_t set_ms;
} st_bin_set;

typedef struct st_resv {
    uint32_t order, stock;
    uint64_t created; // per-warehouse creation number: cuts take the newest first
    int64_t qty, expires_at_ms;
} st_resv;

enum { ST_PO_DELAYED = 1 };

typedef struct st_po {
    uint32_t id, supplier, stock; // supplier: interned id
    uint32_t flags;               // ST_PO_DELAYED: SHIPMENT_DELAYED raised for this eta
    int64_t qty, received, eta_ms, created_ms, eta_set_ms;
} st_po;

typedef struct st_xfer {
    uint32_t id, peer, stock; // peer: the other warehouse (interned)
    uint8_t inbound, done, has_pos;
    uint8_t delayed; // SHIPMENT_DELAYED raised (inbound records only)
    int64_t qty, eta_ms, created_ms, pos_ms;
    double lat, lon;
    // The seq of the half this side sent (an outbound record's INBOUND, a
    // received inbound record's ARRIVED), so that it can be sent again under
    // the same (source, seq) (st_state_transfer_halves); 0: not sent yet, or
    // a record loaded from a snapshot older than format 4.
    uint64_t msg_seq;
} st_xfer;

typedef struct st_lead {
    uint32_t supplier;
    uint64_t count;
    int64_t sum_ms;
    double sumsq_ms2;
} st_lead;

#define ST_VEC(type, name)                                                                         \
    type *name;                                                                                    \
    uint32_t name##_n, name##_cap

typedef struct st_wh {
    uint32_t id, name, location;
    uint32_t outbox_source; // interned "outbox/<id>"
    int64_t total_capacity, last_event_ms;
    uint64_t outbox_seq, alert_seq, resv_created;
    ST_VEC(st_loc, locs);
    ST_VEC(st_device, devs);
    ST_VEC(st_stock, stocks);
    ST_VEC(st_stock_ext, exts);
    ST_VEC(st_bin, bins);
    ST_VEC(st_bin_set, sets);
    ST_VEC(st_resv, resvs);
    ST_VEC(st_po, pos);
    ST_VEC(st_xfer, xfers);
    ST_VEC(st_lead, leads);
    // Stock records by catalog index: a dense array (every warehouse of a
    // distribution network stocks most of the catalog), ST_NONE when absent.
    uint32_t *stock_of;
    uint32_t stock_of_n;
    uint32_t bin_walk; // the config's, for st_find_bin
    st_map loc_index, dev_index, bin_index, set_index, resv_index, po_index, xfer_index, lead_index;
    st_dedup dedup;
    st_alert *ring; // alerts_kept entries
    uint32_t ring_head, ring_count;
    uint64_t image_lsn; // loaded from a piecewise image: its part's LSN (snapshot.h)
} st_wh;

struct st_state {
    st_state_config cfg;
    st_intern intern;
    ST_VEC(st_product, products);
    ST_VEC(st_supplier, suppliers);
    st_map product_index, supplier_index;
    st_dedup catalog_dedup;
    ST_VEC(st_wh *, whs);
    st_map wh_index;
    uint64_t alerts_raised;
    // Loaded from a piecewise image and not yet replayed past its last LSN
    // (0: not): st_state_covers. Until then stock records may name products
    // up to products_bound that the replay of catalog entries creates.
    uint64_t image_lsn;
    uint32_t products_bound;
    // The apply in progress.
    const st_event *ev;
    st_apply_out *out;
    st_wh *wh;
    uint32_t touched_n;
    uint32_t touched[ST_APPLY_CHANGES_MAX];
};

// st_vec_grow makes room for one more element of `elem` bytes; amortized O(1).
void st_vec_grow(void **items, uint32_t *cap, uint32_t count, size_t elem);
#define ST_VEC_PUSH(v) (st_vec_grow((void **)&(v), &v##_cap, v##_n, sizeof *(v)), &(v)[v##_n++])

// --- messages and argument checks ------------------------------------------

// st_fail writes a sentence into out->message and returns `err`.
st_err st_fail(st_state *s, st_err err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline const char *
st_str0(const char *s)
{
    return s ? s : "";
}
// st_check_id: `field` of length 1..64 (or 0 if !required). st_check_id_len
// also gives the length it measured, for a lookup that follows.
st_err st_check_id(st_state *s, const char *field, const char *value, bool required);
st_err st_check_id_len(st_state *s, const char *field, const char *value, bool required,
                       size_t *len);
st_err st_check_text(st_state *s, const char *field, const char *value, size_t max);
// st_check_qty: lo <= value <= ST_QTY_MAX.
st_err st_check_qty(st_state *s, const char *field, int64_t value, int64_t lo);
st_err st_check_range(st_state *s, const char *field, int64_t value, int64_t lo, int64_t hi);

// --- lookups: change nothing ------------------------------------------------

uint32_t st_find_str(const st_state *s, const char *str); // interned id or 0
// st_find_in is the value `index` holds for the interned id of `str`, ST_NONE
// if none.
uint32_t st_find_in(const st_state *s, const st_map *index, const char *str);
// st_find_in_len is st_find_in of the `len` bytes at str (len > 0).
uint32_t st_find_in_len(const st_state *s, const st_map *index, const char *str, size_t len);
const char *st_str(const st_state *s, uint32_t id);
uint32_t st_find_product(const st_state *s, const char *sku);
uint32_t st_find_supplier(const st_state *s, const char *id);
st_wh *st_find_wh(const st_state *s, const char *id);
// st_find_wh_len is st_find_wh of the `len` bytes at id (len > 0).
st_wh *st_find_wh_len(const st_state *s, const char *id, size_t len);
uint32_t st_find_loc(const st_state *s, const st_wh *wh, const char *id);
uint32_t st_find_dev(const st_state *s, const st_wh *wh, const char *id);
uint32_t st_find_stock(const st_wh *wh, uint32_t product);
// Bins: a stock record's bins chain in creation order, and a lookup by
// (location, record) walks the first wh->bin_walk of them (the config's
// bin_walk). Only bins further down a chain (a sku spread over many
// locations) are in bin_index, so the usual record of one to a few bins
// costs no index entry (a slot of the index is 12 bytes: ~60 bytes a record
// at seed scale when every bin had one).
uint32_t st_find_bin(const st_wh *wh, uint32_t loc, uint32_t stock);
// st_bin_index_rebuild fills the empty bin_index of a warehouse whose bins
// and chains were loaded whole (a snapshot, a reshard); false if a record
// has two bins at one location.
bool st_bin_index_rebuild(st_wh *wh);
int64_t st_bin_qty(const st_wh *wh, uint32_t loc, uint32_t stock);
// st_bin_set_ms: the bin's last absolute set, ST_TIME_NONE if none.
int64_t st_bin_set_ms(const st_wh *wh, uint32_t bin);
// st_ext: the record's rarely set numbers, all zero (policy_ms
// ST_TIME_NONE) for a record that never had one. Read only.
extern const st_stock_ext st_ext_none;
static inline const st_stock_ext *
st_ext(const st_wh *wh, const st_stock *r)
{
    return r->ext == ST_NONE ? &st_ext_none : &wh->exts[r->ext];
}
// st_available: on hand less reserved.
static inline int64_t
st_available(const st_wh *wh, uint32_t stock)
{
    const st_stock *r = &wh->stocks[stock];
    return r->on_hand - st_ext(wh, r)->reserved;
}
uint32_t st_find_resv(const st_state *s, const st_wh *wh, const char *order, uint32_t stock);
uint32_t st_find_po(const st_state *s, const st_wh *wh, const char *id);
uint32_t st_find_xfer(const st_state *s, const st_wh *wh, const char *id, bool inbound);
uint32_t st_orders_count(const st_wh *wh);

// st_check_product: sku is required and in the catalog; *product_out its index.
st_err st_check_product(st_state *s, const char *sku, uint32_t *product_out);
// st_check_loc: `id` names a location of the current warehouse.
st_err st_check_loc(st_state *s, const char *field, const char *id, bool required,
                    uint32_t *loc_out);
// st_default_receiving returns the first RECEIVING zone, else the first zone,
// else ST_NONE.
uint32_t st_default_receiving(const st_wh *wh);

// --- mutations: only after validation ---------------------------------------

uint32_t st_intern_cstr(st_state *s, const char *str);
uint32_t st_stock_get(st_state *s, uint32_t product); // get or create
// st_ext_get: the record's st_stock_ext to write, made on first use. The
// pointer lasts until the next st_ext_get of the warehouse.
st_stock_ext *st_ext_get(st_wh *wh, uint32_t stock);
uint32_t st_bin_get(st_state *s, uint32_t loc, uint32_t stock);
void st_bin_put(st_state *s, uint32_t stock, uint32_t bin, int64_t delta);
void st_bin_set_ms_put(st_wh *wh, uint32_t bin, int64_t set_ms);
// st_set_index_rebuild fills the empty set_index of a warehouse whose sets were
// loaded whole; false if a set names a bin out of range, or one twice.
bool st_set_index_rebuild(st_wh *wh);
// st_stock_take removes up to qty from the stock's bins, `first_loc`'s bin
// first (ST_NONE: none), then chain order; returns what it took.
int64_t st_stock_take(st_state *s, uint32_t stock, uint32_t first_loc, int64_t qty);
// st_stock_cut cuts reservations, newest first, until reserved <= on_hand;
// returns the units cut.
int64_t st_stock_cut(st_state *s, uint32_t stock);
void st_resv_remove(st_state *s, uint32_t resv);
// st_device_heard records a report made at `at`: a newer one moves the
// device's last report and ends its silence (timers.c).
void st_device_heard(st_device *d, int64_t at);
void st_touch(st_state *s, uint32_t stock);
void st_alert_raise(st_state *s, st_alert_kind kind, uint32_t product, uint32_t loc, uint32_t dev,
                    int64_t expected, int64_t actual);
// st_alert_raise_order is st_alert_raise for an alert about an order:
// `order` is the interned id of the purchase order or transfer.
void st_alert_raise_order(st_state *s, st_alert_kind kind, uint32_t product, uint32_t order,
                          int64_t expected, int64_t actual);
st_wh *st_wh_create(st_state *s, const char *id);
void st_wh_destroy(st_wh *wh);

// --- duplicate windows ------------------------------------------------------

// st_dedup_check answers ST_OK (new), ST_DUPLICATE or ST_CAPACITY (a new
// source and the table is full). Changes nothing. *slot gets the source's
// entry in d->items, ST_NONE for a source d has not seen. source_len is
// strlen(source), at least 1.
st_err st_dedup_check(const st_state *s, const st_dedup *d, const char *source, size_t source_len,
                      uint64_t seq, uint32_t *slot);
// st_dedup_mark records seq of source as applied. slot: what st_dedup_check
// said of the same d and source with nothing marked in between (saves the
// lookup), or ST_NONE.
void st_dedup_mark(st_state *s, st_dedup *d, const char *source, uint64_t seq, uint32_t slot);
void st_dedup_deinit(st_dedup *d);

#endif
