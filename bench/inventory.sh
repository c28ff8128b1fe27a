#!/bin/sh
# inventory.sh - the warehouse inventory query at seed scale (issue 5: "over
# 100,000 SKUs answered in <= 20 ms while ingest runs"). Starts stocktwind,
# sets up 45 warehouses x 100,000 SKUs with stocktwin-load --setup-only, then
# reads wh-00's whole inventory COUNT times with stocktwin-inventory-probe
# (pages of PAGE lines; one reader, two sharing the pages, then one reader
# asking for the next page while it decodes one), first idle,
# then while stocktwin-load drives RATE events/s of moves at it; with PERF=1 the daemon runs under perf record during
# the loaded reads. Prints one line per case and the daemon's CPU time.
#
#   bench/inventory.sh BUILD_DIR PORT
#   PROBE=other/build/bench/stocktwin-inventory-probe bench/inventory.sh build/release 47900
#
# Environment:
#   SCALE  stocktwin-load scale flags [seed scale]
#   COUNT  whole reads per case [30]
#   PAGE   lines per request [25000]
#   RATE   events/s of moves while the loaded reads run [100000]
#   PROBE  the probe binary [BUILD_DIR/bench/stocktwin-inventory-probe]: an
#          A/B of the client library against the same daemon
#   PERF   1: perf record -g the daemon during the loaded case, the flat
#          profile in /tmp/stinventory-PORT.perf.txt [0]
#
# The daemon runs memory-only (no --data: the query path does not touch the
# log) with --workers 2, listening on tcp://127.0.0.1:PORT and ipc:// sockets
# named after PORT; everything it starts is stopped on exit.
set -eu
[ $# -eq 2 ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 2; }
build=$1 port=$2
scale=${SCALE:-} count=${COUNT:-30} page=${PAGE:-25000} rate=${RATE:-100000} perf=${PERF:-0}
probe=${PROBE:-$build/bench/stocktwin-inventory-probe}
url=tcp://127.0.0.1:$port
load="$build/bench/stocktwin-load"
log=/tmp/stinventory-$port.log
daemon='' loader='' perfpid=''
stop_all() {
    [ -z "$loader" ] || kill "$loader" 2>/dev/null || true
    [ -z "$perfpid" ] || kill -INT "$perfpid" 2>/dev/null || true
    [ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; } || true
    rm -f "/tmp/stinventory-$port-ingest.ipc" "/tmp/stinventory-$port-feed.ipc"
}
trap stop_all EXIT
trap 'exit 130' INT TERM
fail() { echo "inventory: $*" >&2; exit 1; }
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$daemon/stat"; }

"$build/server/stocktwind" --rpc "$url" --workers 2 \
    --ingest "ipc:///tmp/stinventory-$port-ingest.ipc" \
    --feed "ipc:///tmp/stinventory-$port-feed.ipc" >"$log" 2>&1 &
daemon=$!
until "$build/client/stocktwin" --url "$url" --timeout 2000 stats >/dev/null 2>&1; do
    kill -0 "$daemon" 2>/dev/null || fail "stocktwind exited before its RPC door answered: see $log"
    sleep 0.05
done
# shellcheck disable=SC2086
"$load" --url "$url" $scale --setup-only >/dev/null || fail "setup failed (daemon log: $log)"
echo "inventory: set up; daemon RSS $(awk '/VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$daemon/status")"

c0=$(cpu_s)
printf 'idle:   '
"$probe" --url "$url" --count "$count" --page "$page"
c1=$(cpu_s)
printf 'idle:   '
"$probe" --url "$url" --count "$count" --page "$page" --parallel 2
echo "        daemon CPU $(awk -v a="$c0" -v b="$c1" -v n="$count" 'BEGIN { printf "%.1f ms", (b - a) * 1000 / n }') per whole read"
printf 'idle:   '
"$probe" --url "$url" --count "$count" --page "$page" --decode all

# shellcheck disable=SC2086
"$load" --url "$url" $scale --no-setup --rate "$rate" --duration 600 >/dev/null 2>&1 &
loader=$!
sleep 3
if [ "$perf" = 1 ]; then
    perf record -e cpu-clock -F 999 -g -p "$daemon" -o "/tmp/stinventory-$port.perf.data" \
        >/dev/null 2>&1 &
    perfpid=$!
fi
printf 'loaded: '
"$probe" --url "$url" --count "$count" --page "$page"
printf 'loaded: '
"$probe" --url "$url" --count "$count" --page "$page" --parallel 2
printf 'loaded: '
"$probe" --url "$url" --count "$count" --page "$page" --decode all
echo "        (with $rate events/s of moves)"
if [ -n "$perfpid" ]; then
    kill -INT "$perfpid"
    wait "$perfpid" 2>/dev/null || true
    perfpid=''
    perf report -i "/tmp/stinventory-$port.perf.data" --no-children --sort sym -g none --stdio \
        2>/dev/null | grep -v -e '^$' -e '^#' | head -n 40 >"/tmp/stinventory-$port.perf.txt"
    echo "        profile: /tmp/stinventory-$port.perf.txt"
fi
