#!/usr/bin/env bash
# Keys in hardware through hsk's public entry points, with a SoftHSM2 token this script initialises
# in a temp dir (its own SOFTHSM2_CONF) and removes: keys made inside the token, not extractable;
# the demo flow with the org's and the service's keys in it, every signature checked against the
# public key the token reports; each mistake (PIN file, PIN, token, object, pin-value) answered on
# one line.
# Usage: cli_pkcs11_test.sh HSK_BINARY TOOLS_DIR
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
HSK=$1 TOOLS=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
module=$(bash "$TOOLS/softhsm_token.sh" "$work/hsm" hsk) || { echo "no SoftHSM2"; exit 1; }
export SOFTHSM2_CONF="$work/hsm/softhsm2.conf"
uri() { echo "pkcs11:token=${2:-hsk};object=$1?module-path=$module&pin-source=file:${3:-$work/hsm/pin}"; }

# --- keys made in the token ----------------------------------------------------------------------
expect 0 "keygen svc in the token" -- "$HSK" keygen --kind svc --pkcs11 "$(uri svc)"
svc=$(cat out)
[[ "$svc" == did:hsk:svc:z* ]] && ok || bad "a svc DID: $svc"
expect 0 "keygen org in the token" -- "$HSK" keygen --kind org --pkcs11 "$(uri org)"
org=$(cat out)
expect 1 "the same label again is refused" -- "$HSK" keygen --kind svc --pkcs11 "$(uri svc)"
contains err "pkcs11.exists" "exists"
expect 0 "hsk did URI: the DID Document, signed in the token" -- "$HSK" did "$(uri svc)"
cp out svc.did.json
grep -Eq "\"id\": ?\"$svc\"" svc.did.json && ok || bad "the document's DID is the token key's"
expect 0 "its proof verifies (libsodium, the public key the token reports)" -- "$HSK" verify svc.did.json
"$HSK" did "$(uri org)" > org.did.json || bad "org did"
if command -v pkcs11-tool >/dev/null; then
  pkcs11-tool --module "$module" --login --pin 1234 --list-objects --type privkey >objects.out 2>&1
  contains objects.out "never extractable" "the private key is never extractable"
  contains objects.out "sensitive" "the private key is sensitive"
fi

# --- the demo flow, with the org's and the service's keys in the token ---------------------------
"$HSK" keygen --kind agent --out agent.key > agent.did || bad "agent key"
agent=$(cat agent.did)
"$HSK" did agent.key > agent.did.json
expect 0 "delegate with the org's key in the token" -- "$HSK" delegate --key "$(uri org)" --to "$agent" \
  --capability billing.invoices.read --constraints '{"max_invoices":100}'
cp out chain.json
expect 0 "the delegation verifies against the org's DID Document" -- "$HSK" verify --did-doc org.did.json chain.json
"$HSK" request --key agent.key --chain chain.json --to "$svc" --capability billing.invoices.read \
  --constraints '{"max_invoices":10}' > rq.json || bad "request"
cat > service.yaml <<YAML
identity: "$(uri svc)"
trust_roots: [$org]
did_documents: [org.did.json, agent.did.json]
YAML
expect 0 "service check: the key in the token signs" -- "$HSK" service check --config service.yaml
contains out "^ok: the service's key signs (pkcs11:token=hsk;object=svc)" "check names the token"
expect 0 "the service accepts, signing in the token" -- "$HSK" service verify --config service.yaml rq.json
cp out acc.json
expect 0 "the Acceptance verifies with the service's DID Document" -- "$HSK" verify --did-doc svc.did.json acc.json
echo '{"invoices":[1,2]}' > result.json
expect 0 "a receipt signed in the token" -- "$HSK" receipt issue --config service.yaml --acceptance acc.json --result result.json
cp out receipt.json
expect 0 "the receipt verifies offline" -- "$HSK" receipt verify --did-doc svc.did.json --result result.json receipt.json
dt=$(grep -o '"id":"dt_[^"]*"' chain.json | head -1 | cut -d'"' -f4)
expect 0 "hsk revoke --key URI: a statement signed in the token" -- "$HSK" revoke --key "$(uri org)" --delegation "$dt"
cp out signed.json
expect 0 "which verifies" -- "$HSK" verify --did-doc org.did.json signed.json

# --- the token goes away while serving, and comes back ----------------------------------------------
for i in 1 2 3; do
  "$HSK" request --key agent.key --chain chain.json --to "$svc" --capability billing.invoices.read | tr -d '\n' > rq-live$i.json
  echo >> rq-live$i.json
done
mkfifo requests
"$HSK" service verify --config service.yaml --lines < requests > answers.txt 2> answers.err &
verifier=$!
exec 3>requests
cat rq-live1.json >&3
for _ in $(seq 50); do [ "$(wc -l < answers.txt)" -ge 1 ] && break; sleep 0.1; done
mv "$work/hsm/tokens" "$work/hsm/tokens.away"   # the token is gone
cat rq-live2.json >&3
for _ in $(seq 50); do [ "$(wc -l < answers.txt)" -ge 2 ] && break; sleep 0.1; done
mv "$work/hsm/tokens.away" "$work/hsm/tokens"   # and back
cat rq-live3.json >&3
exec 3>&-
wait "$verifier"
sed -n 1p answers.txt | grep -q '"kind":"Acceptance"' && ok || bad "accepted while the token is there: $(sed -n 1p answers.txt | head -c 200)"
sed -n 2p answers.txt | grep -q '^{"error":{"code":"service_unavailable","message":"the service cannot sign its answer now: ' && ok || \
  bad "an unsigned error while it is gone, never an accept: $(sed -n 2p answers.txt | head -c 300)"
sed -n 3p answers.txt | grep -q '"kind":"Acceptance"' && ok || bad "accepted again once it is back: $(sed -n 3p answers.txt | head -c 300)"

# --- mistakes: one clear line each ----------------------------------------------------------------
chmod 644 "$work/hsm/pin"
expect 1 "a PIN file others can read" -- "$HSK" did "$(uri svc)"
contains err "keyfile.permissions" "PIN file permissions"; one_line_err "PIN file"
chmod 600 "$work/hsm/pin"
( umask 077 && echo 9999 > wrong.pin )
expect 1 "a wrong PIN" -- "$HSK" did "$(uri svc hsk "$work/wrong.pin")"
contains err "pkcs11.pin: the token 'hsk' refused the PIN: CKR_PIN_INCORRECT" "wrong PIN"; one_line_err "wrong PIN"
expect 1 "a missing token" -- "$HSK" did "$(uri svc nosuch)"
contains err "pkcs11.token: no token labelled 'nosuch'" "missing token"; one_line_err "missing token"
expect 1 "a missing object" -- "$HSK" did "$(uri nosuch)"
contains err "pkcs11.object: the token 'hsk' holds 0 private and 0 public keys labelled 'nosuch'" "missing object"
expect 1 "a module that is not there" -- "$HSK" did "pkcs11:token=hsk;object=svc?module-path=/nonexistent.so&pin-source=file:$work/hsm/pin"
contains err "pkcs11.module: cannot load /nonexistent.so" "missing module"
expect 1 "pin-value is refused" -- "$HSK" did "pkcs11:token=hsk;object=svc?module-path=$module&pin-value=1234"
contains err "pin-value is refused" "pin-value"
expect 2 "keygen --pkcs11 with --out" -- "$HSK" keygen --kind svc --pkcs11 "$(uri x)" --out x.key
expect 1 "a user key cannot be made in a token (its DID names a handle)" -- "$HSK" keygen --kind user --pkcs11 "$(uri u)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
