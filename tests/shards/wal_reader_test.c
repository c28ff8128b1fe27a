// wal_reader_test.c - the frame validator and the read-only cursor a leader
// ships its log with (shards/wal_reader.c), on logs written by st_wal: every
// frame comes back byte for byte and in LSN order, across segment rolls, from
// any position, alongside appends, and the cursor notices deleted segments,
// damage and frames too large for the caller's buffer. Also first_lsn (an
// empty log that starts after a snapshot) and st_wal_remove_all.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shards/wal.h"
#include "shards/wal_reader.h"
#include "wal_test_util.h"

static char dir[256];

static void
setup(void)
{
    wt_tmpdir(dir, sizeof(dir));
}

static void
teardown(void)
{
    wt_rmrf(dir);
}

TestSuite(wal_reader, .init = setup, .fini = teardown);

static st_wal *
open_log(uint64_t first_lsn)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    cfg.first_lsn = first_lsn;
    st_wal *wal = NULL;
    st_wal_recovery rec;
    st_err err = st_wal_open(&cfg, &wal, &rec);
    cr_assert_eq(err, ST_OK, "open: %s", rec.message);
    return wal;
}

// check_frames walks buf (used bytes, count frames from `from`): each frame
// valid, in order, with the payload the log was given (seed).
static void
check_frames(const uint8_t *buf, size_t used, uint32_t count, uint64_t from, uint64_t seed)
{
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        st_wal_frame f;
        char why[256];
        cr_assert_eq(st_wal_frame_check(buf + off, used - off, from + i, &f, why, sizeof why),
                     ST_OK, "frame %u: %s", i, why);
        uint8_t want[WT_PAYLOAD_MAX];
        uint32_t n = wt_payload(seed, from + i, want);
        cr_assert_eq(f.payload_len, n);
        cr_assert_eq(memcmp(f.payload, want, n), 0, "payload of LSN %llu",
                     (unsigned long long)(from + i));
        cr_assert_eq(f.bytes, st_wal_frame_bytes(n));
        off += f.bytes;
    }
    cr_assert_eq(off, used, "the frames fill exactly what was used");
}

Test(wal_reader, reads_every_frame_in_small_pieces_across_segments)
{
    st_wal *wal = open_log(0);
    uint64_t last = wt_append_n(wal, 7, 3000); // 64 KiB segments: several rolls
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    cr_assert_gt(wt_seg_count(dir), 3);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    cr_assert_eq(st_wal_reader_first_lsn(r), 1);
    static uint8_t buf[4096];
    uint64_t next = 1;
    while (next <= last) {
        size_t used;
        uint32_t count;
        char why[512];
        cr_assert_eq(st_wal_reader_read(r, next, last, buf, sizeof buf, &used, &count, why,
                                        sizeof why),
                     ST_OK, "%s", why);
        cr_assert_gt(count, 0, "progress at %llu", (unsigned long long)next);
        check_frames(buf, used, count, next, 7);
        next += count;
    }
    cr_assert_eq(next, last + 1);
    // Nothing beyond what the caller says is durable.
    size_t used = 1;
    uint32_t count = 1;
    char why[512];
    cr_assert_eq(st_wal_reader_read(r, last + 1, last, buf, sizeof buf, &used, &count, why,
                                    sizeof why),
                 ST_OK);
    cr_assert_eq(count, 0);
    cr_assert_eq(used, 0);
    st_wal_reader_close(r);
    st_wal_close(wal);
}

