// shards.h - the runtime that owns state: N worker threads, each owning the
// st_state of the warehouses a stable hash places on it, fed through bounded
// lock-free MPSC rings (Concurrency Kit). Producers (the server's request
// contexts) hand work over whole; a worker drains a batch of jobs from its
// ring, validates and applies their events with core, then releases the jobs'
// replies strictly in order. The write-ahead log (issue 3) slots in between
// "apply" and "release": a job is released once everything it could have seen
// is durable.
//
// Cross-warehouse effects (a transfer's arrival expected at its destination)
// travel through each worker's outbox to the owning worker; every outbox
// event carries its own (source, seq), so delivery is exactly once.
//
// Ownership: an st_shards_req is memory the caller owns (embed it in a
// per-connection context); from a successful submit until its done callback
// runs, the shards own it and the events, statuses and query argument it
// points to. Callbacks run on worker threads and must not block.
// Thread: submit and query functions from any thread; create/destroy from one.
#ifndef ST_SHARDS_SHARDS_H
#define ST_SHARDS_SHARDS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/event.h"
#include "core/state.h"

#define ST_SHARDS_WORKERS_MAX 64u
#define ST_SHARDS_BATCH_MAX 4096u     // events in one request
#define ST_SHARDS_MESSAGES_MAX 32u    // per-event error sentences kept per request

_Static_assert(ST_SHARDS_BATCH_MAX <= UINT16_MAX, "event indexes are uint16_t");

typedef struct st_shards st_shards;

// What one worker published after releasing a batch: alerts and stock changes,
// borrowed until the callback returns (strings live as long as the shards).
typedef struct st_feed_batch {
    uint32_t worker;
    uint32_t alert_count;
    uint32_t change_count;
    const st_alert *alerts;
    const st_change *changes;
} st_feed_batch;

typedef void (*st_shards_feed_cb)(void *arg, const st_feed_batch *batch);

// Numbered as the log's st_wal_sync_mode; zero is the default, fsync.
typedef enum st_shards_sync {
    ST_SHARDS_SYNC_FSYNC = 0, // acknowledged after fdatasync (the default)
    ST_SHARDS_SYNC_BATCH = 1, // acknowledged after write(); fdatasync every sync_interval_ms
    ST_SHARDS_SYNC_NONE = 2,  // memory only, no log files (always so without data_dir)
} st_shards_sync;

typedef struct st_shards_config {
    uint32_t workers;        // 0 = online CPUs; at most ST_SHARDS_WORKERS_MAX
    uint32_t ring_capacity;  // slots per worker ring, a power of two >= 2; 0 = 1024.
                             // ck_ring keeps one slot free: it holds capacity - 1 jobs
    st_state_config state;   // passed to every worker's st_state_create()
    st_shards_feed_cb feed_cb; // may be NULL
    void *feed_arg;
    // Durability. With data_dir NULL the state lives in memory only. Else
    // every worker keeps a write-ahead log in <data_dir>/wal-<worker>/, the
    // logs are replayed at create, and replies wait for what they saw to be
    // durable in `sync` mode.
    const char *data_dir;
    st_shards_sync sync;
    uint32_t sync_interval_ms; // batch mode; 0 = 1000
    uint64_t segment_bytes;    // 0 = the log's default (64 MiB)
    bool truncate_corrupt;     // cut a corrupt log at the damage instead of refusing
    // Snapshots (with a log): a worker snapshots its state once this many log
    // bytes were appended since its last one (0 = 256 MiB), or after
    // snapshot_interval_ms with anything appended (0 = 10 minutes); then its
    // log keeps retain_entries entries before the snapshot (for followers).
    uint64_t snapshot_bytes;
    uint32_t snapshot_interval_ms;
    uint64_t retain_entries;
    // Replication (issue 4, replication/). A follower's workers take their
    // entries from st_shards_replicate only (the server refuses client
    // writes) and deliver no outbox messages: the leader's logs already hold
    // every worker's share of a transfer. With quorum > 0 (a leader's --ack
    // quorum=K) a reply is released only once st_shards_quorum_set reported
    // its worker's LSN as durable on K followers too. Entries are written
    // with `epoch` (0: 1).
    bool follower;
    uint32_t quorum;
    uint64_t epoch;
    // Timers (core/timers.c): every tick_ms, a worker that is not a follower
    // writes a tick entry for each of its warehouses with a timer due (a
    // reservation past its expiry, a device silent for device_silent_ms, a
    // shipment past its eta). 0: no ticks, so no reservation expires and no
    // DEVICE_SILENT or SHIPMENT_DELAYED is raised. device_silent_ms: 0 to
    // ST_SILENT_MS_MAX, 0 = devices are never silent.
    uint32_t tick_ms;
    int64_t device_silent_ms;
    // For tests only: every worker's log uses a fault-injecting io driven by
    // this control file instead of io_uring (see st_wal_config). NULL: none.
    const char *fault_control;
    // Receives a sentence saying why create failed (corruption: file, offset
    // and LSN). May be NULL.
    char *error;
    size_t error_len;
} st_shards_config;

