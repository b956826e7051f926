#!/usr/bin/env bash
# Installs what tether needs to build, test and run on Debian 12 (as root).
# Idempotent: does nothing when every package is already there.
# Usage: scripts/setup.sh [--tests]
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-test1.81-dev
  libssl-dev openssl libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libre2-dev
  python3 curl
)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(python3-websockets chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
