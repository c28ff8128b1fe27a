// worker.c - one shard worker: the thread that owns an st_state and is the
// only one to touch it.
//
// The loop, once per iteration:
//   1. drain up to ST_SHARDS_DRAIN_MAX jobs from the job ring (fewer once
//      they hold as many events as a slot's feed holds changes) and up to
//      ST_SHARDS_INBOX_DRAIN_MAX outbox messages from the inbox;
//   2. apply: outbox messages, then each job's events routed here (catalog
//      events are applied by every worker; worker 0 reports their status) or
//      its query callback, collecting alerts, changes and outbox events; a
//      feed that fills up seals the slot mid-batch and the batch goes on in
//      the next slot (worker_split), waiting only if every slot is sealed;
//   3. seal the batch: end the log's batch (one write and one linked
//      fdatasync for all of it: group commit) without waiting for it;
//   4. release every sealed batch the log now reports durable, oldest first:
//      the jobs strictly in drain order (the last job of a request to be
//      released runs its done callback), then the feed, the consumed
//      messages handed back, and the outbox delivered.
// So the worker applies batch N+1 while batch N's fdatasync is in flight
// (see "The pipeline" below). When both rings are empty and nothing waits for
// the disk it spins briefly, then parks (worker_park).
//
// Ownership: the worker owns everything in st_worker; jobs are borrowed from
// the submitter between pop and release.
// Thread: st_worker_main and everything static here run on the worker thread;
// st_worker_wake on any thread; init/deinit on the creating thread.
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/snapshot.h"
#include "shards/snapshot.h"
#include "shards/worker.h"

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// The replay path unpacks each entry into a bump arena, reset per entry: the
// part of the replay arena its pending place owns (worker.h). An entry that
// needs more than a part is refused (NULL), never trusted.
static void *
replay_alloc(void *arg, size_t size)
{
    st_worker *w = arg;
    size = (size + 15u) & ~(size_t)15u;
    if (size > ST_SHARDS_REPLAY_ARENA - w->replay_used)
        return NULL;
    void *p = w->replay_arena + (size_t)w->replay_part * ST_SHARDS_REPLAY_ARENA + w->replay_used;
    w->replay_used += size;
    return p;
}

static void
replay_free(void *arg, void *ptr)
{
    (void)arg, (void)ptr;
}

// replay_arena_part starts unpacking into part `part` of the replay arena.
static ProtobufCAllocator
replay_arena_part(st_worker *w, uint32_t part)
{
    ST_ASSERT(part < ST_LOOKAHEAD);
    w->replay_part = part;
    w->replay_used = 0;
    return (ProtobufCAllocator){.alloc = replay_alloc, .free = replay_free, .allocator_data = w};
}

// worker_pending_add decodes a logged entry into the next pending place and
// pushes it into the lookahead; NULL (w->error says why) if it is not a valid
// entry. The place is free: at most ST_LOOKAHEAD - 1 others wait.
static st_worker_pending *
worker_pending_add(st_worker *w, uint64_t lsn, const void *payload, uint32_t len)
{
    ST_ASSERT(w->pending_count < ST_LOOKAHEAD);
    uint32_t k = (w->pending_head + w->pending_count) % ST_LOOKAHEAD;
    st_worker_pending *p = &w->pending[k];
    ProtobufCAllocator alloc = replay_arena_part(w, k);
    if (st_codec_entry_unpack(payload, len, &alloc, &p->ev, &p->meta, w->error, sizeof w->error) !=
        ST_OK)
        return NULL;
    if (p->meta.lsn != lsn) {
        snprintf(w->error, sizeof w->error, "log entry %" PRIu64 " says it is entry %" PRIu64, lsn,
                 p->meta.lsn);
        return NULL;
    }
    p->lsn = lsn;
    w->pending_count++;
    st_lookahead_push(w->state, &w->lookahead, &p->ev);
    return p;
}

// worker_pending_oldest takes the oldest pending entry out of the queue (its
// place stays valid until the next worker_pending_add); NULL if none.
static st_worker_pending *
worker_pending_oldest(st_worker *w)
{
    if (w->pending_count == 0)
        return NULL;
    st_worker_pending *p = &w->pending[w->pending_head];
    w->pending_head = (w->pending_head + 1) % ST_LOOKAHEAD;
    w->pending_count--;
    return p;
}

static void
worker_pending_reset(st_worker *w)
{
    w->pending_head = w->pending_count = 0;
    st_lookahead_reset(&w->lookahead);
}

static void worker_stage_outbox(st_worker *w);

// worker_replay_apply applies one logged entry at start-up. The log holds
// only events that were accepted, so anything else means the log and core
// disagree: refuse to start rather than serve a state that differs from
// what was acknowledged. Outbox events are staged again: a destination that
// already applied one answers DUPLICATE, one that never got it (a crash
// before delivery) applies it now.
static st_err
worker_replay_apply(st_worker *w, const st_worker_pending *p)
{
    bool covered;
    if (st_state_covers(w->state, p->lsn, &p->ev, &covered) != ST_OK) {
        snprintf(w->error, sizeof w->error,
                 "worker %u: log entry %" PRIu64 ": the snapshot names products its log never "
                 "created",
                 w->id, p->lsn);
        return ST_MALFORMED;
    }
    if (!covered) { // else the snapshot has it (core/snapshot.h)
        st_err err = st_state_apply(w->state, &p->ev, w->out);
        if (!st_err_accepted(err)) {
            snprintf(w->error, sizeof w->error,
                     "worker %u: log entry %" PRIu64 " was refused on replay: %s (%s)", w->id,
                     p->lsn, st_err_str(err), w->out->message);
            return ST_MALFORMED;
        }
        if (p->ev.kind == ST_EV_WAREHOUSE_UPSERT)
            st_directory_add(w->shards->directory, p->ev.warehouse);
        worker_stage_outbox(w);
    }
    w->last_lsn = w->durable_lsn = p->lsn;
    w->last_epoch = p->meta.epoch;
    w->replayed++;
    return ST_OK;
}

// worker_replay_cb takes one recovered entry: decoded now, applied
// ST_LOOKAHEAD - 1 entries later (worker_replay_flush applies the last ones).
// A refusal names the entry it is about, which may be an earlier one.
static st_err
worker_replay_cb(void *arg, uint64_t lsn, const void *payload, uint32_t len)
{
    st_worker *w = arg;
    if (worker_pending_add(w, lsn, payload, len) == NULL)
        return ST_MALFORMED;
    if (w->pending_count < ST_LOOKAHEAD)
        return ST_OK;
    return worker_replay_apply(w, worker_pending_oldest(w));
}

// worker_replay_flush applies what replay left pending.
static st_err
worker_replay_flush(st_worker *w)
{
    for (st_worker_pending *p; (p = worker_pending_oldest(w)) != NULL;) {
        st_lookahead_push(w->state, &w->lookahead, NULL);
        st_err err = worker_replay_apply(w, p);
        if (err != ST_OK)
            return err;
    }
    return ST_OK;
}

// worker_replay_progress prints a progress line at most once a second while
// a long replay runs: entries, rate, how far through the log, and an ETA.
static void
worker_replay_progress(void *arg, uint64_t done, uint64_t total)
{
    st_worker *w = arg;
    uint64_t now = mono_ms();
    if (w->replay_said_ms == 0) {
        w->replay_start_ms = w->replay_said_ms = now;
        return;
    }
    if (now - w->replay_said_ms < 1000 || total == 0)
        return;
    w->replay_said_ms = now;
    double secs = (double)(now - w->replay_start_ms) / 1000.0;
    double frac = (double)done / (double)total;
    double eta = frac > 0 ? secs / frac - secs : 0;
    fprintf(stderr,
            "stocktwind: worker %u: replaying its log: %" PRIu64 " entries (%.0f/s), %.0f%% of "
            "%.0f MiB, about %.0f s to go\n",
            w->id, w->replayed, secs > 0 ? (double)w->replayed / secs : 0, 100.0 * frac,
            (double)total / 1048576.0, eta);
}

