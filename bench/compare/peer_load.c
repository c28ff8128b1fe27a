// peer_load.c - stocktwin-peer-load: flags, the phases of a run, the update
// stream, the accounting of requests, verification and the report. See
// peer_load.h for the modules and `stocktwin-peer-load --help` for what it
// does.
//
// The update stream is stocktwin-load's `--mix moves=100` (its default), draw
// for draw: per connection the same xorshift64* seeded the same way
// (load_gen.c's conn_init), and per update the same five draws in the same
// order (load_gen.c's draw_ops): a percentage (unused here, as there), a
// warehouse, a sku, a quantity of 1..5 and one of ten movement kinds: 4 in 10
// RECEIVE (+qty), 4 in 10 PICK (-qty), 2 in 10 RELOCATE between the record's
// two bins. The peers keep one on-hand number per record, as the issue's
// table does, so a RELOCATE is an update by 0: it still costs the peer a
// write, a log record and a reply, as it costs stocktwind an event.
//
// Exit status: 0 done and verified, 1 a failure (could not connect, setup
// failed, a mismatch), 2 bad flags.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "peer_load.h"

#define ERRORS_SHOWN 5u

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: stocktwin-peer-load --target redis|postgres [flags]\n"
            "\n"
            "Drives Redis or PostgreSQL with the workload stocktwin-load drives stocktwind\n"
            "with (closed loop, same update stream, same histogram, same --json shape), for\n"
            "the peer comparison (bench/compare/run.sh):\n"
            "  redis     one hash per warehouse (key wh-NN, field SKU-NNNNNN, value the on\n"
            "            hand); an update is HINCRBY; a request of B updates is B pipelined\n"
            "            commands\n"
            "  postgres  table stock(warehouse text, sku text, on_hand bigint, primary key\n"
            "            (warehouse, sku)), loaded with COPY; an update is a prepared UPDATE\n"
            "            ... SET on_hand = on_hand + $1; a request of B updates is one\n"
            "            transaction of B updates sent in libpq's pipeline mode and\n"
            "            committed by its Sync\n"
            "\n"
            "  --target T          redis or postgres (required)\n"
            "  --host H            server address [127.0.0.1]\n"
            "  --port P            server port [6379 / 5432]\n"
            "  --dbname D --user U postgres: database and user [postgres, postgres]\n"
            "  --connections N     connections, each with its own thread, 1..%u [4]\n"
            "  --depth D           requests in flight per connection, 1..%u [8]\n"
            "  --batch B           updates per request, 1..%u [1000]\n"
            "  --duration SECONDS  length of the measured run [10]\n"
            "  --warehouses W      warehouses wh-00.., 1..%u [45]\n"
            "  --skus S            skus SKU-000000.., 1..%u [100000]\n"
            "  --initial-qty Q     on hand of every record after setup [2000: stocktwin-load\n"
            "                      puts 1000 into each of two bins]\n"
            "  --setup             load the records (the default; see --no-setup)\n"
            "  --setup-only        load the records, then exit\n"
            "  --no-setup          use the records an earlier --setup-only loaded\n"
            "  --seed N            seed of the update stream and the sample [1]\n"
            "  --verify-skus N     after the run compare N sampled skus in every warehouse\n"
            "                      with what the confirmed updates imply [200]\n"
            "  --no-verify         skip that\n"
            "  --json              the final report as one JSON object on stdout (the text\n"
            "                      report then goes to stderr)\n"
            "  --help              show this and exit\n"
            "Exit status: 0 done and verified, 1 failure or mismatch, 2 bad flags.\n",
            PEER_CONNECTIONS_MAX, PEER_DEPTH_MAX, PEER_BATCH_MAX, PEER_WAREHOUSES_MAX,
            PEER_SKUS_MAX);
}

// ---------------------------------------------------------------------------
// The stream

int64_t
peer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// xorshift64*, exactly load.c's load_rand (which cannot be linked: load.c
// holds stocktwin-load's main).
static uint64_t
peer_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t
peer_stream_seed(const peer_run *r, uint32_t index)
{
    return r->o.seed * 0x9E3779B97F4A7C15ull + index + 1;
}

