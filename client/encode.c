// encode.c - see encode.h. protobuf's wire format, the part written here: a
// field is a varint key (field number << 3 | wire type) and a value, type 0 a
// varint, type 2 a varint length and that many bytes (strings and
// submessages). proto3 leaves a scalar field out when it is 0 and a string
// when it is empty (or NULL, in protobuf-c); a negative int64 or enum is the
// 10-byte varint of its two's complement. Fields go in field-number order,
// which is protoc-c's descriptor order for these messages.
#include "encode.h"

#include <stdbool.h>
#include <string.h>

#include "dial.h"
#include "error.h"
#include "pb_wire.h"

// Field numbers, from proto/stocktwin.proto.
enum { REQ_VERSION = 1, REQ_CREDENTIAL = 2, REQ_ID = 3, REQ_BATCH = 10 };
enum { BATCH_EVENTS = 1 };
enum { EV_SOURCE = 1, EV_SEQ = 2, EV_TIME = 3, EV_WAREHOUSE = 4, EV_MOVEMENT = 12 };
enum { MV_KIND = 1, MV_SKU = 2, MV_QTY = 3, MV_FROM = 4, MV_TO = 5, MV_DELTA = 6, MV_REASON = 7 };

// protobuf-c's oneof cases are the field numbers.
_Static_assert((int)STOCKTWIN__EVENT__KIND_MOVEMENT == (int)EV_MOVEMENT, "movement is field 12");
_Static_assert((int)STOCKTWIN__REQUEST__BODY_BATCH == (int)REQ_BATCH, "batch is field 10");

// A string field of protobuf-c's: NULL is empty.
static size_t
string_size(uint32_t field, const char *s)
{
    return s == NULL ? 0 : st_pb_size_bytes(field, strlen(s));
}

static uint8_t *
put_string(uint8_t *p, uint32_t field, const char *s)
{
    return s == NULL ? p : st_pb_put_bytes(p, field, s, strlen(s));
}

// --- an event ------------------------------------------------------------------

// A movement without unknown fields is written here; any other event whole
// by protobuf-c.
static bool
event_by_hand(const Stocktwin__Event *e)
{
    return e->base.n_unknown_fields == 0 && e->kind_case == STOCKTWIN__EVENT__KIND_MOVEMENT &&
           e->movement != NULL && e->movement->base.n_unknown_fields == 0;
}

static size_t
movement_size(const Stocktwin__StockMovement *m)
{
    return st_pb_size_varint(MV_KIND, st_pb_enum((int32_t)m->kind)) + string_size(MV_SKU, m->sku) +
           st_pb_size_varint(MV_QTY, (uint64_t)m->qty) + string_size(MV_FROM, m->from_location) +
           string_size(MV_TO, m->to_location) + st_pb_size_varint(MV_DELTA, (uint64_t)m->delta) +
           string_size(MV_REASON, m->reason);
}

// event_size: the bytes of `e`; *movement_out gets its movement's, which
// event_pack writes as the movement's length (0 when protobuf-c packs it).
static size_t
event_size(const Stocktwin__Event *e, size_t *movement_out)
{
    *movement_out = 0;
    if (!event_by_hand(e))
        return protobuf_c_message_get_packed_size(&e->base);
    *movement_out = movement_size(e->movement);
    return string_size(EV_SOURCE, e->source) + st_pb_size_varint(EV_SEQ, e->seq) +
           st_pb_size_varint(EV_TIME, (uint64_t)e->event_time_ms) +
           string_size(EV_WAREHOUSE, e->warehouse) + st_pb_size_len(EV_MOVEMENT, *movement_out);
}

