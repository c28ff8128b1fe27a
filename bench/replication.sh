#!/bin/sh
# replication.sh - the cost of followers, measured in one run (issue 4): the
# same closed-loop workload against a leader alone, a leader with one
# follower acknowledging asynchronously (--ack async), and a leader with one
# follower in the acknowledgement (--ack quorum=1). All daemons run on this
# machine on loopback, --sync fsync, --workers 2, fresh data directories
# under OUT. While each run loads, the leader's `stocktwin stats` is sampled
# every 100 ms for the follower's lag (entries, ms: the age of the oldest
# entry it lacks); afterwards the follower's digest is compared with the
# leader's at the same LSN. Prints one table and writes OUT/summary.txt.
#
#   bench/replication.sh BUILD_DIR OUT_DIR PORT [DURATION_S] [SCALE FLAGS]
#   bench/replication.sh build/release /tmp/repl 47700 10 "--warehouses 4 --skus 10000"
#
# PORT..PORT+9 are used on 127.0.0.1. Load: stocktwin-load, 4 connections x 8
# requests in flight x 1000 events (moves). Stops everything it started and
# removes the daemons' data directories after each setup (over 2 GiB a run;
# KEEP=1 keeps them); logs and figures stay in OUT.
set -eu
build=$1 out=$2 port=$3 duration=${4:-10} scale=${5:-"--warehouses 4 --skus 10000"}
mkdir -p "$out"
cli="$build/client/stocktwin"
load="$build/bench/stocktwin-load"
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

# daemon NAME RPC_PORT REPL_PORT FLAGS...: starts one, waits for its RPC door.
daemon() {
    dname=$1 rp=$2 lp=$3
    shift 3
    rm -rf "$out/$dname.data"
    "$build/server/stocktwind" --rpc "tcp://127.0.0.1:$rp" --ingest "ipc:///tmp/strepl-$rp-in.ipc" \
        --feed "ipc:///tmp/strepl-$rp-feed.ipc" --workers 2 --quiet --data "$out/$dname.data" \
        --replication "tcp://127.0.0.1:$lp" "$@" >"$out/$dname.log" 2>&1 &
    lastpid=$!
    pids="$pids $!"
    i=0
    until "$cli" --url "tcp://127.0.0.1:$rp" stats >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || { echo "replication.sh: $dname did not start" >&2; cat "$out/$dname.log" >&2; exit 1; }
        sleep 0.1
    done
}

stop_all() { cleanup; wait 2>/dev/null || true; pids=""; }

# cpu PID: user + system CPU time of a process so far, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# sample_lag URL FILE: the follower's lag every 100 ms until FILE.stop exists.
sample_lag() {
    while [ ! -e "$2.stop" ]; do
        "$cli" --url "$1" stats 2>/dev/null | awk '$1 ~ /^tcp:/ {print $2, $3}' >>"$2"
        sleep 0.1
    done
}

# pct FILE COLUMN P: the P-th percentile of a column of numbers.
pct() {
    sort -n -k"$2" "$1" | awk -v c="$2" -v p="$3" '{v[NR]=$c} END {if (NR==0) {print "-"; exit}
        i=int((NR-1)*p/100)+1; print v[i]}'
}

run() { # run NAME ACK FOLLOWERS
    name=$1 ack=$2 nf=$3
    lp=$((port + 1))
    daemon "$name-leader" "$port" "$lp" --ack "$ack"
    lpid=$lastpid fpid=""
    if [ "$nf" -gt 0 ]; then
        daemon "$name-follower" $((port + 2)) $((port + 3)) --follow "tcp://127.0.0.1:$lp"
        fpid=$lastpid
    fi
    url="tcp://127.0.0.1:$port"
    # shellcheck disable=SC2086
    "$load" --url "$url" $scale --setup-only >"$out/$name.setup" 2>&1
    rm -f "$out/$name.lag" "$out/$name.lag.stop"
    touch "$out/$name.lag"
    if [ "$nf" -gt 0 ]; then sample_lag "$url" "$out/$name.lag" & sampler=$!; fi
    echo "replication.sh: $name: loading for $duration s" >&2
    lc0=$(cpu "$lpid") fc0=0
    [ -z "$fpid" ] || fc0=$(cpu "$fpid")
    # shellcheck disable=SC2086
    "$load" --url "$url" $scale --no-setup --connections 4 --depth 8 --batch 1000 \
        --duration "$duration" --json >"$out/$name.json" 2>"$out/$name.txt"
    lc1=$(cpu "$lpid") fc1=0
    [ -z "$fpid" ] || fc1=$(cpu "$fpid")
    touch "$out/$name.lag.stop"
    if [ "$nf" -gt 0 ]; then
        wait "$sampler" || true
        # The leader is idle now; an async follower may still be catching up,
        # so compare digests at the same LSN once it has (up to 30 s).
        ld=$("$cli" --url "$url" digest | head -1)
        i=0
        while :; do
            fd=$("$cli" --url "tcp://127.0.0.1:$((port + 2))" digest | head -1)
            [ "$fd" != "$ld" ] && [ "$i" -lt 300 ] || break
            i=$((i + 1))
            sleep 0.1
        done
        [ "$ld" = "$fd" ] && same=yes || same="NO (leader: $ld; follower: $fd)"
    else
        same="-"
    fi
    eps=$(sed -n 's/.*"events_per_s":\([0-9.]*\).*/\1/p' "$out/$name.json")
    evs=$(sed -n 's/.*"events":\([0-9]*\).*/\1/p' "$out/$name.json")
    hz=$(getconf CLK_TCK)
    lus=$(awk -v a="$lc0" -v b="$lc1" -v n="$evs" -v hz="$hz" 'BEGIN {printf "%.2f", (b-a)*1e6/hz/n}')
    fus=$(awk -v a="$fc0" -v b="$fc1" -v n="$evs" -v hz="$hz" 'BEGIN {printf "%.2f", (b-a)*1e6/hz/n}')
    p99=$(sed -n 's/.*"batch":{[^}]*"p99_us":\([0-9]*\).*/\1/p' "$out/$name.json")
    printf '%-8s %10s %10s %10s %10s %10s %10s %10s %8s\n' "$name" "$eps" "${p99:--}" \
        "$(pct "$out/$name.lag" 2 50)" "$(pct "$out/$name.lag" 2 99)" \
        "$(pct "$out/$name.lag" 1 99)" "$lus" "$fus" "$same" >>"$out/table.txt"
    stop_all
    [ "${KEEP:-0}" = 1 ] || rm -rf "$out/$name-leader.data" "$out/$name-follower.data"
}

: >"$out/table.txt"
run alone async 0
run async async 1
run quorum quorum=1 1
{
    echo "replication.sh: $duration s per run, load 4 x 8 x 1000 moves, scale: $scale"
    printf '%-8s %10s %10s %10s %10s %10s %10s %10s %8s\n' "setup" "events/s" "p99 us" \
        "lag p50ms" "lag p99ms" "lag p99 n" "leader us" "follow us" "digest"
    echo "(leader us / follow us: CPU microseconds per event of the leader / follower process)"
    cat "$out/table.txt"
    alone=$(awk '$1=="alone" {print $2}' "$out/table.txt")
    awk -v a="$alone" '$1!="alone" && a>0 {printf "%s: %.0f%% of the leader alone\n", $1, 100*$2/a}' \
        "$out/table.txt"
} | tee "$out/summary.txt"
