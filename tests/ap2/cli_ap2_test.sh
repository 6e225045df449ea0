#!/usr/bin/env bash
# hsk ap2 and hsk verify bundle end to end: a delegation "at most 200 EUR, only Example Shoes, this
# week", an AP2 v0.1 PaymentMandate inside it accepted (and ones outside refused with signed
# scope_exceeded), the receipt committing to mandate + payment receipt, anchored in a registry
# started here, bundled, verified offline, and tampered bundles refused.
# Usage: cli_ap2_test.sh HSK_BINARY TEST_SOURCE_DIR
set -uo pipefail
. "$(cd "$(dirname "$0")/../cli" && pwd)/lib.sh"
HSK=$1
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

"$HSK" keygen --kind org --out org.key >/dev/null || bad "keygen org"
"$HSK" keygen --kind agent --out agent.key >/dev/null || bad "keygen agent"
"$HSK" keygen --kind svc --out svc.key >/dev/null || bad "keygen svc"
"$HSK" keygen --kind svc --out registry.key >/dev/null || bad "keygen registry"
now_minus() { date -u -d "-$1 seconds" +%Y-%m-%dT%H:%M:%SZ; }
for k in org agent svc registry; do "$HSK" did --version-time "$(now_minus 3600)" $k.key > $k.did.json || bad "did $k"; done
did_of() { sed -n 's/.*"did":"\([^"]*\)".*/\1/p' "$1"; }
org=$(did_of org.key) agent=$(did_of agent.key) svc=$(did_of svc.key)

# --- the service: capability schema from the AP2 mapping ------------------------------------------
expect 0 "ap2 capabilities" -- "$HSK" ap2 capabilities
cp out capabilities.json
contains capabilities.json '"max_amount":{"type":"numeric_max"}' "amount typed numeric_max"
contains capabilities.json '"execution_window":{"type":"time_window"}' "window typed time_window"
cat > svc.yaml <<EOF
identity: svc.key
trust_roots: [$org]
capabilities: capabilities.json
did_documents: [org.did.json, agent.did.json]
EOF

# --- the delegation: at most 200 EUR, only Example Shoes, this week ---------------------------------
from=$(date -u -d '-1 day' +%F) to=$(date -u -d '+6 days' +%F)
expect 0 "delegate" -- "$HSK" delegate --key org.key --to "$agent" --capability pay.transfer \
  --constraints "{\"max_amount\":20000,\"currency\":[\"EUR\"],\"payee\":[\"Example Shoes\"],\"execution_window\":[\"$from\",\"$to\"]}"
cp out chain.json

# --- mandates (A2A v0.3 messages carrying an ap2.mandates.PaymentMandate DataPart) ---------------------
mandate() {  # mandate VALUE MERCHANT TIMESTAMP
  cat <<EOF
{"messageId":"b5951b1a","contextId":"ctx-shoes-1","role":"user","kind":"message","parts":[
 {"kind":"text","text":"This is the signed payment mandate"},
 {"kind":"data","data":{"ap2.mandates.PaymentMandate":{"payment_mandate_contents":{
   "payment_mandate_id":"3f8e2b1c9d7a4e6f8a0b1c2d3e4f5a6b","payment_details_id":"order_shoes_123",
   "payment_details_total":{"label":"Total","amount":{"currency":"EUR","value":$1},"pending":null,"refund_period":30},
   "payment_response":{"request_id":"order_shoes_123","method_name":"CARD","details":{"token":{"value":"tok_7Hc9"}},
     "shipping_address":null,"shipping_option":null,"payer_name":null,"payer_email":"alex@example.com","payer_phone":null},
   "merchant_agent":"$2","timestamp":"$3"},"user_authorization":null}}},
 {"kind":"data","data":{"risk_data":"eyJkZXZpY2UiOiJhbmRyb2lkIn0"}}]}
EOF
}
ts=$(now_minus 5)
mandate 125.0 "Example Shoes" "$ts" > mandate.json
mandate 250.0 "Example Shoes" "$ts" > over.json
mandate 20.0 "Mallory Mart" "$ts" > elsewhere.json
mandate 20.0 "Example Shoes" "$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)" > later.json
mandate 1.005 "Example Shoes" "$ts" > inexact.json
cat > pr.json <<'EOF'
{"payment_mandate_id":"3f8e2b1c9d7a4e6f8a0b1c2d3e4f5a6b","timestamp":"2026-08-30T10:16:05Z","payment_id":"pay_001",
 "amount":{"currency":"EUR","value":125.0},
 "payment_status":{"merchant_confirmation_id":"ord_88","psp_confirmation_id":"psp_77","network_confirmation_id":null},
 "payment_method_details":{"network":"mastercard","last4":"4242"}}
