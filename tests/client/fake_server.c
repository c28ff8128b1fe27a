// fake_server.c - see fake_server.h.
#include "fake_server.h"

#include "support/free_port.h"

#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_CHECK(expr)                                                                           \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "%s:%d: fake server: %s failed\n", __FILE__, __LINE__, #expr);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fake_server {
    nng_socket sock;
    char url[128];
    char path[128];
    fake_handler handler;
    void *arg;
    pthread_t thread;
    atomic_bool stop;
    atomic_int requests;
    pthread_mutex_t mu;
    Stocktwin__Request *last; // guarded by mu
};

static atomic_int fake_counter;

// fake_url picks a loopback TCP port that was free a moment ago. Not an
// ipc:// path: closing sockets dialed over ipc:// can deadlock or panic in
// nng 1.5.2 (nanomsg/nng#1543, #1813), which made these tests flaky under
// load. `path` is left empty (nothing to remove).
void
fake_url(char *url, size_t url_len, char *path, size_t path_len)
{
    (void)atomic_fetch_add(&fake_counter, 1);
    unsigned port = st_test_free_port();
    FAKE_CHECK(port != 0);
    snprintf(url, url_len, "tcp://127.0.0.1:%u", port);
    if (path_len > 0)
        path[0] = '\0';
}

nng_msg *
fake_msg_from_response(const Stocktwin__Response *r)
{
    nng_msg *m = NULL;
    size_t len = stocktwin__response__get_packed_size(r);
    FAKE_CHECK(nng_msg_alloc(&m, len) == 0);
    stocktwin__response__pack(r, nng_msg_body(m));
    return m;
}

static nng_msg *
fake_batch_reply(const Stocktwin__Request *req, Stocktwin__Response *resp)
{
    size_t n = req->batch->n_events;
    Stocktwin__EventStatus *st = calloc(n ? n : 1, sizeof *st);
    Stocktwin__EventStatus **sp = calloc(n ? n : 1, sizeof *sp);
    for (size_t i = 0; i < n; i++) {
        stocktwin__event_status__init(&st[i]);
        if (strcmp(req->batch->events[i]->source, "reject") == 0) {
            st[i].status = STOCKTWIN__STATUS__STATUS_UNKNOWN_PRODUCT;
            st[i].message = "sku not in catalog";
        }
        sp[i] = &st[i];
    }
    resp->n_statuses = n;
    resp->statuses = sp;
    nng_msg *m = fake_msg_from_response(resp);
    free(sp);
    free(st);
    return m;
}

// Canned query results, on the stack: packing only reads them.
static nng_msg *
fake_query_reply(const Stocktwin__Request *req, Stocktwin__Response *resp)
{
    Stocktwin__LocationQty loc = STOCKTWIN__LOCATION_QTY__INIT;
    loc.zone = "z1";
    loc.shelf = "s1";
    loc.qty = 7;
    Stocktwin__LocationQty *locs[] = {&loc};
    Stocktwin__InventoryLine line = STOCKTWIN__INVENTORY_LINE__INIT;
    line.sku = "SKU1";
    line.name = "Widget";
    line.on_hand = 7;
    line.available = 7;
    line.reorder_point = 10;
    line.below_reorder = true;
    line.n_locations = 1;
    line.locations = locs;
    Stocktwin__InventoryLine *lines[] = {&line};
    Stocktwin__InventoryResult inv = STOCKTWIN__INVENTORY_RESULT__INIT;
    Stocktwin__SkuResult sku = STOCKTWIN__SKU_RESULT__INIT;
    Stocktwin__TwinResult twin = STOCKTWIN__TWIN_RESULT__INIT;
    Stocktwin__AlertsResult alerts = STOCKTWIN__ALERTS_RESULT__INIT;
    Stocktwin__StatsResult stats = STOCKTWIN__STATS_RESULT__INIT;
    const Stocktwin__Query *q = req->query;
    switch (q->kind_case) {
    case STOCKTWIN__QUERY__KIND_INVENTORY:
        inv.warehouse = q->inventory->warehouse;
        inv.total_skus = 1;
        inv.n_lines = 1;
        inv.lines = lines;
        resp->result_case = STOCKTWIN__RESPONSE__RESULT_INVENTORY;
        resp->inventory = &inv;
        break;
    case STOCKTWIN__QUERY__KIND_SKU:
        sku.sku = q->sku->sku;
        resp->result_case = STOCKTWIN__RESPONSE__RESULT_SKU;
        resp->sku = &sku;
        break;
    case STOCKTWIN__QUERY__KIND_TWIN:
        if (strcmp(q->twin->id, "missing") == 0) {
            resp->status = STOCKTWIN__STATUS__STATUS_NOT_FOUND;
            resp->message = "no twin called missing";
            break;
        }
        twin.id = q->twin->id;
        twin.kind = STOCKTWIN__TWIN_KIND__TWIN_SHELF;
        resp->result_case = STOCKTWIN__RESPONSE__RESULT_TWIN;
        resp->twin = &twin;
        break;
    case STOCKTWIN__QUERY__KIND_ALERTS:
        resp->result_case = STOCKTWIN__RESPONSE__RESULT_ALERTS;
        resp->alerts = &alerts;
        break;
    default:
        stats.uptime_ms = 1234;
        resp->result_case = STOCKTWIN__RESPONSE__RESULT_STATS;
        resp->stats = &stats;
        break;
    }
    return fake_msg_from_response(resp);
}

