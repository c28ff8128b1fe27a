#!/bin/sh
# replay.sh - replay rate and restart time (issue 3): builds a data directory
# of at least ENTRIES log entries at seed scale, then restarts stocktwind on it
# RUNS times and times each start from exec until its RPC door answers, with
# the workers' replay rate and the RSS it comes back with; then the same
# after a snapshot. Medians go to OUT_DIR/summary.txt, every run to
# OUT_DIR/runs.txt, each daemon's output to OUT_DIR/*.log.
#
#   bench/replay.sh BUILD_DIR OUT_DIR PORT [ENTRIES]
#   bench/replay.sh build-replay /tmp/streplay 47801                  # 10 M entries, 4.5 M records
#   SCALE="--warehouses 4 --skus 10000" bench/replay.sh build-replay /tmp/streplay-small 47811 200000
#
# Environment:
#   SCALE  stocktwin-load scale flags [seed scale: 45 x 100,000 = 4.5 M stock records]
#   RUNS   restarts per case [3]
#   COLD   1: also restart with the data directory's files dropped from the
#          page cache (posix_fadvise DONTNEED through dd; nothing else is
#          dropped) [1]
#   PERF   1: one more restart from the log under `perf record -g`, flat
#          profile in OUT_DIR/replay.perf.txt [0]
#
# The daemon listens on tcp://127.0.0.1:PORT (RPC) and ipc:// sockets under
# /tmp named after PORT and runs with --workers 2 --sync batch: the log's
# format does not depend on the sync mode, and batch fills the directory
# faster than fsync. Snapshots are pushed out of the way (--snapshot-mib
# 65536 --snapshot-interval 86400000) so that the log holds every entry until
# the snapshot case asks for one. OUT_DIR/data is deleted and made afresh.
set -eu
[ $# -ge 3 ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 2; }
build=$1 out=$2 port=$3 want=${4:-10000000}
scale=${SCALE:-} runs=${RUNS:-3} cold=${COLD:-1} perf=${PERF:-0}
[ "$perf" != 1 ] || command -v perf >/dev/null || { echo "replay: PERF=1 needs perf" >&2; exit 2; }
url=tcp://127.0.0.1:$port
cli="$build/client/stocktwin"
load="$build/bench/stocktwin-load"
data="$out/data"
rm -rf "$data"
mkdir -p "$out"
echo "# case run restart_s replay_s replayed replay_e/s entries/wall_s snap_load_s rss_mib stop_s load1" \
    >"$out/runs.txt"

daemon='' pid='' wrapper=''
stop_all() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -n "$daemon" ] && wait "$daemon" 2>/dev/null
    rm -f "/tmp/streplay-$port-ingest.ipc" "/tmp/streplay-$port-feed.ipc"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