// worker_snapshot_load starts the (empty) state from the worker's newest
// valid snapshot, if there is one: its image, then the outbox events it had
// in flight, staged again (a destination that has one answers DUPLICATE).
// *lsn_out gets the snapshot's LSN (0: none).
static st_err
worker_snapshot_load(st_worker *w, uint64_t *lsn_out)
{
    st_snapshot snap;
    char why[1024];
    *lsn_out = 0;
    uint64_t t0 = mono_ms();
    st_err err = st_snapshot_read_newest(w->shards->data_dir, w->id, &snap, why, sizeof why);
    if (why[0] != '\0')
        fprintf(stderr, "stocktwind: worker %u: skipped: %s\n", w->id, why);
    if (err == ST_NOT_FOUND)
        return ST_OK;
    if (err != ST_OK) {
        snprintf(w->error, sizeof w->error, "cannot read the snapshots of worker %u: %.700s", w->id,
                 why);
        return err;
    }
    err = st_state_load(w->state, snap.image, (size_t)snap.image_bytes, why, sizeof why);
    if (err != ST_OK)
        snprintf(w->error, sizeof w->error, "%.400s: %.400s", snap.path, why);
    const uint8_t *p = snap.outbox;
    for (uint32_t i = 0; err == ST_OK && i < snap.outbox_count; i++) {
        uint32_t len;
        memcpy(&len, p, sizeof len); // the reader checked the framing
        ProtobufCAllocator alloc = replay_arena_part(w, 0);
        st_event ev;
        st_codec_entry meta;
        err = st_codec_entry_unpack(p + 4, len, &alloc, &ev, &meta, w->error, sizeof w->error);
        if (err == ST_OK && ev.kind != ST_EV_TRANSFER_INBOUND &&
            ev.kind != ST_EV_TRANSFER_ARRIVED) {
            snprintf(w->error, sizeof w->error, "%s: outbox entry %u is not a transfer half",
                     snap.path, i);
            err = ST_MALFORMED;
        }
        if (err == ST_OK && !w->shards->follower) // a follower delivers nothing (shards.h)
            st_outbox_stage(w, &ev);
        p += 4u + len;
    }
    if (err == ST_OK) {
        for (uint32_t i = 0; st_state_warehouse_id(w->state, i) != NULL; i++)
            st_directory_add(w->shards->directory, st_state_warehouse_id(w->state, i));
        *lsn_out = snap.lsn;
        st_snapshot_prune(w->shards->data_dir, w->id, snap.lsn, NULL);
        fprintf(stderr,
                "stocktwind: worker %u: loaded its snapshot at LSN %" PRIu64
                " (%.1f MiB, %u outbox events) in %.2f s\n",
                w->id, snap.lsn, (double)snap.image_bytes / 1048576.0, snap.outbox_count,
                (double)(mono_ms() - t0) / 1000.0);
    }
    st_snapshot_free(&snap);
    return err;
}

// worker_log_open starts the (empty) state from the newest snapshot, then
// opens this worker's log under data_dir and replays what follows it.
static st_err
worker_log_open(st_worker *w)
{
    const st_shards *shards = w->shards;
    char dir[ST_WAL_PATH_MAX];
    if (!st_snapshot_dir(shards->data_dir, w->id, dir, sizeof dir) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
        snprintf(w->error, sizeof w->error, "cannot create %s: %s", dir, strerror(errno));
        return ST_IO;
    }
    uint64_t snap_lsn = 0;
    st_err serr = worker_snapshot_load(w, &snap_lsn);
    if (serr != ST_OK)
        return serr;
    w->snap_lsn = snap_lsn;
    st_wal_config wc = {
        .data_dir = shards->data_dir,
        .worker_id = w->id,
        .sync_mode = (st_wal_sync_mode)shards->sync,
        .segment_bytes = shards->segment_bytes,
        .sync_interval_ms = shards->sync_interval_ms,
        .truncate_corrupt = shards->truncate_corrupt,
        .fault_control = shards->fault_control,
        .janitor = shards->janitor,
        // A follower's emptied log continues after the leader's snapshot; a
        // leader's empty log beside a snapshot lost entries: refused below.
        .first_lsn = shards->follower ? snap_lsn + 1 : 0,
        .replay_from_lsn = snap_lsn + 1,
        .replay_cb = worker_replay_cb,
        .replay_arg = w,
        .progress_cb = worker_replay_progress,
        .progress_arg = w,
    };
    st_wal_recovery rec;
    memset(&rec, 0, sizeof rec);
    w->error[0] = '\0';
    worker_pending_reset(w);
    st_err err = st_wal_open(&wc, &w->wal, &rec);
    if (err == ST_OK && (err = worker_replay_flush(w)) != ST_OK) {
        st_wal_close(w->wal);
        w->wal = NULL;
        return err;
    }
    if (err != ST_OK) {
        if (w->error[0] == '\0') // the replay callback's reason, else the log's
            snprintf(w->error, sizeof w->error, "%s", rec.message);
        return err;
    }
    if (rec.torn || rec.corrupt)
        fprintf(stderr, "stocktwind: worker %u: %s\n", w->id, rec.message);
    if (w->replay_said_ms != w->replay_start_ms) // it said something: close the story
        fprintf(stderr, "stocktwind: worker %u: replayed %" PRIu64 " entries in %.1f s\n", w->id,
                w->replayed, (double)(mono_ms() - w->replay_start_ms) / 1000.0);
    // The log's last LSN: an empty log opened at first_lsn has none of its
    // own but continues after the snapshot.
    st_wal_stats ws;
    st_wal_stats_get(w->wal, &ws);
    uint64_t last = ws.next_lsn - 1;
    if (last < snap_lsn && shards->follower) {
        // A follower received a snapshot and stopped before its reset
        // emptied the log: the log is a copy of the leader's older part.
        fprintf(stderr,
                "stocktwind: worker %u: its log ends at %" PRIu64 " before its snapshot at %" PRIu64
                "; starting the log over after the snapshot\n",
                w->id, last, snap_lsn);
        st_wal_close(w->wal);
        w->wal = NULL;
        err = st_wal_remove_all(shards->data_dir, w->id);
        if (err == ST_OK)
            err = st_wal_open(&wc, &w->wal, &rec);
        if (err == ST_OK) {
            st_wal_stats_get(w->wal, &ws);
            last = ws.next_lsn - 1;
        }
        if (err != ST_OK) {
            snprintf(w->error, sizeof w->error, "worker %u: cannot start its log over: %s", w->id,
                     rec.message);
            return err;
        }
    }
    uint64_t image_last = st_state_image_lsn(w->state); // 0: replayed past it
    if (last < snap_lsn || (last < image_last && !shards->follower)) {
        snprintf(w->error, sizeof w->error,
                 "worker %u: its snapshot holds entries up to LSN %" PRIu64 " but its log ends at "
                 "%" PRIu64 ": the log lost entries the snapshot holds",
                 w->id, image_last > snap_lsn ? image_last : snap_lsn, last);
        return ST_MALFORMED;
    }
    w->last_lsn = w->durable_lsn = last;
    atomic_store_explicit(&w->pub_durable_lsn, w->durable_lsn, memory_order_release);
    atomic_store_explicit(&w->pub_epoch, w->last_epoch, memory_order_relaxed);
    atomic_store_explicit(&w->pub_image_lsn, image_last, memory_order_release);
    return ST_OK;
}

// worker_log_alloc makes the buffers a worker with a log needs, once.
static void
worker_log_alloc(st_worker *w)
{
    w->scratch = st_calloc(1, sizeof(*w->scratch));
    w->entry = st_malloc(ST_SHARDS_ENTRY_MAX);
    w->replay_arena = st_malloc((size_t)ST_LOOKAHEAD * ST_SHARDS_REPLAY_ARENA);
    w->snap_free = st_calloc(ST_SHARDS_OUTBOX_POOL, sizeof *w->snap_free);
    w->snap_last_ms = mono_ms();
}

st_err
st_worker_init(st_worker *w, struct st_shards *shards, uint32_t id, const st_shards_config *config)
{
    ST_ASSERT(w != NULL && shards != NULL);
    ST_ASSERT(id < shards->worker_count);
    w->shards = shards;
    w->id = id;
    st_err err = st_state_create(&config->state, &w->state);
    if (err != ST_OK)
        return err;
    w->out = st_calloc(1, sizeof(*w->out));
    for (uint32_t i = 0; i < ST_SHARDS_PIPELINE; i++) {
        w->slots[i].alerts = st_calloc(ST_SHARDS_FEED_ALERTS_MAX, sizeof(st_alert));
        w->slots[i].changes = st_calloc(ST_SHARDS_FEED_CHANGES_MAX, sizeof(st_change));
    }
    st_ring_init(&w->jobs, shards->ring_size);
    st_ring_init(&w->inbox, 2 * ST_SHARDS_OUTBOX_POOL);
    st_outbox_init(&w->outbox, id);
    atomic_init(&w->sleeping, false);
    atomic_init(&w->busy_rejections, 0);
    atomic_init(&w->snap_requested, false);
    atomic_init(&w->pub_durable_lsn, 0);
    atomic_init(&w->pub_epoch, 0);
    atomic_init(&w->pub_image_lsn, 0);
    atomic_init(&w->quorum_lsn, 0);
    int rc = sem_init(&w->wake, 0, 0);
    ST_ASSERT(rc == 0);
    if (shards->sync == ST_SHARDS_SYNC_NONE)
        return ST_OK;
    worker_log_alloc(w);
    err = worker_log_open(w);
    if (err == ST_OK && !shards->follower) { // a follower keeps it for replicated entries
        st_free(w->replay_arena);
        w->replay_arena = NULL;
    }
    return err;
}

static void worker_snapshot_stop(st_worker *w);
static void worker_snapshot_abandon(st_worker *w);

