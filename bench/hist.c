// hist.c - the log-linear histogram of hist.h.
//
// Layout of the buckets: [0, 128) one per value; then for each shift
// e = 1..30 the values [64 << e, 128 << e) in 64 buckets of width 2^e, so
// bucket 128 + (e - 1) * 64 + (v >> e) - 64. A value of 2^37 us or more
// goes to the last bucket.
#include "hist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Always on, release builds included (STYLE.md: asserts stay on).
#define HIST_ASSERT(e)                                                                             \
    ((e) ? (void)0                                                                                 \
         : (fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #e), abort()))

_Static_assert(ST_HIST_EXACT == 2 * ST_HIST_SUB, "exact range is one power of two of sub-buckets");
_Static_assert(ST_HIST_BUCKETS == 2048, "128 + 30 * 64 buckets");

void
st_hist_init(st_hist *h)
{
    HIST_ASSERT(h != NULL);
    memset(h, 0, sizeof *h);
}

uint32_t
st_hist_bucket_of(uint64_t us)
{
    if (us < ST_HIST_EXACT)
        return (uint32_t)us;
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(us);
    uint32_t shift = msb - 6u; // keeps the top 7 bits: 64..127
    if (shift > ST_HIST_SHIFT_MAX)
        return ST_HIST_BUCKETS - 1;
    uint32_t b = ST_HIST_EXACT + (shift - 1u) * ST_HIST_SUB + (uint32_t)(us >> shift) - ST_HIST_SUB;
    HIST_ASSERT(b < ST_HIST_BUCKETS);
    return b;
}

uint64_t
st_hist_bucket_high(uint32_t bucket)
{
    HIST_ASSERT(bucket < ST_HIST_BUCKETS);
    if (bucket < ST_HIST_EXACT)
        return bucket;
    uint32_t shift = (bucket - ST_HIST_EXACT) / ST_HIST_SUB + 1u;
    uint64_t sub = (bucket - ST_HIST_EXACT) % ST_HIST_SUB + ST_HIST_SUB;
    return ((sub + 1u) << shift) - 1u;
}

void
st_hist_record(st_hist *h, uint64_t us)
{
    atomic_fetch_add_explicit(&h->counts[st_hist_bucket_of(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max_us, memory_order_relaxed);
    while (us > m && !atomic_compare_exchange_weak_explicit(
                         &h->max_us, &m, us, memory_order_relaxed, memory_order_relaxed)) {
    }
}

uint64_t
st_hist_count(const st_hist *h)
{
    return atomic_load_explicit(&h->total, memory_order_relaxed);
}

uint64_t
st_hist_max(const st_hist *h)
{
    return atomic_load_explicit(&h->max_us, memory_order_relaxed);
}

double
st_hist_mean(const st_hist *h)
{
    uint64_t n = st_hist_count(h);
    return n ? (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / (double)n : 0.0;
}

// Counts are summed afresh rather than trusting `total`, so a snapshot taken
// while others record is still a consistent walk over the buckets.
uint64_t
st_hist_percentile(const st_hist *h, double p)
{
    HIST_ASSERT(p > 0.0 && p <= 100.0);
    uint64_t n = 0;
    for (uint32_t b = 0; b < ST_HIST_BUCKETS; b++)
        n += atomic_load_explicit(&h->counts[b], memory_order_relaxed);
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    uint64_t seen = 0;
    uint64_t max = st_hist_max(h);
    for (uint32_t b = 0; b < ST_HIST_BUCKETS; b++) {
        seen += atomic_load_explicit(&h->counts[b], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t high = st_hist_bucket_high(b);
            return high < max ? high : max;
        }
    }
    return max;
}
