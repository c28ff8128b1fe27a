// replication_test.c - followers (issue 4), as processes on loopback: a
// leader with --replication and followers with --follow.
//
// What is checked:
//   - under sustained load from several writers, two followers reach the
//     leader's digest at the same per-worker LSNs; they answer queries with
//     their lag and leader, and refuse writes with NOT_LEADER naming the
//     leader's RPC door;
//   - a follower killed with SIGKILL mid-stream and restarted catches up;
//   - a follower stopped (SIGSTOP) while the leader snapshots and deletes
//     the segments it needs recovers through a snapshot;
//   - --ack quorum=1: the leader is killed under load and the follower
//     promoted; every event acknowledged to a writer is on the new leader;
//     the old leader restarted with --follow is fenced (its epoch is older)
//     and rejoins as a follower with the new leader's digest;
//   - garbage, truncated, wrongly sized and replayed-epoch requests to the
//     replication door are refused with a clear status and break nothing.
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <xxhash.h>

#include "harness.h"

#define WRITERS 3
#define BATCH 50

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct node {
    it_daemon d;
    char data[128];
    char repl[64];
} node;

// start_node starts a daemon with 2 workers on data dir `data` (created by
// the caller), replication door `repl` (may be ""), following `follow`
// (NULL: a leader) and up to four more flags.
static void
start_node(node *n, const char *follow, const char *a, const char *b, const char *c, const char *d)
{
    const char *flags[IT_EXTRA_FLAGS_MAX] = {0};
    int k = 0;
    if (n->repl[0] != '\0') {
        flags[k++] = "--replication";
        flags[k++] = n->repl;
    }
    if (follow != NULL) {
        flags[k++] = "--follow";
        flags[k++] = follow;
    }
    const char *more[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        if (more[i] != NULL)
            flags[k++] = more[i];
    flags[k] = NULL;
    it_daemon_start_flags(&n->d, 2, n->data, flags);
}

static void
node_init(node *n, const char *tag)
{
    memset(n, 0, sizeof *n);
    snprintf(n->data, sizeof n->data, "/tmp/st-repl-%s-%d-XXXXXX", tag, (int)getpid());
    cr_assert_not_null(mkdtemp(n->data));
    snprintf(n->repl, sizeof n->repl, "tcp://127.0.0.1:%u", it_free_port());
}

static void
node_remove(node *n)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->data);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", n->data);
}

// digest_of and friends open clients that give up quickly.
static int
open_client(const it_daemon *d, int timeout_ms, st_client **c)
{
    st_client_opts o = {.timeout_ms = timeout_ms};
    return st_client_open(d->rpc, &o, c);
}

// digest_of returns the digest and each worker's applied LSN (0 on failure).
static uint64_t
digest_of(const it_daemon *d, uint64_t applied[2])
{
    st_client *c = NULL;
    if (open_client(d, 5000, &c) != 0)
        return 0;
    Stocktwin__Response *r = NULL;
    uint64_t digest = 0;
    if (st_client_digest(c, &r) == STOCKTWIN__STATUS__STATUS_OK && r->digest->n_workers == 2) {
        digest = r->digest->digest;
        for (int w = 0; w < 2; w++)
            applied[w] = r->digest->workers[w]->applied_lsn;
    }
    st_client_response_free(r);
    st_client_close(c);
    return digest;
}

// wait_same waits (up to timeout_ms) until the follower's digest equals the
// leader's at the same per-worker LSNs, the leader being quiet.
static bool
wait_same(const it_daemon *leader, const it_daemon *follower, int timeout_ms)
{
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    uint64_t la[2] = {0}, fa[2] = {0}, ld = 0, fd = 0;
    do {
        ld = digest_of(leader, la);
        fd = digest_of(follower, fa);
        if (ld != 0 && ld == fd && la[0] == fa[0] && la[1] == fa[1])
            return true;
        sleep_ms(50);
    } while (now_ms() < until);
    fprintf(stderr,
            "leader %016" PRIx64 " at %" PRIu64 "/%" PRIu64 ", follower %016" PRIx64 " at %" PRIu64
            "/%" PRIu64 "\n",
            ld, la[0], la[1], fd, fa[0], fa[1]);
    return false;
}

