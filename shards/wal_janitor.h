// wal_janitor.h - removes files off the shard workers' threads.
//
// When a snapshot is published, its worker deletes the log segments it
// covers and the snapshot before it. ext4 frees a file's extents when it is
// deleted: 28-48 ms for a 64 MiB segment on this machine, so the five or six
// files of one snapshot at seed scale stopped the worker ~200 ms, and every
// request waiting on it (docs/PERFORMANCE.md, 2026-12-06 eighth session). A
// janitor is one thread that does those removals in the order they were
// queued; the worker only hands it the names (and the descriptors to close
// once a file is gone).
//
// Order and failure: a job's files are removed in order and the job stops at
// the first that cannot be removed (reported on stderr), so that a log never
// loses an older segment while keeping a newer one (recovery would call that
// hole corruption); then its descriptors are closed and its directory, if
// any, synced. A crash before a queued removal leaves files that recovery
// already knows to skip (segments behind the newest snapshot, older
// snapshots), exactly as a crash between publishing and deleting always did.
// Thread: any; st_wal_janitor_destroy by the owner once nothing queues any more.
#ifndef ST_SHARDS_WAL_JANITOR_H
#define ST_SHARDS_WAL_JANITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

// At most this many jobs wait; st_wal_janitor_remove refuses more (the caller
// then removes its files itself).
#define ST_WAL_JANITOR_JOBS_MAX 64u

typedef struct st_wal_janitor st_wal_janitor;

// st_wal_janitor_create makes a janitor and starts its thread: ST_OK with
// *out (the caller owns it), or ST_INTERNAL (no thread; *out is NULL).
st_err st_wal_janitor_create(st_wal_janitor **out);

// st_wal_janitor_remove queues the removal of paths[0..n) in that order,
// closing fds[i] (when >= 0; fds may be NULL) after paths[i] is removed or
// given up, then an fsync of `dir` (NULL: none). Everything is copied. False:
// the queue is full or the janitor is stopping; nothing was queued or closed.
bool st_wal_janitor_remove(st_wal_janitor *j, const char *const *paths, const int *fds, uint32_t n,
                           const char *dir);

// st_wal_janitor_drain waits until every job queued so far is done.
void st_wal_janitor_drain(st_wal_janitor *j);

// st_wal_janitor_destroy drains, stops the thread and frees the janitor
// (with the descriptors it was handed). NULL is a no-op.
void st_wal_janitor_destroy(st_wal_janitor *j);

#endif
