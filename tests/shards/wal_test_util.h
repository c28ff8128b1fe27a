// wal_test_util.h - helpers shared by the WAL tests: temporary data
// directories, deterministic payloads and a replay collector.
// Thread: the test's.
#ifndef ST_TESTS_WAL_TEST_UTIL_H
#define ST_TESTS_WAL_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "shards/wal.h"

#define WT_PAYLOAD_MAX 512u

// wt_tmpdir makes a fresh directory under /tmp (mkdtemp) into buf.
void wt_tmpdir(char *buf, uint32_t size);
// wt_rmrf removes a directory tree; a no-op if it is gone.
void wt_rmrf(const char *path);

// WT_SUITE(name) declares the Criterion suite `name` whose every test gets a
// fresh temporary directory in `dir`, removed after it. Include
// <criterion/criterion.h> first.
#define WT_SUITE(name)                                                                             \
    static char dir[256];                                                                          \
    static void wt_suite_setup(void)                                                               \
    {                                                                                              \
        wt_tmpdir(dir, sizeof(dir));                                                               \
    }                                                                                              \
    static void wt_suite_teardown(void)                                                            \
    {                                                                                              \
        wt_rmrf(dir);                                                                              \
    }                                                                                              \
    TestSuite(name, .init = wt_suite_setup, .fini = wt_suite_teardown)

// wt_payload fills buf with the payload of record `lsn` for a given seed (its
// length varies with lsn, 1..WT_PAYLOAD_MAX) and returns the length.
uint32_t wt_payload(uint64_t seed, uint64_t lsn, uint8_t *buf);

// A replay collector: remembers every delivered record's LSN and checks its
// payload against wt_payload(seed, lsn) as it comes.
typedef struct wt_replay {
    uint64_t seed;
    uint64_t count;
    uint64_t first_lsn, last_lsn;
    uint64_t bad; // payloads that did not match, or LSNs out of order
} wt_replay;

st_err wt_replay_cb(void *arg, uint64_t lsn, const void *payload, uint32_t len);

// wt_config fills a config for `dir` with small segments and batches.
void wt_config(st_wal_config *cfg, const char *dir, st_wal_io *io, wt_replay *replay);

// wt_append_n appends lsn payloads `count` times (asserting ST_OK) and
// returns the last LSN.
uint64_t wt_append_n(st_wal *wal, uint64_t seed, uint64_t count);

// wt_seg_path formats the path of the segment that starts at first_lsn.
void wt_seg_path(const char *dir, uint64_t first_lsn, char *buf, uint32_t size);
// wt_seg_count counts the *.seg files of worker 0's log.
uint32_t wt_seg_count(const char *dir);

#endif
