// peer_redis.c - the Redis model of the comparison, over hiredis.
//
// One hash per warehouse: key "wh-NN", field "SKU-NNNNNN", value the on
// hand. That is what a Redis user keeping stock records would pick: the
// record is addressed the way stocktwind's is (warehouse, then sku), a
// warehouse's whole inventory is one HGETALL/HSCAN, HINCRBY changes one
// record atomically, a cluster would shard by warehouse as stocktwind's
// workers do, and a field in a hash costs far less memory than a key of its
// own (no per-key object, expiry or keyspace entry). A key per record
// ("stock:wh-NN:SKU-NNNNNN" with INCRBY) would be the same command count and
// the same AOF traffic, with more memory.
//
// An update is HINCRBY wh-NN SKU-NNNNNN delta; a request of B updates is B
// commands written at once (pipelined) and completed when the B replies are
// in. A connection keeps --depth requests in flight: Redis answers a
// connection's commands in order, so the oldest request always completes
// first, and the driver is a single blocking thread per connection that
// reads the oldest request's replies and then sends a new request.
//
// Durability is the server's (run.sh starts it): with appendfsync always,
// Redis writes and fsyncs the AOF once per event-loop iteration before it
// sends that iteration's replies, so every reply read here is on disk.
//
// Thread: setup, fetch and describe on the main thread with a connection of
// their own; redis_run_conn on each connection's thread.
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <string.h>

#include "peer_load.h"

#define SETUP_FIELDS 1000u // fields of one HSET in the setup
#define SETUP_WINDOW 16u   // HSETs in flight in the setup
#define CMD_BYTES_MAX 96u  // one HINCRBY in RESP: *4 $7 HINCRBY $5 wh-NN $10 SKU-.. $n delta

static redisContext *
redis_connect(peer_run *r)
{
    redisContext *c = redisConnectWithTimeout(r->o.host, r->o.port, (struct timeval){5, 0});
    if (c == NULL || c->err) {
        fprintf(stderr, "stocktwin-peer-load: redis %s:%d: %s\n", r->o.host, r->o.port,
                c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    // A deep pipeline behind a slow fsync can take a while: generous, not
    // infinite.
    redisSetTimeout(c, (struct timeval){120, 0});
    return c;
}

// Writes everything appended so far. Returns 0 or 1 (connection error).
static int
redis_flush(redisContext *c)
{
    int done = 0;
    while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return 1;
    }
    return 0;
}

// Reads one reply; returns it (the caller frees it) or NULL on a connection
// error, said on stderr.
static redisReply *
redis_reply(peer_run *r, redisContext *c)
{
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
        peer_error(r, "redis: %s", c->errstr[0] ? c->errstr : "no reply");
        return NULL;
    }
    return reply;
}

// A command with arguments; NULL on a connection error.
static redisReply *
redis_cmd(peer_run *r, redisContext *c, int argc, const char **argv)
{
    redisReply *reply = redisCommandArgv(c, argc, argv, NULL);
    if (reply == NULL)
        peer_error(r, "redis: %s", c->errstr[0] ? c->errstr : "no reply");
    return reply;
}

// ---------------------------------------------------------------------------
// The run (connection threads)

// Appends HINCRBY in RESP to buf; returns its length.
static size_t
format_hincrby(char *buf, const char *wh, const char *sku, int32_t delta)
{
    char d[16];
    int dn = snprintf(d, sizeof d, "%" PRId32, delta);
    size_t whn = strlen(wh), skun = strlen(sku);
    int n = snprintf(buf, CMD_BYTES_MAX,
                     "*4\r\n$7\r\nHINCRBY\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n", whn, wh,
                     skun, sku, dn, d);
    PEER_ASSERT(n > 0 && (unsigned)n < CMD_BYTES_MAX);
    return (size_t)n;
}

typedef struct redis_req {
    int64_t sent_ns;
    peer_update *u; // [batch]
} redis_req;

// Builds one request of `batch` updates from the stream and appends it.
static int
send_request(peer_run *r, redisContext *c, redis_req *q, uint64_t *rng, char *buf)
{
    size_t len = 0;
    q->sent_ns = peer_now_ns();
    for (uint32_t i = 0; i < r->o.batch; i++) {
        q->u[i] = peer_next_update(r, rng);
        len += format_hincrby(buf + len, r->wh_ids[q->u[i].key / r->o.skus],
                              r->sku_ids[q->u[i].key % r->o.skus], q->u[i].delta);
    }
    atomic_fetch_add_explicit(&r->run.events_sent, r->o.batch, memory_order_relaxed);
    return redisAppendFormattedCommand(c, buf, len) == REDIS_OK ? 0 : 1;
}