// submit sends n JSON events as one batch; the request's status (0: each
// event has its own in *resp).
static int
submit(st_client *c, const char *const *json, size_t n, Stocktwin__Response **resp)
{
    Stocktwin__Event *events[BATCH];
    cr_assert(n <= BATCH);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(st_event_from_json(json[i], &events[i]), 0, "%s", json[i]);
    *resp = NULL;
    int status = st_client_submit(c, events, n, resp);
    for (size_t i = 0; i < n; i++)
        st_event_free(events[i]);
    return status;
}

// ---------------------------------------------------------------------------
// Writers: each sends batches of one-unit receipts of SKU-2 into its
// warehouse from its own source, and counts what was acknowledged.

typedef struct writer {
    int id;
    const it_daemon *d;
    atomic_bool stop;
    uint64_t seq;    // the last seq sent
    uint64_t acked;  // units acknowledged OK or DUPLICATE
    uint64_t failed; // requests that got no answer or a refusal
} writer;

static const char *const writer_wh[WRITERS] = {"wh-a", "wh-c", "wh-a"};

static void *
writer_main(void *arg)
{
    writer *w = arg;
    st_client *c = NULL;
    if (open_client(w->d, 3000, &c) != 0)
        return NULL;
    static __thread char bufs[BATCH][256];
    const char *json[BATCH];
    while (!atomic_load(&w->stop)) {
        for (int i = 0; i < BATCH; i++) {
            snprintf(bufs[i], sizeof bufs[i],
                     "{\"source\":\"writer-%d\",\"seq\":%" PRIu64 ",\"warehouse\":\"%s\","
                     "\"movement\":{\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":1,"
                     "\"to_location\":\"recv\"}}",
                     w->id, w->seq + 1 + (uint64_t)i, writer_wh[w->id]);
            json[i] = bufs[i];
        }
        Stocktwin__Response *r = NULL;
        int status = submit(c, json, BATCH, &r);
        w->seq += BATCH;
        if (status == STOCKTWIN__STATUS__STATUS_OK && r->n_statuses == BATCH) {
            for (int i = 0; i < BATCH; i++)
                if (st_status_accepted(r->statuses[i]->status))
                    w->acked++;
        } else {
            w->failed++;
            sleep_ms(20);
        }
        st_client_response_free(r);
    }
    st_client_close(c);
    return NULL;
}

// The writers live here, not on a test's stack: a failed assertion leaves
// the test function at once, and the suite's fini stops them (they would
// go on writing into a frame that is gone).
static writer writers[WRITERS];
static pthread_t writer_threads[WRITERS];
static bool writers_running;

static writer *
writers_run(const it_daemon *d)
{
    cr_assert(!writers_running);
    memset(writers, 0, sizeof writers);
    for (int i = 0; i < WRITERS; i++) {
        writers[i].id = i;
        writers[i].d = d;
        atomic_store(&writers[i].stop, false);
        cr_assert_eq(pthread_create(&writer_threads[i], NULL, writer_main, &writers[i]), 0);
    }
    writers_running = true;
    return writers;
}

static void
writers_stop(void)
{
    if (!writers_running)
        return;
    for (int i = 0; i < WRITERS; i++)
        atomic_store(&writers[i].stop, true);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(writer_threads[i], NULL);
    writers_running = false;
}

TestSuite(replication, .fini = writers_stop);

static void
setup(const it_daemon *d)
{
    st_client *c = it_client(d);
    it_setup_network(c);
    st_client_close(c);
}

// ---------------------------------------------------------------------------