// st_worker_deinit frees what init made; it tolerates a half-initialized
// worker (state NULL) so that create's cleanup path can call it.
void
st_worker_deinit(st_worker *w)
{
    if (w->state == NULL)
        return;
    ST_ASSERT(!w->started);
    if (w->wal != NULL) {
        if (st_wal_wait(w->wal) != ST_OK)
            fprintf(stderr, "stocktwind: worker %u: closing the log: %s\n", w->id,
                    st_wal_last_error(w->wal, NULL));
        worker_snapshot_stop(w);
        st_wal_close(w->wal);
        w->wal = NULL;
    }
    st_free(w->replay_arena);
    st_free(w->snap_free);
    st_free(w->entry);
    st_free(w->scratch);
    st_outbox_deinit(&w->outbox);
    st_ring_deinit(&w->inbox);
    st_ring_deinit(&w->jobs);
    sem_destroy(&w->wake);
    for (uint32_t i = 0; i < ST_SHARDS_PIPELINE; i++) {
        ST_ASSERT(w->slots[i].job_count == 0 && w->slots[i].received_count == 0);
        st_free(w->slots[i].changes);
        st_free(w->slots[i].alerts);
    }
    st_free(w->out);
    st_state_destroy(w->state);
    w->state = NULL;
}

// st_worker_wake is the producer half of the parking protocol (see
// worker_park): the fence orders the producer's ring push before its read of
// `sleeping`, and the exchange lets exactly one producer post per park.
void
st_worker_wake(st_worker *w)
{
    ST_ASSERT(w != NULL && w->shards != NULL);
    ck_pr_fence_memory(); // see worker_park for why CK's fence
    if (atomic_load(&w->sleeping) && atomic_exchange(&w->sleeping, false)) {
        int rc = sem_post(&w->wake);
        ST_ASSERT(rc == 0);
    }
}

// worker_has_work: anything a producer may have left and woken the worker
// for. The park re-checks it after saying it sleeps, so every flag a
// producer sets before st_worker_wake belongs here: a snapshot request that
// came as the worker went to park was once slept through (until the next
// event), and a test waiting for that snapshot timed out. A request made
// while a pass runs waits for the pass (worker_snapshot_tick), so it is
// left out then, or the worker would spin instead of parking.
static bool
worker_has_work(st_worker *w)
{
    return st_ring_depth(&w->jobs) != 0 || st_ring_depth(&w->inbox) != 0 ||
           atomic_load(&w->shards->stop) ||
           (w->wal != NULL && w->snap_pass == NULL && !w->snap_written &&
            atomic_load(&w->snap_requested));
}

// worker_ticks: this worker writes tick entries (worker_tick).
static bool
worker_ticks(const st_worker *w)
{
    return w->shards->tick_ms != 0 && !w->shards->follower;
}

// worker_park_timed sleeps at most `interval` ms, so that batch mode's
// fdatasync happens on time while no work comes, and a finished snapshot is
// published. On time-out it cancels its
// park; if a producer claimed the post first, it consumes that post, keeping
// the semaphore at one token at most (see worker_park).
static void
worker_park_timed(st_worker *w, uint32_t interval)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += interval / 1000u;
    until.tv_nsec += (long)(interval % 1000u) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(&w->wake, &until) != 0) {
        if (errno == EINTR)
            continue;
        ST_ASSERT(errno == ETIMEDOUT);
        if (atomic_exchange(&w->sleeping, false))
            return; // cancelled: no producer will post for this park
        while (sem_wait(&w->wake) != 0)
            ST_ASSERT(errno == EINTR);
        return;
    }
}

// worker_park spins for a moment (a busy producer's next job usually comes
// within microseconds), then sleeps on the semaphore. Lost wake-ups are
// excluded by a Dekker-style handshake with full fences on both sides:
// the worker stores sleeping = true, fences, then re-checks the rings; a
// producer pushes, fences, then reads `sleeping`. At least one of them sees
// the other's write, so either the worker finds the job or the producer posts.
// If the worker cancels its park but a producer already claimed the post
// (exchanged sleeping to false), the worker consumes that post, so the
// semaphore never holds more than one token.
// The fences are CK's full barrier (mfence on x86-64, dmb ish on arm64), not
// atomic_thread_fence: the ring's own stores and loads are CK's inline
// assembly, so the barrier must order those, and GCC refuses C11 fences
// under ThreadSanitizer anyway. `sleeping` itself is a seq_cst C11 atomic.
static void
worker_park(st_worker *w)
{
    for (uint32_t i = 0; i < ST_SHARDS_SPIN; i++) {
        if (worker_has_work(w))
            return;
        ck_pr_stall();
    }
    atomic_store(&w->sleeping, true);
    ck_pr_fence_memory();
    if (worker_has_work(w) && atomic_exchange(&w->sleeping, false))
        return; // cancelled before any producer claimed the post
    uint32_t timeout = UINT32_MAX; // none
    if (w->snap_pass != NULL || w->snap_written)
        timeout = 10; // a snapshot to write, poll for and publish
    if (w->wal != NULL && w->shards->sync == ST_SHARDS_SYNC_BATCH) {
        uint32_t interval = w->shards->sync_interval_ms ? w->shards->sync_interval_ms : 1000u;
        timeout = interval < timeout ? interval : timeout;
    }
    if (worker_ticks(w)) {
        uint64_t now = mono_ms();
        uint64_t left = w->next_tick_ms > now ? w->next_tick_ms - now : 1u;
        timeout = left < timeout ? (uint32_t)left : timeout;
    }
    if (timeout != UINT32_MAX) {
        worker_park_timed(w, timeout);
        return;
    }
    while (sem_wait(&w->wake) != 0)
        ST_ASSERT(errno == EINTR);
    ST_ASSERT(!atomic_load(&w->sleeping));
}

// worker_waits_for_quorum: the oldest sealed batch is durable here and waits
// only for followers (--ack quorum=K).
static bool
worker_waits_for_quorum(const st_worker *w)
{
    return w->shards->quorum != 0 && w->sealed != 0 && w->slots[w->head].lsn <= w->durable_lsn;
}

// worker_park_quorum sleeps (at most 1 ms) instead of spinning while the
// followers make a batch durable: st_shards_quorum_set wakes the worker when
// the quorum LSN moves, a submitter when a job comes (unless `jobs` is false:
// the pipeline is full and jobs must wait anyway). The handshake is
// worker_park's.
static void
worker_park_quorum(st_worker *w, bool jobs)
{
    atomic_store(&w->sleeping, true);
    ck_pr_fence_memory();
    bool ready =
        atomic_load_explicit(&w->quorum_lsn, memory_order_acquire) >= w->slots[w->head].lsn ||
        (jobs && worker_has_work(w));
    if (ready && atomic_exchange(&w->sleeping, false))
        return; // cancelled before any producer claimed the post
    worker_park_timed(w, 1);
}

