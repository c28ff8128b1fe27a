// durable_test.c - the runtime with a write-ahead log: what was acknowledged
// is there after a restart (same digest), replies carry their LSN, and a
// transfer half that was in the outbox when the runtime stopped still
// arrives after the restart (re-staged from the log, deduplicated by its
// (source, seq)).
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shards/shards.h"
#include "shards/wal_reader.h"

typedef struct done {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int count;
} done;

static void
done_cb(void *arg)
{
    done *d = arg;
    pthread_mutex_lock(&d->lock);
    d->count++;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static int
done_count(done *d)
{
    pthread_mutex_lock(&d->lock);
    int n = d->count;
    pthread_mutex_unlock(&d->lock);
    return n;
}

static void
done_wait(done *d)
{
    pthread_mutex_lock(&d->lock);
    while (d->count == 0)
        pthread_cond_wait(&d->cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
}

// submit applies events and returns the request's LSN; statuses must be OK.
static uint64_t
submit(st_shards *s, const st_event *ev, uint32_t n)
{
    done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    st_shards_req *req = calloc(1, sizeof *req);
    st_err st[8];
    cr_assert(n <= 8);
    st_shards_submit(s, req, ev, st, n, done_cb, &d);
    done_wait(&d);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(st[i], ST_OK, "event %u: %s", i, st_err_str(st[i]));
    uint64_t lsn = atomic_load(&req->lsn);
    free(req);
    return lsn;
}

typedef struct probe {
    const char *wh, *sku;
    st_stock_view v;
    bool found;
    uint64_t digest[64];
} probe;

static bool
stock_cb(void *arg, const st_stock_view *v)
{
    probe *p = arg;
    if (strcmp(v->warehouse, p->wh) == 0) {
        p->v = *v;
        p->found = true;
    }
    return true;
}

static void
query_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    probe *p = arg;
    if (p->sku != NULL)
        st_state_sku(state, p->sku, stock_cb, p);
    p->digest[info->worker] = st_state_digest(state);
}

static probe
look(st_shards *s, const char *wh, const char *sku)
{
    probe p = {.wh = wh, .sku = sku};
    done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    st_shards_req *req = calloc(1, sizeof *req);
    st_shards_query(s, req, NULL, query_cb, &p, done_cb, &d);
    done_wait(&d);
    cr_assert_eq(req->status, ST_OK);
    free(req);
    return p;
}

static uint64_t
digest(st_shards *s)
{
    probe p = look(s, "", NULL);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < st_shards_workers(s); i++)
        sum += p.digest[i];
    return sum;
}

static st_shards *
open_at(const char *dir)
{
    char why[1024] = "";
    st_shards_config c = {.workers = 2, .data_dir = dir, .error = why, .error_len = sizeof why};
    st_shards *s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    cr_assert_eq(st_shards_sync_mode(s), ST_SHARDS_SYNC_FSYNC);
    return s;
}

static st_shards *
open_workers(const char *dir, uint32_t workers, bool follower)
{
    char why[1024] = "";
    st_shards_config c = {.workers = workers,
                          .data_dir = dir,
                          .follower = follower,
                          .error = why,
                          .error_len = sizeof why};
    st_shards *s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    return s;
}

// whole_digest: the catalog once plus every worker's warehouses, which is
// the same whatever the worker count.
static void
whole_cb(void *arg, const st_shards_worker_info *info, const st_state *state)
{
    uint64_t *parts = arg;
    parts[info->worker] = st_state_warehouses_digest(state);
    if (info->worker == 0)
        parts[64] = st_state_catalog_digest(state);
}

static uint64_t
whole_digest(st_shards *s)
{
    uint64_t parts[65] = {0};
    done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    st_shards_req *req = calloc(1, sizeof *req);
    st_shards_query(s, req, NULL, whole_cb, parts, done_cb, &d);
    done_wait(&d);
    cr_assert_eq(req->status, ST_OK);
    free(req);
    uint64_t sum = parts[64];
    for (uint32_t i = 0; i < st_shards_workers(s); i++)
        sum += parts[i];
    return sum;
}

// remove_dir deletes a test's data directory and all it holds.
static void
remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static uint64_t seq = 1;
#define EV(k, w)                                                                                   \
    ((st_event){.kind = (k), .source = "t", .seq = seq++, .event_time_ms = 1, .warehouse = (w)})

