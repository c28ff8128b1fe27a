// client.c - the RPC client: one REQ socket with a pool of nng contexts, one
// context and one aio per request in flight, so that a single st_client
// carries up to max_in_flight requests at once (nng costs ~30 us a message
// whatever its size, so throughput comes from batches and from pipelining).
//
// A request's life: encode (caller's thread) -> take a free slot, blocking
// while none is free -> nng_ctx_send -> st_slot_cb (nng thread) sees the send
// complete and posts nng_ctx_recv with what is left of the deadline ->
// st_slot_cb sees the reply, decodes and validates it -> st_slot_finish hands
// it to the blocking caller's waiter or to the user callback -> the slot goes
// back to the free stack. Every path through st_slot_cb ends in exactly one
// st_slot_finish, which is what makes "the callback runs exactly once" true.
//
// Blocking calls are the asynchronous path plus a waiter on the caller's
// stack, so both share one pool, one bound and one validation.
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "dial.h"
#include "encode.h"
#include "error.h"
#include "inventory.h"
#include "reply.h"
#include "stocktwin.h"

enum st_slot_stage { ST_SLOT_IDLE, ST_SLOT_SENDING, ST_SLOT_RECEIVING };

// A blocking caller waits here; lives on its stack until `done`.
struct st_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
    Stocktwin__Response *resp;
    nng_msg *msg; // the reply undecoded, when the slot is `raw`
    char error[ST_ERROR_BYTES_MAX];
};

struct st_slot {
    st_client *client;
    nng_ctx ctx;
    nng_aio *aio;
    uint32_t index;
    enum st_slot_stage stage;
    uint64_t request_id;
    nng_time deadline;
    // What the reply must contain: n statuses for a batch of n events, or
    // the result matching the query's kind.
    size_t n_events;
    int result_case;
    // Hand the reply's message to the waiter undecoded (the caller decodes
    // it: st_client_inventory_each); only with a waiter.
    bool raw;
    struct st_waiter *waiter;
    st_client_done_cb cb;
    void *cb_arg;
};

struct st_client {
    nng_socket sock;
    bool sock_open;
    char *url;
    char *credential;
    int timeout_ms;
    uint32_t n_slots;
    struct st_slot *slots;
    // mu guards free_stack, n_free and in_flight.
    pthread_mutex_t mu;
    pthread_cond_t slot_freed;
    pthread_cond_t idle;
    uint32_t *free_stack;
    uint32_t n_free;
    uint32_t in_flight;
    _Atomic uint64_t next_request_id;
    // Threads inside nng_ctx_send or nng_ctx_recv for one of our slots
    // (st_nng_enter). A request can finish - on another nng thread - while
    // the thread that posted its send or receive is still on its way out of
    // that call, which then still touches the socket: in nng 1.5.2 it
    // releases its context reference under a lock that closing the socket,
    // or exiting the process (nng's finalizer destroys the lock), pulls
    // away. Seen as "panic: pthread_mutex_lock: Invalid argument" from a CLI
    // that exited right after its reply. st_client_close waits for zero.
    atomic_uint calling;
};

static void
st_nng_enter(st_client *c)
{
    atomic_fetch_add(&c->calling, 1);
}

static void
st_nng_leave(st_client *c)
{
    atomic_fetch_sub(&c->calling, 1);
}

// ---------------------------------------------------------------------------
// Slots

static struct st_slot *
st_slot_acquire(st_client *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->n_free == 0) {
        pthread_cond_wait(&c->slot_freed, &c->mu);
    }
    struct st_slot *s = &c->slots[c->free_stack[--c->n_free]];
    c->in_flight++;
    ST_CLIENT_ASSERT(c->in_flight <= c->n_slots);
    pthread_mutex_unlock(&c->mu);
    ST_CLIENT_ASSERT(s->stage == ST_SLOT_IDLE);
    return s;
}

// The last thing a completion does: after the unlock the slot may already be
// reused by another thread, and st_client_close may be freeing the client.
static void
st_slot_release(struct st_slot *s)
{
    st_client *c = s->client;
    s->stage = ST_SLOT_IDLE;
    s->waiter = NULL;
    s->cb = NULL;
    pthread_mutex_lock(&c->mu);
    ST_CLIENT_ASSERT(c->in_flight > 0 && c->n_free < c->n_slots);
    c->free_stack[c->n_free++] = s->index;
    c->in_flight--;
    pthread_cond_signal(&c->slot_freed);
    if (c->in_flight == 0) {
        pthread_cond_broadcast(&c->idle);
    }
    pthread_mutex_unlock(&c->mu);
}

