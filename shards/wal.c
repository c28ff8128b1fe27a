// wal.c - the write-ahead log of one shard worker (API and rules in wal.h).
//
// ON-DISK FORMAT (version 1). All integers little-endian.
//
// A worker's log is the directory <data>/wal-<worker>/ holding segment files
// named <first LSN, 20 decimal digits, zero-padded>.seg, e.g.
// 00000000000000000001.seg. Each is preallocated (fallocate) to the segment
// size in force when it was created (default 64 MiB), so unwritten space
// reads as zeros. LSNs start at 1 (or at st_wal_config.first_lsn, for a
// follower's log emptied for a snapshot; after st_wal_truncate_before the
// first segment starts later anyway) and increase by one per record, with no
// gap, across segments: a segment starts with the LSN after its predecessor's
// last. A record's bytes, its FRAME, are also what a leader ships to followers
// (wal_reader.c), checked by st_wal_frame_check with the rules below.
//
// Segment header, 64 bytes at offset 0:
//
//     offset  size  field
//          0     8  magic "STWAL001" (ASCII, no NUL)
//          8     4  format version, 1
//         12     4  worker id
//         16     8  first LSN (equals the file name)
//         24     8  segment bytes at creation (informational)
//         32    24  reserved, zero
//         56     8  XXH3-64 (seed 0) of bytes 0..55
//
// Records follow from offset 64, each starting 8-aligned:
//
//     offset  size  field
//          0     4  payload length L, 1 <= L <= 16 MiB (ST_WAL_PAYLOAD_BYTES_MAX)
//          4     4  flags, 0 (reserved: a reader rejects other values)
//          8     8  LSN
//         16     8  XXH3-64 (seed 0) of record bytes 0..15 followed by the L
//                   payload bytes (one hash over that 16 + L byte string)
//         24     L  payload: one protobuf stocktwin.LogEntry (proto/stocktwin.proto)
//       24+L     P  zero padding, P = (8 - (24 + L) % 8) % 8
//
// A record never straddles segments: one that does not fit the rest of a
// segment goes to a new segment. A zero length word where a record could
// start (or fewer than 24 bytes left) ends the data of a segment.
//
// VALIDITY. A record at offset o of a segment of S bytes is valid iff
// 1 <= L <= 16 MiB, o + 24 + L <= S, flags == 0, LSN == the expected next LSN
// and the checksum matches. A segment header is valid iff magic, version,
// worker id and checksum match and first LSN == the expected next LSN.
//
// RECOVERY reads the segments in LSN order. At the first point where the log
// stops being valid (a bad header, an invalid record, or a zero length word):
//   - if a plausible record follows in the same segment (any 8-aligned offset
//     holding a record that passes length, fit, flags and checksum with an
//     LSN >= the expected one) or any later segment holds one, the log is
//     CORRUPT: st_wal_open refuses with ST_MALFORMED naming file, byte offset
//     and LSN, unless truncate_corrupt, which cuts there;
//   - otherwise a zero length word is simply the end of the segment's data
//     (the next segment continues the log), and anything else is a TORN TAIL:
//     it is cut, i.e. zeroed from the bad offset to the end of the file, and
//     later files (created by a roll whose first write never landed) are
//     removed. Both are reported in st_wal_recovery.
//
// WHY IT IS SAFE. A batch is acknowledged only after its write and a linked
// fdatasync (and, for a segment's first batch, an fsync of the directory)
// completed, and one submission is in flight at a time, so every acknowledged
// byte precedes every byte that may be torn. A batch never spans segments, so
// a later segment is written only after the earlier one is synced.
// Known limit: a crash in the middle of one multi-page write may persist a
// later page of that (unacknowledged) batch but not an earlier one; the rule
// above then reports corruption although nothing acknowledged is lost.
// docs/WAL.md discusses it and how an operator proceeds.
//
// Thread: the owning shard worker only.
#include "shards/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "shards/wal_janitor.h"

#define WAL_MAGIC "STWAL001"
#define WAL_VERSION 1u
#define WAL_HEADER_BYTES 64u
#define WAL_HEADER_SUM_AT 56u
#define WAL_RECORD_HEADER_BYTES 24u
#define WAL_RECORD_SUM_AT 16u
#define WAL_ALIGN 8u
#define WAL_NAME_DIGITS 20u
#define WAL_SEGMENT_BYTES_MAX (1ull << 30)
#define WAL_CQES_PER_POLL 8u

_Static_assert(sizeof(WAL_MAGIC) - 1 == 8, "magic is 8 bytes");
_Static_assert(WAL_HEADER_SUM_AT + 8 == WAL_HEADER_BYTES, "header checksum ends the header");
_Static_assert(WAL_RECORD_SUM_AT + 8 == WAL_RECORD_HEADER_BYTES, "checksum ends the record header");
_Static_assert(WAL_HEADER_BYTES % WAL_ALIGN == 0, "records after the header start aligned");
_Static_assert(WAL_RECORD_HEADER_BYTES % WAL_ALIGN == 0, "payloads start aligned");
_Static_assert(ST_WAL_SEGMENT_BYTES_MIN % WAL_ALIGN == 0, "segments end aligned");
_Static_assert(ST_WAL_SEGMENT_BYTES_DEFAULT % 4096u == 0, "segments are whole pages");
_Static_assert(ST_WAL_SEGMENT_BYTES_DEFAULT <= WAL_SEGMENT_BYTES_MAX, "default segment is allowed");
_Static_assert(ST_WAL_BATCH_BYTES_MIN > WAL_HEADER_BYTES + WAL_RECORD_HEADER_BYTES,
               "a batch holds a header and a record");
_Static_assert(ST_WAL_SEGMENT_BYTES_MIN > WAL_HEADER_BYTES + WAL_RECORD_HEADER_BYTES,
               "a segment holds a header and a record");
_Static_assert(ST_WAL_PAYLOAD_BYTES_MAX <= UINT32_MAX - WAL_RECORD_HEADER_BYTES - WAL_ALIGN,
               "record sizes fit in 32 bits");
_Static_assert(ST_WAL_BATCHES_DEFAULT >= 2 && ST_WAL_BATCHES_DEFAULT <= ST_WAL_BATCHES_MAX,
               "one batch fills while one syncs");
_Static_assert(ST_WAL_IO_OPS_MAX >= 3, "write, fdatasync and directory fsync fit a submission");
_Static_assert(ST_WAL_PATH_MAX > WAL_NAME_DIGITS + 16, "a segment path fits");
_Static_assert(ST_WAL_IO_OPS_MAX <= 0xff, "an op's index fits the low byte of its user_data");

// One segment file of the log. The fd stays open while the segment is the
// one being appended to or a batch still refers to it.
typedef struct wal_segment {
    uint64_t first_lsn;
    uint64_t bytes; // file size
    int fd;         // -1 when closed
    uint32_t refs;  // batches (not free) that write to it
} wal_segment;

// One batch buffer: bytes for one contiguous range of one segment, written by
// one submission.
typedef struct wal_batch {
    uint8_t *buf;
    uint32_t used;
    int fd;
    uint64_t seg_lsn;   // first LSN of its segment
    uint64_t off;       // file offset of buf[0]
    uint64_t first_lsn; // 0: no record (a sync-only batch)
    uint64_t last_lsn;
    uint64_t sync_covers_lsn; // set at submit when `sync`
    bool new_segment;         // starts with the header: fsync the directory too
    bool sealed;              // no more appends; may be submitted
    bool sync;                // link an fdatasync
} wal_batch;

struct st_wal {
    char dir[ST_WAL_PATH_MAX];
    uint32_t worker_id;
    st_wal_sync_mode mode;
    uint64_t segment_bytes;
    uint32_t batch_bytes;
    uint32_t nbatches;
    uint32_t payload_max;
    uint32_t sync_interval_ms;
    st_wal_io *io;
    bool io_owned;
    st_wal_janitor *janitor; // borrowed; NULL: removals in st_wal_truncate_before
    int dir_fd;

    wal_segment *segs; // in LSN order; the last is the one appended to
    uint32_t seg_count, seg_cap;
    uint64_t tail_off; // where the next record goes in the last segment
    uint64_t next_lsn;
    uint64_t written_lsn, synced_lsn, durable_lsn;

    wal_batch batches[ST_WAL_BATCHES_MAX]; // ring: head is the oldest
    uint32_t head, used;

    // The one submission in flight: the head batch.
    bool inflight;
    uint32_t pending; // completions still to reap
    uint64_t gen;     // submission number, in user_data
    st_wal_io_kind kinds[ST_WAL_IO_OPS_MAX];
    uint32_t op_err_idx; // lowest failing op, ST_WAL_IO_OPS_MAX: none
    int32_t op_err_res;
    bool op_short;

