// wal_reader_test.c - the frame validator and the read-only cursor a leader
// ships its log with (shards/wal_reader.c), on logs written by st_wal: every
// frame comes back byte for byte and in LSN order, across segment rolls, from
// any position, alongside appends, and the cursor notices deleted segments,
// damage and frames too large for the caller's buffer. Also first_lsn (an
// empty log that starts after a snapshot) and st_wal_remove_all.
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shards/wal.h"
#include "shards/wal_reader.h"
#include "wal_test_util.h"

WT_SUITE(wal_reader);

static st_wal *
open_log(uint64_t first_lsn)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    cfg.segment_bytes = 4096 * 4; // several segments from a few hundred records
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

// each_frame reads frames 1..last through r in calls of a cap-byte buffer,
// checks each, and hands it to fn; every call must make progress.
static void
each_frame(st_wal_reader *r, uint64_t last, size_t cap,
           void (*fn)(void *arg, const st_wal_frame *f), void *arg)
{
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    uint64_t next = 1;
    while (next <= last) {
        size_t used;
        uint32_t count;
        char why[512];
        cr_assert_eq(st_wal_reader_read(r, next, last, buf, cap, &used, &count, why, sizeof why),
                     ST_OK, "%s", why);
        cr_assert_gt(count, 0, "progress at %llu", (unsigned long long)next);
        size_t off = 0;
        for (uint32_t i = 0; i < count; i++, next++) {
            st_wal_frame f;
            cr_assert_eq(st_wal_frame_check(buf + off, used - off, next, &f, why, sizeof why),
                         ST_OK, "LSN %llu: %s", (unsigned long long)next, why);
            fn(arg, &f);
            off += f.bytes;
        }
        cr_assert_eq(off, used, "the frames fill exactly what was used");
    }
    free(buf);
}

// seeded checks a frame's payload against wt_payload(*seed, its LSN).
static void
seeded(void *arg, const st_wal_frame *f)
{
    uint8_t want[WT_PAYLOAD_MAX];
    uint32_t n = wt_payload(*(const uint64_t *)arg, f->lsn, want);
    cr_assert_eq(f->payload_len, n);
    cr_assert_eq(memcmp(f->payload, want, n), 0, "payload of LSN %llu", (unsigned long long)f->lsn);
    cr_assert_eq(f->bytes, st_wal_frame_bytes(n));
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
    uint64_t seed = 7;
    each_frame(r, last, 4096, seeded, &seed);
    // Nothing beyond what the caller says is durable.
    static uint8_t buf[4096];
    size_t used = 1;
    uint32_t count = 1;
    char why[512];
    cr_assert_eq(
        st_wal_reader_read(r, last + 1, last, buf, sizeof buf, &used, &count, why, sizeof why),
        ST_OK);
    cr_assert_eq(count, 0);
    cr_assert_eq(used, 0);
    st_wal_reader_close(r);
    st_wal_close(wal);
}

// patterned checks a frame of the test below: lens[LSN - 1] bytes, byte k
// of entry i being i * 31 + k.
static void
patterned(void *arg, const st_wal_frame *f)
{
    const uint32_t *lens = arg;
    uint32_t i = (uint32_t)(f->lsn - 1);
    cr_assert_eq(f->payload_len, lens[i], "LSN %llu", (unsigned long long)f->lsn);
    for (uint32_t k = 0; k < lens[i]; k++)
        cr_assert_eq(f->payload[k], (uint8_t)(i * 31u + k), "LSN %llu byte %u",
                     (unsigned long long)f->lsn, k);
}

