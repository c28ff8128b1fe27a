// crash_test.c - nothing acknowledged is ever lost: stocktwind with a
// write-ahead log (--data, sync fsync) is killed with SIGKILL at random
// moments while several clients write to it, and restarted, many times over.
// After each restart every acknowledged event must be there, and the
// recovered state must be exactly a replay of the acknowledged events.
//
// How that is checked exactly: each writer sends one RECEIVE of one unit at
// a time, from its own source, and remembers the one event whose answer never
// came (the kill took it). After each restart the writers first send that
// event again with the same (source, seq): the daemon answers DUPLICATE if it
// had made it durable, OK if not. So the set of events applied is exactly
// the set the writers generated, and:
//   - the daemon's state digest (the DigestQuery) must equal the digest of a
//     fresh core st_state, in this process, fed the same events: the setup,
//     then each writer's events in its own order;
//   - at the end, on_hand must equal exactly the number of events sent.
// One lost acknowledged event, or one applied twice, and both are off.
//
// The oracle applies writer after writer, while the daemon interleaved them.
// Writers 0 and 2 both receive into (wh-a, SKU-2, recv); that gives the same
// state in any order because receipts commute here: each adds one unit to
// the same bin, no writer event carries a time (event_time_ms 0, so the
// record's last event time is 0 whoever came last), SKU-2's reorder point is
// 0 and stock only grows (no LOW_STOCK edge), and duplicate windows are per
// source. Writer 1 owns wh-c alone.
//
// ST_CRASH_CYCLES sets the number of cycles (default 20; the slow variant
// runs 100); ST_SEED the random kill times (printed).
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "core/state.h"
#include "harness.h"

#define WRITERS 3

static const char *const writer_wh[WRITERS] = {"wh-a", "wh-c", "wh-a"};
static const char *const writer_source[WRITERS] = {"writer-0", "writer-1", "writer-2"};

typedef struct writer {
    int id;
    const it_daemon *d;
    uint64_t next_seq; // the next seq to send; seqs < next_seq were sent
    uint64_t unknown;  // a seq sent whose answer never came, or 0
    uint64_t replayed; // seqs <= replayed are applied to the oracle
    atomic_bool stop;
    st_client *c; // connected before the thread starts, closed by it
} writer;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// Room for the protobuf form of the few event kinds this test sends.
typedef struct pb_event {
    Stocktwin__Event event;
    Stocktwin__ProductUpsert product;
    Stocktwin__WarehouseUpsert warehouse;
    Stocktwin__ZoneUpsert zone;
    Stocktwin__StockMovement movement;
} pb_event;

static char *
str(const char *s)
{
    return (char *)(s ? s : "");
}

// to_pb writes `e` as the wire Event the daemon gets, field for field, so
// that the oracle and the daemon are fed the same events. Only the kinds this
// test uses; the strings stay e's.
static Stocktwin__Event *
to_pb(const st_event *e, pb_event *x)
{
    Stocktwin__Event *pb = &x->event;
    stocktwin__event__init(pb);
    pb->source = str(e->source);
    pb->seq = e->seq;
    pb->event_time_ms = e->event_time_ms;
    pb->warehouse = str(e->warehouse);
    pb->kind_case = (Stocktwin__Event__KindCase)e->kind;
    switch (e->kind) {
    case ST_EV_PRODUCT_UPSERT:
        stocktwin__product_upsert__init(&x->product);
        x->product.sku = str(e->u.product_upsert.sku);
        x->product.name = str(e->u.product_upsert.name);
        x->product.unit_weight_mg = e->u.product_upsert.unit_weight_mg;
        x->product.category = str(e->u.product_upsert.category);
        x->product.unit_cost_cents = e->u.product_upsert.unit_cost_cents;
        x->product.reorder_point = e->u.product_upsert.reorder_point;
        pb->product_upsert = &x->product;
        break;
    case ST_EV_WAREHOUSE_UPSERT:
        stocktwin__warehouse_upsert__init(&x->warehouse);
        x->warehouse.name = str(e->u.warehouse_upsert.name);
        x->warehouse.location = str(e->u.warehouse_upsert.location);
        x->warehouse.total_capacity = e->u.warehouse_upsert.total_capacity;
        pb->warehouse_upsert = &x->warehouse;
        break;
    case ST_EV_ZONE_UPSERT:
        stocktwin__zone_upsert__init(&x->zone);
        x->zone.zone_id = str(e->u.zone_upsert.zone_id);
        x->zone.name = str(e->u.zone_upsert.name);
        x->zone.type = (Stocktwin__ZoneType)e->u.zone_upsert.type;
        pb->zone_upsert = &x->zone;
        break;
    case ST_EV_MOVEMENT:
        stocktwin__stock_movement__init(&x->movement);
        x->movement.kind = (Stocktwin__MovementKind)e->u.movement.kind;
        x->movement.sku = str(e->u.movement.sku);
        x->movement.qty = e->u.movement.qty;
        x->movement.from_location = str(e->u.movement.from_location);
        x->movement.to_location = str(e->u.movement.to_location);
        x->movement.delta = e->u.movement.delta;
        x->movement.reason = str(e->u.movement.reason);
        pb->movement = &x->movement;
        break;
    default:
        cr_assert_fail("to_pb: kind %d is not used by this test", (int)e->kind);
    }
    return pb;
}