    // Group commit: a commit while a submission is in flight leaves the
    // filling batch open, so that every commit made meanwhile shares the next
    // write and fdatasync; reap seals it when the one in flight completes.
    bool commit_pending;
    bool reserved; // st_wal_reserve made room that no append has used yet

    bool sync_due; // batch mode: the next submission fdatasyncs
    uint64_t last_sync_ms;
    uint64_t commits;

    bool failed;
    bool retryable;
    int err_no;
    char err_msg[ST_WAL_PATH_MAX + 128];
};

static bool parse_name(const char *name, uint64_t *lsn_out);

// ---------------------------------------------------------------------------
// Encoding.

static void
put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t
record_bytes(uint32_t len)
{
    uint32_t n = WAL_RECORD_HEADER_BYTES + len;
    return (n + WAL_ALIGN - 1) & ~(WAL_ALIGN - 1);
}

// record_sum is the record checksum: XXH3-64 of header bytes 0..15 and the
// payload, as if they were one string (streaming equals one-shot XXH3). A
// short record is hashed in one shot from a copy: XXH3's streaming state
// costs several times the hash of a ~100-byte log entry, and every record
// is hashed when it is written, replayed and shipped.
#define WAL_SUM_COPY_MAX 496u // payload bytes hashed from a stack copy

static uint64_t
record_sum(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
    if (len <= WAL_SUM_COPY_MAX) {
        uint8_t buf[WAL_RECORD_SUM_AT + WAL_SUM_COPY_MAX];
        memcpy(buf, hdr, WAL_RECORD_SUM_AT);
        memcpy(buf + WAL_RECORD_SUM_AT, payload, len);
        return XXH3_64bits(buf, WAL_RECORD_SUM_AT + len);
    }
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr, WAL_RECORD_SUM_AT);
    XXH3_64bits_update(&st, payload, len);
    return XXH3_64bits_digest(&st);
}

// encode_record writes the framed record into dst (record_bytes(len) bytes,
// padding included).
static void
encode_record(uint8_t *dst, uint64_t lsn, const void *payload, uint32_t len)
{
    ST_ASSERT(lsn > 0 && len > 0);
    uint32_t total = record_bytes(len);
    put_u32(dst, len);
    put_u32(dst + 4, 0);
    put_u64(dst + 8, lsn);
    memcpy(dst + WAL_RECORD_HEADER_BYTES, payload, len);
    memset(dst + WAL_RECORD_HEADER_BYTES + len, 0, total - WAL_RECORD_HEADER_BYTES - len);
    put_u64(dst + WAL_RECORD_SUM_AT, record_sum(dst, dst + WAL_RECORD_HEADER_BYTES, len));
}

static void
encode_header(uint8_t *dst, uint32_t worker_id, uint64_t first_lsn, uint64_t segment_bytes)
{
    ST_ASSERT(first_lsn > 0);
    memset(dst, 0, WAL_HEADER_BYTES);
    memcpy(dst, WAL_MAGIC, 8);
    put_u32(dst + 8, WAL_VERSION);
    put_u32(dst + 12, worker_id);
    put_u64(dst + 16, first_lsn);
    put_u64(dst + 24, segment_bytes);
    put_u64(dst + WAL_HEADER_SUM_AT, XXH3_64bits(dst, WAL_HEADER_SUM_AT));
}

// header_valid checks a segment header read from disk against what the log
// expects there.
static bool
header_valid(const uint8_t *p, uint64_t size, uint32_t worker_id, uint64_t first_lsn)
{
    if (size < WAL_HEADER_BYTES || memcmp(p, WAL_MAGIC, 8) != 0)
        return false;
    if (get_u64(p + WAL_HEADER_SUM_AT) != XXH3_64bits(p, WAL_HEADER_SUM_AT))
        return false;
    return get_u32(p + 8) == WAL_VERSION && get_u32(p + 12) == worker_id &&
           get_u64(p + 16) == first_lsn;
}

// frame_fail writes a sentence into why (when the caller wants one: the
// recovery scan tries every 8-aligned offset and must not pay for formatting)
// and returns false.
static bool __attribute__((format(printf, 3, 4)))
frame_fail(char *why, size_t why_len, const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

// frame_decode is THE record check, shared by recovery (record_plausible) and
// by everything that receives frames (st_wal_frame_check): it checks all of
// VALIDITY above but the LSN's exact value for the record at p, of which
// `avail` bytes are readable: length 1..ST_WAL_PAYLOAD_BYTES_MAX, the header
// and payload within avail (and the padding too when `padded`: a frame handed
// on as a whole), flags 0 and the checksum. It fills *f on success; why (may
// be NULL) gets the failed check otherwise.
static bool
frame_decode(const uint8_t *p, uint64_t avail, bool padded, st_wal_frame *f, char *why,
             size_t why_len)
{
    if (avail < WAL_RECORD_HEADER_BYTES)
        return frame_fail(why, why_len, "%" PRIu64 " bytes are less than a frame header (%u)",
                          avail, WAL_RECORD_HEADER_BYTES);
    uint32_t len = get_u32(p);
    uint64_t lsn = get_u64(p + 8);
    if (len == 0 || len > ST_WAL_PAYLOAD_BYTES_MAX)
        return frame_fail(why, why_len,
                          "frame of LSN %" PRIu64 ": payload length %" PRIu32 " is outside 1..%u",
                          lsn, len, ST_WAL_PAYLOAD_BYTES_MAX);
    uint64_t need = padded ? record_bytes(len) : (uint64_t)WAL_RECORD_HEADER_BYTES + len;
    if (need > avail)
        return frame_fail(why, why_len,
                          "frame of LSN %" PRIu64 ": %" PRIu64 " bytes, only %" PRIu64 " left", lsn,
                          need, avail);
    if (get_u32(p + 4) != 0)
        return frame_fail(why, why_len, "frame of LSN %" PRIu64 ": flags %#" PRIx32 " (must be 0)",
                          lsn, get_u32(p + 4));
    if (get_u64(p + WAL_RECORD_SUM_AT) != record_sum(p, p + WAL_RECORD_HEADER_BYTES, len))
        return frame_fail(why, why_len, "frame of LSN %" PRIu64 ": checksum mismatch", lsn);
    f->lsn = lsn;
    f->payload = p + WAL_RECORD_HEADER_BYTES;
    f->payload_len = len;
    f->bytes = record_bytes(len);
    ST_ASSERT(f->bytes % WAL_ALIGN == 0 && f->bytes > WAL_RECORD_HEADER_BYTES);
    return true;
}

// record_plausible checks everything but the LSN's exact value of the record
// at `off` of a segment image of `size` bytes; it returns its LSN, 0 if the
// bytes are not a whole record with a matching checksum.
static uint64_t
record_plausible(const uint8_t *seg, uint64_t size, uint64_t off)
{
    st_wal_frame f;
    if (off >= size || !frame_decode(seg + off, size - off, false, &f, NULL, 0))
        return 0;
    return f.lsn;
}

uint32_t
st_wal_frame_bytes(uint32_t len)
{
    ST_ASSERT(len <= ST_WAL_PAYLOAD_BYTES_MAX);
    return record_bytes(len);
}

st_err
st_wal_frame_check(const void *buf, size_t len, uint64_t expected_lsn, st_wal_frame *out, char *why,
                   size_t why_len)
{
    ST_ASSERT(buf != NULL || len == 0);
    st_wal_frame f;
    if (!frame_decode(buf, len, true, &f, why, why_len))
        return ST_MALFORMED;
    if (f.lsn == 0 || (expected_lsn != 0 && f.lsn != expected_lsn)) {
        frame_fail(why, why_len, "frame has LSN %" PRIu64 ", expected %" PRIu64, f.lsn,
                   expected_lsn);
        return ST_MALFORMED;
    }
    *out = f;
    return ST_OK;
}

st_err
st_wal_frames_last(const void *buf, size_t len, uint64_t first_lsn, uint32_t count,
                   st_wal_frame *out, char *why, size_t why_len)
{
    ST_ASSERT(buf != NULL || len == 0);
    const uint8_t *p = buf;
    size_t at = 0, last = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (len - at < WAL_RECORD_HEADER_BYTES) {
            frame_fail(why, why_len, "%zu bytes hold %" PRIu32 " of %" PRIu32 " frames", len, i,
                       count);
            return ST_MALFORMED;
        }
        uint32_t n = get_u32(p + at);
        if (n == 0 || n > ST_WAL_PAYLOAD_BYTES_MAX || record_bytes(n) > len - at) {
            frame_fail(why, why_len,
                       "frame %" PRIu32 " of %" PRIu32 ": payload length %" PRIu32 " does not fit",
                       i + 1, count, n);
            return ST_MALFORMED;
        }
        last = at;
        at += record_bytes(n);
    }
    if (count == 0 || at != len) {
        frame_fail(why, why_len, "%" PRIu32 " frames take %zu of %zu bytes", count, at, len);
        return ST_MALFORMED;
    }
    return st_wal_frame_check(p + last, len - last, first_lsn + count - 1, out, why, why_len);
}

