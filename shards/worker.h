// worker.h - the insides of the shards runtime, shared by shards.c (the
// public API: create, destroy, route, submit, query), worker.c (a worker's
// loop) and outbox.c (worker-to-worker delivery). Not a public header.
//
// Ownership: st_shards owns its workers; a worker owns its st_state, its
// rings, its outbox pool and its feed buffers. Jobs and requests in a ring
// are borrowed from their submitter until they are released.
// Thread: a worker's non-atomic fields are touched only by its own thread,
// except during create/destroy (one thread, workers not running).
#ifndef ST_SHARDS_WORKER_H
#define ST_SHARDS_WORKER_H

#include <pthread.h>
#include <semaphore.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/event.h"
#include "core/lookahead.h"
#include "core/snapshot.h"
#include "core/state.h"
#include "shards/codec.h"
#include "shards/directory.h"
#include "shards/ring.h"
#include "shards/shards.h"
#include "shards/snapshot.h"
#include "shards/wal.h"

#define ST_SHARDS_RING_DEFAULT 1024u
#define ST_SHARDS_DRAIN_MAX 64u       // jobs taken from the ring per loop iteration
#define ST_SHARDS_INBOX_DRAIN_MAX 64u // outbox messages taken per loop iteration
#define ST_SHARDS_OUTBOX_POOL 1024u   // outbox messages a worker may have in flight
#define ST_SHARDS_FEED_ALERTS_MAX 1024u
#define ST_SHARDS_FEED_CHANGES_MAX 4096u
#define ST_SHARDS_SPIN 256u            // empty polls before a worker parks
#define ST_SHARDS_FULL_RETRY_MS 50u    // a full disk: how often the log tries again
#define ST_SHARDS_QUORUM_STOP_MS 2000u // stopping: how long replies wait for a quorum
#define ST_SHARDS_DISK_WAIT_US 50u     // the longest a worker sleeps on its log's eventfd
// Batches a worker may have applied and not yet released (waiting for the
// log): one filling, the others with their write and fdatasync in flight or
// queued behind it. Matches the log's batch buffers (ST_WAL_BATCHES_DEFAULT).
#define ST_SHARDS_PIPELINE 4u
// The largest LogEntry one event can make: ids are bounded (ST_ID_LEN_MAX,
// ST_TEXT_LEN_MAX) and so are RFID tags, so 64 KiB has ample headroom.
#define ST_SHARDS_ENTRY_MAX (64u * 1024u)
#define ST_SHARDS_REPLAY_ARENA (1u << 20) // unpack memory for one replayed entry

// A logged entry decoded and waiting for its apply: replay and following
// decode ST_LOOKAHEAD - 1 entries ahead of the apply, so that the lookahead
// (core/lookahead.h) can walk their records into the cache. Each place has
// its own part of the replay arena.
typedef struct st_worker_pending {
    st_event ev;
    st_codec_entry meta;
    st_wal_frame frame; // following: the checked frame, appended at the apply
    uint64_t lsn;
} st_worker_pending;

// st_shards_req.op: what a job asks of its worker.
#define ST_SHARDS_OP_EVENTS 0u    // events or a query (query_cb)
#define ST_SHARDS_OP_REPLICATE 1u // a follower's frames (st_shards_replicate)
#define ST_SHARDS_OP_RESET 2u     // a follower's reset from a snapshot (st_shards_reset)

// req->route[] values besides worker ids.
#define ST_SHARDS_ROUTE_ALL 0xfffeu  // catalog event: every worker applies it
#define ST_SHARDS_ROUTE_NONE 0xffffu // rejected at submit, no worker sees it

_Static_assert(ST_SHARDS_WORKERS_MAX <= 64u, "worker sets are uint64_t masks");
_Static_assert(ST_SHARDS_WORKERS_MAX < ST_SHARDS_ROUTE_ALL, "route values are distinct");
_Static_assert(ST_SHARDS_FEED_ALERTS_MAX >= ST_APPLY_ALERTS_MAX, "one apply fits the feed");
_Static_assert(ST_SHARDS_FEED_CHANGES_MAX >= ST_APPLY_CHANGES_MAX, "one apply fits the feed");
_Static_assert((ST_SHARDS_OUTBOX_POOL & (ST_SHARDS_OUTBOX_POOL - 1)) == 0,
               "pool is a power of two");

