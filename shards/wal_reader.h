// wal_reader.h - a read-only cursor over one worker's write-ahead log, for a
// leader shipping its log to followers (replication/leader.c) while the
// worker appends to it.
//
// The reader only returns records whose LSN the caller says are durable
// (upto_lsn): those are wholly written, so reading them races with nothing.
// Each frame is validated (st_wal_frame_check: length, flags, checksum, the
// LSN chain) before it is copied out, byte for byte as in the segment.
//
// Ownership: the reader owns one read window (64 KiB, or the largest record if
// larger) and at most one open segment fd (O_RDONLY); it never writes, and
// the writer never knows about it. Thread: one thread at a time per reader
// (no locks inside); any number of readers, each on its own thread, alongside
// the worker appending to the same log.
#ifndef ST_SHARDS_WAL_READER_H
#define ST_SHARDS_WAL_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct st_wal_reader st_wal_reader;

// st_wal_reader_open makes a cursor over <data_dir>/wal-<worker>/; nothing is
// read yet. ST_INVALID_ARGUMENT when the path does not fit.
st_err st_wal_reader_open(const char *data_dir, uint32_t worker, st_wal_reader **out);
void st_wal_reader_close(st_wal_reader *r); // NULL is a no-op

// st_wal_reader_read copies whole frames with from_lsn <= LSN <= upto_lsn, in
// order from exactly from_lsn, into buf (cap bytes, borrowed for the call):
// as many as fit, never a part of one, each checked with st_wal_frame_check
// (expected: the next LSN) first. *used gets the bytes, *count the frames.
// upto_lsn must be durable (st_wal_poll's LSN): those records are wholly
// written. ST_OK (*count 0 when from_lsn > upto_lsn; fewer frames than asked
// when buf is full or the log moved on mid-call); ST_TOO_LARGE when the first
// frame alone exceeds cap (the cursor stays: call again with a larger buf);
// ST_NOT_FOUND when from_lsn is older than the first LSN the log holds
// (deleted after a snapshot) or the log does not exist: send a snapshot;
// ST_MALFORMED when a record in range fails validation or is missing (why
// names file, offset and LSN); ST_IO on a read error. why (why_len bytes) gets
// a sentence with every error.
// Cheap when from_lsn continues where the last call ended (the cursor keeps
// its segment fd, offset and read window); any other from_lsn repositions
// (lists the directory, picks the segment with the largest first LSN <=
// from_lsn, walks record headers forward in 64 KiB reads). At the end of a
// segment's data it continues in the segment named after the next LSN. A
// segment deleted while the cursor holds its fd is still read through it.
st_err st_wal_reader_read(st_wal_reader *r, uint64_t from_lsn, uint64_t upto_lsn, uint8_t *buf,
                          size_t cap, size_t *used, uint32_t *count, char *why, size_t why_len);

// st_wal_reader_first_lsn is the first LSN the log holds on disk now (0: none,
// or no log): it lists the directory, so a leader can tell a follower which
// LSN a snapshot must reach.
uint64_t st_wal_reader_first_lsn(st_wal_reader *r);

#endif
