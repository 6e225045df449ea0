#!/usr/bin/env bash
# A new user's mistakes, answered clearly by hsk (issue 15): a chain not held by the key or no
# longer valid (hsk request), a chain file checked link by link (hsk verify CHAIN.json), a
# revocations file kept as the JSON array a service reads (hsk revoke --append), an anchored
# receipt checked on its own (hsk verify inclusion), an MCP tools/call result checked against its
# receipt (hsk receipt verify --mcp-result), and --kind registry (hsk keygen). Each with the
# success and the refusal. A registry is started on loopback by this script and stopped by it.
# Usage: cli_mistakes_test.sh HSK_BINARY
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
HSK=$1
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

# Outputs are canonical JSON on one line. nth_str FILE NAME [N]: the Nth string value of NAME.
nth_str() { grep -o "\"$2\":\"[^\"]*\"" "$1" | sed -n "${3:-1}p" | cut -d'"' -f4; }
no_stdout() { if [ ! -s out ]; then ok; else bad "$1: stdout should be empty: $(head -c 300 out)"; fi; }
cap=billing.invoices.read

# --- identities: DID Documents valid since 2019, so that links signed "in the past" resolve -------
for who in org agent sub svc; do
  kind=$who; [ "$who" = sub ] && kind=agent
  "$HSK" keygen --kind "$kind" --out "$who.key" >"$who.did" || bad "keygen $who"
  "$HSK" did --version-time 2019-01-01T00:00:00Z "$who.key" >"$who.did.json" || bad "did $who"
done
org=$(cat org.did) agent=$(cat agent.did) sub=$(cat sub.did) svc=$(cat svc.did)
docs=(--did-doc org.did.json --did-doc agent.did.json --did-doc sub.did.json)

"$HSK" delegate --key org.key --to "$agent" --capability $cap --constraints '{"max_invoices":100}' \
  --delegable --depth 1 >chain1.json || bad "delegate root"
"$HSK" delegate --key agent.key --to "$sub" --capability $cap --constraints '{"max_invoices":50}' \
  --parent chain1.json >chain2.json || bad "sub-delegate"
dt1=$(nth_str chain1.json id) dt2=$(nth_str chain2.json id 2)
# resign_link CHAIN KEY SED_EXPR: the chain's only link, edited by SED_EXPR and signed again by KEY.
resign_link() { sed 's/^\[//; s/\]$//' "$1" | sed -E "$3" | "$HSK" sign --key "$2"; }

# --- 1. hsk request: the chain must be held by --key and valid now ---------------------------------
expect 0 "request by the chain's holder" -- "$HSK" request --key sub.key --chain chain2.json --to "$svc" --capability $cap
contains out '"kind":"HandshakeRequest"' "request printed"
expect 1 "request with a chain held by another key" -- "$HSK" request --key agent.key --chain chain2.json \
  --to "$svc" --capability $cap
contains err "chain.not_holder" "not-holder reason"
contains err "chain2.json\[1\] ($dt2)" "not-holder names the leaf link"
contains err "held by $sub, not by $agent" "not-holder names both DIDs"
one_line_err "not-holder"; no_stdout "not-holder"

resign_link chain1.json org.key 's/"iat":"[^"]*"/"iat":"2020-01-01T00:00:00Z"/; s/"nbf":"[^"]*"/"nbf":"2020-01-01T00:00:00Z"/; s/"exp":"[^"]*"/"exp":"2020-01-01T00:10:00Z"/' \
  >expired_link.json || bad "sign an expired link"
echo "[$(cat expired_link.json)]" >expired.json
expect 1 "request under an expired chain" -- "$HSK" request --key agent.key --chain expired.json --to "$svc" --capability $cap
contains err "chain.expired" "expired reason"
contains err "expired.json\[0\] ($dt1) expired at 2020-01-01T00:10:00Z" "expired names the link and exp"
one_line_err "expired"; no_stdout "expired"

resign_link chain1.json org.key 's/"nbf":"[^"]*"/"nbf":"2099-01-01T00:00:00Z"/; s/"exp":"[^"]*"/"exp":"2099-01-01T00:10:00Z"/' \
  >future_link.json || bad "sign a future link"
