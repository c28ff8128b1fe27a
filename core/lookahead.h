// lookahead.h - reading ahead of the apply: while one event of a batch is
// applied, the records the next few will touch are requested from memory.
//
// Applying a stock event into a state far larger than the caches waits on a
// chain of dependent loads: the sku's slot in the intern table, its entry in
// the product index, the warehouse's record number for the product, the
// record, its bins. Each is a cache (and TLB) miss that the processor cannot
// start before the one before it is in. A lookahead holds the next
// ST_LOOKAHEAD events and, each time one more is pushed, walks every event it
// holds one level further down that chain, reading what the level before
// prefetched and prefetching the next. By the time an event is applied its
// lines are in the cache, and the misses of several events overlap.
//
// Speculative and read-only: nothing in the state changes, a level that finds
// nothing ends that event's walk, and the apply does its own lookups as ever
// (a later event's apply may create what an earlier walk did not find: that
// costs a miss, never a wrong result). Events other than stock movements and
// counts are held but not walked.
// Ownership: a lookahead borrows the events pushed into it until they leave
// it (ST_LOOKAHEAD pushes later) or it is reset. Thread: the state's owner.
#ifndef ST_CORE_LOOKAHEAD_H
#define ST_CORE_LOOKAHEAD_H

#include <stdint.h>

#include "core/event.h"
#include "core/state.h"

// How many events ahead of the apply the walk starts: one level a push, and
// the chain of a movement is this many levels deep.
#define ST_LOOKAHEAD 6u

typedef struct st_lookahead_walk {
    const st_event *ev;                   // NULL: an empty place
    uint32_t hash;                        // of the sku
    uint32_t id, wh, product, stock, bin; // what the levels found so far
    uint32_t level;                       // the next level to walk
} st_lookahead_walk;

typedef struct st_lookahead {
    st_lookahead_walk walk[ST_LOOKAHEAD];
    uint32_t next; // where the next push goes
} st_lookahead;

// st_lookahead_reset empties `la` (for a new batch, or after the state changed
// in other ways than by applying the events pushed).
void st_lookahead_reset(st_lookahead *la);

// st_lookahead_push adds `ev`, the event to be applied ST_LOOKAHEAD - 1
// applies from now, and walks each event already held one level down.
// `ev` may be NULL (the batch has no more events): the others still walk.
void st_lookahead_push(const st_state *s, st_lookahead *la, const st_event *ev);

#endif
