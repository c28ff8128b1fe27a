// intern.h - string interning: every id and name core keeps is stored once
// and named by a small integer, so the apply path compares integers.
//
// Strings live in an arena of chunks that never move or change: a pointer from
// st_intern_str() is valid, immutable and NUL-terminated until the table is
// deinitialized, so other threads may read it after a hand-over. Id 0 is the
// empty string. Strings are never removed (ids are bounded by the state's
// tables; order ids of closed orders stay interned).
// Ownership: the table owns its arena. Thread: one at a time (readers of
// already returned pointers: any).
#ifndef ST_CORE_INTERN_H
#define ST_CORE_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_intern_chunk st_intern_chunk;

// A slot of the lookup table carries its string's hash: a lookup into a
// table larger than the caches reads the slot, the string's pointer and the
// string (whose length sits in the 4 bytes before it), and no other array.
typedef struct st_intern_slot {
    uint32_t id; // 0: an empty slot
    uint32_t hash;
} st_intern_slot;

typedef struct st_intern {
    const char **strs; // by id; each string's length is stored just before it
    uint32_t count;    // ids in use, including 0
    uint32_t strs_cap;
    st_intern_slot *slots; // open addressing over ids
    uint32_t slots_cap;    // power of two
    st_intern_chunk *chunk;
    size_t chunk_used;
    size_t bytes; // arena bytes held
    // Ids of recent lookups, by length and last byte: the ids an event
    // stream repeats (its warehouse, source, locations) are found without
    // hashing. A cache, so even st_intern_find writes it.
    uint32_t *memo; // ST_INTERN_MEMO
} st_intern;

void st_intern_init(st_intern *in);
void st_intern_deinit(st_intern *in);
// st_intern_find returns the id of `s` (len bytes) or 0 if it was never
// interned (and for the empty string). Changes nothing but the memo.
uint32_t st_intern_find(const st_intern *in, const char *s, size_t len);
// st_intern_add returns the id of `s`, interning a copy if it is new.
uint32_t st_intern_add(st_intern *in, const char *s, size_t len);
// st_intern_hash_of is the hash that st_intern_find would compute for `s`.
uint32_t st_intern_hash_of(const char *s, size_t len);
// st_intern_prefetch asks the processor for the table slot of hash `h`.
void st_intern_prefetch(const st_intern *in, uint32_t h);
// st_intern_peek returns the first id in the table whose hash is `h` (0 if
// none), without comparing strings: a guess, for prefetching only. It also
// prefetches the guess's string pointer.
uint32_t st_intern_peek(const st_intern *in, uint32_t h);
// st_intern_str returns the string of `id`.
const char *st_intern_str(const st_intern *in, uint32_t id);
uint32_t st_intern_len(const st_intern *in, uint32_t id);

#endif
