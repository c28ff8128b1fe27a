// wal.h - the write-ahead log of one shard worker: segment files, record
// framing, group commit with io_uring, and the recovery scan at open.
//
// The byte layout of a segment and its records, and the rules that decide
// what recovery keeps, are at the top of shards/wal.c and in docs/WAL.md.
//
// The log never blocks the worker on the disk. A worker appends the log
// entries of a batch (st_wal_append copies them into a preallocated, bounded
// batch buffer and assigns LSNs), calls st_wal_commit (which submits the
// batch's write and a linked fdatasync in one io_uring submission and returns),
// keeps working, and calls st_wal_poll each loop iteration to learn the durable
// LSN, up to which it may release replies. One submission is in flight at a
// time, so while one batch syncs the next ones fill (group commit); when every
// buffer is full st_wal_append returns ST_BUSY: backpressure.
//
// Errors of the disk (ENOSPC, EIO, short writes) put the log into a failed
// state: st_wal_append/commit/poll return ST_IO, st_wal_last_error says why,
// and the durable LSN never passes what was synced. After a disk-full error
// st_wal_retry rewrites the failed batch from the last durable point.
//
// Ownership: st_wal owns its buffers, files and (when the config gave none) its
// st_wal_io; a caller-provided io is borrowed and must outlive the log.
// Payloads passed to st_wal_append are copied; payloads handed to the replay
// callback are borrowed for the duration of the call.
// Thread: the owning shard worker only; nothing here locks.
#ifndef ST_SHARDS_WAL_H
#define ST_SHARDS_WAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "shards/wal_io.h"

#define ST_WAL_SEGMENT_BYTES_DEFAULT (64u * 1024u * 1024u)
#define ST_WAL_SEGMENT_BYTES_MIN 4096u
#define ST_WAL_BATCH_BYTES_DEFAULT (1u * 1024u * 1024u)
#define ST_WAL_BATCH_BYTES_MIN 4096u
#define ST_WAL_BATCHES_DEFAULT 4u
#define ST_WAL_BATCHES_MAX 64u
#define ST_WAL_SYNC_INTERVAL_MS_DEFAULT 1000u
// The largest payload the format allows; a run also needs it to fit its batch
// buffer and segment (st_wal_payload_bytes_max()).
#define ST_WAL_PAYLOAD_BYTES_MAX (16u * 1024u * 1024u)
#define ST_WAL_PATH_MAX 512u

typedef enum st_wal_sync_mode {
    ST_WAL_SYNC_FSYNC = 0, // durable after write + fdatasync (the default)
    ST_WAL_SYNC_BATCH = 1, // durable (acknowledged) after the write; fdatasync
                           // at most every sync_interval_ms (st_wal_tick)
    ST_WAL_SYNC_NONE = 2,  // no files, no I/O: durable as soon as appended
} st_wal_sync_mode;

// st_wal_replay_cb receives one recovered record: `payload` (a LogEntry) is
// borrowed for the call. A non-ST_OK return stops the open with that code.
typedef st_err (*st_wal_replay_cb)(void *arg, uint64_t lsn, const void *payload, uint32_t len);
// st_wal_progress_cb reports a long scan: bytes of segment files scanned so
// far out of `bytes_total`. Called at least once per segment.
typedef void (*st_wal_progress_cb)(void *arg, uint64_t bytes_done, uint64_t bytes_total);