// event_pack writes `e`, of `size` bytes with a movement of `movement`
// bytes (event_size), at p; returns the end.
static uint8_t *
event_pack(const Stocktwin__Event *e, size_t size, size_t movement, uint8_t *p)
{
    uint8_t *start = p;
    if (!event_by_hand(e)) {
        p += protobuf_c_message_pack(&e->base, p);
    } else {
        const Stocktwin__StockMovement *m = e->movement;
        p = put_string(p, EV_SOURCE, e->source);
        p = st_pb_put_varint_field(p, EV_SEQ, e->seq);
        p = st_pb_put_varint_field(p, EV_TIME, (uint64_t)e->event_time_ms);
        p = put_string(p, EV_WAREHOUSE, e->warehouse);
        p = st_pb_put_len(p, EV_MOVEMENT, movement);
        p = st_pb_put_varint_field(p, MV_KIND, st_pb_enum((int32_t)m->kind));
        p = put_string(p, MV_SKU, m->sku);
        p = st_pb_put_varint_field(p, MV_QTY, (uint64_t)m->qty);
        p = put_string(p, MV_FROM, m->from_location);
        p = put_string(p, MV_TO, m->to_location);
        p = st_pb_put_varint_field(p, MV_DELTA, (uint64_t)m->delta);
        p = put_string(p, MV_REASON, m->reason);
    }
    ST_CLIENT_ASSERT((size_t)(p - start) == size);
    return p;
}

// --- the request ---------------------------------------------------------------

// A batch request without unknown fields is written here; anything else whole
// by protobuf-c.
static bool
request_by_hand(const Stocktwin__Request *r)
{
    return r->base.n_unknown_fields == 0 && r->body_case == STOCKTWIN__REQUEST__BODY_BATCH &&
           r->batch != NULL && r->batch->base.n_unknown_fields == 0;
}

static size_t
batch_size(const Stocktwin__EventBatch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_events; i++) {
        ST_CLIENT_ASSERT(b->events[i] != NULL);
        size_t movement;
        n += st_pb_size_len(BATCH_EVENTS, event_size(b->events[i], &movement));
    }
    return n;
}

static size_t
request_head_size(const Stocktwin__Request *r)
{
    return st_pb_size_varint(REQ_VERSION, r->version) + string_size(REQ_CREDENTIAL, r->credential) +
           st_pb_size_varint(REQ_ID, r->request_id);
}

static void
request_pack(const Stocktwin__Request *r, size_t batch_bytes, uint8_t *out, size_t size)
{
    uint8_t *p = out;
    p = st_pb_put_varint_field(p, REQ_VERSION, r->version);
    p = put_string(p, REQ_CREDENTIAL, r->credential);
    p = st_pb_put_varint_field(p, REQ_ID, r->request_id);
    p = st_pb_put_len(p, REQ_BATCH, batch_bytes);
    const Stocktwin__EventBatch *b = r->batch;
    for (size_t i = 0; i < b->n_events; i++) {
        size_t movement;
        size_t n = event_size(b->events[i], &movement);
        p = st_pb_put_len(p, BATCH_EVENTS, n);
        p = event_pack(b->events[i], n, movement, p);
    }
    ST_CLIENT_ASSERT((size_t)(p - out) == size);
}

int
st_request_msg(const Stocktwin__Request *req, const char *url, nng_msg **out)
{
    ST_CLIENT_ASSERT(req != NULL && out != NULL);
    *out = NULL;
    bool by_hand = request_by_hand(req);
    size_t batch_bytes = by_hand ? batch_size(req->batch) : 0;
    size_t size = by_hand ? request_head_size(req) + st_pb_size_len(REQ_BATCH, batch_bytes)
                          : stocktwin__request__get_packed_size(req);
    if (size > ST_CLIENT_REQUEST_BYTES_MAX) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_TOO_LARGE,
                            "the request is %zu bytes, over the %u byte limit", size,
                            ST_CLIENT_REQUEST_BYTES_MAX);
    }
    nng_msg *msg = NULL;
    int rv = nng_msg_alloc(&msg, size);
    if (rv != 0)
        return st_error_nng(rv, "cannot allocate a request for", url);
    if (by_hand) {
        request_pack(req, batch_bytes, nng_msg_body(msg), size);
    } else {
        size_t packed = stocktwin__request__pack(req, nng_msg_body(msg));
        ST_CLIENT_ASSERT(packed == size);
    }
    *out = msg;
    return 0;
}
