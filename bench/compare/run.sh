#!/usr/bin/env bash
# run.sh - the peer comparison of issue 5, one command: stocktwind against
# Redis 7 and PostgreSQL 15 from Debian's packages, on loopback, with the
# same records, the same update stream, the same concurrency and the same
# batching, measured in one run and printed as one table.
#
#   bench/compare/run.sh                       # 45 x 100,000 records, 20 s a system
#   bench/compare/run.sh --scale small --duration 5
#   bench/compare/run.sh --only stocktwind,redis-always --batch 1
#
# For each system in turn (one server at a time, so none competes with
# another for the two cores): start it on a free loopback port with a private
# data directory under a fresh temporary directory, load the records (progress
# on stderr), read its resident memory, run the same closed-loop workload for
# --duration seconds, read its memory again, stop it and delete its data. The
# systems:
#   stocktwind      --data DIR --sync fsync: a reply after its batch's fdatasync
#   redis-always    appendonly yes, appendfsync always: a reply after the AOF
#                   write and fsync of its event-loop iteration
#   redis-everysec  appendonly yes, appendfsync everysec: fsync once a second
#                   (a power cut loses up to a second of acknowledged writes)
#   postgres        fsync on, synchronous_commit on: a commit's reply after its
#                   WAL flush
# stocktwind is driven by stocktwin-load, the peers by stocktwin-peer-load
# (bench/compare/peer_*.c): the same stream of quantity updates (stocktwin-load's
# moves mix, seed 1), --connections connections x --depth requests in flight x
# --batch updates a request, the same latency histogram. A request is a batch
# RPC for stocktwind, --batch pipelined HINCRBYs for Redis, and one transaction
# of --batch pipelined UPDATEs for PostgreSQL.
#
# Memory: VmRSS of the server process (/proc/PID/status) for stocktwind and
# Redis. PostgreSQL is many processes sharing one memory segment: its figure is
# the RssAnon of the postmaster and every child, plus the RssFile of the
# postmaster, plus the resident part of the shared segment counted once (from
# /proc/sysvipc/shm: the server runs with shared_memory_type=sysv so the
# segment is visible there). Summing VmRSS would count shared buffers once per
# backend that touched them.
#
# Everything the script starts is stopped on exit (trap EXIT), Ctrl-C
# included, and the temporary directory is removed. Results stay in --out
# (default /tmp/stocktwin-compare-<time>): compare.json, table.txt, every
# tool's JSON and log.
#
# This is a measurement, not a test: CI never runs it. Run by hand it installs
# what it needs from Debian's packages when missing (redis-server,
# postgresql-15, libhiredis-dev, libpq-dev, jq; linux-perf for --perf) with
# apt-get, as root or through sudo. Note that installing redis-server or
# postgresql-15 may start the distribution's own service on 6379 / 5432; this
# script never uses those and leaves them alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
duration=20 connections=4 depth=8 batch=1000 scale=full only="" perf=0
build="$root/build-compare" out="" no_build=0
systems_all=(stocktwind redis-always redis-everysec postgres)

usage() {
    cat <<EOF
usage: bench/compare/run.sh [flags]

  --duration S      seconds of measured run per system [20]
  --connections N   client connections [4]
  --depth D         requests in flight per connection [8]
  --batch B         updates per request [1000]; --batch 1 measures single events
  --scale S         full: 45 warehouses x 100,000 skus (4.5 M records) [full]
                    small: 45 x 1,000 (a quick try)
  --only LIST       comma-separated subset of: ${systems_all[*]}
  --perf            perf record -g each server during its run (cpu-clock, 999 Hz);
                    reports in --out
  --build DIR       build directory [build-compare]
  --no-build        use the binaries already in --build as they are
  --out DIR         where results go [/tmp/stocktwin-compare-<time>]
  --help            show this and exit
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --perf) perf=1; shift ;;
    --build) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --out) out=$2; shift 2 ;;
    --help) usage; exit 0 ;;
    *) echo "run.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $scale in
