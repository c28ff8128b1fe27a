// encode.h - a Request's bytes, as protobuf-c would write them, with batches
// of events written by hand.
//
// protobuf-c packs a message by walking its descriptor twice (once for the
// size, once for the bytes), field by field, for every event of a batch; a
// load generator at a million events a second spent a tenth of the machine
// there (docs/PERFORMANCE.md, 2026-12-06 eighth session). A batch's Request,
// each Event's own fields and a StockMovement are written here directly;
// every other event kind, and any message carrying unknown fields, goes
// through protobuf-c as before, inside the same buffer. The bytes are the
// ones protobuf-c writes (tests/client/encode_test.c compares them), so the
// daemon sees no difference.
// Thread: any; nothing shared.
#ifndef ST_CLIENT_ENCODE_H
#define ST_CLIENT_ENCODE_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "stocktwin.h"

// st_request_msg packs `req` into a new nng message: 0, or a status with the
// thread's error set (STATUS_TOO_LARGE over ST_CLIENT_REQUEST_BYTES_MAX, or
// the allocation failed; `url` names the peer in that message).
int st_request_msg(const Stocktwin__Request *req, const char *url, nng_msg **out);

#endif
