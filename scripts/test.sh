#!/usr/bin/env bash
# Builds tether with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# every test: unit, integration (real sockets and TLS on 127.0.0.1) and
# end-to-end (python websockets, headless Chromium, the CLI); then the
# libFuzzer targets, TETHER_FUZZ_SECONDS each (default 60; 0 skips them); the
# soak, TETHER_SOAK_SECONDS (default 120; 0 skips it); the threaded suites
# under ThreadSanitizer in build-tsan (TETHER_TSAN=0 skips them).
# Arguments go to ctest and pick a subset: fuzzers, soak and TSan are skipped then.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests --fuzz
bash certs/make-certs.sh
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_BASEDIR="$PWD"
# clang, so that the fuzz targets build in the same tree from the same
# instrumented tether_core (TETHER_FUZZ): one sanitizer build of it, not two.
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_SANITIZE=ON -DTETHER_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null
time cmake --build build-test
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# A test per core, at most 4: most of them wait on timers and use under half
# a core alone, and their timing bounds are made for a loaded machine.
jobs=$(nproc)
(cd build-test && time ctest --output-on-failure --timeout 600 -j "$((jobs > 4 ? 4 : jobs))" "$@")
fuzz_seconds="${TETHER_FUZZ_SECONDS:-60}"
if (($# == 0 && fuzz_seconds > 0)); then
  time TETHER_FUZZ_BUILD=build-test scripts/fuzz.sh "$fuzz_seconds"
fi
soak_seconds="${TETHER_SOAK_SECONDS:-120}"
if (($# == 0 && soak_seconds > 0)); then
  time scripts/soak.sh "$soak_seconds"
fi
if (($# == 0)) && [[ ${TETHER_TSAN:-1} != 0 ]]; then
  # Only tether_core and the threaded suites' binary, with clang's TSan at
  # -O1 -g1 (see CMakeLists.txt).
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_TSAN=ON \
    -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null
  time cmake --build build-tsan --target tsan_tests
  # No ASLR: TSan's shadow layout does not fit every kernel's mmap randomisation.
  (cd build-tsan && time \
    setarch "$(uname -m)" -R ctest --output-on-failure --timeout 600 -R '^tsan\.')
fi