full) scale_flags=(--warehouses 45 --skus 100000) ;;
small) scale_flags=(--warehouses 45 --skus 1000) ;;
*) echo "run.sh: --scale is full or small" >&2; exit 2 ;;
esac
for v in "$duration" "$connections" "$depth" "$batch"; do
    [[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || { echo "run.sh: bad number: $v" >&2; exit 2; }
done
if [ $((connections * depth)) -gt 256 ]; then
    echo "run.sh: connections x depth must not exceed 256 (stocktwind's --contexts)" >&2
    exit 2
fi
systems=()
for s in "${systems_all[@]}"; do
    if [ -z "$only" ] || [[ ",$only," == *",$s,"* ]]; then systems+=("$s"); fi
done
[ ${#systems[@]} -gt 0 ] || { echo "run.sh: --only names none of: ${systems_all[*]}" >&2; exit 2; }

log() { echo "== $*" >&2; }

# ---------------------------------------------------------------------------
# Packages and build

pg_bin=/usr/lib/postgresql/15/bin
install_missing() {
    local need=()
    command -v redis-server >/dev/null || need+=(redis-server)
    command -v redis-cli >/dev/null || need+=(redis-tools)
    [ -x "$pg_bin/postgres" ] || need+=(postgresql-15)
    pkg-config --exists hiredis 2>/dev/null || need+=(libhiredis-dev)
    pkg-config --exists libpq 2>/dev/null || need+=(libpq-dev)
    command -v jq >/dev/null || need+=(jq)
    if [ "$perf" = 1 ] && ! command -v perf >/dev/null; then need+=(linux-perf); fi
    [ ${#need[@]} -gt 0 ] || return 0
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    log "installing ${need[*]} (apt-get)"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >&2
}

build_tools() {
    log "building in $build"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$out/cmake.log" 2>&1 ||
        { cat "$out/cmake.log" >&2; exit 1; }
    cmake --build "$build" -j2 --target stocktwind stocktwin-load stocktwin-peer-load \
        >>"$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log" >&2; exit 1; }
}

# ---------------------------------------------------------------------------
# Servers. One runs at a time; cur_* say which, for stop_current and the trap.

work="" cur_pid="" cur_kind="" pg_data="" bg_pids=""
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)

cleanup() {
    local rc=$? p
    for p in $bg_pids; do # the driver's subshell and the driver, perf
        pkill -TERM -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    stop_current || true
    if [ -n "$work" ]; then rm -rf "$work"; fi
    exit $rc
}

# A loopback port nothing listens on (a refused connection).
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "run.sh: no free port found" >&2
    return 1
}

wait_port() { # PORT PID: until something accepts on PORT, or PID died

    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

start_stocktwind() {
    local dir=$work/stocktwind
    mkdir -p "$dir/data"
    port=$(free_port)
    "$build/server/stocktwind" --rpc "tcp://127.0.0.1:$port" --ingest "ipc://$dir/ingest.ipc" \
        --feed "ipc://$dir/feed.ipc" --workers 2 --quiet --data "$dir/data" --sync fsync \
        >"$out/stocktwind.server.log" 2>&1 &
    cur_pid=$! cur_kind=stocktwind
    wait_port "$port" "$cur_pid" || { cat "$out/stocktwind.server.log" >&2; return 1; }
}

start_redis() { # MODE: always | everysec
    local dir=$work/redis-$1
    mkdir -p "$dir"
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
        --appendfsync "$1" --save "" --daemonize no --logfile "$out/redis-$1.server.log" &
    cur_pid=$! cur_kind=redis
    wait_port "$port" "$cur_pid" || { cat "$out/redis-$1.server.log" >&2; return 1; }
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# postgres user (from the postgresql-common package) and every pg_ctl and
# initdb runs as that user.
start_postgres() {
    local dir=$work/postgres
    mkdir -p "$dir"
    [ ${#as_pg[@]} -eq 0 ] || chown postgres: "$dir"
    port=$(free_port)
    pg_data=$dir/data
    "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_data" --auth=trust -U postgres --locale=C \
        --encoding=UTF8 >"$out/postgres.initdb.log" 2>&1 ||
        { cat "$out/postgres.initdb.log" >&2; return 1; }
    # fsync, synchronous_commit and full_page_writes are the defaults, written
    # out for the record. shared_buffers holds the 4.5 M-record table and its
    # index (about 0.5 GB); max_wal_size keeps checkpoints out of a run;
    # sysv shared memory makes the segment's resident size measurable.
    cat >>"$pg_data/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = $((connections + 20))
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 1GB
max_wal_size = 16GB
checkpoint_timeout = 30min
shared_memory_type = sysv
huge_pages = off
EOF
    cur_kind=postgres
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/server.log" -w start >/dev/null ||
        { cat "$dir/server.log" >&2; return 1; }
    cur_pid=$(head -1 "$pg_data/postmaster.pid")
}

stop_current() {
    [ -n "$cur_pid" ] || return 0
    if [ "$cur_kind" = postgres ]; then
        "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
        cp "$(dirname "$pg_data")/server.log" "$out/postgres.server.log" 2>/dev/null || true
    fi
    kill -TERM "$cur_pid" 2>/dev/null || true

    for _ in $(seq 100); do
        kill -0 "$cur_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$cur_pid" 2>/dev/null || true
    wait "$cur_pid" 2>/dev/null || true
    cur_pid="" cur_kind=""
}

# Resident memory of the current server, KiB (see the header).
rss_kib() {
    if [ "$cur_kind" != postgres ]; then
        awk '/^VmRSS:/ {print $2}' "/proc/$cur_pid/status"
        return
    fi
    local total=0 p v
    for p in "$cur_pid" $(pgrep -P "$cur_pid"); do
        v=$(awk '/^RssAnon:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    v=$(awk '/^RssFile:/ {print $2}' "/proc/$cur_pid/status")
    total=$((total + v))
    # /proc/sysvipc/shm: ... cpid (5th) ... rss in bytes (15th).
    v=$(awk -v pid="$cur_pid" '$5 == pid {s += $15} END {print int(s / 1024)}' /proc/sysvipc/shm)
    echo $((total + v))
}

# CPU time the current server has used, in clock ticks: every live process
# of it (PostgreSQL: the postmaster and its children) plus what its reaped
# children used (the postmaster reaps the backends; Redis its AOF rewrite
# child). /proc/PID/stat after the ")" that ends the name: utime is the 12th
# field, stime, cutime, cstime follow.
cpu_ticks() {
    local p pids=$cur_pid
    [ "$cur_kind" = postgres ] && pids="$cur_pid $(pgrep -P "$cur_pid" | tr '\n' ' ')"
    for p in $pids; do
        sed 's/.*) //' "/proc/$p/stat" 2>/dev/null |
            awk -v main=$((p == cur_pid)) '{print $12 + $13 + (main ? $14 + $15 : 0)}'
    done | awk '{s += $1} END {print s + 0}'
}

# ---------------------------------------------------------------------------
# One system: start, load, measure, stop.

start_system() {
    case $1 in
    stocktwind) start_stocktwind ;;
    redis-always) start_redis always ;;
    redis-everysec) start_redis everysec ;;
    postgres) start_postgres ;;
    esac
}

load_cmd() { # SYSTEM: the driver and its connection flags
    case $1 in
    stocktwind) echo "$build/bench/stocktwin-load --url tcp://127.0.0.1:$port" ;;
    redis-*) echo "$build/bench/stocktwin-peer-load --target redis --port $port" ;;
    postgres) echo "$build/bench/stocktwin-peer-load --target postgres --port $port" ;;
    esac
}

server_pids() {
    if [ "$cur_kind" = postgres ]; then
        echo "$cur_pid" $(pgrep -P "$cur_pid") | tr ' ' ','
    else
        echo "$cur_pid"
    fi
}

# perf record of the server during the run, starting a second in (so the
# PostgreSQL backends exist) and ending a second before its end.
start_perf() {
    local s=$1 secs=$((duration > 3 ? duration - 2 : 1))
    sleep 1
    perf record -e cpu-clock -F 999 -g -p "$(server_pids)" -o "$out/$s.perf.data" \
        -- sleep "$secs" >"$out/$s.perf.log" 2>&1 || true
}

# Flat profiles of the recording: by thread, and by thread, object and
# symbol. The recording stays in --out for `perf report -i` with call graphs.
perf_reports() {
    local s=$1 f=$out/$1.perf.data
    [ -s "$f" ] || return 0
    perf report -i "$f" --stdio --no-children -g none --sort comm 2>/dev/null |
        grep '%' >"$out/$s.perf-threads.txt" || true
    perf report -i "$f" --stdio --no-children -g none --sort comm,dso,sym --percent-limit 0.3 \
        2>/dev/null | grep '%' >"$out/$s.perf.txt" || true
}

run_system() {
    local s=$1 cmd rc=0 peak=0 v
    log "$s: starting"
    # Called as `run_system || ...`, where set -e is off: every step checks.
    start_system "$s" || { log "$s: could not start"; stop_current; return 1; }
    cmd=$(load_cmd "$s")
    log "$s: loading ${scale_flags[*]} (port $port)"
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    $cmd "${scale_flags[@]}" --setup-only 2> >(tee "$out/$s.setup.log" >&2) >"$out/$s.setup.txt" ||
        { log "$s: setup failed"; stop_current; return 1; }
    t1=$(date +%s.%N)
    local rss_load
    rss_load=$(rss_kib) || { stop_current; return 1; }
    log "$s: loaded in $(awk "BEGIN {print $t1 - $t0}") s, RSS $((rss_load / 1024)) MiB; running ${duration} s"
    local cpu0 tck loadavg
    cpu0=$(cpu_ticks) tck=$(getconf CLK_TCK) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
    # The driver runs in a subshell whose `times` reports the driver's CPU.
    (
        rc=0
        # shellcheck disable=SC2086
        $cmd "${scale_flags[@]}" --no-setup --duration "$duration" --connections "$connections" \
            --depth "$depth" --batch "$batch" --seed 1 --json >"$out/$s.json" \
            2> >(tee "$out/$s.log" >&2) || rc=$?
        times >"$out/$s.times" # not in a pipeline: that would be a subshell of its own
        exit $rc
    ) &
    local load_pid=$! perf_pid=""
    if [ "$perf" = 1 ]; then
        start_perf "$s" &
        perf_pid=$!
    fi
    bg_pids="$load_pid $perf_pid"
    while kill -0 "$load_pid" 2>/dev/null; do # the peak, sampled every second
        v=$(rss_kib 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$peak" ] && peak=$v
        sleep 1
    done
    wait "$load_pid" || rc=$?
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    bg_pids=""
    local rss_run cpu1 client_cpu
    rss_run=$(rss_kib) || rss_run=0
    cpu1=$(cpu_ticks)
    client_cpu=$(awk 'NR == 2 {split($1, u, "m"); split($2, y, "m"); print u[1] * 60 + u[2] + y[1] * 60 + y[2]}' \
        "$out/$s.times" 2>/dev/null || echo 0)
    [ "$rss_run" -gt "$peak" ] && peak=$rss_run
    stop_current
    rm -rf "${work:?}/$s" "$work/postgres"
    if [ "$perf" = 1 ]; then perf_reports "$s"; fi
    jq -n --arg s "$s" --argjson load "$rss_load" --argjson run "$rss_run" --argjson peak "$peak" \
        --argjson setup "$(awk "BEGIN {print $t1 - $t0}")" --argjson rc "$rc" \
        --argjson server_cpu "$(awk "BEGIN {print ($cpu1 - $cpu0) / $tck}")" \
        --argjson client_cpu "${client_cpu:-0}" --arg loadavg "$loadavg" \
        '{system: $s, load_s: $setup, rss_kib_after_load: $load, rss_kib_after_run: $run,
          rss_kib_peak_run: $peak, server_cpu_s: $server_cpu, driver_cpu_s: $client_cpu,
          driver_exit: $rc, loadavg_at_start: $loadavg}' >"$out/$s.meta.json"
    [ -s "$out/$s.json" ] || { log "$s: the driver wrote no report (exit $rc)"; return 1; }
    log "$s: done (driver exit $rc)"
}

# ---------------------------------------------------------------------------
# The report

machine_json() {
    local fs
    fs=$(df -PT /tmp | awk 'NR == 2 {print $1 " " $2}')
    jq -n --arg nproc "$(nproc)" \
        --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
        --arg kernel "$(uname -r)" --arg mem "$(awk '/^MemTotal/ {print $2}' /proc/meminfo)" \
        --arg disk "$fs" --arg redis "$(redis-server --version | awk '{print $3}')" \
        --arg pg "$("$pg_bin/postgres" --version)" \
        '{nproc: ($nproc | tonumber), cpu: $cpu, kernel: $kernel, mem_kib: ($mem | tonumber),
          data_dirs_on: $disk, redis: $redis, postgres: $pg}'
}

