// client_test.c - libstocktwin's RPC client and pusher against fake servers:
// round trips, pipelining, query building, timeouts, bad replies, limits.
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "fake_server.h"
#include "stocktwin.h"

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Events on the stack: the client only reads them while encoding.
struct test_events {
    Stocktwin__Event events[8];
    Stocktwin__StockMovement moves[8];
    Stocktwin__Event *ptrs[8];
};

static void
test_events_init(struct test_events *t, size_t n, const char *source)
{
    cr_assert(n <= 8);
    for (size_t i = 0; i < n; i++) {
        stocktwin__event__init(&t->events[i]);
        stocktwin__stock_movement__init(&t->moves[i]);
        t->moves[i].kind = STOCKTWIN__MOVEMENT_KIND__RECEIVE;
        t->moves[i].sku = "SKU1";
        t->moves[i].qty = 5;
        t->moves[i].to_location = "z1";
        t->events[i].source = (char *)source;
        t->events[i].seq = i + 1;
        t->events[i].warehouse = "wh-1";
        t->events[i].kind_case = STOCKTWIN__EVENT__KIND_MOVEMENT;
        t->events[i].movement = &t->moves[i];
        t->ptrs[i] = &t->events[i];
    }
}

Test(client, submit_round_trip_sets_version_credential_and_parses_statuses)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    st_client_opts o = {.credential = "secret"};
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), &o, &c), 0, "%s", st_client_last_error(c));

    struct test_events t;
    test_events_init(&t, 3, "erp");
    t.events[1].source = "reject";
    Stocktwin__Response *resp = NULL;
    cr_assert_eq(st_client_submit(c, t.ptrs, 3, &resp), 0, "%s", st_client_last_error(c));
    cr_assert_not_null(resp);
    cr_assert_eq(resp->n_statuses, 3);
    cr_assert_eq(resp->statuses[0]->status, STOCKTWIN__STATUS__STATUS_OK);
    cr_assert_eq(resp->statuses[1]->status, STOCKTWIN__STATUS__STATUS_UNKNOWN_PRODUCT);
    cr_assert_str_eq(resp->statuses[1]->message, "sku not in catalog");
    cr_assert(st_status_accepted(resp->statuses[0]->status));
    cr_assert_not(st_status_accepted(resp->statuses[1]->status));
    st_client_response_free(resp);

    Stocktwin__Request *req = fake_server_last_request(srv);
    cr_assert_not_null(req);
    cr_assert_eq(req->version, 1);
    cr_assert_str_eq(req->credential, "secret");
    cr_assert_eq(req->body_case, STOCKTWIN__REQUEST__BODY_BATCH);
    cr_assert_eq(req->batch->n_events, 3);
    cr_assert_eq(req->batch->events[2]->movement->qty, 5);
    cr_assert_str_eq(req->batch->events[2]->movement->to_location, "z1");
    stocktwin__request__free_unpacked(req, NULL);

    st_client_close(c);
    fake_server_stop(srv);
}

struct async_tally {
    pthread_mutex_t mu;
    int calls[300];
    int ok;
};

struct async_arg {
    struct async_tally *tally;
    int index;
};

static void
async_index_cb(void *arg, int status, const Stocktwin__Response *resp, const char *error)
{
    struct async_arg *a = arg;
    (void)error;
    pthread_mutex_lock(&a->tally->mu);
    a->tally->calls[a->index]++;
    a->tally->ok += status == 0 && resp != NULL && resp->n_statuses == 2;
    pthread_mutex_unlock(&a->tally->mu);
}

Test(client, async_submit_300_in_flight_each_completes_exactly_once)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    st_client_opts o = {.max_in_flight = 256};
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), &o, &c), 0, "%s", st_client_last_error(c));
    static struct async_tally tally = {.mu = PTHREAD_MUTEX_INITIALIZER};
    static struct async_arg args[300];
    struct test_events t;
    test_events_init(&t, 2, "erp");
    for (int i = 0; i < 300; i++) {
        args[i] = (struct async_arg){.tally = &tally, .index = i};
        cr_assert_eq(st_client_submit_async(c, t.ptrs, 2, async_index_cb, &args[i]), 0, "%s",
                     st_client_last_error(c));
    }
    st_client_drain(c);
    cr_assert_eq(tally.ok, 300);
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(tally.calls[i], 1, "request %d completed %d times", i, tally.calls[i]);
    }
    cr_assert_eq(fake_server_requests(srv), 300);
    st_client_close(c);
    fake_server_stop(srv);
}

