// peer_postgres.c - the PostgreSQL model of the comparison, over libpq.
//
// The table is the issue's: stock(warehouse text, sku text, on_hand bigint,
// primary key (warehouse, sku)), created with fillfactor 90 so an update can
// stay on its page (a HOT update, no index entry) as on any table people
// update in place; loaded with COPY, the primary key built afterwards, then
// VACUUM ANALYZE and a CHECKPOINT, so the measured run starts from a settled
// table as a production one would be.
//
// An update is the prepared statement
//   UPDATE stock SET on_hand = on_hand + $1 WHERE warehouse = $2 AND sku = $3
// and a request of B updates is one transaction: B executions sent in libpq's
// pipeline mode followed by one Sync, which commits them (the protocol's
// implicit transaction: committed at the Sync if every statement succeeded,
// rolled back otherwise). With synchronous_commit on, the Sync's reply comes
// after the commit record was flushed: one WAL flush per request, shared by
// whatever other backends commit at the same moment (group commit).
//
// A request's updates are sorted by key before they are sent. Two
// transactions that update two common rows in opposite orders deadlock (one
// is aborted after deadlock_timeout); locking rows in one global order is
// what an application does about it. The stream is the same; only the order
// inside a transaction changes, and increments commute.
//
// Depth: pipeline mode lets a connection have --depth transactions in
// flight, sent back to back; the backend still executes them one after the
// other (it waits for a transaction's commit flush before it reads the
// next), so depth hides the round trip, not the flush.
//
// Thread: setup, fetch and describe on the main thread with a connection of
// their own; pg_run_conn on each connection's thread (a PGconn is used by
// one thread only).
#include <libpq-fe.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>

#include "peer_load.h"

#define COPY_BUF_BYTES 65536u
#define UPDATE_SQL "UPDATE stock SET on_hand = on_hand + $1 WHERE warehouse = $2 AND sku = $3"

static PGconn *
pg_connect(peer_run *r)
{
    char port[8];
    snprintf(port, sizeof port, "%d", r->o.port);
    const char *keys[] = {"host", "port", "dbname", "user", "application_name", NULL};
    const char *vals[] = {r->o.host, port, r->o.dbname, r->o.user, "stocktwin-peer-load", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "stocktwin-peer-load: postgres %s:%d: %s", r->o.host, r->o.port,
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        return NULL;
    }
    return c;
}

// Runs one statement outside pipeline mode. Returns 0 or 1 after saying why.
static int
pg_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int bad = st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
    if (bad)
        fprintf(stderr, "stocktwin-peer-load: postgres: %s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    return bad;
}

// ---------------------------------------------------------------------------
// The run (connection threads)

typedef struct pg_req {
    int64_t sent_ns;
    peer_update *u;   // [batch], sorted by key
    uint32_t results; // statement results seen so far
    bool ok;          // every one of them updated one row
} pg_req;

typedef struct pg_conn {
    peer_run *r;
    uint32_t index;
    PGconn *c;
    pg_req *q; // ring of depth requests, the oldest at head
    uint32_t head, count;
    uint64_t rng;
} pg_conn;

static int
cmp_update(const void *a, const void *b)
{
    uint32_t x = ((const peer_update *)a)->key, y = ((const peer_update *)b)->key;
    return x < y ? -1 : x > y;
}

// Queues one transaction of `batch` updates and its Sync.
static int
send_request(pg_conn *pc)
{
    peer_run *r = pc->r;
    pg_req *q = &pc->q[(pc->head + pc->count) % r->o.depth];
    q->sent_ns = peer_now_ns();
    q->results = 0, q->ok = true;
    for (uint32_t i = 0; i < r->o.batch; i++)
        q->u[i] = peer_next_update(r, &pc->rng);
    qsort(q->u, r->o.batch, sizeof *q->u, cmp_update);
    for (uint32_t i = 0; i < r->o.batch; i++) {
        char delta[16];
        snprintf(delta, sizeof delta, "%" PRId32, q->u[i].delta);
        const char *params[3] = {delta, r->wh_ids[q->u[i].key / r->o.skus],
                                 r->sku_ids[q->u[i].key % r->o.skus]};
        if (!PQsendQueryPrepared(pc->c, "upd", 3, params, NULL, NULL, 0))
            return 1;
    }
    if (!PQpipelineSync(pc->c))
        return 1;
    atomic_fetch_add_explicit(&r->run.events_sent, r->o.batch, memory_order_relaxed);
    pc->count++;
    return 0;
}

