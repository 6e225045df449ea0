#!/usr/bin/env bash
# hsk registry serve / anchor and hsk verify inclusion / consistency, end to end: a registry is
# started on loopback by this script and stopped by it.
# Usage: cli_registry_test.sh HSK_BINARY
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
HSK=$1
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

for k in registry svc other agent; do "$HSK" keygen --kind svc --out $k.key >/dev/null || bad "keygen $k"; done
for k in registry svc; do "$HSK" did $k.key > $k.did.json || bad "did $k"; done
agent_did=$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' agent.key)
hash=$(printf '%064d' 0)
receipt_body() {  # receipt_body N
  echo "{\"kind\":\"Receipt\",\"handshake_id\":\"hs_01HZZ00000000000000000000$1\",\"sub\":\"$agent_did\",\"action\":\"billing.invoices.read\",\"result\":\"ok\",\"result_hash\":{\"alg\":\"sha-256\",\"value\":\"$hash\"}}"
}
receipt_body 1 | "$HSK" sign --key svc.key > r1.json || bad "sign r1"
receipt_body 2 | "$HSK" sign --key svc.key > r2.json || bad "sign r2"
receipt_body 3 | "$HSK" sign --key other.key > stranger.json || bad "sign stranger"

# --- serve ----------------------------------------------------------------------------------------
"$HSK" registry serve --key registry.key --db log.db --port 0 --did-doc svc.did.json --did-db dids.db > serve.out 2> serve.err &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' serve.out)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] && ok || { bad "registry did not start: $(cat serve.err)"; echo "$passed passed, $failed failed"; exit 1; }
url="http://127.0.0.1:$port"

# --- anchor + offline inclusion -------------------------------------------------------------------
expect 0 "anchor r1" -- "$HSK" registry anchor --url "$url" r1.json
cp out a1.json
contains a1.json '"inclusion_proof"' "anchor answer"
expect 0 "anchor r2" -- "$HSK" registry anchor --url "$url" r2.json
cp out a2.json
expect 0 "verify inclusion r1" -- "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a1.json r1.json
contains out "valid: receipt is leaf 0" "inclusion verdict"
expect 0 "verify inclusion r2" -- "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a2.json r2.json
expect 1 "r2 is not r1" -- "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a1.json r2.json
contains err "merkle.mismatch" "wrong receipt reason"
sed 's/"result":"ok"/"result":"error"/' r1.json > r1.tampered.json
expect 1 "tampered receipt" -- "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a1.json r1.tampered.json
sed 's/\("tree_head":{[^}]*"tree_size":\)1/\12/' a1.json > a1.forged.json
expect 1 "forged tree head" -- "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a1.forged.json r1.json
contains err "sig.invalid" "forged head reason"
expect 1 "another registry's key" -- "$HSK" verify inclusion --registry-did-doc svc.did.json --anchor a1.json r1.json
expect 1 "receipt from an unknown service is refused" -- "$HSK" registry anchor --url "$url" stranger.json
contains err "did.unresolved" "stranger reason"
echo '{"not":"a receipt"}' > junk.json
expect 1 "junk is refused" -- "$HSK" registry anchor --url "$url" junk.json

# --- consistency between the two heads --------------------------------------------------------------
sed -n 's/.*"tree_head":\({[^}]*}\).*/\1/p' a1.json > h1.json
sed -n 's/.*"tree_head":\({[^}]*}\).*/\1/p' a2.json > h2.json
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /v1/proofs/consistency?first=1&second=2 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
sed '1,/^\r$/d' <&3 > proof.json
exec 3<&-
contains proof.json '"consistency_proof"' "consistency endpoint"
expect 0 "verify consistency" -- "$HSK" verify consistency --registry-did-doc registry.did.json --old h1.json --new h2.json --proof proof.json
contains out "extends the 1-leaf tree" "consistency verdict"
expect 1 "consistency the wrong way round" -- "$HSK" verify consistency --registry-did-doc registry.did.json --old h2.json --new h1.json --proof proof.json

# --- DID Documents: published, countersigned, served -----------------------------------------------
http_json() {  # http_json METHOD PATH [BODY_FILE]: the response body on stdout
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  if [ -n "${3:-}" ]; then
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n' "$1" "$2" "$(wc -c <"$3")" >&3
    cat "$3" >&3
  else
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" "$2" >&3
  fi
  sed '1,/^\r$/d' <&3
  exec 3<&-
}
http_json POST /v1/dids svc.did.json > published.json
contains published.json '"doc_version":"1"' "DID Document published"
svc_did=$(sed -n 's/.*"id":"\(did:hsk:svc:[^"#]*\)".*/\1/p' published.json | head -1)
http_json GET "/v1/dids/$svc_did" > served.json
contains served.json '"role":"service"' "DID Document served"
contains served.json "$(sed -n 's/.*"did":"\(did:hsk:svc:[^"]*\)".*/\1/p' registry.key)#keys-1" "registry countersignature"
http_json POST /v1/dids svc.did.json > again.json
contains again.json '"diddoc.history"' "same version refused"

# --- usage and shutdown ---------------------------------------------------------------------------------
expect 0 "registry --help" -- "$HSK" registry --help
expect 2 "registry unknown" -- "$HSK" registry frob
expect 2 "serve without --db" -- "$HSK" registry serve --key registry.key
expect 0 "verify inclusion --help" -- "$HSK" verify inclusion --help
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=""
[ "$rc" -eq 0 ] && ok || bad "registry exited $rc on SIGTERM"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