// Reads the replies of the oldest request: every one must be an integer.
// Returns 0, or 1 when the connection failed.
static int
complete_request(peer_run *r, redisContext *c, redis_req *q)
{
    bool ok = true;
    for (uint32_t i = 0; i < r->o.batch; i++) {
        redisReply *reply = redis_reply(r, c);
        if (reply == NULL)
            return 1;
        if (reply->type != REDIS_REPLY_INTEGER) {
            if (ok)
                peer_error(r, "redis: HINCRBY: %s",
                           reply->type == REDIS_REPLY_ERROR ? reply->str : "not an integer");
            ok = false;
        }
        freeReplyObject(reply);
    }
    peer_request_done(r, q->u, r->o.batch, ok, q->sent_ns);
    return 0;
}

static int
redis_run_conn(peer_run *r, uint32_t index)
{
    uint32_t depth = r->o.depth, batch = r->o.batch;
    uint64_t rng = peer_stream_seed(r, index);
    redisContext *c = redis_connect(r);
    redis_req *q = calloc(depth, sizeof *q);
    peer_update *u = calloc((size_t)depth * batch, sizeof *u);
    char *buf = malloc((size_t)batch * CMD_BYTES_MAX);
    uint32_t head = 0, count = 0;
    int rc = 1;
    if (!c || !q || !u || !buf)
        goto done;
    for (uint32_t i = 0; i < depth; i++)
        q[i].u = &u[(size_t)i * batch];
    for (;;) {
        while (count < depth && !atomic_load(&r->stop)) {
            if (send_request(r, c, &q[(head + count) % depth], &rng, buf) != 0)
                goto done;
            count++;
        }
        if (count == 0)
            break;
        if (redis_flush(c) != 0 || complete_request(r, c, &q[head]) != 0)
            goto done;
        head = (head + 1) % depth, count--;
    }
    rc = 0;
done:
    if (rc != 0) {
        peer_error(r, "redis: connection %u failed%s%s", index, c ? ": " : "", c ? c->errstr : "");
        for (uint32_t i = 0; c && i < count; i++) // outcome unknown
            peer_request_done(r, q[(head + i) % depth].u, batch, false,
                              q[(head + i) % depth].sent_ns);
    }
    free(buf);
    free(u);
    free(q);
    redisFree(c);
    return rc;
}

// ---------------------------------------------------------------------------
// Setup, fetch, describe (main thread)

// Appends HSET wh f1 v1 .. fn vn for skus [from, from + n) of warehouse w.
static int
append_hset(peer_run *r, redisContext *c, uint32_t w, uint32_t from, uint32_t n)
{
    const char *argv[2 + 2 * SETUP_FIELDS];
    char qty[24];
    snprintf(qty, sizeof qty, "%" PRId64, r->o.initial_qty);
    argv[0] = "HSET", argv[1] = r->wh_ids[w];
    for (uint32_t i = 0; i < n; i++)
        argv[2 + 2 * i] = r->sku_ids[from + i], argv[3 + 2 * i] = qty;
    return redisAppendCommandArgv(c, (int)(2 + 2 * n), argv, NULL) == REDIS_OK ? 0 : 1;
}