// A worker's counters, as seen by a query callback on that worker.
typedef struct st_shards_worker_info {
    uint32_t worker;
    uint64_t events_accepted;
    uint64_t events_rejected;
    uint64_t events_duplicate;
    uint64_t queries;
    uint64_t busy_rejections;
    uint32_t queue_depth;
    uint32_t queue_capacity;
    uint64_t durable_lsn; // of this worker's log (0 without one)
    uint64_t applied_lsn; // the last entry applied to the state the callback sees
} st_shards_worker_info;

typedef void (*st_shards_done_cb)(void *arg);
// Runs on worker `info->worker` with that worker's state, read-only.
typedef void (*st_shards_query_cb)(void *arg, const st_shards_worker_info *info,
                                   const st_state *state);

typedef struct st_shards_message {
    uint32_t index; // event index in the request
    char text[ST_APPLY_MESSAGE_MAX];
} st_shards_message;

// One job a worker runs for a request. Private.
typedef struct st_shards_job {
    struct st_shards_req *req;
    uint32_t worker;
    uint32_t events; // events routed to this worker (0: a query, a follower's job)
} st_shards_job;

// A request in flight. Caller-owned; fields are private to shards.c except
// the results documented below, readable once done_cb has run.
typedef struct st_shards_req {
    // Results.
    st_err status;          // ST_OK, or why the whole request failed (queries)
    // The highest log sequence number this request's events were written at,
    // or a query's state reflected, over the workers involved (each worker
    // numbers its own log); every reply is released only once it is durable.
    atomic_uint_fast64_t lsn;
    atomic_uint message_count; // entries of messages[] filled (<= ST_SHARDS_MESSAGES_MAX)
    st_shards_message messages[ST_SHARDS_MESSAGES_MAX];
    // Private.
    uint8_t op; // ST_SHARDS_OP_* (worker.h)
    const uint8_t *frames;
    uint32_t frames_len;
    uint64_t reset_lsn;
    const st_event *events;
    st_err *statuses;
    uint32_t event_count;
    st_shards_query_cb query_cb;
    void *query_arg;
    st_shards_done_cb done_cb;
    void *done_arg;
    atomic_uint pending;    // jobs not yet released
    atomic_int fail;        // st_err shared by workers: catalog statuses, query status
    uint16_t route[ST_SHARDS_BATCH_MAX];
    st_shards_job jobs[ST_SHARDS_WORKERS_MAX];
} st_shards_req;

// st_shards_create starts the workers. The caller owns *shards_out.
st_err st_shards_create(const st_shards_config *config, st_shards **shards_out);

// st_shards_destroy stops the workers after they finished what their rings
// hold (remaining jobs are completed with ST_UNAVAILABLE) and frees
// everything; NULL is a no-op. No submit may run concurrently or after.
void st_shards_destroy(st_shards *shards);

uint32_t st_shards_workers(const st_shards *shards);

// st_shards_snapshot_request asks every worker to snapshot its state at its
// next loop iteration (worker.c, "Snapshots"). ST_INVALID_ARGUMENT without a
// log. Any thread.
st_err st_shards_snapshot_request(st_shards *shards);

// st_shards_sync_mode tells how replies relate to the disk.
st_shards_sync st_shards_sync_mode(const st_shards *shards);

// st_shards_route returns the worker owning `warehouse`: a stable hash
// (XXH3 of the id) modulo the worker count.
uint32_t st_shards_route(const st_shards *shards, const char *warehouse);

