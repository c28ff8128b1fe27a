// pages.c - see pages.h.
#include "server/pages.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/assert.h"

void *
st_pages_alloc(size_t bytes)
{
    ST_ASSERT(bytes > 0);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        static char msg[128];
        snprintf(msg, sizeof msg, "cannot map %zu bytes: %s", bytes, strerror(errno));
        st_assert_fail(msg, __FILE__, __LINE__);
    }
    (void)madvise(p, bytes, MADV_NOHUGEPAGE); // best effort: 4 KiB faults
    return p;
}

void
st_pages_free(void *ptr, size_t bytes)
{
    if (ptr != NULL)
        (void)munmap(ptr, bytes);
}
