// snapshot.c - the snapshot file of one shard worker.
//
// Byte layout (integers little-endian, as the machines we run on):
//
//   offset  size  field
//        0     8  magic "STSNAPF1"
//        8     4  format version, 1
//       12     4  worker id
//       16     4  worker count of the data directory
//       20     4  outbox entries
//       24     8  LSN: the state is the one after this log entry
//       32     8  image bytes (core/snapshot.c's layout)
//       40     8  outbox bytes
//       48     8  XXH3-64 (seed 0) of the body (everything after the header)
//       56     8  XXH3-64 (seed 0) of header bytes 0..55
//       64        body: the image, then each outbox entry as u32 length and
//                 that many bytes of a protobuf LogEntry (shards/codec.c)
//
// Valid: both checksums match, the file is exactly 64 + image + outbox bytes,
// and the outbox entries fill the outbox bytes exactly. A file that is not
// valid is never loaded: the reader falls back to the previous snapshot, and
// the log still holds everything after that one (segments are deleted only
// behind a published snapshot). The LSN is the image's first (replay starts
// after it; core/snapshot.c has the LSN of each part). Written as <lsn>.tmp
// by a pass's thread from the parts its worker hands it, fdatasync'ed, then
// renamed to <lsn>.snap by the worker once its log is durable up to the
// image's last LSN, so a published snapshot never holds an entry the log
// could lose.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
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
#include "core/snapshot.h"
#include "shards/snapshot.h"

#define SNAP_FILE_MAGIC "STSNAPF1"
#define SNAP_FILE_VERSION 1u
#define SNAP_FILE_BYTES_MAX (64ull << 30)

bool
st_snapshot_dir(const char *data_dir, uint32_t worker, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/snap-%u", data_dir, worker);
    return n > 0 && (size_t)n < size;
}

bool
st_snapshot_path(const char *data_dir, uint32_t worker, uint64_t lsn, const char *ext, char *buf,
                 size_t size)
{
    int n = snprintf(buf, size, "%s/snap-%u/%020" PRIu64 ".%s", data_dir, worker, lsn, ext);
    return n > 0 && (size_t)n < size;
}

size_t
st_snapshot_hash_state_bytes(void)
{
    return sizeof(XXH3_state_t);
}

// --- writing -----------------------------------------------------------------

static bool
sw_flush(st_snapshot_writer *sw)
{
    size_t off = 0;
    while (sw->ok && off < sw->used) {
        ssize_t n = write(sw->fd, sw->buf + off, sw->used - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            sw->ok = false;
        else
            off += (size_t)n;
    }
    // Keep the snapshot's dirty pages few: on ext4 (data=ordered) a log
    // fdatasync commits the journal, which first writes every dirty page of
    // every file, so hundreds of MiB of snapshot behind it would stall
    // acknowledgements for seconds. Start writeback of each MiB at once and
    // wait for it every 8 MiB.
    sw->flushes++;
    if (sw->ok)
        (void)sync_file_range(sw->fd, 0, 0,
                              (sw->flushes % 8 == 0 ? SYNC_FILE_RANGE_WAIT_BEFORE : 0) |
                                  SYNC_FILE_RANGE_WRITE);
    sw->used = 0;
    return sw->ok;
}

static bool
sw_put(void *arg, const void *data, size_t len)
{
    st_snapshot_writer *sw = arg;
    XXH3_64bits_update(sw->hash, data, len);
    sw->body_bytes += len;
    const uint8_t *p = data;
    while (sw->ok && len > 0) {
        size_t room = ST_SNAPSHOT_BUF_BYTES - sw->used;
        size_t n = len < room ? len : room;
        memcpy(sw->buf + sw->used, p, n);
        sw->used += n, p += n, len -= n;
        if (sw->used == ST_SNAPSHOT_BUF_BYTES)
            sw_flush(sw);
    }
    return sw->ok;
}

bool
st_snapshot_begin(st_snapshot_writer *sw, const char *path, void *hash_state, uint8_t *buf)
{
    memset(sw, 0, sizeof *sw);
    sw->buf = buf;
    sw->hash = hash_state;
    sw->ok = true;
    XXH3_64bits_reset(sw->hash);
    sw->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sw->fd < 0)
        return sw->ok = false;
    uint8_t zero[ST_SNAPSHOT_HEADER_BYTES] = {0}; // the header comes last
    memcpy(sw->buf, zero, sizeof zero);
    sw->used = sizeof zero;
    return true;
}

