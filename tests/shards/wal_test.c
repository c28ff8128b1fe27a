// wal_test.c - the write-ahead log on the real io_uring io: round trips,
// replay, segment rolls, sync modes, torn tails and corruption.
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "shards/wal.h"
#include "stocktwin.pb-c.h"
#include "wal_test_util.h"

WT_SUITE(wal);

// reopen opens the log in `dir` with replay into *r (seed), asserting ST_OK.
static st_wal *
reopen(wt_replay *r, uint64_t seed, st_wal_recovery *rec)
{
    st_wal_config cfg;
    *r = (wt_replay){.seed = seed};
    wt_config(&cfg, dir, NULL, r);
    st_wal *wal = NULL;
    st_err err = st_wal_open(&cfg, &wal, rec);
    cr_assert_eq(err, ST_OK, "open: %s: %s", st_err_str(err), rec->message);
    cr_assert_eq(r->bad, 0);
    return wal;
}

Test(wal, io_uring_is_available)
{
    st_wal_io *io = NULL;
    int e = 0;
    cr_assert_eq(st_wal_io_uring_create(0, &io, &e), ST_OK, "io_uring: %s", strerror(e));
    st_wal_io_destroy(io);
    st_wal_io_destroy(NULL);
}

Test(wal, append_commit_poll_round_trip)
{
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, 1, &rec);
    cr_assert_eq(rec.records, 0);
    cr_assert_eq(wt_append_n(wal, 1, 100), 100);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    uint64_t durable = 0;
    // poll never blocks; the fdatasync completes within a few ms.
    for (int i = 0; i < 100000 && durable < 100; i++) {
        cr_assert_eq(st_wal_poll(wal, &durable), ST_OK);
        if (durable < 100)
            usleep(100);
    }
    cr_assert_eq(durable, 100);
    st_wal_close(wal);

    wal = reopen(&r, 1, &rec);
    cr_assert_eq(r.count, 100);
    cr_assert_eq(r.first_lsn, 1);
    cr_assert_eq(rec.last_lsn, 100);
    cr_assert(!rec.torn && !rec.corrupt);
    uint64_t lsn;
    uint8_t buf[WT_PAYLOAD_MAX];
    cr_assert_eq(st_wal_append(wal, buf, wt_payload(1, 101, buf), &lsn), ST_OK);
    cr_assert_eq(lsn, 101);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    wal = reopen(&r, 1, &rec);
    cr_assert_eq(r.count, 101);
    st_wal_close(wal);
    st_wal_close(NULL);
}

// The payload is a LogEntry; the frame's LSN and the entry's agree.
Test(wal, log_entry_payloads_replay)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    st_wal *wal = NULL;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    for (uint64_t i = 1; i <= 10; i++) {
        Stocktwin__LogEntry e = STOCKTWIN__LOG_ENTRY__INIT;
        e.lsn = i;
        e.epoch = 1;
        e.ingest_time_ms = 1700000000000 + (int64_t)i;
        e.principal = "tester";
        uint8_t buf[256];
        size_t len = stocktwin__log_entry__get_packed_size(&e);
        cr_assert(len <= sizeof(buf));
        stocktwin__log_entry__pack(&e, buf);
        uint64_t lsn;
        cr_assert_eq(st_wal_append(wal, buf, (uint32_t)len, &lsn), ST_OK);
        cr_assert_eq(lsn, i);
    }
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);

    uint64_t seen = 0;
    st_err check(void *arg, uint64_t lsn, const void *p, uint32_t len);
    cfg.replay_cb = check;
    cfg.replay_arg = &seen;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    cr_assert_eq(seen, 10);
    st_wal_close(wal);
}

st_err
check(void *arg, uint64_t lsn, const void *p, uint32_t len)
{
    uint64_t *seen = arg;
    Stocktwin__LogEntry *e = stocktwin__log_entry__unpack(NULL, len, p);
    cr_assert_not_null(e);
    cr_assert_eq(e->lsn, lsn);
    cr_assert_str_eq(e->principal, "tester");
    stocktwin__log_entry__free_unpacked(e, NULL);
    (*seen)++;
    return ST_OK;
}

