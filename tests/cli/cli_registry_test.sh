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
printf 'admin-token-0123456789abcdef\n' > admin.token
chmod 644 admin.token
expect 1 "a token file others can read is refused" -- "$HSK" registry serve --key registry.key --db log.db --port 0 \
  --did-db dids.db --revocation-db rev.db --admin-token-file admin.token
contains err "keyfile.permissions" "token file permissions"
chmod 600 admin.token
expect 0 "serve --check: everything loads, nothing is served" -- "$HSK" registry serve --key registry.key --db check.db --port 0 \
  --did-doc svc.did.json --did-db check-dids.db --revocation-db check-rev.db --admin-token-file admin.token --check
contains out "^ok: registry did:hsk:svc:.* (0 leaves), DID Documents kept, revocations published, http; --check: not started" "check line"
expect 1 "serve --check: an unreadable DID Document" -- "$HSK" registry serve --key registry.key --db check.db --did-doc nope.json --check
expect 2 "admin token without the stores" -- "$HSK" registry serve --key registry.key --db log.db --port 0 --admin-token-file admin.token
"$HSK" registry serve --key registry.key --db log.db --port 0 --did-doc svc.did.json --did-db dids.db \
  --revocation-db rev.db --admin-token-file admin.token > serve.out 2> serve.err &
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
contains err "answered HTTP 404: did.unresolved: no key known for" "the registry's own explanation is kept"
expect 1 "an unreachable registry says so" -- "$HSK" registry anchor --url "http://127.0.0.1:1" stranger.json
contains err "registry.unreachable: http://127.0.0.1:1: cannot connect" "cannot connect, in words"
echo '{"not":"a receipt"}' > junk.json
expect 1 "junk is refused" -- "$HSK" registry anchor --url "$url" junk.json

# --- anchored receipt: registry_anchor inside, re-signed by the service ---------------------------------
expect 0 "anchor r1 again with the service key" -- "$HSK" registry anchor --url "$url" --key svc.key --out r1.anchored.json r1.json
cp out a1b.json
contains a1b.json '"registry_anchor"' "anchor object in the answer"
contains r1.anchored.json '"tree_root_signature"' "anchored receipt written"
contains out '"leaf_index":0' "same leaf for the anchored receipt"
expect 0 "verify inclusion of the anchored receipt" -- "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a1b.json r1.anchored.json
contains out "registry_anchor verifies" "anchored verdict"
# The root's first hex digit changed (to another one: "f" would be no change one time in 16).
sed -e 's/"tree_root":"f/"tree_root":"0/' -e t -e 's/"tree_root":"[0-9a-e]/"tree_root":"f/' r1.anchored.json |
  "$HSK" sign --key svc.key > r1.forged-anchor.json
root_of() { sed -n 's/.*"tree_root":"\([0-9a-f]*\)".*/\1/p' "$1"; }
[ "$(root_of r1.anchored.json)" != "$(root_of r1.forged-anchor.json)" ] || bad "the forged anchor names the same root"
expect 1 "a forged registry_anchor (re-signed by the service) is refused" -- "$HSK" verify inclusion --registry-did-doc registry.did.json --anchor a1b.json r1.forged-anchor.json
expect 1 "only the issuer re-signs" -- "$HSK" registry anchor --url "$url" --key other.key r1.json
contains err "receipt.issuer" "issuer reason"

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

# --- operations: metrics with the tree size and appends, health, readiness --------------------------
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
cat <&3 > metrics.txt
exec 3<&-
contains metrics.txt 'Content-Type: text/plain; version=0.0.4' "metrics content type"
contains metrics.txt 'hsk_registry_tree_size 2' "tree size after two anchors"
# Every anchor above gave its leaf to the log (one already there answers with its index): at least
# the two leaves, and one histogram sample per group commit.
appends=$(sed -n 's/^hsk_registry_appends_total{outcome="ok"} \([0-9]*\)\r*$/\1/p' metrics.txt)
commits=$(sed -n 's/^hsk_registry_append_seconds_count \([0-9]*\)\r*$/\1/p' metrics.txt)
[ "${appends:-0}" -ge 2 ] && [ "${commits:-0}" -ge 1 ] && [ "${commits:-0}" -le "${appends:-0}" ] && ok ||
  bad "appends and group commits counted: appends=${appends:-none} commits=${commits:-none}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
cat <&3 > ready.txt
exec 3<&-
contains ready.txt 'HTTP/1.1 200' "registry ready"
contains ready.txt '"log":"ok"' "readiness checks the log"