// oracle_apply applies one event to the expected state; it must be accepted.
static void
oracle_apply(st_state *expect, const st_event *e)
{
    static st_apply_out out;
    st_err err = st_state_apply(expect, e, &out);
    cr_assert_eq(err, ST_OK, "the oracle refused %s seq %llu: %s", e->source,
                 (unsigned long long)e->seq, out.message);
}

// The network: products SKU-1 and SKU-2 (reorder point 0), warehouses wh-a
// and wh-c with zones recv and stor, 100 of SKU-1 in wh-a's stor.
#define SETUP(seq_, wh_, kind_, member_, ...)                                                      \
    {.kind = (kind_), .source = "setup", .seq = (seq_), .event_time_ms = 1000,                     \
     .warehouse = (wh_), .u.member_ = {__VA_ARGS__}}

static const st_event setup_events[] = {
    SETUP(1, NULL, ST_EV_PRODUCT_UPSERT, product_upsert, .sku = "SKU-1", .name = "Widget",
          .unit_weight_mg = 250000, .reorder_point = 10),
    SETUP(2, NULL, ST_EV_PRODUCT_UPSERT, product_upsert, .sku = "SKU-2", .name = "Gadget",
          .unit_weight_mg = 1000),
    SETUP(3, "wh-a", ST_EV_WAREHOUSE_UPSERT, warehouse_upsert, .name = "A"),
    SETUP(4, "wh-c", ST_EV_WAREHOUSE_UPSERT, warehouse_upsert, .name = "C"),
    SETUP(5, "wh-a", ST_EV_ZONE_UPSERT, zone_upsert, .zone_id = "recv", .type = ST_ZONE_RECEIVING),
    SETUP(6, "wh-a", ST_EV_ZONE_UPSERT, zone_upsert, .zone_id = "stor", .type = ST_ZONE_STORAGE),
    SETUP(7, "wh-c", ST_EV_ZONE_UPSERT, zone_upsert, .zone_id = "recv", .type = ST_ZONE_RECEIVING),
    SETUP(8, "wh-c", ST_EV_ZONE_UPSERT, zone_upsert, .zone_id = "stor", .type = ST_ZONE_STORAGE),
    SETUP(9, "wh-a", ST_EV_MOVEMENT, movement, .kind = ST_MOVE_RECEIVE, .sku = "SKU-1", .qty = 100,
          .to_location = "stor"),
};
#define SETUP_EVENTS (sizeof setup_events / sizeof setup_events[0])