Test(client, query_wrappers_build_the_right_query)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), NULL, &c), 0, "%s", st_client_last_error(c));
    Stocktwin__Response *resp = NULL;

    cr_assert_eq(st_client_inventory(c, "wh-1", true, 10, 20, &resp), 0, "%s",
                 st_client_last_error(c));
    cr_assert_eq(resp->result_case, STOCKTWIN__RESPONSE__RESULT_INVENTORY);
    cr_assert_str_eq(resp->inventory->lines[0]->sku, "SKU1");
    st_client_response_free(resp);
    Stocktwin__Request *req = fake_server_last_request(srv);
    cr_assert_eq(req->query->kind_case, STOCKTWIN__QUERY__KIND_INVENTORY);
    cr_assert_str_eq(req->query->inventory->warehouse, "wh-1");
    cr_assert(req->query->inventory->below_reorder_only);
    cr_assert_eq(req->query->inventory->offset, 10);
    cr_assert_eq(req->query->inventory->limit, 20);
    cr_assert_eq(req->version, 1);
    stocktwin__request__free_unpacked(req, NULL);

    cr_assert_eq(st_client_sku(c, "SKU9", &resp), 0);
    cr_assert_str_eq(resp->sku->sku, "SKU9");
    st_client_response_free(resp);

    cr_assert_eq(st_client_twin(c, "shelf-1", "wh-2", &resp), 0);
    st_client_response_free(resp);
    req = fake_server_last_request(srv);
    cr_assert_str_eq(req->query->twin->id, "shelf-1");
    cr_assert_str_eq(req->query->twin->warehouse, "wh-2");
    stocktwin__request__free_unpacked(req, NULL);

    cr_assert_eq(st_client_alerts(c, NULL, 5, &resp), 0);
    cr_assert_eq(resp->result_case, STOCKTWIN__RESPONSE__RESULT_ALERTS);
    st_client_response_free(resp);
    req = fake_server_last_request(srv);
    cr_assert_str_eq(req->query->alerts->warehouse, "");
    cr_assert_eq(req->query->alerts->limit, 5);
    stocktwin__request__free_unpacked(req, NULL);

    cr_assert_eq(st_client_stats(c, &resp), 0);
    cr_assert_eq(resp->stats->uptime_ms, 1234);
    st_client_response_free(resp);

    // The server's own refusal comes back as its status, with the reply.
    cr_assert_eq(st_client_twin(c, "missing", NULL, &resp), STOCKTWIN__STATUS__STATUS_NOT_FOUND);
    cr_assert_not_null(resp);
    cr_assert_str_eq(resp->message, "no twin called missing");
    cr_assert(strstr(st_client_last_error(c), "NOT_FOUND") != NULL);
    st_client_response_free(resp);

    st_client_close(c);
    fake_server_stop(srv);
}

static nng_msg *
silent_handler(const Stocktwin__Request *req, void *arg)
{
    (void)req;
    (void)arg;
    return NULL;
}

Test(client, no_reply_times_out_as_unavailable_within_the_bound)
{
    struct fake_server *srv = fake_server_start(silent_handler, NULL);
    st_client_opts o = {.timeout_ms = 200};
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), &o, &c), 0);
    Stocktwin__Response *resp = NULL;
    int64_t start = now_ms();
    cr_assert_eq(st_client_stats(c, &resp), STOCKTWIN__STATUS__STATUS_UNAVAILABLE);
    int64_t took = now_ms() - start;
    cr_assert_null(resp);
    cr_assert(took >= 150 && took < 1500, "took %lld ms", (long long)took);
    cr_assert(strstr(st_client_last_error(c), "within 200 ms") != NULL, "%s",
              st_client_last_error(c));
    st_client_close(c);
    fake_server_stop(srv);
}

static nng_msg *
garbage_handler(const Stocktwin__Request *req, void *arg)
{
    (void)req;
    (void)arg;
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    nng_msg *m = NULL;
    nng_msg_alloc(&m, 0);
    nng_msg_append(m, junk, sizeof junk);
    return m;
}

static nng_msg *
wrong_id_handler(const Stocktwin__Request *req, void *arg)
{
    (void)arg;
    Stocktwin__Response resp = STOCKTWIN__RESPONSE__INIT;
    resp.request_id = req->request_id + 1000;
    return fake_msg_from_response(&resp);
}

static nng_msg *
short_statuses_handler(const Stocktwin__Request *req, void *arg)
{
    (void)arg;
    Stocktwin__Response resp = STOCKTWIN__RESPONSE__INIT;
    resp.request_id = req->request_id; // OK, but no statuses for the batch
    return fake_msg_from_response(&resp);
}

static nng_msg *
bad_version_handler(const Stocktwin__Request *req, void *arg)
{
    (void)req;
    (void)arg;
    Stocktwin__Response resp = STOCKTWIN__RESPONSE__INIT;
    resp.status = STOCKTWIN__STATUS__STATUS_BAD_VERSION; // request_id unknown: 0
    resp.message = "this server speaks version 1";
    return fake_msg_from_response(&resp);
}

Test(client, refusal_of_an_unreadable_request_keeps_the_servers_status)
{
    struct fake_server *srv = fake_server_start(bad_version_handler, NULL);
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), NULL, &c), 0);
    Stocktwin__Response *resp = NULL;
    cr_assert_eq(st_client_stats(c, &resp), STOCKTWIN__STATUS__STATUS_BAD_VERSION);
    cr_assert_not_null(resp);
    cr_assert_str_eq(st_client_last_error(c), "server: BAD_VERSION: this server speaks version 1");
    st_client_response_free(resp);
    st_client_close(c);
    fake_server_stop(srv);
}