// st_shards_submit hands `count` events (1..ST_SHARDS_BATCH_MAX) to their
// workers: catalog events to every worker, the rest to the warehouse's owner.
// statuses[i] receives event i's status; events of a worker whose ring is full
// get ST_BUSY, internal event kinds from outside get ST_INVALID_ARGUMENT, a
// dispatch to a warehouse no worker owns gets ST_UNKNOWN_WAREHOUSE. done_cb
// runs exactly once when every status is final, possibly on this thread
// before st_shards_submit returns. `events`, `statuses` and `req` must stay
// valid until then.
void st_shards_submit(st_shards *shards, st_shards_req *req, const st_event *events,
                      st_err *statuses, uint32_t count, st_shards_done_cb done_cb,
                      void *done_arg);

// st_shards_query runs query_cb on the worker owning `warehouse`, or on every
// worker when `warehouse` is NULL (scatter; the callback then runs on several
// threads at once and must write only to per-worker slots). req->status is
// ST_BUSY if some worker's ring was full (that worker's callback did not run).
// done_cb runs exactly once, after every callback that ran, as for submit.
void st_shards_query(st_shards *shards, st_shards_req *req, const char *warehouse,
                     st_shards_query_cb query_cb, void *query_arg,
                     st_shards_done_cb done_cb, void *done_arg);

// ---------------------------------------------------------------------------
// Replication (replication/ drives these; see DESIGN.md section 8).

// st_shards_replicate hands a follower's worker `len` bytes of framed log
// records from the leader (byte for byte as in a segment: shards/wal.c). The
// worker checks every frame (shards/wal.h st_wal_frame_check), skips those it
// already has, requires the next LSN after its last one (no gap) and an epoch
// no older than its last entry's, appends the payload to its own log (the
// same frame bytes at the same LSN), applies it with core, and releases the
// request once it is durable. req->status: ST_OK, ST_MALFORMED (a bad frame
// or entry; the first message says which), ST_CONFLICT (a gap: the frames do
// not continue this worker's log), ST_FENCED (an entry of an older epoch),
// ST_INTERNAL (core refused an entry the leader accepted: the logs diverged),
// ST_UNAVAILABLE (the disk is full), ST_BUSY (ring full). req->lsn: the
// worker's last LSN afterwards. `frames` must stay valid until done_cb.
void st_shards_replicate(st_shards *shards, st_shards_req *req, uint32_t worker,
                         const uint8_t *frames, uint32_t len, st_shards_done_cb done_cb,
                         void *done_arg);

// st_shards_reset makes a follower's worker start over from the snapshot the
// caller received from the leader into <data>/snap-<worker>/<lsn>.recv
// (synced): the worker makes its log durable and releases what waits, stops
// a snapshot of its own, installs the received file as its only snapshot,
// empties its log, loads the snapshot and opens the log again at lsn + 1. A
// snapshot that cannot be loaded ends the process (the state is gone); a
// restart fetches it again. req->lsn: the snapshot's LSN.
void st_shards_reset(st_shards *shards, st_shards_req *req, uint32_t worker, uint64_t lsn,
                     st_shards_done_cb done_cb, void *done_arg);

// st_shards_image_lsn: the last LSN of the snapshot a worker started from
// while it has not applied an entry after it (core/snapshot.h), else 0.
// Any thread. A worker whose durable LSN is below it (a follower right
// after it received a snapshot) must not lead: its state holds entries its
// log does not.
uint64_t st_shards_image_lsn(const st_shards *shards, uint32_t worker);

// What a worker has made durable (any thread; a relaxed snapshot), and the
// epoch of its last entry (0: none since start or reset).
uint64_t st_shards_durable_lsn(const st_shards *shards, uint32_t worker);
uint64_t st_shards_last_epoch(const st_shards *shards, uint32_t worker);

// st_shards_quorum_set tells worker `worker` that `lsn` is durable on
// enough followers (a leader with quorum > 0); replies up to it may go.
void st_shards_quorum_set(st_shards *shards, uint32_t worker, uint64_t lsn);
uint32_t st_shards_quorum(const st_shards *shards);
uint64_t st_shards_epoch(const st_shards *shards);
bool st_shards_follower(const st_shards *shards);

#endif
