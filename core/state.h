// state.h - the in-memory twin graph of one worker: the catalog (products,
// suppliers) and every warehouse the worker owns, with their zones, shelves,
// devices, stock records, bins, reservations, purchase orders, transfers,
// per-source duplicate windows and recent alerts.
//
// Changed only by st_state_apply(). Pure: no threads, I/O, clock or
// randomness, so two states fed the same events in the same order end up
// identical (st_state_digest() proves it). Time enters only as event fields.
//
// Ownership: the state owns everything reachable from it. Views handed to the
// query callbacks below are borrowed until the callback returns.
// Thread: one thread at a time (the shard worker that owns the state). The
// interned strings that st_apply_out points to are immutable and may be read
// by other threads while the state lives.
#ifndef ST_CORE_STATE_H
#define ST_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"

typedef struct st_state st_state;

// Bounds and defaults. Zero fields take the defaults given here.
typedef struct st_state_config {
    int64_t anomaly_window_ms;    // default 300000 (5 minutes, the seed's)
    int64_t anomaly_threshold_mg; // default 50000 (50 g)
    uint32_t sources_max;         // per warehouse; default 65536
    uint32_t alerts_kept;         // recent alerts kept per warehouse; default 256
    uint32_t warehouses_max;      // default 4096
    uint32_t twins_max;           // locations+devices per warehouse; default 1<<20
    uint32_t products_max;        // catalog size; default 1<<24
    uint32_t orders_max;          // reservations+POs+transfers per warehouse; default 1<<22
    // How many of a stock record's bins a lookup walks before it asks the
    // index (model.h, "Bins"); 1..64, default 8. Changes memory and speed,
    // never the state: tests set it low to exercise the index.
    uint32_t bin_walk;
} st_state_config;

// st_state_create makes an empty state; `config` may be NULL (defaults).
// The caller owns *state_out and destroys it with st_state_destroy().
st_err st_state_create(const st_state_config *config, st_state **state_out);

// st_state_destroy frees the state and everything it owns; NULL is a no-op.
void st_state_destroy(st_state *state);

// st_state_apply validates `event` and, if it is accepted, applies it whole;
// a rejected event changes nothing (not even the duplicate window). Returns
// ST_OK, ST_DUPLICATE or ST_STALE for an accepted event, else the reason,
// with a sentence in out->message. `out` is overwritten (counts reset).
// Internal kinds (ST_EV_TRANSFER_INBOUND/ARRIVED) are accepted here: the
// runtime, not core, keeps them off the network.
// Catalog events (st_event_is_catalog) ignore `warehouse`.
st_err st_state_apply(st_state *state, const st_event *event, st_apply_out *out);

// st_state_has_warehouse tells whether this state owns warehouse `id`.
bool st_state_has_warehouse(const st_state *state, const char *id);

// Transfer halves after a restart. A transfer's halves travel between
// warehouses as outbox events (st_apply_out), which the shards deliver once
// durable; a node that starts over from its log re-stages those of the
// entries it replays, but a promoted follower's own snapshot holds no
// messages in flight (a follower delivers none). st_state_transfer_halves
// calls fn with every half this state's warehouses sent that the other
// side may still lack: each open outbound transfer's INBOUND and each
// received inbound transfer's ARRIVED, rebuilt under the (source, seq) they
// were first staged with, so a destination that has one answers DUPLICATE.
// A record loaded from an image older than format 4 has no seq: its half
// comes with seq 0 and cannot be applied. The event's strings live as long
// as the state. Returns how many halves.
typedef void (*st_half_fn)(void *arg, const st_event *half);
uint32_t st_state_transfer_halves(const st_state *state, st_half_fn fn, void *arg);

// st_state_transfer_half_needed tells whether the state that owns
// half->warehouse still lacks that half: no inbound record of the transfer
// (an INBOUND), or its outbound record still open (an ARRIVED). false when
// the warehouse is not owned here.
bool st_state_transfer_half_needed(const st_state *state, const st_event *half);

// st_state_warehouse_id returns the id of the state's i-th warehouse (in
// creation order), or NULL when i >= the number of warehouses. The string
// lives as long as the state.
const char *st_state_warehouse_id(const st_state *state, uint32_t i);