// setup sends the network in one batch and applies it to the oracle.
static void
setup(st_client *c, st_state *expect)
{
    pb_event pb[SETUP_EVENTS];
    Stocktwin__Event *ptrs[SETUP_EVENTS];
    for (size_t i = 0; i < SETUP_EVENTS; i++)
        ptrs[i] = to_pb(&setup_events[i], &pb[i]);
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_submit(c, ptrs, SETUP_EVENTS, &r), 0, "%s", st_client_last_error(c));
    for (size_t i = 0; i < SETUP_EVENTS; i++) {
        cr_assert_eq(r->statuses[i]->status, STOCKTWIN__STATUS__STATUS_OK, "setup event %zu: %s", i,
                     r->statuses[i]->message);
        oracle_apply(expect, &setup_events[i]);
    }
    st_client_response_free(r);
}

// writer_event is seq of writer w: one unit of SKU-2 received into recv.
static st_event
writer_event(const writer *w, uint64_t seq)
{
    return (st_event){
        .kind = ST_EV_MOVEMENT,
        .source = writer_source[w->id],
        .seq = seq,
        .warehouse = writer_wh[w->id],
        .u.movement = {.kind = ST_MOVE_RECEIVE, .sku = "SKU-2", .qty = 1, .to_location = "recv"}};
}

// send_receive sends seq of writer w; returns the event's status, or -1 when
// no answer came (the daemon died with it in flight).
static int
send_receive(st_client *c, const writer *w, uint64_t seq)
{
    st_event e = writer_event(w, seq);
    pb_event x;
    Stocktwin__Event *pb = to_pb(&e, &x);
    Stocktwin__Response *r = NULL;
    int st = st_client_submit(c, &pb, 1, &r);
    int status = st == 0 ? (int)r->statuses[0]->status : -1;
    st_client_response_free(r);
    return status;
}

static void *
write_until_killed(void *arg)
{
    writer *w = arg;
    st_client *c = w->c;
    cr_assert_eq(w->unknown, 0, "settled before the writers start");
    while (!atomic_load(&w->stop)) {
        uint64_t seq = w->next_seq++;
        int st = send_receive(c, w, seq);
        if (st < 0) {
            w->unknown = seq;
            break;
        }
        cr_assert_eq(st, STOCKTWIN__STATUS__STATUS_OK, "seq %llu", (unsigned long long)seq);
    }
    st_client_close(c);
    return NULL;
}

// settle runs after a restart, before the writers start again: each writer's
// unanswered event is sent again (OK: it had been lost unacknowledged;
// DUPLICATE: it had been made durable, its ack lost), so every event a writer
// generated is now applied exactly once; the oracle takes the writers' new
// events; and the daemon's digest must be the oracle's.
static void
settle(st_client *c, writer *w, st_state *expect, int cycle, unsigned seed)
{
    for (int i = 0; i < WRITERS; i++) {
        if (w[i].unknown != 0) {
            int st = send_receive(c, &w[i], w[i].unknown);
            cr_assert(
                st == STOCKTWIN__STATUS__STATUS_OK || st == STOCKTWIN__STATUS__STATUS_DUPLICATE,
                "resent seq %llu of writer %d: status %d", (unsigned long long)w[i].unknown, i, st);
            w[i].unknown = 0;
        }
        for (uint64_t seq = w[i].replayed + 1; seq < w[i].next_seq; seq++) {
            st_event e = writer_event(&w[i], seq);
            oracle_apply(expect, &e);
        }
        w[i].replayed = w[i].next_seq - 1;
    }
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_digest(c, &r), 0, "digest: %s", st_client_last_error(c));
    unsigned long long have = r->digest->digest, want = st_state_digest(expect);
    // Quiet (every reply so far was released once durable), so each worker's
    // durable LSN is also the last entry its part covers; every worker has
    // logged the catalog.
    uint64_t lsn_max = 0;
    cr_assert_eq(r->digest->n_workers, 2);
    for (size_t i = 0; i < r->digest->n_workers; i++) {
        cr_assert_gt(r->digest->workers[i]->durable_lsn, 0);
        if (r->digest->workers[i]->durable_lsn > lsn_max)
            lsn_max = r->digest->workers[i]->durable_lsn;
    }
    cr_assert_eq(r->lsn, lsn_max, "the reply's LSN is the highest worker's");
    st_client_response_free(r);
    cr_assert_eq(have, want,
                 "after restart %d the daemon's digest %016llx is not the replay's %016llx "
                 "(seed %u)",
                 cycle, have, want, seed);
}