echo "[$(cat future_link.json)]" >future.json
expect 1 "request under a chain not valid yet" -- "$HSK" request --key agent.key --chain future.json --to "$svc" --capability $cap
contains err "chain.not_yet_valid" "not-yet-valid reason"
contains err "not valid before 2099-01-01T00:00:00Z" "not-yet-valid names nbf"
one_line_err "not yet valid"; no_stdout "not yet valid"

# Within the 60 s skew a link that just expired is still usable, as a service would accept it.
skew_exp=$(date -u -d '-30 seconds' +%Y-%m-%dT%H:%M:%SZ) skew_iat=$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%SZ)
resign_link chain1.json org.key "s/\"iat\":\"[^\"]*\"/\"iat\":\"$skew_iat\"/; s/\"nbf\":\"[^\"]*\"/\"nbf\":\"$skew_iat\"/; s/\"exp\":\"[^\"]*\"/\"exp\":\"$skew_exp\"/" \
  >skew_link.json || bad "sign a just-expired link"
echo "[$(cat skew_link.json)]" >skew.json
expect 0 "request under a link expired 30 s ago (within the skew)" -- "$HSK" request --key agent.key --chain skew.json \
  --to "$svc" --capability $cap

# --- 2. hsk verify CHAIN.json: every link, one line each ------------------------------------------
expect 0 "verify a valid two-link chain" -- "$HSK" verify "${docs[@]}" chain2.json
[ "$(wc -l <out)" -eq 2 ] && ok || bad "one line per link: $(cat out)"
contains out "^chain\[0\] $dt1: valid: $org -> $agent, $cap, depth 1" "root link line"
contains out "^chain\[1\] $dt2: valid: $agent -> $sub, $cap, depth 0" "leaf link line"
expect 1 "verify without the sub-delegator's DID Document" -- "$HSK" verify --did-doc org.did.json chain2.json
contains out "^chain\[0\] $dt1: valid" "root still valid"
contains out "^chain\[1\] $dt2: invalid: signature_invalid" "leaf signature unverifiable"
contains err "chain.signature_invalid" "signature reason"; one_line_err "chain signature"
# A forged leaf: its constraints widened after signing.
sed 's/"max_invoices":50/"max_invoices":60/' chain2.json >forged.json
expect 1 "verify a chain whose leaf was altered" -- "$HSK" verify "${docs[@]}" forged.json
contains out "^chain\[1\] $dt2: invalid: signature_invalid" "altered leaf"
# Linkage: the leaf re-rooted under a delegation to someone else.
"$HSK" delegate --key org.key --to "$sub" --capability $cap --delegable --depth 1 >other_root.json || bad "other root"
echo "[$(sed 's/^\[//; s/\]$//' other_root.json),$(sed 's/^\[.*},{/{/; s/\]$//' chain2.json)]" >relinked.json
expect 1 "verify a chain whose links do not connect" -- "$HSK" verify "${docs[@]}" relinked.json
contains out "^chain\[1\] .*: invalid: chain_broken" "linkage refused"
contains err "is not the next holder" "linkage reason"
# Narrowing: a leaf that widens its parent (signed by hand: hsk delegate refuses to make one).
sed 's/^\[.*},{/{/; s/\]$//' chain2.json | sed 's/"max_invoices":50/"max_invoices":500/' |
  "$HSK" sign --key agent.key >wide_leaf.json || bad "sign a widening leaf"