peer_update
peer_next_update(const peer_run *r, uint64_t *rng)
{
    // load_gen.c's draw_ops with the mix moves=100, draw for draw. Its table
    // of kinds: RECEIVE x2, RECEIVE into stor x2, PICK x2, PICK from recv x2,
    // RELOCATE x2.
    static const int8_t sign[10] = {1, 1, 1, 1, -1, -1, -1, -1, 0, 0};
    (void)peer_rand(rng); // the mix percentage: always a move here
    uint32_t wh = (uint32_t)(peer_rand(rng) % r->o.warehouses);
    uint32_t sku = (uint32_t)(peer_rand(rng) % r->o.skus);
    int32_t qty = (int32_t)(1 + peer_rand(rng) % 5);
    unsigned y = (unsigned)(peer_rand(rng) % 10);
    peer_update u = {.key = wh * r->o.skus + sku, .delta = sign[y] * qty};
    PEER_ASSERT(u.key < r->keys);
    return u;
}

// ---------------------------------------------------------------------------
// Accounting (connection threads)

void
peer_request_done(peer_run *r, const peer_update *u, uint32_t n, bool ok, int64_t sent_ns)
{
    int64_t lat_ns = peer_now_ns() - sent_ns;
    st_hist_record(&r->batch_lat, lat_ns > 0 ? (uint64_t)(lat_ns / 1000) : 0);
    atomic_fetch_add_explicit(&r->run.requests_done, 1, memory_order_relaxed);
    if (ok) {
        for (uint32_t i = 0; i < n; i++) {
            if (u[i].delta != 0)
                atomic_fetch_add_explicit(&r->net[u[i].key], u[i].delta, memory_order_relaxed);
        }
        atomic_fetch_add_explicit(&r->run.events_ok, n, memory_order_relaxed);
    } else {
        // All or nothing for PostgreSQL (one transaction); for Redis a failed
        // request may have applied some of its updates: either way the keys
        // are left out of the comparison.
        for (uint32_t i = 0; i < n; i++)
            atomic_store_explicit(&r->unsure[u[i].key], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->run.events_failed, n, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->run.requests_failed, 1, memory_order_relaxed);
    }
}

void
peer_error(peer_run *r, const char *fmt, ...)
{
    static _Atomic unsigned shown;
    char msg[PEER_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->err_mu);
    memcpy(r->last_error, msg, sizeof msg);
    pthread_mutex_unlock(&r->err_mu);
    if (atomic_fetch_add(&shown, 1) < ERRORS_SHOWN)
        fprintf(stderr, "stocktwin-peer-load: %s\n", msg);
}

void
peer_progress(const char *what, uint64_t done, uint64_t total, int64_t t0_ns, int64_t *last_ns)
{
    int64_t now = peer_now_ns();
    if (now - *last_ns < 1000000000 && done < total)
        return;
    *last_ns = now;
    double s = (double)(now - t0_ns) / 1e9;
    fprintf(stderr, "setup: %s %llu/%llu records (%.0f k/s)\n", what, (unsigned long long)done,
            (unsigned long long)total, s > 0 ? (double)done / s / 1e3 : 0.0);
}

// ---------------------------------------------------------------------------
// Flags

static bool
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

enum {
    F_TARGET = 256,
    F_HOST,
    F_PORT,
    F_DBNAME,
    F_USER,
    F_CONN,
    F_DEPTH,
    F_BATCH,
    F_DURATION,
    F_WH,
    F_SKUS,
    F_QTY,
    F_SETUP,
    F_SETUP_ONLY,
    F_NO_SETUP,
    F_SEED,
    F_VSKUS,
    F_NOVERIFY,
    F_JSON,
    F_HELP,
};

static const struct option long_opts[] = {
    {"target", required_argument, 0, F_TARGET},
    {"host", required_argument, 0, F_HOST},
    {"port", required_argument, 0, F_PORT},
    {"dbname", required_argument, 0, F_DBNAME},
    {"user", required_argument, 0, F_USER},
    {"connections", required_argument, 0, F_CONN},
    {"depth", required_argument, 0, F_DEPTH},
    {"batch", required_argument, 0, F_BATCH},
    {"duration", required_argument, 0, F_DURATION},
    {"warehouses", required_argument, 0, F_WH},
    {"skus", required_argument, 0, F_SKUS},
    {"initial-qty", required_argument, 0, F_QTY},
    {"setup", no_argument, 0, F_SETUP},
    {"setup-only", no_argument, 0, F_SETUP_ONLY},
    {"no-setup", no_argument, 0, F_NO_SETUP},
    {"seed", required_argument, 0, F_SEED},
    {"verify-skus", required_argument, 0, F_VSKUS},
    {"no-verify", no_argument, 0, F_NOVERIFY},
    {"json", no_argument, 0, F_JSON},
    {"help", no_argument, 0, F_HELP},
    {0, 0, 0, 0},
};

