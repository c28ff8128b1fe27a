#!/usr/bin/env bash
# setup.sh - installs what stocktwin needs from Debian 12's packages, only
# what is missing, so a second run is a no-op. Needs root (or sudo).
#   build:   cmake gcc pkg-config protobuf-c-compiler and the -dev libraries
#   tools:   protobuf-compiler (protoc --encode/--decode) and nng-utils (nngcat),
#            used by the README's raw-protocol example and its integration test
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liburing-dev libprotobuf-c-dev protobuf-c-compiler libnng-dev libjemalloc-dev
  libcriterion-dev libck-dev libxxhash-dev libsodium-dev libcjson-dev
  protobuf-compiler nng-utils
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
