// wal_test_util.c - see wal_test_util.h.
#include "wal_test_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
wt_tmpdir(char *buf, uint32_t size)
{
    cr_assert(snprintf(buf, size, "/tmp/stwal-test-XXXXXX") < (int)size);
    cr_assert(mkdtemp(buf) != NULL, "mkdtemp failed");
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
wt_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t
mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

uint32_t
wt_payload(uint64_t seed, uint64_t lsn, uint8_t *buf)
{
    uint64_t h = mix(seed * 0x9e3779b97f4a7c15ull + lsn);
    uint32_t len = 1 + (uint32_t)(h % WT_PAYLOAD_MAX);
    for (uint32_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            h = mix(h + i);
        buf[i] = (uint8_t)(h >> (8 * (i % 8)));
    }
    return len;
}

st_err
wt_replay_cb(void *arg, uint64_t lsn, const void *payload, uint32_t len)
{
    wt_replay *r = arg;
    uint8_t want[WT_PAYLOAD_MAX];
    uint32_t want_len = wt_payload(r->seed, lsn, want);
    if (want_len != len || memcmp(want, payload, len) != 0)
        r->bad++;
    if (r->count > 0 && lsn != r->last_lsn + 1)
        r->bad++;
    if (r->count == 0)
        r->first_lsn = lsn;
    r->last_lsn = lsn;
    r->count++;
    return ST_OK;
}

void
wt_config(st_wal_config *cfg, const char *dir, st_wal_io *io, wt_replay *replay)
{
    *cfg = (st_wal_config){
        .data_dir = dir,
        .worker_id = 0,
        .segment_bytes = 64 * 1024,
        .batch_bytes = 16 * 1024,
        .batches = 4,
        .io = io,
    };
    if (replay != NULL) {
        cfg->replay_cb = wt_replay_cb;
        cfg->replay_arg = replay;
    }
}

uint64_t
wt_append_n(st_wal *wal, uint64_t seed, uint64_t count)
{
    uint8_t buf[WT_PAYLOAD_MAX];
    uint64_t lsn = 0;
    for (uint64_t i = 0; i < count; i++) {
        st_wal_stats st;
        st_wal_stats_get(wal, &st);
        uint32_t len = wt_payload(seed, st.next_lsn, buf);
        st_err err = st_wal_append(wal, buf, len, &lsn);
        if (err == ST_BUSY) {
            // Make room: commit and wait for what is buffered.
            cr_assert_eq(st_wal_wait(wal), ST_OK, "%s", st_wal_last_error(wal, NULL));
            err = st_wal_append(wal, buf, len, &lsn);
        }
        cr_assert_eq(err, ST_OK, "append: %s %s", st_err_str(err), st_wal_last_error(wal, NULL));
        cr_assert_eq(lsn, st.next_lsn);
    }
    return lsn;
}

void
wt_seg_path(const char *dir, uint64_t first_lsn, char *buf, uint32_t size)
{
    cr_assert(st_wal_segment_path(dir, 0, first_lsn, buf, size));
}

uint32_t
wt_seg_count(const char *dir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/wal-0", dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    uint32_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".seg") != NULL;
    closedir(d);
    return n;
}