static void
expect_malformed(fake_handler h, const char *needle)
{
    struct fake_server *srv = fake_server_start(h, NULL);
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), NULL, &c), 0);
    struct test_events t;
    test_events_init(&t, 1, "erp");
    Stocktwin__Response *resp = NULL;
    cr_assert_eq(st_client_submit(c, t.ptrs, 1, &resp), STOCKTWIN__STATUS__STATUS_MALFORMED);
    cr_assert_null(resp);
    cr_assert(strstr(st_client_last_error(c), needle) != NULL, "%s", st_client_last_error(c));
    st_client_close(c);
    fake_server_stop(srv);
}

Test(client, garbage_reply_is_malformed)
{
    expect_malformed(garbage_handler, "not a valid stocktwin Response");
}

Test(client, reply_for_another_request_is_malformed)
{
    expect_malformed(wrong_id_handler, "answers request");
}

Test(client, batch_reply_without_one_status_per_event_is_malformed)
{
    expect_malformed(short_statuses_handler, "0 statuses for a batch of 1");
}

Test(client, oversize_and_empty_batches_are_refused_before_sending)
{
    struct fake_server *srv = fake_server_start(NULL, NULL);
    st_client *c = NULL;
    cr_assert_eq(st_client_open(fake_server_url(srv), NULL, &c), 0);
    size_t n = ST_CLIENT_BATCH_MAX + 1;
    Stocktwin__Event one = STOCKTWIN__EVENT__INIT;
    Stocktwin__Event **many = calloc(n, sizeof *many);
    for (size_t i = 0; i < n; i++) {
        many[i] = &one;
    }
    Stocktwin__Response *resp = NULL;
    cr_assert_eq(st_client_submit(c, many, n, &resp), STOCKTWIN__STATUS__STATUS_TOO_LARGE);
    cr_assert_null(resp);
    cr_assert(strstr(st_client_last_error(c), "4097") != NULL);
    cr_assert_eq(st_client_submit(c, many, 0, &resp), STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    cr_assert_eq(fake_server_requests(srv), 0);
    free(many);
    st_client_close(c);
    fake_server_stop(srv);
}

Test(client, nobody_listening_fails_fast_as_unavailable)
{
    char url[128], path[128];
    fake_url(url, sizeof url, path, sizeof path);
    st_client *c = NULL;
    int64_t start = now_ms();
    cr_assert_eq(st_client_open(url, NULL, &c), STOCKTWIN__STATUS__STATUS_UNAVAILABLE);
    cr_assert_null(c);
    cr_assert(now_ms() - start < 1000);
    cr_assert(strstr(st_client_last_error(NULL), "cannot connect") != NULL, "%s",
              st_client_last_error(NULL));

    // lazy_connect: open succeeds, requests wait for the server up to the timeout.
    st_client_opts o = {.lazy_connect = true, .timeout_ms = 150};
    cr_assert_eq(st_client_open(url, &o, &c), 0);
    Stocktwin__Response *resp = NULL;
    cr_assert_eq(st_client_stats(c, &resp), STOCKTWIN__STATUS__STATUS_UNAVAILABLE);
    st_client_close(c);
    cr_assert_eq(st_client_open("bogus://x", NULL, &c), STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
}

Test(client, close_and_free_null_are_no_ops)
{
    st_client_close(NULL);
    st_push_close(NULL);
    st_sub_close(NULL);
    st_client_response_free(NULL);
    st_feed_message_free(NULL);
    st_event_free(NULL);
    cr_assert_str_eq(st_status_name(0), "OK");
    cr_assert_str_eq(st_status_name(STOCKTWIN__STATUS__STATUS_NOT_FOUND), "NOT_FOUND");
    cr_assert_str_eq(st_status_name(ST_CLIENT_TIMEOUT), "TIMEOUT");
    cr_assert_str_eq(st_status_name(999), "UNKNOWN");
}

Test(client, push_sends_a_versioned_batch_to_pull)
{
    struct fake_socket pull;
    fake_pull_start(&pull);
    st_client_opts o = {.credential = "dev-1"};
    st_push *p = NULL;
    cr_assert_eq(st_push_open(pull.url, &o, &p), 0, "%s", st_client_last_error(NULL));
    struct test_events t;
    test_events_init(&t, 2, "rfid-1");
    cr_assert_eq(st_push_send(p, t.ptrs, 2), 0, "%s", st_client_last_error(NULL));
    nng_socket_set_ms(pull.sock, NNG_OPT_RECVTIMEO, 2000);
    nng_msg *m = NULL;
    cr_assert_eq(nng_recvmsg(pull.sock, &m, 0), 0);
    Stocktwin__Request *req = stocktwin__request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    cr_assert_not_null(req);
    cr_assert_eq(req->version, 1);
    cr_assert_str_eq(req->credential, "dev-1");
    cr_assert_eq(req->batch->n_events, 2);
    cr_assert_str_eq(req->batch->events[1]->source, "rfid-1");
    stocktwin__request__free_unpacked(req, NULL);
    cr_assert_eq(st_push_send(p, t.ptrs, 0), STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT);
    st_push_close(p);
    fake_socket_stop(&pull);
}