// Timers (timers.c). ST_TICK_SOURCE is the source of every tick entry; its
// seq is its event_time_ms, so a clock that steps back writes duplicates,
// which change nothing.
#define ST_TICK_SOURCE "stocktwin/clock"

// st_state_tick_due tells whether the state's i-th warehouse (creation
// order) has a timer due at now_ms: a reservation past its expiry, a device
// silent for device_silent_ms (0: none is ever silent), a purchase order or
// an inbound transfer past its eta, whose alert was not raised. If so, a
// tick entry (ST_EV_TICK, event_time_ms = now_ms) for that warehouse does
// it; a tick does at most one apply's output, so a long list takes several.
// O(the warehouse's devices and orders).
bool st_state_tick_due(const st_state *state, uint32_t i, int64_t now_ms, int64_t device_silent_ms);

// st_state_verify checks every invariant of DESIGN.md §3 over the whole state
// (on_hand = sum of bins >= 0, 0 <= reserved <= on_hand, reserved = sum of
// reservations, inbound = open POs + open inbound transfers, in_transit_out =
// open outbound transfers, indexes consistent) and aborts on the first
// violation, naming it. O(size): for tests and debug builds.
void st_state_verify(const st_state *state);

// st_state_digest hashes the whole logical state (catalog and warehouses,
// by string ids, independent of memory layout and of the order warehouses
// were created in). Two states with equal digests hold the same twins.
uint64_t st_state_digest(const st_state *state);

// st_state_warehouse_digest is st_state_digest restricted to one warehouse
// (0 if the state does not own it). Digest of a set of warehouses split over
// several states = the sum (mod 2^64) of their warehouse digests plus one
// catalog digest: st_state_digest() = catalog digest + sum of warehouses.
uint64_t st_state_warehouse_digest(const st_state *state, const char *warehouse);
uint64_t st_state_catalog_digest(const st_state *state);

// st_state_warehouses_digest is the sum (mod 2^64) of the warehouse digests of
// every warehouse this state owns (0 if none): st_state_digest() minus the
// catalog digest. A runtime that splits warehouses over several states (one
// per worker) adds one catalog digest to the sum of these, and gets the digest
// a single state fed the same events would have, whatever the split.
uint64_t st_state_warehouses_digest(const st_state *state);

// st_state_network_on_hand sums on_hand + in_transit_out over every warehouse
// of the state: the quantity conservation of DESIGN.md §3 is checked on it.
int64_t st_state_network_units(const st_state *state);

// ---------------------------------------------------------------------------
// Queries. Callbacks return true to go on, false to stop early.

// Views carry each string's length too (the bytes before its NUL), so that
// encoders need not measure what the state already knows.
typedef struct st_location_qty {
    const char *zone;  // the zone (the location itself if it is a zone)
    const char *shelf; // "" when the stock sits in a zone
    uint32_t zone_len, shelf_len;
    int64_t qty;
} st_location_qty;

typedef struct st_stock_view {
    const char *warehouse;
    const char *sku;
    const char *name; // product name
    uint32_t sku_len, name_len;
    int64_t on_hand;
    int64_t reserved;
    int64_t available; // on_hand - reserved
    int64_t inbound;
    int64_t in_transit_out;
    int64_t reorder_point;
    int64_t safety_stock;
    int64_t order_up_to;
    bool below_reorder; // available <= reorder_point
    int64_t last_event_ms;
    uint32_t location_count;
    const st_location_qty *locations; // only filled by st_state_inventory()
} st_stock_view;

typedef bool (*st_stock_cb)(void *arg, const st_stock_view *view);

typedef struct st_inventory_query {
    const char *warehouse;
    bool below_reorder_only;
    uint32_t offset; // skip this many matching stock records
    uint32_t limit;  // at most this many callbacks; 0 = no limit
} st_inventory_query;

// st_state_inventory calls `cb` for the stock records of one warehouse in the
// order the warehouse first saw each sku (stable under paging), with their
// locations. *total_out (may be NULL) receives the number of stock records
// that match the query before paging. ST_UNKNOWN_WAREHOUSE if not owned here.
st_err st_state_inventory(const st_state *state, const st_inventory_query *query, st_stock_cb cb,
                          void *arg, uint32_t *total_out);

