#!/usr/bin/env bash
# demo.sh - sets up, builds and runs the demo: stocktwind --demo loads the seed
# model (warehouses, zones, shelves, products, devices) and a built-in device
# simulator streams RFID and weight telemetry; inventory changes and alerts
# fire. Look around from another terminal with build/release/client/stocktwin.
# Ctrl-C stops it. Extra arguments go to stocktwind (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release
echo
echo "In another terminal:  export PATH=\$PWD/build/release/client:\$PATH"
echo
exec ./build/release/server/stocktwind --demo "$@"
