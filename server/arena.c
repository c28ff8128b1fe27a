// arena.c - see arena.h.
#include "server/arena.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "server/pages.h"

struct st_arena_block {
    st_arena_block *next;
    size_t size;       // usable bytes after the header
    max_align_t pad[]; // keeps the payload aligned
};

_Static_assert(ST_ARENA_ALIGN >= _Alignof(max_align_t), "arena alignment covers every type");
_Static_assert((ST_ARENA_ALIGN & (ST_ARENA_ALIGN - 1)) == 0, "alignment is a power of two");

static size_t
round_up(size_t n)
{
    return (n + ST_ARENA_ALIGN - 1) & ~(size_t)(ST_ARENA_ALIGN - 1);
}

static void *
pb_alloc(void *data, size_t size)
{
    return st_arena_alloc(data, size);
}

// protobuf-c frees what it unpacked only on its error path; the arena frees
// everything at the reset, so there is nothing to do here.
static void
pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

void
st_arena_init(st_arena *arena, size_t size)
{
    ST_ASSERT(arena != NULL);
    memset(arena, 0, sizeof *arena);
    arena->size = round_up(size);
    arena->base = arena->size ? st_pages_alloc(arena->size) : NULL; // see pages.h
    arena->pb.alloc = pb_alloc;
    arena->pb.free = pb_free;
    arena->pb.allocator_data = arena;
}

void
st_arena_deinit(st_arena *arena)
{
    if (arena == NULL)
        return;
    st_arena_reset(arena);
    st_pages_free(arena->base, arena->size);
    arena->base = NULL;
    arena->size = 0;
}

// Spilling allocates a new block big enough for this request and, for small
// requests, for the next ones too, so a big query costs a few mallocs, not
// one per string.
static void *
spill_alloc(st_arena *arena, size_t size)
{
    st_arena_block *b = arena->spill;
    if (b == NULL || b->size - arena->spill_used < size) {
        size_t want = size > ST_ARENA_SPILL_MIN ? size : ST_ARENA_SPILL_MIN;
        ST_ASSERT(want < SIZE_MAX - sizeof *b);
        b = st_malloc(sizeof *b + want);
        b->size = want;
        b->next = arena->spill;
        arena->spill = b;
        arena->spill_used = 0;
        arena->spill_bytes += want;
    }
    void *p = (char *)(b + 1) + arena->spill_used;
    arena->spill_used += size;
    return p;
}

void *
st_arena_alloc(st_arena *arena, size_t size)
{
    ST_ASSERT(arena != NULL);
    ST_ASSERT(size < SIZE_MAX / 2);
    size = round_up(size ? size : 1);
    if (arena->size - arena->used >= size) {
        void *p = arena->base + arena->used;
        arena->used += size;
        return p;
    }
    return spill_alloc(arena, size);
}

void *
st_arena_calloc(st_arena *arena, size_t count, size_t size)
{
    ST_ASSERT(size == 0 || count <= SIZE_MAX / 2 / size);
    void *p = st_arena_alloc(arena, count * size);
    memset(p, 0, count * size);
    return p;
}

char *
st_arena_strdup(st_arena *arena, const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s);
    char *p = st_arena_alloc(arena, n + 1);
    memcpy(p, s, n + 1);
    return p;
}

void
st_arena_reset(st_arena *arena)
{
    ST_ASSERT(arena != NULL);
    while (arena->spill != NULL) {
        st_arena_block *next = arena->spill->next;
        st_free(arena->spill);
        arena->spill = next;
    }
    arena->used = 0;
    arena->spill_used = 0;
    arena->spill_bytes = 0;
}
