// calloc_test.c - the daemon's calloc (server/calloc.c), linked here as it
// is into stocktwind: with jemalloc, in builds without sanitizers.
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// all_zero tells whether n bytes at p are all 0.
static bool
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

// Memory freed dirty and handed out again by calloc reads as zeros, for
// sizes around jemalloc's small/large boundary, a message's size and the
// 64 MiB switch to jemalloc's own zeroing.
Test(calloc, reused_memory_comes_back_zeroed)
{
    static const size_t sizes[] = {1, 100, 16 << 10, 60000, 768u << 10, (64u << 20) - 1, 64u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        for (int round = 0; round < 3; round++) {
            unsigned char *dirty = malloc(n);
            cr_assert_not_null(dirty);
            memset(dirty, 0xa5, n);
            free(dirty);
            unsigned char *p = calloc(1, n);
            cr_assert_not_null(p, "calloc of %zu bytes", n);
            cr_assert(all_zero(p, n), "calloc of %zu bytes (round %d) holds a non-zero byte", n,
                      round);
            memset(p, 0x5a, n);
            free(p);
        }
    }
}

Test(calloc, count_times_size_is_what_is_zeroed)
{
    uint64_t *p = calloc(3000, sizeof *p);
    cr_assert_not_null(p);
    cr_assert(all_zero((const unsigned char *)p, 3000 * sizeof *p));
    free(p);
    cr_assert_not_null(calloc(0, 8), "calloc(0, n) gives a pointer free takes");
}

Test(calloc, an_overflowing_product_is_refused)
{
    volatile size_t count = SIZE_MAX / 2; // not a constant the compiler refuses
    errno = 0;
    cr_assert_null(calloc(count, 3));
    cr_assert_eq(errno, ENOMEM);
}