Test(wal, replay_from_lsn_and_callback_error)
{
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, 2, &rec);
    wt_append_n(wal, 2, 50);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);

    st_wal_config cfg;
    r = (wt_replay){.seed = 2};
    wt_config(&cfg, dir, NULL, &r);
    cfg.replay_from_lsn = 41;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK);
    cr_assert_eq(r.count, 10);
    cr_assert_eq(r.first_lsn, 41);
    cr_assert_eq(rec.records, 50);
    st_wal_close(wal);
}

static uint64_t progress_calls, progress_last, progress_total;

static void
progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    cr_assert(done >= progress_last && done <= total);
    progress_calls++;
    progress_last = done;
    progress_total = total;
}

Test(wal, segments_roll_and_replay_across_them)
{
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, 3, &rec);
    // ~2000 records of ~280 bytes over 64 KiB segments: about ten segments.
    for (int round = 0; round < 20; round++) {
        wt_append_n(wal, 3, 100);
        cr_assert_eq(st_wal_commit(wal), ST_OK);
        uint64_t durable;
        cr_assert_eq(st_wal_poll(wal, &durable), ST_OK);
    }
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    cr_assert_eq(st.durable_lsn, 2000);
    cr_assert_gt(st.segments, 5);
    cr_assert_eq(wt_seg_count(dir), st.segments);
    st_wal_close(wal);

    st_wal_config cfg;
    r = (wt_replay){.seed = 3};
    wt_config(&cfg, dir, NULL, &r);
    cfg.progress_cb = progress;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    cr_assert_eq(r.count, 2000);
    cr_assert_eq(r.bad, 0);
    cr_assert_eq(rec.segments, st.segments);
    cr_assert_geq(progress_calls, st.segments);
    cr_assert_eq(progress_last, progress_total);
    st_wal_close(wal);
}

Test(wal, truncate_before_deletes_whole_segments_only)
{
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, 4, &rec);
    wt_append_n(wal, 4, 1000);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_stats before;
    st_wal_stats_get(wal, &before);
    cr_assert_eq(st_wal_truncate_before(wal, 500), ST_OK);
    st_wal_stats after;
    st_wal_stats_get(wal, &after);
    cr_assert_lt(after.segments, before.segments);
    cr_assert_eq(wt_seg_count(dir), after.segments);
    st_wal_close(wal);

    wal = reopen(&r, 4, &rec);
    cr_assert_leq(r.first_lsn, 500, "a segment holding LSN 500 must stay");
    cr_assert_gt(r.first_lsn, 1);
    cr_assert_eq(r.last_lsn, 1000);
    // The segment being written survives any truncation.
    cr_assert_eq(st_wal_truncate_before(wal, 1001), ST_OK);
    st_wal_stats_get(wal, &after);
    cr_assert_eq(after.segments, 1);
    wt_append_n(wal, 4, 10);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    wal = reopen(&r, 4, &rec);
    cr_assert_eq(r.last_lsn, 1010);
    st_wal_close(wal);
}

Test(wal, batch_mode_acknowledges_writes_and_syncs_on_tick)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    cfg.sync_mode = ST_WAL_SYNC_BATCH;
    cfg.sync_interval_ms = 100;
    st_wal *wal = NULL;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    wt_append_n(wal, 5, 20);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    st_wal_stats st = {0};
    for (int i = 0; i < 100000 && st.durable_lsn < 20; i++) {
        cr_assert_eq(st_wal_poll(wal, NULL), ST_OK);
        st_wal_stats_get(wal, &st);
        usleep(st.durable_lsn < 20 ? 100 : 0);
    }
    cr_assert_eq(st.durable_lsn, 20);
    cr_assert_eq(st.synced_lsn, 0, "no fdatasync before the interval");
    cr_assert_eq(st_wal_tick(wal, 1000), ST_OK); // first tick: due
    for (int i = 0; i < 100000 && st.synced_lsn < 20; i++) {
        cr_assert_eq(st_wal_poll(wal, NULL), ST_OK);
        st_wal_stats_get(wal, &st);
        usleep(st.synced_lsn < 20 ? 100 : 0);
    }
    cr_assert_eq(st.synced_lsn, 20);
    wt_append_n(wal, 5, 5);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    cr_assert_eq(st_wal_tick(wal, 1050), ST_OK); // within the interval: not yet
    cr_assert_eq(st_wal_wait(wal), ST_OK);       // wait syncs in batch mode
    st_wal_stats_get(wal, &st);
    cr_assert_eq(st.synced_lsn, 25);
    st_wal_close(wal);
}

