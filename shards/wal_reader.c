// wal_reader.c - a read-only cursor over a worker's log (API in wal_reader.h;
// the segment and record layout is at the top of wal.c).
//
// The cursor is (segment fd, byte offset, next LSN). It reads the segment
// through a window: one pread of up to READER_WINDOW bytes serves many
// frames. Bytes of the window past the last frame returned may predate the
// writer's later appends (zeros, or half a record, when they were read), so
// a window read by an earlier call is trusted only while what it shows checks
// out: a zero length word or a failed check in such a window re-reads that
// spot from the file before the cursor believes it (reader_frame). A caught-up
// follower's next fetch thus costs one small pread, not a listing and a walk.
//
// Nothing here trusts the disk: every length is bounded by the format's
// maximum and the segment's size before it is used, and every frame passes
// st_wal_frame_check (the recovery scan's rules) before it is copied out.
//
// Thread: one thread at a time per reader; the writer is never touched (only
// the files), so any number of readers run alongside it.
#include "shards/wal_reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "shards/wal.h"

// A window is read whole, so at the tip of a log being written most of it is
// bytes past the data: a caught-up follower's fetch of a few frames would
// copy (and fault in, over the segment's preallocated blocks) all of it. At
// 1 MiB that was a fifth of a quorum leader's CPU (docs/PERFORMANCE.md);
// 64 KiB still reads a catching-up follower's frames in few calls.
#define READER_WINDOW (64u << 10)         // bytes read at once
#define READER_WINDOW_REFRESH (16u << 10) // bytes re-read at a stale spot (the tip)
#define READER_HEADER 64u                 // segment header (wal.c)
#define READER_RECORD_HEADER 24u          // record header (wal.c)
#define READER_NAME_DIGITS 20u
#define READER_SEGMENT_BYTES_MAX (1ull << 30) // wal.c's WAL_SEGMENT_BYTES_MAX

_Static_assert(READER_WINDOW_REFRESH <= READER_WINDOW, "a refresh reads less than a window");
_Static_assert(READER_WINDOW >= READER_HEADER + READER_RECORD_HEADER,
               "a window holds a header and a record header");
_Static_assert(ST_WAL_PATH_MAX > READER_NAME_DIGITS + 16, "a segment path fits");

struct st_wal_reader {
    char dir[ST_WAL_PATH_MAX];
    uint32_t worker;
    int fd;             // the current segment; -1: not positioned
    uint64_t seg_first; // its first LSN
    uint64_t seg_size;  // its size when opened (preallocated: fixed)
    uint64_t off;       // where the frame of next_lsn starts
    uint64_t next_lsn;
    uint8_t *win; // a window of the segment: bytes win_off .. win_off + win_len
    size_t win_cap;
    uint64_t win_off;
    size_t win_len;
    bool win_old;   // read by an earlier call: bytes past `off` may be stale
    int read_errno; // the last failed pread (0: none)
};

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

st_err
st_wal_reader_open(const char *data_dir, uint32_t worker, st_wal_reader **out)
{
    ST_ASSERT(data_dir != NULL && out != NULL);
    *out = NULL;
    st_wal_reader *r = st_calloc(1, sizeof *r);
    int n = snprintf(r->dir, sizeof r->dir, "%s/wal-%" PRIu32, data_dir, worker);
    if (n < 0 || (size_t)n >= sizeof r->dir - READER_NAME_DIGITS - 6) {
        st_free(r);
        return ST_INVALID_ARGUMENT;
    }
    r->worker = worker;
    r->fd = -1;
    *out = r;
    return ST_OK;
}

static void
reader_unposition(st_wal_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->win_len = 0;
}

void
st_wal_reader_close(st_wal_reader *r)
{
    if (r == NULL)
        return;
    reader_unposition(r);
    st_free(r->win);
    st_free(r);
}

static void
reader_path(const st_wal_reader *r, uint64_t first_lsn, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%020" PRIu64 ".seg", r->dir, first_lsn);
    ST_ASSERT(n > 0 && (size_t)n < size); // the directory's length was checked at open
}

