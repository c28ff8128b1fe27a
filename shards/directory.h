// directory.h - the set of warehouse ids that exist anywhere in the runtime,
// so a worker can refuse a transfer to a warehouse nobody owns before it
// applies the dispatch (its own state only knows its own warehouses).
//
// A hash set of copied ids behind a pthread rwlock: writes are rare (a
// warehouse upsert), reads happen only for transfer dispatches, so the lock
// is never on the path of ordinary events.
// Ownership: the directory owns its copies of the ids.
// Thread: st_directory_add / st_directory_has from any thread;
// create/destroy from one thread with no other call running.
#ifndef ST_SHARDS_DIRECTORY_H
#define ST_SHARDS_DIRECTORY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct st_directory st_directory;

// st_directory_create makes an empty set sized for about `expected` ids (it
// grows past that under the write lock).
st_directory *st_directory_create(uint32_t expected);

// st_directory_destroy frees the set; NULL is a no-op.
void st_directory_destroy(st_directory *dir);

// st_directory_add inserts `id` (NULL or "" is ignored); adding twice is harmless.
void st_directory_add(st_directory *dir, const char *id);

// st_directory_has tells whether `id` was added; NULL and "" are never in it.
bool st_directory_has(st_directory *dir, const char *id);

#endif
