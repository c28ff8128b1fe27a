// main.c - stocktwind: flags, signals, lifecycle. Everything else is in
// server.h (st_server_start/stop), so tests run the same server in-process.
//
// Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 1 when the server cannot
// start (address in use, bad URL), 2 for bad flags.
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/rpc.h"
#include "server/server.h"

#ifndef ST_VERSION
#define ST_VERSION "0.0.0"
#endif

static int signal_pipe[2] = {-1, -1};
#define PROMOTE_BYTE 0xffu // not a signal number: the server was promoted

static void
on_promote(void *arg)
{
    (void)arg;
    unsigned char b = PROMOTE_BYTE;
    if (write(signal_pipe[1], &b, 1) < 0) {
        // The pipe is the only way to reach main; nothing else to do.
    }
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: stocktwind [flags]\n"
            "\n"
            "stocktwind holds a supply network's warehouses, stock and devices in memory,\n"
            "applies the events devices and business systems send it, and answers queries.\n"
            "\n"
            "  --rpc URL         RPC door (REQ/REP: acknowledged batches, queries) [%s]\n"
            "  --ingest URL      ingest door (PUSH/PULL: fire-and-forget batches) [%s]\n"
            "  --feed URL        change and alert feed (PUB; topics alert/<wh>/<KIND>, stock/<wh>) [%s]\n"
            "  --workers N       shard worker threads, 1..%u [online CPUs]\n"
            "  --contexts N      RPC requests in flight at once, 1..%u [%u]; a context is\n"
            "                    made ready (and its memory touched) only when the\n"
            "                    requests in flight need it\n"
            "  --ring N          jobs per worker queue, a power of two [1024]\n"
            "  --data DIR        keep a write-ahead log per worker in DIR and replay it at\n"
            "                    start; without it the state lives in memory only\n"
            "  --sync MODE       with --data: fsync (acknowledge after fdatasync; nothing\n"
            "                    acknowledged is lost), batch (acknowledge after write;\n"
            "                    a power loss can lose the last --sync-interval ms) or\n"
            "                    none (no log at all) [fsync]\n"
            "  --sync-interval MS  batch mode's fdatasync period, 1..60000 [1000]\n"
            "  --snapshot-mib N  with --data: a worker snapshots its state (one warehouse\n"
            "                    at a time between batches, written by a thread) after N\n"
            "                    MiB of log, 1..65536 [256]; then the log behind it is deleted\n"
            "  --snapshot-interval MS  ... or after MS ms with anything logged [600000]\n"
            "  --retain-entries N  log entries kept behind a snapshot, for followers [0]\n"
            "  --replication URL  with --data: open the replication door (REP) that followers\n"
            "                    pull this leader's logs from (e.g. tcp://127.0.0.1:7403)\n"
            "  --follow URL      with --data: run as a follower of the leader whose\n"
            "                    replication door URL is; it serves reads with their lag\n"
            "                    and answers writes NOT_LEADER; `stocktwin promote` makes\n"
            "                    it the leader (then it opens --replication, if given)\n"
            "  --ack MODE        async (answer after this leader's log) or quorum=K (also\n"
            "                    after K followers made it durable) [async]\n"
            "  --tick MS         every MS ms, look for timers due and write a tick entry\n"
            "                    for each warehouse with one: reservations past their\n"
            "                    expiry are released, DEVICE_SILENT and SHIPMENT_DELAYED\n"
            "                    raised; 0 = never (a follower applies its leader's) [1000]\n"
            "  --device-silent MS  a device that has not reported for MS ms is silent;\n"
            "                    0 = never, at most 30 days [300000]\n"
            "  --truncate-corrupt  start even if a log has a corrupt record, cutting the log\n"
            "                    there (what follows is lost; the default is to refuse)\n"
            "  --fault-control FILE  for tests only: with --data, the logs inject the disk\n"
            "                    faults FILE sets (space, prealloc_space, fail_sync,\n"
            "                    delay_ms, stuck; see docs/WAL.md) instead of using io_uring\n"
            "  --demo            load a demo network and simulate its devices\n"
            "  --demo-rate N     simulated events per second, 1..100000 [%u]\n"
            "  --quiet           print nothing but errors\n"
            "  --help            show this and exit\n"
            "  --version         print the version and exit\n"
            "\n"
            "URLs may use any nng transport: tcp://host:port, ipc:///path, ...\n"
            "Every reply says its sync mode and the log position (LSN) it covers.\n"
            "Stop with Ctrl-C or SIGTERM. Exit status: 0 stopped, 1 could not start, 2 bad flags.\n",
            ST_SERVER_RPC_URL_DEFAULT, ST_SERVER_INGEST_URL_DEFAULT, ST_SERVER_FEED_URL_DEFAULT,
            ST_SHARDS_WORKERS_MAX, ST_RPC_CONTEXTS_MAX, ST_RPC_CONTEXTS_DEFAULT,
            ST_SERVER_DEMO_RATE_DEFAULT);
}

