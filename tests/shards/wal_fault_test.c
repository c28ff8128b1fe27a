// wal_fault_test.c - the write-ahead log on the fault-injecting io: disk full
// and retry, failing fdatasync, a stuck disk, and a seeded random mix of
// them. Whatever happens, the durable LSN never passes what was synced, and
// after recovery every appended record is there exactly once.
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shards/wal.h"
#include "shards/wal_io.h"
#include "wal_test_util.h"

static char dir[256];
static st_wal_io *io;

static void
setup(void)
{
    wt_tmpdir(dir, sizeof(dir));
    cr_assert_eq(st_wal_io_fault_create(&io), ST_OK);
}

static void
teardown(void)
{
    st_wal_io_destroy(io);
    io = NULL;
    wt_rmrf(dir);
}

TestSuite(wal_fault, .init = setup, .fini = teardown);

static st_wal *
open_log(wt_replay *r, uint64_t seed, st_wal_sync_mode mode)
{
    st_wal_config cfg;
    *r = (wt_replay){.seed = seed};
    wt_config(&cfg, dir, io, r);
    cfg.sync_mode = mode;
    st_wal *wal = NULL;
    st_wal_recovery rec;
    st_err err = st_wal_open(&cfg, &wal, &rec);
    cr_assert_eq(err, ST_OK, "open: %s: %s", st_err_str(err), rec.message);
    cr_assert_eq(r->bad, 0);
    cr_assert(!rec.corrupt, "%s", rec.message);
    return wal;
}

static uint64_t
durable(st_wal *wal)
{
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    return st.durable_lsn;
}

// poll_all polls until nothing is in flight any more (the fault io completes
// at submit time unless stuck); returns the last poll's code.
static st_err
poll_all(st_wal *wal)
{
    st_err err = ST_OK;
    for (int i = 0; i < 64; i++)
        err = st_wal_poll(wal, NULL);
    return err;
}

static void
reopen_expect(uint64_t seed, uint64_t count)
{
    wt_replay r;
    st_wal *wal = open_log(&r, seed, ST_WAL_SYNC_FSYNC);
    cr_assert_eq(r.count, count, "replayed %lu, want %lu", (unsigned long)r.count,
                 (unsigned long)count);
    if (count > 0) {
        cr_assert_eq(r.first_lsn, 1);
        cr_assert_eq(r.last_lsn, count);
    }
    st_wal_close(wal);
}

Test(wal_fault, enospc_mid_batch_then_retry_when_space_returns)
{
    wt_replay r;
    st_wal *wal = open_log(&r, 11, ST_WAL_SYNC_FSYNC);
    wt_append_n(wal, 11, 10);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(durable(wal), 10);

    st_wal_io_fault_set_space(io, 700); // the next batch stops partway
    wt_append_n(wal, 11, 20);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    uint64_t d = 0;
    cr_assert_eq(st_wal_poll(wal, &d), ST_IO);
    cr_assert_eq(d, 10, "durable moved past the failure");
    int e = -1;
    const char *msg = st_wal_last_error(wal, &e);
    cr_assert(strstr(msg, "short write") != NULL || e == ENOSPC, "%s", msg);
    uint64_t lsn;
    cr_assert_eq(st_wal_append(wal, "x", 1, &lsn), ST_IO, "a failed log takes no appends");
    cr_assert_eq(st_wal_commit(wal), ST_IO);
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    cr_assert(st.failed);

    // Still full: the retry fails again, durable stays.
    cr_assert_eq(st_wal_retry(wal), ST_OK);
    cr_assert_eq(poll_all(wal), ST_IO);
    st_wal_last_error(wal, &e);
    cr_assert_eq(e, ENOSPC);
    cr_assert_eq(durable(wal), 10);

    st_wal_io_fault_set_space(io, UINT64_MAX);
    cr_assert_eq(st_wal_retry(wal), ST_OK);
    cr_assert_eq(poll_all(wal), ST_OK);
    cr_assert_eq(durable(wal), 30);
    wt_append_n(wal, 11, 5);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(durable(wal), 35);
    st_wal_close(wal);
    reopen_expect(11, 35);
}

