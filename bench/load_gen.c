// load_gen.c - the generator: connections, in-flight slots, the event mix,
// closed and open loop, and the accounting of every event's status.
//
// Each connection is one st_client (one nng REQ socket) and one generator
// thread. A connection has `depth` slots; a slot is one request in flight,
// so `depth` bounds what a connection has in flight. Each slot is its own
// event source (and owns its own RFID reader and shelf scale), so a source
// never has two requests in flight: the daemon keeps a window of 64 seqs per
// (warehouse, source), and two requests of one source that overtook each
// other on the way to a worker would turn the older one's events into false
// DUPLICATEs. With one request per source, seqs reach every warehouse in
// increasing order whatever the daemon's threads do.
//
// Threads: the generator thread of a connection owns its build area, its
// random state and its slots while they are free; a completion (on an nng
// thread) owns the slot it completes until it puts it back under conn->mu.
// The retry queue is shared under conn->mu. Counters, histograms and the
// net-change table are atomics.
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "load.h"

#define LOAD_ORDERS_PER_SLOT 16u // order ids a slot cycles through
#define SETUP_BATCH ST_CLIENT_BATCH_MAX

typedef struct load_slot {
    load_conn *conn;
    uint32_t index;
    char source[LOAD_ID_MAX + 1];
    char rfid[LOAD_ID_MAX + 1];
    char scale[LOAD_ID_MAX + 1];
    uint64_t seq; // shared by the slot's three sources: increasing for each
    int64_t sched_ns;
    bool is_query;
    int phase;
    uint32_t n_ops;
    load_op ops[SETUP_BATCH];
} load_slot;

// The protobuf structs of one batch, rebuilt for every request: submit
// encodes them before it returns, so one set per connection suffices.
typedef struct load_build {
    Stocktwin__Event ev[SETUP_BATCH];
    Stocktwin__Event *ptr[SETUP_BATCH];
    Stocktwin__StockMovement mv[SETUP_BATCH];
    Stocktwin__RfidScan rfid[SETUP_BATCH];
    Stocktwin__RfidTag tag[SETUP_BATCH];
    Stocktwin__RfidTag *tagp[SETUP_BATCH];
    Stocktwin__WeightReading weight[SETUP_BATCH];
    Stocktwin__Reserve reserve[SETUP_BATCH];
    Stocktwin__Release release[SETUP_BATCH];
    char order[SETUP_BATCH][LOAD_ID_MAX + 1];
} load_build;

struct load_conn {
    load_run *run;
    uint32_t index;
    st_client *client;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t *free_slots; // under mu
    uint32_t n_free;      // under mu
    load_slot *slots;     // [depth]
    load_op *retry;       // ring of BUSY events to send again, under mu
    uint32_t retry_head, retry_n, retry_cap;
    uint64_t rng;
    double query_credit;
    uint64_t queries_issued;
    load_build *b;
};

int64_t
load_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// ---------------------------------------------------------------------------
// Slots

static load_slot *
slot_get(load_conn *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->n_free == 0)
        pthread_cond_wait(&c->cv, &c->mu);
    load_slot *s = &c->slots[c->free_slots[--c->n_free]];
    pthread_mutex_unlock(&c->mu);
    return s;
}