static int64_t
on_hand(st_client *c, const char *wh)
{
    Stocktwin__SkuWarehouse s;
    return it_stock(c, wh, "SKU-2", &s) ? s.on_hand : 0;
}

// count_files counts the files of `dir` whose names end in `ext`; *oldest
// gets the smallest number their names start with, *second (may be NULL)
// the next one (~0 if none).
static int
count_files2(const char *data, const char *sub, const char *ext, unsigned long long *oldest,
             unsigned long long *second)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", data, sub);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s exists", dir);
    int n = 0;
    *oldest = ~0ull;
    unsigned long long snd = ~0ull;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), el = strlen(ext);
        if (len > el && strcmp(e->d_name + len - el, ext) == 0) {
            n++;
            unsigned long long v = strtoull(e->d_name, NULL, 10);
            if (v < *oldest) {
                snd = *oldest;
                *oldest = v;
            } else if (v < snd) {
                snd = v;
            }
        }
    }
    closedir(d);
    if (second != NULL)
        *second = snd;
    return n;
}

static int
count_files(const char *data, const char *sub, const char *ext, unsigned long long *oldest)
{
    return count_files2(data, sub, ext, oldest, NULL);
}

// Snapshots every 20 ms and small segments, so that kills land before,
// during and after snapshots and segment deletions, and every restart loads
// a snapshot and replays the log after it.
static const char *const SNAPSHOTS[] = {"--snapshot-interval", "20", "--segment-bytes", "65536",
                                        NULL};

Test(crash, kill9_under_load_loses_nothing_acknowledged, .timeout = 600)
{
    int cycles = getenv("ST_CRASH_CYCLES") ? atoi(getenv("ST_CRASH_CYCLES")) : 20;
    unsigned seed = getenv("ST_SEED") ? (unsigned)atoi(getenv("ST_SEED")) : (unsigned)time(NULL);
    cr_log_info("crash test: %d cycles, seed %u (replay with ST_SEED=%u)", cycles, seed, seed);
    srand(seed);
    char data[] = "/tmp/stocktwin-crash-XXXXXX";
    cr_assert(mkdtemp(data) != NULL);
    st_state *expect = NULL;
    cr_assert_eq(st_state_create(NULL, &expect), ST_OK);
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        w[i] = (writer){.id = i, .next_seq = 1};
    it_daemon d;
    for (int cycle = 0; cycle < cycles; cycle++) {
        it_daemon_start_flags(&d, 2, data, SNAPSHOTS);
        st_client *c = it_client(&d);
        if (cycle == 0)
            setup(c, expect);
        settle(c, w, expect, cycle, seed);
        st_client_close(c);
        pthread_t t[WRITERS];
        // Connected here, not in the threads: on a loaded machine a thread
        // could start after the kill below and find nothing to connect to.
        st_client_opts o = {.timeout_ms = 3000, .resend_ms = -1};
        for (int i = 0; i < WRITERS; i++) {
            w[i].d = &d;
            atomic_store(&w[i].stop, false);
            cr_assert_eq(st_client_open(d.rpc, &o, &w[i].c), 0);
        }
        for (int i = 0; i < WRITERS; i++)
            cr_assert_eq(pthread_create(&t[i], NULL, write_until_killed, &w[i]), 0);
        sleep_ms(50 + rand() % 250);
        it_daemon_kill9(&d);
        for (int i = 0; i < WRITERS; i++) {
            atomic_store(&w[i].stop, true);
            pthread_join(t[i], NULL);
        }
    }
    // The last restart: settle what was in flight, compare digests, count.
    it_daemon_start_flags(&d, 2, data, SNAPSHOTS);
    st_client *c = it_client(&d);
    settle(c, w, expect, cycles, seed);
    int64_t sent = 0;
    for (int i = 0; i < WRITERS; i++)
        sent += (int64_t)w[i].next_seq - 1;
    int64_t have = on_hand(c, "wh-a") + on_hand(c, "wh-c");
    st_client_close(c);
    it_daemon_stop(&d);
    st_state_destroy(expect);
    char cmd[128];
    // Snapshots were taken and published (one per worker is kept), and every
    // log segment wholly behind the snapshot was deleted: the second segment,
    // if any, starts after the snapshot's LSN (a slow build may not have
    // filled more than one segment by then, which is fine).
    unsigned long long snap_lsn, first_segment, second_segment;
    cr_assert_eq(count_files(data, "snap-0", ".snap", &snap_lsn), 1, "worker 0 has one snapshot");
    cr_assert_eq(count_files(data, "snap-0", ".tmp", &(unsigned long long){0}), 0);
    cr_assert_gt(count_files2(data, "wal-0", ".seg", &first_segment, &second_segment), 0);
    cr_assert(second_segment == ~0ull || second_segment > snap_lsn,
              "segments behind the snapshot (at %llu) were deleted (second segment %llu)",
              snap_lsn, second_segment);
    cr_assert_leq(first_segment, snap_lsn + 1, "the log still holds what follows the snapshot");
    snprintf(cmd, sizeof cmd, "rm -rf %s", data);
    cr_assert_eq(system(cmd), 0);
    cr_log_info("crash test: %lld events sent over %d kills, %lld on hand", (long long)sent, cycles,
                (long long)have);
    cr_assert_gt(sent, (int64_t)cycles, "the writers made progress between kills");
    cr_assert_eq(have, sent, "every acknowledged event survives, none is applied twice "
                             "(seed %u)", seed);
}

