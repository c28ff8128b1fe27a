#!/usr/bin/env bash
# build.sh [PRESET] - configures and builds one CMake preset (default: release)
# into build/<preset>. Presets: release, asan (AddressSanitizer +
# UndefinedBehaviorSanitizer), tsan (ThreadSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
