#!/usr/bin/env bash
# hsk registry anchor to a registry served over https with client certificates required
# (hsk registry serve --tls-cert/--tls-key/--tls-client-ca, certificates from make_certs.sh):
# mutual TLS anchors; no client certificate, another CA, plain http to the TLS port are refused
# with the reason; malformed URLs and half a client certificate are start-up errors, also for
# hsk-mcp-proxy --registry.
# Usage: cli_registry_anchor_tls_test.sh HSK_BINARY [HSK_MCP_PROXY_BINARY]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
HSK=$1 PROXY=${2:-}
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
bash "$here/../tools/make_certs.sh" certs >/dev/null 2>&1 || { echo "FAIL: make_certs.sh"; exit 1; }

for k in registry svc agent; do "$HSK" keygen --kind svc --out $k.key >/dev/null || bad "keygen $k"; done
"$HSK" did svc.key > svc.did.json || bad "did svc"
agent_did=$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' agent.key)
echo "{\"kind\":\"Receipt\",\"handshake_id\":\"hs_01HZZ000000000000000000001\",\"sub\":\"$agent_did\",\"action\":\"billing.invoices.read\",\"result\":\"ok\",\"result_hash\":{\"alg\":\"sha-256\",\"value\":\"$(printf '%064d' 0)\"}}" |
  "$HSK" sign --key svc.key > r1.json || bad "sign r1"

"$HSK" registry serve --key registry.key --db log.db --port 0 --did-doc svc.did.json \
  --tls-cert certs/server.pem --tls-key certs/server.key --tls-client-ca certs/ca.pem > serve.out 2> serve.err &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' serve.out)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] && ok || { bad "registry did not start: $(cat serve.err)"; echo "$passed passed, $failed failed"; exit 1; }
url="https://127.0.0.1:$port"
mtls=(--ca-file certs/ca.pem --client-cert certs/client.pem --client-key certs/client.key)

expect 0 "anchor over mutual TLS" -- "$HSK" registry anchor --url "$url" "${mtls[@]}" r1.json
contains out '"inclusion_proof"' "anchor answer"
expect 1 "no client certificate" -- "$HSK" registry anchor --url "$url" --ca-file certs/ca.pem r1.json
contains err "registry.unreachable" "no client certificate reason"
expect 1 "another CA" -- "$HSK" registry anchor --url "$url" --ca-file certs/other-ca.pem \
  --client-cert certs/client.pem --client-key certs/client.key r1.json
contains err "certificate" "another CA reason"
expect 1 "the system trust store does not know the test CA" -- "$HSK" registry anchor --url "$url" \
  --client-cert certs/client.pem --client-key certs/client.key r1.json
contains err "registry.unreachable" "system store reason"
expect 1 "plain http to the TLS port" -- "$HSK" registry anchor --url "http://127.0.0.1:$port" r1.json
contains err "registry.unreachable" "plain http reason"

expect 1 "malformed URL" -- "$HSK" registry anchor --url "https://127.0.0.1:99999" r1.json
contains err "url.invalid" "malformed URL reason"
expect 1 "URL with credentials" -- "$HSK" registry anchor --url "https://u:p@127.0.0.1:$port" r1.json
contains err "url.invalid" "credentials reason"
expect 1 "no scheme" -- "$HSK" registry anchor --url "127.0.0.1:$port" r1.json
contains err "url.invalid" "no scheme reason"
expect 2 "client certificate without its key" -- "$HSK" registry anchor --url "$url" --client-cert certs/client.pem r1.json
expect 1 "a CA file for plain http" -- "$HSK" registry anchor --url "http://127.0.0.1:$port" --ca-file certs/ca.pem r1.json
contains err "tls.config" "CA file with http reason"

if [ -n "$PROXY" ]; then
  "$HSK" keygen --kind org --out org.key >/dev/null || bad "keygen org"
  printf 'identity: svc.key\ntrust_roots: [%s]\n' "$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' org.key)" > service.yaml
  printf 'unmapped: refuse\ntools: {}\n' > tools.yaml
  proxy=("$PROXY" --role service --config service.yaml --tools tools.yaml --listen 127.0.0.1:0 --upstream http://127.0.0.1:1/mcp)
  expect 1 "hsk-mcp-proxy: malformed --registry" -- "${proxy[@]}" --registry "https://127.0.0.1:99999"
  contains err "url.invalid" "proxy malformed registry reason"
  expect 2 "hsk-mcp-proxy: half a registry client certificate" -- "${proxy[@]}" --registry "$url" \
    --registry-client-cert certs/client.pem
  expect 1 "hsk-mcp-proxy: missing registry CA file" -- "${proxy[@]}" --registry "$url" --registry-ca-file certs/nope.pem
  expect 2 "hsk-mcp-proxy: registry TLS flags without --registry" -- "${proxy[@]}" --registry-ca-file certs/ca.pem
fi

kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