typedef struct st_wal_config {
    const char *data_dir; // the log lives in <data_dir>/wal-<worker_id>/ (created)
    uint32_t worker_id;
    st_wal_sync_mode sync_mode;
    uint64_t segment_bytes;    // 0: ST_WAL_SEGMENT_BYTES_DEFAULT; multiple of 4096
    uint32_t batch_bytes;      // 0: ST_WAL_BATCH_BYTES_DEFAULT; bytes of one batch buffer
    uint32_t batches;          // 0: ST_WAL_BATCHES_DEFAULT; buffers (>= 2)
    uint32_t sync_interval_ms; // batch mode; 0: ST_WAL_SYNC_INTERVAL_MS_DEFAULT
    st_wal_io *io;             // borrowed; NULL: an io_uring io owned by the log
    // Borrowed; NULL: st_wal_truncate_before removes segments itself. With
    // one, it hands them to the janitor's thread (wal_janitor.h), and
    // st_wal_close waits for the janitor to be idle.
    struct st_wal_janitor *janitor;
    // For tests only: with io NULL, the log owns a fault-injecting io (the
    // real POSIX calls) whose faults follow this control file instead of
    // io_uring (st_wal_io_fault_control; the path is copied). NULL: none.
    const char *fault_control;
    // Open a log with a corrupt record anyway, cutting it (and everything
    // after it) off: for an operator who has no replica to copy from.
    bool truncate_corrupt;
    // An empty log's first LSN (0 or 1: 1). A follower that starts over from
    // a snapshot at LSN s opens its emptied log with s + 1. Ignored when the
    // log holds a segment.
    uint64_t first_lsn;
    // Records with lsn >= replay_from_lsn are delivered to replay_cb during
    // st_wal_open, in LSN order (NULL: none). If the open then fails, the
    // caller must discard what it replayed.
    uint64_t replay_from_lsn;
    st_wal_replay_cb replay_cb;
    void *replay_arg;
    st_wal_progress_cb progress_cb; // NULL: none
    void *progress_arg;
} st_wal_config;

// What the recovery scan of st_wal_open found and did.
typedef struct st_wal_recovery {
    uint32_t segments;                   // segment files kept
    uint32_t segments_removed;           // empty or torn files removed after the end
    uint64_t records;                    // valid records scanned
    uint64_t first_lsn;                  // first LSN in the log; 0 if none
    uint64_t last_lsn;                   // last valid LSN; 0 if none
    bool torn;                           // a torn tail was cut off
    bool corrupt;                        // a corrupt record was found (open refused
                                         // unless truncate_corrupt, then cut there)
    char cut_path[ST_WAL_PATH_MAX];      // file of the torn tail or corruption
    uint64_t cut_offset;                 // byte offset of the cut in that file
    uint64_t cut_lsn;                    // LSN the bad record should have had
    char message[ST_WAL_PATH_MAX + 256]; // one line saying all of the above
    uint64_t bytes;                      // log data kept: headers and framed records up to each
                                         // kept segment's end of data (or the cut)
    uint64_t file_bytes;                 // size of all segment files found (preallocation included)
} st_wal_recovery;

typedef struct st_wal_stats {
    uint64_t next_lsn;     // LSN the next append gets
    uint64_t durable_lsn;  // acknowledged (see the sync modes)
    uint64_t synced_lsn;   // fdatasync'ed (== durable_lsn in fsync mode)
    uint64_t commits;      // submissions completed
    uint64_t buffer_bytes; // memory held by batch buffers (constant)
    uint32_t batches_used; // buffers not free
    uint32_t segments;     // segment files of the log
    bool failed;
} st_wal_stats;

typedef struct st_wal st_wal;

// st_wal_open opens (creating if needed) the log of cfg->worker_id, scans it,
// cuts a torn tail, replays to cfg->replay_cb and positions after the last
// valid record. On ST_OK the caller owns *out (st_wal_close). Errors: ST_IO
// (the system, see rec_out->message), ST_MALFORMED (corruption: a bad record
// followed by good ones; the message names file, byte offset and LSN),
// ST_INVALID_ARGUMENT (config), or the replay callback's code. `rec_out` may
// be NULL. Blocks: run it before the worker starts serving.
st_err st_wal_open(const st_wal_config *cfg, st_wal **out, st_wal_recovery *rec_out);

// st_wal_close waits for the submission in flight (it uses the log's buffers),
// closes the files and frees the log; it does not commit what is buffered: call
// st_wal_wait first for a clean shutdown. NULL is a no-op.
void st_wal_close(st_wal *wal);

// st_wal_payload_bytes_max is the largest payload st_wal_append accepts.
uint32_t st_wal_payload_bytes_max(const st_wal *wal);

