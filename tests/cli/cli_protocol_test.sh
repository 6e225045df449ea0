#!/usr/bin/env bash
# Drives the protocol subcommands of hsk end to end: delegate, request, service verify, receipt
# issue / verify, revoke, session-key (warm sessions across runs through session_keys) — their
# outputs, refusals and exit codes. Usage: cli_protocol_test.sh HSK_BINARY
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
HSK=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# The outputs are canonical JSON (one line, no spaces), so plain text tools can read them.
# nth_str FILE NAME [N]: the Nth (default 1st) string value of member NAME.
nth_str() { grep -o "\"$2\":\"[^\"]*\"" "$1" | sed -n "${3:-1}p" | cut -d'"' -f4; }
# count FILE TEXT: how many times TEXT occurs.
count() { grep -o -- "$2" "$1" | wc -l; }

# --- help for every new subcommand ---------------------------------------------------------------
for c in delegate request service "service verify" receipt "receipt issue" "receipt verify" revoke; do
  # shellcheck disable=SC2086
  expect 0 "$c --help" -- "$HSK" $c --help
  contains out "usage: hsk $c" "$c --help"
done
expect 0 "top help lists the new commands" -- "$HSK" --help
for c in delegate request service receipt revoke; do contains out "  $c " "top help names $c"; done

# --- identities, DID Documents, service configuration --------------------------------------------
for who in org agent sub svc; do
  kind=$who; [ "$who" = sub ] && kind=agent
  expect 0 "keygen $who" -- "$HSK" keygen --kind "$kind" --out "$who.key"
  cp out "$who.did"
  expect 0 "did $who" -- "$HSK" did "$who.key"
  cp out "$who.did.json"
done
org=$(cat org.did) agent=$(cat agent.did) sub=$(cat sub.did) svc=$(cat svc.did)
echo '[]' >revoked.json
cat >service.yaml <<YAML
identity: svc.key
trust_roots: [$org]
did_documents: [org.did.json, agent.did.json, sub.did.json, svc.did.json]
revocations: {files: [revoked.json]}
YAML
cap=billing.invoices.read

# --- delegate: root, then a narrowing sub-delegation ----------------------------------------------
expect 0 "delegate org -> agent" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap \
  --constraints '{"max_invoices":100}' --delegable --depth 1
cp out chain1.json
[ "$(head -c 1 chain1.json)" = "[" ] && ok || bad "delegate prints a JSON array"
[ "$(count chain1.json '"kind":"DelegationToken"')" = 1 ] && ok || bad "root chain has one link"
[ "$(nth_str chain1.json iss)" = "$org" ] && ok || bad "root link issued by org"
contains chain1.json '"sub_delegation_depth_remaining":1' "root depth 1"
contains chain1.json '"delegable":true' "root delegable"
dt1=$(nth_str chain1.json id)
sed 's/^\[//; s/\]$//' chain1.json >dt1.json
expect 0 "verify root link" -- "$HSK" verify --did-doc org.did.json dt1.json

expect 0 "sub-delegate agent -> sub-agent, narrowing" -- "$HSK" delegate --key agent.key --to "$sub" --capability $cap \
  --constraints '{"max_invoices":50}' --parent chain1.json
cp out chain2.json
[ "$(count chain2.json '"kind":"DelegationToken"')" = 2 ] && ok || bad "sub-delegated chain has two links"
[ "$(nth_str chain2.json id 1)" = "$dt1" ] && ok || bad "parent link carried over"
[ "$(nth_str chain2.json parent_delegation_id)" = "$dt1" ] && ok || bad "parent_delegation_id"
[ "$(nth_str chain2.json iss 2)" = "$agent" ] && ok || bad "child link issued by agent"
contains chain2.json '"sub_delegation_depth_remaining":0' "child depth parent - 1"
dt2=$(nth_str chain2.json id 2)
[ -n "$dt2" ] && [ "$dt2" != "$dt1" ] && ok || bad "child link id"

expect 1 "widening sub-delegation refused" -- "$HSK" delegate --key agent.key --to "$sub" --capability $cap \
  --constraints '{"max_invoices":500}' --parent chain1.json
contains err "delegation.widen" "widen reason"; one_line_err "widen refusal"
[ ! -s out ] && ok || bad "nothing printed for a refused delegation"
expect 1 "sub-delegation by a non-holder refused" -- "$HSK" delegate --key sub.key --to "$sub" --capability $cap \
  --parent chain1.json