Test(replication, followers_match_the_leader_under_load, .timeout = 120)
{
    node l, f1, f2;
    node_init(&l, "l");
    node_init(&f1, "f1");
    node_init(&f2, "f2");
    f1.repl[0] = f2.repl[0] = '\0';
    start_node(&l, NULL, NULL, NULL, NULL, NULL);
    setup(&l.d);
    start_node(&f1, l.repl, NULL, NULL, NULL, NULL);
    start_node(&f2, l.repl, NULL, NULL, NULL, NULL);
    writer *ws = writers_run(&l.d);
    sleep_ms(2500);

    // A follower answers a query while the load runs, saying its lag and
    // leader, and refuses a write naming the leader.
    st_client *c = it_client(&f1.d);
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_stats(c, &r), STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_str_eq(r->stats->role, "follower");
    cr_assert_str_eq(r->leader, l.d.rpc);
    st_client_response_free(r);
    r = NULL;
    const char *one[] = {
        "{\"source\":\"x\",\"seq\":1,\"warehouse\":\"wh-a\",\"movement\":{"
        "\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":1,\"to_location\":\"recv\"}}"};
    cr_assert_eq(submit(c, one, 1, &r), STOCKTWIN__STATUS__STATUS_NOT_LEADER);
    cr_assert_not_null(r);
    cr_assert_not_null(strstr(r->message, l.d.rpc), "%s", r->message);
    st_client_response_free(r);
    st_client_close(c);

    writers_stop();
    uint64_t acked = 0;
    for (int i = 0; i < WRITERS; i++)
        acked += ws[i].acked;
    cr_assert_gt(acked, 1000, "the load ran (%" PRIu64 " acknowledged)", acked);
    cr_assert(wait_same(&l.d, &f1.d, 20000), "follower 1 reaches the leader's digest");
    cr_assert(wait_same(&l.d, &f2.d, 20000), "follower 2 reaches the leader's digest");

    // The leader lists both followers, caught up.
    c = it_client(&l.d);
    r = NULL;
    cr_assert_eq(st_client_stats(c, &r), STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_str_eq(r->stats->role, "leader");
    cr_assert_eq(r->stats->n_followers, 2);
    st_client_response_free(r);
    st_client_close(c);

    it_daemon_stop(&f2.d);
    it_daemon_stop(&f1.d);
    it_daemon_stop(&l.d);
    node_remove(&f2);
    node_remove(&f1);
    node_remove(&l);
}

Test(replication, a_killed_follower_catches_up, .timeout = 120)
{
    node l, f;
    node_init(&l, "l");
    node_init(&f, "f");
    f.repl[0] = '\0';
    start_node(&l, NULL, NULL, NULL, NULL, NULL);
    setup(&l.d);
    start_node(&f, l.repl, NULL, NULL, NULL, NULL);
    writers_run(&l.d);
    for (int cycle = 0; cycle < 3; cycle++) {
        sleep_ms(700);
        it_daemon_kill9(&f.d);
        sleep_ms(300);
        start_node(&f, l.repl, NULL, NULL, NULL, NULL);
    }
    sleep_ms(700);
    writers_stop();
    cr_assert(wait_same(&l.d, &f.d, 20000), "the restarted follower reaches the leader's digest");
    it_daemon_stop(&f.d);
    it_daemon_stop(&l.d);
    node_remove(&f);
    node_remove(&l);
}

Test(replication, a_cut_off_follower_recovers_through_a_snapshot, .timeout = 180)
{
    node l, f;
    node_init(&l, "l");
    node_init(&f, "f");
    f.repl[0] = '\0';
    // Small segments and frequent snapshots, nothing retained: the leader
    // deletes what a stopped follower needs within a second or two.
    start_node(&l, NULL, "--segment-bytes", "65536", "--snapshot-interval", "200");
    setup(&l.d);
    start_node(&f, l.repl, NULL, NULL, NULL, NULL);
    cr_assert(wait_same(&l.d, &f.d, 20000));
    cr_assert_eq(kill(f.d.pid, SIGSTOP), 0);
    writers_run(&l.d);
    sleep_ms(3000);
    writers_stop();
    sleep_ms(500); // a last snapshot covers the end of the load
    cr_assert_eq(kill(f.d.pid, SIGCONT), 0);
    bool same = wait_same(&l.d, &f.d, 30000);
    char log[65536];
    it_daemon_log(&f.d, log, sizeof log);
    cr_assert(same, "the follower catches up through a snapshot: %s", log);
    cr_assert_not_null(strstr(log, "started over from the leader's snapshot"), "%s", log);
    it_daemon_stop(&f.d);
    it_daemon_stop(&l.d);
    node_remove(&f);
    node_remove(&l);
}

// on_hand of SKU-2 over wh-a and wh-c (their recv zones) on d.
static int64_t
units(const it_daemon *d)
{
    st_client *c = it_client(d);
    int64_t n = 0;
    Stocktwin__SkuWarehouse s;
    if (it_stock(c, "wh-a", "SKU-2", &s))
        n += s.on_hand;
    if (it_stock(c, "wh-c", "SKU-2", &s))
        n += s.on_hand;
    st_client_close(c);
    return n;
}

Test(replication, quorum_failover_loses_nothing_and_fences_the_old_leader, .timeout = 180)
{
    node l, f;
    node_init(&l, "l");
    node_init(&f, "f");
    start_node(&l, NULL, "--ack", "quorum=1", NULL, NULL);
    start_node(&f, l.repl, NULL, NULL, NULL, NULL);
    setup(&l.d);
    writer *ws = writers_run(&l.d);
    sleep_ms(2000);
    it_daemon_kill9(&l.d); // mid-load: some requests are never answered
    writers_stop();
    uint64_t acked = 0, sent = 0;
    for (int i = 0; i < WRITERS; i++) {
        acked += ws[i].acked;
        sent += ws[i].seq;
    }
    cr_assert_gt(acked, 0);

    char out[4096];
    char *const promote[] = {(char *)it_path("client/stocktwin"),
                             "--url",
                             f.d.rpc,
                             "--timeout",
                             "20000",
                             "promote",
                             NULL};
    cr_assert_eq(it_run(promote, NULL, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "epoch 2"), "%s", out);
    // The promoted node restarts as leader: wait for it to take writes.
    uint64_t until = now_ms() + 20000;
    int status = -1;
    while (now_ms() < until) {
        st_client *c = NULL;
        if (open_client(&f.d, 2000, &c) == 0) {
            const char *after[] = {"{\"source\":\"after\",\"seq\":1,\"warehouse\":\"wh-a\","
                                   "\"movement\":{\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\","
                                   "\"qty\":1,\"to_location\":\"recv\"}}"};
            Stocktwin__Response *r = NULL;
            status = submit(c, after, 1, &r);
            if (status == 0)
                status = r->statuses[0]->status;
            st_client_response_free(r);
            st_client_close(c);
        }
        if (status == STOCKTWIN__STATUS__STATUS_OK)
            break;
        sleep_ms(100);
    }
    cr_assert_eq(status, STOCKTWIN__STATUS__STATUS_OK, "the promoted node takes writes");
    int64_t have = units(&f.d) - 1;
    cr_assert_geq(have, (int64_t)acked,
                  "every acknowledged unit is on the new leader "
                  "(%" PRId64 " of %" PRIu64 " acknowledged, %" PRIu64 " sent)",
                  have, acked, sent);
    cr_assert_leq(have, (int64_t)sent);

    // The old leader comes back as a follower of the new one: fenced (epoch
    // 1 < 2), it starts over from the new leader's state.
    l.repl[0] = '\0';
    start_node(&l, f.repl, NULL, NULL, NULL, NULL);
    cr_assert(wait_same(&f.d, &l.d, 30000), "the old leader rejoins with the new leader's state");
    it_daemon_stop(&l.d);
    it_daemon_stop(&f.d);
    node_remove(&f);
    node_remove(&l);
}

// One raw request to a replication door; the reply's status (or -1), and
// its durable_lsn into *durable (may be NULL).
static int
raw_call(const char *url, const void *data, size_t len, char *message, size_t cap,
         uint64_t *durable)
{
    nng_socket s;
    nng_msg *m = NULL;
    int status = -1;
    if (nng_req0_open(&s) != 0)
        return -1;
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    if (nng_dial(s, url, NULL, 0) == 0 && nng_send(s, (void *)data, len, 0) == 0 &&
        nng_recvmsg(s, &m, 0) == 0) {
        Stocktwin__ReplResponse *r =
            stocktwin__repl_response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        if (r != NULL) {
            status = (int)r->status;
            snprintf(message, cap, "%s", r->message ? r->message : "");
            if (durable != NULL)
                *durable = r->durable_lsn;
            stocktwin__repl_response__free_unpacked(r, NULL);
        }
        nng_msg_free(m);
    }
    nng_close(s);
    return status;
}

static size_t
pack_fetch_durable(uint8_t *buf, uint32_t version, uint32_t workers, uint64_t epoch,
                   uint32_t worker, uint64_t from, uint64_t durable)
{
    Stocktwin__FetchRequest f = STOCKTWIN__FETCH_REQUEST__INIT;
    f.worker = worker;
    f.from_lsn = from;
    f.durable_lsn = durable;
    Stocktwin__ReplRequest q = STOCKTWIN__REPL_REQUEST__INIT;
    q.version = version;
    q.follower = "raw-test";
    q.workers = workers;
    q.epoch = epoch;
    q.body_case = STOCKTWIN__REPL_REQUEST__BODY_FETCH;
    q.fetch = &f;
    return stocktwin__repl_request__pack(&q, buf);
}

static size_t
pack_fetch(uint8_t *buf, uint32_t version, uint32_t workers, uint64_t epoch, uint32_t worker,
           uint64_t from)
{
    return pack_fetch_durable(buf, version, workers, epoch, worker, from, 0);
}

Test(replication, bad_requests_are_refused_and_break_nothing, .timeout = 120)
{
    node l, f;
    node_init(&l, "l");
    node_init(&f, "f");
    f.repl[0] = '\0';
    start_node(&l, NULL, NULL, NULL, NULL, NULL);
    setup(&l.d);
    char msg[512];
    uint8_t buf[512];
    cr_assert_eq(raw_call(l.repl, "\xff\xfe garbage", 10, msg, sizeof msg, NULL),
                 STOCKTWIN__STATUS__STATUS_MALFORMED, "%s", msg);
    size_t n = pack_fetch(buf, 1, 2, 1, 0, 1);
    cr_assert_eq(raw_call(l.repl, buf, n / 2, msg, sizeof msg, NULL),
                 STOCKTWIN__STATUS__STATUS_MALFORMED, "a truncated request: %s", msg);
    n = pack_fetch(buf, 7, 2, 1, 0, 1);
    cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, NULL),
                 STOCKTWIN__STATUS__STATUS_BAD_VERSION);
    n = pack_fetch(buf, 1, 3, 1, 0, 1);
    cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, NULL),
                 STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(msg, "--workers 2"), "%s", msg);
    n = pack_fetch(buf, 1, 2, 1, 9, 1);
    cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, NULL),
                 STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "%s", msg);
    n = pack_fetch(buf, 1, 2, 1, 0, 0);
    cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, NULL),
                 STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "%s", msg);
    // A good fetch still works, and a follower still follows.
    n = pack_fetch(buf, 1, 2, 1, 0, 1);
    cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, NULL), STOCKTWIN__STATUS__STATUS_OK,
                 "%s", msg);
    start_node(&f, l.repl, NULL, NULL, NULL, NULL);
    cr_assert(wait_same(&l.d, &f.d, 20000));
    // A request of a newer epoch deposes this leader: it refuses writes.
    n = pack_fetch(buf, 1, 2, 5, 0, 1);
    cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, NULL), STOCKTWIN__STATUS__STATUS_FENCED,
                 "%s", msg);
    st_client *c = it_client(&l.d);
    const char *late[] = {"{\"source\":\"late\",\"seq\":1,\"warehouse\":\"wh-a\","
                          "\"movement\":{\"kind\":\"RECEIVE\",\"sku\":\"SKU-2\",\"qty\":1,"
                          "\"to_location\":\"recv\"}}"};
    Stocktwin__Response *r = NULL;
    cr_assert_eq(submit(c, late, 1, &r), STOCKTWIN__STATUS__STATUS_FENCED);
    st_client_response_free(r);
    st_client_close(c);
    it_daemon_stop(&f.d);
    it_daemon_stop(&l.d);
    node_remove(&f);
    node_remove(&l);
}