EOF

expect 0 "constraints derived from the mandate" -- "$HSK" ap2 constraints --mandate mandate.json
contains out '"max_amount":12500' "amount in minor units"
contains out '"payee":"Example Shoes"' "payee"
constraints=$(sed -n 's/.*"constraints":\(.*\)}$/\1/p' out)
expect 1 "an inexact amount is refused" -- "$HSK" ap2 constraints --mandate inexact.json
contains err "ap2.amount_inexact" "inexact reason"

# --- the agent requests; the service binds the request to the mandate ---------------------------------
"$HSK" request --key agent.key --chain chain.json --to "$svc" --capability pay.transfer --constraints "$constraints" > req.json \
  || bad "request"
expect 0 "a mandate within the delegation is accepted" -- "$HSK" ap2 verify --config svc.yaml --mandate mandate.json req.json
cp out acc.json
contains acc.json '"kind":"Acceptance"' "acceptance"
for m in over elsewhere later; do
  "$HSK" request --key agent.key --chain chain.json --to "$svc" --capability pay.transfer --constraints '{}' > req-$m.json || bad "request $m"
  expect 3 "mandate $m is refused" -- "$HSK" ap2 verify --config svc.yaml --mandate $m.json req-$m.json
  contains err "scope_exceeded" "$m refusal code"
  contains out '"kind":"Refusal"' "$m signed refusal"
done

# --- receipt, registry, bundle ---------------------------------------------------------------------------
expect 0 "receipt" -- "$HSK" ap2 receipt --config svc.yaml --acceptance acc.json --mandate mandate.json --payment-receipt pr.json
cp out receipt.json
contains receipt.json '"ap2_payment_status":"success"' "receipt summary"
sed 's/"value":125.0/"value":126.0/' pr.json > pr-other.json
expect 1 "a payment receipt for another amount is refused" -- "$HSK" ap2 receipt --config svc.yaml --acceptance acc.json --mandate mandate.json --payment-receipt pr-other.json
contains err "ap2.receipt_mismatch" "mismatch reason"

"$HSK" registry serve --key registry.key --db log.db --port 0 --did-doc svc.did.json > serve.out 2> serve.err &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' serve.out)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] && ok || { bad "registry did not start: $(cat serve.err)"; echo "$passed passed, $failed failed"; exit 1; }
"$HSK" ap2 receipt --config svc.yaml --acceptance acc.json --mandate mandate.json > receipt-no-pr.json || bad "receipt without PR"
expect 0 "anchor another receipt first" -- "$HSK" registry anchor --url "http://127.0.0.1:$port" receipt-no-pr.json
expect 0 "anchor the receipt" -- "$HSK" registry anchor --url "http://127.0.0.1:$port" receipt.json
cp out answer.json
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=""

expect 0 "bundle" -- "$HSK" ap2 bundle --mandate mandate.json --chain chain.json --acceptance acc.json --receipt receipt.json \
  --payment-receipt pr.json --anchor answer.json --request req.json --out bundle.json
contains bundle.json '"type":"handshake.ap2.dispute_bundle"' "bundle type"
contains bundle.json '"inclusion_proof"' "bundle registry proof"
expect 1 "bundle: the registry answer of another receipt" -- "$HSK" ap2 bundle --mandate mandate.json --chain chain.json \
  --acceptance acc.json --receipt receipt-no-pr.json --anchor answer.json
