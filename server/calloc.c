// calloc.c - the daemon's calloc: zeros written, and big blocks from an arena
// that keeps its pages. Linked into stocktwind only, and only with jemalloc
// (server/CMakeLists.txt); a symbol of the executable, so it also serves the
// shared libraries (nng's calls reach it, not jemalloc's calloc).
//
// Why: nng allocates every message with calloc, and so does the daemon for
// the buffers its replies grow in (server/wire.c). Two things made those
// cost page faults, each a trap into this VM's hypervisor, and TLB flushes,
// each an interrupt to the other core:
// - jemalloc zeroes a reused extent of 16 KiB or more by giving its pages
//   back to the kernel (madvise(MADV_DONTNEED)) unless it runs with
//   thp:always, which the daemon does not (server/main.c): every client
//   batch and replication reply was faulted in again page by page.
//   Writing zeros over memory jemalloc hands back warm costs a fraction.
// - Blocks of 1 MiB and more come from jemalloc's oversize arena, which
//   returns freed pages at once (oversize_threshold, server/main.c: it
//   keeps the state's outgrown tables from lingering). A page of 25,000
//   inventory lines is such a block, so each one was faulted in afresh:
//   the inventory of 100,000 SKUs took 50 ms of CPU instead of 10. And
//   any arena gives back at once a freed extent that, merged with its free
//   neighbours, reaches the threshold, unless one of its decay times is -1:
//   a leader's 768 KiB replication replies were refaulted that way.
// So blocks from 16 KiB (jemalloc's large sizes) to 64 MiB come from an
// arena of their own whose muzzy decay is -1: freed pages stay dirty for
// dirty_decay_ms, then are handed to the kernel lazily (MADV_FREE), to take
// back under memory pressure; until then they count in the RSS (2-3 bytes
// a stock record at seed scale, bench/memory.sh). The state's tables do
// not come through here (core grows them with malloc and realloc), so they
// still leave nothing behind when they grow.
// From 64 MiB on, jemalloc's own zeroed allocation keeps fresh pages
// untouched until they are used. docs/PERFORMANCE.md, "seventh session".
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#define CALLOC_ARENA_MIN ((size_t)16 << 10)  // jemalloc's large sizes
#define CALLOC_MEMSET_MAX ((size_t)64 << 20) // jemalloc zeroes from here on

// The big blocks' arena: 0 until made, then its index + 1; -1 if it could
// not be made (big blocks then go where jemalloc puts them).
static _Atomic long big_arena;

static int
big_flags(void)
{
    long a = atomic_load_explicit(&big_arena, memory_order_acquire);
    if (a == 0) {
        unsigned ind;
        size_t len = sizeof ind;
        char name[64];
        ssize_t never = -1;
        long made = -1;
        if (mallctl("arenas.create", &ind, &len, NULL, 0) == 0) {
            snprintf(name, sizeof name, "arena.%u.muzzy_decay_ms", ind);
            if (mallctl(name, NULL, NULL, &never, sizeof never) == 0)
                made = (long)ind + 1;
        }
        long expected = 0;
        // Two threads may race here: one arena wins, the other stays unused.
        if (atomic_compare_exchange_strong(&big_arena, &expected, made))
            a = made;
        else
            a = expected;
    }
    return a > 0 ? (int)(MALLOCX_ARENA((unsigned)(a - 1)) | MALLOCX_TCACHE_NONE) : 0;
}

void *
calloc(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    if (bytes == 0)
        bytes = 1; // mallocx takes no 0
    if (bytes >= CALLOC_MEMSET_MAX)
        return mallocx(bytes, MALLOCX_ZERO);
    // mallocx, not malloc: the compiler folds malloc and memset back into
    // a call to calloc.
    void *p = mallocx(bytes, bytes >= CALLOC_ARENA_MIN ? big_flags() : 0);
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}