// Delivers the outcome (takes ownership of resp) and frees the slot.
static void
st_slot_finish(struct st_slot *s, int status, Stocktwin__Response *resp, nng_msg *msg)
{
    const char *error = status != 0 ? st_error_get() : NULL;
    struct st_waiter *w = s->waiter;
    ST_CLIENT_ASSERT(msg == NULL || w != NULL);
    if (w != NULL) {
        pthread_mutex_lock(&w->mu);
        w->status = status;
        w->resp = resp;
        w->msg = msg;
        snprintf(w->error, sizeof w->error, "%s", error ? error : "");
        w->done = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    } else {
        s->cb(s->cb_arg, status, resp, error);
        st_reply_free(resp);
    }
    st_slot_release(s);
}

// What a reply must be: the answer to request_id from url, with n_events
// statuses (a batch) or the result result_case (a query; 0: none checked).
struct st_expect {
    const char *url;
    uint64_t request_id;
    size_t n_events;
    int result_case;
};

// Decodes and validates a reply: bytes from the network never reach an
// assert. Returns 0 (resp set), the reply's own status (resp set) or
// MALFORMED (resp NULL); the sentence is set when not 0.
static int
st_reply_decode(const struct st_expect *s, const void *body, size_t len,
                Stocktwin__Response **resp_out)
{
    Stocktwin__Response *r = st_reply_unpack(len, body);
    *resp_out = NULL;
    if (r == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                            "the reply from %s (%zu bytes) is not a valid stocktwin Response",
                            s->url, len);
    }
    int status = 0;
    // A server that could not read the request cannot echo its id: a refusal
    // with id 0 is still that server's answer to us.
    bool unread = r->request_id == 0 && r->status != STOCKTWIN__STATUS__STATUS_OK;
    if (r->request_id != s->request_id && !unread) {
        status = st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                              "the reply answers request %llu, not request %llu",
                              (unsigned long long)r->request_id, (unsigned long long)s->request_id);
        goto fail;
    }
    if (r->status != STOCKTWIN__STATUS__STATUS_OK) {
        *resp_out = r;
        return st_error_set((int)r->status, "server: %s%s%s", st_status_name((int)r->status),
                            r->message[0] ? ": " : "", r->message);
    }
    if (s->n_events != 0 && r->n_statuses != s->n_events) {
        status = st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                              "the reply has %zu statuses for a batch of %zu events", r->n_statuses,
                              s->n_events);
        goto fail;
    }
    if (s->result_case != 0 && (int)r->result_case != s->result_case) {
        status = st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                              "the reply carries result %d, the query asked for result %d",
                              (int)r->result_case, s->result_case);
        goto fail;
    }
    *resp_out = r;
    return 0;
fail:
    st_reply_free(r);
    return status;
}

static int
st_slot_error(const struct st_slot *s, int rv)
{
    if (rv == NNG_ETIMEDOUT) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_UNAVAILABLE, "no reply from %s within %d ms",
                            s->client->url, s->client->timeout_ms);
    }
    return st_error_nng(rv, "request to", s->client->url);
}

// The aio callback of a slot, on an nng thread: the end of the send or of the
// receive (see the top of the file).
static void
st_slot_cb(void *arg)
{
    struct st_slot *s = arg;
    int rv = nng_aio_result(s->aio);
    ST_CLIENT_ASSERT(s->stage != ST_SLOT_IDLE);
    if (s->stage == ST_SLOT_SENDING) {
        if (rv != 0) {
            // A failed send leaves the message with us.
            nng_msg_free(nng_aio_get_msg(s->aio));
            nng_aio_set_msg(s->aio, NULL);
            st_slot_finish(s, st_slot_error(s, rv), NULL, NULL);
            return;
        }
        int64_t left = (int64_t)(s->deadline - nng_clock());
        if (left <= 0) {
            st_slot_finish(s, st_slot_error(s, NNG_ETIMEDOUT), NULL, NULL);
            return;
        }
        s->stage = ST_SLOT_RECEIVING;
        nng_aio_set_timeout(s->aio, (nng_duration)left);
        st_client *c = s->client; // the slot may be reused before the call returns
        st_nng_enter(c);
        nng_ctx_recv(s->ctx, s->aio);
        st_nng_leave(c);
        return;
    }
    if (rv != 0) {
        st_slot_finish(s, st_slot_error(s, rv), NULL, NULL);
        return;
    }
    nng_msg *msg = nng_aio_get_msg(s->aio);
    nng_aio_set_msg(s->aio, NULL);
    if (s->raw) {
        st_slot_finish(s, 0, NULL, msg);
        return;
    }
    Stocktwin__Response *resp = NULL;
    struct st_expect e = {.url = s->client->url,
                          .request_id = s->request_id,
                          .n_events = s->n_events,
                          .result_case = s->result_case};
    int status = st_reply_decode(&e, nng_msg_body(msg), nng_msg_len(msg), &resp);
    nng_msg_free(msg);
    st_slot_finish(s, status, resp, NULL);
}

