// snapshot.h - a shard worker's snapshot file: the image of its state at one
// LSN (core/snapshot.h) plus the outbox events it had sent and no other
// worker had yet made durable. The byte layout and validity rules are at the
// top of shards/snapshot.c.
//
// Files live in <data>/snap-<worker>/<lsn %020llu>.snap, named after the
// image's first LSN (the log is replayed from the entry after it); a file
// being written is <lsn>.tmp and is never read. The worker writes its image
// piecewise between batches (core/snapshot.h): each part is copied into a
// buffer of an st_snapshot_pass, whose thread writes, checksums and syncs
// it, so the worker neither forks nor waits for the disk. It publishes the
// file by rename once the log is durable up to the image's last LSN.
//
// Ownership: the caller owns every buffer it passes. Thread: the writer
// functions on one thread at a time; a pass's functions on its worker.
#ifndef ST_SHARDS_SNAPSHOT_H
#define ST_SHARDS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/state.h"
#include "shards/wal_janitor.h"

#define ST_SNAPSHOT_HEADER_BYTES 64u
#define ST_SNAPSHOT_BUF_BYTES (1u << 20) // the writer's buffer

// A snapshot file being written in one go (a pass's thread; resharding).
typedef struct st_snapshot_writer {
    int fd;
    uint8_t *buf; // ST_SNAPSHOT_BUF_BYTES
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

// Writing: begin (creates <lsn>.tmp), the state's image, any number of
// outbox entries (packed LogEntries), end (header, fdatasync, close). Each
// returns false on an I/O error (errno says which); the caller then removes
// the .tmp file.
bool st_snapshot_begin(st_snapshot_writer *sw, const char *path, void *hash_state, uint8_t *buf);
bool st_snapshot_image(st_snapshot_writer *sw, const st_state *state);
bool st_snapshot_outbox(st_snapshot_writer *sw, const void *entry, uint32_t len);
bool st_snapshot_end(st_snapshot_writer *sw, uint32_t worker, uint32_t workers, uint64_t lsn);
// st_snapshot_hash_state_bytes is the size of the hash state to pass to begin.
size_t st_snapshot_hash_state_bytes(void);

// A snapshot file written by a thread of its own from parts the worker hands
// it through a buffer the size of the largest part (a warehouse's tables):
// the worker fills it when the thread has written the previous part.
typedef struct st_snapshot_pass st_snapshot_pass;

// st_snapshot_pass_start creates <path> and the thread, which first gives
// the buffer `size_hint` bytes (the largest part expected) and faults them
// in. NULL (and why) if the file cannot be created.
st_snapshot_pass *st_snapshot_pass_start(const char *path, size_t size_hint, char *why,
                                         size_t why_len);
// st_snapshot_pass_ready tells whether a buffer is free to fill (never
// blocks; false once the last part is submitted); st_snapshot_pass_put (an
// st_snap_write_cb) appends to it, and st_snapshot_pass_submit hands it to
// the thread.
bool st_snapshot_pass_ready(st_snapshot_pass *pass);
bool st_snapshot_pass_put(void *pass, const void *data, size_t len);
void st_snapshot_pass_submit(st_snapshot_pass *pass);
// st_snapshot_pass_last submits the filled buffer as the last: the file's
// body is `image_bytes` of image and then `outbox_count` outbox entries
// (appended with st_snapshot_pass_outbox); the thread writes the header,
// fdatasyncs and closes the file.
bool st_snapshot_pass_outbox(st_snapshot_pass *pass, const void *entry, uint32_t len);
void st_snapshot_pass_last(st_snapshot_pass *pass, uint64_t image_bytes, uint32_t worker,
                           uint32_t workers, uint64_t lsn);
// st_snapshot_pass_done: 0 while the thread works, 1 when the file is
// written and synced, -1 when writing it failed (the thread said why).
int st_snapshot_pass_done(st_snapshot_pass *pass);
// st_snapshot_pass_end stops the thread (at once if it is not done), waits
// for it, removes the file unless it was written whole, and frees the pass.
void st_snapshot_pass_end(st_snapshot_pass *pass);

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
// and removes older snapshots of the worker (on `janitor`'s thread when not
// NULL). ST_IO on failure (why says).
st_err st_snapshot_publish(const char *data_dir, uint32_t worker, uint64_t lsn,
                           st_wal_janitor *janitor, char *why, size_t why_len);

// st_snapshot_prune removes the worker's snapshots older than `lsn`: after a
// publish, and after a start loaded the snapshot at `lsn` (a kill between a
// publish's rename and its removals leaves the older one behind). With a
// janitor (not NULL) the removals are queued to its thread.
void st_snapshot_prune(const char *data_dir, uint32_t worker, uint64_t lsn,
                       st_wal_janitor *janitor);

#endif