bool
st_wal_header_check(const void *buf, size_t len, uint32_t worker_id, uint64_t first_lsn)
{
    return header_valid(buf, len, worker_id, first_lsn);
}

st_err
st_wal_remove_all(const char *data_dir, uint32_t worker_id)
{
    char dir[ST_WAL_PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s/wal-%" PRIu32, data_dir, worker_id);
    if (n < 0 || (size_t)n >= sizeof dir)
        return ST_INVALID_ARGUMENT;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? ST_OK : ST_IO;
    struct dirent *e;
    st_err err = ST_OK;
    while ((e = readdir(d)) != NULL) {
        uint64_t lsn;
        if (parse_name(e->d_name, &lsn) && unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT)
            err = ST_IO;
    }
    if (fsync(dirfd(d)) != 0)
        err = ST_IO;
    closedir(d);
    return err;
}

bool
st_wal_segment_path(const char *data_dir, uint32_t worker_id, uint64_t first_lsn, char *buf,
                    uint32_t size)
{
    ST_ASSERT(data_dir != NULL && buf != NULL);
    int n = snprintf(buf, size, "%s/wal-%" PRIu32 "/%020" PRIu64 ".seg", data_dir, worker_id,
                     first_lsn);
    return n > 0 && (uint32_t)n < size;
}

static void
seg_path(const st_wal *wal, uint64_t first_lsn, char *buf, uint32_t size)
{
    int n = snprintf(buf, size, "%s/%020" PRIu64 ".seg", wal->dir, first_lsn);
    ST_ASSERT(n > 0 && (uint32_t)n < size); // the directory length was checked at open
}

// ---------------------------------------------------------------------------
// Failure state.

static void set_error(st_wal *wal, int err_no, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_error(st_wal *wal, int err_no, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wal->err_msg, sizeof(wal->err_msg), fmt, ap);
    va_end(ap);
    wal->err_no = err_no;
}

const char *
st_wal_last_error(const st_wal *wal, int *errno_out)
{
    ST_ASSERT(wal != NULL);
    if (errno_out != NULL)
        *errno_out = wal->err_no;
    return wal->err_msg;
}

void
st_wal_stats_get(const st_wal *wal, st_wal_stats *out)
{
    ST_ASSERT(wal != NULL && out != NULL);
    *out = (st_wal_stats){
        .next_lsn = wal->next_lsn,
        .durable_lsn = wal->durable_lsn,
        .synced_lsn = wal->synced_lsn,
        .commits = wal->commits,
        .buffer_bytes =
            wal->mode == ST_WAL_SYNC_NONE ? 0 : (uint64_t)wal->nbatches * wal->batch_bytes,
        .batches_used = wal->used,
        .segments = wal->seg_count,
        .failed = wal->failed,
    };
}

uint32_t
st_wal_payload_bytes_max(const st_wal *wal)
{
    ST_ASSERT(wal != NULL);
    return wal->payload_max;
}

// ---------------------------------------------------------------------------
// Segments and batches.

static wal_segment *
seg_find(st_wal *wal, uint64_t first_lsn)
{
    for (uint32_t i = wal->seg_count; i-- > 0;) {
        if (wal->segs[i].first_lsn == first_lsn)
            return &wal->segs[i];
    }
    ST_ASSERT(!"batch refers to a segment that is gone");
    return NULL;
}

static wal_segment *
seg_current(st_wal *wal)
{
    ST_ASSERT(wal->seg_count > 0);
    return &wal->segs[wal->seg_count - 1];
}

// seg_release closes a segment's file once no batch writes to it and it is no
// longer the one appended to: only a bounded number of fds stay open.
static void
seg_release(st_wal *wal, wal_segment *seg)
{
    ST_ASSERT(seg->refs > 0);
    seg->refs--;
    if (seg->refs == 0 && seg != seg_current(wal) && seg->fd >= 0) {
        wal->io->vt->close(wal->io, seg->fd);
        seg->fd = -1;
    }
}

static void
seg_push(st_wal *wal, uint64_t first_lsn, uint64_t bytes, int fd)
{
    if (wal->seg_count == wal->seg_cap) {
        wal->seg_cap = wal->seg_cap ? wal->seg_cap * 2 : 8;
        wal->segs = st_realloc(wal->segs, wal->seg_cap * sizeof(wal->segs[0]));
    }
    wal->segs[wal->seg_count++] = (wal_segment){.first_lsn = first_lsn, .bytes = bytes, .fd = fd};
    ST_ASSERT(wal->seg_count <= wal->seg_cap);
}

static wal_batch *
batch_at(st_wal *wal, uint32_t i)
{
    ST_ASSERT(i < wal->used);
    return &wal->batches[(wal->head + i) % wal->nbatches];
}

// batch_filling is the batch appends go to, NULL if there is none.
static wal_batch *
batch_filling(st_wal *wal)
{
    if (wal->used == 0)
        return NULL;
    wal_batch *b = batch_at(wal, wal->used - 1);
    return b->sealed ? NULL : b;
}

// batch_take starts a new batch at the end of the current segment; when the
// segment is new (tail_off 0), the batch starts with its header.
static wal_batch *
batch_take(st_wal *wal)
{
    ST_ASSERT(wal->used < wal->nbatches);
    wal_segment *seg = seg_current(wal);
    wal_batch *b = &wal->batches[(wal->head + wal->used) % wal->nbatches];
    wal->used++;
    uint8_t *buf = b->buf;
    *b = (wal_batch){.buf = buf,
                     .fd = seg->fd,
                     .seg_lsn = seg->first_lsn,
                     .off = wal->tail_off,
                     .sync = wal->mode == ST_WAL_SYNC_FSYNC};
    seg->refs++;
    if (wal->tail_off == 0) {
        encode_header(b->buf, wal->worker_id, seg->first_lsn, seg->bytes);
        b->used = WAL_HEADER_BYTES;
        b->new_segment = true;
        wal->tail_off = WAL_HEADER_BYTES;
    }
    return b;
}

// batch_free releases the head batch after its submission succeeded.
static void
batch_free(st_wal *wal)
{
    ST_ASSERT(wal->used > 0 && !wal->inflight);
    wal_batch *b = batch_at(wal, 0);
    seg_release(wal, seg_find(wal, b->seg_lsn));
    wal->head = (wal->head + 1) % wal->nbatches;
    wal->used--;
}

// batch_sync_only queues an empty batch whose submission is just an
// fdatasync of the current segment (batch mode: periodic sync, a roll).
static void
batch_sync_only(st_wal *wal)
{
    wal_batch *b = batch_take(wal);
    ST_ASSERT(!b->new_segment);
    b->sync = true;
    b->sealed = true;
}

// ---------------------------------------------------------------------------
// Submission and completion.

static void
fail(st_wal *wal, bool retryable)
{
    wal->failed = true;
    wal->retryable = retryable;
}

// seal_open ends the filling batch, if any, for submission: the commits
// deferred while a submission was in flight go out together.
static void
seal_open(st_wal *wal)
{
    wal_batch *b = batch_filling(wal);
    if (b != NULL)
        b->sealed = true;
    wal->commit_pending = false;
}

// submit_head sends the oldest batch when it is ended and nothing is in
// flight: one submission at a time keeps every acknowledged byte before every
// byte that a crash may tear (see the top of the file).
static void
submit_head(st_wal *wal)
{
    if (wal->failed || wal->inflight || wal->used == 0 || !batch_at(wal, 0)->sealed)
        return;
    wal_batch *b = batch_at(wal, 0);
    if (wal->sync_due)
        b->sync = true;
    st_wal_io_op ops[ST_WAL_IO_OPS_MAX];
    uint32_t n = 0;
    wal->gen++;
    if (b->used > 0)
        ops[n++] = (st_wal_io_op){
            .kind = ST_WAL_IO_WRITE, .fd = b->fd, .buf = b->buf, .len = b->used, .off = b->off};
    if (b->sync)
        ops[n++] = (st_wal_io_op){.kind = ST_WAL_IO_FDATASYNC, .fd = b->fd};
    if (b->new_segment)
        ops[n++] = (st_wal_io_op){.kind = ST_WAL_IO_FSYNC, .fd = wal->dir_fd};
    ST_ASSERT(n > 0 && n <= ST_WAL_IO_OPS_MAX);
    for (uint32_t i = 0; i < n; i++) {
        ops[i].user_data = (wal->gen << 8) | i;
        wal->kinds[i] = ops[i].kind;
    }
    b->sync_covers_lsn = b->last_lsn ? b->last_lsn : wal->written_lsn;
    int rc = wal->io->vt->submit(wal->io, ops, n, true);
    if (rc < 0) {
        set_error(wal, -rc, "wal %s: submit: %s", wal->dir, strerror(-rc));
        fail(wal, true); // nothing was queued: trying again is harmless
        return;
    }
    if (b->sync)
        wal->sync_due = false;
    wal->inflight = true;
    wal->pending = n;
    wal->op_err_idx = ST_WAL_IO_OPS_MAX;
    wal->op_short = false;
}

// on_cqe records the outcome of one op of the submission in flight; the
// lowest failing op decides the error (later linked ops are only cancelled).
static void
on_cqe(st_wal *wal, const st_wal_io_cqe *cqe)
{
    ST_ASSERT(wal->inflight && wal->pending > 0);
    ST_ASSERT((cqe->user_data >> 8) == wal->gen);
    uint32_t idx = (uint32_t)(cqe->user_data & 0xff);
    ST_ASSERT(idx < ST_WAL_IO_OPS_MAX);
    wal->pending--;
    bool bad = cqe->res < 0;
    bool short_write = false;
    if (!bad && wal->kinds[idx] == ST_WAL_IO_WRITE && (uint32_t)cqe->res != batch_at(wal, 0)->used)
        short_write = bad = true;
    if (bad && idx < wal->op_err_idx) {
        wal->op_err_idx = idx;
        wal->op_err_res = cqe->res;
        wal->op_short = short_write;
    }
}

static void
on_submission_failed(st_wal *wal)
{
    wal_batch *b = batch_at(wal, 0);
    const char *what = wal->kinds[wal->op_err_idx] == ST_WAL_IO_WRITE ? "write" : "fdatasync";
    if (wal->kinds[wal->op_err_idx] == ST_WAL_IO_FSYNC)
        what = "directory fsync";
    if (wal->op_short) {
        set_error(wal, 0,
                  "wal %s: short write at segment %020" PRIu64 " offset %" PRIu64 ": %d of %" PRIu32
                  " bytes",
                  wal->dir, b->seg_lsn, b->off, wal->op_err_res, b->used);
        fail(wal, true);
        return;
    }
    int e = -wal->op_err_res;
    set_error(wal, e,
              "wal %s: %s at segment %020" PRIu64 " offset %" PRIu64 " (lsn %" PRIu64 "..%" PRIu64
              "): %s",
              wal->dir, what, b->seg_lsn, b->off, b->first_lsn, b->last_lsn, strerror(e));
    // Only a write that found no space may be tried again: after a failed
    // fdatasync the kernel may have dropped the dirty pages and a second
    // fdatasync would succeed without the data ("fsyncgate").
    bool write_failed = wal->kinds[wal->op_err_idx] == ST_WAL_IO_WRITE;
    fail(wal, write_failed && (e == ENOSPC || e == EDQUOT));
}

// on_submission_done runs once every completion of the submission is in.
static void
on_submission_done(st_wal *wal)
{
    ST_ASSERT(wal->inflight && wal->pending == 0);
    wal->inflight = false;
    if (wal->op_err_idx < ST_WAL_IO_OPS_MAX) {
        on_submission_failed(wal);
        return;
    }
    wal_batch *b = batch_at(wal, 0);
    if (b->last_lsn > 0)
        wal->written_lsn = b->last_lsn;
    if (b->sync && b->sync_covers_lsn > wal->synced_lsn)
        wal->synced_lsn = b->sync_covers_lsn;
    wal->durable_lsn = wal->mode == ST_WAL_SYNC_FSYNC ? wal->synced_lsn : wal->written_lsn;
    wal->commits++;
    batch_free(wal);
    ST_ASSERT(wal->durable_lsn < wal->next_lsn);
}

// reap takes what completions there are (with `wait`, at least one, if a
// submission is in flight) and submits the next ended batch. Returns the io's
// -errno, or 0.
static int
reap(st_wal *wal, bool wait)
{
    st_wal_io_cqe cqes[WAL_CQES_PER_POLL];
    if (wal->inflight) {
        int n = wal->io->vt->reap(wal->io, cqes, WAL_CQES_PER_POLL, wait);
        if (n < 0)
            return n;
        for (int i = 0; i < n; i++) {
            on_cqe(wal, &cqes[i]);
            if (wal->pending == 0)
                on_submission_done(wal);
        }
    }
    // A sync that came due while the last batch was in flight goes out now,
    // rather than waiting for the next tick.
    if (wal->sync_due && !wal->inflight && !wal->failed && wal->used == 0 &&
        wal->synced_lsn < wal->written_lsn)
        batch_sync_only(wal);
    // Batches ended by a full buffer or a roll go out without waiting for
    // the next commit; then the commits deferred while one was in flight
    // (never between a reserve and its append: that room must stay).
    submit_head(wal);
    if (wal->commit_pending && !wal->inflight && !wal->failed && !wal->reserved) {
        seal_open(wal);
        submit_head(wal);
    }
    ST_ASSERT(wal->inflight || wal->failed || wal->used == 0 || !batch_at(wal, 0)->sealed);
    return 0;
}

// ---------------------------------------------------------------------------
// Appending.

// segment_create makes the file of the segment starting at next_lsn, and
// makes it the current one. Synchronous (open + fallocate, once per segment);
// its header goes out with the segment's first batch. ST_IO leaves the log as
// it was.
static st_err
segment_create(st_wal *wal)
{
    char path[ST_WAL_PATH_MAX];
    seg_path(wal, wal->next_lsn, path, sizeof(path));
    int fd = -1;
    int rc = wal->io->vt->open(wal->io, path, true, &fd);
    if (rc < 0)
        goto fail;
    rc = wal->io->vt->preallocate(wal->io, fd, wal->segment_bytes);
    if (rc < 0) {
        wal->io->vt->close(wal->io, fd);
        wal->io->vt->unlink(wal->io, path);
        goto fail;
    }
    if (wal->seg_count > 0) {
        wal_segment *old = seg_current(wal);
        if (old->refs == 0 && old->fd >= 0) {
            wal->io->vt->close(wal->io, old->fd);
            old->fd = -1;
        }
    }
    seg_push(wal, wal->next_lsn, wal->segment_bytes, fd);
    wal->tail_off = 0;
    return ST_OK;
fail:
    set_error(wal, -rc, "wal: cannot create segment %s: %s", path, strerror(-rc));
    return ST_IO;
}

static st_err
append_none(st_wal *wal, uint64_t *lsn_out)
{
    ST_ASSERT(wal->mode == ST_WAL_SYNC_NONE);
    *lsn_out = wal->next_lsn++;
    wal->written_lsn = wal->synced_lsn = wal->durable_lsn = *lsn_out;
    return ST_OK;
}

// append_make_room ends the batch being filled when the record does not fit
// it or the segment, and starts a new batch (in a new segment if needed).
// ST_BUSY and ST_IO change nothing that matters: at most a batch was ended.
static st_err
append_make_room(st_wal *wal, uint32_t rec, wal_batch **b_out)
{
    wal_batch *b = batch_filling(wal);
    bool roll = wal->tail_off + rec > seg_current(wal)->bytes;
    if (b != NULL && !roll && b->used + rec <= wal->batch_bytes) {
        *b_out = b;
        return ST_OK;
    }
    // In batch mode the old segment must be synced before the new one is
    // written (a batch never spans segments): the last batch of the old
    // segment carries an fdatasync, or an empty sync-only batch does.
    bool sync_only = roll && wal->mode == ST_WAL_SYNC_BATCH && b == NULL;
    if (wal->used + 1 + (sync_only ? 1 : 0) > wal->nbatches)
        return ST_BUSY;
    if (sync_only)
        batch_sync_only(wal);
    if (roll) {
        st_err err = segment_create(wal);
        if (err != ST_OK)
            return err;
    }
    if (b != NULL) {
        b->sealed = true;
        b->sync = b->sync || roll;
    }
    *b_out = batch_take(wal);
    ST_ASSERT(wal->tail_off + rec <= seg_current(wal)->bytes);
    return ST_OK;
}

// append_check refuses what no record may hold, and any append to a failed
// log.
static st_err
append_check(const st_wal *wal, uint32_t len)
{
    if (wal->failed)
        return ST_IO;
    if (len == 0)
        return ST_INVALID_ARGUMENT;
    if (len > wal->payload_max)
        return ST_TOO_LARGE;
    return ST_OK;
}

// append_one appends the record of a len-byte payload at the next LSN:
// framed from `payload`, or, with `frame` (a checked frame of that LSN and
// payload), copied as it is: its header and checksum stand.
static st_err
append_one(st_wal *wal, const void *payload, uint32_t len, const uint8_t *frame, uint64_t *lsn_out)
{
    st_err err = append_check(wal, len);
    if (err != ST_OK)
        return err;
    if (wal->mode == ST_WAL_SYNC_NONE)
        return append_none(wal, lsn_out);
    uint32_t rec = record_bytes(len);
    wal_batch *b = NULL;
    err = append_make_room(wal, rec, &b);
    if (err != ST_OK)
        return err;
    ST_ASSERT(b->off + b->used == wal->tail_off && b->used + rec <= wal->batch_bytes);
    uint64_t lsn = wal->next_lsn++;
    uint8_t *dst = b->buf + b->used;
    if (frame == NULL) {
        encode_record(dst, lsn, payload, len);
    } else {
        uint32_t framed = WAL_RECORD_HEADER_BYTES + len;
        memcpy(dst, frame, framed);
        memset(dst + framed, 0, rec - framed); // the padding, as encode_record writes it
    }
    b->used += rec;
    wal->tail_off += rec;
    wal->reserved = false;
    if (b->first_lsn == 0)
        b->first_lsn = lsn;
    b->last_lsn = lsn;
    *lsn_out = lsn;
    return ST_OK;
}

st_err
st_wal_append(st_wal *wal, const void *payload, uint32_t len, uint64_t *lsn_out)
{
    ST_ASSERT(wal != NULL && lsn_out != NULL);
    ST_ASSERT(payload != NULL || len == 0);
    return append_one(wal, payload, len, NULL, lsn_out);
}

st_err
st_wal_append_frame(st_wal *wal, const st_wal_frame *f, uint64_t *lsn_out)
{
    ST_ASSERT(wal != NULL && f != NULL && lsn_out != NULL);
    if (f->lsn != wal->next_lsn || f->payload_len == 0 || f->bytes != record_bytes(f->payload_len))
        return wal->failed ? ST_IO : ST_INVALID_ARGUMENT;
    return append_one(wal, f->payload, f->payload_len, f->payload - WAL_RECORD_HEADER_BYTES,
                      lsn_out);
}

st_err
st_wal_reserve(st_wal *wal, uint32_t len)
{
    ST_ASSERT(wal != NULL);
    st_err err = append_check(wal, len);
    if (err != ST_OK)
        return err;
    if (wal->mode == ST_WAL_SYNC_NONE)
        return ST_OK;
    wal_batch *b = NULL;
    err = append_make_room(wal, record_bytes(len), &b);
    ST_ASSERT(err != ST_OK || b == batch_filling(wal));
    wal->reserved = err == ST_OK;
    return err;
}

st_err
st_wal_commit(st_wal *wal)
{
    ST_ASSERT(wal != NULL);
    if (wal->failed)
        return ST_IO;
    if (wal->mode == ST_WAL_SYNC_NONE)
        return ST_OK;
    wal->reserved = false;
    wal_batch *b = batch_filling(wal);
    if (b != NULL && b->last_lsn == 0 && !b->new_segment) {
        // st_wal_reserve took it for a record that was never appended (the
        // event was refused): give it back rather than submit nothing.
        ST_ASSERT(b->used == 0 && b == batch_at(wal, wal->used - 1));
        seg_release(wal, seg_current(wal));
        wal->used--;
    } else if (b != NULL && wal->inflight) {
        wal->commit_pending = true; // goes out with the next submission (reap)
    } else if (b != NULL) {
        seal_open(wal);
    }
    submit_head(wal);
    return wal->failed ? ST_IO : ST_OK;
}

static st_err
reap_error(st_wal *wal, int rc)
{
    ST_ASSERT(rc < 0);
    set_error(wal, -rc, "wal %s: reaping completions: %s", wal->dir, strerror(-rc));
    fail(wal, false);
    return ST_IO;
}

st_err
st_wal_poll(st_wal *wal, uint64_t *durable_lsn_out)
{
    ST_ASSERT(wal != NULL);
    st_err err = ST_OK;
    if (wal->mode != ST_WAL_SYNC_NONE) {
        int rc = reap(wal, false);
        if (rc < 0 && rc != -EAGAIN && rc != -EINTR)
            err = reap_error(wal, rc);
    }
    if (durable_lsn_out != NULL)
        *durable_lsn_out = wal->durable_lsn;
    ST_ASSERT(wal->durable_lsn <= wal->written_lsn || wal->mode == ST_WAL_SYNC_NONE);
    return wal->failed ? ST_IO : err;
}

st_err
st_wal_tick(st_wal *wal, uint64_t now_ms)
{
    ST_ASSERT(wal != NULL);
    if (wal->mode != ST_WAL_SYNC_BATCH || wal->failed)
        return wal->failed ? ST_IO : ST_OK;
    if (wal->synced_lsn + 1 >= wal->next_lsn)
        return ST_OK; // nothing appended since the last sync
    if (now_ms - wal->last_sync_ms >= wal->sync_interval_ms || now_ms < wal->last_sync_ms) {
        wal->sync_due = true;
        wal->last_sync_ms = now_ms;
    }
    // With batches queued the next submission carries the fdatasync; with none,
    // only what is already written needs it.
    if (wal->sync_due && wal->used == 0 && wal->synced_lsn < wal->written_lsn) {
        batch_sync_only(wal);
        submit_head(wal);
    }
    return wal->failed ? ST_IO : ST_OK;
}

// wait_step makes progress towards "everything durable and synced" without
// waiting; false when there is nothing left to do.
static bool
wait_step(st_wal *wal)
{
    if (wal->inflight)
        return true;
    if (wal->used > 0) {
        if (!batch_at(wal, 0)->sealed)
            seal_open(wal); // the head is the batch a deferred commit left open
        submit_head(wal);
        return true;
    }
    if (wal->mode == ST_WAL_SYNC_BATCH && wal->synced_lsn < wal->written_lsn) {
        batch_sync_only(wal);
        submit_head(wal);
        return true;
    }
    return false;
}

st_err
st_wal_wait(st_wal *wal)
{
    ST_ASSERT(wal != NULL);
    if (wal->mode == ST_WAL_SYNC_NONE)
        return ST_OK;
    if (st_wal_commit(wal) != ST_OK)
        return ST_IO;
    if (wal->mode == ST_WAL_SYNC_BATCH)
        wal->sync_due = true;
    while (!wal->failed && wait_step(wal)) {
        if (wal->failed)
            break;
        int rc = reap(wal, true);
        if (rc == -EAGAIN)
            return ST_BUSY;
        if (rc < 0 && rc != -EINTR)
            return reap_error(wal, rc);
    }
    if (wal->failed)
        return ST_IO;
    ST_ASSERT(wal->durable_lsn + 1 == wal->next_lsn);
    return ST_OK;
}

st_err
st_wal_retry(st_wal *wal)
{
    ST_ASSERT(wal != NULL);
    if (!wal->failed)
        return ST_OK;
    if (!wal->retryable)
        return ST_IO;
    ST_ASSERT(!wal->inflight && wal->used > 0);
    wal->failed = false;
    wal->retryable = false;
    wal->err_no = 0;
    wal->err_msg[0] = '\0';
    submit_head(wal);
    return wal->failed ? ST_IO : ST_OK;
}

// truncate_by_janitor hands segments [0, k) to the janitor, oldest first;
// false when it could not take them (the caller removes them itself).
static bool
truncate_by_janitor(st_wal *wal, uint32_t k)
{
    enum { AT_ONCE = 64 };
    if (wal->janitor == NULL || k > AT_ONCE)
        return false;
    char paths[AT_ONCE][ST_WAL_PATH_MAX];
    const char *names[AT_ONCE];
    int fds[AT_ONCE];
    for (uint32_t i = 0; i < k; i++) {
        seg_path(wal, wal->segs[i].first_lsn, paths[i], sizeof(paths[i]));
        names[i] = paths[i];
        fds[i] = wal->segs[i].fd;
    }
    return st_wal_janitor_remove(wal->janitor, names, fds, k, wal->dir);
}

st_err
st_wal_truncate_before(st_wal *wal, uint64_t lsn)
{
    ST_ASSERT(wal != NULL);
    ST_ASSERT(lsn <= wal->durable_lsn + 1); // a snapshot covers durable records only
    uint32_t k = 0;
    while (k + 1 < wal->seg_count && wal->segs[k + 1].first_lsn <= lsn && wal->segs[k].refs == 0)
        k++;
    if (k == 0)
        return ST_OK;
    st_err err = ST_OK;
    if (!truncate_by_janitor(wal, k)) {
        // Oldest first, so that a crash in between leaves a log without a hole.
        uint32_t done = 0;
        for (; done < k; done++) {
            char path[ST_WAL_PATH_MAX];
            seg_path(wal, wal->segs[done].first_lsn, path, sizeof(path));
            int rc = wal->io->vt->unlink(wal->io, path);
            if (rc < 0) {
                set_error(wal, -rc, "wal: cannot remove %s: %s", path, strerror(-rc));
                err = ST_IO;
                break;
            }
            if (wal->segs[done].fd >= 0)
                wal->io->vt->close(wal->io, wal->segs[done].fd);
        }
        k = done;
        if (k > 0)
            wal->io->vt->sync_dir(wal->io, wal->dir);
    }
    memmove(wal->segs, wal->segs + k, (wal->seg_count - k) * sizeof(wal->segs[0]));
    wal->seg_count -= k;
    ST_ASSERT(wal->seg_count > 0 || wal->mode == ST_WAL_SYNC_NONE);
    return err;
}

// ---------------------------------------------------------------------------
// Recovery. Runs once in st_wal_open, before the worker serves: it may block.
// The same scan, with `wal` NULL, is the read-only st_wal_scan (the section
// at the end of the file): one validator for both, so that an offline check
// and the next start of the daemon can never disagree about a log.

typedef struct wal_scan {
    st_wal *wal; // NULL: read-only (st_wal_scan): nothing is cut, removed or kept
    const st_wal_config *cfg;
    st_wal_recovery *rec;
    const char *dir; // <data>/wal-<worker>, checked to leave room for a file name
    uint32_t worker_id;
    uint32_t kept;   // segments kept (a read-only scan: that recovery would keep)
    uint64_t *names; // first LSNs of the segment files, ascending
    uint32_t count;
    uint8_t *buf; // image of the segment being looked at
    uint64_t buf_cap;
    bool mapped;       // buf is a read-only mapping of buf_cap bytes (recovery)
    uint64_t expected; // LSN the next record must have
    uint64_t end_off;  // end of the data of the last kept segment
    uint64_t bytes_total, bytes_done;
} wal_scan;

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// parse_name accepts exactly "<20 digits>.seg"; other files are not ours.
static bool
parse_name(const char *name, uint64_t *lsn_out)
{
    if (strlen(name) != WAL_NAME_DIGITS + 4 || strcmp(name + WAL_NAME_DIGITS, ".seg") != 0)
        return false;
    uint64_t v = 0;
    for (uint32_t i = 0; i < WAL_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *lsn_out = v;
    return v > 0;
}

// scan_path, scan_open and scan_close give the scan its files: through the
// log's io when recovering, read-only POSIX calls for st_wal_scan (O_NOATIME
// where the owner allows it: the scan does not even touch access times).
static void
scan_path(const wal_scan *s, uint64_t first_lsn, char *buf, uint32_t size)
{
    int n = snprintf(buf, size, "%s/%020" PRIu64 ".seg", s->dir, first_lsn);
    ST_ASSERT(n > 0 && (uint32_t)n < size); // the directory length was checked
}

static int
scan_open(const wal_scan *s, const char *path, int *fd_out)
{
    if (s->wal != NULL)
        return s->wal->io->vt->open(s->wal->io, path, false, fd_out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    *fd_out = fd;
    return fd < 0 ? -errno : 0;
}

static void
scan_close(const wal_scan *s, int fd)
{
    if (s->wal != NULL)
        s->wal->io->vt->close(s->wal->io, fd);
    else
        close(fd);
}

// scan_keep records that segment i is kept, its data ending at `end_off`.
static void
scan_keep(wal_scan *s, uint32_t i, uint64_t size, uint64_t end_off)
{
    if (s->wal != NULL)
        seg_push(s->wal, s->names[i], size, -1);
    s->kept++;
    s->end_off = end_off;
    s->rec->bytes += end_off;
}

static st_err
scan_list(wal_scan *s)
{
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        int e = errno;
        snprintf(s->rec->message, sizeof(s->rec->message), "wal: cannot list %s: %s", s->dir,
                 strerror(e));
        return s->wal == NULL && e == ENOENT ? ST_NOT_FOUND : ST_IO;
    }
    uint32_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t lsn;
        if (!parse_name(e->d_name, &lsn))
            continue;
        if (s->count == cap) {
            cap = cap ? cap * 2 : 16;
            s->names = st_realloc(s->names, cap * sizeof(s->names[0]));
        }
        s->names[s->count++] = lsn;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0)
            s->bytes_total += (uint64_t)st.st_size;
    }
    closedir(d);
    if (s->count > 0)
        qsort(s->names, s->count, sizeof(s->names[0]), cmp_u64);
    s->rec->file_bytes = s->bytes_total;
    return ST_OK;
}

