// err.c - names of the st_err codes (see err.h).
// Thread: any; the table is constant.
#include "core/err.h"

// st_err_str is a switch rather than a table so that a gap in the enum (the
// runtime codes start at 64) cannot be read out of bounds.
const char *
st_err_str(st_err err)
{
    switch (err) {
    case ST_OK:
        return "ok";
    case ST_DUPLICATE:
        return "duplicate";
    case ST_STALE:
        return "stale";
    case ST_INVALID_ARGUMENT:
        return "invalid_argument";
    case ST_TOO_LARGE:
        return "too_large";
    case ST_MALFORMED:
        return "malformed";
    case ST_BAD_VERSION:
        return "bad_version";
    case ST_UNKNOWN_WAREHOUSE:
        return "unknown_warehouse";
    case ST_UNKNOWN_LOCATION:
        return "unknown_location";
    case ST_UNKNOWN_PRODUCT:
        return "unknown_product";
    case ST_UNKNOWN_DEVICE:
        return "unknown_device";
    case ST_UNKNOWN_SUPPLIER:
        return "unknown_supplier";
    case ST_UNKNOWN_ORDER:
        return "unknown_order";
    case ST_INSUFFICIENT_STOCK:
        return "insufficient_stock";
    case ST_CONFLICT:
        return "conflict";
    case ST_CAPACITY:
        return "capacity";
    case ST_BUSY:
        return "busy";
    case ST_UNAVAILABLE:
        return "unavailable";
    case ST_INTERNAL:
        return "internal";
    case ST_NOT_FOUND:
        return "not_found";
    case ST_NOT_LEADER:
        return "not_leader";
    case ST_FENCED:
        return "fenced";
    case ST_IO:
        return "io";
    case ST_NOMEM:
        return "nomem";
    }
    return "unknown";
}
