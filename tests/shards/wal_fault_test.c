// wal_fault_test.c - the write-ahead log on the fault-injecting io: disk full
// and retry, failing fdatasync, a stuck disk, and a seeded random mix of
// them. Whatever happens, the durable LSN never passes what was synced, and
// after recovery every appended record is there exactly once.
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
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

// open_stuck opens a log, makes `durable` entries durable, records its
// stats in *before, then sticks the disk: nothing submitted completes.
static st_wal *
open_stuck(wt_replay *r, uint64_t seed, uint64_t durable, st_wal_stats *before)
{
    st_wal *wal = open_log(r, seed, ST_WAL_SYNC_FSYNC);
    wt_append_n(wal, seed, durable);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_stats_get(wal, before);
    st_wal_io_fault_stick(io, true);
    return wal;
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
    uint64_t last = wt_append_n(wal, 12, 15);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    // Not polled: the first submission's completion is not reaped yet, so
    // the later appends wait behind it, filling one batch and opening the
    // next (the commit leaves that one open: group commit).
    st_wal_stats queued;
    do {
        last = wt_append_n(wal, 12, 1);
        st_wal_stats_get(wal, &queued);
    } while (queued.batches_used < 3);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
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

// Group commit: the commits made while a submission is in flight share the
// next write and fdatasync, and none is durable before it completes.
Test(wal_fault, commits_behind_a_submission_share_the_next_one)
{
    wt_replay r;
    st_wal_stats before;
    st_wal *wal = open_stuck(&r, 16, 3, &before);
    wt_append_n(wal, 16, 2);
    cr_assert_eq(st_wal_commit(wal), ST_OK); // goes out, and sticks
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        last = wt_append_n(wal, 16, 2);
        cr_assert_eq(st_wal_commit(wal), ST_OK);
        cr_assert_eq(st_wal_poll(wal, NULL), ST_OK);
    }
    st_wal_stats during;
    st_wal_stats_get(wal, &during);
    cr_assert_eq(during.batches_used, 2, "the five commits behind it share one batch");
    cr_assert_eq(during.durable_lsn, 3);

    st_wal_io_fault_stick(io, false);
    cr_assert_eq(poll_all(wal), ST_OK);
    st_wal_stats after;
    st_wal_stats_get(wal, &after);
    cr_assert_eq(after.durable_lsn, last);
    cr_assert_eq(after.commits, before.commits + 2, "%lu submissions",
                 (unsigned long)(after.commits - before.commits));
    cr_assert_eq(after.batches_used, 0);
    st_wal_close(wal);
    reopen_expect(16, last);
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
    st_wal_stats before;
    st_wal *wal = open_stuck(&r, 14, 5, &before);
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

// ---------------------------------------------------------------------------
// A slow disk, a preallocating full disk, and the control file that lets
// stocktwind --fault-control set the faults from outside.

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// write_control replaces the control file at once (a temporary renamed over it).
static void
write_control(const char *path, const char *text)
{
    char tmp[320];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    cr_assert(f != NULL);
    cr_assert(fputs(text, f) >= 0 && fclose(f) == 0);
    cr_assert_eq(rename(tmp, path), 0);
}

Test(wal_fault, delay_holds_completions_until_due)
{
    wt_replay r;
    st_wal *wal = open_log(&r, 21, ST_WAL_SYNC_FSYNC);
    st_wal_io_fault_set_delay(io, 40);
    uint64_t t0 = mono_ms();
    wt_append_n(wal, 21, 5);
    cr_assert_eq(st_wal_commit(wal), ST_OK, "submitting to a slow disk does not wait");
    cr_assert_lt(mono_ms() - t0, 40, "commit blocked on the slow disk");
    uint64_t d = 99;
    cr_assert_eq(st_wal_poll(wal, &d), ST_OK);
    cr_assert_eq(d, 0, "durable before the disk's delay passed");
    st_wal_io_fault_stats fs;
    st_wal_io_fault_stats_get(io, &fs);
    cr_assert_eq(fs.writes, 0, "the write waits for its due time");
    cr_assert_gt(fs.held, 0);
    cr_assert_eq(st_wal_wait(wal), ST_OK, "a waiting reap sleeps until the delay passed");
    cr_assert_geq(mono_ms() - t0, 40, "completed before the delay");
    cr_assert_eq(durable(wal), 5);
    st_wal_io_fault_stats_get(io, &fs);
    cr_assert_eq(fs.held, 0);
    cr_assert_eq(fs.writes, 1);

    // A delay and a stuck disk together: released, the ops still wait for
    // their due time.
    st_wal_io_fault_stick(io, true);
    wt_append_n(wal, 21, 3);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    st_wal_io_fault_stick(io, false);
    cr_assert_eq(st_wal_poll(wal, &d), ST_OK);
    cr_assert_eq(d, 5);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(durable(wal), 8);
    st_wal_io_fault_set_delay(io, 0);
    st_wal_close(wal);
    reopen_expect(21, 8);
}

// A preallocating file system with no space: writes into the segment that
// was allocated go on; only the next segment cannot be made, which refuses
// the append without failing the log. Each segment charges its whole size.
Test(wal_fault, prealloc_space_refuses_only_the_next_segment)
{
    st_wal_config cfg;
    wt_replay r = {.seed = 22};
    wt_config(&cfg, dir, io, &r);
    cfg.batches = 16;
    st_wal *wal = NULL;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    st_wal_io_fault_set_prealloc_space(io, cfg.segment_bytes); // room for one more segment
    uint8_t buf[WT_PAYLOAD_MAX];
    uint64_t lsn = 0;
    st_err err;
    for (;;) {
        uint64_t got;
        err = st_wal_append(wal, buf, wt_payload(22, lsn + 1, buf), &got);
        if (err != ST_OK)
            break;
        lsn = got;
        if (lsn % 16 == 0) {
            cr_assert_eq(st_wal_commit(wal), ST_OK);
            cr_assert_eq(poll_all(wal), ST_OK, "writes into a preallocated segment never fail");
        }
    }
    cr_assert_eq(err, ST_IO);
    int e;
    const char *msg = st_wal_last_error(wal, &e);
    cr_assert_eq(e, ENOSPC, "%s", msg);
    cr_assert(strstr(msg, "cannot create segment") != NULL, "%s", msg);
    cr_assert_eq(wt_seg_count(dir), 2, "one roll had room, the next did not");
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    cr_assert(!st.failed);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(durable(wal), lsn);
    st_wal_io_fault_set_prealloc_space(io, UINT64_MAX);
    uint64_t got;
    cr_assert_eq(st_wal_append(wal, buf, wt_payload(22, lsn + 1, buf), &got), ST_OK);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    reopen_expect(22, got);
}

Test(wal_fault, control_file_sets_and_changes_the_faults)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/fault.ctl", dir);
    char why[256] = "";
    write_control(path, "# a comment, then a blank line\n\nstuck 1   # held\n");
    cr_assert_eq(st_wal_io_fault_control(io, path, why, sizeof(why)), ST_OK, "%s", why);
    wt_replay r;
    st_wal *wal = open_log(&r, 23, ST_WAL_SYNC_FSYNC);
    wt_append_n(wal, 23, 4);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    cr_assert_eq(poll_all(wal), ST_OK);
    cr_assert_eq(durable(wal), 0, "the file's stuck disk holds the write");

    write_control(path, "stuck 0\n");
    for (int i = 0; i < 1000 && durable(wal) != 4; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        st_wal_poll(wal, NULL);
    }
    cr_assert_eq(durable(wal), 4, "a changed file releases the disk");

    // Submit looks at the file every time: the next batch sees the fault.
    write_control(path, "fail_sync EIO\n");
    wt_append_n(wal, 23, 2);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    uint64_t d;
    cr_assert_eq(st_wal_poll(wal, &d), ST_IO);
    int e;
    st_wal_last_error(wal, &e);
    cr_assert_eq(e, EIO);
    cr_assert_eq(d, 4);
    st_wal_close(wal);
}

