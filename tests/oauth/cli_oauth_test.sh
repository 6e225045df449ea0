#!/usr/bin/env bash
# hsk oauth bridge through its real entry point, against oidc-provider (started and stopped here).
# Usage: cli_oauth_test.sh HSK_BINARY NODE AS_DIR
set -uo pipefail
. "$(cd "$(dirname "$0")/../cli" && pwd)/lib.sh"
HSK=$1 NODE=$2 AS_DIR=$3
work=$(mktemp -d)
as_pid="" bridge_pid=""
cleanup() {
  [ -n "$bridge_pid" ] && kill "$bridge_pid" 2>/dev/null
  [ -n "$as_pid" ] && kill "$as_pid" 2>/dev/null
  exec 9>&- 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

"$HSK" keygen --kind org --out org.key >/dev/null || bad "keygen org"
"$HSK" keygen --kind agent --out agent.key >/dev/null || bad "keygen agent"
"$HSK" did org.key > org.did.json || bad "did org"
agent_did=$(sed -n 's/.*"did":"\([^"]*\)".*/\1/p' agent.key)

# The authorization server keeps running while its stdin (fd 9) stays open.
mkfifo as.in
(cd "$AS_DIR" && AGENT_DID="$agent_did" exec "$NODE" as.mjs < "$work/as.in" > "$work/as.out" 2> "$work/as.err") &
as_pid=$!
exec 9> as.in
as_url=""
for _ in $(seq 1 200); do
  as_url=$(sed -n 's/^AS_URL //p' as.out)
  [ -n "$as_url" ] && break
  sleep 0.05
done
[ -n "$as_url" ] && ok || { bad "authorization server did not start: $(cat as.err)"; echo "$passed passed, $failed failed"; exit 1; }
as_port=${as_url##*:}

http() {  # http PORT METHOD PATH BODY [HEADER]: the whole response
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%sContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %s\r\n\r\n%s' \
    "$2" "$3" "${5:+$5$'\r\n'}" "${#4}" "$4" >&3
  cat <&3
  exec 3<&-
}
token_for() {  # token_for SCOPE: a client_credentials access token of agent-a for the MCP resource
  http "$as_port" POST /token "grant_type=client_credentials&scope=$1&resource=http%3A%2F%2F127.0.0.1%3A8080%2Fmcp" \
    "Authorization: Basic $(printf 'agent-a:agent-a-secret' | base64)" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

cat > scopes.yaml <<'YAML'
unmapped_scopes: refuse
scopes:
  - scope: "invoices:read"
    capability: billing.invoices.read
    constraints: {max_invoices: 100}
YAML
printf 'bridge-basic-secret\n' > secret
chmod 644 secret
expect 1 "a secret file others can read is refused" -- "$HSK" oauth bridge --key org.key --map scopes.yaml \
  --introspection-url "$as_url/token/introspection" --client-id bridge-basic --client-secret-file secret --port 0
contains err "keyfile.permissions" "secret file permissions"
chmod 600 secret
expect 0 "bridge --check: everything loads, nothing is served" -- "$HSK" oauth bridge --key org.key --map scopes.yaml \
  --introspection-url "$as_url/token/introspection" --client-id bridge-basic --client-secret-file secret --check
contains out "^ok: bridge did:hsk:org:.*, introspection at .* as bridge-basic, http; --check: not started" "check line"
expect 1 "bridge --check: a bad scope map" -- "$HSK" oauth bridge --key org.key --map nope.yaml \
  --introspection-url "$as_url/token/introspection" --client-id bridge-basic --client-secret-file secret --check
expect 2 "missing options" -- "$HSK" oauth bridge --key org.key
expect 0 "oauth --help" -- "$HSK" oauth --help
: > bridge.out
"$HSK" oauth bridge --key org.key --map scopes.yaml --introspection-url "$as_url/token/introspection" \
  --client-id bridge-basic --client-secret-file secret --audience http://127.0.0.1:8080/mcp \
  --agent-claim https://handshake.dev/agent_did --max-ttl 120 --port 0 > bridge.out 2> bridge.err &
bridge_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' bridge.out)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] && ok || { bad "bridge did not start: $(cat bridge.err)"; echo "$passed passed, $failed failed"; exit 1; }

token=$(token_for "invoices:read")
[ -n "$token" ] && ok || bad "no access token from the authorization server"
http "$port" POST /v1/delegations "" "Authorization: Bearer $token" > resp
head -1 resp | grep -q ' 200 ' && ok || bad "delegation: $(cat resp)"
sed '1,/^\r$/d' resp | sed -n 's/^{"delegation":\(.*\)}$/\1/p' > delegation.json
contains delegation.json "\"sub\":\"$agent_did\"" "delegation to the agent"
expect 0 "the delegation verifies with the org's DID Document" -- "$HSK" verify --did-doc org.did.json delegation.json

http "$port" POST /v1/delegations "" "Authorization: Bearer not-a-real-token" > resp
head -1 resp | grep -q ' 401 ' && ok || bad "unknown token: $(head -1 resp)"
contains resp "invalid_token" "unknown token error"
unmapped=$(token_for "invoices:read%20files:read")
http "$port" POST /v1/delegations "" "Authorization: Bearer $unmapped" > resp
head -1 resp | grep -q ' 403 ' && ok || bad "unmapped scope: $(head -1 resp)"
form="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$token&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
http "$port" POST /token "$form" > resp
contains resp '"issued_token_type":"urn:handshake:params:oauth:token-type:delegation-token"' "token exchange"

kill -TERM "$bridge_pid"
wait "$bridge_pid"
rc=$?
bridge_pid=""
[ "$rc" -eq 0 ] && ok || bad "bridge exited $rc on SIGTERM"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
