// reshard.h - a data directory written by N workers, started with M: its
// state is rebuilt and its warehouses placed as M workers place them, once,
// at start (shards.c, st_shards_data_check). How, and why it is crash-safe:
// the top of reshard.c. Not a public header.
// Thread: the creating thread, before the workers start.
#ifndef ST_SHARDS_RESHARD_H
#define ST_SHARDS_RESHARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "shards/shards.h"

// st_reshard rewrites cfg->data_dir, written by `from` workers, for `to`.
// On failure nothing of the old layout changed (why says what failed: a
// corrupt log or snapshot, the disk).
st_err st_reshard(const st_shards_config *cfg, uint32_t from, uint32_t to, char *why,
                  size_t why_len);

// st_reshard_recover completes a reshard that stopped after its switch
// began (<data>/reshard.journal); ST_OK and nothing done without one.
st_err st_reshard_recover(const char *data_dir, char *why, size_t why_len);

// The worker a warehouse belongs to with `workers` workers (st_shards_route).
uint32_t st_reshard_route(const char *warehouse, uint32_t workers);

#endif
