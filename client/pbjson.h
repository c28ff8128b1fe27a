// pbjson.h - JSON <-> protobuf-c messages through the generated descriptors
// (the mapping is laid out at the top of pbjson.c). The public entry points
// are st_event_from_json and st_message_to_json (stocktwin.h); these two are
// for the CLI, which builds and prints cJSON trees itself. Private to client/.
// Thread: any (no shared state).
#ifndef ST_CLIENT_PBJSON_H
#define ST_CLIENT_PBJSON_H

#include <cjson/cJSON.h>

#include "stocktwin.h"

// st_pbjson_to_message - builds a message of descriptor `d` from the JSON
// object `json` (borrowed). On 0, *out is a new message for
// protobuf_c_message_free_unpacked(m, NULL); else INVALID_ARGUMENT (or
// INTERNAL when out of memory), *out NULL, and the sentence names the field.
int st_pbjson_to_message(const cJSON *json, const ProtobufCMessageDescriptor *d,
                         ProtobufCMessage **out);

// st_pbjson_from_message - a new cJSON object for `msg` (borrowed), or NULL
// when out of memory. The caller cJSON_Delete()s it.
cJSON *st_pbjson_from_message(const ProtobufCMessage *msg);

#endif // ST_CLIENT_PBJSON_H
