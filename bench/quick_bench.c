// quick_bench.c - small measurements beside stocktwin-load (issue 5): how
// fast core applies events in one thread, how many events a second a running
// stocktwind acknowledges through libstocktwin with batches in flight, what
// the client's request encoder costs, and the latency floor this disk puts
// under an acknowledged write. Prints one line of figures per run.
//
//   stocktwin-quickbench core [EVENTS]
//   stocktwin-quickbench scale [EVENTS] [SKUS] [ahead]
//   stocktwin-quickbench rpc URL [SECONDS] [BATCH] [IN_FLIGHT]
//   stocktwin-quickbench encode [BATCHES]
//   stocktwin-quickbench disk DIR [RATE] [SECONDS]
//   stocktwin-quickbench timers [RESERVATIONS]
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/lookahead.h"
#include "core/state.h"
#include "encode.h" // libstocktwin's own request encoder (client/encode.h)
#include "hist.h"
#include "stocktwin.h"

#define WAREHOUSES 45
#define SKUS 1000

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char wh_ids[WAREHOUSES][16];
static char sku_ids[SKUS][16];

static void
make_ids(void)
{
    for (int w = 0; w < WAREHOUSES; w++)
        snprintf(wh_ids[w], sizeof wh_ids[w], "wh-%02d", w);
    for (int s = 0; s < SKUS; s++)
        snprintf(sku_ids[s], sizeof sku_ids[s], "SKU-%05d", s);
}

static st_err
apply(st_state *st, st_event *ev, st_apply_out *out)
{
    st_err err = st_state_apply(st, ev, out);
    if (!st_err_accepted(err)) {
        fprintf(stderr, "setup event refused: %s (%s)\n", st_err_str(err), out->message);
        exit(1);
    }
    return err;
}

// add_products puts `n` products in the catalog.
static void
add_products(st_state *st, st_event *ev, uint64_t *seq, const char (*ids)[16], long n,
             st_apply_out *out)
{
    for (long s = 0; s < n; s++) {
        ev->kind = ST_EV_PRODUCT_UPSERT, ev->seq = ++*seq, ev->warehouse = "";
        ev->u.product_upsert =
            (__typeof__(ev->u.product_upsert)){.sku = ids[s], .reorder_point = 5};
        apply(st, ev, out);
    }
}

// add_warehouse creates warehouse `wh` with storage zones `zones`; *ev is left
// naming the warehouse.
static void
add_warehouse(st_state *st, st_event *ev, uint64_t *seq, const char *wh, const char **zones,
              int nzones, st_apply_out *out)
{
    ev->warehouse = wh;
    ev->kind = ST_EV_WAREHOUSE_UPSERT, ev->seq = ++*seq;
    ev->u.warehouse_upsert = (__typeof__(ev->u.warehouse_upsert)){.name = wh};
    apply(st, ev, out);
    for (int z = 0; z < nzones; z++) {
        ev->kind = ST_EV_ZONE_UPSERT, ev->seq = ++*seq;
        ev->u.zone_upsert =
            (__typeof__(ev->u.zone_upsert)){.zone_id = zones[z], .type = ST_ZONE_STORAGE};
        apply(st, ev, out);
    }
}

// catalog_state makes a state holding the SKUS products, an apply output
// for it, and *ev as the source "bench" at time 1 (*seq counts its events).
static st_state *
catalog_state(st_apply_out **out, st_event *ev, uint64_t *seq)
{
    st_state *st = NULL;
    if (st_state_create(NULL, &st) != ST_OK)
        exit(1);
    *out = calloc(1, sizeof **out);
    *seq = 0;
    *ev = (st_event){.source = "bench", .event_time_ms = 1};
    add_products(st, ev, seq, (const char(*)[16])sku_ids, SKUS, *out);
    return st;
}

static const char *bench_zone[] = {"z"};

