// ring.h - a bounded lock-free MPSC ring of pointers: Concurrency Kit's
// ck_ring (enqueue_mpsc / dequeue_mpsc) plus its buffer, behind four calls.
//
// Why a wrapper: ck_ring's atomics are inline assembly, which ThreadSanitizer
// cannot see. Under TSan the wrapper hides the ring's own slot copies from the
// race detector and instead states the one promise callers rely on: whatever
// a producer wrote to *item before st_ring_push happens-before whatever the
// consumer reads after the st_ring_pop that returns item (__tsan_release /
// __tsan_acquire on the item's address). So TSan still checks every access
// callers make to the items, and needs no suppressions file.
//
// Ownership: the ring owns its buffer; items are borrowed pointers that pass
// from producer to consumer. A ring of `size` slots holds size - 1 items
// (ck_ring keeps one slot free to tell full from empty).
// Thread: st_ring_push from any thread; st_ring_pop from one consumer thread
// at a time; init/deinit from one thread with no push or pop running.
#ifndef ST_SHARDS_RING_H
#define ST_SHARDS_RING_H

#include <stdbool.h>
#include <stdint.h>

#include <ck_ring.h>

typedef struct st_ring {
    struct ck_ring ring;
    struct ck_ring_buffer *buffer;
} st_ring;

// st_ring_init makes an empty ring of `size` slots (a power of two >= 2).
void st_ring_init(st_ring *ring, uint32_t size);

// st_ring_deinit frees the buffer; the items left in it are not touched.
void st_ring_deinit(st_ring *ring);

// st_ring_push appends `item` (not NULL); false if the ring is full.
bool st_ring_push(st_ring *ring, void *item);

// st_ring_pop removes the oldest item; NULL if the ring is empty.
void *st_ring_pop(st_ring *ring);

// st_ring_depth returns how many items the ring holds now (a snapshot).
uint32_t st_ring_depth(const st_ring *ring);

// st_ring_capacity returns how many items the ring can hold.
uint32_t st_ring_capacity(const st_ring *ring);

#endif
