// alloc.c - the allocation wrapper (alloc.h): abort on out-of-memory.
// Core may not print, so the failure goes through st_assert_fail() with a
// message that names the size asked for.
// Thread: any.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"

// st_alloc_die reports the size that could not be had; a twin that silently
// lost a record is worse than a restart that replays the log.
static _Noreturn void
st_alloc_die(size_t size)
{
    static char msg[96];
    snprintf(msg, sizeof msg, "out of memory allocating %zu bytes", size);
    st_assert_fail(msg, __FILE__, __LINE__);
}

void *
st_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        st_alloc_die(size);
    return p;
}

void *
st_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        st_alloc_die(SIZE_MAX);
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        st_alloc_die(count * size);
    return p;
}

void *
st_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        st_alloc_die(size);
    return p;
}

void
st_free(void *ptr)
{
    free(ptr);
}

char *
st_strndup(const char *s, size_t len)
{
    ST_ASSERT(s != NULL || len == 0);
    size_t n = s ? strnlen(s, len) : 0;
    char *p = st_malloc(n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
