// error.c - see error.h.
#include "error.h"

#include <nng/nng.h>
#include <stdio.h>
#include <string.h>

#include "stocktwin.h"

// One sentence per thread: a handle is shared by many threads, and a sentence
// kept on the handle would be overwritten by a neighbour before it is read.
static _Thread_local char st_error_text[ST_ERROR_BYTES_MAX];

int
st_error_set(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st_error_text, sizeof st_error_text, fmt, ap);
    va_end(ap);
    return status;
}

void
st_error_clear(void)
{
    st_error_text[0] = '\0';
}

const char *
st_error_get(void)
{
    return st_error_text;
}

int
st_error_nng(int rv, const char *what, const char *url)
{
    int status = STOCKTWIN__STATUS__STATUS_UNAVAILABLE;
    switch (rv) {
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
    case NNG_EINVAL:
        status = STOCKTWIN__STATUS__STATUS_INVALID_ARGUMENT;
        break;
    case NNG_EMSGSIZE:
        status = STOCKTWIN__STATUS__STATUS_TOO_LARGE;
        break;
    case NNG_ENOMEM:
        status = STOCKTWIN__STATUS__STATUS_INTERNAL;
        break;
    default:
        break;
    }
    return st_error_set(status, "%s %s: %s", what, url ? url : "", nng_strerror(rv));
}

const char *
st_client_last_error(const st_client *c)
{
    (void)c;
    return st_error_text;
}

// The names follow stocktwin.proto without the STATUS_ prefix, so tables and
// messages stay short.
static const char *const st_status_names[] = {
    "OK",
    "DUPLICATE",
    "STALE",
    "INVALID_ARGUMENT",
    "TOO_LARGE",
    "MALFORMED",
    "BAD_VERSION",
    "UNKNOWN_WAREHOUSE",
    "UNKNOWN_LOCATION",
    "UNKNOWN_PRODUCT",
    "UNKNOWN_DEVICE",
    "UNKNOWN_SUPPLIER",
    "UNKNOWN_ORDER",
    "INSUFFICIENT_STOCK",
    "CONFLICT",
    "CAPACITY",
    "BUSY",
    "UNAVAILABLE",
    "INTERNAL",
    "NOT_FOUND",
    "NOT_LEADER",
    "FENCED",
};
_Static_assert(sizeof st_status_names / sizeof st_status_names[0] ==
                   STOCKTWIN__STATUS__STATUS_FENCED + 1,
               "one name per Status of stocktwin.proto");

const char *
st_status_name(int status)
{
    if (status == ST_CLIENT_TIMEOUT) {
        return "TIMEOUT";
    }
    if (status < 0 || (size_t)status >= sizeof st_status_names / sizeof st_status_names[0]) {
        return "UNKNOWN";
    }
    return st_status_names[status];
}

bool
st_status_accepted(int status)
{
    return status == STOCKTWIN__STATUS__STATUS_OK ||
           status == STOCKTWIN__STATUS__STATUS_DUPLICATE ||
           status == STOCKTWIN__STATUS__STATUS_STALE;
}
