// codec.h - protobuf <-> core translation of events, in one place: network
// Events become st_events (the server's doors), and st_events become the
// LogEntry records of the write-ahead log and back (the shards). The byte
// format of a LogEntry is proto/stocktwin.proto's; the framing around it is
// shards/wal.c's.
//
// Validation here is structural only, the part core cannot see: a missing
// event kind, an enum value the proto does not define, an id longer than
// ST_ID_LEN_MAX bytes, free text over its limit, more than ST_RFID_TAGS_MAX
// tags, an internal kind where it is not allowed. Domain rules (required ids,
// ranges, unknown twins) are core's, applied by st_state_apply(). Bytes read
// back from the log are validated the same way and never reach an assert.
//
// Ownership: st_codec_event_from_pb() borrows every string of the protobuf
// Event (it must outlive the st_event) and allocates the RFID tag array from
// `alloc`. st_codec_event_to_pb() borrows the st_event's strings and fills
// the caller's scratch. st_codec_entry_unpack() allocates from `alloc`
// everything the st_event then points into.
// Thread: any; the allocator and scratch belong to the caller for the call.
#ifndef ST_SHARDS_CODEC_H
#define ST_SHARDS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/event.h"
#include "stocktwin.pb-c.h"

#define ST_CODEC_REASON_LEN_MAX 64u // StockMovement.reason ("<= 64 bytes")
// Outbox sources are "outbox/<warehouse>": 7 bytes more than an id.
#define ST_CODEC_SOURCE_LEN_MAX (ST_ID_LEN_MAX + 7u)

// st_codec_event_from_pb translates `pb` into *out. Internal kinds
// (TransferInbound/Arrived, Tick) are refused unless `allow_internal` (the log
// carries them; the network must not). Returns ST_OK, or ST_INVALID_ARGUMENT
// / ST_TOO_LARGE with a sentence in msg (msg_len bytes, NUL-terminated).
st_err st_codec_event_from_pb(const Stocktwin__Event *pb, ProtobufCAllocator *alloc,
                              bool allow_internal, st_event *out, char *msg, size_t msg_len);

// Room for one event's protobuf form: every body message once, and the tags.
typedef struct st_codec_scratch {
    Stocktwin__Event event;
    Stocktwin__WeightReading weight;
    Stocktwin__RfidScan rfid;
    Stocktwin__RfidTag tags[ST_RFID_TAGS_MAX];
    Stocktwin__RfidTag *tag_ptrs[ST_RFID_TAGS_MAX];
    Stocktwin__StockMovement movement;
    Stocktwin__CycleCount count;
    Stocktwin__Reserve reserve;
    Stocktwin__Release release;
    Stocktwin__Fulfil fulfil;
    Stocktwin__PurchaseOrderCreate po_create;
    Stocktwin__PurchaseOrderEta po_eta;
    Stocktwin__PurchaseOrderReceive po_receive;
    Stocktwin__TransferDispatch transfer_dispatch;
    Stocktwin__TransferPosition transfer_position;
    Stocktwin__TransferReceive transfer_receive;
    Stocktwin__WarehouseUpsert warehouse_upsert;
    Stocktwin__ZoneUpsert zone_upsert;
    Stocktwin__ShelfUpsert shelf_upsert;
    Stocktwin__ProductUpsert product_upsert;
    Stocktwin__DeviceUpsert device_upsert;
    Stocktwin__SupplierUpsert supplier_upsert;
    Stocktwin__StockPolicy stock_policy;
    Stocktwin__TransferInbound transfer_inbound;
    Stocktwin__TransferArrived transfer_arrived;
    Stocktwin__Tick tick;
    Stocktwin__LogEntry entry;
    // st_codec_entry_size's sizes of a movement's entry, written by hand
    // (movement_len 0: not a movement, protobuf-c packs it), and the
    // lengths of its strings, measured once for both passes.
    size_t movement_len, event_len;
    size_t str_len[7]; // principal, source, warehouse, sku, from, to, reason
} st_codec_scratch;

// st_codec_event_to_pb fills scratch->event from `ev` (a valid event of any
// kind, internal ones included) and returns it; it borrows ev's strings.
Stocktwin__Event *st_codec_event_to_pb(const st_event *ev, st_codec_scratch *scratch);

// The log's facts about one entry, beside its event.
typedef struct st_codec_entry {
    uint64_t lsn;
    uint64_t epoch;
    int64_t ingest_time_ms;
    const char *principal; // NULL reads as ""
} st_codec_entry;

// st_codec_entry_size returns the packed size of the LogEntry of (ev, meta),
// leaving it prepared in scratch for st_codec_entry_pack.
size_t st_codec_entry_size(const st_event *ev, const st_codec_entry *meta,
                           st_codec_scratch *scratch);

// st_codec_entry_pack writes the LogEntry prepared by st_codec_entry_size
// into buf (at least that many bytes) and returns its length. A movement's
// entry (nearly every one) is written by hand, the bytes protobuf-c would
// write (codec_test compares them); every other kind by protobuf-c.
size_t st_codec_entry_pack(st_codec_scratch *scratch, uint8_t *buf);

// st_codec_entry_unpack decodes and validates one LogEntry read from disk:
// ST_OK with *ev_out and *meta_out pointing into memory from `alloc`, or
// ST_MALFORMED with a sentence in msg (not protobuf, no event, an invalid
// event, a zero LSN).
st_err st_codec_entry_unpack(const void *bytes, size_t len, ProtobufCAllocator *alloc,
                             st_event *ev_out, st_codec_entry *meta_out, char *msg, size_t msg_len);

// st_codec_entry_read_movement is st_codec_entry_unpack's fast path, public
// for codec_test: it reads a LogEntry holding a StockMovement, each field at
// most once and none other, into *out (strings copied into `alloc`) and
// returns true; for any other bytes it returns false and the caller uses
// protobuf-c. It checks the wire format only, not the event.
typedef struct st_codec_movement_entry {
    Stocktwin__LogEntry entry;
    Stocktwin__Event event;
    Stocktwin__StockMovement movement;
} st_codec_movement_entry;
bool st_codec_entry_read_movement(const void *bytes, size_t len, ProtobufCAllocator *alloc,
                                  st_codec_movement_entry *out);

// st_codec_entry_epoch reads the epoch of a LogEntry (its field 2) from its
// top-level fields, each read at most once, without decoding the event:
// true with a non-zero *epoch, false when the bytes are not such fields or
// carry no epoch. It checks nothing inside the event (a follower's fetcher
// learns the epoch of the last frame it received; its worker decodes and
// checks the whole entry).
bool st_codec_entry_epoch(const void *bytes, size_t len, uint64_t *epoch);

// st_codec_request_read_movements reads a Request whose body is a batch of
// one or more StockMovement events into *out, built from `alloc` as
// stocktwin__request__unpack would build it, and returns true; for any other
// bytes (a query, another kind in the batch, a field it does not know or
// twice, anything malformed) it returns false and the caller unpacks with
// protobuf-c. It checks the wire format only.
bool st_codec_request_read_movements(const void *bytes, size_t len, ProtobufCAllocator *alloc,
                                     Stocktwin__Request **out);

#endif
