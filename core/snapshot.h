// snapshot.h - the image of a whole state: written by st_state_save through
// a callback, read back by st_state_load, so that a restart (or a follower
// catching up) starts from it instead of replaying every log entry. The
// byte layout and its validity rules are at the top of core/snapshot.c.
//
// Pure like the rest of core: the caller owns the bytes, the file, its
// checksum and the LSN the image stands for.
// Ownership: the image is borrowed for the call. Thread: the state's owner.
#ifndef ST_CORE_SNAPSHOT_H
#define ST_CORE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/event.h"
#include "core/state.h"

// st_snap_write_cb takes the next `len` bytes of the image; false stops the
// save (the callback's I/O failed).
typedef bool (*st_snap_write_cb)(void *arg, const void *buf, size_t len);

// st_state_save writes the image of `state` through `cb`, in many small
// calls (buffer them). Returns false if the callback refused bytes.
bool st_state_save(const st_state *state, st_snap_write_cb cb, void *arg);

// An image written piecewise between applies, so that its writer never
// stops the state for longer than one warehouse takes to copy: the head
// and the catalog as they are after log entry `lsn` (st_snap_begin), then
// each warehouse the state had then, one call each, as it is at that call
// (st_snap_next, with the LSN applied by then), then the strings and the
// product count (st_snap_end, with the LSN applied by then: the image's
// last). A state loaded from such an image is the state after the last LSN
// only once the log entries after the first LSN are replayed into it,
// skipping those that st_state_covers() says the image holds already; until
// then it must not be queried or verified. The state must not lose
// warehouses or strings between the calls (it never does).
typedef struct st_snap_pass {
    uint64_t first_lsn; // the head's LSN: replay starts after it
    uint64_t last_lsn;  // the newest part's LSN; st_snap_end's once it ran
    uint64_t bytes;     // written so far
    uint32_t whs;       // warehouses to write (the state's at st_snap_begin)
    uint32_t next;      // the next of them
} st_snap_pass;

bool st_snap_begin(st_snap_pass *pass, const st_state *state, uint64_t lsn, st_snap_write_cb cb,
                   void *arg);
// st_snap_next writes the next warehouse; call it while st_snap_more() is
// true, then st_snap_end. Each returns false if the callback refused bytes.
bool st_snap_next(st_snap_pass *pass, const st_state *state, uint64_t lsn, st_snap_write_cb cb,
                  void *arg);
bool st_snap_more(const st_snap_pass *pass);
// st_snap_part_bytes_max is the size of the state's largest warehouse part
// now (a writer's buffer size).
size_t st_snap_part_bytes_max(const st_state *state);
bool st_snap_end(st_snap_pass *pass, const st_state *state, uint64_t lsn, st_snap_write_cb cb,
                 void *arg);

// st_state_load rebuilds an EMPTY state (fresh from st_state_create) from an
// image of `len` bytes. ST_OK: the state equals the one saved (same digest,
// and it answers every later event the same way); for a piecewise image,
// once the log after it is replayed (st_state_covers). ST_MALFORMED: the
// image is not valid (`why` says what); the state is then half built and
// must be destroyed. The state's own config applies (a smaller alerts_kept
// keeps the newest alerts).
st_err st_state_load(st_state *state, const void *image, size_t len, char *why, size_t why_len);

// st_state_covers tells (*covered) whether log entry `lsn`, holding
// `event`, is in the loaded image already: an entry after the image's first
// LSN that belongs to a warehouse whose part was written after it. Whoever
// replays a log into a loaded state calls it for every entry, in LSN order,
// and skips the ones it covers. After the image's last LSN it is false, and
// cheap. ST_MALFORMED (first entry past the last LSN) if the entries up to
// it did not create the products the image's stock records name: the image
// and the log do not belong together.
st_err st_state_covers(st_state *state, uint64_t lsn, const st_event *event, bool *covered);

// st_state_image_lsn is the image's last LSN while the replay has not gone
// past it (0 otherwise): the log must reach it, or it lost entries the
// image holds.
uint64_t st_state_image_lsn(const st_state *state);

#endif
