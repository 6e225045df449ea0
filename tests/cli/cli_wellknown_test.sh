#!/usr/bin/env bash
# §5.1 well-known resolution through `hsk service verify`: the trust root is did:hsk:org:acme.test,
# named by its domain; the service finds its key at https://<host>/.well-known/handshake/did.json,
# served here by `openssl s_server -WWW` with test certificates (tests/tools/make_certs.sh). TLS 1.3
# is required: the same document from a TLS 1.2-only server is refused (service_unavailable).
# Usage: cli_wellknown_test.sh HSK_BINARY
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
HSK=$1
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
bash "$here/../tools/make_certs.sh" certs || { bad "make_certs.sh"; echo "$passed passed, $failed failed"; exit 1; }

org=$("$HSK" keygen --kind org --domain acme.test --out org.key) || bad "keygen org"
agent=$("$HSK" keygen --kind agent --out agent.key) || bad "keygen agent"
svc=$("$HSK" keygen --kind svc --out svc.key) || bad "keygen svc"
"$HSK" did agent.key > agent.did.json || bad "did agent"
mkdir -p www/.well-known/handshake
"$HSK" did org.key > www/.well-known/handshake/did.json || bad "did org"
"$HSK" delegate --key org.key --to "$agent" --capability billing.invoices.read > chain.json || bad "delegate"

serve() {  # serve TLS_FLAG: openssl s_server on a free port, serving www/
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((30000 + RANDOM % 20000)))
  (cd www && exec openssl s_server -quiet -WWW "$1" -accept "127.0.0.1:$port" -cert ../certs/server.pem -key ../certs/server.key) \
    > server.out 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  cat > service.yaml <<YAML
identity: svc.key
trust_roots: [$org]
did_documents: [agent.did.json]
resolvers:
  - type: well_known
    tls: {ca_file: certs/ca.pem}
    origins: {acme.test: "https://localhost:$port"}
YAML
}

serve -tls1_3
"$HSK" request --key agent.key --chain chain.json --to "$svc" --capability billing.invoices.read > rq.json || bad "request"
expect 0 "the domain org's key is fetched over TLS 1.3 and the request accepted" -- "$HSK" service verify --config service.yaml rq.json
contains out '"effective_scope"' "an Acceptance"

serve -tls1_2
"$HSK" request --key agent.key --chain chain.json --to "$svc" --capability billing.invoices.read > rq2.json || bad "request 2"
expect 3 "a TLS 1.2-only well-known server is refused, never an accept" -- "$HSK" service verify --config service.yaml rq2.json
contains err "service_unavailable" "refused service_unavailable"

serve -tls1_3
sed -i 's|ca_file: certs/ca.pem|ca_file: certs/other-ca.pem|' service.yaml
expect 3 "a certificate from an untrusted CA is refused" -- "$HSK" service verify --config service.yaml rq2.json
contains err "service_unavailable" "untrusted CA: service_unavailable"

sed -i 's|https://localhost|http://localhost|' service.yaml
expect 1 "an http origin is a configuration error" -- "$HSK" service verify --config service.yaml rq2.json
contains err "url.invalid" "http origin reason"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