// scan_buf_free lets go of the segment image.
static void
scan_buf_free(wal_scan *s)
{
    if (s->mapped)
        munmap(s->buf, s->buf_cap);
    else
        st_free(s->buf);
    s->buf = NULL;
    s->buf_cap = 0;
    s->mapped = false;
}

// scan_map makes s->buf a read-only mapping of the segment (recovery only:
// the daemon owns its log, so no one shrinks a file under the mapping; the
// cut zeroes without changing the size). A mapping costs page-table entries
// where a read costs a copy of the whole segment, 12 % of a replay's samples.
// False: read it instead.
static bool
scan_map(wal_scan *s, int fd, uint64_t size)
{
    if (s->wal == NULL || size == 0)
        return false;
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED)
        return false;
    scan_buf_free(s);
    s->buf = m;
    s->buf_cap = size;
    s->mapped = true;
    return true;
}

// scan_read loads segment i into s->buf; the caller owns *fd_out.
static st_err
scan_read(wal_scan *s, uint32_t i, int *fd_out, uint64_t *size_out)
{
    char path[ST_WAL_PATH_MAX];
    scan_path(s, s->names[i], path, sizeof(path));
    int fd = -1;
    int rc = scan_open(s, path, &fd);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = -errno;
    if (rc == 0 && (uint64_t)st.st_size > WAL_SEGMENT_BYTES_MAX)
        rc = -EFBIG;
    if (rc < 0)
        goto fail;
    uint64_t size = (uint64_t)st.st_size;
    bool mapped = scan_map(s, fd, size);
    if (!mapped && (s->mapped || size > s->buf_cap)) {
        scan_buf_free(s);
        s->buf = st_malloc(size);
        s->buf_cap = size;
    }
    for (uint64_t done = mapped ? size : 0; done < size;) {
        ssize_t n = pread(fd, s->buf + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto fail;
        }
        done += (uint64_t)n;
    }
    s->bytes_done += size;
    if (s->cfg->progress_cb != NULL)
        s->cfg->progress_cb(s->cfg->progress_arg, s->bytes_done, s->bytes_total);
    *fd_out = fd;
    *size_out = size;
    return ST_OK;
fail:
    if (fd >= 0)
        scan_close(s, fd);
    snprintf(s->rec->message, sizeof(s->rec->message), "wal: cannot read %s: %s", path,
             strerror(-rc));
    return ST_IO;
}

