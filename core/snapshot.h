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
#include "core/state.h"

// st_snap_write_cb takes the next `len` bytes of the image; false stops the
// save (the callback's I/O failed).
typedef bool (*st_snap_write_cb)(void *arg, const void *buf, size_t len);

// st_state_save writes the image of `state` through `cb`, in many small
// calls (buffer them). Returns false if the callback refused bytes.
bool st_state_save(const st_state *state, st_snap_write_cb cb, void *arg);

// st_state_load rebuilds an EMPTY state (fresh from st_state_create) from an
// image of `len` bytes. ST_OK: the state equals the one saved (same digest,
// and it answers every later event the same way). ST_MALFORMED: the image is
// not valid (`why` says what); the state is then half built and must be
// destroyed. The state's own config applies (a smaller alerts_kept keeps the
// newest alerts).
st_err st_state_load(st_state *state, const void *image, size_t len, char *why, size_t why_len);

#endif
