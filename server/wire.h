// wire.h - THE one place where protobuf (proto/stocktwin.proto) meets core's
// plain-C structs in the server: decoded Events become st_events, and what
// core produces (alerts, stock changes, query views, worker counters) becomes
// protobuf messages for Responses and the feed.
//
// Validation here is structural only, the part core cannot see: a missing
// event kind, an enum value the proto does not define, an id longer than
// ST_ID_LEN_MAX bytes, free text over its limit, more than ST_RFID_TAGS_MAX
// tags, an internal kind sent from outside. Domain rules (required ids,
// ranges, unknown twins) are core's, applied by st_state_apply().
//
// Ownership: st_wire_event_from_pb() borrows every string of the protobuf
// Event (so the decoded Request must outlive the st_event) and allocates the
// RFID tag array in `arena`. The *_to_pb() functions copy strings into `arena`
// (core's views are borrowed only for the duration of a callback), except
// st_wire_change_to_pb(), which borrows core's interned strings (valid while
// the shards live) for the duration of the feed callback.
// Thread: any; the arena belongs to the calling thread for the call.
#ifndef ST_SERVER_WIRE_H
#define ST_SERVER_WIRE_H

#include <stddef.h>

#include "core/err.h"
#include "core/event.h"
#include "core/state.h"
#include "server/arena.h"
#include "shards/codec.h"
#include "shards/shards.h"
#include "stocktwin.pb-c.h"

#define ST_WIRE_MESSAGE_MAX 160u    // per-event error sentences
#define ST_WIRE_REASON_LEN_MAX ST_CODEC_REASON_LEN_MAX

// st_wire_event_from_pb translates a network `pb` into *out through
// st_codec_event_from_pb (shards/codec.h), refusing internal kinds. Returns ST_OK, or
// ST_INVALID_ARGUMENT / ST_TOO_LARGE with a sentence in msg (msg_len bytes,
// NUL-terminated) saying which field is wrong and why.
st_err st_wire_event_from_pb(const Stocktwin__Event *pb, st_arena *arena, st_event *out,
                             char *msg, size_t msg_len);

// st_wire_alert_kind_name returns "LOW_STOCK", "DISCREPANCY", ... (the
// proto's names, as used in feed topics); "UNSPECIFIED" for anything else.
const char *st_wire_alert_kind_name(st_alert_kind kind);

// st_wire_alert_text writes a short sentence about `alert` into buf ("available
// 12 <= reorder point 15"). Returns what snprintf returns.
int st_wire_alert_text(const st_alert *alert, char *buf, size_t len);

// st_wire_alert_to_pb fills *out (initialised here) from `alert`, with the
// sentence of st_wire_alert_text() as its message.
void st_wire_alert_to_pb(const st_alert *alert, st_arena *arena, Stocktwin__Alert *out);

// st_wire_change_to_pb fills *out (initialised here); sku is borrowed.
void st_wire_change_to_pb(const st_change *change, Stocktwin__StockChange *out);

// st_wire_line_to_pb fills an InventoryLine, with its locations, from `view`:
// the protobuf-c form of st_wire_line_encode below, which replies use; kept
// as the reference its bytes are checked against.
void st_wire_line_to_pb(const st_stock_view *view, st_arena *arena, Stocktwin__InventoryLine *out);

// Hand encoding of the inventory, the one reply that can carry 100,000
// lines: building protobuf-c messages for them and packing those cost ~0.5 us
// a line (two walks of every message, a copy of every string). Instead a
// worker encodes each line straight from core's view while it answers, and
// the reply carries those bytes as the Response's `inventory` field, appended
// after protobuf-c packed the rest (a message's fields may come in any
// order). The bytes are exactly what protobuf-c would pack for the same
// message (fields in number order, proto3 defaults left out): wire_test
// compares the two.

// st_wire_buf: hand-encoded bytes, grown with st_calloc (server/calloc.c says
// why); the owner frees `bytes` with st_free.
typedef struct st_wire_buf {
    uint8_t *bytes;
    size_t len, cap;
} st_wire_buf;

// st_wire_line_encode appends `view` as one `lines` entry (field 3) of an
// InventoryResult: key, length, then the InventoryLine that
// st_wire_line_to_pb would build, with its locations. It trusts the view's
// string lengths (core's views carry them).
void st_wire_line_encode(const st_stock_view *view, st_wire_buf *out);

// The most bytes st_wire_inventory_head writes for a warehouse id of
// `id_len` bytes.
#define ST_WIRE_INVENTORY_HEAD_MAX(id_len) (2u + 10u + 1u + 10u + (id_len) + 1u + 5u)

// st_wire_inventory_head writes, into out (ST_WIRE_INVENTORY_HEAD_MAX bytes),
// the start of a Response's `inventory` field (21) whose InventoryResult has
// `warehouse`, `total_skus` and `lines_bytes` bytes of st_wire_line_encode
// output to follow. Returns the bytes written.
size_t st_wire_inventory_head(uint8_t *out, const char *warehouse, uint32_t total_skus,
                              size_t lines_bytes);

// st_wire_sku_to_pb fills a SkuWarehouse from `view`.
void st_wire_sku_to_pb(const st_stock_view *view, st_arena *arena, Stocktwin__SkuWarehouse *out);

// st_wire_twin_to_pb fills a TwinResult, properties and relationships, from `view`.
void st_wire_twin_to_pb(const st_twin_view *view, st_arena *arena, Stocktwin__TwinResult *out);

// st_wire_worker_to_pb fills a WorkerStats from a worker's counters and its state's.
void st_wire_worker_to_pb(const st_shards_worker_info *info, const st_state_stats *stats,
                          Stocktwin__WorkerStats *out);

#endif
