#!/usr/bin/env bash
# hsk oauth bridge against oidc-provider served over HTTPS (node's https module, test certificates
# made here): --ca-file trusts the test CA end to end; the system trust store, another CA, an
# expired certificate and a certificate for another host are each a 503 for the token (fail
# closed), never an accept; a malformed --introspection-url is a start-up error.
# Usage: cli_oauth_tls_test.sh HSK_BINARY NODE AS_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../cli/lib.sh"
HSK=$1 NODE=$2 AS_DIR=$3
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$work"
bash "$here/../tools/make_certs.sh" certs >/dev/null 2>&1 || { echo "FAIL: make_certs.sh"; exit 1; }
# The authorization servers run while their stdin (this fifo, held open on fd 9) stays open.
mkfifo as.in
exec 9<> as.in

"$HSK" keygen --kind org --out org.key >/dev/null || bad "keygen org"
"$HSK" keygen --kind agent --out agent.key >/dev/null || bad "keygen agent"
agent_did=$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' agent.key)

start_as() {  # start_as NAME CERT KEY: an oidc-provider over https; its issuer URL in $started
  (cd "$AS_DIR" && AGENT_DID="$agent_did" exec "$NODE" as.mjs --tls-cert "$work/certs/$2" --tls-key "$work/certs/$3" \
     < "$work/as.in" > "$work/$1.out" 2> "$work/$1.err") &
  pids+=($!)
  started=""
  for _ in $(seq 1 200); do
    started=$(sed -n 's/^AS_URL //p' "$work/$1.out" 2>/dev/null)
    [ -n "$started" ] && break
    sleep 0.05
  done
}
start_bridge() {  # start_bridge NAME AS_URL [flags...]: a bridge on a free port, the port in $started
  local name=$1 url=$2
  shift 2
  "$HSK" oauth bridge --key org.key --map scopes.yaml --introspection-url "$url/token/introspection" \
    --client-id bridge-basic --client-secret-file secret --audience http://127.0.0.1:8080/mcp \
    --agent-claim https://handshake.dev/agent_did --port 0 "$@" > "$name.out" 2> "$name.err" &
  pids+=($!)
  started=""
  for _ in $(seq 1 100); do
    started=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$name.out")
    [ -n "$started" ] && break
    sleep 0.05
  done
}
delegation() {  # delegation PORT TOKEN: the HTTP status, the body in resp (stderr: curl.err)
  curl -sS --noproxy "*" -o resp -w '%{http_code}' -d '' -H "Authorization: Bearer $2" "http://127.0.0.1:$1/v1/delegations" 2>>curl.err
}

cat > scopes.yaml <<'YAML'
unmapped_scopes: refuse
scopes:
  - scope: "invoices:read"
    capability: billing.invoices.read
YAML
printf 'bridge-basic-secret\n' > secret
chmod 600 secret

start_as as server.pem server.key
as_url=$started
case "$as_url" in https://127.0.0.1:*) ok ;; *) bad "https authorization server did not start: $(cat as.err)"; exit 1 ;; esac
token=$(curl -s --noproxy "*" --cacert certs/ca.pem -u agent-a:agent-a-secret -d grant_type=client_credentials \
  -d scope=invoices:read --data-urlencode resource=http://127.0.0.1:8080/mcp "$as_url/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] && ok || bad "no access token from the https authorization server"

# Trusting the test CA: end to end.
start_bridge good "$as_url" --ca-file certs/ca.pem
port=$started
[ -n "$port" ] && ok || bad "bridge with --ca-file did not start: $(cat good.err)"
[ "$(delegation "$port" "$token")" = 200 ] && ok || bad "delegation over https introspection: $(cat resp)"
contains resp "\"sub\":\"$agent_did\"" "delegation to the agent"
[ "$(delegation "$port" not-a-real-token)" = 401 ] && ok || bad "unknown token over https: $(cat resp)"

# Certificates that must not be accepted: the token is refused with 503 and the reason.
check_refused() {  # check_refused NAME AS_URL WORD [flags...]
  local name=$1 url=$2 word=$3
  shift 3
  start_bridge "$name" "$url" "$@"
  local p=$started
  [ -n "$p" ] && ok || { bad "$name: bridge did not start: $(cat "$name.err")"; return; }
  [ "$(delegation "$p" "$token")" = 503 ] && ok || bad "$name: wanted 503, got $(cat resp)"
  contains resp "$word" "$name: the reason"
}
check_refused system-store "$as_url" "certificate"
check_refused other-ca "$as_url" "certificate" --ca-file certs/other-ca.pem
start_as expired expired.pem expired.key
expired_url=$started
[ -n "$expired_url" ] && ok || bad "expired AS did not start: $(cat expired.err)"
check_refused expired "$expired_url" "expired" --ca-file certs/ca.pem
start_as otherhost otherhost.pem otherhost.key
other_url=$started
[ -n "$other_url" ] && ok || bad "otherhost AS did not start: $(cat otherhost.err)"
check_refused otherhost "$other_url" "not for host" --ca-file certs/ca.pem

# Start-up errors: a malformed URL, half a client certificate, a CA file for plain http.
common=(oauth bridge --key org.key --map scopes.yaml --client-id bridge-basic --client-secret-file secret --port 0)
expect 1 "malformed introspection URL" -- "$HSK" "${common[@]}" --introspection-url "https://127.0.0.1:99999/x"
contains err "url.invalid" "malformed URL reason"
expect 1 "URL with credentials" -- "$HSK" "${common[@]}" --introspection-url "https://u:p@127.0.0.1/x"
contains err "url.invalid" "credentials URL reason"
expect 1 "not a URL" -- "$HSK" "${common[@]}" --introspection-url "127.0.0.1/token"
contains err "url.invalid" "relative URL reason"
expect 2 "client cert without key" -- "$HSK" "${common[@]}" --introspection-url "$as_url/token/introspection" \
  --client-cert certs/client.pem
expect 1 "missing CA file" -- "$HSK" "${common[@]}" --introspection-url "$as_url/token/introspection" \
  --ca-file certs/nope.pem
expect 1 "CA file with plain http" -- "$HSK" "${common[@]}" --introspection-url "http://127.0.0.1:1/token/introspection" \
  --ca-file certs/ca.pem
contains err "tls.config" "plain http with a CA file"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