Test(wal, none_mode_does_no_io)
{
    st_wal_config cfg;
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/never", dir);
    wt_config(&cfg, sub, NULL, NULL);
    cfg.sync_mode = ST_WAL_SYNC_NONE;
    st_wal *wal = NULL;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    uint64_t lsn, durable;
    cr_assert_eq(st_wal_append(wal, "x", 1, &lsn), ST_OK);
    cr_assert_eq(st_wal_poll(wal, &durable), ST_OK);
    cr_assert_eq(lsn, 1);
    cr_assert_eq(durable, 1);
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    struct stat sb;
    cr_assert_neq(stat(sub, &sb), 0, "none mode created files");
}

Test(wal, bad_arguments)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    cfg.segment_bytes = 5000;
    st_wal *wal = NULL;
    st_wal_recovery rec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_INVALID_ARGUMENT);
    cr_assert(strstr(rec.message, "segment_bytes") != NULL);
    wt_config(&cfg, dir, NULL, NULL);
    cfg.batches = 1;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_INVALID_ARGUMENT);
    wt_config(&cfg, dir, NULL, NULL);
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK);
    uint64_t lsn;
    static uint8_t big[64 * 1024];
    cr_assert_eq(st_wal_append(wal, big, 0, &lsn), ST_INVALID_ARGUMENT);
    uint32_t max = st_wal_payload_bytes_max(wal);
    cr_assert_eq(st_wal_append(wal, big, max + 1, &lsn), ST_TOO_LARGE);
    cr_assert_eq(st_wal_append(wal, big, max, &lsn), ST_OK);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
}

Test(wal, append_busy_when_all_buffers_are_full)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    cfg.segment_bytes = 1024 * 1024;
    st_wal *wal = NULL;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    uint8_t buf[1000] = {1};
    uint64_t lsn;
    st_err err = ST_OK;
    int n = 0;
    while ((err = st_wal_append(wal, buf, sizeof(buf), &lsn)) == ST_OK)
        n++;
    cr_assert_eq(err, ST_BUSY);
    cr_assert_leq((uint64_t)n * 1024, 4 * 16 * 1024);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(st_wal_append(wal, buf, sizeof(buf), &lsn), ST_OK);
    cr_assert_eq(lsn, (uint64_t)n + 1);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
}

// ---------------------------------------------------------------------------
// Torn tails and corruption.

static uint64_t
record_off(uint64_t seed, uint64_t lsn)
{
    uint64_t off = 64;
    uint8_t buf[WT_PAYLOAD_MAX];
    for (uint64_t i = 1; i < lsn; i++)
        off += (24 + wt_payload(seed, i, buf) + 7) & ~7ull;
    return off;
}

static void
write_log(uint64_t seed, uint64_t n)
{
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, seed, &rec);
    wt_append_n(wal, seed, n);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
}

static void
read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(*len);
    cr_assert_eq(fread(*buf, 1, *len, f), *len);
    fclose(f);
}

static void
write_file(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

// check_torn reopens after damage at offset `cut` of the last record (LSN n)
// and checks that everything before it is back, that the tail was cut and
// reported (unless the damage left a zero length word: a clean end), and that
// appending continues at LSN n.
static void
check_torn(uint64_t seed, uint64_t n, uint64_t start, uint64_t cut, const char *how, bool clean_ok)
{
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, seed, &rec);
    cr_assert_eq(r.count, n - 1, "%s at %lu: %lu records", how, (unsigned long)cut,
                 (unsigned long)r.count);
    cr_assert_eq(rec.last_lsn, n - 1);
    cr_assert(!rec.corrupt, "%s at %lu: %s", how, (unsigned long)cut, rec.message);
    if (rec.torn) {
        cr_assert_eq(rec.cut_offset, start);
        cr_assert_eq(rec.cut_lsn, n);
        cr_assert(strstr(rec.message, "torn tail") != NULL);
    } else {
        cr_assert(clean_ok, "%s at %lu: torn tail not reported", how, (unsigned long)cut);
    }
    uint8_t buf[WT_PAYLOAD_MAX];
    uint64_t lsn;
    cr_assert_eq(st_wal_append(wal, buf, wt_payload(seed, n, buf), &lsn), ST_OK);
    cr_assert_eq(lsn, n);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    wal = reopen(&r, seed, &rec);
    cr_assert_eq(r.count, n);
    cr_assert(!rec.torn && !rec.corrupt);
    st_wal_close(wal);
    // Appending may have rolled to a new segment (after "truncated"): start
    // the next case from the one segment again.
    char path[600];
    for (uint64_t first = 2; first <= n; first++) {
        wt_seg_path(dir, first, path, sizeof(path));
        unlink(path);
    }
}