// Reads one HSET's reply: an integer, or the setup failed.
static int
setup_reply(peer_run *r, redisContext *c)
{
    redisReply *reply = redis_reply(r, c);
    int bad = reply == NULL || reply->type != REDIS_REPLY_INTEGER;
    if (reply && bad)
        fprintf(stderr, "stocktwin-peer-load: redis setup: HSET: %s\n",
                reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    freeReplyObject(reply);
    return bad;
}

static int
redis_setup(peer_run *r)
{
    redisContext *c = redis_connect(r);
    if (!c)
        return 1;
    int bad = 0;
    for (uint32_t w = 0; !bad && w < r->o.warehouses; w++) {
        redisReply *reply = redis_cmd(r, c, 2, (const char *[]){"DEL", r->wh_ids[w]});
        bad = reply == NULL;
        freeReplyObject(reply);
    }
    // A window of HSETs in flight; sizes[] remembers how many fields each
    // holds (the last of a warehouse may be short), oldest at head.
    uint32_t sizes[SETUP_WINDOW], head = 0, n_in = 0;
    uint64_t done = 0;
    int64_t t0 = peer_now_ns(), last = t0;
    for (uint32_t w = 0; !bad && w < r->o.warehouses; w++) {
        for (uint32_t s = 0; !bad && s < r->o.skus; s += SETUP_FIELDS) {
            if (n_in == SETUP_WINDOW) { // one out, one in
                bad = redis_flush(c) || setup_reply(r, c);
                done += sizes[head], head = (head + 1) % SETUP_WINDOW, n_in--;
                peer_progress("records", done, r->keys, t0, &last);
            }
            uint32_t n = r->o.skus - s < SETUP_FIELDS ? r->o.skus - s : SETUP_FIELDS;
            bad = bad || append_hset(r, c, w, s, n);
            sizes[(head + n_in++) % SETUP_WINDOW] = n;
        }
    }
    for (; !bad && n_in > 0; n_in--) {
        bad = redis_flush(c) || setup_reply(r, c);
        done += sizes[head], head = (head + 1) % SETUP_WINDOW;
    }
    if (!bad) {
        PEER_ASSERT(done == r->keys);
        peer_progress("records", done, r->keys, t0, &last);
    }
    redisFree(c);
    return bad;
}

static int
redis_fetch(peer_run *r, int64_t *out)
{
    uint32_t W = r->o.warehouses;
    redisContext *c = redis_connect(r);
    const char **argv = calloc(2 + (size_t)r->verify_n, sizeof *argv);
    int bad = !c || !argv;
    for (size_t i = 0; i < (size_t)r->verify_n * W; i++)
        out[i] = -1;
    for (uint32_t w = 0; !bad && w < W; w++) {
        argv[0] = "HMGET", argv[1] = r->wh_ids[w];
        for (uint32_t i = 0; i < r->verify_n; i++)
            argv[2 + i] = r->sku_ids[r->verify_skus[i]];
        redisReply *reply = redis_cmd(r, c, (int)(2 + r->verify_n), argv);
        bad = reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != r->verify_n;
        for (uint32_t i = 0; !bad && i < r->verify_n; i++) {
            const redisReply *e = reply->element[i];
            if (e->type == REDIS_REPLY_STRING)
                out[(size_t)i * W + w] = strtoll(e->str, NULL, 10);
        }
        freeReplyObject(reply);
    }
    free(argv);
    redisFree(c);
    return bad;
}

// The value of `name` in INFO's text, or "?".
static void
info_field(const char *info, const char *name, char *out, size_t size)
{
    const char *p = strstr(info, name);
    snprintf(out, size, "?");
    if (p)
        snprintf(out, size, "%.*s", (int)strcspn(p + strlen(name), "\r\n"), p + strlen(name));
}

static int
redis_describe(peer_run *r)
{
    redisContext *c = redis_connect(r);
    if (!c)
        return 1;
    char version[32], aof[8], fsync[16], rewrites[16];
    redisReply *info = redis_cmd(r, c, 1, (const char *[]){"INFO"});
    int bad = info == NULL || info->type != REDIS_REPLY_STRING;
    if (!bad) {
        info_field(info->str, "redis_version:", version, sizeof version);
        info_field(info->str, "aof_enabled:", aof, sizeof aof);
        info_field(info->str, "aof_rewrites:", rewrites, sizeof rewrites);
    }
    freeReplyObject(info);
    redisReply *cfg =
        bad ? NULL : redis_cmd(r, c, 3, (const char *[]){"CONFIG", "GET", "appendfsync"});
    bad = bad || cfg == NULL || cfg->type != REDIS_REPLY_ARRAY || cfg->elements != 2;
    if (!bad)
        snprintf(fsync, sizeof fsync, "%s", cfg->element[1]->str);
    freeReplyObject(cfg);
    r->records = 0;
    for (uint32_t w = 0; !bad && w < r->o.warehouses; w++) {
        redisReply *n = redis_cmd(r, c, 2, (const char *[]){"HLEN", r->wh_ids[w]});
        bad = n == NULL || n->type != REDIS_REPLY_INTEGER;
        r->records += bad ? 0 : (uint64_t)n->integer;
        freeReplyObject(n);
    }
    if (!bad) {
        snprintf(r->server, sizeof r->server, "redis %s", version);
        snprintf(r->sync, sizeof r->sync, "appendonly %s, appendfsync %s, %s AOF rewrites",
                 strcmp(aof, "1") == 0 ? "yes" : "no", fsync, rewrites);
    }
    redisFree(c);
    return bad;
}

const peer_ops peer_redis_ops = {
    .name = "redis",
    .default_port = 6379,
    .setup = redis_setup,
    .run_conn = redis_run_conn,
    .fetch = redis_fetch,
    .describe = redis_describe,
};
