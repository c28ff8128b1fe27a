// load.c - stocktwin-load: flags, the phases of a run, progress lines and the
// final report. See load.h for the modules and `stocktwin-load --help` for
// what it does.
//
// Exit status: 0 done and verified, 1 a failure (could not connect, setup
// refused, verification found mismatches or could not run), 2 bad flags.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

static const char *const mix_names[MIX_N] = {"moves", "rfid", "weight", "reserve", "query"};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: stocktwin-load [flags]\n"
            "\n"
            "Drives a running stocktwind through libstocktwin (RPC door): sets up its own\n"
            "catalog, warehouses and stock, sends batches of events for --duration seconds,\n"
            "prints throughput, latency percentiles and per-event status counts, then checks\n"
            "that the daemon's on-hand equals what the accepted events imply.\n"
            "\n"
            "Connection and load shape:\n"
            "  --url URL           the daemon's RPC door [" ST_CLIENT_DEFAULT_URL "]\n"
            "  --connections N     client handles (nng sockets), each with its own thread,\n"
            "                      1..%u [4]\n"
            "  --depth D           requests in flight per connection, 1..%u [8; 64 with\n"
            "                      --rate]. connections x depth must not exceed the daemon's\n"
            "                      --contexts (256 by default)\n"
            "  --batch B           events per request, 1..%u [1000]\n"
            "  --rate R            open loop: R events/s in total, requests of B events due\n"
            "                      at fixed intervals from the start; latency is measured\n"
            "                      from each request's due time, not from when it left, so\n"
            "                      a stalled daemon shows in the percentiles (no coordinated\n"
            "                      omission). Without it: closed loop, each connection keeps\n"
            "                      D requests in flight and latency runs from the send\n"
            "  --duration SECONDS  length of the measured run [10]\n"
            "  --timeout-ms MS     per request: no reply by then = a failed request [30000]\n"
            "\n"
            "Event mix (percentages of operations, summing to 100) [moves=100]:\n"
            "  --mix moves=70,rfid=10,weight=5,reserve=10,query=5\n"
            "      moves    stock movements of a random (warehouse, sku): 40%% RECEIVE, 40%%\n"
            "               PICK (each half into / out of recv, half stor), 20%% RELOCATE\n"
            "               (half recv -> stor, half back): no zone drifts on average\n"
            "      rfid     RFID scans of one tag (inbound into recv / outbound), from a\n"
            "               reader registered for the run\n"
            "      weight   constant readings of shelf-1 from a registered scale (ledger\n"
            "               mode, no alerts)\n"
            "      reserve  a reserve followed by the release of the same order: two events\n"
            "      query    not an event: a request of its own, alternately a SkuQuery (one\n"
            "               sku across every warehouse) and a 100-line inventory page;\n"
            "               counted and timed separately from batches. query=5 with\n"
"               --batch 1000 is about 53 query requests per batch request\n"
            "  Quantities are 1..5 units.\n"
            "\n"
            "Scale and setup:\n"
            "  --warehouses W      warehouses wh-00.., 1..%u [45]\n"
            "  --skus S            products SKU-000000.., 1..%u [100000]\n"
            "                      (the seed case: 45 x 100000 = 4.5 M stock records)\n"
            "  --initial-qty Q     setup RECEIVEs Q units of every (warehouse, sku) into\n"
            "                      stor and Q into recv [1000]\n"
            "  --setup-only        set up, then exit (no measured run)\n"
            "  --no-setup          skip catalog, warehouses and initial stock (an earlier\n"
            "                      --setup-only made them); the run's own devices are\n"
            "                      always registered\n"
            "  --seed N            random seed of the mix and the verification sample [1]\n"
            "\n"
            "Verification (after the run; nobody else may write to these warehouses):\n"
            "  --verify-skus N     compare N random skus in every warehouse [200]\n"
            "  --verify-all        compare every (warehouse, sku), read as inventory pages\n"
            "  --no-verify         skip it\n"
            "\n"
            "Output:\n"
            "  --json              print the final report as one JSON object on stdout\n"
            "                      (the text report then goes to stderr)\n"
            "  --help              show this and exit\n"
            "\n"
            "A progress line goes to stderr every second. Each in-flight slot is its own\n"
            "event source (load-<pid>-<time>-c<conn>s<slot>), so reruns never collide.\n"
            "Events answered BUSY (a worker's queue was full; not applied) are counted and\n"
            "sent again with new seqs in the connection's next request.\n"
            "Exit status: 0 done and verified, 1 failure or mismatch, 2 bad flags.\n",
            LOAD_CONNECTIONS_MAX, LOAD_DEPTH_MAX, ST_CLIENT_BATCH_MAX, LOAD_WAREHOUSES_MAX,
            LOAD_SKUS_MAX);
}