contains err "delegation.not_holder" "not holder reason"
expect 1 "sub-delegation below depth 0 refused" -- "$HSK" delegate --key sub.key --to "$agent" --capability $cap \
  --parent chain2.json
contains err "delegation.depth" "depth reason"
expect 1 "delegate with a missing parent file" -- "$HSK" delegate --key agent.key --to "$sub" --capability $cap \
  --parent nonexistent.json
one_line_err "missing parent"
echo '[{"kind":"Acceptance"}]' >notchain.json
expect 1 "delegate with a parent that is not a chain" -- "$HSK" delegate --key agent.key --to "$sub" \
  --capability $cap --parent notchain.json
contains err "message.kind" "not a delegation reason"

# --- request and service verify ---------------------------------------------------------------------
expect 0 "request by the sub-agent" -- "$HSK" request --key sub.key --chain chain2.json --to "$svc" --capability $cap \
  --constraints '{"max_invoices":20}'
cp out rq.json
contains rq.json '"kind":"HandshakeRequest"' "request kind"
contains rq.json "\"deployer\":\"$org\"" "deployer defaults to the chain root's issuer"
contains rq.json '"model":"unknown"' "model default"
contains rq.json '"instance_id":"cli"' "instance default"
expect 0 "hsk verify the request and its chain" -- "$HSK" verify --did-doc org.did.json --did-doc agent.did.json \
  --did-doc sub.did.json rq.json

expect 0 "service accepts" -- "$HSK" service verify --config service.yaml rq.json
cp out acc.json
contains acc.json '"kind":"Acceptance"' "acceptance printed"
contains acc.json '"max_invoices":20' "effective scope narrowed by the request"
[ ! -s err ] && ok || bad "nothing on stderr when accepted: $(cat err)"
expect 0 "service accepts from stdin" -- bash -c "'$HSK' service verify --config service.yaml - <rq.json"
expect 0 "acceptance verifies with the service's DID Document" -- "$HSK" verify --did-doc svc.did.json acc.json
contains out "valid: Acceptance signed by $svc" "acceptance verdict"

expect 0 "request beyond the delegated scope (signed)" -- "$HSK" request --key sub.key --chain chain2.json --to "$svc" \
  --capability $cap --constraints '{"max_invoices":80}' --model m1 --instance i-7
cp out rq_big.json
expect 3 "service refuses a request beyond the scope" -- "$HSK" service verify --config service.yaml rq_big.json
contains out '"kind":"Refusal"' "refusal printed"
contains out '"code":"scope_exceeded"' "scope_exceeded code"
contains err "^refused: scope_exceeded: " "refusal line"; one_line_err "scope refusal"
cp out refusal.json
expect 0 "refusal verifies with the service's DID Document" -- "$HSK" verify --did-doc svc.did.json refusal.json

# --- §17 short-lived credentials: the service's ceiling on a delegation's lifetime -----------------
expect 0 "a day-long root delegation" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap --ttl 86400
cp out chain_long.json
expect 0 "request under it" -- "$HSK" request --key agent.key --chain chain_long.json --to "$svc" --capability $cap
cp out rq_long.json
expect 3 "a delegation longer than max_delegation_ttl_seconds (default 600) is refused" -- \
  "$HSK" service verify --config service.yaml rq_long.json
contains out '"code":"policy_denied"' "policy_denied code"
contains err "max_delegation_ttl_seconds 600" "the refusal names the setting"
{ cat service.yaml; echo "max_delegation_ttl_seconds: 90000"; } >service_long.yaml
expect 0 "accepted where the service allows longer ones" -- "$HSK" service verify --config service_long.yaml rq_long.json
grep -v '^did_documents' service.yaml >service_nodocs.yaml
echo "did_documents: [org.did.json, svc.did.json]" >>service_nodocs.yaml
expect 3 "an agent whose DID Document the service lacks: the refusal says which setting" -- \
  "$HSK" service verify --config service_nodocs.yaml rq.json
contains err "did_documents" "no key known names did_documents"

# --- hsk service check ----------------------------------------------------------------------------
expect 0 "service check: a good configuration" -- "$HSK" service check --config service.yaml
contains out "^ok: trust root $org: key known" "the trust root's key is known"
contains out "^ok: the service's key signs" "the key signs"
grep -v '^did_documents' service.yaml >service_noroot.yaml
echo "did_documents: [agent.did.json]" >>service_noroot.yaml
expect 1 "service check: a trust root without its DID Document is an error" -- "$HSK" service --check --config service_noroot.yaml
contains out "^error: trust root $org: no key known (add its DID Document to did_documents" "names the fix"
printf 'identity: svc.key\ntrust_roots: [%s]\nbogus_key: 1\n' "$org" >service_bogus.yaml
expect 1 "service check: an unknown key" -- "$HSK" service check --config service_bogus.yaml
contains out "^error: .*bogus_key" "names the unknown key"