Test(wal, torn_tail_at_every_byte_of_the_last_record, .timeout = 240)
{
    const uint64_t seed = 6, n = 20;
    write_log(seed, n);
    char path[600];
    wt_seg_path(dir, 1, path, sizeof(path));
    uint8_t *pristine;
    size_t size;
    read_file(path, &pristine, &size);
    uint8_t last[WT_PAYLOAD_MAX];
    uint64_t start = record_off(seed, n), end = start + 24 + wt_payload(seed, n, last);
    uint8_t *img = malloc(size);
    for (uint64_t cut = start; cut < end; cut++) {
        // Zeroed from `cut` to the end of the record: the write stopped there.
        memcpy(img, pristine, size);
        memset(img + cut, 0, end - cut);
        write_file(path, img, size);
        // Zeros over the length word's high bytes may leave it zero: a clean end.
        check_torn(seed, n, start, cut, "zeroed", cut < start + 4);
        // The file ends at `cut` (not preallocated, or cut short); with no
        // room for a record header that is a clean end too.
        write_file(path, pristine, cut);
        check_torn(seed, n, start, cut, "truncated", cut < start + 24);
        // Garbage instead of zeros after `cut`.
        memcpy(img, pristine, size);
        memset(img + cut, 0xa5, end - cut);
        write_file(path, img, size);
        check_torn(seed, n, start, cut, "garbage", false);
    }
    free(img);
    free(pristine);
}

Test(wal, flipped_bit_with_good_records_after_is_corruption)
{
    const uint64_t seed = 7, n = 50;
    write_log(seed, n);
    char path[600];
    wt_seg_path(dir, 1, path, sizeof(path));
    uint8_t *img;
    size_t size;
    read_file(path, &img, &size);
    uint64_t off = record_off(seed, 20);
    img[off + 30] ^= 0x10; // a payload bit of LSN 20
    write_file(path, img, size);
    free(img);

    st_wal_config cfg;
    wt_replay r = {.seed = seed};
    wt_config(&cfg, dir, NULL, &r);
    st_wal *wal = NULL;
    st_wal_recovery rec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_MALFORMED, "%s", rec.message);
    cr_assert_null(wal);
    char want[64];
    snprintf(want, sizeof(want), "byte offset %lu (lsn 20)", (unsigned long)off);
    cr_assert(strstr(rec.message, path) != NULL, "%s", rec.message);
    cr_assert(strstr(rec.message, want) != NULL, "%s", rec.message);
    cr_assert(rec.corrupt);
    cr_assert_eq(rec.cut_offset, off);
    cr_assert_eq(rec.cut_lsn, 20);
    cr_assert_eq(wt_seg_count(dir), 1, "refusing changes nothing");

    r = (wt_replay){.seed = seed};
    cfg.truncate_corrupt = true;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    cr_assert(rec.corrupt && !rec.torn);
    cr_assert_eq(r.count, 19);
    cr_assert_eq(r.bad, 0);
    uint64_t lsn;
    uint8_t buf[WT_PAYLOAD_MAX];
    cr_assert_eq(st_wal_append(wal, buf, wt_payload(seed, 20, buf), &lsn), ST_OK);
    cr_assert_eq(lsn, 20);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    wal = reopen(&r, seed, &rec);
    cr_assert_eq(r.count, 20);
    cr_assert(!rec.torn && !rec.corrupt, "%s", rec.message);
    st_wal_close(wal);
}

