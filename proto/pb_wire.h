// pb_wire.h - protobuf's varint, read (bounded) and written by hand: the
// piece shared by the hand readers and writers of the wire format,
// client/inventory.c (the inventory reply's lines), server/wire.c (writing
// them) and shards/codec.c (log entries and batches of movements).
// A varint is 1 to 10 bytes, 7 bits each, low first, the high bit set on
// all but the last; the tenth byte may hold only bit 63.
// Thread: any. Header only.
#ifndef ST_PROTO_PB_WIRE_H
#define ST_PROTO_PB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// st_pb_varint_slow: any varint at *p; false (and *p somewhere before end)
// when it is cut, longer than 10 bytes or wider than 64 bits.
static inline bool
st_pb_varint_slow(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p == end)
            return false;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1) // the tenth byte holds bit 63 only
            return false;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

// st_pb_varint: the same, with one-byte varints (most keys, lengths and
// small numbers) read inline.
static inline bool
st_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    if (*p < end && **p < 0x80) {
        *out = *(*p)++;
        return true;
    }
    return st_pb_varint_slow(p, end, out);
}

// st_pb_varint_len: the bytes the varint of v takes (1 to 10).
static inline size_t
st_pb_varint_len(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

// st_pb_put_varint writes the varint of v at p; returns the end.
static inline uint8_t *
st_pb_put_varint(uint8_t *p, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

#endif
