// request.c - decode, validate, translate and submit one request, then build
// its Response. See request.h.
#include "server/request.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "replication/replication.h"
#include "server/pages.h"
#include "server/wire.h"

#define ST_REQUEST_ARENA_DEFAULT (256u * 1024u)

int64_t
st_service_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

st_request *
st_request_create(st_service *svc, size_t arena_bytes, bool want_reply, st_request_done_cb done_cb,
                  void *done_arg)
{
    ST_ASSERT(svc != NULL && svc->workers >= 1 && svc->workers <= ST_SHARDS_WORKERS_MAX);
    ST_ASSERT(done_cb != NULL);
    st_request *r = st_calloc(1, sizeof *r);
    r->svc = svc;
    r->want_reply = want_reply;
    r->done_cb = done_cb;
    r->done_arg = done_arg;
    st_arena_init(&r->arena, arena_bytes ? arena_bytes : ST_REQUEST_ARENA_DEFAULT);
    // Mappings of their own (server/pages.h): pages of a big array stay
    // uncommitted until a big batch needs them.
    r->events = st_pages_alloc(ST_SHARDS_BATCH_MAX * sizeof *r->events);
    r->statuses = st_pages_alloc(ST_SHARDS_BATCH_MAX * sizeof *r->statuses);
    r->index = st_pages_alloc(ST_SHARDS_BATCH_MAX * sizeof *r->index);
    r->final = st_pages_alloc(ST_SHARDS_BATCH_MAX * sizeof *r->final);
    r->messages = st_pages_alloc(ST_SHARDS_BATCH_MAX * sizeof *r->messages);
    r->slots = st_calloc(svc->workers, sizeof *r->slots);
    for (uint32_t w = 0; w < svc->workers; w++)
        st_arena_init(&r->slots[w].arena, 0);
    stocktwin__response__init(&r->resp);
    return r;
}

void
st_request_destroy(st_request *r)
{
    if (r == NULL)
        return;
    for (uint32_t w = 0; w < r->svc->workers; w++) {
        st_arena_deinit(&r->slots[w].arena);
        st_free(r->slots[w].lines.bytes);
    }
    st_free(r->slots);
    st_pages_free(r->messages, ST_SHARDS_BATCH_MAX * sizeof *r->messages);
    st_pages_free(r->final, ST_SHARDS_BATCH_MAX * sizeof *r->final);
    st_pages_free(r->index, ST_SHARDS_BATCH_MAX * sizeof *r->index);
    st_pages_free(r->statuses, ST_SHARDS_BATCH_MAX * sizeof *r->statuses);
    st_pages_free(r->events, ST_SHARDS_BATCH_MAX * sizeof *r->events);
    st_arena_deinit(&r->arena);
    st_free(r);
}

void
st_request_reset(st_request *r)
{
    ST_ASSERT(r != NULL);
    for (uint32_t w = 0; w < r->svc->workers; w++) {
        st_query_slot *s = &r->slots[w];
        st_arena_reset(&s->arena);
        st_free(s->lines.bytes);
        st_arena arena = s->arena;
        memset(s, 0, sizeof *s);
        s->arena = arena;
    }
    st_arena_reset(&r->arena);
    r->pb = NULL;
    r->event_count = 0;
    r->submitted = 0;
    r->packed_size = 0;
    r->parts_n = 0;
    r->parts_bytes = 0;
    stocktwin__response__init(&r->resp);
}

void
st_request_fail(st_request *r, st_err status, const char *fmt, ...)
{
    ST_ASSERT(status != ST_OK);
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    atomic_fetch_add_explicit(&r->svc->rejected, 1, memory_order_relaxed);
    atomic_store_explicit(&r->req.lsn, 0, memory_order_relaxed); // nothing was submitted
    uint64_t request_id = r->resp.request_id;
    stocktwin__response__init(&r->resp);
    r->parts_n = 0;
    r->parts_bytes = 0;
    r->resp.request_id = request_id;
    r->resp.status = (Stocktwin__Status)status;
    r->resp.message = st_arena_strdup(&r->arena, text);
    st_request_finish(r);
}

// st_request_replication states where the reply stands among replicas: the
// epoch, the ack mode, and on a follower its leader and lag.
static void
st_request_replication(st_request *r)
{
    const st_service *svc = r->svc;
    if (svc->shards == NULL)
        return;
    r->resp.epoch = st_shards_epoch(svc->shards);
    uint32_t quorum = st_shards_quorum(svc->shards);
    r->resp.ack = quorum ? STOCKTWIN__ACK_MODE__ACK_QUORUM : STOCKTWIN__ACK_MODE__ACK_LOCAL;
    r->resp.ack_quorum = quorum;
    if (svc->follower != NULL) {
        st_repl_follower_lag(svc->follower, &r->resp.lag_entries, &r->resp.lag_ms);
        r->resp.epoch = st_repl_follower_epoch(svc->follower);
        char leader[256];
        st_repl_follower_leader(svc->follower, leader, sizeof leader);
        r->resp.leader = st_arena_strdup(&r->arena, leader);
    }
}

