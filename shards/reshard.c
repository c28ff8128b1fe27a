// reshard.c - starting a data directory written by N workers with M. See
// reshard.h.
//
// HOW. Each old worker's state is rebuilt as a start would (its newest
// snapshot, then its log after it, read with st_wal_scan: read-only, every
// record checked), one at a time; its warehouses move to the new worker a
// stable hash with M places them on (core/reshard.c translates every
// reference), the catalog comes from old worker 0. The transfer halves the
// old workers had in flight (their snapshots' outbox and what replay staged)
// go into new worker 0's snapshot; at start they are staged again and
// delivered (a destination that has one answers DUPLICATE). Each new worker
// gets a snapshot at LSN 0 and an empty log.
//
// SWITCH, crash-safe. The new snapshots are written and synced under
// <data>/reshard.new/; then <data>/reshard.journal (synced) records the
// switch; then the old wal-*/snap-* directories move into
// <data>/resharded-from-N-to-M-<unix time>/ (kept: the operator deletes it), the
// new snap-* directories move into place, stocktwin.meta is rewritten for M
// and the journal is removed. A start that finds the journal redoes the
// renames that did not happen (each is idempotent) before anything else.
//
// Memory: one old state and the new states at a time (about 1.5 times the
// state). Thread: the creating thread, before the workers start.
#include "shards/reshard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/reshard.h"
#include "core/snapshot.h"
#include "shards/codec.h"
#include "shards/snapshot.h"
#include "shards/wal.h"

#define RESHARD_ENTRY_MAX (64u * 1024u)
#define RESHARD_ARENA (1u << 20)

// Transfer halves in flight: packed LogEntries, each as u32 length + bytes.
typedef struct reshard_outbox {
    uint8_t *buf;
    size_t len, cap;
    uint32_t count;
} reshard_outbox;

typedef struct reshard_run {
    const st_shards_config *cfg;
    uint32_t from, to;
    st_state *old;     // the old worker being read
    st_state **fresh;  // the `to` new states
    st_apply_out *out;
    st_codec_scratch *scratch;
    uint8_t *entry;
    uint8_t *arena; // unpack memory of one entry (RESHARD_ARENA), reset per entry
    size_t arena_used;
    reshard_outbox outbox;
    uint64_t replayed;
    uint32_t worker;       // the old worker being read
    time_t said, started;  // progress lines (reshard_progress)
    char *why;
    size_t why_len;
} reshard_run;

static void
outbox_add(reshard_outbox *o, const void *entry, uint32_t len)
{
    if (o->len + 4u + len > o->cap) {
        o->cap = (o->len + 4u + len) * 2;
        o->buf = st_realloc(o->buf, o->cap);
    }
    memcpy(o->buf + o->len, &len, 4);
    memcpy(o->buf + o->len + 4, entry, len);
    o->len += 4u + len;
    o->count++;
}

uint32_t
st_reshard_route(const char *warehouse, uint32_t workers)
{
    ST_ASSERT(workers != 0);
    return (uint32_t)(XXH3_64bits(warehouse, strlen(warehouse)) % workers);
}

static void *
arena_alloc(void *arg, size_t size)
{
    reshard_run *run = arg;
    size = (size + 15u) & ~(size_t)15u;
    if (size > RESHARD_ARENA - run->arena_used)
        return NULL; // refused, never trusted
    void *p = run->arena + run->arena_used;
    run->arena_used += size;
    return p;
}

static void
arena_free(void *arg, void *ptr)
{
    (void)arg, (void)ptr;
}