// core: a single st_state with 45 warehouses x 1000 skus, then RECEIVE
// movements round-robin over them: the apply path alone, no threads or I/O.
static int
bench_core(long events)
{
    st_apply_out *out;
    st_event ev;
    uint64_t seq;
    st_state *st = catalog_state(&out, &ev, &seq);
    for (int w = 0; w < WAREHOUSES; w++)
        add_warehouse(st, &ev, &seq, wh_ids[w], bench_zone, 1, out);
    double t0 = now_s();
    for (long i = 0; i < events; i++) {
        ev.kind = ST_EV_MOVEMENT;
        ev.seq = ++seq;
        ev.warehouse = wh_ids[i % WAREHOUSES];
        ev.u.movement = (__typeof__(ev.u.movement)){.kind = ST_MOVE_RECEIVE,
                                                    .sku = sku_ids[(i / WAREHOUSES) % SKUS],
                                                    .qty = 1,
                                                    .to_location = "z"};
        apply(st, &ev, out);
    }
    double dt = now_s() - t0;
    printf("core apply: %ld RECEIVE events over %d stock records in %.3f s = %.2f M events/s "
           "(%.0f ns/event, one thread)\n",
           events, WAREHOUSES * SKUS, dt, (double)events / dt / 1e6, dt * 1e9 / (double)events);
    free(out);
    st_state_destroy(st);
    return 0;
}

// scale: one worker's share of the seed case (22 warehouses x SKUS products,
// each stock record in two locations), then movements at random records,
// the way a worker replays its log: core's lookups into a state far larger
// than the caches, no decoding, threads or I/O.
#define SCALE_WAREHOUSES 22