// scan_follows tells whether a plausible record with an LSN >= expected sits
// at any 8-aligned offset >= off of the image in s->buf: then a bad spot
// before it is corruption, not the end of the log.
static bool
scan_follows(const wal_scan *s, uint64_t size, uint64_t off)
{
    for (uint64_t q = (off + WAL_ALIGN - 1) & ~(uint64_t)(WAL_ALIGN - 1);
         q + WAL_RECORD_HEADER_BYTES <= size; q += WAL_ALIGN) {
        uint64_t lsn = record_plausible(s->buf, size, q);
        if (lsn != 0 && lsn >= s->expected)
            return true;
    }
    return false;
}

// scan_later_follows tells whether any segment after i holds a plausible
// record (it overwrites s->buf).
static st_err
scan_later_follows(wal_scan *s, uint32_t i, bool *out)
{
    *out = false;
    for (uint32_t j = i + 1; j < s->count && !*out; j++) {
        int fd;
        uint64_t size;
        st_err err = scan_read(s, j, &fd, &size);
        if (err != ST_OK)
            return err;
        scan_close(s, fd);
        *out = scan_follows(s, size, WAL_HEADER_BYTES);
    }
    return ST_OK;
}

// scan_records walks the records of the segment image in s->buf, replaying
// the valid ones; *off_out gets where they stop.
static st_err
scan_records(wal_scan *s, uint64_t size, uint64_t *off_out)
{
    uint64_t off = WAL_HEADER_BYTES;
    while (off + WAL_RECORD_HEADER_BYTES <= size) {
        uint64_t lsn = record_plausible(s->buf, size, off);
        if (lsn == 0 || lsn != s->expected)
            break;
        uint32_t len = get_u32(s->buf + off);
        const st_wal_config *cfg = s->cfg;
        if (cfg->replay_cb != NULL && lsn >= cfg->replay_from_lsn) {
            st_err err =
                cfg->replay_cb(cfg->replay_arg, lsn, s->buf + off + WAL_RECORD_HEADER_BYTES, len);
            if (err != ST_OK) {
                snprintf(s->rec->message, sizeof(s->rec->message),
                         "wal: replay stopped at lsn %" PRIu64 ": %s", lsn, st_err_str(err));
                return err;
            }
        }
        if (s->rec->first_lsn == 0)
            s->rec->first_lsn = lsn;
        s->rec->last_lsn = lsn;
        s->rec->records++;
        s->expected++;
        off += record_bytes(len);
    }
    *off_out = off;
    return ST_OK;
}