// The replay of one old log: entries are applied to run->old; transfer
// halves they stage are kept for the new layout.
static st_err
reshard_record(void *arg, uint64_t lsn, const void *payload, uint32_t len)
{
    reshard_run *run = arg;
    st_event ev;
    st_codec_entry meta;
    char msg[256];
    ProtobufCAllocator alloc = {.alloc = arena_alloc, .free = arena_free, .allocator_data = run};
    run->arena_used = 0;
    st_err err = st_codec_entry_unpack(payload, len, &alloc, &ev, &meta, msg, sizeof msg);
    (void)lsn;
    if (err != ST_OK) {
        snprintf(run->why, run->why_len, "log entry %" PRIu64 ": %s", lsn, msg);
        return err;
    }
    bool covered;
    if (st_state_covers(run->old, lsn, &ev, &covered) != ST_OK) {
        snprintf(run->why, run->why_len,
                 "log entry %" PRIu64 ": the snapshot names products its log never created", lsn);
        return ST_MALFORMED;
    }
    if (covered) { // the snapshot holds it (core/snapshot.h)
        run->replayed++;
        return ST_OK;
    }
    err = st_state_apply(run->old, &ev, run->out);
    if (!st_err_accepted(err)) {
        snprintf(run->why, run->why_len, "log entry %" PRIu64 " was refused on replay: %s (%s)",
                 lsn, st_err_str(err), run->out->message);
        return ST_MALFORMED;
    }
    for (uint32_t i = 0; i < run->out->outbox_count; i++) {
        st_codec_entry m = {.lsn = lsn, .epoch = meta.epoch, .ingest_time_ms = meta.ingest_time_ms};
        size_t n = st_codec_entry_size(&run->out->outbox[i], &m, run->scratch);
        ST_ASSERT(n > 0 && n <= RESHARD_ENTRY_MAX);
        n = st_codec_entry_pack(run->scratch, run->entry);
        outbox_add(&run->outbox, run->entry, (uint32_t)n);
    }
    run->replayed++;
    return ST_OK;
}

// reshard_progress says, at most once a second, how the replay of an old
// worker's log goes.
static void
reshard_progress(void *arg, uint64_t done, uint64_t total)
{
    reshard_run *run = arg;
    time_t now = time(NULL);
    if (now == run->said)
        return;
    run->said = now;
    fprintf(stderr,
            "stocktwind: reshard: old worker %u: %" PRIu64 " log entries replayed, %.0f%% of "
            "%.0f MiB of its log, %lld s so far\n",
            run->worker, run->replayed, total ? 100.0 * (double)done / (double)total : 100.0,
            (double)total / 1048576.0, (long long)(now - run->started));
}

// reshard_load rebuilds old worker i into run->old.
static st_err
reshard_load(reshard_run *run, uint32_t i)
{
    const char *dir = run->cfg->data_dir;
    st_err err = st_state_create(&run->cfg->state, &run->old);
    if (err != ST_OK)
        return err;
    st_snapshot snap;
    char why[1024] = "";
    uint64_t snap_lsn = 0;
    err = st_snapshot_read_newest(dir, i, &snap, why, sizeof why);
    if (err == ST_OK) {
        err = st_state_load(run->old, snap.image, (size_t)snap.image_bytes, why, sizeof why);
        const uint8_t *p = snap.outbox;
        for (uint32_t k = 0; err == ST_OK && k < snap.outbox_count; k++) {
            uint32_t len;
            memcpy(&len, p, 4); // the reader checked the framing
            outbox_add(&run->outbox, p + 4, len);
            p += 4u + len;
        }
        snap_lsn = snap.lsn;
        st_snapshot_free(&snap);
        if (err != ST_OK) {
            snprintf(run->why, run->why_len, "worker %u's snapshot: %s", i, why);
            return err;
        }
    } else if (err != ST_NOT_FOUND) {
        snprintf(run->why, run->why_len, "worker %u's snapshots: %s", i, why);
        return err;
    }
    st_wal_scan_config sc = {
        .data_dir = dir,
        .worker_id = i,
        .from_lsn = snap_lsn + 1,
        .record_cb = reshard_record,
        .record_arg = run,
        .progress_cb = reshard_progress,
        .progress_arg = run,
    };
    run->worker = i;
    st_wal_recovery rec;
    memset(&rec, 0, sizeof rec);
    run->why[0] = '\0';
    err = st_wal_scan(&sc, &rec);
    if (err == ST_NOT_FOUND && snap_lsn == 0)
        err = ST_OK; // a worker that never wrote
    if (err != ST_OK) {
        if (run->why[0] == '\0')
            snprintf(run->why, run->why_len, "worker %u's log: %s", i, rec.message);
        return err;
    }
    if (rec.last_lsn < snap_lsn || rec.last_lsn < st_state_image_lsn(run->old)) {
        snprintf(run->why, run->why_len,
                 "worker %u: its snapshot holds entries up to LSN %" PRIu64
                 " but its log ends at %" PRIu64,
                 i, st_state_image_lsn(run->old) ? st_state_image_lsn(run->old) : snap_lsn,
                 rec.last_lsn);
        return ST_MALFORMED;
    }
    return ST_OK;
}

