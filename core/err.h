// err.h - the one error enumeration of stocktwin, shared by every layer.
//
// The numbers equal the wire's `stocktwin.Status` (proto/stocktwin.proto), so
// a status travels from core to the client without a mapping table; a test
// checks the two stay equal. ST_OK, ST_DUPLICATE and ST_STALE mean "accepted"
// (the event is, or already was, part of the state); every other code means
// nothing changed. Codes from ST_IO on are operating errors of the runtime
// (disk, network) and never leave core.
// Thread: any.
#ifndef ST_CORE_ERR_H
#define ST_CORE_ERR_H

#include <stdbool.h>

typedef enum st_err {
    ST_OK = 0,
    ST_DUPLICATE = 1,
    ST_STALE = 2,
    ST_INVALID_ARGUMENT = 3,
    ST_TOO_LARGE = 4,
    ST_MALFORMED = 5,
    ST_BAD_VERSION = 6,
    ST_UNKNOWN_WAREHOUSE = 7,
    ST_UNKNOWN_LOCATION = 8,
    ST_UNKNOWN_PRODUCT = 9,
    ST_UNKNOWN_DEVICE = 10,
    ST_UNKNOWN_SUPPLIER = 11,
    ST_UNKNOWN_ORDER = 12,
    ST_INSUFFICIENT_STOCK = 13,
    ST_CONFLICT = 14,
    ST_CAPACITY = 15,
    ST_BUSY = 16,
    ST_UNAVAILABLE = 17,
    ST_INTERNAL = 18,
    ST_NOT_FOUND = 19,
    ST_NOT_LEADER = 20,
    ST_FENCED = 21,
    // Runtime-only codes below; not on the wire as event statuses.
    ST_IO = 64,
    ST_NOMEM = 65,
} st_err;

// st_err_str returns a short, stable, lower-case name for `err` ("ok",
// "insufficient_stock", ...); "unknown" for a value outside the enum.
const char *st_err_str(st_err err);

// st_err_accepted tells whether `err` means the event is part of the state.
static inline bool
st_err_accepted(st_err err)
{
    return err == ST_OK || err == ST_DUPLICATE || err == ST_STALE;
}

#endif