// One result of the oldest request: a statement's (an UPDATE of one row, or
// an error, or "aborted" for those after an error) or its Sync's, which
// completes the request.
static void
take_result(pg_conn *pc, PGresult *res)
{
    peer_run *r = pc->r;
    PEER_ASSERT(pc->count > 0);
    pg_req *q = &pc->q[pc->head];
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
        peer_request_done(r, q->u, r->o.batch, q->ok && q->results == r->o.batch, q->sent_ns);
        pc->head = (pc->head + 1) % r->o.depth, pc->count--;
        return;
    }
    q->results++;
    if (st != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0) {
        if (q->ok && st != PGRES_PIPELINE_ABORTED)
            peer_error(r, "postgres: UPDATE: %s %s", PQresStatus(st), PQresultErrorMessage(res));
        q->ok = false;
    }
}

// Reads what has arrived and takes every result that is complete. Returns 0,
// or 1 when the connection failed.
static int
read_results(pg_conn *pc)
{
    if (!PQconsumeInput(pc->c))
        return 1;
    int nulls = 0;
    while (pc->count > 0 && !PQisBusy(pc->c)) {
        PGresult *res = PQgetResult(pc->c);
        if (res == NULL) { // the end of one statement's results
            if (++nulls > 1)
                break; // nothing more until input arrives
            continue;
        }
        nulls = 0;
        take_result(pc, res);
        PQclear(res);
    }
    return PQstatus(pc->c) == CONNECTION_BAD;
}

// Keeps depth transactions in flight until r->stop, then completes those in
// flight. The socket is non-blocking: writing a deep pipeline while the
// server's results pile up unread could otherwise block both sides.
static int
pipeline_loop(pg_conn *pc)
{
    peer_run *r = pc->r;
    for (;;) {
        while (pc->count < r->o.depth && !atomic_load(&r->stop)) {
            if (send_request(pc) != 0)
                return 1;
        }
        if (pc->count == 0)
            return 0;
        int flush = PQflush(pc->c);
        if (flush < 0)
            return 1;
        struct pollfd p = {.fd = PQsocket(pc->c), .events = POLLIN | (flush ? POLLOUT : 0)};
        if (poll(&p, 1, 1000) < 0)
            return 1;
        if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && read_results(pc) != 0)
            return 1;
    }
}

static int
pg_run_conn(peer_run *r, uint32_t index)
{
    pg_conn pc = {.r = r, .index = index, .rng = peer_stream_seed(r, index)};
    peer_update *u = calloc((size_t)r->o.depth * r->o.batch, sizeof *u);
    pc.q = calloc(r->o.depth, sizeof *pc.q);
    int rc = 1;
    if (!u || !pc.q || !(pc.c = pg_connect(r)))
        goto done;
    for (uint32_t i = 0; i < r->o.depth; i++)
        pc.q[i].u = &u[(size_t)i * r->o.batch];
    const Oid types[3] = {20 /* int8 */, 25 /* text */, 25};
    PGresult *res = PQprepare(pc.c, "upd", UPDATE_SQL, 3, types);
    int bad = PQresultStatus(res) != PGRES_COMMAND_OK;
    PQclear(res);
    if (bad || !PQenterPipelineMode(pc.c) || PQsetnonblocking(pc.c, 1) != 0)
        goto done;
    rc = pipeline_loop(&pc);
done:
    if (rc != 0) {
        peer_error(r, "postgres: connection %u failed: %s", index,
                   pc.c ? PQerrorMessage(pc.c) : "could not connect");
        for (uint32_t i = 0; i < pc.count; i++) { // outcome unknown
            pg_req *q = &pc.q[(pc.head + i) % r->o.depth];
            peer_request_done(r, q->u, r->o.batch, false, q->sent_ns);
        }
    }
    PQfinish(pc.c);
    free(pc.q);
    free(u);
    return rc;
}