// worker_wait_disk waits, at most ST_SHARDS_DISK_WAIT_US, for the log to
// have a completion (its io_uring signals an eventfd) instead of spinning
// while a write or fdatasync is in flight; the short bound keeps new jobs
// flowing into the next batch meanwhile. Without an eventfd (the fault io)
// it yields.
static void
worker_wait_disk(st_worker *w)
{
    int fd = w->wal != NULL ? st_wal_event_fd(w->wal) : -1;
    if (fd < 0) {
        sched_yield();
        return;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct timespec t = {0, (long)ST_SHARDS_DISK_WAIT_US * 1000L};
    if (ppoll(&p, 1, &t, NULL) > 0) {
        uint64_t n;
        if (read(fd, &n, sizeof n) < 0) {
            // EAGAIN: another read emptied it; nothing to do either way
        }
    }
}

static void worker_log_room(st_worker *w);
static void worker_split(st_worker *w);
static void worker_fail_job(st_worker *w, st_shards_job *job);
static void worker_wait_oldest(st_worker *w);

static st_worker_slot *
worker_filling(st_worker *w)
{
    ST_ASSERT(w->sealed < ST_SHARDS_PIPELINE);
    return &w->slots[(w->head + w->sealed) % ST_SHARDS_PIPELINE];
}

// Appends one apply's alerts and changes to the filling slot's feed. If they
// would overflow it, the slot is sealed as it stands and the batch goes on in
// the next one (worker_split), so the feed stays bounded and never runs ahead
// of the log.
static void
worker_feed_collect(st_worker *w, const st_apply_out *out)
{
    st_worker_slot *slot = worker_filling(w);
    ST_ASSERT(out->alert_count <= ST_APPLY_ALERTS_MAX);
    ST_ASSERT(out->change_count <= ST_APPLY_CHANGES_MAX);
    if (slot->alert_count + out->alert_count > ST_SHARDS_FEED_ALERTS_MAX ||
        slot->change_count + out->change_count > ST_SHARDS_FEED_CHANGES_MAX) {
        worker_split(w);
        slot = worker_filling(w);
        ST_ASSERT(slot->alert_count == 0 && slot->change_count == 0);
    }
    memcpy(&slot->alerts[slot->alert_count], out->alerts, out->alert_count * sizeof(st_alert));
    slot->alert_count += out->alert_count;
    memcpy(&slot->changes[slot->change_count], out->changes, out->change_count * sizeof(st_change));
    slot->change_count += out->change_count;
}

static void
worker_stage_outbox(st_worker *w)
{
    if (w->shards->follower)
        return; // the leader's logs carry every worker's share (shards.h)
    const st_apply_out *out = w->out;
    ST_ASSERT(out->outbox_count <= ST_APPLY_OUTBOX_MAX);
    for (uint32_t i = 0; i < out->outbox_count; i++)
        st_outbox_stage(w, &out->outbox[i]);
}

// worker_wal_failed handles a log that failed after events were applied to
// the state: they are not durable and must never be acknowledged. A full
// disk is retryable: the worker marks the log full, refuses new events
// unapplied with ST_UNAVAILABLE and the reason (worker_apply), keeps
// answering what does not wait for the log, and has the log rewrite from
// its last durable point every ST_SHARDS_FULL_RETRY_MS (worker_poll) until
// space returns. Anything else ends the process, as PostgreSQL's PANIC
// does, so that recovery rebuilds the state from what is durable.
static void
worker_wal_failed(st_worker *w)
{
    int e = 0;
    const char *why = st_wal_last_error(w->wal, &e);
    if (e == ENOSPC || e == EDQUOT || e == 0) {
        uint64_t now = mono_ms();
        bool said = w->wal_full;
        snprintf(w->wal_why, sizeof w->wal_why, "%s", why[0] != '\0' ? why : "the disk is full");
        w->wal_full = true;
        w->wal_errno = e;
        w->wal_retry_ms = now + ST_SHARDS_FULL_RETRY_MS;
        static _Atomic uint64_t said_ms;
        if (!said && now - atomic_load(&said_ms) > 10000) {
            atomic_store(&said_ms, now);
            fprintf(stderr,
                    "stocktwind: worker %u: %s; new events are refused (UNAVAILABLE) and "
                    "applied ones wait until space returns\n",
                    w->id, w->wal_why);
        }
        return;
    }
    fprintf(stderr,
            "stocktwind: worker %u: FATAL: %s; refusing to acknowledge events that are not "
            "durable; exiting so that recovery restores the durable log\n",
            w->id, why);
    fflush(stderr);
    abort();
}

// Books an applied event: counters, feed, outbox and, for an accepted
// warehouse upsert, the runtime's directory.
static void
worker_absorb(st_worker *w, const st_event *event, st_err err)
{
    const st_apply_out *out = w->out;
    if (err == ST_DUPLICATE)
        w->events_duplicate++;
    else if (st_err_accepted(err))
        w->events_accepted++;
    else
        w->events_rejected++;
    worker_feed_collect(w, out);
    worker_stage_outbox(w);
    if (event->kind == ST_EV_WAREHOUSE_UPSERT && st_err_accepted(err))
        st_directory_add(w->shards->directory, event->warehouse);
}

// worker_apply applies one event and, when it changed the state (OK or
// STALE), appends its LogEntry to the log. Room in the log is reserved
// first, because applying cannot be undone: an event the log cannot take is
// refused unapplied (ST_UNAVAILABLE, *message says why). Full batch buffers
// are not a refusal: the worker waits for the log to free one
// (worker_log_room) and goes on. *message points at the sentence of a
// refusal.
static st_err
worker_apply(st_worker *w, const st_event *event, const char **message)
{
    *message = w->out->message;
    if (w->wal == NULL)
        return st_state_apply(w->state, event, w->out);
    if (w->wal_full) {
        snprintf(w->message, sizeof w->message,
                 "the log cannot take the event (writing it: %s); retry later",
                 w->wal_errno != 0 ? strerror(w->wal_errno) : "a short write, the disk is full");
        *message = w->message;
        return ST_UNAVAILABLE;
    }
    st_codec_entry meta = {
        .lsn = w->last_lsn + 1, .epoch = w->shards->epoch, .ingest_time_ms = w->now_ms};
    size_t len = st_codec_entry_size(event, &meta, w->scratch);
    ST_ASSERT(len > 0 && len <= ST_SHARDS_ENTRY_MAX);
    st_err err = st_wal_reserve(w->wal, (uint32_t)len);
    while (err == ST_BUSY) {
        worker_log_room(w);
        err = st_wal_reserve(w->wal, (uint32_t)len);
    }
    if (err != ST_OK) {
        snprintf(w->message, sizeof w->message, "the log cannot take the event (%s); retry later",
                 st_wal_last_error(w->wal, NULL));
        *message = w->message;
        return ST_UNAVAILABLE;
    }
    err = st_state_apply(w->state, event, w->out);
    if (err == ST_OK || err == ST_STALE) {
        size_t packed = st_codec_entry_pack(w->scratch, w->entry);
        uint64_t lsn = 0;
        st_err logged = st_wal_append(w->wal, w->entry, (uint32_t)packed, &lsn);
        ST_ASSERT(logged == ST_OK && packed == len); // reserved above
        ST_ASSERT(lsn == meta.lsn);
        w->last_lsn = lsn;
        w->last_epoch = meta.epoch;
        w->snap_log_bytes += packed;
    }
    return err;
}

// The client event kinds whose apply may stage an outbox message (core's
// dispatch and transfer receive). Only these wait for a free pool message.
static bool
worker_may_outbox(st_event_kind kind)
{
    return kind == ST_EV_TRANSFER_DISPATCH || kind == ST_EV_TRANSFER_RECEIVE;
}

// Applies event `index` of a write job. Runtime checks come first: a worker
// whose outbox pool is exhausted refuses transfers with ST_BUSY (backpressure
// instead of an unbounded outbox), and a dispatch to a warehouse no worker
// has is refused here, after every earlier event of this worker's ring was
// applied (so an upsert earlier in the same ring order counts). True when
// the event went to the state (the job's reply then waits for the log).
static bool
worker_apply_client(st_worker *w, st_shards_req *req, uint32_t index, bool catalog)
{
    const st_event *event = &req->events[index];
    const char *message = w->out->message;
    st_err err;
    bool applied = false;
    ST_ASSERT(index < req->event_count);
    ST_ASSERT(catalog == st_event_is_catalog(event->kind));
    if (worker_may_outbox(event->kind) && !st_outbox_ready(&w->outbox)) {
        err = ST_BUSY;
        message = "the worker's outbox is full; retry the transfer";
        w->events_rejected++;
    } else if (event->kind == ST_EV_TRANSFER_DISPATCH &&
               !st_directory_has(w->shards->directory, event->u.transfer_dispatch.to_warehouse)) {
        err = ST_UNKNOWN_WAREHOUSE;
        message = "the transfer's destination warehouse does not exist";
        w->events_rejected++;
    } else {
        err = worker_apply(w, event, &message);
        if (err != ST_UNAVAILABLE || message != w->message)
            worker_absorb(w, event, err);
        else
            w->events_rejected++;
        applied = true;
    }
    if (catalog && w->id != 0)
        return applied; // worker 0 reports a catalog event's status
    req->statuses[index] = err;
    if (err != ST_OK)
        st_shards_req_message(req, index, message);
    return applied;
}

static void
worker_info(const st_worker *w, st_shards_worker_info *info)
{
    info->worker = w->id;
    info->events_accepted = w->events_accepted;
    info->events_rejected = w->events_rejected;
    info->events_duplicate = w->events_duplicate;
    info->queries = w->queries;
    info->busy_rejections = atomic_load_explicit(&w->busy_rejections, memory_order_relaxed);
    info->queue_depth = st_ring_depth(&w->jobs);
    info->queue_capacity = st_ring_capacity(&w->jobs);
    info->durable_lsn = w->durable_lsn;
    info->applied_lsn = w->last_lsn;
    ST_ASSERT(info->worker < w->shards->worker_count);
}

// ---------------------------------------------------------------------------
// Following (replication/follower.c drives these through st_shards_replicate
// and st_shards_reset)

// worker_replicate_fail ends a replicate job at its first bad frame.
static void
worker_replicate_fail(st_worker *w, st_shards_req *req, st_err err, const char *fmt, ...)
{
    char text[ST_APPLY_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    st_shards_req_message(req, 0, text);
    st_shards_req_fail(req, err);
    (void)w;
}

// worker_replicate_one appends and applies one checked and decoded frame
// whose LSN is the next one; false (the job failed) otherwise.
static bool
worker_replicate_one(st_worker *w, st_shards_req *req, const st_worker_pending *p)
{
    const st_wal_frame *f = &p->frame;
    if (p->meta.epoch < w->last_epoch || p->meta.epoch == 0) {
        worker_replicate_fail(w, req, ST_FENCED,
                              "entry %" PRIu64 " is of epoch %" PRIu64 ", older than %" PRIu64,
                              f->lsn, p->meta.epoch, w->last_epoch);
        return false;
    }
    st_err err = st_wal_reserve(w->wal, f->payload_len);
    while (err == ST_BUSY) {
        worker_log_room(w);
        err = st_wal_reserve(w->wal, f->payload_len);
    }
    if (err != ST_OK || w->wal_full) {
        worker_replicate_fail(w, req, ST_UNAVAILABLE, "the log cannot take entry %" PRIu64 ": %s",
                              f->lsn, st_wal_last_error(w->wal, NULL));
        return false;
    }
    // Right after a snapshot from the leader, the entries it holds already
    // are logged but not applied again (core/snapshot.h).
    bool covered;
    if (st_state_covers(w->state, f->lsn, &p->ev, &covered) != ST_OK) {
        worker_replicate_fail(w, req, ST_INTERNAL,
                              "entry %" PRIu64 ": the leader's snapshot names products its log "
                              "never created",
                              f->lsn);
        return false;
    }
    err = covered ? ST_OK : st_state_apply(w->state, &p->ev, w->out);
    if (!st_err_accepted(err)) {
        // The leader accepted it against the same state: the logs diverged.
        worker_replicate_fail(w, req, ST_INTERNAL,
                              "entry %" PRIu64 " was refused here: %s (%s); the logs diverged",
                              f->lsn, st_err_str(err), w->out->message);
        w->events_rejected++;
        return false;
    }
    uint64_t lsn = 0;
    st_err logged = st_wal_append_frame(w->wal, f, &lsn);
    ST_ASSERT(logged == ST_OK && lsn == f->lsn); // reserved above; last_lsn + 1
    w->last_lsn = lsn;
    w->last_epoch = p->meta.epoch;
    // The fetcher names it in its next fetch once this job is done (the
    // leader's divergence check): published with the job's release.
    atomic_store_explicit(&w->pub_epoch, w->last_epoch, memory_order_relaxed);
    w->snap_log_bytes += f->payload_len;
    if (!covered)
        worker_absorb(w, &p->ev, err);
    if (atomic_load_explicit(&w->pub_image_lsn, memory_order_relaxed) != 0)
        atomic_store_explicit(&w->pub_image_lsn, st_state_image_lsn(w->state),
                              memory_order_release);
    return true;
}

// worker_replicate_drain appends and applies the decoded frames still
// pending, in order, while they succeed; false once one failed (the rest are
// dropped: the leader sends them again after last_lsn).
static bool
worker_replicate_drain(st_worker *w, st_shards_req *req)
{
    for (st_worker_pending *p; (p = worker_pending_oldest(w)) != NULL;) {
        st_lookahead_push(w->state, &w->lookahead, NULL);
        if (!worker_replicate_one(w, req, p)) {
            worker_pending_reset(w);
            return false;
        }
    }
    return true;
}

// worker_replicate runs a follower's replicate job: every frame is checked
// before anything of it is used; frames this worker already has are skipped
// (a fetch repeated after a restart), a gap refuses the rest. Frames are
// decoded ST_LOOKAHEAD - 1 ahead of their apply (worker.h, st_worker_pending);
// a bad frame first lets the good ones before it through.
static void
worker_replicate(st_worker *w, st_shards_req *req)
{
    const uint8_t *p = req->frames;
    size_t left = req->frames_len;
    if (w->wal == NULL) {
        worker_replicate_fail(w, req, ST_UNAVAILABLE, "this follower has no log");
        return;
    }
    worker_pending_reset(w);
    bool ok = true;
    while (ok && left > 0) {
        st_wal_frame f;
        char why[256];
        uint64_t last = w->last_lsn + w->pending_count; // the last one taken
        if (st_wal_frame_check(p, left, 0, &f, why, sizeof why) != ST_OK) {
            if (worker_replicate_drain(w, req))
                worker_replicate_fail(w, req, ST_MALFORMED, "frame after entry %" PRIu64 ": %s",
                                      w->last_lsn, why);
            ok = false;
            break;
        }
        if (f.lsn > last + 1) {
            if (worker_replicate_drain(w, req))
                worker_replicate_fail(w, req, ST_CONFLICT,
                                      "frame %" PRIu64 " does not follow entry %" PRIu64, f.lsn,
                                      w->last_lsn);
            ok = false;
            break;
        }
        if (f.lsn == last + 1) {
            st_worker_pending *e = worker_pending_add(w, f.lsn, f.payload, f.payload_len);
            if (e == NULL) {
                char bad[ST_APPLY_MESSAGE_MAX];
                snprintf(bad, sizeof bad, "%.120s", w->error); // the drain may overwrite it
                if (worker_replicate_drain(w, req))
                    worker_replicate_fail(w, req, ST_MALFORMED, "entry %" PRIu64 ": %s", f.lsn,
                                          bad);
                ok = false;
                break;
            }
            e->frame = f;
            if (w->pending_count == ST_LOOKAHEAD) {
                e = worker_pending_oldest(w);
                ok = worker_replicate_one(w, req, e);
            }
        }
        p += f.bytes;
        left -= f.bytes;
    }
    if (ok)
        worker_replicate_drain(w, req);
    worker_pending_reset(w);
    st_shards_req_lsn(req, w->last_lsn);
}

// worker_reset_install makes the received snapshot <lsn>.recv the worker's
// only snapshot: renamed to <lsn>.snap, every other file of the directory
// removed (its own snapshots may be of a history that diverged), synced.
static st_err
worker_reset_install(st_worker *w, uint64_t lsn)
{
    const char *data = w->shards->data_dir;
    char dir[ST_WAL_PATH_MAX], from[ST_WAL_PATH_MAX], to[ST_WAL_PATH_MAX];
    if (!st_snapshot_dir(data, w->id, dir, sizeof dir) ||
        !st_snapshot_path(data, w->id, lsn, "recv", from, sizeof from) ||
        !st_snapshot_path(data, w->id, lsn, "snap", to, sizeof to))
        return ST_INVALID_ARGUMENT;
    if (rename(from, to) != 0) {
        snprintf(w->error, sizeof w->error, "rename %s: %s", from, strerror(errno));
        return ST_IO;
    }
    const char *keep = strrchr(to, '/') + 1;
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(w->error, sizeof w->error, "cannot list %s: %s", dir, strerror(errno));
        return ST_IO;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && strcmp(e->d_name, keep) != 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    int rc = fsync(dirfd(d));
    closedir(d);
    return rc == 0 ? ST_OK : ST_IO;
}

// worker_reset starts a follower's worker over from the newest snapshot in
// its directory: everything before is made durable and released first.
static void
worker_reset(st_worker *w, st_shards_req *req)
{
    if (w->wal == NULL) {
        st_shards_req_fail(req, ST_UNAVAILABLE);
        return;
    }
    if (st_wal_wait(w->wal) != ST_OK)
        worker_wal_failed(w);
    while (w->sealed != 0)
        worker_wait_oldest(w);
    worker_snapshot_abandon(w); // its own snapshot would compete with the leader's
    st_wal_close(w->wal);
    w->wal = NULL;
    st_err err = worker_reset_install(w, req->reset_lsn);
    if (err == ST_OK)
        err = st_wal_remove_all(w->shards->data_dir, w->id);
    if (err == ST_OK) {
        st_state_destroy(w->state);
        w->state = NULL;
        err = st_state_create(&w->shards->state_config, &w->state);
    }
    w->last_lsn = w->durable_lsn = 0;
    w->last_epoch = 0;
    if (err == ST_OK)
        err = worker_log_open(w);
    if (err != ST_OK) {
        fprintf(stderr,
                "stocktwind: worker %u: FATAL: starting over from the leader's snapshot: %s (%s); "
                "exiting: a restart fetches it again\n",
                w->id, st_err_str(err), w->error);
        fflush(stderr);
        abort();
    }
    w->snap_log_bytes = 0;
    w->snap_last_ms = mono_ms();
    fprintf(stderr,
            "stocktwind: worker %u: started over from the leader's snapshot at LSN %" PRIu64 "\n",
            w->id, w->last_lsn);
    st_shards_req_lsn(req, w->last_lsn);
}

// worker_next_event is the index of the first event of `req` at or after
// `from` that this worker applies (event_count: none).
static uint32_t
worker_next_event(const st_worker *w, const st_shards_req *req, uint32_t from)
{
    while (from < req->event_count && req->route[from] != w->id &&
           req->route[from] != ST_SHARDS_ROUTE_ALL)
        from++;
    return from;
}

// worker_look_ahead pushes event `ahead` (or nothing, past the end) into the
// lookahead and returns the index of the one to push next.
static uint32_t
worker_look_ahead(st_worker *w, const st_shards_req *req, uint32_t ahead)
{
    if (ahead >= req->event_count) {
        st_lookahead_push(w->state, &w->lookahead, NULL);
        return ahead;
    }
    st_lookahead_push(w->state, &w->lookahead, &req->events[ahead]);
    return worker_next_event(w, req, ahead + 1);
}

static void
worker_run_job(st_worker *w, st_shards_job *job)
{
    st_shards_req *req = job->req;
    ST_ASSERT(job->worker == w->id);
    if (req->op == ST_SHARDS_OP_REPLICATE) {
        worker_replicate(w, req);
        return;
    }
    if (req->op == ST_SHARDS_OP_RESET) {
        worker_reset(w, req);
        return;
    }
    if (req->query_cb != NULL) {
        st_shards_worker_info info;
        w->queries++;
        worker_info(w, &info);
        req->query_cb(req->query_arg, &info, w->state);
        st_shards_req_lsn(req, w->last_lsn); // released once that is durable
        return;
    }
    // The request's LSN is raised once per job, not per event: it is shared
    // by the workers of the request (an atomic on a contended line).
    // The lookahead walks this worker's next events' records into the cache
    // while one applies (core/lookahead.h).
    bool applied = false;
    uint32_t first = worker_next_event(w, req, 0), ahead = first;
    st_lookahead_reset(&w->lookahead);
    for (uint32_t n = 0; n + 1 < ST_LOOKAHEAD; n++)
        ahead = worker_look_ahead(w, req, ahead);
    for (uint32_t i = first; i < req->event_count; i = worker_next_event(w, req, i + 1)) {
        ahead = worker_look_ahead(w, req, ahead);
        applied |= worker_apply_client(w, req, i, req->route[i] == ST_SHARDS_ROUTE_ALL);
    }
    if (applied)
        st_shards_req_lsn(req, w->last_lsn);
}

// Applies the outbox messages other workers delivered. They are this
// worker's events like any other (their (source, seq) makes a redelivery a
// duplicate); a refusal would mean core and the runtime disagree, so it is
// reported on stderr.
// A message is handed back with the slot that holds its feed (the slot
// current after its apply: a split may have sealed the one before).
static void
worker_receive(st_worker *w)
{
    ST_ASSERT(worker_filling(w)->received_count == 0); // its last release handed them back
    st_outbox_msg *msg;
    for (uint32_t n = 0; n < ST_SHARDS_INBOX_DRAIN_MAX && (msg = st_ring_pop(&w->inbox)) != NULL;
         n++) {
        const st_event *event = &msg->event;
        if (!st_state_has_warehouse(w->state, event->warehouse)) {
            fprintf(stderr,
                    "stocktwin: worker %u: outbox event %d for warehouse %s, "
                    "which it does not own\n",
                    w->id, (int)event->kind, event->warehouse);
        } else {
            const char *why = NULL;
            st_err err = worker_apply(w, event, &why);
            worker_absorb(w, event, err);
            if (!st_err_accepted(err))
                fprintf(stderr, "stocktwin: worker %u: outbox event %d from %s refused: %s (%s)\n",
                        w->id, (int)event->kind, event->source, st_err_str(err), why);
        }
        st_worker_slot *slot = worker_filling(w);
        slot->received[slot->received_count++] = msg;
    }
}

// ---------------------------------------------------------------------------
// The clock
//
// Time reaches core only through the log (core/timers.c). Every tick_ms a
// worker that accepts writes asks core, warehouse by warehouse, whether a
// timer is due, and applies a tick entry to each warehouse that has one, as
// part of a batch: logged, then its expiries and alerts released with the
// batch once durable. A tick does at most one apply's output, so a warehouse
// with more due gets up to ST_SHARDS_TICKS_MAX ticks a round, and the next
// round comes at the next loop iteration instead of a --tick later: a mass
// expiry drains between client batches, never in one long stall. A
// follower writes none: it applies its leader's.

#define ST_SHARDS_TICKS_MAX 16u

static void
worker_tick(st_worker *w)
{
    int64_t now = w->now_ms, silent = w->shards->device_silent_ms;
    const char *wh;
    for (uint32_t i = 0; (wh = st_state_warehouse_id(w->state, i)) != NULL; i++) {
        for (uint32_t n = 0; st_state_tick_due(w->state, i, now, silent); n++) {
            if (n == ST_SHARDS_TICKS_MAX) {
                w->next_tick_ms = 0; // more is due: the next iteration goes on
                break;
            }
            uint64_t seq = (uint64_t)now * 1000u;
            w->tick_seq = seq > w->tick_seq ? seq : w->tick_seq + 1;
            st_event ev = {.kind = ST_EV_TICK,
                           .source = ST_TICK_SOURCE,
                           .seq = w->tick_seq,
                           .event_time_ms = now,
                           .warehouse = wh,
                           .u.tick.device_silent_ms = silent};
            const char *why = NULL;
            st_err err = worker_apply(w, &ev, &why);
            if (err != ST_OK) {
                // A clock stepped back (DUPLICATE) or a full disk: the next
                // round tries again.
                if (err != ST_DUPLICATE && err != ST_UNAVAILABLE)
                    fprintf(stderr, "stocktwin: worker %u: tick for %s refused: %s (%s)\n", w->id,
                            wh, st_err_str(err), why);
                break;
            }
            worker_feed_collect(w, w->out); // its feed goes out; no client counts it
        }
    }
}

// ---------------------------------------------------------------------------
// The pipeline
//
// A batch's replies (query replies too), feed and outbox messages may leave
// only once the log has made durable every entry they could have seen; the
// worker does not wait for that. Each loop iteration fills the slot after the
// sealed ones, then seals it (worker_seal): st_wal_commit ends the log's
// batch, which the log submits at once (a write and a linked fdatasync) or as
// soon as the submission in flight completes, and the slot keeps the last LSN
// it appended. Every iteration, worker_release polls the log and releases the
// sealed slots whose LSN is durable, oldest first. So batch N+1 is validated
// and applied while batch N's fdatasync is in flight, and every fdatasync
// covers everything applied while the previous one ran (group commit).
//
// Bounded: with every slot sealed, the worker waits for the oldest one
// (worker_wait_oldest) before it drains more jobs, and while its jobs wait
// the submitters' rings fill and answer BUSY. A memory-only worker (no log)
// has last_lsn == durable_lsn == 0: each slot is released in the iteration
// that sealed it.

// worker_poll learns from the log how far it is durable and gives batch mode
// its clock.
static void
worker_poll(st_worker *w)
{
    if (w->wal == NULL)
        return;
    if (w->wal_full) {
        if (mono_ms() < w->wal_retry_ms)
            return;
        w->wal_full = false;
        (void)st_wal_retry(w->wal); // a failure shows in the poll below
    }
    if (st_wal_poll(w->wal, &w->durable_lsn) != ST_OK || st_wal_tick(w->wal, mono_ms()) != ST_OK)
        worker_wal_failed(w);
    atomic_store_explicit(&w->pub_durable_lsn, w->durable_lsn, memory_order_release);
}

// worker_released_lsn is how far replies may go: what the log made durable
// and, on a leader with --ack quorum, what enough followers made durable.
static uint64_t
worker_released_lsn(const st_worker *w)
{
    uint64_t lsn = w->durable_lsn;
    if (w->shards->quorum != 0) {
        uint64_t q = atomic_load_explicit(&w->quorum_lsn, memory_order_acquire);
        if (q < lsn)
            lsn = q;
    }
    return lsn;
}

// Publishes a slot's feed (its events are durable).
static void
worker_feed_flush(st_worker *w, st_worker_slot *slot)
{
    st_shards *shards = w->shards;
    ST_ASSERT(slot->alert_count <= ST_SHARDS_FEED_ALERTS_MAX);
    ST_ASSERT(slot->change_count <= ST_SHARDS_FEED_CHANGES_MAX);
    if (shards->feed_cb != NULL && (slot->alert_count != 0 || slot->change_count != 0)) {
        st_feed_batch batch = {
            .worker = w->id,
            .alert_count = slot->alert_count,
            .change_count = slot->change_count,
            .alerts = slot->alerts,
            .changes = slot->changes,
        };
        shards->feed_cb(shards->feed_arg, &batch);
    }
    slot->alert_count = 0;
    slot->change_count = 0;
}

// Releases one durable slot: the jobs strictly in drain order, then the
// feed, the consumed messages back to their pools, and the staged messages
// to their targets (behind those of earlier slots).
static void
worker_release_slot(st_worker *w, st_worker_slot *slot)
{
    ST_ASSERT(slot->lsn <= w->durable_lsn || w->wal == NULL);
    ST_ASSERT(slot->job_count <= ST_SHARDS_DRAIN_MAX);
    for (uint32_t i = 0; i < slot->job_count; i++)
        st_shards_req_release(slot->jobs[i]->req); // may free the job: not touched after
    slot->job_count = 0;
    worker_feed_flush(w, slot);
    for (uint32_t i = 0; i < slot->received_count; i++)
        st_outbox_consumed(w->shards, slot->received[i]);
    slot->received_count = 0;
    st_outbox_splice(&w->outbox.send, &slot->send);
    st_outbox_flush(w);
}

// worker_release releases every sealed slot the log reports durable.
static void
worker_release(st_worker *w)
{
    worker_poll(w);
    uint64_t released = worker_released_lsn(w);
    while (w->sealed != 0 && w->slots[w->head].lsn <= released) {
        worker_release_slot(w, &w->slots[w->head]);
        w->head = (w->head + 1) % ST_SHARDS_PIPELINE;
        w->sealed--;
    }
}

// worker_seal_slot ends the filling slot: it takes the outbox messages the
// batch staged and the last LSN it appended.
static void
worker_seal_slot(st_worker *w)
{
    st_worker_slot *slot = worker_filling(w);
    slot->lsn = w->last_lsn;
    st_outbox_splice(&slot->send, &w->outbox.send);
    w->sealed++;
}

// worker_commit ends the log's batch, which goes out (st_wal_commit).
static void
worker_commit(st_worker *w)
{
    if (w->wal != NULL && st_wal_commit(w->wal) != ST_OK)
        worker_wal_failed(w);
}

// worker_seal ends the filling slot and the log's batch.
static void
worker_seal(st_worker *w)
{
    worker_seal_slot(w);
    worker_commit(w);
}

// worker_give_up_oldest answers the oldest sealed slot's writes
// ST_UNAVAILABLE and releases it: with --ack quorum, stopping, no follower
// confirmed it in time although this log has it (its writes are in the log,
// not acknowledged; a retry finds them DUPLICATE).
static void
worker_give_up_oldest(st_worker *w)
{
    st_worker_slot *slot = &w->slots[w->head];
    ST_ASSERT(w->sealed != 0 && w->shards->quorum != 0 && slot->lsn <= w->durable_lsn);
    for (uint32_t i = 0; i < slot->job_count; i++)
        worker_fail_job(w, slot->jobs[i]);
    worker_release_slot(w, slot);
    w->head = (w->head + 1) % ST_SHARDS_PIPELINE;
    w->sealed--;
}

// worker_wait_oldest waits until the oldest sealed slot is released, giving
// the core away between polls (the fdatasync takes ~0.1 ms to milliseconds).
// Waiting for followers while the runtime stops, it gives the slot up after
// ST_SHARDS_QUORUM_STOP_MS (worker_give_up_oldest).
static void
worker_wait_oldest(st_worker *w)
{
    ST_ASSERT(w->sealed != 0);
    uint32_t sealed = w->sealed, spins = 0;
    uint64_t give_up_ms = 0;
    while (w->sealed == sealed) {
        worker_release(w);
        if (w->sealed != sealed)
            break;
        if (worker_waits_for_quorum(w)) {
            if (atomic_load(&w->shards->stop)) {
                if (give_up_ms == 0)
                    give_up_ms = mono_ms() + ST_SHARDS_QUORUM_STOP_MS;
                else if (mono_ms() > give_up_ms)
                    worker_give_up_oldest(w);
            }
            worker_park_quorum(w, false);
        } else if (++spins > 64) {
            worker_wait_disk(w);
        }
    }
}

// worker_log_room runs when every log buffer is full or in flight in the
// middle of a batch: the part of the batch applied so far goes out, and the
// worker waits for the log to free a buffer, releasing the sealed slots that
// become durable meanwhile.
static void
worker_log_room(st_worker *w)
{
    if (st_wal_commit(w->wal) != ST_OK)
        worker_wal_failed(w);
    worker_release(w);
    worker_wait_disk(w);
}

// worker_split seals the filling slot in the middle of a batch, when its feed
// is full: the slot keeps the jobs that finished and the messages received so
// far; the job being run, and the rest of the batch, go on in the next slot,
// which releases them (slots are released in order, so a job split across two
// is answered once both are durable). The log's batch is not ended here (the
// batch's last seal ends it), unless every slot is now sealed: then it is, and
// the worker waits for the oldest slot.
static void
worker_split(st_worker *w)
{
    worker_seal_slot(w);
    if (w->sealed == ST_SHARDS_PIPELINE) {
        worker_commit(w);
        worker_wait_oldest(w);
    }
    st_worker_slot *slot = worker_filling(w);
    ST_ASSERT(slot->job_count == 0 && slot->received_count == 0);
}

// Marks what job would have produced as ST_UNAVAILABLE: the runtime is
// stopping. Catalog statuses and query failures go through req->fail, which
// the last release applies, since several workers may share them.
static void
worker_fail_job(st_worker *w, st_shards_job *job)
{
    st_shards_req *req = job->req;
    ST_ASSERT(job->worker == w->id);
    if (req->query_cb != NULL || req->op != ST_SHARDS_OP_EVENTS) {
        st_shards_req_fail(req, ST_UNAVAILABLE);
        return;
    }
    for (uint32_t i = 0; i < req->event_count; i++) {
        if (req->route[i] == w->id)
            req->statuses[i] = ST_UNAVAILABLE;
        else if (req->route[i] == ST_SHARDS_ROUTE_ALL)
            st_shards_req_fail(req, ST_UNAVAILABLE);
    }
}

// ---------------------------------------------------------------------------
// Snapshots
//
// Once snapshot_bytes of log were appended since the last snapshot (or
// snapshot_interval_ms passed with anything appended), the worker writes
// its image piecewise (core/snapshot.h), one part per loop iteration,
// between two batches, where its state is whole: the head (catalog) at the
// LSN it has then, one warehouse per iteration at the LSN it has by then,
// and last the strings with the outbox events still in flight (a message
// is in flight until its receiver made it durable and handed it back). A
// part is copied into a buffer of the pass (shards/snapshot.h), whose
// thread writes, checksums and syncs it while the worker goes on; the
// worker stalls only for the copy of one part (measured: snap_part_us_max)
// and skips an iteration while the previous part is being written. When the
// pass succeeded and the log is durable up to the image's last LSN, the
// worker renames the file into place, removes older snapshots and deletes
// the log segments before the image's first LSN, keeping retain_entries
// entries for followers. A pass that fails leaves only a .tmp file,
// removed at once or at the next start; the log still holds everything.

static uint64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

// worker_snapshot_outbox appends one in-flight outbox event to the pass.
static bool
worker_snapshot_outbox(st_worker *w, const st_event *ev)
{
    st_codec_entry meta = {
        .lsn = w->last_lsn, .epoch = w->shards->epoch, .ingest_time_ms = w->now_ms};
    size_t len = st_codec_entry_size(ev, &meta, w->scratch);
    ST_ASSERT(len > 0 && len <= ST_SHARDS_ENTRY_MAX);
    size_t packed = st_codec_entry_pack(w->scratch, w->entry);
    return st_snapshot_pass_outbox(w->snap_pass, w->entry, (uint32_t)packed);
}

// worker_snapshot_last appends the strings and the outbox events in flight
// now, and submits the last buffer.
static void
worker_snapshot_last(st_worker *w)
{
    st_snapshot_pass *pass = w->snap_pass;
    st_snap_end(&w->snap_image, w->state, w->last_lsn, st_snapshot_pass_put, pass);
    // In flight: every pool message neither on the free list nor handed back
    // (handed-back ones move to the free list first, as the owner does),
    // and heap messages still on the sender's lists.
    st_outbox *ob = &w->outbox;
    st_outbox_reclaim(ob);
    st_outbox_msg *m;
    memset(w->snap_free, 0, ST_SHARDS_OUTBOX_POOL * sizeof *w->snap_free);
    for (m = ob->free_list; m != NULL; m = m->next)
        w->snap_free[m - ob->pool] = true;
    for (uint32_t i = 0; i < ST_SHARDS_OUTBOX_POOL; i++)
        if (!w->snap_free[i])
            worker_snapshot_outbox(w, &ob->pool[i].event);
    st_msg_list *lists[2 + ST_SHARDS_PIPELINE] = {&ob->send, &ob->pending};
    for (uint32_t i = 0; i < ST_SHARDS_PIPELINE; i++)
        lists[2 + i] = &w->slots[i].send;
    for (uint32_t l = 0; l < 2 + ST_SHARDS_PIPELINE; l++)
        for (m = lists[l]->head; m != NULL; m = m->next)
            if (m->heap)
                worker_snapshot_outbox(w, &m->event);
    w->snap_last_lsn = w->last_lsn;
    st_snapshot_pass_last(pass, w->snap_image.bytes, w->id, w->shards->worker_count, w->snap_lsn);
}

// worker_snapshot_part copies the next part into a free buffer of the pass,
// if one is free: the head first, then a warehouse, then the last part.
static void
worker_snapshot_part(st_worker *w)
{
    st_snapshot_pass *pass = w->snap_pass;
    if (!st_snapshot_pass_ready(pass))
        return; // the previous part is on its way to the disk
    uint64_t t0 = mono_us(), bytes = w->snap_parts ? w->snap_image.bytes : 0;
    if (w->snap_parts == 0) {
        st_snap_begin(&w->snap_image, w->state, w->last_lsn, st_snapshot_pass_put, pass);
        st_snapshot_pass_submit(pass);
    } else if (st_snap_more(&w->snap_image)) {
        st_snap_next(&w->snap_image, w->state, w->last_lsn, st_snapshot_pass_put, pass);
        st_snapshot_pass_submit(pass);
    } else {
        worker_snapshot_last(w);
    }
    w->snap_parts++;
    if (w->snap_image.bytes - bytes > w->snap_part_bytes)
        w->snap_part_bytes = (size_t)(w->snap_image.bytes - bytes);
    uint64_t took = mono_us() - t0;
    if (took > w->snap_part_us_max)
        w->snap_part_us_max = took;
}

// worker_snapshot_hint: the buffer size for the next pass's parts, the
// largest warehouse's now with room to grow, or the largest part seen.
static size_t
worker_snapshot_hint(const st_worker *w)
{
    size_t now = st_snap_part_bytes_max(w->state);
    now += now / 8;
    return now > w->snap_part_bytes ? now : w->snap_part_bytes;
}

// worker_snapshot_abandon stops a pass and removes its file.
static void
worker_snapshot_abandon(st_worker *w)
{
    st_snapshot_pass_end(w->snap_pass);
    w->snap_pass = NULL;
    w->snap_written = false;
}

// worker_snapshot_finish publishes a snapshot whose pass succeeded, once the
// log is durable up to the image's last LSN, and trims the log behind it.
static void
worker_snapshot_finish(st_worker *w)
{
    if (w->durable_lsn < w->snap_last_lsn)
        return; // soon: the log is a batch or two behind
    char why[ST_WAL_PATH_MAX + 128];
    st_err err = st_snapshot_publish(w->shards->data_dir, w->id, w->snap_lsn, w->shards->janitor,
                                     why, sizeof why);
    w->snap_written = false;
    if (err != ST_OK) {
        fprintf(stderr, "stocktwind: worker %u: %s\n", w->id, why);
        return;
    }
    uint64_t keep = w->shards->retain_entries;
    uint64_t before = w->snap_lsn + 1 > keep ? w->snap_lsn + 1 - keep : 1;
    if (st_wal_truncate_before(w->wal, before) != ST_OK)
        fprintf(stderr, "stocktwind: worker %u: %s\n", w->id, st_wal_last_error(w->wal, NULL));
    fprintf(stderr,
            "stocktwind: worker %u: snapshot of LSN %" PRIu64 "..%" PRIu64 " in %.2f s, %u parts "
            "(copying one stalled the worker %.1f ms at most)\n",
            w->id, w->snap_lsn, w->snap_last_lsn, (double)(mono_ms() - w->snap_started_ms) / 1000.0,
            w->snap_parts, (double)w->snap_part_us_max / 1000.0);
}

// worker_snapshot_tick runs once per loop iteration, between batches.
static void
worker_snapshot_tick(st_worker *w)
{
    if (w->wal == NULL)
        return;
    uint64_t now = mono_ms();
    if (w->snap_written) {
        worker_snapshot_finish(w);
        return;
    }
    if (w->snap_pass != NULL) {
        int done = st_snapshot_pass_done(w->snap_pass);
        if (done == 0) {
            worker_snapshot_part(w);
            return;
        }
        st_snapshot_pass_end(w->snap_pass);
        w->snap_pass = NULL;
        if (done > 0) {
            w->snap_written = true;
            worker_snapshot_finish(w);
        } else {
            fprintf(stderr, "stocktwind: worker %u: the snapshot at LSN %" PRIu64 " failed\n",
                    w->id, w->snap_lsn);
        }
        return;
    }
    bool asked = atomic_load_explicit(&w->snap_requested, memory_order_relaxed);
    bool due = asked || w->snap_log_bytes >= w->shards->snapshot_bytes ||
               (w->snap_log_bytes > 0 && now - w->snap_last_ms >= w->shards->snapshot_interval_ms);
    if (asked)
        atomic_store(&w->snap_requested, false);
    if (!due || w->last_lsn <= w->snap_lsn)
        return; // nothing new since the last one: it stands
    w->snap_last_ms = now;
    w->snap_log_bytes = 0; // a snapshot that cannot start waits for the next due time
    char path[ST_WAL_PATH_MAX],
        why[ST_WAL_PATH_MAX + 128] = "the data directory's path is too long";
    if (!st_snapshot_path(w->shards->data_dir, w->id, w->last_lsn, "tmp", path, sizeof path) ||
        (w->snap_pass = st_snapshot_pass_start(path, worker_snapshot_hint(w), why, sizeof why)) ==
            NULL) {
        fprintf(stderr, "stocktwind: worker %u: cannot start a snapshot: %s\n", w->id, why);
        return;
    }
    w->snap_lsn = w->last_lsn;
    w->snap_started_ms = now;
    w->snap_parts = 0;
    w->snap_part_us_max = 0;
    worker_snapshot_part(w);
}

// worker_snapshot_stop, at shutdown, writes what is left of a pass (nothing
// changes the state any more) and publishes it if the log is durable
// (st_wal_wait ran).
static void
worker_snapshot_stop(st_worker *w)
{
    while (w->snap_pass != NULL) {
        int done = st_snapshot_pass_done(w->snap_pass);
        if (done == 0) {
            if (!st_snapshot_pass_ready(w->snap_pass)) {
                sched_yield();
                continue;
            }
            worker_snapshot_part(w);
            continue;
        }
        st_snapshot_pass_end(w->snap_pass);
        w->snap_pass = NULL;
        w->snap_written = done > 0;
    }
    if (w->snap_written)
        worker_snapshot_finish(w);
}

// Runs one loop iteration's batch: the outbox messages received, then the
// drained jobs, applied into the filling slot, which is then sealed. The one
// exception to release in order: while the disk is full, a write job whose
// events were all refused unapplied (worker_apply) saw nothing that waits
// for the log, so it is released at once instead of behind the batches the
// full disk holds.
static void
worker_run_batch(st_worker *w, st_worker_slot *slot)
{
    ST_ASSERT(slot == worker_filling(w) && slot->job_count <= ST_SHARDS_DRAIN_MAX);
    st_shards_job *jobs[ST_SHARDS_DRAIN_MAX];
    uint32_t n = slot->job_count;
    memcpy(jobs, slot->jobs, n * sizeof *jobs);
    slot->job_count = 0; // each job joins the slot current when it ends (worker_split)
    worker_receive(w);
    if (w->tick_due) {
        w->tick_due = false;
        worker_tick(w);
    }
    for (uint32_t i = 0; i < n; i++) {
        st_shards_job *job = jobs[i];
        bool full = w->wal_full && job->req->query_cb == NULL;
        uint64_t lsn = w->last_lsn;
        worker_run_job(w, job);
        if (full && w->wal_full && w->last_lsn == lsn) {
            st_shards_req_release(job->req); // all refused unapplied: nothing to wait for
        } else {
            st_worker_slot *now = worker_filling(w);
            now->jobs[now->job_count++] = job;
        }
    }
    worker_seal(w);
}

void *
st_worker_main(void *arg)
{
    st_worker *w = arg;
    ST_ASSERT(w != NULL && w->state != NULL);
    char name[16];
    snprintf(name, sizeof(name), "st-shard-%u", w->id);
    pthread_setname_np(pthread_self(), name);
    st_outbox_flush(w); // what replay staged (see worker_replay_cb)
    while (!atomic_load(&w->shards->stop)) {
        w->now_ms = wall_ms();
        worker_release(w);
        worker_snapshot_tick(w);
        if (w->sealed == ST_SHARDS_PIPELINE)
            worker_wait_oldest(w);
        st_worker_slot *slot = worker_filling(w);
        ST_ASSERT(slot->job_count == 0 && slot->received_count == 0);
        // A batch takes jobs until it holds about as many events as its feed
        // holds changes, so that it rarely has to split (worker_split).
        st_shards_job *job;
        uint32_t events = 0;
        while (slot->job_count < ST_SHARDS_DRAIN_MAX && events < ST_SHARDS_FEED_CHANGES_MAX &&
               (job = st_ring_pop(&w->jobs)) != NULL) {
            slot->jobs[slot->job_count++] = job;
            events += job->events;
        }
        if (worker_ticks(w) && mono_ms() >= w->next_tick_ms) {
            w->tick_due = true;
            w->next_tick_ms = mono_ms() + w->shards->tick_ms;
        }
        if (slot->job_count != 0 || st_ring_depth(&w->inbox) != 0 || w->tick_due) {
            worker_run_batch(w, slot);
        } else if (worker_waits_for_quorum(w)) {
            worker_park_quorum(w, true); // nothing new: the followers have the next move
        } else if (w->sealed != 0) {
            worker_wait_disk(w); // nothing new: the disk has the next move
        } else if (w->outbox.pending.head != NULL) {
            st_outbox_flush(w); // a target's inbox was full: let it drain
            sched_yield();
        } else {
            worker_park(w);
        }
    }
    // Stopping: the sealed batches are released once durable, then what is
    // still in the ring completes unprocessed, in order.
    // With --ack quorum and no follower left to confirm, a durable batch is
    // given up after a while: its writes answer UNAVAILABLE (they are in
    // this log, not acknowledged; a retry finds them DUPLICATE).
    uint64_t give_up_ms = mono_ms() + ST_SHARDS_QUORUM_STOP_MS;
    while (w->sealed != 0) {
        st_worker_slot *slot = &w->slots[w->head];
        worker_release(w);
        if (w->sealed == 0 || slot != &w->slots[w->head])
            continue;
        if (w->shards->quorum != 0 && slot->lsn <= w->durable_lsn && mono_ms() > give_up_ms) {
            worker_give_up_oldest(w);
            continue;
        }
        sched_yield();
    }
    st_shards_job *job;
    while ((job = st_ring_pop(&w->jobs)) != NULL) {
        worker_fail_job(w, job);
        st_shards_req_release(job->req);
    }
    return NULL;
}
