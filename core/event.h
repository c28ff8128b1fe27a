// event.h - core's own plain-C event, and what applying one produces.
//
// The runtime (shards/, server/) translates protobuf `stocktwin.Event`s into
// these and back, in one place each; core never sees protobuf. Kind numbers
// equal the field numbers of `Event.kind` in proto/stocktwin.proto, and the
// enums below equal their proto counterparts, so translation is a copy.
//
// Ownership: every string in an st_event is borrowed from the caller for the
// duration of the call that takes it; NULL is read as "". Strings are
// NUL-terminated UTF-8, at most ST_ID_LEN_MAX bytes for ids (longer is
// ST_INVALID_ARGUMENT). Strings inside an st_apply_out point into the state's
// interned strings: valid until the state is destroyed, immutable, and so
// safe to read from another thread once handed over through a ring.
#ifndef ST_CORE_EVENT_H
#define ST_CORE_EVENT_H

#include <stdint.h>

#include "err.h"

#define ST_ID_LEN_MAX 64u
#define ST_TEXT_LEN_MAX 256u       // names, reasons, free text
#define ST_RFID_TAGS_MAX 64u
#define ST_QTY_MAX 1000000000LL    // 10^9 units in one event
#define ST_WEIGHT_MG_MAX 1000000000000LL // 10^12 mg = 1000 t
#define ST_SEQ_WINDOW 64u          // seqs remembered below a source's high-water mark
#define ST_SILENT_MS_MAX 2592000000LL // 30 days: the longest silence limit

typedef enum st_event_kind {
    ST_EV_NONE = 0,
    ST_EV_WEIGHT = 10,
    ST_EV_RFID = 11,
    ST_EV_MOVEMENT = 12,
    ST_EV_COUNT = 13,
    ST_EV_RESERVE = 14,
    ST_EV_RELEASE = 15,
    ST_EV_FULFIL = 16,
    ST_EV_PO_CREATE = 17,
    ST_EV_PO_ETA = 18,
    ST_EV_PO_RECEIVE = 19,
    ST_EV_TRANSFER_DISPATCH = 20,
    ST_EV_TRANSFER_POSITION = 21,
    ST_EV_TRANSFER_RECEIVE = 22,
    ST_EV_WAREHOUSE_UPSERT = 30,
    ST_EV_ZONE_UPSERT = 31,
    ST_EV_SHELF_UPSERT = 32,
    ST_EV_PRODUCT_UPSERT = 33,  // catalog: every worker, no warehouse
    ST_EV_DEVICE_UPSERT = 34,
    ST_EV_SUPPLIER_UPSERT = 35, // catalog: every worker, no warehouse
    ST_EV_STOCK_POLICY = 36,
    // Internal, produced only by core's outbox and delivered by the runtime to
    // the warehouse named in `warehouse`; never accepted from the network.
    ST_EV_TRANSFER_INBOUND = 100, // destination learns of a dispatch
    ST_EV_TRANSFER_ARRIVED = 101, // source learns its transfer was received
    ST_EV_TICK = 102,             // the shard's clock: timers due at event_time_ms
} st_event_kind;

typedef enum st_direction { ST_DIR_UNSPECIFIED = 0, ST_DIR_INBOUND = 1, ST_DIR_OUTBOUND = 2 } st_direction;

typedef enum st_movement_kind {
    ST_MOVE_UNSPECIFIED = 0,
    ST_MOVE_RECEIVE = 1,
    ST_MOVE_PICK = 2,
    ST_MOVE_PUTAWAY = 3,
    ST_MOVE_RELOCATE = 4,
    ST_MOVE_ADJUST = 5,
} st_movement_kind;

typedef enum st_zone_type {
    ST_ZONE_UNSPECIFIED = 0,
    ST_ZONE_RECEIVING = 1,
    ST_ZONE_STORAGE = 2,
    ST_ZONE_PICKING = 3,
    ST_ZONE_SHIPPING = 4,
    ST_ZONE_COLD = 5,
    ST_ZONE_DOCK = 6,
} st_zone_type;