// scan_torn_read_only reports the torn tail at offset `off` of segment i
// (0: its header) as recovery would cut it, and changes nothing.
static void
scan_torn_read_only(wal_scan *s, uint32_t i, uint64_t off)
{
    ST_ASSERT(s->wal == NULL && i < s->count);
    st_wal_recovery *rec = s->rec;
    uint32_t later = s->count - i - 1;
    rec->segments_removed = later + (off == 0 ? 1u : 0u);
    rec->torn = true;
    snprintf(rec->message, sizeof(rec->message),
             "wal: torn tail in %s at byte offset %" PRIu64 " (lsn %" PRIu64 "): the next open "
             "cuts it there and removes %" PRIu32 " later file(s); nothing was changed",
             rec->cut_path, off, s->expected, later);
}

// scan_stop decides what the first invalid spot (offset `off` of segment i,
// 0 for a bad header) is: corruption if anything valid follows, else a torn
// tail. It cuts the log there unless it refuses, or the scan is read-only.
// Takes ownership of fd.
static st_err
scan_stop(wal_scan *s, uint32_t i, int fd, uint64_t size, uint64_t off)
{
    st_wal *wal = s->wal;
    st_wal_recovery *rec = s->rec;
    bool corrupt = scan_follows(s, size, off == 0 ? WAL_HEADER_BYTES : off);
    st_err err = ST_OK;
    if (!corrupt)
        err = scan_later_follows(s, i, &corrupt);
    scan_path(s, s->names[i], rec->cut_path, sizeof(rec->cut_path));
    rec->cut_offset = off;
    rec->cut_lsn = s->expected;
    rec->corrupt = corrupt;
    if (err != ST_OK)
        goto fail;
    if (wal == NULL && off > 0)
        scan_keep(s, i, size, off); // read-only: count the log up to the bad spot
    if (corrupt && !s->cfg->truncate_corrupt) {
        snprintf(rec->message, sizeof(rec->message),
                 "wal: corrupt log: %s byte offset %" PRIu64 " (lsn %" PRIu64 ") is invalid but "
                 "valid records follow; %s (truncate_corrupt cuts it there)",
                 rec->cut_path, off, s->expected,
                 wal != NULL ? "refusing to open" : "st_wal_open refuses it");
        err = ST_MALFORMED;
        goto fail;
    }
    if (wal == NULL) {
        scan_torn_read_only(s, i, off);
        goto fail;
    }
    int rc = 0;
    if (off == 0) {
        wal->io->vt->close(wal->io, fd);
        fd = -1;
        rc = wal->io->vt->unlink(wal->io, rec->cut_path);
        rec->segments_removed++;
    } else {
        rc = wal->io->vt->truncate(wal->io, fd, off);
        scan_keep(s, i, size, off);
    }
    for (uint32_t j = i + 1; j < s->count && rc == 0; j++) {
        char path[ST_WAL_PATH_MAX];
        scan_path(s, s->names[j], path, sizeof(path));
        rc = wal->io->vt->unlink(wal->io, path);
        rec->segments_removed++;
    }
    if (rc == 0)
        rc = wal->io->vt->sync_dir(wal->io, wal->dir);
    if (rc < 0) {
        snprintf(rec->message, sizeof(rec->message), "wal: cutting %s at offset %" PRIu64 ": %s",
                 rec->cut_path, off, strerror(-rc));
        err = ST_IO;
        goto fail;
    }
    rec->torn = !corrupt;
    snprintf(rec->message, sizeof(rec->message),
             "wal: %s in %s at byte offset %" PRIu64 " (lsn %" PRIu64 "): cut there, %" PRIu32
             " later file(s) removed",
             corrupt ? "corrupt record (truncate_corrupt)" : "torn tail", rec->cut_path, off,
             s->expected, rec->segments_removed - (off == 0 ? 1u : 0u));
fail:
    if (fd >= 0)
        scan_close(s, fd);
    return err;
}