// reader_parse accepts exactly "<20 digits>.seg" naming an LSN > 0, as wal.c
// does; other files are not segments.
static bool
reader_parse(const char *name, uint64_t *lsn_out)
{
    if (strlen(name) != READER_NAME_DIGITS + 4 || strcmp(name + READER_NAME_DIGITS, ".seg") != 0)
        return false;
    uint64_t v = 0;
    for (uint32_t i = 0; i < READER_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *lsn_out = v;
    return v > 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// reader_names lists the segments' first LSNs, sorted; the caller frees
// *names. ST_NOT_FOUND when the log directory does not exist.
static st_err
reader_names(const st_wal_reader *r, uint64_t **names, uint32_t *count)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(r->dir);
    if (d == NULL)
        return errno == ENOENT ? ST_NOT_FOUND : ST_IO;
    uint32_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t lsn;
        if (!reader_parse(e->d_name, &lsn))
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            *names = st_realloc(*names, cap * sizeof **names);
        }
        (*names)[(*count)++] = lsn;
    }
    closedir(d);
    if (*count > 1)
        qsort(*names, *count, sizeof **names, cmp_u64);
    return ST_OK;
}

uint64_t
st_wal_reader_first_lsn(st_wal_reader *r)
{
    ST_ASSERT(r != NULL);
    uint64_t *names;
    uint32_t n;
    uint64_t first = 0;
    if (reader_names(r, &names, &n) == ST_OK && n > 0)
        first = names[0];
    st_free(names);
    return first;
}