// A flipped bit in the middle of a log (a record followed by good ones) is
// corruption, not a torn tail: the daemon refuses to start and says where;
// --truncate-corrupt lets an operator start anyway, cutting the log there.
Test(crash, corrupt_log_refuses_to_start_and_names_the_place, .timeout = 120)
{
    char data[] = "/tmp/stocktwin-corrupt-XXXXXX";
    cr_assert(mkdtemp(data) != NULL);
    it_daemon d;
    it_daemon_start_data(&d, 2, data, NULL);
    st_client *c = it_client(&d);
    it_setup_network(c);
    st_client_close(c);
    it_daemon_stop(&d);

    char seg[512];
    snprintf(seg, sizeof seg, "%s/wal-0/00000000000000000001.seg", data);
    FILE *f = fopen(seg, "r+b");
    cr_assert(f != NULL, "worker 0's first segment exists: %s", seg);
    cr_assert_eq(fseek(f, 64 + 30, SEEK_SET), 0); // inside the first record
    int byte = fgetc(f);
    cr_assert_eq(fseek(f, 64 + 30, SEEK_SET), 0);
    fputc(byte ^ 0x10, f);
    fclose(f);

    char cmd[1024], log[600];
    snprintf(log, sizeof log, "%s/start.log", data);
    snprintf(cmd, sizeof cmd,
             "%s --rpc tcp://127.0.0.1:%u --ingest tcp://127.0.0.1:%u --feed tcp://127.0.0.1:%u "
             "--workers 2 --quiet --data %s >%s 2>&1",
             it_path("server/stocktwind"), it_free_port(), it_free_port(), it_free_port(), data, log);
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "refuses to start (exit 1), not %d", rc);
    static char out[4096];
    f = fopen(log, "r");
    cr_assert(f != NULL);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    cr_assert(strstr(out, "00000000000000000001.seg") != NULL, "names the file: %s", out);
    cr_assert(strstr(out, "byte offset 64") != NULL && strstr(out, "lsn 1") != NULL,
              "names the offset and LSN: %s", out);
    cr_assert(strstr(out, "--truncate-corrupt") != NULL, "says the way out: %s", out);

    // The operator's way out: cut the log at the damage. Worker 0 loses its
    // log from the first record on; worker 1's is whole.
    it_daemon_start_data(&d, 2, data, "--truncate-corrupt");
    c = it_client(&d);
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_stats(c, &r), 0);
    st_client_response_free(r);
    st_client_close(c);
    it_daemon_stop(&d);
    snprintf(cmd, sizeof cmd, "rm -rf %s", data);
    cr_assert_eq(system(cmd), 0);
}
