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

// Each string in the arena is preceded by its length (4 bytes, unaligned);
// id 0's empty string too.
#define ST_INTERN_LEN_BYTES 4u
static const char st_intern_empty[ST_INTERN_LEN_BYTES + 1];

static inline uint32_t
st_intern_slen(const char *str)
{
    uint32_t len;
    memcpy(&len, str - ST_INTERN_LEN_BYTES, sizeof len);
    return len;
}

void
st_intern_init(st_intern *in)
{
    ST_ASSERT(in != NULL);
    memset(in, 0, sizeof *in);
    in->strs_cap = 64;
    in->strs = st_malloc(in->strs_cap * sizeof *in->strs);
    in->strs[0] = st_intern_empty + ST_INTERN_LEN_BYTES;
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
    st_free(in->slots);
    st_free(in->memo);
    memset(in, 0, sizeof *in);
}

static bool
st_intern_is(const st_intern *in, uint32_t id, const char *s, size_t len)
{
    return id != 0 && st_intern_slen(in->strs[id]) == len && memcmp(in->strs[id], s, len) == 0;
}

// st_intern_probe returns the slot holding `s` or the empty slot for it.
static uint32_t
st_intern_probe(const st_intern *in, const char *s, size_t len, uint32_t h)
{
    uint32_t mask = in->slots_cap - 1;
    uint32_t i = h & mask;
    for (;;) {
        const st_intern_slot *sl = &in->slots[i];
        if (sl->id == 0)
            return i;
        if (sl->hash == h && st_intern_is(in, sl->id, s, len))
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

uint32_t
st_intern_find(const st_intern *in, const char *s, size_t len)
{
    ST_ASSERT(in != NULL);
    if (len == 0)
        return 0;
    uint32_t *memo = st_intern_memo(in, s, len);
    if (st_intern_is(in, *memo, s, len))
        return *memo;
    uint32_t id = in->slots[st_intern_probe(in, s, len, st_intern_hash(s, len))].id;
    if (id != 0)
        *memo = id;
    return id;
}

// st_intern_copy places a length-prefixed, NUL-terminated copy in the arena;
// chunks are never reallocated, which is what keeps returned pointers stable.
static const char *
st_intern_copy(st_intern *in, const char *s, size_t len)
{
    size_t need = ST_INTERN_LEN_BYTES + len + 1;
    if (!in->chunk || in->chunk_used + need > in->chunk->size) {
        size_t size = need > ST_INTERN_CHUNK_BYTES ? need : ST_INTERN_CHUNK_BYTES;
        st_intern_chunk *c = st_malloc(sizeof *c + size);
        c->prev = in->chunk;
        c->size = size;
        in->chunk = c;
        in->chunk_used = 0;
        in->bytes += size;
    }
    char *p = in->chunk->data + in->chunk_used + ST_INTERN_LEN_BYTES;
    uint32_t len32 = (uint32_t)len;
    memcpy(p - ST_INTERN_LEN_BYTES, &len32, sizeof len32);
    memcpy(p, s, len);
    p[len] = '\0';
    in->chunk_used += need;
    return p;
}

// st_intern_grow_slots doubles the table; the slots carry their hashes, so
// nothing but the new table is read.
static void
st_intern_grow_slots(st_intern *in)
{
    uint32_t cap = in->slots_cap * 2;
    ST_ASSERT(cap > in->slots_cap);
    st_intern_slot *old = in->slots;
    uint32_t old_cap = in->slots_cap;
    // malloc and memset, not calloc: the daemon's calloc keeps blocks of 16
    // KiB and more for its messages (server/calloc.c), and this table is state.
    in->slots = st_malloc((size_t)cap * sizeof *in->slots);
    memset(in->slots, 0, (size_t)cap * sizeof *in->slots);
    in->slots_cap = cap;
    for (uint32_t k = 0; k < old_cap; k++) {
        if (old[k].id == 0)
            continue;
        uint32_t i = old[k].hash & (cap - 1);
        while (in->slots[i].id != 0)
            i = (i + 1) & (cap - 1);
        in->slots[i] = old[k];
    }
    st_free(old);
}

uint32_t
st_intern_add(st_intern *in, const char *s, size_t len)
{
    ST_ASSERT(in != NULL && len < UINT32_MAX);
    if (len == 0)
        return 0;
    uint32_t *memo = st_intern_memo(in, s, len);
    if (st_intern_is(in, *memo, s, len))
        return *memo;
    uint32_t h = st_intern_hash(s, len);
    uint32_t slot = st_intern_probe(in, s, len, h);
    if (in->slots[slot].id != 0)
        return *memo = in->slots[slot].id;
    ST_ASSERT(in->count < UINT32_MAX - 1);
    if (in->count == in->strs_cap) {
        in->strs_cap *= 2;
        in->strs = st_realloc(in->strs, in->strs_cap * sizeof *in->strs);
    }
    uint32_t id = in->count++;
    in->strs[id] = st_intern_copy(in, s, len);
    in->slots[slot] = (st_intern_slot){.id = id, .hash = h};
    *memo = id;
    if ((uint64_t)in->count * 4 > (uint64_t)in->slots_cap * 3)
        st_intern_grow_slots(in);
    return id;
}

uint32_t
st_intern_hash_of(const char *s, size_t len)
{
    return st_intern_hash(s, len);
}

void
st_intern_prefetch(const st_intern *in, uint32_t h)
{
    __builtin_prefetch(&in->slots[h & (in->slots_cap - 1)]);
}

uint32_t
st_intern_peek(const st_intern *in, uint32_t h)
{
    uint32_t mask = in->slots_cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const st_intern_slot *sl = &in->slots[i];
        if (sl->id == 0)
            return 0;
        if (sl->hash == h) {
            __builtin_prefetch(&in->strs[sl->id]);
            return sl->id;
        }
    }
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
    return st_intern_slen(in->strs[id]);
}