// With a control file nobody in the process has to release a stuck disk: a
// waiting reap polls the file, as a thread would wait on a real stuck disk.
typedef struct unstick_arg {
    const char *path;
    long after_ms;
} unstick_arg;

static void *
unstick_main(void *arg)
{
    unstick_arg *u = arg;
    struct timespec ts = {u->after_ms / 1000, (u->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    write_control(u->path, "stuck 0\n");
    return NULL;
}

Test(wal_fault, control_file_wait_outlasts_a_stuck_disk)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/fault.ctl", dir);
    char why[256] = "";
    write_control(path, "stuck 1\n");
    cr_assert_eq(st_wal_io_fault_control(io, path, why, sizeof(why)), ST_OK, "%s", why);
    wt_replay r;
    st_wal *wal = open_log(&r, 24, ST_WAL_SYNC_FSYNC);
    wt_append_n(wal, 24, 3);
    unstick_arg u = {.path = path, .after_ms = 100};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, unstick_main, &u), 0);
    uint64_t t0 = mono_ms();
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_geq(mono_ms() - t0, 90, "durable while the disk was stuck");
    cr_assert_eq(durable(wal), 3);
    pthread_join(t, NULL);
    st_wal_close(wal);
    reopen_expect(24, 3);
}

Test(wal_fault, control_file_that_does_not_parse)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/fault.ctl", dir);
    char why[256] = "";
    // A missing file means no faults.
    cr_assert_eq(st_wal_io_fault_control(io, path, why, sizeof(why)), ST_OK, "%s", why);
    const char *bad[] = {"space lots\n", "delay_ms 60001\n", "stuck 2\n", "fail_sync EWHAT\n",
                         "delay_ms 5 6\n", "speed 1\n", "\nstuck\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_control(path, bad[i]);
        why[0] = '\0';
        cr_assert_eq(st_wal_io_fault_control(io, path, why, sizeof(why)), ST_INVALID_ARGUMENT,
                     "accepted %s", bad[i]);
        cr_assert(strstr(why, "line ") != NULL && strstr(why, path) != NULL, "%s", why);
    }
    cr_assert(strstr(why, "line 2") != NULL, "counts lines: %s", why);

    // A file that goes bad while in use changes nothing.
    write_control(path, "space 100\nprealloc_space unlimited\nfail_sync 5\ndelay_ms 0\nstuck 0\n");
    cr_assert_eq(st_wal_io_fault_control(io, path, why, sizeof(why)), ST_OK, "%s", why);
    write_control(path, "stuck one\n");
    wt_replay r;
    st_wal *wal = open_log(&r, 25, ST_WAL_SYNC_FSYNC);
    wt_append_n(wal, 25, 1);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    cr_assert_eq(poll_all(wal), ST_IO, "the old fail_sync 5 still holds");
    int e;
    st_wal_last_error(wal, &e);
    cr_assert_eq(e, 5);
    st_wal_close(wal);
}

// st_wal_config.fault_control: the log makes, uses and frees a fault io of
// its own (what every worker of stocktwind --fault-control does).
Test(wal_fault, config_fault_control_gives_the_log_its_own_fault_io)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/fault.ctl", dir);
    write_control(path, "prealloc_space 0\n");
    st_wal_config cfg;
    wt_replay r = {.seed = 26};
    wt_config(&cfg, dir, NULL, &r);
    cfg.fault_control = path;
    st_wal *wal = NULL;
    st_wal_recovery rec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_IO, "no space for the first segment");
    cr_assert(strstr(rec.message, "No space left on device") != NULL, "%s", rec.message);

    write_control(path, "bogus\n");
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_INVALID_ARGUMENT);
    cr_assert(strstr(rec.message, "fault control") != NULL, "%s", rec.message);

    write_control(path, "delay_ms 5\n");
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    wt_append_n(wal, 26, 10);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(durable(wal), 10);
    st_wal_close(wal);
    reopen_expect(26, 10);
}