// ---------------------------------------------------------------------------
// Setup, fetch, describe (main thread)

// COPY of every record, with a progress line a second.
static int
copy_records(peer_run *r, PGconn *c)
{
    PGresult *res = PQexec(c, "COPY stock (warehouse, sku, on_hand) FROM STDIN");
    int bad = PQresultStatus(res) != PGRES_COPY_IN;
    PQclear(res);
    char *buf = malloc(COPY_BUF_BYTES);
    size_t len = 0;
    int64_t t0 = peer_now_ns(), last = t0;
    for (uint64_t k = 0; !bad && buf && k < r->keys; k++) {
        int n = snprintf(buf + len, COPY_BUF_BYTES - len, "%s\t%s\t%" PRId64 "\n",
                         r->wh_ids[k / r->o.skus], r->sku_ids[k % r->o.skus], r->o.initial_qty);
        PEER_ASSERT(n > 0 && (size_t)n < COPY_BUF_BYTES - len);
        len += (size_t)n;
        if (len > COPY_BUF_BYTES - 64 || k + 1 == r->keys) {
            bad = PQputCopyData(c, buf, (int)len) != 1;
            len = 0;
            peer_progress("COPY", k + 1, r->keys, t0, &last);
        }
    }
    free(buf);
    if (PQputCopyEnd(c, bad ? "stocktwin-peer-load: setup failed" : NULL) != 1)
        bad = 1;
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "stocktwin-peer-load: postgres: COPY: %s", PQresultErrorMessage(res));
            bad = 1;
        }
        PQclear(res);
    }
    return bad || !buf;
}

static int
pg_setup(peer_run *r)
{
    PGconn *c = pg_connect(r);
    if (!c)
        return 1;
    int bad = pg_exec(c, "DROP TABLE IF EXISTS stock") ||
              pg_exec(c, "CREATE TABLE stock (warehouse text NOT NULL, sku text NOT NULL, "
                         "on_hand bigint NOT NULL) WITH (fillfactor = 90)") ||
              copy_records(r, c);
    int64_t t0 = peer_now_ns();
    if (!bad)
        fprintf(stderr, "setup: primary key, VACUUM ANALYZE, CHECKPOINT\n");
    bad = bad || pg_exec(c, "ALTER TABLE stock ADD PRIMARY KEY (warehouse, sku)") ||
          pg_exec(c, "VACUUM (ANALYZE) stock") || pg_exec(c, "CHECKPOINT");
    if (!bad)
        fprintf(stderr, "setup: index and vacuum in %.1f s\n", (double)(peer_now_ns() - t0) / 1e9);
    PQfinish(c);
    return bad;
}

