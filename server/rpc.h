// rpc.h - the RPC door: an nng REP socket with many contexts (nng_ctx), each
// with its own aio and its own preallocated st_request, so that many
// requests are in flight at once while each context answers in order.
//
// A context loops: receive a Request -> st_request_handle() -> (done, on a
// worker thread) pack the Response into the request's own nng message and
// send it on the context -> on send completion receive the next one.
//
// Contexts are armed (made to receive) on demand: ST_RPC_SPARE at start,
// and one more whenever a request leaves fewer than ST_RPC_SPARE waiting,
// up to `contexts`. nng hands each request to the context that has waited
// longest, so with every context armed all of them would take turns and
// each would touch its request buffers (≈ 0.3 MiB at 1,000 events a
// request); armed on demand, the contexts in use track the peak number of
// requests in flight, and so does resident memory.
//
// Ownership: st_rpc_start() returns an st_rpc the caller stops with
// st_rpc_stop(), which frees it. The door borrows the st_service.
// Thread: start/stop from one thread (the server's); the shards must live
// until st_rpc_stop() returned.
#ifndef ST_SERVER_RPC_H
#define ST_SERVER_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "server/request.h"

#define ST_RPC_CONTEXTS_DEFAULT 256u
#define ST_RPC_CONTEXTS_MAX 65536u
#define ST_RPC_SPARE 2u // armed contexts kept waiting while more can be armed

typedef struct st_rpc st_rpc;

// st_rpc_start listens on `url` with `contexts` contexts (0: the default),
// each with a first arena block of `arena_bytes` (0: the request default).
// On failure returns ST_IO (bad URL, address in use) with a sentence in err.
st_err st_rpc_start(st_service *svc, const char *url, uint32_t contexts, size_t arena_bytes,
                    st_rpc **rpc_out, char *err, size_t err_len);

// st_rpc_stop closes the socket, waits until every context has come back
// from the shards and nng, and frees the door; NULL is a no-op.
void st_rpc_stop(st_rpc *rpc);

#endif
