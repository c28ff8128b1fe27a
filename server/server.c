// server.c - start and stop a whole stocktwind. See server.h.
//
// Order matters both ways. Start: the feed first (the workers publish into
// it from their first batch), then the shards, the demo model, and only then
// the RPC and ingest doors. Stop: the demo thread (it submits), the doors
// (their contexts come back from the shards), the shards (which finish what
// their rings hold), and the feed last (workers publish until they stop).
#include "server/server.h"

#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "replication/replication.h"
#include "server/demo.h"
#include "server/feed.h"
#include "server/ingest.h"
#include "server/request.h"
#include "server/rpc.h"

#ifndef ST_VERSION
#define ST_VERSION "0.0.0"
#endif

struct st_server {
    st_service svc;
    const char *data_dir;
    void (*on_promote)(void *arg);
    void *on_promote_arg;
    st_repl_leader *leader;
    st_repl_follower *follower;
    st_feed *feed;
    st_shards *shards;
    st_demo *demo;
    st_rpc *rpc;
    st_ingest *ingest;
};

static uint32_t
default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > (long)ST_SHARDS_WORKERS_MAX)
        n = ST_SHARDS_WORKERS_MAX;
    return (uint32_t)n;
}

static st_err
start_shards(st_server *s, const st_server_config *cfg, char *err, size_t err_len)
{
    st_shards_config sc = {0};
    sc.workers = s->svc.workers;
    sc.ring_capacity = cfg->ring;
    sc.feed_cb = st_feed_publish_cb;
    sc.feed_arg = s->feed;
    sc.data_dir = cfg->data_dir;
    sc.sync = cfg->sync;
    sc.sync_interval_ms = cfg->sync_interval_ms;
    sc.truncate_corrupt = cfg->truncate_corrupt;
    sc.snapshot_bytes = cfg->snapshot_bytes;
    sc.snapshot_interval_ms = cfg->snapshot_interval_ms;
    sc.retain_entries = cfg->retain_entries;
    sc.segment_bytes = cfg->segment_bytes;
    sc.fault_control = cfg->fault_control;
    sc.follower = cfg->follow_url != NULL;
    sc.quorum = cfg->follow_url != NULL ? 0 : cfg->ack_quorum;
    sc.tick_ms = cfg->tick_ms;
    sc.device_silent_ms = cfg->device_silent_ms;
    char why[1024] = "";
    if (cfg->data_dir != NULL) { // entries carry the epoch this node writes in
        st_repl_epochs epochs;
        (void)mkdir(cfg->data_dir, 0755);
        st_err erc = st_repl_epochs_load(cfg->data_dir, s->svc.workers, &epochs, why, sizeof why);
        if (erc != ST_OK) {
            snprintf(err, err_len, "%s", why);
            return erc;
        }
        sc.epoch = st_repl_epochs_current(&epochs);
    }
    sc.error = why;
    sc.error_len = sizeof why;
    st_err rc = st_shards_create(&sc, &s->shards);
    if (rc != ST_OK) {
        snprintf(err, err_len, "cannot start %u workers%s%s: %s%s%s%s", sc.workers,
                 cfg->data_dir ? " on " : "", cfg->data_dir ? cfg->data_dir : "", st_err_str(rc),
                 why[0] ? ": " : "", why,
                 rc == ST_MALFORMED && !cfg->truncate_corrupt
                     ? "\n(no replica to copy from? --truncate-corrupt starts anyway, cutting the "
                       "log at the damage: what follows it is lost)"
                     : "");
        return rc;
    }
    s->svc.shards = s->shards;
    return ST_OK;
}