// st_wal_append copies `payload` (len bytes, 1..st_wal_payload_bytes_max) into
// the batch being filled and stores its LSN in *lsn_out. ST_BUSY: every
// buffer is full or in flight (nothing changed; poll, then try again).
// ST_TOO_LARGE: len too large. ST_IO: the log failed, or the next segment
// could not be created (disk full; nothing changed, a later append retries).
st_err st_wal_append(st_wal *wal, const void *payload, uint32_t len, uint64_t *lsn_out);

// st_wal_reserve makes room for a payload of `len` bytes without appending
// it: after ST_OK, an st_wal_append of at most `len` bytes, with no other log
// call in between, cannot fail. A worker reserves before it applies an event
// (applying cannot be undone), so a full buffer (ST_BUSY) or a disk with no
// room for the next segment (ST_IO, the log not failed) refuses the event
// instead of leaving it applied but unlogged.
st_err st_wal_reserve(st_wal *wal, uint32_t len);

// st_wal_commit ends the batch being filled and submits it (a write and, in
// fsync mode, a linked fdatasync) if no other submission is in flight; else
// the batch stays open, so that every commit made while that submission runs
// shares the next write and fdatasync (group commit), and goes out as soon as
// the one in flight completes (st_wal_poll). Returns immediately. ST_IO when
// the log has failed.
st_err st_wal_commit(st_wal *wal);

// st_wal_poll reaps completions without blocking, advances the durable LSN
// and submits the next ended batch. *durable_lsn_out (may be NULL) gets the
// durable LSN: every LSN <= it is durable in the log's sync mode. ST_IO when
// the log has failed (the durable LSN stays valid).
st_err st_wal_poll(st_wal *wal, uint64_t *durable_lsn_out);

// st_wal_tick gives batch mode its clock: if `now_ms` is at least
// sync_interval_ms after the last fdatasync and something was written since,
// it queues an fdatasync. A no-op in the other modes.
st_err st_wal_tick(st_wal *wal, uint64_t now_ms);

// st_wal_wait commits and blocks until everything appended is durable (and,
// in batch mode, synced), or the log fails. For shutdown and tests. ST_BUSY
// if the io can never complete (a stuck fault disk).
st_err st_wal_wait(st_wal *wal);

// st_wal_retry resubmits the failed batch and everything after it, rewriting
// from the last durable point, after a disk-full error (ENOSPC or a short
// write) once space has returned. ST_OK: resubmitted (poll for the outcome).
// ST_IO: the failure is not retryable (a failed fdatasync: the kernel may have
// dropped the dirty pages, so a second fdatasync proves nothing). ST_OK and no
// effect when the log has not failed.
st_err st_wal_retry(st_wal *wal);

// st_wal_last_error describes the failure ("" if none); *errno_out (may be
// NULL) gets its errno (0 for a short write). Borrowed until the next call.
const char *st_wal_last_error(const st_wal *wal, int *errno_out);

// st_wal_truncate_before deletes every segment whose records all have
// LSN < lsn (after a snapshot covering them). The segment being written is
// never deleted. With a janitor the files go on its thread (the log forgets
// them at once); without one, or when it cannot take them, here: ext4 takes
// tens of ms to delete a 64 MiB segment.
st_err st_wal_truncate_before(st_wal *wal, uint64_t lsn);

void st_wal_stats_get(const st_wal *wal, st_wal_stats *out);

// st_wal_event_fd is a file descriptor that becomes readable (poll) when a
// completion may be ready for st_wal_poll; read it (8 bytes, non-blocking) to
// reset it. -1 when the log's io has none (then poll the log in a loop).
int st_wal_event_fd(const st_wal *wal);

// st_wal_segment_path formats the path of the segment starting at
// `first_lsn` of worker `worker_id` into buf; false if it does not fit.
bool st_wal_segment_path(const char *data_dir, uint32_t worker_id, uint64_t first_lsn, char *buf,
                         uint32_t size);

// st_wal_remove_all deletes every segment file of worker_id's log (a closed
// one) and syncs the directory: a follower starting over from a snapshot.
st_err st_wal_remove_all(const char *data_dir, uint32_t worker_id);

// ---------------------------------------------------------------------------
// Frames: one record as it sits in a segment, and as it travels to followers
// (replication/leader.c) byte for byte.