Test(wal_reader, repositions_to_any_lsn_and_respects_upto)
{
    st_wal *wal = open_log(0);
    uint64_t last = wt_append_n(wal, 3, 2000);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    static uint8_t buf[1 << 20];
    srand(11);
    for (int i = 0; i < 200; i++) {
        uint64_t from = 1 + (uint64_t)rand() % last;
        uint64_t upto = from + (uint64_t)rand() % 50;
        if (upto > last)
            upto = last;
        size_t used;
        uint32_t count;
        char why[512];
        cr_assert_eq(st_wal_reader_read(r, from, upto, buf, sizeof buf, &used, &count, why,
                                        sizeof why),
                     ST_OK, "%s", why);
        cr_assert_eq(count, upto - from + 1, "from %llu upto %llu", (unsigned long long)from,
                     (unsigned long long)upto);
        check_frames(buf, used, count, from, 3);
    }
    st_wal_reader_close(r);
    st_wal_close(wal);
}

Test(wal_reader, follows_a_log_that_grows)
{
    st_wal *wal = open_log(0);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    static uint8_t buf[1 << 20];
    uint64_t next = 1, last = 0;
    for (int round = 0; round < 20; round++) {
        last = wt_append_n(wal, 5, 150);
        cr_assert_eq(st_wal_wait(wal), ST_OK);
        size_t used;
        uint32_t count;
        char why[512];
        cr_assert_eq(st_wal_reader_read(r, next, last, buf, sizeof buf, &used, &count, why,
                                        sizeof why),
                     ST_OK, "%s", why);
        cr_assert_eq(next + count, last + 1, "round %d", round);
        check_frames(buf, used, count, next, 5);
        next += count;
    }
    st_wal_reader_close(r);
    st_wal_close(wal);
}

