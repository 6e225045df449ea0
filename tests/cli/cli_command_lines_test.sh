#!/usr/bin/env bash
# Every binary's command line answers the same mistakes the same way (handshake/command_line.hpp):
# --version, an option of the other role, a misspelt option, an unknown last option, a bad --listen.
# usage: cli_command_lines_test.sh HSK HSK_MCP_PROXY HSK_A2A_PROXY
set -u
hsk=$1 mcp=$2 a2a=$3
fail=0
# expect CODE PATTERN -- COMMAND...: the exit code, and stdout+stderr matching PATTERN (grep -E).
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1 </dev/null)
  rc=$?
  if [[ $rc -ne $code ]] || ! grep -Eq -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output: $out (want /$pattern/)"
    fail=1
  else
    echo "ok: $*"
  fi
}
for bin in "$hsk" "$mcp" "$a2a"; do
  expect 0 "^$(basename "$bin") [0-9]+\.[0-9]+\.[0-9]+ \(Handshake Protocol 0\.2\.3\)$" -- "$bin" --version
done
expect 2 "--tools belongs to --role service, not --role agent" -- "$mcp" --role agent --key k --chain c --tools t.yaml -- true
expect 2 "--key belongs to --role agent, not --role service" -- "$mcp" --role service --config c --tools t --key k -- true
expect 2 "--skills belongs to --role service, not --role agent" -- "$a2a" --role agent --skills s --listen 127.0.0.1:0 --upstream http://127.0.0.1:1/
expect 2 "--optional belongs to --role service" -- "$a2a" --role agent --optional --listen 127.0.0.1:0 --upstream http://127.0.0.1:1/
expect 2 "unknown option --tols \(did you mean --tools\?\)" -- "$mcp" --role service --tols t
expect 2 "unknown option --bogus$|unknown option --bogus \(" -- "$a2a" --role service --bogus
expect 2 "--listen: the port must be a number from 0 to 65535" -- "$a2a" --role service --config c --skills s --listen 127.0.0.1:http --upstream http://127.0.0.1:1/
expect 2 "--listen must be HOST:PORT" -- "$mcp" --role service --config c --tools t --listen 8380 --upstream http://127.0.0.1:1/mcp
expect 2 "--receipts and --receipts-db: choose one" -- "$a2a" --role agent --receipts a.jsonl --receipts-db b.db --listen 127.0.0.1:0 --upstream http://127.0.0.1:1/
expect 2 "--version is hsk's own" -- "$hsk" did --version
expect 2 "did you mean --revocation-endpoint" -- "$hsk" did k.key --revocation-endpont x
exit $fail
