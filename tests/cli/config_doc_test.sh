#!/usr/bin/env bash
# docs/config.md against the parsers that live in adapters, through the binaries that read them:
# oauth.yaml (hsk-mcp-proxy --oauth), scopes.yaml (hsk oauth bridge --check --map), the AP2
# mandate map (hsk ap2 capabilities --map). tests/core/config_doc_test.cpp does the same for the
# parsers core_tests links (service.yaml, tls, tool and skill maps, capabilities.json).
#
# For each `<!-- keys: TABLE -->` table: every documented key is read (putting it in a file does
# not give the parser's unknown-key error, which a bogus key gets with its name substituted), and
# no undocumented key is: candidates are every key on the page and every name-like string literal
# of the parser's source. Each `<!-- example: NAME -->` block must load.
#
# usage: config_doc_test.sh HSK HSK_MCP_PROXY [REPO_ROOT]
set -u
HSK=${1:?usage: config_doc_test.sh HSK HSK_MCP_PROXY [REPO_ROOT]}
PROXY=${2:?usage: config_doc_test.sh HSK HSK_MCP_PROXY [REPO_ROOT]}
ROOT=${3:-$(cd "$(dirname "$0")/../.." && pwd)}
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
HSK=$(abs "$HSK") PROXY=$(abs "$PROXY") ROOT=$(abs "$ROOT")
DOC=$ROOT/docs/config.md
BOGUS=zz_no_such_key
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

T=$(mktemp -d "${TMPDIR:-/tmp}/hsk-config-doc-XXXXXX")
trap 'rm -rf "$T"' EXIT

# The first column of the table after <!-- keys: $1 -->, one key a line.
table_keys() {
  awk -v m="<!-- keys: $1 -->" '
    $0 == m { found = 1; next }
    found && /^\|/ { if (++row > 2) { split($0, c, "|"); k = c[2]; gsub(/^ +| +$/, "", k); gsub(/`/, "", k); print k } next }
    found && row == 0 && /^ *$/ { next }
    found { exit }' "$DOC"
}
# The fenced block after <!-- example: $1 -->.
example() {
  awk -v m="<!-- example: $1 -->" '
    $0 == m { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }' "$DOC"
}
# Every key of every table on the page, and the name-like string literals of source file $1.
candidates() {
  { grep -o '<!-- keys: [^ ]* -->' "$DOC" | awk '{ print $3 }' | while read -r t; do table_keys "$t"; done
    grep -o '"[a-z][a-z0-9_]*"' "$ROOT/$1" | tr -d '"'; } | sort -u
}

# check_table TABLE SOURCE PROBE: PROBE KEY prints what the parser says about a file holding KEY.
check_table() {
  local table=$1 source=$2 probe=$3 k documented bogus said
  documented=$(table_keys "$table")
  [ -n "$documented" ] || { fail "docs/config.md has no table $table"; return; }
  bogus=$($probe "$BOGUS")
  case $bogus in *"$BOGUS"*unknown* | *unknown*"$BOGUS"*) ;; *) fail "$table: a bogus key is not refused: $bogus"; return ;; esac
  for k in $(candidates "$source"); do
    said=$($probe "$k")
    if [ "$said" = "${bogus//$BOGUS/$k}" ]; then
      grep -qxF -- "$k" <<<"$documented" && fail "docs/config.md table $table documents \`$k\`, which the parser refuses"
    else
      grep -qxF -- "$k" <<<"$documented" || fail "the parser of table $table reads \`$k\`, which docs/config.md does not document there"
    fi
  done
}

# ---- files the examples name -------------------------------------------------------------------
cd "$T" || exit 1
"$HSK" keygen --kind svc --out svc.key >/dev/null || exit 1
"$HSK" keygen --kind org --domain acme.example --out org.key >/dev/null || exit 1
"$HSK" keygen --kind agent --out gateway.key >/dev/null || exit 1
printf 'secret\n' >gateway.secret && chmod 600 gateway.secret
printf 'identity: svc.key\ntrust_roots: [did:hsk:org:acme.example]\n' >service.yaml
printf 'tools:\n  echo: {capability: text.echo}\n' >tools.yaml
example scope_map >scopes.yaml
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 1 \
  -subj /CN=config-doc-test-ca >/dev/null 2>&1 || exit 1

# ---- oauth.yaml --------------------------------------------------------------------------------
proxy() {
  timeout 20 "$PROXY" --role service --config service.yaml --tools tools.yaml --listen 127.0.0.1:0 \
    --upstream http://127.0.0.1:9/mcp --oauth "$1" 2>&1
}
probe_oauth() { printf '%s: -7\n' "$1" >probe.yaml; proxy probe.yaml; }
check_table oauth_gateway adapters/mcp/proxy/oauth_gateway.cpp probe_oauth
example oauth_gateway >oauth.yaml
said=$(timeout 3 "$PROXY" --role service --config service.yaml --tools tools.yaml --listen 127.0.0.1:0 \
  --upstream http://127.0.0.1:9/mcp --oauth oauth.yaml 2>&1)
grep -q 'listening on' <<<"$said" || fail "the oauth_gateway example does not load: $said"

# ---- scopes.yaml -------------------------------------------------------------------------------
bridge() {
  "$HSK" oauth bridge --check --key org.key --map "$1" --introspection-url http://127.0.0.1:9/introspect \
    --client-id c --client-secret-file gateway.secret 2>&1
}
probe_scope_map() { printf '%s: -7\n' "$1" >probe.yaml; bridge probe.yaml; }
probe_scope_entry() { printf 'scopes:\n  - {scope: a, capability: text.echo, %s: -7}\n' "$1" >probe.yaml; bridge probe.yaml; }
check_table scope_map adapters/oauth/src/scope_map.cpp probe_scope_map
check_table 'scope_map.scopes[]' adapters/oauth/src/scope_map.cpp probe_scope_entry
said=$(bridge scopes.yaml) || fail "the scope_map example does not load: $said"

# ---- AP2 mandate map ---------------------------------------------------------------------------
ap2() { "$HSK" ap2 capabilities --map "$1" 2>&1; }
probe_mandate() { printf '%s: -7\n' "$1" >probe.yaml; ap2 probe.yaml; }
probe_mandate_constraints() { printf 'constraints: {%s: -7}\n' "$1" >probe.yaml; ap2 probe.yaml; }
check_table mandate_map adapters/ap2/src/mapping.cpp probe_mandate
check_table mandate_map.constraints adapters/ap2/src/mapping.cpp probe_mandate_constraints
example mandate_map >mandate.yaml
said=$(ap2 mandate.yaml) || fail "the mandate_map example does not load: $said"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s): docs/config.md and the adapters' parsers disagree" >&2
  exit 1
fi
echo "ok: docs/config.md matches oauth.yaml, scopes.yaml and the mandate map parsers"
