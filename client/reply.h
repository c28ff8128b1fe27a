// reply.h - how libstocktwin holds a decoded Response: every submessage,
// string and array of one reply lives in a few large chunks owned by that
// reply, so decoding a 100,000-line inventory page costs a handful of
// mallocs instead of a million, and freeing it is one walk over the chunks.
// Private to client/.
//
// Ownership: st_reply_unpack returns a Response the caller owns; only
// st_reply_free (st_client_response_free) may free it, never
// stocktwin__response__free_unpacked.
// Thread: any; a reply is used by one thread at a time.
#ifndef ST_CLIENT_REPLY_H
#define ST_CLIENT_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "stocktwin.pb-c.h"

// st_reply_unpack decodes `len` bytes into a Response, NULL when they are
// not one (or memory ran out).
Stocktwin__Response *st_reply_unpack(size_t len, const uint8_t *data);

// st_reply_free frees a reply from st_reply_unpack. NULL is a no-op.
void st_reply_free(Stocktwin__Response *resp);

#endif // ST_CLIENT_REPLY_H