// ---------------------------------------------------------------------------
// Requests

static int
st_request_encode(st_client *c, Stocktwin__Request *req, nng_msg **out)
{
    req->version = ST_CLIENT_PROTOCOL_VERSION;
    req->credential = c->credential;
    req->request_id = atomic_fetch_add(&c->next_request_id, 1);
    return st_request_msg(req, c->url, out);
}

// Starts one request; on 0 the slot owns everything and will finish exactly
// once. On failure nothing was sent and nothing will be called.
static int
st_client_start(st_client *c, Stocktwin__Request *req, size_t n_events, int result_case,
                struct st_waiter *w, bool raw, st_client_done_cb cb, void *arg)
{
    ST_CLIENT_ASSERT(!raw || w != NULL);
    nng_msg *msg = NULL;
    int status = st_request_encode(c, req, &msg);
    if (status != 0) {
        return status;
    }
    struct st_slot *s = st_slot_acquire(c);
    s->stage = ST_SLOT_SENDING;
    s->request_id = req->request_id;
    s->n_events = n_events;
    s->result_case = result_case;
    s->raw = raw;
    s->waiter = w;
    s->cb = cb;
    s->cb_arg = arg;
    s->deadline = nng_clock() + (nng_time)c->timeout_ms;
    nng_aio_set_msg(s->aio, msg);
    nng_aio_set_timeout(s->aio, c->timeout_ms);
    st_nng_enter(c);
    nng_ctx_send(s->ctx, s->aio);
    st_nng_leave(c);
    return 0;
}

// Runs a request and waits for it, on the caller's thread. With msg_out
// (raw), the reply comes back undecoded in *msg_out instead of *resp_out.
// A waiter lives from st_waiter_start to st_waiter_end (which must follow a
// successful start, once): its request is in flight in between.
static int
st_waiter_start(st_client *c, struct st_waiter *w, Stocktwin__Request *req, size_t n_events,
                int result_case, bool raw)
{
    *w = (struct st_waiter){.done = false};
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int status = st_client_start(c, req, n_events, result_case, w, raw, NULL, NULL);
    if (status != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    return status;
}

// st_waiter_end waits for the outcome and returns its status; with `say`,
// a failure's sentence becomes this thread's error.
static int
st_waiter_end(struct st_waiter *w, bool say)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    if (w->status != 0 && say) {
        st_error_set(w->status, "%s", w->error);
    }
    return w->status;
}

static int
st_client_wait(st_client *c, Stocktwin__Request *req, size_t n_events, int result_case,
               Stocktwin__Response **resp_out, nng_msg **msg_out)
{
    struct st_waiter w;
    int status = st_waiter_start(c, &w, req, n_events, result_case, msg_out != NULL);
    if (status == 0) {
        status = st_waiter_end(&w, true);
        if (msg_out != NULL)
            *msg_out = w.msg;
        else
            *resp_out = w.resp;
    }
    return status;
}

static int
st_client_call(st_client *c, Stocktwin__Request *req, size_t n_events, int result_case,
               Stocktwin__Response **resp_out)
{
    return st_client_wait(c, req, n_events, result_case, resp_out, NULL);
}

static int
st_batch_check(Stocktwin__Event **events, size_t n)
{
    if (n > ST_CLIENT_BATCH_MAX) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_TOO_LARGE,
                            "a batch of %zu events is over the limit of %u", n,
                            ST_CLIENT_BATCH_MAX);
    }
    if (n == 0 || events == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "an empty batch");
    }
    for (size_t i = 0; i < n; i++) {
        if (events[i] == NULL) {
            return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT,
                                "event %zu of the batch is NULL", i);
        }
    }
    return 0;
}

