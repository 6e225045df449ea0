#!/usr/bin/env bash
# Prints, for cold handshakes of 1..5 links and for the warm path, the instructions executed by
# Service::verify divided by those of the libsodium bound ((k+1) verifications + 1 signature;
# warm: 1 + 1), both counted by callgrind in the same process over 200 requests. The bound verifies
# the real request and signs a message of the real Acceptance's size (a warm one carries its session
# ticket); HSK_BOUND_ACCEPTANCE_BYTES=420 signs the fixed 420 bytes used before session tickets.
# Usage: bench/instruction_ratios.sh BUILD_DIR   (a Release build of hsk_instruction_ratio)
set -euo pipefail
bin="$1/bench/hsk_instruction_ratio"
count() {  # count FUNCTION ARGS...
  local f=$1; shift
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$f" "$bin" "$@" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for args in "1" "2" "3" "4" "5" "2 warm"; do
  # shellcheck disable=SC2086
  s=$(count measure_service $args); b=$(count measure_bound $args)
  label="cold/${args}"; [ "$args" = "2 warm" ] && label="warm"
  awk -v l="$label" -v s="$s" -v b="$b" 'BEGIN { printf "%-8s %6.3fx  (service %d, bound %d instructions)\n", l, s / b, s, b }'
done
