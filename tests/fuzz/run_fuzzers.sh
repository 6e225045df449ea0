#!/usr/bin/env bash
# Builds the fuzz harnesses with clang + libFuzzer (ASan + UBSan) in build-fuzz/ and runs each
# for a set time, then prints executions and coverage per harness.
#
# Usage: tests/fuzz/run_fuzzers.sh [SECONDS_PER_TARGET=60] [TARGET...]
#   TARGET   harness names (json, messages, service, ...); default: every registered harness
# Environment:
#   HSK_FUZZ_BUILD_DIR   build directory (default: build-fuzz at the repository root)
#   HSK_FUZZ_JOBS        build parallelism (default 2)
#   HSK_FUZZ_ADAPTERS    OFF to build core only (default ON: the adapters register harnesses too)
#   HSK_FUZZ_MAX_LEN     libFuzzer -max_len (default 16384)
#   HSK_FUZZ_FRESH       1 to start from the seeds only, dropping what earlier runs found
#   HSK_FUZZ_PREBUILT    1: the build directory is already configured and built with libFuzzer
#                        (.ci/sanitize's build-san); neither configure nor build here
# The working corpus (seeds plus what the fuzzer found) stays in BUILD/tests/fuzz/work/<target>,
# crash reproducers go to BUILD/tests/fuzz/artifacts/<target>/. Exits non-zero if any harness
# crashed or violated a property; turn each reproducer into a unit test under tests/core/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
[ $# -gt 0 ] && shift
build=${HSK_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${HSK_FUZZ_JOBS:-2}
adapters=${HSK_FUZZ_ADAPTERS:-ON}
max_len=${HSK_FUZZ_MAX_LEN:-16384}

if ! command -v clang++ >/dev/null 2>&1; then
  echo "run_fuzzers: clang++ not found (Debian: apt-get install clang)" >&2
  exit 2
fi

if [ "${HSK_FUZZ_PREBUILT:-0}" != 1 ]; then
  # OSS-Fuzz's optimisation level: -O1 with line tables (and assertions on: no NDEBUG).
  flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "-DCMAKE_CXX_FLAGS=$flags" \
    -DHSK_BUILD_FUZZERS=ON -DHSK_BUILD_TESTS=ON -DHSK_BUILD_CLI=OFF -DHSK_BUILD_BENCH=OFF \
    -DHSK_BUILD_ADAPTER_MCP="$adapters" -DHSK_BUILD_ADAPTER_OAUTH="$adapters" \
    -DHSK_BUILD_ADAPTER_A2A="$adapters" -DHSK_BUILD_ADAPTER_AP2="$adapters" >/dev/null
  cmake --build "$build" --target hsk_fuzzers -j "$jobs"
fi

fuzz_dir=$build/tests/fuzz
"$fuzz_dir/hsk_fuzz_seeds" "$fuzz_dir/corpus" "$root/tests/vectors" >/dev/null

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(grep -v '^$' "$fuzz_dir/targets.txt")
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
summary=()
for t in "${targets[@]}"; do
  bin=$fuzz_dir/fuzz_$t
  [ -x "$bin" ] || { echo "run_fuzzers: no harness fuzz_$t" >&2; exit 2; }
  work=$fuzz_dir/work/$t
  artifacts=$fuzz_dir/artifacts/$t/
  [ "${HSK_FUZZ_FRESH:-0}" = 1 ] && rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  inputs=("$work" "$fuzz_dir/corpus/$t")
  [ -d "$root/tests/fuzz/seeds/$t" ] && inputs+=("$root/tests/fuzz/seeds/$t")
  log=$fuzz_dir/$t.log
  echo "== fuzz_$t for ${seconds}s (log: $log)"
  status=ok
  if ! "$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=25 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts" "${inputs[@]}" >"$log" 2>&1; then
    status="CRASH (see $log; reproducer in $artifacts)"
    failed=1
  fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || echo "?")
  ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || echo "?")
  corp=$(echo "$last" | grep -oE 'corp: [0-9]+' | grep -oE '[0-9]+' || echo "?")
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  summary+=("$(printf '%-12s %12s %8s %8s %8s %10s  %s' "$t" "$execs" "$cov" "$ft" "$corp" "$rate" "$status")")
done

echo
printf '%-12s %12s %8s %8s %8s %10s  %s\n' target executions cov ft corpus exec/s result
for line in "${summary[@]}"; do echo "$line"; done
exit $failed