static uint64_t
scale_rand(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static int
bench_scale(long events, long skus, bool ahead)
{
    if (events <= 0 || skus <= 0 || skus > 10000000) {
        fprintf(stderr, "scale: EVENTS and SKUS (at most 10,000,000) must be positive\n");
        return 2;
    }
    char(*ids)[16] = calloc((size_t)skus, sizeof *ids);
    st_state *st = NULL;
    if (ids == NULL || st_state_create(NULL, &st) != ST_OK)
        return 1;
    for (long s = 0; s < skus; s++)
        snprintf(ids[s], sizeof ids[s], "sku-%07ld", s);
    st_apply_out *out = calloc(1, sizeof *out);
    uint64_t seq = 0, rng = 0x9e3779b97f4a7c15ull;
    st_event ev = {.source = "bench", .event_time_ms = 1};
    add_products(st, &ev, &seq, (const char(*)[16])ids, skus, out);
    static const char *zones[] = {"recv", "stor"};
    for (int w = 0; w < SCALE_WAREHOUSES; w++) {
        add_warehouse(st, &ev, &seq, wh_ids[w], zones, 2, out);
        for (long s = 0; s < 2 * skus; s++) {
            ev.kind = ST_EV_MOVEMENT, ev.seq = ++seq;
            ev.u.movement = (__typeof__(ev.u.movement)){.kind = ST_MOVE_RECEIVE,
                                                        .sku = ids[s / 2],
                                                        .qty = 1000,
                                                        .to_location = zones[s & 1]};
            apply(st, &ev, out);
        }
    }
    // The events are made first, so that the lookahead can see ahead.
    st_event *evs = calloc((size_t)events, sizeof *evs);
    if (evs == NULL)
        return 1;
    for (long i = 0; i < events; i++) {
        uint64_t r = scale_rand(&rng);
        evs[i] = ev;
        evs[i].kind = ST_EV_MOVEMENT, evs[i].seq = ++seq;
        evs[i].warehouse = wh_ids[r % SCALE_WAREHOUSES];
        evs[i].u.movement =
            (__typeof__(ev.u.movement)){.kind = ST_MOVE_RELOCATE,
                                        .sku = ids[(r >> 8) % (uint64_t)skus],
                                        .qty = 1,
                                        .from_location = (r >> 60) & 1 ? "recv" : "stor",
                                        .to_location = (r >> 60) & 1 ? "stor" : "recv"};
    }
    st_lookahead la;
    st_lookahead_reset(&la);
    for (long i = 0; ahead && i < (long)ST_LOOKAHEAD - 1 && i < events; i++)
        st_lookahead_push(st, &la, &evs[i]);
    double t0 = now_s();
    for (long i = 0; i < events; i++) {
        if (ahead) {
            long k = i + (long)ST_LOOKAHEAD - 1;
            st_lookahead_push(st, &la, k < events ? &evs[k] : NULL);
        }
        apply(st, &evs[i], out);
    }
    double dt = now_s() - t0;
    printf("core apply at scale%s: %ld RELOCATE events at random over %ld stock records in %.3f s "
           "= %.2f M events/s (%.0f ns/event, one thread)\n",
           ahead ? " with lookahead" : "", events, SCALE_WAREHOUSES * skus, dt,
           (double)events / dt / 1e6, dt * 1e9 / (double)events);
    free(evs);
    free(out);
    free(ids);
    st_state_destroy(st);
    return 0;
}

static atomic_long acked, refused, failed;

static void
done_cb(void *arg, int status, const Stocktwin__Response *resp, const char *error)
{
    (void)arg, (void)error;
    if (status != 0 || resp == NULL) {
        atomic_fetch_add(&failed, 1);
        return;
    }
    for (size_t i = 0; i < resp->n_statuses; i++) {
        if (st_status_accepted(resp->statuses[i]->status))
            atomic_fetch_add(&acked, 1);
        else
            atomic_fetch_add(&refused, 1);
    }
}

static int
send_json(st_client *c, const char *json)
{
    Stocktwin__Event *e = NULL;
    if (st_event_from_json(json, &e) != 0)
        return 1;
    Stocktwin__Response *r = NULL;
    int st = st_client_submit(c, &e, 1, &r);
    int ok = st == 0 && st_status_accepted(r->statuses[0]->status);
    st_client_response_free(r);
    st_event_free(e);
    return ok ? 0 : 1;
}

// rpc: sets up a product and 45 warehouses, then keeps `in_flight` batches
// of `batch` RECEIVE events in flight for `seconds`.
static int
bench_rpc(const char *url, int seconds, int batch, unsigned in_flight)
{
    st_client_opts o = {.max_in_flight = in_flight, .timeout_ms = 30000};
    st_client *c = NULL;
    if (st_client_open(url, &o, &c) != 0) {
        fprintf(stderr, "%s\n", st_client_last_error(NULL));
        return 1;
    }
    char json[1024], src[64];
    snprintf(src, sizeof src, "qb-%d-%ld", (int)getpid(), (long)time(NULL));
    uint64_t seq = 0;
    snprintf(json, sizeof json,
             "{\"source\":\"%s\",\"seq\":%lu,\"product_upsert\":{\"sku\":\"QB\"}}", src,
             (unsigned long)++seq);
    int bad = send_json(c, json);
    for (int w = 0; w < WAREHOUSES && !bad; w++) {
        snprintf(json, sizeof json,
                 "{\"source\":\"%s\",\"seq\":%lu,\"warehouse\":\"%s\","
                 "\"warehouse_upsert\":{}}",
                 src, (unsigned long)++seq, wh_ids[w]);
        bad |= send_json(c, json);
        snprintf(json, sizeof json,
                 "{\"source\":\"%s\",\"seq\":%lu,\"warehouse\":\"%s\","
                 "\"zone_upsert\":{\"zone_id\":\"z\"}}",
                 src, (unsigned long)++seq, wh_ids[w]);
        bad |= send_json(c, json);
    }
    if (bad) {
        fprintf(stderr, "setup failed\n");
        st_client_close(c);
        return 1;
    }
    Stocktwin__Event *evs = calloc((size_t)batch, sizeof *evs);
    Stocktwin__StockMovement mv = STOCKTWIN__STOCK_MOVEMENT__INIT;
    mv.kind = STOCKTWIN__MOVEMENT_KIND__RECEIVE, mv.sku = "QB", mv.qty = 1, mv.to_location = "z";
    Stocktwin__Event **ptrs = calloc((size_t)batch, sizeof *ptrs);
    double t0 = now_s();
    long sent = 0;
    while (now_s() - t0 < seconds) {
        for (int i = 0; i < batch; i++) {
            stocktwin__event__init(&evs[i]);
            evs[i].source = src, evs[i].seq = ++seq, evs[i].event_time_ms = 1;
            evs[i].warehouse = wh_ids[(seq / 64) % WAREHOUSES]; // runs of 64 keep seqs in window
            evs[i].kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT, evs[i].movement = &mv;
            ptrs[i] = &evs[i];
        }
        if (st_client_submit_async(c, ptrs, (size_t)batch, done_cb, NULL) != 0)
            atomic_fetch_add(&failed, 1);
        sent += batch;
    }
    st_client_drain(c);
    double dt = now_s() - t0;
    printf("rpc: %ld events sent, %ld acknowledged, %ld refused, %ld requests failed in %.2f s "
           "= %.0f acknowledged events/s (batch %d, %u in flight)\n",
           sent, atomic_load(&acked), atomic_load(&refused), atomic_load(&failed), dt,
           (double)atomic_load(&acked) / dt, batch, in_flight);
    free(ptrs);
    free(evs);
    st_client_close(c);
    return atomic_load(&failed) != 0;
}

// encode: the client's cost of a request of 1,000 movements like
// stocktwin-load's (RECEIVE and PICK, a source, seq, time, warehouse, sku and
// location each), packed by protobuf-c and by libstocktwin's encoder, each
// `batches` times into a fresh nng message; ns per event, median of 5 passes.
static int
bench_encode(long batches)
{
    enum { BATCH = 1000, PASSES = 5 };
    static Stocktwin__Event ev[BATCH];
    static Stocktwin__Event *ptr[BATCH];
    static Stocktwin__StockMovement mv[BATCH];
    for (int i = 0; i < BATCH; i++) {
        stocktwin__stock_movement__init(&mv[i]);
        mv[i].kind = i % 2 ? STOCKTWIN__MOVEMENT_KIND__PICK : STOCKTWIN__MOVEMENT_KIND__RECEIVE;
        mv[i].sku = sku_ids[(i * 7919) % SKUS], mv[i].qty = 1 + i % 5;
        if (i % 2)
            mv[i].from_location = "shelf-1";
        else
            mv[i].to_location = "shelf-1";
        stocktwin__event__init(&ev[i]);
        ev[i].source = "load-31517-1796557884-c0-s3", ev[i].seq = 1000000 + (uint64_t)i;
        ev[i].event_time_ms = 1796557884123, ev[i].warehouse = wh_ids[i % WAREHOUSES];
        ev[i].kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT, ev[i].movement = &mv[i];
        ptr[i] = &ev[i];
    }
    Stocktwin__EventBatch b = STOCKTWIN__EVENT_BATCH__INIT;
    b.n_events = BATCH, b.events = ptr;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = 1, req.request_id = 1, req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    req.batch = &b;
    double ns[2][PASSES];
    for (int pass = 0; pass < PASSES; pass++) {
        for (int way = 0; way < 2; way++) {
            double t0 = now_s();
            for (long n = 0; n < batches; n++) {
                nng_msg *msg = NULL;
                if (way == 0) {
                    size_t size = stocktwin__request__get_packed_size(&req);
                    if (nng_msg_alloc(&msg, size) != 0 ||
                        stocktwin__request__pack(&req, nng_msg_body(msg)) != size)
                        return 1;
                } else if (st_request_msg(&req, "bench", &msg) != 0) {
                    return 1;
                }
                nng_msg_free(msg);
                req.request_id++;
            }
            ns[way][pass] = (now_s() - t0) * 1e9 / ((double)batches * BATCH);
        }
    }
    for (int way = 0; way < 2; way++)
        for (int i = 1; i < PASSES; i++)
            for (int j = i; j > 0 && ns[way][j] < ns[way][j - 1]; j--) {
                double t = ns[way][j];
                ns[way][j] = ns[way][j - 1], ns[way][j - 1] = t;
            }
    printf("encode: a request of %d movements, %ld per pass, median of %d passes: protobuf-c "
           "%.1f ns/event, libstocktwin %.1f ns/event (%.2fx)\n",
           BATCH, batches, PASSES, ns[0][PASSES / 2], ns[1][PASSES / 2],
           ns[0][PASSES / 2] / ns[1][PASSES / 2]);
    return 0;
}

// disk: the floor under an acknowledged single-event write on this disk. One
// thread appends a 128-byte record and fdatasyncs it, RATE times a second,
// open loop (latency from each write's due time, so a slow sync delays the
// ones behind it as it would a log's), into a 64 MiB preallocated file in DIR
// (as the log's segments are), for SECONDS; prints the percentiles. No
// io_uring, no RPC: whatever this shows, stocktwind --sync fsync cannot beat.
static int
bench_disk(const char *dir, long rate, long seconds)
{
    enum { RECORD = 128, FILE_BYTES = 64 << 20 };
    if (rate < 1 || rate > 100000 || seconds < 1 || seconds > 3600) {
        fprintf(stderr, "disk: RATE 1..100000, SECONDS 1..3600\n");
        return 2;
    }
    char path[4096];
    if (snprintf(path, sizeof path, "%s/quickbench-disk.%d", dir, (int)getpid()) >=
        (int)sizeof path) {
        fprintf(stderr, "disk: %s: path too long\n", dir);
        return 2;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || fallocate(fd, 0, 0, FILE_BYTES) != 0) {
        fprintf(stderr, "disk: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            (void)unlink(path), close(fd);
        return 1;
    }
    static st_hist h;
    st_hist_init(&h);
    uint8_t rec[RECORD];
    memset(rec, 0xa5, sizeof rec);
    long n = rate * seconds;
    off_t off = 0;
    int rc = 0;
    double t0 = now_s();
    for (long i = 0; i < n && rc == 0; i++) {
        double due = t0 + (double)i / (double)rate;
        double now;
        while ((now = now_s()) < due) {
            if (due - now > 200e-6)
                usleep(100);
        }
        if (off + RECORD > FILE_BYTES)
            off = 0;
        if (pwrite(fd, rec, RECORD, off) != RECORD || fdatasync(fd) != 0) {
            fprintf(stderr, "disk: %s: %s\n", path, strerror(errno));
            rc = 1;
        }
        off += RECORD;
        st_hist_record(&h, (uint64_t)((now_s() - due) * 1e6));
    }
    (void)unlink(path);
    close(fd);
    if (rc != 0)
        return rc;
    printf("disk: %s, %ld writes of %d bytes + fdatasync at %ld/s, latency from due time (ms): "
           "p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
           dir, n, RECORD, rate, st_hist_percentile(&h, 50) / 1e3, st_hist_percentile(&h, 90) / 1e3,
           st_hist_percentile(&h, 99) / 1e3, st_hist_percentile(&h, 99.9) / 1e3,
           st_hist_max(&h) / 1e3);
    return 0;
}

// timers: what the clock costs a worker (core/timers.c). One warehouse with
// RESERVATIONS open reservations spread over the SKUS products, none due:
// how long st_state_tick_due takes to say so (a worker asks once a --tick
// for each warehouse), then all of them due: how long a tick takes, and how
// many ticks expire them all.
static int
bench_timers(long n)
{
    if (n < 1) {
        fprintf(stderr, "stocktwin-quickbench timers: RESERVATIONS must be at least 1\n");
        return 2;
    }
    st_apply_out *out;
    st_event ev;
    uint64_t seq;
    st_state *st = catalog_state(&out, &ev, &seq);
    add_warehouse(st, &ev, &seq, wh_ids[0], bench_zone, 1, out);
    for (int s = 0; s < SKUS; s++) {
        ev.kind = ST_EV_MOVEMENT, ev.seq = ++seq;
        ev.u.movement = (__typeof__(ev.u.movement)){
            .kind = ST_MOVE_RECEIVE, .sku = sku_ids[s], .qty = n / SKUS + 1, .to_location = "z"};
        apply(st, &ev, out);
    }
    const int64_t expiry = 1000000;
    for (long i = 0; i < n; i++) {
        char order[24];
        snprintf(order, sizeof order, "o-%ld", i);
        ev.kind = ST_EV_RESERVE, ev.seq = ++seq;
        ev.u.reserve = (__typeof__(ev.u.reserve)){
            .order_id = order, .sku = sku_ids[i % SKUS], .qty = 1, .expires_at_ms = expiry};
        apply(st, &ev, out);
    }
    int rounds = 200;
    bool due = false;
    double t0 = now_s();
    for (int r = 0; r < rounds; r++)
        due |= st_state_tick_due(st, 0, expiry - 1, 300000);
    double check = (now_s() - t0) / rounds;
    if (due)
        return 1;
    st_event tick = {.kind = ST_EV_TICK,
                     .source = ST_TICK_SOURCE,
                     .event_time_ms = expiry,
                     .warehouse = wh_ids[0],
                     .u.tick.device_silent_ms = 300000};
    long ticks = 0;
    t0 = now_s();
    while (st_state_tick_due(st, 0, expiry, 300000)) {
        tick.seq = (uint64_t)++ticks;
        apply(st, &tick, out);
    }
    double all = now_s() - t0;
    printf("timers: %ld open reservations in one warehouse: nothing due said in %.3f ms; "
           "all due: %ld ticks (with their checks) expired them in %.3f s = %.1f us a tick\n",
           n, check * 1e3, ticks, all, all * 1e6 / (double)ticks);
    free(out);
    st_state_destroy(st);
    return 0;
}

int
main(int argc, char **argv)
{
    make_ids();
    if (argc >= 2 && strcmp(argv[1], "core") == 0)
        return bench_core(argc > 2 ? atol(argv[2]) : 5000000);
    if (argc >= 2 && strcmp(argv[1], "scale") == 0)
        return bench_scale(argc > 2 ? atol(argv[2]) : 5000000, argc > 3 ? atol(argv[3]) : 100000,
                           argc > 4 && strcmp(argv[4], "ahead") == 0);
    if (argc >= 3 && strcmp(argv[1], "rpc") == 0)
        return bench_rpc(argv[2], argc > 3 ? atoi(argv[3]) : 5, argc > 4 ? atoi(argv[4]) : 1000,
                         argc > 5 ? (unsigned)atoi(argv[5]) : 8);
    if (argc >= 2 && strcmp(argv[1], "encode") == 0)
        return bench_encode(argc > 2 ? atol(argv[2]) : 2000);
    if (argc >= 3 && strcmp(argv[1], "disk") == 0)
        return bench_disk(argv[2], argc > 3 ? atol(argv[3]) : 1000, argc > 4 ? atol(argv[4]) : 10);
    if (argc >= 2 && strcmp(argv[1], "timers") == 0)
        return bench_timers(argc > 2 ? atol(argv[2]) : 1000000);
    fprintf(stderr, "usage: stocktwin-quickbench core [EVENTS]\n"
                    "       stocktwin-quickbench scale [EVENTS] [SKUS] [ahead]\n"
                    "       stocktwin-quickbench rpc URL [SECONDS] [BATCH] [IN_FLIGHT]\n"
                    "       stocktwin-quickbench encode [BATCHES]\n"
                    "       stocktwin-quickbench disk DIR [RATE] [SECONDS]\n"
                    "       stocktwin-quickbench timers [RESERVATIONS]\n");
    return 2;
}
