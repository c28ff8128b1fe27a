// wal_io.c - the io_uring and fault-injecting implementations of st_wal_io
// (see wal_io.h).
// Thread: the owner of the io only.
#include "shards/wal_io.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/eventfd.h>
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
    if (u->base.event_fd >= 0)
        close(u->base.event_fd);
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
    // Completions also signal an eventfd (a worker waits on it); without one
    // the log still works and the worker yields instead.
    u->base.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->base.event_fd >= 0 && io_uring_register_eventfd(&u->ring, u->base.event_fd) < 0) {
        close(u->base.event_fd);
        u->base.event_fd = -1;
    }
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
// Fault injection. Every submission is queued with a due time (its submit
// time plus the injected delay) and executed with the real POSIX calls once
// it is due and the disk is not stuck, strictly in submission order; its
// completions then wait in a fixed queue until reaped. With no delay and no
// stuck disk that happens inside submit, so a module test decides exactly
// when the log learns about them. A control file (st_wal_io_fault_control)
// lets another process set the faults while the owner runs.

#define FAULT_CONTROL_BYTES_MAX 4096u
#define FAULT_CONTROL_POLL_NS 1000000ull // reap looks at the control file at most every 1 ms
#define FAULT_WAIT_SLICE_NS 2000000ull   // a waiting reap sleeps at most 2 ms at a time
#define FAULT_DELAY_MS_MAX 60000u
#define FAULT_NS_PER_MS 1000000ull

_Static_assert(FAULT_WAIT_SLICE_NS >= FAULT_CONTROL_POLL_NS, "a waiting reap sees every change");
_Static_assert((uint64_t)FAULT_DELAY_MS_MAX * FAULT_NS_PER_MS < UINT64_MAX / 4, "due times fit");

// The faults a control file sets; whatever it does not name is off.
typedef struct fault_settings {
    uint64_t space;
    uint64_t prealloc_space;
    int sync_err;
    uint32_t delay_ms;
    bool stuck;
} fault_settings;

typedef struct st_wal_io_fault {
    st_wal_io base;
    uint64_t space;          // bytes writes may still store; UINT64_MAX: unlimited
    uint64_t prealloc_space; // bytes preallocate may still reserve; UINT64_MAX: unlimited
    int sync_err;            // errno every sync fails with; 0: none
    uint64_t delay_ns;       // a submission executes no earlier than this after submit
    bool stuck;
    // Submitted ops not executed yet, oldest first: a stuck disk's, or ones
    // whose delay has not passed.
    st_wal_io_op held[ST_WAL_IO_FAULT_CQES_MAX];
    bool held_linked[ST_WAL_IO_FAULT_CQES_MAX]; // op was linked to the previous
    uint64_t held_due_ns[ST_WAL_IO_FAULT_CQES_MAX];
    uint32_t held_count;
    st_wal_io_cqe cqes[ST_WAL_IO_FAULT_CQES_MAX]; // ring of completions
    uint32_t cqe_head, cqe_count;
    st_wal_io_fault_stats stats;
    // The control file, NULL: none. control_st is the file as last applied.
    char *control_path;
    struct stat control_st;
    bool control_exists;
    uint64_t control_checked_ns;
} st_wal_io_fault;

static st_wal_io_fault *
fault_of(st_wal_io *io)
{
    ST_ASSERT(io != NULL);
    st_wal_io_fault *f = (st_wal_io_fault *)io;
    return f;
}