// One flag; false when its value is bad.
static bool
parse_flag(int f, const char *arg, peer_opts *o, bool *target_set)
{
    uint64_t v = 0;
    bool ok = true;
    switch (f) {
    case F_TARGET:
        ok = strcmp(arg, "redis") == 0 || strcmp(arg, "postgres") == 0;
        o->target = strcmp(arg, "redis") == 0 ? PEER_REDIS : PEER_POSTGRES, *target_set = ok;
        break;
    case F_HOST:
        o->host = arg;
        break;
    case F_PORT:
        ok = parse_u64(arg, 1, 65535, &v), o->port = (int)v;
        break;
    case F_DBNAME:
        o->dbname = arg;
        break;
    case F_USER:
        o->user = arg;
        break;
    case F_CONN:
        ok = parse_u64(arg, 1, PEER_CONNECTIONS_MAX, &v), o->connections = (unsigned)v;
        break;
    case F_DEPTH:
        ok = parse_u64(arg, 1, PEER_DEPTH_MAX, &v), o->depth = (unsigned)v;
        break;
    case F_BATCH:
        ok = parse_u64(arg, 1, PEER_BATCH_MAX, &v), o->batch = (unsigned)v;
        break;
    case F_DURATION: {
        char *end;
        errno = 0;
        o->duration_s = strtod(arg, &end);
        ok = !errno && end != arg && !*end && o->duration_s >= 0.1 && o->duration_s <= 86400;
        break;
    }
    case F_WH:
        ok = parse_u64(arg, 1, PEER_WAREHOUSES_MAX, &v), o->warehouses = (unsigned)v;
        break;
    case F_SKUS:
        ok = parse_u64(arg, 1, PEER_SKUS_MAX, &v), o->skus = (unsigned)v;
        break;
    case F_QTY:
        ok = parse_u64(arg, 1, 1000000000, &v), o->initial_qty = (int64_t)v;
        break;
    case F_SETUP:
        break;
    case F_SETUP_ONLY:
        o->setup_only = true;
        break;
    case F_NO_SETUP:
        o->no_setup = true;
        break;
    case F_SEED:
        ok = parse_u64(arg, 0, UINT64_MAX, &o->seed);
        break;
    case F_VSKUS:
        ok = parse_u64(arg, 1, PEER_SKUS_MAX, &v), o->verify_skus = (unsigned)v;
        break;
    case F_NOVERIFY:
        o->no_verify = true;
        break;
    case F_JSON:
        o->json = true;
        break;
    default:
        ok = false;
    }
    return ok;
}