int
st_client_submit(st_client *c, Stocktwin__Event **events, size_t n, Stocktwin__Response **resp_out)
{
    ST_CLIENT_ASSERT(c != NULL && resp_out != NULL);
    st_error_clear();
    *resp_out = NULL;
    int status = st_batch_check(events, n);
    if (status != 0) {
        return status;
    }
    Stocktwin__EventBatch batch = STOCKTWIN__EVENT_BATCH__INIT;
    batch.n_events = n;
    batch.events = events;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    req.batch = &batch;
    return st_client_call(c, &req, n, 0, resp_out);
}

int
st_client_submit_async(st_client *c, Stocktwin__Event **events, size_t n, st_client_done_cb cb,
                       void *arg)
{
    ST_CLIENT_ASSERT(c != NULL && cb != NULL);
    st_error_clear();
    int status = st_batch_check(events, n);
    if (status != 0) {
        return status;
    }
    Stocktwin__EventBatch batch = STOCKTWIN__EVENT_BATCH__INIT;
    batch.n_events = n;
    batch.events = events;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    req.batch = &batch;
    return st_client_start(c, &req, n, 0, NULL, false, cb, arg);
}

void
st_client_drain(st_client *c)
{
    ST_CLIENT_ASSERT(c != NULL);
    pthread_mutex_lock(&c->mu);
    while (c->in_flight != 0) {
        pthread_cond_wait(&c->idle, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

// The Response result a query kind must come back with.
static int
st_query_result_case(const Stocktwin__Query *q)
{
    switch (q->kind_case) {
    case STOCKTWIN__QUERY__KIND_TWIN:
        return STOCKTWIN__RESPONSE__RESULT_TWIN;
    case STOCKTWIN__QUERY__KIND_INVENTORY:
        return STOCKTWIN__RESPONSE__RESULT_INVENTORY;
    case STOCKTWIN__QUERY__KIND_SKU:
        return STOCKTWIN__RESPONSE__RESULT_SKU;
    case STOCKTWIN__QUERY__KIND_ALERTS:
        return STOCKTWIN__RESPONSE__RESULT_ALERTS;
    case STOCKTWIN__QUERY__KIND_STATS:
        return STOCKTWIN__RESPONSE__RESULT_STATS;
    case STOCKTWIN__QUERY__KIND_DIGEST:
        return STOCKTWIN__RESPONSE__RESULT_DIGEST;
    case STOCKTWIN__QUERY__KIND_SNAPSHOT:
        return STOCKTWIN__RESPONSE__RESULT_SNAPSHOT;
    case STOCKTWIN__QUERY__KIND_PROMOTE:
        return STOCKTWIN__RESPONSE__RESULT_PROMOTE;
    case STOCKTWIN__QUERY__KIND_DEVICES:
        return STOCKTWIN__RESPONSE__RESULT_DEVICES;
    default:
        return 0;
    }
}

static int
st_query_request(const Stocktwin__Query *q, Stocktwin__Request *req, int *result_case)
{
    if (q == NULL || (*result_case = st_query_result_case(q)) == 0) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT,
                            "the query has no kind set");
    }
    req->body_case = STOCKTWIN__REQUEST__BODY_QUERY;
    // Packing only reads the query; the cast is for the generated struct.
    req->query = (Stocktwin__Query *)q;
    return 0;
}

int
st_client_query(st_client *c, const Stocktwin__Query *q, Stocktwin__Response **resp_out)
{
    ST_CLIENT_ASSERT(c != NULL && resp_out != NULL);
    st_error_clear();
    *resp_out = NULL;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    int result_case = 0;
    int status = st_query_request(q, &req, &result_case);
    if (status != 0) {
        return status;
    }
    return st_client_call(c, &req, 0, result_case, resp_out);
}

int
st_client_query_async(st_client *c, const Stocktwin__Query *q, st_client_done_cb cb, void *arg)
{
    ST_CLIENT_ASSERT(c != NULL && cb != NULL);
    st_error_clear();
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    int result_case = 0;
    int status = st_query_request(q, &req, &result_case);
    if (status != 0) {
        return status;
    }
    return st_client_start(c, &req, 0, result_case, NULL, false, cb, arg);
}

void
st_client_response_free(Stocktwin__Response *resp)
{
    if (resp != NULL) {
        st_reply_free(resp);
    }
}

// ---------------------------------------------------------------------------
// Open and close

static int
st_client_slots_init(st_client *c)
{
    c->slots = calloc(c->n_slots, sizeof *c->slots);
    c->free_stack = calloc(c->n_slots, sizeof *c->free_stack);
    if (c->slots == NULL || c->free_stack == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    for (uint32_t i = 0; i < c->n_slots; i++) {
        struct st_slot *s = &c->slots[i];
        s->client = c;
        s->index = i;
        int rv = nng_ctx_open(&s->ctx, c->sock);
        if (rv == 0) {
            rv = nng_aio_alloc(&s->aio, st_slot_cb, s);
        }
        if (rv != 0) {
            return st_error_nng(rv, "cannot create a request context for", c->url);
        }
        // Slots are taken from the top: the first ones stay warm.
        c->free_stack[c->n_free++] = c->n_slots - 1 - i;
    }
    return 0;
}

static int
st_client_socket_init(st_client *c, const st_client_opts *o)
{
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        return st_error_nng(rv, "cannot open a REQ socket for", c->url);
    }
    c->sock_open = true;
    // Both before the contexts exist and before any pipe: contexts copy the
    // resend time when they are created, pipes the size limit.
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, ST_CLIENT_REPLY_BYTES_MAX);
    if (o->resend_ms != 0) {
        nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
                          o->resend_ms < 0 ? NNG_DURATION_INFINITE : o->resend_ms);
    }
    return 0;
}

