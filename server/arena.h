// arena.h - a bump allocator for one request at a time, and the
// ProtobufCAllocator that unpacks into it.
//
// A request context decodes a Request, translates it and builds its Response
// out of one arena, then resets it when the reply is sent. The first block is
// allocated once when the context is created, so a request that fits in it
// costs no malloc at all (the common path); a bigger one spills into extra
// blocks taken from st_malloc, which st_arena_reset() gives back. free() is a
// no-op: everything dies together at the reset.
//
// Ownership: the arena owns its blocks; pointers it returns are valid until
// the next st_arena_reset() or st_arena_deinit().
// Thread: one thread at a time (a request moves between threads only through
// the shards' ring and the nng aio callbacks, which order memory).
#ifndef ST_SERVER_ARENA_H
#define ST_SERVER_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define ST_ARENA_ALIGN 16u
#define ST_ARENA_SPILL_MIN (64u * 1024u) // smallest extra block

typedef struct st_arena_block st_arena_block;

typedef struct st_arena {
    char *base;             // the first block, kept across resets
    size_t size;
    size_t used;
    st_arena_block *spill;  // extra blocks, newest first; freed by reset
    size_t spill_used;      // bytes used in spill (the newest block)
    size_t spill_bytes;     // total bytes held in extra blocks (for stats)
    ProtobufCAllocator pb;  // alloc/free into this arena, for protobuf-c
} st_arena;

// st_arena_init prepares `arena` with a first block of `size` bytes (0: no
// first block; every allocation spills).
void st_arena_init(st_arena *arena, size_t size);

// st_arena_deinit frees every block.
void st_arena_deinit(st_arena *arena);

// st_arena_alloc returns `size` bytes aligned to ST_ARENA_ALIGN; never NULL.
void *st_arena_alloc(st_arena *arena, size_t size);

// st_arena_calloc returns `count * size` zeroed bytes; aborts on overflow.
void *st_arena_calloc(st_arena *arena, size_t count, size_t size);

// st_arena_strdup copies `s` (NULL is read as "") into the arena.
char *st_arena_strdup(st_arena *arena, const char *s);

// st_arena_reset forgets every allocation and frees the extra blocks.
void st_arena_reset(st_arena *arena);

#endif