uint64_t
load_rand(uint64_t *state)
{
    // xorshift64*: fast, and good enough for choosing keys.
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
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

static bool
parse_mix(const char *s, unsigned mix[MIX_N])
{
    unsigned sum = 0;
    memset(mix, 0, MIX_N * sizeof mix[0]);
    char buf[256];
    if (strlen(s) >= sizeof buf)
        return false;
    strcpy(buf, s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        uint64_t v;
        if (!eq || !parse_u64(eq + 1, 0, 100, &v))
            return false;
        *eq = '\0';
        int k = 0;
        while (k < MIX_N && strcmp(tok, mix_names[k]) != 0)
            k++;
        if (k == MIX_N)
            return false;
        mix[k] = (unsigned)v;
        sum += (unsigned)v;
    }
    return sum == 100 && mix[MIX_QUERY] < 100;
}

enum {
    F_URL = 256,
    F_CONN,
    F_DEPTH,
    F_BATCH,
    F_RATE,
    F_MIX,
    F_WH,
    F_SKUS,
    F_DURATION,
    F_SEED,
    F_QTY,
    F_VSKUS,
    F_VALL,
    F_NOVERIFY,
    F_TIMEOUT,
    F_SETUP_ONLY,
    F_NO_SETUP,
    F_JSON,
    F_HELP,
};

static const struct option long_opts[] = {
    {"url", required_argument, 0, F_URL},
    {"connections", required_argument, 0, F_CONN},
    {"depth", required_argument, 0, F_DEPTH},
    {"batch", required_argument, 0, F_BATCH},
    {"rate", required_argument, 0, F_RATE},
    {"mix", required_argument, 0, F_MIX},
    {"warehouses", required_argument, 0, F_WH},
    {"skus", required_argument, 0, F_SKUS},
    {"duration", required_argument, 0, F_DURATION},
    {"seed", required_argument, 0, F_SEED},
    {"initial-qty", required_argument, 0, F_QTY},
    {"verify-skus", required_argument, 0, F_VSKUS},
    {"verify-all", no_argument, 0, F_VALL},
    {"no-verify", no_argument, 0, F_NOVERIFY},
    {"timeout-ms", required_argument, 0, F_TIMEOUT},
    {"setup-only", no_argument, 0, F_SETUP_ONLY},
    {"no-setup", no_argument, 0, F_NO_SETUP},
    {"json", no_argument, 0, F_JSON},
    {"help", no_argument, 0, F_HELP},
    {0, 0, 0, 0},
};

static bool
parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

// One flag; false when its value is bad.
static bool
parse_flag(int f, const char *arg, load_opts *o, bool *depth_set)
{
    uint64_t v = 0;
    bool ok = true;
    switch (f) {
    case F_URL:
        o->url = arg;
        break;
    case F_CONN:
        ok = parse_u64(arg, 1, LOAD_CONNECTIONS_MAX, &v), o->connections = (unsigned)v;
        break;
    case F_DEPTH:
        ok = parse_u64(arg, 1, LOAD_DEPTH_MAX, &v), o->depth = (unsigned)v, *depth_set = true;
        break;
    case F_BATCH:
        ok = parse_u64(arg, 1, ST_CLIENT_BATCH_MAX, &v), o->batch = (unsigned)v;
        break;
    case F_RATE:
        ok = parse_double(arg, 1, 1e9, &o->rate);
        break;
    case F_MIX:
        ok = parse_mix(arg, o->mix);
        break;
    case F_WH:
        ok = parse_u64(arg, 1, LOAD_WAREHOUSES_MAX, &v), o->warehouses = (unsigned)v;
        break;
    case F_SKUS:
        ok = parse_u64(arg, 1, LOAD_SKUS_MAX, &v), o->skus = (unsigned)v;
        break;
    case F_DURATION:
        ok = parse_double(arg, 0.1, 86400, &o->duration_s);
        break;
    case F_SEED:
        ok = parse_u64(arg, 0, UINT64_MAX, &o->seed);
        break;
    case F_QTY:
        ok = parse_u64(arg, 1, 1000000000, &v), o->initial_qty = (int64_t)v;
        break;
    case F_VSKUS:
        ok = parse_u64(arg, 1, LOAD_SKUS_MAX, &v), o->verify_skus = (unsigned)v;
        break;
    case F_VALL:
        o->verify_all = true;
        break;
    case F_NOVERIFY:
        o->no_verify = true;
        break;
    case F_TIMEOUT:
        ok = parse_u64(arg, 1, 3600000, &v), o->timeout_ms = (int)v;
        break;
    case F_SETUP_ONLY:
        o->setup_only = true;
        break;
    case F_NO_SETUP:
        o->no_setup = true;
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
parse_flags(int argc, char **argv, load_opts *o)
{
    *o = (load_opts){.url = ST_CLIENT_DEFAULT_URL,
                     .connections = 4,
                     .depth = 8,
                     .batch = 1000,
                     .mix = {[MIX_MOVES] = 100},
                     .warehouses = 45,
                     .skus = 100000,
                     .duration_s = 10,
                     .seed = 1,
                     .initial_qty = 1000,
                     .verify_skus = 200,
                     .timeout_ms = 30000};
    bool depth_set = false;
    int f;
    opterr = 0;
    while ((f = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (f == F_HELP) {
            usage(stdout);
            return 1;
        }
        if (f == '?') {
            fprintf(stderr, "stocktwin-load: unknown flag or missing value: %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
        if (!parse_flag(f, optarg, o, &depth_set)) {
            const char *name = "?";
            for (const struct option *lo = long_opts; lo->name; lo++) {
                if (lo->val == f)
                    name = lo->name;
            }
            fprintf(stderr, "stocktwin-load: bad value for --%s: %s (see --help)\n", name,
                    optarg ? optarg : "");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "stocktwin-load: unexpected argument: %s (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->setup_only && o->no_setup) {
        fprintf(stderr, "stocktwin-load: --setup-only and --no-setup exclude each other\n");
        return 2;
    }
    if (o->rate > 0 && !depth_set)
        o->depth = 64;
    if ((uint64_t)o->connections * o->depth > 65536) {
        fprintf(stderr, "stocktwin-load: connections x depth is over 65536\n");
        return 2;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// The run

static double
now_s(void)
{
    return (double)load_now_ns() / 1e9;
}

static int
run_init(load_run *r)
{
    LOAD_FMT(r->run_id, "load-%d-%ld", (int)getpid(), (long)time(NULL));
    r->keys = (uint64_t)r->o.warehouses * r->o.skus;
    r->wh_ids = calloc(r->o.warehouses, sizeof *r->wh_ids);
    r->sku_ids = calloc(r->o.skus, sizeof *r->sku_ids);
    r->net = calloc(r->keys, sizeof *r->net);
    r->unsure = calloc(r->keys, sizeof *r->unsure);
    if (!r->wh_ids || !r->sku_ids || !r->net || !r->unsure) {
        fprintf(stderr, "stocktwin-load: out of memory\n");
        return 1;
    }
    for (uint32_t w = 0; w < r->o.warehouses; w++)
        LOAD_FMT(r->wh_ids[w], "wh-%02u", w);
    for (uint32_t s = 0; s < r->o.skus; s++)
        LOAD_FMT(r->sku_ids[s], "SKU-%06u", s);
    st_hist_init(&r->batch_lat);
    st_hist_init(&r->query_lat);
    return 0;
}

static void
run_free(load_run *r)
{
    load_conns_close(r);
    free(r->wh_ids);
    free(r->sku_ids);
    free(r->net);
    free(r->unsure);
    free(r->verify_skus);
    free(r->before);
}

static uint64_t
refused_events(const load_counts *k)
{
    uint64_t n = 0;
    for (int i = 0; i <= LOAD_STATUS_N; i++) {
        if (i == LOAD_STATUS_N || !st_status_accepted(i))
            n += atomic_load(&k->status[i]);
    }
    return n;
}

static uint64_t
accepted_events(const load_counts *k)
{
    uint64_t n = 0;
    for (int i = 0; i < LOAD_STATUS_N; i++) {
        if (st_status_accepted(i))
            n += atomic_load(&k->status[i]);
    }
    return n;
}

// The initial stock, over every connection, with a progress line a second.
static int
setup_stock(load_run *r)
{
    r->phase = LOAD_PHASE_SETUP_STOCK;
    atomic_store(&r->setup_cursor, 0);
    double t0 = now_s();
    if (load_phase_start(r) != 0)
        return 1;
    uint64_t last = 0;
    while (atomic_load(&r->threads_running) > 0) {
        usleep(100000);
        double t = now_s() - t0;
        if ((uint64_t)t > last) {
            last = (uint64_t)t;
            uint64_t done = accepted_events(&r->setup) / 2;
            fprintf(stderr, "setup: stock %llu/%llu records (%.0f k/s)\n", (unsigned long long)done,
                    (unsigned long long)r->keys, done / t / 1e3);
        }
        if (atomic_load(&r->setup.batches_failed) > 0)
            atomic_store(&r->stop, true);
    }
    load_phase_join(r);
    uint64_t accepted = accepted_events(&r->setup), lost = atomic_load(&r->setup.events_lost);
    fprintf(stderr, "setup: stock of %llu records in %.1f s (%llu BUSY and sent again)\n",
            (unsigned long long)accepted / 2, now_s() - t0,
            (unsigned long long)atomic_load(&r->setup.status[STOCKTWIN__STATUS__STATUS_BUSY]));
    if (accepted != 2 * r->keys || lost) {
        fprintf(stderr,
                "stocktwin-load: the initial stock was not fully accepted: %llu of %llu "
                "(%llu in failed requests, last error %s); statuses:",
                (unsigned long long)accepted, (unsigned long long)(2 * r->keys),
                (unsigned long long)lost,
                st_status_name((int)atomic_load(&r->setup.last_error_status)));
        for (int i = 0; i < LOAD_STATUS_N; i++) {
            if (atomic_load(&r->setup.status[i]))
                fprintf(stderr, " %s %llu", st_status_name(i),
                        (unsigned long long)atomic_load(&r->setup.status[i]));
        }
        fprintf(stderr, "\n");
        return 1;
    }
    return 0;
}

static void
progress_line(load_run *r, double t, uint64_t *last_events)
{
    uint64_t ev = atomic_load(&r->run.events_done);
    uint64_t req = atomic_load(&r->run.batches_done) + atomic_load(&r->run.queries_done);
    fprintf(stderr,
            "[%5.1fs] %9.0f ev/s (avg %9.0f)  %6.0f req/s  p99 %7.2f ms  busy %llu  refused "
            "%llu  failed req %llu\n",
            t, (double)(ev - *last_events), ev / t, req / t,
            st_hist_percentile(&r->batch_lat, 99) / 1e3,
            (unsigned long long)atomic_load(&r->run.status[STOCKTWIN__STATUS__STATUS_BUSY]),
            (unsigned long long)refused_events(&r->run),
            (unsigned long long)(atomic_load(&r->run.batches_failed) +
                                 atomic_load(&r->run.queries_failed)));
    *last_events = ev;
}

static int
measure(load_run *r)
{
    r->phase = LOAD_PHASE_RUN;
    r->t0_ns = load_now_ns() + 1000000; // the first due time, a moment ahead
    if (load_phase_start(r) != 0)
        return 1;
    uint64_t last_events = 0;
    for (int sec = 1; sec <= (int)ceil(r->o.duration_s); sec++) {
        double until = fmin((double)sec, r->o.duration_s);
        int64_t due = r->t0_ns + (int64_t)(until * 1e9);
        while (load_now_ns() < due)
            usleep((useconds_t)((due - load_now_ns()) / 1000 + 1));
        progress_line(r, until, &last_events);
    }
    atomic_store(&r->stop, true);
    load_phase_join(r);
    r->run_s = (double)(load_now_ns() - r->t0_ns) / 1e9;
    return 0;
}

// ---------------------------------------------------------------------------
// The report

typedef struct daemon_info {
    int sync;
    unsigned workers;
    uint64_t stock_records;
} daemon_info;

static void
daemon_stats(st_client *c, daemon_info *d)
{
    Stocktwin__Response *resp = NULL;
    *d = (daemon_info){.sync = -1};
    if (st_client_stats(c, &resp) == 0 && resp->result_case == STOCKTWIN__RESPONSE__RESULT_STATS) {
        d->sync = resp->sync;
        d->workers = (unsigned)resp->stats->n_workers;
        for (size_t i = 0; i < resp->stats->n_workers; i++)
            d->stock_records += resp->stats->workers[i]->stock_records;
    }
    st_client_response_free(resp);
}

static const char *
sync_name(int sync)
{
    return sync == 0 ? "none" : sync == 1 ? "batch" : sync == 2 ? "fsync" : "unknown";
}

static void
report_text(FILE *f, const load_run *r, const daemon_info *d)
{
    const load_counts *k = &r->run;
    uint64_t ev = atomic_load(&k->events_done);
    uint64_t req = atomic_load(&k->batches_done) + atomic_load(&k->queries_done);
    fprintf(f, "stocktwin-load %s: %s, %u connections x depth %u, batch %u, %s", r->run_id,
            r->o.url, r->o.connections, r->o.depth, r->o.batch,
            r->o.rate > 0 ? "open loop" : "closed loop");
    if (r->o.rate > 0)
        fprintf(f, " at %.0f events/s", r->o.rate);
    fprintf(f, "\n  mix moves=%u rfid=%u weight=%u reserve=%u query=%u; %u warehouses x %u skus\n",
            r->o.mix[0], r->o.mix[1], r->o.mix[2], r->o.mix[3], r->o.mix[4], r->o.warehouses,
            r->o.skus);
    fprintf(f, "  daemon: %u workers, sync %s, %llu stock records\n", d->workers,
            sync_name(d->sync), (unsigned long long)d->stock_records);
    if (r->setup_s > 0)
        fprintf(f, "  setup: %.2f s\n", r->setup_s);
    uint64_t applied = accepted_events(k);
    fprintf(f,
            "  run: %.2f s, %llu events answered = %.0f events/s, %llu applied (OK, DUPLICATE, "
            "STALE) = %.0f events/s; %.1f requests/s\n",
            r->run_s, (unsigned long long)ev, ev / r->run_s, (unsigned long long)applied,
            applied / r->run_s, req / r->run_s);
    const st_hist *hs[2] = {&r->batch_lat, &r->query_lat};
    const char *hn[2] = {"batch", "query"};
    for (int i = 0; i < 2; i++) {
        if (st_hist_count(hs[i]) == 0)
            continue;
        fprintf(f,
                "  %s latency (ms, %llu requests): p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max "
                "%.3f  mean %.3f\n",
                hn[i], (unsigned long long)st_hist_count(hs[i]),
                st_hist_percentile(hs[i], 50) / 1e3, st_hist_percentile(hs[i], 90) / 1e3,
                st_hist_percentile(hs[i], 99) / 1e3, st_hist_percentile(hs[i], 99.9) / 1e3,
                st_hist_max(hs[i]) / 1e3, st_hist_mean(hs[i]) / 1e3);
    }
    fprintf(f, "  event statuses:");
    for (int i = 0; i <= LOAD_STATUS_N; i++) {
        uint64_t n = atomic_load(&k->status[i]);
        if (n)
            fprintf(f, " %s %llu", i < LOAD_STATUS_N ? st_status_name(i) : "OTHER",
                    (unsigned long long)n);
    }
    fprintf(f,
            "\n  failed requests: %llu batches (%llu events), %llu queries of %llu; BUSY "
            "resent %llu, dropped %llu\n",
            (unsigned long long)atomic_load(&k->batches_failed),
            (unsigned long long)atomic_load(&k->events_lost),
            (unsigned long long)atomic_load(&k->queries_failed),
            (unsigned long long)atomic_load(&k->queries_done),
            (unsigned long long)atomic_load(&k->busy_resent),
            (unsigned long long)atomic_load(&k->busy_dropped));
    if (r->o.rate > 0)
        fprintf(f,
                "  open loop: %llu batch requests were due before the end but not sent (the "
                "daemon fell behind; not in the percentiles)\n",
                (unsigned long long)atomic_load(&k->requests_unsent));
    if (r->o.no_verify)
        fprintf(f, "  verify: skipped\n");
    else
        fprintf(f,
                "  verify: %llu (warehouse, sku) compared, %llu mismatches, %llu skipped "
                "(no reply), %llu missing\n",
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

static void
report_json(FILE *f, const load_run *r, const daemon_info *d)
{
    const load_counts *k = &r->run;
    uint64_t ev = atomic_load(&k->events_done);
    uint64_t req = atomic_load(&k->batches_done) + atomic_load(&k->queries_done);
    fprintf(f,
            "{\"run_id\":\"%s\",\"url\":\"%s\",\"connections\":%u,\"depth\":%u,\"batch\":%u,"
            "\"rate\":%.0f,\"duration_s\":%.3f,\"warehouses\":%u,\"skus\":%u,\"seed\":%llu,",
            r->run_id, r->o.url, r->o.connections, r->o.depth, r->o.batch, r->o.rate,
            r->o.duration_s, r->o.warehouses, r->o.skus, (unsigned long long)r->o.seed);
    fprintf(f, "\"mix\":{");
    for (int i = 0; i < MIX_N; i++)
        fprintf(f, "%s\"%s\":%u", i ? "," : "", mix_names[i], r->o.mix[i]);
    fprintf(f, "},\"daemon\":{\"workers\":%u,\"sync\":\"%s\",\"stock_records\":%llu},", d->workers,
            sync_name(d->sync), (unsigned long long)d->stock_records);
    uint64_t applied = accepted_events(k);
    fprintf(f,
            "\"setup_s\":%.3f,\"run_s\":%.3f,\"events\":%llu,\"events_per_s\":%.1f,"
            "\"events_applied\":%llu,\"applied_per_s\":%.1f,"
            "\"requests\":%llu,\"requests_per_s\":%.1f,",
            r->setup_s, r->run_s, (unsigned long long)ev, ev / r->run_s,
            (unsigned long long)applied, applied / r->run_s, (unsigned long long)req,
            req / r->run_s);
    fprintf(f, "\"latency\":{");
    json_hist(f, "batch", &r->batch_lat);
    fprintf(f, ",");
    json_hist(f, "query", &r->query_lat);
    fprintf(f, "},\"statuses\":{");
    for (int i = 0, first = 1; i <= LOAD_STATUS_N; i++) {
        uint64_t n = atomic_load(&k->status[i]);
        if (n)
            fprintf(f, "%s\"%s\":%llu", first ? "" : ",",
                    i < LOAD_STATUS_N ? st_status_name(i) : "OTHER", (unsigned long long)n),
                first = 0;
    }
    fprintf(f,
            "},\"batches_failed\":%llu,\"events_lost\":%llu,\"queries\":%llu,"
            "\"queries_failed\":%llu,\"busy_resent\":%llu,\"busy_dropped\":%llu,\"requests_"
            "unsent\":%llu,",
            (unsigned long long)atomic_load(&k->batches_failed),
            (unsigned long long)atomic_load(&k->events_lost),
            (unsigned long long)atomic_load(&k->queries_done),
            (unsigned long long)atomic_load(&k->queries_failed),
            (unsigned long long)atomic_load(&k->busy_resent),
            (unsigned long long)atomic_load(&k->busy_dropped),
            (unsigned long long)atomic_load(&k->requests_unsent));
    fprintf(f,
            "\"verify\":{\"done\":%s,\"compared\":%llu,\"mismatches\":%llu,"
            "\"skipped_no_reply\":%llu,\"missing\":%llu}}\n",
            r->o.no_verify ? "false" : "true", (unsigned long long)r->verified,
            (unsigned long long)r->mismatches, (unsigned long long)r->skipped_unsure,
            (unsigned long long)r->missing);
}

// ---------------------------------------------------------------------------

// Setup (unless --no-setup) and the run's devices. Returns 0 or 1.
static int
prepare(load_run *r, st_client *c)
{
    double t0 = now_s();
    if (!r->o.no_setup) {
        fprintf(stderr, "setup: %u products, %u warehouses\n", r->o.skus, r->o.warehouses);
        if (load_setup_topology(r, c) != 0)
            return 1;
        fprintf(stderr, "setup: catalog and warehouses in %.1f s\n", now_s() - t0);
    }
    if (load_setup_devices(r, c) != 0)
        return 1;
    if (!r->o.no_setup && setup_stock(r) != 0)
        return 1;
    r->setup_s = r->o.no_setup ? 0 : now_s() - t0;
    if (!r->o.no_setup)
        fprintf(stderr, "setup: done in %.1f s\n", r->setup_s);
    return 0;
}

int
main(int argc, char **argv)
{
    static load_run run; // large (histograms); zeroed
    load_run *r = &run;
    int rc = parse_flags(argc, argv, &r->o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    st_client *c = NULL;
    st_client_opts co = {.timeout_ms = r->o.timeout_ms > 120000 ? r->o.timeout_ms : 120000};
    if (run_init(r) != 0 || st_client_open(r->o.url, &co, &c) != 0) {
        if (c == NULL)
            fprintf(stderr, "stocktwin-load: %s: %s\n", r->o.url, st_client_last_error(NULL));
        run_free(r);
        return 1;
    }
    rc = 1;
    daemon_info d;
    if (load_conns_open(r) != 0 || prepare(r, c) != 0)
        goto done;
    if (r->o.setup_only) {
        daemon_stats(c, &d);
        printf("setup of %s done in %.2f s: %llu stock records in the daemon\n", r->run_id,
               r->setup_s, (unsigned long long)d.stock_records);
        rc = 0;
        goto done;
    }
    if (!r->o.no_verify && load_verify_before(r, c) != 0)
        goto done;
    if (measure(r) != 0)
        goto done;
    int verify_failed = !r->o.no_verify && load_verify_after(r, c) != 0;
    daemon_stats(c, &d);
    if (r->o.json) {
        report_text(stderr, r, &d);
        report_json(stdout, r, &d);
    } else {
        report_text(stdout, r, &d);
    }
    rc = verify_failed || r->mismatches > 0 || r->missing > 0;
done:
    st_client_close(c);
    run_free(r);
    return rc;
}
