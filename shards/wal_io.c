// wal_io.c - the io_uring and fault-injecting implementations of st_wal_io
// (see wal_io.h).
// Thread: the owner of the io only.
#include "shards/wal_io.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/assert.h"

#define ST_WAL_IO_URING_ENTRIES_DEFAULT 64u
#define ST_WAL_IO_ZERO_CHUNK (64u * 1024u)

_Static_assert(ST_WAL_IO_URING_ENTRIES_DEFAULT >= ST_WAL_IO_OPS_MAX, "a submission fits the ring");

// ---------------------------------------------------------------------------
// Synchronous helpers shared by both implementations.

static int
posix_open(st_wal_io *io, const char *path, bool create, int *fd_out)
{
    (void)io;
    ST_ASSERT(path != NULL && fd_out != NULL);
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0)
        return -errno;
    *fd_out = fd;
    return 0;
}

static int
posix_preallocate(st_wal_io *io, int fd, uint64_t bytes)
{
    (void)io;
    ST_ASSERT(fd >= 0 && bytes > 0);
    // posix_fallocate would silently fall back to writing zeros on a file
    // system without fallocate; plain fallocate tells us instead.
    if (fallocate(fd, 0, 0, (off_t)bytes) != 0)
        return -errno;
    return 0;
}

// zero_by_writing is the fallback of truncate on file systems without
// FALLOC_FL_ZERO_RANGE (tmpfs before 6.x, some network file systems).
static int
zero_by_writing(int fd, uint64_t off, uint64_t end)
{
    static const uint8_t zeros[ST_WAL_IO_ZERO_CHUNK];
    while (off < end) {
        size_t n = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        off += (uint64_t)w;
    }
    return 0;
}