typedef enum st_authority { ST_AUTH_LEDGER = 0, ST_AUTH_WEIGHT = 1 } st_authority;

typedef enum st_device_kind {
    ST_DEV_UNSPECIFIED = 0,
    ST_DEV_RFID = 1,
    ST_DEV_WEIGHT = 2,
    ST_DEV_SMART_SHELF = 3,
    ST_DEV_BARCODE = 4,
    ST_DEV_GATEWAY = 5,
} st_device_kind;

typedef enum st_alert_kind {
    ST_ALERT_NONE = 0,
    ST_ALERT_LOW_STOCK = 1,
    ST_ALERT_DISCREPANCY = 2,
    ST_ALERT_WEIGHT_ANOMALY = 3,
    ST_ALERT_DEVICE_SILENT = 4,
    ST_ALERT_SHIPMENT_DELAYED = 5,
    ST_ALERT_OVER_CAPACITY = 6,
} st_alert_kind;

typedef struct st_rfid_tag {
    const char *sku;
    int64_t qty; // 0 means 1
    const char *epc;
} st_rfid_tag;

// st_event is one write. Field meanings, units and ranges are those of the
// message of the same name in proto/stocktwin.proto.
typedef struct st_event {
    st_event_kind kind;
    const char *source;
    uint64_t seq;
    int64_t event_time_ms;
    const char *warehouse; // NULL or "" for catalog events
    union {
        struct { const char *shelf; int64_t weight_mg; } weight;
        struct { st_direction direction; uint32_t tag_count; const st_rfid_tag *tags; } rfid;
        struct {
            st_movement_kind kind;
            const char *sku;
            int64_t qty;
            const char *from_location;
            const char *to_location;
            int64_t delta;
            const char *reason;
        } movement;
        struct { const char *location; const char *sku; int64_t qty; } count;
        struct { const char *order_id; const char *sku; int64_t qty; int64_t expires_at_ms; } reserve;
        struct { const char *order_id; const char *sku; int64_t qty; } release;
        struct { const char *order_id; const char *sku; int64_t qty; const char *from_location; } fulfil;
        struct { const char *po_id; const char *supplier; const char *sku; int64_t qty; int64_t eta_ms; } po_create;
        struct { const char *po_id; int64_t eta_ms; } po_eta;
        struct { const char *po_id; int64_t qty; const char *location; } po_receive;
        struct {
            const char *transfer_id;
            const char *to_warehouse;
            const char *sku;
            int64_t qty;
            int64_t eta_ms;
            const char *from_location;
        } transfer_dispatch;
        struct { const char *transfer_id; double lat; double lon; } transfer_position;
        struct { const char *transfer_id; const char *location; } transfer_receive;
        struct { const char *name; const char *location; int64_t total_capacity; } warehouse_upsert;
        struct { const char *zone_id; const char *name; st_zone_type type; } zone_upsert;
        struct {
            const char *shelf_id;
            const char *zone_id;
            int64_t max_weight_mg;
            int64_t tare_mg;
            const char *sku;
            st_authority authority;
            int64_t tolerance_units;
            int64_t anomaly_window_ms;
            int64_t anomaly_threshold_mg;
        } shelf_upsert;
        struct {
            const char *sku;
            const char *name;
            int64_t unit_weight_mg;
            const char *category;
            int64_t unit_cost_cents;
            int64_t reorder_point;
        } product_upsert;
        struct { const char *device_id; st_device_kind kind; const char *bound_to; } device_upsert;
        struct { const char *supplier_id; const char *name; } supplier_upsert;
        struct { const char *sku; int64_t reorder_point; int64_t safety_stock; int64_t order_up_to; } stock_policy;
        // Internal. `warehouse` is the destination; source is "outbox/<from>".
        struct {
            const char *transfer_id;
            const char *from_warehouse;
            const char *sku;
            int64_t qty;
            int64_t eta_ms;
        } transfer_inbound;
        // Internal. `warehouse` is the source; source is "outbox/<destination>".
        struct { const char *transfer_id; } transfer_arrived;
        // Internal: the shard's clock (st_apply_tick); source is "clock",
        // event_time_ms the time. 0 <= device_silent_ms <= ST_SILENT_MS_MAX;
        // 0: devices are never silent.
        struct { int64_t device_silent_ms; } tick;
    } u;
} st_event;