nng_msg *
fake_standard_handler(const Stocktwin__Request *req, void *arg)
{
    (void)arg;
    Stocktwin__Response resp = STOCKTWIN__RESPONSE__INIT;
    if (req == NULL || req->body_case == STOCKTWIN__REQUEST__BODY__NOT_SET) {
        resp.status = STOCKTWIN__STATUS__STATUS_MALFORMED;
        resp.message = "not a Request";
        return fake_msg_from_response(&resp);
    }
    resp.request_id = req->request_id;
    if (req->body_case == STOCKTWIN__REQUEST__BODY_BATCH) {
        return fake_batch_reply(req, &resp);
    }
    return fake_query_reply(req, &resp);
}

static void *
fake_server_main(void *arg)
{
    struct fake_server *s = arg;
    while (!atomic_load(&s->stop)) {
        nng_msg *msg = NULL;
        int rv = nng_recvmsg(s->sock, &msg, 0);
        if (rv == NNG_ETIMEDOUT) {
            continue;
        }
        if (rv != 0) {
            break;
        }
        atomic_fetch_add(&s->requests, 1);
        Stocktwin__Request *req =
            stocktwin__request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
        nng_msg_free(msg);
        nng_msg *reply = s->handler(req, s->arg);
        pthread_mutex_lock(&s->mu);
        if (req != NULL) {
            if (s->last != NULL) {
                stocktwin__request__free_unpacked(s->last, NULL);
            }
            s->last = req;
        }
        pthread_mutex_unlock(&s->mu);
        if (reply != NULL && nng_sendmsg(s->sock, reply, 0) != 0) {
            nng_msg_free(reply);
        }
    }
    return NULL;
}

struct fake_server *
fake_server_start(fake_handler handler, void *arg)
{
    struct fake_server *s = calloc(1, sizeof *s);
    FAKE_CHECK(s != NULL);
    fake_url(s->url, sizeof s->url, s->path, sizeof s->path);
    s->handler = handler ? handler : fake_standard_handler;
    s->arg = arg;
    pthread_mutex_init(&s->mu, NULL);
    FAKE_CHECK(nng_rep0_open(&s->sock) == 0);
    // Short receive waits, so that stop is noticed quickly.
    FAKE_CHECK(nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, 20) == 0);
    FAKE_CHECK(nng_listen(s->sock, s->url, NULL, 0) == 0);
    FAKE_CHECK(pthread_create(&s->thread, NULL, fake_server_main, s) == 0);
    return s;
}

const char *
fake_server_url(const struct fake_server *s)
{
    return s->url;
}

int
fake_server_requests(struct fake_server *s)
{
    return atomic_load(&s->requests);
}

Stocktwin__Request *
fake_server_last_request(struct fake_server *s)
{
    pthread_mutex_lock(&s->mu);
    Stocktwin__Request *copy = NULL;
    if (s->last != NULL) {
        size_t len = stocktwin__request__get_packed_size(s->last);
        uint8_t *buf = malloc(len ? len : 1);
        stocktwin__request__pack(s->last, buf);
        copy = stocktwin__request__unpack(NULL, len, buf);
        free(buf);
    }
    pthread_mutex_unlock(&s->mu);
    return copy;
}

void
fake_server_stop(struct fake_server *s)
{
    if (s == NULL) {
        return;
    }
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    nng_close(s->sock);
    if (s->last != NULL) {
        stocktwin__request__free_unpacked(s->last, NULL);
    }
    pthread_mutex_destroy(&s->mu);
    unlink(s->path);
    free(s);
}

void
fake_pub_start(struct fake_socket *f)
{
    fake_url(f->url, sizeof f->url, f->path, sizeof f->path);
    FAKE_CHECK(nng_pub0_open(&f->sock) == 0);
    FAKE_CHECK(nng_listen(f->sock, f->url, NULL, 0) == 0);
}

void
fake_pull_start(struct fake_socket *f)
{
    fake_url(f->url, sizeof f->url, f->path, sizeof f->path);
    FAKE_CHECK(nng_pull0_open(&f->sock) == 0);
    FAKE_CHECK(nng_listen(f->sock, f->url, NULL, 0) == 0);
}

void
fake_socket_stop(struct fake_socket *f)
{
    nng_close(f->sock);
    unlink(f->path);
}
