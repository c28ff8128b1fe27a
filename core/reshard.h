// reshard.h - moving warehouses between states: what a data directory
// written by N workers needs to start with M (shards/reshard.c). A warehouse
// and every record of it (locations, devices, stock, bins, reservations,
// orders, transfers, lead times, duplicate windows, kept alerts) is copied
// from one state into another whose string ids and catalog indexes differ,
// so each reference is translated by its string; the state digest
// (st_state_warehouses_digest) of the warehouse is the same afterwards.
// Pure, like the rest of core.
// Ownership: src is only read; dst grows. Thread: the caller's.
#ifndef ST_CORE_RESHARD_H
#define ST_CORE_RESHARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/state.h"

// st_state_adopt_catalog gives an EMPTY dst (no products, suppliers or
// warehouses) src's catalog: products, suppliers, the catalog sources'
// duplicate windows and the count of alerts raised.
st_err st_state_adopt_catalog(st_state *dst, const st_state *src);

// st_state_adopt_warehouse copies warehouse `index` of src (0 ..) into dst,
// which must hold the same catalog (every sku it stocks) and no warehouse of
// that id. ST_CONFLICT (a repeat), ST_UNKNOWN_PRODUCT (a sku dst lacks),
// ST_CAPACITY (dst's warehouse limit), with a sentence in why.
st_err st_state_adopt_warehouse(st_state *dst, const st_state *src, uint32_t index, char *why,
                                size_t why_len);

#endif
