// wal_reader.c - a read-only cursor over a worker's log. See wal_reader.h;
// the segment and record layout is at the top of wal.c.
#include "shards/wal_reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "shards/wal.h"

#define READER_WINDOW (1u << 20) // bytes read at once
#define READER_HEADER 64u        // segment header (wal.c)
#define READER_RECORD_HEADER 24u // record header (wal.c)

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
};

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

st_err
st_wal_reader_open(const char *data_dir, uint32_t worker, st_wal_reader **out)
{
    *out = NULL;
    st_wal_reader *r = st_calloc(1, sizeof *r);
    int n = snprintf(r->dir, sizeof r->dir, "%s/wal-%" PRIu32, data_dir, worker);
    if (n < 0 || (size_t)n >= sizeof r->dir - 32) {
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

// reader_names lists the segments' first LSNs, sorted; the caller frees.
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
        char *end = NULL;
        if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".seg") != 0)
            continue;
        uint64_t lsn = strtoull(e->d_name, &end, 10);
        if (end != e->d_name + 20 || lsn == 0)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            *names = st_realloc(*names, cap * sizeof **names);
        }
        (*names)[(*count)++] = lsn;
    }
    closedir(d);
    for (uint32_t i = 1; i < *count; i++) // insertion sort: few segments
        for (uint32_t j = i; j > 0 && (*names)[j] < (*names)[j - 1]; j--) {
            uint64_t t = (*names)[j];
            (*names)[j] = (*names)[j - 1];
            (*names)[j - 1] = t;
        }
    return ST_OK;
}

uint64_t
st_wal_reader_first_lsn(st_wal_reader *r)
{
    uint64_t *names;
    uint32_t n;
    uint64_t first = 0;
    if (reader_names(r, &names, &n) == ST_OK && n > 0)
        first = names[0];
    st_free(names);
    return first;
}

// reader_at makes bytes [off, off + need) of the segment available and
// returns them; NULL if the segment ends before (or a read fails: errno).
static const uint8_t *
reader_at(st_wal_reader *r, uint64_t off, size_t need)
{
    if (off + need > r->seg_size)
        return NULL;
    if (r->win_len != 0 && off >= r->win_off && off + need <= r->win_off + r->win_len)
        return r->win + (off - r->win_off);
    size_t want = need > READER_WINDOW ? need : READER_WINDOW;
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
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    r->win_off = off;
    r->win_len = got;
    return got >= need ? r->win : NULL;
}

// reader_segment opens the segment starting at `first` and checks its
// header. ST_NOT_FOUND if there is none.
static st_err
reader_segment(st_wal_reader *r, uint64_t first, char *why, size_t why_len)
{
    reader_unposition(r);
    char path[ST_WAL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%020" PRIu64 ".seg", r->dir, first);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ST_NOT_FOUND;
        snprintf(why, why_len, "cannot open %s: %s", path, strerror(errno));
        return ST_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_len, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return ST_IO;
    }
    r->fd = fd;
    r->seg_first = first;
    r->seg_size = (uint64_t)st.st_size;
    const uint8_t *h = reader_at(r, 0, READER_HEADER);
    if (h == NULL || !st_wal_header_check(h, READER_HEADER, r->worker, first)) {
        snprintf(why, why_len, "%s: the segment header is not valid", path);
        reader_unposition(r);
        return ST_MALFORMED;
    }
    r->off = READER_HEADER;
    r->next_lsn = first;
    return ST_OK;
}

// reader_data_ends tells whether the segment's data ends at r->off (a zero
// length word, or no room for a record header).
static bool
reader_data_ends(st_wal_reader *r, uint32_t *len_out)
{
    const uint8_t *p = reader_at(r, r->off, READER_RECORD_HEADER);
    if (p == NULL)
        return true;
    *len_out = get_u32(p);
    return *len_out == 0;
}