echo "[$(sed 's/^\[//; s/\]$//' chain1.json),$(cat wide_leaf.json)]" >wide.json
expect 1 "verify a chain whose leaf widens its parent" -- "$HSK" verify "${docs[@]}" wide.json
contains out "^chain\[1\] $dt2: invalid: scope_exceeded" "widening refused"
# Depth: a root of depth 0 cannot be sub-delegated.
resign_link chain1.json org.key 's/"sub_delegation_depth_remaining":1/"sub_delegation_depth_remaining":0/' >flat_root.json
echo "[$(cat flat_root.json),$(sed 's/^\[.*},{/{/; s/\]$//' chain2.json)]" >deep.json
expect 1 "verify a chain past its depth" -- "$HSK" verify "${docs[@]}" deep.json
contains out "depth exhausted" "depth refused"
# Every grant of every link is checked, not only the leaf's: a middle link adding a capability its
# parent never granted is refused even when the leaf does not use it.
"$HSK" delegate --key org.key --to "$agent" --capability $cap --delegable --depth 2 >root2.json || bad "root depth 2"
mid=$(sed 's/^\[//; s/\]$//' root2.json | sed -E "s/\"id\":\"[^\"]*\"//; s/,,/,/; s/\"iss\":\"[^\"]*\"/\"iss\":\"$agent\"/; s/\"(aud|sub)\":\"[^\"]*\"/\"\1\":\"$sub\"/g; s/\"sub_delegation_depth_remaining\":2/\"sub_delegation_depth_remaining\":1,\"parent_delegation_id\":\"$(nth_str root2.json id)\"/; s/\"capabilities\":\[/\"capabilities\":[{\"constraints\":{},\"delegable\":true,\"name\":\"billing.invoices.pay\"},/" |
  "$HSK" sign --key agent.key)
echo "[$(sed 's/^\[//; s/\]$//' root2.json),$mid]" >mid2.json
expect 0 "a sub-delegation the sub-agent holds, for the next step" -- "$HSK" delegate --key sub.key --to "$agent" \
  --capability $cap --parent mid2.json
cp out extra.json
expect 1 "verify a chain whose middle link grants more than its parent" -- "$HSK" verify "${docs[@]}" extra.json
contains out "^chain\[1\] .*: invalid: scope_exceeded" "extra grant refused"
contains err "does not grant billing.invoices.pay" "extra grant named"
contains out "^chain\[2\] .*: not checked" "later link not checked"
expect 1 "verify an expired chain" -- "$HSK" verify "${docs[@]}" expired.json
contains out "^chain\[0\] $dt1: invalid: expired" "expired link line"
echo '[]' >empty.json
expect 1 "verify an empty chain" -- "$HSK" verify empty.json
contains err "chain.empty" "empty chain reason"
# The existing forms are unchanged: one token, a request.
sed 's/^\[//; s/\]$//' chain1.json >dt1.json
expect 0 "verify one token still works" -- "$HSK" verify --did-doc org.did.json dt1.json
contains out "valid: DelegationToken signed by $org" "one-token verdict"

# --- 3. hsk revoke --append: the revocations file a service reads -----------------------------------
expect 0 "revoke --append creates the file" -- "$HSK" revoke --key agent.key --delegation "$dt2" --append revoked.json
[ -f revoked.json ] && ok || bad "revocations file created"
[ "$(stat -c %a revoked.json)" = 644 ] && ok || bad "revocations file mode $(stat -c %a revoked.json)"
[ "$(head -c 1 revoked.json)" = "[" ] && ok || bad "revocations file is an array"
rv1=$(nth_str out id)
contains revoked.json "\"id\":\"$rv1\"" "statement in the file"
expect 0 "revoke --append adds to the array" -- "$HSK" revoke --key sub.key --principal "$sub" --append revoked.json
rv2=$(nth_str out id)
contains revoked.json "\"id\":\"$rv1\"" "first statement kept"
contains revoked.json "\"id\":\"$rv2\"" "second statement added"
[ "$(grep -o '"kind":"RevocationStatement"' revoked.json | wc -l)" -eq 2 ] && ok || bad "two statements in the file"
ls -a | grep -q '^\.revoked\.json\.' && bad "temporary file left behind" || ok
# The file is what a service reads: the revoked delegation is refused.
cat >service.yaml <<YAML
identity: svc.key
trust_roots: [$org]
did_documents: [org.did.json, agent.did.json, sub.did.json, svc.did.json]
revocations: {files: [revoked.json]}
YAML
"$HSK" request --key sub.key --chain chain2.json --to "$svc" --capability $cap >rq.json || bad "request for the service"
expect 3 "the service reads the appended file" -- "$HSK" service verify --config service.yaml rq.json
contains err "^refused: credential_revoked" "appended revocation takes effect"
echo '{"kind":"RevocationStatement"}' >notarray.json
cp notarray.json notarray.before
expect 1 "revoke --append refuses a file that is not an array" -- "$HSK" revoke --key agent.key --delegation "$dt1" \
  --append notarray.json