// Segments far larger than the reader's 64 KiB window, small frames and
// frames of several windows mixed: frames that straddle a window's end, or
// exceed a window, come back whole, whatever the caller's buffer.
Test(wal_reader, frames_across_and_beyond_read_windows_come_back_whole)
{
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, NULL);
    cfg.segment_bytes = 2u << 20;
    cfg.batch_bytes = 1u << 20; // room for the largest frame
    st_wal *wal = NULL;
    st_wal_recovery rec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "open: %s", rec.message);
    static uint8_t big[200u << 10];
    uint32_t lens[600];
    uint64_t last = 0;
    for (uint32_t i = 0; i < 600; i++) {
        // Mostly 1..512 bytes; every 37th 70..200 KiB.
        lens[i] = i % 37 == 36 ? (70u << 10) + i * 211u % (130u << 10) : 1 + i * 97u % 512u;
        for (uint32_t k = 0; k < lens[i]; k++)
            big[k] = (uint8_t)(i * 31u + k);
        st_err err = st_wal_append(wal, big, lens[i], &last);
        if (err == ST_BUSY) {
            cr_assert_eq(st_wal_wait(wal), ST_OK);
            err = st_wal_append(wal, big, lens[i], &last);
        }
        cr_assert_eq(err, ST_OK, "append %u: %s", i, st_wal_last_error(wal, NULL));
        cr_assert_eq(last, i + 1);
    }
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    cr_assert_gt(wt_seg_count(dir), 1, "the log rolls at least once");
    static const size_t caps[] = {(300u << 10), (2u << 20)};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        st_wal_reader *r = NULL;
        cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
        each_frame(r, last, caps[c], patterned, lens);
        st_wal_reader_close(r);
    }
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
        cr_assert_eq(
            st_wal_reader_read(r, from, upto, buf, sizeof buf, &used, &count, why, sizeof why),
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
        cr_assert_eq(
            st_wal_reader_read(r, next, last, buf, sizeof buf, &used, &count, why, sizeof why),
            ST_OK, "%s", why);
        cr_assert_eq(next + count, last + 1, "round %d", round);
        check_frames(buf, used, count, next, 5);
        next += count;
    }
    st_wal_reader_close(r);
    st_wal_close(wal);
}