// parse_u32 reads a whole decimal number in [min, max]; false otherwise.
static bool
parse_u32(const char *flag, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "stocktwind: %s wants a whole number from %u to %u, not '%s'\n", flag, min, max, s);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static void
on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(signal_pipe[1], &b, 1) < 0) {
        // Nothing to do: the pipe is full, so a stop is already pending.
    }
    errno = saved;
}

enum { OPT_RPC = 256, OPT_INGEST, OPT_FEED, OPT_WORKERS, OPT_CONTEXTS, OPT_RING, OPT_DATA, OPT_SYNC, OPT_SYNC_INTERVAL, OPT_TRUNCATE_CORRUPT, OPT_DEMO,
       OPT_DEMO_RATE, OPT_QUIET, OPT_HELP, OPT_VERSION, OPT_FAULT_CONTROL, OPT_SEGMENT_BYTES,
       OPT_SNAPSHOT_MIB, OPT_SNAPSHOT_INTERVAL, OPT_RETAIN_ENTRIES, OPT_FOLLOW, OPT_REPLICATION,
       OPT_ACK, OPT_TICK, OPT_DEVICE_SILENT };

// check_flags rejects combinations that parse but make no sense; 0 or 2.
static int
check_flags(const st_server_config *cfg)
{
    if (cfg->fault_control != NULL && (cfg->data_dir == NULL || cfg->sync == ST_SHARDS_SYNC_NONE)) {
        fprintf(stderr, "stocktwind: --fault-control needs --data and a log (--sync fsync or batch)\n");
        return 2;
    }
    if ((cfg->follow_url || cfg->replication_url || cfg->ack_quorum) &&
        (cfg->data_dir == NULL || cfg->sync == ST_SHARDS_SYNC_NONE)) {
        fprintf(stderr, "stocktwind: --follow, --replication and --ack need --data and a log\n");
        return 2;
    }
    if (cfg->ack_quorum != 0 && cfg->replication_url == NULL) {
        fprintf(stderr, "stocktwind: --ack quorum=K needs --replication (followers pull from it)\n");
        return 2;
    }
    if (cfg->segment_bytes % 4096 != 0) {
        fprintf(stderr, "stocktwind: --segment-bytes wants a multiple of 4096\n");
        return 2;
    }
    return 0;
}

