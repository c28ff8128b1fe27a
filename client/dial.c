// dial.c - see dial.h.
#include "dial.h"

#include <string.h>

#include "error.h"

int
st_opts_normalize(const st_client_opts *in, st_client_opts *out)
{
    static const st_client_opts defaults = {0};
    *out = in ? *in : defaults;
    if (out->timeout_ms < 0) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT, "timeout_ms %d is negative",
                            out->timeout_ms);
    }
    if (out->max_in_flight > ST_CLIENT_IN_FLIGHT_MAX) {
        return st_error_set(STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT,
                            "max_in_flight %u is above %u", out->max_in_flight,
                            ST_CLIENT_IN_FLIGHT_MAX);
    }
    if (out->timeout_ms == 0) {
        out->timeout_ms = ST_CLIENT_TIMEOUT_MS_DEFAULT;
    }
    if (out->max_in_flight == 0) {
        out->max_in_flight = ST_CLIENT_IN_FLIGHT_DEFAULT;
    }
    if (out->reconnect_min_ms <= 0) {
        out->reconnect_min_ms = ST_CLIENT_RECONNECT_MIN_MS_DEFAULT;
    }
    if (out->reconnect_max_ms <= 0) {
        out->reconnect_max_ms = ST_CLIENT_RECONNECT_MAX_MS_DEFAULT;
    }
    if (out->reconnect_max_ms < out->reconnect_min_ms) {
        out->reconnect_max_ms = out->reconnect_min_ms;
    }
    return 0;
}

int
st_dial(nng_socket sock, const char *url, const st_client_opts *opts)
{
    nng_dialer dialer;
    int rv = nng_dialer_create(&dialer, sock, url);
    if (rv != 0) {
        return st_error_nng(rv, "cannot dial", url);
    }
    // Reconnection is nng's: after a drop the dialer retries with back-off
    // doubling from min to max, and REQ resends what was waiting for a reply.
    nng_dialer_set_ms(dialer, NNG_OPT_RECONNMINT, opts->reconnect_min_ms);
    nng_dialer_set_ms(dialer, NNG_OPT_RECONNMAXT, opts->reconnect_max_ms);
    rv = nng_dialer_start(dialer, opts->lazy_connect ? NNG_FLAG_NONBLOCK : 0);
    if (rv != 0) {
        nng_dialer_close(dialer);
        return st_error_nng(rv, "cannot connect to", url);
    }
    return 0;
}

char *
st_strdup(const char *s)
{
    return strdup(s ? s : "");
}
