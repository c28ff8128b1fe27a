#!/bin/sh
# snapshot.sh - what a snapshot costs ingest at seed scale (issue 3: "measure
# the longest stall and the p99 latency during a snapshot at 4.5 M stock
# records ... keep the stall under 50 ms"). Starts stocktwind --workers 2
# --data DIR --sync fsync, sets up 45 x 100,000 with stocktwin-load
# --setup-only, then drives RATE events/s (open loop, batches of 1,000) for
# 20 s with `stocktwin snapshot` at 5 s and 12 s, then 10 s more without
# snapshots for comparison. Prints the daemon's snapshot lines (time, and
# the longest stall copying one warehouse) and the latency of both runs.
#
#   bench/snapshot.sh BUILD_DIR PORT [RATE]
#   bench/snapshot.sh build/release 47995 100000
#
# Environment: DATA (deleted and made afresh) [/tmp/stsnap-PORT], SCALE
# (stocktwin-load scale flags) [seed scale]. Listens on tcp://127.0.0.1:PORT
# and ipc:// sockets named after PORT; stops what it starts.
set -eu
[ $# -ge 2 ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 2; }
build=$1 port=$2 rate=${3:-100000}
data=${DATA:-/tmp/stsnap-$port} scale=${SCALE:-}
url=tcp://127.0.0.1:$port
cli="$build/client/stocktwin"
load="$build/bench/stocktwin-load"
log=$data.log
. "$(dirname "$0")/daemon.sh"
rm -rf "$data"
bench_start stsnap "$log" "$build/server/stocktwind" --workers 2 --data "$data" \
    --sync "${SYNC:-fsync}"
# shellcheck disable=SC2086
"$load" --url "$url" $scale --setup-only >/dev/null 2>&1
echo "snapshot: set up; RSS $(awk '/VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$pid/status")"
(sleep 5 && "$cli" --url "$url" snapshot >/dev/null && sleep 7 && "$cli" --url "$url" snapshot >/dev/null) &
asker=$!
echo "with snapshots at 5 s and 12 s:"
# shellcheck disable=SC2086
"$load" --url "$url" $scale --no-setup --no-verify --rate "$rate" --duration 20 2>&1 |
    grep -E 'run:|latency'
wait "$asker"
sleep 3 # let the second snapshot publish
grep -E 'snapshot of LSN' "$log" | sed 's/^/  /'
echo "without snapshots:"
# shellcheck disable=SC2086
"$load" --url "$url" $scale --no-setup --no-verify --rate "$rate" --duration 10 2>&1 |
    grep -E 'run:|latency'