bool
st_snapshot_image(st_snapshot_writer *sw, const st_state *state)
{
    uint64_t before = sw->body_bytes;
    if (!st_state_save(state, sw_put, sw))
        return sw->ok = false;
    sw->image_bytes = sw->body_bytes - before;
    return sw->ok;
}

bool
st_snapshot_outbox(st_snapshot_writer *sw, const void *entry, uint32_t len)
{
    sw->outbox_count++;
    return sw_put(sw, &len, sizeof len) && sw_put(sw, entry, len);
}

static void
put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

bool
st_snapshot_end(st_snapshot_writer *sw, uint32_t worker, uint32_t workers, uint64_t lsn)
{
    if (!sw_flush(sw)) {
        close(sw->fd);
        return false;
    }
    uint8_t h[ST_SNAPSHOT_HEADER_BYTES] = {0};
    memcpy(h, SNAP_FILE_MAGIC, 8);
    put_u32(h + 8, SNAP_FILE_VERSION);
    put_u32(h + 12, worker);
    put_u32(h + 16, workers);
    put_u32(h + 20, sw->outbox_count);
    put_u64(h + 24, lsn);
    put_u64(h + 32, sw->image_bytes);
    put_u64(h + 40, sw->body_bytes - sw->image_bytes);
    put_u64(h + 48, XXH3_64bits_digest(sw->hash));
    put_u64(h + 56, XXH3_64bits(h, 56));
    bool ok = pwrite(sw->fd, h, sizeof h, 0) == (ssize_t)sizeof h && fdatasync(sw->fd) == 0;
    ok = close(sw->fd) == 0 && ok;
    return sw->ok = ok;
}

// --- a pass: parts from the worker, written by a thread ------------------------

// Buffers of a pass. One is enough: the worker's copy of a part takes a few
// ms, the thread's write of it longer, so a second buffer would only let the
// worker copy one part ahead, for as much memory again (≈ 7 MB a worker at
// 100,000 SKUs a warehouse, ≈ 3 bytes a stock record at seed scale).
#define PASS_BUFS 1u

// A buffer's memory is a mapping of its own: unmapped at the end of the
// pass, it leaves the daemon's resident memory at once instead of waiting
// in the allocator for its decay.
static uint8_t *
buf_map(uint8_t *old, size_t old_cap, size_t cap)
{
    void *p = old == NULL
                  ? mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                  : mremap(old, old_cap, cap, MREMAP_MAYMOVE);
    ST_ASSERT(p != MAP_FAILED); // as st_malloc: out of memory is fatal
    return p;
}

typedef struct pass_buf {
    uint8_t *data;
    size_t used, cap;
    bool last;
} pass_buf;

struct st_snapshot_pass {
    pthread_t thread;
    sem_t free_bufs, full_bufs; // buffers the worker may fill / the thread may write
    pass_buf bufs[PASS_BUFS];   // filled and written in turn
    uint32_t fill, take;        // the next buffer the worker fills / the thread writes
    pass_buf *filling;          // the worker's, once claimed
    bool last_sent;             // the worker's: nothing more to fill
    atomic_bool stop;
    atomic_int done;
    // Set by the worker before it submits the last buffer (sem_post orders them).
    uint64_t image_bytes, lsn;
    uint32_t worker, workers, outbox_count;
    st_snapshot_writer sw; // the thread's
    size_t size_hint;      // bytes each buffer gets, touched, before the first part
    uint8_t *wbuf;
    void *hash;
    char path[512];
};