fail() { echo "replay: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
# entries: the log's entries in total, the sum of the workers' durable LSNs.
entries() { "$cli" --url "$url" digest | awk '$1 ~ /^[0-9]+$/ && NF == 3 { s += $2 } END { print s + 0 }'; }

# start LOG: starts stocktwind (under $wrapper if set) and waits until its
# RPC door answers; sets daemon (the child), pid (stocktwind itself), up_s.
start() {
    t0=$(now)
    # shellcheck disable=SC2086
    $wrapper "$build/server/stocktwind" --rpc "$url" \
        --ingest "ipc:///tmp/streplay-$port-ingest.ipc" --feed "ipc:///tmp/streplay-$port-feed.ipc" \
        --workers 2 --data "$data" --sync batch --snapshot-mib 65536 \
        --snapshot-interval 86400000 >"$1" 2>&1 &
    daemon=$! pid=$!
    until "$cli" --url "$url" --timeout 2000 stats >/dev/null 2>&1; do
        alive "$daemon" || fail "stocktwind exited before its RPC door answered: see $1"
        sleep 0.02
    done
    up_s=$(since "$t0")
    [ -z "$wrapper" ] || pid=$(pgrep -P "$daemon" stocktwind)
}

# stop: SIGTERM, wait for the exit; sets down_s.
stop() {
    t0=$(now)
    kill -TERM "$pid"
    st=0
    wait "$daemon" || st=$?
    down_s=$(since "$t0")
    daemon='' pid=''
    [ "$st" -eq 0 ] || fail "stocktwind exited with status $st when stopped"
}

# drop_cache: the data directory's files leave the page cache, so the next
# start reads them from the disk.
drop_cache() {
    sync
    find "$data" -type f | while read -r f; do dd if="$f" iflag=nocache count=0 status=none; done
}

# restart CASE I: one timed restart on the data directory; appends to runs.txt
# "case run up_s replay_s replayed replay_rate wall_rate snap_load_s rss_mib down_s load1"
# (load1: the machine's 1-minute load average before the start, for noise).
restart() {
    log="$out/restart-$1-$2.log"
    case $1 in *cold*) drop_cache ;; esac
    load1=$(cut -d ' ' -f 1 /proc/loadavg)
    start "$log"
    rss=$(rss_mib)
    stop
    # "worker N: replayed E entries in S s" comes only from a replay that took
    # over a second; the workers replay in parallel, so the slower one's S is
    # the replay's time.
    awk -v c="$1" -v r="$2" -v up="$up_s" -v rss="$rss" -v down="$down_s" -v total="$total" -v load1="$load1" '
        / replayed [0-9]+ entries in / { n += $5; if ($8 > s) s = $8 }
        / loaded its snapshot at LSN / { if ($(NF - 1) + 0 > l) l = $(NF - 1) + 0; snap = 1 }
        END {
            if (s > 0) rate = sprintf("%.0f", n / s); else { rate = "-"; s = "-"; n = "-" }
            if (snap) { wall = "-"; ls = sprintf("%.2f", l) }
            else { wall = sprintf("%.0f", total / up); ls = "-" }
            print c, r, up, s, n, rate, wall, ls, rss, down, load1
        }' "$log" >>"$out/runs.txt"
    tail -n 1 "$out/runs.txt"
}

# 1. A fresh data directory: seed scale, then updates until the log holds
#    ENTRIES entries.
start "$out/fill.log"
t0=$(now)
# shellcheck disable=SC2086
"$load" --url "$url" $scale --setup-only >"$out/setup.txt" 2>"$out/setup.err" ||
    fail "setup failed: see $out/setup.err"
setup_s=$(since "$t0")
t0=$(now)
have=$(entries)
echo "replay: setup in ${setup_s} s: $(tail -n 1 "$out/setup.txt"); the log holds $have entries"
i=1
while [ "$have" -lt "$want" ]; do
    secs=$(awk -v n=$((want - have)) 'BEGIN { s = n / 400000 + 0.2; printf "%.1f", (s > 60 ? 60 : s) }')
    # shellcheck disable=SC2086
    "$load" --url "$url" $scale --no-setup --no-verify --batch 1000 --duration "$secs" \
        --seed "$i" >"$out/fill$i.txt" 2>&1 || fail "load failed: see $out/fill$i.txt"
    have=$(entries)
    echo "replay: the log holds $have of $want entries ($(since "$t0") s of updates)"
    i=$((i + 1))
done
fill_s=$(since "$t0")
rss_built=$(rss_mib)
stop
"$cli" wal verify "$data" >"$out/verify.txt" 2>"$out/verify.err" ||
    fail "wal verify failed: see $out/verify.txt"
