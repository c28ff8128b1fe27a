// replication.h - leader log shipping, follower catch-up and apply, quorum
// acks, promotion and fencing (DESIGN.md section 8).
//
// A leader runs st_repl_leader: the replication door (nng REP), which
// serves each worker's log to followers from their own position (a
// long-poll fetch of the durable frames, byte for byte as in the segment
// files), the newest snapshot in chunks to a follower whose position the log
// no longer holds, and, with --ack quorum=K, tells the workers how far K
// followers have made their logs durable. A follower runs st_repl_follower:
// one fetcher thread per worker (REQ), which hands the frames to its
// worker (st_shards_replicate: checked, written to its own log, fsynced,
// applied with the same core) and fetches again from the next LSN.
//
// Epochs: <data>/epochs records, per leader epoch, the first LSN it wrote in
// each worker's log (one line "epoch E L0 L1 ... Ln-1"; the first line is
// epoch 1 starting at LSN 1). Every log entry and every reply carries the
// epoch. A promotion (st_repl_promote) appends a line with the next epoch.
// A fetch from a follower whose last entry is of an older epoch, at a
// position the newer epoch rewrote, is told to start over from a snapshot
// (it has entries that were never acknowledged: they are discarded). A
// leader that sees a fetch of a newer epoch is deposed: it refuses writes
// (FENCED) from then on; restart it with --follow to rejoin.
//
// The frame and message rules are at the top of leader.c (leader side) and
// follower.c (follower side); the messages are ReplRequest/ReplResponse in
// proto/stocktwin.proto.
//
// Ownership: the caller owns the shards and the config strings for the life
// of a leader or follower; start returns an object the caller stops (which
// frees it). Thread: start/stop from one thread; the query functions from
// any thread.
#ifndef ST_REPLICATION_REPLICATION_H
#define ST_REPLICATION_REPLICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "shards/shards.h"

#define ST_REPL_URL_DEFAULT "tcp://127.0.0.1:7403"
#define ST_REPL_FOLLOWERS_MAX 16u     // followers a leader keeps track of
#define ST_REPL_FRAMES_MAX (8u << 20) // bytes of frames or snapshot in one reply
#define ST_REPL_WAIT_MAX_MS 10000u    // the longest long-poll a leader grants

// ---------------------------------------------------------------------------
// Epochs (<data>/epochs)

typedef struct st_repl_epochs {
    uint32_t count;                           // epochs recorded, >= 1
    uint32_t workers;
    uint64_t epoch[64];                       // increasing
    uint64_t start[64][ST_SHARDS_WORKERS_MAX]; // first LSN of epoch i in each worker's log
} st_repl_epochs;

// st_repl_epochs_load reads <data>/epochs, or starts it (epoch 1 at LSN 1)
// when missing. ST_MALFORMED (why says) for a file that is not one.
st_err st_repl_epochs_load(const char *data_dir, uint32_t workers, st_repl_epochs *out, char *why,
                           size_t why_len);
// st_repl_epochs_append records `epoch` starting at start[w] (durably:
// written to a temporary file, synced, renamed).
st_err st_repl_epochs_append(const char *data_dir, st_repl_epochs *e, uint64_t epoch,
                             const uint64_t *start, char *why, size_t why_len);
static inline uint64_t
st_repl_epochs_current(const st_repl_epochs *e)
{
    return e->epoch[e->count - 1];
}

// ---------------------------------------------------------------------------
// Leader

typedef struct st_repl_leader st_repl_leader;

typedef struct st_repl_leader_config {
    const char *url;      // the replication door
    const char *rpc_url;  // this leader's RPC door, told to followers
    const char *data_dir; // the shards' data directory
    st_shards *shards;
    uint32_t threads;     // fetches served at once (long-polls hold one); 0: 4 + 4 per worker
} st_repl_leader_config;

st_err st_repl_leader_start(const st_repl_leader_config *cfg, st_repl_leader **out, char *err,
                            size_t err_len);
void st_repl_leader_stop(st_repl_leader *l);
uint64_t st_repl_leader_epoch(const st_repl_leader *l);
// st_repl_leader_fenced: a follower of a newer epoch was seen; this leader
// is deposed and must refuse writes. *epoch_out gets that epoch.
bool st_repl_leader_fenced(const st_repl_leader *l, uint64_t *epoch_out);

typedef struct st_repl_follower_info {
    char name[128];
    uint64_t lag_entries;
    uint64_t lag_ms;
    uint64_t last_seen_ms;
} st_repl_follower_info;

// Fills at most `max` entries; returns how many.
uint32_t st_repl_leader_followers(st_repl_leader *l, st_repl_follower_info *out, uint32_t max);

// ---------------------------------------------------------------------------
// Follower

typedef struct st_repl_follower st_repl_follower;

typedef struct st_repl_follower_config {
    const char *leader_url; // the leader's replication door
    const char *name;       // this follower's name for the leader (its RPC URL)
    const char *data_dir;
    st_shards *shards;      // created with follower = true
    bool quiet;             // no progress lines
} st_repl_follower_config;

st_err st_repl_follower_start(const st_repl_follower_config *cfg, st_repl_follower **out, char *err,
                              size_t err_len);
void st_repl_follower_stop(st_repl_follower *f);
// st_repl_follower_halt stops fetching (waits for the fetchers) but keeps
// the follower readable (lag, leader, epoch) until st_repl_follower_stop.
void st_repl_follower_halt(st_repl_follower *f);
// How far behind: entries the leader has made durable that this follower
// has not, over all workers, and for how long it has been behind.
void st_repl_follower_lag(const st_repl_follower *f, uint64_t *entries, uint64_t *ms);
// The leader's RPC URL once a reply told it (else the replication URL).
void st_repl_follower_leader(const st_repl_follower *f, char *buf, size_t len);
uint64_t st_repl_follower_epoch(const st_repl_follower *f);

// st_repl_promote makes a stopped follower's data directory a leader's: the
// next epoch (the highest seen + 1) starting after each worker's last LSN
// `last[w]`, recorded in <data>/epochs. *epoch_out gets it.
st_err st_repl_promote(const char *data_dir, uint32_t workers, uint64_t seen_epoch,
                       const uint64_t *last, uint64_t *epoch_out, char *why, size_t why_len);

#endif