// st_state_sku calls `cb` once per owned warehouse holding a stock record for
// `sku`, in warehouse-id order (locations not filled). ST_UNKNOWN_PRODUCT if
// the catalog has no such sku.
st_err st_state_sku(const st_state *state, const char *sku, st_stock_cb cb, void *arg);

typedef bool (*st_alert_cb)(void *arg, const st_alert *alert);

// st_state_alerts calls `cb` with the recent alerts of `warehouse` (NULL or ""
// = every owned warehouse), newest first within a warehouse, at most `limit`
// in all (0 = no limit). ST_UNKNOWN_WAREHOUSE if named and not owned.
st_err st_state_alerts(const st_state *state, const char *warehouse, uint32_t limit, st_alert_cb cb,
                       void *arg);

// Device health (DESIGN §5): a device, when it last reported and whether
// it is silent (DEVICE_SILENT raised, not heard from since).
typedef struct st_device_view {
    const char *warehouse;
    const char *id;
    st_device_kind kind;
    const char *bound_to; // zone or shelf id; "" when unbound
    int64_t last_seen_ms; // 0: never reported
    bool silent;
} st_device_view;

typedef bool (*st_device_cb)(void *arg, const st_device_view *view);

// st_state_devices calls `cb` for the devices of `warehouse` (NULL or "" =
// every owned warehouse), only the silent ones if silent_only, in order of
// warehouse id then device id, until cb returns false. *total_out (may be
// NULL) receives how many match, called or not. ST_UNKNOWN_WAREHOUSE if named
// and not owned.
st_err st_state_devices(const st_state *state, const char *warehouse, bool silent_only,
                        st_device_cb cb, void *arg, uint32_t *total_out);

typedef enum st_twin_kind {
    ST_TWIN_NONE = 0,
    ST_TWIN_WAREHOUSE = 1,
    ST_TWIN_ZONE = 2,
    ST_TWIN_SHELF = 3,
    ST_TWIN_PRODUCT = 4,
    ST_TWIN_DEVICE = 5,
    ST_TWIN_SUPPLIER = 6,
} st_twin_kind;

typedef enum st_prop_type { ST_PROP_TEXT = 1, ST_PROP_INT = 2, ST_PROP_REAL = 3 } st_prop_type;

typedef struct st_prop {
    const char *name;
    st_prop_type type;
    const char *text;
    int64_t integer;
    double real;
} st_prop;

typedef struct st_rel {
    const char *name; // hasZone, hasShelf, holdsProduct, boundTo, inZone
    const char *target;
} st_rel;

#define ST_TWIN_PROPS_MAX 24u

typedef struct st_twin_view {
    const char *id;
    st_twin_kind kind;
    const char *warehouse; // "" for products and suppliers
    uint32_t prop_count;
    st_prop props[ST_TWIN_PROPS_MAX];
    uint32_t rel_count;
    const st_rel *rels; // borrowed until the callback returns
} st_twin_view;

typedef void (*st_twin_cb)(void *arg, const st_twin_view *view);

// st_state_twin finds twin `id`: with `warehouse` set, among that warehouse
// itself and its zones, shelves and devices; with it NULL or "", among owned
// warehouses, then the catalog (products, suppliers), then every owned
// warehouse's zones, shelves and devices. Calls `cb` once and returns ST_OK,
// or returns ST_NOT_FOUND. Properties use the seed model's names where it has
// them (name, location, totalCapacity, zoneType, currentWeight, maxWeight,
// productName, unitWeight, reorderPoint, currentQuantity, ...).
st_err st_state_twin(const st_state *state, const char *warehouse, const char *id, st_twin_cb cb,
                     void *arg);

typedef struct st_state_stats {
    uint32_t warehouses;
    uint64_t stock_records;
    uint32_t products;
    uint32_t suppliers;
    uint64_t reservations;
    uint64_t alerts_raised;
} st_state_stats;

void st_state_stats_get(const st_state *state, st_state_stats *stats_out);

#endif