total=$(awk '/^ok:/ { print $4 }' "$out/verify.txt")
log_mib=$(awk '/^worker/ { for (i = 2; i <= NF; i++) if ($i == "bytes") b += $(i - 1) }
    END { printf "%.0f", b / 1048576 }' "$out/verify.txt")
t0=$(now)
"$cli" wal verify "$data" >/dev/null 2>&1
verify_s=$(since "$t0")
echo "replay: $total entries, $log_mib MiB of log (wal verify reads and decodes it in $verify_s s)"

# restart_cases runs RUNS restarts of each case named in $1.
restart_cases() {
    for c in $1; do
        i=1
        while [ "$i" -le "$runs" ]; do
            restart "$c" "$i"
            i=$((i + 1))
        done
    done
}

# 2. Restarts from the log alone.
head -n 1 "$out/runs.txt"
cases='log-warm'
[ "$cold" != 1 ] || cases="$cases log-cold"
restart_cases "$cases"
if [ "$perf" = 1 ]; then
    wrapper="perf record -e cpu-clock -F 999 -g -o $out/replay.perf.data --"
    start "$out/restart-perf.log"
    stop
    wrapper=
    perf report -i "$out/replay.perf.data" --no-children --sort dso,sym -g none --stdio \
        2>/dev/null | grep -v -e '^$' -e '^#' | head -n 60 >"$out/replay.perf.txt"
fi

# 3. A snapshot, then restarts from it.
start "$out/snapshot.log"
"$cli" --url "$url" snapshot >"$out/snapshot.txt"
t0=$(now)
until [ "$(grep -c 'snapshot of LSN' "$out/snapshot.log")" -ge 2 ]; do
    alive "$daemon" || fail "stocktwind exited while snapshotting: see $out/snapshot.log"
    [ "$(awk -v t="$(since "$t0")" 'BEGIN { print (t > 600) }')" = 0 ] ||
        fail "no snapshot after 600 s: see $out/snapshot.log"
    sleep 0.1
done
snap_s=$(since "$t0")
stop
snap_mib=$(du -smc "$data"/snap-* | awk 'END { print $1 }')
echo "replay: snapshot of both workers written in $snap_s s ($snap_mib MiB)"
cases='snap-warm'
[ "$cold" != 1 ] || cases="$cases snap-cold"
restart_cases "$cases"

# 4. Medians per case.
col() { awk -v c="$1" -v k="$2" '$1 == c && $k != "-" { print $k }' "$out/runs.txt" | median; }
{
    echo "replay.sh $build $out $port $want  SCALE=\"$scale\" RUNS=$runs"
    echo "setup_s $setup_s  fill_s $fill_s  rss_mib_built $rss_built"
    echo "entries $total  log_mib $log_mib  wal_verify_s $verify_s  snapshot_s $snap_s  snapshot_mib $snap_mib"
    printf '%-10s %9s %9s %12s %12s %11s %8s %7s\n' case restart_s replay_s replay_e/s \
        entries/wall_s snap_load_s rss_mib stop_s
    for c in log-warm log-cold snap-warm snap-cold; do
        grep -q "^$c " "$out/runs.txt" || continue
        printf '%-10s %9s %9s %12s %12s %11s %8s %7s\n' "$c" "$(col "$c" 3)" "$(col "$c" 4)" \
            "$(col "$c" 6)" "$(col "$c" 7)" "$(col "$c" 8)" "$(col "$c" 9)" "$(col "$c" 10)"
    done
    awk '$1 !~ /^#/ { up[$1] = up[$1] " " $3 } END { for (c in up) print c, "restarts (s):" up[c] }' \
        "$out/runs.txt" | sort
    for c in log-warm log-cold; do
        grep -q "^$c " "$out/runs.txt" || continue
        echo "targets, $c medians: >= 5 M entries/s replayed:" \
            "$(col "$c" 6 | awk '{ print ($1 == "-") ? "unmeasured (replay under 1 s)" : ($1 >= 5000000) ? "met" : "NOT met" }');" \
            "restart <= 5 s: $(col "$c" 3 | awk '{ print ($1 <= 5) ? "met" : "NOT met" }')"
    done
} >"$out/summary.txt"
cat "$out/summary.txt"