expect 0 "request to the wrong service (signed)" -- "$HSK" request --key sub.key --chain chain2.json --to "$org" \
  --capability $cap
cp out rq_wrong.json
expect 3 "service refuses a request for another audience" -- "$HSK" service verify --config service.yaml rq_wrong.json
contains err "^refused: aud_mismatch" "aud_mismatch line"; one_line_err "aud refusal"

expect 0 "warm request with --session" -- "$HSK" request --key sub.key --chain chain2.json --to "$svc" \
  --capability $cap --session tok-1
contains out '"handshake:session_token":"tok-1"' "session token in the attestation"
[ "$(count out '"kind":"DelegationToken"')" = 1 ] && ok || bad "a warm request carries only the leaf link"
cp out rq_warm.json
expect 3 "an unknown session is refused (sessions do not outlive a run)" -- "$HSK" service verify \
  --config service.yaml rq_warm.json

expect 3 "service refuses garbage" -- bash -c "echo 'not json' | '$HSK' service verify --config service.yaml"
contains err "^refused: protocol_version_unsupported" "garbage refusal line"
expect 1 "service verify with a missing request file" -- "$HSK" service verify --config service.yaml nonexistent.json
one_line_err "missing request file"

expect 1 "request with a missing chain file" -- "$HSK" request --key sub.key --chain nonexistent.json --to "$svc" \
  --capability $cap
echo '[]' >empty_chain.json
expect 1 "request with an empty chain" -- "$HSK" request --key sub.key --chain empty_chain.json --to "$svc" \
  --capability $cap

# Replay protection across runs when the nonce store is SQLite.
sed 's/^identity: svc.key$/identity: svc.key\nnonce_store: {type: sqlite, path: nonces.db}/' service.yaml >service_sqlite.yaml
expect 0 "sqlite nonce store: first run accepts" -- "$HSK" service verify --config service_sqlite.yaml rq.json
expect 3 "sqlite nonce store: replay refused" -- "$HSK" service verify --config service_sqlite.yaml rq.json
contains err "^refused: replay_detected" "replay line"

# --- receipts ----------------------------------------------------------------------------------------
echo '{"invoices":[{"n":1},{"n":2}]}' >result.json
echo '{"invoices":[]}' >other_result.json
expect 0 "receipt issue" -- "$HSK" receipt issue --config service.yaml --acceptance acc.json --result result.json
cp out rc1.json
contains rc1.json '"kind":"Receipt"' "receipt kind"
contains rc1.json '"result":"ok"' "default status ok"
contains rc1.json "\"sub\":\"$sub\"" "receipt names the agent"
rc1=$(nth_str rc1.json id)
expect 0 "receipt verify with the result" -- "$HSK" receipt verify --did-doc svc.did.json --result result.json rc1.json
contains out "valid: Receipt $rc1" "receipt verdict"
expect 1 "receipt verify with the wrong result" -- "$HSK" receipt verify --did-doc svc.did.json \
  --result other_result.json rc1.json
contains err "receipt.result_mismatch" "result mismatch reason"; one_line_err "result mismatch"
expect 1 "receipt verify without the issuer's document" -- "$HSK" receipt verify --did-doc org.did.json rc1.json
contains err "did.unresolved" "unresolved receipt issuer"
sed 's/"result":"ok"/"result":"error"/' rc1.json >rc1.tampered.json
expect 1 "tampered receipt" -- "$HSK" receipt verify --did-doc svc.did.json rc1.tampered.json
contains err "sig.invalid" "tampered receipt reason"

expect 1 "receipt issue for a refusal" -- "$HSK" receipt issue --config service.yaml --acceptance refusal.json \
  --result result.json
contains err "message.kind" "refusal is not an acceptance"
sed 's/"max_invoices":20/"max_invoices":50/' acc.json >acc.tampered.json
expect 1 "receipt issue for a tampered acceptance" -- "$HSK" receipt issue --config service.yaml \
  --acceptance acc.tampered.json --result result.json