// Several batches queue behind the one that hits the full disk; the retry
// writes all of them, in order, once.
Test(wal_fault, enospc_with_batches_queued_behind)
{
    wt_replay r;
    st_wal *wal = open_log(&r, 12, ST_WAL_SYNC_FSYNC);
    st_wal_io_fault_set_space(io, 5000);
    uint64_t last = 0;
    for (int i = 0; i < 3; i++) {
        // Not polled: the first submission's completion is not reaped yet,
        // so the later batches wait behind it.
        last = wt_append_n(wal, 12, 15);
        cr_assert_eq(st_wal_commit(wal), ST_OK);
    }
    st_wal_stats queued;
    st_wal_stats_get(wal, &queued);
    cr_assert_eq(queued.batches_used, 3);
    poll_all(wal);
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    cr_assert(st.failed);
    cr_assert_lt(st.durable_lsn, last);
    st_wal_io_fault_set_space(io, UINT64_MAX);
    cr_assert_eq(st_wal_retry(wal), ST_OK);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(durable(wal), last);
    st_wal_close(wal);
    reopen_expect(12, last);
}

Test(wal_fault, failing_fdatasync_is_never_durable)
{
    wt_replay r;
    st_wal *wal = open_log(&r, 13, ST_WAL_SYNC_FSYNC);
    wt_append_n(wal, 13, 10);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_io_fault_fail_sync(io, EIO);
    wt_append_n(wal, 13, 10);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    uint64_t d;
    cr_assert_eq(st_wal_poll(wal, &d), ST_IO);
    cr_assert_eq(d, 10);
    int e;
    const char *msg = st_wal_last_error(wal, &e);
    cr_assert_eq(e, EIO);
    cr_assert(strstr(msg, "fdatasync") != NULL, "%s", msg);
    // Not retryable, even once the disk "works" again.
    st_wal_io_fault_fail_sync(io, 0);
    cr_assert_eq(st_wal_retry(wal), ST_IO);
    cr_assert_eq(poll_all(wal), ST_IO);
    cr_assert_eq(st_wal_wait(wal), ST_IO);
    cr_assert_eq(durable(wal), 10);
    st_wal_close(wal);
}

Test(wal_fault, stuck_disk_applies_backpressure_then_drains)
{
    wt_replay r;
    st_wal *wal = open_log(&r, 14, ST_WAL_SYNC_FSYNC);
    wt_append_n(wal, 14, 5);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_stats before;
    st_wal_stats_get(wal, &before);

    st_wal_io_fault_stick(io, true);
    uint8_t buf[WT_PAYLOAD_MAX];
    uint64_t lsn = 5, bytes = 0;
    st_err err;
    for (;;) {
        uint32_t len = wt_payload(14, lsn + 1, buf);
        uint64_t got;
        err = st_wal_append(wal, buf, len, &got);
        if (err != ST_OK)
            break;
        cr_assert_eq(got, lsn + 1);
        lsn = got;
        bytes += len;
        cr_assert_eq(st_wal_commit(wal), ST_OK);
        cr_assert_eq(st_wal_poll(wal, NULL), ST_OK);
        cr_assert_eq(durable(wal), 5, "a stuck disk made something durable");
        cr_assert_lt(bytes, 1u << 20, "appends never pushed back");
    }
    cr_assert_eq(err, ST_BUSY);
    st_wal_stats during;
    st_wal_stats_get(wal, &during);
    cr_assert_eq(during.buffer_bytes, before.buffer_bytes, "memory stays bounded");
    cr_assert_eq(during.batches_used, 4);
    cr_assert_leq(bytes, during.buffer_bytes);
    cr_assert_eq(st_wal_wait(wal), ST_BUSY, "waiting on a stuck disk must not hang");

    st_wal_io_fault_stick(io, false);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(durable(wal), lsn);
    st_wal_close(wal);
    reopen_expect(14, lsn);
}

// A segment that cannot be created (no space for fallocate) refuses the
// append without failing the log; the append works once space returns.
Test(wal_fault, segment_roll_without_space)
{
    st_wal_config cfg;
    wt_replay r = {.seed = 15};
    wt_config(&cfg, dir, io, &r);
    cfg.batches = 16; // the roll, not backpressure, must stop the appends
    st_wal *wal = NULL;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    st_wal_io_fault_set_space(io, 0);
    uint8_t buf[WT_PAYLOAD_MAX];
    uint64_t lsn = 0;
    st_err err;
    for (;;) {
        uint64_t got;
        err = st_wal_append(wal, buf, wt_payload(15, lsn + 1, buf), &got);
        if (err != ST_OK)
            break;
        lsn = got;
    }
    cr_assert_eq(err, ST_IO);
    int e;
    const char *msg = st_wal_last_error(wal, &e);
    cr_assert_eq(e, ENOSPC, "%s", msg);
    cr_assert(strstr(msg, "cannot create segment") != NULL, "%s", msg);
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    cr_assert(!st.failed);
    st_wal_io_fault_set_space(io, UINT64_MAX);
    uint64_t got;
    cr_assert_eq(st_wal_append(wal, buf, wt_payload(15, lsn + 1, buf), &got), ST_OK);
    cr_assert_eq(got, lsn + 1);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    reopen_expect(15, got);
}

