// intern.c - string interning arena (see intern.h).
#include <stdbool.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/intern.h"

#define ST_INTERN_CHUNK_BYTES (64u * 1024u)
#define ST_INTERN_SLOTS_MIN 64u
#define ST_INTERN_MEMO 16u // ids of recent lookups (st_intern.memo)

struct st_intern_chunk {
    st_intern_chunk *prev;
    size_t size;
    char data[];
};

_Static_assert((ST_INTERN_SLOTS_MIN & (ST_INTERN_SLOTS_MIN - 1)) == 0, "power of two");
_Static_assert((ST_INTERN_MEMO & (ST_INTERN_MEMO - 1)) == 0, "power of two");

static uint32_t
st_intern_hash(const char *s, size_t len)
{
    return (uint32_t)XXH3_64bits(s, len);
}

void
st_intern_init(st_intern *in)
{
    ST_ASSERT(in != NULL);
    memset(in, 0, sizeof *in);
    in->strs_cap = 64;
    in->strs = st_malloc(in->strs_cap * sizeof *in->strs);
    in->lens = st_malloc(in->strs_cap * sizeof *in->lens);
    in->hashes = st_malloc(in->strs_cap * sizeof *in->hashes);
    in->strs[0] = "";
    in->lens[0] = 0;
    in->hashes[0] = 0;
    in->count = 1;
    in->slots_cap = ST_INTERN_SLOTS_MIN;
    in->slots = st_calloc(in->slots_cap, sizeof *in->slots);
    in->memo = st_calloc(ST_INTERN_MEMO, sizeof *in->memo);
}

void
st_intern_deinit(st_intern *in)
{
    if (!in)
        return;
    st_intern_chunk *c = in->chunk;
    while (c) {
        st_intern_chunk *prev = c->prev;
        st_free(c);
        c = prev;
    }
    st_free(in->strs);
    st_free(in->lens);
    st_free(in->hashes);
    st_free(in->slots);
    st_free(in->memo);
    memset(in, 0, sizeof *in);
}

// st_intern_probe returns the slot holding `s` or the empty slot for it.
static uint32_t
st_intern_probe(const st_intern *in, const char *s, size_t len, uint32_t h)
{
    uint32_t mask = in->slots_cap - 1;
    uint32_t i = h & mask;
    for (;;) {
        uint32_t id = in->slots[i];
        if (id == 0)
            return i;
        if (in->hashes[id] == h && in->lens[id] == len && memcmp(in->strs[id], s, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

// st_intern_memo is the memo entry of `s` (len >= 1 bytes). A hit costs a
// compare of bytes that were just used, where a lookup costs a hash and a
// probe into a table of every id; a miss costs one compare more.
static uint32_t *
st_intern_memo(const st_intern *in, const char *s, size_t len)
{
    uint32_t k = (uint32_t)len * 7u + (uint8_t)s[len - 1];
    return &in->memo[k & (ST_INTERN_MEMO - 1)];
}

static bool
st_intern_is(const st_intern *in, uint32_t id, const char *s, size_t len)
{
    return id != 0 && in->lens[id] == len && memcmp(in->strs[id], s, len) == 0;
}

uint32_t
st_intern_find(const st_intern *in, const char *s, size_t len)
{
    ST_ASSERT(in != NULL);
    if (len == 0)
        return 0;
    uint32_t *memo = st_intern_memo(in, s, len);
    if (st_intern_is(in, *memo, s, len))
        return *memo;
    uint32_t id = in->slots[st_intern_probe(in, s, len, st_intern_hash(s, len))];
    if (id != 0)
        *memo = id;
    return id;
}

// st_intern_copy places a NUL-terminated copy in the arena; chunks are never
// reallocated, which is what keeps returned pointers stable.
static const char *
st_intern_copy(st_intern *in, const char *s, size_t len)
{
    if (!in->chunk || in->chunk_used + len + 1 > in->chunk->size) {
        size_t size = len + 1 > ST_INTERN_CHUNK_BYTES ? len + 1 : ST_INTERN_CHUNK_BYTES;
        st_intern_chunk *c = st_malloc(sizeof *c + size);
        c->prev = in->chunk;
        c->size = size;
        in->chunk = c;
        in->chunk_used = 0;
        in->bytes += size;
    }
    char *p = in->chunk->data + in->chunk_used;
    memcpy(p, s, len);
    p[len] = '\0';
    in->chunk_used += len + 1;
    return p;
}

static void
st_intern_grow_slots(st_intern *in)
{
    uint32_t cap = in->slots_cap * 2;
    ST_ASSERT(cap > in->slots_cap);
    st_free(in->slots);
    in->slots = st_calloc(cap, sizeof *in->slots);
    in->slots_cap = cap;
    for (uint32_t id = 1; id < in->count; id++) {
        uint32_t slot = st_intern_probe(in, in->strs[id], in->lens[id], in->hashes[id]);
        in->slots[slot] = id;
    }
}

uint32_t
st_intern_add(st_intern *in, const char *s, size_t len)
{
    ST_ASSERT(in != NULL && len <= UINT32_MAX);
    if (len == 0)
        return 0;
    uint32_t *memo = st_intern_memo(in, s, len);
    if (st_intern_is(in, *memo, s, len))
        return *memo;
    uint32_t h = st_intern_hash(s, len);
    uint32_t slot = st_intern_probe(in, s, len, h);
    if (in->slots[slot] != 0)
        return *memo = in->slots[slot];
    ST_ASSERT(in->count < UINT32_MAX - 1);
    if (in->count == in->strs_cap) {
        in->strs_cap *= 2;
        in->strs = st_realloc(in->strs, in->strs_cap * sizeof *in->strs);
        in->lens = st_realloc(in->lens, in->strs_cap * sizeof *in->lens);
        in->hashes = st_realloc(in->hashes, in->strs_cap * sizeof *in->hashes);
    }
    uint32_t id = in->count++;
    in->strs[id] = st_intern_copy(in, s, len);
    in->lens[id] = (uint32_t)len;
    in->hashes[id] = h;
    in->slots[slot] = id;
    *memo = id;
    if ((uint64_t)in->count * 4 > (uint64_t)in->slots_cap * 3)
        st_intern_grow_slots(in);
    return id;
}

const char *
st_intern_str(const st_intern *in, uint32_t id)
{
    ST_ASSERT(id < in->count);
    return in->strs[id];
}

uint32_t
st_intern_len(const st_intern *in, uint32_t id)
{
    ST_ASSERT(id < in->count);
    return in->lens[id];
}