// raw_lag: the lag in entries the leader's stats give the follower `name`.
static uint64_t
raw_lag(const it_daemon *d, const char *name)
{
    st_client *c = it_client(d);
    Stocktwin__Response *r = NULL;
    cr_assert_eq(st_client_stats(c, &r), STOCKTWIN__STATUS__STATUS_OK);
    uint64_t lag = UINT64_MAX;
    for (size_t i = 0; i < r->stats->n_followers; i++)
        if (strcmp(r->stats->followers[i]->follower, name) == 0)
            lag = r->stats->followers[i]->lag_entries;
    st_client_response_free(r);
    st_client_close(c);
    return lag;
}

// What a fetch acknowledges (quorum acks count on it): a version 2
// follower's durable_lsn, never past the frames it received (from_lsn - 1);
// a version 1 follower's from_lsn - 1.
Test(replication, a_fetch_acknowledges_what_the_follower_made_durable, .timeout = 120)
{
    node l;
    node_init(&l, "l");
    start_node(&l, NULL, NULL, NULL, NULL, NULL);
    setup(&l.d);
    char msg[512];
    uint8_t buf[512];
    uint64_t d[2] = {0, 0};
    for (uint32_t w = 0; w < 2; w++) {
        size_t n = pack_fetch_durable(buf, 2, 2, 1, w, 1, 0);
        cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, &d[w]), STOCKTWIN__STATUS__STATUS_OK,
                     "%s", msg);
        cr_assert_geq(d[w], 3, "the setup wrote to worker %u's log (%" PRIu64 ")", w, d[w]);
    }
    cr_assert_eq(raw_lag(&l.d, "raw-test"), d[0] + d[1]);
    struct {
        uint32_t version;
        uint64_t durable, lag;
    } cases[] = {
        {2, 0, d[0] + d[1]},     // received all of worker 0, nothing durable yet
        {2, 5, d[0] - 5 + d[1]}, // five durable
        {2, d[0], d[1]},         // all of it durable
        {2, 3, d[0] - 3 + d[1]}, // a follower that started over from less
        {2, d[0] + 100, d[1]},   // never past what it received
        {1, 0, d[1]},            // version 1: from_lsn - 1 is durable
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = pack_fetch_durable(buf, cases[i].version, 2, 1, 0, d[0] + 1, cases[i].durable);
        uint64_t now = 0;
        cr_assert_eq(raw_call(l.repl, buf, n, msg, sizeof msg, &now), STOCKTWIN__STATUS__STATUS_OK,
                     "case %zu: %s", i, msg);
        cr_assert_eq(now, d[0], "the leader was idle");
        cr_assert_eq(raw_lag(&l.d, "raw-test"), cases[i].lag, "case %zu", i);
    }
    it_daemon_stop(&l.d);
    node_remove(&l);
}

