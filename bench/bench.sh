#!/bin/sh
# bench.sh - one reproducible measurement: starts a fresh stocktwind, sets up
# the load generator's twins, runs stocktwin-load RUNS times with the same
# flags, records the daemon's RSS after setup and after the runs, stops the
# daemon. Figures go to OUT/ as JSON (one file per run) plus a summary.
#
#   bench/bench.sh BUILD_DIR OUT_DIR PORT RUNS "SCALE FLAGS" "RUN FLAGS" [DAEMON FLAGS...]
#   bench/bench.sh build-bench /tmp/small 47631 3 "--warehouses 4 --skus 10000" "--duration 10"
#
# The daemon listens on tcp://127.0.0.1:PORT (RPC) and ipc:// sockets under
# /tmp named after PORT; it runs with --workers 2 --quiet and DAEMON FLAGS.
set -eu
build=$1 out=$2 port=$3 runs=$4 scale=$5 runflags=$6
shift 6
mkdir -p "$out"
url=tcp://127.0.0.1:$port
"$build/server/stocktwind" --rpc "$url" --ingest "ipc:///tmp/stbench-$port-ingest.ipc" \
    --feed "ipc:///tmp/stbench-$port-feed.ipc" --workers 2 --quiet "$@" >"$out/daemon.log" 2>&1 &
daemon=$!
# Wait for it to stop too: it syncs its logs on the way out, and a run
# started right after would find its doors still bound.
trap 'kill $daemon 2>/dev/null && wait $daemon 2>/dev/null || true' EXIT
sleep 0.5
rss() { awk '/VmRSS/ {print $2}' "/proc/$daemon/status"; }
rss_empty=$(rss)
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$build/bench/stocktwin-load" --url "$url" $scale --setup-only >"$out/setup.txt" 2>"$out/setup.err"
t1=$(date +%s.%N)
rss_setup=$(rss)
i=1
while [ "$i" -le "$runs" ]; do
    # shellcheck disable=SC2086
    "$build/bench/stocktwin-load" --url "$url" $scale --no-setup $runflags --seed "$i" --json \
        >"$out/run$i.json" 2>"$out/run$i.txt"
    i=$((i + 1))
done
rss_after=$(rss)
{
    echo "setup_s $(echo "$t1 - $t0" | bc)"
    echo "rss_kib_empty $rss_empty"
    echo "rss_kib_after_setup $rss_setup"
    echo "rss_kib_after_runs $rss_after"
    cat "$out/setup.txt"
} >"$out/summary.txt"
cat "$out/summary.txt"