contains err "sig.invalid" "tampered acceptance reason"; one_line_err "tampered acceptance"
# An acceptance naming another issuer (org), signed by that issuer: not this service's.
sed -e 's/"alg":"EdDSA",//' -e 's/,"signature":"[^"]*"//' -e "s/\"iss\":\"$svc\"/\"iss\":\"$org\"/" acc.json \
  >acc.unsigned.json
expect 0 "sign an acceptance as org" -- "$HSK" sign --key org.key acc.unsigned.json
cp out acc.org.json
expect 1 "receipt issue for an acceptance of another signer" -- "$HSK" receipt issue --config service.yaml \
  --acceptance acc.org.json --result result.json
contains err "not signed by $svc" "foreign acceptance reason"

expect 0 "downstream receipt with --upstream" -- "$HSK" receipt issue --config service.yaml --acceptance acc.json \
  --result result.json --status partial --hash sha3-256 --upstream "$rc1"
cp out rc2.json
contains rc2.json "\"upstream_receipts\":\[\"$rc1\"\]" "upstream recorded"
contains rc2.json '"alg":"sha3-256"' "sha3 result hash"
expect 0 "receipt DAG verifies" -- "$HSK" receipt verify --did-doc svc.did.json --result result.json --dag rc1.json rc2.json
contains out "upstream DAG verified" "DAG verdict"
echo "[$(cat rc1.json),$(cat rc2.json)]" >dag.json
expect 0 "receipt DAG from an array file" -- "$HSK" receipt verify --did-doc svc.did.json --dag dag.json rc2.json
expect 1 "receipt DAG with the upstream missing" -- "$HSK" receipt verify --did-doc svc.did.json --dag rc2.json rc2.json
contains err "receipt.missing" "missing upstream reason"
expect 1 "receipt DAG with a tampered upstream" -- "$HSK" receipt verify --did-doc svc.did.json \
  --dag rc1.tampered.json rc2.json
contains err "sig.invalid" "tampered upstream reason"

# --- revocation ------------------------------------------------------------------------------------
# A statement by someone who did not issue the delegation does not revoke it.
expect 0 "revoke by a non-issuer (signed)" -- "$HSK" revoke --key sub.key --delegation "$dt2"
echo "[$(cat out)]" >revoked.json
expect 0 "a non-issuer's revocation has no effect" -- "$HSK" service verify --config service.yaml rq.json

expect 0 "revoke the sub-delegation by its issuer" -- "$HSK" revoke --key agent.key --delegation "$dt2" \
  --reason policy_change
cp out rv.json
contains rv.json '"kind":"RevocationStatement"' "revocation kind"
contains rv.json "\"delegation_id\":\"$dt2\"" "revoked delegation"
contains rv.json '"reason":"policy_change"' "reason"
expect 0 "revocation verifies" -- "$HSK" verify --did-doc agent.did.json rv.json
echo "[$(cat rv.json)]" >revoked.json
expect 3 "the same request after revocation" -- "$HSK" service verify --config service.yaml rq.json
contains err "^refused: credential_revoked" "revoked line"; one_line_err "revoked refusal"

expect 0 "revoke a principal" -- "$HSK" revoke --key org.key --principal "$agent" --reason key_compromise \
  --effective-at 2020-01-01T00:00:00Z
contains out "\"principal\":\"$agent\"" "revoked principal"
contains out '"effective_at":"2020-01-01T00:00:00Z"' "effective_at"

# --- usage errors (exit 2) ----------------------------------------------------------------------------
expect 2 "delegate without --to" -- "$HSK" delegate --key org.key --capability $cap
one_line_err "delegate usage"
expect 2 "delegate bad --to" -- "$HSK" delegate --key org.key --to nobody --capability $cap
expect 2 "delegate constraints not JSON" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap --constraints '{x'
expect 2 "delegate constraints not an object" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap --constraints '[1]'
expect 2 "delegate negative depth" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap --depth -1
expect 2 "delegate zero ttl" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap --ttl 0
expect 2 "delegate unknown option" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap --colour blue
expect 2 "delegate stray argument" -- "$HSK" delegate --key org.key --to "$agent" --capability $cap extra
expect 2 "request without --chain" -- "$HSK" request --key sub.key --to "$svc" --capability $cap
expect 2 "request bad --deployer" -- "$HSK" request --key sub.key --chain chain2.json --to "$svc" --capability $cap --deployer x
expect 2 "service without subcommand" -- "$HSK" service
expect 2 "service unknown subcommand" -- "$HSK" service start
expect 2 "service verify without --config" -- "$HSK" service verify rq.json
expect 2 "service verify two inputs" -- "$HSK" service verify --config service.yaml rq.json rq.json
expect 2 "receipt without subcommand" -- "$HSK" receipt
expect 2 "receipt unknown subcommand" -- "$HSK" receipt forge
expect 2 "receipt issue without --result" -- "$HSK" receipt issue --config service.yaml --acceptance acc.json
expect 2 "receipt issue bad status" -- "$HSK" receipt issue --config service.yaml --acceptance acc.json \
  --result result.json --status maybe
