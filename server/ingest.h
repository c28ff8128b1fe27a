// ingest.h - the telemetry ingest door: an nng PULL socket, fire and forget.
// Devices and gateways push the same Request bytes the RPC door takes,
// carrying an EventBatch; nothing is answered. A few receive loops, each an
// aio with its own preallocated st_request, decode and submit in parallel;
// rejected events and requests are counted in the st_service and logged at
// most every ten seconds (unless the service is quiet).
//
// Ownership: st_ingest_start() returns an st_ingest the caller stops with
// st_ingest_stop(), which frees it. The door borrows the st_service.
// Thread: start/stop from one thread; the shards must outlive the door.
#ifndef ST_SERVER_INGEST_H
#define ST_SERVER_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "server/request.h"

#define ST_INGEST_LOOPS_DEFAULT 4u

typedef struct st_ingest st_ingest;

// st_ingest_start listens on `url` with `loops` receive loops (0: default).
// ST_IO with a sentence in err when the socket cannot listen.
st_err st_ingest_start(st_service *svc, const char *url, uint32_t loops, size_t arena_bytes,
                       st_ingest **ingest_out, char *err, size_t err_len);

// st_ingest_stop closes the socket, waits for every loop, frees the door.
void st_ingest_stop(st_ingest *ingest);

#endif
