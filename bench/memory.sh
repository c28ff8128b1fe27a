#!/bin/sh
# memory.sh - resident memory per stock record at seed scale (issue 5: "<= 96
# bytes of resident memory per stock record at 4.5 M records (report RSS
# after load, before and after traffic)"). Starts stocktwind --workers 2
# --data DIR --sync fsync, reads its VmRSS empty, right after
# `stocktwin-load --setup-only` (45 x 100,000 records, two bins each), after
# IDLE seconds without traffic, and after DURATION seconds of closed-loop
# moves (batches of 1,000) plus IDLE seconds more. Per record is (RSS -
# empty RSS) / records, and RSS / records ("all-in").
#
#   bench/memory.sh BUILD_DIR PORT
#   MALLOC_CONF=thp:never bench/memory.sh build/release 47960
#
# Environment: DATA (deleted and made afresh) [/tmp/stmem-PORT], SCALE
# (stocktwin-load scale flags) [seed scale], IDLE [12], DURATION [8],
# MALLOC_CONF (passed to the daemon only: jemalloc options over the
# daemon's own), DAEMON (another build's stocktwind, for an A/B with this
# build's client and load generator). Listens on tcp://127.0.0.1:PORT and ipc:// sockets named
# after PORT; stops what it starts.
set -eu
[ $# -ge 2 ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 2; }
build=$1 port=$2
data=${DATA:-/tmp/stmem-$port} scale=${SCALE:-} idle=${IDLE:-12} duration=${DURATION:-8}
url=tcp://127.0.0.1:$port
cli="$build/client/stocktwin"
load="$build/bench/stocktwin-load"
log=$data.log
. "$(dirname "$0")/daemon.sh"
rm -rf "$data"
mconf=${MALLOC_CONF:-}
unset MALLOC_CONF # the load generator and the CLI keep their defaults
bench_start stmem "$log" env MALLOC_CONF="$mconf" "${DAEMON:-$build/server/stocktwind}" \
    --workers 2 --data "$data" --sync fsync
rss() { awk '/VmRSS/ { print $2 }' "/proc/$pid/status"; }
empty=$(rss)
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$load" --url "$url" $scale --setup-only >"$data.setup" 2>&1
t1=$(date +%s.%N)
records=$(sed -n 's/.*: \([0-9]*\) stock records in the daemon.*/\1/p' "$data.setup")
[ -n "$records" ] || { echo "memory: the setup did not report its records: see $data.setup" >&2; exit 1; }
setup=$(rss)
sleep "$idle"
setup_idle=$(rss)
# shellcheck disable=SC2086
rate=$("$load" --url "$url" $scale --no-setup --no-verify --duration "$duration" --batch 1000 2>&1 |
    sed -n 's/.*run:.*= \([0-9]*\) events\/s.*/\1/p' | tail -1)
traffic=$(rss)
sleep "$idle"
traffic_idle=$(rss)
awk -v e="$empty" -v n="$records" -v s0="$t0" -v s1="$t1" -v rate="$rate" \
    -v a="$setup" -v b="$setup_idle" -v c="$traffic" -v d="$traffic_idle" -v idle="$idle" '
function row(name, kib) {
    printf "%-28s %6.0f MiB  %5.0f B/record  %5.0f B/record all-in\n", name, kib / 1024,
        (kib - e) * 1024 / n, kib * 1024 / n
}
BEGIN {
    printf "records %d, setup %.1f s, moves %s events/s\n", n, s1 - s0, rate
    printf "%-28s %6.0f MiB\n", "empty", e / 1024
    row("after setup", a); row("after setup + " idle " s idle", b)
    row("after traffic", c); row("after traffic + " idle " s idle", d)
}'