// A bad record at the end of one segment is corruption when a later segment
// holds records; a later segment whose first write never landed is a torn
// roll and goes away.
Test(wal, bad_record_before_a_later_segment_is_corruption)
{
    const uint64_t seed = 8;
    write_log(seed, 600);
    cr_assert_gt(wt_seg_count(dir), 2);
    char path[600];
    wt_seg_path(dir, 1, path, sizeof(path));
    uint8_t *img;
    size_t size;
    read_file(path, &img, &size);
    uint64_t n = 1, off = 64;
    // Find the last record of the first segment.
    for (;;) {
        uint8_t buf[WT_PAYLOAD_MAX];
        uint64_t next = off + ((24 + wt_payload(seed, n, buf) + 7) & ~7ull);
        uint8_t b2[WT_PAYLOAD_MAX];
        uint64_t after = next + 24 + wt_payload(seed, n + 1, b2);
        if (after > size)
            break;
        off = next;
        n++;
    }
    img[off + 8] ^= 1; // its LSN
    write_file(path, img, size);
    free(img);
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    st_wal *wal = NULL;
    st_wal_recovery rec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_MALFORMED, "%s", rec.message);
    cr_assert_eq(rec.cut_offset, off);
    cr_assert_eq(rec.cut_lsn, n);
}

Test(wal, torn_roll_removes_the_empty_segment)
{
    const uint64_t seed = 9;
    write_log(seed, 300);
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, seed, &rec);
    st_wal_stats st;
    st_wal_stats_get(wal, &st);
    st_wal_close(wal);
    // A segment created by a roll whose header write never landed.
    char path[600];
    wt_seg_path(dir, 301, path, sizeof(path));
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 64 * 1024), 0);
    close(fd);
    wal = reopen(&r, seed, &rec);
    cr_assert(rec.torn, "%s", rec.message);
    cr_assert_eq(rec.segments_removed, 1);
    cr_assert_eq(rec.last_lsn, 300);
    cr_assert_eq(r.count, 300);
    wt_append_n(wal, seed, 10);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    wal = reopen(&r, seed, &rec);
    cr_assert_eq(r.count, 310);
    st_wal_close(wal);
}

// An independent reader of the layout documented at the top of shards/wal.c
// and in docs/WAL.md: if this test and the writer disagree, the document is
// wrong for every other tool.
Test(wal, format_matches_the_documented_layout)
{
    const uint64_t seed = 10, n = 30;
    write_log(seed, n);
    char path[600];
    wt_seg_path(dir, 1, path, sizeof(path));
    uint8_t *img;
    size_t size;
    read_file(path, &img, &size);
    cr_assert_eq(size, 64 * 1024, "preallocated to segment_bytes");
    cr_assert_eq(memcmp(img, "STWAL001", 8), 0);
    uint32_t u32;
    uint64_t u64;
    memcpy(&u32, img + 8, 4);
    cr_assert_eq(u32, 1, "version");
    memcpy(&u32, img + 12, 4);
    cr_assert_eq(u32, 0, "worker id");
    memcpy(&u64, img + 16, 8);
    cr_assert_eq(u64, 1, "first lsn");
    memcpy(&u64, img + 24, 8);
    cr_assert_eq(u64, 64 * 1024, "segment bytes");
    for (int i = 32; i < 56; i++)
        cr_assert_eq(img[i], 0, "reserved");
    memcpy(&u64, img + 56, 8);
    cr_assert_eq(u64, XXH3_64bits(img, 56), "header checksum");
    uint64_t off = 64;
    for (uint64_t lsn = 1; lsn <= n; lsn++) {
        uint8_t want[WT_PAYLOAD_MAX], joined[16 + WT_PAYLOAD_MAX];
        uint32_t len = wt_payload(seed, lsn, want);
        cr_assert_eq(off % 8, 0);
        memcpy(&u32, img + off, 4);
        cr_assert_eq(u32, len);
        memcpy(&u32, img + off + 4, 4);
        cr_assert_eq(u32, 0, "flags");
        memcpy(&u64, img + off + 8, 8);
        cr_assert_eq(u64, lsn);
        cr_assert_eq(memcmp(img + off + 24, want, len), 0);
        memcpy(joined, img + off, 16);
        memcpy(joined + 16, want, len);
        memcpy(&u64, img + off + 16, 8);
        cr_assert_eq(u64, XXH3_64bits(joined, 16 + len), "record checksum");
        uint64_t end = (off + 24 + len + 7) & ~7ull;
        for (uint64_t i = off + 24 + len; i < end; i++)
            cr_assert_eq(img[i], 0, "padding");
        off = end;
    }
    memcpy(&u32, img + off, 4);
    cr_assert_eq(u32, 0, "a zero length word ends the data");
    free(img);
}