int
st_client_open(const char *url, const st_client_opts *opts, st_client **out)
{
    ST_CLIENT_ASSERT(out != NULL);
    st_error_clear();
    *out = NULL;
    st_client_opts o;
    int status = st_opts_normalize(opts, &o);
    if (status != 0) {
        return status;
    }
    if (url == NULL || url[0] == '\0') {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "no url");
    }
    st_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->slot_freed, NULL);
    pthread_cond_init(&c->idle, NULL);
    atomic_init(&c->next_request_id, 1);
    c->timeout_ms = o.timeout_ms;
    c->n_slots = o.max_in_flight;
    c->url = st_strdup(url);
    c->credential = st_strdup(o.credential);
    if (c->url == NULL || c->credential == NULL) {
        status = st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
        goto fail;
    }
    if ((status = st_client_socket_init(c, &o)) != 0 || (status = st_client_slots_init(c)) != 0 ||
        (status = st_dial(c->sock, url, &o)) != 0) {
        goto fail;
    }
    *out = c;
    return 0;
fail:
    st_client_close(c);
    return status;
}

void
st_client_close(st_client *c)
{
    if (c == NULL) {
        return;
    }
    if (c->slots != NULL) {
        st_client_drain(c);
    }
    // Every request has finished; the threads that posted them leave nng
    // within microseconds (see `calling`). Bounded: should nng itself be
    // wedged (its 1.5.2 close deadlock, nanomsg/nng#1543, can leave a
    // thread blocked inside a call), closing goes on as it did before.
    for (int waited_ms = 0; atomic_load(&c->calling) != 0 && waited_ms < 2000; waited_ms++) {
        nng_msleep(1);
    }
    if (c->sock_open) {
        nng_close(c->sock);
    }
    for (uint32_t i = 0; c->slots != NULL && i < c->n_slots; i++) {
        if (c->slots[i].aio != NULL) {
            nng_aio_free(c->slots[i].aio);
        }
    }
    free(c->slots);
    free(c->free_stack);
    free(c->url);
    free(c->credential);
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->slot_freed);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

// ---------------------------------------------------------------------------
// Queries by name: each builds the Query on the stack and calls
// st_client_query. Strings are only read while packing.

// inventory_query fills *q (and *iq, which it points to) with an inventory
// query; both live on the caller's stack.
static void
inventory_query(Stocktwin__Query *q, Stocktwin__InventoryQuery *iq, const char *warehouse,
                bool below_reorder_only, uint32_t offset, uint32_t limit)
{
    stocktwin__inventory_query__init(iq);
    iq->warehouse = (char *)(warehouse ? warehouse : "");
    iq->below_reorder_only = below_reorder_only;
    iq->offset = offset;
    iq->limit = limit;
    stocktwin__query__init(q);
    q->kind_case = STOCKTWIN__QUERY__KIND_INVENTORY;
    q->inventory = iq;
}