// server_promote stops following, records the next epoch after each
// worker's durable LSN and asks the owner to restart this server as leader
// (see st_server_config.on_promote). Runs on an RPC thread.
static st_err
server_promote(st_service *svc, uint64_t *epoch, char *why, size_t why_len)
{
    st_server *s = svc->promote_arg;
    if (s->on_promote == NULL) {
        snprintf(why, why_len, "this server cannot restart itself");
        return ST_INVALID_ARGUMENT;
    }
    // A worker still applying the log up to the end of a snapshot it just
    // received holds entries its log does not have yet: it cannot lead.
    for (uint32_t w = 0; w < svc->workers; w++)
        if (st_shards_image_lsn(s->shards, w) > st_shards_durable_lsn(s->shards, w)) {
            snprintf(why, why_len,
                     "worker %u is still catching up to the end of the leader's snapshot (LSN "
                     "%" PRIu64 "); try again in a moment",
                     w, st_shards_image_lsn(s->shards, w));
            return ST_UNAVAILABLE;
        }
    st_repl_follower_halt(s->follower);
    uint64_t last[ST_SHARDS_WORKERS_MAX];
    for (uint32_t w = 0; w < svc->workers; w++) {
        last[w] = st_shards_durable_lsn(s->shards, w);
        if (st_shards_image_lsn(s->shards, w) > last[w]) { // a snapshot arrived meanwhile
            snprintf(why, why_len,
                     "worker %u received a snapshot while promotion began and holds entries up "
                     "to LSN %" PRIu64 " its log does not have; this node stopped following: "
                     "restart it as a follower",
                     w, st_shards_image_lsn(s->shards, w));
            return ST_UNAVAILABLE;
        }
    }
    st_err err = st_repl_promote(s->data_dir, svc->workers, st_repl_follower_epoch(s->follower),
                                 last, epoch, why, why_len);
    if (err != ST_OK)
        return err;
    fprintf(stderr, "stocktwind: promoted to leader of epoch %" PRIu64 "; restarting as leader\n",
            *epoch);
    s->on_promote(s->on_promote_arg);
    return ST_OK;
}

// start_replication opens the replication door (a leader) or starts the
// fetchers (a follower).
static st_err
start_replication(st_server *s, const st_server_config *cfg, const char *rpc_url, char *err,
                  size_t err_len)
{
    if (cfg->follow_url != NULL) {
        st_repl_follower_config fc = {
            .leader_url = cfg->follow_url,
            .name = rpc_url,
            .data_dir = cfg->data_dir,
            .shards = s->shards,
            .quiet = cfg->quiet,
        };
        st_err rc = st_repl_follower_start(&fc, &s->follower, err, err_len);
        s->svc.follower = s->follower;
        s->svc.promote = server_promote;
        s->svc.promote_arg = s;
        return rc;
    }
    if (cfg->replication_url != NULL) {
        st_repl_leader_config lc = {
            .url = cfg->replication_url,
            .rpc_url = rpc_url,
            .data_dir = cfg->data_dir,
            .shards = s->shards,
        };
        st_err rc = st_repl_leader_start(&lc, &s->leader, err, err_len);
        s->svc.leader = s->leader;
        return rc;
    }
    return ST_OK;
}

static const char *
sync_text(st_shards_sync sync)
{
    switch (sync) {
    case ST_SHARDS_SYNC_FSYNC: return "sync fsync (acknowledged after fdatasync), log in ";
    case ST_SHARDS_SYNC_BATCH: return "sync batch (acknowledged after write), log in ";
    default: return "sync none (state in memory only)";
    }
}

// print_startup names the doors, the workers, and how replies relate to the
// disk, plainly.
static void
print_startup(const st_server *s, const st_server_config *cfg, const char *rpc_url)
{
    FILE *out = cfg->out ? cfg->out : stdout;
    fprintf(out,
            "stocktwind %s: rpc %s, ingest %s, feed %s; %u worker%s, up to %u rpc contexts; %s%s\n",
            ST_VERSION, rpc_url, cfg->ingest_url ? cfg->ingest_url : ST_SERVER_INGEST_URL_DEFAULT,
            cfg->feed_url ? cfg->feed_url : ST_SERVER_FEED_URL_DEFAULT, s->svc.workers,
            s->svc.workers == 1 ? "" : "s", cfg->contexts ? cfg->contexts : ST_RPC_CONTEXTS_DEFAULT,
            sync_text(st_shards_sync_mode(s->shards)), cfg->data_dir ? cfg->data_dir : "");
    fflush(out);
}