// Deleting log that no snapshot can cover yet is a programmer error.
Test(wal, truncate_before_beyond_durable_aborts, .signal = SIGABRT)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    st_wal *wal = NULL;
    cr_assert_eq(st_wal_open(&cfg, &wal, NULL), ST_OK);
    uint64_t lsn;
    cr_assert_eq(st_wal_append(wal, "x", 1, &lsn), ST_OK);
    wt_rmrf(dir); // the abort skips the suite's teardown
    st_wal_truncate_before(wal, 3); // LSN 1 is not durable yet
}

// A reservation whose record is never appended (the worker reserves before
// it applies, and the event may be refused) must not leave an empty batch
// behind: commit and wait used to assert on it. Regression test.
Test(wal, reserve_without_append_then_commit_and_wait)
{
    wt_replay r;
    st_wal_recovery rec;
    st_wal *wal = reopen(&r, 1, &rec);
    cr_assert_eq(wt_append_n(wal, 1, 10), 10);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(st_wal_reserve(wal, WT_PAYLOAD_MAX), ST_OK); // a fresh batch for nothing
    cr_assert_eq(st_wal_commit(wal), ST_OK);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_eq(st_wal_reserve(wal, WT_PAYLOAD_MAX), ST_OK);
    uint64_t lsn;
    uint8_t buf[WT_PAYLOAD_MAX];
    cr_assert_eq(st_wal_append(wal, buf, wt_payload(1, 11, buf), &lsn), ST_OK, "reserved room");
    cr_assert_eq(lsn, 11);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    wal = reopen(&r, 1, &rec);
    cr_assert_eq(rec.last_lsn, 11);
    cr_assert_eq(r.bad, 0);
    st_wal_close(wal);
}

// ---------------------------------------------------------------------------
// The read-only scan (st_wal_scan): the recovery's verdicts, and not a byte
// changed.

#define SNAP_FILES_MAX 64

// A copy of every file of worker 0's log: name, bytes, size and times.
typedef struct snap {
    uint32_t n;
    struct {
        char name[256];
        uint8_t *bytes;
        size_t size;
        struct stat st;
    } f[SNAP_FILES_MAX];
} snap;

// Orders snap entries by name, their first member.
static int
snap_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void
snap_take(snap *s)
{
    char wdir[300], path[600];
    snprintf(wdir, sizeof(wdir), "%s/wal-0", dir);
    memset(s, 0, sizeof(*s));
    DIR *d = opendir(wdir);
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        cr_assert_lt(s->n, SNAP_FILES_MAX);
        snprintf(s->f[s->n].name, sizeof(s->f[s->n].name), "%s", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", wdir, e->d_name);
        cr_assert_eq(stat(path, &s->f[s->n].st), 0);
        read_file(path, &s->f[s->n].bytes, &s->f[s->n].size);
        s->n++;
    }
    closedir(d);
    qsort(s->f, s->n, sizeof(s->f[0]), snap_cmp);
}

static void
snap_free(snap *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        free(s->f[i].bytes);
    s->n = 0;
}

// snap_check_same asserts that the log's files are exactly as in *before:
// the same names, bytes, sizes and modification times.
static void
snap_check_same(snap *before, const char *what)
{
    static snap after;
    snap_take(&after);
    cr_assert_eq(after.n, before->n, "%s: files were added or removed", what);
    for (uint32_t i = 0; i < before->n; i++) {
        cr_assert_str_eq(after.f[i].name, before->f[i].name, "%s", what);
        cr_assert_eq(after.f[i].size, before->f[i].size, "%s: %s changed size", what,
                     before->f[i].name);
        cr_assert_eq(memcmp(after.f[i].bytes, before->f[i].bytes, before->f[i].size), 0,
                     "%s: %s changed", what, before->f[i].name);
        cr_assert_eq(after.f[i].st.st_mtim.tv_sec, before->f[i].st.st_mtim.tv_sec, "%s", what);
        cr_assert_eq(after.f[i].st.st_mtim.tv_nsec, before->f[i].st.st_mtim.tv_nsec, "%s", what);
    }
    snap_free(&after);
}

