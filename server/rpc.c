// rpc.c - the REP door. See rpc.h.
//
// Shutdown without a lock: a context is always in exactly one place, with an
// nng operation pending, inside its aio callback, or inside the shards. After
// nng_close() every pending or future operation on the socket completes with
// an error, and a context that sees an error while the door is stopping
// marks itself finished instead of receiving again. A context inside the
// shards comes back through its done callback (the shards still run), fails
// to send, and finishes too. st_rpc_stop() waits for every context to finish
// before freeing anything.
#include "server/rpc.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "core/alloc.h"
#include "core/assert.h"

typedef enum rpc_state { RPC_RECV = 1, RPC_SEND = 2 } rpc_state;

typedef struct rpc_ctx {
    st_rpc *rpc;
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *msg;      // the request's message, reused for the reply
    st_request *req;
    rpc_state state;
    atomic_bool finished;
} rpc_ctx;

struct st_rpc {
    st_service *svc;
    nng_socket sock;
    uint32_t count;
    rpc_ctx *ctxs;
    atomic_uint armed;   // contexts [0, armed) have been armed (see rpc.h)
    atomic_uint waiting; // armed contexts with a receive pending
    atomic_bool stopping;
    atomic_uint calling; // threads inside nng_ctx_send/recv (see rpc_enter)
};

// rpc_enter guards a call into nng on a context against st_rpc_stop closing
// the socket at the same moment: nng 1.5.2 can then lock a mutex it already
// destroyed and panic (seen: a reply sent by a worker thread during
// shutdown). A caller announces itself, then checks `stopping`; the stopper
// sets `stopping`, then waits for the announced callers to leave before it
// closes. With sequentially consistent atomics one of the two always sees
// the other. False: stopping, do not call nng.
static bool
rpc_enter(st_rpc *rpc)
{
    atomic_fetch_add(&rpc->calling, 1);
    if (!atomic_load(&rpc->stopping))
        return true;
    atomic_fetch_sub(&rpc->calling, 1);
    return false;
}

static void
rpc_leave(st_rpc *rpc)
{
    unsigned before = atomic_fetch_sub(&rpc->calling, 1);
    ST_ASSERT(before > 0);
}

static void
rpc_finish(rpc_ctx *c)
{
    atomic_store_explicit(&c->finished, true, memory_order_release);
}

static void
rpc_recv(rpc_ctx *c)
{
    if (!rpc_enter(c->rpc)) {
        rpc_finish(c);
        return;
    }
    c->state = RPC_RECV;
    atomic_fetch_add(&c->rpc->waiting, 1);
    nng_ctx_recv(c->ctx, c->aio);
    rpc_leave(c->rpc);
}

// rpc_arm arms the next context never armed, if any. Called from the
// callback of a context that is busy (not finished), so st_rpc_stop cannot
// have passed its wait for the contexts: it then waits for this one too.
static void
rpc_arm(st_rpc *rpc)
{
    unsigned k = atomic_load(&rpc->armed);
    do {
        if (k >= rpc->count)
            return;
    } while (!atomic_compare_exchange_weak(&rpc->armed, &k, k + 1));
    rpc_ctx *c = &rpc->ctxs[k];
    atomic_fetch_add(&rpc->svc->rpc_contexts_ready, 1);
    atomic_store_explicit(&c->finished, false, memory_order_release);
    rpc_recv(c);
}

// rpc_reply_cb runs once the Response is ready, on a worker thread or in the
// aio callback. It reuses the request's message for the reply (REP keeps the
// routing header apart), so a reply costs no allocation beyond nng's.
static void
rpc_reply_cb(void *arg, st_request *req)
{
    rpc_ctx *c = arg;
    nng_msg *m = c->msg;
    c->msg = NULL;
    ST_ASSERT(m != NULL);
    if (nng_msg_realloc(m, req->packed_size) != 0) {
        nng_msg_free(m);
        st_request_reset(req);
        rpc_recv(c);
        return;
    }
    st_request_pack(req, nng_msg_body(m));
    st_request_reset(req);
    if (!rpc_enter(c->rpc)) { // shutting down: the reply has nowhere to go
        nng_msg_free(m);
        rpc_finish(c);
        return;
    }
    c->state = RPC_SEND;
    nng_aio_set_msg(c->aio, m);
    nng_ctx_send(c->ctx, c->aio);
    rpc_leave(c->rpc);
}