static void
slot_put(load_conn *c, load_slot *s)
{
    pthread_mutex_lock(&c->mu);
    LOAD_ASSERT(c->n_free < c->run->o.depth);
    c->free_slots[c->n_free++] = s->index;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

// ---------------------------------------------------------------------------
// Accounting (nng threads)

static int64_t
op_delta(const load_op *op)
{
    switch ((load_op_kind)op->kind) {
    case OP_RECEIVE:
    case OP_RECEIVE_STOR:
    case OP_RFID_IN:
        return op->qty;
    case OP_PICK:
    case OP_PICK_RECV:
    case OP_RFID_OUT:
        return -(int64_t)op->qty;
    default:
        return 0;
    }
}

// A BUSY event was not applied: queue it to be sent again (with a new seq)
// by its connection, unless the run is over or the queue is full.
static void
retry_push(load_conn *c, const load_op *op, load_counts *k)
{
    bool queued = false;
    pthread_mutex_lock(&c->mu);
    if (!atomic_load(&c->run->stop) && c->retry_n < c->retry_cap) {
        c->retry[(c->retry_head + c->retry_n++) % c->retry_cap] = *op;
        queued = true;
    }
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_add(queued ? &k->busy_resent : &k->busy_dropped, 1);
}

static void
account_events(load_slot *s, const Stocktwin__Response *resp, load_counts *k)
{
    load_run *r = s->conn->run;
    // The net array is far larger than the caches and the keys random: ask
    // for every line first, so that the misses overlap. The status counters
    // are shared by every connection: counted here, added once a request.
    if (s->phase == LOAD_PHASE_RUN)
        for (uint32_t i = 0; i < s->n_ops; i++)
            __builtin_prefetch(&r->net[s->ops[i].key], 1);
    uint64_t counts[LOAD_STATUS_N + 1] = {0};
    for (uint32_t i = 0; i < s->n_ops; i++) {
        int st = resp->statuses[i]->status;
        counts[st >= 0 && st < LOAD_STATUS_N ? st : LOAD_STATUS_N]++;
        const load_op *op = &s->ops[i];
        if (st == STOCKTWIN__STATUS__STATUS_BUSY) {
            retry_push(s->conn, op, k);
        } else if (st == STOCKTWIN__STATUS__STATUS_OK && s->phase == LOAD_PHASE_RUN) {
            int64_t d = op_delta(op);
            if (d != 0)
                atomic_fetch_add_explicit(&r->net[op->key], d, memory_order_relaxed);
        }
    }
    for (uint32_t st = 0; st <= LOAD_STATUS_N; st++)
        if (counts[st] != 0)
            atomic_fetch_add_explicit(&k->status[st], counts[st], memory_order_relaxed);
    atomic_fetch_add_explicit(&k->events_done, s->n_ops, memory_order_relaxed);
}

// st_client_done_cb of every request: statuses into the counters, latency
// into the histogram (from the scheduled send time), the slot back.
static void
done_cb(void *arg, int status, const Stocktwin__Response *resp, const char *error)
{
    (void)error;
    load_slot *s = arg;
    load_conn *c = s->conn;
    load_run *r = c->run;
    int64_t lat_ns = load_now_ns() - s->sched_ns;
    uint64_t lat_us = lat_ns > 0 ? (uint64_t)(lat_ns / 1000) : 0;
    load_counts *k = s->phase == LOAD_PHASE_RUN ? &r->run : &r->setup;
    if (status != 0)
        atomic_store(&k->last_error_status, (uint64_t)status);
    if (s->is_query) {
        atomic_fetch_add(&k->queries_done, 1);
        if (status != 0)
            atomic_fetch_add(&k->queries_failed, 1);
        st_hist_record(&r->query_lat, lat_us);
    } else {
        atomic_fetch_add(&k->batches_done, 1);
        if (status == 0 && resp != NULL && resp->n_statuses == s->n_ops) {
            account_events(s, resp, k);
        } else {
            // No per-event answer: those events may or may not have been
            // applied, so verification skips their keys.
            atomic_fetch_add(&k->batches_failed, 1);
            atomic_fetch_add(&k->events_lost, s->n_ops);
            for (uint32_t i = 0; i < s->n_ops && s->phase == LOAD_PHASE_RUN; i++)
                atomic_store_explicit(&r->unsure[s->ops[i].key], 1, memory_order_relaxed);
        }
        if (s->phase == LOAD_PHASE_RUN)
            st_hist_record(&r->batch_lat, lat_us);
    }
    slot_put(c, s);
}

// ---------------------------------------------------------------------------
// Building requests (generator thread)

static void
build_movement(load_conn *c, uint32_t i, const load_op *op, const char *sku)
{
    Stocktwin__StockMovement *mv = &c->b->mv[i];
    stocktwin__stock_movement__init(mv);
    mv->sku = (char *)sku;
    mv->qty = op->qty;
    switch ((load_op_kind)op->kind) {
    case OP_RECEIVE:
    case OP_SETUP_RECV:
        mv->kind = STOCKTWIN__MOVEMENT_KIND__RECEIVE, mv->to_location = "recv";
        break;
    case OP_RECEIVE_STOR:
    case OP_SETUP_STOCK:
        mv->kind = STOCKTWIN__MOVEMENT_KIND__RECEIVE, mv->to_location = "stor";
        break;
    case OP_PICK:
        mv->kind = STOCKTWIN__MOVEMENT_KIND__PICK, mv->from_location = "stor";
        break;
    case OP_PICK_RECV:
        mv->kind = STOCKTWIN__MOVEMENT_KIND__PICK, mv->from_location = "recv";
        break;
    case OP_RELOC_IN:
        mv->kind = STOCKTWIN__MOVEMENT_KIND__RELOCATE;
        mv->from_location = "stor", mv->to_location = "recv";
        break;
    case OP_RELOC_OUT:
        mv->kind = STOCKTWIN__MOVEMENT_KIND__RELOCATE;
        mv->from_location = "recv", mv->to_location = "stor";
        break;
    default:
        LOAD_ASSERT(!"not a movement");
    }
    c->b->ev[i].kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
    c->b->ev[i].movement = mv;
}

static void
build_other(load_conn *c, load_slot *s, uint32_t i, const load_op *op, const char *sku)
{
    load_build *b = c->b;
    Stocktwin__Event *e = &b->ev[i];
    if (op->kind == OP_RFID_IN || op->kind == OP_RFID_OUT) {
        stocktwin__rfid_scan__init(&b->rfid[i]);
        stocktwin__rfid_tag__init(&b->tag[i]);
        b->tag[i].sku = (char *)sku, b->tag[i].qty = op->qty;
        b->tagp[i] = &b->tag[i];
        b->rfid[i].direction =
            op->kind == OP_RFID_IN ? STOCKTWIN__DIRECTION__INBOUND : STOCKTWIN__DIRECTION__OUTBOUND;
        b->rfid[i].n_tags = 1, b->rfid[i].tags = &b->tagp[i];
        e->source = s->rfid, e->kind_case = STOCKTWIN__EVENT__KIND_RFID, e->rfid = &b->rfid[i];
    } else if (op->kind == OP_WEIGHT) {
        stocktwin__weight_reading__init(&b->weight[i]);
        b->weight[i].shelf = "shelf-1", b->weight[i].weight_mg = 1000000;
        e->source = s->scale, e->kind_case = STOCKTWIN__EVENT__KIND_WEIGHT;
        e->weight = &b->weight[i];
    } else {
        LOAD_FMT(b->order[i], "%s-o%u", s->source, (unsigned)op->order);
        if (op->kind == OP_RESERVE) {
            stocktwin__reserve__init(&b->reserve[i]);
            b->reserve[i].order_id = b->order[i], b->reserve[i].sku = (char *)sku;
            b->reserve[i].qty = op->qty;
            e->kind_case = STOCKTWIN__EVENT__KIND_RESERVE, e->reserve = &b->reserve[i];
        } else {
            LOAD_ASSERT(op->kind == OP_RELEASE);
            stocktwin__release__init(&b->release[i]);
            b->release[i].order_id = b->order[i], b->release[i].sku = (char *)sku;
            e->kind_case = STOCKTWIN__EVENT__KIND_RELEASE, e->release = &b->release[i];
        }
    }
}

static void
build_event(load_conn *c, load_slot *s, uint32_t i, int64_t time_ms)
{
    load_run *r = c->run;
    const load_op *op = &s->ops[i];
    LOAD_ASSERT(op->key < r->keys);
    Stocktwin__Event *e = &c->b->ev[i];
    stocktwin__event__init(e);
    e->source = s->source;
    e->seq = ++s->seq;
    e->event_time_ms = time_ms;
    e->warehouse = r->wh_ids[op->key / r->o.skus];
    const char *sku = r->sku_ids[op->key % r->o.skus];
    // The encoder reads it after the whole batch is built: fetched now, the
    // batch's misses on the sku table overlap instead of each stalling it.
    __builtin_prefetch(sku);
    if (op->kind <= OP_SETUP_RECV)
        build_movement(c, i, op, sku);
    else
        build_other(c, s, i, op, sku);
    c->b->ptr[i] = e;
}

// Draws one operation of the mix (two for a reserve/release pair) into
// ops[0..room); returns how many.
static uint32_t
draw_ops(load_conn *c, load_op *ops, uint32_t room)
{
    const load_opts *o = &c->run->o;
    unsigned events_pct = 100 - o->mix[MIX_QUERY];
    LOAD_ASSERT(room >= 1 && events_pct > 0);
    unsigned x = (unsigned)(load_rand(&c->rng) % events_pct);
    uint32_t wh = (uint32_t)(load_rand(&c->rng) % o->warehouses);
    uint32_t sku = (uint32_t)(load_rand(&c->rng) % o->skus);
    load_op op = {.key = wh * o->skus + sku, .qty = (int32_t)(1 + load_rand(&c->rng) % 5)};
    unsigned y = (unsigned)(load_rand(&c->rng) % 10);
    if (x < o->mix[MIX_MOVES] ||
        (x >= o->mix[MIX_MOVES] + o->mix[MIX_RFID] + o->mix[MIX_WEIGHT] && room < 2)) {
        static const load_op_kind moves[10] = {
            OP_RECEIVE, OP_RECEIVE,   OP_RECEIVE_STOR, OP_RECEIVE_STOR, OP_PICK,
            OP_PICK,    OP_PICK_RECV, OP_PICK_RECV,    OP_RELOC_IN,     OP_RELOC_OUT};
        op.kind = moves[y];
    } else if (x < o->mix[MIX_MOVES] + o->mix[MIX_RFID]) {
        op.kind = y < 5 ? OP_RFID_IN : OP_RFID_OUT;
    } else if (x < o->mix[MIX_MOVES] + o->mix[MIX_RFID] + o->mix[MIX_WEIGHT]) {
        op.kind = OP_WEIGHT, op.key = wh * o->skus; // the shelf holds sku 0
    } else {
        op.kind = OP_RESERVE;
        op.order = (uint16_t)(load_rand(&c->rng) % LOAD_ORDERS_PER_SLOT);
        ops[0] = op;
        op.kind = OP_RELEASE;
        ops[1] = op;
        return 2;
    }
    ops[0] = op;
    return 1;
}

// Moves up to `max` BUSY events waiting to be resent into ops; returns how many.
static uint32_t
take_retries(load_conn *c, load_op *ops, uint32_t max)
{
    uint32_t n = 0;
    pthread_mutex_lock(&c->mu);
    while (c->retry_n > 0 && n < max) {
        ops[n++] = c->retry[c->retry_head];
        c->retry_head = (c->retry_head + 1) % c->retry_cap;
        c->retry_n--;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

// Fills s->ops: BUSY events waiting to be resent first, then fresh draws.
static void
fill_ops(load_conn *c, load_slot *s)
{
    uint32_t batch = c->run->o.batch;
    uint32_t n = take_retries(c, s->ops, batch);
    while (n < batch)
        n += draw_ops(c, &s->ops[n], batch - n);
    s->n_ops = n;
}

static void
submit_batch(load_conn *c, load_slot *s, load_counts *k)
{
    int64_t t = wall_ms();
    for (uint32_t i = 0; i < s->n_ops; i++)
        build_event(c, s, i, t);
    s->is_query = false;
    atomic_fetch_add(&k->events_sent, s->n_ops);
    int rc = st_client_submit_async(c->client, c->b->ptr, s->n_ops, done_cb, s);
    if (rc != 0) {
        // Not sent: counted as a failed batch; nothing was applied.
        atomic_fetch_add(&k->batches_done, 1);
        atomic_fetch_add(&k->batches_failed, 1);
        atomic_fetch_add(&k->events_lost, s->n_ops);
        atomic_store(&k->last_error_status, (uint64_t)rc);
        slot_put(c, s);
    }
}

// A query of the mix: alternately one sku across the network (gathered from
// every worker) and a page of 100 lines of one warehouse's inventory.
static void
submit_query(load_conn *c, load_slot *s, load_counts *k)
{
    const load_opts *o = &c->run->o;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    Stocktwin__SkuQuery sq = STOCKTWIN__SKU_QUERY__INIT;
    Stocktwin__InventoryQuery iq = STOCKTWIN__INVENTORY_QUERY__INIT;
    if (c->queries_issued++ % 2 == 0) {
        sq.sku = c->run->sku_ids[load_rand(&c->rng) % o->skus];
        q.kind_case = STOCKTWIN__QUERY__KIND_SKU, q.sku = &sq;
    } else {
        iq.warehouse = c->run->wh_ids[load_rand(&c->rng) % o->warehouses];
        iq.offset = (uint32_t)(load_rand(&c->rng) % o->skus), iq.limit = 100;
        q.kind_case = STOCKTWIN__QUERY__KIND_INVENTORY, q.inventory = &iq;
    }
    s->is_query = true;
    s->n_ops = 0;
    int rc = st_client_query_async(c->client, &q, done_cb, s);
    if (rc != 0) {
        atomic_fetch_add(&k->queries_done, 1);
        atomic_fetch_add(&k->queries_failed, 1);
        atomic_store(&k->last_error_status, (uint64_t)rc);
        slot_put(c, s);
    }
}

// ---------------------------------------------------------------------------
// The loops (generator threads)

// Sleeps until `when` (CLOCK_MONOTONIC ns), in steps short enough to see stop.
static void
sleep_until(load_run *r, int64_t when)
{
    for (;;) {
        int64_t now = load_now_ns();
        if (now >= when || atomic_load(&r->stop))
            return;
        int64_t step = when - now < 50000000 ? when - now : 50000000;
        struct timespec ts = {.tv_sec = step / 1000000000, .tv_nsec = step % 1000000000};
        nanosleep(&ts, NULL);
    }
}

// Once the keys are all sent: waits until the connection is idle (then
// returns false: done) or a completion queued BUSY events (true: resend).
static bool
setup_wait_retries(load_conn *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->n_free < c->run->o.depth && c->retry_n == 0)
        pthread_cond_wait(&c->cv, &c->mu);
    bool more = c->retry_n > 0;
    pthread_mutex_unlock(&c->mu);
    return more;
}

// The initial stock: the connections share a cursor over the keys and send
// SETUP_BATCH / 2 keys a request (a RECEIVE into stor and one into recv for
// each); BUSY events go again until all are answered.
static void
setup_loop(load_conn *c)
{
    load_run *r = c->run;
    while (!atomic_load(&r->stop)) {
        load_slot *s = slot_get(c);
        uint32_t n = take_retries(c, s->ops, SETUP_BATCH);
        if (n == 0) {
            // Two events a key: Q units into stor, Q into recv.
            uint64_t start = atomic_fetch_add(&r->setup_cursor, SETUP_BATCH / 2);
            if (start >= r->keys) {
                slot_put(c, s);
                if (setup_wait_retries(c))
                    continue;
                return;
            }
            uint32_t keys =
                (uint32_t)(r->keys - start < SETUP_BATCH / 2 ? r->keys - start : SETUP_BATCH / 2);
            for (uint32_t i = 0; i < keys; i++) {
                load_op op = {.key = (uint32_t)(start + i),
                              .kind = OP_SETUP_STOCK,
                              .qty = (int32_t)r->o.initial_qty};
                s->ops[n++] = op;
                op.kind = OP_SETUP_RECV;
                s->ops[n++] = op;
            }
        }
        s->n_ops = n;
        s->phase = LOAD_PHASE_SETUP_STOCK;
        s->sched_ns = load_now_ns();
        submit_batch(c, s, &r->setup);
    }
}

// Closed loop: a request goes out as soon as a slot is free, and its latency
// runs from then. Open loop (--rate): request i of connection c is due at
// t0 + (i * connections + c) * batch / rate; its latency runs from that due
// time, however late it actually left (coordinated omission).
static void
run_loop(load_conn *c)
{
    load_run *r = c->run;
    const load_opts *o = &r->o;
    double period_ns = o->rate > 0 ? 1e9 * o->batch / o->rate : 0;
    int64_t end_ns = r->t0_ns + (int64_t)(o->duration_s * 1e9);
    double query_share = (double)o->mix[MIX_QUERY] / (double)(100 - o->mix[MIX_QUERY]);
    for (uint64_t i = 0; !atomic_load(&r->stop); i++) {
        int64_t due = 0;
        if (period_ns > 0) {
            due = r->t0_ns + (int64_t)(((double)i * o->connections + c->index) * period_ns);
            if (due >= end_ns)
                break;
        }
        load_slot *s = slot_get(c);
        sleep_until(r, due);
        if (atomic_load(&r->stop)) {
            slot_put(c, s);
            if (period_ns > 0) { // due before the end, never sent: the daemon fell behind
                double per_conn = (double)(end_ns - r->t0_ns) / period_ns / o->connections;
                if (per_conn > (double)i)
                    atomic_fetch_add(&r->run.requests_unsent, (uint64_t)ceil(per_conn - i));
            }
            break;
        }
        fill_ops(c, s);
        s->phase = LOAD_PHASE_RUN;
        s->sched_ns = due ? due : load_now_ns();
        submit_batch(c, s, &r->run);
        c->query_credit += query_share * s->n_ops;
        while (c->query_credit >= 1.0 && !atomic_load(&r->stop)) {
            c->query_credit -= 1.0;
            s = slot_get(c);
            s->phase = LOAD_PHASE_RUN;
            s->sched_ns = due ? due : load_now_ns();
            submit_query(c, s, &r->run);
        }
    }
}

static void *
conn_main(void *arg)
{
    load_conn *c = arg;
    if (c->run->phase == LOAD_PHASE_SETUP_STOCK)
        setup_loop(c);
    else
        run_loop(c);
    atomic_fetch_sub(&c->run->threads_running, 1);
    return NULL;
}

// ---------------------------------------------------------------------------
// Life cycle (main thread)

static int
conn_init(load_run *r, load_conn *c, uint32_t index)
{
    const load_opts *o = &r->o;
    c->run = r;
    c->index = index;
    c->rng = o->seed * 0x9E3779B97F4A7C15ull + index + 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->slots = calloc(o->depth, sizeof *c->slots);
    c->free_slots = calloc(o->depth, sizeof *c->free_slots);
    c->retry_cap = 2 * o->depth * SETUP_BATCH;
    c->retry = calloc(c->retry_cap, sizeof *c->retry);
    c->b = calloc(1, sizeof *c->b);
    if (!c->slots || !c->free_slots || !c->retry || !c->b) {
        fprintf(stderr, "stocktwin-load: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < o->depth; i++) {
        load_slot *s = &c->slots[i];
        s->conn = c;
        s->index = i;
        LOAD_FMT(s->source, "%s-c%us%u", r->run_id, index, i);
        LOAD_FMT(s->rfid, "%s-c%us%u-rfid", r->run_id, index, i);
        LOAD_FMT(s->scale, "%s-c%us%u-scale", r->run_id, index, i);
        c->free_slots[c->n_free++] = o->depth - 1 - i;
    }
    st_client_opts co = {.max_in_flight = o->depth, .timeout_ms = o->timeout_ms};
    if (st_client_open(o->url, &co, &c->client) != 0) {
        fprintf(stderr, "stocktwin-load: %s\n", st_client_last_error(NULL));
        return 1;
    }
    return 0;
}

int
load_conns_open(load_run *r)
{
    r->conns = calloc(r->o.connections, sizeof *r->conns);
    if (!r->conns)
        return 1;
    for (uint32_t i = 0; i < r->o.connections; i++) {
        if (conn_init(r, &r->conns[i], i) != 0)
            return 1;
    }
    return 0;
}

void
load_conns_close(load_run *r)
{
    if (!r->conns)
        return;
    for (uint32_t i = 0; i < r->o.connections; i++) {
        load_conn *c = &r->conns[i];
        st_client_close(c->client);
        if (c->slots) {
            pthread_mutex_destroy(&c->mu);
            pthread_cond_destroy(&c->cv);
        }
        free(c->slots);
        free(c->free_slots);
        free(c->retry);
        free(c->b);
    }
    free(r->conns);
    r->conns = NULL;
}

int
load_phase_start(load_run *r)
{
    atomic_store(&r->stop, false);
    atomic_store(&r->threads_running, r->o.connections);
    for (uint32_t i = 0; i < r->o.connections; i++) {
        load_conn *c = &r->conns[i];
        int err = pthread_create(&c->thread, NULL, conn_main, c);
        if (err != 0) {
            fprintf(stderr, "stocktwin-load: pthread_create: %s\n", strerror(err));
            atomic_fetch_sub(&r->threads_running, r->o.connections - i);
            atomic_store(&r->stop, true);
            return 1;
        }
        c->started = true;
    }
    return 0;
}

// Joins the generator threads, then waits for every request in flight:
// after this no completion runs until the next phase starts.
void
load_phase_join(load_run *r)
{
    for (uint32_t i = 0; i < r->o.connections; i++) {
        load_conn *c = &r->conns[i];
        if (c->started)
            pthread_join(c->thread, NULL);
        c->started = false;
    }
    for (uint32_t i = 0; i < r->o.connections; i++)
        st_client_drain(r->conns[i].client);
    // BUSY events still waiting for a next request of their connection.
    load_counts *k = r->phase == LOAD_PHASE_RUN ? &r->run : &r->setup;
    for (uint32_t i = 0; i < r->o.connections; i++) {
        load_conn *c = &r->conns[i];
        atomic_fetch_add(&k->busy_dropped, c->retry_n);
        atomic_fetch_sub(&k->busy_resent, c->retry_n);
        c->retry_n = 0;
    }
}
