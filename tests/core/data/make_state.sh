#!/bin/sh
# make_state.sh - how the snapshot fixtures of upgrade_test.c were made:
# upgrade_events.h's history applied by an older commit and saved with its
# st_state_save (make_state.c, built against that commit's core):
#
#   tests/core/data/make_state.sh eadea2c state-v1.snap   # the last format 1
#                                                        # (72-byte stock records, 32-byte bins)
#   tests/core/data/make_state.sh dc739d1 state-v3.snap   # the last format 3
#                                                        # (64-byte transfer records)
#   tests/core/data/make_state.sh 76b603d state-v4.snap   # the last format 4
#                                                        # (no timers' marks)
#
# Run from the repository's top; needs the Criterion and xxHash development
# packages (scripts/setup.sh installs them).
set -eu
[ $# -eq 2 ] || { echo "usage: tests/core/data/make_state.sh COMMIT FILE" >&2; exit 2; }
top=$(pwd)
tree=$(mktemp -d /tmp/st-state.XXXXXX)
trap 'git -C "$top" worktree remove --force "$tree"' EXIT
git -C "$top" worktree add -f -q "$tree" "$1"
cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tree/build" --target st_core -j2 >/dev/null
cc -std=c11 -D_GNU_SOURCE -O1 -I"$tree" -I"$top/tests/core" "$top/tests/core/data/make_state.c" \
    "$(find "$tree/build" -name libst_core.a | head -1)" -lcriterion -lxxhash -o "$tree/make_state"
ST_STATE_OUT="$top/tests/core/data/$2" "$tree/make_state" --verbose=0
