// pages.h - big buffers that cost memory only where they are written: each an
// anonymous mapping of its own, outside the allocator, on 4 KiB pages
// whatever jemalloc is told (server/main.c: MALLOC_CONF=thp:always puts the
// state on transparent huge pages). A request context's arrays and first
// arena block are sized for the largest request and mostly never touched;
// on huge pages the first byte written to any of them committed 2 MiB: an
// idle daemon with 256 contexts held ~230 MiB.
// Ownership: the caller frees with the size it asked for.
// Thread: any.
#ifndef ST_SERVER_PAGES_H
#define ST_SERVER_PAGES_H

#include <stddef.h>

// st_pages_alloc returns `bytes` (> 0) zeroed, uncommitted bytes; aborts
// like st_malloc when the mapping fails.
void *st_pages_alloc(size_t bytes);
// st_pages_free unmaps what st_pages_alloc(bytes) returned; NULL is a no-op.
void st_pages_free(void *ptr, size_t bytes);

#endif