contains err "ap2.bundle_binding" "other receipt reason"
docs=(--did-doc org.did.json --did-doc agent.did.json --did-doc svc.did.json)
verify_bundle() { "$HSK" verify bundle "${docs[@]}" --registry-did-doc registry.did.json --trust-root "$org" "$@"; }
expect 0 "verify bundle" -- verify_bundle bundle.json
contains out "valid: ap2.mandates.PaymentMandate paid under pay.transfer" "verdict"
contains out "leaf 1 of the 2-leaf registry tree" "registry in verdict"
# The bundle as the brief's command line makes it (no --request) verifies the same way.
expect 0 "bundle without the request" -- "$HSK" ap2 bundle --mandate mandate.json --chain chain.json --acceptance acc.json \
  --receipt receipt.json --payment-receipt pr.json --anchor answer.json --out bundle-min.json
expect 0 "verify the bundle without the request" -- verify_bundle bundle-min.json
# HSK_AP2_EXAMPLE_DIR=DIR keeps that bundle and its verdict (docs/ap2.md shows them).
if [ -n "${HSK_AP2_EXAMPLE_DIR:-}" ]; then cp bundle-min.json "$HSK_AP2_EXAMPLE_DIR/bundle.json" && cp out "$HSK_AP2_EXAMPLE_DIR/verdict.txt"; fi

# --- tampered bundles ---------------------------------------------------------------------------------
sed 's/"payment_id":"pay_001"/"payment_id":"pay_002"/' bundle.json > t1.json
expect 1 "another payment receipt" -- verify_bundle t1.json
contains err "receipt.result_mismatch" "t1 reason"
sed 's/"merchant_agent":"Example Shoes"/"merchant_agent":"Mallory Mart"/' bundle.json > t2.json
expect 1 "another merchant" -- verify_bundle t2.json
contains err "ap2.bundle_chain: scope_exceeded" "t2 reason"
sed 's/"result":"ok"/"result":"error"/' bundle.json > t3.json
expect 1 "receipt edited" -- verify_bundle t3.json
contains err "sig.invalid" "t3 reason"
sed 's/"leaf_index":1/"leaf_index":0/' bundle.json > t4.json
expect 1 "wrong leaf index" -- verify_bundle t4.json
contains err "merkle" "t4 reason"
sed 's/"value":125/"value":150/' bundle.json > t5.json
expect 1 "amount edited" -- verify_bundle t5.json
one_line_err "t5 one line"
expect 1 "no registry key" -- "$HSK" verify bundle "${docs[@]}" bundle.json
contains err "ap2.bundle_registry_missing" "registry key reason"
expect 1 "another trust root" -- "$HSK" verify bundle "${docs[@]}" --registry-did-doc registry.did.json --trust-root "$svc" bundle.json
contains err "chain_broken" "trust root reason"
expect 1 "another registry" -- "$HSK" verify bundle "${docs[@]}" --registry-did-doc svc.did.json bundle.json
expect 1 "no DID Documents" -- "$HSK" verify bundle --registry-did-doc registry.did.json bundle.json
echo '{"type":"nope"}' > junk.json
expect 1 "not a bundle" -- verify_bundle junk.json
contains err "ap2.bundle_invalid" "junk reason"

# --- usage ----------------------------------------------------------------------------------------------
expect 0 "ap2 --help" -- "$HSK" ap2 --help
expect 2 "ap2 without a subcommand" -- "$HSK" ap2
expect 2 "ap2 unknown subcommand" -- "$HSK" ap2 frob
expect 2 "bundle without --mandate" -- "$HSK" ap2 bundle --chain chain.json
expect 0 "verify bundle --help" -- "$HSK" verify bundle --help
expect 2 "verify bundle without a file" -- "$HSK" verify bundle "${docs[@]}"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
