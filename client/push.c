// push.c - fire-and-forget ingest: the same Request bytes as an RPC batch, on
// a PUSH socket to the daemon's PULL door. No reply and no per-event status:
// for telemetry whose loss on a crash is acceptable, at the highest rate.
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdatomic.h>

#include "dial.h"
#include "encode.h"
#include "error.h"
#include "stocktwin.h"

struct st_push {
    nng_socket sock;
    bool sock_open;
    char *url;
    char *credential;
    _Atomic uint64_t next_request_id;
};

int
st_push_open(const char *url, const st_client_opts *opts, st_push **out)
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
    st_push *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
    }
    atomic_init(&p->next_request_id, 1);
    p->url = st_strdup(url);
    p->credential = st_strdup(o.credential);
    if (p->url == NULL || p->credential == NULL) {
        status = st_error_set(STOCKTWIN__STATUS__STATUS_INTERNAL, "out of memory");
        goto fail;
    }
    int rv = nng_push0_open(&p->sock);
    if (rv != 0) {
        status = st_error_nng(rv, "cannot open a PUSH socket for", url);
        goto fail;
    }
    p->sock_open = true;
    // A send waits at most this long for the server to take the message
    // (no peer, or its queue is full): backpressure, never an unbounded queue.
    nng_socket_set_ms(p->sock, NNG_OPT_SENDTIMEO, o.timeout_ms);
    if ((status = st_dial(p->sock, url, &o)) != 0) {
        goto fail;
    }
    *out = p;
    return 0;
fail:
    st_push_close(p);
    return status;
}

int
st_push_send(st_push *p, Stocktwin__Event **events, size_t n)
{
    ST_CLIENT_ASSERT(p != NULL);
    st_error_clear();
    if (n > ST_CLIENT_BATCH_MAX) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_TOO_LARGE,
                            "a batch of %zu events is over the limit of %u", n,
                            ST_CLIENT_BATCH_MAX);
    }
    if (n == 0 || events == NULL) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "an empty batch");
    }
    Stocktwin__EventBatch batch = STOCKTWIN__EVENT_BATCH__INIT;
    batch.n_events = n;
    batch.events = events;
    Stocktwin__Request req = STOCKTWIN__REQUEST__INIT;
    req.version = ST_CLIENT_PROTOCOL_VERSION;
    req.credential = p->credential;
    req.request_id = atomic_fetch_add(&p->next_request_id, 1);
    req.body_case = STOCKTWIN__REQUEST__BODY_BATCH;
    req.batch = &batch;
    nng_msg *msg = NULL;
    int status = st_request_msg(&req, p->url, &msg);
    if (status != 0) {
        return status;
    }
    int rv = nng_sendmsg(p->sock, msg, 0);
    if (rv != 0) {
        nng_msg_free(msg);
        return st_error_nng(rv, "cannot push to", p->url);
    }
    return 0;
}

void
st_push_close(st_push *p)
{
    if (p == NULL) {
        return;
    }
    if (p->sock_open) {
        nng_close(p->sock);
    }
    free(p->url);
    free(p->credential);
    free(p);
}
