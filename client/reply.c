// reply.c - a bump arena per decoded reply (reply.h).
//
// Layout: the first chunk, then newer ones chained from its `newer` field,
// each a header followed by its bytes. protobuf-c allocates the top-level
// message first (protobuf_c_message_unpack), so the Response sits right after
// the first chunk's header: st_reply_free finds the chain from the Response
// pointer alone. st_reply_unpack checks that this
// held and refuses the reply otherwise, so a protobuf-c that changed the
// order would fail every call loudly instead of corrupting memory.
//
// Chunks: the first is sized from the wire length (a decoded message takes
// about 2-4x its encoded size: pointers, 8-byte integers, NUL-terminated
// strings); later ones double, each at least as large as the allocation
// that needed it. protobuf-c's temporary allocations during decoding are
// freed with the reply, not before: at most a few times the wire length.
#include "reply.h"

#include <stdalign.h>
#include <stdlib.h>

#include "dial.h"

#define REPLY_CHUNK_MIN ((size_t)16 * 1024)
#define REPLY_ALIGN alignof(max_align_t)

struct reply_chunk {
    struct reply_chunk *newer; // the chunk allocated after this one
    size_t size;               // bytes after the header
    size_t used;
    alignas(max_align_t) unsigned char bytes[];
};

// The arena: `first` is where the Response must land; `head` is the chunk
// being filled (the newest, the end of the chain).
struct reply_arena {
    struct reply_chunk *first;
    struct reply_chunk *head;
    bool failed;
};

static struct reply_chunk *
chunk_new(size_t size)
{
    struct reply_chunk *c = malloc(sizeof *c + size);
    if (c != NULL) {
        c->newer = NULL;
        c->size = size;
        c->used = 0;
    }
    return c;
}

static void *
arena_alloc(void *data, size_t size)
{
    struct reply_arena *a = data;
    size = (size + REPLY_ALIGN - 1) & ~(REPLY_ALIGN - 1);
    struct reply_chunk *c = a->head;
    if (c->size - c->used < size) {
        size_t want = c->size * 2 > size ? c->size * 2 : size;
        struct reply_chunk *n = chunk_new(want);
        if (n == NULL) {
            a->failed = true;
            return NULL;
        }
        c->newer = n;
        a->head = c = n;
    }
    void *p = c->bytes + c->used;
    c->used += size;
    return p;
}

static void
arena_free(void *data, void *ptr)
{
    (void)data; // everything goes with the reply
    (void)ptr;
}

static void
chain_free(struct reply_chunk *first)
{
    while (first != NULL) {
        struct reply_chunk *newer = first->newer;
        free(first);
        first = newer;
    }
}

Stocktwin__Response *
st_reply_unpack(size_t len, const uint8_t *data)
{
    size_t first = len * 3 + 1024;
    struct reply_arena a = {.first = chunk_new(first < REPLY_CHUNK_MIN ? REPLY_CHUNK_MIN : first)};
    if (a.first == NULL)
        return NULL;
    a.head = a.first;
    ProtobufCAllocator alloc = {.alloc = arena_alloc, .free = arena_free, .allocator_data = &a};
    Stocktwin__Response *r = stocktwin__response__unpack(&alloc, len, data);
    if (r == NULL || a.failed) {
        chain_free(a.first);
        return NULL;
    }
    // See the top of the file: st_reply_free relies on this.
    ST_CLIENT_ASSERT((void *)r == (void *)a.first->bytes);
    return r;
}

void
st_reply_free(Stocktwin__Response *resp)
{
    if (resp == NULL)
        return;
    struct reply_chunk *first =
        (struct reply_chunk *)((unsigned char *)resp - offsetof(struct reply_chunk, bytes));
    ST_CLIENT_ASSERT(first->used >= sizeof *resp && first->size >= first->used);
    chain_free(first);
}
