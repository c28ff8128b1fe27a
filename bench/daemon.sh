# daemon.sh - sourced by the bench scripts that drive one stocktwind at a
# time on loopback: starts it with its RPC door on $url and its ingest and
# feed doors on ipc:// sockets named after the script and $port, waits until
# the RPC door answers, and stops it (and removes the sockets) on exit.
#
#   . "$(dirname "$0")/daemon.sh"   # after setting url, port and cli
#   bench_start NAME LOG COMMAND...  # COMMAND: stocktwind and its flags
#   bench_stop
#
# bench_start appends the door flags to COMMAND (which may start with
# `env VAR=...`) and sets pid; a daemon that exits before answering ends
# the script with its log's name.
pid=''
bench_ipc=''
bench_cleanup() {
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true
    [ -z "$bench_ipc" ] || rm -f "$bench_ipc-i.ipc" "$bench_ipc-f.ipc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_start() {
    bench_name=$1 bench_log=$2
    shift 2
    bench_ipc=/tmp/$bench_name-$port
    "$@" --rpc "$url" --ingest "ipc://$bench_ipc-i.ipc" --feed "ipc://$bench_ipc-f.ipc" \
        >"$bench_log" 2>&1 &
    pid=$!
    until "$cli" --url "$url" --timeout 2000 stats >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { echo "$bench_name: $1 exited: see $bench_log" >&2; exit 1; }
        sleep 0.02
    done
}

bench_stop() {
    kill "$pid"
    wait "$pid" || true
    pid=''
}