# --- DID Documents: published, countersigned, served -----------------------------------------------
http_raw() {  # http_raw METHOD PATH [BODY_FILE [EXTRA_HEADER]]: the whole response on stdout
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  if [ -n "${3:-}" ]; then
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json\r\nContent-Length: %s\r\n\r\n' \
      "$1" "$2" "${4:+$4$'\r\n'}" "$(wc -c <"$3")" >&3
    cat "$3" >&3
  else
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" "$2" >&3
  fi
  cat <&3
  exec 3<&-
}
http_json() { http_raw "$@" | sed '1,/^\r$/d'; }  # the response body only
http_json POST /v1/dids svc.did.json > published.json
contains published.json '"doc_version":"1"' "DID Document published"
svc_did=$(sed -n 's/.*"id":"\(did:hsk:svc:[^"#]*\)".*/\1/p' published.json | head -1)
http_json GET "/v1/dids/$svc_did" > served.json
contains served.json '"role":"service"' "DID Document served"
contains served.json "$(sed -n 's/.*"did":"\(did:hsk:svc:[^"]*\)".*/\1/p' registry.key)#keys-1" "registry countersignature"
http_json POST /v1/dids svc.did.json > again.json
contains again.json '"diddoc.history"' "same version refused"

# --- a service that resolves agents' keys through the registry (resolvers: [{type: registry}]) ----------
"$HSK" keygen --kind org --out org.key >/dev/null && "$HSK" did org.key > org.did.json || bad "org"
ag2=$("$HSK" keygen --kind agent --out agent2.key) && "$HSK" did agent2.key > agent2.did.json || bad "agent2"
"$HSK" keygen --kind svc --out svc2.key >/dev/null || bad "svc2"
svc2=$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' svc2.key)
org=$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' org.key)
http_json POST /v1/dids agent2.did.json > agent2.published.json
contains agent2.published.json '"doc_version":"1"' "the agent's DID Document published"
"$HSK" delegate --key org.key --to "$ag2" --capability billing.invoices.read > chain2.json || bad "delegate"
"$HSK" request --key agent2.key --chain chain2.json --to "$svc2" --capability billing.invoices.read > rq2.json || bad "request"
cat > svc-local.yaml <<YAML
identity: svc2.key
trust_roots: [$org]
did_documents: [org.did.json]
YAML
{ cat svc-local.yaml; printf 'resolvers: [{type: registry, url: "http://127.0.0.1:%s", registry_did_document: registry.did.json}]\n' "$port"; } > svc-registry.yaml
expect 3 "without the registry resolver the agent's key is unknown" -- "$HSK" service verify --config svc-local.yaml rq2.json
contains err "signature_invalid" "no key known"
expect 0 "with it, the key comes from the registry (countersigned, self-certifying)" -- "$HSK" service verify --config svc-registry.yaml rq2.json
contains out '"kind":"Acceptance"' "accepted"
printf 'identity: svc2.key\ntrust_roots: [%s]\nresolvers: [{type: registry, url: "http://127.0.0.1:%s"}]\n' "$org" "$port" > svc-bad.yaml
expect 1 "a registry resolver without the registry's DID Document is a configuration error" -- "$HSK" service check --config svc-bad.yaml
contains out "registry_did_document" "names the missing key"

# --- revocations: published, anchored, served in the registry-signed feed --------------------------------
"$HSK" revoke --key svc.key --principal "$svc_did" --reason key_compromise > revoke.json || bad "revoke"
http_json POST /v1/revocations revoke.json > revoked.json
contains revoked.json '"key_id":"*"' "principal revocation published"
contains revoked.json '"tree_head_id":"th_' "anchored under a tree head"
http_json GET /v1/revocations/published > feed.json
contains feed.json "\"subject_did\":\"$svc_did\"" "feed lists the revocation"
contains feed.json '"alg":"Ed25519"' "feed is signed"
http_json GET /v1/revocations/statements > statements.json
contains statements.json '"kind":"RevocationStatement"' "statements served"
# The registry-signed feed as a service's revocation source (revocations: {feeds: [...]}).
"$HSK" request --key agent2.key --chain chain2.json --to "$svc2" --capability billing.invoices.read > rq3.json || bad "request"
{ cat svc-registry.yaml; printf 'revocations: {feeds: [{url: "http://127.0.0.1:%s/v1/revocations/published", registry_did_document: registry.did.json}]}\n' "$port"; } > svc-feed.yaml
expect 0 "with the feed and nothing revoked, accepted" -- "$HSK" service verify --config svc-feed.yaml rq3.json
"$HSK" revoke --key agent2.key --principal "$ag2" --reason key_compromise > revoke2.json || bad "revoke agent2"
http_json POST /v1/revocations revoke2.json > revoked2.json
contains revoked2.json '"tree_head_id":"th_' "the agent's revocation published"
"$HSK" request --key agent2.key --chain chain2.json --to "$svc2" --capability billing.invoices.read > rq4.json || bad "request"
expect 3 "once the feed lists the agent, it is refused revoked" -- "$HSK" service verify --config svc-feed.yaml rq4.json
contains out '"code":"credential_revoked"' "revoked through the feed"
{ cat svc-registry.yaml; printf 'revocations: {feeds: [{url: "http://127.0.0.1:1/v1/revocations/published", registry_did_document: registry.did.json}]}\n'; } > svc-feed-down.yaml
"$HSK" request --key agent2.key --chain chain2.json --to "$svc2" --capability billing.invoices.read > rq5.json || bad "request"
expect 3 "a feed that cannot be read fails closed" -- "$HSK" service verify --config svc-feed-down.yaml rq5.json
contains out '"code":"service_unavailable"' "service_unavailable"
echo "{\"subject_did\":\"$svc_did\",\"key_id\":\"#keys-1\",\"reason\":\"x\",\"tree_head_id\":\"th_1_00\"}" > admin.json
http_raw POST /v1/admin/revocations/publish admin.json > admin.out
head -1 admin.out | grep -q ' 401 ' && ok || bad "admin route without a token: $(head -1 admin.out)"
http_raw POST /v1/admin/revocations/publish admin.json 'Authorization: Bearer wrong-token' > admin.out
head -1 admin.out | grep -q ' 401 ' && ok || bad "admin route with a wrong token: $(head -1 admin.out)"
http_raw POST /v1/admin/revocations/publish admin.json 'Authorization: Bearer admin-token-0123456789abcdef' > admin.out
head -1 admin.out | grep -q ' 200 ' && ok || bad "admin route with the token: $(cat admin.out)"
contains admin.out '"published_at"' "admin publish answer"
http_json POST /v1/admin/revocations/publish admin.json 'Authorization: Bearer admin-token-0123456789abcdef' > admin.again
sed '1,/^\r$/d' admin.out | cmp -s - admin.again && ok || bad "admin publish is idempotent"

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
