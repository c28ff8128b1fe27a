// alloc.h - the one allocation wrapper. Every heap allocation of stocktwin goes
// through these, so out-of-memory has one policy: print what was asked for and
// abort (a twin that silently lost a record is worse than a restart that
// replays the log). The daemon links jemalloc, which these then use.
// Thread: any.
#ifndef ST_CORE_ALLOC_H
#define ST_CORE_ALLOC_H

#include <stddef.h>

// st_malloc returns `size` bytes (never NULL; size 0 gives a unique pointer).
void *st_malloc(size_t size);
// st_calloc returns `count * size` zeroed bytes; aborts on overflow.
void *st_calloc(size_t count, size_t size);
// st_realloc resizes `ptr` (NULL allowed) to `size` bytes.
void *st_realloc(void *ptr, size_t size);
// st_free releases `ptr`; NULL is a no-op.
void st_free(void *ptr);
// st_strndup copies at most `len` bytes of `s` and a NUL.
char *st_strndup(const char *s, size_t len);

#endif