static void *
pass_main(void *arg)
{
    st_snapshot_pass *p = arg;
    pthread_setname_np(pthread_self(), "st-snapshot");
    // The buffers' pages are faulted in here, not in the worker's copy.
    for (uint32_t i = 0; i < PASS_BUFS; i++) {
        if (p->size_hint == 0)
            break;
        p->bufs[i].data = buf_map(NULL, 0, p->size_hint);
        memset(p->bufs[i].data, 0, p->size_hint);
        p->bufs[i].cap = p->size_hint;
    }
    for (uint32_t i = 0; i < PASS_BUFS; i++)
        sem_post(&p->free_bufs);
    int result = -1;
    for (;;) {
        while (sem_wait(&p->full_bufs) != 0)
            ST_ASSERT(errno == EINTR);
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            break;
        pass_buf *b = &p->bufs[p->take];
        p->take = (p->take + 1) % PASS_BUFS;
        if (!sw_put(&p->sw, b->data, b->used))
            break;
        if (b->last) {
            p->sw.image_bytes = p->image_bytes;
            p->sw.outbox_count = p->outbox_count;
            bool ok = st_snapshot_end(&p->sw, p->worker, p->workers, p->lsn);
            p->sw.fd = -1; // closed either way
            result = ok ? 1 : -1;
            break;
        }
        sem_post(&p->free_bufs);
    }
    if (result < 0 && !atomic_load(&p->stop))
        fprintf(stderr, "stocktwind: writing snapshot %s: %s\n", p->path, strerror(errno));
    if (p->sw.fd >= 0)
        close(p->sw.fd);
    p->sw.fd = -1;
    atomic_store_explicit(&p->done, result, memory_order_release);
    return NULL;
}

st_snapshot_pass *
st_snapshot_pass_start(const char *path, size_t size_hint, char *why, size_t why_len)
{
    st_snapshot_pass *p = st_calloc(1, sizeof *p);
    p->size_hint = size_hint;
    snprintf(p->path, sizeof p->path, "%s", path);
    p->wbuf = st_malloc(ST_SNAPSHOT_BUF_BYTES);
    p->hash = st_malloc(st_snapshot_hash_state_bytes());
    if (!st_snapshot_begin(&p->sw, path, p->hash, p->wbuf)) {
        snprintf(why, why_len, "cannot create %s: %s", path, strerror(errno));
        st_free(p->hash);
        st_free(p->wbuf);
        st_free(p);
        return NULL;
    }
    int rc = sem_init(&p->free_bufs, 0, 0); // posted by the thread, buffers ready
    rc |= sem_init(&p->full_bufs, 0, 0);
    ST_ASSERT(rc == 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->done, 0);
    rc = pthread_create(&p->thread, NULL, pass_main, p);
    if (rc != 0) {
        snprintf(why, why_len, "cannot start its writer thread: %s", strerror(rc));
        close(p->sw.fd);
        (void)unlink(path);
        sem_destroy(&p->free_bufs);
        sem_destroy(&p->full_bufs);
        st_free(p->hash);
        st_free(p->wbuf);
        st_free(p);
        return NULL;
    }
    return p;
}

bool
st_snapshot_pass_ready(st_snapshot_pass *p)
{
    if (p->filling != NULL)
        return true;
    if (p->last_sent || atomic_load_explicit(&p->done, memory_order_acquire) != 0 ||
        sem_trywait(&p->free_bufs) != 0)
        return false;
    p->filling = &p->bufs[p->fill];
    p->fill = (p->fill + 1) % PASS_BUFS;
    p->filling->used = 0;
    p->filling->last = false;
    return true;
}

