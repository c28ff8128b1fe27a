#!/usr/bin/env bash
# test.sh - sets up, builds and runs every test: the release build, the whole
# suite again under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# concurrent parts (shards, server, integration) under ThreadSanitizer.
# Labels: unit, integration, fault, slow. Pass ST_TEST_QUICK=1 to run only the
# release build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

run() {
  local preset=$1; shift
  echo "== $preset: build"
  ./scripts/build.sh "$preset"
  echo "== $preset: test"
  ctest --preset "$preset" "$@"
}

run release
if [ "${ST_TEST_QUICK:-0}" != 1 ]; then
  run asan -LE slow
  run tsan -R '^(shards|server|client|integration|shim)_' -LE slow
fi
echo "test.sh: all suites passed"