// ---------------------------------------------------------------------------
// A fake leader: answers a follower's fetches with what a script says, to
// prove that nothing unchecked reaches the follower's state.

typedef struct fake_leader {
    nng_socket sock;
    pthread_t thread;
    atomic_bool stop;
    atomic_int step;                    // fetches answered so far (fake_main)
    atomic_int v1_fetches, v2_requests; // old_leader_main
} fake_leader;

// fake_start runs fn (a fake leader's loop) on a replication door at a free
// loopback port, whose URL it writes into url (64 bytes).
static void
fake_start(fake_leader *fl, void *(*fn)(void *), char *url)
{
    snprintf(url, 64, "tcp://127.0.0.1:%u", it_free_port());
    cr_assert_eq(nng_rep0_open(&fl->sock), 0);
    nng_socket_set_ms(fl->sock, NNG_OPT_RECVTIMEO, 100);
    cr_assert_eq(nng_listen(fl->sock, url, NULL, 0), 0);
    cr_assert_eq(pthread_create(&fl->thread, NULL, fn, fl), 0);
}

// follow_fake starts node f (named "f") as a follower of a fake leader.
static void
follow_fake(node *f, const char *url)
{
    node_init(f, "f");
    f->repl[0] = '\0';
    start_node(f, url, NULL, NULL, NULL, NULL);
}