// reshard_write writes new worker j's snapshot under <data>/reshard.new/.
static st_err
reshard_write(reshard_run *run, const char *root, uint32_t j)
{
    char dir[8704], path[8704];
    snprintf(dir, sizeof dir, "%s/snap-%u", root, j);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(run->why, run->why_len, "cannot create %s: %s", dir, strerror(errno));
        return ST_IO;
    }
    if (!st_snapshot_path(root, j, 0, "tmp", path, sizeof path))
        return ST_INVALID_ARGUMENT;
    uint8_t *buf = st_malloc(ST_SNAPSHOT_BUF_BYTES);
    void *hash = st_malloc(st_snapshot_hash_state_bytes());
    st_snapshot_writer sw;
    bool ok = st_snapshot_begin(&sw, path, hash, buf) && st_snapshot_image(&sw, run->fresh[j]);
    if (j == 0) { // every transfer half in flight: staged again by worker 0
        const uint8_t *p = run->outbox.buf;
        for (uint32_t k = 0; ok && k < run->outbox.count; k++) {
            uint32_t len;
            memcpy(&len, p, 4);
            ok = st_snapshot_outbox(&sw, p + 4, len);
            p += 4u + len;
        }
    }
    ok = ok && st_snapshot_end(&sw, j, run->to, 0);
    st_free(hash);
    st_free(buf);
    char snap[8704];
    st_snapshot_path(root, j, 0, "snap", snap, sizeof snap);
    if (!ok || rename(path, snap) != 0) {
        snprintf(run->why, run->why_len, "cannot write %s: %s", snap, strerror(errno));
        return ST_IO;
    }
    return ST_OK;
}

static st_err
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ST_IO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? ST_OK : ST_IO;
}

static st_err
write_file(const char *path, const char *text)
{
    char tmp[8800];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return ST_IO;
    bool ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0 ? ST_OK : ST_IO;
}

// reshard_switch performs (or completes) the renames the journal names.
static st_err
reshard_switch(const char *data, uint32_t from, uint32_t to, const char *archive, char *why,
               size_t why_len)
{
    char src[8704], dst[8704];
    if (mkdir(archive, 0755) != 0 && errno != EEXIST) {
        snprintf(why, why_len, "cannot create %s: %s", archive, strerror(errno));
        return ST_IO;
    }
    static const char *const kinds[] = {"wal", "snap"};
    for (uint32_t i = 0; i < from; i++)
        for (int k = 0; k < 2; k++) {
            snprintf(src, sizeof src, "%s/%s-%u", data, kinds[k], i);
            snprintf(dst, sizeof dst, "%s/%s-%u", archive, kinds[k], i);
            if (rename(src, dst) != 0 && errno != ENOENT) {
                snprintf(why, why_len, "cannot move %s: %s", src, strerror(errno));
                return ST_IO;
            }
        }
    for (uint32_t j = 0; j < to; j++) {
        snprintf(src, sizeof src, "%s/reshard.new/snap-%u", data, j);
        snprintf(dst, sizeof dst, "%s/snap-%u", data, j);
        if (rename(src, dst) != 0 && errno != ENOENT) {
            snprintf(why, why_len, "cannot move %s: %s", src, strerror(errno));
            return ST_IO;
        }
    }
    snprintf(src, sizeof src, "%s/reshard.new", data);
    (void)rmdir(src);
    char meta[8704], text[64];
    snprintf(meta, sizeof meta, "%s/stocktwin.meta", data);
    snprintf(text, sizeof text, "stocktwin data 1 workers %u\n", to);
    if (write_file(meta, text) != ST_OK || sync_dir(archive) != ST_OK || sync_dir(data) != ST_OK) {
        snprintf(why, why_len, "cannot rewrite %s: %s", meta, strerror(errno));
        return ST_IO;
    }
    snprintf(src, sizeof src, "%s/reshard.journal", data);
    if (unlink(src) != 0 || sync_dir(data) != ST_OK) {
        snprintf(why, why_len, "cannot remove %s: %s", src, strerror(errno));
        return ST_IO;
    }
    return ST_OK;
}

st_err
st_reshard_recover(const char *data, char *why, size_t why_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/reshard.journal", data);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT ? ST_OK : ST_IO;
    unsigned from = 0, to = 0;
    char archive[4096] = "";
    int got = fscanf(f, "reshard %u %u %4095s", &from, &to, archive);
    fclose(f);
    if (got != 3 || from == 0 || to == 0 || from > 64 || to > 64) {
        snprintf(why, why_len, "%s is not a reshard journal", path);
        return ST_MALFORMED;
    }
    fprintf(stderr, "stocktwind: completing the interrupted reshard of %s from %u to %u workers\n",
            data, from, to);
    return reshard_switch(data, from, to, archive, why, why_len);
}