// scan_run reads the segments in order until the log ends.
static st_err
scan_run(wal_scan *s)
{
    s->expected = s->count > 0 ? s->names[0] : 1;
    for (uint32_t i = 0; i < s->count; i++) {
        int fd = -1;
        uint64_t size = 0, off = 0;
        st_err err = scan_read(s, i, &fd, &size);
        if (err != ST_OK)
            return err;
        if (s->names[i] == s->expected && header_valid(s->buf, size, s->worker_id, s->expected)) {
            err = scan_records(s, size, &off);
            if (err != ST_OK) {
                scan_close(s, fd);
                return err;
            }
            // A zero length word (or no room for one more record) is the end
            // of this segment's data, unless something valid comes after it.
            bool end = off + WAL_RECORD_HEADER_BYTES > size || get_u32(s->buf + off) == 0;
            if (end && !scan_follows(s, size, off)) {
                scan_close(s, fd);
                scan_keep(s, i, size, off);
                continue;
            }
        }
        return scan_stop(s, i, fd, size, off);
    }
    ST_ASSERT(s->expected >= 1);
    return ST_OK;
}

// ---------------------------------------------------------------------------
// Open and close.

static st_err
open_config(st_wal *wal, const st_wal_config *cfg, st_wal_recovery *rec)
{
    wal->worker_id = cfg->worker_id;
    wal->mode = cfg->sync_mode;
    wal->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : ST_WAL_SEGMENT_BYTES_DEFAULT;
    wal->batch_bytes = cfg->batch_bytes ? cfg->batch_bytes : ST_WAL_BATCH_BYTES_DEFAULT;
    wal->nbatches = cfg->batches ? cfg->batches : ST_WAL_BATCHES_DEFAULT;
    wal->sync_interval_ms =
        cfg->sync_interval_ms ? cfg->sync_interval_ms : ST_WAL_SYNC_INTERVAL_MS_DEFAULT;
    const char *why = NULL;
    if (wal->mode != ST_WAL_SYNC_FSYNC && wal->mode != ST_WAL_SYNC_BATCH &&
        wal->mode != ST_WAL_SYNC_NONE)
        why = "unknown sync mode";
    else if (wal->segment_bytes < ST_WAL_SEGMENT_BYTES_MIN || wal->segment_bytes % 4096 != 0 ||
             wal->segment_bytes > WAL_SEGMENT_BYTES_MAX)
        why = "segment_bytes must be a multiple of 4096 in [4 KiB, 1 GiB]";
    else if (wal->batch_bytes < ST_WAL_BATCH_BYTES_MIN || wal->batch_bytes % WAL_ALIGN != 0)
        why = "batch_bytes must be a multiple of 8, at least 4 KiB";
    else if (wal->nbatches < 2 || wal->nbatches > ST_WAL_BATCHES_MAX)
        why = "batches must be in [2, 64]";
    else if (wal->mode != ST_WAL_SYNC_NONE && cfg->data_dir == NULL)
        why = "data_dir is required";
    else if (cfg->data_dir != NULL &&
             snprintf(wal->dir, sizeof(wal->dir), "%s/wal-%" PRIu32, cfg->data_dir,
                      cfg->worker_id) >= (int)(sizeof(wal->dir) - WAL_NAME_DIGITS - 6))
        why = "data_dir is too long";
    if (why != NULL) {
        snprintf(rec->message, sizeof(rec->message), "wal: bad config: %s", why);
        return ST_INVALID_ARGUMENT;
    }
    wal->janitor = cfg->janitor;
    uint64_t room = wal->batch_bytes < wal->segment_bytes ? wal->batch_bytes : wal->segment_bytes;
    room = (room - WAL_HEADER_BYTES - WAL_RECORD_HEADER_BYTES) & ~(uint64_t)(WAL_ALIGN - 1);
    wal->payload_max = room < ST_WAL_PAYLOAD_BYTES_MAX ? (uint32_t)room : ST_WAL_PAYLOAD_BYTES_MAX;
    ST_ASSERT(WAL_HEADER_BYTES + record_bytes(wal->payload_max) <= wal->batch_bytes);
    return ST_OK;
}