static void
fake_stop(fake_leader *fl)
{
    atomic_store(&fl->stop, true);
    pthread_join(fl->thread, NULL);
    nng_close(fl->sock);
}

// fake_recv waits for the next request: true with *q its ReplRequest (NULL
// if it is not one; free it), false at the receive timeout (look at stop).
static bool
fake_recv(fake_leader *fl, Stocktwin__ReplRequest **q)
{
    nng_msg *m = NULL;
    if (nng_recvmsg(fl->sock, &m, 0) != 0)
        return false;
    *q = stocktwin__repl_request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    return true;
}

// fake_reply answers with r, from a leader of epoch `epoch` with 2 workers
// that began at LSN 1.
static void
fake_reply(fake_leader *fl, Stocktwin__ReplResponse *r, uint64_t epoch)
{
    uint64_t starts[2] = {1, 1};
    r->workers = r->workers ? r->workers : 2;
    r->epoch = r->epoch ? r->epoch : epoch;
    r->epoch_start = starts;
    r->n_epoch_start = 2;
    size_t n = stocktwin__repl_response__get_packed_size(r);
    uint8_t *buf = malloc(n ? n : 1);
    stocktwin__repl_response__pack(r, buf);
    nng_send(fl->sock, buf, n, 0);
    free(buf);
}

