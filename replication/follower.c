// follower.c - a follower's fetchers. See replication.h.
//
// One thread per worker, each with its own REQ socket to the leader's
// replication door, runs:
//   1. fetch worker w from F = the LSN after the last frame it received,
//      saying the epoch of entry F - 1 and what is durable here (a
//      long-poll of FOLLOW_WAIT_MS while nothing is in flight, no wait
//      otherwise);
//   2. check the reply: a ReplResponse, for this worker count, of an epoch
//      no older than the newest this follower has seen (an older one is a
//      deposed leader: its frames are refused); a newer epoch is recorded
//      in <data>/epochs with its start LSNs;
//   3. frames: hand them to the worker (st_shards_replicate), which checks
//      each one (length, checksum, the LSN chain, the entry's epoch), writes
//      it to its own log and applies it, and answers once they are durable.
//      Up to FOLLOW_JOBS such jobs are in flight: the next fetch goes out
//      while the worker applies and syncs the last frames, and the fetcher
//      waits for the oldest job only when FOLLOW_JOBS are out or the leader
//      had nothing new; each fetch tells the leader the durable LSN here
//      (quorum acks), so an ack leaves as soon as a job is durable. A job
//      that failed, or frames whose last epoch cannot be read, make it wait
//      for every job and fetch again from the durable LSN. A leader of an
//      older build refuses version 2 (BAD_VERSION): the fetcher then speaks
//      version 1, one job at a time, for the rest of the process;
//   4. snapshot_needed: stream the leader's newest snapshot of w in chunks
//      (each checked against its XXH3, offsets and sizes checked against the
//      first answer) into <data>/snap-<w>/<lsn>.recv, fsync it, and have the
//      worker start over from it (st_shards_reset).
// Any failure (no leader, a bad reply, a refused frame) is said on stderr at
// most once every FOLLOW_SAY_MS per worker and retried after a pause; nothing
// unchecked reaches the worker.
//
// Thread: each fetcher touches its own fields; lag fields are atomics read by
// request threads; the epochs under `mu`.
#include "replication/replication.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "stocktwin.pb-c.h"
#include "replication/lag.h"
#include "shards/codec.h"
#include "shards/snapshot.h"
#include "shards/wal.h"

#define FOLLOW_WAIT_MS 250u             // long-poll asked of the leader
#define FOLLOW_TIMEOUT_MS 3000          // no answer by then: ask again (bounds a promotion)
#define FOLLOW_PAUSE_MS 200u            // after a failure
#define FOLLOW_SAY_MS 5000u             // at most one line per worker this often
// Frames asked for at once: under 1 MiB, so that protobuf-c's copy of the
// frames stays out of jemalloc's oversize arena, which gives freed pages
// back at once (server/main.c); 4 MiB replies were faulted in afresh.
#define FOLLOW_FETCH_BYTES (768u << 10)
#define FOLLOW_CHUNK_BYTES (1u << 20)   // snapshot bytes asked for at once
#define FOLLOW_VERSION 2u               // FetchRequest.durable_lsn; a leader of 1 gets 1
#define FOLLOW_JOBS 2u                  // replicate jobs in flight per worker
#define FOLLOW_PROGRESS_ENTRIES 100000u // this far behind: say how the catch-up goes

// follow_job is one replicate job in flight: its reply owns the frames the
// worker reads until it is done.
typedef struct follow_job {
    sem_t done;
    Stocktwin__ReplResponse *r;
    st_shards_req req;
} follow_job;

typedef struct fetcher {
    struct st_repl_follower *f;
    uint32_t w;
    pthread_t thread;
    bool started;
    nng_socket sock;
    nng_aio *aio;     // the fetcher's one operation at a time
    uint32_t version; // FOLLOW_VERSION, or 1 for a leader that speaks only 1 (no pipelining)
    follow_job jobs[FOLLOW_JOBS]; // a ring: jobs[job_head] is the oldest
    uint32_t job_head, job_count;
    st_err job_failed; // the first failure since the last start from the durable LSN
    st_shards_req req; // resets
    sem_t reset_done;
    uint64_t said_ms;
    char said[768];
    uint64_t progress_ms, progress_lsn; // catch-up lines (catch_up_progress)
    // Lag, read by any thread, under lag_mu: the leader's durable LSN as
    // told, when it was told each, and what is durable here.
    pthread_mutex_t lag_mu;
    uint64_t leader_durable;
    uint64_t applied;
    st_repl_clock clock;
} fetcher;