bool
st_snapshot_pass_put(void *arg, const void *data, size_t len)
{
    st_snapshot_pass *p = arg;
    pass_buf *b = p->filling;
    ST_ASSERT(b != NULL);
    if (len > b->cap - b->used) {
        size_t cap = b->cap ? b->cap : 1u << 20;
        while (cap - b->used < len)
            cap *= 2;
        b->data = buf_map(b->data, b->cap, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->used, data, len);
    b->used += len;
    return true;
}

void
st_snapshot_pass_submit(st_snapshot_pass *p)
{
    ST_ASSERT(p->filling != NULL);
    p->filling = NULL;
    sem_post(&p->full_bufs);
}

bool
st_snapshot_pass_outbox(st_snapshot_pass *p, const void *entry, uint32_t len)
{
    p->outbox_count++;
    return st_snapshot_pass_put(p, &len, sizeof len) && st_snapshot_pass_put(p, entry, len);
}

void
st_snapshot_pass_last(st_snapshot_pass *p, uint64_t image_bytes, uint32_t worker, uint32_t workers,
                      uint64_t lsn)
{
    ST_ASSERT(p->filling != NULL);
    p->filling->last = true;
    p->last_sent = true;
    p->image_bytes = image_bytes;
    p->worker = worker;
    p->workers = workers;
    p->lsn = lsn;
    st_snapshot_pass_submit(p);
}

int
st_snapshot_pass_done(st_snapshot_pass *p)
{
    return atomic_load_explicit(&p->done, memory_order_acquire);
}

void
st_snapshot_pass_end(st_snapshot_pass *p)
{
    if (p == NULL)
        return;
    atomic_store_explicit(&p->stop, true, memory_order_release);
    sem_post(&p->full_bufs); // wakes a thread waiting for a part
    pthread_join(p->thread, NULL);
    if (atomic_load(&p->done) != 1)
        (void)unlink(p->path);
    sem_destroy(&p->free_bufs);
    sem_destroy(&p->full_bufs);
    for (uint32_t i = 0; i < PASS_BUFS; i++)
        if (p->bufs[i].data != NULL)
            munmap(p->bufs[i].data, p->bufs[i].cap);
    st_free(p->hash);
    st_free(p->wbuf);
    st_free(p);
}

// --- reading -----------------------------------------------------------------

static uint32_t
get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void
say(char *why, size_t why_len, const char *fmt, const char *path, const char *detail)
{
    size_t used = strnlen(why, why_len);
    if (used + 1 < why_len)
        snprintf(why + used, why_len - used, fmt, path, detail);
}

// snap_read loads and checks one file; false (and why) if it is not valid.
static bool
snap_read(const char *path, uint32_t worker, st_snapshot *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        say(why, why_len, "snapshot %s: %s; ", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < ST_SNAPSHOT_HEADER_BYTES || size > SNAP_FILE_BYTES_MAX) {
        close(fd);
        say(why, why_len, "snapshot %s: %s; ", path, "too short or too large");
        return false;
    }
    out->file = st_malloc((size_t)size);
    uint64_t off = 0;
    while (off < size) {
        ssize_t n = pread(fd, out->file + off, (size_t)(size - off), (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (uint64_t)n;
    }
    close(fd);
    const uint8_t *h = out->file;
    const char *bad = NULL;
    if (off != size)
        bad = "cannot read it whole";
    else if (memcmp(h, SNAP_FILE_MAGIC, 8) != 0 || get_u32(h + 8) != SNAP_FILE_VERSION)
        bad = "not a stocktwin snapshot of this version";
    else if (get_u64(h + 56) != XXH3_64bits(h, 56))
        bad = "header checksum mismatch";
    else if (get_u32(h + 12) != worker)
        bad = "written by another worker";
    else if (get_u64(h + 32) > size || get_u64(h + 40) > size ||
             ST_SNAPSHOT_HEADER_BYTES + get_u64(h + 32) + get_u64(h + 40) != size)
        bad = "its sizes do not add up to the file's";
    else if (get_u64(h + 48) != XXH3_64bits(h + ST_SNAPSHOT_HEADER_BYTES,
                                            (size_t)(size - ST_SNAPSHOT_HEADER_BYTES)))
        bad = "body checksum mismatch";
    if (bad == NULL) {
        out->worker = worker;
        out->workers = get_u32(h + 16);
        out->outbox_count = get_u32(h + 20);
        out->lsn = get_u64(h + 24);
        out->image = h + ST_SNAPSHOT_HEADER_BYTES;
        out->image_bytes = get_u64(h + 32);
        out->outbox = out->image + out->image_bytes;
        out->outbox_bytes = get_u64(h + 40);
        // The outbox entries must fill their section exactly.
        uint64_t at = 0;
        for (uint32_t i = 0; i < out->outbox_count && bad == NULL; i++) {
            if (out->outbox_bytes - at < 4 || get_u32(out->outbox + at) > out->outbox_bytes - at - 4)
                bad = "its outbox entries overrun their section";
            else
                at += 4u + get_u32(out->outbox + at);
        }
        if (bad == NULL && at != out->outbox_bytes)
            bad = "its outbox entries do not fill their section";
    }
    if (bad != NULL) {
        say(why, why_len, "snapshot %s: %s; ", path, bad);
        st_snapshot_free(out);
        return false;
    }
    return true;
}

static int
cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

// snap_list lists the LSNs of the worker's files with extension `ext`,
// newest first, into a fresh array (*count_out entries).
static st_err
snap_list(const char *data_dir, uint32_t worker, const char *ext, uint64_t **out,
          uint32_t *count_out)
{
    char dir[512];
    *out = NULL;
    *count_out = 0;
    if (!st_snapshot_dir(data_dir, worker, dir, sizeof dir))
        return ST_IO;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? ST_NOT_FOUND : ST_IO;
    uint32_t n = 0, cap = 0;
    uint64_t *lsns = NULL;
    struct dirent *e;
    size_t ext_len = strlen(ext);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != 20 + 1 + ext_len || e->d_name[20] != '.' || strcmp(e->d_name + 21, ext) != 0)
            continue;
        char *end = NULL;
        uint64_t lsn = strtoull(e->d_name, &end, 10);
        if (end != e->d_name + 20)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            lsns = st_realloc(lsns, cap * sizeof *lsns);
        }
        lsns[n++] = lsn;
    }
    closedir(d);
    if (n > 1)
        qsort(lsns, n, sizeof *lsns, cmp_u64_desc);
    *out = lsns;
    *count_out = n;
    return ST_OK;
}

