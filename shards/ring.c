// ring.c - see ring.h. The TSan annotations live here and nowhere else.
#include "shards/ring.h"

#include <stddef.h>

#include "core/alloc.h"
#include "core/assert.h"

#if defined(__SANITIZE_THREAD__)
#define ST_RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ST_RING_TSAN 1
#endif
#endif

#ifdef ST_RING_TSAN
// Provided by the TSan runtime (tsan_interface.h, tsan_interface_ann.cpp).
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define RING_IGNORE_BEGIN()                                                                        \
    (AnnotateIgnoreReadsBegin(__FILE__, __LINE__), AnnotateIgnoreWritesBegin(__FILE__, __LINE__))
#define RING_IGNORE_END()                                                                          \
    (AnnotateIgnoreWritesEnd(__FILE__, __LINE__), AnnotateIgnoreReadsEnd(__FILE__, __LINE__))
#define RING_RELEASE(item) __tsan_release(item)
#define RING_ACQUIRE(item) __tsan_acquire(item)
#else
#define RING_IGNORE_BEGIN() ((void)0)
#define RING_IGNORE_END() ((void)0)
#define RING_RELEASE(item) ((void)(item))
#define RING_ACQUIRE(item) ((void)(item))
#endif

// st_ring_init allocates the slots up front: rings never grow.
void
st_ring_init(st_ring *ring, uint32_t size)
{
    ST_ASSERT(ring != NULL);
    ST_ASSERT(size >= 2 && (size & (size - 1)) == 0);
    ring->buffer = st_calloc(size, sizeof(*ring->buffer));
    ck_ring_init(&ring->ring, size);
}

void
st_ring_deinit(st_ring *ring)
{
    if (ring == NULL)
        return;
    st_free(ring->buffer);
    ring->buffer = NULL;
}

// st_ring_push publishes item: the release comes before the enqueue, so it is
// ordered before the consumer can possibly see the item.
bool
st_ring_push(st_ring *ring, void *item)
{
    ST_ASSERT(ring->buffer != NULL);
    ST_ASSERT(item != NULL);
    RING_RELEASE(item);
    RING_IGNORE_BEGIN();
    bool ok = ck_ring_enqueue_mpsc(&ring->ring, ring->buffer, item);
    RING_IGNORE_END();
    return ok;
}

void *
st_ring_pop(st_ring *ring)
{
    void *item = NULL;
    ST_ASSERT(ring->buffer != NULL);
    RING_IGNORE_BEGIN();
    bool ok = ck_ring_dequeue_mpsc(&ring->ring, ring->buffer, &item);
    RING_IGNORE_END();
    if (!ok)
        return NULL;
    ST_ASSERT(item != NULL);
    RING_ACQUIRE(item);
    return item;
}

uint32_t
st_ring_depth(const st_ring *ring)
{
    ST_ASSERT(ring->buffer != NULL);
    return ck_ring_size(&ring->ring);
}

uint32_t
st_ring_capacity(const st_ring *ring)
{
    ST_ASSERT(ring->buffer != NULL);
    return ck_ring_capacity(&ring->ring) - 1;
}
