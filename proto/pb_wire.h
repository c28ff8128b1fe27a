// pb_wire.h - protobuf's varint and fields, read (bounded) and written by
// hand: the piece shared by the hand readers and writers of the wire format,
// client/inventory.c (the inventory reply's lines), client/encode.c (batch
// requests), server/wire.c (writing the lines) and shards/codec.c (log
// entries and batches of movements).
// A varint is 1 to 10 bytes, 7 bits each, low first, the high bit set on
// all but the last; the tenth byte may hold only bit 63.
// Thread: any. Header only.
#ifndef ST_PROTO_PB_WIRE_H
#define ST_PROTO_PB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

// Whole fields, as proto3 writes them (protobuf-c's rules): a field is its
// key (number << 3 | wire type) and value; a scalar is left out when it is 0
// and a string when it is empty; int64 and enum values are the varint of
// their 64-bit two's complement.

// st_pb_size_varint: the bytes of varint field `field` holding v (0 if v is 0).
static inline size_t
st_pb_size_varint(uint32_t field, uint64_t v)
{
    return v == 0 ? 0 : st_pb_varint_len((uint64_t)field << 3) + st_pb_varint_len(v);
}

// st_pb_size_len: the bytes of length-delimited field `field` of len bytes
// (always written: a message field that is set).
static inline size_t
st_pb_size_len(uint32_t field, size_t len)
{
    return st_pb_varint_len((uint64_t)field << 3 | 2) + st_pb_varint_len(len) + len;
}

// st_pb_size_bytes: the same for a string of n bytes (none when empty).
static inline size_t
st_pb_size_bytes(uint32_t field, size_t n)
{
    return n == 0 ? 0 : st_pb_size_len(field, n);
}

// st_pb_put_varint_field writes varint field `field` (nothing when v is 0).
static inline uint8_t *
st_pb_put_varint_field(uint8_t *p, uint32_t field, uint64_t v)
{
    if (v == 0)
        return p;
    p = st_pb_put_varint(p, (uint64_t)field << 3);
    return st_pb_put_varint(p, v);
}

// st_pb_put_len writes the key and length of a length-delimited field; its
// len bytes follow.
static inline uint8_t *
st_pb_put_len(uint8_t *p, uint32_t field, size_t len)
{
    p = st_pb_put_varint(p, (uint64_t)field << 3 | 2);
    return st_pb_put_varint(p, len);
}

// st_pb_put_bytes writes string field `field` of n bytes (nothing when empty).
static inline uint8_t *
st_pb_put_bytes(uint8_t *p, uint32_t field, const char *s, size_t n)
{
    if (n == 0)
        return p;
    p = st_pb_put_len(p, field, n);
    memcpy(p, s, n);
    return p + n;
}

// st_pb_enum: an enum (or int32) as the 64-bit value its varint holds.
static inline uint64_t
st_pb_enum(int32_t v)
{
    return (uint64_t)(int64_t)v;
}

#endif