// scan runs st_wal_scan on worker 0 of `dir` from `from` into *r (seed).
static st_err
scan(wt_replay *r, uint64_t seed, uint64_t from, st_wal_recovery *rec)
{
    *r = (wt_replay){.seed = seed};
    st_wal_scan_config sc = {.data_dir = dir,
                             .worker_id = 0,
                             .from_lsn = from,
                             .record_cb = wt_replay_cb,
                             .record_arg = r};
    return st_wal_scan(&sc, rec);
}

Test(wal, scan_agrees_with_recovery_and_changes_nothing)
{
    const uint64_t seed = 21;
    write_log(seed, 600);
    cr_assert_gt(wt_seg_count(dir), 2);
    static snap before;
    snap_take(&before);
    wt_replay r;
    st_wal_recovery rec;
    cr_assert_eq(scan(&r, seed, 1, &rec), ST_OK, "%s", rec.message);
    cr_assert_eq(r.bad, 0);
    cr_assert_eq(r.count, 600);
    cr_assert(rec.records == 600 && rec.first_lsn == 1 && rec.last_lsn == 600);
    cr_assert(!rec.torn && !rec.corrupt, "%s", rec.message);
    cr_assert_eq(rec.segments, wt_seg_count(dir));
    cr_assert_eq(rec.segments_removed, 0);
    uint64_t files = 0;
    for (uint32_t i = 0; i < before.n; i++)
        files += before.f[i].size;
    cr_assert_eq(rec.file_bytes, files);
    cr_assert(rec.bytes > 600 * 24 && rec.bytes < files, "%lu", (unsigned long)rec.bytes);
    snap_check_same(&before, "a clean scan");

    // --from: only later records reach the callback; the whole log is checked.
    cr_assert_eq(scan(&r, seed, 250, &rec), ST_OK, "%s", rec.message);
    cr_assert(r.count == 351 && r.first_lsn == 250 && r.last_lsn == 600 && r.bad == 0);
    cr_assert_eq(rec.records, 600);

    // The recovery of st_wal_open sees the same log.
    st_wal_recovery orec;
    st_wal *wal = reopen(&r, seed, &orec);
    st_wal_close(wal);
    cr_assert(orec.records == rec.records && orec.last_lsn == rec.last_lsn);
    cr_assert(orec.segments == rec.segments && orec.bytes == rec.bytes);
    snap_free(&before);
}

// A torn tail (garbage over the last record) is reported where recovery
// would cut it, and left in place; recovery then cuts exactly there.
Test(wal, scan_reports_a_torn_tail_and_leaves_it)
{
    const uint64_t seed = 22, n = 20;
    write_log(seed, n);
    char path[600];
    wt_seg_path(dir, 1, path, sizeof(path));
    uint8_t *img;
    size_t size;
    read_file(path, &img, &size);
    uint64_t start = record_off(seed, n);
    memset(img + start + 30, 0xa5, 16); // inside the last record
    write_file(path, img, size);
    free(img);
    static snap before;
    snap_take(&before);
    wt_replay r;
    st_wal_recovery rec;
    cr_assert_eq(scan(&r, seed, 1, &rec), ST_OK, "a torn tail is no error: %s", rec.message);
    cr_assert(rec.torn && !rec.corrupt);
    cr_assert_eq(rec.cut_offset, start);
    cr_assert_eq(rec.cut_lsn, n);
    cr_assert_str_eq(rec.cut_path, path);
    cr_assert(r.count == n - 1 && rec.records == n - 1 && rec.last_lsn == n - 1);
    cr_assert_eq(rec.segments, 1);
    cr_assert_eq(rec.bytes, start);
    cr_assert(strstr(rec.message, "torn tail") != NULL, "%s", rec.message);
    snap_check_same(&before, "a scan of a torn tail");
    // A second scan says the same: nothing was cut.
    cr_assert_eq(scan(&r, seed, 1, &rec), ST_OK);
    cr_assert(rec.torn && rec.cut_offset == start);

    st_wal_recovery orec;
    st_wal *wal = reopen(&r, seed, &orec);
    st_wal_close(wal);
    cr_assert(orec.torn && orec.cut_offset == start && orec.cut_lsn == n);
    cr_assert_eq(scan(&r, seed, 1, &rec), ST_OK);
    cr_assert(!rec.torn && rec.last_lsn == n - 1, "recovery cut it: %s", rec.message);
    snap_free(&before);
}