// Reads the sampled skus of one warehouse into out.
static int
fetch_warehouse(peer_run *r, PGconn *c, uint32_t w, const int32_t *sample_of, const char *arr,
                int64_t *out)
{
    const char *params[2] = {r->wh_ids[w], arr};
    PGresult *res = PQexecParams(c,
                                 "SELECT sku, on_hand FROM stock WHERE warehouse = $1 AND "
                                 "sku = ANY($2::text[])",
                                 2, NULL, params, NULL, NULL, 0);
    int bad = PQresultStatus(res) != PGRES_TUPLES_OK;
    if (bad)
        fprintf(stderr, "stocktwin-peer-load: postgres: verify: %s", PQresultErrorMessage(res));
    for (int i = 0; !bad && i < PQntuples(res); i++) {
        unsigned sku;
        if (sscanf(PQgetvalue(res, i, 0), "SKU-%u", &sku) == 1 && sku < r->o.skus &&
            sample_of[sku] >= 0)
            out[(size_t)sample_of[sku] * r->o.warehouses + w] =
                strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    PQclear(res);
    return bad;
}

// The sampled skus as a text[] literal, "{SKU-000001,SKU-000042,...}";
// sample_of[sku] = its index in the sample, or -1. NULL when out of memory.
static char *
sample_array(peer_run *r, int32_t *sample_of)
{
    size_t size = 3, len = 0;
    for (uint32_t i = 0; i < r->verify_n; i++)
        size += strlen(r->sku_ids[r->verify_skus[i]]) + 1;
    char *arr = malloc(size);
    if (arr == NULL)
        return NULL;
    for (uint32_t s = 0; s < r->o.skus; s++)
        sample_of[s] = -1;
    arr[len++] = '{';
    for (uint32_t i = 0; i < r->verify_n; i++) {
        const char *sku = r->sku_ids[r->verify_skus[i]];
        size_t n = strlen(sku);
        if (i > 0)
            arr[len++] = ',';
        memcpy(arr + len, sku, n);
        len += n;
        sample_of[r->verify_skus[i]] = (int32_t)i;
    }
    arr[len++] = '}';
    arr[len] = '\0';
    PEER_ASSERT(len < size);
    return arr;
}

static int
pg_fetch(peer_run *r, int64_t *out)
{
    for (size_t i = 0; i < (size_t)r->verify_n * r->o.warehouses; i++)
        out[i] = -1;
    int32_t *sample_of = malloc(r->o.skus * sizeof *sample_of);
    char *arr = sample_of ? sample_array(r, sample_of) : NULL;
    PGconn *c = arr ? pg_connect(r) : NULL;
    int bad = c == NULL;
    for (uint32_t w = 0; !bad && w < r->o.warehouses; w++)
        bad = fetch_warehouse(r, c, w, sample_of, arr, out);
    PQfinish(c);
    free(arr);
    free(sample_of);
    return bad;
}

// The first row's first column of a query, into out ("?" when it failed).
static void
pg_value(PGconn *c, const char *sql, char *out, size_t size)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
    else
        snprintf(out, size, "?");
    PQclear(res);
}

static int
pg_describe(peer_run *r)
{
    PGconn *c = pg_connect(r);
    if (!c)
        return 1;
    char version[64], sc[8], fs[8], fpw[8], sb[16], records[24], hot[64];
    pg_value(c, "SHOW server_version", version, sizeof version);
    version[strcspn(version, " ")] = '\0'; // "15.18 (Debian ...)" -> "15.18"
    pg_value(c, "SHOW synchronous_commit", sc, sizeof sc);
    pg_value(c, "SHOW fsync", fs, sizeof fs);
    pg_value(c, "SHOW full_page_writes", fpw, sizeof fpw);
    pg_value(c, "SHOW shared_buffers", sb, sizeof sb);
    pg_value(c, "SELECT count(*) FROM stock", records, sizeof records);
    pg_value(c,
             "SELECT n_tup_upd || ' updates, ' || n_tup_hot_upd || ' HOT' FROM "
             "pg_stat_user_tables WHERE relname = 'stock'",
             hot, sizeof hot);
    snprintf(r->server, sizeof r->server, "PostgreSQL %s", version);
    snprintf(r->sync, sizeof r->sync,
             "synchronous_commit %s, fsync %s, full_page_writes %s, shared_buffers %s", sc, fs, fpw,
             sb);
    r->records = strtoull(records, NULL, 10);
    fprintf(stderr, "postgres: table stock since its creation: %s\n", hot);
    PQfinish(c);
    return strcmp(records, "?") == 0;
}

const peer_ops peer_postgres_ops = {
    .name = "postgres",
    .default_port = 5432,
    .setup = pg_setup,
    .run_conn = pg_run_conn,
    .fetch = pg_fetch,
    .describe = pg_describe,
};