// Returns 0 to go on, 1 when --help was printed (exit 0), 2 on a bad flag.
static int
parse_flags(int argc, char **argv, peer_opts *o)
{
    *o = (peer_opts){.host = "127.0.0.1",
                     .dbname = "postgres",
                     .user = "postgres",
                     .connections = 4,
                     .depth = 8,
                     .batch = 1000,
                     .warehouses = 45,
                     .skus = 100000,
                     .duration_s = 10,
                     .seed = 1,
                     .initial_qty = 2000,
                     .verify_skus = 200};
    bool target_set = false;
    int f;
    opterr = 0;
    while ((f = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (f == F_HELP) {
            usage(stdout);
            return 1;
        }
        if (f == '?' || !parse_flag(f, optarg, o, &target_set)) {
            fprintf(stderr, "stocktwin-peer-load: bad flag or value: %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc || !target_set || (o->setup_only && o->no_setup)) {
        fprintf(stderr, "stocktwin-peer-load: %s (see --help)\n",
                optind < argc ? "unexpected argument"
                : !target_set ? "--target redis|postgres is required"
                              : "--setup-only and --no-setup exclude each other");
        return 2;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// The run

static const peer_ops *
ops_of(const peer_run *r)
{
    return r->o.target == PEER_REDIS ? &peer_redis_ops : &peer_postgres_ops;
}

static int
run_init(peer_run *r)
{
    snprintf(r->run_id, sizeof r->run_id, "peer-%s-%d-%ld", ops_of(r)->name, (int)getpid(),
             (long)time(NULL));
    if (r->o.port == 0)
        r->o.port = ops_of(r)->default_port;
    r->keys = (uint64_t)r->o.warehouses * r->o.skus;
    r->wh_ids = calloc(r->o.warehouses, sizeof *r->wh_ids);
    r->sku_ids = calloc(r->o.skus, sizeof *r->sku_ids);
    r->net = calloc(r->keys, sizeof *r->net);
    r->unsure = calloc(r->keys, sizeof *r->unsure);
    if (!r->wh_ids || !r->sku_ids || !r->net || !r->unsure) {
        fprintf(stderr, "stocktwin-peer-load: out of memory\n");
        return 1;
    }
    for (uint32_t w = 0; w < r->o.warehouses; w++)
        snprintf(r->wh_ids[w], sizeof r->wh_ids[w], "wh-%02u", w % 100); // w < 100
    for (uint32_t s = 0; s < r->o.skus; s++)
        snprintf(r->sku_ids[s], sizeof r->sku_ids[s], "SKU-%06u", s % 1000000); // s < 10^6
    st_hist_init(&r->batch_lat);
    pthread_mutex_init(&r->err_mu, NULL);
    return 0;
}

static void
run_free(peer_run *r)
{
    free(r->wh_ids);
    free(r->sku_ids);
    free(r->net);
    free(r->unsure);
    free(r->verify_skus);
    free(r->before);
    pthread_mutex_destroy(&r->err_mu);
}

typedef struct conn_thread {
    peer_run *r;
    uint32_t index;
    pthread_t thread;
    int rc;
} conn_thread;

static void *
conn_main(void *arg)
{
    conn_thread *t = arg;
    t->rc = ops_of(t->r)->run_conn(t->r, t->index);
    return NULL;
}

static void
progress_line(peer_run *r, double t, uint64_t *last_events)
{
    uint64_t ev = atomic_load(&r->run.events_ok) + atomic_load(&r->run.events_failed);
    fprintf(stderr, "[%5.1fs] %9.0f ev/s (avg %9.0f)  %6.0f req/s  p99 %7.2f ms  failed req %llu\n",
            t, (double)(ev - *last_events), ev / t, atomic_load(&r->run.requests_done) / t,
            st_hist_percentile(&r->batch_lat, 99) / 1e3,
            (unsigned long long)atomic_load(&r->run.requests_failed));
    *last_events = ev;
}

// The measured run: a thread per connection, a progress line a second, then
// stop and wait for every request in flight. Returns 0, or 1 when a
// connection could not run at all.
static int
measure(peer_run *r)
{
    conn_thread *th = calloc(r->o.connections, sizeof *th);
    if (!th)
        return 1;
    r->t0_ns = peer_now_ns();
    uint32_t started = 0;
    for (; started < r->o.connections; started++) {
        th[started] = (conn_thread){.r = r, .index = started};
        if (pthread_create(&th[started].thread, NULL, conn_main, &th[started]) != 0)
            break;
    }
    uint64_t last_events = 0;
    for (int sec = 1; started == r->o.connections && sec <= (int)ceil(r->o.duration_s); sec++) {
        double until = fmin((double)sec, r->o.duration_s);
        int64_t due = r->t0_ns + (int64_t)(until * 1e9);
        while (peer_now_ns() < due)
            usleep((useconds_t)((due - peer_now_ns()) / 1000 + 1));
        progress_line(r, until, &last_events);
    }
    atomic_store(&r->stop, true);
    int rc = started == r->o.connections ? 0 : 1;
    for (uint32_t i = 0; i < started; i++) {
        pthread_join(th[i].thread, NULL);
        rc |= th[i].rc;
    }
    r->run_s = (double)(peer_now_ns() - r->t0_ns) / 1e9;
    free(th);
    return rc;
}

// ---------------------------------------------------------------------------
// Verification: stocktwin-load's (load_verify.c), over the target's fetch.

static int
verify_before(peer_run *r)
{
    uint32_t S = r->o.skus;
    r->verify_n = r->o.verify_skus >= S ? S : r->o.verify_skus;
    r->verify_skus = calloc(S, sizeof *r->verify_skus);
    r->before = calloc((size_t)r->verify_n * r->o.warehouses, sizeof *r->before);
    if (!r->verify_skus || !r->before)
        return 1;
    for (uint32_t i = 0; i < S; i++)
        r->verify_skus[i] = i;
    uint64_t rng = r->o.seed ^ 0xC0FFEEull;
    for (uint32_t i = 0; i < r->verify_n; i++) { // partial Fisher-Yates
        uint32_t j = i + (uint32_t)(peer_rand(&rng) % (S - i));
        uint32_t t = r->verify_skus[i];
        r->verify_skus[i] = r->verify_skus[j], r->verify_skus[j] = t;
    }
    return ops_of(r)->fetch(r, r->before);
}

static int
verify_after(peer_run *r)
{
    uint32_t W = r->o.warehouses, S = r->o.skus;
    size_t n = (size_t)r->verify_n * W;
    int64_t *after = calloc(n, sizeof *after);
    if (!after || ops_of(r)->fetch(r, after) != 0) {
        free(after);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t sku = r->verify_skus[i / W], w = (uint32_t)(i % W);
        uint64_t key = (uint64_t)w * S + sku;
        if (atomic_load(&r->unsure[key])) {
            r->skipped_unsure++;
        } else if (r->before[i] < 0 || after[i] < 0) {
            r->missing++;
        } else {
            int64_t net = atomic_load(&r->net[key]);
            r->verified++;
            if (after[i] != r->before[i] + net && r->mismatches++ < 10)
                fprintf(stderr, "stocktwin-peer-load: MISMATCH %s %s: %lld, expected %lld\n",
                        r->wh_ids[w], r->sku_ids[sku], (long long)after[i],
                        (long long)(r->before[i] + net));
        }
    }
    free(after);
    return 0;
}

// ---------------------------------------------------------------------------
// The report

static void
report_text(FILE *f, peer_run *r)
{
    const peer_counts *k = &r->run;
    uint64_t ok = atomic_load(&k->events_ok), failed = atomic_load(&k->events_failed);
    const st_hist *h = &r->batch_lat;
    fprintf(f, "stocktwin-peer-load %s: %s:%d, %u connections x depth %u, batch %u, closed loop\n",
            r->run_id, r->o.host, r->o.port, r->o.connections, r->o.depth, r->o.batch);
    fprintf(f, "  mix moves=100; %u warehouses x %u skus\n", r->o.warehouses, r->o.skus);
    fprintf(f, "  server: %s, %s, %llu records\n", r->server, r->sync,
            (unsigned long long)r->records);
    if (r->setup_s > 0)
        fprintf(f, "  setup: %.2f s\n", r->setup_s);
    fprintf(f,
            "  run: %.2f s, %llu events answered = %.0f events/s, %llu applied = %.0f "
            "events/s; %.1f requests/s\n",
            r->run_s, (unsigned long long)(ok + failed), (ok + failed) / r->run_s,
            (unsigned long long)ok, ok / r->run_s, atomic_load(&k->requests_done) / r->run_s);
    fprintf(f,
            "  batch latency (ms, %llu requests): p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max "
            "%.3f  mean %.3f\n",
            (unsigned long long)st_hist_count(h), st_hist_percentile(h, 50) / 1e3,
            st_hist_percentile(h, 90) / 1e3, st_hist_percentile(h, 99) / 1e3,
            st_hist_percentile(h, 99.9) / 1e3, st_hist_max(h) / 1e3, st_hist_mean(h) / 1e3);
    fprintf(f, "  failed requests: %llu (%llu events)%s%s\n",
            (unsigned long long)atomic_load(&k->requests_failed), (unsigned long long)failed,
            r->last_error[0] ? "; last error: " : "", r->last_error);
    if (r->o.no_verify)
        fprintf(f, "  verify: skipped\n");
    else
        fprintf(f,
                "  verify: %llu (warehouse, sku) compared, %llu mismatches, %llu skipped "
                "(failed request), %llu missing\n",
                (unsigned long long)r->verified, (unsigned long long)r->mismatches,
                (unsigned long long)r->skipped_unsure, (unsigned long long)r->missing);
}

static void
json_hist(FILE *f, const char *name, const st_hist *h)
{
    fprintf(f,
            "\"%s\":{\"count\":%llu,\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,"
            "\"p999_us\":%llu,\"max_us\":%llu,\"mean_us\":%.1f}",
            name, (unsigned long long)st_hist_count(h),
            (unsigned long long)st_hist_percentile(h, 50),
            (unsigned long long)st_hist_percentile(h, 90),
            (unsigned long long)st_hist_percentile(h, 99),
            (unsigned long long)st_hist_percentile(h, 99.9), (unsigned long long)st_hist_max(h),
            st_hist_mean(h));
}

// The same keys as stocktwin-load's --json (load.c's report_json), so one
// script reads both; "daemon" describes the peer, "target" names it.
static void
report_json(FILE *f, peer_run *r)
{
    const peer_counts *k = &r->run;
    uint64_t ok = atomic_load(&k->events_ok), failed = atomic_load(&k->events_failed);
    uint64_t req = atomic_load(&k->requests_done);
    fprintf(f,
            "{\"run_id\":\"%s\",\"target\":\"%s\",\"url\":\"%s:%d\",\"connections\":%u,"
            "\"depth\":%u,\"batch\":%u,\"rate\":0,\"duration_s\":%.3f,\"warehouses\":%u,"
            "\"skus\":%u,\"seed\":%llu,\"mix\":{\"moves\":100,\"rfid\":0,\"weight\":0,"
            "\"reserve\":0,\"query\":0},",
            r->run_id, ops_of(r)->name, r->o.host, r->o.port, r->o.connections, r->o.depth,
            r->o.batch, r->o.duration_s, r->o.warehouses, r->o.skus, (unsigned long long)r->o.seed);
    fprintf(f, "\"daemon\":{\"server\":\"%s\",\"sync\":\"%s\",\"stock_records\":%llu},", r->server,
            r->sync, (unsigned long long)r->records);
    fprintf(f,
            "\"setup_s\":%.3f,\"run_s\":%.3f,\"events\":%llu,\"events_per_s\":%.1f,"
            "\"events_applied\":%llu,\"applied_per_s\":%.1f,\"requests\":%llu,"
            "\"requests_per_s\":%.1f,\"latency\":{",
            r->setup_s, r->run_s, (unsigned long long)(ok + failed), (ok + failed) / r->run_s,
            (unsigned long long)ok, ok / r->run_s, (unsigned long long)req, req / r->run_s);
    json_hist(f, "batch", &r->batch_lat);
    fprintf(f,
            "},\"batches_failed\":%llu,\"events_lost\":%llu,\"verify\":{\"done\":%s,"
            "\"compared\":%llu,\"mismatches\":%llu,\"skipped_no_reply\":%llu,\"missing\":%llu}}\n",
            (unsigned long long)atomic_load(&k->requests_failed), (unsigned long long)failed,
            r->o.no_verify ? "false" : "true", (unsigned long long)r->verified,
            (unsigned long long)r->mismatches, (unsigned long long)r->skipped_unsure,
            (unsigned long long)r->missing);
}

// ---------------------------------------------------------------------------

// Setup, verification before, the run, verification after. Returns 0 or 1.
static int
run_phases(peer_run *r)
{
    if (!r->o.no_setup) {
        int64_t t0 = peer_now_ns();
        fprintf(stderr, "setup: %u warehouses x %u skus into %s\n", r->o.warehouses, r->o.skus,
                ops_of(r)->name);
        if (ops_of(r)->setup(r) != 0)
            return 1;
        r->setup_s = (double)(peer_now_ns() - t0) / 1e9;
        fprintf(stderr, "setup: done in %.1f s\n", r->setup_s);
    }
    if (r->o.setup_only)
        return 0;
    if (!r->o.no_verify && verify_before(r) != 0)
        return 1;
    if (measure(r) != 0)
        return 1;
    return !r->o.no_verify && verify_after(r) != 0;
}

int
main(int argc, char **argv)
{
    static peer_run run; // large (the histogram); zeroed
    peer_run *r = &run;
    int rc = parse_flags(argc, argv, &r->o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (run_init(r) != 0) {
        run_free(r);
        return 1;
    }
    rc = run_phases(r);
    if (rc == 0 && ops_of(r)->describe(r) != 0)
        rc = 1;
    if (rc == 0 && r->o.setup_only) {
        printf("setup of %s done in %.2f s: %llu records in %s\n", r->run_id, r->setup_s,
               (unsigned long long)r->records, r->server);
    } else if (rc == 0) {
        report_text(r->o.json ? stderr : stdout, r);
        if (r->o.json)
            report_json(stdout, r);
        rc = r->mismatches > 0 || r->missing > 0;
    }
    run_free(r);
    return rc;
}