// st_event_is_catalog tells whether `kind` is delivered to every worker.
static inline int
st_event_is_catalog(st_event_kind kind)
{
    return kind == ST_EV_PRODUCT_UPSERT || kind == ST_EV_SUPPLIER_UPSERT;
}

// st_event_is_transfer_half tells whether `kind` is one of the internal
// events the outbox carries between warehouses.
static inline int
st_event_is_transfer_half(st_event_kind kind)
{
    return kind == ST_EV_TRANSFER_INBOUND || kind == ST_EV_TRANSFER_ARRIVED;
}

// st_event_is_internal tells whether `kind` is written only by the runtime
// (transfer halves, clock ticks): refused from clients.
static inline int
st_event_is_internal(st_event_kind kind)
{
    return st_event_is_transfer_half(kind) || kind == ST_EV_TICK;
}

// An alert raised while applying. Numbers by kind: LOW_STOCK (expected =
// reorder point, actual = available), DISCREPANCY (expected = ledger or asked,
// actual = measured or possible), WEIGHT_ANOMALY (expected = window min mg,
// actual = window max mg), OVER_CAPACITY (expected = max mg, actual = weight mg),
// DEVICE_SILENT (expected = the silence limit ms, actual = ms since the
// device last reported), SHIPMENT_DELAYED (expected = units ordered or sent,
// actual = units received; sku is the shipment's).
typedef struct st_alert {
    st_alert_kind kind;
    const char *warehouse;
    const char *sku;      // "" when none
    const char *location; // "" when none
    const char *device;   // "" when none
    const char *order;    // the purchase order or transfer (SHIPMENT_DELAYED); "" when none
    int64_t event_time_ms;
    int64_t expected;
    int64_t actual;
    uint64_t alert_seq;   // per-warehouse, increasing from 1
} st_alert;

// The stock record of (warehouse, sku) after an event changed it.
typedef struct st_change {
    const char *warehouse;
    const char *sku;
    int64_t on_hand;
    int64_t reserved;
    int64_t inbound;
    int64_t in_transit_out;
    int64_t event_time_ms;
} st_change;

#define ST_APPLY_ALERTS_MAX (2u * ST_RFID_TAGS_MAX + 8u)
#define ST_APPLY_CHANGES_MAX (ST_RFID_TAGS_MAX + 4u)
#define ST_APPLY_OUTBOX_MAX 1u
#define ST_APPLY_MESSAGE_MAX 160u

// st_apply_out is what one st_state_apply() produced. The caller owns the
// struct (it is large: keep one per worker, not on a small stack) and reads it
// until its next use; the strings it points to belong to the state.
typedef struct st_apply_out {
    uint32_t alert_count;
    uint32_t change_count;
    uint32_t outbox_count;
    st_alert alerts[ST_APPLY_ALERTS_MAX];
    st_change changes[ST_APPLY_CHANGES_MAX];
    // Internal events to deliver, exactly once, to outbox[i].warehouse (which
    // may live on another worker). Each carries its own (source, seq), so the
    // destination's duplicate check makes redelivery harmless.
    st_event outbox[ST_APPLY_OUTBOX_MAX];
    // For a status other than ST_OK: a sentence for the client saying why,
    // e.g. "sku SKU9 is not in the catalog". NUL-terminated; "" when ST_OK.
    char message[ST_APPLY_MESSAGE_MAX];
} st_apply_out;

#endif