expect 2 "receipt issue bad hash" -- "$HSK" receipt issue --config service.yaml --acceptance acc.json \
  --result result.json --hash md5
expect 2 "receipt verify without a file" -- "$HSK" receipt verify --did-doc svc.did.json
expect 2 "revoke without a target" -- "$HSK" revoke --key agent.key
expect 2 "revoke with two targets" -- "$HSK" revoke --key agent.key --delegation "$dt2" --principal "$sub"
expect 2 "revoke bad delegation id" -- "$HSK" revoke --key agent.key --delegation dt_nope
expect 2 "revoke bad reason" -- "$HSK" revoke --key agent.key --delegation "$dt2" --reason boredom
expect 2 "revoke bad effective-at" -- "$HSK" revoke --key agent.key --delegation "$dt2" --effective-at yesterday

# --- configuration errors (exit 1, one line) ----------------------------------------------------------
printf 'identity: svc.key\ntrust_roots: [%s]\ncolour: blue\n' "$org" >bad_unknown.yaml
expect 1 "config with an unknown key" -- "$HSK" service verify --config bad_unknown.yaml rq.json
contains err "config.invalid" "unknown key reason"; one_line_err "unknown key"
printf 'identity: svc.key\n' >bad_roots.yaml
expect 1 "config without trust roots" -- "$HSK" service verify --config bad_roots.yaml rq.json
contains err "trust_roots" "trust roots reason"; one_line_err "no trust roots"
printf 'identity: [svc.key\n' >bad_yaml.yaml
expect 1 "config that is not YAML" -- "$HSK" service verify --config bad_yaml.yaml rq.json
contains err "yaml.invalid" "yaml reason"; one_line_err "bad yaml"
expect 1 "missing config" -- "$HSK" service verify --config nonexistent.yaml rq.json
one_line_err "missing config"
echo '{"not":"an array"}' >bad_revoked.json
sed 's/revoked.json/bad_revoked.json/' service.yaml >bad_revocations.yaml
expect 1 "config with a malformed revocations file" -- "$HSK" service verify --config bad_revocations.yaml rq.json
contains err "revocation.file" "revocations file reason"; one_line_err "bad revocations"
expect 1 "receipt issue with a malformed config" -- "$HSK" receipt issue --config bad_unknown.yaml \
  --acceptance acc.json --result result.json
one_line_err "receipt issue config"
cp svc.key loose.key && chmod 644 loose.key
expect 1 "delegate with a loose key file" -- "$HSK" delegate --key loose.key --to "$agent" --capability $cap
contains err "keyfile.permissions" "loose key reason"; one_line_err "loose key"

