# Shared by the CLI test scripts: counters and assertions on a command's exit code and output.
# Each assertion adds to $passed or $failed; a script ends with its "N passed, M failed" line.
passed=0 failed=0
ok()   { passed=$((passed + 1)); }
bad()  { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect CODE DESCRIPTION -- COMMAND...   (stdout -> out, stderr -> err)
expect() {
  local want=$1 what=$2; shift 3
  "$@" >out 2>err
  local got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, wanted $want; stderr: $(head -c 300 err)"; fi
}
contains() { if grep -q -- "$2" "$1"; then ok; else bad "$3: '$2' not in $1: $(head -c 300 "$1")"; fi; }
lacks()    { if grep -q -- "$2" "$1"; then bad "$3: '$2' unexpectedly in $1"; else ok; fi; }
one_line_err() { if [ "$(wc -l <err)" -eq 1 ]; then ok; else bad "$1: expected one line on stderr, got: $(cat err)"; fi; }
