// map.h - an open-addressing hash map from 64-bit keys to 32-bit values, the
// one index structure of core (ids interned to small integers are combined
// into keys such as (location << 32 | stock)).
//
// Linear probing with backward-shift deletion (no tombstones), grown at 3/4
// load, so lookups stay short and memory is 12 bytes a slot. The key
// ST_MAP_EMPTY is reserved. Iteration order is never used by core, so the
// map's layout cannot leak into results or digests.
// Ownership: the map owns its arrays; st_map_deinit frees them.
// Thread: one at a time.
#ifndef ST_CORE_MAP_H
#define ST_CORE_MAP_H

#include <stdbool.h>
#include <stdint.h>

#define ST_MAP_EMPTY UINT64_MAX

typedef struct st_map {
    uint64_t *keys;
    uint32_t *vals;
    uint32_t cap; // slots, 0 or a power of two
    uint32_t count;
} st_map;

void st_map_init(st_map *map);
void st_map_deinit(st_map *map);
// st_map_get stores the value of `key` in *val_out and returns true, or
// returns false if the key is absent.
bool st_map_get(const st_map *map, uint64_t key, uint32_t *val_out);
// st_map_prefetch asks the processor for the slot where `key` would be.
void st_map_prefetch(const st_map *map, uint64_t key);
// st_map_put inserts `key` or replaces its value.
void st_map_put(st_map *map, uint64_t key, uint32_t val);
// st_map_del removes `key`; returns whether it was present.
bool st_map_del(st_map *map, uint64_t key);

static inline uint64_t
st_map_key2(uint32_t hi, uint32_t lo)
{
    return ((uint64_t)hi << 32) | lo;
}

#endif
