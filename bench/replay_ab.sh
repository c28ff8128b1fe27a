#!/bin/sh
# replay_ab.sh - restart time of two builds on one and the same data
# directory (a log only, no snapshot), alternating, so that a change to
# replay is measured in one run on a noisy machine. BUILD_A makes the data:
# seed scale with stocktwin-load --setup-only, then SECONDS of closed-loop
# moves; then each build restarts on it RUNS times, A first. A restart is
# timed from the exec until the RPC door answers; each line also shows what
# the workers said about their replay.
#
#   bench/replay_ab.sh BUILD_A BUILD_B PORT [SECONDS]
#   bench/replay_ab.sh build/release /tmp/st-old/build 47980 3
#
# Environment: RUNS [3], SCALE (stocktwin-load scale flags) [seed scale],
# DATA (the data directory, deleted and made afresh) [/tmp/streplay-ab-PORT],
# COLD=1: drop the data directory's files from the page cache before each
# restart (posix_fadvise DONTNEED through dd), so the log is read from disk.
# Listens on tcp://127.0.0.1:PORT and ipc:// sockets named after PORT; stops
# every daemon it starts.
set -eu
[ $# -ge 3 ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 2; }
a=$1 b=$2 port=$3 secs=${4:-3}
runs=${RUNS:-3} scale=${SCALE:-} data=${DATA:-/tmp/streplay-ab-$port} cold=${COLD:-0}
url=tcp://127.0.0.1:$port
cli="$a/client/stocktwin"
. "$(dirname "$0")/daemon.sh"
now() { date +%s.%N; }

# start BUILD LOG: the daemon on $data, returning once its RPC door answers.
start() {
    bench_start streplay-ab "$2" "$1/server/stocktwind" --workers 2 --data "$data" --sync batch \
        --snapshot-mib 65536 --snapshot-interval 86400000
}
stop() { bench_stop; }

rm -rf "$data"
start "$a" "$data.fill.log"
# shellcheck disable=SC2086
"$a/bench/stocktwin-load" --url "$url" $scale --setup-only >/dev/null 2>&1
# shellcheck disable=SC2086
"$a/bench/stocktwin-load" --url "$url" $scale --no-setup --no-verify --batch 1000 \
    --duration "$secs" >/dev/null 2>&1
echo "replay_ab: $("$cli" --url "$url" digest | awk '$1 ~ /^[0-9]+$/ && NF == 3 { s += $2 } END { print s + 0 }') entries in $data"
stop
i=1
while [ "$i" -le "$runs" ]; do
    for build in "$a" "$b"; do
        log="$data.$i.$(basename "$(dirname "$build")")-$(basename "$build").log"
        if [ "$cold" = 1 ]; then
            sync
            find "$data" -type f | while read -r f; do dd if="$f" iflag=nocache count=0 status=none; done
        fi
        t0=$(now)
        start "$build" "$log"
        t1=$(now)
        stop
        echo "$build: $(awk -v x="$t0" -v y="$t1" 'BEGIN { printf "%.2f", y - x }') s; $(grep -h 'replayed' "$log" | sed 's/^stocktwind: //' | tr '\n' ' ')"
    done
    i=$((i + 1))
done