# --- session-key: warm sessions across instances (each hsk run is a new instance) ---------------------
expect 0 "session-key --help" -- "$HSK" session-key --help
contains out "usage: hsk session-key" "session-key --help"
expect 0 "top help" -- "$HSK" --help
contains out "  session-key " "top help names session-key"
expect 0 "session-key writes a key file" -- "$HSK" session-key --out current.key
[ "$(stat -c %a current.key)" = 600 ] && ok || bad "session key file mode 0600: $(stat -c %a current.key)"
grep -Eq '^[0-9a-f]{8}$' out && ok || bad "session-key prints the key id: $(cat out)"
current_id=$(cat out)
expect 1 "session-key never replaces a key" -- "$HSK" session-key --out current.key
contains err "keyfile.exists" "existing key reason"; one_line_err "existing session key"
expect 2 "session-key without --out" -- "$HSK" session-key
expect 2 "session-key with an argument" -- "$HSK" session-key --out x.key extra
expect 0 "session-key --force replaces" -- "$HSK" session-key --out current.key --force
[ "$(cat out)" != "$current_id" ] && ok || bad "a replaced key has a new id"
expect 0 "a second key" -- "$HSK" session-key --out previous.key
echo '[]' >session_revoked.json  # (revoked.json revokes chain2's leaf by now)
warm_config() {  # warm_config FILE KEYS...: service.yaml with sessions and these session_keys
  local f=$1; shift
  { sed 's/revoked\.json/session_revoked.json/' service.yaml
    printf 'session_ttl_seconds: 300\nsession_keys: [%s]\n' "$(IFS=,; echo "$*")"; } >"$f"
}
warm_config warm_prev.yaml previous.key
warm_config warm_cur.yaml current.key
warm_config warm_rotated.yaml current.key previous.key
warm_config warm_abs.yaml "$work/previous.key"
# A fresh warm request (new nonce) for TOKEN each time: warm_request FILE TOKEN.
warm_request() {
  "$HSK" request --key sub.key --chain chain2.json --to "$svc" --capability $cap --session "$2" >"$1" 2>err ||
    bad "warm request for $1: $(cat err)"
}
expect 0 "cold request" -- "$HSK" request --key sub.key --chain chain2.json --to "$svc" --capability $cap
cp out rq_cold.json
expect 0 "one run issues a session under the previous key" -- "$HSK" service verify --config warm_prev.yaml rq_cold.json
tok=$(nth_str out session_token)
[ -n "$tok" ] && ok || bad "the acceptance carries a session token"
contains out '"session_ttl_seconds":' "the acceptance carries the session ttl"
warm_request rq_w1.json "$tok"
expect 0 "another run with the same key file accepts the warm request" -- "$HSK" service verify \
  --config warm_prev.yaml rq_w1.json
contains out "\"session_token\":\"$tok\"" "a warm acceptance hands the ticket back"
warm_request rq_w2.json "$tok"
expect 0 "a run listing the key by an absolute path accepts it" -- "$HSK" service verify --config warm_abs.yaml rq_w2.json
warm_request rq_w3.json "$tok"
expect 0 "a rotated run (current first, previous second) accepts it" -- "$HSK" service verify \
  --config warm_rotated.yaml rq_w3.json
warm_request rq_w4.json "$tok"
expect 3 "a run with only the current key refuses it" -- "$HSK" service verify --config warm_cur.yaml rq_w4.json
contains err "^refused: expired" "an unknown ticket is expired"
expect 0 "the rotated run seals new sessions under the current key" -- "$HSK" service verify \
  --config warm_rotated.yaml rq_cold.json
tok2=$(nth_str out session_token)
warm_request rq_w5.json "$tok2"
expect 0 "... which a run with only the current key accepts" -- "$HSK" service verify --config warm_cur.yaml rq_w5.json
warm_request rq_w6.json "$tok2"
expect 3 "... and a run with only the previous key refuses" -- "$HSK" service verify --config warm_prev.yaml rq_w6.json
echo "[$(cat rv.json)]" >session_revoked.json
warm_request rq_w7.json "$tok2"
expect 3 "a revocation ends the session at once, on any run" -- "$HSK" service verify --config warm_cur.yaml rq_w7.json
contains err "^refused: credential_revoked" "revoked warm line"
# Configuration errors.
chmod 644 previous.key
expect 1 "a session key file others may read is refused" -- "$HSK" service verify --config warm_rotated.yaml rq_w5.json
contains err "keyfile.permissions" "loose session key reason"; one_line_err "loose session key"
chmod 600 previous.key
{ cat service.yaml; printf 'session_keys: current.key\n'; } >bad_keys.yaml
expect 1 "session_keys must be a list" -- "$HSK" service verify --config bad_keys.yaml rq_w5.json
contains err "config.invalid:.*session_keys" "session_keys list reason"; one_line_err "session_keys not a list"
{ cat service.yaml; printf 'session_keys: []\n'; } >bad_keys2.yaml
expect 1 "session_keys must name a key" -- "$HSK" service verify --config bad_keys2.yaml rq_w5.json
contains err "config.invalid:.*session_keys" "empty session_keys reason"
{ cat service.yaml; printf 'session_keys: [svc.key]\n'; } >bad_keys3.yaml
expect 1 "an identity key file is not a session key" -- "$HSK" service verify --config bad_keys3.yaml rq_w5.json
contains err "keyfile.format\|session_key.format" "identity key as session key reason"
{ cat service.yaml; printf 'session_keys: [current.key, current.key]\n'; } >bad_keys4.yaml
expect 1 "the same key twice is refused" -- "$HSK" service verify --config bad_keys4.yaml rq_w5.json
contains err "session_key.duplicate" "duplicate session key reason"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