// One internal event on its way to another worker, with owned copies of its
// strings (fixed size: pooled, never allocated on the hot path).
typedef struct st_outbox_msg {
    struct st_outbox_msg *next; // free list, send list or pending list
    uint32_t owner;             // worker whose pool it came from
    uint32_t target;            // worker owning event.warehouse
    bool heap;                  // allocated because the pool was empty (see outbox.c)
    st_event event;             // strings point into the arrays below
    char source[ST_ID_LEN_MAX + 16];
    char warehouse[ST_ID_LEN_MAX + 1];
    char transfer_id[ST_ID_LEN_MAX + 1];
    char from_warehouse[ST_ID_LEN_MAX + 1];
    char sku[ST_ID_LEN_MAX + 1];
} st_outbox_msg;

typedef struct st_msg_list {
    st_outbox_msg *head;
    st_outbox_msg *tail;
} st_msg_list;

typedef struct st_outbox {
    st_outbox_msg *pool;      // ST_SHARDS_OUTBOX_POOL messages
    st_outbox_msg *free_list; // owner only
    st_ring returns;          // consumed messages of this pool, from any worker
    st_msg_list send;         // staged by the batch being filled (then its slot's)
    st_msg_list pending;      // target inbox was full: retried every iteration
    uint64_t heap_messages;   // how often the pool ran dry for an internal event
} st_outbox;

// One batch of a worker's loop, from apply to release: the jobs it drained,
// the outbox messages it received, what it staged for other workers and the
// feed it produced. Released as a whole, in order, once `lsn` is durable.
typedef struct st_worker_slot {
    uint64_t lsn; // the last log entry the batch appended (or saw, for queries)
    uint32_t job_count;
    st_shards_job *jobs[ST_SHARDS_DRAIN_MAX];
    uint32_t received_count;
    st_outbox_msg *received[ST_SHARDS_INBOX_DRAIN_MAX];
    st_msg_list send; // outbox messages staged by the batch
    uint32_t alert_count;
    uint32_t change_count;
    st_alert *alerts;   // ST_SHARDS_FEED_ALERTS_MAX
    st_change *changes; // ST_SHARDS_FEED_CHANGES_MAX
} st_worker_slot;

typedef struct st_worker {
    struct st_shards *shards;
    uint32_t id;
    bool started;
    pthread_t thread;
    st_state *state;
    st_apply_out *out; // one apply's output, reused (it is large)

    st_ring jobs;  // st_shards_job * from submitters
    st_ring inbox; // st_outbox_msg * from workers (including this one)
    sem_t wake;
    _Alignas(64) atomic_bool sleeping; // parked or about to park in sem_wait
    atomic_bool snap_requested;        // st_shards_snapshot_request
    // Replication: the durable LSN and last entry's epoch for other threads
    // (the leader's door, the follower's fetchers), and what the leader's
    // door says is durable on a quorum of followers.
    atomic_uint_fast64_t pub_durable_lsn;
    atomic_uint_fast64_t pub_epoch;
    atomic_uint_fast64_t pub_image_lsn; // st_state_image_lsn of the state (promotion waits)
    atomic_uint_fast64_t quorum_lsn;
    atomic_uint_fast64_t busy_rejections; // bumped by submitters

    // Counters, this thread only.
    _Alignas(64) uint64_t events_accepted;
    uint64_t events_rejected;
    uint64_t events_duplicate;
    uint64_t queries;

    // Applied batches, oldest first, waiting to be released once the log
    // says they are durable (see worker.c, "The pipeline"): slots[head] is
    // the oldest sealed one, `sealed` of them are sealed, and
    // slots[(head + sealed) % ST_SHARDS_PIPELINE] is the one being filled.
    st_worker_slot slots[ST_SHARDS_PIPELINE];
    uint32_t head;
    uint32_t sealed;
    st_outbox outbox;
    st_lookahead lookahead; // the next events of the job being applied

    // The write-ahead log (NULL: memory only). last_lsn is the last entry
    // appended, durable_lsn the last one the log reported durable.
    st_wal *wal;
    uint64_t last_lsn;
    uint64_t durable_lsn;
    uint64_t last_epoch; // of the entry at last_lsn (0: none seen since start)
    // The disk is full (a retryable failure of the log): new events are
    // refused unapplied until the log's rewrite, tried again at
    // wal_retry_ms, succeeds (see worker_wal_failed).
    bool wal_full;
    int wal_errno;
    uint64_t wal_retry_ms;
    char wal_why[ST_WAL_PATH_MAX + 256];
    int64_t now_ms;            // the batch's ingest time (wall clock)
    // The clock (worker_tick): when the next round looks for due timers
    // (monotonic ms), whether this batch runs one, and the seq of the last
    // tick entry this worker wrote (ms x 1000, +1 for each in the same ms).
    uint64_t next_tick_ms;
    bool tick_due;
    uint64_t tick_seq;
    st_codec_scratch *scratch; // LogEntry being built
    uint8_t *entry;            // ST_SHARDS_ENTRY_MAX bytes: its packed form
    // ST_LOOKAHEAD parts of ST_SHARDS_REPLAY_ARENA bytes (pages are touched
    // only as entries need them); replay_alloc bumps in part replay_part.
    uint8_t *replay_arena;
    uint32_t replay_part;
    size_t replay_used;
    st_worker_pending pending[ST_LOOKAHEAD]; // decoded, not yet applied
    uint32_t pending_head, pending_count;
    uint64_t replayed;
    uint64_t replay_start_ms; // progress lines (worker_replay_progress)
    uint64_t replay_said_ms;
    char error[ST_WAL_PATH_MAX + 512]; // why replay or the log failed
    char message[ST_APPLY_MESSAGE_MAX];

    // Snapshots (worker.c, "Snapshots"): the pass writing one, its image's
    // first LSN (the file's name) and last LSN, log bytes appended since the
    // last one began.
    st_snapshot_pass *snap_pass; // NULL: none being written
    st_snap_pass snap_image;     // core's cursor over the warehouses
    bool snap_written;           // the pass finished well; publish once durable
    uint64_t snap_lsn, snap_last_lsn;
    uint64_t snap_log_bytes;
    uint64_t snap_last_ms, snap_started_ms;
    uint64_t snap_part_us_max; // the longest stop to copy a part, this pass
    size_t snap_part_bytes;    // the largest part so far (the next pass's buffers)
    uint32_t snap_parts;
    bool *snap_free; // ST_SHARDS_OUTBOX_POOL: pool messages not in flight

} st_worker;

