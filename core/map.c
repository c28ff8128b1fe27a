// map.c - open-addressing hash map (see map.h).
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/map.h"

#define ST_MAP_CAP_MIN 8u

_Static_assert((ST_MAP_CAP_MIN & (ST_MAP_CAP_MIN - 1)) == 0, "capacity is a power of two");

// st_map_hash mixes the key (splitmix64's finalizer): keys are small dense
// integers, which linear probing would otherwise cluster.
static inline uint64_t
st_map_hash(uint64_t key)
{
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return key;
}

void
st_map_init(st_map *map)
{
    ST_ASSERT(map != NULL);
    memset(map, 0, sizeof *map);
}

void
st_map_deinit(st_map *map)
{
    if (!map)
        return;
    st_free(map->keys);
    st_free(map->vals);
    memset(map, 0, sizeof *map);
}

// st_map_slot returns the slot holding `key` or the empty slot where it would go.
static uint32_t
st_map_slot(const st_map *map, uint64_t key)
{
    uint32_t mask = map->cap - 1;
    uint32_t i = (uint32_t)st_map_hash(key) & mask;
    while (map->keys[i] != ST_MAP_EMPTY && map->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

// st_map_grow doubles the table and reinserts every key: amortized O(1) a put.
static void
st_map_grow(st_map *map)
{
    st_map old = *map;
    uint32_t cap = old.cap ? old.cap * 2 : ST_MAP_CAP_MIN;
    ST_ASSERT(cap > old.cap);
    map->cap = cap;
    map->keys = st_malloc((size_t)cap * sizeof *map->keys);
    map->vals = st_malloc((size_t)cap * sizeof *map->vals);
    memset(map->keys, 0xff, (size_t)cap * sizeof *map->keys);
    for (uint32_t i = 0; i < old.cap; i++) {
        if (old.keys[i] == ST_MAP_EMPTY)
            continue;
        uint32_t s = st_map_slot(map, old.keys[i]);
        map->keys[s] = old.keys[i];
        map->vals[s] = old.vals[i];
    }
    st_free(old.keys);
    st_free(old.vals);
}

bool
st_map_get(const st_map *map, uint64_t key, uint32_t *val_out)
{
    ST_ASSERT(key != ST_MAP_EMPTY);
    if (map->count == 0)
        return false;
    uint32_t s = st_map_slot(map, key);
    if (map->keys[s] != key)
        return false;
    if (val_out)
        *val_out = map->vals[s];
    return true;
}

void
st_map_prefetch(const st_map *map, uint64_t key)
{
    if (map->cap == 0)
        return;
    uint32_t i = (uint32_t)st_map_hash(key) & (map->cap - 1);
    __builtin_prefetch(&map->keys[i]);
    __builtin_prefetch(&map->vals[i]);
}

void
st_map_put(st_map *map, uint64_t key, uint32_t val)
{
    ST_ASSERT(key != ST_MAP_EMPTY);
    if ((uint64_t)(map->count + 1) * 4 > (uint64_t)map->cap * 3)
        st_map_grow(map);
    uint32_t s = st_map_slot(map, key);
    if (map->keys[s] != key) {
        map->keys[s] = key;
        map->count++;
    }
    map->vals[s] = val;
    ST_ASSERT(map->count < map->cap);
}

// st_map_del shifts later members of the probe run back into the hole, so
// lookups never need tombstones.
bool
st_map_del(st_map *map, uint64_t key)
{
    ST_ASSERT(key != ST_MAP_EMPTY);
    if (map->count == 0)
        return false;
    uint32_t mask = map->cap - 1;
    uint32_t hole = st_map_slot(map, key);
    if (map->keys[hole] != key)
        return false;
    uint32_t i = hole;
    for (;;) {
        i = (i + 1) & mask;
        if (map->keys[i] == ST_MAP_EMPTY)
            break;
        uint32_t home = (uint32_t)st_map_hash(map->keys[i]) & mask;
        // Move i into the hole unless its home lies cyclically in (hole, i].
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays)
            continue;
        map->keys[hole] = map->keys[i];
        map->vals[hole] = map->vals[i];
        hole = i;
    }
    map->keys[hole] = ST_MAP_EMPTY;
    map->count--;
    return true;
}