// A segment whose first write never landed (a torn roll) is counted as one
// recovery would remove, and stays.
Test(wal, scan_reports_a_torn_roll_and_keeps_the_file)
{
    const uint64_t seed = 23;
    write_log(seed, 300);
    uint32_t segs = wt_seg_count(dir);
    char path[600];
    wt_seg_path(dir, 301, path, sizeof(path));
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 64 * 1024), 0);
    close(fd);
    static snap before;
    snap_take(&before);
    wt_replay r;
    st_wal_recovery rec;
    cr_assert_eq(scan(&r, seed, 1, &rec), ST_OK, "%s", rec.message);
    cr_assert(rec.torn, "%s", rec.message);
    cr_assert_eq(rec.cut_offset, 0);
    cr_assert_eq(rec.cut_lsn, 301);
    cr_assert_eq(rec.segments, segs);
    cr_assert_eq(rec.segments_removed, 1);
    cr_assert_eq(r.count, 300);
    snap_check_same(&before, "a scan of a torn roll");
    cr_assert_eq(wt_seg_count(dir), segs + 1);
    snap_free(&before);
}

// Corruption: ST_MALFORMED naming file, offset and LSN, exactly as st_wal_open
// refuses; records before it were delivered; nothing changed.
Test(wal, scan_reports_corruption_like_recovery)
{
    const uint64_t seed = 24, n = 50;
    write_log(seed, n);
    char path[600];
    wt_seg_path(dir, 1, path, sizeof(path));
    uint8_t *img;
    size_t size;
    read_file(path, &img, &size);
    uint64_t off = record_off(seed, 20);
    img[off + 30] ^= 0x10; // a payload bit of LSN 20
    write_file(path, img, size);
    free(img);
    static snap before;
    snap_take(&before);
    wt_replay r;
    st_wal_recovery rec;
    cr_assert_eq(scan(&r, seed, 1, &rec), ST_MALFORMED, "%s", rec.message);
    cr_assert(rec.corrupt && !rec.torn);
    cr_assert_eq(rec.cut_offset, off);
    cr_assert_eq(rec.cut_lsn, 20);
    cr_assert_eq(r.count, 19);
    cr_assert_eq(rec.records, 19);
    cr_assert_eq(rec.segments, 1, "the log up to the bad record");
    cr_assert_eq(rec.bytes, off);
    char want[64];
    snprintf(want, sizeof(want), "byte offset %lu (lsn 20)", (unsigned long)off);
    cr_assert(strstr(rec.message, path) != NULL && strstr(rec.message, want) != NULL, "%s",
              rec.message);
    snap_check_same(&before, "a scan of a corrupt log");

    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    st_wal *wal = NULL;
    st_wal_recovery orec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &orec), ST_MALFORMED);
    cr_assert(orec.cut_offset == rec.cut_offset && orec.cut_lsn == rec.cut_lsn);
    snap_free(&before);
}

static st_err
stop_at_10_cb(void *arg, uint64_t lsn, const void *payload, uint32_t len)
{
    (void)payload, (void)len;
    ++*(uint64_t *)arg;
    return lsn == 10 ? ST_INTERNAL : ST_OK;
}

Test(wal, scan_missing_log_and_callback_error)
{
    st_wal_recovery rec;
    st_wal_scan_config sc = {.data_dir = dir, .worker_id = 3};
    cr_assert_eq(st_wal_scan(&sc, &rec), ST_NOT_FOUND, "%s", rec.message);
    char path[600];
    snprintf(path, sizeof(path), "%s/wal-3", dir);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "the scan creates nothing");

    write_log(25, 30);
    uint64_t calls = 0;
    sc = (st_wal_scan_config){.data_dir = dir,
                              .worker_id = 0,
                              .from_lsn = 1,
                              .record_cb = stop_at_10_cb,
                              .record_arg = &calls};
    cr_assert_eq(st_wal_scan(&sc, &rec), ST_INTERNAL);
    cr_assert_eq(calls, 10);
    cr_assert(strstr(rec.message, "lsn 10") != NULL, "%s", rec.message);
    // No callback: a pure check.
    sc.record_cb = NULL;
    cr_assert_eq(st_wal_scan(&sc, NULL), ST_OK);
}