Test(wal_fault, batch_mode_failing_sync_fails_the_log)
{
    wt_replay r;
    st_wal *wal = open_log(&r, 16, ST_WAL_SYNC_BATCH);
    wt_append_n(wal, 16, 10);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    uint64_t d;
    cr_assert_eq(poll_all(wal), ST_OK);
    cr_assert_eq(st_wal_poll(wal, &d), ST_OK);
    cr_assert_eq(d, 10, "batch mode acknowledges the write");
    st_wal_io_fault_stats fs0, fs1;
    st_wal_io_fault_stats_get(io, &fs0);
    cr_assert_eq(st_wal_tick(wal, 5000), ST_OK);
    poll_all(wal);
    st_wal_io_fault_stats_get(io, &fs1);
    cr_assert_eq(fs1.syncs, fs0.syncs + 1);
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    cr_assert_eq(st.synced_lsn, 10);
    cr_assert_eq(st_wal_tick(wal, 5001), ST_OK); // nothing new: no sync
    st_wal_io_fault_stats_get(io, &fs0);
    cr_assert_eq(fs0.syncs, fs1.syncs);

    wt_append_n(wal, 16, 3);
    st_wal_io_fault_fail_sync(io, EIO);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    poll_all(wal);
    cr_assert_eq(st_wal_tick(wal, 7000), ST_OK);
    cr_assert_eq(poll_all(wal), ST_IO);
    st_wal_stats_get(wal, &st);
    cr_assert_eq(st.synced_lsn, 10);
    st_wal_io_fault_fail_sync(io, 0);
    st_wal_close(wal);
}

// A seeded random mix of appends, commits, polls, stuck and released disks,
// disk full and retries. Replay with WAL_FAULT_SEED=<seed>.
Test(wal_fault, random_faults_lose_nothing_durable, .timeout = 120)
{
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("WAL_FAULT_SEED");
    if (env != NULL)
        seed = strtoull(env, NULL, 10);
    fprintf(stderr, "wal_fault random seed %lu (WAL_FAULT_SEED to replay)\n", (unsigned long)seed);
    srandom((unsigned)seed);
    const uint64_t pseed = 17;
    wt_replay r;
    st_wal *wal = open_log(&r, pseed, ST_WAL_SYNC_FSYNC);
    uint64_t appended = 0, last_durable = 0;
    uint8_t buf[WT_PAYLOAD_MAX];
    for (int step = 0; step < 5000; step++) {
        long dice = random() % 100;
        if (dice < 60) {
            uint64_t got;
            st_err err = st_wal_append(wal, buf, wt_payload(pseed, appended + 1, buf), &got);
            cr_assert(err == ST_OK || err == ST_BUSY || err == ST_IO, "seed %lu",
                      (unsigned long)seed);
            if (err == ST_OK) {
                cr_assert_eq(got, appended + 1, "seed %lu", (unsigned long)seed);
                appended = got;
            }
        } else if (dice < 75) {
            st_wal_commit(wal);
        } else if (dice < 88) {
            st_wal_poll(wal, NULL);
        } else if (dice < 92) {
            st_wal_io_fault_stick(io, random() % 2 == 0);
        } else if (dice < 95) {
            st_wal_io_fault_set_space(io, random() % 2 ? (uint64_t)(random() % 20000) : UINT64_MAX);
        } else {
            st_wal_retry(wal);
        }
        uint64_t d = durable(wal);
        cr_assert_geq(d, last_durable, "seed %lu: durable went back", (unsigned long)seed);
        cr_assert_leq(d, appended, "seed %lu", (unsigned long)seed);
        last_durable = d;
    }
    // Heal the disk and drain.
    st_wal_io_fault_stick(io, false);
    st_wal_io_fault_set_space(io, UINT64_MAX);
    poll_all(wal);
    cr_assert_eq(st_wal_retry(wal), ST_OK, "seed %lu: %s", (unsigned long)seed,
                 st_wal_last_error(wal, NULL));
    cr_assert_eq(st_wal_wait(wal), ST_OK, "seed %lu: %s", (unsigned long)seed,
                 st_wal_last_error(wal, NULL));
    cr_assert_eq(durable(wal), appended);
    st_wal_close(wal);
    reopen_expect(pseed, appended);
}
