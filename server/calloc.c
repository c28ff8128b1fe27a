// calloc.c - the daemon's calloc: malloc and memset below 64 MiB. Linked into
// stocktwind only, and only with jemalloc (server/CMakeLists.txt); a symbol
// of the executable, so it also serves the shared libraries (nng's calls
// reach it, not jemalloc's calloc).
//
// Why: nng allocates every message with calloc, and jemalloc zeroes a
// reused extent of 16 KiB or more by giving its pages back to the kernel
// (madvise(MADV_DONTNEED)) unless it runs with thp:always, which the daemon
// does not (server/main.c). So each client batch and each replication
// reply was faulted in page by page, and each madvise flushed the TLB of
// the other core through an interrupt: at full load with a follower, page
// faults and those flushes were a fifth of the leader's CPU and more of the
// follower's. Writing zeros over memory that jemalloc hands back warm costs
// a fraction of that (docs/PERFORMANCE.md, "seventh session").
//
// From 64 MiB on, jemalloc's own zeroed allocation (mallocx with
// MALLOCX_ZERO) keeps fresh pages untouched until they are used; nothing
// the daemon allocates on a hot path is that large.
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stddef.h>
#include <string.h>

#define CALLOC_MEMSET_MAX ((size_t)64 << 20)

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
    void *p = mallocx(bytes, 0);
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}
