// dial.h - what the RPC client, the pusher and the subscriber share: option
// defaults, dialing with fail-fast or background reconnection, and a small
// always-on assertion. Private to client/.
// Thread: any (no shared state).
#ifndef ST_CLIENT_DIAL_H
#define ST_CLIENT_DIAL_H

#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>

#include "stocktwin.h"

// Programmer errors crash, in release builds too (STYLE: asserts stay on).
#define ST_CLIENT_ASSERT(expr)                                                                     \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "%s:%d: libstocktwin assertion failed: %s\n", __FILE__, __LINE__,      \
                    #expr);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define ST_CLIENT_TIMEOUT_MS_DEFAULT 5000
#define ST_CLIENT_IN_FLIGHT_DEFAULT 256u
#define ST_CLIENT_IN_FLIGHT_MAX 65536u
#define ST_CLIENT_RECONNECT_MIN_MS_DEFAULT 100
#define ST_CLIENT_RECONNECT_MAX_MS_DEFAULT 5000

// st_opts_normalize - copies `in` (NULL = all defaults) to *out with every 0
// replaced by its default. Returns 0, or INVALID_ARGUMENT (sentence set) for a
// negative timeout or max_in_flight above ST_CLIENT_IN_FLIGHT_MAX.
int st_opts_normalize(const st_client_opts *in, st_client_opts *out);

// st_dial - starts a dialer of `sock` to `url` with the reconnect back-off of
// `opts` (normalized). Blocking unless opts->lazy_connect, so that a server
// that is not there is reported at once. Returns 0 or a status (sentence set).
int st_dial(nng_socket sock, const char *url, const st_client_opts *opts);

// st_strdup - strdup that maps NULL to "". Returns NULL only when out of memory.
char *st_strdup(const char *s);

#endif // ST_CLIENT_DIAL_H