// first_lsn_after is the first LSN of the segment that follows the one
// starting at `lsn` (0: none), from the directory listing.
static uint64_t
first_lsn_after(uint64_t lsn)
{
    char path[512];
    snprintf(path, sizeof path, "%s/wal-0", dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    uint64_t best = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t v = strtoull(e->d_name, NULL, 10);
        if (strstr(e->d_name, ".seg") != NULL && v > lsn && (best == 0 || v < best))
            best = v;
    }
    closedir(d);
    return best;
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
    uint64_t second = first_lsn_after(1); // where the first segment's data ends
    cr_assert_gt(second, 11);
    cr_assert_eq(st_wal_truncate_before(wal, last - 10), ST_OK);
    uint64_t first = st_wal_reader_first_lsn(r);
    cr_assert_gt(first, 1);
    cr_assert_eq(st_wal_reader_read(r, 1, last, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_NOT_FOUND);
    cr_assert_eq(
        st_wal_reader_read(r, first - 1, last, buf, sizeof buf, &used, &count, why, sizeof why),
        ST_NOT_FOUND);
    cr_assert_eq(
        st_wal_reader_read(r, first, last, buf, sizeof buf, &used, &count, why, sizeof why), ST_OK,
        "%s", why);
    cr_assert_gt(count, 0);
    check_frames(buf, used, count, first, 9);
    // The early cursor finishes its (deleted) segment through its fd, then
    // learns that the log moved on: the second segment is gone too.
    cr_assert_lt(second, first);
    uint64_t next = 11;
    st_err err = ST_OK;
    while (err == ST_OK) {
        err = st_wal_reader_read(early, next, last, buf, 2048, &used, &count, why, sizeof why);
        if (err == ST_OK) {
            cr_assert_gt(count, 0);
            check_frames(buf, used, count, next, 9);
            next += count;
        }
    }
    cr_assert_eq(err, ST_NOT_FOUND, "%s: %s", st_err_str(err), why);
    cr_assert_eq(next, second, "the whole first segment was read through the open fd");
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
    cr_assert_eq(count, 0);
    cr_assert_eq(used, 0);
    // The LSN whose frame holds byte 2000 of the first segment.
    cr_assert_eq(st_wal_reader_read(r, 1, last, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_OK);
    uint64_t hit = 0;
    for (size_t off = 0, i = 0; off < used; i++) {
        st_wal_frame f;
        cr_assert_eq(st_wal_frame_check(buf + off, used - off, 1 + i, &f, why, sizeof why), ST_OK);
        if (64 + off <= 2000 && 2000 < 64 + off + f.bytes)
            hit = f.lsn;
        off += f.bytes;
    }
    cr_assert_gt(hit, 0);
    // Flip a byte in the middle of the segment's data, under a new cursor
    // (durable bytes never change under a live one, so it may keep what it
    // read and checked).
    st_wal_reader_close(r);
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
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
    char lsn_text[64];
    snprintf(lsn_text, sizeof lsn_text, "LSN %llu", (unsigned long long)hit);
    cr_assert_not_null(strstr(why, lsn_text), "%s (want %s)", why, lsn_text);
    cr_assert_not_null(strstr(why, ".seg"), "%s", why);
    // Records before the damaged one still come back.
    cr_assert_eq(st_wal_reader_read(r, 1, hit - 1, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_OK, "%s", why);
    cr_assert_eq(count, hit - 1);
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

// st_wal_frames_last (a follower's fetcher reads the last frame's epoch)
// finds the last of a fetch's frames, and refuses a count or a length that
// does not fit the bytes, or a last frame that fails its checks.
Test(wal_reader, frames_last_finds_the_last_frame_of_a_fetch)
{
    st_wal *wal = open_log(0);
    cr_assert_eq(wt_append_n(wal, 9, 40), 40);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    static uint8_t buf[1 << 16];
    size_t used;
    uint32_t count;
    char why[256];
    cr_assert_eq(st_wal_reader_read(r, 3, 40, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_OK, "%s", why);
    cr_assert_eq(count, 38);
    st_wal_frame f, g;
    cr_assert_eq(st_wal_frames_last(buf, used, 3, count, &f, why, sizeof why), ST_OK, "%s", why);
    cr_assert_eq(f.lsn, 40);
    uint8_t want[WT_PAYLOAD_MAX];
    uint32_t n = wt_payload(9, 40, want);
    cr_assert_eq(f.payload_len, n);
    cr_assert_eq(memcmp(f.payload, want, n), 0);
    cr_assert_eq((size_t)(f.payload - buf) + n <= used, true);
    // One frame is its own last.
    size_t one = st_wal_frame_bytes(wt_payload(9, 3, want));
    cr_assert_eq(st_wal_frames_last(buf, one, 3, 1, &g, why, sizeof why), ST_OK, "%s", why);
    cr_assert_eq(g.lsn, 3);
    // Counts, lengths and LSNs that do not fit.
    cr_assert_eq(st_wal_frames_last(buf, used, 3, count - 1, &g, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frames_last(buf, used, 3, count + 1, &g, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frames_last(buf, used, 3, 0, &g, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frames_last(buf, used, 4, count, &g, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frames_last(buf, used - 8, 3, count, &g, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frames_last(buf, used + 8, 3, count, &g, why, sizeof why), ST_MALFORMED);
    cr_assert_eq(st_wal_frames_last(buf, 10, 3, 1, &g, why, sizeof why), ST_MALFORMED);
    // A flipped bit in the last frame's payload; one in an earlier frame is
    // left to the worker's checks.
    buf[(size_t)(f.payload - buf)] ^= 4;
    cr_assert_eq(st_wal_frames_last(buf, used, 3, count, &g, why, sizeof why), ST_MALFORMED);
    cr_assert_not_null(strstr(why, "checksum"), "%s", why);
    buf[(size_t)(f.payload - buf)] ^= 4;
    buf[30] ^= 4;
    cr_assert_eq(st_wal_frames_last(buf, used, 3, count, &g, why, sizeof why), ST_OK, "%s", why);
    // A length that runs past the bytes.
    buf[0] = 0xff;
    buf[1] = 0xff;
    cr_assert_eq(st_wal_frames_last(buf, used, 3, count, &g, why, sizeof why), ST_MALFORMED);
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

Test(wal_reader, a_log_that_starts_after_a_snapshot_recovers_and_trims)
{
    st_wal *wal = open_log(1001);
    st_wal_stats ws;
    st_wal_stats_get(wal, &ws);
    cr_assert_eq(ws.next_lsn, 1001);
    cr_assert_eq(ws.durable_lsn, 1000);
    uint64_t last = wt_append_n(wal, 6, 300);
    cr_assert_eq(last, 1300);
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);
    // Recovery of a log whose first segment starts above 1.
    wt_replay rp = {.seed = 6};
    st_wal_config cfg;
    wt_config(&cfg, dir, NULL, &rp);
    cfg.segment_bytes = 4096 * 4;
    cfg.first_lsn = 1; // ignored: the log is not empty
    st_wal_recovery rec;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    cr_assert_eq(rec.first_lsn, 1001);
    cr_assert_eq(rec.last_lsn, 1300);
    cr_assert(rp.count == 300 && rp.first_lsn == 1001 && rp.bad == 0);
    st_wal_stats_get(wal, &ws);
    cr_assert_eq(ws.next_lsn, 1301);
    // Trimmed after a snapshot, it still opens and reads from its new start.
    cr_assert_eq(st_wal_truncate_before(wal, 1200), ST_OK);
    st_wal_close(wal);
    rp = (wt_replay){.seed = 6};
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    cr_assert_gt(rec.first_lsn, 1001);
    cr_assert_eq(rec.last_lsn, 1300);
    cr_assert(rp.count == 1300 - rec.first_lsn + 1 && rp.bad == 0);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    cr_assert_eq(st_wal_reader_first_lsn(r), rec.first_lsn);
    static uint8_t buf[1 << 16];
    size_t used;
    uint32_t count;
    char why[512];
    cr_assert_eq(
        st_wal_reader_read(r, rec.first_lsn, 1300, buf, sizeof buf, &used, &count, why, sizeof why),
        ST_OK, "%s", why);
    cr_assert_eq(count, 1300 - rec.first_lsn + 1);
    check_frames(buf, used, count, rec.first_lsn, 6);
    st_wal_reader_close(r);
    st_wal_close(wal);
    // Without files (sync mode none) the log starts there too.
    wt_config(&cfg, NULL, NULL, NULL);
    cfg.sync_mode = ST_WAL_SYNC_NONE;
    cfg.first_lsn = 77;
    cr_assert_eq(st_wal_open(&cfg, &wal, &rec), ST_OK, "%s", rec.message);
    uint64_t lsn = 0;
    cr_assert_eq(st_wal_append(wal, buf, 8, &lsn), ST_OK);
    cr_assert_eq(lsn, 77);
    st_wal_close(wal);
}

// A writer thread appends and publishes its durable LSN, as a shard worker
// does; the test's thread ships what is durable with one cursor, in small
// pieces, while the log grows and rolls under it.
typedef struct live_log {
    st_wal *wal;
    uint64_t records;
    _Atomic uint64_t durable;
    _Atomic bool done;
    _Atomic int failed; // an st_err from the writer (0: none)
} live_log;

static void *
live_writer(void *arg)
{
    live_log *l = arg;
    uint8_t p[WT_PAYLOAD_MAX];
    for (uint64_t i = 0; i < l->records && atomic_load(&l->failed) == 0; i++) {
        st_wal_stats ws;
        st_wal_stats_get(l->wal, &ws);
        uint32_t len = wt_payload(12, ws.next_lsn, p);
        uint64_t lsn, durable;
        st_err err;
        while ((err = st_wal_append(l->wal, p, len, &lsn)) == ST_BUSY) {
            if (st_wal_poll(l->wal, &durable) != ST_OK)
                break;
            atomic_store(&l->durable, durable);
        }
        if (err == ST_OK && i % 5 == 4)
            err = st_wal_commit(l->wal);
        if (err == ST_OK)
            err = st_wal_poll(l->wal, &durable);
        if (err != ST_OK)
            atomic_store(&l->failed, (int)err);
        else
            atomic_store(&l->durable, durable);
    }
    st_err err = st_wal_wait(l->wal);
    if (err != ST_OK)
        atomic_store(&l->failed, (int)err);
    st_wal_stats ws;
    st_wal_stats_get(l->wal, &ws);
    atomic_store(&l->durable, ws.durable_lsn);
    atomic_store(&l->done, true);
    return NULL;
}

Test(wal_reader, ships_a_log_while_its_worker_appends)
{
    live_log l = {.wal = open_log(0), .records = 3000};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, live_writer, &l), 0);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    static uint8_t buf[2048];
    uint64_t next = 1, calls = 0;
    for (;;) {
        bool done = atomic_load(&l.done); // before durable: then durable is final
        uint64_t durable = atomic_load(&l.durable);
        size_t used;
        uint32_t count;
        char why[512];
        st_err err =
            st_wal_reader_read(r, next, durable, buf, sizeof buf, &used, &count, why, sizeof why);
        cr_assert_eq(err, ST_OK, "at %llu upto %llu: %s: %s", (unsigned long long)next,
                     (unsigned long long)durable, st_err_str(err), why);
        check_frames(buf, used, count, next, 12);
        next += count;
        calls++;
        if (done && next > durable)
            break;
        if (count == 0)
            sched_yield();
    }
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(atomic_load(&l.failed), 0);
    cr_assert_eq(next, l.records + 1);
    cr_assert_gt(calls, 100);
    st_wal_reader_close(r);
    st_wal_close(l.wal);
}

// append_whole appends a checked frame to the log `arg` as it is; LSN 5 is
// first offered out of turn, and refused.
static void
append_whole(void *arg, const st_wal_frame *f)
{
    st_wal *to = arg;
    uint64_t lsn = 0;
    if (f->lsn == 5) {
        st_wal_frame later = *f;
        later.lsn = f->lsn + 1;
        cr_assert_eq(st_wal_append_frame(to, &later, &lsn), ST_INVALID_ARGUMENT);
    }
    st_err err = st_wal_append_frame(to, f, &lsn);
    if (err == ST_BUSY) {
        cr_assert_eq(st_wal_wait(to), ST_OK);
        err = st_wal_append_frame(to, f, &lsn);
    }
    cr_assert_eq(err, ST_OK, "LSN %llu: %s", (unsigned long long)f->lsn, st_err_str(err));
    cr_assert_eq(lsn, f->lsn);
}

// A follower appends the frames its leader's reader shipped as they are
// (st_wal_append_frame): every record of its log is byte for byte the
// leader's, and a frame that is not its next LSN is refused.
Test(wal_reader, frames_appended_whole_make_the_same_log)
{
    st_wal *wal = open_log(0);
    uint64_t last = wt_append_n(wal, 11, 700); // 64 KiB segments: several rolls
    cr_assert_eq(st_wal_wait(wal), ST_OK);
    st_wal_close(wal);

    char copy[256];
    wt_tmpdir(copy, sizeof copy);
    st_wal_config cfg;
    wt_config(&cfg, copy, NULL, NULL);
    st_wal_recovery rec;
    st_wal *to = NULL;
    cr_assert_eq(st_wal_open(&cfg, &to, &rec), ST_OK, "open: %s", rec.message);
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &r), ST_OK);
    each_frame(r, last, 8192, append_whole, to);
    st_wal_reader_close(r);
    cr_assert_eq(st_wal_wait(to), ST_OK);
    st_wal_close(to);

    // Record for record the same bytes (the files may roll elsewhere: a
    // batch never spans segments, and each log has batches of its own).
    st_wal_reader *ra = NULL, *rb = NULL;
    cr_assert_eq(st_wal_reader_open(dir, 0, &ra), ST_OK);
    cr_assert_eq(st_wal_reader_open(copy, 0, &rb), ST_OK);
    static uint8_t fa[1024], fb[1024];
    for (uint64_t lsn = 1; lsn <= last; lsn++) {
        size_t na, nb;
        uint32_t ca, cb;
        char why[512];
        cr_assert_eq(st_wal_reader_read(ra, lsn, lsn, fa, sizeof fa, &na, &ca, why, sizeof why),
                     ST_OK, "%s", why);
        cr_assert_eq(st_wal_reader_read(rb, lsn, lsn, fb, sizeof fb, &nb, &cb, why, sizeof why),
                     ST_OK, "copy: %s", why);
        cr_assert(ca == 1 && cb == 1 && na == nb, "LSN %llu", (unsigned long long)lsn);
        cr_assert_eq(memcmp(fa, fb, na), 0, "LSN %llu: the same bytes", (unsigned long long)lsn);
    }
    st_wal_reader_close(ra);
    st_wal_reader_close(rb);
    wt_rmrf(copy);
}
