#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in
# build-fuzz and runs each for SECONDS (default 60) on a scratch copy of its
# seed corpus, so the repository stays clean. Prints one line per target and
# exits non-zero on any crash, leak, sanitizer report or slow input; the input
# is then in <build>/artifacts/<target>/ and the log in <build>/logs/.
# TETHER_FUZZ_BUILD names another build directory, configured with
# TETHER_FUZZ=ON already: scripts/test.sh passes build-test, where the tests
# and the fuzzers share one instrumented tether_core.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

build="${TETHER_FUZZ_BUILD:-}"
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_BASEDIR="$PWD"
if [[ -z $build ]]; then
  build=build-fuzz
  scripts/setup.sh --fuzz
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTETHER_FUZZ=ON -DTETHER_TESTS=OFF -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null
fi
cmake --build "$build" --target fuzzers

export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [[ -x /usr/bin/llvm-symbolizer-14 ]]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

targets=(ws_frame handshake config tls_records record_stream deflate session)
# Longest input per target: a few frames, a request header up to tether's
# 16 KiB limit, a configuration file, a handful of full-size records, a
# record stream script (its records' contents are made, not read), a
# compressed message or one to compress, a session script of up to 64
# operations.
declare -A max_len=([ws_frame]=4096 [handshake]=17000 [config]=8192 [tls_records]=70000 [record_stream]=20000
                    [deflate]=65536 [session]=2048)
# Seconds one input may take; the config loader must answer within 1 s.
declare -A timeout=([ws_frame]=5 [handshake]=5 [config]=1 [tls_records]=5 [record_stream]=5 [deflate]=5 [session]=10)
declare -A extra=([config]="-dict=tests/fuzz/config/config.dict")

mkdir -p "$build/logs"
# Runs one target; its verdict line goes to <build>/logs/<target>.result.
run_target() {
  local t="$1"
  local work="$build/corpus/$t"
  local artifacts="$build/artifacts/$t"
  local log="$build/logs/$t.log"
  local result="$build/logs/$t.result"
  rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  cp tests/fuzz/"$t"/corpus/* "$work"/
  local status=0
  # shellcheck disable=SC2086  # extra holds separate options
  "$build/tests/fuzz/fuzz_$t" "$work" -max_total_time="$seconds" -timeout="${timeout[$t]}" \
    -rss_limit_mb=2048 -max_len="${max_len[$t]}" -artifact_prefix="$artifacts/" \
    -print_final_stats=1 ${extra[$t]:-} >"$log" 2>&1 || status=$?
  local execs corpus
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n1 | sed 's/corp: //')
  if ((status != 0)) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' "$log"; then
    {
      printf '%-12s FAILED (exit %d): %s exec/s, corpus %s; see %s\n' "$t" "$status" "${execs:-?}" "${corpus:-?}" "$log"
      grep -E 'ERROR:|runtime error:|invariant failed|Test unit written' "$log" | head -n 5 | sed 's/^/    /'
    } >"$result"
  else
    printf '%-12s ok: %s exec/s, corpus %s inputs/bytes\n' "$t" "${execs:-?}" "${corpus:-?}" >"$result"
  fi
}

# One target per core at a time: each fuzzer is single-threaded.
cores=$(nproc)
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= cores)); do
    wait -n || true
  done
  run_target "$t" &
done
wait
failed=0
for t in "${targets[@]}"; do
  cat "$build/logs/$t.result"
  if ! grep -q ' ok: ' "$build/logs/$t.result"; then
    failed=1
  fi
done
exit "$failed"