st_err
st_snapshot_read_newest(const char *data_dir, uint32_t worker, st_snapshot *out, char *why,
                        size_t why_len)
{
    uint64_t *lsns;
    uint32_t n;
    char path[512];
    why[0] = '\0';
    memset(out, 0, sizeof *out);
    if (snap_list(data_dir, worker, "tmp", &lsns, &n) == ST_OK) {
        for (uint32_t i = 0; i < n; i++) // a child that did not finish
            if (st_snapshot_path(data_dir, worker, lsns[i], "tmp", path, sizeof path))
                (void)unlink(path);
        st_free(lsns);
    }
    st_err err = snap_list(data_dir, worker, "snap", &lsns, &n);
    if (err != ST_OK)
        return err;
    err = ST_NOT_FOUND;
    for (uint32_t i = 0; i < n && err == ST_NOT_FOUND; i++) {
        if (st_snapshot_path(data_dir, worker, lsns[i], "snap", path, sizeof path) &&
            snap_read(path, worker, out, why, why_len)) {
            if (out->lsn == lsns[i])
                err = ST_OK;
            else {
                say(why, why_len, "snapshot %s: %s; ", path, "its name and LSN disagree");
                st_snapshot_free(out);
            }
        }
    }
    st_free(lsns);
    return err;
}

void
st_snapshot_free(st_snapshot *snap)
{
    st_free(snap->file);
    snap->file = NULL;
}

st_err
st_snapshot_publish(const char *data_dir, uint32_t worker, uint64_t lsn, st_wal_janitor *janitor,
                    char *why, size_t why_len)
{
    char tmp[512], path[512], dir[512];
    if (!st_snapshot_path(data_dir, worker, lsn, "tmp", tmp, sizeof tmp) ||
        !st_snapshot_path(data_dir, worker, lsn, "snap", path, sizeof path) ||
        !st_snapshot_dir(data_dir, worker, dir, sizeof dir)) {
        snprintf(why, why_len, "snapshot: the data directory's path is too long");
        return ST_IO;
    }
    if (rename(tmp, path) != 0) {
        snprintf(why, why_len, "snapshot: cannot rename %s: %s", tmp, strerror(errno));
        return ST_IO;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool synced = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!synced) {
        snprintf(why, why_len, "snapshot: cannot sync %s: %s", dir, strerror(errno));
        return ST_IO;
    }
    st_snapshot_prune(data_dir, worker, lsn, janitor);
    return ST_OK;
}

void
st_snapshot_prune(const char *data_dir, uint32_t worker, uint64_t lsn, st_wal_janitor *janitor)
{
    uint64_t *lsns;
    uint32_t n;
    if (snap_list(data_dir, worker, "snap", &lsns, &n) != ST_OK)
        return;
    for (uint32_t i = 0; i < n; i++) {
        char path[512];
        if (lsns[i] >= lsn ||
            !st_snapshot_path(data_dir, worker, lsns[i], "snap", path, sizeof path))
            continue;
        const char *name = path;
        if (janitor == NULL || !st_wal_janitor_remove(janitor, &name, NULL, 1, NULL))
            (void)unlink(path);
    }
    st_free(lsns);
}
