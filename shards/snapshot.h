// snapshot.h - a shard worker's snapshot file: the image of its state at one
// LSN (core/snapshot.h) plus the outbox events it had sent and no other
// worker had yet made durable. The byte layout and validity rules are at the
// top of shards/snapshot.c.
//
// Files live in <data>/snap-<worker>/<lsn %020llu>.snap; a file being
// written is <lsn>.tmp and is never read. The worker takes a snapshot in a
// forked child (copy-on-write: the worker stalls only for the fork) and
// publishes it by rename once the log is durable up to its LSN (worker.c).
//
// Ownership: the caller owns every buffer. Thread: any; the writer half is
// called in the forked child, so it neither allocates nor locks.
#ifndef ST_SHARDS_SNAPSHOT_H
#define ST_SHARDS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/state.h"

#define ST_SNAPSHOT_HEADER_BYTES 64u
#define ST_SNAPSHOT_BUF_BYTES (1u << 20) // the child's write buffer

// A snapshot being written (in the child).
typedef struct st_snapshot_writer {
    int fd;
    uint8_t *buf; // ST_SNAPSHOT_BUF_BYTES, allocated by the parent before fork
    size_t used;
    uint64_t body_bytes;
    uint64_t image_bytes;
    uint32_t outbox_count;
    uint32_t flushes;
    void *hash; // XXH3 state (opaque here)
    bool ok;
} st_snapshot_writer;

// st_snapshot_dir formats <data>/snap-<worker>; false if it does not fit.
bool st_snapshot_dir(const char *data_dir, uint32_t worker, char *buf, size_t size);
bool st_snapshot_path(const char *data_dir, uint32_t worker, uint64_t lsn, const char *ext,
                      char *buf, size_t size);

// Child side: begin (creates <lsn>.tmp), the state's image, any number of
// outbox entries (packed LogEntries), end (header, fdatasync, close). Each
// returns false on an I/O error (errno says which); the child then exits
// non-zero and the parent removes the .tmp file.
bool st_snapshot_begin(st_snapshot_writer *sw, const char *path, void *hash_state, uint8_t *buf);
bool st_snapshot_image(st_snapshot_writer *sw, const st_state *state);
bool st_snapshot_outbox(st_snapshot_writer *sw, const void *entry, uint32_t len);
bool st_snapshot_end(st_snapshot_writer *sw, uint32_t worker, uint32_t workers, uint64_t lsn);
// st_snapshot_hash_state_bytes is the size of the hash state to pass to begin.
size_t st_snapshot_hash_state_bytes(void);

// A snapshot read back whole.
typedef struct st_snapshot {
    uint64_t lsn;
    uint32_t worker, workers;
    uint8_t *file; // the whole file (owned; st_snapshot_free)
    const uint8_t *image;
    uint64_t image_bytes;
    const uint8_t *outbox; // outbox_count entries: u32 len, len bytes
    uint64_t outbox_bytes;
    uint32_t outbox_count;
    char path[512];
} st_snapshot;

// st_snapshot_read_newest reads the newest valid snapshot of `worker`:
// ST_OK (*out filled), ST_NOT_FOUND (none), ST_IO. Invalid files are
// reported through `why` (one line each, appended) and skipped for older
// ones; stale .tmp files are removed.
st_err st_snapshot_read_newest(const char *data_dir, uint32_t worker, st_snapshot *out, char *why,
                               size_t why_len);
void st_snapshot_free(st_snapshot *snap);

// st_snapshot_publish renames <lsn>.tmp to <lsn>.snap, syncs the directory
// and removes older snapshots of the worker. ST_IO on failure (why says).
st_err st_snapshot_publish(const char *data_dir, uint32_t worker, uint64_t lsn, char *why,
                           size_t why_len);

// st_snapshot_prune removes the worker's snapshots older than `lsn`: after a
// publish, and after a start loaded the snapshot at `lsn` (a kill between a
// publish's rename and its removals leaves the older one behind).
void st_snapshot_prune(const char *data_dir, uint32_t worker, uint64_t lsn);

#endif