static void
poll_until(st_shards *s, const char *wh, int64_t inbound, int64_t in_transit)
{
    for (int i = 0; i < 5000; i++) {
        probe p = look(s, wh, "SKU-D");
        if (p.found && p.v.inbound == inbound && p.v.in_transit_out == in_transit)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    cr_assert_fail("%s never showed inbound %lld, in transit %lld", wh, (long long)inbound,
                   (long long)in_transit);
}

// setup_pair names two warehouses <prefix>0 and <prefix>N on different
// workers into a and b (16 bytes each), creates SKU-D, both warehouses with
// a zone z, and receives qty units into a's z; the setup's LSN.
static uint64_t
setup_pair(st_shards *s, const char *prefix, char *a, char *b, int64_t qty)
{
    snprintf(a, 16, "%s0", prefix);
    for (int i = 1; i == 1 || st_shards_route(s, a) == st_shards_route(s, b); i++)
        snprintf(b, 16, "%s%d", prefix, i);
    st_event setup[6] = {EV(ST_EV_PRODUCT_UPSERT, NULL), EV(ST_EV_WAREHOUSE_UPSERT, a),
                         EV(ST_EV_WAREHOUSE_UPSERT, b),  EV(ST_EV_ZONE_UPSERT, a),
                         EV(ST_EV_ZONE_UPSERT, b),       EV(ST_EV_MOVEMENT, a)};
    setup[0].u.product_upsert.sku = "SKU-D";
    setup[3].u.zone_upsert.zone_id = setup[4].u.zone_upsert.zone_id = "z";
    setup[5].u.movement = (__typeof__(setup[5].u.movement)){
        .kind = ST_MOVE_RECEIVE, .sku = "SKU-D", .qty = qty, .to_location = "z"};
    return submit(s, setup, 6);
}

Test(durable, restart_keeps_state_and_delivers_the_outbox)
{
    char dir[] = "/tmp/stocktwin-durable-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    st_shards *s = open_at(dir);
    char a[16], b[16];
    uint64_t lsn = setup_pair(s, "wh-d", a, b, 50);
    cr_assert_gt(lsn, 0, "replies carry the LSN they cover");
    st_event dispatch = EV(ST_EV_TRANSFER_DISPATCH, a);
    dispatch.u.transfer_dispatch = (__typeof__(dispatch.u.transfer_dispatch)){
        .transfer_id = "t-d", .to_warehouse = b, .sku = "SKU-D", .qty = 20};
    cr_assert_gt(submit(s, &dispatch, 1), 0);
    // Stop at once: the inbound half may still sit in an outbox or an inbox.
    st_shards_destroy(s);

    s = open_at(dir);
    poll_until(s, a, 0, 20);
    poll_until(s, b, 20, 0); // delivered before the stop, or re-staged from the log now
    st_event receive = EV(ST_EV_TRANSFER_RECEIVE, b);
    receive.u.transfer_receive.transfer_id = "t-d";
    receive.u.transfer_receive.location = "z";
    submit(s, &receive, 1);
    poll_until(s, a, 0, 0);
    probe pa = look(s, a, "SKU-D"), pb = look(s, b, "SKU-D");
    cr_assert_eq(pa.v.on_hand + pb.v.on_hand, 50, "a transfer creates and destroys nothing");
    uint64_t before = digest(s);
    st_shards_destroy(s);

    s = open_at(dir);
    cr_assert_eq(digest(s), before, "the restarted state is the acknowledged one");
    poll_until(s, a, 0, 0); // re-staged halves are answered DUPLICATE: nothing moves
    poll_until(s, b, 0, 0);
    cr_assert_eq(digest(s), before);
    st_shards_destroy(s);

    // Another worker count reshards the directory: the same state, and a
    // transfer half still in flight arrives afterwards.
    s = open_at(dir);
    st_event dispatch2 = EV(ST_EV_TRANSFER_DISPATCH, a);
    dispatch2.u.transfer_dispatch = (__typeof__(dispatch2.u.transfer_dispatch)){
        .transfer_id = "t-e", .to_warehouse = b, .sku = "SKU-D", .qty = 5};
    submit(s, &dispatch2, 1);
    st_shards_destroy(s); // at once: the inbound half may not have arrived
    for (uint32_t workers = 3; workers >= 1 && workers <= 3; workers -= 2) {
        s = open_workers(dir, workers, false);
        cr_assert_eq(st_shards_workers(s), workers);
        poll_until(s, a, 0, 5);
        poll_until(s, b, 5, 0);
        probe p = look(s, a, "SKU-D");
        cr_assert(p.found);
        st_shards_destroy(s);
    }
    s = open_workers(dir, 2, false);
    uint64_t after = whole_digest(s);
    st_shards_destroy(s);
    s = open_workers(dir, 3, false);
    cr_assert_eq(whole_digest(s), after, "3 workers hold what 2 held");
    st_shards_destroy(s);
    s = open_workers(dir, 1, false);
    cr_assert_eq(whole_digest(s), after, "1 worker holds what 3 held");
    st_shards_destroy(s);
    // A follower must run its leader's count: no reshard there.
    char why[1024] = "";
    st_shards_config f = {
        .workers = 2, .data_dir = dir, .follower = true, .error = why, .error_len = sizeof why};
    cr_assert_eq(st_shards_create(&f, &s), ST_INVALID_ARGUMENT);
    cr_assert(strstr(why, "--workers 1") != NULL, "%s", why);
    remove_dir(dir);
}

static int
count_snapshots(const char *dir, uint32_t workers)
{
    int n = 0;
    for (uint32_t w = 0; w < workers; w++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "ls %s/snap-%u 2>/dev/null | grep -c '\\.snap$'", dir, w);
        FILE *p = popen(cmd, "r");
        int k = 0;
        if (p != NULL && fscanf(p, "%d", &k) == 1)
            n += k;
        if (p != NULL)
            pclose(p);
    }
    return n;
}

