#!/usr/bin/env bash
# raw_protocol_test.sh BUILD_DIR SOURCE_DIR - the RPC wire is plain protobuf in
# nng messages, nothing around it: a request written in protobuf text format,
# encoded with `protoc --encode` and sent with `nngcat --req`, gets a reply that
# `protoc --decode` reads. Starts its own stocktwind on a private ipc:// path
# and stops it on exit, whatever happens.
set -euo pipefail
build=${1:?usage: raw_protocol_test.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: raw_protocol_test.sh BUILD_DIR SOURCE_DIR}
proto_dir=$src/proto
dir=$(mktemp -d /tmp/stocktwin-raw-XXXXXX)
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

# send TEXT: encode a Request, send it, decode the Response into $dir/reply.txt.
# Debian's nngcat 1.5.2 sometimes exits 1 with "Cannot set recv timeout:
# Invalid argument" around an exchange that did happen, and fails at once while
# the daemon is still binding its door. So a reply on stdout counts whatever
# the exit code, and a send without one is retried for up to 5 s: requests are
# idempotent by (source, seq), so a retried batch is answered DUPLICATE.
send() {
  printf '%s\n' "$1" | protoc --encode=stocktwin.Request --proto_path="$proto_dir" stocktwin.proto >"$dir/req.bin"
  local tries=0
  while :; do
    timeout 10 nngcat --req --dial "$rpc" --file "$dir/req.bin" --raw --count 1 \
      >"$dir/reply.bin" 2>"$dir/nngcat.err" || true
    [ -s "$dir/reply.bin" ] && break
    tries=$((tries + 1))
    if [ "$tries" -ge 50 ]; then cat "$dir/nngcat.err"; return 1; fi
    sleep 0.1
  done
  protoc --decode=stocktwin.Response --proto_path="$proto_dir" stocktwin.proto <"$dir/reply.bin" >"$dir/reply.txt"
}

send 'version: 1 request_id: 7 batch {
  events { source: "raw" seq: 1 event_time_ms: 1000 product_upsert { sku: "SKU-RAW" name: "Raw widget" unit_weight_mg: 1000 reorder_point: 3 } }
  events { source: "raw" seq: 2 event_time_ms: 1000 warehouse: "wh-raw" warehouse_upsert { name: "Raw" } }
  events { source: "raw" seq: 3 event_time_ms: 1000 warehouse: "wh-raw" zone_upsert { zone_id: "z1" type: STORAGE } }
  events { source: "raw" seq: 4 event_time_ms: 1000 warehouse: "wh-raw" movement { kind: RECEIVE sku: "SKU-RAW" qty: 5 to_location: "z1" } }
}'
cat "$dir/reply.txt"
grep -q 'request_id: 7' "$dir/reply.txt"
[ "$(grep -c '^statuses {' "$dir/reply.txt")" -eq 4 ]
# proto3 text format omits zero values: an OK status prints as an empty block;
# DUPLICATE means a retried send was already applied (see send).
! grep 'status: STATUS_' "$dir/reply.txt" | grep -qv STATUS_DUPLICATE || { echo "an event was rejected"; exit 1; }

send 'version: 1 query { inventory { warehouse: "wh-raw" } }'
cat "$dir/reply.txt"
grep -q 'sku: "SKU-RAW"' "$dir/reply.txt"
grep -q 'on_hand: 5' "$dir/reply.txt"

send 'version: 9 query { stats { } }'
grep -q 'status: STATUS_BAD_VERSION' "$dir/reply.txt"
ok=1
echo "1 passed, 0 failed"
