#!/usr/bin/env bash
# Drives the hsk binary through its public entry points: every subcommand, its refusals and its
# exit codes. Usage: cli_test.sh HSK_BINARY PUBLIC_VECTORS_DIR
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
HSK=$1
VECTORS=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"


# --- help for every subcommand ---------------------------------------------------------------
for c in keygen did rotate sign verify canon demo; do
  expect 0 "$c --help" -- "$HSK" "$c" --help
  contains out "usage: hsk $c" "$c --help"
done
expect 2 "no command" -- "$HSK"
expect 2 "unknown command" -- "$HSK" frobnicate
expect 0 "top help" -- "$HSK" --help

# --- keygen ---------------------------------------------------------------------------------------
expect 0 "keygen agent" -- "$HSK" keygen --kind agent --out agent.key
agent_did=$(cat out)
[[ "$agent_did" =~ ^did:hsk:agent:z[1-9A-HJ-NP-Za-km-z]+$ ]] && ok || bad "agent DID form: $agent_did"
[ "$(stat -c %a agent.key)" = 600 ] && ok || bad "key file mode $(stat -c %a agent.key)"
grep -q "$(cat out)" agent.key && ok || bad "key file names its DID"
expect 1 "keygen refuses to overwrite" -- "$HSK" keygen --kind agent --out agent.key
contains err "keyfile.exists" "overwrite refusal"; one_line_err "overwrite refusal"
expect 0 "keygen --force" -- "$HSK" keygen --kind agent --out agent.key --force
agent_did=$(cat out)
expect 0 "keygen org" -- "$HSK" keygen --kind org --out org.key
org_did=$(cat out)
expect 0 "keygen svc" -- "$HSK" keygen --kind svc --out svc.key
svc_did=$(cat out)
expect 0 "keygen user" -- "$HSK" keygen --kind user --handle bob@acme.com --out bob.key
[ "$(cat out)" = "did:hsk:user:bob@acme.com" ] && ok || bad "user DID $(cat out)"
expect 0 "keygen org by domain" -- "$HSK" keygen --kind org --domain acme.com --out acme.key
[ "$(cat out)" = "did:hsk:org:acme.com" ] && ok || bad "domain org DID $(cat out)"
seed=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
expect 0 "keygen seeded" -- "$HSK" keygen --kind agent --seed $seed --out s1.key
d1=$(cat out)
expect 0 "keygen seeded again" -- "$HSK" keygen --kind agent --seed $seed --out s2.key
[ "$d1" = "$(cat out)" ] && ok || bad "seeded keygen is deterministic"
expect 2 "keygen bad kind" -- "$HSK" keygen --kind robot --out x.key
one_line_err "bad kind"
expect 2 "keygen user without handle" -- "$HSK" keygen --kind user --out x.key
expect 2 "keygen handle on agent" -- "$HSK" keygen --kind agent --handle a@b.c --out x.key
expect 2 "keygen short seed" -- "$HSK" keygen --kind agent --seed abcd --out x.key
expect 2 "keygen no --out" -- "$HSK" keygen --kind agent
expect 2 "keygen unknown option" -- "$HSK" keygen --kind agent --out x.key --colour blue
[ ! -e x.key ] && ok || bad "no key file after refused keygen"

# --- key file permissions and secrecy ---------------------------------------------------------------
cp agent.key loose.key && chmod 644 loose.key
expect 1 "key file readable by others is refused" -- "$HSK" did loose.key
contains err "keyfile.permissions" "permission refusal"; one_line_err "permission refusal"
seed_b64=$(sed -n 's/.*"seed":"\([^"]*\)".*/\1/p' agent.key)
[ -n "$seed_b64" ] && ok || bad "seed present in key file"

# --- did ------------------------------------------------------------------------------------------------
expect 0 "did" -- "$HSK" did agent.key --revocation-endpoint https://acme.com/revocations
cp out agent.did.json
contains agent.did.json '"kty": "OKP"' "JWK"
contains agent.did.json "handshake:revocation" "revocation endpoint"
if grep -q -- "$seed_b64" agent.did.json out err; then bad "secret seed printed"; else ok; fi
"$HSK" did org.key >org.did.json 2>/dev/null && ok || bad "did org"
"$HSK" did svc.key >svc.did.json 2>/dev/null && ok || bad "did svc"
"$HSK" did bob.key >bob.did.json 2>/dev/null && ok || bad "did user"
expect 0 "verify DID document" -- "$HSK" verify agent.did.json
contains out "valid: DID Document $agent_did" "DID doc verdict"
sed 's/"versionId": "1"/"versionId": "7"/' agent.did.json >forged.did.json
expect 1 "verify forged DID document" -- "$HSK" verify forged.did.json

# --- sign / verify ------------------------------------------------------------------------------------
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)
cat >dt.json <<JSON
{"kind":"DelegationToken","sub":"$agent_did","aud":"$agent_did","nbf":"$now","exp":"$later",
 "capabilities":[{"name":"billing.invoices.read","constraints":{"max_invoices":100},"delegable":false}],
 "sub_delegation_depth_remaining":0}
