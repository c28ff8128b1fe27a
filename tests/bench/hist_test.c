// hist_test.c - the load generator's log-linear histogram (bench/hist.c):
// buckets cover every value once, in order, within 1/64 of it, and
// percentiles of known distributions come out right.
#include <criterion/criterion.h>

#include "bench/hist.h"

Test(hist, buckets_are_ordered_and_tight)
{
    uint32_t last = 0;
    for (uint64_t v = 0; v < (1ull << 22); v += 1 + v / 200) {
        uint32_t b = st_hist_bucket_of(v);
        cr_assert(b >= last, "bucket of %llu went backwards", (unsigned long long)v);
        last = b;
        uint64_t high = st_hist_bucket_high(b);
        cr_assert(high >= v, "value %llu above its bucket's high %llu", (unsigned long long)v,
                  (unsigned long long)high);
        cr_assert((double)(high - v) <= (double)v / 64.0 + 1e-9, "bucket of %llu too wide",
                  (unsigned long long)v);
        if (b > 0)
            cr_assert(st_hist_bucket_high(b - 1) < v, "value %llu fits an earlier bucket",
                      (unsigned long long)v);
    }
}

Test(hist, exact_below_128_and_clamped_at_the_top)
{
    for (uint64_t v = 0; v < 128; v++)
        cr_assert_eq(st_hist_bucket_high(st_hist_bucket_of(v)), v);
    cr_assert_eq(st_hist_bucket_of(UINT64_MAX), ST_HIST_BUCKETS - 1);
    cr_assert_eq(st_hist_bucket_of(1ull << 40), ST_HIST_BUCKETS - 1);
}

Test(hist, percentiles_of_a_uniform_distribution)
{
    static st_hist h;
    st_hist_init(&h);
    cr_assert_eq(st_hist_percentile(&h, 99), 0);
    for (uint64_t v = 1; v <= 100000; v++)
        st_hist_record(&h, v);
    cr_assert_eq(st_hist_count(&h), 100000);
    cr_assert_eq(st_hist_max(&h), 100000);
    double want[] = {50, 90, 99, 99.9};
    for (int i = 0; i < 4; i++) {
        double got = (double)st_hist_percentile(&h, want[i]);
        double exact = want[i] * 1000;
        cr_assert(got >= exact && got <= exact * (1 + 1.0 / 64), "p%g = %g", want[i], got);
    }
    cr_assert_eq(st_hist_percentile(&h, 100), 100000);
    cr_assert_float_eq(st_hist_mean(&h), 50000.5, 1e-6);
}

Test(hist, a_single_outlier_is_the_max_not_a_bucket_edge)
{
    static st_hist h;
    st_hist_init(&h);
    for (int i = 0; i < 999; i++)
        st_hist_record(&h, 100);
    st_hist_record(&h, 123457);
    cr_assert_eq(st_hist_percentile(&h, 50), 100);
    cr_assert_eq(st_hist_percentile(&h, 99.9), 100);
    cr_assert_eq(st_hist_percentile(&h, 100), 123457);
}