// st_request_finish bounds the reply: a Response over ST_SERVER_MSG_MAX is
// replaced by a TOO_LARGE answer telling the caller to page, so no client
// has to accept more than the protocol promises.
void
st_request_finish(st_request *r)
{
    // The shards number the modes as the log does (fsync 0, batch 1, none
    // 2); the wire as the proto does (none 0, batch 1, fsync 2).
    static const Stocktwin__SyncMode wire_sync[] = {
        [ST_SHARDS_SYNC_FSYNC] = STOCKTWIN__SYNC_MODE__SYNC_FSYNC,
        [ST_SHARDS_SYNC_BATCH] = STOCKTWIN__SYNC_MODE__SYNC_BATCH,
        [ST_SHARDS_SYNC_NONE] = STOCKTWIN__SYNC_MODE__SYNC_NONE,
    };
    r->resp.sync = r->svc->shards != NULL ? wire_sync[st_shards_sync_mode(r->svc->shards)]
                                          : STOCKTWIN__SYNC_MODE__SYNC_NONE;
    r->resp.lsn = atomic_load_explicit(&r->req.lsn, memory_order_relaxed);
    st_request_replication(r);
    if (r->want_reply) {
        r->packed_size = stocktwin__response__get_packed_size(&r->resp) + r->parts_bytes;
        if (r->packed_size > ST_SERVER_MSG_MAX) {
            char text[200];
            snprintf(text, sizeof text,
                     "the reply would be at least %zu bytes, over the %u-byte limit; ask for less "
                     "(inventory: a smaller limit and an offset)",
                     r->packed_size, ST_SERVER_MSG_MAX);
            uint64_t request_id = r->resp.request_id;
            stocktwin__response__init(&r->resp);
            r->parts_n = 0;
            r->parts_bytes = 0;
            r->resp.request_id = request_id;
            r->resp.status = STOCKTWIN__STATUS__STATUS_TOO_LARGE;
            r->resp.message = st_arena_strdup(&r->arena, text);
            r->packed_size = stocktwin__response__get_packed_size(&r->resp);
        }
    }
    r->done_cb(r->done_arg, r);
}

void
st_request_pack(const st_request *r, void *out)
{
    ST_ASSERT(r->want_reply);
    size_t n = stocktwin__response__pack(&r->resp, out);
    for (uint32_t i = 0; i < r->parts_n; i++) {
        memcpy((uint8_t *)out + n, r->parts[i].bytes, r->parts[i].len);
        n += r->parts[i].len;
    }
    ST_ASSERT(n == r->packed_size);
}

// batch_reply puts the statuses of every event, in batch order, into the
// Response. A sentence comes from the wire translation or from core; when
// core's were more than the request keeps, the status name stands in.
static void
batch_reply(st_request *r)
{
    uint32_t n = r->event_count;
    Stocktwin__EventStatus *es = st_arena_alloc(&r->arena, n * sizeof *es);
    r->resp.statuses = st_arena_alloc(&r->arena, n * sizeof *r->resp.statuses);
    for (uint32_t i = 0; i < n; i++) {
        stocktwin__event_status__init(&es[i]);
        es[i].status = (Stocktwin__Status)r->final[i];
        if (r->final[i] != ST_OK) {
            const char *m = r->messages[i];
            if (m == NULL || m[0] == '\0') {
                char text[96];
                snprintf(text, sizeof text, "%s", st_err_str(r->final[i]));
                m = st_arena_strdup(&r->arena, text);
            }
            es[i].message = (char *)m;
        }
        r->resp.statuses[i] = &es[i];
    }
    r->resp.n_statuses = n;
    r->resp.status = STOCKTWIN__STATUS__STATUS_OK;
}