// reader_position puts the cursor at from_lsn.
static st_err
reader_position(st_wal_reader *r, uint64_t from_lsn, char *why, size_t why_len)
{
    reader_unposition(r);
    uint64_t *names;
    uint32_t n;
    st_err err = reader_names(r, &names, &n);
    if (err != ST_OK)
        return err;
    uint32_t pick = n;
    for (uint32_t i = 0; i < n; i++)
        if (names[i] <= from_lsn)
            pick = i;
    uint64_t first = pick < n ? names[pick] : 0;
    st_free(names);
    if (first == 0)
        return ST_NOT_FOUND; // older than the log (or no log)
    err = reader_segment(r, first, why, why_len);
    if (err != ST_OK)
        return err;
    while (r->next_lsn < from_lsn) { // walk record headers forward
        uint32_t len = 0;
        if (reader_data_ends(r, &len)) { // from_lsn is not written yet
            return ST_OK;
        }
        if (len > ST_WAL_PAYLOAD_BYTES_MAX) {
            snprintf(why, why_len, "%s/%020" PRIu64 ".seg: offset %" PRIu64 ": length %" PRIu32
                     " of LSN %" PRIu64 " is not valid", r->dir, r->seg_first, r->off, len,
                     r->next_lsn);
            return ST_MALFORMED;
        }
        r->off += st_wal_frame_bytes(len);
        r->next_lsn++;
    }
    return ST_OK;
}

st_err
st_wal_reader_read(st_wal_reader *r, uint64_t from_lsn, uint64_t upto_lsn, uint8_t *buf,
                   size_t cap, size_t *used, uint32_t *count, char *why, size_t why_len)
{
    *used = 0;
    *count = 0;
    if (why_len > 0)
        why[0] = '\0';
    if (from_lsn == 0 || from_lsn > upto_lsn)
        return ST_OK;
    r->win_len = 0; // bytes past the last call's durable point may have changed
    st_err err = ST_OK;
    if (r->fd < 0 || r->next_lsn != from_lsn)
        err = reader_position(r, from_lsn, why, why_len);
    if (err != ST_OK) {
        reader_unposition(r);
        return err;
    }
    while (r->fd >= 0 && r->next_lsn == from_lsn + *count && r->next_lsn <= upto_lsn) {
        uint32_t len = 0;
        if (reader_data_ends(r, &len)) { // the next segment continues the log
            uint64_t next = r->next_lsn;
            char path[ST_WAL_PATH_MAX + 32];
            snprintf(path, sizeof path, "%s/%020" PRIu64 ".seg", r->dir, next);
            if (access(path, F_OK) != 0) {
                // Not written yet (the cursor stays at the end of this one),
                // or deleted after a snapshot while the cursor read a
                // deleted segment through its fd: then the log moved on.
                uint64_t first = st_wal_reader_first_lsn(r);
                if (first > next && *count == 0) {
                    err = ST_NOT_FOUND;
                }
                break;
            }
            err = reader_segment(r, next, why, why_len);
            if (err == ST_NOT_FOUND) { // not written yet: stay here
                err = ST_OK;
                break;
            }
            if (err != ST_OK)
                break;
            continue;
        }
        uint32_t bytes = len <= ST_WAL_PAYLOAD_BYTES_MAX ? st_wal_frame_bytes(len) : 0;
        const uint8_t *p = bytes ? reader_at(r, r->off, bytes) : NULL;
        st_wal_frame f;
        char what[256] = "the record runs past the end of the segment";
        if (p == NULL ||
            st_wal_frame_check(p, bytes, r->next_lsn, &f, what, sizeof what) != ST_OK) {
            snprintf(why, why_len, "%s/%020" PRIu64 ".seg: offset %" PRIu64 ", LSN %" PRIu64 ": %s",
                     r->dir, r->seg_first, r->off, r->next_lsn, what);
            err = ST_MALFORMED;
            break;
        }
        if (*used + bytes > cap) {
            if (*count == 0)
                err = ST_TOO_LARGE;
            break;
        }
        memcpy(buf + *used, p, bytes);
        *used += bytes;
        (*count)++;
        r->off += bytes;
        r->next_lsn++;
    }
    if (err != ST_OK && err != ST_TOO_LARGE) {
        reader_unposition(r);
        *used = 0;
        *count = 0;
    }
    return err;
}
