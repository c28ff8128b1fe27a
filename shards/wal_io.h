// wal_io.h - the small I/O interface under the write-ahead log (shards/wal.c).
//
// The log never calls the kernel for its hot-path writes itself: it hands a
// submission (a few writes and fdatasyncs, optionally linked so each starts
// only after the previous one succeeded) to an st_wal_io and later reaps the
// completions. Two implementations:
//   - st_wal_io_uring_create(): the real one, io_uring (writes, fdatasync via
//     IORING_FSYNC_DATASYNC, IOSQE_IO_LINK chains). Submitting never blocks.
//   - st_wal_io_fault_create(): the same POSIX calls with injected faults
//     (disk full for writes or for preallocation, failing fdatasync, a slow
//     disk that delays every submission, a stuck disk that holds submissions
//     until released), deterministic, for tests. Without delay or stuck disk
//     a submission executes inside submit; its completions wait until
//     reaped. The faults are set through the functions below, or by a
//     control file that another process rewrites (st_wal_io_fault_control:
//     stocktwind --fault-control).
// Open, preallocate, truncate, unlink, close and directory fsync are
// synchronous: they run at open/recovery and at a segment roll (once per
// segment), never per record.
//
// Every operation returns 0 (or a count) on success and -errno on failure, the
// io_uring convention; the log maps that to st_err and keeps the errno.
// Ownership: the caller owns an st_wal_io (st_wal_io_destroy). Buffers of a
// submitted write are borrowed until that op's completion has been reaped.
// Thread: one thread at a time (the owning shard worker).
#ifndef ST_SHARDS_WAL_IO_H
#define ST_SHARDS_WAL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

// Operations one submission may carry: the log uses at most a write, an
// fdatasync of the segment and an fsync of the directory.
#define ST_WAL_IO_OPS_MAX 4u
// Completions the fault implementation holds (it never has more than one
// submission of ST_WAL_IO_OPS_MAX ops in flight per log, a few logs per io).
#define ST_WAL_IO_FAULT_CQES_MAX 64u

_Static_assert(ST_WAL_IO_FAULT_CQES_MAX >= ST_WAL_IO_OPS_MAX, "a submission fits the queue");

typedef enum st_wal_io_kind {
    ST_WAL_IO_WRITE = 1,     // pwrite(fd, buf, len, off)
    ST_WAL_IO_FDATASYNC = 2, // fdatasync(fd)
    ST_WAL_IO_FSYNC = 3,     // fsync(fd), used for directories
} st_wal_io_kind;

typedef struct st_wal_io_op {
    st_wal_io_kind kind;
    int fd;
    const void *buf; // ST_WAL_IO_WRITE only; borrowed until reaped
    uint32_t len;
    uint64_t off;
    uint64_t user_data; // handed back in the completion
} st_wal_io_op;

typedef struct st_wal_io_cqe {
    uint64_t user_data;
    int32_t res; // bytes written (a write), 0 (a sync), or -errno; -ECANCELED
                 // for a linked op after a failed (or short) one
} st_wal_io_cqe;

typedef struct st_wal_io st_wal_io;

typedef struct st_wal_io_vtable {
    // open opens `path` read-write (creating it, mode 0644, if `create`).
    int (*open)(st_wal_io *io, const char *path, bool create, int *fd_out);
    // preallocate reserves `bytes` for `fd` (fallocate, size changes).
    int (*preallocate)(st_wal_io *io, int fd, uint64_t bytes);
    // truncate cuts a preallocated file logically: it zeroes [off, size)
    // keeping the allocation, then fdatasyncs.
    int (*truncate)(st_wal_io *io, int fd, uint64_t off);
    // sync_dir fsyncs directory `path` (after creating or removing files).
    int (*sync_dir)(st_wal_io *io, const char *path);
    int (*unlink)(st_wal_io *io, const char *path);
    int (*close)(st_wal_io *io, int fd);
    // submit queues `count` ops. With `linked`, op i+1 starts only after op i
    // succeeded completely; otherwise it completes with -ECANCELED. Returns 0
    // or -errno (then nothing was queued). Never blocks on the disk.
    int (*submit)(st_wal_io *io, const st_wal_io_op *ops, uint32_t count, bool linked);
    // reap stores up to `max` completions in `out` and returns their number;
    // with `wait` it blocks until at least one is there. Returns -EAGAIN when
    // waiting could never end (a stuck fault disk without control file), or
    // another -errno.
    int (*reap)(st_wal_io *io, st_wal_io_cqe *out, uint32_t max, bool wait);
    void (*destroy)(st_wal_io *io);
} st_wal_io_vtable;