static void
run_free(reshard_run *run)
{
    st_state_destroy(run->old);
    for (uint32_t j = 0; run->fresh != NULL && j < run->to; j++)
        st_state_destroy(run->fresh[j]);
    st_free(run->fresh);
    st_free(run->out);
    st_free(run->scratch);
    st_free(run->entry);
    st_free(run->arena);
    st_free(run->outbox.buf);
}

st_err
st_reshard(const st_shards_config *cfg, uint32_t from, uint32_t to, char *why, size_t why_len)
{
    ST_ASSERT(cfg->data_dir != NULL && from >= 1 && to >= 1 && from != to);
    const char *data = cfg->data_dir;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fprintf(stderr, "stocktwind: %s was written by %u workers; resharding it for %u\n", data, from,
            to);
    reshard_run run = {.cfg = cfg, .from = from, .to = to, .why = why, .why_len = why_len,
                       .said = time(NULL), .started = time(NULL)};
    run.out = st_calloc(1, sizeof *run.out);
    run.scratch = st_calloc(1, sizeof *run.scratch);
    run.entry = st_malloc(RESHARD_ENTRY_MAX);
    run.arena = st_malloc(RESHARD_ARENA);
    run.fresh = st_calloc(to, sizeof *run.fresh);
    st_err err = ST_OK;
    for (uint32_t j = 0; err == ST_OK && j < to; j++)
        err = st_state_create(&cfg->state, &run.fresh[j]);
    uint64_t warehouses = 0;
    for (uint32_t i = 0; err == ST_OK && i < from; i++) {
        err = reshard_load(&run, i);
        for (uint32_t j = 0; err == ST_OK && i == 0 && j < to; j++)
            err = st_state_adopt_catalog(run.fresh[j], run.old);
        for (uint32_t w = 0; err == ST_OK && st_state_warehouse_id(run.old, w) != NULL; w++) {
            uint32_t j = st_reshard_route(st_state_warehouse_id(run.old, w), to);
            err = st_state_adopt_warehouse(run.fresh[j], run.old, w, why, why_len);
            warehouses++;
        }
        st_state_destroy(run.old);
        run.old = NULL;
        if (err == ST_OK)
            fprintf(stderr, "stocktwind: reshard: old worker %u read (%" PRIu64
                    " log entries replayed so far)\n", i, run.replayed);
    }
    char root[4352];
    snprintf(root, sizeof root, "%s/reshard.new", data);
    if (err == ST_OK) {
        if (mkdir(root, 0755) != 0 && errno != EEXIST) {
            snprintf(why, why_len, "cannot create %s: %s", root, strerror(errno));
            err = ST_IO;
        }
    }
    for (uint32_t j = 0; err == ST_OK && j < to; j++)
        err = reshard_write(&run, root, j);
    uint32_t in_flight = run.outbox.count;
    run_free(&run);
    if (err != ST_OK)
        return err;
    char archive[4352], journal[8704], text[9000];
    for (unsigned k = 0;; k++) { // a name no earlier reshard used
        snprintf(archive, sizeof archive, "%s/resharded-from-%u-to-%u-%lld%s%.0u", data, from, to,
                 (long long)time(NULL), k ? "-" : "", k);
        if (access(archive, F_OK) != 0)
            break;
    }
    snprintf(journal, sizeof journal, "%s/reshard.journal", data);
    snprintf(text, sizeof text, "reshard %u %u %s\n", from, to, archive);
    if (sync_dir(root) != ST_OK || write_file(journal, text) != ST_OK || sync_dir(data) != ST_OK) {
        snprintf(why, why_len, "cannot write %s: %s", journal, strerror(errno));
        return ST_IO;
    }
    err = reshard_switch(data, from, to, archive, why, why_len);
    if (err != ST_OK)
        return err;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr,
            "stocktwind: resharded %s from %u to %u workers: %" PRIu64
            " warehouses, %u transfer halves to deliver again, in %.1f s; the old logs are in %s\n",
            data, from, to, warehouses, in_flight,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, archive);
    return ST_OK;
}
