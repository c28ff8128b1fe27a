// apply.h - the event handlers behind st_state_apply(), one per event kind.
//
// Contract of every handler: on entry the common fields are valid, s->ev and
// s->out are set, s->wh is the event's warehouse (NULL only for catalog
// events and for the upsert that creates a warehouse), and the duplicate
// check passed. A handler first validates everything without changing
// anything; it returns an error (with st_fail's sentence) only from that
// phase. Then it mutates and returns ST_OK, or ST_STALE having changed
// nothing. Stock records it changes are st_touch()ed; state.c then emits the
// changes and the low-stock alerts.
//
// Decisions where the proto leaves room (the next reader: shards/, server/):
// - event_time_ms must be >= 0 (INVALID_ARGUMENT otherwise); equal times are
//   not stale ("older" means strictly older).
// - Quantities outside their range (negative, 0 where >= 1 is required,
//   > ST_QTY_MAX) are INVALID_ARGUMENT; only > 64 RFID tags is TOO_LARGE.
// - Duplicate check order: envelope (source, seq >= 1, warehouse id) ->
//   warehouse exists -> (source, seq) window -> the handler's checks. So a
//   retry of an accepted event is DUPLICATE even if it would fail today.
// - Sources are ids of <= 64 bytes, except outbox sources "outbox/<wh>" of
//   the internal kinds (<= 71 bytes).
// - Release of more than reserved releases the whole reservation (OK).
//   Fulfil of more than reserved is INSUFFICIENT_STOCK.
// - Adjust (negative), count, WEIGHT-authority readings and RFID outbound
//   may drop on_hand below reserved: reservations are cut newest first and a
//   DISCREPANCY (expected = reserved before, actual = after) is raised. An
//   RFID outbound clamp raises one DISCREPANCY (asked, taken) per sku and
//   cuts silently (the clamp alert already says stock is gone). RFID tags of
//   the same sku are summed first.
// - LOW_STOCK is evaluated for every stock record an accepted event touched
//   (created records included, so a PO for a new sku with reorder point >= 0
//   raises it once); armed again when available > reorder point.
// - Transfer ids: the destination keys inbound transfers by transfer id
//   alone, so two sources reusing an id towards the same destination get
//   CONFLICT on the second INBOUND: make ids globally unique (prefix them).
//   INBOUND needs the sku in the destination state's catalog
//   (UNKNOWN_PRODUCT otherwise: the runtime should retry it later).
// - PO eta updates and transfer positions are absolute: older is STALE.
// - Suppliers count against products_max; alerts of a weight reading name
//   the shelf's product (or "") and the device.
// Thread: the state's owner.
#ifndef ST_CORE_APPLY_H
#define ST_CORE_APPLY_H

#include "core/model.h"

// apply_stock.c
st_err st_apply_weight(st_state *s);
st_err st_apply_rfid(st_state *s);
st_err st_apply_movement(st_state *s);
st_err st_apply_count(st_state *s);
st_err st_apply_reserve(st_state *s);
st_err st_apply_release(st_state *s);
st_err st_apply_fulfil(st_state *s);

// apply_order.c
st_err st_apply_po_create(st_state *s);
st_err st_apply_po_eta(st_state *s);
st_err st_apply_po_receive(st_state *s);
st_err st_apply_transfer_dispatch(st_state *s);
st_err st_apply_transfer_position(st_state *s);
st_err st_apply_transfer_receive(st_state *s);
st_err st_apply_transfer_inbound(st_state *s);
st_err st_apply_transfer_arrived(st_state *s);

// timers.c
st_err st_apply_tick(st_state *s);

// apply_topology.c
st_err st_apply_warehouse(st_state *s);
st_err st_apply_zone(st_state *s);
st_err st_apply_shelf(st_state *s);
st_err st_apply_product(st_state *s);
st_err st_apply_device(st_state *s);
st_err st_apply_supplier(st_state *s);
st_err st_apply_policy(st_state *s);

#endif