// The common head of every implementation. event_fd: an eventfd that
// becomes readable when a completion is ready to reap (io_uring signals it),
// so that a waiting worker sleeps instead of spinning; -1 when the
// implementation has none (the fault io).
struct st_wal_io {
    const st_wal_io_vtable *vt;
    int event_fd;
};

// st_wal_io_uring_create makes the io_uring implementation with a ring of
// `entries` submission slots (0: a default of 64). ST_IO if io_uring is not
// available (the errno is in *errno_out when not NULL). The caller owns *out.
st_err st_wal_io_uring_create(uint32_t entries, st_wal_io **out, int *errno_out);

// st_wal_io_fault_create makes the fault-injecting implementation, with no
// fault armed. The caller owns *out.
st_err st_wal_io_fault_create(st_wal_io **out);

// st_wal_io_destroy releases `io`; NULL is a no-op. No op may be in flight.
void st_wal_io_destroy(st_wal_io *io);

// Fault controls; `io` must come from st_wal_io_fault_create.
//
// st_wal_io_fault_set_space lets writes store `bytes` more bytes (a file
// system that allocates on write: copy-on-write, thin provisioning); the
// write that crosses the limit stores what fits and completes short, later
// writes fail with -ENOSPC, and preallocate fails with -ENOSPC once nothing
// is left. UINT64_MAX (the initial value) means unlimited: "space returns".
void st_wal_io_fault_set_space(st_wal_io *io, uint64_t bytes);
// st_wal_io_fault_set_prealloc_space models a preallocating file system with
// `bytes` free: each preallocate charges its whole size and fails with
// -ENOSPC (allocating nothing) when that is more than what is left; writes
// into preallocated space never fail for want of it. UINT64_MAX (the initial
// value): unlimited. Freed files give nothing back: set it again.
void st_wal_io_fault_set_prealloc_space(st_wal_io *io, uint64_t bytes);
// st_wal_io_fault_fail_sync makes every following fdatasync/fsync complete with
// -err (0 turns the fault off). The data stays written, as with a real EIO.
void st_wal_io_fault_fail_sync(st_wal_io *io, int err);
// st_wal_io_fault_set_delay makes every following submission execute (and so
// complete) no earlier than `delay_ms` (<= 60000) after its submit, in
// submission order: a slow disk. Submit still returns at once; a reap that
// waits sleeps until the oldest one is due.
void st_wal_io_fault_set_delay(st_wal_io *io, uint32_t delay_ms);
// st_wal_io_fault_stick holds every following submission unexecuted and
// uncompleted (a stuck disk); st_wal_io_fault_stick(io, false) releases them,
// executing the due ones in order at once.
void st_wal_io_fault_stick(st_wal_io *io, bool stuck);

// st_wal_io_fault_control makes the faults follow the text file at `path`
// (copied), one `key value` per line, '#' starting a comment:
//     space BYTES|unlimited           st_wal_io_fault_set_space
//     prealloc_space BYTES|unlimited  st_wal_io_fault_set_prealloc_space
//     fail_sync EIO|ENOSPC|EDQUOT|EROFS|<errno>|0   st_wal_io_fault_fail_sync
//     delay_ms 0..60000               st_wal_io_fault_set_delay
//     stuck 0|1                       st_wal_io_fault_stick
// A key the file does not name is off (unlimited, 0); a missing file means
// no faults. The file is read now, then again whenever its identity, size,
// mtime or ctime changed: looked at on every submit and preallocate, and at
// most every millisecond in reap. Each read sets every fault anew (space
// counters start again from the file's values). Write it to a temporary name
// and rename it over the old one, so that a reader never sees half of it. A
// file that does not parse later is reported on stderr and changes nothing.
// With a control file a waiting reap waits out a stuck disk (it polls the
// file) instead of returning -EAGAIN. Errors: ST_INVALID_ARGUMENT (the file
// does not parse) or ST_IO (it cannot be read), with a sentence in why.
st_err st_wal_io_fault_control(st_wal_io *io, const char *path, char *why, size_t why_len);

typedef struct st_wal_io_fault_stats {
    uint64_t writes;
    uint64_t write_bytes; // bytes actually stored
    uint64_t syncs;       // fdatasync and fsync calls that succeeded
    uint32_t held;        // ops submitted but not executed: stuck or not yet due
} st_wal_io_fault_stats;

void st_wal_io_fault_stats_get(const st_wal_io *io, st_wal_io_fault_stats *out);

#endif