struct st_repl_follower {
    st_shards *shards;
    uint32_t workers;
    char *leader_url;
    char *name;
    char *data_dir;
    bool quiet;
    atomic_bool stop;
    pthread_mutex_t mu; // epochs, leader_rpc
    st_repl_epochs epochs;
    char leader_rpc[256];
    fetcher *fetchers;
};

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *
dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = st_malloc(n);
    memcpy(d, s, n);
    return d;
}

static void
pause_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static void say(fetcher *ft, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// say prints one line about this worker's following: a new sentence at
// once, the same one again at most every FOLLOW_SAY_MS.
static void
say(fetcher *ft, const char *fmt, ...)
{
    uint64_t now = now_ms();
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (ft->said_ms != 0 && now - ft->said_ms < FOLLOW_SAY_MS && strcmp(text, ft->said) == 0)
        return;
    ft->said_ms = now;
    snprintf(ft->said, sizeof ft->said, "%s", text);
    fprintf(stderr, "stocktwind: following %s: worker %u: %s\n", ft->f->leader_url, ft->w, text);
}

static uint64_t
follower_epoch(st_repl_follower *f)
{
    pthread_mutex_lock(&f->mu);
    uint64_t e = st_repl_epochs_current(&f->epochs);
    pthread_mutex_unlock(&f->mu);
    return e;
}

// call sends one ReplRequest and returns the unpacked reply (NULL: none, or
// not a valid ReplResponse; said). The caller frees it.
static Stocktwin__ReplResponse *
call(fetcher *ft, Stocktwin__ReplRequest *q)
{
    st_repl_follower *f = ft->f;
    q->version = ft->version;
    q->follower = f->name;
    q->epoch = follower_epoch(f);
    q->workers = f->workers;
    size_t n = stocktwin__repl_request__get_packed_size(q);
    nng_msg *m = NULL;
    int rv = nng_msg_alloc(&m, n);
    if (rv != 0)
        return NULL;
    stocktwin__repl_request__pack(q, nng_msg_body(m));
    // Through an aio, so that st_repl_follower_halt can cancel a wait for a
    // leader that is gone instead of sitting out the timeout.
    nng_aio_set_msg(ft->aio, m);
    nng_send_aio(ft->sock, ft->aio);
    nng_aio_wait(ft->aio);
    if ((rv = nng_aio_result(ft->aio)) != 0) {
        nng_msg_free(m);
        if (!atomic_load(&f->stop))
            say(ft, "cannot send to the leader: %s", nng_strerror(rv));
        return NULL;
    }
    nng_recv_aio(ft->sock, ft->aio);
    nng_aio_wait(ft->aio);
    if ((rv = nng_aio_result(ft->aio)) != 0) {
        if (!atomic_load(&f->stop))
            say(ft, "no answer from the leader: %s", nng_strerror(rv));
        return NULL;
    }
    m = nng_aio_get_msg(ft->aio);
    Stocktwin__ReplResponse *r =
        stocktwin__repl_response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    size_t len = nng_msg_len(m);
    nng_msg_free(m);
    if (r == NULL) {
        say(ft, "the leader's answer (%zu bytes) is not a stocktwin.ReplResponse", len);
        return NULL;
    }
    return r;
}

// check_reply applies the rules every reply must pass (step 2 above);
// false: not to be used (said).
static bool
check_reply(fetcher *ft, const Stocktwin__ReplResponse *r)
{
    st_repl_follower *f = ft->f;
    if (r->workers != f->workers) {
        say(ft, "the leader runs %u workers, this follower %u: start it with --workers %u",
            r->workers, f->workers, r->workers);
        return false;
    }
    pthread_mutex_lock(&f->mu);
    uint64_t mine = st_repl_epochs_current(&f->epochs);
    bool ok = r->epoch >= mine;
    if (ok && r->epoch > mine && r->n_epoch_start == f->workers) {
        char why[512];
        if (st_repl_epochs_append(f->data_dir, &f->epochs, r->epoch, r->epoch_start, why,
                                  sizeof why) != ST_OK)
            fprintf(stderr, "stocktwind: following: %s\n", why);
    }
    if (r->leader_rpc != NULL && r->leader_rpc[0] != '\0')
        snprintf(f->leader_rpc, sizeof f->leader_rpc, "%s", r->leader_rpc);
    pthread_mutex_unlock(&f->mu);
    if (!ok)
        say(ft,
            "the leader is of epoch %" PRIu64 ", older than %" PRIu64
            " seen here: a deposed leader; its frames are refused",
            r->epoch, mine);
    return ok;
}

static void
replicate_done(void *arg)
{
    follow_job *j = arg;
    sem_post(&j->done);
}

static void
reset_done(void *arg)
{
    fetcher *ft = arg;
    sem_post(&ft->reset_done);
}

static void
sem_wait_all(sem_t *s)
{
    while (sem_wait(s) != 0 && errno == EINTR)
        ;
}

// job_finish ends the oldest job, which is done; the first failure is said
// and kept in job_failed for the loop to start again (the jobs after it
// fail for it: their frames no longer follow the worker's log).
static void
job_finish(fetcher *ft)
{
    follow_job *j = &ft->jobs[ft->job_head];
    if (j->req.status != ST_OK && ft->job_failed == ST_OK) {
        const char *m = atomic_load(&j->req.message_count) > 0 ? j->req.messages[0].text : "";
        say(ft, "frames from %" PRIu64 " refused: %s (%s)", j->r->first_lsn,
            st_err_str(j->req.status), m);
        ft->job_failed = j->req.status;
    }
    stocktwin__repl_response__free_unpacked(j->r, NULL);
    j->r = NULL;
    ft->job_head = (ft->job_head + 1) % FOLLOW_JOBS;
    ft->job_count--;
}

static void
job_wait_oldest(fetcher *ft)
{
    ST_ASSERT(ft->job_count > 0);
    sem_wait_all(&ft->jobs[ft->job_head].done);
    job_finish(ft);
}

// jobs_reap ends the jobs that are done, oldest first, without waiting.
static void
jobs_reap(fetcher *ft)
{
    while (ft->job_count > 0 && sem_trywait(&ft->jobs[ft->job_head].done) == 0)
        job_finish(ft);
}

static void
jobs_drain(fetcher *ft)
{
    while (ft->job_count > 0)
        job_wait_oldest(ft);
}

// job_start hands the frames of r (checked by the caller as far as the
// fetcher checks them) to the worker; the job owns r from here.
static void
job_start(fetcher *ft, Stocktwin__ReplResponse *r)
{
    ST_ASSERT(ft->job_count < FOLLOW_JOBS);
    follow_job *j = &ft->jobs[(ft->job_head + ft->job_count) % FOLLOW_JOBS];
    j->r = r;
    ft->job_count++;
    st_shards_replicate(ft->f->shards, &j->req, ft->w, r->frames.data, (uint32_t)r->frames.len,
                        replicate_done, j);
}

// receive_snapshot streams the leader's newest snapshot of the worker into
// <lsn>.recv; its LSN, or 0 on failure (said).
static uint64_t
receive_snapshot(fetcher *ft)
{
    st_repl_follower *f = ft->f;
    uint64_t lsn = 0, size = 0, off = 0, t0 = now_ms(), told = t0;
    char path[4096] = "";
    int fd = -1;
    while (!atomic_load(&f->stop)) {
        Stocktwin__SnapshotChunkRequest sq = STOCKTWIN__SNAPSHOT_CHUNK_REQUEST__INIT;
        sq.worker = ft->w;
        sq.lsn = lsn;
        sq.offset = off;
        sq.max_bytes = FOLLOW_CHUNK_BYTES;
        Stocktwin__ReplRequest q = STOCKTWIN__REPL_REQUEST__INIT;
        q.body_case = STOCKTWIN__REPL_REQUEST__BODY_SNAPSHOT;
        q.snapshot = &sq;
        Stocktwin__ReplResponse *r = call(ft, &q);
        if (r == NULL || !check_reply(ft, r)) {
            stocktwin__repl_response__free_unpacked(r, NULL);
            pause_ms(FOLLOW_PAUSE_MS);
            continue;
        }
        if (r->status == STOCKTWIN__STATUS__STATUS_NOT_FOUND && lsn != 0) { // replaced: again
            stocktwin__repl_response__free_unpacked(r, NULL);
            lsn = size = off = 0;
            continue;
        }
        if (r->status != STOCKTWIN__STATUS__STATUS_OK) {
            say(ft, "snapshot: %s", r->message ? r->message : "refused");
            stocktwin__repl_response__free_unpacked(r, NULL);
            pause_ms(FOLLOW_PAUSE_MS);
            continue;
        }
        if (lsn == 0) { // the first answer fixes the file
            lsn = r->snapshot_lsn;
            size = r->snapshot_bytes;
            if (fd >= 0)
                close(fd);
            if (lsn == 0 || !st_snapshot_path(f->data_dir, ft->w, lsn, "recv", path, sizeof path) ||
                (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
                say(ft, "snapshot: cannot create %s: %s", path, strerror(errno));
                stocktwin__repl_response__free_unpacked(r, NULL);
                lsn = size = off = 0;
                pause_ms(FOLLOW_PAUSE_MS);
                continue;
            }
        }
        bool good = r->worker == ft->w && r->snapshot_lsn == lsn && r->snapshot_bytes == size &&
                    r->offset == off && r->chunk.len <= size - off &&
                    (r->chunk.len > 0 || off == size) &&
                    XXH3_64bits(r->chunk.data, r->chunk.len) == r->chunk_xxh3;
        if (!good) {
            say(ft, "snapshot: a chunk at offset %" PRIu64 " failed its checks; starting again",
                off);
            stocktwin__repl_response__free_unpacked(r, NULL);
            lsn = size = off = 0;
            continue;
        }
        size_t done = 0;
        while (done < r->chunk.len) {
            ssize_t k = pwrite(fd, r->chunk.data + done, r->chunk.len - done, (off_t)(off + done));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            done += (size_t)k;
        }
        size_t want = r->chunk.len;
        stocktwin__repl_response__free_unpacked(r, NULL);
        if (done != want) {
            say(ft, "snapshot: writing %s: %s", path, strerror(errno));
            lsn = size = off = 0;
            pause_ms(FOLLOW_PAUSE_MS);
            continue;
        }
        off += done;
        uint64_t now = now_ms();
        if (!f->quiet && now - told >= 1000) {
            told = now;
            fprintf(stderr,
                    "stocktwind: following: worker %u: receiving the leader's snapshot at LSN "
                    "%" PRIu64 ": %.1f of %.1f MiB\n",
                    ft->w, lsn, (double)off / 1048576.0, (double)size / 1048576.0);
        }
        if (off == size)
            break;
    }
    if (fd < 0)
        return 0;
    bool ok = off == size && size > 0 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        return 0;
    }
    if (!f->quiet)
        fprintf(stderr,
                "stocktwind: following: worker %u: received the leader's snapshot at LSN %" PRIu64
                " (%.1f MiB) in %.1f s\n",
                ft->w, lsn, (double)size / 1048576.0, (double)(now_ms() - t0) / 1000.0);
    return lsn;
}

// note_lag keeps what the lag functions report.
static void
note_lag(fetcher *ft, uint64_t leader_durable, uint64_t applied)
{
    pthread_mutex_lock(&ft->lag_mu);
    if (leader_durable > ft->leader_durable)
        ft->leader_durable = leader_durable;
    ft->applied = applied;
    st_repl_clock_note(&ft->clock, leader_durable, now_ms());
    pthread_mutex_unlock(&ft->lag_mu);
}

// catch_up_progress prints a line a second while the worker is far behind
// its leader (entries applied, rate, how many to go), and one when it has
// caught up.
static void
catch_up_progress(fetcher *ft, uint64_t applied, uint64_t leader_durable)
{
    uint64_t behind = leader_durable > applied ? leader_durable - applied : 0;
    uint64_t now = now_ms();
    if (ft->f->quiet)
        return;
    if (behind < FOLLOW_PROGRESS_ENTRIES) {
        if (ft->progress_ms != 0) {
            fprintf(stderr,
                    "stocktwind: following: worker %u: caught up: at LSN %" PRIu64 " of %" PRIu64
                    "\n",
                    ft->w, applied, leader_durable);
            ft->progress_ms = 0;
        }
        return;
    }
    if (ft->progress_ms == 0) {
        ft->progress_ms = now;
        ft->progress_lsn = applied;
        return;
    }
    if (now - ft->progress_ms < 1000)
        return;
    double rate = (double)(applied - ft->progress_lsn) * 1000.0 / (double)(now - ft->progress_ms);
    fprintf(stderr,
            "stocktwind: following: worker %u: catching up: at LSN %" PRIu64 " of %" PRIu64
            " (%.0f entries/s, %" PRIu64 " to go)\n",
            ft->w, applied, leader_durable, rate, behind);
    ft->progress_ms = now;
    ft->progress_lsn = applied;
}

static void *
fetcher_main(void *arg)
{
    fetcher *ft = arg;
    st_repl_follower *f = ft->f;
    char tname[16];
    snprintf(tname, sizeof tname, "st-follow-%u", ft->w);
    pthread_setname_np(pthread_self(), tname);
    uint64_t durable = st_shards_durable_lsn(f->shards, ft->w);
    // The last frame handed to the worker, and its epoch (0 while no job is
    // in flight: the worker's last entry says it).
    uint64_t received = durable, received_epoch = 0;
    uint64_t reset_epoch = 0; // the epoch of the leader a reset came from
    note_lag(ft, 0, durable);
    while (!atomic_load(&f->stop)) {
        jobs_reap(ft);
        if (ft->job_count == FOLLOW_JOBS) {
            job_wait_oldest(ft);
            jobs_reap(ft); // a later one that failed with it
        }
        if (ft->job_failed != ST_OK) { // start again from what is durable here
            jobs_drain(ft);
            st_err failed = ft->job_failed;
            ft->job_failed = ST_OK;
            if (failed != ST_BUSY)
                pause_ms(FOLLOW_PAUSE_MS);
        }
        durable = st_shards_durable_lsn(f->shards, ft->w);
        if (ft->job_count == 0) {
            received = durable;
            received_epoch = st_shards_last_epoch(f->shards, ft->w);
            if (received_epoch == 0)
                received_epoch = reset_epoch; // 0: not known (the leader cannot tell a divergence)
        }
        Stocktwin__FetchRequest fq = STOCKTWIN__FETCH_REQUEST__INIT;
        fq.worker = ft->w;
        fq.from_lsn = received + 1;
        fq.last_epoch = received_epoch;
        fq.durable_lsn = durable;
        fq.max_bytes = FOLLOW_FETCH_BYTES;
        fq.wait_ms = ft->job_count > 0 ? 0 : FOLLOW_WAIT_MS; // an ack must not wait on a poll
        Stocktwin__ReplRequest q = STOCKTWIN__REPL_REQUEST__INIT;
        q.body_case = STOCKTWIN__REPL_REQUEST__BODY_FETCH;
        q.fetch = &fq;
        Stocktwin__ReplResponse *r = call(ft, &q);
        if (r == NULL || !check_reply(ft, r)) {
            stocktwin__repl_response__free_unpacked(r, NULL);
            jobs_drain(ft);
            pause_ms(FOLLOW_PAUSE_MS);
            continue;
        }
        if (r->status == STOCKTWIN__STATUS__STATUS_BAD_VERSION && ft->version > 1) {
            // A leader of an older build: it takes from_lsn - 1 as durable
            // here, so fetch the way it expects, one job at a time.
            say(ft,
                "the leader speaks replication protocol 1 only (%s): fetching without "
                "pipelining until this follower restarts",
                r->message ? r->message : "");
            stocktwin__repl_response__free_unpacked(r, NULL);
            jobs_drain(ft);
            ft->version = 1;
            continue;
        }
        if (r->status != STOCKTWIN__STATUS__STATUS_OK) {
            say(ft, "the leader refused a fetch from %" PRIu64 ": %s", fq.from_lsn,
                r->message ? r->message : "");
            stocktwin__repl_response__free_unpacked(r, NULL);
            jobs_drain(ft);
            pause_ms(FOLLOW_PAUSE_MS);
            continue;
        }
        if (r->snapshot_needed && ft->job_count > 0) { // ask again with nothing in flight
            stocktwin__repl_response__free_unpacked(r, NULL);
            jobs_drain(ft);
            continue;
        }
        if (r->snapshot_needed) {
            uint64_t epoch = r->epoch;
            if (!f->quiet)
                fprintf(stderr, "stocktwind: following: worker %u: %s\n", ft->w,
                        r->message ? r->message : "a snapshot is needed");
            stocktwin__repl_response__free_unpacked(r, NULL);
            uint64_t lsn = receive_snapshot(ft);
            if (lsn == 0)
                continue;
            st_shards_reset(f->shards, &ft->req, ft->w, lsn, reset_done, ft);
            sem_wait_all(&ft->reset_done);
            if (ft->req.status != ST_OK) {
                say(ft, "starting over from the snapshot: %s", st_err_str(ft->req.status));
                pause_ms(FOLLOW_PAUSE_MS);
            }
            reset_epoch = epoch;
            note_lag(ft, 0, st_shards_durable_lsn(f->shards, ft->w));
            continue;
        }
        uint64_t leader_durable = r->durable_lsn;
        if (r->count == 0 || r->frames.len == 0 || r->worker != ft->w ||
            r->first_lsn != fq.from_lsn || r->frames.len > ST_REPL_FRAMES_MAX) {
            stocktwin__repl_response__free_unpacked(r, NULL);
            note_lag(ft, leader_durable, durable);
            if (ft->job_count > 0) // nothing new: let the next fetch carry its ack
                job_wait_oldest(ft);
            continue;
        }
        // The next fetch names the epoch of the last frame: read it (and
        // check that frame) here; when that fails the worker's checks have
        // the last word, and nothing goes on until it answered.
        st_wal_frame last;
        char why[256];
        uint64_t epoch = 0;
        bool known = st_wal_frames_last(r->frames.data, r->frames.len, r->first_lsn, r->count,
                                        &last, why, sizeof why) == ST_OK &&
                     st_codec_entry_epoch(last.payload, last.payload_len, &epoch) &&
                     epoch >= received_epoch;
        job_start(ft, r);
        if (known && ft->version >= 2) {
            received = last.lsn;
            received_epoch = epoch;
        } else {
            jobs_drain(ft);
        }
        durable = st_shards_durable_lsn(f->shards, ft->w);
        note_lag(ft, leader_durable, durable);
        catch_up_progress(ft, durable, leader_durable);
    }
    jobs_drain(ft); // the worker reads their frames until they are done
    return NULL;
}

st_err
st_repl_follower_start(const st_repl_follower_config *cfg, st_repl_follower **out, char *err,
                       size_t err_len)
{
    ST_ASSERT(cfg != NULL && cfg->leader_url != NULL && cfg->shards != NULL);
    ST_ASSERT(cfg->data_dir != NULL && st_shards_follower(cfg->shards));
    *out = NULL;
    st_repl_follower *f = st_calloc(1, sizeof *f);
    f->shards = cfg->shards;
    f->workers = st_shards_workers(cfg->shards);
    f->leader_url = dup_str(cfg->leader_url);
    f->name = dup_str(cfg->name ? cfg->name : "follower");
    f->data_dir = dup_str(cfg->data_dir);
    f->quiet = cfg->quiet;
    snprintf(f->leader_rpc, sizeof f->leader_rpc, "%s", cfg->leader_url);
    pthread_mutex_init(&f->mu, NULL);
    char why[512] = "";
    st_err rc = st_repl_epochs_load(f->data_dir, f->workers, &f->epochs, why, sizeof why);
    if (rc != ST_OK) {
        snprintf(err, err_len, "following: %s", why);
        goto fail;
    }
    f->fetchers = st_calloc(f->workers, sizeof *f->fetchers);
    for (uint32_t w = 0; w < f->workers; w++) { // all of it, before anything can fail
        fetcher *ft = &f->fetchers[w];
        ft->f = f;
        ft->w = w;
        ft->version = FOLLOW_VERSION;
        ft->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
        sem_init(&ft->reset_done, 0, 0);
        for (uint32_t i = 0; i < FOLLOW_JOBS; i++)
            sem_init(&ft->jobs[i].done, 0, 0);
        pthread_mutex_init(&ft->lag_mu, NULL);
    }
    for (uint32_t w = 0; w < f->workers; w++) {
        fetcher *ft = &f->fetchers[w];
        int rv = nng_aio_alloc(&ft->aio, NULL, NULL);
        if (rv == 0)
            nng_aio_set_timeout(ft->aio, FOLLOW_TIMEOUT_MS);
        if (rv == 0)
            rv = nng_req0_open(&ft->sock);
        if (rv == 0)
            rv = nng_socket_set_size(ft->sock, NNG_OPT_RECVMAXSZ, ST_REPL_FRAMES_MAX + (1u << 20));
        if (rv == 0)
            rv = nng_socket_set_ms(ft->sock, NNG_OPT_RECVTIMEO, FOLLOW_TIMEOUT_MS);
        if (rv == 0)
            rv = nng_socket_set_ms(ft->sock, NNG_OPT_SENDTIMEO, FOLLOW_TIMEOUT_MS);
        if (rv == 0)
            rv = nng_socket_set_ms(ft->sock, NNG_OPT_RECONNMAXT, 1000);
        if (rv == 0)
            rv = nng_dial(ft->sock, f->leader_url, NULL, NNG_FLAG_NONBLOCK);
        if (rv != 0) {
            snprintf(err, err_len, "following: cannot dial %s: %s", f->leader_url,
                     nng_strerror(rv));
            rc = ST_INVALID_ARGUMENT;
            goto fail;
        }
    }
    for (uint32_t w = 0; w < f->workers; w++) {
        fetcher *ft = &f->fetchers[w];
        ft->started = pthread_create(&ft->thread, NULL, fetcher_main, ft) == 0;
        if (!ft->started) {
            snprintf(err, err_len, "following: cannot start a thread");
            rc = ST_INTERNAL;
            goto fail;
        }
    }
    *out = f;
    return ST_OK;
fail:
    st_repl_follower_stop(f);
    return rc;
}

void
st_repl_follower_halt(st_repl_follower *f)
{
    atomic_store(&f->stop, true);
    for (uint32_t w = 0; f->fetchers != NULL && w < f->workers; w++) {
        fetcher *ft = &f->fetchers[w];
        if (!ft->started)
            continue;
        // Cancel until it is out: an operation it starts just after one
        // cancel is cancelled by the next.
        while (pthread_tryjoin_np(ft->thread, NULL) != 0) {
            nng_aio_cancel(ft->aio);
            pause_ms(5);
        }
        ft->started = false;
    }
}

void
st_repl_follower_stop(st_repl_follower *f)
{
    if (f == NULL)
        return;
    st_repl_follower_halt(f);
    for (uint32_t w = 0; f->fetchers != NULL && w < f->workers; w++) {
        fetcher *ft = &f->fetchers[w];
        if (nng_socket_id(ft->sock) > 0)
            nng_close(ft->sock);
        nng_aio_free(ft->aio);
        sem_destroy(&ft->reset_done);
        for (uint32_t i = 0; i < FOLLOW_JOBS; i++)
            sem_destroy(&ft->jobs[i].done);
        pthread_mutex_destroy(&ft->lag_mu);
    }
    pthread_mutex_destroy(&f->mu);
    st_free(f->fetchers);
    st_free(f->data_dir);
    st_free(f->name);
    st_free(f->leader_url);
    st_free(f);
}

void
st_repl_follower_lag(const st_repl_follower *f, uint64_t *entries, uint64_t *ms)
{
    uint64_t n = 0, lag = 0, now = now_ms();
    for (uint32_t w = 0; w < f->workers; w++) {
        fetcher *ft = &f->fetchers[w];
        pthread_mutex_lock(&ft->lag_mu);
        if (ft->leader_durable > ft->applied) {
            n += ft->leader_durable - ft->applied;
            uint64_t age = st_repl_clock_lag(&ft->clock, ft->applied, now);
            if (age > lag)
                lag = age;
        }
        pthread_mutex_unlock(&ft->lag_mu);
    }
    *entries = n;
    *ms = lag;
}

void
st_repl_follower_leader(const st_repl_follower *f, char *buf, size_t len)
{
    st_repl_follower *m = (st_repl_follower *)f;
    pthread_mutex_lock(&m->mu);
    snprintf(buf, len, "%s", m->leader_rpc);
    pthread_mutex_unlock(&m->mu);
}

uint64_t
st_repl_follower_epoch(const st_repl_follower *f)
{
    return follower_epoch((st_repl_follower *)f);
}