static uint64_t
fault_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
fault_sleep_until(uint64_t due_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(due_ns / 1000000000ull),
                          .tv_nsec = (long)(due_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
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

// fault_advance executes the held ops that are due, oldest first, unless the
// disk is stuck. The ops of one submission share their due time, so a chain
// is never split; a later submission never overtakes an earlier one.
static void
fault_advance(st_wal_io_fault *f, uint64_t now_ns)
{
    uint32_t k = 0;
    while (!f->stuck && k < f->held_count && f->held_due_ns[k] <= now_ns)
        k++;
    if (k == 0)
        return;
    ST_ASSERT(!f->held_linked[0]);
    fault_run(f, f->held, f->held_linked, k);
    uint32_t rest = f->held_count - k;
    memmove(f->held, f->held + k, rest * sizeof(f->held[0]));
    memmove(f->held_linked, f->held_linked + k, rest * sizeof(f->held_linked[0]));
    memmove(f->held_due_ns, f->held_due_ns + k, rest * sizeof(f->held_due_ns[0]));
    f->held_count = rest;
    f->stats.held = rest;
}

// ---------------------------------------------------------------------------
// The control file: one fault per line, `key value`, '#' starts a comment.

// parse_whole reads all of `s` as a decimal number in [0, max].
static bool
parse_whole(const char *s, uint64_t max, uint64_t *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static bool
parse_bytes(const char *s, uint64_t *out)
{
    if (strcmp(s, "unlimited") == 0) {
        *out = UINT64_MAX;
        return true;
    }
    return parse_whole(s, UINT64_MAX - 1, out);
}

static bool
parse_errno(const char *s, int *out)
{
    static const struct {
        const char *name;
        int value;
    } names[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].value;
            return true;
        }
    }
    uint64_t v;
    if (!parse_whole(s, 4095, &v))
        return false;
    *out = (int)v;
    return true;
}

// fault_parse_line applies one line (comment already cut) to *s; false if
// it is not a known `key value` pair.
static bool
fault_parse_line(const char *line, fault_settings *s)
{
    char key[32], val[32], extra[2];
    int n = sscanf(line, "%31s %31s %1s", key, val, extra);
    if (n <= 0)
        return true; // blank
    if (n != 2)
        return false;
    uint64_t v;
    if (strcmp(key, "space") == 0)
        return parse_bytes(val, &s->space);
    if (strcmp(key, "prealloc_space") == 0)
        return parse_bytes(val, &s->prealloc_space);
    if (strcmp(key, "fail_sync") == 0)
        return parse_errno(val, &s->sync_err);
    if (strcmp(key, "delay_ms") == 0 && parse_whole(val, FAULT_DELAY_MS_MAX, &v)) {
        s->delay_ms = (uint32_t)v;
        return true;
    }
    if (strcmp(key, "stuck") == 0 && parse_whole(val, 1, &v)) {
        s->stuck = v == 1;
        return true;
    }
    return false;
}

// fault_parse reads the control text (NUL-terminated, modified) into *s.
static bool
fault_parse(char *text, fault_settings *s, char *why, size_t why_len)
{
    *s = (fault_settings){.space = UINT64_MAX, .prealloc_space = UINT64_MAX};
    char *p = text;
    for (unsigned line = 1; *p != '\0'; line++) {
        char *end = strchr(p, '\n');
        char *next = end != NULL ? end + 1 : p + strlen(p);
        if (end != NULL)
            *end = '\0';
        char *hash = strchr(p, '#');
        if (hash != NULL)
            *hash = '\0';
        if (!fault_parse_line(p, s)) {
            snprintf(why, why_len,
                     "line %u: '%s' is not one of space BYTES|unlimited, prealloc_space "
                     "BYTES|unlimited, fail_sync ERRNO|0, delay_ms 0..%u, stuck 0|1",
                     line, p, FAULT_DELAY_MS_MAX);
            return false;
        }
        p = next;
    }
    return true;
}

// fault_read reads the control file at `path` into *s; a missing file means
// no faults. -errno of the read, or 1 when it does not parse (why says).
static int
fault_read(const char *path, fault_settings *s, char *why, size_t why_len)
{
    static const fault_settings none = {.space = UINT64_MAX, .prealloc_space = UINT64_MAX};
    char text[FAULT_CONTROL_BYTES_MAX + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *s = none;
        return 0;
    }
    if (fd < 0)
        return -errno;
    size_t len = 0;
    int rc = 0;
    while (len < sizeof(text) - 1) {
        ssize_t n = read(fd, text + len, sizeof(text) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (rc != 0)
        return rc;
    text[len] = '\0';
    if (len == sizeof(text) - 1) {
        snprintf(why, why_len, "larger than %u bytes", FAULT_CONTROL_BYTES_MAX);
        return 1;
    }
    return fault_parse(text, s, why, why_len) ? 0 : 1;
}

static void
fault_apply(st_wal_io_fault *f, const fault_settings *s)
{
    ST_ASSERT(s->delay_ms <= FAULT_DELAY_MS_MAX && s->sync_err >= 0);
    f->space = s->space;
    f->prealloc_space = s->prealloc_space;
    f->sync_err = s->sync_err;
    f->delay_ns = (uint64_t)s->delay_ms * FAULT_NS_PER_MS;
    f->stuck = s->stuck; // the caller's fault_advance releases what was held
}

static bool
fault_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

// fault_control_poll re-reads the control file if it changed since it was
// last applied (identity, size, mtime or ctime). `force` looks at once;
// otherwise at most every FAULT_CONTROL_POLL_NS. A file that does not parse
// changes nothing and is reported on stderr (this is a test facility; the
// owner has no other channel while it runs).
static void
fault_control_poll(st_wal_io_fault *f, uint64_t now_ns, bool force)
{
    if (f->control_path == NULL)
        return;
    if (!force && now_ns - f->control_checked_ns < FAULT_CONTROL_POLL_NS)
        return;
    f->control_checked_ns = now_ns;
    struct stat st;
    bool exists = stat(f->control_path, &st) == 0;
    if (exists == f->control_exists && (!exists || fault_same_file(&st, &f->control_st)))
        return;
    f->control_exists = exists;
    if (exists)
        f->control_st = st;
    fault_settings s;
    char why[256] = "";
    int rc = fault_read(f->control_path, &s, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "stocktwin: fault control %s: %s; faults unchanged\n", f->control_path,
                rc < 0 ? strerror(-rc) : why);
        return;
    }
    fault_apply(f, &s);
}

// ---------------------------------------------------------------------------
// The fault io's operations.

static int
fault_submit(st_wal_io *io, const st_wal_io_op *ops, uint32_t count, bool linked)
{
    st_wal_io_fault *f = fault_of(io);
    ST_ASSERT(count > 0 && count <= ST_WAL_IO_OPS_MAX);
    uint64_t now = fault_now_ns();
    fault_control_poll(f, now, true);
    fault_advance(f, now);
    if (f->cqe_count + f->held_count + count > ST_WAL_IO_FAULT_CQES_MAX)
        return -EBUSY;
    for (uint32_t i = 0; i < count; i++) {
        f->held[f->held_count] = ops[i];
        f->held_linked[f->held_count] = linked && i > 0;
        f->held_due_ns[f->held_count] = now + f->delay_ns;
        f->held_count++;
    }
    f->stats.held = f->held_count;
    fault_advance(f, now);
    return 0;
}

// fault_reap_wait sleeps until a completion is there. Without a control file
// nobody can release a stuck disk, and with nothing held nothing can
// complete: waiting would never end (-EAGAIN). With one, a stuck disk is
// waited out, as a real one would be.
static int
fault_reap_wait(st_wal_io_fault *f)
{
    while (f->cqe_count == 0) {
        if (f->held_count == 0 || (f->stuck && f->control_path == NULL))
            return -EAGAIN;
        uint64_t now = fault_now_ns();
        uint64_t until = f->stuck ? now + FAULT_WAIT_SLICE_NS : f->held_due_ns[0];
        if (f->control_path != NULL && until > now + FAULT_WAIT_SLICE_NS)
            until = now + FAULT_WAIT_SLICE_NS;
        if (until > now)
            fault_sleep_until(until);
        now = fault_now_ns();
        fault_control_poll(f, now, false);
        fault_advance(f, now);
    }
    return 0;
}

static int
fault_reap(st_wal_io *io, st_wal_io_cqe *out, uint32_t max, bool wait)
{
    st_wal_io_fault *f = fault_of(io);
    ST_ASSERT(out != NULL && max > 0);
    uint64_t now = fault_now_ns();
    fault_control_poll(f, now, false);
    fault_advance(f, now);
    if (wait) {
        int rc = fault_reap_wait(f);
        if (rc < 0)
            return rc;
    }
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
    st_wal_io_fault *f = fault_of(io);
    st_free(f->control_path);
    st_free(f);
}

// fault_preallocate models both kinds of full disk: a file system that
// allocates on write (`space`) refuses once nothing is left, and a
// preallocating one (`prealloc_space`) charges the whole reservation here,
// so writes into it never fail for want of space.
static int
fault_preallocate(st_wal_io *io, int fd, uint64_t bytes)
{
    st_wal_io_fault *f = fault_of(io);
    fault_control_poll(f, fault_now_ns(), true);
    if (f->space == 0 || (f->prealloc_space != UINT64_MAX && f->prealloc_space < bytes))
        return -ENOSPC;
    int rc = posix_preallocate(io, fd, bytes);
    if (rc == 0 && f->prealloc_space != UINT64_MAX)
        f->prealloc_space -= bytes;
    return rc;
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
    f->base.event_fd = -1;
    f->space = UINT64_MAX;
    f->prealloc_space = UINT64_MAX;
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

st_err
st_wal_io_fault_control(st_wal_io *io, const char *path, char *why, size_t why_len)
{
    st_wal_io_fault *f = fault_checked(io);
    ST_ASSERT(path != NULL && why != NULL && why_len > 0);
    // Look before reading: a change in between is then seen by the next poll.
    struct stat st;
    bool exists = stat(path, &st) == 0;
    fault_settings s;
    char reason[256] = "";
    int rc = fault_read(path, &s, reason, sizeof(reason));
    if (rc != 0) {
        snprintf(why, why_len, "fault control %s: %s", path, rc < 0 ? strerror(-rc) : reason);
        return rc < 0 ? ST_IO : ST_INVALID_ARGUMENT;
    }
    st_free(f->control_path);
    f->control_path = st_strndup(path, strlen(path));
    f->control_exists = exists;
    if (exists)
        f->control_st = st;
    f->control_checked_ns = fault_now_ns();
    fault_apply(f, &s);
    fault_advance(f, f->control_checked_ns);
    return ST_OK;
}

void
st_wal_io_fault_set_space(st_wal_io *io, uint64_t bytes)
{
    fault_checked(io)->space = bytes;
}

void
st_wal_io_fault_set_prealloc_space(st_wal_io *io, uint64_t bytes)
{
    fault_checked(io)->prealloc_space = bytes;
}

void
st_wal_io_fault_fail_sync(st_wal_io *io, int err)
{
    ST_ASSERT(err >= 0);
    fault_checked(io)->sync_err = err;
}

void
st_wal_io_fault_set_delay(st_wal_io *io, uint32_t delay_ms)
{
    ST_ASSERT(delay_ms <= FAULT_DELAY_MS_MAX);
    fault_checked(io)->delay_ns = (uint64_t)delay_ms * FAULT_NS_PER_MS;
}

void
st_wal_io_fault_stick(st_wal_io *io, bool stuck)
{
    st_wal_io_fault *f = fault_checked(io);
    f->stuck = stuck;
    fault_advance(f, fault_now_ns());
}

void
st_wal_io_fault_stats_get(const st_wal_io *io, st_wal_io_fault_stats *out)
{
    ST_ASSERT(io != NULL && io->vt == &fault_vtable && out != NULL);
    *out = ((const st_wal_io_fault *)io)->stats;
}
