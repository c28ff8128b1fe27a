// leader.c - the replication door of a leader. See replication.h.
//
// THE DOOR. An nng REP socket; `threads` threads each own a context and
// serve one ReplRequest at a time (a long-poll holds its thread), so that
// many followers and workers are served at once. Requests are at most
// REPL_REQUEST_MAX bytes; a reply at most ST_REPL_FRAMES_MAX bytes of frames
// or snapshot plus a small envelope.
//
// A FETCH (worker w, from_lsn F, last_epoch E, max_bytes M, wait_ms T) is
// answered with:
//   - FENCED when the follower has seen a newer epoch than this leader's:
//     this leader is deposed and refuses writes from then on;
//   - snapshot_needed when F is older than the first entry the log still
//     holds, or the follower's entry F - 1 is of an epoch older than a later
//     epoch that started at or before F - 1 (it holds entries this leader
//     never had: discarded by starting over), or F - 1 is beyond this
//     leader's last entry;
//   - else, once the worker's durable LSN D >= F (waiting up to T ms), the
//     frames F..min(D, what fits M) exactly as in the segment files
//     (shards/wal.c: 24-byte header with length, flags, LSN and XXH3, the
//     LogEntry payload, padding to 8), each checked by st_wal_reader before
//     it is sent, with first_lsn F, count and D.
// Every reply carries the leader's epoch, the epoch's start LSNs, the worker
// count and the leader's RPC URL. The fetch also acknowledges: its
// durable_lsn (protocol version 2; version 1 asks for F only once F - 1 is
// durable, so F - 1), capped at F - 1, is the follower's position, which the
// follower table keeps (per name, at most ST_REPL_FOLLOWERS_MAX) and from
// which, with --ack quorum=K, the K-th highest position of each worker goes
// to st_shards_quorum_set. A follower has one fetch of a worker out at a
// time, so positions arrive in the order it sent them.
//
// A SNAPSHOT CHUNK (worker w, lsn S (0: the newest), offset O, max M) is
// answered with bytes O.. of <data>/snap-<w>/<S>.snap, its size and LSN, and
// the XXH3-64 of the chunk. NOT_FOUND when S was replaced by a newer one
// (start again from 0); UNAVAILABLE when the worker has no snapshot yet (one
// is requested: retry shortly).
//
// Thread: the door's threads; the follower table and the cursor cache
// under `mu`.
#include "replication/replication.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "stocktwin.pb-c.h"
#include "replication/lag.h"
#include "shards/snapshot.h"
#include "shards/wal_reader.h"

#define REPL_REQUEST_MAX (64u * 1024u)
#define REPL_THREADS_DEFAULT 4u
#define REPL_THREADS_MAX 64u
#define REPL_CURSORS 4u // cached log cursors per worker
#define REPL_FETCH_DEFAULT (1u << 20)
#define REPL_VERSION 2u // spoken; a follower of version 1 is still served
#define REPL_VERSION_MIN 1u

typedef struct repl_follower {
    bool used;
    char name[128];
    uint64_t pos[ST_SHARDS_WORKERS_MAX]; // durable there (from its fetches)
    uint64_t last_seen_ms;
} repl_follower;