static void
rpc_cb(void *arg)
{
    rpc_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->state == RPC_SEND) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(c->aio));
        rpc_recv(c);
        return;
    }
    // A receive completed: one fewer context waits.
    unsigned waited = atomic_fetch_sub(&c->rpc->waiting, 1);
    ST_ASSERT(waited > 0);
    if (rv != 0) {
        if (rv == NNG_ECLOSED || atomic_load_explicit(&c->rpc->stopping, memory_order_acquire))
            rpc_finish(c);
        else
            rpc_recv(c);
        return;
    }
    if (waited <= ST_RPC_SPARE)
        rpc_arm(c->rpc);
    c->msg = nng_aio_get_msg(c->aio);
    // From here the context belongs to the request until rpc_reply_cb.
    st_request_handle(c->req, nng_msg_body(c->msg), nng_msg_len(c->msg));
}

static st_err
rpc_open(st_rpc *rpc, const char *url, char *err, size_t err_len)
{
    int rv = nng_rep0_open(&rpc->sock);
    if (rv == 0)
        rv = nng_socket_set_size(rpc->sock, NNG_OPT_RECVMAXSZ, ST_SERVER_RECV_MAX);
    if (rv != 0) {
        snprintf(err, err_len, "rpc: cannot open a REP socket: %s", nng_strerror(rv));
        return ST_IO;
    }
    if ((rv = nng_listen(rpc->sock, url, NULL, 0)) != 0) {
        snprintf(err, err_len, "rpc: cannot listen on %s: %s", url, nng_strerror(rv));
        return ST_IO;
    }
    return ST_OK;
}

st_err
st_rpc_start(st_service *svc, const char *url, uint32_t contexts, size_t arena_bytes, st_rpc **rpc_out,
             char *err, size_t err_len)
{
    ST_ASSERT(svc != NULL && url != NULL && rpc_out != NULL);
    *rpc_out = NULL;
    if (contexts == 0)
        contexts = ST_RPC_CONTEXTS_DEFAULT;
    ST_ASSERT(contexts <= ST_RPC_CONTEXTS_MAX);
    st_rpc *rpc = st_calloc(1, sizeof *rpc);
    rpc->svc = svc;
    rpc->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
    rpc->ctxs = st_calloc(contexts, sizeof *rpc->ctxs);
    if (rpc_open(rpc, url, err, err_len) != ST_OK)
        goto fail;
    for (uint32_t i = 0; i < contexts; i++) {
        rpc_ctx *c = &rpc->ctxs[i];
        c->rpc = rpc;
        int rv = nng_aio_alloc(&c->aio, rpc_cb, c);
        if (rv == 0 && (rv = nng_ctx_open(&c->ctx, rpc->sock)) != 0) {
            nng_aio_free(c->aio);
            c->aio = NULL;
        }
        if (rv != 0) {
            snprintf(err, err_len, "rpc: cannot make context %u: %s", i, nng_strerror(rv));
            goto fail;
        }
        c->req = st_request_create(svc, arena_bytes, true, rpc_reply_cb, c);
        rpc_finish(c); // until armed
        rpc->count++;
    }
    for (uint32_t i = 0; i < ST_RPC_SPARE; i++)
        rpc_arm(rpc);
    *rpc_out = rpc;
    return ST_OK;
fail: // no context was armed: nothing to wait for
    st_rpc_stop(rpc);
    return ST_IO;
}

void
st_rpc_stop(st_rpc *rpc)
{
    if (rpc == NULL)
        return;
    atomic_store(&rpc->stopping, true);
    while (atomic_load(&rpc->calling) != 0) // see rpc_enter
        sched_yield();
    if (nng_socket_id(rpc->sock) > 0)
        nng_close(rpc->sock);
    // Contexts inside the shards finish as soon as their workers release
    // them; ten seconds is far beyond any batch.
    for (int waited_ms = 0; waited_ms < 10000; waited_ms++) {
        uint32_t busy = 0;
        for (uint32_t i = 0; i < rpc->count; i++)
            busy += !atomic_load_explicit(&rpc->ctxs[i].finished, memory_order_acquire);
        if (busy == 0)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    for (uint32_t i = 0; i < rpc->count; i++) {
        rpc_ctx *c = &rpc->ctxs[i];
        if (!atomic_load_explicit(&c->finished, memory_order_acquire)) {
            fprintf(stderr, "stocktwind: rpc context %u did not finish; leaking it\n", i);
            continue;
        }
        nng_aio_free(c->aio);
        if (c->msg != NULL)
            nng_msg_free(c->msg);
        st_request_destroy(c->req);
    }
    st_free(rpc->ctxs);
    st_free(rpc);
}