struct st_shards {
    uint32_t worker_count;
    uint32_t ring_size; // slots per job ring
    st_shards_feed_cb feed_cb;
    void *feed_arg;
    st_shards_sync sync;
    uint32_t sync_interval_ms;
    uint64_t snapshot_bytes;
    uint32_t snapshot_interval_ms;
    uint64_t retain_entries;
    const char *data_dir; // borrowed from the config (the server keeps it)
    // What a worker needs to open its log again (a follower's reset).
    st_state_config state_config;
    uint64_t segment_bytes;
    const char *fault_control; // borrowed, like data_dir
    bool truncate_corrupt;
    bool follower;
    uint32_t quorum;
    uint64_t epoch;
    uint32_t tick_ms; // 0: no ticks (st_shards_config)
    int64_t device_silent_ms;
    st_directory *directory;
    // Removes the files a snapshot makes obsolete off the workers' threads
    // (wal_janitor.h); NULL without a data directory.
    st_wal_janitor *janitor;
    st_worker *workers;
    _Alignas(64) atomic_bool stop;
};

// worker.c
st_err st_worker_init(st_worker *w, struct st_shards *shards, uint32_t id,
                      const st_shards_config *config);
void st_worker_deinit(st_worker *w);
void *st_worker_main(void *arg);
void st_worker_wake(st_worker *w);

// shards.c: the data directory's record of how it was written.
st_err st_shards_data_check(struct st_shards *shards, const st_shards_config *config);
// shards.c: finishing a request is shared by workers and submitters.
void st_shards_req_lsn(st_shards_req *req, uint64_t lsn);
void st_shards_req_release(st_shards_req *req);
void st_shards_req_message(st_shards_req *req, uint32_t index, const char *text);
void st_shards_req_fail(st_shards_req *req, st_err err);

// outbox.c
void st_outbox_init(st_outbox *ob, uint32_t owner);
void st_outbox_deinit(st_outbox *ob);
bool st_outbox_ready(st_outbox *ob);
void st_outbox_reclaim(st_outbox *ob); // handed-back messages onto the free list
void st_outbox_stage(st_worker *w, const st_event *event);
void st_outbox_flush(st_worker *w);
void st_outbox_splice(st_msg_list *to, st_msg_list *from);
void st_outbox_consumed(struct st_shards *shards, st_outbox_msg *msg);
void st_outbox_free_heap(st_outbox_msg *msg);
uint32_t st_outbox_resend(struct st_shards *shards);

#endif
