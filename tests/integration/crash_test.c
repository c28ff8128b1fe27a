// crash_test.c - nothing acknowledged is ever lost: stocktwind with a
// write-ahead log (--data, sync fsync) is killed with SIGKILL at random
// moments while several clients write to it, and restarted, many times over.
// After each restart every acknowledged event must be there.
//
// How that is checked exactly: each writer sends one RECEIVE of one unit at
// a time, from its own source, to its own warehouse, and counts what was
// acknowledged. Only the event in flight at the kill is unknown; after the
// restart the writer sends it again (same source and seq: the daemon answers
// DUPLICATE if it was applied, OK if not). Then on_hand must equal exactly
// the number of distinct events sent: one lost acknowledged event, or one
// applied twice, and the count is off.
//
// ST_CRASH_CYCLES sets the number of cycles (default 20; the slow variant
// runs 100); ST_SEED the random kill times (printed).
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WRITERS 3

static const char *const writer_wh[WRITERS] = {"wh-a", "wh-c", "wh-a"};

typedef struct writer {
    int id;
    const it_daemon *d;
    uint64_t next_seq;  // the next seq to send; seqs < next_seq were sent
    uint64_t unknown;   // a seq sent whose answer never came, or 0
    atomic_bool stop;
} writer;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// send_receive sends RECEIVE seq of writer w; returns the event's status,
// or -1 when no answer came (the daemon died with it in flight).
static int
send_receive(st_client *c, const writer *w, uint64_t seq)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"source\":\"writer-%d\",\"seq\":%llu,\"warehouse\":\"%s\",\"movement\":"
             "{\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":1,\"to_location\":\"recv\"}}",
             w->id, (unsigned long long)seq, writer_wh[w->id]);
    Stocktwin__Event *e = NULL;
    cr_assert_eq(st_event_from_json(json, &e), 0);
    Stocktwin__Response *r = NULL;
    int st = st_client_submit(c, &e, 1, &r);
    st_event_free(e);
    int status = st == 0 ? (int)r->statuses[0]->status : -1;
    st_client_response_free(r);
    return status;
}

static void *
write_until_killed(void *arg)
{
    writer *w = arg;
    st_client_opts o = {.timeout_ms = 3000, .resend_ms = -1};
    st_client *c = NULL;
    cr_assert_eq(st_client_open(w->d->rpc, &o, &c), 0);
    if (w->unknown != 0) { // settle the one left over from the last kill
        int st = send_receive(c, w, w->unknown);
        cr_assert(st == STOCKTWIN__STATUS__STATUS_OK || st == STOCKTWIN__STATUS__STATUS_DUPLICATE,
                  "resent seq %llu: status %d", (unsigned long long)w->unknown, st);
        w->unknown = 0;
    }
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

static int64_t
on_hand(st_client *c, const char *wh)
{
    Stocktwin__SkuWarehouse s;
    return it_stock(c, wh, "SKU-2", &s) ? s.on_hand : 0;
}

Test(crash, kill9_under_load_loses_nothing_acknowledged, .timeout = 600)
{
    int cycles = getenv("ST_CRASH_CYCLES") ? atoi(getenv("ST_CRASH_CYCLES")) : 20;
    unsigned seed = getenv("ST_SEED") ? (unsigned)atoi(getenv("ST_SEED")) : (unsigned)time(NULL);
    cr_log_info("crash test: %d cycles, seed %u (replay with ST_SEED=%u)", cycles, seed, seed);
    srand(seed);
    char data[] = "/tmp/stocktwin-crash-XXXXXX";
    cr_assert(mkdtemp(data) != NULL);
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        w[i] = (writer){.id = i, .next_seq = 1};
    it_daemon d;
    for (int cycle = 0; cycle < cycles; cycle++) {
        it_daemon_start_data(&d, 2, data, NULL);
        if (cycle == 0) {
            st_client *c = it_client(&d);
            it_setup_network(c);
            st_client_close(c);
        }
        pthread_t t[WRITERS];
        for (int i = 0; i < WRITERS; i++) {
            w[i].d = &d;
            atomic_store(&w[i].stop, false);
            cr_assert_eq(pthread_create(&t[i], NULL, write_until_killed, &w[i]), 0);
        }
        sleep_ms(50 + rand() % 250);
        it_daemon_kill9(&d);
        for (int i = 0; i < WRITERS; i++) {
            atomic_store(&w[i].stop, true);
            pthread_join(t[i], NULL);
        }
    }
    // The last restart: settle what was in flight, then count.
    it_daemon_start_data(&d, 2, data, NULL);
    st_client *c = it_client(&d);
    int64_t sent = 0;
    for (int i = 0; i < WRITERS; i++) {
        if (w[i].unknown != 0) {
            int st = send_receive(c, &w[i], w[i].unknown);
            cr_assert(st == STOCKTWIN__STATUS__STATUS_OK || st == STOCKTWIN__STATUS__STATUS_DUPLICATE);
        }
        sent += (int64_t)w[i].next_seq - 1;
    }
    int64_t have = on_hand(c, "wh-a") + on_hand(c, "wh-c");
    st_client_close(c);
    it_daemon_stop(&d);
    char cmd[128];
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