JSON
expect 0 "sign delegation" -- "$HSK" sign --key org.key dt.json
cp out dt.signed.json
contains dt.signed.json '"signature":"' "signature present"
contains dt.signed.json "\"iss\":\"$org_did\"" "iss filled in"
expect 0 "verify delegation" -- "$HSK" verify --did-doc org.did.json dt.signed.json
contains out "valid: DelegationToken signed by $org_did" "verdict"
expect 0 "verify from stdin" -- bash -c "'$HSK' verify --did-doc org.did.json - < dt.signed.json"
expect 1 "verify with the wrong issuer's document" -- "$HSK" verify --did-doc svc.did.json dt.signed.json
contains err "did.unresolved" "unresolved issuer"
sed 's/"max_invoices":100/"max_invoices":500/' dt.signed.json >dt.tampered.json
expect 1 "verify tampered delegation" -- "$HSK" verify --did-doc org.did.json dt.tampered.json
contains err "sig.invalid" "tamper reason"; one_line_err "tamper refusal"
sed 's/"kind":"DelegationToken"/"kind":"DelegationToken","kind":"DelegationToken"/' dt.signed.json >dt.dup.json
expect 1 "verify duplicate member" -- "$HSK" verify --did-doc org.did.json dt.dup.json
contains err "json.duplicate_key" "duplicate reason"
sed 's/"version":"0.2.3"/"version":"0.3.0"/' dt.signed.json >dt.v3.json
expect 1 "verify other version" -- "$HSK" verify --did-doc org.did.json dt.v3.json
contains err "message.version" "version reason"
expect 1 "sign as someone else" -- bash -c "sed 's/^{/{\"iss\":\"$svc_did\",/' dt.json | '$HSK' sign --key org.key"
contains err "sign.iss_mismatch" "iss mismatch reason"
echo '{"kind":"DelegationToken"}' >incomplete.json
expect 1 "sign refuses an invalid message" -- "$HSK" sign --key org.key incomplete.json
contains err "message.field" "invalid message reason"
expect 1 "sign with a loose key" -- "$HSK" sign --key loose.key dt.json
expect 1 "verify garbage" -- bash -c "echo 'not json' | '$HSK' verify"
one_line_err "garbage refusal"
expect 1 "verify missing file" -- "$HSK" verify /nonexistent.json
one_line_err "missing file"

# A request carrying the signed delegation: every link is verified too.
cat >rq.json <<JSON
{"kind":"HandshakeRequest","aud":"$svc_did",
 "agent_attestation":{"deployer":"$org_did","model":"m","instance_id":"i"},
 "capability":{"name":"billing.invoices.read","constraints":{"max_invoices":10}},
 "delegation_chain":[$(cat dt.signed.json)]}
JSON
expect 0 "sign request" -- "$HSK" sign --key agent.key rq.json
cp out rq.signed.json
expect 0 "verify request and chain" -- "$HSK" verify --did-doc org.did.json --did-doc agent.did.json rq.signed.json
expect 1 "verify request without the delegator's document" -- "$HSK" verify --did-doc agent.did.json rq.signed.json
contains err "delegation_chain\[0\]" "link named in reason"

# --- rotation -------------------------------------------------------------------------------------------
expect 0 "rotate" -- "$HSK" rotate --key agent.key --did-doc agent.did.json --out agent2.key --version-time "$later"
cp out agent.v2.json
contains agent.v2.json previousVersionSignature "rotation signature"
[ "$(stat -c %a agent2.key)" = 600 ] && ok || bad "rotated key mode"
expect 0 "verify v2 with history" -- "$HSK" verify --did-doc agent.did.json agent.v2.json
contains out "2 versions" "history size"
expect 1 "v2 alone is not enough" -- "$HSK" verify agent.v2.json

# --- canon: exactly the JCS bytes -------------------------------------------------------------------------
for f in "$VECTORS"/jcs/input/*.json; do
  name=$(basename "$f")
  "$HSK" canon "$f" >canon.out 2>err
  if cmp -s canon.out "$VECTORS/jcs/output/$name"; then ok; else bad "canon $name differs"; fi
done
expect 0 "canon stdin" -- bash -c "printf '{\"b\":1, \"a\":[1.0,2e2]}' | '$HSK' canon"
[ "$(cat out)" = '{"a":[1,200],"b":1}' ] && ok || bad "canon stdin output $(cat out)"
[ "$(tail -c 1 out | od -An -c | tr -d ' ')" != '\n' ] && ok || bad "canon adds no newline"
expect 1 "canon inexact integer" -- bash -c "echo '[9007199254740993]' | '$HSK' canon"
contains err "json.inexact_integer" "inexact reason"; one_line_err "inexact refusal"
expect 1 "canon lone surrogate" -- bash -c "echo '\"\\ud800\"' | '$HSK' canon"
contains err "json.lone_surrogate" "surrogate reason"

# --- demo -------------------------------------------------------------------------------------------------
expect 0 "demo" -- "$HSK" demo
contains out "Demo complete" "demo completes"
contains out "refused: signature_invalid" "demo shows tamper refusal"
contains out "refused: replay_detected" "demo shows replay refusal"
contains out "Refusal signed by the service" "demo checks the signed refusals"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