// frame writes one WAL frame (shards/wal.c layout) of `payload` at lsn into
// out; returns its size. bad_sum: a wrong checksum.
static size_t
frame(uint8_t *out, uint64_t lsn, const uint8_t *payload, uint32_t len, bool bad_sum)
{
    memset(out, 0, 24 + len + 8);
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++)
        out[8 + i] = (uint8_t)(lsn >> (8 * i));
    memcpy(out + 24, payload, len);
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, out, 16);
    XXH3_64bits_update(st, payload, len);
    uint64_t sum = XXH3_64bits_digest(st) ^ (bad_sum ? 1u : 0u);
    XXH3_freeState(st);
    for (int i = 0; i < 8; i++)
        out[16 + i] = (uint8_t)(sum >> (8 * i));
    return (24 + len + 7) & ~(size_t)7;
}

static void *
fake_main(void *arg)
{
    fake_leader *fl = arg;
    while (!atomic_load(&fl->stop)) {
        Stocktwin__ReplRequest *q = NULL;
        if (!fake_recv(fl, &q))
            continue;
        uint64_t from =
            q && q->body_case == STOCKTWIN__REPL_REQUEST__BODY_FETCH ? q->fetch->from_lsn : 1;
        uint32_t worker = q && q->fetch ? q->fetch->worker : 0;
        stocktwin__repl_request__free_unpacked(q, NULL);
        int step = atomic_fetch_add(&fl->step, 1);
        Stocktwin__ReplResponse r = STOCKTWIN__REPL_RESPONSE__INIT;
        r.worker = worker;
        r.first_lsn = from;
        r.durable_lsn = from + 10;
        uint8_t frames[256];
        static const uint8_t junk[] = "not a LogEntry at all";
        switch (step) {
        case 0: { // not protobuf
            static const char garbage[] = "\xff\xff\xff\xff garbage";
            nng_send(fl->sock, (void *)garbage, sizeof garbage, 0);
            continue;
        }
        case 1: // the wrong worker count
            r.workers = 3;
            break;
        case 2: // a frame with a bad checksum
            r.frames.len = frame(frames, from, junk, sizeof junk, true);
            r.frames.data = frames;
            r.count = 1;
            break;
        case 3: // a frame that skips LSNs
            r.frames.len = frame(frames, from + 5, junk, sizeof junk, false);
            r.frames.data = frames;
            r.count = 1;
            break;
        case 4: // a sound frame whose payload is not a LogEntry
            r.frames.len = frame(frames, from, junk, sizeof junk, false);
            r.frames.data = frames;
            r.count = 1;
            break;
        case 5: // a truncated frame
            r.frames.len = frame(frames, from, junk, sizeof junk, false) - 12;
            r.frames.data = frames;
            r.count = 1;
            break;
        case 6: // a deposed leader's answer: an epoch older than one seen (2)
            r.epoch = 1;
            r.frames.len = frame(frames, from, junk, sizeof junk, false);
            r.frames.data = frames;
            r.count = 1;
            break;
        default: // nothing new
            break;
        }
        fake_reply(fl, &r, 2);
    }
    return NULL;
}