// reader_at makes bytes [off, off + need) of the current segment available
// and returns them: from the window when it holds them, else by reading
// `want` bytes (at least need, at most to the segment's end) from off. NULL
// when the segment ends before off + need, or a read failed (r->read_errno).
static const uint8_t *
reader_at(st_wal_reader *r, uint64_t off, size_t need, size_t want)
{
    ST_ASSERT(r->fd >= 0 && need > 0);
    if (off > r->seg_size || need > r->seg_size - off)
        return NULL;
    if (r->win_len != 0 && off >= r->win_off && off - r->win_off + need <= r->win_len)
        return r->win + (off - r->win_off);
    if (want < need)
        want = need;
    if (want > r->seg_size - off)
        want = (size_t)(r->seg_size - off);
    if (want > r->win_cap) {
        st_free(r->win);
        r->win = st_malloc(want);
        r->win_cap = want;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(r->fd, r->win + got, want - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            r->read_errno = errno;
        if (k <= 0) // an error, or the file is shorter than it was
            break;
        got += (size_t)k;
    }
    r->win_off = off;
    r->win_len = got;
    r->win_old = false;
    return got >= need && r->read_errno == 0 ? r->win : NULL;
}

// reader_io_failed reports a failed read of the current segment into why.
static st_err
reader_io_failed(st_wal_reader *r, uint64_t off, char *why, size_t why_len)
{
    char path[ST_WAL_PATH_MAX + 32];
    reader_path(r, r->seg_first, path, sizeof path);
    snprintf(why, why_len, "cannot read %s at offset %" PRIu64 ": %s", path, off,
             strerror(r->read_errno));
    return ST_IO;
}

// reader_segment makes the segment starting at `first` the current one, at
// its first record, after checking its header. ST_NOT_FOUND (the cursor
// unchanged) when no such file exists.
static st_err
reader_segment(st_wal_reader *r, uint64_t first, char *why, size_t why_len)
{
    char path[ST_WAL_PATH_MAX + 32];
    reader_path(r, first, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return ST_NOT_FOUND;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, why_len, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        reader_unposition(r);
        return ST_IO;
    }
    reader_unposition(r);
    r->fd = fd;
    r->seg_first = first;
    r->seg_size = (uint64_t)st.st_size;
    r->read_errno = 0;
    const uint8_t *h = r->seg_size <= READER_SEGMENT_BYTES_MAX
                           ? reader_at(r, 0, READER_HEADER, READER_WINDOW)
                           : NULL;
    if (h == NULL && r->read_errno != 0)
        return reader_io_failed(r, 0, why, why_len);
    if (h == NULL || !st_wal_header_check(h, READER_HEADER, r->worker, first)) {
        snprintf(why, why_len, "%s: the segment header is not valid (%" PRIu64 " bytes)", path,
                 r->seg_size);
        reader_unposition(r);
        return ST_MALFORMED;
    }
    r->off = READER_HEADER;
    r->next_lsn = first;
    return ST_OK;
}

// reader_len reads the length word of the record at r->off: 0 at the end of
// the segment's data (a zero word, or no room for a record header). ST_IO
// when the read fails.
static st_err
reader_len(st_wal_reader *r, size_t want, uint32_t *len_out, char *why, size_t why_len)
{
    *len_out = 0;
    const uint8_t *p = reader_at(r, r->off, READER_RECORD_HEADER, want);
    if (p == NULL && r->read_errno != 0)
        return reader_io_failed(r, r->off, why, why_len);
    if (p != NULL)
        *len_out = get_u32(p);
    return ST_OK;
}

// reader_lost says that a record the caller called durable is not where the
// log says it must be.
static st_err
reader_lost(const st_wal_reader *r, const char *what, char *why, size_t why_len)
{
    snprintf(why, why_len, "%s/%020" PRIu64 ".seg: offset %" PRIu64 ", LSN %" PRIu64 ": %s", r->dir,
             r->seg_first, r->off, r->next_lsn, what);
    return ST_MALFORMED;
}

// reader_position puts the cursor at from_lsn: the segment with the largest
// first LSN <= from_lsn, then record headers forward (read in whole
// windows). The records before from_lsn are durable (from_lsn is), so each
// header must carry the LSN that the chain expects.
static st_err
reader_position(st_wal_reader *r, uint64_t from_lsn, char *why, size_t why_len)
{
    reader_unposition(r);
    uint64_t *names;
    uint32_t n;
    st_err err = reader_names(r, &names, &n);
    if (err == ST_NOT_FOUND)
        snprintf(why, why_len, "%s does not exist", r->dir);
    if (err != ST_OK)
        return err;
    uint64_t first = 0;
    for (uint32_t i = 0; i < n && names[i] <= from_lsn; i++)
        first = names[i];
    uint64_t oldest = n > 0 ? names[0] : 0;
    st_free(names);
    if (first == 0) {
        snprintf(why, why_len, "LSN %" PRIu64 " is older than the log, which starts at %" PRIu64,
                 from_lsn, oldest);
        return ST_NOT_FOUND;
    }
    err = reader_segment(r, first, why, why_len);
    if (err == ST_NOT_FOUND) // deleted between the listing and the open
        snprintf(why, why_len, "the segment of LSN %" PRIu64 " was just deleted", from_lsn);
    while (err == ST_OK && r->next_lsn < from_lsn) {
        uint32_t len;
        err = reader_len(r, READER_WINDOW, &len, why, why_len);
        if (err != ST_OK)
            break;
        if (len == 0)
            return reader_lost(r, "the segment's data ends before the LSN asked for", why, why_len);
        const uint8_t *p = reader_at(r, r->off, READER_RECORD_HEADER, READER_WINDOW);
        ST_ASSERT(p != NULL); // reader_len just read it
        uint64_t bytes = len <= ST_WAL_PAYLOAD_BYTES_MAX ? st_wal_frame_bytes(len) : 0;
        if (bytes == 0 || bytes > r->seg_size - r->off || get_u64(p + 8) != r->next_lsn)
            return reader_lost(r, "the record header is not valid", why, why_len);
        r->off += bytes;
        r->next_lsn++;
    }
    return err;
}

// reader_frame validates the frame of r->next_lsn at r->off. *p_out NULL: the
// segment's data ends there. A spot that looks wrong in a window read by an
// earlier call is re-read once before it is believed.
static st_err
reader_frame(st_wal_reader *r, const uint8_t **p_out, st_wal_frame *f, char *why, size_t why_len)
{
    *p_out = NULL;
    for (;;) {
        bool stale = r->win_old;
        uint32_t len;
        st_err err = reader_len(r, READER_WINDOW, &len, why, why_len);
        if (err != ST_OK)
            return err;
        const uint8_t *p = NULL;
        char what[256] = "the record runs past the end of the segment";
        if (len != 0 && len <= ST_WAL_PAYLOAD_BYTES_MAX) {
            p = reader_at(r, r->off, st_wal_frame_bytes(len), READER_WINDOW);
            if (p == NULL && r->read_errno != 0)
                return reader_io_failed(r, r->off, why, why_len);
        } else if (len != 0) {
            snprintf(what, sizeof what, "payload length %" PRIu32 " is outside 1..%u", len,
                     ST_WAL_PAYLOAD_BYTES_MAX);
        }
        bool ok =
            len == 0 || (p != NULL && st_wal_frame_check(p, st_wal_frame_bytes(len), r->next_lsn, f,
                                                         what, sizeof what) == ST_OK);
        if ((len == 0 || !ok) && stale && r->win_old) {
            r->win_len = 0; // re-read this spot from the file, once
            r->win_old = false;
            if (reader_at(r, r->off, READER_RECORD_HEADER, READER_WINDOW_REFRESH) == NULL &&
                r->read_errno != 0)
                return reader_io_failed(r, r->off, why, why_len);
            continue;
        }
        if (!ok)
            return reader_lost(r, what, why, why_len);
        *p_out = p;
        return ST_OK;
    }
}

// reader_next_segment moves the cursor, at the end of its segment's data, to
// the segment that starts at the next LSN. Without one, the log moved on (it
// was deleted after a snapshot: ST_NOT_FOUND) or it is damaged.
static st_err
reader_next_segment(st_wal_reader *r, char *why, size_t why_len)
{
    uint64_t next = r->next_lsn;
    st_err err = reader_segment(r, next, why, why_len);
    if (err != ST_NOT_FOUND)
        return err;
    uint64_t first = st_wal_reader_first_lsn(r);
    if (first == 0 || first > next) {
        snprintf(why, why_len, "LSN %" PRIu64 " is older than the log, which starts at %" PRIu64,
                 next, first);
        return ST_NOT_FOUND;
    }
    return reader_lost(r, "the segment's data ends and no segment starts at this LSN", why,
                       why_len);
}

st_err
st_wal_reader_read(st_wal_reader *r, uint64_t from_lsn, uint64_t upto_lsn, uint8_t *buf, size_t cap,
                   size_t *used, uint32_t *count, char *why, size_t why_len)
{
    ST_ASSERT(r != NULL && used != NULL && count != NULL && (buf != NULL || cap == 0));
    *used = 0;
    *count = 0;
    if (why_len > 0)
        why[0] = '\0';
    if (from_lsn == 0 || from_lsn > upto_lsn)
        return ST_OK;
    r->win_old = true; // upto_lsn may cover bytes written since the window was read
    r->read_errno = 0;
    st_err err = ST_OK;
    if (r->fd < 0 || r->next_lsn != from_lsn)
        err = reader_position(r, from_lsn, why, why_len);
    while (err == ST_OK && r->next_lsn <= upto_lsn) {
        ST_ASSERT(r->fd >= 0 && r->next_lsn == from_lsn + *count);
        const uint8_t *p;
        st_wal_frame f;
        err = reader_frame(r, &p, &f, why, why_len);
        if (err != ST_OK)
            break;
        if (p == NULL) {
            err = reader_next_segment(r, why, why_len);
            if (err == ST_NOT_FOUND && *count > 0) {
                err = ST_OK; // return what was read; the next call says it
                break;
            }
            if (err != ST_OK)
                break;
            continue;
        }
        if (f.bytes > cap - *used) {
            if (*count == 0) {
                snprintf(why, why_len,
                         "the frame of LSN %" PRIu64 " is %" PRIu32
                         " bytes, more than the %zu offered",
                         f.lsn, f.bytes, cap);
                err = ST_TOO_LARGE;
            }
            break;
        }
        memcpy(buf + *used, p, f.bytes);
        *used += f.bytes;
        (*count)++;
        r->off += f.bytes;
        r->next_lsn++;
    }
    if (err != ST_OK && err != ST_TOO_LARGE) {
        reader_unposition(r);
        *used = 0;
        *count = 0;
    }
    ST_ASSERT(*used <= cap && (err == ST_OK || *count == 0));
    return err;
}
