#!/usr/bin/env bash
# load_smoke_test.sh BUILD_DIR - stocktwin-load end to end against a real
# stocktwind on a private ipc:// path: a short closed-loop run of every kind of
# the mix with --verify-all, a short open-loop run, --setup-only/--no-setup,
# and the exit codes of --help and bad flags. Stops the daemon on exit.
set -euo pipefail
build=${1:?usage: load_smoke_test.sh BUILD_DIR}
load=$build/bench/stocktwin-load
dir=$(mktemp -d /tmp/stocktwin-load-XXXXXX)
rpc=ipc://$dir/rpc
pid=""
cleanup() {
  [ "${ok:-0}" = 1 ] || { echo "--- daemon log:"; cat "$dir/daemon.log" 2>/dev/null; }
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

"$build/server/stocktwind" --rpc "$rpc" --ingest "ipc://$dir/ingest" --feed "ipc://$dir/feed" \
  --workers 2 --quiet >"$dir/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$dir/rpc" ] && break; sleep 0.1; done

"$load" --help | grep -q -- "--connections"
rc=0; "$load" --batch 5000 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$load" --mix moves=50 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$load" --no-such-flag 2>/dev/null || rc=$?; [ "$rc" = 2 ]

scale="--warehouses 3 --skus 500"
"$load" --url "$rpc" $scale --setup-only >"$dir/setup.txt" 2>"$dir/setup.err"
grep -q "1500 stock records" "$dir/setup.txt"

"$load" --url "$rpc" $scale --no-setup --duration 1 --connections 2 --depth 2 --batch 200 \
  --mix moves=60,rfid=10,weight=10,reserve=15,query=5 --verify-all --json \
  >"$dir/run.json" 2>"$dir/run.err"
grep -q '"mismatches":0' "$dir/run.json"
grep -q '"compared":1500' "$dir/run.json"
grep -q '"queries_failed":0' "$dir/run.json"

"$load" --url "$rpc" $scale --no-setup --duration 1 --rate 20000 --batch 100 --json \
  >"$dir/open.json" 2>"$dir/open.err"
grep -q '"mismatches":0' "$dir/open.json"
grep -q '"rate":20000' "$dir/open.json"
ok=1
