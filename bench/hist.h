// hist.h - a log-linear latency histogram (HdrHistogram-like) for the load
// generator: values in microseconds, exact below 128 us, above that 64
// linear sub-buckets per power of two (relative error < 1/64, about two
// significant digits), up to 2^36 us (19 hours); larger values land in the
// last bucket, and the exact maximum is kept on the side.
// Ownership: an st_hist is a plain struct placed in memory the caller owns
// (st_hist_init / nothing to deinit). Thread: st_hist_record may be called by
// any number of threads at once (relaxed atomics); the readers (count,
// percentile, max, merge) see a consistent-enough snapshot for progress
// lines, and an exact one once the recorders have stopped.
#ifndef ST_BENCH_HIST_H
#define ST_BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define ST_HIST_EXACT 128u    // values below this have a bucket each
#define ST_HIST_SUB 64u       // linear sub-buckets per power of two above
#define ST_HIST_SHIFT_MAX 30u // highest shift: values up to 2^(30+7) us
#define ST_HIST_BUCKETS (ST_HIST_EXACT + ST_HIST_SHIFT_MAX * ST_HIST_SUB)

typedef struct st_hist {
    _Atomic uint64_t counts[ST_HIST_BUCKETS];
    _Atomic uint64_t total;
    _Atomic uint64_t max_us;
    _Atomic uint64_t sum_us;
} st_hist;

// st_hist_init zeroes the histogram.
void st_hist_init(st_hist *h);

// st_hist_record counts one value of `us` microseconds.
void st_hist_record(st_hist *h, uint64_t us);

// st_hist_count is the number of values recorded.
uint64_t st_hist_count(const st_hist *h);

// st_hist_percentile is the highest value equivalent to the bucket holding
// the p-th percentile (0 < p <= 100), never above the exact maximum; 0 when
// the histogram is empty.
uint64_t st_hist_percentile(const st_hist *h, double p);

// st_hist_max is the exact largest value recorded (0 when empty).
uint64_t st_hist_max(const st_hist *h);

// st_hist_mean is the mean value in microseconds (0 when empty).
double st_hist_mean(const st_hist *h);

// st_hist_bucket_of and st_hist_bucket_high map a value to its bucket and a
// bucket to the highest value it holds; exposed for the tests.
uint32_t st_hist_bucket_of(uint64_t us);
uint64_t st_hist_bucket_high(uint32_t bucket);

#endif // ST_BENCH_HIST_H