static st_err
open_dirs(st_wal *wal, const st_wal_config *cfg, st_wal_recovery *rec)
{
    if ((mkdir(cfg->data_dir, 0755) != 0 && errno != EEXIST) ||
        (mkdir(wal->dir, 0755) != 0 && errno != EEXIST)) {
        snprintf(rec->message, sizeof(rec->message), "wal: cannot create %s: %s", wal->dir,
                 strerror(errno));
        return ST_IO;
    }
    wal->dir_fd = open(wal->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (wal->dir_fd < 0) {
        snprintf(rec->message, sizeof(rec->message), "wal: cannot open %s: %s", wal->dir,
                 strerror(errno));
        return ST_IO;
    }
    if (cfg->io != NULL) {
        wal->io = cfg->io;
        return ST_OK;
    }
    if (cfg->fault_control != NULL) { // tests: st_wal_close destroys it
        st_wal_io_fault_create(&wal->io);
        wal->io_owned = true;
        return st_wal_io_fault_control(wal->io, cfg->fault_control, rec->message,
                                       sizeof(rec->message));
    }
    int e = 0;
    if (st_wal_io_uring_create(0, &wal->io, &e) != ST_OK) {
        snprintf(rec->message, sizeof(rec->message), "wal: io_uring unavailable: %s", strerror(e));
        return ST_IO;
    }
    wal->io_owned = true;
    return ST_OK;
}

// open_position makes the log ready to append after what recovery kept.
static st_err
open_position(st_wal *wal, uint64_t next_lsn, uint64_t end_off, st_wal_recovery *rec)
{
    wal->next_lsn = next_lsn;
    wal->written_lsn = wal->synced_lsn = wal->durable_lsn = next_lsn - 1;
    if (wal->seg_count == 0) {
        if (segment_create(wal) != ST_OK) {
            snprintf(rec->message, sizeof(rec->message), "%s", wal->err_msg);
            return ST_IO;
        }
        return ST_OK;
    }
    wal_segment *seg = seg_current(wal);
    char path[ST_WAL_PATH_MAX];
    seg_path(wal, seg->first_lsn, path, sizeof(path));
    int rc = wal->io->vt->open(wal->io, path, false, &seg->fd);
    if (rc < 0) {
        snprintf(rec->message, sizeof(rec->message), "wal: cannot open %s: %s", path,
                 strerror(-rc));
        return ST_IO;
    }
    wal->tail_off = end_off;
    ST_ASSERT(end_off >= WAL_HEADER_BYTES && end_off <= seg->bytes);
    return ST_OK;
}

static st_err
open_files(st_wal *wal, const st_wal_config *cfg, st_wal_recovery *rec)
{
    st_err err = open_dirs(wal, cfg, rec);
    if (err != ST_OK)
        return err;
    wal_scan s = {.wal = wal, .cfg = cfg, .rec = rec, .dir = wal->dir, .worker_id = wal->worker_id};
    err = scan_list(&s);
    if (err == ST_OK)
        err = scan_run(&s);
    uint64_t end_off = s.end_off;
    st_free(s.names);
    scan_buf_free(&s);
    if (err != ST_OK)
        return err;
    // An empty directory takes the configured first LSN (a follower's log that
    // starts after a snapshot); a log that holds anything continues itself.
    uint64_t next = s.expected;
    if (s.count == 0 && cfg->first_lsn > 1)
        next = cfg->first_lsn;
    ST_ASSERT(next >= 1);
    err = open_position(wal, next, end_off, rec);
    if (err != ST_OK)
        return err;
    for (uint32_t i = 0; i < wal->nbatches; i++)
        wal->batches[i].buf = st_malloc(wal->batch_bytes);
    rec->segments = wal->seg_count;
    if (!rec->torn && !rec->corrupt)
        snprintf(rec->message, sizeof(rec->message),
                 "wal: %s: %" PRIu64 " records (lsn %" PRIu64 "..%" PRIu64 ") in %" PRIu32
                 " segment(s)",
                 wal->dir, rec->records, rec->first_lsn, rec->last_lsn, rec->segments);
    return ST_OK;
}

st_err
st_wal_open(const st_wal_config *cfg, st_wal **out, st_wal_recovery *rec_out)
{
    ST_ASSERT(cfg != NULL && out != NULL);
    st_wal_recovery rec_local;
    st_wal_recovery *rec = rec_out != NULL ? rec_out : &rec_local;
    memset(rec, 0, sizeof(*rec));
    st_wal *wal = st_calloc(1, sizeof(*wal));
    wal->dir_fd = -1;
    st_err err = open_config(wal, cfg, rec);
    if (err != ST_OK)
        goto fail;
    if (wal->mode == ST_WAL_SYNC_NONE) { // no files: always empty at open
        wal->next_lsn = cfg->first_lsn > 1 ? cfg->first_lsn : 1;
        wal->written_lsn = wal->synced_lsn = wal->durable_lsn = wal->next_lsn - 1;
    } else {
        err = open_files(wal, cfg, rec);
        if (err != ST_OK)
            goto fail;
    }
    *out = wal;
    ST_ASSERT(wal->next_lsn > wal->durable_lsn);
    return ST_OK;
fail:
    st_wal_close(wal);
    return err;
}

int
st_wal_event_fd(const st_wal *wal)
{
    return wal->io != NULL ? wal->io->event_fd : -1;
}

void
st_wal_close(st_wal *wal)
{
    if (wal == NULL)
        return;
    // The submission in flight points into our buffers: let it finish, but
    // submit nothing new (failed stops submit_head).
    wal->failed = true;
    while (wal->inflight && reap(wal, true) == 0) {
    }
    if (wal->janitor != NULL) // removals of this log's segments finish first
        st_wal_janitor_drain(wal->janitor);
    for (uint32_t i = 0; i < wal->seg_count; i++) {
        if (wal->segs[i].fd >= 0)
            wal->io->vt->close(wal->io, wal->segs[i].fd);
    }
    st_free(wal->segs);
    for (uint32_t i = 0; i < ST_WAL_BATCHES_MAX; i++)
        st_free(wal->batches[i].buf);
    if (wal->dir_fd >= 0)
        close(wal->dir_fd);
    if (wal->io_owned)
        st_wal_io_destroy(wal->io);
    st_free(wal);
}

// ---------------------------------------------------------------------------
// Read-only scan (st_wal_scan): the recovery scan above with no log behind
// it. scan_* see `wal` NULL and then open files O_RDONLY, never cut, remove
// or sync, and only report what recovery would do.

st_err
st_wal_scan(const st_wal_scan_config *cfg, st_wal_recovery *rec_out)
{
    ST_ASSERT(cfg != NULL && cfg->data_dir != NULL);
    st_wal_recovery rec_local;
    st_wal_recovery *rec = rec_out != NULL ? rec_out : &rec_local;
    memset(rec, 0, sizeof(*rec));
    char dir[ST_WAL_PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/wal-%" PRIu32, cfg->data_dir, cfg->worker_id);
    if (n < 0 || n >= (int)(sizeof(dir) - WAL_NAME_DIGITS - 6)) {
        snprintf(rec->message, sizeof(rec->message), "wal: bad config: data_dir is too long");
        return ST_INVALID_ARGUMENT;
    }
    // Only what the scan reads of a config: no io, truncate_corrupt false.
    st_wal_config scan_cfg = {
        .data_dir = cfg->data_dir,
        .worker_id = cfg->worker_id,
        .replay_from_lsn = cfg->from_lsn,
        .replay_cb = cfg->record_cb,
        .replay_arg = cfg->record_arg,
        .progress_cb = cfg->progress_cb,
        .progress_arg = cfg->progress_arg,
    };
    wal_scan s = {.cfg = &scan_cfg, .rec = rec, .dir = dir, .worker_id = cfg->worker_id};
    st_err err = scan_list(&s);
    if (err == ST_OK)
        err = scan_run(&s);
    st_free(s.names);
    scan_buf_free(&s);
    rec->segments = s.kept;
    if (err == ST_OK && !rec->torn)
        snprintf(rec->message, sizeof(rec->message),
                 "wal: %s: %" PRIu64 " records (lsn %" PRIu64 "..%" PRIu64 ") in %" PRIu32
                 " segment(s)",
                 dir, rec->records, rec->first_lsn, rec->last_lsn, rec->segments);
    ST_ASSERT(err != ST_OK || !rec->corrupt);
    ST_ASSERT(rec->records == 0 || rec->last_lsn - rec->first_lsn + 1 == rec->records);
    return err;
}
