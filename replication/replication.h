// replication.h - leader log shipping, follower catch-up and apply, quorum
// acks, promotion and fencing (DESIGN.md §8). Not built yet: issue 4 fills
// this module in once the write-ahead log (issue 3) exists. The header marks
// its place in the layering: replication depends on shards, core and proto,
// and server depends on it.
#ifndef ST_REPLICATION_REPLICATION_H
#define ST_REPLICATION_REPLICATION_H

#include "shards/shards.h"

#endif
