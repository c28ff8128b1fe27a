// ingest.c - the PULL door. See ingest.h. Shutdown works as in rpc.c: after
// nng_close() each loop's next operation fails and the loop finishes.
#include "server/ingest.h"

#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "core/alloc.h"
#include "core/assert.h"

#define ST_INGEST_LOG_EVERY_MS 10000

typedef struct ingest_loop {
    st_ingest *ingest;
    nng_aio *aio;
    st_request *req;
    atomic_bool finished;
} ingest_loop;

struct st_ingest {
    st_service *svc;
    nng_socket sock;
    uint32_t count;
    ingest_loop *loops;
    atomic_bool stopping;
    atomic_uint calling; // loops inside nng_recv_aio (see ingest_recv)
    atomic_int_fast64_t last_log_ms;
    uint64_t logged_rejects;
};

// ingest_recv queues the next receive, unless the door is stopping. The
// announce-then-check handshake with st_ingest_stop keeps this call out of
// nng while the socket is being closed (nng 1.5.2 can panic on that race;
// see rpc_enter in rpc.c).
static void
ingest_recv(ingest_loop *l)
{
    st_ingest *in = l->ingest;
    atomic_fetch_add(&in->calling, 1);
    if (atomic_load(&in->stopping)) {
        atomic_fetch_sub(&in->calling, 1);
        atomic_store_explicit(&l->finished, true, memory_order_release);
        return;
    }
    nng_recv_aio(in->sock, l->aio);
    atomic_fetch_sub(&in->calling, 1);
}

// ingest_log says, at most every ten seconds, how many ingested events and
// requests were refused so far: a device sending garbage must not flood the
// log, but must not go unnoticed either.
static void
ingest_log(st_ingest *in)
{
    st_service *svc = in->svc;
    if (svc->quiet)
        return;
    int64_t now = st_service_now_ms();
    int64_t last = atomic_load_explicit(&in->last_log_ms, memory_order_relaxed);
    if (now - last < ST_INGEST_LOG_EVERY_MS ||
        !atomic_compare_exchange_strong(&in->last_log_ms, &last, now))
        return;
    uint64_t ev = atomic_load_explicit(&svc->ingest_event_rejects, memory_order_relaxed);
    fprintf(stderr, "stocktwind: ingest: %" PRIu64 " events refused so far (%" PRIu64
                    " batches taken); send acknowledged batches on the RPC door to see why\n",
            ev, (uint64_t)atomic_load_explicit(&svc->ingest_batches, memory_order_relaxed));
}

static void
ingest_done_cb(void *arg, st_request *req)
{
    ingest_loop *l = arg;
    st_service *svc = l->ingest->svc;
    atomic_fetch_add_explicit(&svc->ingest_batches, 1, memory_order_relaxed);
    bool refused = req->resp.status != STOCKTWIN__STATUS__STATUS_OK;
    for (uint32_t i = 0; !refused && i < req->event_count; i++)
        refused = !st_err_accepted(req->final[i]);
    st_request_reset(req);
    if (refused)
        ingest_log(l->ingest);
    ingest_recv(l);
}

static void
ingest_cb(void *arg)
{
    ingest_loop *l = arg;
    int rv = nng_aio_result(l->aio);
    if (rv != 0) {
        if (rv == NNG_ECLOSED || atomic_load_explicit(&l->ingest->stopping, memory_order_acquire))
            atomic_store_explicit(&l->finished, true, memory_order_release);
        else
            ingest_recv(l);
        return;
    }
    nng_msg *m = nng_aio_get_msg(l->aio);
    // The request copies what it decodes, so the message can go at once.
    st_request_handle(l->req, nng_msg_body(m), nng_msg_len(m));
    nng_msg_free(m);
}

st_err
st_ingest_start(st_service *svc, const char *url, uint32_t loops, size_t arena_bytes,
                st_ingest **ingest_out, char *err, size_t err_len)
{
    ST_ASSERT(svc != NULL && url != NULL && ingest_out != NULL);
    *ingest_out = NULL;
    if (loops == 0)
        loops = ST_INGEST_LOOPS_DEFAULT;
    st_ingest *in = st_calloc(1, sizeof *in);
    in->svc = svc;
    in->loops = st_calloc(loops, sizeof *in->loops);
    atomic_store(&in->last_log_ms, INT64_MIN / 2);
    int rv = nng_pull0_open(&in->sock);
    if (rv == 0)
        rv = nng_socket_set_size(in->sock, NNG_OPT_RECVMAXSZ, ST_SERVER_RECV_MAX);
    if (rv != 0) {
        snprintf(err, err_len, "ingest: cannot open a PULL socket: %s", nng_strerror(rv));
        goto fail;
    }
    if ((rv = nng_listen(in->sock, url, NULL, 0)) != 0) {
        snprintf(err, err_len, "ingest: cannot listen on %s: %s", url, nng_strerror(rv));
        goto fail;
    }
    for (uint32_t i = 0; i < loops; i++) {
        ingest_loop *l = &in->loops[i];
        l->ingest = in;
        if ((rv = nng_aio_alloc(&l->aio, ingest_cb, l)) != 0) {
            snprintf(err, err_len, "ingest: cannot make an aio: %s", nng_strerror(rv));
            goto fail;
        }
        l->req = st_request_create(svc, arena_bytes, false, ingest_done_cb, l);
        in->count++;
    }
    for (uint32_t i = 0; i < in->count; i++)
        ingest_recv(&in->loops[i]);
    *ingest_out = in;
    return ST_OK;
fail:
    for (uint32_t i = 0; i < in->count; i++)
        atomic_store(&in->loops[i].finished, true);
    st_ingest_stop(in);
    return ST_IO;
}

void
st_ingest_stop(st_ingest *in)
{
    if (in == NULL)
        return;
    atomic_store(&in->stopping, true);
    while (atomic_load(&in->calling) != 0) // see ingest_recv
        sched_yield();
    if (nng_socket_id(in->sock) > 0)
        nng_close(in->sock);
    for (int waited_ms = 0; waited_ms < 10000; waited_ms++) {
        uint32_t busy = 0;
        for (uint32_t i = 0; i < in->count; i++)
            busy += !atomic_load_explicit(&in->loops[i].finished, memory_order_acquire);
        if (busy == 0)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    for (uint32_t i = 0; i < in->count; i++) {
        ingest_loop *l = &in->loops[i];
        if (!atomic_load_explicit(&l->finished, memory_order_acquire)) {
            fprintf(stderr, "stocktwind: ingest loop %u did not finish; leaking it\n", i);
            continue;
        }
        nng_aio_free(l->aio);
        st_request_destroy(l->req);
    }
    st_free(in->loops);
    st_free(in);
}
