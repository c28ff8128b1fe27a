// inventory.h - st_client_inventory_each's wire work: protobuf's encoding
// read by hand for the one reply that can hold 100,000 lines. Every length,
// varint and wire type is checked against the bytes that hold it; nothing is
// read outside them. Private to client/.
// Thread: any (no shared state).
#ifndef ST_CLIENT_INVENTORY_H
#define ST_CLIENT_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "stocktwin.h"

// st_inventory_split finds a Response's `inventory` field (21) in `body`:
// *inv / *inv_len get its bytes (an InventoryResult; *inv NULL when absent),
// and *rest (malloc'd, the caller frees) / *rest_len every other field, for
// protobuf-c to decode and check as usual. 0, or MALFORMED with the sentence
// set (a truncated field, a wire type protobuf does not have, two inventory
// fields).
int st_inventory_split(const uint8_t *body, size_t len, uint8_t **rest, size_t *rest_len,
                       const uint8_t **inv, size_t *inv_len);

// st_inventory_walk decodes an InventoryResult and calls cb per line, in
// order, until it returns false. *total_out gets total_skus, *lines_out the
// lines handed out. 0, or MALFORMED with the sentence set.
int st_inventory_walk(const uint8_t *p, size_t len, st_inventory_line_cb cb, void *arg,
                      uint32_t *total_out, uint32_t *lines_out);

#endif // ST_CLIENT_INVENTORY_H