int
st_client_inventory(st_client *c, const char *warehouse, bool below_reorder_only, uint32_t offset,
                    uint32_t limit, Stocktwin__Response **resp_out)
{
    Stocktwin__InventoryQuery iq;
    Stocktwin__Query q;
    inventory_query(&q, &iq, warehouse, below_reorder_only, offset, limit);
    return st_client_query(c, &q, resp_out);
}

// An inventory page in flight: started with st_page_start, its reply
// awaited and decoded with st_page_finish (which must follow every
// successful start, once).
struct st_page {
    struct st_waiter w;
    uint64_t request_id;
};

static int
st_page_start(st_client *c, struct st_page *p, const char *warehouse, bool below_reorder_only,
              uint32_t offset, uint32_t limit)
{
    Stocktwin__InventoryQuery iq;
    Stocktwin__Query q;
    inventory_query(&q, &iq, warehouse, below_reorder_only, offset, limit);
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.body_case = STOCKTWIN__REQUEST__BODY_QUERY;
    req.query = &q;
    int status = st_waiter_start(c, &p->w, &req, 0, 0, true);
    p->request_id = req.request_id;
    return status;
}

// st_page_finish waits for the page's reply and hands its lines to cb (cb
// NULL: the reply is only checked and dropped).
static int
st_page_finish(st_client *c, struct st_page *p, st_inventory_line_cb cb, void *arg,
               uint32_t *total_out, uint32_t *lines_out)
{
    // A page only drained (cb NULL) keeps the caller's error as it is.
    int status = st_waiter_end(&p->w, cb != NULL);
    nng_msg *msg = p->w.msg;
    uint32_t total = 0, lines = 0;
    if (status == 0 && cb == NULL) {
        nng_msg_free(msg);
    } else if (status == 0) {
        // The inventory field by hand; the rest (status, message, request id,
        // replication) through protobuf-c and the usual checks.
        uint8_t *rest = NULL;
        size_t rest_len = 0, inv_len = 0;
        const uint8_t *inv = NULL;
        status = st_inventory_split(nng_msg_body(msg), nng_msg_len(msg), &rest, &rest_len, &inv,
                                    &inv_len);
        Stocktwin__Response *r = NULL;
        struct st_expect e = {.url = c->url, .request_id = p->request_id};
        if (status == 0)
            status = st_reply_decode(&e, rest, rest_len, &r);
        if (status == 0 && (inv == NULL || r->result_case != STOCKTWIN__RESPONSE__RESULT__NOT_SET))
            status = st_error_set(STOCKTWIN__STATUS__STATUS_MALFORMED,
                                  "the reply to an inventory query carries no inventory");
        if (status == 0)
            status = st_inventory_walk(inv, inv_len, cb, arg, &total, &lines);
        st_reply_free(r);
        free(rest);
        nng_msg_free(msg);
    }
    if (total_out != NULL)
        *total_out = total;
    if (lines_out != NULL)
        *lines_out = lines;
    return status;
}

int
st_client_inventory_each(st_client *c, const char *warehouse, bool below_reorder_only,
                         uint32_t offset, uint32_t limit, st_inventory_line_cb cb, void *arg,
                         uint32_t *total_out, uint32_t *lines_out)
{
    ST_CLIENT_ASSERT(c != NULL && cb != NULL);
    st_error_clear();
    struct st_page p;
    int status = st_page_start(c, &p, warehouse, below_reorder_only, offset, limit);
    if (status == 0)
        return st_page_finish(c, &p, cb, arg, total_out, lines_out);
    if (total_out != NULL)
        *total_out = 0;
    if (lines_out != NULL)
        *lines_out = 0;
    return status;
}