typedef struct st_wal_frame {
    uint64_t lsn;
    const uint8_t *payload; // borrowed from the buffer checked
    uint32_t payload_len;
    uint32_t bytes; // the whole frame, padding included (a multiple of 8)
} st_wal_frame;

// st_wal_frame_check validates the frame at the start of buf[0..len) as
// recovery does: payload length 1..ST_WAL_PAYLOAD_BYTES_MAX, the whole frame
// (padding included) within len, flags 0, the checksum, and lsn ==
// expected_lsn (0: any LSN but 0). ST_OK fills *out; ST_MALFORMED with a
// sentence in why otherwise. Any thread.
st_err st_wal_frame_check(const void *buf, size_t len, uint64_t expected_lsn, st_wal_frame *out,
                          char *why, size_t why_len);

// st_wal_frames_last finds the last of `count` frames laid end to end in
// buf[0..len) (a fetch's answer), walking their lengths only, and checks it
// whole as st_wal_frame_check does: the frames must fill len exactly and
// the last must have LSN first_lsn + count - 1. ST_OK fills *out;
// ST_MALFORMED with a sentence in why otherwise. The frames before it are
// not checked here (the worker checks every one). Any thread.
st_err st_wal_frames_last(const void *buf, size_t len, uint64_t first_lsn, uint32_t count,
                          st_wal_frame *out, char *why, size_t why_len);

// st_wal_append_frame appends a record received whole, as st_wal_append
// would have framed it: `f` came from st_wal_frame_check over bytes that are
// still valid, and f->lsn is the log's next LSN (a follower mirroring its
// leader's log). The frame is copied as it is, not hashed again.
// ST_INVALID_ARGUMENT when f->lsn is not the next LSN; otherwise as
// st_wal_append.
st_err st_wal_append_frame(st_wal *wal, const st_wal_frame *f, uint64_t *lsn_out);

// st_wal_frame_bytes is the size of the frame of a payload of len bytes.
uint32_t st_wal_frame_bytes(uint32_t len);
// st_wal_header_check validates a 64-byte segment header read from a file.
bool st_wal_header_check(const void *buf, size_t len, uint32_t worker_id, uint64_t first_lsn);

// ---------------------------------------------------------------------------
// Read-only scan: offline tools (`stocktwin wal verify|dump`).

typedef struct st_wal_scan_config {
    const char *data_dir; // the log is <data_dir>/wal-<worker_id>/
    uint32_t worker_id;
    // Records with lsn >= from_lsn are delivered to record_cb, in LSN order,
    // as they are validated (NULL: none). A non-ST_OK return stops the scan
    // with that code (rec_out->message says where).
    uint64_t from_lsn;
    st_wal_replay_cb record_cb;
    void *record_arg;
    st_wal_progress_cb progress_cb; // NULL: none
    void *progress_arg;
} st_wal_scan_config;

// st_wal_scan reads the log of cfg->worker_id exactly as st_wal_open's
// recovery does (the same validator, every byte) but READ-ONLY: files are
// opened O_RDONLY, and nothing is truncated, removed, created or written, so
// it is safe on a copy, a backup or a stopped daemon's directory. (On a
// running daemon's log it may see a torn tail that is only still being
// written.) It fills *rec_out (may be NULL) with what recovery would find:
// records, first/last LSN, bytes, `segments` that recovery would keep (with
// corruption: those up to the bad spot) and `segments_removed` that it would
// remove, a torn tail (rec->torn: not an error, the next open cuts it) or
// corruption (rec->corrupt) with file, byte offset and LSN, and a one-line
// message. Returns ST_OK (a torn tail included), ST_MALFORMED for
// corruption, ST_NOT_FOUND when <data_dir>/wal-<worker_id> does not exist,
// ST_INVALID_ARGUMENT for a data_dir too long, ST_IO, or record_cb's code.
// Memory: one segment's image at a time, never the whole log. Payloads
// handed to record_cb are borrowed for the call. Blocks on reads.
// Thread: any; it shares nothing with an open st_wal.
st_err st_wal_scan(const st_wal_scan_config *cfg, st_wal_recovery *rec_out);

#endif