report() {
    local parts=()
    local s
    for s in "${systems[@]}"; do
        [ -s "$out/$s.json" ] && [ -s "$out/$s.meta.json" ] &&
            parts+=("$(jq -c -s '.[0] + {run: .[1]}' "$out/$s.meta.json" "$out/$s.json")")
    done
    [ ${#parts[@]} -gt 0 ] || { log "no system produced a result"; return 1; }
    printf '%s\n' "${parts[@]}" | jq -s \
        --argjson machine "$(machine_json)" \
        --arg cmd "bench/compare/run.sh --duration $duration --connections $connections --depth $depth --batch $batch --scale $scale${only:+ --only $only}" \
        --argjson conn "$connections" --argjson depth "$depth" --argjson batch "$batch" \
        --argjson duration "$duration" --arg scale "$scale" '
        (map(select(.system == "stocktwind")) | .[0]) as $st |
        {command: $cmd, date: (now | todate), machine: $machine,
         workload: {scale: $scale, connections: $conn, depth: $depth, batch: $batch,
                    duration_s: $duration, mix: "moves=100", seed: 1},
         systems: map(. + {
            events_per_s: .run.events_per_s,
            p50_us: .run.latency.batch.p50_us, p99_us: .run.latency.batch.p99_us,
            stocktwind_x_events: (if $st then $st.run.events_per_s / .run.events_per_s else null end),
            rss_x_stocktwind: (if $st then .rss_kib_after_run / $st.rss_kib_after_run else null end),
            server_cpu_us_per_event: (.server_cpu_s * 1e6 / .run.events)})}' \
        >"$out/compare.json"
    {
        printf '%s\n' "$(jq -r .command "$out/compare.json")"
        printf 'workload: %s records, %s connections x %s in flight x %s updates a request, %s s each\n' \
            "$([ "$scale" = full ] && echo "45 x 100,000" || echo "45 x 1,000")" \
            "$connections" "$depth" "$batch" "$duration"
        printf '%-15s %10s %9s %9s %10s %10s %11s %6s %7s %7s %7s %s\n' system events/s "p50 ms" \
            "p99 ms" "RSS load" "RSS run" "stocktwind×" "RSS×" "srv CPU" "drv CPU" "µs/ev" verified
        jq -r '.systems[] | [.system, .events_per_s, .p50_us, .p99_us, .rss_kib_after_load,
            .rss_kib_after_run, (.stocktwind_x_events // "-"), (.rss_x_stocktwind // "-"),
            .server_cpu_s / .run.run_s, .driver_cpu_s / .run.run_s, .server_cpu_us_per_event,
            (if .run.verify.done then "\(.run.verify.mismatches) mismatches" else "no" end)]
            | @tsv' "$out/compare.json" |
            awk -F'\t' '{
                x = ($7 == "-") ? "-" : sprintf("%.2f", $7); m = ($8 == "-") ? "-" : sprintf("%.2f", $8)
                printf "%-15s %10.0f %9.2f %9.2f %6.0f MiB %6.0f MiB %11s %6s %7.2f %7.2f %7.2f %s\n",
                    $1, $2, $3 / 1000, $4 / 1000, $5 / 1024, $6 / 1024, x, m, $9, $10, $11, $12 }'
        echo "stocktwind× = stocktwind's events/s / the system's; RSS× = the system's RSS after the run / stocktwind's;"
        echo "srv CPU, drv CPU = cores used by the server and by the load driver during the run (of $(nproc));"
        echo "µs/ev = the server's CPU time per event answered."
    } | tee "$out/table.txt"
    log "results: $out (compare.json, table.txt, per-system JSON and logs)"
}

# ---------------------------------------------------------------------------

out=${out:-/tmp/stocktwin-compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
install_missing
[ "$no_build" = 1 ] || build_tools
for b in server/stocktwind bench/stocktwin-load bench/stocktwin-peer-load; do
    [ -x "$build/$b" ] || { echo "run.sh: $build/$b is missing (build first)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/stocktwin-compare-data.XXXXXX)
chmod 711 "$work" # the postgres user must reach its data directory
trap cleanup EXIT
trap 'exit 130' INT TERM
for s in "${systems[@]}"; do
    run_system "$s" || log "$s: failed; going on with the others"
done
report