static int
posix_truncate(st_wal_io *io, int fd, uint64_t off)
{
    (void)io;
    ST_ASSERT(fd >= 0);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    uint64_t size = (uint64_t)st.st_size;
    if (off < size && fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                                (off_t)(size - off)) != 0) {
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            return -errno;
        int rc = zero_by_writing(fd, off, size);
        if (rc != 0)
            return rc;
    }
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static int
posix_sync_dir(st_wal_io *io, const char *path)
{
    (void)io;
    ST_ASSERT(path != NULL);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int
posix_unlink(st_wal_io *io, const char *path)
{
    (void)io;
    ST_ASSERT(path != NULL);
    return unlink(path) == 0 ? 0 : -errno;
}

static int
posix_close(st_wal_io *io, int fd)
{
    (void)io;
    ST_ASSERT(fd >= 0);
    return close(fd) == 0 ? 0 : -errno;
}

// ---------------------------------------------------------------------------
// io_uring.

typedef struct st_wal_io_uring {
    st_wal_io base;
    struct io_uring ring;
} st_wal_io_uring;

static int
uring_submit(st_wal_io *io, const st_wal_io_op *ops, uint32_t count, bool linked)
{
    st_wal_io_uring *u = (st_wal_io_uring *)io;
    ST_ASSERT(count > 0 && count <= ST_WAL_IO_OPS_MAX);
    // Check for room first so that a submission is all or nothing.
    if (io_uring_sq_space_left(&u->ring) < count)
        return -EBUSY;
    for (uint32_t i = 0; i < count; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        ST_ASSERT(sqe != NULL);
        switch (ops[i].kind) {
        case ST_WAL_IO_WRITE:
            io_uring_prep_write(sqe, ops[i].fd, ops[i].buf, ops[i].len, ops[i].off);
            break;
        case ST_WAL_IO_FDATASYNC:
            io_uring_prep_fsync(sqe, ops[i].fd, IORING_FSYNC_DATASYNC);
            break;
        case ST_WAL_IO_FSYNC:
            io_uring_prep_fsync(sqe, ops[i].fd, 0);
            break;
        }
        io_uring_sqe_set_data64(sqe, ops[i].user_data);
        // A short write breaks an IOSQE_IO_LINK chain: the fdatasync after it
        // completes with -ECANCELED instead of syncing a partial batch.
        if (linked && i + 1 < count)
            sqe->flags |= IOSQE_IO_LINK;
    }
    int rc = io_uring_submit(&u->ring);
    return rc < 0 ? rc : 0;
}

static int
uring_reap(st_wal_io *io, st_wal_io_cqe *out, uint32_t max, bool wait)
{
    st_wal_io_uring *u = (st_wal_io_uring *)io;
    ST_ASSERT(out != NULL && max > 0);
    uint32_t n = 0;
    while (n < max) {
        struct io_uring_cqe *cqe = NULL;
        int rc = (wait && n == 0) ? io_uring_wait_cqe(&u->ring, &cqe)
                                  : io_uring_peek_cqe(&u->ring, &cqe);
        if (rc == -EINTR)
            continue;
        if (rc == -EAGAIN || cqe == NULL)
            break;
        if (rc < 0)
            return n > 0 ? (int)n : rc;
        out[n].user_data = io_uring_cqe_get_data64(cqe);
        out[n].res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        n++;
    }
    return (int)n;
}

static void
uring_destroy(st_wal_io *io)
{
    st_wal_io_uring *u = (st_wal_io_uring *)io;
    io_uring_queue_exit(&u->ring);
    st_free(u);
}

static const st_wal_io_vtable uring_vtable = {
    .open = posix_open,
    .preallocate = posix_preallocate,
    .truncate = posix_truncate,
    .sync_dir = posix_sync_dir,
    .unlink = posix_unlink,
    .close = posix_close,
    .submit = uring_submit,
    .reap = uring_reap,
    .destroy = uring_destroy,
};

st_err
st_wal_io_uring_create(uint32_t entries, st_wal_io **out, int *errno_out)
{
    ST_ASSERT(out != NULL);
    if (entries == 0)
        entries = ST_WAL_IO_URING_ENTRIES_DEFAULT;
    ST_ASSERT(entries >= ST_WAL_IO_OPS_MAX);
    st_wal_io_uring *u = st_calloc(1, sizeof(*u));
    int rc = io_uring_queue_init(entries, &u->ring, 0);
    if (rc < 0)
        goto fail;
    u->base.vt = &uring_vtable;
    *out = &u->base;
    return ST_OK;
fail:
    if (errno_out != NULL)
        *errno_out = -rc;
    st_free(u);
    return ST_IO;
}

void
st_wal_io_destroy(st_wal_io *io)
{
    if (io == NULL)
        return;
    ST_ASSERT(io->vt != NULL && io->vt->destroy != NULL);
    io->vt->destroy(io);
}

// ---------------------------------------------------------------------------
// Fault injection. Ops run synchronously at submit (or at release of a stuck
// disk) and their completions wait in a fixed queue until reaped, so a test
// decides exactly when the log learns about them.

typedef struct st_wal_io_fault {
    st_wal_io base;
    uint64_t space; // bytes writes may still store; UINT64_MAX: unlimited
    int sync_err;   // errno every sync fails with; 0: none
    bool stuck;
    st_wal_io_op held[ST_WAL_IO_FAULT_CQES_MAX]; // submissions of a stuck disk
    bool held_linked[ST_WAL_IO_FAULT_CQES_MAX];  // op was linked to the previous
    uint32_t held_count;
    st_wal_io_cqe cqes[ST_WAL_IO_FAULT_CQES_MAX]; // ring of completions
    uint32_t cqe_head, cqe_count;
    st_wal_io_fault_stats stats;
} st_wal_io_fault;

static st_wal_io_fault *
fault_of(st_wal_io *io)
{
    ST_ASSERT(io != NULL);
    st_wal_io_fault *f = (st_wal_io_fault *)io;
    return f;
}

static int
fault_write(st_wal_io_fault *f, const st_wal_io_op *op)
{
    if (f->space == 0)
        return -ENOSPC;
    uint32_t len = op->len;
    if (f->space != UINT64_MAX && f->space < len)
        len = (uint32_t)f->space;
    ssize_t w = pwrite(op->fd, op->buf, len, (off_t)op->off);
    if (w < 0)
        return -errno;
    if (f->space != UINT64_MAX)
        f->space -= (uint64_t)w;
    f->stats.writes++;
    f->stats.write_bytes += (uint64_t)w;
    return (int)w;
}

static int
fault_exec(st_wal_io_fault *f, const st_wal_io_op *op)
{
    ST_ASSERT(op->kind >= ST_WAL_IO_WRITE && op->kind <= ST_WAL_IO_FSYNC);
    if (op->kind == ST_WAL_IO_WRITE)
        return fault_write(f, op);
    if (f->sync_err != 0)
        return -f->sync_err;
    int rc = op->kind == ST_WAL_IO_FDATASYNC ? fdatasync(op->fd) : fsync(op->fd);
    if (rc != 0)
        return -errno;
    f->stats.syncs++;
    return 0;
}

static void
fault_complete(st_wal_io_fault *f, uint64_t user_data, int32_t res)
{
    ST_ASSERT(f->cqe_count < ST_WAL_IO_FAULT_CQES_MAX);
    uint32_t at = (f->cqe_head + f->cqe_count) % ST_WAL_IO_FAULT_CQES_MAX;
    f->cqes[at] = (st_wal_io_cqe){.user_data = user_data, .res = res};
    f->cqe_count++;
}

// fault_run executes ops as io_uring would: a failed or short op of a linked
// chain cancels the rest of the chain.
static void
fault_run(st_wal_io_fault *f, const st_wal_io_op *ops, const bool *linked_to_prev, uint32_t count)
{
    bool broken = false;
    for (uint32_t i = 0; i < count; i++) {
        if (!linked_to_prev[i])
            broken = false;
        if (broken) {
            fault_complete(f, ops[i].user_data, -ECANCELED);
            continue;
        }
        int res = fault_exec(f, &ops[i]);
        fault_complete(f, ops[i].user_data, res);
        bool short_write = ops[i].kind == ST_WAL_IO_WRITE && res >= 0 && (uint32_t)res < ops[i].len;
        if (res < 0 || short_write)
            broken = true;
    }
}

static int
fault_submit(st_wal_io *io, const st_wal_io_op *ops, uint32_t count, bool linked)
{
    st_wal_io_fault *f = fault_of(io);
    ST_ASSERT(count > 0 && count <= ST_WAL_IO_OPS_MAX);
    if (f->cqe_count + f->held_count + count > ST_WAL_IO_FAULT_CQES_MAX)
        return -EBUSY;
    bool chain[ST_WAL_IO_OPS_MAX];
    for (uint32_t i = 0; i < count; i++)
        chain[i] = linked && i > 0;
    if (!f->stuck) {
        fault_run(f, ops, chain, count);
        return 0;
    }
    for (uint32_t i = 0; i < count; i++) {
        f->held[f->held_count] = ops[i];
        f->held_linked[f->held_count] = chain[i];
        f->held_count++;
    }
    f->stats.held = f->held_count;
    return 0;
}

static int
fault_reap(st_wal_io *io, st_wal_io_cqe *out, uint32_t max, bool wait)
{
    st_wal_io_fault *f = fault_of(io);
    ST_ASSERT(out != NULL && max > 0);
    // Nobody else can release a stuck disk: waiting would never end.
    if (wait && f->cqe_count == 0)
        return -EAGAIN;
    uint32_t n = 0;
    while (n < max && f->cqe_count > 0) {
        out[n++] = f->cqes[f->cqe_head];
        f->cqe_head = (f->cqe_head + 1) % ST_WAL_IO_FAULT_CQES_MAX;
        f->cqe_count--;
    }
    return (int)n;
}

static void
fault_destroy(st_wal_io *io)
{
    st_free(fault_of(io));
}

static int
fault_preallocate(st_wal_io *io, int fd, uint64_t bytes)
{
    st_wal_io_fault *f = fault_of(io);
    if (f->space == 0)
        return -ENOSPC;
    return posix_preallocate(io, fd, bytes);
}

static const st_wal_io_vtable fault_vtable = {
    .open = posix_open,
    .preallocate = fault_preallocate,
    .truncate = posix_truncate,
    .sync_dir = posix_sync_dir,
    .unlink = posix_unlink,
    .close = posix_close,
    .submit = fault_submit,
    .reap = fault_reap,
    .destroy = fault_destroy,
};

st_err
st_wal_io_fault_create(st_wal_io **out)
{
    ST_ASSERT(out != NULL);
    st_wal_io_fault *f = st_calloc(1, sizeof(*f));
    f->base.vt = &fault_vtable;
    f->space = UINT64_MAX;
    *out = &f->base;
    ST_ASSERT((*out)->vt->submit == fault_submit);
    return ST_OK;
}

static st_wal_io_fault *
fault_checked(st_wal_io *io)
{
    ST_ASSERT(io != NULL && io->vt == &fault_vtable);
    return (st_wal_io_fault *)io;
}

void
st_wal_io_fault_set_space(st_wal_io *io, uint64_t bytes)
{
    fault_checked(io)->space = bytes;
}

void
st_wal_io_fault_fail_sync(st_wal_io *io, int err)
{
    ST_ASSERT(err >= 0);
    fault_checked(io)->sync_err = err;
}

void
st_wal_io_fault_stick(st_wal_io *io, bool stuck)
{
    st_wal_io_fault *f = fault_checked(io);
    f->stuck = stuck;
    if (stuck || f->held_count == 0)
        return;
    uint32_t count = f->held_count;
    f->held_count = 0;
    f->stats.held = 0;
    fault_run(f, f->held, f->held_linked, count);
}

void
st_wal_io_fault_stats_get(const st_wal_io *io, st_wal_io_fault_stats *out)
{
    ST_ASSERT(io != NULL && io->vt == &fault_vtable && out != NULL);
    *out = ((const st_wal_io_fault *)io)->stats;
}
