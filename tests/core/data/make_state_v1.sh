#!/bin/sh
# make_state_v1.sh - how state-v1.snap was made: upgrade_events.h's history
# applied by eadea2c, the last commit whose snapshots are format 1 (72-byte
# stock records, 32-byte bins), and saved with its st_state_save. Run from
# the repository's top; needs the Criterion and xxHash development packages
# (scripts/setup.sh installs them).
#
#   tests/core/data/make_state_v1.sh
set -eu
top=$(pwd)
tree=$(mktemp -d /tmp/st-v1.XXXXXX)
trap 'git -C "$top" worktree remove --force "$tree"' EXIT
git -C "$top" worktree add -f -q "$tree" eadea2c
cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tree/build" --target st_core -j2 >/dev/null
cc -std=c11 -D_GNU_SOURCE -O1 -I"$tree" -I"$top/tests/core" "$top/tests/core/data/make_state_v1.c" \
    "$(find "$tree/build" -name libst_core.a | head -1)" -lcriterion -lxxhash -o "$tree/make_state_v1"
ST_V1_OUT="$top/tests/core/data/state-v1.snap" "$tree/make_state_v1" --verbose=0