// batch_done_cb runs once the workers gave every submitted event its status:
// statuses go back to batch positions, core's sentences with them.
static void
batch_done_cb(void *arg)
{
    st_request *r = arg;
    for (uint32_t j = 0; j < r->submitted; j++)
        r->final[r->index[j]] = r->statuses[j];
    uint32_t m = atomic_load_explicit(&r->req.message_count, memory_order_acquire);
    if (m > ST_SHARDS_MESSAGES_MAX)
        m = ST_SHARDS_MESSAGES_MAX;
    for (uint32_t k = 0; k < m; k++) {
        const st_shards_message *msg = &r->req.messages[k];
        if (msg->index < r->submitted)
            r->messages[r->index[msg->index]] = msg->text;
    }
    if (r->want_reply) {
        batch_reply(r);
    } else {
        uint64_t bad = 0;
        for (uint32_t i = 0; i < r->event_count; i++)
            bad += !st_err_accepted(r->final[i]);
        atomic_fetch_add_explicit(&r->svc->ingest_event_rejects, bad, memory_order_relaxed);
    }
    st_request_finish(r);
}

static void
batch_run(st_request *r, const Stocktwin__EventBatch *b)
{
    if (b->n_events == 0) {
        st_request_fail(r, ST_INVALID_ARGUMENT, "the batch has no events");
        return;
    }
    if (b->n_events > ST_SHARDS_BATCH_MAX) {
        st_request_fail(r, ST_TOO_LARGE, "the batch has %zu events, over the limit of %u", b->n_events,
                        ST_SHARDS_BATCH_MAX);
        return;
    }
    if (r->svc->follower != NULL) {
        char leader[256];
        st_repl_follower_leader(r->svc->follower, leader, sizeof leader);
        st_request_fail(r, ST_NOT_LEADER, "this node is a follower; send writes to the leader at %s",
                        leader);
        return;
    }
    uint64_t fenced = 0;
    if (r->svc->leader != NULL && st_repl_leader_fenced(r->svc->leader, &fenced)) {
        st_request_fail(r, ST_FENCED,
                        "this leader was deposed (a follower has seen epoch %" PRIu64
                        "); restart it with --follow to rejoin, and send writes to the new leader",
                        fenced);
        return;
    }
    uint32_t n = (uint32_t)b->n_events, k = 0;
    r->event_count = n;
    for (uint32_t i = 0; i < n; i++) {
        char msg[ST_WIRE_MESSAGE_MAX];
        st_err err = st_wire_event_from_pb(b->events[i], &r->arena, &r->events[k], msg, sizeof msg);
        r->final[i] = err;
        r->messages[i] = NULL;
        if (err == ST_OK) {
            r->index[k++] = (uint16_t)i;
        } else {
            r->messages[i] = st_arena_strdup(&r->arena, msg);
        }
    }
    r->submitted = k;
    if (k == 0) {
        batch_done_cb(r);
        return;
    }
    st_shards_submit(r->svc->shards, &r->req, r->events, r->statuses, k, batch_done_cb, r);
}

void
st_request_handle(st_request *r, const void *data, size_t len)
{
    ST_ASSERT(r != NULL && r->pb == NULL);
    atomic_fetch_add_explicit(&r->svc->requests, 1, memory_order_relaxed);
    if (len > ST_SERVER_MSG_MAX) {
        st_request_fail(r, ST_TOO_LARGE, "the request is %zu bytes, over the limit of %u", len,
                        ST_SERVER_MSG_MAX);
        return;
    }
    // A batch of movements (most requests) is read by hand, anything else by
    // protobuf-c (shards/codec.c).
    Stocktwin__Request *fast = NULL;
    r->pb = st_codec_request_read_movements(data, len, &r->arena.pb, &fast)
                ? fast
                : stocktwin__request__unpack(&r->arena.pb, len, data);
    if (r->pb == NULL) {
        st_request_fail(r, ST_MALFORMED, "the request is not a valid stocktwin.Request (%zu bytes)", len);
        return;
    }
    r->resp.request_id = r->pb->request_id;
    if (r->pb->version != ST_SERVER_VERSION) {
        st_request_fail(r, ST_BAD_VERSION, "protocol version %u is not spoken here; this server speaks %u",
                        r->pb->version, ST_SERVER_VERSION);
        return;
    }
    switch (r->pb->body_case) {
    case STOCKTWIN__REQUEST__BODY_BATCH:
        if (r->pb->batch == NULL) // cannot happen after unpack; cheap to keep honest
            st_request_fail(r, ST_MALFORMED, "the request's batch is missing");
        else
            batch_run(r, r->pb->batch);
        return;
    case STOCKTWIN__REQUEST__BODY_QUERY:
        if (!r->want_reply)
            st_request_fail(r, ST_INVALID_ARGUMENT, "the ingest door takes event batches only");
        else if (r->pb->query == NULL)
            st_request_fail(r, ST_MALFORMED, "the request's query is missing");
        else
            st_query_run(r, r->pb->query);
        return;
    default:
        st_request_fail(r, ST_MALFORMED, "the request has no body (a batch or a query)");
        return;
    }
}