// A leader of an older build speaks protocol 1 only: it refuses a version 2
// request, and the follower fetches the way it expects (version 1: no
// pipelining, from_lsn - 1 durable) instead of retrying for ever.
static void *
old_leader_main(void *arg)
{
    fake_leader *ol = arg;
    while (!atomic_load(&ol->stop)) {
        Stocktwin__ReplRequest *q = NULL;
        if (!fake_recv(ol, &q))
            continue;
        Stocktwin__ReplResponse r = STOCKTWIN__REPL_RESPONSE__INIT;
        if (q != NULL && q->version != 1) {
            atomic_fetch_add(&ol->v2_requests, 1);
            r.status = STOCKTWIN__STATUS__STATUS_BAD_VERSION;
            r.message = "replication protocol version 2 is not spoken here (1)";
        } else if (q != NULL && q->body_case == STOCKTWIN__REPL_REQUEST__BODY_FETCH) {
            atomic_fetch_add(&ol->v1_fetches, 1);
            r.worker = q->fetch->worker;
            r.first_lsn = q->fetch->from_lsn; // nothing new
        }
        stocktwin__repl_request__free_unpacked(q, NULL);
        fake_reply(ol, &r, 1);
    }
    return NULL;
}

Test(replication, a_follower_speaks_version_1_to_an_older_leader, .timeout = 120)
{
    fake_leader ol = {0};
    char url[64];
    fake_start(&ol, old_leader_main, url);
    node f;
    follow_fake(&f, url);
    uint64_t until = now_ms() + 20000;
    while (atomic_load(&ol.v1_fetches) < 6 && now_ms() < until)
        sleep_ms(50);
    cr_assert_geq(atomic_load(&ol.v1_fetches), 6, "the follower fetched with version 1");
    cr_assert_leq(atomic_load(&ol.v2_requests), 2, "once refused, each worker stays at 1");
    char log[65536];
    it_daemon_log(&f.d, log, sizeof log);
    cr_assert_not_null(strstr(log, "speaks replication protocol 1 only"), "%s", log);
    it_daemon_stop(&f.d);
    fake_stop(&ol);
    node_remove(&f);
}

Test(replication, a_follower_refuses_bad_frames_from_its_leader, .timeout = 120)
{
    fake_leader fl = {0};
    char url[64];
    fake_start(&fl, fake_main, url);
    node f;
    follow_fake(&f, url);
    uint64_t applied[2] = {0};
    uint64_t before = digest_of(&f.d, applied);
    uint64_t until = now_ms() + 20000;
    while (atomic_load(&fl.step) < 12 && now_ms() < until)
        sleep_ms(50);
    cr_assert_geq(atomic_load(&fl.step), 12, "the follower kept fetching");
    uint64_t after[2] = {9, 9};
    cr_assert_eq(digest_of(&f.d, after), before, "the state did not change");
    cr_assert_eq(after[0], 0);
    cr_assert_eq(after[1], 0);
    char log[65536];
    it_daemon_log(&f.d, log, sizeof log);
    static const char *const said[] = {
        "is not a stocktwin.ReplResponse", "runs 3 workers",         "checksum mismatch",
        "does not follow entry",           "older than 2 seen here",
    };
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        cr_assert_not_null(strstr(log, said[i]), "'%s' in %s", said[i], log);
    it_daemon_stop(&f.d);
    fake_stop(&fl);
    node_remove(&f);
}