int
st_client_inventory_all(st_client *c, const char *warehouse, bool below_reorder_only, uint32_t page,
                        st_inventory_line_cb cb, void *arg, uint32_t *total_out,
                        uint32_t *lines_out)
{
    ST_CLIENT_ASSERT(c != NULL && cb != NULL && page != 0);
    st_error_clear();
    // Two pages, used in turn; a page in flight is never moved (its slot
    // points at its waiter).
    struct st_page pages[2];
    uint32_t offset = 0, total = 0, n = 0, cur = 0;
    int status = st_page_start(c, &pages[cur], warehouse, below_reorder_only, 0, page);
    if (status == 0)
        status = st_page_finish(c, &pages[cur], cb, arg, &total, &n); // it tells the total
    offset = n;
    bool more = status == 0 && n == page && offset < total;
    if (more)
        status = st_page_start(c, &pages[cur], warehouse, below_reorder_only, offset, page);
    while (more && status == 0) {
        // The next page is asked for before this one is decoded: the server
        // builds it while this thread decodes.
        uint32_t nxt = cur ^ 1u;
        bool ahead = offset + page < total;
        int started = ahead ? st_page_start(c, &pages[nxt], warehouse, below_reorder_only,
                                            offset + page, page)
                            : 0;
        status = st_page_finish(c, &pages[cur], cb, arg, &total, &n);
        offset += n;
        if (status == 0 && started != 0)
            status = started;
        more = ahead && started == 0 && status == 0 && n == page;
        if (ahead && started == 0 && !more)
            (void)st_page_finish(c, &pages[nxt], NULL, NULL, NULL, NULL); // not needed after all
        cur = nxt;
    }
    if (total_out != NULL)
        *total_out = total;
    if (lines_out != NULL)
        *lines_out = offset;
    return status;
}

int
st_client_sku(st_client *c, const char *sku, Stocktwin__Response **resp_out)
{
    Stocktwin__SkuQuery sq = STOCKTWIN__SKU_QUERY__INIT;
    sq.sku = (char *)(sku ? sku : "");
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_SKU;
    q.sku = &sq;
    return st_client_query(c, &q, resp_out);
}

int
st_client_twin(st_client *c, const char *id, const char *warehouse, Stocktwin__Response **resp_out)
{
    Stocktwin__TwinQuery tq = STOCKTWIN__TWIN_QUERY__INIT;
    tq.id = (char *)(id ? id : "");
    tq.warehouse = (char *)(warehouse ? warehouse : "");
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_TWIN;
    q.twin = &tq;
    return st_client_query(c, &q, resp_out);
}

int
st_client_alerts(st_client *c, const char *warehouse, uint32_t limit,
                 Stocktwin__Response **resp_out)
{
    Stocktwin__AlertsQuery aq = STOCKTWIN__ALERTS_QUERY__INIT;
    aq.warehouse = (char *)(warehouse ? warehouse : "");
    aq.limit = limit;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_ALERTS;
    q.alerts = &aq;
    return st_client_query(c, &q, resp_out);
}

int
st_client_devices(st_client *c, const char *warehouse, bool silent_only, uint32_t limit,
                  Stocktwin__Response **resp_out)
{
    Stocktwin__DevicesQuery dq = STOCKTWIN__DEVICES_QUERY__INIT;
    dq.warehouse = (char *)(warehouse ? warehouse : "");
    dq.silent_only = silent_only;
    dq.limit = limit;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_DEVICES;
    q.devices = &dq;
    return st_client_query(c, &q, resp_out);
}

int
st_client_stats(st_client *c, Stocktwin__Response **resp_out)
{
    Stocktwin__StatsQuery sq = STOCKTWIN__STATS_QUERY__INIT;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_STATS;
    q.stats = &sq;
    return st_client_query(c, &q, resp_out);
}

int
st_client_digest(st_client *c, Stocktwin__Response **resp_out)
{
    Stocktwin__DigestQuery dq = STOCKTWIN__DIGEST_QUERY__INIT;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_DIGEST;
    q.digest = &dq;
    return st_client_query(c, &q, resp_out);
}

int
st_client_snapshot(st_client *c, Stocktwin__Response **resp_out)
{
    Stocktwin__SnapshotQuery sq = STOCKTWIN__SNAPSHOT_QUERY__INIT;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_SNAPSHOT;
    q.snapshot = &sq;
    return st_client_query(c, &q, resp_out);
}

int
st_client_promote(st_client *c, Stocktwin__Response **resp_out)
{
    Stocktwin__PromoteQuery pq = STOCKTWIN__PROMOTE_QUERY__INIT;
    Stocktwin__Query q = STOCKTWIN__QUERY__INIT;
    q.kind_case = STOCKTWIN__QUERY__KIND_PROMOTE;
    q.promote = &pq;
    return st_client_query(c, &q, resp_out);
}
