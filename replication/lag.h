// lag.h - when did a log reach an LSN: a bounded record of (LSN, time)
// samples, so that a replica's lag in milliseconds is the age of the oldest
// entry it lacks (not how long it has been behind at all, which under
// sustained load never ends). Used by the leader (its durable LSNs, per
// worker) and by followers (the leader's durable LSNs they were told).
// Thread: the caller locks.
#ifndef ST_REPLICATION_LAG_H
#define ST_REPLICATION_LAG_H

#include <stdint.h>

#define ST_REPL_CLOCK_SAMPLES 256u

typedef struct st_repl_clock {
    uint64_t lsn[ST_REPL_CLOCK_SAMPLES]; // increasing, oldest at head
    uint64_t ms[ST_REPL_CLOCK_SAMPLES];
    uint32_t head, count;
} st_repl_clock;

// st_repl_clock_note records that the log reached `lsn` at `ms` (ignored
// unless it is beyond the last sample). The oldest sample goes when full.
static inline void
st_repl_clock_note(st_repl_clock *c, uint64_t lsn, uint64_t ms)
{
    if (c->count > 0 && lsn <= c->lsn[(c->head + c->count - 1) % ST_REPL_CLOCK_SAMPLES])
        return;
    if (c->count == ST_REPL_CLOCK_SAMPLES) {
        c->head = (c->head + 1) % ST_REPL_CLOCK_SAMPLES;
        c->count--;
    }
    uint32_t i = (c->head + c->count) % ST_REPL_CLOCK_SAMPLES;
    c->lsn[i] = lsn;
    c->ms[i] = ms;
    c->count++;
}

// st_repl_clock_lag is how old, at `now`, the first entry after `pos` is:
// the time of the earliest sample beyond pos (0 if none: caught up).
static inline uint64_t
st_repl_clock_lag(const st_repl_clock *c, uint64_t pos, uint64_t now)
{
    for (uint32_t k = 0; k < c->count; k++) {
        uint32_t i = (c->head + k) % ST_REPL_CLOCK_SAMPLES;
        if (c->lsn[i] > pos)
            return now > c->ms[i] ? now - c->ms[i] : 0;
    }
    return 0;
}

#endif
