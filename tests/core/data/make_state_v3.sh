#!/bin/sh
# make_state_v3.sh - how state-v3.snap was made: upgrade_events.h's history
# applied by dc739d1, the last commit whose snapshots are format 3 (64-byte
# transfer records, no msg_seq), and saved with its st_state_save by the
# same program as state-v1.snap (make_state_v1.c). Run from the repository's
# top; needs the Criterion and xxHash development packages (scripts/setup.sh
# installs them).
#
#   tests/core/data/make_state_v3.sh
set -eu
top=$(pwd)
tree=$(mktemp -d /tmp/st-v3.XXXXXX)
trap 'git -C "$top" worktree remove --force "$tree"' EXIT
git -C "$top" worktree add -f -q "$tree" dc739d1
cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tree/build" --target st_core -j2 >/dev/null
cc -std=c11 -D_GNU_SOURCE -O1 -I"$tree" -I"$top/tests/core" "$top/tests/core/data/make_state_v1.c" \
    "$(find "$tree/build" -name libst_core.a | head -1)" -lcriterion -lxxhash -o "$tree/make_state_v3"
ST_V1_OUT="$top/tests/core/data/state-v3.snap" "$tree/make_state_v3" --verbose=0