Test(wal_reader, deleted_segments_mean_a_snapshot_is_needed)
{
    st_wal *wal = open_log(0);
    uint64_t last = wt_append_n(wal, 9, 3000);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_reader *r = NULL, *early = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    cr_assert_eq(st_wal_reader_open(dir, 0, &early), ST_OK);
    static uint8_t buf[1 << 20];
    size_t used;
    uint32_t count;
    char why[512];
    // A cursor positioned in the first segment before it is deleted.
    cr_assert_eq(st_wal_reader_read(early, 1, 10, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_OK);
    cr_assert_eq(st_wal_truncate_before(wal, last - 10), ST_OK);
    uint64_t first = st_wal_reader_first_lsn(r);
    cr_assert_gt(first, 1);
    cr_assert_eq(st_wal_reader_read(r, 1, last, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_NOT_FOUND);
    cr_assert_eq(st_wal_reader_read(r, first - 1, last, buf, sizeof buf, &used, &count, why,
                                    sizeof why),
                 ST_NOT_FOUND);
    cr_assert_eq(st_wal_reader_read(r, first, last, buf, sizeof buf, &used, &count, why,
                                    sizeof why),
                 ST_OK, "%s", why);
    cr_assert_gt(count, 0);
    check_frames(buf, used, count, first, 9);
    // The early cursor finishes its (deleted) segment through its fd, then
    // learns that the log moved on.
    uint64_t next = 11;
    st_err err = ST_OK;
    while (err == ST_OK && next < first) {
        err = st_wal_reader_read(early, next, last, buf, sizeof buf, &used, &count, why,
                                 sizeof why);
        if (err == ST_OK) {
            cr_assert_gt(count, 0);
            check_frames(buf, used, count, next, 9);
            next += count;
        }
    }
    cr_assert(err == ST_NOT_FOUND || next >= first, "%s", st_err_str(err));
    st_wal_reader_close(early);
    st_wal_reader_close(r);
    // No log at all.
    cr_assert_eq(st_wal_reader_open(dir, 5, &r), ST_OK);
    cr_assert_eq(st_wal_reader_read(r, 1, 1, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_NOT_FOUND);
    st_wal_reader_close(r);
    st_wal_close(wal);
}

Test(wal_reader, a_damaged_record_is_named_and_a_small_buffer_refused)
{
    st_wal *wal = open_log(0);
    uint64_t last = wt_append_n(wal, 4, 100);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    static uint8_t buf[1 << 16];
    size_t used;
    uint32_t count;
    char why[512];
    cr_assert_eq(st_wal_reader_read(r, 1, last, buf, 8, &used, &count, why, sizeof why),
                 ST_TOO_LARGE);
    // Flip a byte in the middle of the segment's data.
    char seg[512];
    wt_seg_path(dir, 1, seg, sizeof seg);
    int fd = open(seg, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, 2000), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, 2000), 1);
    close(fd);
    cr_assert_eq(st_wal_reader_read(r, 1, last, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_MALFORMED);
    cr_assert_not_null(strstr(why, "LSN"), "%s", why);
    cr_assert_not_null(strstr(why, ".seg"), "%s", why);
    st_wal_reader_close(r);
}

Test(wal_reader, frame_check_refuses_what_recovery_refuses)
{
    uint8_t payload[40], frame[128];
    for (unsigned i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)i;
    st_wal *wal = open_log(0);
    uint64_t lsn = 0;
    cr_assert_eq(st_wal_append(wal, payload, sizeof payload, &lsn), ST_OK);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    size_t used;
    uint32_t count;
    char why[256];
    cr_assert_eq(st_wal_reader_read(r, 1, 1, frame, sizeof frame, &used, &count, why, sizeof why),
                 ST_OK);
    cr_assert_eq(used, st_wal_frame_bytes(sizeof payload));
    st_wal_frame f;
    cr_assert_eq(st_wal_frame_check(frame, used, 1, &f, why, sizeof why), ST_OK);
    cr_assert_eq(st_wal_frame_check(frame, used, 0, &f, why, sizeof why), ST_OK);
    cr_assert_eq(st_wal_frame_check(frame, used, 2, &f, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frame_check(frame, used - 8, 1, &f, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frame_check(frame, 10, 1, &f, why, sizeof why), ST_MALFORMED);
    uint8_t bad[128];
    memcpy(bad, frame, used);
    bad[4] = 1; // flags
    cr_assert_eq(st_wal_frame_check(bad, used, 1, &f, why, sizeof why), ST_MALFORMED);
    cr_assert_not_null(strstr(why, "flags"), "%s", why);
    memcpy(bad, frame, used);
    bad[30] ^= 1; // payload
    cr_assert_eq(st_wal_frame_check(bad, used, 1, &f, why, sizeof why), ST_MALFORMED);
    cr_assert_not_null(strstr(why, "checksum"), "%s", why);
    memcpy(bad, frame, used);
    bad[0] = 0; // length 0
    bad[1] = 0;
    cr_assert_eq(st_wal_frame_check(bad, used, 1, &f, why, sizeof why), ST_MALFORMED);
    st_wal_reader_close(r);
    st_wal_close(wal);
}

Test(wal_reader, first_lsn_starts_an_empty_log_after_a_snapshot)
{
    st_wal *wal = open_log(1001);
    uint64_t lsn = 0;
    uint8_t p[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(st_wal_append(wal, p, sizeof p, &lsn), ST_OK);
    cr_assert_eq(lsn, 1001);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    wal = open_log(0); // reopened: it continues, first_lsn ignored
    cr_assert_eq(st_wal_append(wal, p, sizeof p, &lsn), ST_OK);
    cr_assert_eq(lsn, 1002);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    uint8_t buf[256];
    size_t used;
    uint32_t count;
    char why[256];
    cr_assert_eq(st_wal_reader_first_lsn(r), 1001);
    cr_assert_eq(st_wal_reader_read(r, 1000, 1002, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_NOT_FOUND);
    cr_assert_eq(st_wal_reader_read(r, 1001, 1002, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_OK);
    cr_assert_eq(count, 2);
    st_wal_reader_close(r);
    st_wal_close(wal);
    // Emptied, it starts wherever it is told.
    cr_assert_eq(st_wal_remove_all(dir, 0), ST_OK);
    cr_assert_eq(wt_seg_count(dir), 0);
    wal = open_log(5001);
    cr_assert_eq(st_wal_append(wal, p, sizeof p, &lsn), ST_OK);
    cr_assert_eq(lsn, 5001);
    st_wal_close(wal);
}