st_err
st_server_start(const st_server_config *cfg, st_server **server_out, char *err, size_t err_len)
{
    ST_ASSERT(cfg != NULL && server_out != NULL && err != NULL);
    *server_out = NULL;
    err[0] = '\0';
    st_server *s = st_calloc(1, sizeof *s);
    s->svc.workers = cfg->workers ? cfg->workers : default_workers();
    s->svc.quiet = cfg->quiet;
    s->svc.start_ms = st_service_now_ms();
    s->data_dir = cfg->data_dir;
    s->on_promote = cfg->on_promote;
    s->on_promote_arg = cfg->on_promote_arg;
    st_err rc = ST_OK;
    if ((cfg->follow_url != NULL || cfg->replication_url != NULL || cfg->ack_quorum != 0) &&
        (cfg->data_dir == NULL || cfg->sync == ST_SHARDS_SYNC_NONE)) {
        snprintf(err, err_len, "replication (--follow, --replication, --ack) needs --data and a log");
        rc = ST_INVALID_ARGUMENT;
        goto fail;
    }
    if (cfg->follow_url != NULL && cfg->demo) {
        snprintf(err, err_len, "a follower takes no writes: --demo and --follow do not go together");
        rc = ST_INVALID_ARGUMENT;
        goto fail;
    }
    if (s->svc.workers > ST_SHARDS_WORKERS_MAX) {
        snprintf(err, err_len, "%u workers is more than the maximum of %u", s->svc.workers,
                 ST_SHARDS_WORKERS_MAX);
        rc = ST_INVALID_ARGUMENT;
        goto fail;
    }
    const char *rpc_url = cfg->rpc_url ? cfg->rpc_url : ST_SERVER_RPC_URL_DEFAULT;
    if (cfg->demo) {
        st_demo_config dc = {
            .rate = cfg->demo_rate ? cfg->demo_rate : ST_SERVER_DEMO_RATE_DEFAULT,
            .view_ms = cfg->demo_view_ms ? cfg->demo_view_ms : 5000,
            .quiet = cfg->quiet,
            .out = cfg->out ? cfg->out : stdout,
            .rpc_url = rpc_url,
        };
        s->demo = st_demo_create(&dc);
    }
    rc = st_feed_start(cfg->feed_url ? cfg->feed_url : ST_SERVER_FEED_URL_DEFAULT, s->svc.workers,
                       s->demo ? st_demo_note_alert : NULL, s->demo, &s->feed, err, err_len);
    if (rc != ST_OK || (rc = start_shards(s, cfg, err, err_len)) != ST_OK)
        goto fail;
    if ((rc = start_replication(s, cfg, rpc_url, err, err_len)) != ST_OK)
        goto fail;
    rc = st_rpc_start(&s->svc, rpc_url, cfg->contexts, cfg->arena_bytes, &s->rpc, err, err_len);
    if (rc != ST_OK)
        goto fail;
    rc = st_ingest_start(&s->svc, cfg->ingest_url ? cfg->ingest_url : ST_SERVER_INGEST_URL_DEFAULT,
                         cfg->ingest_loops, cfg->arena_bytes, &s->ingest, err, err_len);
    if (rc != ST_OK)
        goto fail;
    if (!cfg->quiet)
        print_startup(s, cfg, rpc_url);
    if (s->demo != NULL && (rc = st_demo_start(s->demo, s->shards, err, err_len)) != ST_OK)
        goto fail;
    *server_out = s;
    return ST_OK;
fail:
    ST_ASSERT(rc != ST_OK);
    st_server_stop(s);
    return rc;
}

void
st_server_stop(st_server *s)
{
    if (s == NULL)
        return;
    st_demo_stop(s->demo);
    if (s->follower != NULL)
        st_repl_follower_halt(s->follower); // it submits to the shards
    st_rpc_stop(s->rpc);
    st_ingest_stop(s->ingest);
    st_repl_leader_stop(s->leader);
    st_repl_follower_stop(s->follower);
    st_shards_destroy(s->shards);
    st_feed_stop(s->feed);
    st_demo_destroy(s->demo);
    st_free(s);
}

uint32_t
st_server_workers(const st_server *s)
{
    return s->svc.workers;
}

st_shards *
st_server_shards(st_server *s)
{
    return s->shards;
}