contains err "revocations.not_array" "not-array reason"; one_line_err "not array"; no_stdout "not array"
cmp -s notarray.json notarray.before && ok || bad "a refused file is left as it was"
echo 'not json' >garbage.json
expect 1 "revoke --append refuses a file that is not JSON" -- "$HSK" revoke --key agent.key --delegation "$dt1" \
  --append garbage.json
contains err "garbage.json" "garbage file named"; one_line_err "garbage"
expect 1 "revoke --append into a missing directory" -- "$HSK" revoke --key agent.key --delegation "$dt1" \
  --append no/such/dir/revoked.json
contains err "output.write" "write error reason"

# --- 6. hsk keygen --kind registry ---------------------------------------------------------------
expect 2 "keygen --kind registry is explained" -- "$HSK" keygen --kind registry --out reg.key
contains err "no registry principal type" "registry kind explained"
contains err "hsk keygen --kind svc" "registry kind points at svc"
[ ! -e reg.key ] && ok || bad "no key file for a refused kind"
expect 0 "a registry key is an svc identity" -- "$HSK" keygen --kind svc --out registry.key
contains out "^did:hsk:svc:z" "registry DID"

# --- 4. hsk verify inclusion of an anchored receipt on its own ---------------------------------------
"$HSK" did registry.key >registry.did.json || bad "registry did"
hash=$(printf '%064d' 0)
receipt_body() {  # receipt_body N
  echo "{\"kind\":\"Receipt\",\"handshake_id\":\"hs_01HZZ00000000000000000000$1\",\"sub\":\"$agent\",\"action\":\"$cap\",\"result\":\"ok\",\"result_hash\":{\"alg\":\"sha-256\",\"value\":\"$hash\"}}"
}
"$HSK" did svc.key >svc.now.did.json || bad "svc did"
receipt_body 1 | "$HSK" sign --key svc.key >r1.json || bad "sign r1"
receipt_body 2 | "$HSK" sign --key svc.key >r2.json || bad "sign r2"
"$HSK" registry serve --key registry.key --db log.db --port 0 --did-doc svc.now.did.json >serve.out 2>serve.err &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' serve.out)
  [ -n "$port" ] && break
  sleep 0.05
done
if [ -z "$port" ]; then bad "registry did not start: $(cat serve.err)"; else
  url="http://127.0.0.1:$port"
  expect 0 "anchor r1 (a one-leaf tree)" -- "$HSK" registry anchor --url "$url" --key svc.key --out r1.anchored.json r1.json
  cp out a1.json
  expect 0 "an anchored receipt alone (one-leaf tree)" -- "$HSK" verify inclusion --registry-did-doc registry.did.json \
    r1.anchored.json
  contains out "valid: receipt is leaf 0 of the 1-leaf tree" "anchored alone verdict"
  contains out "from its registry_anchor" "verdict says where the tree came from"
  expect 0 "the existing form with --anchor" -- "$HSK" verify inclusion --registry-did-doc registry.did.json \
    --anchor a1.json r1.anchored.json
  contains out "registry_anchor verifies" "existing form verdict"
  expect 2 "a plain receipt alone needs --anchor" -- "$HSK" verify inclusion --registry-did-doc registry.did.json r1.json
  contains err "carries no registry_anchor: give --anchor" "plain receipt explained"
  expect 1 "an anchored receipt checked with another registry's key" -- "$HSK" verify inclusion \
    --registry-did-doc svc.now.did.json r1.anchored.json
  contains err "registry_anchor" "wrong registry named"; one_line_err "wrong registry"
  # The receipt altered after anchoring (and re-signed by the service): its leaf is no longer the root.
  sed 's/"result":"ok"/"result":"partial"/' r1.anchored.json | "$HSK" sign --key svc.key >r1.altered.json
  expect 1 "an altered anchored receipt alone" -- "$HSK" verify inclusion --registry-did-doc registry.did.json r1.altered.json
  contains err "merkle" "altered receipt reason"
  expect 0 "anchor r2 (a two-leaf tree)" -- "$HSK" registry anchor --url "$url" --key svc.key --out r2.anchored.json r2.json
  cp out a2.json
  expect 1 "an anchored receipt of a larger tree alone asks for --anchor" -- "$HSK" verify inclusion \
    --registry-did-doc registry.did.json r2.anchored.json
  contains err "proof.missing" "larger tree reason"; contains err "give --anchor" "larger tree hint"; one_line_err "larger tree"
  expect 0 "the larger tree with --anchor" -- "$HSK" verify inclusion --registry-did-doc registry.did.json \
    --anchor a2.json r2.anchored.json
  kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=""