struct st_repl_leader {
    st_shards *shards;
    uint32_t workers;
    char *data_dir;
    char *rpc_url;
    st_repl_epochs epochs; // read-only once started
    nng_socket sock;
    uint32_t thread_count;
    pthread_t *threads;
    bool *started;
    atomic_bool stopping;
    atomic_uint calling; // threads starting an nng call (see door_enter)
    atomic_uint_fast64_t fenced_epoch;
    pthread_mutex_t mu;
    repl_follower followers[ST_REPL_FOLLOWERS_MAX];
    st_repl_clock clock[ST_SHARDS_WORKERS_MAX]; // when each worker's log became durable
    st_wal_reader *cursors[ST_SHARDS_WORKERS_MAX][REPL_CURSORS];
    uint64_t cursor_next[ST_SHARDS_WORKERS_MAX][REPL_CURSORS]; // the LSN each continues at
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

// door_enter/door_leave: nng 1.5.2 may touch a destroyed mutex if an
// operation starts while the socket closes (see server/rpc.c); a thread
// announces itself before it starts one, the stopper waits for none to be
// starting before it closes.
static bool
door_enter(st_repl_leader *l)
{
    atomic_fetch_add(&l->calling, 1);
    if (!atomic_load(&l->stopping))
        return true;
    atomic_fetch_sub(&l->calling, 1);
    return false;
}

static void
door_leave(st_repl_leader *l)
{
    atomic_fetch_sub(&l->calling, 1);
}

// ---------------------------------------------------------------------------
// Followers and quorum

// leader_note records that follower `name` has worker w durable up to pos,
// and with --ack quorum=K moves that worker's quorum LSN.
static void
leader_note(st_repl_leader *l, const char *name, uint32_t w, uint64_t pos)
{
    uint64_t now = now_ms();
    pthread_mutex_lock(&l->mu);
    repl_follower *f = NULL, *oldest = &l->followers[0];
    for (uint32_t i = 0; i < ST_REPL_FOLLOWERS_MAX && f == NULL; i++) {
        repl_follower *c = &l->followers[i];
        if (c->used && strcmp(c->name, name) == 0)
            f = c;
        else if (!c->used || (oldest->used && c->last_seen_ms < oldest->last_seen_ms))
            oldest = c;
    }
    if (f == NULL) { // a new one takes a free entry, or the one silent longest
        f = oldest;
        memset(f, 0, sizeof *f);
        f->used = true;
        snprintf(f->name, sizeof f->name, "%s", name);
    }
    f->pos[w] = pos;
    f->last_seen_ms = now;
    st_repl_clock_note(&l->clock[w], st_shards_durable_lsn(l->shards, w), now);
    uint32_t k = st_shards_quorum(l->shards);
    if (k != 0) {
        // The K-th highest position of worker w among the followers.
        uint64_t best[ST_REPL_FOLLOWERS_MAX];
        uint32_t n = 0;
        for (uint32_t i = 0; i < ST_REPL_FOLLOWERS_MAX; i++)
            if (l->followers[i].used)
                best[n++] = l->followers[i].pos[w];
        for (uint32_t i = 1; i < n; i++) // insertion sort, descending; n <= 16
            for (uint32_t j = i; j > 0 && best[j] > best[j - 1]; j--) {
                uint64_t t = best[j];
                best[j] = best[j - 1];
                best[j - 1] = t;
            }
        if (n >= k)
            st_shards_quorum_set(l->shards, w, best[k - 1]);
    }
    pthread_mutex_unlock(&l->mu);
}

uint32_t
st_repl_leader_followers(st_repl_leader *l, st_repl_follower_info *out, uint32_t max)
{
    uint64_t now = now_ms();
    uint32_t n = 0;
    pthread_mutex_lock(&l->mu);
    for (uint32_t i = 0; i < ST_REPL_FOLLOWERS_MAX && n < max; i++) {
        const repl_follower *f = &l->followers[i];
        if (!f->used)
            continue;
        st_repl_follower_info *o = &out[n++];
        snprintf(o->name, sizeof o->name, "%s", f->name);
        o->lag_entries = 0;
        o->lag_ms = 0;
        for (uint32_t w = 0; w < l->workers; w++) {
            uint64_t d = st_shards_durable_lsn(l->shards, w);
            st_repl_clock_note(&l->clock[w], d, now);
            if (d <= f->pos[w])
                continue;
            o->lag_entries += d - f->pos[w];
            uint64_t ms = st_repl_clock_lag(&l->clock[w], f->pos[w], now);
            if (ms > o->lag_ms)
                o->lag_ms = ms;
        }
        o->last_seen_ms = now - f->last_seen_ms;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

// ---------------------------------------------------------------------------
// Log cursors: a fetch that continues where an earlier one ended reuses that
// cursor (no directory listing, no walk through the segment).

static st_wal_reader *
cursor_take(st_repl_leader *l, uint32_t w, uint64_t from)
{
    st_wal_reader *r = NULL;
    pthread_mutex_lock(&l->mu);
    uint32_t pick = REPL_CURSORS;
    for (uint32_t i = 0; i < REPL_CURSORS; i++) {
        if (l->cursors[w][i] == NULL)
            continue;
        if (l->cursor_next[w][i] == from || pick == REPL_CURSORS)
            pick = i;
        if (l->cursor_next[w][i] == from)
            break;
    }
    if (pick < REPL_CURSORS) {
        r = l->cursors[w][pick];
        l->cursors[w][pick] = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    if (r == NULL && st_wal_reader_open(l->data_dir, w, &r) != ST_OK)
        r = NULL;
    return r;
}

static void
cursor_give(st_repl_leader *l, uint32_t w, st_wal_reader *r, uint64_t next)
{
    pthread_mutex_lock(&l->mu);
    for (uint32_t i = 0; i < REPL_CURSORS && r != NULL; i++) {
        if (l->cursors[w][i] == NULL) {
            l->cursors[w][i] = r;
            l->cursor_next[w][i] = next;
            r = NULL;
        }
    }
    pthread_mutex_unlock(&l->mu);
    st_wal_reader_close(r); // the cache is full
}

// ---------------------------------------------------------------------------
// Requests

typedef struct repl_reply {
    Stocktwin__ReplResponse pb;
    char message[512];
    uint8_t *buf; // ST_REPL_FRAMES_MAX: frames or a snapshot chunk
    uint64_t start[ST_SHARDS_WORKERS_MAX];
} repl_reply;

static void reply_fail(repl_reply *r, st_err status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply_fail(repl_reply *r, st_err status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->pb.status = (Stocktwin__Status)status;
    r->pb.message = r->message;
}

// fetch_diverged tells whether the follower's entry at from - 1, of epoch
// last_epoch, may differ from this leader's: a later epoch began at or
// before it.
static bool
fetch_diverged(const st_repl_leader *l, uint32_t w, uint64_t from, uint64_t last_epoch)
{
    if (from <= 1 || last_epoch == 0) // 0: the follower does not know (after a reset)
        return false;
    for (uint32_t i = 0; i < l->epochs.count; i++)
        if (l->epochs.epoch[i] > last_epoch && l->epochs.start[i][w] <= from - 1)
            return true;
    return false;
}

static void
handle_fetch(st_repl_leader *l, uint32_t version, const char *name,
             const Stocktwin__FetchRequest *f, repl_reply *r)
{
    uint32_t w = f->worker;
    if (w >= l->workers || f->from_lsn == 0) {
        reply_fail(r, ST_INVALID_ARGUMENT,
                   "fetch of worker %u from LSN %" PRIu64
                   ": this leader has workers 0..%u and LSNs start at 1",
                   w, f->from_lsn, l->workers - 1);
        return;
    }
    uint64_t epoch = st_repl_epochs_current(&l->epochs);
    r->pb.worker = w;
    uint64_t durable = st_shards_durable_lsn(l->shards, w);
    if (f->last_epoch > epoch) {
        reply_fail(r, ST_FENCED,
                   "the follower holds entries of epoch %" PRIu64
                   ", newer than this leader's %" PRIu64,
                   f->last_epoch, epoch);
        return;
    }
    if (fetch_diverged(l, w, f->from_lsn, f->last_epoch) || f->from_lsn > durable + 1) {
        r->pb.snapshot_needed = true;
        r->pb.durable_lsn = durable;
        reply_fail(r, ST_OK,
                   "worker %u: the follower's log up to %" PRIu64 " (epoch %" PRIu64
                   ") is not a prefix of this leader's (epoch %" PRIu64 ", durable %" PRIu64
                   "): start over from a snapshot",
                   w, f->from_lsn - 1, f->last_epoch, epoch, durable);
        return;
    }
    uint64_t pos = f->from_lsn - 1;
    if (version >= 2 && f->durable_lsn < pos)
        pos = f->durable_lsn; // received, not yet durable there
    leader_note(l, name, w, pos);
    uint32_t wait = f->wait_ms < ST_REPL_WAIT_MAX_MS ? f->wait_ms : ST_REPL_WAIT_MAX_MS;
    uint64_t deadline = now_ms() + wait;
    while (durable < f->from_lsn && !atomic_load(&l->stopping) && now_ms() < deadline) {
        struct timespec ts = {0, 500000}; // 0.5 ms: lag stays far under the 10 ms target
        nanosleep(&ts, NULL);
        durable = st_shards_durable_lsn(l->shards, w);
    }
    pthread_mutex_lock(&l->mu);
    st_repl_clock_note(&l->clock[w], durable, now_ms());
    pthread_mutex_unlock(&l->mu);
    r->pb.durable_lsn = durable;
    r->pb.first_lsn = f->from_lsn;
    if (durable < f->from_lsn)
        return; // nothing new within the wait: an empty answer
    size_t cap = f->max_bytes == 0 ? REPL_FETCH_DEFAULT : f->max_bytes;
    if (cap > ST_REPL_FRAMES_MAX)
        cap = ST_REPL_FRAMES_MAX;
    st_wal_reader *cur = cursor_take(l, w, f->from_lsn);
    if (cur == NULL) {
        reply_fail(r, ST_INTERNAL, "cannot open the log of worker %u", w);
        return;
    }
    size_t used = 0;
    uint32_t count = 0;
    char why[512] = "";
    st_err err =
        st_wal_reader_read(cur, f->from_lsn, durable, r->buf, cap, &used, &count, why, sizeof why);
    if (err == ST_TOO_LARGE && cap < ST_REPL_FRAMES_MAX) // one frame over a small cap
        err = st_wal_reader_read(cur, f->from_lsn, durable, r->buf, ST_REPL_FRAMES_MAX, &used,
                                 &count, why, sizeof why);
    if (err == ST_OK) {
        cursor_give(l, w, cur, f->from_lsn + count);
        r->pb.count = count;
        r->pb.frames.data = r->buf;
        r->pb.frames.len = used;
        return;
    }
    uint64_t first = st_wal_reader_first_lsn(cur);
    st_wal_reader_close(cur);
    if (err == ST_NOT_FOUND) {
        r->pb.snapshot_needed = true;
        reply_fail(r, ST_OK,
                   "worker %u: the log now starts at %" PRIu64 ", after %" PRIu64
                   ": start from a snapshot",
                   w, first, f->from_lsn);
        return;
    }
    reply_fail(r, ST_INTERNAL, "worker %u: reading the log from %" PRIu64 ": %s (%s)", w,
               f->from_lsn, st_err_str(err), why);
}

// snapshot_newest finds the LSN of the newest published snapshot of w (0: none).
static uint64_t
snapshot_newest(const st_repl_leader *l, uint32_t w)
{
    char dir[4096];
    if (!st_snapshot_dir(l->data_dir, w, dir, sizeof dir))
        return 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    uint64_t best = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        if (strlen(e->d_name) != 25 || strcmp(e->d_name + 20, ".snap") != 0)
            continue;
        uint64_t lsn = strtoull(e->d_name, &end, 10);
        if (end == e->d_name + 20 && lsn > best)
            best = lsn;
    }
    closedir(d);
    return best;
}

static void
handle_snapshot(st_repl_leader *l, const Stocktwin__SnapshotChunkRequest *q, repl_reply *r)
{
    uint32_t w = q->worker;
    if (w >= l->workers) {
        reply_fail(r, ST_INVALID_ARGUMENT, "snapshot of worker %u: this leader has workers 0..%u",
                   w, l->workers - 1);
        return;
    }
    r->pb.worker = w;
    uint64_t lsn = q->lsn != 0 ? q->lsn : snapshot_newest(l, w);
    if (lsn == 0) {
        (void)st_shards_snapshot_request(l->shards);
        reply_fail(r, ST_UNAVAILABLE, "worker %u has no snapshot yet; one is being taken: retry",
                   w);
        return;
    }
    char path[4096];
    if (!st_snapshot_path(l->data_dir, w, lsn, "snap", path, sizeof path)) {
        reply_fail(r, ST_INTERNAL, "snapshot path too long");
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        reply_fail(r, ST_NOT_FOUND,
                   "snapshot %" PRIu64 " of worker %u was replaced by a newer "
                   "one: start again",
                   lsn, w);
        return;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (q->offset > size) {
        close(fd);
        reply_fail(r, ST_INVALID_ARGUMENT,
                   "offset %" PRIu64 " is beyond the snapshot's %" PRIu64 " bytes", q->offset,
                   size);
        return;
    }
    size_t cap =
        q->max_bytes == 0 || q->max_bytes > ST_REPL_FRAMES_MAX ? ST_REPL_FRAMES_MAX : q->max_bytes;
    size_t want = size - q->offset < cap ? (size_t)(size - q->offset) : cap;
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, r->buf + got, want - got, (off_t)(q->offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != want) {
        reply_fail(r, ST_INTERNAL, "reading %s: %s", path, strerror(errno));
        return;
    }
    r->pb.snapshot_lsn = lsn;
    r->pb.snapshot_bytes = size;
    r->pb.offset = q->offset;
    r->pb.chunk.data = r->buf;
    r->pb.chunk.len = got;
    r->pb.chunk_xxh3 = XXH3_64bits(r->buf, got);
}

// handle fills r for one request's bytes.
static void
handle(st_repl_leader *l, const void *data, size_t len, repl_reply *r)
{
    Stocktwin__ReplRequest *q = stocktwin__repl_request__unpack(NULL, len, data);
    uint64_t epoch = st_repl_epochs_current(&l->epochs);
    if (q == NULL) {
        reply_fail(r, ST_MALFORMED, "not a stocktwin.ReplRequest (%zu bytes)", len);
        return;
    }
    if (q->version < REPL_VERSION_MIN || q->version > REPL_VERSION) {
        reply_fail(r, ST_BAD_VERSION,
                   "replication protocol version %u is not spoken here (%u to %u)", q->version,
                   REPL_VERSION_MIN, REPL_VERSION);
    } else if (q->workers != l->workers) {
        reply_fail(r, ST_INVALID_ARGUMENT,
                   "the follower runs %u workers and this leader %u: start it with --workers %u",
                   q->workers, l->workers, l->workers);
    } else if (q->epoch > epoch) {
        uint_fast64_t seen = atomic_load(&l->fenced_epoch);
        while (seen < q->epoch &&
               !atomic_compare_exchange_weak(&l->fenced_epoch, &seen, q->epoch)) {
        }
        if (seen == 0)
            fprintf(stderr,
                    "stocktwind: a follower has seen epoch %" PRIu64 ", newer than this "
                    "leader's %" PRIu64 ": this leader was deposed and refuses writes; restart "
                    "it with --follow to rejoin\n",
                    q->epoch, epoch);
        reply_fail(r, ST_FENCED,
                   "this leader's epoch %" PRIu64 " is older than %" PRIu64 ": it was deposed",
                   epoch, q->epoch);
    } else if (q->follower == NULL || q->follower[0] == '\0' || strlen(q->follower) >= 128) {
        reply_fail(r, ST_INVALID_ARGUMENT, "the follower's name is empty or over 127 bytes");
    } else if (q->body_case == STOCKTWIN__REPL_REQUEST__BODY_FETCH) {
        handle_fetch(l, q->version, q->follower, q->fetch, r);
    } else if (q->body_case == STOCKTWIN__REPL_REQUEST__BODY_SNAPSHOT) {
        handle_snapshot(l, q->snapshot, r);
    } else {
        reply_fail(r, ST_MALFORMED, "the request has no body (a fetch or a snapshot chunk)");
    }
    stocktwin__repl_request__free_unpacked(q, NULL);
}

static void *
door_main(void *arg)
{
    st_repl_leader *l = arg;
    pthread_setname_np(pthread_self(), "st-repl-door");
    nng_ctx ctx;
    nng_aio *aio = NULL;
    if (nng_ctx_open(&ctx, l->sock) != 0 || nng_aio_alloc(&aio, NULL, NULL) != 0) {
        fprintf(stderr, "stocktwind: replication: cannot make a context\n");
        return NULL;
    }
    repl_reply *r = st_calloc(1, sizeof *r);
    r->buf = st_malloc(ST_REPL_FRAMES_MAX);
    for (;;) {
        if (!door_enter(l))
            break;
        nng_ctx_recv(ctx, aio);
        door_leave(l);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) {
            if (atomic_load(&l->stopping))
                break;
            continue;
        }
        nng_msg *m = nng_aio_get_msg(aio);
        stocktwin__repl_response__init(&r->pb);
        r->message[0] = '\0';
        handle(l, nng_msg_body(m), nng_msg_len(m), r);
        r->pb.epoch = st_repl_epochs_current(&l->epochs);
        r->pb.workers = l->workers;
        r->pb.leader_rpc = l->rpc_url;
        memcpy(r->start, l->epochs.start[l->epochs.count - 1], l->workers * sizeof r->start[0]);
        r->pb.epoch_start = r->start;
        r->pb.n_epoch_start = l->workers;
        size_t n = stocktwin__repl_response__get_packed_size(&r->pb);
        if (nng_msg_realloc(m, n) != 0) {
            nng_msg_free(m);
            continue;
        }
        stocktwin__repl_response__pack(&r->pb, nng_msg_body(m));
        nng_aio_set_msg(aio, m);
        if (!door_enter(l)) {
            nng_msg_free(m);
            break;
        }
        nng_ctx_send(ctx, aio);
        door_leave(l);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(m);
    }
    nng_aio_free(aio);
    st_free(r->buf);
    st_free(r);
    return NULL;
}

st_err
st_repl_leader_start(const st_repl_leader_config *cfg, st_repl_leader **out, char *err,
                     size_t err_len)
{
    ST_ASSERT(cfg != NULL && cfg->url != NULL && cfg->shards != NULL && cfg->data_dir != NULL);
    *out = NULL;
    st_repl_leader *l = st_calloc(1, sizeof *l);
    l->shards = cfg->shards;
    l->workers = st_shards_workers(cfg->shards);
    l->data_dir = dup_str(cfg->data_dir);
    l->rpc_url = dup_str(cfg->rpc_url ? cfg->rpc_url : "");
    l->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
    pthread_mutex_init(&l->mu, NULL);
    char why[512] = "";
    st_err rc = st_repl_epochs_load(cfg->data_dir, l->workers, &l->epochs, why, sizeof why);
    if (rc != ST_OK) {
        snprintf(err, err_len, "replication: %s", why);
        goto fail;
    }
    int rv = nng_rep0_open(&l->sock);
    if (rv == 0)
        rv = nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, REPL_REQUEST_MAX);
    if (rv == 0 && (rv = nng_listen(l->sock, cfg->url, NULL, 0)) != 0) {
        snprintf(err, err_len, "replication: cannot listen on %s: %s", cfg->url, nng_strerror(rv));
        rc = ST_IO;
        goto fail;
    }
    if (rv != 0) {
        snprintf(err, err_len, "replication: cannot open a REP socket: %s", nng_strerror(rv));
        rc = ST_IO;
        goto fail;
    }
    // Each follower keeps one long-poll per worker open: room for a few
    // followers of every worker without queueing behind a long-poll.
    l->thread_count = cfg->threads ? cfg->threads : REPL_THREADS_DEFAULT + 4u * l->workers;
    if (l->thread_count > REPL_THREADS_MAX)
        l->thread_count = REPL_THREADS_MAX;
    l->threads = st_calloc(l->thread_count, sizeof *l->threads);
    l->started = st_calloc(l->thread_count, sizeof *l->started);
    for (uint32_t i = 0; i < l->thread_count; i++)
        l->started[i] = pthread_create(&l->threads[i], NULL, door_main, l) == 0;
    *out = l;
    return ST_OK;
fail:
    st_repl_leader_stop(l);
    return rc;
}

void
st_repl_leader_stop(st_repl_leader *l)
{
    if (l == NULL)
        return;
    atomic_store(&l->stopping, true);
    while (atomic_load(&l->calling) != 0)
        sched_yield();
    if (nng_socket_id(l->sock) > 0)
        nng_close(l->sock);
    for (uint32_t i = 0; i < l->thread_count; i++)
        if (l->started[i])
            pthread_join(l->threads[i], NULL);
    for (uint32_t w = 0; w < ST_SHARDS_WORKERS_MAX; w++)
        for (uint32_t i = 0; i < REPL_CURSORS; i++)
            st_wal_reader_close(l->cursors[w][i]);
    pthread_mutex_destroy(&l->mu);
    st_free(l->started);
    st_free(l->threads);
    st_free(l->rpc_url);
    st_free(l->data_dir);
    st_free(l);
}

uint64_t
st_repl_leader_epoch(const st_repl_leader *l)
{
    return st_repl_epochs_current(&l->epochs);
}

bool
st_repl_leader_fenced(const st_repl_leader *l, uint64_t *epoch_out)
{
    uint64_t e = atomic_load(&((st_repl_leader *)l)->fenced_epoch);
    if (epoch_out != NULL)
        *epoch_out = e;
    return e != 0;
}