// parse_flags fills *cfg; returns 0 to go on, 2 for bad flags, -1 when
// --help or --version answered already.
static int
parse_flags(int argc, char **argv, st_server_config *cfg)
{
    static const struct option opts[] = {
        {"rpc", required_argument, NULL, OPT_RPC},
        {"ingest", required_argument, NULL, OPT_INGEST},
        {"feed", required_argument, NULL, OPT_FEED},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"contexts", required_argument, NULL, OPT_CONTEXTS},
        {"ring", required_argument, NULL, OPT_RING},
        {"data", required_argument, NULL, OPT_DATA},
        {"sync", required_argument, NULL, OPT_SYNC},
        {"sync-interval", required_argument, NULL, OPT_SYNC_INTERVAL},
        {"truncate-corrupt", no_argument, NULL, OPT_TRUNCATE_CORRUPT},
        {"fault-control", required_argument, NULL, OPT_FAULT_CONTROL},
        // Hidden, for tests: small log segments, so that a test rolls them.
        {"segment-bytes", required_argument, NULL, OPT_SEGMENT_BYTES},
        {"snapshot-mib", required_argument, NULL, OPT_SNAPSHOT_MIB},
        {"snapshot-interval", required_argument, NULL, OPT_SNAPSHOT_INTERVAL},
        {"retain-entries", required_argument, NULL, OPT_RETAIN_ENTRIES},
        {"follow", required_argument, NULL, OPT_FOLLOW},
        {"replication", required_argument, NULL, OPT_REPLICATION},
        {"ack", required_argument, NULL, OPT_ACK},
        {"tick", required_argument, NULL, OPT_TICK},
        {"device-silent", required_argument, NULL, OPT_DEVICE_SILENT},
        {"demo", no_argument, NULL, OPT_DEMO},
        {"demo-rate", required_argument, NULL, OPT_DEMO_RATE},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_RPC: cfg->rpc_url = optarg; break;
        case OPT_INGEST: cfg->ingest_url = optarg; break;
        case OPT_FEED: cfg->feed_url = optarg; break;
        case OPT_WORKERS:
            if (!parse_u32("--workers", optarg, 1, ST_SHARDS_WORKERS_MAX, &cfg->workers))
                return 2;
            break;
        case OPT_CONTEXTS:
            if (!parse_u32("--contexts", optarg, 1, ST_RPC_CONTEXTS_MAX, &cfg->contexts))
                return 2;
            break;
        case OPT_RING:
            if (!parse_u32("--ring", optarg, 2, 1u << 24, &cfg->ring))
                return 2;
            if ((cfg->ring & (cfg->ring - 1)) != 0) {
                fprintf(stderr, "stocktwind: --ring wants a power of two, not %u\n", cfg->ring);
                return 2;
            }
            break;
        case OPT_DATA: cfg->data_dir = optarg; break;
        case OPT_SYNC:
            if (strcmp(optarg, "fsync") == 0)
                cfg->sync = ST_SHARDS_SYNC_FSYNC;
            else if (strcmp(optarg, "batch") == 0)
                cfg->sync = ST_SHARDS_SYNC_BATCH;
            else if (strcmp(optarg, "none") == 0)
                cfg->sync = ST_SHARDS_SYNC_NONE;
            else {
                fprintf(stderr, "stocktwind: --sync wants fsync, batch or none, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_SYNC_INTERVAL:
            if (!parse_u32("--sync-interval", optarg, 1, 60000, &cfg->sync_interval_ms))
                return 2;
            break;
        case OPT_TRUNCATE_CORRUPT: cfg->truncate_corrupt = true; break;
        case OPT_FAULT_CONTROL: cfg->fault_control = optarg; break;
        case OPT_SEGMENT_BYTES: {
            uint32_t bytes = 0;
            if (!parse_u32("--segment-bytes", optarg, 4096, 1u << 30, &bytes))
                return 2;
            cfg->segment_bytes = bytes;
            break;
        }
        case OPT_SNAPSHOT_MIB: {
            uint32_t mib = 0;
            if (!parse_u32("--snapshot-mib", optarg, 1, 65536, &mib))
                return 2;
            cfg->snapshot_bytes = (uint64_t)mib << 20;
            break;
        }
        case OPT_SNAPSHOT_INTERVAL: {
            if (!parse_u32("--snapshot-interval", optarg, 1, 7u * 86400u * 1000u,
                           &cfg->snapshot_interval_ms))
                return 2;
            break;
        }
        case OPT_TICK:
            if (!parse_u32("--tick", optarg, 0, 3600000, &cfg->tick_ms))
                return 2;
            break;
        case OPT_DEVICE_SILENT: {
            uint32_t s;
            if (!parse_u32("--device-silent", optarg, 0, (uint32_t)ST_SILENT_MS_MAX, &s))
                return 2;
            cfg->device_silent_ms = s;
            break;
        }
        case OPT_FOLLOW: cfg->follow_url = optarg; break;
        case OPT_REPLICATION: cfg->replication_url = optarg; break;
        case OPT_ACK:
            if (strcmp(optarg, "async") == 0) {
                cfg->ack_quorum = 0;
            } else if (strncmp(optarg, "quorum=", 7) != 0 ||
                       !parse_u32("--ack quorum=", optarg + 7, 1, 15, &cfg->ack_quorum)) {
                fprintf(stderr, "stocktwind: --ack wants async or quorum=K (K 1..15), not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_RETAIN_ENTRIES: {
            uint32_t n = 0;
            if (!parse_u32("--retain-entries", optarg, 0, UINT32_MAX, &n))
                return 2;
            cfg->retain_entries = n;
            break;
        }
        case OPT_DEMO: cfg->demo = true; break;
        case OPT_DEMO_RATE:
            if (!parse_u32("--demo-rate", optarg, 1, 100000, &cfg->demo_rate))
                return 2;
            break;
        case OPT_QUIET: cfg->quiet = true; break;
        case OPT_HELP: usage(stdout); return -1;
        case OPT_VERSION: printf("stocktwind %s\n", ST_VERSION); return -1;
        default:
            if (optopt != 0 && optopt < OPT_RPC)
                fprintf(stderr, "stocktwind: flag -%c is not known or lacks its value\n", optopt);
            else
                fprintf(stderr, "stocktwind: flag '%s' is not known or lacks its value\n", argv[optind - 1]);
            fprintf(stderr, "try 'stocktwind --help'\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "stocktwind: unexpected argument '%s'; try 'stocktwind --help'\n", argv[optind]);
        return 2;
    }
    return check_flags(cfg);
}

// jemalloc's options (read at its start; ignored where the sanitizers bring
// their own allocator; MALLOC_CONF in the environment overrides them):
// - 4 KiB pages (thp:never): the state is some 135 per-warehouse tables,
//   and on transparent huge pages each one's last, partly used 2 MiB page
//   is resident whole: ≈ 40 bytes a stock record at seed scale (85 vs 125
//   bytes all-in). Huge pages apply ≈ 10 % faster (fewer TLB misses);
//   MALLOC_CONF=thp:always trades the memory back.
// - a background thread returns freed pages to the kernel within
//   dirty_decay_ms (1 s; jemalloc's default is 10 s) even when the daemon
//   is idle: without it the tables' old copies, left by their growth,
//   stayed resident (≈ 15 bytes a record after a seed setup). Steady
//   traffic frees little, so the purges cost nothing measurable.
// - allocations of 1 MiB and more from an arena that returns them to the
//   kernel when freed (oversize_threshold; jemalloc's default is 8 MiB): a
//   growing per-warehouse table leaves its old copy behind (2-4 MiB at seed
//   scale), and right after a bulk load the copies of the last second were
//   still resident: 94-97 bytes a record, 89-93 with the threshold, the
//   same at rest and under traffic, no slower. Messages stay under it
//   (replication/follower.c, FOLLOW_FETCH_BYTES).
// With thp:never, jemalloc's calloc zeroes a reused extent by giving its
// pages back and faulting them in again, and the threshold above gives back
// any freed extent that merges into 1 MiB: the daemon's own calloc
// (server/calloc.c) writes zeros instead, in an arena of its own.
// docs/PERFORMANCE.md, "32-byte stock records", the fifth session's
// "Memory" and the seventh session's page faults, has the measurements.
const char *malloc_conf =
    "thp:never,background_thread:true,dirty_decay_ms:1000,oversize_threshold:1048576";

int
main(int argc, char **argv)
{
    st_server_config cfg = {.tick_ms = 1000, .device_silent_ms = 300000};
    int rc = parse_flags(argc, argv, &cfg);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (pipe(signal_pipe) != 0) {
        perror("stocktwind: pipe");
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    cfg.on_promote = on_promote;
    st_server *server;
    char err[2048];
    if (st_server_start(&cfg, &server, err, sizeof err) != ST_OK) {
        fprintf(stderr, "stocktwind: %s\n", err);
        return 1;
    }
    unsigned char sig = 0;
    for (;;) {
        while (read(signal_pipe[0], &sig, 1) < 0 && errno == EINTR)
            ;
        if (sig != PROMOTE_BYTE)
            break;
        // Promoted: the epoch is recorded; start again as the leader, once
        // the promote reply had a moment to leave (a lost one is sent
        // again by the client and answered idempotently).
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        st_server_stop(server);
        cfg.follow_url = NULL;
        if (st_server_start(&cfg, &server, err, sizeof err) != ST_OK) {
            fprintf(stderr, "stocktwind: restarting as leader: %s\n", err);
            return 1;
        }
    }
    if (!cfg.quiet) {
        printf("stocktwind: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
        fflush(stdout);
    }
    st_server_stop(server);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    return 0;
}