// ship hands a follower worker w's frames from..upto of the log in
// `from_dir`, as a leader's replication door would.
static void
ship(st_shards *f, const char *from_dir, uint32_t w, uint64_t from, uint64_t upto)
{
    st_wal_reader *r = NULL;
    cr_assert_eq(st_wal_reader_open(from_dir, w, &r), ST_OK);
    static uint8_t buf[1 << 20];
    size_t used = 0;
    uint32_t count = 0;
    char why[512] = "";
    cr_assert_eq(st_wal_reader_read(r, from, upto, buf, sizeof buf, &used, &count, why, sizeof why),
                 ST_OK, "%s", why);
    cr_assert_eq(count, upto - from + 1);
    st_wal_reader_close(r);
    done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    st_shards_req *req = calloc(1, sizeof *req);
    st_shards_replicate(f, req, w, buf, (uint32_t)used, done_cb, &d);
    done_wait(&d);
    cr_assert_eq(req->status, ST_OK, "%s", req->messages[0].text);
    free(req);
    cr_assert_eq(st_shards_durable_lsn(f, w), upto);
}

#define LATER 70 // transfers after the lost one: more than the 64-seq duplicate window

// A follower delivers no outbox messages, so its snapshots hold none in
// flight. Promoted after its leader died between logging a dispatch and
// delivering its inbound half (the follower's log of the destination
// stops before it), and with its own snapshot past the dispatch, it must
// still send the half: the destination learns of the transfer, which can
// then be received, and no unit is made or lost. LATER transfers logged
// after the snapshot are staged again by replay; the lost half is older
// than the destination's duplicate window below them, and still arrives.
Test(durable, a_promoted_follower_sends_a_half_lost_in_flight, .timeout = 60)
{
    char ldir[] = "/tmp/stocktwin-lead-XXXXXX", fdir[] = "/tmp/stocktwin-follow-XXXXXX";
    cr_assert(mkdtemp(ldir) != NULL && mkdtemp(fdir) != NULL);
    st_shards *s = open_at(ldir);
    char a[16], b[16];
    setup_pair(s, "wh-p", a, b, 200);
    uint32_t wa = st_shards_route(s, a), wb = st_shards_route(s, b);
    uint64_t b_before = st_shards_durable_lsn(s, wb);
    st_event dispatch = EV(ST_EV_TRANSFER_DISPATCH, a);
    dispatch.u.transfer_dispatch = (__typeof__(dispatch.u.transfer_dispatch)){
        .transfer_id = "t-p", .to_warehouse = b, .sku = "SKU-D", .qty = 20};
    submit(s, &dispatch, 1);
    uint64_t a_lost = st_shards_durable_lsn(s, wa);
    static char ids[LATER][16];
    for (int i = 0; i < LATER; i++) {
        snprintf(ids[i], sizeof ids[i], "t-q%d", i);
        st_event d = EV(ST_EV_TRANSFER_DISPATCH, a);
        d.u.transfer_dispatch = (__typeof__(d.u.transfer_dispatch)){
            .transfer_id = ids[i], .to_warehouse = b, .sku = "SKU-D", .qty = 1};
        submit(s, &d, 1);
    }
    poll_until(s, b, 20 + LATER, 0); // delivered and logged at b's worker
    uint64_t a_last = st_shards_durable_lsn(s, wa), b_last = st_shards_durable_lsn(s, wb);
    cr_assert_eq(b_last, b_before + 1 + LATER, "b's worker logged every inbound half");
    st_shards_destroy(s);

    // The follower got a's log up to the lost dispatch and b's up to before
    // its inbound half, snapshotted, then got the rest of a's log.
    s = open_workers(fdir, 2, true);
    ship(s, ldir, wa, 1, a_lost);
    ship(s, ldir, wb, 1, b_before);
    cr_assert_eq(st_shards_snapshot_request(s), ST_OK);
    for (int i = 0; i < 10000 && count_snapshots(fdir, 2) < 2; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    cr_assert_eq(count_snapshots(fdir, 2), 2, "both workers snapshotted");
    ship(s, ldir, wa, a_lost + 1, a_last);
    probe pb = look(s, b, "SKU-D");
    cr_assert(!pb.found || pb.v.inbound == 0, "b never heard of the transfers here");
    st_shards_destroy(s);

    // Promoted: it starts as a leader from its snapshot and log.
    s = open_at(fdir);
    poll_until(s, a, 0, 20 + LATER);
    poll_until(s, b, 20 + LATER, 0); // t-p sent again from a's record, the rest by replay
    st_event receive = EV(ST_EV_TRANSFER_RECEIVE, b);
    receive.u.transfer_receive.transfer_id = "t-p";
    receive.u.transfer_receive.location = "z";
    submit(s, &receive, 1);
    poll_until(s, a, 0, LATER);
    probe pa = look(s, a, "SKU-D");
    pb = look(s, b, "SKU-D");
    cr_assert_eq(pa.v.on_hand + pb.v.on_hand + LATER, 200,
                 "a transfer creates and destroys nothing");
    uint64_t before = digest(s);
    st_shards_destroy(s);
    // Started again, nothing is sent twice.
    s = open_at(fdir);
    cr_assert_eq(digest(s), before);
    poll_until(s, b, LATER, 0);
    cr_assert_eq(digest(s), before);
    st_shards_destroy(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", ldir, fdir);
    cr_assert_eq(system(cmd), 0);
}

// Snapshots are written one warehouse at a time between batches, so with
// events flowing their parts stand for different LSNs (core/snapshot.h).
// Restarting from them, with the same worker count or another (which
// replays each old worker's snapshot and log, then reshards), must give the
// state that was acknowledged: products created while a snapshot was being
// written and received into warehouses copied after them included.
Test(durable, snapshots_written_while_events_flow_restart_to_the_same_state)
{
    char dir[] = "/tmp/stocktwin-durable-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char why[1024] = "";
    st_shards_config c = {.workers = 2,
                          .data_dir = dir,
                          .snapshot_interval_ms = 1,
                          .error = why,
                          .error_len = sizeof why};
    st_shards *s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    enum { WHS = 6, SKUS = 40 };
    char wh[WHS][24], sku[SKUS + 400][24];
    for (int w = 0; w < WHS; w++) {
        snprintf(wh[w], sizeof wh[w], "wh-p%d", w);
        st_event e[2] = {EV(ST_EV_WAREHOUSE_UPSERT, wh[w]), EV(ST_EV_ZONE_UPSERT, wh[w])};
        e[1].u.zone_upsert.zone_id = "z";
        submit(s, e, 2);
    }
    int skus = 0;
    uint32_t rng = 12345;
    for (int i = 0; i < 3000; i++) {
        rng = rng * 1103515245u + 12345u;
        uint32_t r = rng >> 8;
        while (skus < SKUS || (i % 25 == 0 && skus < SKUS + i / 25 + 1)) {
            // new products, also while snapshots are being written
            snprintf(sku[skus], sizeof sku[skus], "SKU-P%d", skus);
            st_event p = EV(ST_EV_PRODUCT_UPSERT, NULL);
            p.u.product_upsert.sku = sku[skus++];
            submit(s, &p, 1);
        }
        const char *w = wh[r % WHS];
        if (i % 40 == 39) { // a transfer: its inbound half goes through the outbox
            const char *to = wh[(r / WHS + 1 + r % WHS) % WHS];
            st_event in = EV(ST_EV_MOVEMENT, w), d = EV(ST_EV_TRANSFER_DISPATCH, w);
            in.u.movement = (__typeof__(in.u.movement)){
                .kind = ST_MOVE_RECEIVE, .sku = sku[0], .qty = 3, .to_location = "z"};
            static char id[3000][24];
            snprintf(id[i], sizeof id[i], "t-p%d", i);
            d.u.transfer_dispatch = (__typeof__(d.u.transfer_dispatch)){
                .transfer_id = id[i], .to_warehouse = to, .sku = sku[0], .qty = 2};
            submit(s, &in, 1);
            if (strcmp(to, w) != 0)
                submit(s, &d, 1);
            continue;
        }
        st_event m = EV(ST_EV_MOVEMENT, w);
        m.u.movement = (__typeof__(m.u.movement)){.kind = ST_MOVE_RECEIVE,
                                                  .sku = sku[skus - 1 - (int)(r % 8)],
                                                  .qty = 1 + (int64_t)(r % 5),
                                                  .to_location = "z"};
        submit(s, &m, 1);
        if (i % 500 == 0)
            cr_assert_eq(st_shards_snapshot_request(s), ST_OK);
    }
    // Let the inbound halves arrive, then stop.
    nanosleep(&(struct timespec){0, 200000000}, NULL);
    uint64_t before = digest(s), whole = whole_digest(s);
    st_shards_destroy(s);
    cr_assert_gt(count_snapshots(dir, 2), 0, "snapshots were written");

    s = open_at(dir);
    cr_assert_eq(digest(s), before, "restarted from snapshots and logs: the same state");
    st_shards_destroy(s);
    for (uint32_t workers = 3; workers >= 1 && workers <= 3; workers -= 2) {
        s = open_workers(dir, workers, false);
        cr_assert_eq(whole_digest(s), whole, "%u workers hold what 2 held", workers);
        st_shards_destroy(s);
    }
    remove_dir(dir);
}

// A feed that records, per warehouse, the on_hand of every change of SKU-F.
typedef struct split_feed {
    pthread_mutex_t lock;
    const char *wh[2];
    uint32_t count[2];
    int64_t last[2];
    bool out_of_order;
} split_feed;

static void
split_feed_cb(void *arg, const st_feed_batch *batch)
{
    split_feed *f = arg;
    pthread_mutex_lock(&f->lock);
    for (uint32_t i = 0; i < batch->change_count; i++) {
        const st_change *c = &batch->changes[i];
        for (int k = 0; k < 2; k++) {
            if (strcmp(c->warehouse, f->wh[k]) != 0 || strcmp(c->sku, "SKU-F") != 0)
                continue;
            if (c->on_hand != f->last[k] + 1)
                f->out_of_order = true;
            f->last[k] = c->on_hand;
            f->count[k]++;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

// Requests whose changes overflow a batch's feed several times over (each
// worker's share is 2,000 receipts, its feed holds 1,024 changes), several
// in flight at once: every change is published once and in order, every
// event is acknowledged, and a restart finds the same state.
Test(durable, batches_larger_than_the_feed_split_and_lose_nothing)
{
    char dir[] = "/tmp/stocktwin-split-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char why[1024] = "";
    char a[16] = "wh-s0", b[16] = "wh-s1";
    split_feed feed = {.lock = PTHREAD_MUTEX_INITIALIZER, .wh = {a, b}};
    st_shards_config c = {.workers = 2,
                          .data_dir = dir,
                          .feed_cb = split_feed_cb,
                          .feed_arg = &feed,
                          .error = why,
                          .error_len = sizeof why};
    st_shards *s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    for (int i = 1; st_shards_route(s, a) == st_shards_route(s, b); i++)
        snprintf(b, sizeof b, "wh-s%d", i);
    st_event setup[5] = {EV(ST_EV_PRODUCT_UPSERT, NULL), EV(ST_EV_WAREHOUSE_UPSERT, a),
                         EV(ST_EV_WAREHOUSE_UPSERT, b), EV(ST_EV_ZONE_UPSERT, a),
                         EV(ST_EV_ZONE_UPSERT, b)};
    setup[0].u.product_upsert.sku = "SKU-F";
    setup[3].u.zone_upsert.zone_id = setup[4].u.zone_upsert.zone_id = "z";
    submit(s, setup, 5);

    enum { REQS = 4, PER = 4000 };
    static st_event ev[REQS][PER];
    static st_err st[REQS][PER];
    st_shards_req *req[REQS];
    done d[REQS];
    for (int r = 0; r < REQS; r++) {
        for (int i = 0; i < PER; i++) {
            ev[r][i] = EV(ST_EV_MOVEMENT, i % 2 ? b : a);
            ev[r][i].u.movement = (__typeof__(ev[r][i].u.movement)){
                .kind = ST_MOVE_RECEIVE, .sku = "SKU-F", .qty = 1, .to_location = "z"};
        }
        d[r] = (done){PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        req[r] = calloc(1, sizeof *req[r]);
    }
    for (int r = 0; r < REQS; r++)
        st_shards_submit(s, req[r], ev[r], st[r], PER, done_cb, &d[r]);
    for (int r = 0; r < REQS; r++) {
        done_wait(&d[r]);
        for (int i = 0; i < PER; i++)
            cr_assert_eq(st[r][i], ST_OK, "request %d event %d: %s", r, i, st_err_str(st[r][i]));
        free(req[r]);
    }
    const uint32_t want = REQS * PER / 2;
    probe pa = look(s, a, "SKU-F"), pb = look(s, b, "SKU-F");
    cr_assert_eq(pa.v.on_hand, want);
    cr_assert_eq(pb.v.on_hand, want);
    bool all = false;
    for (int i = 0; i < 5000 && !all; i++) {
        pthread_mutex_lock(&feed.lock);
        all = feed.count[0] >= want && feed.count[1] >= want;
        pthread_mutex_unlock(&feed.lock);
        if (!all)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    uint64_t before = digest(s);
    st_shards_destroy(s);
    cr_assert_eq(feed.count[0], want, "every change of %s published once", a);
    cr_assert_eq(feed.count[1], want, "every change of %s published once", b);
    cr_assert(!feed.out_of_order, "changes published in the order they happened");

    s = open_at(dir);
    cr_assert_eq(digest(s), before, "what was acknowledged is there after the restart");
    st_shards_destroy(s);
    remove_dir(dir);
}

// With --ack quorum and no follower, nothing is ever acknowledged; stopping
// must still end, even with every slot of the pipeline sealed and waiting
// (the worker then waits in the middle of its loop): every write is
// answered UNAVAILABLE (it is in the log, not acknowledged) within about
// ST_SHARDS_QUORUM_STOP_MS, and a restart without quorum has it.
Test(durable, stopping_without_a_quorum_answers_every_write, .timeout = 60)
{
    char dir[] = "/tmp/stocktwin-noquorum-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char why[1024] = "";
    st_shards_config c = {
        .workers = 1, .data_dir = dir, .quorum = 1, .error = why, .error_len = sizeof why};
    st_shards *s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    enum { REQS = 12 };
    static st_event ev[REQS][3];
    static st_err st[REQS][3];
    st_shards_req *req[REQS];
    done d[REQS];
    ev[0][0] = EV(ST_EV_PRODUCT_UPSERT, NULL);
    ev[0][0].u.product_upsert.sku = "SKU-Q";
    ev[0][1] = EV(ST_EV_WAREHOUSE_UPSERT, "wh-q");
    ev[0][2] = EV(ST_EV_ZONE_UPSERT, "wh-q");
    ev[0][2].u.zone_upsert.zone_id = "z";
    for (int r = 0; r < REQS; r++) {
        if (r > 0) {
            ev[r][0] = EV(ST_EV_MOVEMENT, "wh-q");
            ev[r][0].u.movement = (__typeof__(ev[r][0].u.movement)){
                .kind = ST_MOVE_RECEIVE, .sku = "SKU-Q", .qty = 1, .to_location = "z"};
        }
        d[r] = (done){PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        req[r] = calloc(1, sizeof *req[r]);
        st_shards_submit(s, req[r], ev[r], st[r], r == 0 ? 3 : 1, done_cb, &d[r]);
        nanosleep(&(struct timespec){0, 20000000}, NULL); // a batch (a slot) each
    }
    for (int r = 0; r < REQS; r++)
        cr_assert_eq(done_count(&d[r]), 0, "request %d answered without a quorum", r);
    st_shards_destroy(s); // returns: nothing waits for a follower forever
    for (int r = 0; r < REQS; r++) {
        cr_assert_eq(done_count(&d[r]), 1, "request %d answered once", r);
        if (r > 0)
            cr_assert_eq(st[r][0], ST_UNAVAILABLE, "request %d: %s", r, st_err_str(st[r][0]));
        free(req[r]);
    }
    s = open_at(dir); // no quorum now: the log has every write
    probe p = look(s, "wh-q", "SKU-Q");
    cr_assert(p.found);
    cr_assert_eq(p.v.on_hand, REQS - 1);
    st_shards_destroy(s);
    remove_dir(dir);
}

typedef struct alert_feed {
    pthread_mutex_t lock;
    int delayed, silent;
} alert_feed;

static void
alert_feed_cb(void *arg, const st_feed_batch *b)
{
    alert_feed *f = arg;
    pthread_mutex_lock(&f->lock);
    for (uint32_t i = 0; i < b->alert_count; i++) {
        f->delayed += b->alerts[i].kind == ST_ALERT_SHIPMENT_DELAYED;
        f->silent += b->alerts[i].kind == ST_ALERT_DEVICE_SILENT;
    }
    pthread_mutex_unlock(&f->lock);
}

static int64_t
wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The workers' clock (tick_ms): a reservation expires on its own, a late
// purchase order and a silent device raise their alerts once, on the feed,
// and all of it is in the log: a restart without ticks finds the same state.
Test(durable, ticks_expire_reservations_and_raise_timer_alerts_through_the_log, .timeout = 60)
{
    char dir[] = "/tmp/stocktwin-tick-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char why[1024] = "";
    alert_feed feed = {.lock = PTHREAD_MUTEX_INITIALIZER};
    st_shards_config c = {.workers = 2,
                          .data_dir = dir,
                          .tick_ms = 20,
                          .device_silent_ms = 500,
                          .feed_cb = alert_feed_cb,
                          .feed_arg = &feed,
                          .error = why,
                          .error_len = sizeof why};
    st_shards *s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    int64_t now = wall_now_ms();
    st_event setup[7] = {EV(ST_EV_PRODUCT_UPSERT, NULL),     EV(ST_EV_SUPPLIER_UPSERT, NULL),
                         EV(ST_EV_WAREHOUSE_UPSERT, "wh-t"), EV(ST_EV_ZONE_UPSERT, "wh-t"),
                         EV(ST_EV_DEVICE_UPSERT, "wh-t"),    EV(ST_EV_MOVEMENT, "wh-t"),
                         EV(ST_EV_PO_CREATE, "wh-t")};
    for (int i = 0; i < 7; i++)
        setup[i].event_time_ms = now;
    setup[0].u.product_upsert.sku = "SKU-T";
    setup[1].u.supplier_upsert.supplier_id = "sup";
    setup[3].u.zone_upsert.zone_id = "z";
    setup[4].u.device_upsert =
        (__typeof__(setup[4].u.device_upsert)){"scan-1", ST_DEV_BARCODE, "z"};
    setup[5].u.movement = (__typeof__(setup[5].u.movement)){
        .kind = ST_MOVE_RECEIVE, .sku = "SKU-T", .qty = 10, .to_location = "z"};
    setup[6].u.po_create = (__typeof__(setup[6].u.po_create)){"po-1", "sup", "SKU-T", 5, now + 300};
    submit(s, setup, 7);
    st_event r = EV(ST_EV_RESERVE, "wh-t");
    r.event_time_ms = now;
    r.u.reserve = (__typeof__(r.u.reserve)){"o-1", "SKU-T", 4, now + 200};
    submit(s, &r, 1);
    cr_assert_eq(look(s, "wh-t", "SKU-T").v.reserved, 4);

    bool done_all = false;
    for (int i = 0; i < 10000 && !done_all; i++) {
        pthread_mutex_lock(&feed.lock);
        done_all = feed.delayed >= 1 && feed.silent >= 1;
        pthread_mutex_unlock(&feed.lock);
        done_all = done_all && look(s, "wh-t", "SKU-T").v.reserved == 0;
        if (!done_all)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    cr_assert(done_all, "the reservation expired and both alerts came");
    cr_assert_geq(wall_now_ms(), now + 500, "the device was silent for its limit first");
    nanosleep(&(struct timespec){0, 100000000}, NULL); // more rounds: nothing is raised twice
    uint64_t before = digest(s);
    st_shards_destroy(s);
    cr_assert_eq(feed.delayed, 1);
    cr_assert_eq(feed.silent, 1);

    c.tick_ms = 0; // the state comes from the log alone
    c.feed_cb = NULL;
    s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    cr_assert_eq(digest(s), before, "the ticks' effects are in the log");
    cr_assert_eq(look(s, "wh-t", "SKU-T").v.reserved, 0);
    st_shards_destroy(s);
    remove_dir(dir);
}

// More due than a round of ticks takes (16 ticks of at most 68 expiries):
// the rest goes on at the next loop iterations, not a --tick later. Here the
// clock's period is an hour, so only the round at start and its
// continuation can expire the 2,000 reservations already past their expiry
// when the runtime opens.
Test(durable, a_backlog_of_expiries_drains_without_waiting_a_period, .timeout = 60)
{
    char dir[] = "/tmp/stocktwin-expire-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char why[1024] = "";
    st_shards_config c = {.workers = 2, .data_dir = dir, .error = why, .error_len = sizeof why};
    st_shards *s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    enum { N = 2000 };
    static char sku[N][16];
    static st_event ev[N];
    static st_err st[N];
    st_event setup[2] = {EV(ST_EV_WAREHOUSE_UPSERT, "wh-x"), EV(ST_EV_ZONE_UPSERT, "wh-x")};
    setup[1].u.zone_upsert.zone_id = "z";
    submit(s, setup, 2);
    for (int step = 0; step < 3; step++) { // products, receipts, reservations
        for (int i = 0; i < N; i++) {
            snprintf(sku[i], sizeof sku[i], "X%d", i);
            ev[i] = step == 0   ? EV(ST_EV_PRODUCT_UPSERT, NULL)
                    : step == 1 ? EV(ST_EV_MOVEMENT, "wh-x")
                                : EV(ST_EV_RESERVE, "wh-x");
            if (step == 0)
                ev[i].u.product_upsert.sku = sku[i];
            else if (step == 1)
                ev[i].u.movement = (__typeof__(ev[i].u.movement)){
                    .kind = ST_MOVE_RECEIVE, .sku = sku[i], .qty = 1, .to_location = "z"};
            else
                ev[i].u.reserve = (__typeof__(ev[i].u.reserve)){"o", sku[i], 1, 2};
        }
        done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        st_shards_req *req = calloc(1, sizeof *req);
        st_shards_submit(s, req, ev, st, N, done_cb, &d);
        done_wait(&d);
        for (int i = 0; i < N; i++)
            cr_assert_eq(st[i], ST_OK, "step %d event %d: %s", step, i, st_err_str(st[i]));
        free(req);
    }
    cr_assert_eq(look(s, "wh-x", "X1999").v.reserved, 1);
    st_shards_destroy(s);

    c.tick_ms = 3600000;
    s = NULL;
    cr_assert_eq(st_shards_create(&c, &s), ST_OK, "%s", why);
    int left = N;
    for (int round = 0; round < 1000 && left > 0; round++) {
        left = 0;
        for (int i = 0; i < N; i += 97)
            left += look(s, "wh-x", sku[i]).v.reserved != 0;
        left += look(s, "wh-x", sku[N - 1]).v.reserved != 0;
        if (left > 0)
            nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    cr_assert_eq(left, 0, "every reservation expired within the first period");
    st_shards_destroy(s);
    remove_dir(dir);
}
