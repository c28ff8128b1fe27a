// directory.c - see directory.h. Open addressing with linear probing, kept at
// most half full; the full 64-bit hash is stored to skip most string compares.
#include "shards/directory.h"

#include <pthread.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"

typedef struct dir_slot {
    uint64_t hash;
    char *id; // NULL = empty
} dir_slot;

struct st_directory {
    pthread_rwlock_t lock;
    uint32_t mask;  // slot count - 1
    uint32_t count; // ids stored
    dir_slot *slots;
};

// Returns the slot holding `id`, or the empty slot where it belongs.
static dir_slot *
dir_find(dir_slot *slots, uint32_t mask, uint64_t hash, const char *id)
{
    for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
        dir_slot *slot = &slots[i];
        if (slot->id == NULL || (slot->hash == hash && strcmp(slot->id, id) == 0))
            return slot;
    }
}

st_directory *
st_directory_create(uint32_t expected)
{
    st_directory *dir = st_calloc(1, sizeof(*dir));
    uint32_t size = 16;
    while (size < 2ull * expected && size < (1u << 30))
        size <<= 1;
    dir->mask = size - 1;
    dir->slots = st_calloc(size, sizeof(*dir->slots));
    int rc = pthread_rwlock_init(&dir->lock, NULL);
    ST_ASSERT(rc == 0);
    return dir;
}

void
st_directory_destroy(st_directory *dir)
{
    if (dir == NULL)
        return;
    for (uint32_t i = 0; i <= dir->mask; i++)
        st_free(dir->slots[i].id);
    st_free(dir->slots);
    pthread_rwlock_destroy(&dir->lock);
    st_free(dir);
}

// Doubles the table; the caller holds the write lock.
static void
dir_grow(st_directory *dir)
{
    uint32_t size = (dir->mask + 1) * 2;
    ST_ASSERT(size > dir->mask + 1);
    dir_slot *slots = st_calloc(size, sizeof(*slots));
    for (uint32_t i = 0; i <= dir->mask; i++) {
        dir_slot *old = &dir->slots[i];
        if (old->id != NULL)
            *dir_find(slots, size - 1, old->hash, old->id) = *old;
    }
    st_free(dir->slots);
    dir->slots = slots;
    dir->mask = size - 1;
}

void
st_directory_add(st_directory *dir, const char *id)
{
    ST_ASSERT(dir != NULL);
    if (id == NULL || id[0] == '\0')
        return;
    size_t len = strlen(id);
    uint64_t hash = XXH3_64bits(id, len);
    pthread_rwlock_wrlock(&dir->lock);
    dir_slot *slot = dir_find(dir->slots, dir->mask, hash, id);
    if (slot->id == NULL) {
        slot->hash = hash;
        slot->id = st_strndup(id, len);
        dir->count++;
        if (2ull * dir->count > dir->mask + 1ull)
            dir_grow(dir);
    }
    ST_ASSERT(2ull * dir->count <= dir->mask + 1ull);
    pthread_rwlock_unlock(&dir->lock);
}

bool
st_directory_has(st_directory *dir, const char *id)
{
    ST_ASSERT(dir != NULL);
    if (id == NULL || id[0] == '\0')
        return false;
    uint64_t hash = XXH3_64bits(id, strlen(id));
    pthread_rwlock_rdlock(&dir->lock);
    bool found = dir_find(dir->slots, dir->mask, hash, id)->id != NULL;
    pthread_rwlock_unlock(&dir->lock);
    return found;
}