fi

# --- 5. hsk receipt verify --mcp-result: an MCP tools/call result against its receipt -------------
"$HSK" did svc.key >svc.did.json || bad "svc did for receipts"
cat >service_now.yaml <<YAML
identity: svc.key
trust_roots: [$org]
did_documents: [org.did.json, agent.did.json, sub.did.json, svc.did.json]
YAML
"$HSK" request --key agent.key --chain chain1.json --to "$svc" --capability $cap >rq_mcp.json || bad "request for mcp"
"$HSK" service verify --config service_now.yaml rq_mcp.json >acc.json || bad "acceptance for mcp: $(cat acc.json)"
# What the MCP service gate commits to: structuredContent when present...
echo '{"invoices":[1,2,3]}' >structured.json
"$HSK" receipt issue --config service_now.yaml --acceptance acc.json --result structured.json >rc_sc.json || bad "receipt sc"
echo "{\"content\":[{\"type\":\"text\",\"text\":\"3 invoices\"}],\"structuredContent\":{\"invoices\":[1,2,3]},\"_meta\":{\"ai.handshake/receipt\":$(cat rc_sc.json)}}" >call_sc.json
# ...else the result without the gate's own _meta members.
echo '{"content":[{"type":"text","text":"done"}],"isError":false}' >plain.json
"$HSK" receipt issue --config service_now.yaml --acceptance acc.json --result plain.json >rc_plain.json || bad "receipt plain"
echo "{\"content\":[{\"type\":\"text\",\"text\":\"done\"}],\"isError\":false,\"_meta\":{\"ai.handshake/acceptance\":$(cat acc.json),\"ai.handshake/receipt\":$(cat rc_plain.json)}}" >call_plain.json
"$HSK" receipt verify --did-doc svc.did.json --mcp-result call_plain.json rc_plain.json >out 2>err
if [ $? -eq 2 ] && grep -q "MCP adapter" err; then
  # This hsk was built without handshake::mcp: the option says so clearly.
  ok; one_line_err "mcp-result without the adapter"
  echo "SKIP: hsk receipt verify --mcp-result (hsk built without the MCP adapter)" >&2
else
  expect 0 "an MCP result with structuredContent matches its receipt" -- "$HSK" receipt verify --did-doc svc.did.json \
    --mcp-result call_sc.json rc_sc.json
  contains out "result matches" "structuredContent verdict"
  expect 0 "an MCP result without structuredContent matches its receipt" -- "$HSK" receipt verify \
    --did-doc svc.did.json --mcp-result call_plain.json rc_plain.json
  contains out "result matches" "plain result verdict"
  expect 1 "the same object as --result does not (the gate's _meta is not committed to)" -- "$HSK" receipt verify \
    --did-doc svc.did.json --result call_plain.json rc_plain.json
  sed 's/"text":"done"/"text":"undone"/' call_plain.json >call_altered.json
  expect 1 "an altered MCP result is refused" -- "$HSK" receipt verify --did-doc svc.did.json \
    --mcp-result call_altered.json rc_plain.json
  contains err "receipt.result_mismatch" "altered result reason"; one_line_err "altered mcp result"
  expect 1 "another call's result is refused" -- "$HSK" receipt verify --did-doc svc.did.json \
    --mcp-result call_sc.json rc_plain.json
  contains err "receipt.result_mismatch" "other call reason"
  echo "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":$(cat call_plain.json)}" >response.json
  expect 1 "a whole JSON-RPC response is explained" -- "$HSK" receipt verify --did-doc svc.did.json \
    --mcp-result response.json rc_plain.json
  contains err "mcp.not_result" "response reason"; contains err 'give its "result" object' "response hint"
  expect 2 "--result and --mcp-result together" -- "$HSK" receipt verify --did-doc svc.did.json --result plain.json \
    --mcp-result call_plain.json rc_plain.json
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
